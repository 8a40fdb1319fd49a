"""Band-split throughput: imudata.signal.split_bands against plain scipy sosfiltfilt per channel.

    python benchmarks/bands.py [--seconds 3600] [--rate 50] [--channels 6] [--hapt ../shared/realdata/hapt]

Everything is measured in the same run, single-threaded, candidates and baseline interleaved
(one round runs each once), best of ``--repeat`` rounds, in CPU seconds of this process (the
machine may be shared: wall time there includes waiting for a core):

* baseline: ``scipy.signal.sosfiltfilt`` called once per channel and band with the textbook
  Butterworth low-pass / band-pass / high-pass (what a user would write by hand);
* ``split_bands`` complementary (the default: low-passes only, bands sum back exactly), also
  with ``precision="float32"``, butterworth (the textbook bank) and causal; the largest
  difference from the same split computed with per-channel ``sosfiltfilt`` is printed beside it
  (the stated tolerance: 1e-10 of the largest magnitude for float64, 1e-5 of the largest
  deviation from the mean for float32);
* many short windows (on-the-fly use by imutrain): 250-sample windows, all in one call;
* with ``--hapt``: ``imudata bands hapt`` end to end (Parquet read, filter, write, hash).

Throughput is input samples per second (rows x channels), the unit of model-anchors.md §6.3.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's imudata, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import rounds  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy import signal as ss  # noqa: E402

from imudata.signal import split_bands  # noqa: E402


def reference_split(x: np.ndarray, rate: float) -> np.ndarray:
    """The complementary split computed with plain per-channel sosfiltfilt (for the tolerance)."""
    lp = {e: np.stack([ss.sosfiltfilt(ss.butter(4, e, fs=rate, output="sos"), x[:, j]) for j in range(x.shape[1])], 1)
          for e in (1.0, 4.0)}
    return np.stack([lp[1.0], lp[4.0] - lp[1.0], x - lp[4.0]])


def signal(n: int, c: int, rate: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(n) / rate
    x = 9.81 * (np.arange(c) % 3 == 0) + 2.0 * np.sin(2 * np.pi * 1.9 * t)[:, None] + rng.normal(0, 0.5, (n, c))
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--channels", type=int, default=6)
    ap.add_argument("--windows", type=int, default=2000, help="short windows for the on-the-fly case")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hapt", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realdata" / "hapt")
    a = ap.parse_args()
    rate, c = a.rate, a.channels
    n = int(a.seconds * rate)
    x = signal(n, c, rate)
    samples = n * c
    print(f"# band split, bands 0-1,1-4,4- Hz, order 4; {n:,} rows x {c} channels at {rate:g} Hz "
          f"({a.seconds / 3600:g} h); numpy {np.__version__}, scipy {scipy.__version__}, {platform.processor() or platform.machine()}, "
          f"single thread, best of {a.repeat}, CPU seconds; load average {os.getloadavg()[0]:.1f}")
    sos = [ss.butter(4, 1, fs=rate, output="sos"), ss.butter(4, [1, 4], btype="bandpass", fs=rate, output="sos"),
           ss.butter(4, 4, btype="highpass", fs=rate, output="sos")]

    def baseline() -> None:
        for j in range(c):
            for s in sos:
                ss.sosfiltfilt(s, x[:, j])

    xn = x.copy()
    xn[::5000] = np.nan  # a missing sample every 100 s: 0.02 % NaN, many runs
    names = {"base": "scipy sosfiltfilt per channel x band (baseline)",
             "c64": "split_bands complementary (default, float64)",
             "c32": "split_bands complementary, precision=float32",
             "bw": "split_bands butterworth (textbook bank)",
             "causal": "split_bands complementary, causal",
             "nan": "split_bands complementary, NaN every 5000 rows"}
    res = rounds({"base": baseline, "c64": lambda: split_bands(x, rate), "c32": lambda: split_bands(x, rate, precision="float32"),
                  "bw": lambda: split_bands(x, rate, method="butterworth"), "causal": lambda: split_bands(x, rate, zero_phase=False),
                  "nan": lambda: split_bands(xn, rate)}, a.repeat)
    ref = reference_split(x, rate)
    spread = np.abs(x - x.mean(axis=0)).max()
    err = {"c64": np.abs(split_bands(x, rate) - ref).max() / np.abs(x).max(),
           "c32": np.abs(split_bands(x, rate, precision="float32") - ref).max() / spread}
    base = res["base"]
    print(f"{'method':<52} {'cpu s':>8} {'M samples/s':>12} {'vs baseline':>12}  max difference from sosfiltfilt")
    for k, name in names.items():
        t = res[k]
        note = {"c64": f"  {err['c64']:.1e} of max |x| (tolerance 1e-10)",
                "c32": f"  {err['c32']:.1e} of max |x - mean| (tolerance 1e-5)"}.get(k, "")
        print(f"{name:<52} {t:8.3f} {samples / t / 1e6:12.1f} {base / t:11.2f}x{note}")
    # the bound of the frequency-domain path: its three real FFT passes alone (one forward, one
    # inverse per low-pass edge) over the same overlap-save blocks, nothing else
    from scipy import fft as sfft

    blocks = np.lib.stride_tricks.sliding_window_view(np.ascontiguousarray(x.T), 8192, axis=-1)[:, ::8192 - 2 * 880]

    def fft_floor() -> None:
        spec = sfft.rfft(blocks, axis=-1)
        sfft.irfft(spec, 8192, axis=-1)
        sfft.irfft(spec, 8192, axis=-1)

    floor = rounds({"base": baseline, "floor": fft_floor}, a.repeat)
    print(f"{'bound: the 3 FFT passes alone (float64)':<52} {floor['floor']:8.3f} {samples / floor['floor'] / 1e6:12.1f} "
          f"{floor['base'] / floor['floor']:11.2f}x  (baseline re-timed in the same rounds: {floor['base']:.3f} s)")
    sumback = np.abs(split_bands(x, rate).sum(axis=0) - x).max()
    print(f"sum of the complementary bands minus the input: max |difference| {sumback:.1e}")

    # many short windows (imutrain on the fly): (windows, 250, channels) in one call
    w = a.windows
    xw = signal(w * 250, c, rate).reshape(w, 250, c)

    def base_windows() -> None:
        for i in range(w):
            for j in range(c):
                for s in sos:
                    ss.sosfiltfilt(s, xw[i, :, j])

    res = rounds({"base": base_windows, "split": lambda: split_bands(xw, rate, axis=1)}, min(a.repeat, 2))
    tb, tw = res["base"], res["split"]
    sw = w * 250 * c
    print(f"\n# {w:,} windows x 250 samples x {c} channels")
    print(f"{'scipy sosfiltfilt per window x channel x band':<52} {tb:8.3f} {sw / tb / 1e6:12.1f} {1:11.2f}x")
    print(f"{'split_bands, all windows in one call':<52} {tw:8.3f} {sw / tw / 1e6:12.1f} {tb / tw:11.2f}x"
          f"   ({w / tw:,.0f} {c}-channel windows/s)")

    if a.hapt.exists():
        from imudata.acquire import fetch
        from imudata.convert import convert
        from imudata.derive import derive_bands

        with tempfile.TemporaryDirectory() as tmp:
            fetch("hapt", tmp, from_path=a.hapt, progress=False, log=lambda m: None)
            card = convert("hapt", tmp, progress=False, log=lambda m: None)
            rows_hapt = sum(sh["rows"] for sh in card.shards)
            t0 = time.perf_counter()
            derive_bands("hapt", tmp, progress=False, log=lambda m: None)
            t = time.perf_counter() - t0  # wall: it may use worker processes
            s = rows_hapt * 6
            print(f"\n# imudata bands hapt, end to end (read Parquet, filter, write zstd Parquet, sha256, card): "
                  f"{rows_hapt:,} rows x 6 channels")
            print(f"{'derive_bands':<52} {t:8.3f} {s / t / 1e6:12.1f}")


if __name__ == "__main__":
    main()
