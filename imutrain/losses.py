"""Losses: masked patch reconstruction and patch InfoNCE (stage 1); soft-target CLIP loss with a
memory bank (stage 2). All are plain functions of tensors, tested with known inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import distributed as dist


def masked_reconstruction(pred: torch.Tensor, target: torch.Tensor, token_mask: torch.Tensor,
                          valid: torch.Tensor) -> torch.Tensor:
    """MSE over tokens that were masked *and* are real data. pred/target (B, P, C, L); masks (B, P, C)."""
    sel = token_mask & valid
    if not sel.any():
        return pred.sum() * 0.0
    return F.mse_loss(pred[sel].float(), target[sel].float())


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over 2N embeddings: row i of ``z1`` is the positive of row i of ``z2``; all others negatives."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=-1)
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def soft_targets(query_text: torch.Tensor, key_text: torch.Tensor, tau: float, same: torch.Tensor | None = None,
                 soft_weight: float = 1.0) -> torch.Tensor:
    """Row-stochastic targets over keys from text-text similarity.

    The cosine matrix is z-scored (std floored at 0.1), divided by ``tau`` and soft-maxed per row, so
    near-synonyms share probability mass. ``same`` (Nq, Nk) marks identical labels; the hard target
    spreads mass uniformly over them and is mixed in with weight ``1 - soft_weight``.
    """
    sim = F.normalize(query_text.float(), dim=-1) @ F.normalize(key_text.float(), dim=-1).t()
    z = (sim - sim.mean()) / sim.std().clamp_min(0.1) if sim.numel() > 1 else sim * 0
    soft = torch.softmax(z / tau, dim=-1)
    if same is None or soft_weight >= 1.0:
        return soft
    hard = same.float()
    hard = hard / hard.sum(-1, keepdim=True).clamp_min(1.0)
    return soft_weight * soft + (1.0 - soft_weight) * hard


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


class MemoryBank:
    """A FIFO of detached (IMU embedding, label embedding, frozen text embedding, label key) rows.

    Queued rows add negatives (and, through soft targets computed from their frozen text, partial
    positives for the same or similar labels; same-label rows are never treated as pure negatives).
    Window-level embeddings are queued, so a bank of Q holds Q past windows, not one batch's patches.
    """

    def __init__(self, size: int, dim: int, text_dim: int) -> None:
        self.size = size
        self.imu = torch.zeros(0, dim)
        self.label = torch.zeros(0, dim)
        self.text = torch.zeros(0, text_dim)
        self.key = torch.zeros(0, dtype=torch.long)

    def __len__(self) -> int:
        return self.imu.shape[0]

    def to(self, device: torch.device) -> "MemoryBank":
        self.imu, self.label, self.text, self.key = (t.to(device) for t in (self.imu, self.label, self.text, self.key))
        return self

    @torch.no_grad()
    def push(self, imu: torch.Tensor, label: torch.Tensor, text: torch.Tensor, key: torch.Tensor) -> None:
        if self.size <= 0:
            return
        self.imu = torch.cat([imu.detach().float(), self.imu])[: self.size]
        self.label = torch.cat([label.detach().float(), self.label])[: self.size]
        self.text = torch.cat([text.detach().float(), self.text])[: self.size]
        self.key = torch.cat([key.detach(), self.key])[: self.size]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"imu": self.imu.cpu(), "label": self.label.cpu(), "text": self.text.cpu(), "key": self.key.cpu()}

    def load_state_dict(self, st: dict[str, torch.Tensor]) -> None:
        self.imu, self.label, self.text, self.key = st["imu"], st["label"], st["text"], st["key"]


def alignment_loss(imu: torch.Tensor, label: torch.Tensor, text: torch.Tensor, key: torch.Tensor, scale: torch.Tensor,
                   tau: float, soft_weight: float, bank: MemoryBank | None = None) -> tuple[torch.Tensor, dict]:
    """Symmetric CLIP loss with soft targets, over this rank's batch plus other ranks' (gathered) and the bank.

    ``imu`` (N, D) and ``label`` (N, D) are L2-normalised embeddings of windows and of their (augmented)
    label texts; ``text`` (N, Dt) the frozen embeddings of the canonical label text (for targets);
    ``key`` (N,) the canonical label id (for the same-label hard target).
    """
    g_imu, g_label, g_text, g_key = (dist.all_gather_with_local_grad(t) for t in (imu, label, text, key))
    k_label, k_imu, k_text, k_key = g_label, g_imu, g_text, g_key
    if bank is not None and len(bank):
        k_label = torch.cat([g_label, bank.label.to(g_label.dtype)])
        k_imu = torch.cat([g_imu, bank.imu.to(g_imu.dtype)])
        k_text = torch.cat([g_text, bank.text.to(g_text.dtype)])
        k_key = torch.cat([g_key, bank.key])
    # IMU -> text over [batch labels ; queued labels], and text -> IMU over [batch IMU ; queued IMU]
    t_i2t = soft_targets(g_text, k_text, tau, g_key[:, None] == k_key[None, :], soft_weight)
    logits_i2t = scale * g_imu @ k_label.t()
    logits_t2i = scale * g_label @ k_imu.t()
    loss = 0.5 * (soft_cross_entropy(logits_i2t, t_i2t) + soft_cross_entropy(logits_t2i, t_i2t))
    with torch.no_grad():
        n = g_imu.shape[0]
        pred = (g_imu @ g_label.t()).argmax(-1)
        acc = (g_key[pred] == g_key).float().mean()
    return loss, {"align_acc": float(acc), "n_keys": int(k_label.shape[0]), "n": n}
