"""SlotFM's reconstruction losses (seed 001 §3.2, Table 5): MSE, 1-D SSIM over a sliding window,
multi-scale STFT magnitude loss (MAE + MSE per FFT size, Hann window, hop n/4), weighted per band.

All take (B, C, T) tensors (one band) and compute in float32.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

# SSIM stabilisers on the signal's own scale: C = (k L)^2 with L the dynamic range of the target
K1, K2 = 0.01, 0.03


def ssim(x: torch.Tensor, y: torch.Tensor, window: int) -> torch.Tensor:
    """Mean SSIM of (B, C, T) signals with a uniform sliding window of ``window`` samples.

    Means, variances and covariance are local averages over the window (valid positions only); the
    constants use the dynamic range of ``x`` per (B, C) row, so SSIM does not depend on units.
    SSIM(x, x) = 1 exactly. Computes in float32, or float64 for float64 inputs."""
    dt = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    x, y = x.to(dt), y.to(dt)
    B, C, T = x.shape
    w = min(window, T)
    k = torch.full((1, 1, w), 1.0 / w, device=x.device, dtype=dt)
    flat = lambda a: a.reshape(B * C, 1, T)  # noqa: E731
    mx, my = F.conv1d(flat(x), k), F.conv1d(flat(y), k)
    sxx = F.conv1d(flat(x * x), k) - mx * mx
    syy = F.conv1d(flat(y * y), k) - my * my
    sxy = F.conv1d(flat(x * y), k) - mx * my
    rng = (x.amax(-1) - x.amin(-1)).reshape(B * C, 1, 1).detach()
    c1, c2 = (K1 * rng) ** 2 + 1e-8, (K2 * rng) ** 2 + 1e-8
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean()


def ssim_loss(x: torch.Tensor, y: torch.Tensor, window: int) -> torch.Tensor:
    return 1.0 - ssim(x, y, window)


def stft_mag(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    B, C, T = x.shape
    n = min(n_fft, T)
    win = torch.hann_window(n, device=x.device)
    return torch.stft(x.float().reshape(B * C, T), n_fft=n, hop_length=max(1, n // 4), win_length=n, window=win,
                      center=True, return_complex=True).abs()


def ms_stft_loss(x: torch.Tensor, y: torch.Tensor, ffts: Sequence[int]) -> torch.Tensor:
    """Mean over FFT sizes of MAE + MSE between STFT magnitudes; 0 when x == y."""
    tot = x.new_zeros((), dtype=torch.float32)
    for n in ffts:
        a, b = stft_mag(x, n), stft_mag(y, n)
        tot = tot + (a - b).abs().mean() + ((a - b) ** 2).mean()
    return tot / len(ffts)


def band_losses(x: torch.Tensor, x_hat: torch.Tensor, mse: Sequence[float], ssim_w: Sequence[float],
                stft_w: Sequence[float], windows: Sequence[int], ffts: Sequence[int]) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss over bands of (B, n_bands, C, T) target and reconstruction; a term with weight 0
    is not computed. Returns (loss, per-term values for the log)."""
    total = x.new_zeros((), dtype=torch.float32)
    parts: dict[str, float] = {}
    for i in range(x.shape[1]):
        t, r = x[:, i].float(), x_hat[:, i].float()
        if mse[i]:
            v = F.mse_loss(r, t)
            total = total + mse[i] * v
            parts[f"mse{i}"] = float(v.detach())
        if ssim_w[i]:
            v = ssim_loss(t, r, windows[i])
            total = total + ssim_w[i] * v
            parts[f"ssim{i}"] = float(v.detach())
        if stft_w[i]:
            v = ms_stft_loss(t, r, ffts)
            total = total + stft_w[i] * v
            parts[f"stft{i}"] = float(v.detach())
    return total, parts
