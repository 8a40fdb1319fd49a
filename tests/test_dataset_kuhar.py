"""KU-HAR: fixture archive -> fetch -> convert -> open; real raw files decide units and time base."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import kuhar
from imudata.errors import FormatError
from tests.conftest import realdata, scan_with_clock
from tests.fixtures import kuhar as fx

ACC = [f"waist_acc_{a}" for a in "xyz"]
GYRO = [f"waist_gyro_{a}" for a in "xyz"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kuhar")
    root = tmp / "home"
    fetch("ku-har", root, from_path=fx.make_archive(tmp / "download"), progress=False, log=lambda m: None)
    card = convert("kuhar", root, progress=False, log=lambda m: None)
    return card, scan_with_clock("kuhar", root)


def test_fixture_values_on_the_100hz_grid(converted):
    card, df = converted
    assert card.subjects == ["1001", "1013", "1101"]
    assert "1940 of 1945 raw recordings" in card.completeness["missing"][0]
    tables = fx.rows()
    for folder, name, _dur, q in fx.FILES:
        cls = int(folder.split(".")[0])
        subject = name.split("_")[0]
        stem = f"{cls:02d}-{name[:-4]}"
        part = df.filter((pl.col("subject") == subject) & pl.col("session").str.starts_with(stem)).sort("clock")
        assert part.height > 0, stem
        assert set(part["label"].to_list()) == {cls}  # from the folder, not the letter
        t = part["clock"].to_numpy()
        k = np.round(t * 100)
        np.testing.assert_allclose(t * 100, k, atol=1e-6)  # on multiples of 10 ms of the file's clock
        tab = tables[f"{folder}/{name}"]
        for sensor, names, tcol in (("acc", ACC, 0), ("gyro", GYRO, 4)):
            raw_t = tab[:, tcol][tab[:, tcol] > 0]
            vals = part.select(names).to_numpy().astype(float)
            ok = ~np.isnan(vals[:, 0])
            want = fx.signal(cls, sensor, t[ok])
            amp = np.abs(fx.signal(cls, sensor, np.linspace(0, 2, 50))).max()
            np.testing.assert_allclose(vals[ok], want, atol=0.01 * amp + 1e-6, err_msg=f"{stem} {sensor}")
            # covered exactly from the first to the last real sample (padding rows excluded)
            assert t[ok].min() == pytest.approx(np.ceil(raw_t.min() * 100 - 1e-6) / 100)
            assert t[ok].max() == pytest.approx(np.floor(raw_t.max() * 100 + 1e-6) / 100)
            hole = q.get("hole_gyro") if sensor == "gyro" else None
            start = min(tab[0, 0], tab[0, 4])
            if hole:  # gyroscope NaN inside its own hole, accelerometer present there
                inside = (t > start + hole[0] + 0.02) & (t < start + hole[1] - 0.02)
                assert inside.any() and np.isnan(vals[inside, 0]).all()
                assert not np.isnan(part.select(ACC).to_numpy()[inside]).any()
            elif "hole_both" not in q:
                span = (t >= raw_t.min()) & (t <= raw_t.max())
                assert not np.isnan(vals[span]).any()
        sessions = sorted(part["session"].unique())
        assert sessions == ([stem, f"{stem}.2"] if "hole_both" in q else [stem])
    assert card.stream("imu").rate_hz == 100.0
    ch = card.stream("imu").channel("waist_acc_x")
    assert ch.gravity == "removed" and ch.unit == "m/s²" and ch.scale == 1.0


def test_trimmed_copy_and_bad_folder_are_refused(tmp_path: Path) -> None:
    root = fx.make(tmp_path / "a")
    trimmed = root.parent / "2.Trimmed_interpolated_data"
    root.rename(trimmed)
    with pytest.raises(FormatError, match="trimmed"):
        kuhar.plan(trimmed)
    root = fx.make(tmp_path / "b")
    (root / "18.Dance").mkdir()
    with pytest.raises(FormatError, match="18.Dance"):
        kuhar.plan(root)


def test_real_files_units_gravity_and_time(data_root: Path) -> None:
    """The unit decision, checked on the real raw files through the converter.

    At rest |acc| must be near 0 (gravity removed); a 'gravity included' card would need ≈9.81,
    a card in g ≈1. Walking/stairs p99 |acc| of 5-60 m/s² rules out values in g (x 9.81 would
    give 50-500). Gyro in rad/s: walking median |ω| 0.3-5 (as deg/s it would be 0.005-0.04).
    """
    src = realdata("kuhar")
    fetch("kuhar", data_root, from_path=src, progress=False, log=lambda m: None)
    card = convert("kuhar", data_root, progress=False, log=lambda m: None)
    assert card.subjects == ["1004", "1024", "1038"]
    df = scan_with_clock("kuhar", data_root)
    stream = card.stream("imu")

    def mag(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
        v = frame.select(names).to_numpy().astype(float)
        return np.linalg.norm(v[~np.isnan(v).any(axis=1)], axis=1)

    rest = df.filter(pl.col("label").is_in([0, 1, 5]))
    moving = df.filter(pl.col("label").is_in([11, 15, 16]))
    acc_rest = np.median(mag(rest, ACC))
    if stream.channel("waist_acc_x").gravity == "removed":
        assert acc_rest < 0.5
    else:
        assert 9.3 < acc_rest < 10.3
    assert 5 < np.percentile(mag(moving, ACC), 99) < 60
    assert 0.3 < np.median(mag(moving, GYRO)) < 5
    assert np.median(mag(rest, GYRO)) < 0.1
    # time base: seconds. 0.Stand/1004_A_1.csv: gyro from 4.994 s, acc from 5.001 s, both to about 64.99 s
    stand = df.filter((pl.col("subject") == "1004") & (pl.col("session") == "00-1004_A_1"))
    assert stand["clock"].min() == pytest.approx(5.0) and stand["clock"].max() == pytest.approx(64.99)
    assert np.isnan(stand["waist_acc_x"][0]) and not np.isnan(stand["waist_gyro_x"][0])
    assert np.allclose(np.diff(stand["clock"].to_numpy()), 0.01)
    stand = stand.filter(pl.col("waist_acc_x").is_not_nan())
    assert stand["clock"].min() == pytest.approx(5.01)
    # stored values lie between the raw neighbours of each grid time (linear interpolation)
    raw = np.loadtxt(src / "1.Raw_time_domian_data" / "0.Stand" / "1004_A_1.csv", delimiter=",")
    order = np.argsort(raw[:, 0], kind="stable")
    ta, xa = raw[order, 0], raw[order, 1]
    t = stand["clock"].to_numpy()
    i = np.clip(np.searchsorted(ta, t), 1, len(ta) - 1)
    lo, hi = np.minimum(xa[i - 1], xa[i]), np.maximum(xa[i - 1], xa[i])
    x = stand["waist_acc_x"].to_numpy()
    assert np.all((x >= lo - 1e-6) & (x <= hi + 1e-6))
    assert df.select(pl.col("session").n_unique()).item() >= 18


def _write(path: Path, ta: np.ndarray, tg: np.ndarray, cls: int) -> None:
    """One raw recording in the release's 8-column layout (plain decimals)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(len(ta), len(tg))
    tab = np.zeros((n, 8))
    tab[:len(ta), 0], tab[:len(ta), 1:4] = ta, fx.signal(cls, "acc", ta)
    tab[:len(tg), 4], tab[:len(tg), 5:8] = tg, fx.signal(cls, "gyro", tg)
    path.write_text("".join(",".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in row) + "\n" for row in tab))


def _bursty(start: float, dur: float) -> np.ndarray:
    """The pattern of real stairs recordings of users past 1100: three samples 2 ms apart, then a gap,
    on a millisecond clock; mean rate 103 Hz, median step 2 ms after de-duplication."""
    period = np.array([0.0, 0.002, 0.004])
    t = np.concatenate([start + 0.029 * k + period for k in range(int(dur / 0.029))])
    return np.round(t, 3)


def test_bursty_clock_converts_and_a_bad_clock_is_noted(tmp_path: Path, data_root: Path) -> None:
    root = fx.make(tmp_path / "src")
    ta, tg = _bursty(5.0, 3.0), _bursty(5.001, 3.0)
    steps = np.diff(ta)
    assert abs(np.median(steps) - 0.002) < 1e-9  # the edge of the old median check, which floating point decides
    assert 100 < (len(ta) - 1) / (ta[-1] - ta[0]) < 110
    _write(root / "16.Stair-down" / "1102_D_1.csv", ta, tg, 16)
    # a recording whose clock is in milliseconds, not seconds: skipped with a note, nothing else stops
    ms = np.round(np.arange(300) * 10.0 + 5000.0, 3)
    _write(root / "0.Stand" / "1005_A_1.csv", ms, ms, 0)
    fetch("kuhar", data_root, from_path=root, progress=False, log=lambda m: None)
    card = convert("kuhar", data_root, progress=False, log=lambda m: None)
    assert "1102" in card.subjects and "1005" not in card.subjects
    assert {"1001", "1013", "1101"} <= set(card.subjects)
    notes = card.completeness["notes"]
    assert any(n.startswith("0.Stand/1005_A_1.csv: not converted, its clock cannot be trusted: accelerometer time "
                            "(column 1): no two samples within 0.1 s") for n in notes), notes
    df = imudata.open("kuhar", data_root).scan("imu").collect()
    part = df.filter(pl.col("session") == "16-1102_D_1")
    tgrid = 5.0 + part["t"].to_numpy()  # the grid starts at the first multiple of 10 ms, 5.00 s
    assert len(part) == int(np.floor(tg[-1] * 100 + 1e-6)) - 500 + 1  # 5.00 s ... the last 10-ms tick
    np.testing.assert_allclose(part.select(ACC).to_numpy(), fx.signal(16, "acc", tgrid), atol=0.01)
    inside = tgrid >= tg[0]
    np.testing.assert_allclose(part.select(GYRO).to_numpy()[inside], fx.signal(16, "gyro", tgrid[inside]), atol=0.01)
    assert set(part["label"].to_list()) == {16}
    # the physics line reports the source clock behind the 100 Hz grid: 29 ms per 3 samples = 9.667 ms
    src = next(x for x in card.completeness["physics"] if "source clock before resampling" in x)
    assert "mean step" in src and 9.0 < float(src.split("mean step ")[1].split(" ms")[0]) < 11.0


def test_clock_judged_by_mean_rate() -> None:
    assert kuhar.clock_problem(_bursty(5.0, 2.0)) is None
    assert kuhar.clock_problem(np.arange(0, 2, 0.010)) is None
    assert "mean rate 1000.0 Hz" in kuhar.clock_problem(np.arange(0, 2, 0.001))
    assert "no two samples within 0.1 s" in kuhar.clock_problem(np.arange(0, 2000, 10.0))
