"""USC-HAD: fixture archive -> fetch -> convert -> open, and the format's quirks."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.io

import imudata
from imudata import registry
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.errors import FormatError
from tests.fixtures import uschad as fx

G = 9.80665
DEG = math.pi / 180


@pytest.fixture
def converted(tmp_path: Path, data_root: Path):
    archive = fx.make_archive(tmp_path / "src", seed=5)
    fetch("usc-had", data_root, from_path=archive, progress=False, log=lambda m: None)  # the alias
    card = convert("uschad", data_root, progress=False, log=lambda m: None)
    return imudata.open("uschad", data_root), card


def test_card(converted):
    ds, card = converted
    assert registry.get("usc-had").id == "uschad" and registry.get("USC_HAD").id == "uschad"
    assert card.subjects == ["1", "2", "13"]
    (stream,) = card.streams
    assert stream.name == "imu" and stream.rate_hz == 100
    assert [c.name for c in stream.channels] == ["hip_acc_x", "hip_acc_y", "hip_acc_z",
                                                 "hip_gyro_x", "hip_gyro_y", "hip_gyro_z"]
    acc, gyro = stream.channel("hip_acc_y"), stream.channel("hip_gyro_z")
    assert (acc.unit, acc.source_unit, acc.gravity, acc.range) == ("m/s²", "g", "included", "±6 g")
    assert acc.scale == pytest.approx(G)
    assert (gyro.unit, gyro.source_unit) == ("rad/s", "deg/s") and gyro.scale == pytest.approx(DEG)
    assert "front right hip" in acc.description
    assert {lab.id: lab.name for lab in card.labels} == fx.NAMES
    assert not any(lab.ignore for lab in card.labels)


def test_values_sessions_labels(converted):
    ds, _ = converted
    df = ds.scan("imu").collect()
    sessions = {(s, n) for s, n in df.select(["subject", "session"]).unique().rows()}
    want = {(str(s), f"a{a}t{t}") for s, trials in fx.TRIALS.items() for a, t in trials}
    assert sessions == want  # a10t1 and a12t5 parsed as activity 10 / 12, not 1
    for subject, trials in fx.TRIALS.items():
        for activity, trial in trials:
            orig = fx.readings(subject, activity, trial, seed=5)
            part = df.filter((pl.col("subject") == str(subject)) & (pl.col("session") == f"a{activity}t{trial}"))
            assert len(part) == len(orig)
            np.testing.assert_allclose(part["t"].to_numpy(), np.arange(len(orig)) / 100.0)
            for i, a in enumerate("xyz"):
                np.testing.assert_allclose(part[f"hip_acc_{a}"].to_numpy(), orig[:, i] * G, rtol=1e-6, atol=1e-5)
                np.testing.assert_allclose(part[f"hip_gyro_{a}"].to_numpy(), orig[:, 3 + i] * DEG, rtol=1e-6, atol=1e-6)
            assert part["label"].to_list() == [activity] * len(orig)
    # gravity ≈ 1 g while sitting (subject 2, a8t3)
    sit = df.filter((pl.col("subject") == "2") & (pl.col("session") == "a8t3"))
    mag = np.linalg.norm(sit.select(["hip_acc_x", "hip_acc_y", "hip_acc_z"]).to_numpy(), axis=1)
    assert abs(np.median(mag) - G) < 0.3


def test_completeness(converted):
    _, card = converted
    missing = " | ".join(card.completeness["missing"])
    assert "831 of 840 trial files" in missing and "subjects 3, 4," in missing
    notes = " | ".join(card.completeness["notes"])
    assert "subject 13 (a6t1.mat): age 29, height 181, weight 90" in notes


def test_subject13_typo_is_read_and_checked(tmp_path: Path, data_root: Path):
    root = fx.make(tmp_path / "src")
    m = scipy.io.loadmat(root / "Subject13" / "a9t2.mat")
    assert "activity_numbr" in m and "activity_number" not in m  # the fixture mimics the quirk
    variables = {k: v for k, v in m.items() if not k.startswith("__")}
    variables["activity_numbr"] = "8"  # says sitting, the file name says standing
    fx.write_trial(root / "Subject13" / "a9t2.mat", variables)
    fetch("uschad", data_root, from_path=root, progress=False, log=lambda m: None)
    with pytest.raises(FormatError, match=r"a9t2\.mat: activity number 8 in the file, but the file name says activity 9"):
        convert("uschad", data_root, progress=False, log=lambda m: None)


def test_missing_activity_variable(tmp_path: Path, data_root: Path):
    root = fx.make(tmp_path / "src")
    m = scipy.io.loadmat(root / "Subject2" / "a2t1.mat")
    variables = {k: v for k, v in m.items() if not k.startswith("__") and k != "activity_number"}
    fx.write_trial(root / "Subject2" / "a2t1.mat", variables)
    fetch("uschad", data_root, from_path=root, progress=False, log=lambda m: None)
    with pytest.raises(FormatError, match=r"a2t1\.mat: no 'activity_number' \(or 'activity_numbr'\) variable"):
        convert("uschad", data_root, progress=False, log=lambda m: None)


def test_bad_readings_shape(tmp_path: Path, data_root: Path):
    root = fx.make(tmp_path / "src")
    m = scipy.io.loadmat(root / "Subject1" / "a1t2.mat")
    variables = {k: v for k, v in m.items() if not k.startswith("__")}
    variables["sensor_readings"] = variables["sensor_readings"][:, :5]
    fx.write_trial(root / "Subject1" / "a1t2.mat", variables)
    fetch("uschad", data_root, from_path=root, progress=False, log=lambda m: None)
    with pytest.raises(FormatError, match=r"a1t2\.mat: 'sensor_readings' is float64 \(\d+, 5\), expected N x 6"):
        convert("uschad", data_root, progress=False, log=lambda m: None)
