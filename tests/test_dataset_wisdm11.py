"""WISDM v1.1: the fixture's irregular raw file through fetch -> convert -> open."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import wisdm11
from tests.fixtures import wisdm11 as fx


def test_fixture_archive(tmp_path: Path, data_root: Path) -> None:
    archive = fx.make_archive(tmp_path / "src")
    fetch("wisdm-v1.1", data_root, from_path=archive, progress=False, log=lambda m: None)
    card = convert("wisdm11", data_root, progress=False, log=lambda m: None)
    assert card.subjects == ["1", "7", "33"]
    notes = card.completeness["notes"]
    # the malformed records are counted in the card, never dropped silently
    assert any(n.startswith(f"{fx.MALFORMED} malformed records skipped") for n in notes), notes
    assert any(n.startswith("1 exact duplicate records dropped") for n in notes), notes
    assert any(n.startswith("2 records with timestamp 0") for n in notes), notes
    df = imudata.open("wisdm11", data_root).scan("acc").collect()
    want = fx.expected()
    assert set(df.select("subject", "session").unique().iter_rows()) == set(want)
    for (user, session), (label, xyz) in want.items():
        part = df.filter((pl.col("subject") == user) & (pl.col("session") == session))
        assert part.height == len(xyz), (user, session)
        for i, a in enumerate("xyz"):
            np.testing.assert_allclose(part[f"pocket_acc_{a}"].to_numpy(),
                                       np.array([float(f"{v:.8g}") for v in xyz[:, i]], dtype=np.float32), rtol=1e-6)
        assert set(part["label"].to_list()) == {label}
        np.testing.assert_allclose(part["t"].to_numpy(), np.arange(len(xyz)) / 20.0)
    # the gap and the backwards jump each split a run; 33's second walking run is separate
    assert {s for u, s in want if u == "33"} == {"jogging", "jogging.2", "walking", "walking.2", "walking.3"}
    ch = imudata.open("wisdm11", data_root).card.stream("acc").channel("pocket_acc_y")
    assert ch.unit == "m/s²" and ch.scale == 1.0 and ch.gravity == "included"


def test_parser_counts(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    good, n_bad, examples, n_dup = wisdm11.parse_raw(root / "WISDM_ar_v1.1_raw.txt")
    assert n_bad == fx.MALFORMED and n_dup == 1
    assert good.height == sum(len(xyz) for _, xyz in fx.expected().values())
    assert any("12x9" in e for e in examples)
