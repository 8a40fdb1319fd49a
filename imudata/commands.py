"""One Python function per ``imudata`` command, returning what ``--json`` prints.

    from imudata import commands
    commands.fetch("hapt", from_path="downloads/hapt.zip")    # download/copy, verify, extract, convert
    commands.sessions("hapt", subject="5")["sessions"]        # every (subject, session) with its length
    commands.verify("hapt")["ok"]

Each function takes the dataset id and ``root`` (default ``$IMUDATA_HOME``, then the user cache)
like the command, raises the same :class:`~imudata.errors.ImudataError` subclasses the command
reports as one line (exit 2), and returns the JSON-ready object that the command's ``--json``
prints (keys: docs/scripting.md). Human messages go to ``log`` (default: stderr); progress bars are
off unless ``progress=True``. The names follow the commands; ``imudata.fetch`` and friends are the
modules that do the work, hence this separate namespace.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .jsonout import envelope

Log = Callable[[str], None]


def _say(log: Log | None) -> Log:
    return log or (lambda msg: print(msg, file=sys.stderr))


def _card_summary(card: Any, root: str | os.PathLike[str] | None) -> dict[str, Any]:
    """What a converted copy holds: its card path, streams, subjects, shard and row counts."""
    from .paths import DatasetPaths, resolve_root

    rows: dict[str, int] = {}
    for sh in card.shards:
        rows[sh["stream"]] = rows.get(sh["stream"], 0) + sh["rows"]
    return {
        "id": card.id,
        "card": str(DatasetPaths(resolve_root(root), card.id).card),
        "streams": [{"name": s.name, "rate_hz": s.rate_hz, "channels": [c.name for c in s.channels],
                     "shards": sum(1 for sh in card.shards if sh["stream"] == s.name), "rows": rows.get(s.name, 0)}
                    for s in card.streams],
        "subjects": list(card.subjects),
        "shards": len(card.shards),
        "rows": sum(rows.values()),
    }


def info(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The dataset card as ``imudata info --json`` prints it (registry figures until converted)."""
    from . import registry
    from .info import summary

    return summary(registry.get(name), root)


def fetch(names: str | Sequence[str], root: str | os.PathLike[str] | None = None, *, mirror: str | None = None,
          from_path: str | os.PathLike[str] | None = None, convert: bool = True, workers: int = 1,
          max_expand_ratio: float | None = None, max_expand_size: str | None = None, progress: bool = False,
          log: Log | None = None) -> dict[str, Any]:
    """Download (or copy ``from_path``), verify, extract and (unless ``convert=False``) convert.

    Returns ``{"datasets": [{"id", "raw", "converted", ...}]}``; a converted entry also has the
    keys of :func:`convert`'s result.
    """
    from . import registry
    from .acquire import fetch as do_fetch
    from .convert import convert as do_convert
    from .errors import ImudataError
    from .locking import dataset_lock
    from .paths import DatasetPaths, resolve_root

    ids = [names] if isinstance(names, str) else list(names)
    if not ids:
        raise ImudataError("fetch: give at least one dataset id (see `imudata list`)")
    if from_path is not None and len(ids) != 1:
        raise ImudataError("--from takes exactly one dataset name")
    say = _say(log)
    limits = None
    if max_expand_ratio is not None or max_expand_size is not None:
        from .fetch import ExtractLimits

        env = ExtractLimits.from_env()
        try:
            limits = ExtractLimits.parse(max_expand_ratio if max_expand_ratio is not None else env.max_ratio,
                                         max_expand_size if max_expand_size is not None else env.max_bytes)
        except ValueError as exc:
            raise ImudataError(f"--max-expand-ratio / --max-expand-size: {exc}") from exc
    done = []
    from .storage import is_remote

    if is_remote(resolve_root(root)):  # fetched into a working copy, raw/ and shards uploaded
        from .remote import fetch_remote, relabel

        remote = resolve_root(root)
        for name in ids:
            res = fetch_remote(name, remote, lambda local: fetch(  # type: ignore[arg-type]
                name, local, mirror=mirror, from_path=from_path, convert=convert, workers=workers,
                max_expand_ratio=max_expand_ratio, max_expand_size=max_expand_size, progress=progress,
                log=relabel(log, local, remote)), convert=convert)  # type: ignore[arg-type]
            for entry in res["datasets"]:
                entry["raw"] = str(DatasetPaths(remote, entry["id"]).extracted)
                if "card" in entry:
                    entry["card"] = str(DatasetPaths(remote, entry["id"]).card)
                done.append(entry)
        return envelope("fetch", datasets=done)
    for name in ids:
        spec = registry.get(name)
        with dataset_lock(DatasetPaths(resolve_root(root), spec.id), "fetch"):
            paths = do_fetch(name, root, mirror=mirror, from_path=from_path, progress=progress, log=say, limits=limits)
            entry: dict[str, Any] = {"id": spec.id, "raw": str(paths.extracted), "converted": False}
            if convert:
                card = do_convert(name, root, workers=workers, progress=progress, log=say)
                say(f"{card.id}: converted, {len(card.shards)} shards, {len(card.subjects)} subjects")
                entry.update(_card_summary(card, root), converted=True)
        done.append(entry)
    return envelope("fetch", datasets=done)


def convert(name: str, root: str | os.PathLike[str] | None = None, *, workers: int = 1, force: bool = False,
            progress: bool = False, log: Log | None = None, engine: str | None = None,
            address: str | None = None) -> dict[str, Any]:
    """Convert fetched originals to Parquet shards.

    Returns ``{"id", "card", "streams", "subjects", "shards", "rows"}`` (an up-to-date copy is not
    converted again, unless ``force``).
    """
    from .engines import resolve_engine

    resolve_engine(engine)  # an unknown engine is an error even when there is nothing to do
    from .convert import convert as do_convert

    card = do_convert(name, root, workers=workers, force=force, progress=progress, log=_say(log), engine=engine,
                      address=address)
    return envelope("convert", **_card_summary(card, root))


def verify(name: str, root: str | os.PathLike[str] | None = None, *, log: Log | None = None) -> dict[str, Any]:
    """Re-hash raw files and shards, validate schemas; ``{"id", "ok", "problems", "originals"}``.

    ``problems`` lists each failure (empty when ``ok``); ``originals`` holds the per-file status
    lines of the original files. Nothing is raised for a failed check: read ``ok``.
    """
    from . import registry
    from .originals import verify_originals
    from .verify import verify as do_verify

    spec = registry.get(name)
    from .paths import resolve_root
    from .storage import is_remote

    if is_remote(resolve_root(root)):  # checked on a working copy equal to the server's objects
        from .remote import working_copy_for_verify

        root = working_copy_for_verify(name, resolve_root(root))  # type: ignore[arg-type]
    problems = list(do_verify(name, root))
    lines, changed = verify_originals(name, root)
    say = _say(log)
    for line in lines:
        say(line)
    problems += changed
    return envelope("verify", id=spec.id, ok=not problems, problems=problems, originals=list(lines))


def _derived(command: str, name: str, root: str | os.PathLike[str] | None, source: str | None,
             stream: Any) -> dict[str, Any]:
    from .api import load_card

    _, card = load_card(name, root)
    shards = [sh for sh in card.shards if sh["stream"] == stream.name]
    return envelope(command, id=card.id, stream=stream.name, source=source or card.streams[0].name,
                    rate_hz=stream.rate_hz, channels=[c.name for c in stream.channels], shards=len(shards),
                    rows=sum(sh["rows"] for sh in shards), card=str(_card_path(card.id, root)))


def _card_path(dataset_id: str, root: str | os.PathLike[str] | None) -> Path:
    from .paths import DatasetPaths, resolve_root

    return DatasetPaths(resolve_root(root), dataset_id).card


def bands(name: str, root: str | os.PathLike[str] | None = None, *, stream: str | None = None,
          bands: str = "0-1,1-4,4-", order: int = 4, causal: bool = False, method: str = "complementary",
          out: str | None = None, workers: int = 1, progress: bool = False, log: Log | None = None,
          engine: str | None = None, address: str | None = None) -> dict[str, Any]:
    """Split a stream into frequency bands as a derived stream (docs/bands.md).

    Returns ``{"id", "stream", "source", "rate_hz", "channels", "shards", "rows", "card"}``.
    """
    from .engines import resolve_engine

    resolve_engine(engine)  # an unknown engine is an error even when there is nothing to do
    from .derive import derive_bands

    new = derive_bands(name, root, stream=stream, bands=bands, order=order, zero_phase=not causal, method=method,
                       out=out, workers=workers, progress=progress, log=_say(log), engine=engine, address=address)
    return _derived("bands", name, root, stream, new)


def resample(name: str, root: str | os.PathLike[str] | None = None, *, rate: float, stream: str | None = None,
             out: str | None = None, workers: int = 1, progress: bool = False,
             log: Log | None = None, engine: str | None = None, address: str | None = None) -> dict[str, Any]:
    """Resample a stream to ``rate`` Hz as a derived stream (anti-aliased, docs/derived.md).

    Same keys as :func:`bands`; ``rate_hz`` is the rate reached (the nearest fraction of the source rate).
    """
    from .engines import resolve_engine

    resolve_engine(engine)  # an unknown engine is an error even when there is nothing to do
    from .derive import derive_resample

    new = derive_resample(name, root, rate=rate, stream=stream, out=out, workers=workers, progress=progress,
                          log=_say(log), engine=engine, address=address)
    return _derived("resample", name, root, stream, new)


def caption(name: str | None = None, root: str | os.PathLike[str] | None = None, *, level: str = "high_middle",
            window: float = 60.0, stride: float = 60.0, seed: int = 0, labels: bool = True,
            min_activity: float = 2.0, stream: str | None = None, manifest: str | os.PathLike[str] | None = None,
            workers: int = 1, progress: bool = False, log: Log | None = None, engine: str | None = None,
            address: str | None = None) -> dict[str, Any]:
    """Caption fixed windows of one dataset, of a manifest's datasets, or of every converted one.

    Returns ``{"captions": [{"id", "stream", "level", "folder", "rows"}]}``, one entry per dataset
    and level written (docs/captions.md).
    """
    from .engines import resolve_engine

    resolve_engine(engine)  # an unknown engine is an error even when there is nothing to do
    import json

    from .captions import CaptionConfig, caption_dataset
    from .captions.writer import converted_datasets, datasets_from_manifest
    from .errors import ImudataError

    if name is not None and manifest is not None:
        raise ImudataError("give a dataset name or --manifest, not both")
    if name:
        todo = [(name, stream)]
    elif manifest:
        todo = [(d, stream or s) for d, s in datasets_from_manifest(manifest, root)]
    else:
        todo = [(d, stream) for d in converted_datasets(root)]
    if not todo:
        raise ImudataError("no converted dataset found under the root; run `imudata fetch NAME` first (or pass --root)")
    cfg = CaptionConfig(window_s=window, stride_s=stride, seed=seed, labels=labels, min_activity_s=min_activity)
    written = []
    for n, s in todo:
        for lv, folder in caption_dataset(n, root, levels=level, config=cfg, stream=s, workers=workers,
                                          progress=progress, log=_say(log), engine=engine,
                                          address=address).items():
            index = json.loads((folder / "captions.json").read_text(encoding="utf-8"))
            written.append({"id": index["dataset"], "stream": index["stream"], "level": lv, "folder": str(folder),
                            "rows": index["rows"]})
    return envelope("caption", captions=written)


def sessions(name: str, root: str | os.PathLike[str] | None = None, *, subject: str | None = None,
             stream: str | None = None) -> dict[str, Any]:
    """Every recording session of a converted stream, in the card's order.

    Returns ``{"id", "stream", "rate_hz", "sessions": [{"subject", "session", "ref", "rows", "seconds"}]}``;
    ``ref`` (``SUBJECT/SESSION``) is what ``imudata plot --session`` takes. ``subject`` keeps one
    subject's sessions (an unknown subject is an error naming the known ones).
    """
    import difflib

    import polars as pl

    from .api import open as open_dataset
    from .errors import DatasetNotFound

    ds = open_dataset(name, root)
    st = ds.card.stream(stream) if stream else ds.card.streams[0]
    shards = [sh for sh in ds.card.shards if sh["stream"] == st.name]
    known = list(dict.fromkeys(sh["subject"] for sh in shards))
    if subject is not None and subject not in known:
        close = difflib.get_close_matches(subject, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DatasetNotFound(f"{ds.id}: no subject {subject!r} in stream {st.name}{hint}; "
                              f"subjects: {', '.join(known)}")
    shards = [sh for sh in shards if subject is None or sh["subject"] == subject]
    counts: dict[tuple[str, str], int] = {}
    if shards:
        from .storage import is_remote, storage_options

        kw = {"storage_options": storage_options()} if is_remote(ds.paths.root) else {}
        frame = (pl.scan_parquet([str(ds.paths.base / sh["path"]) for sh in shards], **kw)
                 .select("subject", "session").group_by("subject", "session").agg(pl.len().alias("n")).collect())
        counts = {(a, b): int(n) for a, b, n in frame.iter_rows()}
    rows = []
    for sh in shards:
        for sess in sh["sessions"]:
            n = counts.get((sh["subject"], sess), 0)
            rows.append({"subject": sh["subject"], "session": sess, "ref": f"{sh['subject']}/{sess}", "rows": n,
                         "seconds": n / st.rate_hz})
    return envelope("sessions", id=ds.id, stream=st.name, rate_hz=st.rate_hz, sessions=rows)


__all__ = ["info", "fetch", "convert", "verify", "bands", "resample", "caption", "sessions"]
