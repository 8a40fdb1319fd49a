"""What a conversion measured on the real files, added to ``dataset.json``'s completeness section:
the readers' per-file notes, the physics line (``imudata.physics``) and which source files match
the known originals (``imudata.originals``)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from . import originals, physics
from .format import DatasetCard
from .paths import DatasetPaths
from .registry import DatasetSpec, natural_key


def annotate(spec: DatasetSpec, paths: DatasetPaths, droot: Path, card: DatasetCard,
             records: dict[str, dict[str, Any]]) -> DatasetCard:
    """``card`` with reader notes, physics lines and known-original status added (not written: the caller
    publishes it, so the card is committed once, with everything in it)."""
    subjects = sorted(records, key=natural_key)
    reader_notes = [n for s in subjects for n in records[s].get("notes", [])]
    lines = physics.merge(card, [records[s].get("physics") or {} for s in subjects])
    statuses = originals.check_tree(spec.id, droot, originals.lock_digests(paths.lock, paths.extracted),
                                    originals.cache_path(paths.lock))
    comp = dict(card.completeness)
    comp["notes"] = list(comp.get("notes") or []) + [n for n in reader_notes if n not in (comp.get("notes") or [])]
    comp["physics"] = lines
    comp["originals"] = originals.summary(spec.id, statuses)
    return replace(card, completeness=comp)
