"""RealWorld 2016: nested-zip fixture through fetch -> convert -> open; every channel checked against its own file."""
from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata

from .conftest import scan_with_clock
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import realworld as rw
from imudata.errors import FormatError

from .fixtures import realworld as fx

SENSOR = {"acc": "acc", "Gyroscope": "gyro", "MagneticField": "mag"}
IDS = {"climbingdown": 0, "climbingup": 1, "jumping": 2, "lying": 3, "running": 4, "sitting": 5, "standing": 6,
       "walking": 7}


def _walk(data: bytes) -> dict[str, bytes]:
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            if name.endswith(".zip"):
                out.update({f"{name}/{k}": v for k, v in _walk(zf.read(name)).items()})
            elif name.endswith(".csv"):
                out[name] = zf.read(name)
    return out


def _sources(proband_dir: Path, act: str) -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]:
    """(position, sensor, inner zip or '') -> (t ms, values) read from the fixture's zips."""
    found = {}
    for z in ("acc", "gyr", "mag"):
        for name, data in _walk((proband_dir / "data" / f"{z}_{act}_csv.zip").read_bytes()).items():
            rows = list(csv.reader(io.StringIO(data.decode())))
            assert rows[0] == ["id", "attr_time", "attr_x", "attr_y", "attr_z"]
            arr = np.array([[float(v) for v in r] for r in rows[1:]])
            base = name.rsplit("/", 1)[-1][:-4].split("_")
            inner = name.rsplit("/", 1)[0] if "/" in name else ""
            found[(base[-1], SENSOR[base[0]], inner)] = (arr[:, 1], arr[:, 2:])
    return found


def _expected(t: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    ut = np.unique(t)
    uv = np.array([v[t == x].mean(axis=0) for x in ut])
    out = np.full((len(grid), 3), np.nan)
    for i, g in enumerate(grid):
        if g < ut[0] or g > ut[-1]:
            continue
        j = np.searchsorted(ut, g)
        if ut[j] == g:
            out[i] = uv[j]
        elif ut[j] - ut[j - 1] <= 100:
            w = (g - ut[j - 1]) / (ut[j] - ut[j - 1])
            out[i] = uv[j - 1] + w * (uv[j] - uv[j - 1])
    return out


def _check(df: pl.DataFrame, subject: str, session: str, act: str,
           files: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> None:
    got = df.filter((pl.col("subject") == subject) & (pl.col("session") == session)).sort("clock")
    lo = min(t[0] for t, _ in files.values())
    hi = max(t[-1] for t, _ in files.values())
    grid = np.arange(np.ceil(lo / 20) * 20, np.floor(hi / 20) * 20 + 1, 20)
    np.testing.assert_allclose(got["clock"].to_numpy() * 1000, grid, atol=1e-3)
    assert set(got["label"].to_list()) == {IDS[act]}
    for pos in fx.POSITIONS:
        for sensor in ("acc", "gyro", "mag"):
            names = [f"{pos}_{sensor}_{a}" for a in "xyz"]
            stored = got.select(names).to_numpy()
            if (pos, sensor) not in files:
                assert np.isnan(stored).all(), (session, pos, sensor)
                continue
            t, v = files[(pos, sensor)]
            want = _expected(t, v, grid)
            np.testing.assert_allclose(stored, want.astype(np.float32), rtol=1e-5, atol=1e-5, equal_nan=True,
                                       err_msg=f"{subject} {session} {pos} {sensor}")


def test_fixture_archive_fetch_convert_open(tmp_path: Path, data_root: Path) -> None:
    fetch("realworld", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    extracted = data_root / "realworld" / "raw" / "extracted"
    assert list(extracted.rglob("acc_climbingup_csv.zip")), "per-activity zips must stay packed (keep_nested)"
    card = convert("realworld", data_root, progress=False)
    assert card.subjects == ["1", "2", "4"]
    assert "12 of 15 probands" in card.completeness["missing"][0]
    df = scan_with_clock("realworld", data_root)
    assert sorted(df.select("subject", "session").unique().rows()) == [
        ("1", "sitting"), ("1", "walking"), ("2", "climbingup"), ("4", "climbingup.1"), ("4", "climbingup.2"),
        ("4", "walking")]
    tree = tmp_path / "src" / "tree" / "realworld2016_dataset"
    for subject, act in [("1", "walking"), ("1", "sitting"), ("2", "climbingup"), ("4", "walking")]:
        src = _sources(tree / f"proband{subject}", act)
        _check(df, subject, act, act, {(p, s): tv for (p, s, _), tv in src.items()})
    src = _sources(tree / "proband4", "climbingup")
    for seg in (1, 2):
        files = {(p, s): tv for (p, s, inner), tv in src.items()
                 if (f"_{seg}_csv.zip" in inner) or (seg == 1 and inner.endswith(("gyr_climbingup_csv.zip",
                                                                                  "mag_climbingup_csv.zip")))}
        assert len(files) == 21
        _check(df, "4", f"climbingup.{seg}", "climbingup", files)
    # the dropout: NaN in that one channel only, inside the session
    walk = df.filter((pl.col("subject") == "1") & (pl.col("session") == "walking")).sort("clock")
    inner = walk.filter(pl.col("shin_acc_x").is_not_nan() & pl.col("chest_gyro_x").is_not_nan())
    gap = inner["shin_gyro_x"].is_nan()
    assert 15 <= gap.sum() <= 21  # 400 ms without samples, minus the 100 ms interpolation allowance
    first = int(gap.arg_true()[0])
    assert gap[first:first + int(gap.sum())].all()  # one contiguous run
    stream = card.stream("imu")
    assert stream.rate_hz == 50.0 and len(stream.channels) == 63
    assert stream.channel("forearm_mag_x").unit == "µT"
    assert "smartwatch" in stream.channel("forearm_acc_x").description
    assert {lab.name: lab.text for lab in card.labels}["climbingup"] == "walking upstairs"


def test_resample_method() -> None:
    t = np.array([0, 20, 40, 41, 300, 320], dtype=np.int64)
    v = np.arange(12, dtype=float).reshape(6, 2)
    grid = np.array([-20, 0, 10, 40, 60, 200, 300, 310, 340])
    out = rw.resample(t, v, grid)
    np.testing.assert_allclose(out[:, 0], [np.nan, 0, 1, 4, np.nan, np.nan, 8, 9, np.nan], equal_nan=True)
    assert rw.coverage(t) == [(0, 41), (300, 320)]


def test_bad_member_name(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    data = root / "proband1" / "data"
    with zipfile.ZipFile(data / "acc_sitting_csv.zip", "w") as zf:
        zf.writestr("acc_sitting_belly.csv", b"id,attr_time,attr_x,attr_y,attr_z\n1,1,0,0,9.8\n")
    with pytest.raises(FormatError, match="acc_sitting_belly.csv: expected acc_sitting"):
        list(rw.read(root, "1", rw.plan(root).subjects["1"]))
