"""`imudata plot` options, captions on the session axis, angle unwrapping, and training curves.

A synthetic dataset with six channel groups (one of them orientation angles that wrap at ±π), a
sparse heart-rate channel, a 180-s session and a 5-s one. Expected values come from how the test
builds the data (the activity's start and end, the unwrapped angle it generated), not from the
code under test.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pyarrow.parquet as pq
import pytest

from imudata.angles import unwrap_columns
from imudata.captions import CaptionConfig, Captioner
from imudata.derive import derive_bands
from imudata.errors import ImudataError
from imudata.format import Channel, DatasetCard, Label, Stream
from imudata.plot import select_groups

from .test_signal import make_dataset

RATE = 50.0
YAW_RATE = 0.5  # rad/s: the phone turns slowly, so the yaw wraps from π to -π every 12.6 s
LABELS = [Label(1, "WALKING", "walking"), Label(4, "SITTING", "sitting"), Label(5, "STANDING", "standing")]


def _triad(place: str, sensor: str, unit: str, **kw) -> list[Channel]:
    return [Channel(f"{place}_{sensor}_{a}", sensor, place, unit, unit, axis=a, **kw) for a in "xyz"]


def card() -> DatasetCard:
    chans = (_triad("waist", "acc", "m/s²", gravity="included") + _triad("waist", "gyro", "rad/s")
             + _triad("pocket", "ori", "rad") + _triad("chest", "acc", "m/s²", gravity="included")
             + _triad("ankle", "acc", "m/s²", gravity="included") + _triad("thigh", "gyro", "rad/s")
             + [Channel("chest_hr", "hr", "chest", "bpm", "bpm", sparse=True)])
    return DatasetCard(id="motionsense", title="Synthetic six-group IMU", homepage="-", license="-", citation="-",
                       streams=[Stream("imu", RATE, chans)], labels=LABELS)


def session(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x in SI with the yaw wrapped to ±π, labels, the true unwrapped yaw)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = rng.normal(0, 0.05, (n, 19))
    for k in (0, 9, 12):  # the three accelerometers' x axes carry gravity
        x[:, k] += 9.80665
    yaw = YAW_RATE * t - 3.0
    x[:, 6] = 0.1 * np.sin(2 * np.pi * 0.05 * t)  # roll
    x[:, 7] = 0.05 * np.cos(2 * np.pi * 0.05 * t)  # pitch
    x[:, 8] = (yaw + np.pi) % (2 * np.pi) - np.pi  # yaw as the sensor reports it
    x[:, 18] = np.where(np.arange(n) % 6 == 0, 70.0, np.nan)  # sparse heart rate
    lab = np.full(n, 5)
    lab[int(70 * RATE):int(100 * RATE)] = 1  # walking from second 70 to second 100
    lab[int(100 * RATE):] = 4
    return x, lab[:n], yaw


@pytest.fixture
def six(data_root: Path) -> Path:
    x1, l1, _ = session(180.0, 1)
    x2, l2, _ = session(5.0, 2)
    make_dataset(data_root, [("1", "long", x1, l1), ("2", "short", x2, l2)], card=card(), dataset="motionsense")
    return data_root


def test_select_groups_says_what_it_leaves_out() -> None:
    st = card().streams[0]
    shown, notes = select_groups(st)
    assert [g.key for g in shown] == ["waist_acc", "waist_gyro", "pocket_ori", "chest_acc"]
    assert any("ankle_acc, thigh_gyro" in n and "2 of 6" in n for n in notes)
    assert any("chest_hr" in n for n in notes)
    shown, notes = select_groups(st, groups=["thigh_gyro", "dominant ankle accelerometer"])
    assert [(g.key, len(g.idx)) for g in shown] == [("ankle_acc", 3), ("thigh_gyro", 3)]
    assert notes == ["left out 13 of 19 channels (not chosen with --group/--channels)"]
    shown, _ = select_groups(st, channels=["chest_hr", "waist_acc_z"])
    assert [(g.key, [st.channels[i].name for i in g.idx]) for g in shown] == [("waist_acc", ["waist_acc_z"]),
                                                                             ("chest_hr", ["chest_hr"])]
    with pytest.raises(ImudataError, match=r"no group 'thigh_gyr'; did you mean 'thigh_gyro'"):
        select_groups(st, groups=["thigh_gyr"])
    with pytest.raises(ImudataError, match=r"no channel 'waist_acc_w'.*did you mean"):
        select_groups(st, channels=["waist_acc_w"])


def _activity_times(text: str) -> list[int]:
    sentence = next(s for s in re.split(r"(?<=\.)\s", text) if "walking" in s.lower())
    return [int(v) for v in re.findall(r"\d+", sentence)]


def test_caption_times_on_the_session_axis() -> None:
    x, lab, _ = session(180.0, 1)
    t = np.arange(len(x)) / RATE
    cfg = CaptionConfig(window_s=60, stride_s=60)
    rel = Captioner(card(), "imu", cfg, ["high_all"]).session("1", "long", t, x, lab)
    ab = Captioner(card(), "imu", cfg, ["high_all"], absolute_times=True).session("1", "long", t, x, lab)
    w = rel.start.index(60.0)  # the window 60-120 s holds the walk from 70 s to 100 s
    assert _activity_times(rel.text["high_all"][w]) == [10, 40]
    assert _activity_times(ab.text["high_all"][w]) == [70, 100]
    assert rel.template_ids == ab.template_ids  # same phrasing, only the times move


def test_unwrap_columns_restores_the_continuous_angle() -> None:
    x, _, yaw = session(60.0, 3)
    x[100:120, 8] = np.nan  # a gap does not break continuity
    out = unwrap_columns(x, [8])
    ok = np.isfinite(out[:, 8])
    assert np.allclose(out[ok, 8], yaw[ok]) and np.isnan(out[100:120, 8]).all()
    assert np.array_equal(out[:, :8], x[:, :8], equal_nan=True)  # other columns untouched


def test_bands_of_a_wrapped_angle_are_computed_on_the_unwrapped_angle(six: Path) -> None:
    derive_bands("motionsense", six, bands="0-1,1-", progress=False, log=lambda m: None)
    _, _, yaw = session(180.0, 1)
    files = sorted((six / "motionsense" / "parquet" / "imu_bands").glob("part-*.parquet"))
    tab = pq.read_table(files[0]).to_pandas()
    long = tab[tab["session"] == "long"]
    low, high = long["pocket_ori_z_band0"].to_numpy(), long["pocket_ori_z_band1"].to_numpy()
    # a 0.5 rad/s turn has nothing above 1 Hz; filtering the ±π jumps would put ±2π steps there
    assert np.max(np.abs(high[200:-200])) < 0.01
    assert np.allclose(low + high, yaw, atol=1e-4)  # the bands sum to the unwrapped angle
    meta = json.loads((six / "motionsense" / "dataset.json").read_text())
    ch = next(c for s in meta["streams"] if s["name"] == "imu_bands" for c in s["channels"]
              if c["name"] == "pocket_ori_z_band1")
    assert ch["derived"]["unwrapped"] is True and "unwrapped before filtering" in ch["description"]
    assert ch["derived"]["bands_sum_to_source"] is False and ch["derived"]["bands_sum_to_unwrapped_source"] is True
    acc = next(c for s in meta["streams"] if s["name"] == "imu_bands" for c in s["channels"]
               if c["name"] == "waist_acc_x_band1")
    assert "unwrapped" not in acc["derived"]


def _svg_text(path: Path) -> str:
    """All text of an SVG written with text kept as text (svg.fonttype none), tags stripped."""
    return re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))


def test_cli_plot_short_session_groups_and_left_out(six: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from imudata.cli import app

    runner = CliRunner()
    out = tmp_path / "short.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        res = runner.invoke(app, ["plot", "motionsense", "--session", "short", "--out", str(out), "--bands", "0-1,1-"])
    assert res.exit_code == 0, res.output
    assert "left out 2 of 6 channel groups (ankle_acc, thigh_gyro)" in res.output  # said on stderr
    assert "left out sparse channels chest_hr" in res.output
    text = _svg_text(out)
    assert "whole session: shorter than the 60 s window" in text and "[0-5 s" in text
    assert "left out 2 of 6 channel groups" in text
    assert "(unwrapped)" in text  # the angle group's band rows say what was filtered
    out2 = tmp_path / "sel.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        res = runner.invoke(app, ["plot", "motionsense", "--session", "long", "--out", str(out2), "--group",
                                  "thigh_gyro", "-c", "ankle_acc_x,ankle_acc_y", "--level", "high_all",
                                  "--start", "60", "--duration", "60", "--bands", "0-1,1-"])
    assert res.exit_code == 0, res.output
    text = _svg_text(out2)
    assert "thigh gyroscope" in text and "ankle accelerometer" in text and "waist accelerometer" not in text
    assert "ankle_acc_z" not in text and "left out 14 of 19 channels" in text and "left out 14 of 19" in res.output
    assert re.search(r"second 70\b|seconds 70\b", text) and "100" in text  # the walk, on the session axis
    res = runner.invoke(app, ["plot", "motionsense", "--session", "long", "--out", str(out2), "--group", "nope"])
    assert res.exit_code != 0 and "no group 'nope'" in str(res.exception)


# --------------------------------------------------------------------------------------------
# training curves


def _metrics(path: Path, stage: str) -> Path:
    rows = []
    for step in range(10, 110, 10):
        if stage == "pretrain":
            rows.append({"split": "train", "step": step, "loss": 2.0 / step, "recon": 1.5 / step, "contrast": 0.5 / step,
                         "lr": 1e-3})
            if step % 50 == 0:
                rows.append({"split": "val", "step": step, "recon": 2.0 / step})
        else:
            rows.append({"split": "train", "step": step, "loss": 3.0 / step, "align_acc": step / 200, "lr": 1e-4})
            if step % 50 == 0:
                rows.append({"split": "val", "step": step, "acc": step / 250, "f1": step / 300, "chance": 0.125})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_training_curves_have_labels_overlay_and_chance(tmp_path: Path) -> None:
    from imutrain.plotting import curve_figure, plot_curves, read_metrics

    fig = curve_figure(read_metrics(_metrics(tmp_path / "a.jsonl", "align")), "align")
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert all(ax.get_ylabel() and ax.get_xlabel() == "step" for ax in fig.axes)
    acc = axes["accuracy"]
    lines = {ln.get_label(): ln for ln in acc.get_lines()}
    assert {"train (batch)", "validation", "chance (validation)"} <= set(lines)
    assert np.allclose(lines["chance (validation)"].get_ydata(), 0.125)
    assert list(lines["validation"].get_xdata()) == [50, 100]
    fig = curve_figure(read_metrics(_metrics(tmp_path / "p.jsonl", "pretrain")), "pretrain")
    axes = {ax.get_title(): ax for ax in fig.axes}
    recon = {ln.get_label() for ln in axes["reconstruction"].get_lines()}
    assert recon == {"train", "validation"}
    assert "accuracy" not in axes
    png = plot_curves(tmp_path / "a.jsonl", tmp_path / "curves.png", "align")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_curves(tmp_path / "missing.jsonl", tmp_path / "none.png") is None


@pytest.mark.slow
def test_real_motionsense_yaw_bands_follow_the_unwrapped_angle(data_root: Path) -> None:
    """MotionSense's yaw wraps at ±π thousands of times; its bands must sum to the unwrapped yaw."""
    import imudata
    from imudata.acquire import fetch
    from imudata.convert import convert

    from .conftest import realdata

    fetch("motionsense", data_root, from_path=realdata("motionsense"), progress=False)
    convert("motionsense", data_root, progress=False)
    derive_bands("motionsense", data_root, bands="0-1,1-4,4-", progress=False, log=lambda m: None)
    ds = imudata.open("motionsense", data_root)
    src = ds.scan("imu").select("subject", "session", "pocket_ori_yaw").collect()
    bands = ds.scan("imu_bands").select([f"pocket_ori_yaw_band{i}" for i in range(3)]).collect().to_numpy()
    wraps, start = 0, 0
    for _, g in src.group_by(["subject", "session"], maintain_order=True):
        yaw = g["pocket_ori_yaw"].to_numpy().astype(np.float64)
        wraps += int((np.abs(np.diff(yaw)) > np.pi).sum())
        assert np.allclose(bands[start:start + len(yaw)].astype(np.float64).sum(axis=1), np.unwrap(yaw), atol=1e-3)
        start += len(yaw)
    assert wraps > 100  # the real data do wrap
