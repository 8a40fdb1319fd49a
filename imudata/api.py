"""The Python API: ``imudata.open(name)`` gives a converted dataset's card and lazy frames."""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import registry
from .errors import DatasetNotFound
from .format import DatasetCard
from .paths import DatasetPaths, resolve_root
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
        return pl.scan_parquet([str(f) for f in files])

    def __repr__(self) -> str:
        rows = sum(sh["rows"] for sh in self.card.shards)
        return f"<imudata.Dataset {self.id}: {len(self.card.streams)} streams, {len(self.card.subjects)} subjects, {rows} rows>"


def load_card(name: str, root: str | os.PathLike[str] | None = None) -> tuple[DatasetPaths, DatasetCard]:
    spec = registry.get(name)
    paths = DatasetPaths(resolve_root(root), spec.id)
    if not paths.card.exists():
        raise DatasetNotFound(
            f"{spec.id} is not converted under {paths.root} (no {paths.card}); run `imudata fetch {spec.id}` "
            f"then `imudata convert {spec.id}` (or pass --root / set $IMUDATA_HOME)"
        )
    return paths, DatasetCard.from_dict(json.loads(paths.card.read_text()))


def write_card(paths: DatasetPaths, card: DatasetCard) -> None:
    """Replace dataset.json atomically (temporary file in the same folder, then rename)."""
    tmp = paths.card.with_name(f".{paths.card.name}.tmp-{os.getpid()}")
    tmp.write_text(card.to_json())
    os.replace(tmp, paths.card)


def open(name: str, root: str | os.PathLike[str] | None = None) -> Dataset:  # noqa: A001 - mirrors the CLI verb
    """Open a converted dataset: ``ds.card`` and ``ds.streams['imu']`` (a polars LazyFrame)."""
    paths, card = load_card(name, root)
    return Dataset(paths, card)
