"""Where a dataset's original tree starts inside an extracted folder, and what that tree looks like.

Archives put a release at varying depths, and a user's copy may hold only some subjects. The root
is therefore found first by the dataset's ``marker`` (one path of a complete release) and, failing
that, by its ``layout``: glob patterns, relative to the root, of the files the converter reads.
Any one such file places the root, so a partial copy (some subjects only) is accepted, while a
folder of another dataset, matching none of the patterns, is still refused.
"""
from __future__ import annotations

import ast
import importlib
import os
from fnmatch import fnmatchcase
from pathlib import Path

from .errors import FormatError
from .registry import DatasetSpec

_SKIP = ("__MACOSX",)


def _split(pattern: str) -> tuple[str, ...]:
    return tuple(p for p in pattern.split("/") if p)


def find_by_layout(top: Path, patterns: tuple[str, ...]) -> tuple[Path | None, int]:
    """The shallowest folder under ``top`` (ties: more matching files, then name) below which a
    path matches one of ``patterns``; ``(None, n)`` when nothing matches, n = paths looked at."""
    split = [_split(p) for p in patterns]
    counts: dict[tuple[str, ...], int] = {}
    seen = 0
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not os.path.islink(os.path.join(dirpath, d)))
        rel = Path(dirpath).relative_to(top).parts
        for name in (*dirnames, *filenames):
            if name.startswith("._"):
                continue
            seen += 1
            parts = (*rel, name)
            for pat in split:
                k = len(pat)
                if len(parts) >= k and all(fnmatchcase(a, b) for a, b in zip(parts[-k:], pat)):
                    root = parts[:-k]
                    counts[root] = counts.get(root, 0) + 1
                    break
    if not counts:
        return None, seen
    best = min(counts, key=lambda r: (len(r), -counts[r], r))
    return top.joinpath(*best), seen


def find_root(top: Path, spec: DatasetSpec) -> Path:
    """The root of ``spec``'s original tree under ``top``: by its marker, else by its layout patterns.

    Raises ``FormatError`` naming the marker and the patterns when neither is found.
    """
    try:
        # imported here: fetch imports requests, which describing a layout does not need
        from .fetch import find_marker

        return find_marker(top, spec.marker)
    except FormatError as exc:
        if not spec.layout or not Path(top).is_dir():
            raise
        found, seen = find_by_layout(Path(top), spec.layout)
        if found is not None:
            return found
        raise FormatError(f"{exc}; nor any file of the expected layout ({', '.join(spec.layout)}) among the "
                          f"{seen} files and folders there") from exc


def layout_text(spec: DatasetSpec) -> str:
    """The 'Original layout' paragraph of the dataset module's docstring (with its indented block), and
    the patterns of the files the converter reads; what ``imudata info`` shows before a download."""
    module = importlib.import_module(spec.plan.__module__)
    doc = ast.get_docstring(ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))) or ""
    start = doc.find("Original layout")
    out: list[str] = []
    if start >= 0:
        lines = doc[start:].splitlines()
        in_block = False
        for i, line in enumerate(lines):
            if not line.strip():
                nxt = next((x for x in lines[i + 1:] if x.strip()), "")
                if out and out[-1].rstrip().endswith("::") or (in_block and nxt.startswith((" ", "\t"))):
                    in_block = True
                    out.append("")
                    continue
                break
            if in_block and not line.startswith((" ", "\t")):
                break
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    if spec.layout:
        out.append(f"Files that locate the release root (relative to it; any one suffices): {', '.join(spec.layout)}")
    return "\n".join(out)
