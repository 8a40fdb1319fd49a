"""MHEALTH: fixture archive -> fetch -> convert -> open, checked against the fixture's text files."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import mhealth
from imudata.errors import FormatError
from tests.fixtures import mhealth as fx

#: channel -> (1-based column, factor to SI), written from the README's table, not from the converter.
COLS: dict[str, tuple[int, float]] = {}
for _i, _a in enumerate("xyz"):
    COLS[f"chest_acc_{_a}"] = (1 + _i, 1.0)
    COLS[f"leftankle_acc_{_a}"] = (6 + _i, 1.0)
    COLS[f"leftankle_gyro_{_a}"] = (9 + _i, math.pi / 180)
    COLS[f"leftankle_mag_{_a}"] = (12 + _i, 1.0)
    COLS[f"rightwrist_acc_{_a}"] = (15 + _i, 1.0)
    COLS[f"rightwrist_gyro_{_a}"] = (18 + _i, math.pi / 180)
    COLS[f"rightwrist_mag_{_a}"] = (21 + _i, 1.0)
COLS["chest_ecg_lead1"] = (4, 1.0)
COLS["chest_ecg_lead2"] = (5, 1.0)


def _parse(path: Path) -> np.ndarray:
    return np.array([[float(v) for v in line.split("\t")] for line in path.read_text().splitlines()])


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mhealth")
    archive = fx.make_archive(tmp / "download")
    root = tmp / "home"
    fetch("mhealth", root, from_path=archive, progress=False, log=lambda m: None)
    card = convert("mhealth", root, progress=False, log=lambda m: None)
    return card, imudata.open("mhealth", root), tmp / "download" / "tree" / "MHEALTHDATASET"


def test_values_labels_and_card(converted):
    card, ds, orig = converted
    assert card.subjects == ["1", "2", "10"]
    assert "7 of 10 subject files" in card.completeness["missing"][0]
    df = ds.scan("imu").collect()
    stream = ds.card.stream("imu")
    assert stream.rate_hz == 50.0
    assert {c.name for c in stream.channels} == set(COLS)
    for subject in fx.SUBJECTS:
        rows = _parse(orig / f"mHealth_subject{subject}.log")
        part = df.filter(pl.col("subject") == str(subject))
        assert part["session"].unique().to_list() == ["log"]
        assert len(part) == len(rows)
        np.testing.assert_allclose(part["t"].to_numpy(), np.arange(len(rows)) / 50.0)
        for name, (col, factor) in COLS.items():
            ch = stream.channel(name)
            assert math.isclose(ch.scale, factor, rel_tol=1e-12), name
            np.testing.assert_allclose(part[name].to_numpy(), (rows[:, col - 1] * factor).astype(np.float32),
                                       rtol=1e-6, atol=1e-6, err_msg=name)
        want = rows[:, 23].astype(int)
        want[want == 0] = -1
        np.testing.assert_array_equal(part["label"].fill_null(-1).to_numpy(), want)
    assert stream.channel("leftankle_gyro_x").unit == "rad/s"
    assert stream.channel("leftankle_gyro_x").source_unit == "deg/s"
    assert stream.channel("rightwrist_mag_z").unit == "a.u."
    assert stream.channel("chest_ecg_lead1").unit == "mV"
    assert [lab.id for lab in ds.card.labels] == list(range(1, 13))
    # the fixture's running gyro is ±250 deg/s: the note must call it plausible
    assert any("plausible for deg/s" in n for n in card.completeness["notes"])


def test_space_separated_copy_and_bad_label(tmp_path: Path, data_root: Path) -> None:
    """Copies re-saved with spaces parse the same; a label outside 0-12 is an error naming the line."""
    tree = fx.make(tmp_path / "src")
    f = tree / "mHealth_subject2.log"
    f.write_text(f.read_text().replace("\t", "   "))
    fetch("mhealth", data_root, from_path=tree, progress=False, log=lambda m: None)
    card = convert("mhealth", data_root, progress=False, log=lambda m: None)
    assert card.subjects == ["1", "2", "10"]
    lines = f.read_text().splitlines()
    lines[4] = lines[4].rsplit(" ", 1)[0] + " 13"
    f.write_text("\n".join(lines) + "\n")
    other = tmp_path / "other-root"
    fetch("mhealth", other, from_path=tree, progress=False, log=lambda m: None)
    with pytest.raises(FormatError, match=r"mHealth_subject2.log: line 5: label 13"):
        convert("mhealth", other, progress=False, log=lambda m: None)


def _physical_log(seconds: float = 20.0, swap: bool = False, seed: int = 0) -> str:
    """A log whose ankle and arm units turn about their x axis as a real body would: acceleration is
    gravity in the turning frame, the gyroscope is the turn rate in deg/s, the magnetometer is a fixed
    field seen from the turning frame (constant magnitude). ``swap`` writes gyro and mag the other way."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 50)
    t = np.arange(n) / 50.0
    # bursts of turning separated by still spells, as in daily activities
    rate = np.where((t % 4) < 2, 1.5 * np.sin(2 * np.pi * 0.9 * t) + 0.8 * np.sin(2 * np.pi * 2.3 * t), 0.0)
    theta = np.cumsum(rate) / 50.0  # rad
    c, s = np.cos(theta), np.sin(theta)
    acc = np.column_stack([np.zeros(n), 9.81 * s, 9.81 * c]) + 0.05 * rng.standard_normal((n, 3))
    gyro = np.column_stack([np.degrees(rate), np.zeros(n), np.zeros(n)]) + 0.3 * rng.standard_normal((n, 3))
    bx, by, bz = 0.3, 0.2, -0.4
    mag = np.column_stack([np.full(n, bx), c * by + s * bz, -s * by + c * bz]) + 0.005 * rng.standard_normal((n, 3))
    first, second = (mag, gyro) if swap else (gyro, mag)
    unit = np.hstack([acc, first, second])
    chest = np.hstack([acc, 0.1 * rng.standard_normal((n, 2))])
    table = np.hstack([chest, unit, unit, np.ones((n, 1))])
    return "".join("\t".join(f"{v:.6g}" for v in row[:23]) + f"\t{int(row[23])}\n" for row in table)


def test_column_check_decides_gyro_and_mag(tmp_path: Path) -> None:
    root = tmp_path / "MHEALTHDATASET"
    root.mkdir()
    (root / "mHealth_subject1.log").write_text(_physical_log())
    (root / "mHealth_subject2.log").write_text(_physical_log(swap=True, seed=1))
    notes = mhealth.plan(root).notes
    checks = [n for n in notes if n.startswith("column check")]
    assert len(checks) == 4, notes
    for unit in ("left ankle", "right lower arm"):
        one = next(n for n in checks if n.startswith(f"column check subject 1 (mHealth_subject1.log), {unit}:"))
        two = next(n for n in checks if n.startswith(f"column check subject 2 (mHealth_subject2.log), {unit}:"))
        assert one.endswith("consistent with the README"), one
        assert "look SWAPPED" in two, two
    assert "README gyroscope columns 9-11" in checks[0] and "README magnetometer columns 12-14" in checks[0]


def test_card_says_the_column_assignment_is_unverified() -> None:
    fact = mhealth.CARD.facts["column_assignment"]
    assert "README's assignment, unverified" in fact and "swap" in fact
