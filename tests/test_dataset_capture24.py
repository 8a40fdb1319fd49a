"""CAPTURE-24: fixture zip through fetch -> convert -> open, streaming in small chunks, annotation labels."""
from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata import registry
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import capture24 as c24
from imudata.errors import FormatError, ManualDownloadRequired

from .conftest import session_start
from .fixtures import capture24 as fx

G = 9.80665


def _parse(path: Path) -> dict[str, np.ndarray]:
    rows = list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
    assert rows[0] == ["time", "x", "y", "z", "annotation"]
    t = [datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp() for r in rows[1:]]
    out = {"t": np.array(t), "ann": np.array([r[4] for r in rows[1:]], dtype=object)}
    for i, a in enumerate("xyz", start=1):
        out[a] = np.array([float(r[i]) for r in rows[1:]])
    return out


def _label_ids(ann: np.ndarray) -> np.ndarray:
    ordered = sorted(c24.VOCABULARY)  # ids are positions in the sorted vocabulary
    return np.array([ordered.index(a) if a else -1 for a in ann])


def _recordings(t: np.ndarray) -> list[tuple[int, int]]:
    step = np.diff(t)
    cuts = [0, *(np.flatnonzero(np.abs(step - 0.01) > 0.005) + 1).tolist(), len(t)]
    return list(zip(cuts[:-1], cuts[1:]))


def test_fixture_archive_fetch_convert_open(tmp_path: Path, data_root: Path) -> None:
    assert registry.get("capture-24").id == "capture24"
    fetch("capture24", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    card = convert("capture24", data_root, progress=False)
    assert card.subjects == ["P001", "P002"]
    assert "1 of 3 participants listed in metadata.csv: P003" in card.completeness["missing"][0]
    df = imudata.open("capture24", data_root).scan("imu").collect()
    src = tmp_path / "src" / "tree" / "capture24"
    for pid, sessions in {"P001": ["1.1", "2.1"], "P002": ["1.1", "2.1"]}.items():
        want = _parse(src / f"{pid}.csv.gz")
        got = df.filter(pl.col("subject") == pid)
        assert sorted(got["session"].unique().to_list()) == sessions
        # file order = recording order; P002's second recording is earlier in clock time (DST change)
        parts = [got.filter(pl.col("session") == s).sort("t") for s in sessions]
        cat = pl.concat(parts)
        assert [p.height for p in parts] == [b - a for a, b in _recordings(want["t"])]
        clock = np.concatenate([p["t"].to_numpy() + session_start(card, pid, s) for p, s in zip(parts, sessions)])
        np.testing.assert_allclose(clock, want["t"], rtol=0, atol=1e-6)
        assert all(p["t"][0] == 0.0 for p in parts)  # t counts from each session's start
        for a in "xyz":
            np.testing.assert_allclose(cat[f"wrist_acc_{a}"].to_numpy(), (want[a] * G).astype(np.float32), rtol=1e-6)
        np.testing.assert_array_equal(cat["label"].fill_null(-1).to_numpy(), _label_ids(want["ann"]))
    labels = {lab.name: lab for lab in card.labels}
    assert len(card.labels) == len(c24.VOCABULARY) == 253
    assert [lab.id for lab in card.labels] == list(range(253))
    assert [lab.name for lab in card.labels] == sorted(lab.name for lab in card.labels)
    assert labels[fx.OFFICE_TYPO].text == "office work or computer work general (occupation, office and administrative support; 1.5 MET)"
    assert fx.DESK_2SPACES in labels  # the double space is part of the key
    assert labels[fx.SLEEP].text == "sleeping (0.95 MET)"
    ch = card.stream("imu").channel("wrist_acc_x")
    assert (ch.unit, ch.source_unit, ch.range, ch.scale, ch.gravity) == ("m/s²", "g", "±8 g", G, "included")
    assert card.stream("imu").rate_hz == 100.0
    first = session_start(card, "P001", "1.1")
    assert datetime.fromtimestamp(first, tz=timezone.utc) == datetime(2016, 10, 30, 0, 50, tzinfo=timezone.utc)


def test_streams_in_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fx.make(tmp_path)
    monkeypatch.setattr(c24, "MAX_SESSION_ROWS", 250)
    monkeypatch.setattr(c24, "READ_BLOCK_BYTES", 4096)
    pulled: list[int] = []
    real = c24.batches

    def counting(path: Path):
        for b in real(path):
            pulled.append(len(b[0]))
            yield b

    monkeypatch.setattr(c24, "batches", counting)
    want = _parse(root / "P001.csv.gz")
    it = c24.read(root, "P001", str(root / "P001.csv.gz"))
    first = next(it)
    assert len(first) == 250 and first.session == "1.1"
    assert len(pulled) >= 2 and sum(pulled) < len(want["t"]) // 2  # the file was not read whole
    assert sum(pulled) <= 250 + max(pulled)  # at most one session plus one block held
    sessions = [first, *it]
    assert max(len(s) for s in sessions) == 250
    (a1, b1), (a2, b2) = _recordings(want["t"])
    n1, n2 = b1 - a1, b2 - a2
    names = [s.session for s in sessions]
    assert names == [f"1.{k}" for k in range(1, -(-n1 // 250) + 1)] + [f"2.{k}" for k in range(1, -(-n2 // 250) + 1)]
    assert [len(s) for s in sessions if s.session.startswith("1.")][-1] == n1 - 250 * (n1 // 250)
    t = np.concatenate([s.t for s in sessions])
    np.testing.assert_allclose(t, want["t"], rtol=0, atol=1e-6)  # t continues across consecutive sessions
    for s in sessions:
        np.testing.assert_allclose(np.diff(s.t), 0.01, atol=1e-6)  # each one uniformly sampled
    np.testing.assert_array_equal(np.concatenate([s.columns["wrist_acc_y"] for s in sessions]), want["y"])
    np.testing.assert_array_equal(np.concatenate([s.label for s in sessions]), _label_ids(want["ann"]))


def test_convert_with_small_sessions(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c24, "MAX_SESSION_ROWS", 400)
    fetch("capture24", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    card = convert("capture24", data_root, progress=False)
    df = imudata.open("capture24", data_root).scan("imu").collect()
    counts = df.group_by("subject", "session").len()
    assert counts["len"].max() <= 400
    assert df.filter(pl.col("subject") == "P001").height == sum(n for n, _, _ in fx.PARTICIPANTS["P001"])
    for sh in card.shards:
        assert len(set(sh["sessions"])) == len(sh["sessions"])


def test_unknown_annotations_fail(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    path = root / "P002.csv.gz"
    text = gzip.decompress(path.read_bytes()).decode().replace(fx.BIKE, "bicycling fast;MET 9.9", 1)
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(FormatError, match=r"line 302: annotation 'bicycling fast;MET 9.9' is not in"):
        list(c24.read(root, "P002", str(path)))
    d = root / "annotation-label-dictionary.csv"
    d.write_text(d.read_text() + "dancing;MET 5.0,sports,sports,sports,mixed,moderate,moderate-vigorous\n")
    with pytest.raises(FormatError, match="1 annotation.*unknown to this converter"):
        c24.plan(root)


def test_manual_download_message(data_root: Path) -> None:
    with pytest.raises(ManualDownloadRequired, match=r"ora\.ox\.ac\.uk.*imudata fetch capture24 --from"):
        fetch("capture24", data_root, progress=False)
