"""Band splitting, resampling and derived streams (imudata.signal, imudata.derive).

Also home of ``make_dataset`` / ``imu_session``: tiny synthetic converted datasets written
through imudata.shards, shared with tests/test_captions.py.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import signal as ss

from imudata.format import G, DatasetCard
from imudata.registry import Session
from imudata.shards import write_sessions
from imudata.signal import (BandError, design_bands, parse_bands, rational_ratio, resample, resample_runs,
                            split_bands, tiles)

RATE = 50.0

# --------------------------------------------------------------------------------------------
# synthetic data


def imu_session(plan: list[tuple[int, str, float]], *, rate: float = RATE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A waist-IMU-like session in SI units: (x (n, 6) = acc xyz m/s² + gyro xyz rad/s, labels).

    ``plan`` lists (label id or -1, kind, seconds) with kind in upright / lying / walk / turn
    (a 3-s posture change from upright to lying, or back if already lying).
    """
    rng = np.random.default_rng(seed)
    accs, gyros, labs = [], [], []
    up, lie = np.array([G, 0.0, 0.0]), np.array([0.0, G, 0.0])
    pose = up
    for lab, kind, secs in plan:
        n = int(round(secs * rate))
        tt = np.arange(n) / rate
        if kind in ("upright", "lying"):
            pose = up if kind == "upright" else lie
            acc = np.tile(pose, (n, 1)) + rng.normal(0, 0.03, (n, 3))
            gyro = rng.normal(0, 0.01, (n, 3))
        elif kind == "walk":
            pose = up
            f = 1.9
            bounce = 2.5 * np.sin(2 * np.pi * f * tt) + 0.8 * np.sin(2 * np.pi * 2 * f * tt + 0.4)
            sway = 1.2 * np.sin(2 * np.pi * f / 2 * tt)
            acc = np.tile(up, (n, 1)) + np.c_[bounce, sway, 0.6 * np.cos(2 * np.pi * f * tt)] + rng.normal(0, 0.2, (n, 3))
            gyro = np.c_[0.6 * np.sin(2 * np.pi * f / 2 * tt), 0.3 * np.sin(2 * np.pi * f * tt), 0.2 * np.cos(2 * np.pi * f * tt)]
            gyro = gyro + rng.normal(0, 0.05, (n, 3))
        elif kind == "turn":
            target = lie if pose is up else up
            w = (1 - np.cos(np.pi * np.arange(n) / max(n - 1, 1))) / 2
            acc = (1 - w)[:, None] * pose + w[:, None] * target + rng.normal(0, 0.1, (n, 3))
            gyro = np.c_[np.zeros(n), np.zeros(n), (np.pi / 2) / secs * np.sin(np.pi * w) * 1.5] + rng.normal(0, 0.05, (n, 3))
            pose = target
        else:
            raise ValueError(kind)
        accs.append(acc)
        gyros.append(gyro)
        labs.append(np.full(n, lab, dtype=np.int16))
    return np.c_[np.concatenate(accs), np.concatenate(gyros)], np.concatenate(labs)


PLAN_A = [(-1, "upright", 2.0), (1, "walk", 25.0), (5, "upright", 14.0), (11, "turn", 3.0), (6, "lying", 30.0),
          (-1, "lying", 1.5), (12, "turn", 3.0), (5, "upright", 0.8), (2, "walk", 40.7)]  # 120 s
PLAN_B = [(4, "upright", 30.0), (3, "walk", 35.0), (-1, "upright", 5.0), (5, "upright", 50.0)]  # 120 s


def hapt_card() -> DatasetCard:
    from imudata.datasets.hapt import CARD

    return replace(CARD, sources={}, subjects=[], shards=[])


def make_dataset(root: Path, sessions: list[tuple[str, str, np.ndarray, np.ndarray]], *, card: DatasetCard | None = None,
                 dataset: str = "hapt") -> DatasetCard:
    """Write a converted dataset (one shard per subject, dataset.json) from SI arrays (n, 6)."""
    card = card or hapt_card()
    stream = card.streams[0]
    base = Path(root) / dataset
    by_subject: dict[str, list[Session]] = {}
    for subject, session, x, lab in sessions:
        cols = {ch.name: x[:, j] / ch.scale for j, ch in enumerate(stream.channels)}  # raw source units
        by_subject.setdefault(subject, []).append(Session(stream.name, subject, session, cols, lab))
    shards = []
    from imudata.fetch import sha256_file

    for k, (subject, sess) in enumerate(by_subject.items()):
        path = base / "parquet" / stream.name / f"part-{k:05d}.parquet"
        info = write_sessions(path, card, stream, sess)
        shards.append({"path": f"parquet/{stream.name}/{path.name}", "stream": stream.name, "subject": subject,
                       "sessions": [s.session for s in sess], "rows": info["rows"], "bytes": path.stat().st_size,
                       "sha256": sha256_file(path)})
    final = replace(card, subjects=list(by_subject), shards=shards)
    (base / "dataset.json").write_text(final.to_json())
    return final


@pytest.fixture
def synth_root(data_root: Path) -> Path:
    xa, la = imu_session(PLAN_A, seed=1)
    xb, lb = imu_session(PLAN_B, seed=2)
    xc, lc = imu_session(PLAN_B[::-1], seed=3)
    make_dataset(data_root, [("1", "exp01", xa, la), ("1", "exp02", xb, lb), ("2", "exp03", xc, lc)])
    return data_root


def realistic(n: int = 30_000, rate: float = RATE, seed: int = 0) -> np.ndarray:
    """Walking / still / posture changes, 6 channels, with gravity: what the bands see in practice."""
    plan = [(-1, "upright", 60.0), (-1, "walk", 120.0), (-1, "turn", 3.0), (-1, "lying", 60.0), (-1, "turn", 3.0),
            (-1, "walk", 200.0)]
    x, _ = imu_session(plan, rate=rate, seed=seed)
    return x[:n]


# --------------------------------------------------------------------------------------------
# band splitting


def test_bands_sum_back_exactly_complementary():
    x = realistic()
    b = split_bands(x, RATE)
    assert b.shape == (3,) + x.shape
    assert np.abs(b.sum(axis=0) - x).max() <= 1e-12 * np.abs(x).max()
    # stored as float32 shards, the sum is still within float32 rounding of the source
    b32 = b.astype(np.float32).astype(np.float64)
    assert np.abs(b32.sum(axis=0) - x).max() <= 1e-5 * np.abs(x).max()


def test_butterworth_method_sums_back_within_stated_tolerance():
    """docs/bands.md: the textbook filter bank sums back to within 8 % of each channel's standard
    deviation (RMS error) on IMU signals (measured up to 6.3 % on real HAPT sessions) and 4 % on white noise."""
    x = realistic()
    err = split_bands(x, RATE, method="butterworth").sum(axis=0) - x
    rel = np.sqrt((err ** 2).mean(axis=0)) / x.std(axis=0)
    assert rel.max() < 0.08, rel
    noise = np.random.default_rng(0).normal(size=(100_000, 2))
    err = split_bands(noise, RATE, method="butterworth").sum(axis=0) - noise
    rel = np.sqrt((err ** 2).mean(axis=0)) / noise.std(axis=0)
    assert 0.005 < rel.max() < 0.04, rel  # not exact: why 'complementary' is the default


def test_first_and_last_band_are_the_butterworth_filters():
    x = realistic()[:, :3]
    b = split_bands(x, RATE)
    lp = ss.sosfiltfilt(ss.butter(4, 1, fs=RATE, output="sos"), x, axis=0)
    hp = ss.sosfiltfilt(ss.butter(4, 4, btype="highpass", fs=RATE, output="sos"), x, axis=0)
    mid = slice(500, -500)  # away from the edges, where padding differs
    assert np.allclose(b[0], lp, atol=1e-9)
    scale = x.std(axis=0).max()
    assert np.abs(b[2][mid] - hp[mid]).max() < 0.01 * scale  # power complementary: x - LP_4 = HP_4 (zero-phase)


@pytest.mark.parametrize("freq,band", [(0.3, 0), (2.0, 1), (8.0, 2)])
def test_sine_lands_in_its_band(freq, band):
    t = np.arange(20_000) / RATE
    x = np.sin(2 * np.pi * freq * t)
    b = split_bands(x, RATE)
    power = (b[:, 1000:-1000] ** 2).mean(axis=1)
    assert power[band] / power.sum() > 0.98


def test_vectorised_equals_per_channel_and_any_axis():
    x = realistic(8000)
    b = split_bands(x, RATE)
    for j in range(x.shape[1]):
        assert np.allclose(b[:, :, j], split_bands(x[:, j], RATE), atol=1e-12)
    assert np.allclose(split_bands(x.T, RATE, axis=1), np.moveaxis(b, 1, 2), atol=1e-12)


def test_nan_gap_stays_local():
    x = realistic(20_000)
    clean = split_bands(x, RATE)
    xn = x.copy()
    xn[8000:8100, :3] = np.nan  # accelerometer gap only
    b = split_bands(xn, RATE)
    assert np.array_equal(np.isnan(b[0]), np.isnan(xn))
    assert np.isfinite(b[:, :8000]).all() and np.isfinite(b[:, 8100:]).all()
    assert np.array_equal(b[:, :, 3:], clean[:, :, 3:])  # the gyroscope, with no gap, is untouched
    far = np.r_[0:7000, 9100:20000]  # 20 s from the gap: identical to filtering without a gap
    assert np.abs(b[:, far] - clean[:, far]).max() < 1e-6
    assert np.abs(np.nansum(b, axis=0) - np.nan_to_num(xn)).max() < 1e-9


def long_signal(n: int, rate: float = RATE, seed: int = 0) -> np.ndarray:
    """``realistic`` sessions (446 s each) back to back until ``n`` rows: long runs for the FFT path."""
    parts, total, i = [], 0, 0
    while total < n:
        parts.append(realistic(10**9, rate=rate, seed=seed + i))
        total += len(parts[-1])
        i += 1
    return np.concatenate(parts)[:n]


def _sosfiltfilt_split(x: np.ndarray, rate: float, edges: list[float], order: int = 4) -> np.ndarray:
    """The complementary split written out with plain scipy sosfiltfilt per channel (the reference)."""
    lp = [np.stack([ss.sosfiltfilt(ss.butter(order, e, fs=rate, output="sos"), x[:, j]) for j in range(x.shape[1])], 1)
          for e in edges]
    return np.stack([lp[0]] + [b - a for a, b in zip(lp[:-1], lp[1:])] + [x - lp[-1]])


@pytest.mark.parametrize("rate,bands,edges,order", [
    (50.0, "0-1,1-4,4-", [1.0, 4.0], 4),
    (100.0, "0-0.1,0.1-2,2-", [0.1, 2.0], 4),  # a slow pole near z = 1: the hardest case for the FFT path
    (20.0, "0-0.5,0.5-3,3-6,6-", [0.5, 3.0, 6.0], 2),
    (50.0, "0-2,2-", [2.0], 8),
])
def test_long_runs_match_sosfiltfilt_within_stated_tolerance(rate, bands, edges, order):
    """Long runs go through the frequency-domain path; the stated tolerance against sosfiltfilt is
    1e-10 of the largest magnitude (float64) and 1e-5 of the largest deviation from the mean
    (float32), edges included; the bands still sum back exactly."""
    x = long_signal(200_000, rate=rate, seed=4)
    ref = _sosfiltfilt_split(x, rate, edges, order)
    b = split_bands(x, rate, bands, order=order)
    assert np.abs(b - ref).max() <= 1e-10 * np.abs(x).max()
    assert np.abs(b[:, :2000] - ref[:, :2000]).max() <= 1e-10 * np.abs(x).max()  # the sosfiltfilt edges
    assert np.abs(b.sum(axis=0) - x).max() <= 1e-12 * np.abs(x).max()
    b32 = split_bands(x, rate, bands, order=order, precision="float32")
    assert np.abs(b32 - ref).max() <= 1e-5 * np.abs(x - x.mean(axis=0)).max()
    assert np.abs(b32.sum(axis=0) - x).max() <= 1e-12 * np.abs(x).max()


def test_long_runs_butterworth_method_matches_sosfiltfilt():
    x = long_signal(100_000, seed=5)[:, :3]
    sos = [ss.butter(4, 1, fs=RATE, output="sos"), ss.butter(4, [1, 4], btype="bandpass", fs=RATE, output="sos"),
           ss.butter(4, 4, btype="highpass", fs=RATE, output="sos")]
    ref = np.stack([ss.sosfiltfilt(s, x, axis=0) for s in sos])
    assert np.abs(split_bands(x, RATE, method="butterworth") - ref).max() <= 1e-10 * np.abs(x).max()


def test_long_runs_between_gaps_match_sosfiltfilt_per_run():
    x = long_signal(120_000, seed=6)[:, :2].copy()
    x[40_000:40_050] = np.nan
    x[90_000, 1] = np.nan  # channel 1 has one more gap: filtered apart from channel 0
    b = split_bands(x, RATE)
    assert np.array_equal(np.isnan(b[0]), np.isnan(x))
    for j, runs in ((0, [(0, 40_000), (40_050, 120_000)]), (1, [(0, 40_000), (40_050, 90_000), (90_001, 120_000)])):
        for s, e in runs:
            ref = _sosfiltfilt_split(x[s:e, j:j + 1], RATE, [1.0, 4.0])[:, :, 0]
            assert np.abs(b[:, s:e, j] - ref).max() <= 1e-10 * np.abs(x[s:e, j]).max()


def test_bad_precision_refused():
    with pytest.raises(BandError, match="precision 'float16'"):
        split_bands(realistic(1000), RATE, precision="float16")


def test_short_finite_runs_are_handled():
    x = realistic(2000)[:, :2].copy()
    mask = np.zeros(len(x), bool)
    mask[[100, 103, 104, 110, 116, 117, 118]] = True  # runs of 2, 1 and 3 samples between gaps
    x[100:120][~mask[100:120]] = np.nan
    b = split_bands(x, RATE)
    assert np.array_equal(np.isnan(b[1]), np.isnan(x))
    assert np.abs(np.nansum(b, axis=0) - np.nan_to_num(x)).max() < 1e-9
    assert np.allclose(b[0, 110], x[110]) and np.allclose(b[1:, 110], 0)  # a lone sample is all low band


def test_causal_is_causal_and_sums_back():
    x = realistic(6000)
    b = split_bands(x, RATE, zero_phase=False)
    assert np.abs(b.sum(axis=0) - x).max() < 1e-9
    y = x.copy()
    y[3000:] += 5.0
    b2 = split_bands(y, RATE, zero_phase=False)
    assert np.array_equal(b[:, :3000], b2[:, :3000])


def test_nyquist_refused_with_stream_and_rate():
    with pytest.raises(BandError, match=r"wisdm stream imu is sampled at 20 Hz \(Nyquist 10 Hz\).*4-20"):
        split_bands(np.zeros((100, 3)), 20.0, "0-1,1-4,4-20", what="wisdm stream imu")
    with pytest.raises(BandError, match="Nyquist 10 Hz"):
        design_bands("0-1,1-10,10-", 20.0)
    split_bands(np.zeros((100, 3)), 20.0)  # the default bands are fine at 20 Hz
    with pytest.raises(BandError, match="Nyquist 2.5 Hz"):
        design_bands("0-1,1-4,4-", 5.0)


def test_parse_bands():
    assert [b.spec for b in parse_bands("0-1, 1-4 ,4-")] == ["0-1", "1-4", "4-"]
    assert tiles(parse_bands("0-1,1-4,4-")) and not tiles(parse_bands("0-1,1-4,4-20"))
    for bad in ("0-1,0.5-4", "1-0", "0-,1-4", "abc", "4-1,0-1"):
        with pytest.raises(BandError):
            parse_bands(bad)
    six = split_bands(realistic(5000), RATE, "0-1,1-2,2-4,4-6,6-10,10-")  # Table 7, six bands
    assert six.shape[0] == 6


# --------------------------------------------------------------------------------------------
# resampling


def test_rational_ratio():
    assert rational_ratio(50, 30) == (3, 5)
    assert rational_ratio(100, 25) == (1, 4)
    assert rational_ratio(20, 50) == (5, 2)
    up, down = rational_ratio(100.0, 100 / 3)
    assert (up, down) == (1, 3)


def test_resample_keeps_a_sine_below_nyquist_and_removes_one_above():
    rate_in, rate_out = 100.0, 25.0
    t = np.arange(60_000) / rate_in
    low = np.sin(2 * np.pi * 3.0 * t)
    high = np.sin(2 * np.pi * 20.0 * t)  # above the new Nyquist of 12.5 Hz
    y, pos, rate = resample_runs(np.c_[low, high], rate_in, rate_out)
    assert rate == 25.0 and len(y) == 15_000
    t_out = pos / rate_in
    core = slice(200, -200)
    assert np.abs(y[core, 0] - np.sin(2 * np.pi * 3.0 * t_out[core])).max() < 0.01
    assert np.sqrt((y[core, 1] ** 2).mean()) < 0.01
    # non-integer ratio, with gravity offset: no droop at the ends
    y2 = resample(9.81 + np.sin(2 * np.pi * 1.0 * t[:5000]), 100.0, 30.0)
    t2 = np.arange(len(y2)) / 30.0
    assert np.abs(y2 - (9.81 + np.sin(2 * np.pi * 1.0 * t2))).max() < 0.05


def test_resample_nan_gaps():
    x = realistic(10_000)
    x[4000:4050] = np.nan
    x[6000:6010, 0] = np.nan
    y, pos, rate = resample_runs(x, RATE, 20.0)
    assert rate == 20.0 and len(y) == 4000
    assert np.allclose(np.diff(pos), 2.5)  # one uniform grid for the whole session, gaps included
    gap = np.isnan(y).all(axis=1)
    assert gap.sum() == 20 and np.all((pos[gap] >= 4000) & (pos[gap] < 4050))
    part = np.isnan(y[:, 0]) & ~gap
    assert part.sum() == 4 and np.isfinite(y[part, 1:]).all()
    assert np.isfinite(y[~np.isnan(y[:, 0]), 0]).all()
    # a run that starts off the output grid is phase-aligned: a slow sine is still right there
    t = np.arange(3000) / 100.0
    z = np.sin(2 * np.pi * 0.5 * t)
    z[1003:1013] = np.nan  # the run after the gap starts at 1013, not a multiple of down (10)
    yz, pz, _ = resample_runs(z, 100.0, 30.0)
    ok = np.isfinite(yz) & (pz > 1020) & (pz < 2900)
    assert ok.sum() > 500 and np.abs(yz[ok] - np.sin(2 * np.pi * 0.5 * pz[ok] / 100.0)).max() < 0.01


# --------------------------------------------------------------------------------------------
# derived streams on disk


def test_derive_bands_and_resample(synth_root: Path):
    import imudata
    from imudata.derive import derive_bands, derive_resample

    stream = derive_bands("hapt", synth_root, progress=False, log=lambda m: None)
    assert stream.name == "imu_bands" and len(stream.channels) == 18
    ch = stream.channel("waist_acc_x_band2")
    assert ch.derived["low_hz"] == 4.0 and ch.derived["high_hz"] is None and ch.derived["order"] == 4
    assert ch.derived["zero_phase"] is True and ch.derived["source_channel"] == "waist_acc_x"
    assert ch.gravity == "removed" and stream.channel("waist_acc_x_band0").gravity == "included"
    ds = imudata.open("hapt", synth_root)
    assert [s.name for s in ds.card.streams] == ["imu", "imu_bands"]
    src = ds.scan("imu").collect()
    bands = ds.scan("imu_bands").collect()
    assert bands.select("subject", "session", "t", "label").equals(src.select("subject", "session", "t", "label"))
    for name in ("waist_acc_x", "waist_gyro_z"):
        total = sum(bands[f"{name}_band{i}"].to_numpy().astype(np.float64) for i in range(3))
        assert np.abs(total - src[name].to_numpy()).max() < 1e-5 * np.abs(src[name].to_numpy()).max()
    # the card on disk lists the shards with their hashes; every shard embeds the new card
    card = json.loads((synth_root / "hapt" / "dataset.json").read_text())
    derived = [sh for sh in card["shards"] if sh["stream"] == "imu_bands"]
    assert len(derived) == 2 and all((synth_root / "hapt" / sh["path"]).exists() for sh in derived)
    meta = json.loads(pq.read_schema(synth_root / "hapt" / derived[0]["path"]).metadata[b"imudata"])
    assert [s["name"] for s in meta["streams"]] == ["imu", "imu_bands"]

    # re-running replaces (not duplicates) the stream
    derive_bands("hapt", synth_root, bands="0-2,2-", progress=False, log=lambda m: None)
    ds = imudata.open("hapt", synth_root)
    assert [s.name for s in ds.card.streams] == ["imu", "imu_bands"]
    assert len(ds.card.stream("imu_bands").channels) == 12
    assert len([sh for sh in ds.card.shards if sh["stream"] == "imu_bands"]) == 2

    r = derive_resample("hapt", synth_root, rate=20, progress=False, log=lambda m: None)
    assert r.name == "imu_20hz" and r.rate_hz == 20.0 and r.channels[0].derived["up"] == 2
    res = imudata.open("hapt", synth_root).scan("imu_20hz").collect()
    assert len(res) == pytest.approx(len(src) * 0.4, abs=3)
    one = res.filter(res["session"] == "exp01")
    assert np.allclose(np.diff(one["t"].to_numpy()), 0.05)
    # labels follow the nearest source sample
    src1 = src.filter(src["session"] == "exp01")
    idx = np.rint(one["t"].to_numpy() * RATE).astype(int)
    assert np.array_equal(one["label"].fill_null(-1).to_numpy(), src1["label"].fill_null(-1).to_numpy()[idx])


def test_derive_refuses_nyquist_and_bad_names(synth_root: Path):
    from imudata.derive import derive_bands
    from imudata.errors import ImudataError

    with pytest.raises(BandError, match=r"hapt stream imu is sampled at 50 Hz \(Nyquist 25 Hz\)"):
        derive_bands("hapt", synth_root, bands="0-1,1-30", progress=False)
    with pytest.raises(ImudataError, match="source stream|converted data"):
        derive_bands("hapt", synth_root, out="imu", progress=False)
    with pytest.raises(ImudataError, match="snake case"):
        derive_bands("hapt", synth_root, out="Bad-Name", progress=False)
    assert not (synth_root / "hapt" / "parquet" / "imu_bands").exists()


def test_cli_bands_and_resample(synth_root: Path):
    from typer.testing import CliRunner

    from imudata.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["bands", "hapt", "--bands", "0-1,1-4,4-", "--order", "4", "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["resample", "hapt", "--rate", "25", "-q"])
    assert res.exit_code == 0, res.output
    card = json.loads((synth_root / "hapt" / "dataset.json").read_text())
    assert [s["name"] for s in card["streams"]] == ["imu", "imu_bands", "imu_25hz"]


def test_a_single_all_pass_band_is_the_signal_itself():
    """``"0-"`` (one band, no edge) returns the input unchanged, zero-phase or causal, long or short."""
    rng = np.random.default_rng(3)
    for n in (40, 5000):
        x = rng.normal(size=(n, 3))
        for zero_phase in (True, False):
            y = split_bands(x, 50.0, "0-", zero_phase=zero_phase)
            assert y.shape == (1, n, 3)
            assert np.array_equal(y[0], x)
