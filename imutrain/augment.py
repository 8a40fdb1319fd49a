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
