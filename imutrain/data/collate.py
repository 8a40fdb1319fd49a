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

from ..augment import augment_views
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
    return patchify_many([x], [rate], [patch_s], L, max_patches)[0]


def patchify_many(xs: list[np.ndarray], rates: list[float], patch_ss: list[float], L: int,
                  max_patches: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``patchify`` of every window, one vectorised pass per group of windows with the same patch
    geometry (samples per patch, patches, channels): a batch is a few numpy calls, not a few
    dozen per window."""
    out: list[tuple[np.ndarray, np.ndarray]] = [None] * len(xs)  # type: ignore[list-item]
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, x in enumerate(xs):
        T, C = x.shape
        n = n_patch_samples(rates[i], patch_ss[i], T)
        P = max(1, min(T // n, max_patches))
        groups.setdefault((n, P, C), []).append(i)
    for (n, P, C), idx in groups.items():
        # channel-major (G, C, P, n): a straight copy when the windows are transposed channel-major
        # rows (augment_views' output), one transposing copy otherwise
        seg = np.stack([xs[i][: P * n].T for i in idx]).reshape(len(idx), C, P, n)
        z, stats = _patch_core(seg, L)
        for k, i in enumerate(idx):
            out[i] = (z[k], stats[k])
    return out


def _mean_std(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std along the last (contiguous) axis, two-pass like ``np.std``."""
    k = a.shape[-1]
    m = np.add.reduce(a, axis=-1) / np.float32(k)
    d = a - m[..., None]
    return m, np.sqrt(np.einsum("...i,...i->...", d, d) / np.float32(k))


def _patch_core(seg: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """(G, C, P, n) channel-major patches of samples -> z-scored (G, P, C, L) and signed-log stats
    (G, P, C, 2).

    Every reduction and the interpolation (one matmul with the (n, L) interpolation matrix) run
    along the contiguous last axis; the result is returned as a (G, P, C, L) view, which the
    collator copies into the padded batch anyway.
    """
    n = seg.shape[-1]
    mean, std = _mean_std(seg)                             # (G, C, P) in SI units
    p = (seg.reshape(-1, n) @ interp_matrix(n, L).T).reshape(seg.shape[:-1] + (L,))  # (G, C, P, L): one GEMM
    pm, ps = _mean_std(p)
    ok = ps > STD_FLOOR
    p -= pm[..., None]
    p *= (np.float32(1.0) / np.where(ok, ps, np.float32(1.0)))[..., None]
    p[~ok] = 0.0
    stats = np.stack([slog(mean), slog(std)], -1).astype(np.float32).transpose(0, 2, 1, 3)
    return p.astype(np.float32, copy=False).transpose(0, 2, 1, 3), stats


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

    def __reduce__(self):
        """Pickled (from a DataLoader worker to the main process) as ONE byte buffer holding every
        tensor (CPU), not a dozen tensors: torch moves each tensor through its own shared-memory
        segment and file descriptor, and receiving a stage-1 batch's 12 tensors cost the main
        process ~6.7 ms of CPU (benchmarks/README.md)."""
        meta, parts, off = [], [], 0
        other = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, torch.Tensor):
                other[f.name] = v
                continue
            a = np.ascontiguousarray(v.detach().cpu().numpy())
            meta.append((f.name, a.dtype.str, a.shape, off))
            parts.append((off, a))
            off += -(-a.nbytes // 8) * 8  # 8-byte aligned
        buf = np.empty(off, np.uint8)
        for o, a in parts:
            buf[o:o + a.nbytes] = a.reshape(-1).view(np.uint8)
        return _unpack_batch, (buf, tuple(meta), other)


def _unpack_batch(buf: np.ndarray, meta: tuple, other: dict) -> Batch:
    """Inverse of ``Batch.__reduce__``: tensors are views of the one received buffer."""
    kw = dict(other)
    for name, dtype, shape, off in meta:
        dt = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        kw[name] = torch.from_numpy(buf[off:off + n].view(dt).reshape(shape))
    return Batch(**kw)


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
        xs1, xs2, ids1, ids2, geo = [], [], [], [], []
        xs = []
        for i, s in enumerate(samples):
            rng = rngs[i] if rngs is not None else None
            x = s.x.astype(np.float32, copy=False)
            if not np.isfinite(x).all():
                x = np.nan_to_num(x, nan=0.0)
            xs.append(x)
            patch_s = s.patch_s
            if train and rng is not None:
                # the draw of rng.choice(self.patch_scales) (one integers(0, n)), without choice's overhead
                patch_s = s.patch_s * float(self.patch_scales[int(rng.integers(0, len(self.patch_scales)))])
            geo.append((s.rate, patch_s))
        # augmentation draws come from each window's own generator, after its patch-scale draw: one
        # block of uniforms for all views (in stage 1 both views are augmented, view 2 first)
        augmenting = self.mode in ("pretrain", "align") and rngs is not None
        aug = aug1 = None
        if augmenting:
            views = augment_views(xs, [s.names for s in samples], rngs, self.aug, 2 if self.mode == "pretrain" else 1)
            aug, aug1 = views[0], (views[1] if len(views) > 1 else None)
        for i, s in enumerate(samples):
            rng = rngs[i] if rngs is not None else None
            x = xs[i]
            if self.mode == "pretrain" and aug is not None and aug1 is not None:
                xa, perm = aug[i]
                xb, perm1 = aug1[i]
                xs1.append(xb)
                xs2.append(xa)
                ids1.append(s.channel_ids[perm1])
                ids2.append(s.channel_ids[perm])
            elif self.mode == "align" and aug is not None:
                xa, perm = aug[i]
                xs1.append(xa)
                ids1.append(s.channel_ids[perm])
                if s.label >= 0:
                    variants = self.label_variants.get(s.label)
                    if variants and rng.random() < self.text_p:
                        s.label_text = int(variants[rng.integers(len(variants))])
                    else:
                        s.label_text = self.label_plain.get(s.label, -1)
            else:
                xs1.append(x)
                ids1.append(s.channel_ids)
                if s.label >= 0:
                    s.label_text = self.label_plain.get(s.label, -1)
        # both views patched in one vectorised pass
        done = patchify_many(xs1 + xs2, [r for r, _ in geo] * (1 + bool(xs2)), [p for _, p in geo] * (1 + bool(xs2)),
                             self.L, self.max_patches)
        views1, views2 = done[:len(xs1)], done[len(xs1):]
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
