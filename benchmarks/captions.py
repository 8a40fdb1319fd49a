"""Captions per second per core, on real HAPT and on a CAPTURE-24-shaped signal, and the projection.

    python benchmarks/captions.py [--hours 20] [--hapt ../shared/realdata/hapt] [--cores N]

Single process, single BLAS thread (the per-core figure), best of ``--repeat``:

* HAPT (50 Hz, waist accelerometer + gyroscope, 6 channels): ``Captioner.session`` over every
  session (features + text; the part that scales with data), and ``imudata caption`` end to
  end (Parquet read, captions, Parquet write, sha256), for level high_middle and for all eight
  levels at once;
* CAPTURE-24-shaped synthetic signal (100 Hz, one wrist accelerometer, 3 channels, 60-s windows,
  labelled activities every few minutes): the same generator, timed per window, projected to
  CAPTURE-24's ~3,600 hours (216,000 windows).

The baseline in the same run is the cost of only reading the windows' samples from Parquet
(what any captioner must pay), so the figures separate captioning from I/O.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from imudata.captions import CaptionConfig, Captioner, caption_dataset  # noqa: E402
from imudata.derive import iter_sessions  # noqa: E402
from imudata.format import Channel, DatasetCard, Label, Stream  # noqa: E402

CAPTURE24_HOURS = 3600.0


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def capture24_like(hours: float, rate: float = 100.0, seed: int = 0) -> tuple[DatasetCard, np.ndarray, np.ndarray]:
    """A wrist accelerometer day: bouts of rest, walking and mixed movement with labels."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * rate)
    x = np.empty((n, 3))
    lab = np.empty(n, dtype=np.int16)
    i = 0
    t = np.arange(int(600 * rate)) / rate
    while i < n:
        m = min(int(rng.uniform(30, 600) * rate), n - i)
        kind = rng.integers(0, 4)
        g = rng.normal(size=3)
        g = 9.81 * g / np.linalg.norm(g)
        seg = np.tile(g, (m, 1)) + rng.normal(0, 0.02 if kind == 0 else 0.3, (m, 3))
        if kind in (1, 2):
            f = 1.8 if kind == 1 else 2.6
            seg += (2.0 * kind) * np.sin(2 * np.pi * f * t[:m])[:, None] * rng.normal(size=3)
        x[i:i + m] = seg
        lab[i:i + m] = kind if rng.random() > 0.1 else -1
        i += m
    chans = [Channel(f"wrist_acc_{a}", "acc", "wrist", "m/s²", "g", scale=9.80665, axis=a, gravity="included")
             for a in "xyz"]
    labels = [Label(0, "sleep", "sleeping"), Label(1, "walking", "walking"), Label(2, "sports", "doing sports"),
              Label(3, "sitting", "sitting")]
    card = DatasetCard(id="capture24", title="CAPTURE-24-shaped synthetic", homepage="", license="", citation="",
                       streams=[Stream("imu", rate, chans)], labels=labels)
    return card, x, lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=20.0, help="hours of CAPTURE-24-shaped signal to time")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores of the machine for the projection")
    ap.add_argument("--hapt", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realdata" / "hapt")
    a = ap.parse_args()
    print(f"# captions, single process, single thread, best of {a.repeat}; 60-s windows, stride 60 s, seed 0")
    print(f"{'workload':<64} {'windows':>8} {'seconds':>8} {'captions/s':>11}")

    if a.hapt.exists():
        from imudata.acquire import fetch
        from imudata.api import load_card
        from imudata.convert import convert

        with tempfile.TemporaryDirectory() as tmp:
            fetch("hapt", tmp, from_path=a.hapt, progress=False, log=lambda m: None)
            convert("hapt", tmp, progress=False, log=lambda m: None)
            paths, card = load_card("hapt", tmp)
            shard_paths = [paths.base / sh["path"] for sh in card.shards if sh["stream"] == "imu"]
            chans = [c.name for c in card.streams[0].channels]
            sessions = [s for p in shard_paths for s in iter_sessions(p, chans)]
            nwin = sum(len(s[2]) // 3000 for s in sessions)
            t_read = best(lambda: [list(iter_sessions(p, chans)) for p in shard_paths], a.repeat)
            print(f"{'HAPT: read the shards only (baseline: I/O every captioner pays)':<64} {nwin:8d} {t_read:8.3f} "
                  f"{nwin / t_read:11,.0f}")
            for levels in (["high_middle"], ["all"]):
                cap = Captioner(card, None, CaptionConfig(), levels)
                t = best(lambda: [cap.session(s[0], s[1], s[2], s[3], s[4]) for s in sessions], a.repeat)
                k = len(cap.levels)
                print(f"{'HAPT: Captioner.session, level ' + ','.join(levels) + f' ({k} texts/window)':<64} {nwin:8d} "
                      f"{t:8.3f} {nwin / t:11,.0f}")
                t = best(lambda: caption_dataset("hapt", tmp, levels=levels, progress=False, log=lambda m: None),
                         a.repeat)
                print(f"{'HAPT: imudata caption end to end (read, caption, write, hash)':<64} {nwin:8d} {t:8.3f} "
                      f"{nwin / t:11,.0f}")

    card, x, lab = capture24_like(a.hours)
    t_axis = np.arange(len(x)) / 100.0
    nwin = len(x) // 6000
    # the same signal as a zstd Parquet shard, to time the read every captioner pays
    from imudata.registry import Session
    from imudata.shards import write_sessions

    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "part-00000.parquet"
        st = card.streams[0]
        write_sessions(shard, card, st, [Session("imu", "p001", "day1",
                                                 {c.name: x[:, j] / c.scale for j, c in enumerate(st.channels)}, lab)])
        t_read = best(lambda: list(iter_sessions(shard, [c.name for c in st.channels])), a.repeat)
    print(f"{f'CAPTURE-24-shaped, {a.hours:g} h: read the shard only (baseline)':<64} {nwin:8d} {t_read:8.3f} "
          f"{nwin / t_read:11,.0f}")
    rates = {}
    for levels in (["high_middle"], ["high_middle_low"], ["all"]):
        cap = Captioner(card, None, CaptionConfig(), levels)
        t = best(lambda: cap.session("p001", "day1", t_axis, x, lab), a.repeat)
        rates[levels[0]] = nwin / t
        print(f"{f'CAPTURE-24-shaped, 100 Hz x 3, {a.hours:g} h, level ' + levels[0]:<64} {nwin:8d} {t:8.3f} "
              f"{nwin / t:11,.0f}")
    total = CAPTURE24_HOURS * 60
    read_rate = nwin / t_read
    print(f"\n# projection: CAPTURE-24, ~{CAPTURE24_HOURS:,.0f} h at 100 Hz = {total:,.0f} windows of 60 s "
          f"(read + caption, from this run's rates)")
    for lv, r in rates.items():
        one = total / r + total / read_rate
        print(f"level {lv:<16} {one / 60:6.1f} min on one core; {one / 60 / a.cores:6.1f} min on {a.cores} cores "
              f"(-j {a.cores}); captioning alone {total / r / 60:.1f} min on one core")


if __name__ == "__main__":
    main()
