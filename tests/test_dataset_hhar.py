"""HHAR: fixture archive -> fetch -> convert -> open; real still-experiment files check clocks and units."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import hhar
from imudata.errors import FormatError
from tests.conftest import realdata, with_clock
from tests.fixtures import hhar as fx

IDS = {"bike": 1, "sit": 2, "stand": 3, "walk": 4, "stairsup": 5, "stairsdown": 6, "null": -1}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hhar")
    root = tmp / "home"
    fetch("hhar", root, from_path=fx.make_archive(tmp / "download"), progress=False, log=lambda m: None)
    card = convert("hhar", root, progress=False, log=lambda m: None)
    ds = imudata.open("hhar", root)
    return card, {s: with_clock(ds.scan(s).collect(), card, s) for s in ("phone", "watch")}


def test_sessions_per_user_and_device(converted):
    card, frames = converted
    assert card.subjects == ["a", "b"]
    got = {(s, stream, n) for stream, df in frames.items()
           for s, n in df.select("subject", "session").unique().iter_rows()}
    assert got == {("a", "phone", "nexus4_1"), ("a", "phone", "samsungold_1"), ("a", "watch", "gear_1"),
                   ("b", "phone", "nexus4_1"), ("b", "phone", "s3_1"), ("b", "phone", "s3_1.2"),
                   ("b", "watch", "lgwatch_1")}
    for s in card.streams:
        assert s.rate_hz == 50.0
        assert {c.unit for c in s.channels} == {"m/s²", "rad/s"} and all(c.scale == 1.0 for c in s.channels)
    assert "resample_poly" in card.facts["resampling"]


def test_values_time_and_labels(converted):
    _, frames = converted
    for user, kind, _model, device, _hz, _epoch, hacc, hgyro, has_gyro in fx.DEVICES:
        place = "waist" if kind == "phone" else "wrist"
        df = frames[kind].filter((pl.col("subject") == user) & pl.col("session").str.starts_with(device)).sort("clock")
        t = df["clock"].to_numpy()
        k = np.round(t * 50)
        np.testing.assert_allclose(t * 50, k, atol=1e-4)  # multiples of 20 ms of Unix time
        assert np.all(np.diff(k) >= 1)
        # on the arrival clock: within the user's recording window whatever the device's clock origin
        assert fx.START[user] - 0.1 < t.min() < fx.START[user] + 0.2
        assert fx.START[user] + fx.DURATION - 0.3 < t.max() < fx.START[user] + fx.DURATION + 0.1
        tau = t - fx.LATENCY_S  # stored time is true time plus the median delivery delay
        inner = (t > t.min() + 0.1) & (t < t.max() - 0.1)
        for sensor, holes in (("acc", hacc), ("gyro", hgyro)):
            v = df.select([f"{place}_{sensor}_{a}" for a in "xyz"]).to_numpy().astype(float)
            if sensor == "gyro" and not has_gyro:
                assert np.isnan(v).all()
                continue
            rel = tau - fx.START[user]
            in_hole = np.zeros(len(t), dtype=bool)
            near_hole = np.zeros(len(t), dtype=bool)
            for a, b in holes:
                in_hole |= (rel > a + 0.03) & (rel < b - 0.03)
                near_hole |= (rel > a - 0.1) & (rel < b + 0.1)
            assert np.isnan(v[in_hole]).all()
            check = inner & ~near_hole
            assert not np.isnan(v[check]).any(), (user, device, sensor)
            want = fx.signal(device, sensor, tau[check], hf=False)
            np.testing.assert_allclose(v[check], want, atol=0.03, err_msg=f"{user} {device} {sensor}")
        # labels: the script's label at the sample's true time, away from the boundaries
        rel = tau - fx.START[user]
        far = np.ones(len(t), dtype=bool)
        for a, b, _gt in fx.SCRIPT:
            far &= (np.abs(rel - a) > 0.05) & (np.abs(rel - b) > 0.05)
        want = np.array([IDS[g] for g in fx.label_at(user, tau[far])])
        np.testing.assert_array_equal(df["label"].fill_null(-1).to_numpy()[far], want)
        assert (df["label"].is_null().to_numpy()[far] == (want == -1)).all()


def test_anti_aliasing(converted):
    """nexus4_1's accelerometer carries 0.3 m/s² at 40 Hz; decimating without a low-pass would fold it to 10 Hz."""
    _, frames = converted
    df = frames["phone"].filter((pl.col("subject") == "a") & (pl.col("session") == "nexus4_1")).sort("clock")
    t = df["clock"].to_numpy()
    v = df["waist_acc_x"].to_numpy().astype(float)
    resid = v - fx.signal("nexus4_1", "acc", t - fx.LATENCY_S, hf=False)[:, 0]
    inner = slice(10, -10)
    assert np.sqrt(np.mean(resid[inner] ** 2)) < 0.05


def test_bad_header_and_label(tmp_path: Path) -> None:
    act = fx.make(tmp_path / "a")
    f = act / "Watch_gyroscope.csv"
    f.write_text(f.read_text().replace(",stand\n", ",jump\n", 1))
    with pytest.raises(FormatError, match=r"Watch_gyroscope.csv: Index \d+: gt 'jump'"):
        list(hhar.read(act, "a", None))
    act = fx.make(tmp_path / "b")
    f = act / "Phones_gyroscope.csv"
    f.write_text("\n".join(f.read_text().splitlines()[1:]) + "\n")  # header removed, as in some excerpts
    with pytest.raises(FormatError, match="expected 'Index,Arrival_Time"):
        hhar.plan(act)


ORIENT = {"Phoneonback": (2, 1), "Phoneonfront": (2, -1), "Phoneonbottom": (1, 1), "Phoneontop": (1, -1)}


@pytest.mark.parametrize("device", ["it-108/Samsung-Galaxy-S3.csv", "it-116/Samsung-Galaxy-S+.csv"])
def test_real_still_experiment_clock_and_gravity(device: str) -> None:
    """Real still-experiment CSVs: Creation_Time is ns, the clock helper lands on Unix time, and the
    resampled |acc| at rest is about 9.81 m/s² with gravity on the axis the orientation predicts."""
    src = realdata("hhar") / "Still exp"
    for orient, (axis, sign) in ORIENT.items():
        path = src / orient / device
        assert path.read_bytes()[:60].split(b"\r\n")[0] == b"Creation_Time,Sensor_Time,Arrival_Time,x,y,z"
        df = pl.read_csv(path)
        creation, sensor_ms, arrival = (df[c].to_numpy() for c in ("Creation_Time", "Sensor_Time", "Arrival_Time"))
        assert np.median(np.abs(creation / 1e6 - sensor_ms)) < 1.0  # ns vs the ms Sensor_Time column
        t = hhar.device_time(creation, arrival)
        assert np.median(np.abs(t - arrival / 1000)) < 0.05  # on the Unix (arrival) clock
        step = np.median(np.diff(t))
        assert 0.005 < step < 0.025  # 100 Hz (S3) or 50 Hz (S+) device, in seconds
        order = np.argsort(t, kind="stable")
        k, vals, src_idx = hhar.resample(t[order], df.select("x", "y", "z").to_numpy()[order])
        assert np.all(np.diff(k) >= 1) and len(k) > 0.9 * (t.max() - t.min()) * 50
        mag = np.linalg.norm(vals, axis=1)
        assert 9.3 < np.median(mag) < 10.7
        assert np.sign(np.median(vals[:, axis])) == sign and abs(np.median(vals[:, axis])) > 9.0
        assert np.all(src_idx < len(t))
