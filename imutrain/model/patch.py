"""Patch feature extractor: a multi-scale CNN plus a spectral branch plus per-patch statistics.

Input patches are z-scored per patch and per channel (shape ``(B, P, C, L)``), so the CNN sees
shape only. The z-score throws away each patch's mean (gravity, hence posture) and scale; with
``patch_stats`` those two numbers per patch and channel (``(B, P, C, 2)``, signed-log compressed,
SI units) are embedded and added back, which the public implementation lacks.
"""
from __future__ import annotations

import torch
from torch import nn


class ConvBranch(nn.Module):
    """Conv1d (no bias) -> GroupNorm(1) -> GELU, repeated, with one kernel size.

    No dropout on the full-resolution feature maps (it costs more than the convolutions on CPU);
    dropout is applied once to the pooled patch feature instead.
    """

    def __init__(self, channels: list[int], kernel: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers += [nn.Conv1d(c_in, c, kernel, padding=kernel // 2, bias=False), nn.GroupNorm(1, c), nn.GELU()]
            c_in = c
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, L) -> (N, c_out, L)
        return self.net(x)


class PatchEncoder(nn.Module):
    """``(B, P, C, L)`` patches (+ ``(B, P, C, 2)`` stats) -> ``(B, P, C, d)`` tokens, channel-independent."""

    def __init__(self, d_model: int, patch_len: int, cnn_channels: list[int], cnn_kernels: list[int],
                 spectral_share: float, patch_stats: bool, dropout: float) -> None:
        super().__init__()
        self.patch_len = patch_len
        d_spec = int(round(d_model * spectral_share)) if spectral_share > 0 else 0
        d_temp = d_model - d_spec
        self.branches = nn.ModuleList(ConvBranch(cnn_channels, k) for k in cnn_kernels)
        c_out = cnn_channels[-1] * len(cnn_kernels)
        # mean and max pooling over time keep both the level and the peaks of each feature map
        self.temporal = nn.Sequential(nn.Linear(2 * c_out, d_temp), nn.LayerNorm(d_temp), nn.Dropout(dropout))
        self.d_spec = d_spec
        if d_spec:
            n_bins = patch_len // 2 + 1
            self.spectral = nn.Sequential(nn.Linear(n_bins, 2 * d_spec), nn.GELU(), nn.Linear(2 * d_spec, d_spec),
                                          nn.LayerNorm(d_spec))
        self.stats = nn.Sequential(nn.Linear(2, d_model), nn.GELU(), nn.Linear(d_model, d_model)) if patch_stats else None

    def forward(self, patches: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        B, P, C, L = patches.shape
        x = patches.reshape(B * P * C, 1, L)
        feats = torch.cat([br(x) for br in self.branches], dim=1)  # (N, c_out, L)
        pooled = torch.cat([feats.mean(-1), feats.amax(-1)], dim=-1)
        out = self.temporal(pooled)
        if self.d_spec:
            spec = torch.fft.rfft(x.squeeze(1).float(), n=self.patch_len).abs().to(out.dtype)
            out = torch.cat([out, self.spectral(spec)], dim=-1)
        out = out.reshape(B, P, C, -1)
        if self.stats is not None and stats is not None:
            out = out + self.stats(stats.to(out.dtype))
        return out
