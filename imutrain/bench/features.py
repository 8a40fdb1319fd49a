"""Rotation-invariant hand-made features per window (baseline 1 of docs/benchmark.md).

Per sensor placement (the channel-name prefix): the total acceleration triad (``acc``; or
``lacc + grav`` when the dataset splits it; or ``lacc`` alone), the gyroscope triad, and the unit
mean of the acceleration over the window as the gravity direction ĝ. For the signals |acc|,
|gyro|, acc·ĝ and gyro·ĝ: mean, std and the 5/25/50/75/95th percentiles; for |acc| and |gyro| the
log share of variance in five bands (0.1-1, 1-2, 2-4, 4-8, 8-12 Hz) from the periodogram. None of
these change when the sensor is rotated. A missing gyroscope gives zeros. Placements are
concatenated in sorted order (38 values each).
"""
from __future__ import annotations

import numpy as np

BANDS = ((0.1, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 12.0))
PCTS = (5, 25, 50, 75, 95)
N_PER_PLACEMENT = 4 * (2 + len(PCTS)) + 2 * len(BANDS)


def _triads(names: list[str]) -> dict[str, dict[str, list[int]]]:
    """placement -> sensor -> [x, y, z] column indices (only complete triads)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for i, n in enumerate(names):
        parts = n.split("_")
        if len(parts) < 3:
            continue
        place, sensor, axis = "_".join(parts[:-2]), parts[-2], parts[-1]
        out.setdefault(place, {}).setdefault(sensor, {})[axis] = i
    return {p: {s: [ax[a] for a in "xyz"] for s, ax in d.items() if all(a in ax for a in "xyz")} for p, d in out.items()}


def _stats(v: np.ndarray) -> list[float]:
    return [float(v.mean()), float(v.std())] + [float(q) for q in np.percentile(v, PCTS)]


def _bands(v: np.ndarray, rate: float) -> list[float]:
    v = v - v.mean()
    n = len(v)
    spec = np.abs(np.fft.rfft(v)) ** 2
    f = np.fft.rfftfreq(n, 1.0 / rate)
    total = spec[1:].sum() + 1e-12
    return [float(np.log(spec[(f >= lo) & (f < hi)].sum() / total + 1e-6)) for lo, hi in BANDS]


def placement_features(acc: np.ndarray, gyro: np.ndarray | None, rate: float) -> list[float]:
    g = acc.mean(0)
    g_hat = g / (np.linalg.norm(g) + 1e-9)
    a_mag = np.linalg.norm(acc, axis=1)
    feats = _stats(a_mag) + _stats(acc @ g_hat)
    if gyro is not None:
        w_mag = np.linalg.norm(gyro, axis=1)
        feats += _stats(w_mag) + _stats(gyro @ g_hat)
    else:
        feats += [0.0] * (2 * (2 + len(PCTS)))
    feats += _bands(a_mag, rate)
    feats += _bands(np.linalg.norm(gyro, axis=1), rate) if gyro is not None else [0.0] * len(BANDS)
    return feats


def window_features(x: np.ndarray, names: list[str], rate: float) -> np.ndarray:
    tri = _triads(names)
    out: list[float] = []
    for place in sorted(tri):
        d = tri[place]
        if "acc" in d:
            acc = x[:, d["acc"]]
        elif "lacc" in d and "grav" in d:
            acc = x[:, d["lacc"]] + x[:, d["grav"]]
        elif "lacc" in d:
            acc = x[:, d["lacc"]]
        else:
            continue
        gyro = x[:, d["gyro"]] if "gyro" in d else None
        out += placement_features(acc.astype(np.float64), None if gyro is None else gyro.astype(np.float64), rate)
    if not out:
        raise ValueError(f"no accelerometer triad among channels {names}")
    return np.asarray(out, np.float32)


def features(windows) -> np.ndarray:
    """(N, F) features of a :class:`~imutrain.bench.data.Windows`."""
    rows = []
    for w, x in enumerate(windows.x):
        src = windows.sources[int(windows.index.source[w])]
        rows.append(window_features(x, src.channels, src.rate))
    return np.stack(rows)
