"""Window features for captions: pure numpy over all windows of a session at once.

A session's series (magnitude, one axis, ...) is viewed as (windows, samples) with stride
tricks (no copy), and every statistic is one vectorised reduction over that view. The
structural level works on a window's series average-pooled into ``points`` bins (SensorLM
pools a day of 1,440 minutes into 36 points; here a 60-s window becomes 30 two-second bins):
trends by least-squares slopes over sliding sub-windows of 6, 8 and 12 points, anomalies by
prominence-based peak finding, both with SensorLM's thresholds relative to the series' range
R = max - min within the window. Only the greedy, per-window selection steps run in Python,
and only for windows that have a candidate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import find_peaks


@dataclass(frozen=True)
class StructuralParams:
    """SensorLM's structural thresholds (model-anchors.md §3.3), in points of the pooled series."""

    points: int = 30
    trend_windows: tuple[int, ...] = (6, 8, 12)
    trend_scales: tuple[float, ...] = (1.5, 1.3, 1.0)  # slope threshold = scale * R / 40 per point
    slope_divisor: float = 40.0
    net_change: float = 0.2  # |last - first| > 0.2 R
    stable_slope: float = 0.01  # |slope| < 0.01 R
    stable_range: float = 0.1  # max - min inside the sub-window < 0.1 R
    top_n: int = 3
    max_overlap: float = 0.3  # of the shorter span
    prominence: float = 0.5  # x R
    peak_height: float = 0.6  # y >= mean + 0.6 R
    valley_height: float = 0.4  # y <= mean + 0.4 R
    distance: int = 5
    max_width: float = 4.0

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class Trend:
    kind: str  # increasing | decreasing | stable
    i0: int  # first point
    i1: int  # one past the last point
    slope: float
    v0: float
    v1: float
    level: float


@dataclass
class Anomaly:
    kind: str  # peak | valley
    idx: int
    value: float


@dataclass
class StructuralResult:
    """Per window: trends, anomalies, and whether the series stays inside its noise floor."""

    steady: np.ndarray  # (nw,) bool: R below the noise floor (no trend/anomaly is analysed)
    valid: np.ndarray  # (nw,) bool: all bins finite
    trends: list[list[Trend]] = field(default_factory=list)
    anomalies: list[list[Anomaly]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# windows

def window_count(n: int, nwin: int, nstride: int) -> int:
    return 0 if n < nwin or nwin <= 0 else (n - nwin) // nstride + 1


def windows(x: np.ndarray, nwin: int, nstride: int) -> np.ndarray:
    """(windows, nwin) view of a 1-D series (no copy)."""
    nw = window_count(len(x), nwin, nstride)
    if nw == 0:
        return np.empty((0, nwin), dtype=x.dtype)
    return sliding_window_view(x, nwin)[: (nw - 1) * nstride + 1 : nstride]


def window_stats(xw: np.ndarray, has_nan: bool | None = None) -> dict[str, np.ndarray]:
    """mean, max, min, std (population, ddof 0) of each window, ignoring NaN.

    ``has_nan=False`` (known from the caller) skips the NaN scan. The standard deviation is the
    root of the mean squared deviation from the window mean, computed as E[(x - m)²] in float64.
    """
    if has_nan is None:
        has_nan = bool(np.isnan(xw).any())
    if has_nan:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {"mean": np.nanmean(xw, axis=1), "max": np.nanmax(xw, axis=1), "min": np.nanmin(xw, axis=1),
                    "std": np.nanstd(xw, axis=1)}
    n = xw.shape[1]
    mean = np.add.reduce(xw, axis=1) / n
    # E[x²] - m² loses digits when the spread is tiny next to the mean (gravity); shift by a
    # per-window sample first, which keeps the subtraction exact enough for float64.
    ref = xw[:, :1]
    d = xw - ref
    dm = mean - ref[:, 0]
    var = np.einsum("ij,ij->i", d, d) / n - dm * dm
    return {"mean": mean, "max": xw.max(axis=1), "min": xw.min(axis=1), "std": np.sqrt(np.maximum(var, 0.0))}


def bin_edges(nwin: int, points: int) -> np.ndarray:
    """Sample offsets of the ``points`` pooling bins of a window (points + 1 edges)."""
    if points > nwin:
        raise ValueError(f"cannot pool {nwin} samples into {points} points")
    return np.rint(np.linspace(0, nwin, points + 1)).astype(np.int64)


def binned(xw: np.ndarray, points: int, *, with_std: bool = False,
           has_nan: bool | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Average-pool each window into ``points`` bins: (mean (nw, points), std (nw, points) or None).

    NaN samples are ignored; an all-NaN bin is NaN.
    """
    nw, nwin = xw.shape
    edges = bin_edges(nwin, points)
    if nw == 0:
        return np.empty((0, points)), (np.empty((0, points)) if with_std else None)
    nan = np.isnan(xw) if has_nan is None or has_nan else None
    has_nan = bool(nan.any()) if nan is not None else False
    if nwin % points == 0 and not has_nan:
        k = nwin // points
        r = xw.reshape(nw, points, k)
        mean = np.add.reduce(r, axis=2) / k
        if not with_std:
            return mean, None
        d = r - r[:, :, :1]
        dm = mean - r[:, :, 0]
        var = np.einsum("ijk,ijk->ij", d, d) / k - dm * dm
        return mean, np.sqrt(np.maximum(var, 0.0))
    counts = np.diff(edges).astype(np.float64)
    src = np.where(nan, 0.0, xw) if has_nan else xw  # type: ignore[arg-type]
    s1 = np.add.reduceat(src, edges[:-1], axis=1)
    if has_nan:
        counts = np.add.reduceat((~nan).astype(np.float64), edges[:-1], axis=1)  # type: ignore[operator]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / counts
        std = None
        if with_std:
            s2 = np.add.reduceat(src * src, edges[:-1], axis=1)
            std = np.sqrt(np.maximum(s2 / counts - mean * mean, 0.0))
    return mean, std


# --------------------------------------------------------------------------------------------
# structural: trends and anomalies

def _trend_candidates(y: np.ndarray, R: np.ndarray, p: StructuralParams):
    """Vectorised candidate sub-windows for all windows: arrays (nw, C) plus per-candidate (C,) geometry."""
    nw, P = y.shape
    kinds, slopes, v0s, v1s, levels, starts, lens = [], [], [], [], [], [], []
    for w, scale in zip(p.trend_windows, p.trend_scales):
        if w > P:
            continue
        st = np.arange(0, P - w + 1, max(w // 2, 1))
        Y = sliding_window_view(y, w, axis=1)[:, st]  # (nw, ns, w)
        k = np.arange(w) - (w - 1) / 2.0
        slope = Y @ k / float(k @ k)
        first, last = Y[..., 0], Y[..., -1]
        net = last - first
        rng = Y.max(axis=-1) - Y.min(axis=-1)
        Rc = R[:, None]
        thr = scale * Rc / p.slope_divisor
        inc = (slope > thr) & (net > p.net_change * Rc)
        dec = ~inc & (slope < -thr) & (-net > p.net_change * Rc)
        sta = ~inc & ~dec & (np.abs(slope) < p.stable_slope * Rc) & (rng < p.stable_range * Rc)
        kinds.append(np.where(inc, 1, np.where(dec, 2, np.where(sta, 3, 0))))
        slopes.append(slope)
        v0s.append(first)
        v1s.append(last)
        levels.append(Y.mean(axis=-1))
        starts.append(st)
        lens.append(np.full(len(st), w))
    if not kinds:
        e = np.zeros((nw, 0))
        return e.astype(int), e, e, e, e, np.zeros(0, int), np.zeros(0, int)
    return (np.concatenate(kinds, 1), np.concatenate(slopes, 1), np.concatenate(v0s, 1), np.concatenate(v1s, 1),
            np.concatenate(levels, 1), np.concatenate(starts), np.concatenate(lens))


_KIND = {1: "increasing", 2: "decreasing", 3: "stable"}


def trends(y: np.ndarray, R: np.ndarray, active: np.ndarray, p: StructuralParams) -> list[list[Trend]]:
    """Up to ``top_n`` non-overlapping trends per window, chronological (SensorLM's ranking)."""
    nw = y.shape[0]
    out: list[list[Trend]] = [[] for _ in range(nw)]
    kind, slope, v0, v1, level, start, length = _trend_candidates(y, R, p)
    if kind.shape[1] == 0:
        return out
    has = (kind > 0).any(axis=1) & active
    if not has.any():
        return out
    rows = np.flatnonzero(has)
    k_ = kind[rows]
    stable = k_ == 3
    score = np.where(stable, p.net_change * R[rows, None], np.abs(v1[rows] - v0[rows]))
    tie = np.where(stable, 1.0, np.abs(slope[rows]))
    C = k_.shape[1]
    # SensorLM's order: |net change| (stable = 0.2 R), then |slope| (stable = 1), then length, all
    # descending, then candidate order; non-candidates last
    order = np.lexsort((np.broadcast_to(np.arange(C), k_.shape), -np.broadcast_to(length, k_.shape), -tie, -score,
                        k_ == 0), axis=-1)
    span_s = (start + 1).tolist()
    span_e = (start + length).tolist()
    ncand = (k_ > 0).sum(axis=1).tolist()
    for j, r in enumerate(rows.tolist()):
        chosen: list[tuple[int, int, int]] = []  # (span start, span end, candidate) in SensorLM's point units
        for c in order[j, : ncand[j]].tolist():
            s1, e1 = span_s[c], span_e[c]
            if any(max(0, min(e1, e2) - max(s1, s2)) > p.max_overlap * min(e1 - s1, e2 - s2) for s2, e2, _ in chosen):
                continue
            chosen.append((s1, e1, c))
            if len(chosen) == p.top_n:
                break
        chosen.sort()
        out[r] = [Trend(_KIND[int(kind[r, c])], int(start[c]), int(start[c] + length[c]), float(slope[r, c]),
                        float(v0[r, c]), float(v1[r, c]), float(level[r, c])) for _, _, c in chosen]
    return out


def _prominence(y: np.ndarray) -> np.ndarray:
    """Topographic prominence of every interior local maximum of each row (0 elsewhere).

    scipy.signal.peak_prominences' definition (no wlen): from the peak, extend left and right
    until a strictly higher point or the edge; the prominence is the peak minus the higher of
    the two minima. Computed for all rows and points at once in O(points²); used to decide which
    windows need the exact find_peaks call.
    """
    nw, P = y.shape
    if P < 3:
        return np.zeros_like(y)
    j = np.arange(P)
    higher = y[:, None, :] > y[:, :, None]  # [r, i, j]: y_j > y_i
    left_stop = np.where(higher & (j[None, :] < j[:, None]), j[None, :], -1).max(axis=2)  # (nw, P)
    right_stop = np.where(higher & (j[None, :] > j[:, None]), j[None, :], P).min(axis=2)
    yj = y[:, None, :]
    in_left = (j[None, None, :] > left_stop[:, :, None]) & (j[None, None, :] <= j[None, :, None])
    in_right = (j[None, None, :] < right_stop[:, :, None]) & (j[None, None, :] >= j[None, :, None])
    base = np.maximum(np.where(in_left, yj, np.inf).min(axis=2), np.where(in_right, yj, np.inf).min(axis=2))
    prom = y - base
    local = np.zeros_like(y, dtype=bool)
    local[:, 1:-1] = (y[:, 1:-1] >= y[:, :-2]) & (y[:, 1:-1] >= y[:, 2:])
    return np.where(local, prom, 0.0)


def anomalies(y: np.ndarray, R: np.ndarray, active: np.ndarray, p: StructuralParams) -> list[list[Anomaly]]:
    """Peaks and valleys per window (scipy.signal.find_peaks with SensorLM's thresholds), in time order.

    A vectorised necessary condition (an interior local extreme passing the height and
    prominence thresholds) selects the windows worth the exact find_peaks call (which also
    applies the distance and width conditions).
    """
    nw = y.shape[0]
    out: list[list[Anomaly]] = [[] for _ in range(nw)]
    if nw == 0:
        return out
    mean = y.mean(axis=1, keepdims=True)
    Rc = R[:, None]
    rows = np.flatnonzero(active)
    peak_ok = np.zeros(nw, dtype=bool)
    valley_ok = np.zeros(nw, dtype=bool)
    if len(rows):
        ya, ma, Ra = y[rows], mean[rows], Rc[rows]
        peak_ok[rows] = ((ya >= ma + p.peak_height * Ra) & (_prominence(ya) >= p.prominence * Ra)).any(axis=1)
        valley_ok[rows] = ((ya <= ma + p.valley_height * Ra) & (_prominence(-ya) >= p.prominence * Ra)).any(axis=1)
    width = (None, p.max_width)
    for r in np.flatnonzero(peak_ok | valley_ok):
        yr, Rr, m = y[r], float(R[r]), float(mean[r, 0])
        found: list[Anomaly] = []
        if peak_ok[r]:
            idx, _ = find_peaks(yr, prominence=p.prominence * Rr, height=m + p.peak_height * Rr,
                                distance=p.distance, width=width)
            found += [Anomaly("peak", int(i), float(yr[i])) for i in idx]
        if valley_ok[r]:
            idx, _ = find_peaks(-yr, prominence=p.prominence * Rr, height=-m - p.valley_height * Rr,
                                distance=p.distance, width=width)
            found += [Anomaly("valley", int(i), float(yr[i])) for i in idx]
        out[r] = found
    return out


def structural(y: np.ndarray, floor: float, p: StructuralParams) -> StructuralResult:
    """Trends and anomalies of pooled series ``y`` (nw, points); windows whose range R is below
    ``floor`` (sensor noise) are marked steady and not analysed; windows with NaN bins are skipped."""
    valid = np.isfinite(y).all(axis=1)
    yy = np.where(valid[:, None], y, 0.0)
    R = yy.max(axis=1) - yy.min(axis=1) if yy.shape[1] else np.zeros(len(yy))
    steady = valid & (R < floor)
    active = valid & ~steady & (R > 0)
    return StructuralResult(steady=steady, valid=valid, trends=trends(yy, R, active, p),
                            anomalies=anomalies(yy, R, active, p))


# --------------------------------------------------------------------------------------------
# labels

def label_runs(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, ids) of the runs of equal non-null label (-1 = null) in a session."""
    lab = np.asarray(lab)
    n = len(lab)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    cut = np.flatnonzero(lab[1:] != lab[:-1]) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [n]))
    ids = lab[starts]
    keep = ids >= 0
    return starts[keep], ends[keep], ids[keep].astype(np.int64)
