"""Converting an extracted original tree into shards, one subject per task.

The run is idempotent (a finished conversion of the same sources is not redone), resumable
(subjects finished before an interruption are kept in ``.work``) and atomic for readers: shards
are published under fresh names and ``dataset.json`` is the single commit point (see
``imudata.publish``). Every interrupted state, including a ``kill -9`` during publication, is
repaired by a plain re-run. The whole run holds the dataset lock (``imudata.locking``).
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
from .api import read_card, write_card
from .datacard import readme_current, write_readme
from .errors import ChecksumMismatch, DatasetNotFound, FormatError, ImudataError
from .faults import fault_point
from .fetch import sha256_file
from .layout import find_root
from .format import DatasetCard, validate_card
from .locking import dataset_lock
from .parallel import run_jobs
from .paths import DatasetPaths, resolve_root, write_atomic
from .publish import collect_garbage, new_tag, place, shard_relpath
from .registry import DatasetSpec, Session, natural_key
from .shards import write_sessions

#: A subject's sessions are grouped into shards of about this many rows (never splitting a session).
SHARD_ROWS = 4_000_000


def load_lock_sources(paths: DatasetPaths) -> dict[str, str]:
    """name -> sha256 of every source recorded for a dataset (archives or files of a local copy).

    An invalid or wrong-shaped ``sources.lock.json`` is a FormatError naming the file and what was
    expected; a name that would leave the raw folders (absolute, ``..``) is refused.
    """
    if not paths.lock.exists():
        return {}
    fix = f"repair it, or delete it and run `imudata fetch {paths.id}` to record the checksums again"
    try:
        data = json.loads(paths.lock.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{paths.lock}: not valid JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise FormatError(f"{paths.lock}: expected {{\"version\": 1, \"files\": {{name: {{\"sha256\": ...}}}}}}; {fix}")
    out: dict[str, str] = {}
    for name, entry in sorted(data["files"].items()):
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower()):
            raise FormatError(f"{paths.lock}: files[{name!r}] has no 64-hex-digit 'sha256'; {fix}")
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise FormatError(f"{paths.lock}: file name {name!r} leaves the raw folder; {fix}")
        out[name] = sha.lower()
    return out


def checked_sources(paths: DatasetPaths, say: Callable[[str], None]) -> dict[str, str]:
    """The lock's sources after re-hashing every recorded file that is present; a difference is an error.

    The card records these hashes, so they must describe the files actually converted, not just
    what the lock claims. A recorded file that was deleted since (e.g. an archive removed after
    extraction) cannot be re-checked: that is said, and its recorded hash is kept.
    """
    recorded = load_lock_sources(paths)
    for name, sha in recorded.items():
        found = next((p for p in (paths.downloads / name, paths.extracted / name) if p.is_file()), None)
        if found is None:
            say(f"{paths.id}: {name} (recorded in {paths.lock.name}) is no longer on disk; its recorded sha256 "
                f"cannot be re-checked and is copied as it is")
            continue
        got = sha256_file(found)
        if got != sha:
            raise ChecksumMismatch(
                f"{found}: sha256 {got} differs from {sha} recorded in {paths.lock}; the file or the lock was "
                f"changed after it was fetched. Run `imudata fetch {paths.id}` to check the download again, or "
                f"delete both and fetch anew")
    return recorded


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

    empty: list[str] = []
    for sess in spec.read(Path(root), subject, unit):
        if isinstance(sess, registry.Note):
            notes.append(sess.text)
            continue
        if len(sess) == 0:
            empty.append(sess.session)  # counted in completeness.notes, not dropped silently
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
    record = {"subject": subject, "streams": written, "empty": empty, "notes": notes,
              "physics": measured.to_dict()}
    done = workdir / "done" / f"{subject.replace('/', '_')}.json"
    done.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(done, lambda tmp: tmp.write_text(json.dumps(record)))
    fault_point("convert:subject-done")
    return record


def _up_to_date(paths: DatasetPaths, fingerprint: str) -> DatasetCard | None:
    if not paths.card.exists():
        return None
    try:
        card = read_card(paths.card)
    except ImudataError:
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
    engine: str | None = None,
    address: str | None = None,
) -> DatasetCard:
    """Convert a fetched dataset into ``<root>/<name>/parquet`` and ``dataset.json``; returns the card.

    ``engine`` schedules the subjects (``local`` pool or ``ray``, ``imudata.engines``); an
    ``s3://`` root is converted through a local working copy (``imudata.remote``).
    """
    say = log or (lambda msg: print(msg, file=sys.stderr))
    spec = registry.get(name)
    paths = DatasetPaths(resolve_root(root), spec.id)
    from .storage import is_remote

    if is_remote(paths.root):
        from .remote import convert_remote

        return convert_remote(spec.id, paths.root, workers=workers, force=force, progress=progress, log=say,
                              engine=engine, address=address)
    droot = data_root(spec, paths)
    with dataset_lock(paths, "convert"):
        return _convert(spec, paths, droot, workers=workers, force=force, progress=progress, say=say,
                        engine=engine, address=address)


def _load_records(work: Path, say: Callable[[str], None]) -> dict[str, dict]:
    """The done-records of subjects staged in ``work`` whose staged shards are all still there."""
    records: dict[str, dict] = {}
    done = work / "done"
    for f in sorted(done.glob("*.json")) if done.exists() else []:
        try:
            rec = json.loads(f.read_text())
            files = [work / e["file"] for entries in rec["streams"].values() for e in entries]
            subject = rec["subject"]
        except (ValueError, KeyError, TypeError, AttributeError):
            say(f"{f}: unreadable progress record; that subject is converted again")
            f.unlink()
            continue
        if not all(p.is_file() for p in files):
            say(f"{f}: staged shards of subject {subject} are gone; it is converted again")
            f.unlink()
            continue
        records[subject] = rec
    return records


def _convert(spec: DatasetSpec, paths: DatasetPaths, droot: Path, *, workers: int, force: bool, progress: bool,
             say: Callable[[str], None], engine: str | None = None, address: str | None = None) -> DatasetCard:
    plan = spec.plan(droot)
    if not plan.subjects:
        why = "".join(f"; missing from this copy: {m}" for m in plan.missing)
        raise FormatError(f"{spec.id}: no subject data found under {droot}{why}; expected the original layout "
                          f"shown by `imudata info {spec.id}`")
    subjects = sorted(plan.subjects, key=natural_key)
    sources = checked_sources(paths, say)
    card = replace(spec.card, sources=sources)
    validate_card(card)
    fp = _fingerprint(card, sources, subjects)
    if not force:
        done_card = _up_to_date(paths, fp)
        if done_card is not None:
            _clean_up(paths, done_card)
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
    records = _load_records(work, say)
    records = {k: v for k, v in records.items() if k in plan.subjects}
    todo = [s for s in subjects if s not in records]
    if records:
        say(f"{spec.id}: resuming, {len(records)} of {len(subjects)} subjects already converted")
    card_dict = card.to_dict()
    jobs = [(spec.id, str(droot), s, plan.subjects[s], str(work), card_dict) for s in todo]
    for rec in run_jobs(convert_subject, jobs, workers=workers, desc=f"convert {spec.id}", unit="subject",
                        progress=progress, engine=engine, address=address):
        records[rec["subject"]] = rec
    stale = _derived_streams(paths)
    final = _finalize(spec, paths, droot, card, records, subjects, work, fp, plan)
    if stale:
        say(f"{spec.id}: derived streams {', '.join(stale)} were computed from the previous conversion and "
            f"have been removed; run `imudata bands` / `imudata resample` again")
    return final


def _clean_up(paths: DatasetPaths, card: DatasetCard) -> None:
    """After a published card: remove unlisted shard files and the staging area; repair a stale README.md."""
    if not readme_current(paths.base, card):  # e.g. a run killed between README.md and dataset.json
        write_readme(paths.base, card)
    collect_garbage(paths, card)
    fault_point("finalize:after-gc")
    shutil.rmtree(paths.work, ignore_errors=True)


def _derived_streams(paths: DatasetPaths) -> list[str]:
    """Names of derived streams (bands, resampled) in the current card, which a new conversion replaces."""
    if not paths.card.exists():
        return []
    try:
        old = read_card(paths.card)
    except ImudataError:  # a damaged card is simply replaced
        return []
    return [s.name for s in old.streams if s.channels and all(c.derived for c in s.channels)]


def _finalize(spec: DatasetSpec, paths: DatasetPaths, droot: Path, card: DatasetCard, records: dict[str, dict],
              subjects: list[str], work: Path, fp: str, plan: registry.Plan) -> DatasetCard:
    """Publish the staged shards under fresh names in subject order, then commit with the card.

    Fault points (``IMUDATA_FAULT``, see ``imudata.faults``): ``finalize:first-shard``,
    ``finalize:after-shards``, ``finalize:after-card``, ``finalize:after-gc``.
    """
    tag = new_tag()
    shards: list[dict[str, Any]] = []
    with_data: list[str] = []
    empty: list[str] = []
    for subj in subjects:
        empty += [f"{subj}/{s}" for s in records[subj].get("empty", [])]
    for stream in card.streams:
        idx = 0
        for subj in subjects:
            for entry in records[subj]["streams"].get(stream.name, []):
                rel = shard_relpath(stream.name, idx, tag)
                dest = paths.base / rel
                place(work / entry["file"], dest)
                shards.append({
                    "path": rel, "stream": stream.name, "subject": subj,
                    "sessions": entry["sessions"], "session_start": entry["session_start"],
                    "rows": entry["rows"], "bytes": dest.stat().st_size,
                    "sha256": sha256_file(dest),
                })
                fault_point("finalize:first-shard")
                idx += 1
                if subj not in with_data:
                    with_data.append(subj)
    if not shards:
        raise FormatError(f"{spec.id}: the original files held no samples; nothing was written")
    notes = list(plan.notes)
    if empty:
        notes.append(f"{len(empty)} sessions hold no samples in the original files and are not stored "
                     f"(subject/session): {', '.join(empty)}")
    fault_point("finalize:after-shards")
    final = replace(card, subjects=sorted(with_data, key=natural_key), shards=shards,
                    completeness={"fingerprint": fp, "missing": plan.missing, "notes": notes,
                                  "subjects_found": len(subjects)})
    final = evidence.annotate(spec, paths, droot, final, records)
    write_card(paths, final)
    fault_point("finalize:after-card")
    _clean_up(paths, final)
    return final
