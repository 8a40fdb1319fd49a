"""WISDM 2019: fixture archive -> fetch -> convert -> open; real activity_key.txt and ARFF files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import wisdm19
from imudata.errors import FormatError
from tests.conftest import realdata, with_clock
from tests.fixtures import wisdm19 as fx

LETTER_ID = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRS", start=1)}  # N (14) is unused


def _parse(path: Path) -> list[list[str]]:
    return [line.rstrip(";").split(",") for line in path.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wisdm19")
    archive = fx.make_archive(tmp / "download")
    root = tmp / "home"
    fetch("wisdm-2019", root, from_path=archive, progress=False, log=lambda m: None)
    card = convert("wisdm19", root, progress=False, log=lambda m: None)
    return card, imudata.open("wisdm19", root), tmp / "download" / "tree" / "wisdm-dataset"


def test_streams_sessions_values(converted):
    card, ds, orig = converted
    assert card.subjects == ["1600", "1601", "1602"]
    assert "195 of 204 raw files" in card.completeness["missing"][0]
    assert [s.name for s in card.streams] == ["phone_acc", "phone_gyro", "watch_acc", "watch_gyro"]
    expected = fx.expected()
    frames = {s: with_clock(ds.scan(s).collect(), ds.card, s) for s in ds.streams}
    got = {(subj, s) for s, df in frames.items() for subj in df["subject"].unique()}
    assert got == set(expected)
    for (subj, stream), sessions in expected.items():
        device, sensor = stream.split("_")
        sensor_file = "accel" if sensor == "acc" else "gyro"
        rows = _parse(orig / "raw" / device / sensor_file / f"data_{subj}_{sensor_file}_{device}.txt")
        df = frames[stream].filter(pl.col("subject") == subj)
        assert sorted(df["session"].unique()) == sorted(n for n, _, _ in sessions)
        place = "pocket" if device == "phone" else "wrist"
        for name, letter, idx in sessions:
            part = df.filter(pl.col("session") == name)
            assert part.height == len(idx), (subj, stream, name)
            want = np.array([[float(v) for v in rows[i][3:6]] for i in idx])
            for j, a in enumerate("xyz"):
                np.testing.assert_allclose(part[f"{place}_{sensor}_{a}"].to_numpy(), want[:, j].astype(np.float32),
                                           rtol=1e-6)
            np.testing.assert_allclose(part["clock"].to_numpy(), [int(rows[i][2]) / 1e9 for i in idx], rtol=0, atol=1e-9)
            assert set(part["label"].to_list()) == {LETTER_ID[letter]}
            assert all(rows[i][1] == letter for i in idx)
    # the duplicate line is gone: stored rows = distinct lines
    total = sum(len(idx) for v in expected.values() for _, _, idx in v)
    assert sum(df.height for df in frames.values()) == total
    for s in card.streams:
        assert s.rate_hz == 20.0
        for ch in s.channels:
            assert ch.scale == 1.0
            assert ch.unit == ("m/s²" if ch.sensor == "acc" else "rad/s")
    labels = {lab.id: lab.name for lab in card.labels}
    assert 14 not in labels and labels[1] == "walking" and labels[19] == "folding" and len(labels) == 18


def test_bad_line_and_wrong_time_unit(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    f = root / "raw" / "watch" / "gyro" / "data_1601_gyro_watch.txt"
    lines = f.read_text().splitlines()
    lines[6] = lines[6].replace(",M,", ",N,")  # there is no activity N
    f.write_text("\n".join(lines) + "\n")
    plan = wisdm19.plan(root)
    with pytest.raises(FormatError, match=r"data_1601_gyro_watch.txt: line 7"):
        list(wisdm19.read(root, "1601", plan.subjects["1601"]))
    g = root / "raw" / "watch" / "accel" / "data_1600_accel_watch.txt"
    rows = [line.split(",") for line in g.read_text().splitlines()]
    g.write_text("".join(",".join(r[:2] + [str(int(r[2]) // 10**6)] + r[3:]) + "\n" for r in rows))  # ms, not ns
    with pytest.raises(FormatError, match="expected nanoseconds"):
        list(wisdm19.read(root, "1600", plan.subjects["1600"]))


def test_real_activity_key() -> None:
    key = wisdm19.read_activity_key(realdata("wisdm") / "activity_key.txt")
    assert len(key) == 18 and "N" not in key
    assert key["A"] == "walking" and key["G"] == "teeth" and key["S"] == "folding"
    assert {lab.id: lab.name for lab in wisdm19.LABELS} == {wisdm19.label_id(k): v for k, v in key.items()}
    wisdm19._check_key(realdata("wisdm") / "activity_key.txt")  # the converter accepts the real file


def _arff(path: Path) -> tuple[list[str], list[list[str]]]:
    attrs, rows, data = [], [], False
    for line in path.read_text().splitlines():
        if line.lower().startswith("@attribute"):
            attrs.append(line.split()[1].strip('"'))
        elif line.lower().startswith("@data"):
            data = True
        elif data and line.strip():
            rows.append(line.split(","))
    return attrs, rows


def test_real_arff_units_agree_with_the_card() -> None:
    """Window averages of the real ARFFs: |acc| about 1 g in the card's unit; letters in the label table."""
    src = realdata("wisdm") / "arff_files"
    for device in ("phone", "watch"):
        for subj in ("1600", "1601"):
            attrs, rows = _arff(src / device / "accel" / f"data_{subj}_accel_{device}.arff")
            assert {r[0] for r in rows} <= set(wisdm19.ACTIVITIES)
            assert {r[-1] for r in rows} == {subj}
            avg = np.array([[float(r[attrs.index(a)]) for a in ("XAVG", "YAVG", "ZAVG")]
                            for r in rows if r[0] in "DE"])  # sitting, standing
            scale = imudata.registry.get("wisdm19").card.stream(f"{device}_acc").channel(
                "pocket_acc_x" if device == "phone" else "wrist_acc_x").scale
            assert 8.8 < np.median(np.linalg.norm(avg, axis=1)) * scale < 10.8
            _, grows = _arff(src / device / "gyro" / f"data_{subj}_gyro_{device}.arff")
            res = np.array([float(r[-2]) for r in grows if r[0] in "AB"])  # walking, jogging
            gscale = imudata.registry.get("wisdm19").card.stream(f"{device}_gyro").channels[0].scale
            # rad/s: about 1 (pocket) to 4 (wrist) while walking/jogging; read as deg/s it would be < 0.1 rad/s
            assert 0.5 < np.median(res) * gscale < 10


def test_real_arff_only_copy_says_why(tmp_path: Path, data_root: Path) -> None:
    """The real copy holds arff_files/ only: the error carries the converter's own reason, the known
    hashes confirm the .arff files are originals, and `info` shows the layout that would be read."""
    from imudata import registry
    from imudata.info import render, summary

    src = realdata("wisdm")
    said: list[str] = []
    fetch("wisdm19", data_root, from_path=src, progress=False, log=said.append)
    arffs = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.arff"))
    assert arffs and all(f"wisdm19: {a}: matches the known original" in said for a in arffs)
    assert "wisdm19: README.txt: no known hash" in said
    with pytest.raises(FormatError, match=r"no subject data found under .*; missing from this copy: raw/ \(no raw "
                                          r"sensor files; arff_files/ hold only window features\); expected the "
                                          r"original layout shown by `imudata info wisdm19`"):
        convert("wisdm19", data_root, progress=False, log=lambda m: None)
    text = render(summary(registry.get("wisdm19"), data_root))
    assert "expected original files:" in text
    assert "raw/watch/gyro/data_<id>_gyro_watch.txt" in text
