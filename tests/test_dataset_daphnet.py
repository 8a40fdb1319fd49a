"""Daphnet FoG: a fixture archive through fetch -> convert -> open, and four real runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

import imudata
from imudata import registry
from imudata.acquire import fetch
from imudata.convert import convert

from .conftest import realdata, scan_with_clock
from .fixtures import daphnet as fx

G = 9.80665
NAMES = [f"{s}_acc_{a}" for s in ("ankle", "thigh", "back") for a in "xyz"]


def _parse(path: Path) -> np.ndarray:
    return np.array([[int(v) for v in line.split(" ")] for line in path.read_text().splitlines()], dtype=np.int64)


def _expected(raw: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for k, s in enumerate(("ankle", "thigh", "back")):
        block = raw[:, 1 + 3 * k:4 + 3 * k].astype(float) * G / 1000
        dead = (raw[:, 1 + 3 * k:4 + 3 * k] == 0).all(axis=1)
        block[dead] = np.nan
        for i, a in enumerate("xyz"):
            out[f"{s}_acc_{a}"] = block[:, i]
    return out


def _check_run(df: pl.DataFrame, raw: np.ndarray, subject: str, sessions: list[str]) -> None:
    got = df.filter((pl.col("subject") == subject) & pl.col("session").is_in(sessions)).sort("clock")
    assert got.height == len(raw)
    want = _expected(raw)
    for name in NAMES:
        np.testing.assert_allclose(got[name].to_numpy(), want[name].astype(np.float32), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(got["clock"].to_numpy(), raw[:, 0] / 1000.0)
    np.testing.assert_array_equal(got["label"].to_numpy(), raw[:, 10])  # 0 is a real (ignored) label, never null


def test_fixture_archive_fetch_convert_open(tmp_path: Path, data_root: Path) -> None:
    assert registry.get("daphnet-fog").id == "daphnet"
    fetch("daphnet", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    card = convert("daphnet", data_root, progress=False)
    assert card.subjects == ["S01", "S02", "S03"]
    assert "13 of 17 runs" in card.completeness["missing"][0]
    df = scan_with_clock("daphnet", data_root)
    data = tmp_path / "src" / "tree" / "dataset_fog_release" / "dataset"
    sessions = {"S01R01": ["R01"], "S01R02": ["R02"], "S02R01": ["R01", "R01.2"], "S03R03": ["R03"]}
    for run, names in sessions.items():
        _check_run(df, _parse(data / f"{run}.txt"), run[:3], names)
    gap = df.filter((pl.col("subject") == "S02") & (pl.col("session") == "R01.2"))
    assert gap.height == fx.RUNS["S02R01"] - fx.GAP[1]
    assert df.height == sum(fx.RUNS.values())
    # 0 0 0 triples became NaN, a partial zero did not
    s1 = df.filter((pl.col("subject") == "S01") & (pl.col("session") == "R01")).sort("clock")
    assert s1["thigh_acc_x"][:37].is_nan().all() and not s1["thigh_acc_x"][37:].is_nan().any()
    assert s1["ankle_acc_y"][100] == 0.0 and not np.isnan(s1["ankle_acc_x"][100])
    s3 = df.filter(pl.col("subject") == "S03").sort("clock")
    assert s3["thigh_acc_z"][300:].is_nan().all() and not s3["ankle_acc_z"][300:].is_nan().any()
    labels = {lab.id: lab for lab in card.labels}
    assert labels[0].ignore and not labels[1].ignore and not labels[2].ignore
    assert "freezing of gait" in labels[2].text
    ch = card.stream("imu").channel("back_acc_y")
    assert (ch.unit, ch.source_unit, ch.gravity) == ("m/s²", "milli-g", "included")
    assert abs(ch.scale - G / 1000) < 1e-15
    assert card.stream("imu").rate_hz == 64.0


def test_real_daphnet(data_root: Path) -> None:
    src = realdata("daphnet")
    fetch("daphnet", data_root, from_path=src, progress=False)
    card = convert("daphnet", data_root, progress=False)
    assert card.subjects == ["S01", "S03", "S06", "S07"]
    df = scan_with_clock("daphnet", data_root)
    for run in ("S01R02", "S03R02", "S06R02", "S07R02"):
        raw = _parse(src / "dataset" / f"{run}.txt")
        _check_run(df, raw, run[:3], [run[3:]])
    assert df["session"].unique().to_list() == ["R02"]  # no timestamp gaps in the real runs
    s6 = df.filter(pl.col("subject") == "S06")
    assert 2 not in s6["label"].unique().to_list()  # S06R02 has no freeze
    assert df.filter(pl.col("subject") == "S01")["label"].value_counts().height == 3
    # gravity check: |acc| during the experiment is about 1 g on every sensor
    exp = df.filter(pl.col("label") == 1)
    for s in ("ankle", "thigh", "back"):
        mag = np.sqrt(sum(exp[f"{s}_acc_{a}"].to_numpy().astype(float) ** 2 for a in "xyz"))
        assert 9.4 < np.nanmedian(mag) < 10.6, s
    # the first rows of the S01R02 trunk sensor are 0 0 0 in the file: stored as missing
    s1 = df.filter(pl.col("subject") == "S01").sort("clock")
    assert s1["back_acc_x"][:403].is_nan().all() and not np.isnan(s1["back_acc_x"][403])
