"""Learning-rate schedule: linear warm-up, then cosine decay to ``min_lr_frac`` of the peak."""
from __future__ import annotations

import math

import torch


def lr_factor(step: int, warmup: int, total: int, min_frac: float) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup: int, total: int, min_frac: float) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total, min_frac))
