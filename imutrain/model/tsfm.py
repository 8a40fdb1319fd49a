"""The TSFM encoder: patch tokens -> dual-branch transformer, conditioned on channel text.

Shapes: patches ``(B, P, C, L)``, stats ``(B, P, C, 2)``, ``patch_mask`` (B, P) and
``channel_mask`` (B, C) with True = valid, ``channel_ids`` (B, C) indexing a :class:`ChannelText`
table that holds the frozen SentenceBERT features of every channel description in use.
``token_mask`` (B, P, C) marks tokens replaced by the learned mask token (masked reconstruction,
channel dropout). Padded positions get the learned pad token.

Channel text enters twice, both switchable in the recipe: a sentence-level channel encoding added
before the transformer (the paper's design), and a token-level gated fusion after it (the
public implementation's ``ChannelTextFusion``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..config import ModelConfig
from .blocks import DualBranchTransformer
from .patch import PatchEncoder


@dataclass
class ChannelText:
    """Frozen text features of N strings: ``sentence`` (N, D), ``tokens`` (N, T, D), ``token_mask`` (N, T)."""

    sentence: torch.Tensor
    tokens: torch.Tensor
    token_mask: torch.Tensor

    def to(self, device: torch.device | str) -> "ChannelText":
        return ChannelText(self.sentence.to(device), self.tokens.to(device), self.token_mask.to(device))

    def select(self, ids: torch.Tensor) -> "ChannelText":
        return ChannelText(self.sentence[ids], self.tokens[ids], self.token_mask[ids])


def sinusoid(n: int, d: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: d // 2])
    return pe


class ChannelEncoding(nn.Module):
    """Sentence embedding of a channel description -> residual 2-layer MLP -> scaled by gamma."""

    def __init__(self, text_dim: int, d: int, gamma_init: float) -> None:
        super().__init__()
        self.inp = nn.Linear(text_dim, d)
        self.mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.gamma = nn.Parameter(torch.tensor(gamma_init))

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        h = self.inp(sentence)
        return self.gamma * (h + self.mlp(h))


class ChannelTextFusion(nn.Module):
    """Learned queries attend to a channel description's tokens -> e_c; ``x + sigmoid(Ws x + Wc e_c) * e_c``."""

    def __init__(self, text_dim: int, d: int, n_queries: int, heads: int) -> None:
        super().__init__()
        self.tok = nn.Linear(text_dim, d)
        self.queries = nn.Parameter(torch.randn(n_queries, d) * 0.02)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.out = nn.Sequential(nn.Linear(n_queries * d, d), nn.GELU(), nn.Linear(d, d))
        self.gate_x = nn.Linear(d, d)
        self.gate_e = nn.Linear(d, d, bias=False)

    def embed(self, text: ChannelText) -> torch.Tensor:
        tokens = self.tok(text.tokens)
        valid = text.token_mask.clone()
        valid[:, 0] |= ~valid.any(-1)
        q = self.queries.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        o, _ = self.attn(q, tokens, tokens, key_padding_mask=~valid, need_weights=False)
        return self.out(self.norm(q + o).flatten(1))  # (N, d)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """``x`` (B, P, C, d); ``e`` (B, C, d)."""
        e = e[:, None]
        return x + torch.sigmoid(self.gate_x(x) + self.gate_e(e)) * e


class TSFMEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.patch = PatchEncoder(d, cfg.patch_len, cfg.cnn_channels, cfg.cnn_kernels, cfg.spectral_share,
                                  cfg.patch_stats, cfg.dropout)
        self.mask_token = nn.Parameter(torch.randn(d) * 0.1 / math.sqrt(d))
        self.pad_token = nn.Parameter(torch.randn(d) * 0.1 / math.sqrt(d))
        self.register_buffer("pe", sinusoid(max(cfg.max_patches, 1) * 4, d), persistent=False)
        self.pe_scale = nn.Parameter(torch.tensor(cfg.pe_scale_init))
        self.channel_encoding = ChannelEncoding(cfg.text_dim, d, cfg.channel_encoding_init) if cfg.channel_encoding else None
        self.fusion = ChannelTextFusion(cfg.text_dim, d, cfg.fusion_queries, cfg.fusion_heads) if cfg.channel_fusion else None
        self.transformer = DualBranchTransformer(d, cfg.n_heads, cfg.ffn, cfg.n_blocks, cfg.dropout, cfg.grad_checkpointing)

    def forward(self, patches: torch.Tensor, stats: torch.Tensor | None, patch_mask: torch.Tensor,
                channel_mask: torch.Tensor, channel_ids: torch.Tensor, text: ChannelText,
                token_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, P, C, _ = patches.shape
        x = self.patch(patches, stats)
        if token_mask is not None:
            x = torch.where(token_mask[..., None], self.mask_token.to(x.dtype), x)
        valid = patch_mask[:, :, None] & channel_mask[:, None, :]
        x = torch.where(valid[..., None], x, self.pad_token.to(x.dtype))
        x = x + (self.pe_scale * self.pe[:P]).to(x.dtype)[None, :, None, :]
        uniq, inv = torch.unique(channel_ids, return_inverse=True)
        sub = text.select(uniq)
        if self.channel_encoding is not None:
            x = x + self.channel_encoding(sub.sentence.to(x.dtype))[inv][:, None]
        x = self.transformer(x, patch_mask, channel_mask)
        if self.fusion is not None:
            e = self.fusion.embed(ChannelText(sub.sentence, sub.tokens.to(x.dtype), sub.token_mask))[inv]
            x = self.fusion(x, e)
        return x


class TSFM(nn.Module):
    """Everything that is saved: the encoder and the heads of both stages.

    Stage 1 trains ``encoder``, ``recon`` and ``proj``; stage 2 trains ``encoder``, ``head``,
    ``label_pool`` and ``logit_scale``. One state dict holds all of them, so a stage-2 run starts
    from the stage-1 file and evaluation loads a single ``model.safetensors``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        from .heads import LabelAttentionPooling, LogitScale, PatchProjection, ReconstructionHead, SemanticAlignmentHead

        self.cfg = cfg
        self.encoder = TSFMEncoder(cfg)
        self.recon = ReconstructionHead(cfg.d_model, cfg.patch_len)
        self.proj = PatchProjection(cfg.d_model, cfg.proj_dim)
        self.head = SemanticAlignmentHead(cfg.d_model, cfg.head_dim, cfg.head_channel_queries, cfg.head_patch_queries,
                                          cfg.head_heads, cfg.head_temporal_layers, cfg.embed_dim, cfg.dropout)
        self.label_pool = LabelAttentionPooling(cfg.text_dim, cfg.embed_dim, cfg.label_queries, cfg.label_heads)
        self.logit_scale = LogitScale(cfg.logit_scale_init, cfg.logit_scale_max)
