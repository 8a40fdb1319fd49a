"""The Python API: ``imudata.open(name)`` gives a converted dataset's card and lazy frames."""
from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

from . import registry
from .datacard import write_readme
from .errors import DatasetNotFound, SchemaError
from .format import DatasetCard
from .paths import DatasetPaths, os_error_at, resolve_root
from ._lazy import lazy

pl = lazy("polars", globals(), "pl")  # imported at the first scan, not with the package


class Dataset:
    """A converted dataset on disk: ``card`` (the parsed dataset.json) and one LazyFrame per stream."""

    def __init__(self, paths: DatasetPaths, card: DatasetCard) -> None:
        self.paths = paths
        self.card = card

    @property
    def id(self) -> str:
        return self.card.id

    @property
    def streams(self) -> dict[str, pl.LazyFrame]:
        return {s.name: self.scan(s.name) for s in self.card.streams if self.shard_paths(s.name)}

    def shard_paths(self, stream: str) -> list[Path]:
        return [self.paths.base / sh["path"] for sh in self.card.shards if sh["stream"] == stream]

    def scan(self, stream: str | None = None) -> pl.LazyFrame:
        """A LazyFrame over every shard of a stream (the first stream when none is named)."""
        name = stream or self.card.streams[0].name
        self.card.stream(name)  # KeyError naming the known streams
        files = self.shard_paths(name)
        if not files:
            raise DatasetNotFound(f"{self.id}: stream {name!r} has no shards (nothing of it in this copy)")
        from .storage import is_remote, storage_options

        if is_remote(self.paths.root):  # read in place from object storage, with the same settings as s3fs
            return pl.scan_parquet([str(f) for f in files], storage_options=storage_options())
        return pl.scan_parquet([str(f) for f in files])

    def __repr__(self) -> str:
        rows = sum(sh["rows"] for sh in self.card.shards)
        return f"<imudata.Dataset {self.id}: {len(self.card.streams)} streams, {len(self.card.subjects)} subjects, {rows} rows>"


#: keys every ``shards[]`` entry of dataset.json must have, with their JSON types
SHARD_KEYS: dict[str, type] = {"path": str, "stream": str, "subject": str, "sessions": list,
                               "rows": int, "bytes": int, "sha256": str}


def read_card(path: Path) -> DatasetCard:
    """Parse a dataset.json, refusing an empty, invalid or wrong-shaped file with a SchemaError naming it.

    Shard paths must stay inside the dataset folder (relative, no ``..``), so a crafted card cannot
    make ``open`` or ``verify`` read files elsewhere.
    """
    fix = f"rebuild it with `imudata convert {path.parent.name} --force`"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: not UTF-8 text ({exc}); {fix}") from exc
    if not text.strip():
        raise SchemaError(f"{path}: empty file; {fix}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected a JSON object (the dataset card), got {type(data).__name__}; {fix}")
    try:
        card = DatasetCard.from_dict(data)
    except SchemaError as exc:
        raise SchemaError(f"{path}: {exc}; {fix}") from exc
    if not isinstance(card.shards, list):
        raise SchemaError(f"{path}: key 'shards' must be a list; {fix}")
    streams = {s.name for s in card.streams}
    for i, sh in enumerate(card.shards):
        if not isinstance(sh, dict):
            raise SchemaError(f"{path}: shards[{i}] is not an object; {fix}")
        for key, typ in SHARD_KEYS.items():
            if not isinstance(sh.get(key), typ) or isinstance(sh.get(key), bool):
                raise SchemaError(f"{path}: shards[{i}] lacks key {key!r} of type {typ.__name__}; {fix}")
        rel = Path(sh["path"])
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise SchemaError(f"{path}: shards[{i}].path {sh['path']!r} leaves the dataset folder; {fix}")
        if sh["stream"] not in streams:
            raise SchemaError(f"{path}: shards[{i}] names stream {sh['stream']!r}, not among {sorted(streams)}; {fix}")
    return card


def load_card(name: str, root: str | os.PathLike[str] | None = None) -> tuple[DatasetPaths, DatasetCard]:
    """The paths and parsed card of a converted dataset (DatasetNotFound / SchemaError otherwise)."""
    spec = registry.get(name)
    paths = DatasetPaths(resolve_root(root), spec.id)
    if not paths.card.exists():
        raise DatasetNotFound(
            f"{spec.id} is not converted under {paths.root} (no {paths.card}); run `imudata fetch {spec.id}` "
            f"then `imudata convert {spec.id}` (or pass --root / set $IMUDATA_HOME)"
        )
    return paths, read_card(paths.card)


def write_card(paths: DatasetPaths, card: DatasetCard) -> None:
    """Replace dataset.json atomically (temporary file in the same folder, flushed to disk, then renamed).

    The rename is the commit point of a conversion or derivation: shards are written first under
    names no earlier card uses, so a reader sees either the old card or the new one, each with all
    of its shards. The temporary file is removed if writing fails (disk full). ``README.md`` (the
    dataset card for Hugging Face ``datasets`` and other generic readers, ``imudata.datacard``) is
    written from the same card right before the rename; it names shards by globs, so it stays
    true of every file the card lists.
    """
    tmp = paths.card.with_name(f".{paths.card.name}.tmp-{os.getpid()}")
    try:
        with builtins.open(tmp, "w", encoding="utf-8") as fh:
            fh.write(card.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        write_readme(paths.base, card)  # the card for generic readers, renamed into place just before the commit
        os.replace(tmp, paths.card)
    except OSError as exc:  # e.g. disk full: name the card being written
        raise os_error_at(exc, paths.card) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def open(name: str, root: str | os.PathLike[str] | None = None) -> Dataset:  # noqa: A001 - mirrors the CLI verb
    """Open a converted dataset: ``ds.card`` and ``ds.streams['imu']`` (a polars LazyFrame)."""
    paths, card = load_card(name, root)
    return Dataset(paths, card)
