"""PAMAP2: fixture archive -> fetch -> convert -> open, checked against the fixture's own text files."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.errors import FormatError
from imudata.registry import get
from tests.fixtures import pamap2 as fx

#: Channel -> 1-based column of the .dat, written out from the readme's table (not from the converter).
COLS = {"chest_hr": 3}
for _place, _first in (("hand", 4), ("chest", 21), ("ankle", 38)):
    COLS[f"{_place}_temp"] = _first
    for _i, _a in enumerate("xyz"):
        COLS[f"{_place}_acc_{_a}"] = _first + 1 + _i
        COLS[f"{_place}_acc6g_{_a}"] = _first + 4 + _i
        COLS[f"{_place}_gyro_{_a}"] = _first + 7 + _i
        COLS[f"{_place}_mag_{_a}"] = _first + 10 + _i
ORIENTATION = [c for first in (4, 21, 38) for c in range(first + 13, first + 17)]


def _parse(path: Path) -> np.ndarray:
    """The .dat file read by plain Python, independently of the converter."""
    rows = [[float(tok) for tok in line.split()] for line in path.read_text().splitlines() if line.strip()]
    assert all(len(r) == 54 for r in rows)
    return np.array(rows)


def _expected_sessions(root: Path) -> dict[tuple[str, str], np.ndarray]:
    """(subject, session) -> rows of the original file, using the fixture's splice table."""
    out = {}
    for (folder, subject), pieces in fx.PIECES.items():
        arr = _parse(root / folder / f"subject{subject}.dat")
        at = 0
        for k, (_start, segs) in enumerate(pieces, start=1):
            n = sum(rows for _, rows in segs)
            name = folder.lower() + ("" if k == 1 else f".{k}")
            out[(subject, name)] = arr[at:at + n]
            at += n
        assert at == len(arr)
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pamap2")
    archive = fx.make_archive(tmp / "download")
    root = tmp / "home"
    fetch("pamap2", root, from_path=archive, progress=False, log=lambda m: None)
    convert("pamap2", root, progress=False, log=lambda m: None)
    ds = imudata.open("pamap2", root)
    orig = fx.make(tmp / "orig")
    return ds, orig


def test_values_labels_time_match_the_original_columns(converted):
    ds, orig = converted
    df = ds.scan("imu").collect()
    expected = _expected_sessions(orig)
    got = {(s, n) for s, n in df.select("subject", "session").unique().iter_rows()}
    assert got == set(expected)
    stream = ds.card.stream("imu")
    for (subject, session), rows in expected.items():
        part = df.filter((pl.col("subject") == subject) & (pl.col("session") == session))
        assert len(part) == len(rows), (subject, session)
        for ch in stream.channels:
            want = rows[:, COLS[ch.name] - 1] * ch.scale
            have = part[ch.name].to_numpy().astype(np.float64)
            np.testing.assert_array_equal(np.isnan(have), np.isnan(want), err_msg=ch.name)
            ok = ~np.isnan(want)
            np.testing.assert_allclose(have[ok], want[ok], rtol=1e-6, atol=1e-6, err_msg=ch.name)
        lab = rows[:, 1].astype(int)
        assert part["label"].is_null().to_numpy().tolist() == (lab == 0).tolist()
        np.testing.assert_array_equal(part["label"].drop_nulls().to_numpy(), lab[lab != 0])
        np.testing.assert_allclose(part["t"].to_numpy(), rows[:, 0] - rows[0, 0], atol=1e-6)


def test_orientation_dropped_and_blocks_not_shifted(converted):
    ds, orig = converted
    names = [c.name for c in ds.card.stream("imu").channels]
    assert len(names) == 1 + 3 * 13
    assert not any("ori" in n or "quat" in n for n in names)
    df = ds.scan("imu").collect()
    # Distinctive per-block values: a block shifted by one column would land on orientation
    # values (|x| <= 1) or on another sensor's numbers.
    for place, lo, hi in (("hand", 28, 36), ("chest", 32, 38), ("ankle", 27, 33)):
        temp = df[f"{place}_temp"].drop_nans().to_numpy()
        assert lo < temp.min() and temp.max() < hi, place
    rest = df.filter(pl.col("label").is_in([1, 2, 3]))
    for place, axis in (("hand", "y"), ("chest", "y"), ("ankle", "x")):
        g = rest[f"{place}_acc_{axis}"].drop_nans().median()
        assert 8 < g < 10.5, (place, g)
    assert -75 < df["hand_mag_y"].drop_nans().median() < -60
    assert 38 < df["chest_mag_z"].drop_nans().median() < 48
    assert -65 < df["ankle_mag_x"].drop_nans().median() < -55
    # No stored value equals an orientation column value (they are random in the fixture).
    row = _parse(orig / "Protocol" / "subject105.dat")[5]
    first = df.filter((pl.col("subject") == "105") & (pl.col("session") == "protocol")).row(5, named=True)
    stored = {round(v, 4) for k, v in first.items() if k not in ("subject", "session", "t", "label")
              and v is not None and not math.isnan(v)}
    assert not stored & {round(row[c - 1], 4) for c in ORIENTATION}


def test_card_units_sparse_hr_and_placement(converted):
    ds, _ = converted
    card = ds.card
    assert card.subjects == ["101", "105", "108"]
    s = card.stream("imu")
    assert s.rate_hz == 100.0
    hr = s.channel("chest_hr")
    assert (hr.sensor, hr.unit, hr.sparse, hr.placement) == ("hr", "bpm", True, "chest")
    for place in ("hand", "chest", "ankle"):
        acc = s.channel(f"{place}_acc_x")
        acc6 = s.channel(f"{place}_acc6g_x")
        assert (acc.unit, acc.scale, acc.gravity, acc.range) == ("m/s²", 1.0, "included", "±16 g")
        assert (acc6.sensor, acc6.range) == ("acc", "±6 g")
        assert "recommend" in acc.description and "16 g" in acc6.description
        assert (s.channel(f"{place}_gyro_z").unit, s.channel(f"{place}_mag_z").unit) == ("rad/s", "µT")
        assert s.channel(f"{place}_temp").unit == "°C"
    assert "108" in card.facts["placement"] and "left" in card.facts["placement"]
    assert "108" in (s.channel("hand_acc_x").note or "")
    assert "heart_rate" in card.facts
    labels = card.label_map()
    assert sorted(labels) == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 24]
    assert labels[24].text == "jumping rope" and not any(lab.ignore for lab in labels.values())
    missing = card.completeness["missing"]
    assert len(missing) == 1 and missing[0].startswith("9 of 14")
    for absent in ("Protocol/subject102.dat", "Protocol/subject109.dat", "Optional/subject105.dat",
                   "Optional/subject109.dat"):
        assert absent in missing[0]
    assert "Protocol/subject101.dat" not in missing[0]


def test_heart_rate_stays_sparse_and_drops_stay_nan(converted):
    ds, _ = converted
    df = ds.scan("imu").collect()
    hr = df["chest_hr"].to_numpy()
    frac = np.isnan(hr).mean()
    assert 0.85 < frac < 0.95  # one row in eleven carries a reading; no fill
    chest_gone = df.filter(pl.col("chest_acc_x").is_nan() & pl.col("hand_acc_x").is_not_nan())
    assert len(chest_gone) > 0


def test_splices_split_sessions_and_restart_time(converted):
    ds, _ = converted
    df = ds.scan("imu").collect()
    s101 = df.filter(pl.col("subject") == "101")
    assert sorted(s101["session"].unique()) == ["optional", "protocol", "protocol.2"]
    p2 = s101.filter(pl.col("session") == "protocol.2")
    assert p2["t"][0] == 0.0 and abs(p2["t"][1] - 0.01) < 1e-9
    assert sorted(df.filter(pl.col("subject") == "108")["session"].unique()) == [
        "optional", "optional.2", "optional.3", "protocol"]
    for (_, _), part in df.group_by("subject", "session"):
        step = np.diff(part["t"].to_numpy())
        np.testing.assert_allclose(step, 0.01, atol=1e-6)


def test_partial_copy_and_bad_lines(tmp_path):
    spec = get("pamap2")
    root = fx.make(tmp_path / "copy")
    (root / "Optional" / "subject108.dat").unlink()
    plan = spec.plan(root)
    assert sorted(plan.subjects) == ["101", "105", "108"]
    assert plan.subjects["108"] == [("protocol", "Protocol/subject108.dat")]
    assert "Optional/subject108.dat" in plan.missing[0] and plan.missing[0].startswith("10 of 14")
    # A short line is an error naming the file and the line.
    f = root / "Protocol" / "subject105.dat"
    lines = f.read_text().splitlines()
    lines[6] = " ".join(lines[6].split()[:53])
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"subject105\.dat.*line 7"):
        list(spec.read(root, "105", plan.subjects["105"]))
    # An activity id the readme does not define.
    lines[6] = lines[7].split(" ", 2)[0] + " 8 " + lines[7].split(" ", 2)[2]
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"line 7: activityID 8"):
        list(spec.read(root, "105", plan.subjects["105"]))


def test_marker_finds_nested_root(tmp_path):
    archive = fx.make_archive(tmp_path / "dl")
    paths = fetch("pamap2", tmp_path / "home", from_path=archive, progress=False, log=lambda m: None)
    from imudata.fetch import find_marker
    found = find_marker(paths.extracted, get("pamap2").marker)
    assert (found / "Protocol" / "subject101.dat").exists()
    assert found.name == "PAMAP2_Dataset"
    shutil.rmtree(paths.base)
