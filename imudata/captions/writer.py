"""Caption shards: ``<root>/<dataset>/captions/<level>/part-NNNNN.parquet`` plus ``captions.json``.

One caption shard per source shard of the captioned stream (same order, same subjects). A
level's folder is written under a temporary name and swapped in whole, so a reader never sees
a mix of old and new captions. Every shard embeds the generator version and the full
configuration (seed, window, thresholds) as JSON under the Parquet key ``imudata``.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa

from ..api import load_card
from ..derive import iter_sessions
from ..errors import DatasetNotFound, ImudataError
from ..fetch import sha256_file
from ..format import DatasetCard
from ..locking import dataset_lock
from ..parallel import run_jobs
from ..paths import DatasetPaths, resolve_root
from ..shards import write_table
from .generate import LEVEL_PARTS, SEMANTIC_PARTS, CaptionConfig, Captioner, SessionCaptions, parse_levels
from .templates import GENERATOR

CAPTION_SCHEMA = pa.schema([
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("stream", pa.string(), nullable=False),
    pa.field("subject", pa.string(), nullable=False),
    pa.field("session", pa.string(), nullable=False),
    pa.field("window", pa.int32(), nullable=False),
    pa.field("start", pa.float64(), nullable=False),
    pa.field("end", pa.float64(), nullable=False),
    pa.field("level", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("template_ids", pa.list_(pa.string()), nullable=False),
    pa.field("generator", pa.string(), nullable=False),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("label_conditioned", pa.bool_(), nullable=False),
    pa.field("labels", pa.list_(pa.int16()), nullable=False),
    pa.field("label", pa.int16()),
    pa.field("labelled", pa.float32(), nullable=False),
])


def level_folder(level: str, labels: bool) -> str:
    """Folder name of a level's captions: the level, with ``_nolabels`` for label-free captions."""
    return level if labels else f"{level}_nolabels"


def captions_dir(paths: DatasetPaths) -> Path:
    return paths.base / "captions"


def _table(dataset: str, stream: str, level: str, subject: str, session: str, sc: SessionCaptions,
           cfg: CaptionConfig) -> pa.Table:
    n = len(sc)
    conditioned = cfg.labels and any(p in SEMANTIC_PARTS for p in LEVEL_PARTS[level])
    cols = {
        "dataset": pa.array([dataset] * n, pa.string()),
        "stream": pa.array([stream] * n, pa.string()),
        "subject": pa.array([subject] * n, pa.string()),
        "session": pa.array([session] * n, pa.string()),
        "window": pa.array(np.asarray(sc.window, dtype=np.int32)),
        "start": pa.array(np.asarray(sc.start, dtype=np.float64)),
        "end": pa.array(np.asarray(sc.end, dtype=np.float64)),
        "level": pa.array([level] * n, pa.string()),
        "text": pa.array(sc.text[level], pa.string()),
        "template_ids": pa.array(sc.template_ids[level], pa.list_(pa.string())),
        "generator": pa.array([GENERATOR] * n, pa.string()),
        "seed": pa.array(np.full(n, cfg.seed, dtype=np.int64)),
        "label_conditioned": pa.array(np.full(n, conditioned)),
        "labels": pa.array(sc.labels, pa.list_(pa.int16())),
        "label": pa.array(sc.label, pa.int16()),
        "labelled": pa.array(np.asarray(sc.labelled, dtype=np.float32)),
    }
    return pa.Table.from_pydict(cols, schema=CAPTION_SCHEMA)


def caption_shard(card_dict: dict[str, Any], stream: str, src: str, dests: dict[str, str],
                  levels: list[str], cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """Caption one source shard for several levels; writes one shard per level. Returns counts.

    Runs in worker processes: picklable arguments only.
    """
    card = DatasetCard.from_dict(card_dict)
    cfg = CaptionConfig.from_dict(cfg_dict)
    cap = Captioner(card, stream, cfg, levels)
    tables: dict[str, list[pa.Table]] = {lv: [] for lv in levels}
    sessions: list[str] = []
    channels = [c.name for c in cap.stream.channels]
    for subject, session, t, x, lab in iter_sessions(Path(src), channels):
        sc = cap.session(subject, session, t, x, lab)
        sessions.append(session)
        for lv in levels:
            tables[lv].append(_table(card.id, cap.stream.name, lv, subject, session, sc, cfg))
    rows = 0
    for lv in levels:
        table = pa.concat_tables(tables[lv]) if tables[lv] else CAPTION_SCHEMA.empty_table()
        meta = {"captions": {"dataset": card.id, "stream": cap.stream.name, "level": lv, "generator": GENERATOR,
                             "config": cfg.to_dict()},
                "shard": {"rows": table.num_rows, "source": src}}
        write_table(Path(dests[lv]), table, meta)
        rows = table.num_rows
    return {"rows": rows, "sessions": sessions}


def caption_dataset(name: str, root: str | os.PathLike[str] | None = None, *, levels: str | Sequence[str] = "high_middle",
                    config: CaptionConfig | None = None, stream: str | None = None, workers: int = 1,
                    progress: bool = True, log: Callable[[str], None] | None = None, engine: str | None = None,
                    address: str | None = None) -> dict[str, Path]:
    """Caption every window of a converted dataset's stream; returns {level: folder written}.

    Holds the dataset lock, so a conversion cannot replace the shards being captioned. ``engine``
    schedules the shards (``imudata.engines``); an ``s3://`` root goes through a local working
    copy and each level is published with ``captions.json`` last (``imudata.remote``).
    """
    from .. import registry
    from ..storage import is_remote

    if is_remote(resolve_root(root)):
        from ..remote import caption_remote, relabel

        return caption_remote(name, resolve_root(root), lambda local: caption_dataset(
            name, local, levels=levels, config=config, stream=stream, workers=workers, progress=progress,
            log=relabel(log, local, resolve_root(root)), engine=engine, address=address))
    with dataset_lock(DatasetPaths(resolve_root(root), registry.get(name).id), "caption"):
        return _caption_dataset(name, root, levels=levels, config=config, stream=stream, workers=workers,
                                progress=progress, log=log, engine=engine, address=address)


def _caption_dataset(name: str, root: str | os.PathLike[str] | None, *, levels: str | Sequence[str],
                     config: CaptionConfig | None, stream: str | None, workers: int,
                     progress: bool, log: Callable[[str], None] | None, engine: str | None = None,
                     address: str | None = None) -> dict[str, Path]:
    say = log or (lambda msg: print(msg, file=sys.stderr))
    cfg = config or CaptionConfig()
    lvls = parse_levels(levels)
    paths, card = load_card(name, root)
    cap = Captioner(card, stream, cfg, lvls)  # validates levels, window and stream up front
    src_shards = [sh for sh in card.shards if sh["stream"] == cap.stream.name]
    if not src_shards:
        raise ImudataError(f"{card.id}: stream {cap.stream.name!r} has no shards to caption")
    base = captions_dir(paths)
    pid = os.getpid()
    tmp = {lv: base / f".{level_folder(lv, cfg.labels)}.tmp-{pid}" for lv in lvls}
    for d in tmp.values():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    jobs = []
    for i, sh in enumerate(src_shards):
        dests = {lv: str(tmp[lv] / f"part-{i:05d}.parquet") for lv in lvls}
        jobs.append((card.to_dict(), cap.stream.name, str(paths.base / sh["path"]), dests, lvls, cfg.to_dict()))
    written: dict[str, Path] = {}
    try:
        results = run_jobs(caption_shard, jobs, workers=workers, desc=f"caption {card.id}", unit="shard",
                           progress=progress, engine=engine, address=address)
        for lv in lvls:
            parts = []
            for i, (sh, res) in enumerate(zip(src_shards, results)):
                p = tmp[lv] / f"part-{i:05d}.parquet"
                parts.append({"path": p.name, "subject": sh["subject"], "sessions": res["sessions"],
                              "rows": res["rows"], "bytes": p.stat().st_size, "sha256": sha256_file(p),
                              "source": sh["path"], "source_sha256": sh.get("sha256")})
            index = {"dataset": card.id, "stream": cap.stream.name, "level": lv, "generator": GENERATOR,
                     "config": cfg.to_dict(), "rows": sum(p["rows"] for p in parts), "parts": parts}
            (tmp[lv] / "captions.json").write_text(json.dumps(index, indent=2, ensure_ascii=False))
            final = base / level_folder(lv, cfg.labels)
            old = base / f".{final.name}.old-{pid}"
            if final.exists():
                os.replace(final, old)
            os.replace(tmp[lv], final)
            shutil.rmtree(old, ignore_errors=True)
            written[lv] = final
            say(f"{card.id}: {index['rows']:,} captions at level {lv} in {final}")
    finally:
        for d in tmp.values():
            shutil.rmtree(d, ignore_errors=True)
    return written


def converted_datasets(root: str | os.PathLike[str] | None = None) -> list[str]:
    """Ids of every converted dataset under the root (folders holding a dataset.json)."""
    from .. import registry

    base = resolve_root(root)
    known = set(registry.names())
    if not base.exists():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "dataset.json").exists() and p.name in known)


def datasets_from_manifest(path: str | os.PathLike[str],
                           root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """(dataset id, stream) of every entry of a training manifest (docs/manifests.md), in order.

    The manifest is only parsed and checked against the registry (no split resolution, nothing
    written back). Every dataset must be converted under the root; the error lists those that
    are not.
    """
    from ..manifest import load

    m = load(path, root=root, resolve=False, write_back=False)
    pairs = list(dict.fromkeys((e.id, e.stream) for e in m.datasets))
    have = set(converted_datasets(root))
    missing = sorted({d for d, _ in pairs if d not in have})
    if missing:
        raise DatasetNotFound(f"manifest {path} names datasets not converted under {resolve_root(root)}: "
                              f"{', '.join(missing)} (run `imudata fetch {' '.join(missing)}`)")
    return pairs
