"""DSADS: fixture archive with a segment gap, and the real files (units decided from the data)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets.dsads import UNITS

from .conftest import realdata
from .fixtures import dsads as fx

NAMES = [f"{u}_{s}_{a}" for u in UNITS for s in ("acc", "gyro", "mag") for a in "xyz"]


def _parse(path: Path) -> np.ndarray:
    return np.array([[float(v) for v in line.split(",")] for line in path.read_text().splitlines()])


def test_fixture_archive(tmp_path: Path, data_root: Path) -> None:
    fetch("dsads", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    card = convert("dsads", data_root, progress=False)
    assert card.subjects == ["1", "2"]
    df = imudata.open("dsads", data_root).scan().collect()
    sessions = df.group_by(["subject", "session"]).len().sort(["subject", "session"]).rows()
    # subject 1, a01 has s01, s02, s04: two sessions; subject 2, a12 starts at s05
    assert sessions == [("1", "a01", 250), ("1", "a01.s04", 125), ("1", "a12", 125),
                        ("2", "a01", 250), ("2", "a12.s05", 250)]
    data = tmp_path / "src" / "tree" / "dsads" / "data"
    want = np.vstack([_parse(data / "a01" / "p1" / f"s0{k}.txt") for k in (1, 2)])
    got = df.filter((pl.col("subject") == "1") & (pl.col("session") == "a01")).sort("t")
    np.testing.assert_allclose(got.select(NAMES).to_numpy(), want.astype(np.float32), rtol=1e-6)
    assert set(df.filter(pl.col("session").str.starts_with("a12"))["label"].unique()) == {12}
    mag = card.stream("imu").channel("torso_mag_x")
    assert mag.unit == "a.u." and mag.scale == 1.0


def test_real_dsads_values_and_units(data_root: Path) -> None:
    src = realdata("dsads")
    fetch("dsads", data_root, from_path=src, progress=False)
    card = convert("dsads", data_root, progress=False)
    assert card.subjects == [str(i) for i in range(1, 9)]
    df = imudata.open("dsads", data_root).scan().collect()
    assert df.height == 152 * 125
    assert df.group_by("subject").agg(pl.col("label").n_unique())["label"].to_list() == [19] * 8
    got = df.filter((pl.col("subject") == "3") & (pl.col("label") == 17)).sort("t")
    np.testing.assert_allclose(got.select(NAMES).to_numpy(),
                               _parse(src / "data" / "a17" / "p3" / "s01.txt").astype(np.float32), rtol=1e-6)
    # The unit decision (m/s², gravity included) would be caught here: while sitting (a01) every
    # unit's |acc| is about 9.81; in g it would be about 1, gravity-removed about 0.
    sitting = df.filter(pl.col("label") == 1)
    for u in UNITS:
        mag = np.sqrt(sum(sitting[f"{u}_acc_{a}"].to_numpy().astype(float) ** 2 for a in "xyz"))
        assert 9.3 < np.median(mag) < 10.3, u
