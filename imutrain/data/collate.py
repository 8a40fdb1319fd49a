"""Windows -> model batches: augmentation, seconds-based patches, per-patch z-score, padding and masks.

A patch spans ``patch_s`` seconds at the dataset's native rate (``round(patch_s * rate)`` samples)
and is linearly interpolated to ``patch_len`` points, so every rate gives the same token shape.
Each patch is z-scored per channel (population std); its mean and std (signed-log compressed) are
kept as ``stats`` so the model can still see gravity / posture and amplitude.

Batch layout: ``patches`` (B, P, C, L), ``stats`` (B, P, C, 2), ``patch_mask`` (B, P) and
``channel_mask`` (B, C) with True = real data, ``channel_ids`` (B, C) into the run's channel-text
table (0 on padding). Stage 1 batches carry two views, each augmented by its own draw, with the same patching.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
import torch

from ..augment import augment
from ..config import AugmentConfig

STD_FLOOR = 1e-6


@lru_cache(maxsize=512)
def interp_matrix(n: int, L: int) -> np.ndarray:
    """(L, n) matrix of linear interpolation from n samples to L points (endpoints kept)."""
    pos = np.linspace(0.0, n - 1, L) if n > 1 else np.zeros(L)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = pos - lo
    M = np.zeros((L, n), np.float32)
    M[np.arange(L), lo] += (1 - w).astype(np.float32)
    M[np.arange(L), hi] += w.astype(np.float32)
    return M


def slog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def n_patch_samples(rate: float, patch_s: float, T: int) -> int:
    return int(min(max(2, round(patch_s * rate)), max(T, 1)))


def patchify(x: np.ndarray, rate: float, patch_s: float, L: int, max_patches: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (T, C) -> z-scored patches (P, C, L) and stats (P, C, 2); the tail shorter than a patch is dropped."""
    T, C = x.shape
    n = n_patch_samples(rate, patch_s, T)
    P = max(1, min(T // n, max_patches))
    seg = x[: P * n].reshape(P, n, C)
    mean = seg.mean(1)                       # (P, C) in SI units
    std = seg.std(1)
    p = np.einsum("ln,pnc->pcl", interp_matrix(n, L), seg, optimize=True)
    pm = p.mean(-1, keepdims=True)
    ps = p.std(-1, keepdims=True)
    z = np.where(ps > STD_FLOOR, (p - pm) / np.maximum(ps, STD_FLOOR), 0.0).astype(np.float32)
    stats = np.stack([slog(mean), slog(std)], -1).astype(np.float32)
    return z, stats


@dataclass
class Batch:
    patches: torch.Tensor
    stats: torch.Tensor
    patch_mask: torch.Tensor
    channel_mask: torch.Tensor
    channel_ids: torch.Tensor
    label: torch.Tensor          # run label key (index into the run's label list), -1 if none
    label_text: torch.Tensor     # index into the run's label-text table (augmented text), -1 if none
    source: torch.Tensor         # manifest dataset index
    window: torch.Tensor         # window index within the split's WindowIndex
    step: int = -1
    patches2: torch.Tensor | None = None
    stats2: torch.Tensor | None = None
    channel_ids2: torch.Tensor | None = None

    def to(self, device: torch.device, non_blocking: bool = True) -> "Batch":
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
        return Batch(**kw)

    def pin_memory(self) -> "Batch":
        kw = {f.name: (getattr(self, f.name).pin_memory() if isinstance(getattr(self, f.name), torch.Tensor)
                       else getattr(self, f.name)) for f in fields(self)}
        return Batch(**kw)

    def __len__(self) -> int:
        return int(self.patches.shape[0])


@dataclass
class Sample:
    x: np.ndarray               # (T, C) float32, SI units
    names: list[str]            # channel names (for triad-aware augmentation)
    channel_ids: np.ndarray     # (C,) into the channel-text table
    rate: float
    patch_s: float
    label: int = -1
    label_text: int = -1
    source: int = 0
    window: int = 0


class Collator:
    """Turns a list of :class:`Sample` into a :class:`Batch` (runs inside DataLoader workers).

    ``mode``: ``"pretrain"`` (augmented second view), ``"align"`` (augmented, label text drawn from
    synonyms/templates) or ``"eval"`` (no randomness).
    """

    def __init__(self, mode: str, patch_len: int, max_patches: int, augment_cfg: AugmentConfig | None,
                 patch_scales: list[float] | None = None, label_variants: dict[int, list[int]] | None = None,
                 label_plain: dict[int, int] | None = None, text_p: float = 0.0) -> None:
        assert mode in ("pretrain", "align", "eval")
        self.mode = mode
        self.L = patch_len
        self.max_patches = max_patches
        self.aug = augment_cfg
        self.patch_scales = patch_scales or [1.0]
        self.label_variants = label_variants or {}
        self.label_plain = label_plain or {}
        self.text_p = text_p

    def __call__(self, samples: list[Sample], rngs: list[np.random.Generator] | None = None, step: int = -1) -> Batch:
        train = self.mode != "eval"
        views1, views2, ids1, ids2 = [], [], [], []
        for i, s in enumerate(samples):
            rng = rngs[i] if rngs is not None else None
            x = np.nan_to_num(s.x, nan=0.0).astype(np.float32, copy=False)
            patch_s = s.patch_s
            if train and rng is not None:
                patch_s = s.patch_s * float(rng.choice(self.patch_scales))
            if self.mode == "pretrain" and rng is not None:
                # both views augmented, each by its own draw (view 2 first: its draw is unchanged)
                xa, perm = augment(x, s.names, rng, self.aug)
                xb, perm1 = augment(x, s.names, rng, self.aug)
                views1.append(patchify(xb, s.rate, patch_s, self.L, self.max_patches))
                views2.append(patchify(xa, s.rate, patch_s, self.L, self.max_patches))
                ids1.append(s.channel_ids[perm1])
                ids2.append(s.channel_ids[perm])
            elif self.mode == "align" and rng is not None:
                xa, perm = augment(x, s.names, rng, self.aug)
                views1.append(patchify(xa, s.rate, patch_s, self.L, self.max_patches))
                ids1.append(s.channel_ids[perm])
                if s.label >= 0:
                    variants = self.label_variants.get(s.label)
                    if variants and rng.random() < self.text_p:
                        s.label_text = int(variants[rng.integers(len(variants))])
                    else:
                        s.label_text = self.label_plain.get(s.label, -1)
            else:
                views1.append(patchify(x, s.rate, patch_s, self.L, self.max_patches))
                ids1.append(s.channel_ids)
                if s.label >= 0:
                    s.label_text = self.label_plain.get(s.label, -1)
        B = len(samples)
        P = max(v[0].shape[0] for v in views1)
        C = max(v[0].shape[1] for v in views1)

        def pad(views, ids):
            patches = np.zeros((B, P, C, self.L), np.float32)
            stats = np.zeros((B, P, C, 2), np.float32)
            cid = np.zeros((B, C), np.int64)
            for b, ((z, st), ch) in enumerate(zip(views, ids)):
                p, c = z.shape[:2]
                patches[b, :p, :c] = z
                stats[b, :p, :c] = st
                cid[b, :c] = ch
            return torch.from_numpy(patches), torch.from_numpy(stats), torch.from_numpy(cid)

        patches, stats, cid = pad(views1, ids1)
        pmask = torch.zeros(B, P, dtype=torch.bool)
        cmask = torch.zeros(B, C, dtype=torch.bool)
        for b, (z, _) in enumerate(views1):
            pmask[b, : z.shape[0]] = True
            cmask[b, : z.shape[1]] = True
        batch = Batch(patches, stats, pmask, cmask, cid,
                      label=torch.tensor([s.label for s in samples], dtype=torch.long),
                      label_text=torch.tensor([s.label_text for s in samples], dtype=torch.long),
                      source=torch.tensor([s.source for s in samples], dtype=torch.long),
                      window=torch.tensor([s.window for s in samples], dtype=torch.long), step=step)
        if views2:
            batch.patches2, batch.stats2, batch.channel_ids2 = pad(views2, ids2)
        return batch
