"""Labelled windows of one manifest entry, read once into memory as raw SI arrays.

Every method of the benchmark (features, TSFM encodings) is computed from the same ``Windows``
object, so all methods see exactly the same windows in the same order. Labels are keys into the
dataset's activity labels (card order, one per canonical name).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import Source, WindowIndex, build_index, resolve_sources
from ..data.loader import ShardReader
from ..run import label_keys, load_manifest


@dataclass
class Windows:
    """Raw labelled windows of one or more sources."""

    sources: list[Source]
    index: WindowIndex
    x: list[np.ndarray]          # (T, C) float32 per window, the source's manifest channels
    y: np.ndarray                # int64 key into ``labels``
    labels: list[Any]            # imudata Canonical labels
    subjects: np.ndarray         # str per window

    def __len__(self) -> int:
        return len(self.y)

    @property
    def shard_paths(self) -> list[Path]:
        return [sh.path for sh in self.index.shards]


def activity_labels(src: Source) -> list[Any]:
    """The dataset's activity labels, one per canonical name, in card order."""
    out: dict[str, Any] = {}
    for _lid, c in sorted(src.canonical.items()):
        if c.activity and c.name not in out:
            out[c.name] = c
    return list(out.values())


def entry(manifest_path: str | Path, root: str | Path | None, dataset: str) -> Any:
    man = load_manifest(manifest_path, root)
    for e in man.datasets:
        if e.id == dataset:
            return e
    raise KeyError(f"{manifest_path}: no dataset {dataset!r} (has {[e.id for e in man.datasets]})")


def read_raw(index: WindowIndex, sources: Sequence[Source], cache_mb: int = 256) -> list[np.ndarray]:
    reader = ShardReader(cache_mb)
    out = []
    for w in range(len(index)):
        src = sources[int(index.source[w])]
        sh = int(index.shard[w])
        x = reader.read(sh, index.shards[sh].path, int(index.start[w]), int(index.length[w]), src.channels)
        out.append(np.nan_to_num(np.asarray(x, np.float32), nan=0.0))
    return out


def load_windows(entries: Sequence[Any], root: str | Path | None, *, split: str | None, labels: list[Any] | None,
                 stride_frac: float, min_window_frac: float, min_label_frac: float) -> Windows:
    """Labelled windows of ``entries`` (``split`` = a manifest split, or None for every listed subject).

    ``labels`` None: the (single) entry's own activity labels; else windows whose canonical label is
    not in ``labels`` are dropped (for training sets: the run's training label list).
    """
    sources = resolve_sources(list(entries), root)
    if labels is None:
        if len(sources) != 1:
            raise ValueError("labels=None needs exactly one entry")
        labels = activity_labels(sources[0])
    subjects = None
    if split is None:
        subjects = {s.id: sorted({x for v in s.splits.values() for x in v}, key=lambda s: (len(s), s)) for s in sources}
    idx = build_index(sources, split or "all", stride_frac=stride_frac, min_window_frac=min_window_frac,
                      min_label_frac=min_label_frac, labelled_only=True, subjects=subjects)
    keys = label_keys(idx, sources, labels)
    idx, keys = idx.subset(keys >= 0), keys[keys >= 0]
    return Windows(sources, idx, read_raw(idx, sources), keys.astype(np.int64), list(labels),
                   np.asarray(idx.subject).astype(str))


def training_labels(sources: Sequence[Source], index: WindowIndex) -> list[Any]:
    """The run's training label list as ``train.py`` builds it: canonical labels with training windows."""
    from ..run import run_labels

    labels = run_labels(sources)
    present = set(label_keys(index, sources, labels).tolist())
    return [c for k, c in enumerate(labels) if k in present]


def subject_folds(subjects: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Subject-disjoint folds: sorted subjects permuted with ``seed``, cut into ``min(n_folds, #subjects)``
    near-equal groups; returns (train window ids, test window ids) per fold."""
    subjects = np.asarray(subjects).astype(str)
    uniq = sorted(set(subjects.tolist()), key=lambda s: (len(s), s))
    order = [uniq[i] for i in np.random.default_rng(seed).permutation(len(uniq))]
    k = min(n_folds, len(uniq))
    groups = [order[i::k] for i in range(k)]
    out = []
    for g in groups:
        te = np.isin(subjects, g)
        out.append((np.flatnonzero(~te), np.flatnonzero(te)))
    return out
