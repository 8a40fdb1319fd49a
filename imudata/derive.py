"""Derived streams: band splits and resampled copies written beside a dataset's own streams.

A derived stream is an ordinary stream of the same dataset (``parquet/<name>/part-NNNNN.parquet``,
same shard schema, listed in ``dataset.json``) whose channels carry ``Channel.derived``: the
source stream and channel and the exact processing. Source shards are read one at a time
with pyarrow, each session is processed on its own (``imudata.signal``), and the new shards are
written with ``imudata.shards.write_sessions`` into a temporary folder. They are then published
under fresh names and ``dataset.json`` is replaced last (``imudata.publish``), all under the dataset
lock (``imudata.locking``), so a reader sees either the old or the new dataset, never a mix.
Re-running replaces the derived stream.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .angles import angle_indices, is_angle, unwrap_columns
from .api import load_card, write_card
from .errors import ImudataError, SchemaError
from .faults import fault_point
from .fetch import sha256_file
from .format import Channel, DatasetCard, Stream, validate_card
from .locking import dataset_lock
from .parallel import run_jobs
from .publish import collect_garbage, new_tag, shard_relpath
from .registry import Session
from .shards import write_sessions
from .signal import (DEFAULT_BANDS, DEFAULT_ORDER, FilterBank, design_bands, rational_ratio, resample_runs, split_bands,
                     tiles)

_STREAM_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


# --------------------------------------------------------------------------------------------
# reading sessions from shards

def session_bounds(table: pa.Table) -> list[tuple[int, int]]:
    """[start, stop) row ranges of the (subject, session) runs of a shard table.

    Works on string columns and on dictionary-encoded ones (read with ``read_dictionary``,
    dictionaries unified), where it compares the integer indices only.
    """
    n = table.num_rows
    if n == 0:
        return []
    change = np.zeros(n - 1, dtype=bool)
    for col in ("subject", "session"):
        arr = table.column(col).combine_chunks()
        if pa.types.is_dictionary(arr.type):
            idx = arr.indices.to_numpy(zero_copy_only=False)
            change |= idx[1:] != idx[:-1]
        else:
            change |= pc.not_equal(arr.slice(1), arr.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    cuts = np.concatenate(([0], np.flatnonzero(change) + 1, [n])).tolist()
    return list(zip(cuts[:-1], cuts[1:]))


def column_f64(table: pa.Table, name: str) -> np.ndarray:
    """A float column as float64 numpy (nulls become NaN)."""
    col = table.column(name).combine_chunks()
    if col.null_count:
        col = pc.fill_null(col, float("nan"))
    return col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def label_array(table: pa.Table) -> np.ndarray:
    """The label column as int32 with -1 for null."""
    col = table.column("label").combine_chunks()
    if col.null_count:
        col = pc.fill_null(col, -1)
    return col.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def iter_sessions(path: Path, channels: list[str]) -> Iterator[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]:
    """(subject, session, t, X (n, channels) float64, label int32 with -1 = null) per session of a shard."""
    table = pq.read_table(path, columns=["subject", "session", "t", *channels, "label"],
                          read_dictionary=["subject", "session"]).unify_dictionaries()
    t_all = column_f64(table, "t")
    x_all = np.column_stack([column_f64(table, c) for c in channels]) if channels else np.empty((table.num_rows, 0))
    lab_all = label_array(table)
    subj, sess = table.column("subject"), table.column("session")
    for s, e in session_bounds(table):
        yield subj[s].as_py(), sess[s].as_py(), t_all[s:e], x_all[s:e], lab_all[s:e]


# --------------------------------------------------------------------------------------------
# stream definitions (pure)

def _check_name(name: str) -> None:
    if not _STREAM_RE.match(name):
        raise ImudataError(f"derived stream name {name!r} must be snake case ([a-z][a-z0-9]*(_[a-z0-9]+)*)")


def rate_suffix(rate_hz: float) -> str:
    """'25hz', '12p5hz': a rate as a snake-case name part."""
    return f"{rate_hz:g}".replace(".", "p").replace("-", "m") + "hz"


def band_stream(src: Stream, fb: FilterBank, *, zero_phase: bool, name: str) -> Stream:
    """The derived stream of a band split: every source channel once per band (``<channel>_band<i>``)."""
    chans: list[Channel] = []
    phase = "zero-phase" if zero_phase else "causal"
    sums = fb.method == "complementary" and tiles(fb.bands)
    for ch in src.channels:
        for i, b in enumerate(fb.bands):
            meta = fb.describe(i)
            meta.update({"kind": "band", "band": i, "n_bands": len(fb.bands), "zero_phase": zero_phase,
                         "source_stream": src.name, "source_channel": ch.name, "rate_hz": fb.rate_hz,
                         "bands_sum_to_source": sums})
            if is_angle(ch):  # filtered after unwrapping: the bands sum to the unwrapped angle, not the stored one
                meta["unwrapped"] = True
                meta["bands_sum_to_source"] = False
                meta["bands_sum_to_unwrapped_source"] = sums
            grav, desc = ch.gravity, ch.description
            if b.low > 0 and ch.gravity == "included":
                grav = "removed"  # a band above 0 Hz has no DC component
                desc = desc.replace("gravity included", "gravity removed")
            desc = f"{desc}; band {b.label} ({meta['filter']}, order {fb.order}, {phase})"
            if is_angle(ch):
                desc += "; angle unwrapped before filtering"
            chans.append(Channel(name=f"{ch.name}_band{i}", sensor=ch.sensor, placement=ch.placement, unit=ch.unit,
                                 source_unit=ch.unit, scale=1.0, axis=ch.axis, offset=0.0, gravity=grav,
                                 range=ch.range, description=desc, note=ch.note, sparse=ch.sparse, derived=meta))
    labels = ", ".join(b.label for b in fb.bands)
    desc = (f"Stream {src.name} split into {len(fb.bands)} frequency bands ({labels}); order-{fb.order} Butterworth, "
            f"{phase}, method {fb.method}" + ("; the bands sum back to the source" if sums else ""))
    return Stream(name=name, rate_hz=src.rate_hz, channels=chans, description=desc)


def resample_stream(src: Stream, rate_out: float, up: int, down: int, *, name: str,
                    max_denominator: int) -> Stream:
    """The derived stream of a resampling: same channel names, new rate."""
    chans = []
    for ch in src.channels:
        meta = {"kind": "resample", "source_stream": src.name, "source_channel": ch.name,
                "source_rate_hz": src.rate_hz, "rate_hz": rate_out, "up": up, "down": down,
                "method": "scipy.signal.resample_poly", "window": ["kaiser", 5.0], "padtype": "line",
                "max_denominator": max_denominator, "labels": "nearest source sample"}
        desc = f"{ch.description}; resampled {src.rate_hz:g} -> {rate_out:g} Hz (polyphase, up {up} / down {down})"
        chans.append(replace(ch, source_unit=ch.unit, scale=1.0, offset=0.0, description=desc, derived=meta))
    return Stream(name=name, rate_hz=rate_out, channels=chans,
                  description=f"Stream {src.name} resampled from {src.rate_hz:g} Hz to {rate_out:g} Hz "
                              f"(anti-aliased polyphase, ratio {up}/{down})")


# --------------------------------------------------------------------------------------------
# per-shard work (runs in worker processes: picklable arguments only)

def _process_session(job: dict[str, Any], t: np.ndarray, x: np.ndarray,
                     lab: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    if job["kind"] == "bands":
        fb = job["_fb"]
        x = unwrap_columns(x, job.get("angles", []))  # a wrapped angle's ±π jump would leak into every band
        y = split_bands(x, job["rate_hz"], fb, zero_phase=job["zero_phase"], what=job["what"])  # (nb, n, c)
        cols = {}  # float32 right away: the shard's sessions wait in memory until it is written
        for j, ch in enumerate(job["src_channels"]):
            for i in range(y.shape[0]):
                cols[f"{ch}_band{i}"] = y[i, :, j].astype(np.float32)
        return t, cols, lab
    y, pos, rate = resample_runs(x, job["rate_hz"], job["rate_out"], max_denominator=job["max_denominator"])
    t_out = (t[0] if len(t) else 0.0) + pos / job["rate_hz"]
    idx = np.minimum(np.rint(pos).astype(np.int64), max(len(lab) - 1, 0))
    lab_out = lab[idx] if len(lab) else lab
    return t_out, {ch: y[:, j].astype(np.float32) for j, ch in enumerate(job["src_channels"])}, lab_out


def derive_shard(job: dict[str, Any], src: str, dest: str, card_dict: dict[str, Any]) -> dict[str, Any]:
    """Process one source shard into one derived shard; returns {rows, sessions}."""
    card = DatasetCard.from_dict(card_dict)
    stream = card.stream(job["out"])
    if job["kind"] == "bands":
        job = dict(job, _fb=design_bands(job["bands"], job["rate_hz"], order=job["order"], method=job["method"],
                                         what=job["what"]))
    sessions: list[Session] = []
    for subject, session, t, x, lab in iter_sessions(Path(src), job["src_channels"]):
        t_out, cols, lab_out = _process_session(job, t, x, lab)
        sessions.append(Session(stream.name, subject, session, cols, lab_out, t_out))
    if not sessions:
        raise SchemaError(f"{src}: no rows to derive from")
    info = write_sessions(Path(dest), card, stream, sessions)
    return {"rows": info["rows"], "sessions": [s.session for s in sessions]}


# --------------------------------------------------------------------------------------------
# the dataset-level operation

def is_derived(stream: Stream) -> bool:
    return bool(stream.channels) and all(c.derived for c in stream.channels)


def _run(name: str, root: str | os.PathLike[str] | None, src_name: str | None, make_stream: Callable[[Stream], Stream],
         job: dict[str, Any], *, workers: int, progress: bool, say: Callable[[str], None],
         engine: str | None = None, address: str | None = None) -> Stream:
    paths, card = load_card(name, root)
    src = card.stream(src_name) if src_name else card.streams[0]
    new_stream = make_stream(src)
    _check_name(new_stream.name)
    if new_stream.name == src.name:
        raise ImudataError(f"{card.id}: the derived stream cannot replace its own source stream {src.name!r}")
    with dataset_lock(paths, job["kind"]):
        paths, card = load_card(name, root)  # re-read under the lock
        for s in card.streams:
            if s.name == new_stream.name and not is_derived(s):
                raise ImudataError(f"{card.id}: stream {s.name!r} holds converted data; pick another --name")
        src_shards = [sh for sh in card.shards if sh["stream"] == src.name]
        if not src_shards:
            raise ImudataError(f"{card.id}: stream {src.name!r} has no shards to derive from")
        streams = [s for s in card.streams if s.name != new_stream.name]
        at = next((i for i, s in enumerate(card.streams) if s.name == new_stream.name), len(streams))
        streams.insert(min(at, len(streams)), new_stream)
        kept = [sh for sh in card.shards if sh["stream"] != new_stream.name]
        new_card = replace(card, streams=streams, shards=kept)
        validate_card(new_card)
        card_dict = new_card.to_dict()
        job = dict(job, out=new_stream.name, src_channels=[c.name for c in src.channels],
                   angles=angle_indices(src.channels), what=f"{card.id} stream {src.name}")
        tmp_dir = paths.parquet / f".{new_stream.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir(parents=True)
        dests = [tmp_dir / f"part-{i:05d}.parquet" for i in range(len(src_shards))]
        args = [(job, str(paths.base / sh["path"]), str(d), card_dict) for sh, d in zip(src_shards, dests)]
        try:
            results = run_jobs(derive_shard, args, workers=workers, desc=f"{new_stream.name} {card.id}",
                               unit="shard", progress=progress, engine=engine, address=address)
            tag = new_tag()
            records = []
            for i, (sh, dest, res) in enumerate(zip(src_shards, dests, results)):
                rel = shard_relpath(new_stream.name, i, tag)
                (paths.base / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(dest, paths.base / rel)
                records.append({"path": rel, "stream": new_stream.name,
                                "subject": sh["subject"], "sessions": res["sessions"],
                                "session_start": sh.get("session_start", {}), "rows": res["rows"],
                                "bytes": (paths.base / rel).stat().st_size, "sha256": sha256_file(paths.base / rel)})
            fault_point("derive:after-shards")
            final = replace(new_card, shards=kept + records)
            write_card(paths, final)  # the commit point
            fault_point("derive:after-card")
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        collect_garbage(paths, final)  # the previous version of the stream
    rows = sum(r["rows"] for r in records)
    say(f"{card.id}: wrote stream {new_stream.name} ({len(new_stream.channels)} channels at {new_stream.rate_hz:g} Hz, "
        f"{len(records)} shards, {rows:,} rows)")
    return new_stream


def derive_bands(name: str, root: str | os.PathLike[str] | None = None, *, stream: str | None = None,
                 bands: str = DEFAULT_BANDS, order: int = DEFAULT_ORDER, zero_phase: bool = True,
                 method: str = "complementary", out: str | None = None, workers: int = 1, progress: bool = True,
                 log: Callable[[str], None] | None = None, engine: str | None = None,
                 address: str | None = None) -> Stream:
    """Write the band split of a stream as derived stream ``out`` (default ``<stream>_bands``).

    ``engine`` schedules the shards (``imudata.engines``); an ``s3://`` root goes through a local
    working copy (``imudata.remote``)."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    if _remote(root):
        from .paths import resolve_root
        from .remote import on_working_copy, relabel

        return on_working_copy(name, root, lambda local: derive_bands(
            name, local, stream=stream, bands=bands, order=order, zero_phase=zero_phase, method=method, out=out,
            workers=workers, progress=progress, log=relabel(say, local, resolve_root(root)), engine=engine, address=address))
    paths, card = load_card(name, root)
    src = card.stream(stream) if stream else card.streams[0]

    def make(s: Stream) -> Stream:
        fb = design_bands(bands, s.rate_hz, order=order, method=method, what=f"{card.id} stream {s.name}")
        return band_stream(s, fb, zero_phase=zero_phase, name=out or f"{s.name}_bands")

    job = {"kind": "bands", "bands": bands, "order": order, "method": method, "zero_phase": zero_phase,
           "rate_hz": src.rate_hz}
    return _run(name, root, src.name, make, job, workers=workers, progress=progress, say=say, engine=engine,
                address=address)


def _remote(root: str | os.PathLike[str] | None) -> bool:
    from .paths import resolve_root
    from .storage import is_remote

    return is_remote(resolve_root(root))


def derive_resample(name: str, root: str | os.PathLike[str] | None = None, *, rate: float, stream: str | None = None,
                    out: str | None = None, max_denominator: int = 1000, workers: int = 1, progress: bool = True,
                    log: Callable[[str], None] | None = None, engine: str | None = None,
                    address: str | None = None) -> Stream:
    """Write an anti-aliased resampled copy of a stream as ``out`` (default ``<stream>_<rate>hz``)."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    if _remote(root):
        from .paths import resolve_root
        from .remote import on_working_copy, relabel

        return on_working_copy(name, root, lambda local: derive_resample(
            name, local, rate=rate, stream=stream, out=out, max_denominator=max_denominator, workers=workers,
            progress=progress, log=relabel(say, local, resolve_root(root)), engine=engine, address=address))
    paths, card = load_card(name, root)
    src = card.stream(stream) if stream else card.streams[0]
    up, down = rational_ratio(src.rate_hz, rate, max_denominator)
    actual = src.rate_hz * up / down
    if abs(actual - rate) > 1e-9 * rate:
        say(f"{card.id}: {rate:g} Hz is approximated as {src.rate_hz:g} x {up}/{down} = {actual:.9g} Hz")

    def make(s: Stream) -> Stream:
        return resample_stream(s, actual, up, down, name=out or f"{s.name}_{rate_suffix(rate)}",
                               max_denominator=max_denominator)

    job = {"kind": "resample", "rate_hz": src.rate_hz, "rate_out": rate, "max_denominator": max_denominator}
    return _run(name, root, src.name, make, job, workers=workers, progress=progress, say=say, engine=engine,
                address=address)


def remove_derived(name: str, stream: str, root: str | os.PathLike[str] | None = None) -> None:
    """Delete a derived stream's shards and its entry in dataset.json."""
    paths, card = load_card(name, root)
    with dataset_lock(paths, "remove-derived"):
        paths, card = load_card(name, root)
        s = card.stream(stream)
        if not is_derived(s):
            raise ImudataError(f"{card.id}: stream {stream!r} is not a derived stream")
        final = replace(card, streams=[x for x in card.streams if x.name != stream],
                        shards=[sh for sh in card.shards if sh["stream"] != stream])
        write_card(paths, final)
        collect_garbage(paths, final)
