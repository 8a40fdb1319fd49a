"""Comparing two copies of a dataset (two engines, two roots) on what readers see."""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import imudata
from imudata.paths import DatasetPaths, resolve_root
from imudata.storage import arrow_path, parquet_filesystem

_TAG = re.compile(r"-[0-9a-f]{8}\.parquet$")


def untagged_card(card: Any, streams: set[str] | None = None) -> dict:
    """The card as a dict with the random publication tag taken out of every shard path, keeping
    only ``streams`` (and their shards) when given."""
    d = card.to_dict()
    if streams is not None:
        d["streams"] = [s for s in d["streams"] if s["name"] in streams]
        d["shards"] = [sh for sh in d["shards"] if sh["stream"] in streams]
    for sh in d["shards"]:
        sh["path"] = _TAG.sub(".parquet", sh["path"])
    return d


def assert_same_dataset(root_a: Any, root_b: Any, name: str = "hapt") -> None:
    """Same card (but for shard tags), same shard bytes, same rows, schema and values in every
    stream of ``root_b`` (``root_a`` may hold more derived streams)."""
    a, b = imudata.open(name, root_a), imudata.open(name, root_b)
    streams = {s.name for s in b.card.streams}
    assert untagged_card(a.card, streams) == untagged_card(b.card)
    for sa, sb in zip([sh for sh in a.card.shards if sh["stream"] in streams], b.card.shards):
        ba, bb = (a.paths.base / sa["path"]).read_bytes(), (b.paths.base / sb["path"]).read_bytes()
        assert hashlib.sha256(ba).hexdigest() == hashlib.sha256(bb).hexdigest() == sa["sha256"], sa["path"]
    for s in b.card.streams:
        fa, fb = a.scan(s.name).collect(), b.scan(s.name).collect()
        assert fa.height > 0 and fa.schema == fb.schema and fa.equals(fb), s.name


def caption_level(root: Any, name: str, folder: str) -> tuple[dict, pa.Table]:
    """A caption level's index (part paths left out) and all of its rows, read through captions.json."""
    base = DatasetPaths(resolve_root(root), name).base / "captions" / folder
    index = json.loads((base / "captions.json").read_text())
    tables = [pq.read_table(arrow_path(base / p["path"]), filesystem=parquet_filesystem(base / p["path"]))
              for p in index["parts"]]
    for p in index["parts"]:
        for key in ("path", "bytes", "sha256", "source"):  # the source shard's tagged name, the part's bytes
            p.pop(key)
    return index, pa.concat_tables(tables)
