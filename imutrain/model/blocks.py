"""Dual-branch transformer blocks: temporal attention per channel, then cross-channel attention per patch.

Tokens are ``(B, P, C, d)``. Masks are boolean with True = valid. Blocks are pre-LN (stable
without warm-up tricks at any depth); attention is PyTorch's scaled-dot-product attention.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        """``x`` (N, S, d); ``key_valid`` (N, S) True where a key may be attended to."""
        N, S, d = x.shape
        q, k, v = self.qkv(x).reshape(N, S, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # a row with no valid key would give NaN: let it attend to its first position
        key_valid = key_valid.clone()
        key_valid[:, 0] |= ~key_valid.any(-1)
        mask = key_valid[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(N, S, d))


class DualBranchBlock(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.norm_t = nn.LayerNorm(d)
        self.attn_t = SelfAttention(d, heads, dropout)
        self.norm_c = nn.LayerNorm(d)
        self.attn_c = SelfAttention(d, heads, dropout)
        self.norm_f = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, patch_mask: torch.Tensor, channel_mask: torch.Tensor) -> torch.Tensor:
        B, P, C, d = x.shape
        # temporal: each channel's patch sequence, (B*C, P, d)
        h = self.norm_t(x).permute(0, 2, 1, 3).reshape(B * C, P, d)
        km = patch_mask[:, None, :].expand(B, C, P).reshape(B * C, P)
        h = self.attn_t(h, km).reshape(B, C, P, d).permute(0, 2, 1, 3)
        x = x + self.drop(h)
        # cross-channel: the channels of each patch, (B*P, C, d)
        h = self.norm_c(x).reshape(B * P, C, d)
        km = channel_mask[:, None, :].expand(B, P, C).reshape(B * P, C)
        h = self.attn_c(h, km).reshape(B, P, C, d)
        x = x + self.drop(h)
        return x + self.drop(self.ffn(self.norm_f(x)))


class DualBranchTransformer(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int, n_blocks: int, dropout: float, grad_checkpointing: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(DualBranchBlock(d, heads, ffn, dropout) for _ in range(n_blocks))
        self.norm = nn.LayerNorm(d)
        self.grad_checkpointing = grad_checkpointing

    def forward(self, x: torch.Tensor, patch_mask: torch.Tensor, channel_mask: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            if self.grad_checkpointing and self.training and x.requires_grad:
                x = checkpoint(blk, x, patch_mask, channel_mask, use_reentrant=False)
            else:
                x = blk(x, patch_mask, channel_mask)
        return self.norm(x)
