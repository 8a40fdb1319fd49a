"""SigLIP pair loss (SensorLM's) and the CLIP softmax loss (a recipe switch), DDP-aware.

SigLIP: ``S = exp(t) * zs @ zt.T + b``, ``y = +1`` on the diagonal and ``-1`` elsewhere,
``L = -mean_ij log sigmoid(y_ij * S_ij)`` (the mean over all B^2 pairs, as the seed writes it).
Under DDP both towers' embeddings are gathered from every rank (only the local slice carries
gradient, as open_clip's default), so every rank computes the loss of the global batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ... import distributed


def siglip_loss(zs: torch.Tensor, zt: torch.Tensor, log_t: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Mean sigmoid loss over all (sensor, text) pairs; pair i is row i of both."""
    logits = log_t.exp() * zs @ zt.t() + bias
    y = 2 * torch.eye(len(zs), device=zs.device, dtype=logits.dtype) - 1
    return -F.logsigmoid(y * logits).mean()


def clip_loss(zs: torch.Tensor, zt: torch.Tensor, log_t: torch.Tensor) -> torch.Tensor:
    """Symmetric softmax cross-entropy with logits ``exp(t) * zs @ zt.T`` (the bias cancels)."""
    logits = log_t.exp() * zs @ zt.t()
    target = torch.arange(len(zs), device=zs.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def pair_loss(kind: str, zs: torch.Tensor, zt: torch.Tensor, log_t: torch.Tensor, bias: torch.Tensor
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of the global batch (gathered across ranks) and the in-batch sensor->text top-1 rate."""
    zs_all = distributed.all_gather_with_local_grad(zs)
    zt_all = distributed.all_gather_with_local_grad(zt)
    loss = siglip_loss(zs_all, zt_all, log_t, bias) if kind == "siglip" else clip_loss(zs_all, zt_all, log_t)
    with torch.no_grad():
        hit = (zs_all @ zt_all.t()).argmax(1) == torch.arange(len(zs_all), device=zs.device)
    return loss, {"pair_acc": float(hit.float().mean())}
