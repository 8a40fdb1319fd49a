"""Shoaib et al. 2014: a fixture folder (the extracted RAR) through fetch -> convert -> open."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import shoaib
from imudata.errors import FormatError, ManualDownloadRequired

from .fixtures import shoaib as fx

PLACES = {"Left_pocket": "leftpocket", "Right_pocket": "rightpocket", "Wrist": "wrist", "Upper_arm": "upperarm",
          "Belt": "belt"}
SENSOR = {"A": "acc", "L": "lacc", "G": "gyro", "M": "mag"}
IDS = {"walking": 0, "standing": 1, "jogging": 2, "sitting": 3, "biking": 4, "upstairs": 5, "downstairs": 6}


def _parse(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    body = rows[2:]
    cols: dict[str, list[float]] = {}
    for b, pos in enumerate(fx.POSITIONS):
        for k, field in enumerate(fx.FIELDS[1:], start=1):
            cols[f"{PLACES[pos]}_{SENSOR[field[0]]}_{field[1]}"] = [float(r[b * 14 + k]) for r in body]
    return {k: np.array(v) for k, v in cols.items()}, [r[69] for r in body]


def test_fixture_fetch_convert_open(tmp_path: Path, data_root: Path) -> None:
    folder = fx.make_archive(tmp_path / "src")
    fetch("shoaib", data_root, from_path=folder, progress=False)
    card = convert("shoaib", data_root, progress=False)
    assert card.subjects == ["1", "2", "3"]
    assert "7 of 10 participant files" in card.completeness["missing"][0]
    df = imudata.open("shoaib", data_root).scan("imu").collect()
    stream = card.stream("imu")
    assert len(stream.channels) == 60 and stream.rate_hz == 50.0
    for k, acts in fx.PARTICIPANTS.items():
        want, texts = _parse(folder / "DataSet" / f"Participant_{k}.csv")
        got = df.filter(pl.col("subject") == str(k))
        # sessions are written in natural order; rebuild the file order from the activity runs
        order = []
        seen: dict[str, int] = {}
        for act, _n in acts:
            name = {"upsatirs": "upstairs"}.get(act.strip().lower(), act.strip().lower())
            seen[name] = seen.get(name, 0) + 1
            order.append(name if seen[name] == 1 else f"{name}.{seen[name]}")
        assert sorted(got["session"].unique().to_list()) == sorted(order)
        parts = [got.filter(pl.col("session") == s).sort("t") for s in order]
        for p, (_act, n) in zip(parts, acts):
            assert p.height == n
            np.testing.assert_allclose(p["t"].to_numpy(), np.arange(n) / 50.0)
        cat = pl.concat(parts)
        for name, values in want.items():
            np.testing.assert_allclose(cat[name].to_numpy(), values.astype(np.float32), rtol=1e-6, err_msg=name)
        norm = [t.strip().lower().replace("upsatirs", "upstairs") for t in texts]
        np.testing.assert_array_equal(cat["label"].to_numpy(), [IDS[t] for t in norm])
    assert df.filter(pl.col("session") == "walking.2").height == 30
    labels = {lab.name: lab for lab in card.labels}
    assert labels["upstairs"].text == "walking upstairs" and labels["upstairs"].id == 5
    ch = stream.channel("belt_lacc_y")
    assert (ch.sensor, ch.unit, ch.gravity) == ("lacc", "m/s²", "removed")
    assert stream.channel("wrist_mag_z").unit == "µT" and "right wrist" in stream.channel("wrist_acc_x").description


def test_rar_needs_manual_extraction(data_root: Path) -> None:
    with pytest.raises(ManualDownloadRequired, match="RAR.*imudata fetch shoaib --from FOLDER"):
        fetch("shoaib", data_root, progress=False)


def test_header_and_label_errors(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    path = root / "DataSet" / "Participant_3.csv"
    text = path.read_text()
    path.write_text(text.replace("sitting", "lying", 1))
    with pytest.raises(FormatError, match="line 3: activity 'lying'"):
        shoaib.read_participant(path)
    path.write_text(text.replace("Upper_arm", "Upperarm", 1))
    with pytest.raises(FormatError, match="line 1, column 43: expected the position 'Upper_arm'"):
        shoaib.read_participant(path)
    lines = text.splitlines()
    lines[5] = lines[5].replace(",,", ",7,", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match="line 6, column 14: the separator column"):
        shoaib.read_participant(path)
