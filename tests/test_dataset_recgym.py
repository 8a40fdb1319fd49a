"""RecGym: fixture archive -> fetch -> convert -> open (no real file exists to test against)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import recgym
from imudata.errors import FormatError
from tests.fixtures import recgym as fx


def _expected() -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]:
    """(subject, position, session name) -> (values, labels), from the fixture's rows in file order."""
    out: dict[tuple[str, str, str], tuple[list, list]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    prev = None
    for subj, pos, ses, v, workout in fx.table():
        key = (subj, pos, ses)
        if key != prev:
            seen[key] = seen.get(key, 0) + 1
            name = ses if seen[key] == 1 else f"{ses}.run{seen[key]}"
            cur = out.setdefault((subj, pos, name), ([], []))
            prev = key
        cur[0].append([float(f"{x:.6f}") if not np.isnan(x) else np.nan for x in v])
        cur[1].append(fx.IDS.get(workout, -1))
    return {k: (np.array(a), np.array(b)) for k, (a, b) in out.items()}


def test_fixture_archive(tmp_path: Path, data_root: Path) -> None:
    fetch("recgym", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False, log=lambda m: None)
    card = convert("recgym", data_root, progress=False, log=lambda m: None)
    assert card.subjects == ["1", "2"]
    assert any("normalised, stored as a.u." in n for n in card.completeness["notes"])
    assert any(n.startswith("3 rows with NaN") for n in card.completeness["notes"])
    ds = imudata.open("recgym", data_root)
    assert sorted(ds.streams) == ["leg", "pocket", "wrist"]
    want = _expected()
    got = set()
    for pos, lf in ds.streams.items():
        df = lf.collect()
        got |= {(s, pos, n) for s, n in df.select("subject", "session").unique().iter_rows()}
        for (subj, p, name), (vals, labels) in want.items():
            if p != pos:
                continue
            part = df.filter((pl.col("subject") == subj) & (pl.col("session") == name))
            assert part.height == len(vals), (subj, p, name)
            cols = [f"{pos}_acc_x", f"{pos}_acc_y", f"{pos}_acc_z", f"{pos}_gyro_x", f"{pos}_gyro_y",
                    f"{pos}_gyro_z", f"{pos}_hbc"]
            have = part.select(cols).to_numpy().astype(float)
            np.testing.assert_array_equal(np.isnan(have), np.isnan(vals))
            ok = ~np.isnan(vals)
            np.testing.assert_allclose(have[ok], vals[ok].astype(np.float32), rtol=1e-6)
            np.testing.assert_array_equal(part["label"].fill_null(-1).to_numpy(), labels)
            np.testing.assert_allclose(part["t"].to_numpy(), np.arange(len(vals)) / 20.0)
    assert got == set(want)
    assert ("2", "leg", "3.run2") in want  # the recurring key is its own session
    labels = {lab.id: lab for lab in card.labels}
    assert labels[0].name == "Null" and labels[0].ignore and not labels[10].ignore
    for s in card.streams:
        assert s.rate_hz == 20.0 and all(c.unit == "a.u." and c.scale == 1.0 for c in s.channels)


def test_unit_assumption_is_checked(tmp_path: Path) -> None:
    """Values in m/s² (|A| at rest ≈ 9.8) contradict the normalised assumption: the conversion stops."""
    root = fx.make(tmp_path / "si")
    rows = fx.table()  # the same rows, rewritten in m/s² with gravity on A_y
    for r in rows:
        r[3][:] = [0.1, 9.8, 0.3, 0.01, 0.02, 0.0, 0.5] if r[4] == "Null" else [2.0, 12.0, -3.0, 1.0, 0.5, -0.5, 0.5]
    fx.write_csv(root / "RecGym.csv", rows)
    with pytest.raises(FormatError, match=r"looks like m/s² with gravity"):
        recgym.plan(root)
    assert "normalised" in recgym.check_units(recgym.load(fx.make(tmp_path / "ok") / "RecGym.csv"), Path("x"))


def test_object_header_and_unknown_workout(tmp_path: Path) -> None:
    root = fx.make(tmp_path / "a")
    f = root / "RecGym.csv"
    f.write_text(f.read_text().replace("Subject,", "Object,", 1))
    assert sorted(recgym.plan(root).subjects) == ["1", "2"]
    root = fx.make(tmp_path / "b")
    f = root / "RecGym.csv"
    lines = f.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",SquatWood"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"line 6: Workout \['SquatWood'\]"):
        recgym.plan(root)
