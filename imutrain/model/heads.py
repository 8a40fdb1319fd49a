"""Heads: stage-1 reconstruction and patch projection; stage-2 semantic alignment and label pooling."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiQueryAttention(nn.Module):
    """K learned queries cross-attend to a set (keys masked where invalid) -> one vector per set.

    Query outputs get residual + LN, are concatenated and projected (last layer initialised small),
    and their mean is added back as a residual.
    """

    def __init__(self, d: int, n_queries: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_queries, d) * 0.02)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Sequential(nn.Linear(n_queries * d, d), nn.GELU(), nn.Linear(d, d))
        nn.init.normal_(self.proj[-1].weight, std=0.01)
        nn.init.zeros_(self.proj[-1].bias)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``x`` (N, S, d), ``valid`` (N, S) -> (N, d)."""
        N = x.shape[0]
        valid = valid.clone()
        valid[:, 0] |= ~valid.any(-1)
        q = self.queries.unsqueeze(0).expand(N, -1, -1)
        out, _ = self.attn(q, x, x, key_padding_mask=~valid, need_weights=False)
        out = self.norm(q + out)
        return out.mean(1) + self.proj(out.flatten(1))


class ReconstructionHead(nn.Module):
    """Token ``(B, P, C, d)`` -> the z-scored patch ``(B, P, C, L)`` it came from."""

    def __init__(self, d: int, patch_len: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, patch_len))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(tokens)


class PatchProjection(nn.Module):
    """Stage-1 contrastive projection: mean over valid channels, then an MLP, per patch -> ``(B, P, k)``."""

    def __init__(self, d: int, proj_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, proj_dim))

    def forward(self, tokens: torch.Tensor, channel_mask: torch.Tensor) -> torch.Tensor:
        w = channel_mask[:, None, :, None].to(tokens.dtype)
        pooled = (tokens * w).sum(2) / w.sum(2).clamp_min(1.0)
        return self.net(pooled)


class SemanticAlignmentHead(nn.Module):
    """Multi-query attention pooling across channels (per patch), temporal layers, then across patches.

    ``(B, P, C, d)`` -> L2-normalised ``(B, embed_dim)``: one embedding per window.
    """

    def __init__(self, d: int, head_dim: int, channel_queries: int, patch_queries: int, heads: int,
                 temporal_layers: int, embed_dim: int, dropout: float) -> None:
        super().__init__()
        self.inp = nn.Linear(d, head_dim)
        self.channel_pool = MultiQueryAttention(head_dim, channel_queries, heads)
        layer = nn.TransformerEncoderLayer(head_dim, heads, 4 * head_dim, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.temporal = nn.TransformerEncoder(layer, temporal_layers, enable_nested_tensor=False) if temporal_layers else None
        self.patch_pool = MultiQueryAttention(head_dim, patch_queries, heads)
        self.proj = nn.Sequential(nn.LayerNorm(head_dim), nn.Linear(head_dim, 2 * head_dim), nn.GELU(),
                                  nn.Linear(2 * head_dim, embed_dim))

    def forward(self, tokens: torch.Tensor, patch_mask: torch.Tensor, channel_mask: torch.Tensor) -> torch.Tensor:
        B, P, C, _ = tokens.shape
        h = self.inp(tokens).reshape(B * P, C, -1)
        cm = channel_mask[:, None, :].expand(B, P, C).reshape(B * P, C)
        h = self.channel_pool(h, cm).reshape(B, P, -1)
        if self.temporal is not None:
            pm = patch_mask.clone()
            pm[:, 0] |= ~pm.any(-1)
            h = self.temporal(h, src_key_padding_mask=~pm)
        h = self.patch_pool(h, patch_mask)
        return F.normalize(self.proj(h).float(), dim=-1)


class LabelAttentionPooling(nn.Module):
    """Learned queries attend over frozen token states of a label text -> L2-normalised label embedding.

    The frozen mean-pooled sentence embedding is kept as a residual, so at initialisation the label
    space *is* the sentence-embedding space (zero-shot to unseen label texts starts from SBERT's
    semantics) and training learns a correction.
    """

    def __init__(self, text_dim: int, embed_dim: int, n_queries: int, heads: int) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_queries, text_dim) / math.sqrt(text_dim))
        self.attn = nn.MultiheadAttention(text_dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(text_dim)
        self.proj = nn.Sequential(nn.Linear(n_queries * text_dim, text_dim), nn.GELU(), nn.Linear(text_dim, embed_dim))
        nn.init.normal_(self.proj[-1].weight, std=0.01)
        nn.init.zeros_(self.proj[-1].bias)
        self.residual = nn.Identity() if text_dim == embed_dim else nn.Linear(text_dim, embed_dim, bias=False)

    def forward(self, tokens: torch.Tensor, token_mask: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """``tokens`` (N, T, text_dim), ``token_mask`` (N, T) True = real token, ``sentence`` (N, text_dim)."""
        N = tokens.shape[0]
        valid = token_mask.clone()
        valid[:, 0] |= ~valid.any(-1)
        q = self.queries.unsqueeze(0).expand(N, -1, -1)
        out, _ = self.attn(q, tokens, tokens, key_padding_mask=~valid, need_weights=False)
        out = self.norm(q + out)
        return F.normalize((self.residual(sentence) + self.proj(out.flatten(1))).float(), dim=-1)


class LogitScale(nn.Module):
    """CLIP's learnable temperature: ``exp(s)`` with s initialised to ln(init), clamped to [1, max]."""

    def __init__(self, init: float, max_value: float) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(init)))
        self.max_log = math.log(max_value)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(0.0, self.max_log).exp()
