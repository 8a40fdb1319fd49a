"""Publishing shards so that a reader never sees a half-replaced dataset.

Every publication (a conversion, a derived stream) writes its shards under names that no earlier
card uses: ``parquet/<stream>/part-NNNNN-<tag>.parquet`` with a fresh random ``tag``. Only then is
``dataset.json`` replaced (one atomic rename, ``api.write_card``): that rename is the single commit
point. Until it happens the old card and all of its shards are untouched; after it the new card and
all of its shards are in place. Files the current card does not list (the previous version, or
the leftovers of a killed run) are removed afterwards by ``collect_garbage``, under the dataset
lock, so they can never be mistaken for data.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from .format import DatasetCard
from .paths import DatasetPaths, write_atomic

#: folders of the publication scheme before shard names carried a tag (removed when found)
LEGACY_DIRS = ("parquet.new", "parquet.old")


def new_tag() -> str:
    """A fresh tag for the shard names of one publication (8 hex digits)."""
    return secrets.token_hex(4)


def shard_relpath(stream: str, index: int, tag: str) -> str:
    """A shard's path relative to the dataset folder, as listed in dataset.json."""
    return f"parquet/{stream}/part-{index:05d}-{tag}.parquet"


def place(src: Path, dest: Path) -> None:
    """Put the finished file ``src`` at ``dest`` while keeping ``src``: a hard link, else a copy.

    Keeping the staged file lets a run killed before its card is written publish again from
    ``.work`` without converting anything twice.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        write_atomic(dest, lambda tmp: shutil.copyfile(src, tmp))


def unlisted_files(paths: DatasetPaths, card: DatasetCard | None) -> list[Path]:
    """Every file under ``parquet/`` that the card does not list (all of them without a card)."""
    listed = {os.path.normpath(paths.base / sh["path"]) for sh in (card.shards if card else [])}
    if not paths.parquet.is_dir():
        return []
    return sorted(p for p in paths.parquet.rglob("*") if (p.is_file() or p.is_symlink())
                  and os.path.normpath(p) not in listed)


def collect_garbage(paths: DatasetPaths, card: DatasetCard | None) -> int:
    """Remove every file under ``parquet/`` that the card does not list, then empty folders; returns the count.

    Call only while holding the dataset lock (no other writer can have files in flight).
    """
    stray = unlisted_files(paths, card)
    for p in stray:
        p.unlink()
    if paths.parquet.is_dir():
        for d in sorted((p for p in paths.parquet.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
    for name in LEGACY_DIRS:
        shutil.rmtree(paths.base / name, ignore_errors=True)
    return len(stray)
