"""Writing and reading shards: one zstd Parquet file per group of whole sessions.

Writes go to a temporary name in the same folder and are renamed into place, so a reader
never sees a half-written shard.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import SchemaError
from .format import METADATA_KEY, DatasetCard, Stream, arrow_schema
from .paths import os_error_at
from .registry import Session

ROW_GROUP_ROWS = 256 * 1024


def _repeat_string(value: str, n: int) -> pa.Array:
    """A string column holding one value n times, built without a Python list of n items."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value])).cast(pa.string())


def session_table(stream: Stream, sess: Session) -> pa.Table:
    """One session as an Arrow table in the stream's schema, values converted to SI.

    stored = original * scale + offset, computed in float64 and stored as float32. An infinite
    stored value (an ``inf`` in the source, or a value beyond the float32 range) is a SchemaError
    naming the session, channel and row.
    """
    n = len(sess)
    missing = [c.name for c in stream.channels if c.name not in sess.columns]
    extra = sorted(set(sess.columns) - {c.name for c in stream.channels})
    if missing or extra:
        raise SchemaError(
            f"session {sess.subject}/{sess.session} of stream {stream.name}: "
            f"missing channels {missing}, unexpected channels {extra}"
        )
    arrays: list[pa.Array] = [_repeat_string(sess.subject, n), _repeat_string(sess.session, n)]
    if sess.t is None:
        t = np.arange(n, dtype=np.float64) / stream.rate_hz
    else:
        t = np.asarray(sess.t, dtype=np.float64)
        if len(t) != n:
            raise SchemaError(f"session {sess.subject}/{sess.session}: t has {len(t)} rows, channels {n}")
        t = t - t[0]  # t counts from the session's first sample; the start is kept in session_start()
    arrays.append(pa.array(t))
    for ch in stream.channels:
        raw = np.asarray(sess.columns[ch.name], dtype=np.float64)
        if len(raw) != n:
            raise SchemaError(f"session {sess.subject}/{sess.session}: channel {ch.name} has {len(raw)} rows, expected {n}")
        val = raw * ch.scale if ch.scale != 1.0 else raw
        if ch.offset:
            val = val + ch.offset
        with np.errstate(over="ignore"):  # an overflow is reported below, naming the row
            val32 = val.astype(np.float32)
        inf = np.isinf(val32)
        if inf.any():  # NaN marks a missing sample; infinity is never a measurement
            i = int(np.flatnonzero(inf)[0])
            raise SchemaError(f"session {sess.subject}/{sess.session}: channel {ch.name} row {i + 1} holds "
                              f"{raw[i]:g}, which is infinite or beyond the float32 range after scaling; "
                              f"no infinite value is stored")
        arrays.append(pa.array(val32))
    if sess.label is None:
        arrays.append(pa.nulls(n, pa.int16()))
    else:
        lab = np.asarray(sess.label)
        if len(lab) != n:
            raise SchemaError(f"session {sess.subject}/{sess.session}: label has {len(lab)} rows, expected {n}")
        arrays.append(pa.array(lab.astype(np.int16), mask=lab < 0))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(stream))


def write_table(path: Path, table: pa.Table, metadata: dict[str, Any], extra: dict[bytes, bytes] | None = None) -> None:
    """Write a table atomically with the JSON metadata under the ``imudata`` key (and ``extra`` keys)."""
    meta = dict(table.schema.metadata or {})
    meta.update(extra or {})
    meta[METADATA_KEY] = json.dumps(metadata, ensure_ascii=False).encode()
    table = table.replace_schema_metadata(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        os.replace(tmp, path)
    except OSError as exc:  # e.g. disk full: name the shard being written
        raise os_error_at(exc, path) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def session_start(sess: Session) -> float:
    """The session's first timestamp in the source's own time base (0 when the source has none).

    Stored in dataset.json (``shards[].session_start``) so that ``t + session_start`` recovers the
    original clock (e.g. Unix seconds) while ``t`` itself always counts from the session start.
    """
    return float(sess.t[0]) if sess.t is not None and len(sess.t) else 0.0


def write_sessions(path: Path, card: DatasetCard, stream: Stream, sessions: Iterable[Session]) -> dict[str, Any]:
    """Write whole sessions of one subject into one shard; returns {stream, rows, session_start}."""
    sessions = list(sessions)
    tables = [session_table(stream, s) for s in sessions]
    if not tables:
        raise ValueError("write_sessions needs at least one session")
    table = pa.concat_tables(tables)
    info = {"stream": stream.name, "rows": table.num_rows}
    starts = {s.session: session_start(s) for s in sessions}
    meta = card.static_dict()
    meta["shard"] = info
    write_table(path, table, meta)
    return {**info, "session_start": starts}


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON card embedded in one shard (self-describing without dataset.json)."""
    md = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in md:
        raise SchemaError(f"{path}: no '{METADATA_KEY.decode()}' key in the Parquet metadata; not an imudata shard")
    return json.loads(md[METADATA_KEY])
