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

Two baselines in the same run:

* the cost of only reading the windows' samples from Parquet (what any captioner must pay), so
  the figures separate captioning from I/O;
* SensorLM's own captioning procedure for ``high_middle`` re-implemented plainly
  (``sensorlm_plain``: one window at a time, per-bin pooling, one ``scipy.stats.linregress``
  per trend sub-window, sorting and greedy selection of candidates, one
  ``scipy.signal.find_peaks`` per series for peaks and one for drops, activities from the
  window's label runs sorted by duration, Python ``random`` for phrasing), as
  ``../shared/reference/model-anchors.md`` §3.3-3.4 describes it, on the same series,
  thresholds and templates as ``Captioner``; the goal is ``Captioner`` >= 20x its per-core rate.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's imudata, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best, rounds  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import find_peaks  # noqa: E402
from scipy.stats import linregress  # noqa: E402

from imudata.captions import templates as T  # noqa: E402
from imudata.captions.generate import channel_groups  # noqa: E402
from imudata.captions import CaptionConfig, Captioner, caption_dataset  # noqa: E402
from imudata.derive import iter_sessions  # noqa: E402
from imudata.format import Channel, DatasetCard, Label, Stream  # noqa: E402

CAPTURE24_HOURS = 3600.0


def ols_slope(x: np.ndarray, y: np.ndarray):
    """Least-squares slope in closed form (a stricter baseline than scipy.stats.linregress, whose
    argument checking dominates its cost on 6-12 points)."""
    xm = x - x.mean()
    return SimpleNamespace(slope=float(xm @ (y - y.mean()) / (xm @ xm)))


def sensorlm_plain(card: DatasetCard, t: np.ndarray, x: np.ndarray, lab: np.ndarray, cfg: CaptionConfig,
                   max_windows: int | None = None, seed: int = 0, regress=linregress) -> list[str]:
    """SensorLM's high + middle captioning done plainly, one window at a time (the baseline).

    Middle level per series (§3.3): pool the window into ``points`` bin means (or bin standard
    deviations for movement intensity), R = max - min; sub-windows of 6 / 8 / 12 points at
    stride w/2, each fitted with ``scipy.stats.linregress``; increasing / decreasing if
    |slope| > scale R / 40 and |net change| > 0.2 R, stable if |slope| < 0.01 R and range < 0.1 R;
    candidates sorted by (|net change| (stable 0.2 R), |slope| (stable 1), length) descending,
    accepted greedily, at most 3, overlap <= 30 % of the shorter span; peaks and drops by
    ``find_peaks`` (prominence 0.5 R, height mean + 0.6 R / -y >= -mean - 0.4 R, distance 5,
    width <= 4); at most 7 insights per group. High level (§3.4): the window's label runs of at
    least ``min_activity_s``, sorted by duration ascending, first 8. ``regress=ols_slope`` swaps
    linregress for the closed-form slope (the stricter baseline, printed as a second ratio).
    """
    st = card.streams[0]
    rate = st.rate_hz
    nwin, nstride = int(round(cfg.window_s * rate)), int(round(cfg.stride_s * rate))
    p = cfg.structural
    P = p.points
    groups = channel_groups(st)
    label_text = {lb.id: lb.text for lb in card.labels if not lb.ignore}
    edges = np.rint(np.linspace(0, nwin, P + 1)).astype(int)
    rnd = random.Random(seed)
    out = []
    nw = (len(x) - nwin) // nstride + 1 if len(x) >= nwin else 0
    for w in range(nw if max_windows is None else min(nw, max_windows)):
        i0 = w * nstride
        seg, lw = x[i0:i0 + nwin], lab[i0:i0 + nwin]
        # high: label runs in the window
        cut = [0] + [i for i in range(1, nwin) if lw[i] != lw[i - 1]] + [nwin]
        acts = [(int(lw[a]), a / rate, b / rate) for a, b in zip(cut[:-1], cut[1:])
                if lw[a] >= 0 and int(lw[a]) in label_text and (b - a) >= cfg.min_activity_s * rate]
        acts = sorted(acts, key=lambda a: a[2] - a[1])[: cfg.max_activities]
        parts = []
        for lid, a, b in acts:
            tpl = rnd.choice(T.ACTIVITY)[1]
            text = label_text[lid]
            parts.append(tpl.format(activity=text, Activity=T.cap(text), start=T.fmt_time(a), end=T.fmt_time(b),
                                    duration=T.fmt_time(b - a)))
        high = " ".join(parts) if parts else rnd.choice(T.NO_ACTIVITY)[1].format(min=T.fmt_time(cfg.min_activity_s))
        lines = []
        for g in groups:
            insights = []
            for s in g.series:
                if not s.struct:
                    continue
                v = np.sqrt((seg[:, s.channels] ** 2).sum(axis=1)) if len(s.channels) > 1 else seg[:, s.channels[0]]
                y = np.array([v[edges[i]:edges[i + 1]].std() if s.struct == "std" else v[edges[i]:edges[i + 1]].mean()
                              for i in range(P)])
                R = float(y.max() - y.min())
                if R < cfg.noise_floor.get(s.unit, 0.0) or R == 0:
                    continue
                cands = []
                for wl, scale in zip(p.trend_windows, p.trend_scales):
                    for i in range(0, P - wl + 1, wl // 2):
                        ys = y[i:i + wl]
                        slope = regress(np.arange(wl), ys).slope
                        net = ys[-1] - ys[0]
                        thr = scale * R / p.slope_divisor
                        if slope > thr and net > p.net_change * R:
                            kind = "increasing"
                        elif slope < -thr and -net > p.net_change * R:
                            kind = "decreasing"
                        elif abs(slope) < p.stable_slope * R and ys.max() - ys.min() < p.stable_range * R:
                            kind = "stable"
                        else:
                            continue
                        score = p.net_change * R if kind == "stable" else abs(net)
                        tie = 1.0 if kind == "stable" else abs(slope)
                        cands.append((score, tie, wl, i, kind, ys[0], ys[-1], ys.mean()))
                cands.sort(key=lambda c: (-c[0], -c[1], -c[2]))
                chosen = []
                for c in cands:
                    s1, e1 = c[3] + 1, c[3] + c[2]
                    if any(max(0, min(e1, c2[3] + c2[2]) - max(s1, c2[3] + 1)) > p.max_overlap * min(e1 - s1, c2[2] - 1)
                           for c2 in chosen):
                        continue
                    chosen.append(c)
                    if len(chosen) == p.top_n:
                        break
                for c in sorted(chosen, key=lambda c: c[3]):
                    kind = c[4]
                    tpl = rnd.choice(T.TREND + T.TREND_VALUED[kind])[1]
                    insights.append(tpl.format(name=s.text, Name=T.cap(s.text), trend=kind, a_trend=T.article(kind),
                                               A_trend=T.cap(T.article(kind)), start=T.fmt_time(edges[c[3]] / rate),
                                               end=T.fmt_time(edges[c[3] + c[2]] / rate), v0=T.fmt_num(c[5]),
                                               v1=T.fmt_num(c[6]), level=T.fmt_num(c[7]), unit=s.unit, bin="2"))
                m = y.mean()
                peaks, _ = find_peaks(y, prominence=p.prominence * R, height=m + p.peak_height * R,
                                      distance=p.distance, width=(None, p.max_width))
                drops, _ = find_peaks(-y, prominence=p.prominence * R, height=-m - p.valley_height * R,
                                      distance=p.distance, width=(None, p.max_width))
                word = rnd.choice(["peak", "spike"])
                for idx, wd in [(i, word) for i in peaks] + [(i, "drop") for i in drops]:
                    tpl = rnd.choice(T.ANOMALY)[1]
                    insights.append(tpl.format(name=s.text, Name=T.cap(s.text), anomaly=wd, a_anomaly=T.article(wd),
                                               A_anomaly=T.cap(T.article(wd)),
                                               time=T.fmt_time((edges[idx] + edges[idx + 1]) / 2 / rate)))
            if len(insights) > cfg.max_insights:
                keep = sorted(rnd.sample(range(len(insights)), cfg.max_insights))
                insights = [insights[i] for i in keep]
            if insights:
                lines.append(f"{T.cap(g.name)}: " + " ".join(insights))
        out.append(high + "\n" + "\n".join(lines))
    return out


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
    ap.add_argument("--root", type=Path, default=None,
                    help="a data root where hapt is already converted (else it is converted into a temporary one)")
    ap.add_argument("--plain-windows", type=int, default=300, help="windows timed with the plain SensorLM baseline")
    ap.add_argument("--plain-repeat", type=int, default=2, help="interleaved rounds of baseline and Captioner")
    a = ap.parse_args()
    print(f"# captions, single process, single thread, best of {a.repeat}, CPU seconds; 60-s windows, stride 60 s, "
          f"seed 0; load average {os.getloadavg()[0]:.1f}")
    print(f"{'workload':<64} {'windows':>8} {'cpu s':>8} {'captions/s':>11}")

    ratios = {}
    if a.hapt.exists() or a.root:
        from imudata.acquire import fetch
        from imudata.api import load_card
        from imudata.convert import convert

        with tempfile.TemporaryDirectory() as tmp:
            if a.root:
                tmp = str(a.root)
            else:
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
            # the plain SensorLM procedure on the first sessions, and Captioner on the same sessions
            sub, k = [], 0
            for s_ in sessions:
                if k >= a.plain_windows:
                    break
                sub.append(s_)
                k += len(s_[2]) // 3000
            cap = Captioner(card, None, CaptionConfig(), ["high_middle"])
            r = rounds({"plain": lambda: [sensorlm_plain(card, s_[2], s_[3], s_[4], CaptionConfig()) for s_ in sub],
                        "ols": lambda: [sensorlm_plain(card, s_[2], s_[3], s_[4], CaptionConfig(), regress=ols_slope)
                                        for s_ in sub],
                        "ours": lambda: [cap.session(s_[0], s_[1], s_[2], s_[3], s_[4]) for s_ in sub]}, a.plain_repeat)
            t_plain, t_ols, t_ours = r["plain"], r["ols"], r["ours"]
            ratios["HAPT"] = t_plain / t_ours
            print(f"{'HAPT: SensorLM procedure done plainly, high_middle (baseline)':<64} {k:8d} {t_plain:8.3f} "
                  f"{k / t_plain:11,.0f}")
            print(f"{'HAPT: the same with a closed-form OLS slope (stricter baseline)':<64} {k:8d} {t_ols:8.3f} "
                  f"{k / t_ols:11,.0f}")
            print(f"{'HAPT: Captioner.session, high_middle, same windows':<64} {k:8d} {t_ours:8.3f} "
                  f"{k / t_ours:11,.0f}   {t_plain / t_ours:.1f}x the plain procedure, {t_ols / t_ours:.1f}x the "
                  f"stricter one (goal 20x)")
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
    pw = min(a.plain_windows, nwin)
    n_sub = pw * 6000
    cap = Captioner(card, None, CaptionConfig(), ["high_middle"])
    r = rounds({"plain": lambda: sensorlm_plain(card, t_axis[:n_sub], x[:n_sub], lab[:n_sub], CaptionConfig()),
                "ols": lambda: sensorlm_plain(card, t_axis[:n_sub], x[:n_sub], lab[:n_sub], CaptionConfig(), regress=ols_slope),
                "ours": lambda: cap.session("p001", "day1", t_axis[:n_sub], x[:n_sub], lab[:n_sub])}, a.plain_repeat)
    print(f"{f'CAPTURE-24-shaped: SensorLM procedure done plainly, high_middle':<64} {pw:8d} {r['plain']:8.3f} "
          f"{pw / r['plain']:11,.0f}   (baseline)")
    print(f"{f'CAPTURE-24-shaped: the same with a closed-form OLS slope':<64} {pw:8d} {r['ols']:8.3f} "
          f"{pw / r['ols']:11,.0f}   (stricter baseline)")
    print(f"{f'CAPTURE-24-shaped: Captioner.session, high_middle, same windows':<64} {pw:8d} {r['ours']:8.3f} "
          f"{pw / r['ours']:11,.0f}   {r['plain'] / r['ours']:.1f}x the plain procedure, "
          f"{r['ols'] / r['ours']:.1f}x the stricter one (goal 20x)")
    rates = {}
    for levels in (["high_middle"], ["high_middle_low"], ["all"]):
        cap = Captioner(card, None, CaptionConfig(), levels)
        t = best(lambda: cap.session("p001", "day1", t_axis, x, lab), a.repeat)
        rates[levels[0]] = nwin / t
        note = ""
        print(f"{f'CAPTURE-24-shaped, 100 Hz x 3, {a.hours:g} h, level ' + levels[0]:<64} {nwin:8d} {t:8.3f} "
              f"{nwin / t:11,.0f}{note}")
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
