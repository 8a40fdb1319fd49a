"""Angle channels: which channels hold angles, and unwrapping them before they are filtered.

An orientation angle stored in radians wraps at ±π (MotionSense's yaw jumps from π to -π when the
phone turns past it). A filter sees that jump as a 2π step and spreads it over every band. Band
splits (``imudata bands`` and ``imudata plot``) therefore unwrap angle channels first: each jump
larger than π between consecutive finite samples is replaced by its 2π complement, so the
filtered signal is the continuous angle (its bands sum to the unwrapped angle, not to the wrapped
one). Kept apart from ``imudata.signal`` so the filter code stays about filters only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .format import Channel


def is_angle(ch: Channel) -> bool:
    """True for a channel holding an angle in radians (sensor ``ori``; quaternion parts are ``a.u.``)."""
    return ch.sensor == "ori" and ch.unit == "rad"


def angle_indices(channels: Sequence[Channel]) -> list[int]:
    """Positions of the angle channels among ``channels``."""
    return [i for i, ch in enumerate(channels) if is_angle(ch)]


def unwrap_columns(x: np.ndarray, cols: Sequence[int]) -> np.ndarray:
    """``x`` (samples, channels) with the columns ``cols`` unwrapped (period 2π) over their finite samples.

    NaN stays NaN and does not break continuity: the finite samples on either side of a gap are
    unwrapped as one sequence. Returns a new array when anything is unwrapped, else ``x`` itself.
    """
    if not len(cols):
        return x
    out = np.array(x, dtype=np.float64, copy=True)
    for c in cols:
        col = out[:, c]
        ok = np.isfinite(col)
        if ok.sum() > 1:
            col[ok] = np.unwrap(col[ok])
    return out
