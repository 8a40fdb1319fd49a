"""Band-split throughput: imudata.signal.split_bands against plain scipy sosfiltfilt per channel.

    python benchmarks/bands.py [--seconds 3600] [--rate 50] [--channels 6] [--hapt ../shared/realdata/hapt]

Everything is measured in the same run, single-threaded, best of ``--repeat``:

* baseline: ``scipy.signal.sosfiltfilt`` called once per channel and band with the textbook
  Butterworth low-pass / band-pass / high-pass (what a user would write by hand);
* ``split_bands`` complementary (the default: low-passes only, bands sum back exactly),
  butterworth (the textbook bank, vectorised over channels) and causal;
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
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy import signal as ss  # noqa: E402

from imudata.signal import split_bands  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


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
          f"single thread, best of {a.repeat}")
    sos = [ss.butter(4, 1, fs=rate, output="sos"), ss.butter(4, [1, 4], btype="bandpass", fs=rate, output="sos"),
           ss.butter(4, 4, btype="highpass", fs=rate, output="sos")]

    def baseline() -> None:
        for j in range(c):
            for s in sos:
                ss.sosfiltfilt(s, x[:, j])

    rows = [("scipy sosfiltfilt per channel x band (baseline)", best(baseline, a.repeat))]
    rows.append(("split_bands complementary (default)", best(lambda: split_bands(x, rate), a.repeat)))
    rows.append(("split_bands butterworth (textbook bank)", best(lambda: split_bands(x, rate, method="butterworth"), a.repeat)))
    rows.append(("split_bands complementary, causal", best(lambda: split_bands(x, rate, zero_phase=False), a.repeat)))
    xn = x.copy()
    xn[::5000] = np.nan  # a missing sample every 100 s: 0.02 % NaN, many runs
    rows.append(("split_bands complementary, NaN every 5000 rows", best(lambda: split_bands(xn, rate), a.repeat)))
    base = rows[0][1]
    print(f"{'method':<52} {'seconds':>8} {'M samples/s':>12} {'vs baseline':>12}")
    for name, t in rows:
        print(f"{name:<52} {t:8.3f} {samples / t / 1e6:12.1f} {base / t:11.2f}x")

    # many short windows (imutrain on the fly): (windows, 250, channels) in one call
    w = a.windows
    xw = signal(w * 250, c, rate).reshape(w, 250, c)

    def base_windows() -> None:
        for i in range(w):
            for j in range(c):
                for s in sos:
                    ss.sosfiltfilt(s, xw[i, :, j])

    tb = best(base_windows, 1)
    tw = best(lambda: split_bands(xw, rate, axis=1), a.repeat)
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
            t = best(lambda: derive_bands("hapt", tmp, progress=False, log=lambda m: None), a.repeat)
            s = rows_hapt * 6
            print(f"\n# imudata bands hapt, end to end (read Parquet, filter, write zstd Parquet, sha256, card): "
                  f"{rows_hapt:,} rows x 6 channels")
            print(f"{'derive_bands':<52} {t:8.3f} {s / t / 1e6:12.1f}")


if __name__ == "__main__":
    main()
