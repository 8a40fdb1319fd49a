"""``imudata verify``: re-hash raw files and shards, check every shard against the format, and
report files under ``parquet/`` that dataset.json does not list."""
from __future__ import annotations

import json
import os

import polars as pl
import pyarrow.parquet as pq

from .api import load_card
from .convert import load_lock_sources
from .fetch import sha256_file
from .format import COLUMNS_KEY, arrow_schema, validate_card
from .errors import SchemaError
from .locking import dataset_lock
from .publish import unlisted_files
from .shards import read_metadata


def _comparable(card: dict) -> dict:
    """A card dict without derived streams (added after the converted shards were written) and
    without ``derived: null`` channel keys (absent from cards written before that field existed)."""
    d = dict(card)
    d["streams"] = [
        {**s, "channels": [{k: v for k, v in c.items() if not (k == "derived" and v is None)} for c in s["channels"]]}
        for s in d.get("streams", []) if not (s["channels"] and all(c.get("derived") for c in s["channels"]))
    ]
    return d


def _check_sessions(path, shard: dict) -> list[str]:
    """Each session listed for the shard is present, starts at t = 0 and has increasing t."""
    df = pl.read_parquet(path, columns=["session", "t"])
    per = df.group_by("session", maintain_order=True).agg(
        pl.col("t").first().alias("t0"), (pl.col("t").diff().drop_nulls() <= 0).sum().alias("back"))
    out = []
    if per["session"].to_list() != list(shard["sessions"]):
        out.append(f"sessions {per['session'].to_list()} differ from dataset.json {shard['sessions']}")
    for sess, t0, back in per.iter_rows():
        if t0 != 0.0:
            out.append(f"session {sess} starts at t = {t0}, expected 0")
        if back:
            out.append(f"session {sess}: t does not increase on {back} rows")
    return out


def verify(name: str, root: str | os.PathLike[str] | None = None) -> list[str]:
    """Every problem found (an empty list means the dataset is intact).

    Holds the dataset lock, so it never reports the half-published state of a running command.
    """
    paths, _card = load_card(name, root)
    with dataset_lock(paths, "verify"):
        return _verify(name, root)


def _verify(name: str, root: str | os.PathLike[str] | None) -> list[str]:
    paths, card = load_card(name, root)
    problems: list[str] = []
    try:
        validate_card(card)
    except SchemaError as exc:
        problems.append(str(exc))
    lock = load_lock_sources(paths)  # FormatError naming the lock file if it is damaged
    for key, sha in lock.items():
        candidates = [paths.downloads / key, paths.extracted / key]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            problems.append(f"raw file {key} is recorded in {paths.lock.name} but absent")
        elif sha256_file(found) != sha:
            problems.append(f"raw file {found} changed: sha256 differs from {paths.lock.name}")
    for key, sha in sorted(card.sources.items()) if isinstance(card.sources, dict) else []:
        if key in lock and lock[key] != str(sha).lower():
            problems.append(f"dataset.json records sha256 {sha} for source {key}, {paths.lock.name} records {lock[key]}")
    for p in unlisted_files(paths, card):
        problems.append(f"stray file {p.relative_to(paths.base).as_posix()} is not listed in dataset.json "
                        f"(left by an interrupted run or copied in; a re-run of `imudata convert {card.id}` removes it)")
    static = card.static_dict()
    for sh in card.shards:
        p = paths.base / sh["path"]
        if not p.exists():
            problems.append(f"shard {sh['path']} is missing")
            continue
        if sha256_file(p) != sh["sha256"]:
            problems.append(f"shard {sh['path']}: sha256 differs from dataset.json")
        want = arrow_schema(card.stream(sh["stream"]))
        try:
            full = pq.read_schema(p)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            problems.append(f"shard {sh['path']}: unreadable as Parquet ({exc})")
            continue
        got = full.remove_metadata()
        if not got.equals(want):
            problems.append(f"shard {sh['path']}: schema {got} differs from the format's {want}")
        elif _version(card.format_version) >= (1, 2) and (
                not got.equals(want.remove_metadata(), check_metadata=True)
                or (full.metadata or {}).get(COLUMNS_KEY) != want.metadata[COLUMNS_KEY]):
            problems.append(f"shard {sh['path']}: the units and descriptions in its column metadata differ from "
                            f"dataset.json")
        meta = read_metadata(p)
        if _comparable({k: v for k, v in meta.items() if k != "shard"}) != _comparable(json.loads(json.dumps(static))):
            problems.append(f"shard {sh['path']}: embedded card differs from dataset.json")
        elif sh["stream"] not in [s["name"] for s in meta.get("streams", [])]:
            problems.append(f"shard {sh['path']}: its embedded card does not define stream {sh['stream']}")
        elif next(s for s in meta["streams"] if s["name"] == sh["stream"]) != json.loads(json.dumps(
                next(s for s in static["streams"] if s["name"] == sh["stream"]))):
            problems.append(f"shard {sh['path']}: embedded definition of stream {sh['stream']} differs from dataset.json")
        for problem in _check_sessions(p, sh):
            problems.append(f"shard {sh['path']}: {problem}")
        rows = pq.read_metadata(p).num_rows
        if rows != sh["rows"]:
            problems.append(f"shard {sh['path']}: {rows} rows, dataset.json says {sh['rows']}")
    return problems


def _version(text: str) -> tuple[int, ...]:
    """'1.2' -> (1, 2); an unparsable version sorts first."""
    try:
        return tuple(int(x) for x in str(text).split("."))
    except ValueError:
        return (0,)
