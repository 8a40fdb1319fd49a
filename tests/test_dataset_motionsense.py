"""MotionSense: a fixture zip through fetch -> convert -> open, and the real Device Motion files."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import motionsense as ms
from imudata.errors import FormatError

from .conftest import realdata
from .fixtures import motionsense as fx

G = 9.80665
SIGNALS = ["attitude.roll", "attitude.pitch", "attitude.yaw", "gravity.x", "gravity.y", "gravity.z",
           "rotationRate.x", "rotationRate.y", "rotationRate.z",
           "userAcceleration.x", "userAcceleration.y", "userAcceleration.z"]
# original column -> (stored channel, factor to SI) written out independently of the converter
EXPECT = {"attitude.roll": ("pocket_ori_roll", 1.0), "attitude.pitch": ("pocket_ori_pitch", 1.0),
          "attitude.yaw": ("pocket_ori_yaw", 1.0),
          **{f"gravity.{a}": (f"pocket_grav_{a}", -G) for a in "xyz"},
          **{f"rotationRate.{a}": (f"pocket_gyro_{a}", 1.0) for a in "xyz"},
          **{f"userAcceleration.{a}": (f"pocket_lacc_{a}", -G) for a in "xyz"}}
ACT_ID = {"dws": 0, "ups": 1, "wlk": 2, "jog": 3, "std": 4, "sit": 5}


def _parse(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == ""
    body = np.array([[float(v) for v in r] for r in rows[1:]])
    np.testing.assert_array_equal(body[:, 0], np.arange(len(body)))
    return {name: body[:, i + 1] for i, name in enumerate(rows[0][1:])}


def _check_trial(df: pl.DataFrame, path: Path, subject: str, trial: str) -> int:
    want = _parse(path)
    got = df.filter((pl.col("subject") == subject) & (pl.col("session") == trial)).sort("t")
    n = len(want["gravity.x"])
    assert got.height == n, (subject, trial)
    for col, (chan, factor) in EXPECT.items():
        np.testing.assert_allclose(got[chan].to_numpy(), (want[col] * factor).astype(np.float32), rtol=1e-6,
                                   atol=1e-12, err_msg=f"{subject}/{trial}/{col}")
    np.testing.assert_allclose(got["t"].to_numpy(), np.arange(n) / 50.0)
    assert set(got["label"].to_list()) == {ACT_ID[trial.split("_")[0]]}
    return n


def test_fixture_archive_fetch_convert_open(tmp_path: Path, data_root: Path) -> None:
    archive = fx.make_archive(tmp_path / "src")
    fetch("motionsense", data_root, from_path=archive, progress=False)
    card = convert("motionsense", data_root, progress=False)
    assert card.subjects == ["1", "2", "3"]
    assert "of 360 trial files" in card.completeness["missing"][0]
    df = imudata.open("motionsense", data_root).scan("imu").collect()
    data = tmp_path / "src" / "tree" / "motionsense" / "A_DeviceMotion_data"
    total = 0
    for trial in fx.TRIALS:
        for s in fx.SUBJECTS:
            if (s, trial) not in fx.ABSENT:
                total += _check_trial(df, data / trial / f"sub_{s}.csv", str(s), trial)
    assert df.height == total
    assert df.filter(pl.col("subject") == "3")["session"].unique().sort().to_list() == ["dws_1", "std_6", "wlk_15"]
    stream = card.stream("imu")
    assert stream.rate_hz == 50.0
    assert [c.name for c in stream.channels][:4] == ["pocket_ori_roll", "pocket_ori_pitch", "pocket_ori_yaw",
                                                     "pocket_grav_x"]
    grav, lacc = stream.channel("pocket_grav_x"), stream.channel("pocket_lacc_z")
    assert (grav.sensor, grav.unit, grav.gravity, grav.placement) == ("grav", "m/s²", "included", "pocket")
    assert (lacc.sensor, lacc.gravity, lacc.scale) == ("lacc", "removed", -G)
    assert "gravity removed" in lacc.description and "trouser pocket" in lacc.description
    assert stream.channel("pocket_gyro_y").unit == "rad/s"
    assert {lab.name: lab.text for lab in card.labels}["dws"] == "walking downstairs"
    # Core Motion's gravity points down; after the sign flip an upright phone reads +9.81 on y
    std = df.filter(pl.col("session") == "std_6")
    assert 9.0 < std["pocket_grav_y"].median() < 9.9
    mag = np.sqrt(sum(df[f"pocket_grav_{a}"].to_numpy().astype(float) ** 2 for a in "xyz"))
    np.testing.assert_allclose(mag, G, rtol=1e-5)


def test_subject_info_bom_and_bad_files(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    assert ms.subject_codes(root / "data_subjects_info.csv") == ["1", "2", "3", "4"]
    plan = ms.plan(root)
    assert sorted(plan.subjects) == ["1", "2", "3"]
    assert any("without files: 4" in m for m in plan.missing)
    bad = root / "A_DeviceMotion_data" / "dws_1" / "sub_1.csv"
    lines = bad.read_text().splitlines()
    bad.write_text("\n".join([lines[0], lines[1], lines[3]]) + "\n")  # a skipped row index
    with pytest.raises(FormatError, match="line 3: row index 2"):
        ms.read_trial(bad)
    bad.write_text("x,y,z\n0,1,2\n")
    with pytest.raises(FormatError, match="expected the header"):
        ms.read_trial(bad)


def test_kaggle_double_nesting(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    inner = root / "A_DeviceMotion_data"
    nested = root / "nest"
    inner.rename(nested)
    (root / "A_DeviceMotion_data").mkdir()
    nested.rename(root / "A_DeviceMotion_data" / "A_DeviceMotion_data")
    assert sorted(ms.plan(root).subjects) == ["1", "2", "3"]


def test_real_motionsense() -> None:
    src = realdata("motionsense")
    plan = ms.plan(src)
    assert len(plan.subjects) in (12, 24)
    assert all(len(v) == 6 for v in plan.subjects.values())
    sessions = [s for subj, unit in plan.subjects.items() for s in ms.read(src, subj, unit)]
    assert len(sessions) == 6 * len(plan.subjects)
    by_key = {(s.subject, s.session): s for s in sessions}
    stream = ms.CARD.stream("imu")
    for subject, trial in [("1", "dws_1"), ("7", "sit_5"), ("12", "jog_9")]:
        want = _parse(src / "A_DeviceMotion_data" / trial / f"sub_{subject}.csv")
        sess = by_key[(subject, trial)]
        for col, (chan, factor) in EXPECT.items():
            stored = sess.columns[chan] * stream.channel(chan).scale
            np.testing.assert_allclose(stored, want[col] * factor, rtol=1e-12)
        assert set(sess.label.tolist()) == {ACT_ID[trial[:3]]}
    # |gravity| = 1 g in the source, about 9.81 m/s² once scaled
    for sess in sessions:
        g = np.sqrt(sum((sess.columns[f"pocket_grav_{a}"] * ms.ACC_SCALE) ** 2 for a in "xyz"))
        assert abs(np.median(g) - 9.80665) < 0.02
    # the pocket phone is upright: most of gravity lies on the long (y) axis while standing
    std = [s for s in sessions if s.session == "std_6"]
    frac = np.median([np.mean(np.abs(s.columns["pocket_grav_y"])) for s in std])
    assert frac > 0.7
