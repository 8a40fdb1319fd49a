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


def test_contradicting_metadata_is_noted_not_fatal(tmp_path: Path, data_root: Path):
    """The pattern of the real release: a trial file carrying another file's metadata (here another
    activity's, under the misspelt key of subject 13) over its own samples. The file name decides,
    the conflict is a note naming the file, and every other subject and trial is converted."""
    root = fx.make(tmp_path / "src", seed=5)
    m = scipy.io.loadmat(root / "Subject13" / "a9t2.mat")
    assert "activity_numbr" in m and "activity_number" not in m  # the fixture mimics the quirk
    other = scipy.io.loadmat(root / "Subject13" / "a6t1.mat")
    variables = {k: v for k, v in m.items() if not k.startswith("__")}
    for key in ("activity", "activity_numbr", "trial"):
        variables[key] = other[key]  # a6t1's metadata, a9t2's samples
    fx.write_trial(root / "Subject13" / "a9t2.mat", variables)
    fetch("uschad", data_root, from_path=root, progress=False, log=lambda m: None)
    card = convert("uschad", data_root, progress=False, log=lambda m: None)
    notes = card.completeness["notes"]
    assert ("Subject13/a9t2.mat: activity number 6 in the file, but the file name says 9; trial 1 in the file, "
            "but the file name says 2; its metadata equal those of Subject13/a6t1.mat; the file name decides "
            "(subject 13, activity 9, trial 2)") in notes
    assert card.subjects == ["1", "2", "13"]
    df = imudata.open("uschad", data_root).scan("imu").collect()
    part = df.filter((pl.col("subject") == "13") & (pl.col("session") == "a9t2"))
    orig = fx.readings(13, 9, 2, seed=5)
    assert part["label"].to_list() == [9] * len(orig)
    np.testing.assert_allclose(part["hip_acc_x"].to_numpy(), orig[:, 0] * G, rtol=1e-6)
    assert len(df.select(["subject", "session"]).unique()) == sum(len(v) for v in fx.TRIALS.values())


def test_missing_activity_variable_is_noted(tmp_path: Path, data_root: Path):
    root = fx.make(tmp_path / "src")
    m = scipy.io.loadmat(root / "Subject2" / "a2t1.mat")
    variables = {k: v for k, v in m.items() if not k.startswith("__") and k != "activity_number"}
    fx.write_trial(root / "Subject2" / "a2t1.mat", variables)
    fetch("uschad", data_root, from_path=root, progress=False, log=lambda m: None)
    card = convert("uschad", data_root, progress=False, log=lambda m: None)
    assert any(n.startswith("Subject2/a2t1.mat: no 'activity_number' (or 'activity_numbr') variable; the file name "
                            "decides (subject 2, activity 2, trial 1)") for n in card.completeness["notes"])
    df = imudata.open("uschad", data_root).scan("imu").collect()
    assert set(df.filter(pl.col("session") == "a2t1")["label"].to_list()) == {2}


def test_bad_readings_shape(tmp_path: Path, data_root: Path):
    root = fx.make(tmp_path / "src")
    m = scipy.io.loadmat(root / "Subject1" / "a1t2.mat")
    variables = {k: v for k, v in m.items() if not k.startswith("__")}
    variables["sensor_readings"] = variables["sensor_readings"][:, :5]
    fx.write_trial(root / "Subject1" / "a1t2.mat", variables)
    fetch("uschad", data_root, from_path=root, progress=False, log=lambda m: None)
    with pytest.raises(FormatError, match=r"a1t2\.mat: 'sensor_readings' is float64 \(\d+, 5\), expected N x 6"):
        convert("uschad", data_root, progress=False, log=lambda m: None)


# ---- the real release (subjects 1-12, every trial) -------------------------------------------------

def _real_copy(tmp_path: Path, subjects: list[str] | None) -> Path:
    """The real USC-HAD folder, or a copy holding only ``subjects`` (files copied byte for byte)."""
    import shutil

    from tests.conftest import realdata

    src = realdata("uschad") / "USC-HAD"
    if subjects is None:
        return src
    dest = tmp_path / "USC-HAD"
    dest.mkdir()
    for s in subjects:
        shutil.copytree(src / f"Subject{s}", dest / f"Subject{s}")
    return dest


def _check_real(tmp_path: Path, data_root: Path, subjects: list[str] | None) -> None:
    src = _real_copy(tmp_path, subjects)
    fetch("uschad", data_root, from_path=src, progress=False, log=lambda m: None)
    card = convert("uschad", data_root, progress=False, log=lambda m: None)
    files = sorted(src.glob("Subject*/a*t*.mat"))
    present = sorted({f.parent.name[len("Subject"):] for f in files}, key=int)
    assert card.subjects == present
    df = imudata.open("uschad", data_root).scan("imu").collect()
    assert df.height == sum(scipy.io.loadmat(f, variable_names=["sensor_readings"])["sensor_readings"].shape[0]
                            for f in files)
    parts = df.partition_by(["subject", "session"], as_dict=True)
    rest, walk_gyro = [], []
    for f in files:
        mat = scipy.io.loadmat(f)
        name = f.stem
        activity, trial = (int(x) for x in name[1:].split("t"))
        subject = f.parent.name[len("Subject"):]
        # the file's own variables agree with its name here (checked independently of the converter)
        key = "activity_number" if "activity_number" in mat else "activity_numbr"
        assert int(str(mat[key][0])) == activity, f
        assert str(mat["subject"][0]) == subject, f
        orig = mat["sensor_readings"]
        part = parts[(subject, name)]
        assert len(part) == len(orig), f
        for i, a in enumerate("xyz"):
            np.testing.assert_allclose(part[f"hip_acc_{a}"].to_numpy(), orig[:, i] * G, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(part[f"hip_gyro_{a}"].to_numpy(), orig[:, 3 + i] * DEG, rtol=1e-6, atol=1e-9)
        assert part["label"].to_list() == [activity] * len(orig)
        np.testing.assert_allclose(part["t"].to_numpy(), np.arange(len(orig)) / 100.0)
        acc = part.select(["hip_acc_x", "hip_acc_y", "hip_acc_z"]).to_numpy()
        gyro = part.select(["hip_gyro_x", "hip_gyro_y", "hip_gyro_z"]).to_numpy()
        if activity in (8, 9, 10):  # sitting, standing, lying: gravity alone
            rest.append(np.median(np.linalg.norm(acc, axis=1)))
        if activity == 10:  # lying still: the gyroscope's bias only, under 0.06 rad/s (3.4 deg/s)
            assert np.median(np.linalg.norm(gyro, axis=1)) < 0.06, f
        if activity == 1:
            walk_gyro.append(np.percentile(np.linalg.norm(gyro, axis=1), 95))
    # |acc| at rest is 1 g = 9.81 m/s² (a g value left unscaled would be ≈1)
    assert 9.3 < np.median(rest) < 10.3 and min(rest) > 8.5 and max(rest) < 11.0
    # walking turns the hip at about 1-5 rad/s (deg/s stored as rad/s would be 60-300)
    assert 0.5 < np.median(walk_gyro) < 6.0
    # the physics line recorded at conversion: 1 g at rest, 10 ms steps (no timestamps in the files)
    phys = card.completeness["physics"]
    assert phys[0].startswith("imu: mean sampling step 10.000 ms over ")
    at_rest = float(phys[1].split("|acc| at rest ")[1].split(" m/s²")[0])
    assert abs(at_rest - G) < 0.3 and "as expected for gravity" in phys[1]
    orig = card.completeness["originals"]
    assert orig["counts"]["matches the known original"] == len(files)  # every real .mat is the release's
    from imudata.info import render, summary

    text = render(summary(registry.get("uschad"), data_root))
    assert "  physics:  imu: mean sampling step 10.000 ms" in text and "  physics:  imu/hip_acc: |acc| at rest" in text
    assert f"  originals: {len(files)} matches the known original" in text
    notes = card.completeness["notes"]
    if "3" in present:
        for t in (3, 4, 5):
            assert f"Subject3/a1t{t}.mat: comments 'indoor'" in notes
        assert any(n.startswith("Subject3/a8t5.mat: trial 4 in the file, but the file name says 5") for n in notes)
    if "5" in present:
        assert any(n.startswith("Subject5/a8t3.mat: trial 2 in the file, but the file name says 3") for n in notes)


def test_real_subset(tmp_path: Path, data_root: Path):
    """Subjects 3 and 5 (the comments variable and both files with another trial's metadata) and 12."""
    _check_real(tmp_path, data_root, ["3", "5", "12"])


@pytest.mark.slow
def test_real_every_trial(tmp_path: Path, data_root: Path):
    """Every subject and trial present in ../shared/realdata/uschad, value for value."""
    _check_real(tmp_path, data_root, None)
