"""OPPORTUNITY: column/legend parsers on the real files, and a fixture archive through fetch -> convert -> open."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import opportunity as opp
from imudata.errors import FormatError

from .conftest import realdata, scan_with_clock
from .fixtures import opportunity as fx

G = 9.80665
# stored channel -> (1-based .dat column, factor), written out from the published column table
EXPECT = {
    "rkneeup_acc_x": (2, G / 1000), "hip_acc_y": (6, G / 1000), "back_acc_z": (19, G / 1000),
    "lwrist_acc_z": (34, G / 1000), "rhand_acc_x": (35, G / 1000), "rwrist_acc_y": (24, G / 1000),
    "imuback_acc_x": (38, 0.0098), "imuback_gyro_z": (43, 0.001), "imuback_mag_x": (44, 0.001),
    "imuback_ori_q1": (47, 0.001), "imurua_acc_y": (52, 0.0098), "imurla_gyro_x": (67, 0.001),
    "imulua_mag_z": (85, 0.001), "imulla_ori_q4": (102, 0.001),
    "imulshoe_ori_x": (103, math.pi / 180), "imulshoe_acc_navy": (107, 0.0098), "imulshoe_acc_x": (109, 0.0098),
    "imulshoe_gyro_x": (112, 0.001), "imulshoe_gyro_navz": (117, 0.001), "imulshoe_ori_compass": (118, math.pi / 180),
    "imurshoe_acc_z": (127, 0.0098), "imurshoe_ori_compass": (134, math.pi / 180),
}


def _parse_dat(path: Path) -> np.ndarray:
    return np.array([[float(v) for v in line.split(" ")] for line in path.read_text().splitlines()])


def test_parsers_on_real_files() -> None:
    src = realdata("opportunity") / "dataset"
    cols = opp.parse_column_names(src / "column_names.txt")
    assert len(cols) == 250 and cols[0].name == "MILLISEC" and cols[-1].name == "ML_Both_Arms"
    assert (cols[37].name, cols[37].formula, cols[37].unit) == (
        "InertialMeasurementUnit BACK accX", "round(original_value / 9.8 * 1000)", "milli g")
    assert [c.name for c in cols[134:137]] == ["Accelerometer CUP accX"] * 3  # duplicated names in the release
    cmap, label_col = opp.column_map(cols, src / "column_names.txt")
    assert len(cmap) == 133 and label_col == 243
    for name, (col, _) in EXPECT.items():
        assert cmap[name] == col - 1, name
    assert all(i < 134 for i in cmap.values())  # nothing from object/ambient/location columns
    legend = opp.parse_label_legend(src / "label_legend.txt")
    assert legend["Locomotion"] == {1: "Stand", 2: "Walk", 4: "Sit", 5: "Lie"}
    assert legend["ML_Both_Arms"][406516] == "Open Door 1" and len(legend["ML_Both_Arms"]) == 17
    assert sum(len(v) for v in legend.values()) == 4 + 5 + 13 + 23 + 13 + 23 + 17
    opp._check_legend(src / "label_legend.txt")
    # the fixture writes both files byte for byte as released
    assert fx.column_names_text() == (src / "column_names.txt").read_bytes()
    assert fx.label_legend_text() == (src / "label_legend.txt").read_bytes()


def test_changed_formula_fails(tmp_path: Path) -> None:
    path = tmp_path / "column_names.txt"
    path.write_bytes(fx.column_names_text().replace(
        b"Column: 41 InertialMeasurementUnit BACK gyroX; value = round(original_value * 1000), unit = unknown",
        b"Column: 41 InertialMeasurementUnit BACK gyroX; value = round(original_value * 100), unit = deg/s"))
    with pytest.raises(FormatError, match=r"column 41 .*expected 'value = round\(original_value \* 1000\)"):
        opp.column_map(opp.parse_column_names(path), path)


def test_fixture_archive_fetch_convert_open(tmp_path: Path, data_root: Path) -> None:
    fetch("opportunity", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    card = convert("opportunity", data_root, progress=False)
    assert card.subjects == ["S1", "S2"]
    assert "21 of 24 runs" in card.completeness["missing"][0]
    df = scan_with_clock("opportunity", data_root)
    stream = card.stream("imu")
    assert len(stream.channels) == 133 and stream.rate_hz == 30.0
    data = tmp_path / "src" / "tree" / "OpportunityUCIDataset" / "dataset"
    sessions = {"S1-ADL1": ["ADL1"], "S1-Drill": ["Drill", "Drill.2"], "S2-ADL1": ["ADL1"]}
    for run, names in sessions.items():
        raw = _parse_dat(data / f"{run}.dat")
        got = df.filter((pl.col("subject") == run[:2]) & pl.col("session").is_in(names)).sort("clock")
        assert got.height == len(raw)
        np.testing.assert_allclose(got["clock"].to_numpy(), raw[:, 0] / 1000)
        for name, (col, factor) in EXPECT.items():
            np.testing.assert_allclose(got[name].to_numpy(), (raw[:, col - 1] * factor).astype(np.float32),
                                       rtol=1e-6, equal_nan=True, err_msg=f"{run} {name}")
        loco = raw[:, 243]
        np.testing.assert_array_equal(got["label"].fill_null(-1).to_numpy(), np.where(loco == 0, -1, loco))
    drill2 = df.filter((pl.col("subject") == "S1") & (pl.col("session") == "Drill.2"))
    assert drill2.height == fx.RUNS["S1-Drill"] - fx.GAP[1]
    s1 = df.filter((pl.col("subject") == "S1") & (pl.col("session") == "ADL1")).sort("clock")
    assert s1["rkneeup_acc_x"][20:45].is_nan().all() and not s1["rkneeup_acc_x"][:20].is_nan().any()
    assert [lab.name for lab in card.labels] == ["Stand", "Walk", "Sit", "Lie"]
    assert stream.channel("imuback_mag_x").unit == "a.u."
    assert "mm/s" in stream.channel("imurshoe_gyro_y").note
    assert "motion jacket" in stream.channel("imuback_acc_x").description
