"""Batched augmentation (``augment_views``): determinism per (seed, window), and the same law as the
previous per-window implementation (``augment_sequential``, one draw per operation).

The new code cannot reproduce the old random stream (it takes one block of uniforms per window and
draws the jitter noise with torch), so equivalence is tested in distribution: with fixed seeds, two-
sample Kolmogorov-Smirnov distances between old and new draws must stay under the asymptotic
critical value D = c(alpha) * sqrt((n + m) / (n m)), c(alpha) = sqrt(-ln(alpha / 2) / 2) (the
Kolmogorov distribution's tail, not anything computed by the code under test), and rates of events
within 4.5 binomial standard deviations of their probability.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from imutrain import config
from imutrain.augment import (
    Layout,
    augment,
    augment_sequential,
    augment_views,
    draw,
    layout,
    random_rotation,
    uniform_rotation,
)

NAMES = ["waist_acc_x", "waist_acc_y", "waist_acc_z", "waist_gyro_x", "waist_gyro_y", "waist_gyro_z",
         "wrist_acc_x", "wrist_acc_y", "wrist_acc_z", "ecg"]
ALPHA = 1e-4


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the two empirical distribution functions."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b)).max())


def ks_bound(n: int, m: int, alpha: float = ALPHA) -> float:
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def _window(T: int = 250, C: int = 10, seed: int = 0) -> np.ndarray:
    """A realistic window: gravity on the accelerometers, a 2 Hz swing at 50 Hz, sensor noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 50.0
    x = 0.3 * rng.normal(size=(T, C)) + np.sin(2 * np.pi * 2.0 * t)[:, None] * rng.uniform(0.5, 2.0, C)
    x[:, [2, 8]] += 9.81
    return x.astype(np.float32)


def _angle(R: np.ndarray) -> np.ndarray:
    return np.arccos(np.clip((np.trace(R, axis1=-2, axis2=-1) - 1) / 2, -1, 1))


# ------------------------------------------------------------------ determinism per (seed, window)
def test_a_window_depends_on_its_seed_alone():
    """The same seed gives the same views whatever else is in the batch, in any order, alone or not."""
    cfg = config.AugmentConfig(rotation_p=0.7, time_warp_p=0.7, scale_p=0.7, jitter_p=0.9, channel_shuffle_p=0.7)
    xs = [_window(seed=i) for i in range(12)] + [_window(120, 10, seed=50 + i) for i in range(4)]
    names = [NAMES] * 16
    seeds = [[4, 11, j, 5] for j in range(16)]
    full = augment_views(xs, names, [np.random.default_rng(s) for s in seeds], cfg, 2)
    order = np.random.default_rng(9).permutation(16)[:9]
    part = augment_views([xs[i] for i in order], [names[i] for i in order],
                         [np.random.default_rng(seeds[i]) for i in order], cfg, 2)
    for k, i in enumerate(order):
        for v in range(2):
            np.testing.assert_allclose(part[v][k][0], full[v][i][0], rtol=1e-6, atol=1e-5)
            assert np.array_equal(part[v][k][1], full[v][i][1])
        alone = augment(xs[i], NAMES, np.random.default_rng(seeds[i]), cfg)  # one view: the first block row
        np.testing.assert_allclose(alone[0], full[0][i][0], rtol=1e-6, atol=1e-5)
    # views differ from each other and from the input; another seed gives other views
    assert not np.allclose(full[0][0][0], full[1][0][0])
    other = augment_views(xs[:1], names[:1], [np.random.default_rng([4, 12, 0, 5])], cfg, 2)
    assert not np.allclose(other[0][0][0], full[0][0][0])


def test_layout_groups_triads_by_placement():
    lay = layout(tuple(NAMES))
    assert lay.places == (((0, 1, 2), (3, 4, 5)), ((6, 7, 8),))
    assert lay.gain_group.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3] and lay.n_gain == 4


# ------------------------------------------------------------------ parameters: same law as the old draws
def _new_draws(n: int, cfg: config.AugmentConfig, lay: Layout, C: int = 10, seed: int = 1):
    from imutrain.augment import _n_uniforms

    U = np.random.default_rng(seed).random((n, _n_uniforms(lay, C)))
    return draw(U, lay, C, 250, cfg)


@pytest.mark.parametrize("deg", [30.0, 180.0])
def test_rotation_law_matches_old_sampler(deg):
    n = 4000
    lay = layout(tuple(NAMES))
    d = _new_draws(n, config.AugmentConfig(rotation_p=1.0, rotation_deg=deg), lay)
    rng = np.random.default_rng(2)
    old = np.stack([random_rotation(rng, deg) for _ in range(n)])
    new = d.R[:, 0]
    assert d.rotate.all()
    np.testing.assert_allclose(new @ new.transpose(0, 2, 1), np.broadcast_to(np.eye(3), new.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(new), 1.0, atol=1e-5)  # proper rotations
    b = ks_bound(n, n)
    assert ks_distance(_angle(new), _angle(old)) < b
    for i, j in [(0, 0), (2, 1), (1, 2)]:  # entries: the axis / orientation law, not only the angle
        assert ks_distance(new[:, i, j], old[:, i, j]) < b
    if deg >= 180:
        ref = np.stack([uniform_rotation(rng) for _ in range(n)])
        assert ks_distance(_angle(new), _angle(ref)) < b
    else:
        assert _angle(new).max() <= math.radians(deg) + 1e-5
    # two placements rotate independently
    assert abs(np.corrcoef(_angle(d.R[:, 0]), _angle(d.R[:, 1]))[0, 1]) < 4.5 / math.sqrt(n)


def test_gains_knots_permutations_and_rates_match_old_draws():
    n = 4000
    cfg = config.AugmentConfig()
    lay = layout(tuple(NAMES))
    d = _new_draws(n, cfg, lay, seed=3)
    rng = np.random.default_rng(4)
    b = ks_bound(n, n)
    for fired, p in [(d.rotate, cfg.rotation_p), (d.warp, cfg.time_warp_p), (d.scale, cfg.scale_p),
                     (d.jitter, cfg.jitter_p), (d.shuffle, cfg.channel_shuffle_p)]:
        assert abs(fired.mean() - p) < 4.5 * math.sqrt(p * (1 - p) / n)
    g = d.gain[d.scale]
    assert (g[:, 0] == g[:, 1]).all() and (g[:, 1] == g[:, 2]).all() and (g[:, 0] != g[:, 3]).any()  # per triad
    assert (d.gain[~d.scale] == 1).all()
    old_gain = rng.uniform(cfg.scale[0], cfg.scale[1], len(g))
    assert ks_distance(g[:, 0], old_gain) < ks_bound(len(g), len(g))
    assert ks_distance(g[:, 9], old_gain) < ks_bound(len(g), len(g))
    old_knots = rng.uniform(1 - cfg.time_warp, 1 + cfg.time_warp, (n, 4))
    for k in range(4):
        assert ks_distance(d.knots[:, k], old_knots[:, k]) < b
    perm = d.perm[d.shuffle]
    assert (np.sort(perm, 1) == np.arange(10)).all() and (d.perm[~d.shuffle] == np.arange(10)).all()
    m = len(perm)
    freq = np.stack([(perm == c).mean(0) for c in range(10)])  # P(position j holds channel c) = 1/10
    assert np.abs(freq - 0.1).max() < 4.5 * math.sqrt(0.1 * 0.9 / m)
    old_perm = np.stack([rng.permutation(10) for _ in range(m)])
    assert ks_distance(perm[:, 0], old_perm[:, 0]) < ks_bound(m, m)


# ------------------------------------------------------------------ whole augmentation: same law as before
OFF = {"rotation_p": 0.0, "time_warp_p": 0.0, "scale_p": 0.0, "jitter_p": 0.0, "channel_shuffle_p": 0.0}


@pytest.mark.parametrize("cfg", [{**OFF, "rotation_p": 1.0}, {**OFF, "rotation_p": 1.0, "rotation_deg": 180.0},
                                 {**OFF, "time_warp_p": 1.0}, {**OFF, "scale_p": 1.0}, {**OFF, "jitter_p": 1.0},
                                 {**OFF, "channel_shuffle_p": 1.0}, {}],
                         ids=["rotation", "rotation-haar", "time-warp", "scale", "jitter", "shuffle", "default"])
def test_augmented_windows_have_the_old_law(cfg):
    """Per-window summaries of augmented copies of one smooth realistic window, old sequential code
    vs the batched views (each operation alone, then the default recipe): KS distance under the
    bound for every summary and channel. Sensitive enough to fail for rotation_deg 30 -> 27, scale
    [0.9, 1.1] -> [0.89, 1.1] or jitter 0.05 -> 0.055 in the new code (checked by hand)."""
    acfg = config.AugmentConfig(**cfg)
    rng = np.random.default_rng(0)
    t = np.arange(250) / 50.0
    x = (0.02 * rng.normal(size=(250, 10)) + np.sin(2 * np.pi * 2.0 * t)[:, None] * rng.uniform(0.5, 2.0, 10))
    x[:, [2, 8]] += 9.81
    x = x.astype(np.float32)
    n = 3000
    old = [augment_sequential(x, NAMES, np.random.default_rng([7, j, 5]), acfg) for j in range(n)]
    new = augment_views([x] * (n // 2), [NAMES] * (n // 2), [np.random.default_rng([8, j, 5]) for j in range(n // 2)],
                        acfg, 2)
    new = new[0] + new[1]

    def summaries(outs):
        X = np.stack([o for o, _ in outs]).astype(np.float64)  # (n, T, C)
        d = X - X.mean(1, keepdims=True)
        crossing = np.argmax(np.diff(np.sign(d[:, 100:, 0]), axis=1) != 0, axis=1)  # warping moves the swing
        return {"mean": X.mean(1), "std": X.std(1), "first": X[:, 0], "middle": X[:, 125], "last": X[:, -1],
                "roughness": np.abs(np.diff(X, 2, axis=1)).mean(1), "crossing": crossing[:, None].astype(float)}

    so, sn = summaries(old), summaries(new)
    b = ks_bound(n, n)
    worst = {k: max(ks_distance(so[k][:, c], sn[k][:, c]) for c in range(so[k].shape[1])) for k in so}
    assert all(v < b for v in worst.values()), (worst, b)


def test_jitter_noise_is_standard_normal_and_independent():
    """Jitter alone: the residual over (jitter * the channel's std) is N(0, 1), independent across
    views and windows."""
    acfg = config.AugmentConfig(rotation_p=0.0, time_warp_p=0.0, scale_p=0.0, jitter_p=1.0, channel_shuffle_p=0.0,
                                jitter=0.05)
    x = _window()
    out = augment_views([x] * 40, [NAMES] * 40, [np.random.default_rng([1, j]) for j in range(40)], acfg, 2)
    res = np.stack([[(o - x) / (0.05 * (x.std(0) + 1e-6)) for o, _ in view] for view in out])  # (2, 40, T, C)
    flat = res.reshape(-1)
    assert abs(flat.mean()) < 4.5 / math.sqrt(flat.size) and abs(flat.std() - 1) < 0.01
    ref = np.random.default_rng(0).standard_normal(20000)
    assert ks_distance(flat[::5], ref) < ks_bound(len(flat[::5]), len(ref))
    a, c = res[0].reshape(40, -1), res[1].reshape(40, -1)
    corr = np.array([np.corrcoef(a[i], c[i])[0, 1] for i in range(40)] +
                    [np.corrcoef(a[i], a[i + 1])[0, 1] for i in range(39)])
    assert np.abs(corr).max() < 4.5 / math.sqrt(a.shape[1])


# ------------------------------------------------------------------ the loader's per-window generators
def test_window_generators_are_keyed_and_uniform():
    """A generator per (seed, step, slot): reproducible, different for any other key, and the first
    draws over many slots / steps / seeds uniform and uncorrelated between neighbours."""
    from imutrain.data.loader import window_generators

    a = [g.random(3) for g in window_generators(3, 7, np.arange(4))]
    b = [g.random(3) for g in window_generators(3, 7, np.array([2, 3]))]
    assert np.array_equal(a[2], b[0]) and np.array_equal(a[3], b[1])  # a slot's stream ignores the others
    keys = [(3, 8, 0), (4, 7, 0), (-3, 7, 0), (3, 7, 1), (2**40, 7, 0)]
    firsts = {window_generators(s, st, np.array([sl]))[0].random() for s, st, sl in keys}
    assert len(firsts | {a[0][0]}) == len(keys) + 1
    n = 4000
    u = np.array([g.random() for g in window_generators(0, 0, np.arange(n))])
    v = np.array([window_generators(0, st, np.array([0]))[0].random() for st in range(n)])
    w = np.array([window_generators(s, 0, np.array([0]))[0].random() for s in range(n)])
    for x in (u, v, w):
        assert ks_distance(x, np.linspace(0, 1, 100001)) < ks_bound(n, 100001)
        assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 4.5 / math.sqrt(n)
    assert len(np.unique(np.concatenate([u, v, w]))) == 3 * n - 2  # (0, 0, 0) is in all three
