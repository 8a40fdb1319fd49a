"""Physically plausible signal augmentations of raw SI-unit windows, batched (numpy, torch noise).

A window is ``x`` (T, C) plus its channel names (``<placement>_<sensor>_<axis>``). Each window has
its own ``numpy.random.Generator`` so its augmentation is a pure function of its seed (exact resume,
identical results for any number of workers or batch composition). ``augment_views`` takes one
block of uniforms per window and does everything else for the whole batch; ``augment_sequential``
is the earlier per-window code (one draw per operation), kept as the reference of the same law.

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
from dataclasses import dataclass

import numpy as np
import torch

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


def augment_sequential(x: np.ndarray, names: list[str], rng: np.random.Generator, cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """The previous per-window implementation (one draw per operation from the window's generator, numpy
    per window), kept as the reference that benchmarks/loader.py times and that the tests compare the
    batched draws' distribution with; returns (x, channel permutation)."""
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


@dataclass(frozen=True)
class Layout:
    """What augmentation needs to know about a channel layout, derived once per tuple of names."""

    places: tuple[tuple[tuple[int, int, int], ...], ...]  # per placement: its triads' columns
    gain_group: np.ndarray                                # (C,) scaling group of each column
    n_gain: int                                           # triads, then lone channels

    @property
    def n_place(self) -> int:
        return len(self.places)


@functools.lru_cache(maxsize=256)
def layout(names: tuple[str, ...]) -> Layout:
    """The placements, triads and scaling groups of ``names`` (in ``rotate`` / ``scale``'s order)."""
    tri = _triads(names)
    by_place: dict[str, list[tuple[int, int, int]]] = {}
    for key, cols in tri.items():
        by_place.setdefault(key.split("_", 1)[0], []).append(tuple(cols))  # type: ignore[arg-type]
    group = np.full(len(names), -1, np.int64)
    for g, cols in enumerate(tri.values()):
        group[cols] = g
    lone = np.flatnonzero(group < 0)
    group[lone] = len(tri) + np.arange(len(lone))
    return Layout(tuple(tuple(v) for v in by_place.values()), group, len(tri) + len(lone))


# columns of one view's block of uniforms: five "does it fire" draws, then the parameters
_FIRE = 5
_KNOTS = 4


def _n_uniforms(lay: Layout, C: int) -> int:
    # fire flags, 3 per placement (rotation), knots, gains, channel keys, noise seed
    return _FIRE + 3 * lay.n_place + _KNOTS + lay.n_gain + C + 1


@dataclass
class Draws:
    """One group's augmentation parameters, one row per (view, window): ``N = views * windows``."""

    rotate: np.ndarray   # (N,) bool
    R: np.ndarray        # (N, places, 3, 3) float32, identity where ``rotate`` is False
    warp: np.ndarray     # (N,) bool
    knots: np.ndarray    # (N, 4) relative speeds at 4 evenly spaced knots
    scale: np.ndarray    # (N,) bool
    gain: np.ndarray     # (N, C) float32, 1 where ``scale`` is False
    jitter: np.ndarray   # (N,) bool
    seed: np.ndarray     # (N,) int64 seed of the window-view's jitter noise
    shuffle: np.ndarray  # (N,) bool
    perm: np.ndarray     # (N, C) channel permutation, identity where ``shuffle`` is False


def draw(U: np.ndarray, lay: Layout, C: int, T: int, cfg: AugmentConfig) -> Draws:
    """Parameters from a block of uniforms ``U`` (N, _n_uniforms): every draw of ``augment_sequential``
    with the same distribution, computed for all rows at once.

    - rotation below 180°: axis uniform on the sphere (z uniform in [-1, 1], azimuth uniform: what
      a normalised 3-D Gaussian gives), angle uniform in [-max, max]; at 180° and above a uniform
      unit quaternion (Shoemake's subgroup algorithm; the normalised 4-D Gaussian's law);
    - time-warp knots uniform in [1 - s, 1 + s]; gains uniform in ``cfg.scale``;
    - channel permutation: the order of C uniform keys (a uniformly random permutation);
    - the jitter noise seed: 53 random bits (the noise itself is drawn in ``_noise``).
    """
    N = U.shape[0]
    fire = U[:, :_FIRE] < np.array([cfg.rotation_p, cfg.time_warp_p, cfg.scale_p, cfg.jitter_p,
                                     cfg.channel_shuffle_p])
    k = _FIRE
    P = lay.n_place
    r = U[:, k:k + 3 * P].reshape(N, P, 3)
    k += 3 * P
    R = np.broadcast_to(np.eye(3, dtype=np.float32), (N, P, 3, 3)).copy()
    rot = fire[:, 0] & bool(cfg.rotation_p) & (P > 0)
    if rot.any():
        R[rot] = _rotations(r[rot], cfg.rotation_deg)
    knots = (1 - cfg.time_warp) + 2 * cfg.time_warp * U[:, k:k + _KNOTS]
    k += _KNOTS
    lo, hi = cfg.scale
    g = (lo + (hi - lo) * U[:, k:k + lay.n_gain])[:, lay.gain_group].astype(np.float32)
    k += lay.n_gain
    sc = fire[:, 2] & bool(cfg.scale_p)
    g[~sc] = 1.0
    sh = fire[:, 4] & bool(cfg.channel_shuffle_p)
    perm = np.broadcast_to(np.arange(C), (N, C)).copy()
    if sh.any():
        perm[sh] = np.argsort(U[sh, k:k + C], axis=1, kind="stable")
    k += C
    seed = (U[:, k] * 2.0 ** 53).astype(np.int64)
    return Draws(rot, R, fire[:, 1] & bool(cfg.time_warp_p) & (T >= 4), knots, sc, g,
                 fire[:, 3] & bool(cfg.jitter_p), seed, sh, perm)


def _rotations(u: np.ndarray, max_deg: float) -> np.ndarray:
    """(..., 3) uniforms -> (..., 3, 3) float32 rotation matrices (see ``draw``)."""
    if max_deg >= 180.0:
        s1, s2 = np.sqrt(1 - u[..., 0]), np.sqrt(u[..., 0])
        t1, t2 = 2 * np.pi * u[..., 1], 2 * np.pi * u[..., 2]
        a, b, c, w = s1 * np.sin(t1), s1 * np.cos(t1), s2 * np.sin(t2), s2 * np.cos(t2)
        M = np.stack([1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w),
                      2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w),
                      2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)], -1)
        return M.reshape(u.shape[:-1] + (3, 3)).astype(np.float32)
    z = 2 * u[..., 0] - 1
    phi = 2 * np.pi * u[..., 1]
    rho = np.sqrt(np.maximum(0.0, 1 - z * z))
    x, y = rho * np.cos(phi), rho * np.sin(phi)
    th = np.radians(-max_deg + 2 * max_deg * u[..., 2])
    s, c1 = np.sin(th), 1 - np.cos(th)
    # Rodrigues: I + sin(th) K + (1 - cos(th)) K^2 for the unit axis (x, y, z)
    M = np.stack([1 - c1 * (y * y + z * z), -s * z + c1 * x * y, s * y + c1 * x * z,
                  s * z + c1 * x * y, 1 - c1 * (x * x + z * z), -s * x + c1 * y * z,
                  -s * y + c1 * x * z, s * x + c1 * y * z, 1 - c1 * (x * x + y * y)], -1)
    return M.reshape(u.shape[:-1] + (3, 3)).astype(np.float32)


_NOISE = torch.Generator()


def _noise(seeds: np.ndarray, C: int, T: int) -> np.ndarray:
    """(n, C, T) float32 standard normal noise, row i a function of ``seeds[i]`` alone (torch's
    vectorised normal sampler: ~3x numpy's per value here). torch seeds its Mersenne Twister with
    the seed's low 32 bits."""
    out = torch.empty((len(seeds), C, T), dtype=torch.float32)
    for i, s in enumerate(seeds.tolist()):
        _NOISE.manual_seed(s)
        torch.randn((C, T), generator=_NOISE, out=out[i])
    return out.numpy()


def apply(X0: np.ndarray, d: Draws, lay: Layout, cfg: AugmentConfig) -> np.ndarray:
    """Apply ``d`` to G channel-major windows ``X0`` (G, C, T) float32; row ``r`` of the result
    (N, C, T) is view ``r // G`` of window ``r % G``.

    Time warp, then rotation, scaling and channel shuffle as ONE per-row C x C matrix, then jitter.
    ``augment_sequential`` rotates before warping and shuffles after jitter: the same law, since
    warping resamples every channel at the same positions (it commutes with any channel matrix)
    and the permuted noise of independent standard normals is again independent standard normals
    (jitter's std is taken per channel either way, so it follows its channel)."""
    G, C, T = X0.shape
    N = len(d.rotate)
    win = np.arange(N) % G
    Y = X0[win]
    rows = np.flatnonzero(d.warp)
    if len(rows):
        Y[rows] = _warp(X0, win[rows], d.knots[rows])
    A = np.zeros((N, C, C), np.float32)
    A[:, np.arange(C), np.arange(C)] = 1.0
    for p, triads_ in enumerate(lay.places):
        for cols in triads_:
            c = np.array(cols)
            A[:, c[:, None], c[None, :]] = d.R[:, p]       # y = R x on the triad's (x, y, z)
    A *= d.gain[:, :, None]                               # then each channel's gain
    A = np.take_along_axis(A, d.perm[:, :, None], 1)      # then channel j <- channel perm[j]
    Y = np.matmul(A, Y)
    rows = np.flatnonzero(d.jitter)
    if len(rows):
        Yj = Y[rows]
        m = np.add.reduce(Yj, axis=-1, keepdims=True) / np.float32(T)
        dev = Yj - m
        std = np.sqrt(np.einsum("...i,...i->...", dev, dev) / np.float32(T))[..., None] + np.float32(1e-6)
        Yj += _noise(d.seed[rows], C, T) * (np.float32(cfg.jitter) * std)
        Y[rows] = Yj
    return Y


@functools.lru_cache(maxsize=64)
def _knot_matrix(T: int) -> np.ndarray:
    """(T, 4) linear interpolation of 4 evenly spaced knots at T evenly spaced points (``np.interp``)."""
    return np.stack([np.interp(np.linspace(0, 1, T), np.linspace(0, 1, _KNOTS), e) for e in np.eye(_KNOTS)], 1)


def _warp(X0: np.ndarray, win: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``time_warp`` of windows ``X0[win]`` (channel-major): speed curve from the knots, positions by
    cumulative sum, then every channel linearly interpolated at those positions (``np.interp``'s
    formula, positions in float64)."""
    _, C, T = X0.shape
    speed = knots @ _knot_matrix(T).T                      # (n, T)
    pos = np.cumsum(speed, axis=1)
    pos = (pos - pos[:, :1]) / (pos[:, -1:] - pos[:, :1]) * (T - 1)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, T - 2)
    w = (pos - lo).astype(np.float32)[:, None, :]
    flat = (win[:, None, None] * C + np.arange(C)[None, :, None]) * T + lo[:, None, :]  # (n, C, T)
    src = X0.reshape(-1)
    a = src.take(flat)
    return (src.take(flat + 1) - a) * w + a


def augment_views(xs: list[np.ndarray], names: list[list[str]], rngs: list[np.random.Generator],
                  cfg: AugmentConfig, views: int = 1) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """``views`` independently augmented copies of every window: ``out[v][i] = (x, permutation)``.

    Each window takes ONE draw from its own generator, ``rng.random((views, K))`` (K fixed by the
    window's channel layout, whatever fires), so a window's augmentation is a pure function of its
    seed: exact resume, any number of workers, any batch composition. Everything else (rotation
    matrices, warping, gains, noise scaling, permutations) is computed for all windows of one shape
    and layout at once. Not the stream of ``augment_sequential`` (one draw per operation), but the
    same distribution of every parameter (tests/test_imutrain_augment.py)."""
    out: list[list[tuple[np.ndarray, np.ndarray]]] = [[None] * len(xs) for _ in range(views)]  # type: ignore[list-item]
    groups: dict[tuple, list[int]] = {}
    for i, x in enumerate(xs):
        groups.setdefault((x.shape, tuple(names[i])), []).append(i)
    for ((T, C), nm), idx in groups.items():
        lay = layout(nm)
        K = _n_uniforms(lay, C)
        U = np.stack([rngs[i].random((views, K)) for i in idx], 1).reshape(views * len(idx), K)
        X0 = np.stack([xs[i].T for i in idx]).astype(np.float32, copy=False)  # (G, C, T)
        d = draw(U, lay, C, T, cfg)
        Y = apply(X0, d, lay, cfg)
        for v in range(views):
            for k, i in enumerate(idx):
                row = v * len(idx) + k
                out[v][i] = (Y[row].T, d.perm[row])  # (T, C) views of channel-major rows
    return out


def augment_batch(xs: list[np.ndarray], names: list[list[str]], rngs: list[np.random.Generator],
                  cfg: AugmentConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """One augmented view of every window (``augment_views`` with one view)."""
    return augment_views(xs, names, rngs, cfg, 1)[0]


def augment(x: np.ndarray, names: list[str], rng: np.random.Generator, cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Apply the recipe's augmentations to one window; returns (x, channel permutation). The same
    computation as a batch of one (``augment_views``)."""
    return augment_views([x], [names], [rng], cfg, 1)[0][0]


@functools.lru_cache(maxsize=256)
def _triads(names: tuple[str, ...]) -> dict[str, list[int]]:
    return triads(list(names))
