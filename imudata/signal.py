"""Pure signal functions: Butterworth band splitting and anti-aliased resampling.

No I/O here: every function takes arrays and returns arrays, so ``imutrain`` can call them on
the fly and ``imudata.derive`` can call them per session. Arrays are (samples, channels) by
default (``axis=0``); a 1-D array is one channel.

Band splitting (``split_bands``) follows SlotFM (seed 001 §3.1): 4th-order Butterworth filters,
default bands 0-1 Hz, 1-4 Hz and above 4 Hz, zero-phase (``sosfiltfilt``). Two methods:

``complementary`` (default)
    Every band is built from zero-phase Butterworth *low-passes* at the band edges:
    band [0, b] = LP_b(x), band [a, b] = LP_b(x) - LP_a(x), band [a, ∞) = x - LP_a(x).
    Zero-phase filtering turns LP into |L|² = 1/(1+(f/fc)^(2·order)); the Butterworth low- and
    high-pass of the same order and cut-off are power complementary (|L|²+|H|² = 1), so the
    first band is exactly the zero-phase Butterworth low-pass, the last band exactly the
    zero-phase Butterworth high-pass, and bands that tile 0..Nyquist sum back to the input
    exactly (to float rounding), NaN gaps and segment edges included. A middle band is a
    difference of two low-passes (crossing the neighbours at -3 dB, like the Butterworth
    band-pass); its power gain differs from scipy's order-4 band-pass by at most 0.13 near
    the edges. It needs one low-pass per distinct edge (2 second-order sections each).
``butterworth``
    Low-pass for a band starting at 0, band-pass ``butter(order, [a, b], 'bandpass')`` for a
    middle band, high-pass for an open last band: the textbook SlotFM filter bank. The bands do
    not sum back exactly (the three power gains add to 0.90-1.13 near the crossovers); the
    measured error is stated in docs/bands.md and checked in tests/test_signal.py.

Speed: a zero-phase filter over a long run is applied in the frequency domain by overlap-save
(real FFTs of cache-sized blocks, shared by every filter of the bank, times the exact power
gain |H|² of each SOS, one inverse FFT per filter and block); the first and last ``settle``
samples, where sosfiltfilt's odd extension and initial conditions matter, are recomputed with
``sosfiltfilt`` on a stretch of twice that length. ``settle`` is the number of samples after
which the slowest pole has decayed by 1e-17, so the result equals ``sosfiltfilt`` to rounding:
stated tolerance 1e-10 of the run's largest magnitude (measured 3e-14 for 1 Hz at 50 Hz,
7e-12 for 0.1 Hz at 100 Hz, where sosfiltfilt's own recursion rounds more), or 1e-5 of the
largest deviation from the mean with ``precision="float32"``. Short runs (e.g. many training windows in one call)
use ``sosfiltfilt`` directly, vectorised over channels.

NaN handling: each run of finite samples is filtered on its own (channels with the same
missing-sample pattern are filtered together in one 2-D call); NaN stays NaN where the input
was NaN and never spreads into the finite samples.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, Sequence

import numpy as np
from scipy import fft as sfft
from scipy import signal as ss

from .errors import ImudataError

DEFAULT_BANDS = "0-1,1-4,4-"
DEFAULT_ORDER = 4
METHODS = ("complementary", "butterworth")


class BandError(ImudataError, ValueError):
    """A band specification that cannot be honoured (bad syntax, an edge at or above Nyquist)."""


@dataclass(frozen=True)
class Band:
    """One frequency band [low, high) in Hz; ``high=None`` means up to Nyquist."""

    low: float
    high: float | None

    @property
    def label(self) -> str:
        lo = f"{self.low:g}"
        return f"{lo}-{self.high:g} Hz" if self.high is not None else f"above {lo} Hz" if self.low > 0 else "all frequencies"

    @property
    def spec(self) -> str:
        return f"{self.low:g}-{self.high:g}" if self.high is not None else f"{self.low:g}-"


_BAND_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)?\s*$")


def parse_bands(spec: str | Sequence[Band] | Sequence[tuple[float, float | None]]) -> list[Band]:
    """Bands from ``"0-1,1-4,4-"`` (an empty upper edge means up to Nyquist) or from pairs.

    Bands must be sorted and must not overlap; edges are non-negative.
    """
    if isinstance(spec, str):
        bands = []
        for part in spec.split(","):
            m = _BAND_RE.match(part)
            if not m:
                raise BandError(f"band {part.strip()!r} is not LOW-HIGH or LOW- in Hz (e.g. '0-1,1-4,4-')")
            bands.append(Band(float(m.group(1)), float(m.group(2)) if m.group(2) else None))
    else:
        bands = [b if isinstance(b, Band) else Band(float(b[0]), None if b[1] is None else float(b[1])) for b in spec]
    if not bands:
        raise BandError("no bands given")
    for i, b in enumerate(bands):
        if b.low < 0 or (b.high is not None and b.high <= b.low):
            raise BandError(f"band {b.spec}: need 0 <= low < high")
        if b.high is None and i != len(bands) - 1:
            raise BandError(f"band {b.spec}: only the last band may be open-ended")
        if i and bands[i - 1].high is not None and b.low < bands[i - 1].high - 1e-12:
            raise BandError(f"bands {bands[i - 1].spec} and {b.spec} overlap or are not sorted")
    return bands


def tiles(bands: Sequence[Band]) -> bool:
    """True when the bands cover 0..Nyquist without gaps (then they sum back to the signal)."""
    if bands[0].low != 0 or bands[-1].high is not None:
        return False
    return all(abs(a.high - b.low) < 1e-12 for a, b in zip(bands[:-1], bands[1:]))  # type: ignore[operator]


def check_bands(bands: Sequence[Band], rate_hz: float, *, what: str = "the signal") -> None:
    """Refuse any band edge at or above Nyquist, naming ``what`` (e.g. 'wisdm stream imu') and its rate."""
    nyq = rate_hz / 2.0
    for b in bands:
        for edge in (b.low, b.high):
            if edge is not None and edge > 0 and edge >= nyq:
                raise BandError(
                    f"{what} is sampled at {rate_hz:g} Hz (Nyquist {nyq:g} Hz): band {b.spec} Hz has an edge at "
                    f"{edge:g} Hz, at or above Nyquist. Use edges below {nyq:g} Hz, write the last band open-ended "
                    f"(e.g. '4-' for everything above 4 Hz), or resample to a higher rate first."
                )


@dataclass(frozen=True)
class FilterBank:
    """Second-order sections for a list of bands at one rate (see ``design_bands``).

    ``lowpass`` maps each edge to its low-pass SOS (complementary method); ``sos`` holds one
    SOS per band, or None for a band that is the identity or built from low-passes.
    """

    bands: tuple[Band, ...]
    rate_hz: float
    order: int
    method: str
    lowpass: dict[float, np.ndarray]
    sos: tuple[np.ndarray | None, ...]

    def describe(self, i: int) -> dict:
        """Machine-readable metadata of band ``i`` (stored per channel as ``Channel.derived``)."""
        b = self.bands[i]
        if self.method == "complementary":
            if b.low == 0 and b.high is None:
                kind = "identity"
            elif b.low == 0:
                kind = "butterworth lowpass"
            elif b.high is None:
                kind = "signal minus butterworth lowpass"  # = the butterworth highpass when zero-phase
            else:
                kind = "difference of butterworth lowpasses"
            sections = sum(len(self.lowpass[e]) for e in (b.low, b.high) if e)
        else:
            kind = {True: "butterworth lowpass", False: "butterworth bandpass"}[b.low == 0] if b.high is not None \
                else ("identity" if b.low == 0 else "butterworth highpass")
            sections = 0 if self.sos[i] is None else len(self.sos[i])
        return {"low_hz": b.low, "high_hz": b.high, "label": b.label, "order": self.order,
                "filter": kind, "method": self.method, "sos_sections": sections}


def design_bands(bands: str | Sequence[Band] = DEFAULT_BANDS, rate_hz: float = 50.0, *, order: int = DEFAULT_ORDER,
                 method: str = "complementary", what: str = "the signal") -> FilterBank:
    """Design the SOS filters of a band split (refusing edges at or above Nyquist)."""
    bl = parse_bands(bands)
    if method not in METHODS:
        raise BandError(f"method {method!r}: expected one of {METHODS}")
    if not (isinstance(order, int) and 1 <= order <= 12):
        raise BandError(f"filter order {order!r}: expected an integer from 1 to 12")
    check_bands(bl, rate_hz, what=what)
    lowpass: dict[float, np.ndarray] = {}
    sos: list[np.ndarray | None] = []
    for b in bl:
        if method == "complementary":
            for e in (b.low, b.high):
                if e and e not in lowpass:
                    lowpass[e] = ss.butter(order, e, btype="lowpass", fs=rate_hz, output="sos")
            sos.append(None)
        elif b.low == 0 and b.high is None:
            sos.append(None)
        elif b.low == 0:
            sos.append(ss.butter(order, b.high, btype="lowpass", fs=rate_hz, output="sos"))
        elif b.high is None:
            sos.append(ss.butter(order, b.low, btype="highpass", fs=rate_hz, output="sos"))
        else:
            sos.append(ss.butter(order, [b.low, b.high], btype="bandpass", fs=rate_hz, output="sos"))
    return FilterBank(tuple(bl), float(rate_hz), order, method, lowpass, tuple(sos))


# --------------------------------------------------------------------------------------------
# finite runs

def finite_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True in a 1-D boolean mask."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    d = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(d[0::2].tolist(), d[1::2].tolist()))


def _column_groups(finite: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(column indices, row mask) for each distinct missing-sample pattern of a (n, m) mask."""
    if finite.shape[1] == 0:
        return
    if (finite == finite[:, :1]).all():
        yield np.arange(finite.shape[1]), finite[:, 0]
        return
    groups: dict[bytes, list[int]] = {}
    for j in range(finite.shape[1]):
        groups.setdefault(np.packbits(finite[:, j]).tobytes(), []).append(j)
    for cols in groups.values():
        yield np.asarray(cols), finite[:, cols[0]]


def _padlen(sos: np.ndarray) -> int:
    """sosfiltfilt's default odd-extension length for this SOS."""
    ntaps = 2 * len(sos) + 1
    ntaps -= min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * ntaps


# Zero-phase filtering in the frequency domain is used when a run is at least this many times
# longer than the filter's settling length; below that sosfiltfilt is as fast and exact.
_FFT_MIN_SETTLES = 8
# Overlap-save block length: at least this, and at least 8 settling lengths (a power of two, so
# the blocks stay in cache and each keeps >= 75 % of its samples).
_FFT_BLOCK = 8192
# At most this many samples (channels x blocks x block length) go through one FFT call.
_FFT_CHUNK = 1 << 17  # small enough that the temporaries are reused, not page-faulted in anew


def _settle(sos: np.ndarray) -> int:
    """Samples after which the SOS's slowest pole has decayed by 1e-17 (plus a margin)."""
    return _settle_cached(np.ascontiguousarray(sos, dtype=np.float64).tobytes())


@functools.lru_cache(maxsize=64)
def _settle_cached(sos_bytes: bytes) -> int:
    sos = np.frombuffer(sos_bytes).reshape(-1, 6)
    r = max(float(np.abs(np.roots([1.0, a1, a2])).max(initial=0.0)) for a1, a2 in sos[:, 4:6])
    if not r < 1.0:
        return 1 << 62  # unstable or marginal: never take the FFT path
    return int(math.ceil(math.log(1e-17) / math.log(max(r, 1e-3)))) + 64


@functools.lru_cache(maxsize=64)
def _power_gain(sos_bytes: bytes, nfft: int) -> np.ndarray:
    """|H(e^{jw})|² of an SOS at the rfft bins of length ``nfft`` (the zero-phase response).

    Evaluated from the zeros and poles as products of |e^{jw} - r e^{jθ}|² =
    (1 - r)² + 4 r sin²((w - θ) / 2), which stays accurate for poles close to z = 1 (low edges
    at high rates), where expanding the polynomials would cancel catastrophically.
    """
    z, p, k = ss.sos2zpk(np.frombuffer(sos_bytes).reshape(-1, 6))
    w = 2.0 * np.pi * np.arange(nfft // 2 + 1) / nfft
    g = np.full_like(w, float(abs(k)) ** 2)
    for roots, power in ((z, 1.0), (p, -1.0)):
        for root in roots:
            r, theta = abs(root), np.angle(root)
            g *= ((1.0 - r) ** 2 + 4.0 * r * np.sin((w - theta) / 2.0) ** 2) ** power
    g.flags.writeable = False
    return g


def _zero_phase_bank(soses: Sequence[np.ndarray], x: np.ndarray, outs: Sequence[np.ndarray],
                     precision: str = "float64") -> None:
    """Write ``sosfiltfilt`` of a (channels, n) block by each SOS into ``outs`` (each (channels, n)).

    Overlap-save: the run is read as blocks of ``size`` samples overlapping by 2 x ``settle``;
    each block is transformed once, multiplied by |H|² of each filter at the block's bins and
    transformed back, and its middle ``size - 2 settle`` samples are kept (the circular wrap and
    the missing neighbours lie at least ``settle`` samples away, where the zero-phase impulse
    response has decayed by 1e-17). The first and last ``settle`` samples of the run come from
    sosfiltfilt on its first / last 2 x settle samples, which reproduces sosfiltfilt's odd
    extension and initial conditions. ``precision="float32"`` runs the FFTs in float32 on the
    run minus its per-channel mean (added back through each filter's DC gain): half the FFT work,
    accurate to ~1e-6 of the signal's spread instead of ~1e-14.
    """
    c, n = x.shape
    k = max(_settle(s) for s in soses)
    if n < _FFT_MIN_SETTLES * k:
        for s, o in zip(soses, outs):
            o[...] = _filt(s, x, True)
        return
    size = max(_FFT_BLOCK, 1 << (8 * k - 1).bit_length())
    size = min(size, n)
    keep = size - 2 * k
    single = precision == "float32"
    mean = x.mean(axis=-1, keepdims=True)[:, :, None] if single else None  # (c, 1, 1)
    if single:
        src = np.empty(x.shape, dtype=np.float32)
        np.subtract(x, mean[:, :, 0], out=src, casting="unsafe")
    else:
        src = x
    gains = [_power_gain(np.ascontiguousarray(s, dtype=np.float64).tobytes(), size) for s in soses]
    if single:
        gains = [g.astype(np.float32) for g in gains]
    # block j reads src[j*keep : j*keep + size] and yields outputs [j*keep + k, j*keep + k + keep)
    blocks = np.lib.stride_tricks.sliding_window_view(src, size, axis=-1)[:, ::keep]  # a view: (c, m, size)
    m = blocks.shape[1]
    step = max(1, _FFT_CHUNK // (c * size))
    for b0 in range(0, m, step):
        b1 = min(b0 + step, m)
        spec = sfft.rfft(blocks[:, b0:b1], axis=-1)
        scratch = np.empty_like(spec)
        for g, o in zip(gains, outs):
            y = sfft.irfft(np.multiply(spec, g, out=scratch), size, axis=-1)
            dst = o[:, k + b0 * keep:k + b1 * keep].reshape(c, b1 - b0, keep)
            if single:  # back to float64, the mean added back through the DC gain, in one pass
                np.add(y[:, :, k:k + keep], mean * float(g[0]), out=dst)
            else:
                dst[...] = y[:, :, k:k + keep]
    if k + m * keep < n - k:  # the rest: one more block flush with the end of the run
        spec = sfft.rfft(src[:, n - size:], axis=-1)
        for g, o in zip(gains, outs):
            y = sfft.irfft(spec * g, size, axis=-1)[:, k:size - k]
            o[:, n - size + k:n - k] = y + mean[:, 0] * float(g[0]) if single else y
    ends = np.concatenate([x[:, :2 * k], x[:, n - 2 * k:]])  # first and last 2k samples, one call per filter
    for s, o in zip(soses, outs):
        fe = _filt(s, ends, True)
        o[:, :k] = fe[:c, :k]
        o[:, n - k:] = fe[c:, k:]


def _filt(sos: np.ndarray, x: np.ndarray, zero_phase: bool) -> np.ndarray:
    """Filter a (channels, n) C-contiguous block along its last axis."""
    n = x.shape[-1]
    if zero_phase:
        return ss.sosfiltfilt(sos, x, axis=-1, padlen=min(_padlen(sos), n - 1))
    zi = ss.sosfilt_zi(sos)[:, None, :] * x[None, :, :1]  # start in steady state at the first sample
    return ss.sosfilt(sos, x, axis=-1, zi=zi)[0]


def _split_block(fb: FilterBank, x: np.ndarray, zero_phase: bool, precision: str = "float64") -> np.ndarray:
    """Bands of one all-finite (channels, n) block: (n_bands, channels, n).

    Complementary method: each low-pass is written straight into the band that ends at its edge
    (or a scratch array), then, from the last band down, the low-pass of the band's lower edge
    is subtracted (band i only reads bands below it, which are still pure low-passes).
    """
    out = np.empty((len(fb.bands),) + x.shape, dtype=np.float64)
    if fb.method == "complementary":
        home: dict[float, np.ndarray] = {}
        for i, b in enumerate(fb.bands):
            if b.high is not None:
                home[b.high] = out[i]
        edges = list(fb.lowpass)
        dest = [home[e] if e in home else np.empty_like(x) for e in edges]
        if zero_phase and edges:  # no edges: one band "0-", the signal itself
            _zero_phase_bank([fb.lowpass[e] for e in edges], x, dest, precision)
        else:
            for e, d in zip(edges, dest):
                d[...] = _filt(fb.lowpass[e], x, False)
        lp = dict(zip(edges, dest))
        for i in range(len(fb.bands) - 1, -1, -1):
            b = fb.bands[i]
            if b.high is None:
                if b.low:
                    np.subtract(x, lp[b.low], out=out[i])
                else:
                    out[i] = x
            elif b.low:
                out[i] -= lp[b.low]
        return out
    used = [i for i, s in enumerate(fb.sos) if s is not None]
    if zero_phase and used:
        _zero_phase_bank([fb.sos[i] for i in used], x, [out[i] for i in used], precision)
    else:
        for i in used:
            out[i] = _filt(fb.sos[i], x, zero_phase)
    for i, s in enumerate(fb.sos):
        if s is None:
            out[i] = x
    return out


def split_bands(x: np.ndarray, rate_hz: float, bands: str | Sequence[Band] | FilterBank = DEFAULT_BANDS, *,
                order: int = DEFAULT_ORDER, zero_phase: bool = True, method: str = "complementary",
                axis: int = 0, what: str = "the signal", precision: str = "float64") -> np.ndarray:
    """Split a signal into frequency bands: returns shape (n_bands, *x.shape), float64.

    ``x`` is (samples, channels) with ``axis=0`` (any shape works; the filter runs along
    ``axis``). All channels are filtered in one 2-D call per finite run. ``what`` names the
    signal in the Nyquist refusal message (e.g. "wisdm stream imu"). ``precision`` is the
    arithmetic of the frequency-domain path for long runs: "float64" (default) matches
    ``sosfiltfilt`` to 1e-10 of the largest magnitude, "float32" (faster FFTs) to 1e-5
    of the largest deviation from the mean; the exact sum-back holds for both.
    """
    if precision not in ("float64", "float32"):
        raise BandError(f"precision {precision!r}: expected 'float64' or 'float32'")
    fb = bands if isinstance(bands, FilterBank) else design_bands(bands, rate_hz, order=order, method=method, what=what)
    if isinstance(bands, FilterBank) and abs(fb.rate_hz - rate_hz) > 1e-9 * rate_hz:
        raise BandError(f"filter bank designed for {fb.rate_hz:g} Hz applied to {what} at {rate_hz:g} Hz")
    a = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    shape = a.shape
    block = np.ascontiguousarray(a.reshape(-1, shape[-1]))  # (channels, n)
    nb = len(fb.bands)
    finite = np.isfinite(block)
    if finite.all():
        out = _split_block(fb, block, zero_phase, precision) if block.shape[-1] else np.empty((nb,) + block.shape)
    else:
        out = np.full((nb,) + block.shape, np.nan)
        for cols, rows in _column_groups(finite.T):
            for s, e in finite_runs(rows):
                sub = np.ascontiguousarray(block[cols, s:e])
                out[:, cols, s:e] = _split_block(fb, sub, zero_phase, precision)
    out = out.reshape((nb,) + shape)
    return np.moveaxis(out, -1, axis + 1 if axis >= 0 else axis)


# --------------------------------------------------------------------------------------------
# resampling

def rational_ratio(rate_in: float, rate_out: float, max_denominator: int = 1000) -> tuple[int, int]:
    """(up, down) with rate_out/rate_in ≈ up/down (fractions.Fraction.limit_denominator)."""
    if not (rate_in > 0 and rate_out > 0 and math.isfinite(rate_in) and math.isfinite(rate_out)):
        raise BandError(f"resampling needs positive finite rates, got {rate_in!r} -> {rate_out!r}")
    frac = (Fraction(repr(float(rate_out))) / Fraction(repr(float(rate_in)))).limit_denominator(max_denominator)
    if frac.numerator == 0:
        raise BandError(f"cannot resample {rate_in:g} Hz to {rate_out:g} Hz with denominators up to {max_denominator}")
    return frac.numerator, frac.denominator


def _resample_block(x: np.ndarray, up: int, down: int, window: object, padtype: str) -> np.ndarray:
    """Resample a finite (channels, n) block along its last axis."""
    n = x.shape[-1]
    m = -(-n * up // down)
    if n < 2:  # resample_poly's line padding needs two points; a single sample stays constant
        return np.repeat(x[:, :1], m, axis=-1)
    return ss.resample_poly(x, up, down, axis=-1, window=window, padtype=padtype)[:, :m]


def resample_runs(x: np.ndarray, rate_in: float, rate_out: float, *, max_denominator: int = 1000,
                  window: object = ("kaiser", 5.0), padtype: str = "line") -> tuple[np.ndarray, np.ndarray, float]:
    """Anti-aliased polyphase resampling of (samples, channels): returns (y, pos, actual_rate).

    Output row k sits at fractional input index ``pos[k] = k * down / up`` (one uniform grid for
    the whole session: t_out = t0 + pos / rate_in; labels can come from the nearest input row).
    The input is cut into runs over which the set of finite channels is constant; each run is
    resampled on its own (one 2-D ``scipy.signal.resample_poly`` call: FIR low-pass at the lower
    Nyquist, Kaiser window, linear end padding), phase-aligned to the session's grid, and NaN
    channels stay NaN. ``actual_rate`` is rate_in * up / down.
    """
    up, down = rational_ratio(rate_in, rate_out, max_denominator)
    a = np.asarray(x, dtype=np.float64)
    one_d = a.ndim == 1
    if one_d:
        a = a[:, None]
    block = np.ascontiguousarray(a.T)  # (channels, n)
    c, n = block.shape
    m = -(-n * up // down)
    y = np.full((c, m), np.nan)
    finite = np.isfinite(block)
    if n == 0:
        bounds: list[tuple[int, int]] = []
    elif finite.all():
        bounds = [(0, n)]
    else:
        change = np.flatnonzero((finite[:, 1:] != finite[:, :-1]).any(axis=0)) + 1
        edges = np.concatenate(([0], change, [n])).tolist()
        bounds = list(zip(edges[:-1], edges[1:]))
    for s, e in bounds:
        cols = np.flatnonzero(finite[:, s])
        j0, j1 = -(-s * up // down), -(-e * up // down)  # grid rows whose position lies in [s, e)
        if not len(cols) or j1 <= j0:
            continue
        s0 = (s // down) * down  # the run, extended back to a sample that lies on the output grid
        seg = block[cols, s:e]
        if s > s0:
            seg = np.concatenate([np.repeat(seg[:, :1], s - s0, axis=1), seg], axis=1)
        base = (s0 // down) * up
        y[cols, j0:j1] = _resample_block(seg, up, down, window, padtype)[:, j0 - base:j1 - base]
    pos = np.arange(m) * (down / up)
    y = y.T
    return (y[:, 0] if one_d else y), pos, rate_in * up / down


def resample(x: np.ndarray, rate_in: float, rate_out: float, **kw: object) -> np.ndarray:
    """Anti-aliased resampling of (samples, channels) or 1-D ``x``; see ``resample_runs``."""
    return resample_runs(x, rate_in, rate_out, **kw)[0]  # type: ignore[arg-type]
