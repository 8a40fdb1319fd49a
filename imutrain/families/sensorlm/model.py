"""SensorLM two-tower model: a sensor tower and a text tower that share no weights.

Sensor tower (``tower: vit``, the faithful option): a ViT over the (time x channel) grid with
rectangular patches of ``patch_s`` seconds x one sensor triad (the IMU analogue of SensorLM's
10 minutes x 2 features), learnable position embeddings for the patch index and the triad slot,
pre-LN transformer blocks, MAP-head pooling (one learnable probe, cross-attention, + MLP) and an
L2 norm. ``tower: tsfm``: the TSFM encoder (dual-branch blocks, channel text) with the same MAP head.

Text tower: masked mean pooling over a transformer's token states, a linear projection, L2 norm.
``text_init: minilm`` starts from the first ``text_layers`` layers of all-MiniLM-L6-v2 (its
tokenizer and weights, offline); ``scratch`` is a small transformer of the same tokenizer.

The batch layout is imutrain's (``patches`` (B, P, C, L) z-scored per patch, ``stats`` (B, P, C, 2),
masks): a triad token concatenates its three channels' patch values and stats.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...config import Recipe, SensorLMConfig


class MAPHead(nn.Module):
    """Multihead attention pooling: one learnable probe attends over the tokens, then ``x + MLP(LN(x))``."""

    def __init__(self, d: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.probe = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, mlp), nn.GELU(), nn.Linear(mlp, d))

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``tokens`` (B, N, d), ``valid`` (B, N) True = real -> (B, d); padding gets no attention."""
        q = self.probe.expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        x, _ = self.attn(q, tokens, tokens, key_padding_mask=~valid, need_weights=False)
        x = x[:, 0]
        return x + self.mlp(self.norm(x))


class Block(nn.Module):
    """Pre-LN transformer block (self-attention + MLP) with a key padding mask."""

    def __init__(self, d: int, heads: int, mlp: int, dropout: float) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, mlp), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp, d))

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        h = self.n1(x)
        x = x + self.attn(h, h, h, key_padding_mask=~valid, need_weights=False)[0]
        return x + self.mlp(self.n2(x))


def triad_tokens(patches: torch.Tensor, stats: torch.Tensor, patch_mask: torch.Tensor,
                 channel_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P, C, L) patches + (B, P, C, 2) stats -> (B, P, K, 3L+6) triad cells and (B, P, K) validity.

    Channels are taken three at a time in stream order (acc x/y/z, gyro x/y/z, ...); a last group
    of fewer than three channels is zero-padded. A cell is valid when its patch is real and it has
    at least one real channel."""
    B, P, C, L = patches.shape
    K = -(-C // 3)
    pad = K * 3 - C
    if pad:
        patches = F.pad(patches, (0, 0, 0, pad))
        stats = F.pad(stats, (0, 0, 0, pad))
        channel_mask = F.pad(channel_mask, (0, pad))
    cm = channel_mask[:, None, :, None].to(patches.dtype)
    x = torch.cat([(patches * cm).reshape(B, P, K, 3 * L), (stats * cm).reshape(B, P, K, 6)], -1)
    valid = patch_mask[:, :, None] & channel_mask.reshape(B, K, 3).any(-1)[:, None, :]
    return x, valid


class ViTSensorTower(nn.Module):
    """ViT over (patch x triad) cells with learnable position embeddings and a MAP head."""

    def __init__(self, cfg: SensorLMConfig, patch_len: int, max_patches: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.embed = nn.Linear(3 * patch_len + 6, d)
        self.pos_time = nn.Parameter(torch.randn(max_patches, d) * 0.02)
        self.pos_triad = nn.Parameter(torch.randn(cfg.max_triads, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.mlp, cfg.dropout) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d)
        self.pool = MAPHead(d, cfg.heads, cfg.mlp)
        self.proj = nn.Linear(d, cfg.embed_dim)
        self.max_triads = cfg.max_triads

    def forward(self, patches, stats, patch_mask, channel_mask, channel_ids=None, chan=None) -> torch.Tensor:
        x, valid = triad_tokens(patches, stats, patch_mask, channel_mask)
        B, P, K, _ = x.shape
        if K > self.max_triads or P > self.pos_time.shape[0]:
            raise ValueError(f"sensor tower: {K} triads x {P} patches exceed sensorlm.max_triads "
                             f"({self.max_triads}) / model.max_patches ({self.pos_time.shape[0]})")
        h = self.embed(x) + self.pos_time[:P, None, :] + self.pos_triad[None, :K, :]
        h = h.reshape(B, P * K, -1)
        valid = valid.reshape(B, P * K)
        for blk in self.blocks:
            h = blk(h, valid)
        return F.normalize(self.proj(self.pool(self.norm(h), valid)), dim=-1)


class TSFMSensorTower(nn.Module):
    """The TSFM encoder (patch CNN, dual-branch blocks, channel text) pooled by a MAP head."""

    def __init__(self, cfg: SensorLMConfig, recipe: Recipe) -> None:
        super().__init__()
        from ...model.tsfm import TSFMEncoder

        self.encoder = TSFMEncoder(recipe.model)
        d = recipe.model.d_model
        self.pool = MAPHead(d, cfg.heads if d % cfg.heads == 0 else 1, cfg.mlp)
        self.proj = nn.Linear(d, cfg.embed_dim)

    def forward(self, patches, stats, patch_mask, channel_mask, channel_ids=None, chan=None) -> torch.Tensor:
        tok = self.encoder(patches, stats, patch_mask, channel_mask, channel_ids, chan)  # (B, P, C, d)
        B, P, C, d = tok.shape
        valid = (patch_mask[:, :, None] & channel_mask[:, None, :]).reshape(B, P * C)
        return F.normalize(self.proj(self.pool(tok.reshape(B, P * C, d), valid)), dim=-1)


class TextTower(nn.Module):
    """Token ids (B, T) + attention mask -> L2-normalised (B, embed_dim): encoder, masked mean, linear."""

    def __init__(self, cfg: SensorLMConfig, vocab_size: int, minilm_path: str | None = None) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        if cfg.text_init == "minilm":
            if minilm_path is None:
                raise ValueError("sensorlm.text_init minilm needs the MiniLM folder")
            bert = BertModel.from_pretrained(minilm_path, add_pooling_layer=False)
            bert.encoder.layer = bert.encoder.layer[: cfg.text_layers]
            bert.config.num_hidden_layers = cfg.text_layers
        else:
            bc = BertConfig(vocab_size=vocab_size, hidden_size=cfg.text_d_model, num_hidden_layers=cfg.text_layers,
                            num_attention_heads=cfg.text_heads, intermediate_size=cfg.text_mlp,
                            max_position_embeddings=max(cfg.text_max_tokens, 32), hidden_dropout_prob=cfg.dropout,
                            attention_probs_dropout_prob=cfg.dropout)
            bert = BertModel(bc, add_pooling_layer=False)
        self.bert = bert
        self.proj = nn.Linear(bert.config.hidden_size, cfg.embed_dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        m = mask[..., None].to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        return F.normalize(self.proj(pooled), dim=-1)


class SensorLM(nn.Module):
    """Two towers plus SigLIP's learnable log-temperature and bias (``score`` = the pair logits)."""

    def __init__(self, recipe: Recipe, vocab_size: int, minilm_path: str | None = None) -> None:
        super().__init__()
        cfg = recipe.sensorlm
        self.cfg = cfg
        if cfg.tower == "vit":
            self.sensor = ViTSensorTower(cfg, recipe.model.patch_len, recipe.model.max_patches)
        else:
            self.sensor = TSFMSensorTower(cfg, recipe)
        self.text = TextTower(cfg, vocab_size, minilm_path)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(cfg.temperature_init)))
        self.bias = nn.Parameter(torch.tensor(float(cfg.bias_init)))

    def logits(self, zs: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        """(Bs, Bt) pair logits ``exp(t) * zs . zt + b``."""
        return self.log_temperature.exp() * zs @ zt.t() + self.bias
