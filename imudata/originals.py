"""Known checksums of original release files: is a user's copy the original, or re-saved or edited?

``imudata/checksums/<dataset>.txt`` lists ``path-inside-the-release sha256 size`` for release files
whose hash is known from a public record; its ``# Source:`` header says where each list came from.
Each file of a copy gets one of three statuses: it matches the known original, it differs from it
(a re-saved or edited copy), or no hash of it is known. A file is matched to a list entry by its
path relative to the dataset's root: the longest common suffix of path components, at least the
file name plus its folder, or the file name alone when only one entry has that name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable

from .fetch import sha256_file

MATCHES = "matches the known original"
DIFFERS = "differs from the known original"
UNKNOWN = "no known hash"
_SKIP = ("__MACOSX", ".DS_Store")


@dataclass(frozen=True)
class Entry:
    path: str
    sha256: str
    size: int


@dataclass
class KnownHashes:
    """The known originals of one dataset and where the record came from."""

    dataset: str
    source: str
    entries: list[Entry] = field(default_factory=list)
    by_name: dict[str, list[Entry]] = field(default_factory=dict)

    def lookup(self, rel: str) -> Entry | None:
        """The entry for a file at ``rel`` (relative to the dataset root), None when none is known."""
        parts = tuple(p for p in rel.replace("\\", "/").split("/") if p)
        if not parts:
            return None
        candidates = self.by_name.get(parts[-1], [])
        best: list[tuple[int, Entry]] = []
        for e in candidates:
            ep = e.path.split("/")
            k = 0
            while k < min(len(ep), len(parts)) and ep[-1 - k] == parts[-1 - k]:
                k += 1
            best.append((k, e))
        if not best:
            return None
        top = max(k for k, _ in best)
        winners = [e for k, e in best if k == top]
        if len(winners) != 1:
            return None
        if top >= 2 or len(candidates) == 1 or top == len(parts):
            return winners[0]
        return None


@lru_cache(maxsize=None)
def known(dataset: str) -> KnownHashes | None:
    """The packaged list of known originals for a dataset id, None when there is none."""
    try:
        text = resources.files("imudata").joinpath("checksums", f"{dataset}.txt").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    source_lines: list[str] = []
    entries: list[Entry] = []
    in_source = False
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            body = line[1:].strip()
            if body.startswith("Source:"):
                in_source = True
                source_lines.append(body.removeprefix("Source:").strip())
            elif body.startswith(("Trust:", "Columns:")):
                in_source = False
            elif in_source:
                source_lines.append(body)
            continue
        fields = line.split()
        if len(fields) != 3 or len(fields[1]) != 64 or not fields[2].isdigit():
            raise ValueError(f"imudata/checksums/{dataset}.txt line {n}: expected 'path sha256 size', got {line!r}")
        entries.append(Entry(fields[0], fields[1].lower(), int(fields[2])))
    kh = KnownHashes(dataset, " ".join(source_lines), entries)
    for e in entries:
        kh.by_name.setdefault(e.path.rsplit("/", 1)[-1], []).append(e)
    return kh


def status_of(kh: KnownHashes | None, rel: str, path: Path, digest: str | None = None) -> str:
    """MATCHES, DIFFERS or UNKNOWN for one file; hashes it only when a same-size original is known."""
    entry = kh.lookup(rel) if kh else None
    if entry is None:
        return UNKNOWN
    if path.stat().st_size != entry.size:
        return DIFFERS
    return MATCHES if (digest or sha256_file(path)) == entry.sha256 else DIFFERS


def files_under(root: Path) -> list[Path]:
    """Every regular file of an original tree, AppleDouble and Finder junk excluded, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP)
        for f in sorted(filenames):
            if f in _SKIP or f.startswith("._") or f.startswith(".") and f.endswith(".extracted"):
                continue
            out.append(Path(dirpath) / f)
    return out


def check_tree(dataset: str, root: Path, digests: dict[Path, str] | None = None,
               cache: Path | None = None) -> dict[str, str]:
    """rel path -> status for every file under ``root`` (the dataset root of an extracted copy).

    ``digests`` holds sha256 already computed (e.g. recorded in the source lock), to avoid re-hashing;
    ``cache`` is a JSON file of earlier statuses, reused for a file whose size and mtime are unchanged
    (so a multi-GB original is hashed once by ``fetch``, not again by ``convert``); ``verify`` passes none.
    """
    import json

    kh = known(dataset)
    digests = digests or {}
    old: dict = {}
    if cache is not None and cache.exists():
        try:
            old = json.loads(cache.read_text())
        except ValueError:
            old = {}
    out: dict[str, str] = {}
    new: dict[str, list] = {}
    for p in files_under(root):
        rel = p.relative_to(root).as_posix()
        st = p.stat()
        prev = old.get(str(p.resolve()))
        if prev and prev[0] == st.st_size and prev[1] == st.st_mtime_ns and prev[2] in (MATCHES, DIFFERS, UNKNOWN):
            out[rel] = prev[2]
        else:
            out[rel] = status_of(kh, rel, p, digests.get(p.resolve()))
        new[str(p.resolve())] = [st.st_size, st.st_mtime_ns, out[rel]]
    if cache is not None and cache.parent.is_dir():
        tmp = cache.with_name(f".{cache.name}.tmp")
        tmp.write_text(json.dumps(new))
        os.replace(tmp, cache)
    return out


def summary(dataset: str, statuses: dict[str, str]) -> dict:
    """What the card records: the source of the known hashes, counts, and which files matched or differed."""
    kh = known(dataset)
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in (MATCHES, DIFFERS, UNKNOWN)}
    out: dict = {"source": kh.source if kh else "none: imudata knows no published checksums of this release's files",
                 "counts": counts,
                 MATCHES: sorted(k for k, v in statuses.items() if v == MATCHES),
                 DIFFERS: sorted(k for k, v in statuses.items() if v == DIFFERS)}
    if kh:
        out[UNKNOWN] = sorted(k for k, v in statuses.items() if v == UNKNOWN)
    return out


def report_lines(dataset: str, statuses: dict[str, str]) -> list[str]:
    """Per-file lines for a user (every file when known hashes exist, else one line for all)."""
    kh = known(dataset)
    if kh is None:
        return [f"{dataset}: {len(statuses)} original files, {UNKNOWN} for any of them "
                "(imudata knows no published checksums of this release's files)"]
    lines = [f"{dataset}: {rel}: {st}" for rel, st in sorted(statuses.items())]
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in (MATCHES, DIFFERS, UNKNOWN)}
    lines.append(f"{dataset}: {counts[MATCHES]} files match the known originals, {counts[DIFFERS]} differ "
                 f"(re-saved or edited copies), {counts[UNKNOWN]} have no known hash; known hashes from {kh.source}")
    return lines


def lock_digests(lock_path: Path, extracted: Path) -> dict[Path, str]:
    """sha256 recorded in ``raw/sources.lock.json`` for files copied into ``raw/extracted`` (``--from`` a folder)."""
    import json

    if not lock_path.exists():
        return {}
    try:
        files = json.loads(lock_path.read_text()).get("files", {})
    except ValueError:
        return {}
    out = {}
    for key, entry in files.items():
        p = extracted / key
        if p.is_file() and isinstance(entry, dict) and entry.get("size") in (None, p.stat().st_size):
            out[p.resolve()] = entry.get("sha256", "")
    return out


def cache_path(lock_path: Path) -> Path:
    """Where statuses are kept between ``fetch`` and ``convert``: beside the source lock in ``raw/``."""
    return lock_path.with_name("originals.json")


def report(dataset: str, root: Path, lock_path: Path, extracted: Path, say: Callable[[str], None]) -> dict[str, str]:
    """Check an extracted copy against the known originals and say the result per file."""
    statuses = check_tree(dataset, root, lock_digests(lock_path, extracted), cache_path(lock_path))
    for line in report_lines(dataset, statuses):
        say(line)
    return statuses


def verify_originals(name: str, root: str | os.PathLike[str] | None = None) -> tuple[list[str], list[str]]:
    """(per-file status lines, problems) for ``imudata verify``: every original file re-hashed and
    compared with the known originals; a file the card recorded as matching that no longer matches
    is a problem."""
    import json

    from . import registry
    from .errors import FormatError
    from .layout import find_root
    from .paths import DatasetPaths, resolve_root

    spec = registry.get(name)
    paths = DatasetPaths(resolve_root(root), spec.id)
    try:
        droot = find_root(paths.extracted, spec)
    except FormatError:
        return [f"{spec.id}: original files absent from {paths.extracted}; known-original status not checked"], []
    statuses = check_tree(spec.id, droot)
    problems = []
    if paths.card.exists():
        try:
            recorded = json.loads(paths.card.read_text()).get("completeness", {}).get("originals", {})
        except ValueError:
            recorded = {}
        for rel in recorded.get(MATCHES, []):
            if statuses.get(rel) != MATCHES:
                problems.append(f"original file {rel} matched the known original at conversion, now: "
                                f"{statuses.get(rel, 'absent')}")
    return report_lines(spec.id, statuses), problems
