"""The LLM-backbone classifier: convolutional patch projection -> frozen decoder (+ LoRA) -> pool -> head.

Windows arrive as the shared loader's seconds-based patches, ``patches`` (B, P, C, L) z-scored per
patch and channel, and ``stats`` (B, P, C, 2) (their signed-log mean and std). The projection
treats the channels as convolution input channels: a stack of 1-D convolutions over the L points
of each patch, then one convolution with kernel = stride = L, so each patch becomes one token at
the backbone width (plus a linear map of the patch statistics, then a LayerNorm whose gain starts
at ``llm.token_rms``, the RMS of the backbone's token embeddings, so the tokens enter the residual
stream at the scale the pretrained layers were trained on). The backbone
(a transformers decoder, e.g. SmolLM2's first ``llm.layers`` layers) reads the tokens as
``inputs_embeds``; its weights are frozen and LoRA adapters (``peft``) on the named projections
train. ``llm.init: none`` removes the backbone (projection -> pool -> head: the control without a
language model). Pooling is the masked mean or the last real token; the head is linear.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class ConvProjection(nn.Module):
    """(B, P, C, L) patches + (B, P, C, 2) stats -> (B, P, D) tokens, one per patch."""

    def __init__(self, channels: int, patch_len: int, hidden: int, kernels: list[int], width: int,
                 token_rms: float = 1.0) -> None:
        super().__init__()
        self.channels = channels
        layers: list[nn.Module] = []
        c_in = channels
        for k in kernels:
            layers += [nn.Conv1d(c_in, hidden, k, padding=k // 2), nn.GELU()]
            c_in = hidden
        self.convs = nn.Sequential(*layers)
        self.to_token = nn.Conv1d(c_in, width, kernel_size=patch_len, stride=patch_len)
        self.stats = nn.Linear(2 * channels, width)
        self.norm = nn.LayerNorm(width)
        nn.init.constant_(self.norm.weight, token_rms)   # tokens start at the scale of the backbone's embeddings

    def forward(self, patches: torch.Tensor, stats: torch.Tensor, channel_mask: torch.Tensor) -> torch.Tensor:
        B, P, C, L = patches.shape
        if C > self.channels:
            raise ValueError(f"a batch has {C} channels but llm.channels is {self.channels}; raise llm.channels")
        cm = channel_mask[:, None, :, None].to(patches.dtype)
        x, s = patches * cm, stats * cm
        if C < self.channels:  # zero padding channels (the same slots for every batch of one manifest)
            x = nn.functional.pad(x, (0, 0, 0, self.channels - C))
            s = nn.functional.pad(s, (0, 0, 0, self.channels - C))
        tok = self.to_token(self.convs(x.reshape(B * P, self.channels, L))).reshape(B, P, -1)
        return self.norm(tok + self.stats(s.reshape(B, P, -1)))


class LLMClassifier(nn.Module):
    """Projection, optional frozen backbone with LoRA, pooling and a linear head."""

    def __init__(self, cfg, patch_len: int, width: int, backbone: nn.Module | None) -> None:
        super().__init__()
        self.cfg = cfg
        self.proj = ConvProjection(cfg.channels, patch_len, cfg.conv_hidden, list(cfg.conv_kernels), width,
                                   cfg.token_rms)
        self.backbone = backbone
        self.head = nn.Linear(width, 1)           # resized by set_num_classes once the labels are known

    def set_num_classes(self, n: int) -> None:
        """A fresh head for ``n`` classes (the run's label list is known only once data loads)."""
        if self.head.out_features != n:
            self.head = nn.Linear(self.head.in_features, n).to(self.head.weight.device)

    def features(self, patches: torch.Tensor, stats: torch.Tensor, patch_mask: torch.Tensor,
                 channel_mask: torch.Tensor) -> torch.Tensor:
        """(B, D) pooled window representation."""
        h = self.proj(patches, stats, channel_mask)
        if self.backbone is not None:
            h = self.backbone(inputs_embeds=h, attention_mask=patch_mask.long()).last_hidden_state
        m = patch_mask.to(h.dtype)
        if self.cfg.pooling == "last":
            last = patch_mask.long().sum(1).clamp(min=1) - 1
            return h[torch.arange(h.shape[0], device=h.device), last]
        return (h * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1)

    def forward(self, patches, stats, patch_mask, channel_mask) -> torch.Tensor:
        return self.head(self.features(patches, stats, patch_mask, channel_mask))


def add_lora(backbone: nn.Module, cfg) -> nn.Module:
    """Freeze every backbone weight and inject LoRA adapters (rank, alpha, dropout, targets of ``cfg``)."""
    from peft import LoraConfig, inject_adapter_in_model

    for p in backbone.parameters():
        p.requires_grad_(False)
    lc = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                    target_modules=list(cfg.lora_targets), bias="none")
    backbone = inject_adapter_in_model(lc, backbone)
    found = [n for n, _ in backbone.named_parameters() if "lora_" in n]
    if not found:
        raise ValueError(f"llm.lora_targets {cfg.lora_targets}: no such module in the backbone")
    for n, p in backbone.named_parameters():
        p.requires_grad_("lora_" in n)
    return backbone


def merge_lora(model: LLMClassifier) -> int:
    """Fold every LoRA adapter into its base weight (W + scale * B A); returns how many merged."""
    from peft.tuners.lora import LoraLayer

    n = 0
    for mod in model.modules():
        if isinstance(mod, LoraLayer):
            mod.merge()
            n += 1
    return n


def trainable_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameters by part (projection, LoRA, head) and the frozen total."""
    out = {"projection": 0, "lora": 0, "head": 0, "other": 0, "frozen": 0}
    for n, p in model.named_parameters():
        if not p.requires_grad:
            out["frozen"] += p.numel()
        elif n.startswith("proj."):
            out["projection"] += p.numel()
        elif "lora_" in n:
            out["lora"] += p.numel()
        elif n.startswith("head."):
            out["head"] += p.numel()
        else:
            out["other"] += p.numel()
    out["trainable"] = out["projection"] + out["lora"] + out["head"] + out["other"]
    return out


def build(cfg, patch_len: int, root: Path | None, log=print) -> LLMClassifier:
    """The classifier of an ``llm`` recipe section: backbone by ``cfg.backbone``, weights by
    ``cfg.init`` (pretrained | random | none), first ``cfg.layers`` layers, LoRA adapters."""
    from .backbone import TINY, build_base, ensure_cached, read_config, tiny_config

    if cfg.backbone == TINY:
        bcfg, weights = tiny_config(cfg.layers or None), None
        if cfg.init == "pretrained":
            raise ValueError(f"llm.backbone {TINY!r} has no pretrained weights; use llm.init random or none")
    else:
        from imudata.paths import resolve_root

        folder = ensure_cached(cfg.backbone, resolve_root(root), log)
        bcfg = read_config(folder, cfg.layers or None)
        weights = folder / "model.safetensors"
    width = bcfg.hidden_size
    backbone = None
    if cfg.init != "none":
        backbone = build_base(bcfg, weights if cfg.init == "pretrained" else None, cfg.backbone_seed)
        backbone.embed_tokens = None     # windows enter as inputs_embeds; the token table is never read
        backbone = add_lora(backbone, cfg)
    torch.manual_seed(cfg.backbone_seed + 1)
    return LLMClassifier(cfg, patch_len, width, backbone)
