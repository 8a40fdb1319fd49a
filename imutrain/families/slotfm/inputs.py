"""SlotFM's input: one 3-axis accelerometer per window, at 50 Hz, split into frequency bands.

The bands come from ``imudata.signal.split_bands`` (the same function ``imudata bands`` uses:
zero-phase complementary 4th-order Butterworth, 0-1, 1-4, > 4 Hz), never from a copy of it.
Training windows are drawn with probability proportional to their standard deviation (seed 001
§4, after Yuan et al. 2024), within each dataset.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from imudata.signal import resample, split_bands


class InputError(ValueError):
    """A window has no accelerometer triad SlotFM can use (names the channels)."""


def accel_columns(names: Sequence[str]) -> list[list[int]]:
    """Column groups summed into the one accelerometer triad: the first placement (sorted) with an
    ``acc`` triad, else ``lacc`` + ``grav`` (MotionSense: total acceleration), else ``lacc`` alone.
    Returns per axis x, y, z the columns to add."""
    place: dict[str, dict[str, dict[str, int]]] = {}
    for i, n in enumerate(names):
        parts = n.split("_")
        if len(parts) < 3 or parts[-1] not in ("x", "y", "z"):
            continue
        place.setdefault("_".join(parts[:-2]), {}).setdefault(parts[-2], {})[parts[-1]] = i
    for p in sorted(place):
        d = {s: ax for s, ax in place[p].items() if all(a in ax for a in "xyz")}
        for sensors in (("acc",), ("lacc", "grav"), ("lacc",)):
            if all(s in d for s in sensors):
                return [[d[s][a] for s in sensors] for a in "xyz"]
    raise InputError(f"no accelerometer triad (acc_x/y/z, or lacc + grav) among channels {list(names)}")


def accel_triad(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """(T, 3) float64 accelerometer of a (T, C) window (NaN read as 0, as the bench reads windows)."""
    cols = accel_columns(names)
    x = np.nan_to_num(np.asarray(x, np.float64), nan=0.0)
    return np.stack([x[:, c].sum(1) for c in cols], 1)


def to_rate(acc: np.ndarray, rate: float, target: float, samples: int | None = None) -> np.ndarray:
    """Resample (T, 3) to ``target`` Hz with imudata's anti-aliased resampler; crop or zero-pad
    the end to ``samples`` when given."""
    y = acc if abs(rate - target) < 1e-9 else resample(acc, rate, target)
    if samples is not None:
        if len(y) >= samples:
            y = y[:samples]
        else:
            y = np.concatenate([y, np.zeros((samples - len(y), y.shape[1]))], 0)
    return y


def band_input(acc: np.ndarray, rate: float, bands: str, order: int) -> np.ndarray:
    """(N, T, 3) windows -> (N, n_bands, 3, T) float32 model input. ``bands == "none"``: the raw
    signal as a single band (the no-band ablation)."""
    acc = np.asarray(acc, np.float64)
    if bands == "none":
        b = acc[None]
    else:
        b = split_bands(acc, rate, bands, order=order, axis=1)   # (n_bands, N, T, 3)
    return np.ascontiguousarray(np.transpose(b, (1, 0, 3, 2))).astype(np.float32)


def window_std(acc: np.ndarray) -> float:
    """The std of a (T, 3) window: root of the mean per-axis variance (movement, not orientation)."""
    return float(np.sqrt(np.mean(np.var(np.asarray(acc, np.float64), axis=0))))


def std_weighted_draw(std: np.ndarray, groups: np.ndarray, per_group: int, seed: int) -> np.ndarray:
    """Indices drawn with replacement, ``per_group`` per group, P(window) = std / sum of its group's
    std. A group whose windows all have std 0 is drawn uniformly (said by a zero total)."""
    std = np.asarray(std, np.float64)
    if (std < 0).any() or not np.isfinite(std).all():
        raise ValueError("window std must be finite and >= 0")
    rng = np.random.default_rng([seed, 1301])
    out = []
    for g in np.unique(groups):
        ids = np.flatnonzero(groups == g)
        w = std[ids]
        p = w / w.sum() if w.sum() > 0 else np.full(len(ids), 1.0 / len(ids))
        out.append(ids[rng.choice(len(ids), size=per_group, replace=True, p=p)])
    return np.concatenate(out) if out else np.zeros(0, np.int64)
