"""Converting an extracted original tree into shards, one subject per task.

The run is idempotent (a finished conversion of the same sources is not redone), resumable
(subjects finished before an interruption are kept in ``.work``) and atomic (shards and
``dataset.json`` appear together at the end; a partial shard is never visible).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import evidence, physics, registry
from .api import write_card
from .errors import DatasetNotFound, FormatError, ImudataError
from .fetch import sha256_file
from .layout import find_root
from .format import DatasetCard, validate_card
from .parallel import run_jobs
from .paths import DatasetPaths, resolve_root
from .registry import DatasetSpec, Session, natural_key
from .shards import write_sessions

#: A subject's sessions are grouped into shards of about this many rows (never splitting a session).
SHARD_ROWS = 4_000_000


def load_lock_sources(paths: DatasetPaths) -> dict[str, str]:
    """name -> sha256 of every source recorded for a dataset (archives or files of a local copy)."""
    if not paths.lock.exists():
        return {}
    data = json.loads(paths.lock.read_text())
    return {k: v["sha256"] for k, v in sorted(data.get("files", {}).items())}


def data_root(spec: DatasetSpec, paths: DatasetPaths) -> Path:
    """The root of the original tree: the folder holding ``spec.marker``, else located by ``spec.layout``."""
    if not paths.extracted.exists():
        raise DatasetNotFound(
            f"{spec.id}: no original files under {paths.extracted}; run `imudata fetch {spec.id}` "
            f"(or `imudata fetch {spec.id} --from PATH` for a manual download)"
        )
    return find_root(paths.extracted, spec)


def _fingerprint(card: DatasetCard, sources: dict[str, str], subjects: list[str]) -> str:
    blob = json.dumps([card.format_version, card.converter_version, sources, subjects], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _check_labels(spec: DatasetSpec, sess: Session) -> None:
    if sess.label is None:
        return
    ids = np.unique(np.asarray(sess.label))
    known = set(spec.card.label_map()) | {-1}
    bad = [int(i) for i in ids if int(i) not in known]
    if bad:
        raise FormatError(f"{spec.id}: subject {sess.subject} session {sess.session} has label ids {bad} not in the dataset's label list")


def convert_subject(dataset_id: str, root: str, subject: str, unit: Any, work: str, card_dict: dict) -> dict:
    """Convert one subject into staged shards under ``work``; returns the record of what was written.

    Runs in a worker process: takes only picklable arguments.
    """
    spec = registry.get(dataset_id)
    card = DatasetCard.from_dict(card_dict)
    workdir = Path(work)
    pending: dict[str, list[Session]] = {}
    pending_rows: dict[str, int] = {}
    written: dict[str, list[dict]] = {}
    notes: list[str] = []
    measured = physics.Accumulator(card)

    def flush(stream_name: str) -> None:
        sessions = pending.pop(stream_name, [])
        pending_rows.pop(stream_name, None)
        if not sessions:
            return
        k = len(written.setdefault(stream_name, []))
        safe = subject.replace("/", "_")
        path = workdir / stream_name / f"{safe}-{k:03d}.parquet"
        sessions.sort(key=lambda s: natural_key(s.session))
        info = write_sessions(path, card, card.stream(stream_name), sessions)
        written[stream_name].append({"file": str(path.relative_to(workdir)), "rows": info["rows"],
                                     "sessions": [s.session for s in sessions],
                                     "session_start": info["session_start"]})

    for sess in spec.read(Path(root), subject, unit):
        if isinstance(sess, registry.Note):
            notes.append(sess.text)
            continue
        if len(sess) == 0:
            continue
        if sess.subject != subject:
            raise FormatError(f"{dataset_id}: reader for subject {subject} yielded subject {sess.subject}")
        _check_labels(spec, sess)
        measured.add(sess)
        pending.setdefault(sess.stream, []).append(sess)
        pending_rows[sess.stream] = pending_rows.get(sess.stream, 0) + len(sess)
        if pending_rows[sess.stream] >= SHARD_ROWS:
            flush(sess.stream)
    for stream_name in list(pending):
        flush(stream_name)
    record = {"subject": subject, "streams": written, "notes": notes, "physics": measured.to_dict()}
    done = workdir / "done" / f"{subject.replace('/', '_')}.json"
    done.parent.mkdir(parents=True, exist_ok=True)
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, done)
    return record


def _up_to_date(paths: DatasetPaths, fingerprint: str) -> DatasetCard | None:
    if not paths.card.exists():
        return None
    try:
        card = DatasetCard.from_dict(json.loads(paths.card.read_text()))
    except (ValueError, ImudataError):
        return None
    if card.completeness.get("fingerprint") != fingerprint:
        return None
    for sh in card.shards:
        p = paths.base / sh["path"]
        if not p.exists() or p.stat().st_size != sh["bytes"]:
            return None
    return card


def convert(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> DatasetCard:
    """Convert a fetched dataset into ``<root>/<name>/parquet`` and ``dataset.json``; returns the card."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    spec = registry.get(name)
    paths = DatasetPaths(resolve_root(root), spec.id)
    droot = data_root(spec, paths)
    plan = spec.plan(droot)
    if not plan.subjects:
        why = "".join(f"; missing from this copy: {m}" for m in plan.missing)
        raise FormatError(f"{spec.id}: no subject data found under {droot}{why}; expected the original layout "
                          f"shown by `imudata info {spec.id}`")
    subjects = sorted(plan.subjects, key=natural_key)
    sources = load_lock_sources(paths)
    card = replace(spec.card, sources=sources)
    validate_card(card)
    fp = _fingerprint(card, sources, subjects)
    if not force:
        done_card = _up_to_date(paths, fp)
        if done_card is not None:
            say(f"{spec.id}: up to date ({len(done_card.shards)} shards, nothing to do)")
            return done_card
    for msg in plan.missing:
        say(f"{spec.id}: missing from this copy: {msg}")
    work = paths.work / fp
    if paths.work.exists():
        for old in paths.work.iterdir():
            if old.name != fp:
                shutil.rmtree(old, ignore_errors=True)
    if force and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    records: dict[str, dict] = {}
    for f in (work / "done").glob("*.json") if (work / "done").exists() else []:
        rec = json.loads(f.read_text())
        records[rec["subject"]] = rec
    todo = [s for s in subjects if s not in records]
    if records:
        say(f"{spec.id}: resuming, {len(records)} of {len(subjects)} subjects already converted")
    card_dict = card.to_dict()
    jobs = [(spec.id, str(droot), s, plan.subjects[s], str(work), card_dict) for s in todo]
    for rec in run_jobs(convert_subject, jobs, workers=workers, desc=f"convert {spec.id}", unit="subject",
                        progress=progress):
        records[rec["subject"]] = rec
    stale = _derived_streams(paths)
    final = _finalize(spec, paths, card, records, subjects, work, fp, plan)
    final = evidence.annotate(spec, paths, droot, final, records)
    if stale:
        say(f"{spec.id}: derived streams {', '.join(stale)} were computed from the previous conversion and "
            f"have been removed; run `imudata bands` / `imudata resample` again")
    return final


def _derived_streams(paths: DatasetPaths) -> list[str]:
    """Names of derived streams (bands, resampled) in the current card, which a new conversion replaces."""
    if not paths.card.exists():
        return []
    try:
        old = json.loads(paths.card.read_text())
    except ValueError:
        return []
    return [s["name"] for s in old.get("streams", [])
            if s.get("channels") and all(c.get("derived") for c in s["channels"])]


def _finalize(spec: DatasetSpec, paths: DatasetPaths, card: DatasetCard, records: dict[str, dict],
              subjects: list[str], work: Path, fp: str, plan: registry.Plan) -> DatasetCard:
    """Number the staged shards in subject order, hash them, and swap them in with the card."""
    new = paths.base / "parquet.new"
    if new.exists():
        shutil.rmtree(new)
    shards: list[dict[str, Any]] = []
    with_data: list[str] = []
    for stream in card.streams:
        idx = 0
        for subj in subjects:
            for entry in records[subj]["streams"].get(stream.name, []):
                dest = new / stream.name / f"part-{idx:05d}.parquet"
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(work / entry["file"], dest)
                shards.append({
                    "path": f"parquet/{stream.name}/{dest.name}", "stream": stream.name, "subject": subj,
                    "sessions": entry["sessions"], "session_start": entry["session_start"],
                    "rows": entry["rows"], "bytes": dest.stat().st_size,
                    "sha256": sha256_file(dest),
                })
                idx += 1
                if subj not in with_data:
                    with_data.append(subj)
    if not shards:
        raise FormatError(f"{spec.id}: the original files held no samples; nothing was written")
    final = replace(card, subjects=sorted(with_data, key=natural_key), shards=shards,
                    completeness={"fingerprint": fp, "missing": plan.missing, "notes": plan.notes,
                                  "subjects_found": len(subjects)})
    old = paths.base / "parquet.old"
    if old.exists():
        shutil.rmtree(old)
    if paths.parquet.exists():
        os.replace(paths.parquet, old)
    os.replace(new, paths.parquet)
    write_card(paths, final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(paths.work, ignore_errors=True)
    return final
