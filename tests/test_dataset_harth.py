"""HARTH: a fixture archive through fetch -> convert -> open, with the extra-column and float-label quirks."""
from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata

from .conftest import scan_with_clock
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import harth
from imudata.errors import FormatError

from .fixtures import harth as fx

G = 9.80665
SIGNALS = ["back_x", "back_y", "back_z", "thigh_x", "thigh_y", "thigh_z"]


def _parse(path: Path) -> dict[str, list]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, list] = {k: [] for k in ["t", "label", *SIGNALS]}
    for r in rows:
        dt = datetime.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
        out["t"].append(dt.timestamp())
        out["label"].append(int(float(r["label"])))
        for c in SIGNALS:
            out[c].append(float(r[c]))
    return out


def test_fixture_archive_fetch_convert_open(tmp_path: Path, data_root: Path) -> None:
    fetch("harth", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    card = convert("harth", data_root, progress=False)
    assert card.subjects == ["S006", "S015", "S023"]
    assert "19 of 22 subject files" in card.completeness["missing"][0]
    df = scan_with_clock("harth", data_root)
    assert df.height == sum(fx.SUBJECTS.values())
    for subj in fx.SUBJECTS:
        want = _parse(tmp_path / "src" / "tree" / "harth" / f"{subj}.csv")
        got = df.filter(pl.col("subject") == subj).sort("clock")
        np.testing.assert_allclose(got["clock"].to_numpy(), want["t"], rtol=0, atol=1e-6)
        for c in SIGNALS:
            sensor, axis = c.split("_")
            np.testing.assert_allclose(got[f"{sensor}_acc_{axis}"].to_numpy(),
                                       (np.array(want[c]) * G).astype(np.float32), rtol=1e-6)
        np.testing.assert_array_equal(got["label"].to_numpy(), want["label"])
    sessions = df.select("subject", "session").unique().sort("subject", "session").rows()
    assert sessions == [("S006", "S006"), ("S015", "S015"), ("S015", "S015.2"), ("S023", "S023")]
    assert df.filter(pl.col("session") == "S015.2").height == fx.SUBJECTS["S015"] - fx.GAP[1]
    assert "index" not in df.columns and df.width == 3 + 6 + 1 + 1  # + the test's own clock column
    # time of day is kept: the first S006 sample is 10:30:00 on 2019-01-12
    first = df.filter(pl.col("subject") == "S006")["clock"].min()
    assert datetime.fromtimestamp(first, tz=timezone.utc) == datetime(2019, 1, 12, 10, 30, tzinfo=timezone.utc)
    ch = card.stream("imu").channel("thigh_acc_x")
    assert (ch.unit, ch.source_unit, ch.range, ch.scale) == ("m/s²", "g", "±8 g", G)
    assert df["thigh_acc_x"].min() == pytest.approx(-8 * G, rel=1e-6)
    assert {lab.id for lab in card.labels} == set(fx.LABEL_IDS)
    assert card.stream("imu").rate_hz == 50.0


def test_bad_label_and_timestamp(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    path = root / "S023.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",9"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"line 4: label 9 is not one of the HARTH ids"):
        harth.read_file(path)
    lines[3] = "1,12/01/2019 10:30,0,0,0,0,0,0,1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match="line 4: timestamp"):
        harth.read_file(path)
