"""From a manifest to a window index: which rows of which shard make each window, and its label.

Only the small columns (``session``, ``t``, ``label``) are read here; the signal columns are read
later, lazily, by the loader's workers. The index is a handful of numpy arrays (a few bytes per
window), so even a large corpus indexes in memory.

Windows are cut in seconds at each dataset's native rate (``window_s`` from the manifest), with a
stride that is a fraction of the window. A session shorter than a window still gives one window
when it holds at least ``min_window_frac`` of it (patches and masks handle the shorter length).
A window's label is its majority non-null label when that label covers ``min_label_frac`` of the
window; otherwise the window is unlabelled (-1), usable for self-supervised pretraining only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq


class SplitLeakError(ValueError):
    """A subject appears in more than one split of a dataset (the run refuses to start)."""


class ManifestDataError(ValueError):
    """A manifest names subjects, channels or streams the converted dataset does not have."""


@dataclass
class Shard:
    path: Path
    source: int          # index into the list of sources
    subject: str
    rows: int


@dataclass
class Source:
    """One manifest entry resolved against its converted dataset (card, shards, label map)."""

    index: int
    id: str
    stream: str
    rate: float
    channels: list[str]
    channel_texts: list[str]
    window_s: float
    patch_s: float
    weight: float
    drop_labels: list[int]
    splits: dict[str, list[str]]
    role: str
    shards_by_subject: dict[str, list[tuple[Path, int]]]
    label_names: dict[int, str] = field(default_factory=dict)   # dataset label id -> dataset label text
    canonical: dict[int, Any] = field(default_factory=dict)    # dataset label id -> imudata Canonical
    subjects: list[str] = field(default_factory=list)

    @property
    def n_channels(self) -> int:
        return len(self.channels)


def check_splits(entry_id: str, splits: dict[str, Sequence[str]], known_subjects: Sequence[str] | None = None) -> None:
    """Raise :class:`SplitLeakError` when any subject is in two splits; ManifestDataError for unknown subjects."""
    seen: dict[str, str] = {}
    leaks: list[str] = []
    for split, subjects in splits.items():
        for s in subjects:
            s = str(s)
            if s in seen and seen[s] != split:
                leaks.append(f"subject {s} in both {seen[s]!r} and {split!r}")
            seen.setdefault(s, split)
    if leaks:
        raise SplitLeakError(f"{entry_id}: subjects leak across splits: {'; '.join(leaks)}. Fix the manifest's "
                             f"splits so every subject is in exactly one split.")
    if known_subjects is not None:
        unknown = sorted(set(seen) - {str(s) for s in known_subjects})
        if unknown:
            raise ManifestDataError(f"{entry_id}: splits name subjects the converted dataset does not have: "
                                    f"{unknown} (it has {list(known_subjects)})")


def resolve_sources(entries: Sequence[Any], root: str | Path | None, *, with_labels: bool = True,
                    default_splits: Sequence[float] | None = None, seed: int = 0) -> list[Source]:
    """Open each manifest entry's dataset and check it: streams, channels, subjects, split leakage.

    An entry without splits gets a deterministic subject-level split from ``default_splits``
    (train/val/test fractions) when given; otherwise all its subjects form the ``all`` split.
    """
    import imudata

    out: list[Source] = []
    problems: list[str] = []
    for i, e in enumerate(entries):
        try:
            ds = imudata.open(e.id, root)
        except Exception as exc:  # noqa: BLE001 - report every dataset at once
            problems.append(f"{e.id}: {exc}")
            continue
        card = ds.card
        try:
            stream = card.stream(e.stream)
        except KeyError as exc:
            problems.append(str(exc))
            continue
        names = [c.name for c in stream.channels]
        chans = list(e.channels) if e.channels else names
        missing = [c for c in chans if c not in names]
        if missing:
            problems.append(f"{e.id}: stream {e.stream} has no channels {missing}")
            continue
        texts = [stream.channel(c).description for c in chans]
        subjects = [str(s) for s in (card.subjects or sorted({sh['subject'] for sh in card.shards}))]
        splits = {k: [str(s) for s in v] for k, v in (e.splits or {}).items()}
        if not splits:
            splits = subject_split(subjects, default_splits, seed) if default_splits else {"all": list(subjects)}
        try:
            check_splits(e.id, splits, subjects)
        except SplitLeakError:
            raise
        except ManifestDataError as exc:
            problems.append(str(exc))
            continue
        by_subject: dict[str, list[tuple[Path, int]]] = {}
        for sh in card.shards:
            if sh["stream"] == e.stream:
                by_subject.setdefault(str(sh["subject"]), []).append((ds.paths.base / sh["path"], int(sh["rows"])))
        canon: dict[int, Any] = {}
        if with_labels:
            from imudata import vocabulary

            try:
                canon = dict(vocabulary.mapping(e.id))
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{e.id}: no canonical label map ({exc})")
        out.append(Source(index=i, id=e.id, stream=e.stream, rate=float(stream.rate_hz), channels=chans,
                          channel_texts=texts, window_s=float(e.window_s), patch_s=float(e.patch_s),
                          weight=float(getattr(e, "weight", 1.0) or 1.0),
                          drop_labels=[int(x) for x in (getattr(e, "drop_labels", None) or [])], splits=splits,
                          role=getattr(e, "role", "pretrain"), shards_by_subject=by_subject,
                          label_names={lab.id: lab.text for lab in card.labels}, canonical=canon, subjects=subjects))
    if problems:
        raise ManifestDataError("the manifest does not match the data:\n  - " + "\n  - ".join(problems))
    return out


def subject_split(subjects: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, list[str]]:
    """Deterministic subject-level train/val/test split (at least one subject in test and train)."""
    subs = sorted(subjects, key=lambda s: (len(s), s))
    rng = np.random.default_rng(seed)
    order = [subs[i] for i in rng.permutation(len(subs))]
    n = len(order)
    n_test = max(1, int(round(fractions[2] * n))) if n >= 2 else 0
    n_val = int(round(fractions[1] * n)) if n - n_test >= 3 else 0
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


@dataclass
class WindowIndex:
    """Every window of one split: arrays of equal length plus the shard table they point into."""

    shards: list[Shard]
    source: np.ndarray      # int32, index into sources
    shard: np.ndarray       # int32, index into shards
    start: np.ndarray       # int64, first row within the shard
    length: np.ndarray      # int32, rows
    label: np.ndarray       # int32, dataset label id or -1
    subject: np.ndarray     # object (str)

    def __len__(self) -> int:
        return int(self.source.shape[0])

    def subset(self, mask: np.ndarray) -> "WindowIndex":
        return WindowIndex(self.shards, self.source[mask], self.shard[mask], self.start[mask], self.length[mask],
                           self.label[mask], self.subject[mask])


def _changes(a: np.ndarray) -> np.ndarray:
    """Boolean per row: True where the row differs from the previous one (False for the first row)."""
    out = np.zeros(len(a), bool)
    out[1:] = a[1:] != a[:-1]
    return out


def _shard_columns(path: Path, subject: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows of ``subject``, session changes, t, label or -1) of one shard, as numpy arrays.

    The string columns are compared inside Arrow (``pyarrow.compute``), never turned into one
    Python string per row: indexing a large corpus then costs a few bytes per row in transient
    Arrow buffers, which go back to the allocator, instead of millions of Python objects whose
    memory the parent process keeps (and forked loader workers inherit).
    """
    from imudata.storage import arrow_path, parquet_filesystem

    tab = pq.read_table(arrow_path(path), columns=["subject", "session", "t", "label"],
                        filesystem=parquet_filesystem(path))  # local or s3:// root
    n = tab.num_rows
    keep = pc.equal(tab.column("subject"), subject).to_numpy(zero_copy_only=False)
    keep = np.asarray(keep, dtype=bool)
    session = pc.fill_null(tab.column("session"), "")
    new_session = np.zeros(n, bool)
    if n > 1:
        new_session[1:] = pc.not_equal(session.slice(1), session.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    t = tab.column("t").to_numpy()
    lab = pc.fill_null(tab.column("label"), -1).to_numpy().astype(np.int64)
    lab[~keep] = -1
    del tab, session
    return keep, new_session, t, lab


def _segments(new_session: np.ndarray, t: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Start/end rows of runs with no break: a new session (``new_session`` True at its first row)
    or a time gap (> 1.5 sample periods, or time not increasing)."""
    n = len(t)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    brk = np.zeros(n, bool)
    brk[0] = True
    brk[1:] = new_session[1:] | (np.diff(t) > 1.5 / rate) | (np.diff(t) <= 0)
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], n)
    return starts, ends


def _window_labels(label: np.ndarray, starts: np.ndarray, length: int, min_frac: float, drop: Sequence[int]) -> np.ndarray:
    """Majority non-null label of each window [s, s+length) (vectorised with cumulative counts)."""
    out = np.full(len(starts), -1, np.int32)
    if len(starts) == 0:
        return out
    best = np.zeros(len(starts), np.int64)
    for v in np.unique(label[label >= 0]):
        cs = np.concatenate([[0], np.cumsum(label == v)])
        cnt = cs[starts + length] - cs[starts]
        better = cnt > best
        out[better] = v
        best[better] = cnt[better]
    out[best < min_frac * length] = -1
    if drop:
        out[np.isin(out, list(drop))] = -1
    return out


def build_index(sources: Sequence[Source], split: str, *, stride_frac: float, min_window_frac: float,
                min_label_frac: float, window_s: float | None = None, labelled_only: bool = False,
                subjects: dict[str, list[str]] | None = None) -> WindowIndex:
    """Index the windows of ``split`` over every source that has it (``subjects`` overrides per source id)."""
    shards: list[Shard] = []
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("source", "shard", "start", "length", "label", "subject")}
    for si, src in enumerate(sources):
        subs = (subjects or {}).get(src.id)
        if subs is None:
            subs = src.splits.get(split, [])
        win = max(2, int(round((window_s or src.window_s) * src.rate)))
        stride = max(1, int(round(win * stride_frac)))
        for subject in subs:
            for path, rows in src.shards_by_subject.get(str(subject), []):
                keep, new_session, t, lab = _shard_columns(path, str(subject))
                seg_s, seg_e = _segments(new_session | _changes(keep), t, src.rate)
                shard_id = len(shards)
                shards.append(Shard(path, si, str(subject), rows))
                st_list, ln_list = [], []
                for a, b in zip(seg_s, seg_e):
                    if not keep[a]:
                        continue
                    n = b - a
                    if n >= win:
                        s = np.arange(a, b - win + 1, stride, dtype=np.int64)
                        st_list.append(s)
                        ln_list.append(np.full(len(s), win, np.int64))
                    elif n >= min_window_frac * win:
                        st_list.append(np.array([a], np.int64))
                        ln_list.append(np.array([n], np.int64))
                if not st_list:
                    continue
                st = np.concatenate(st_list)
                ln = np.concatenate(ln_list)
                labels = np.full(len(st), -1, np.int32)
                for L in np.unique(ln):
                    m = ln == L
                    labels[m] = _window_labels(lab, st[m], int(L), min_label_frac, src.drop_labels)
                cols["source"].append(np.full(len(st), si, np.int32))
                cols["shard"].append(np.full(len(st), shard_id, np.int32))
                cols["start"].append(st)
                cols["length"].append(ln.astype(np.int32))
                cols["label"].append(labels)
                cols["subject"].append(np.full(len(st), str(subject), dtype=object))
    cat = {k: (np.concatenate(v) if v else np.zeros(0, np.int64 if k != "subject" else object)) for k, v in cols.items()}
    idx = WindowIndex(shards, cat["source"].astype(np.int32), cat["shard"].astype(np.int32), cat["start"].astype(np.int64),
                      cat["length"].astype(np.int32), cat["label"].astype(np.int32), cat["subject"])
    if labelled_only:
        idx = idx.subset(idx.label >= 0)
    return idx
