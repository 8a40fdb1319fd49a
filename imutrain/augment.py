"""Physically plausible signal augmentations, applied per window on raw SI-unit data (numpy).

A window is ``x`` (T, C) plus its channel names (``<placement>_<sensor>_<axis>``). Each function
takes an explicit ``numpy.random.Generator`` so a window's augmentation is a pure function of its
seed (exact resume, identical results for any number of workers).

- jitter: Gaussian noise scaled to each channel's own std (unit-free, unlike noise in raw units);
- scaling: one gain per sensor triad (a miscalibrated sensor scales all three axes alike);
- time warp: a smooth random speed curve (people move faster or slower);
- rotation: one random rotation (at most ``rotation_deg``) per placement, applied to every triad
  at that placement (the device sits at a slightly different angle; gravity rotates with it);
  ``rotation_deg >= 180`` means a uniformly random orientation (Haar measure on SO(3): the device
  may be carried in any orientation). Below 180 the angle is uniform in [-max, max] about a random
  axis, which is not uniform on SO(3) even at 180, hence the separate sampler;
- channel shuffle: the channel order is permuted together with the channel texts (the model must
  not rely on column order).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .config import AugmentConfig


def triads(names: list[str]) -> dict[str, list[int]]:
    """``placement_sensor`` -> column indices of its x, y, z axes (only complete triads)."""
    groups: dict[str, dict[str, int]] = {}
    for i, n in enumerate(names):
        parts = n.rsplit("_", 1)
        if len(parts) == 2 and parts[1] in ("x", "y", "z"):
            groups.setdefault(parts[0], {})[parts[1]] = i
    return {k: [v["x"], v["y"], v["z"]] for k, v in groups.items() if len(v) == 3}


def uniform_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix drawn uniformly (Haar) from SO(3): a normalised 4-D Gaussian is a uniform unit quaternion."""
    q = rng.normal(size=4)
    w, a, b, c = q / (np.linalg.norm(q) + 1e-12)
    return np.array([[1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)],
                     [2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)],
                     [2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)]], dtype=np.float32)


def random_rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    if max_deg >= 180.0:
        return uniform_rotation(rng)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis) + 1e-12
    angle = math.radians(rng.uniform(-max_deg, max_deg))
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return (np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K).astype(np.float32)


def jitter(x: np.ndarray, rng: np.random.Generator, frac: float) -> np.ndarray:
    std = x.std(0, keepdims=True) + 1e-6
    return x + rng.normal(size=x.shape).astype(np.float32) * (frac * std)


def scale(x: np.ndarray, names: list[str], rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    x = x.copy()
    done: set[int] = set()
    for cols in triads(names).values():
        x[:, cols] *= rng.uniform(lo, hi)
        done.update(cols)
    for i in range(x.shape[1]):
        if i not in done:
            x[:, i] *= rng.uniform(lo, hi)
    return x


def time_warp(x: np.ndarray, rng: np.random.Generator, strength: float, knots: int = 4) -> np.ndarray:
    T = x.shape[0]
    if T < 4:
        return x
    speed = np.interp(np.linspace(0, 1, T), np.linspace(0, 1, knots), rng.uniform(1 - strength, 1 + strength, knots))
    pos = np.cumsum(speed)
    pos = (pos - pos[0]) / (pos[-1] - pos[0]) * (T - 1)
    grid = np.arange(T, dtype=np.float64)
    return np.stack([np.interp(pos, grid, x[:, c]) for c in range(x.shape[1])], axis=1).astype(np.float32)


def rotate(x: np.ndarray, names: list[str], rng: np.random.Generator, max_deg: float) -> np.ndarray:
    x = x.copy()
    by_place: dict[str, list[list[int]]] = {}
    for key, cols in triads(names).items():
        by_place.setdefault(key.split("_", 1)[0], []).append(cols)
    for groups in by_place.values():
        R = random_rotation(rng, max_deg)
        for cols in groups:
            x[:, cols] = x[:, cols] @ R.T
    return x


def augment(x: np.ndarray, names: list[str], rng: np.random.Generator, cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Apply the recipe's augmentations to one window; returns (x, channel permutation)."""
    if cfg.rotation_p and rng.random() < cfg.rotation_p:
        x = rotate(x, names, rng, cfg.rotation_deg)
    if cfg.time_warp_p and rng.random() < cfg.time_warp_p:
        x = time_warp(x, rng, cfg.time_warp)
    if cfg.scale_p and rng.random() < cfg.scale_p:
        x = scale(x, names, rng, cfg.scale[0], cfg.scale[1])
    if cfg.jitter_p and rng.random() < cfg.jitter_p:
        x = jitter(x, rng, cfg.jitter)
    perm = np.arange(x.shape[1])
    if cfg.channel_shuffle_p and rng.random() < cfg.channel_shuffle_p:
        perm = rng.permutation(x.shape[1])
    return x[:, perm], perm


def augment_batch(xs: list[np.ndarray], names: list[list[str]], rngs: list[np.random.Generator],
                  cfg: AugmentConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """``augment`` of many windows: the same draws from each window's own generator, in the same
    order (so a window's augmentation is still a pure function of its seed), then each operation
    applied to all windows of one shape and channel layout at once. Equal to ``augment`` up to
    float32 rounding (tests/test_imutrain_loader.py)."""
    out: list[tuple[np.ndarray, np.ndarray]] = [None] * len(xs)  # type: ignore[list-item]
    groups: dict[tuple, list[int]] = {}
    for i, x in enumerate(xs):
        groups.setdefault((x.shape, tuple(names[i])), []).append(i)
    for (shape, nm), idx in groups.items():
        T, C = shape
        tri = _triads(nm)
        places: dict[str, list[list[int]]] = {}
        for key, cols in tri.items():
            places.setdefault(key.split("_", 1)[0], []).append(cols)
        in_triad = sorted({c for cols in tri.values() for c in cols})
        lone = [c for c in range(C) if c not in set(in_triad)]
        rot, warp, gain, noise, perms = [], [], [], [], []
        for k, i in enumerate(idx):  # draws, in augment()'s order
            rng = rngs[i]
            if cfg.rotation_p and rng.random() < cfg.rotation_p:
                rot.append((k, [random_rotation(rng, cfg.rotation_deg) for _ in places]))
            if cfg.time_warp_p and rng.random() < cfg.time_warp_p and T >= 4:
                warp.append((k, rng.uniform(1 - cfg.time_warp, 1 + cfg.time_warp, 4)))
            if cfg.scale_p and rng.random() < cfg.scale_p:
                g = np.ones(C, np.float32)
                for cols in tri.values():
                    g[cols] = rng.uniform(cfg.scale[0], cfg.scale[1])
                for c in lone:
                    g[c] = rng.uniform(cfg.scale[0], cfg.scale[1])
                gain.append((k, g))
            if cfg.jitter_p and rng.random() < cfg.jitter_p:
                noise.append((k, rng.normal(size=(T, C)).astype(np.float32)))
            perm = np.arange(C)
            if cfg.channel_shuffle_p and rng.random() < cfg.channel_shuffle_p:
                perm = rng.permutation(C)
            perms.append(perm)
        G = len(idx)
        X = np.stack([xs[i] for i in idx]).astype(np.float32, copy=False)
        # rotation, scaling and jitter run on every window, the ones without the operation with
        # the identity / gain 1 / zero noise (exact: x*1 + y*0 + z*0 = x), so no row gathering
        if rot:
            for p, groups_ in enumerate(places.values()):
                R = np.zeros((G, 3, 3), np.float32)
                R[:, [0, 1, 2], [0, 1, 2]] = 1.0
                for k, Rs in rot:
                    R[k] = Rs[p]
                Rt = R.transpose(0, 2, 1)
                for cols in groups_:
                    X[:, :, cols] = np.matmul(X[:, :, cols], Rt)
        if warp:
            ks = np.array([k for k, _ in warp])
            lin = np.linspace(0, 1, T)
            knots = np.linspace(0, 1, 4)
            speed = np.stack([np.interp(lin, knots, u) for _, u in warp])  # (G', T)
            pos = np.cumsum(speed, axis=1)
            pos = (pos - pos[:, :1]) / (pos[:, -1:] - pos[:, :1]) * (T - 1)
            lo = np.clip(np.floor(pos).astype(np.int64), 0, T - 2)
            w = (pos - lo)[:, :, None]
            src = X[ks].astype(np.float64)
            rows = np.arange(len(ks))[:, None]
            a = src[rows, lo]
            b = src[rows, lo + 1]
            X[ks] = ((b - a) * w + a).astype(np.float32)  # np.interp's formula on the unit grid
        if gain:
            g = np.ones((G, 1, C), np.float32)
            for k, gk in gain:
                g[k, 0] = gk
            X *= g
        if noise:
            N = np.zeros((G, T, C), np.float32)
            for k, nk in noise:
                N[k] = nk
            X += N * (cfg.jitter * (X.std(1, keepdims=True) + 1e-6))
        for k, i in enumerate(idx):
            out[i] = (X[k][:, perms[k]], perms[k])
    return out


@functools.lru_cache(maxsize=256)
def _triads(names: tuple[str, ...]) -> dict[str, list[int]]:
    return triads(list(names))
