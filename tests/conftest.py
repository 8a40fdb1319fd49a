"""Shared test helpers: the real-data folder (skipped with a reason when absent) and a data root."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REALDATA = Path(os.environ.get("IMUDATA_REALDATA", Path(__file__).resolve().parents[1].parent / "shared" / "realdata"))


def realdata(name: str) -> Path:
    """The real original files of one dataset, or skip the test saying why."""
    path = REALDATA / name
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it ships beside the repository in CI only; "
                    f"set IMUDATA_REALDATA to point elsewhere)")
    return path


def hapt_users(src: Path) -> list[str]:
    """HAPT user ids present in a copy (from its ``RawData/acc_expNN_userMM.txt`` names), numerically sorted."""
    users = {int(m.group(1)) for p in (src / "RawData").glob("acc_exp*_user*.txt")
             if (m := re.fullmatch(r"acc_exp\d+_user(\d+)\.txt", p.name))}
    return [str(u) for u in sorted(users)]


def hapt_experiments(src: Path) -> list[tuple[int, int]]:
    """(experiment, user) pairs present in a HAPT copy, sorted by experiment."""
    pairs = []
    for p in (src / "RawData").glob("acc_exp*_user*.txt"):
        m = re.fullmatch(r"acc_exp(\d+)_user(\d+)\.txt", p.name)
        if m:
            pairs.append((int(m.group(1)), int(m.group(2))))
    return sorted(pairs)


def wesad_subjects_with(src: Path, suffix: str) -> list[str]:
    """WESAD subject folders (S2 ... S17) of a copy holding ``S<k><suffix>``, numerically sorted."""
    found = [d.name for d in src.glob("S*") if d.is_dir() and (d / f"{d.name}{suffix}").is_file()]
    return sorted(found, key=lambda s: int(s[1:]))


def expand_subject_ranges(text: str) -> list[str]:
    """'S2-S11, S13-S17' -> ['S2', ..., 'S11', 'S13', ..., 'S17'] (the inverse of the card's short form)."""
    out: list[str] = []
    for part in text.split(", "):
        if "-" in part:
            a, b = part.split("-")
            out += [f"S{n}" for n in range(int(a[1:]), int(b[1:]) + 1)]
        else:
            out.append(part)
    return out


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root, also exported as $IMUDATA_HOME so CLI calls use it."""
    root = tmp_path / "imudata-home"
    root.mkdir()
    monkeypatch.setenv("IMUDATA_HOME", str(root))
    return root


def session_start(card, subject: str, session: str) -> float:
    """The original clock at a session's first sample, from dataset.json (t + this = source time)."""
    for sh in card.shards:
        if sh["subject"] == subject and session in sh["sessions"]:
            return sh["session_start"][session]
    raise KeyError(f"no shard holds {subject}/{session}")


def with_clock(df, card, stream: str | None = None):
    """``df`` with a ``clock`` column: t + the session's start on the source's own clock."""
    import polars as pl

    rows = [(sh["subject"], s, float(v)) for sh in card.shards if stream is None or sh["stream"] == stream
            for s, v in sh["session_start"].items()]
    starts = pl.DataFrame(rows, schema=["subject", "session", "_start"], orient="row")
    return (df.join(starts, on=["subject", "session"], how="left")
            .with_columns((pl.col("t") + pl.col("_start")).alias("clock")).drop("_start"))


def scan_with_clock(name: str, root, stream: str | None = None):
    """A converted stream collected with its ``clock`` column (see ``with_clock``)."""
    import imudata

    ds = imudata.open(name, root)
    stream = stream or ds.card.streams[0].name
    return with_clock(ds.scan(stream).collect(), ds.card, stream)
