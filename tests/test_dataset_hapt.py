"""HAPT: a fixture archive through fetch -> convert -> open, and the real files from ../shared/realdata."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.format import G

from .conftest import hapt_experiments, hapt_users, realdata
from .fixtures import hapt as fx


def _parse(path: Path) -> np.ndarray:
    return np.array([[float(v) for v in line.split()] for line in path.read_text().splitlines()])


def _expected_labels(labels_txt: Path, exp: int, n: int) -> np.ndarray:
    lab = np.full(n, -1)
    for line in labels_txt.read_text().splitlines():
        e, _u, a, s, t = map(int, line.split())
        if e == exp:
            lab[s - 1:t] = a
    return lab


def _check_experiment(df: pl.DataFrame, raw: Path, exp: int, user: int) -> None:
    acc = _parse(raw / f"acc_exp{exp:02d}_user{user:02d}.txt")
    gyro = _parse(raw / f"gyro_exp{exp:02d}_user{user:02d}.txt")
    got = df.filter((pl.col("subject") == str(user)) & (pl.col("session") == f"exp{exp:02d}")).sort("t")
    assert got.height == len(acc)
    for i, a in enumerate("xyz"):
        np.testing.assert_allclose(got[f"waist_acc_{a}"].to_numpy(), (acc[:, i] * G).astype(np.float32), rtol=1e-6)
        np.testing.assert_allclose(got[f"waist_gyro_{a}"].to_numpy(), gyro[:, i].astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(got["t"].to_numpy(), np.arange(len(acc)) / 50.0)
    want = _expected_labels(raw / "labels.txt", exp, len(acc))
    lab = got["label"].fill_null(-1).to_numpy()
    np.testing.assert_array_equal(lab, want)


def test_fixture_archive_fetch_convert_open(tmp_path: Path, data_root: Path) -> None:
    archive = fx.make_archive(tmp_path / "src")
    fetch("hapt", data_root, from_path=archive, progress=False)
    card = convert("hapt", data_root, progress=False)
    assert card.subjects == ["1", "2", "3"]
    assert [s["subject"] for s in card.shards] == ["1", "2", "3"]
    assert "1 of 7 experiments" in card.completeness["missing"][0]
    ds = imudata.open("hapt", data_root)
    df = ds.scan("imu").collect()
    raw = tmp_path / "src" / "tree" / "HAPT Data Set" / "RawData"
    for exp, user, _n in fx.EXPERIMENTS:
        _check_experiment(df, raw, exp, user)
    # rows sorted by subject, session, t
    assert df.select(["subject", "session"]).unique(maintain_order=True).rows() == [
        ("1", "exp01"), ("1", "exp02"), ("2", "exp03"), ("3", "exp04"), ("3", "exp05"), ("3", "exp06")]
    assert ds.card.stream("imu").rate_hz == 50.0
    assert ds.card.stream("imu").channel("waist_acc_x").unit == "m/s²"
    assert [lab.text for lab in ds.card.labels][:3] == ["walking", "walking upstairs", "walking downstairs"]


def test_convert_is_idempotent_and_resumes(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imudata import convert as conv

    fetch("hapt", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    calls: list[str] = []
    real = conv.convert_subject

    def failing(dataset_id, root, subject, *a):
        calls.append(subject)
        if subject == "3":
            raise KeyboardInterrupt  # interrupted mid-run
        return real(dataset_id, root, subject, *a)

    monkeypatch.setattr(conv, "convert_subject", failing)
    with pytest.raises(KeyboardInterrupt):
        conv.convert("hapt", data_root, progress=False)
    assert not (data_root / "hapt" / "dataset.json").exists()
    assert not (data_root / "hapt" / "parquet").exists()  # nothing half-finished is visible
    calls.clear()
    monkeypatch.setattr(conv, "convert_subject", lambda *a: calls.append(a[2]) or real(*a))
    card = conv.convert("hapt", data_root, progress=False)
    assert calls == ["3"]  # subjects 1 and 2 were kept from the interrupted run
    calls.clear()
    again = conv.convert("hapt", data_root, progress=False)
    assert calls == [] and again.shards == card.shards  # a re-run does no work


def test_parallel_conversion_equals_serial(tmp_path: Path, data_root: Path) -> None:
    fetch("hapt", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    serial = convert("hapt", data_root, progress=False)
    parallel = convert("hapt", data_root, workers=2, force=True, progress=False)
    assert [s["sha256"] for s in serial.shards] == [s["sha256"] for s in parallel.shards]


def _real_hapt_converted(data_root: Path):
    src = realdata("hapt")
    fetch("hapt", data_root, from_path=src, progress=False)
    card = convert("hapt", data_root, progress=False)
    return src, card, imudata.open("hapt", data_root).scan("imu").collect()


def test_real_hapt(data_root: Path) -> None:
    """Every user present converts; values and labels of a representative subset are checked here,
    every experiment in the slow run (test_real_hapt_every_experiment)."""
    src, card, df = _real_hapt_converted(data_root)
    assert card.subjects == hapt_users(src)
    assert len(card.labels) == 12
    pairs = hapt_experiments(src)
    # the first and last experiment present, plus the four users of the first sample (user 10 has three)
    subset = sorted({pairs[0], pairs[-1]} | {p for p in pairs if p in {(9, 5), (15, 8), (18, 9), (21, 10)}})
    for exp, user in subset:
        _check_experiment(df, src / "RawData", exp, user)
    assert df.height == sum(len((src / "RawData" / f).read_text().splitlines())
                            for f in (p.name for p in (src / "RawData").glob("acc_*.txt")))
    # gravity check: |acc| while standing (label 5) is about 1 g after conversion
    standing = df.filter(pl.col("label") == 5)
    mag = np.sqrt(sum(standing[f"waist_acc_{a}"].to_numpy().astype(float) ** 2 for a in "xyz"))
    assert 9.3 < np.median(mag) < 10.4
    # the experiments labels.txt lists for users absent here are reported, never silently dropped
    listed = {(int(e), int(u)) for e, u, *_ in (line.split() for line in (src / "RawData" / "labels.txt")
                                                 .read_text().splitlines())}
    absent = sorted(listed - set(pairs))
    if absent:
        note = " | ".join(card.completeness["missing"])
        assert f"{len(absent)} of {len(listed)} experiments listed in labels.txt" in note


@pytest.mark.slow
def test_real_hapt_every_experiment(data_root: Path) -> None:
    src, _card, df = _real_hapt_converted(data_root)
    for exp, user in hapt_experiments(src):
        _check_experiment(df, src / "RawData", exp, user)
