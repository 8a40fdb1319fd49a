"""The dataset registry: one module per dataset in ``imudata/datasets``, each defining ``SPEC``.

Adding a dataset means adding one module (and one test); nothing here needs editing, because
the package is scanned for modules at first use.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

if TYPE_CHECKING:  # annotations only: listing datasets must not import numpy
    import numpy as np

from .errors import DatasetNotFound
from .format import DatasetCard


@dataclass
class Source:
    """One file to download. ``sha256`` is pinned when a trustworthy hash is known; otherwise the
    hash seen at first download is recorded in ``raw/sources.lock.json`` and checked later.

    ``manual`` holds instructions for hosts that need a login or licence click; ``keep_nested``
    lists glob patterns of inner zips the converter reads directly (not unpacked).
    """

    filename: str
    urls: list[str]
    sha256: str | None = None
    size: int | None = None
    manual: str | None = None
    keep_nested: tuple[str, ...] = ()


@dataclass
class Session:
    """One continuous recording of one subject on one stream, in the dataset's source units.

    ``columns`` maps channel name to raw values (the writer applies each channel's scale);
    ``label`` holds the stored label id per sample, -1 where unlabelled; ``t`` defaults to
    ``arange(n) / rate`` when the source has no usable timestamps.
    """

    stream: str
    subject: str
    session: str
    columns: dict[str, np.ndarray]
    label: np.ndarray | None = None
    t: np.ndarray | None = None
    #: (steps, seconds) of the source clock behind a resampled session, for the physics line
    source_clock: tuple[int, float] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


@dataclass
class Note:
    """A reader's remark about one file, yielded among its sessions (e.g. a recording skipped because
    its clock cannot be trusted); the conversion records it in ``completeness.notes`` and goes on."""

    text: str


@dataclass
class Plan:
    """What a converter found in the original tree: work units keyed by subject id, and what is missing."""

    subjects: dict[str, Any]
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class DatasetSpec:
    """A registered dataset: its static card, where to download it, and how to read it.

    ``marker`` is a path relative to the dataset's original root that identifies that root
    inside an extracted tree (archives nest at varying depths). ``plan(root)`` lists the work
    per subject; ``read(root, subject, unit)`` yields that subject's sessions. ``layout`` lists
    glob patterns of the files the converter reads, which find the root of a partial copy.
    """

    card: DatasetCard
    sources: list[Source]
    marker: str
    plan: Callable[[Path], Plan]
    read: Callable[[Path, str, Any], Iterable[Session | Note]]
    aliases: tuple[str, ...] = ()
    hours: float | None = None  # total hours of the full release (for ``info`` before download)
    n_subjects: int | None = None
    acquire: Callable[..., None] | None = None  # custom download logic (e.g. a pointer file)
    #: glob patterns, relative to the root, of the files the converter reads: any one of them locates the
    #: root of a partial copy that lacks ``marker`` (see ``imudata.layout``)
    layout: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.card.id

    @property
    def known_originals(self) -> Any:
        """The known sha256 and sizes of this release's files with their source (``imudata/checksums``), or None."""
        from .originals import known

        return known(self.id)


_REGISTRY: dict[str, DatasetSpec] | None = None


def _load() -> dict[str, DatasetSpec]:
    global _REGISTRY
    if _REGISTRY is None:
        from . import datasets

        reg: dict[str, DatasetSpec] = {}
        for mod in sorted(pkgutil.iter_modules(datasets.__path__), key=lambda m: m.name):
            if mod.name.startswith("_"):
                continue
            module = importlib.import_module(f"{datasets.__name__}.{mod.name}")
            spec = getattr(module, "SPEC", None)
            if spec is None:
                continue
            for key in (spec.id, *spec.aliases):
                if key in reg:
                    raise RuntimeError(f"dataset id {key!r} registered twice")
                reg[key] = spec
        _REGISTRY = reg
    return _REGISTRY


def names() -> list[str]:
    """Registered dataset ids (aliases excluded), sorted."""
    return sorted({s.id for s in _load().values()})


def specs() -> Iterator[DatasetSpec]:
    for n in names():
        yield _load()[n]


def get(name: str) -> DatasetSpec:
    """The spec of a dataset id or alias (case-insensitive); DatasetNotFound lists the known ids."""
    reg = _load()
    key = name.lower().replace("_", "-")
    for candidate in (name, name.lower(), key, key.replace("-", "")):
        if candidate in reg:
            return reg[candidate]
    import difflib

    close = difflib.get_close_matches(key, list(reg), n=1, cutoff=0.6)
    hint = f" (did you mean {reg[close[0]].id!r}?)" if close else ""
    raise DatasetNotFound(f"unknown dataset {name!r}{hint}; known: {', '.join(names())} (see `imudata list`)")


def natural_key(s: str) -> tuple:
    """Sort key that orders embedded numbers numerically ('S2' < 'S10', '9' < '10')."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s))
