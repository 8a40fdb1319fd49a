"""Getting a dataset's original files into ``<root>/<id>/raw``: download, a mirror, or a local copy.

Every source file is hashed and checked against the registry's pinned sha256 or, where none is
pinned, against the hash recorded at first use in ``raw/sources.lock.json``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from . import originals, registry
from .errors import ChecksumMismatch, FetchError, FormatError, ManualDownloadRequired
from .fetch import SourceLock, download, mirror_url, safe_extract, sha256_file
from .layout import find_root
from .paths import DatasetPaths, resolve_root
from .registry import DatasetSpec, Source

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_SKIP = ("__MACOSX", ".DS_Store")


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _keep_nested(source: Source) -> Callable[[Path], bool] | None:
    if not source.keep_nested:
        return None
    return lambda p: any(p.match(pat) for pat in source.keep_nested)


def extract_once(archive: Path, paths: DatasetPaths, source: Source | None = None) -> None:
    """Extract an archive into ``raw/extracted`` unless that was already done for this file."""
    done = paths.extracted / f".{archive.name}.extracted"
    if done.exists():
        return
    safe_extract(archive, paths.extracted, keep_nested=_keep_nested(source) if source else None)
    done.write_text(sha256_file(archive))


def copy_tree(src: Path, dest: Path, lock: SourceLock, *, say: Callable[[str], None]) -> int:
    """Copy an already-extracted original folder into ``dest``, hashing and locking every file."""
    n = 0
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in _SKIP or part.startswith("._") for part in rel.parts):
            continue
        if path.is_symlink():
            raise FetchError(f"{path}: symbolic links are not followed in a local copy; copy the real file there")
        if path.is_dir():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = sha256_file(path)
        lock.check_or_record(f"{src.name}/{rel.as_posix()}", digest, path.stat().st_size, str(path))
        if not (target.exists() and target.stat().st_size == path.stat().st_size and sha256_file(target) == digest):
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        n += 1
    say(f"copied and hashed {n} files from {src}")
    return n


def fetch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    mirror: str | None = None,
    from_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> DatasetPaths:
    """Download (or take from ``from_path``), verify and extract a dataset's original files."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    spec = registry.get(name)
    paths = DatasetPaths(resolve_root(root), spec.id)
    paths.downloads.mkdir(parents=True, exist_ok=True)
    paths.extracted.mkdir(parents=True, exist_ok=True)
    lock = SourceLock(paths.lock)
    mirror = mirror or os.environ.get("IMUDATA_MIRROR") or None
    if from_path is not None:
        _from_local(spec, paths, lock, Path(from_path).expanduser(), say)
    elif spec.acquire is not None:
        spec.acquire(spec, paths, lock, mirror=mirror, progress=progress, say=say)
    else:
        for source in spec.sources:
            archive = download_source(spec, source, paths, lock, mirror=mirror, progress=progress, say=say)
            if _is_archive(archive):
                extract_once(archive, paths, source)
    try:
        found = find_root(paths.extracted, spec)
    except FormatError as exc:
        raise FormatError(f"{spec.id}: the original files contain neither {spec.marker!r}, which marks the "
                          f"dataset's root, nor any file the converter reads; is this the right download? ({exc})"
                          ) from exc
    originals.report(spec.id, found, paths.lock, paths.extracted, say)
    say(f"{spec.id}: original files ready in {found}")
    return paths


def download_source(spec: DatasetSpec, source: Source, paths: DatasetPaths, lock: SourceLock, *,
                    mirror: str | None, progress: bool, say: Callable[[str], None]) -> Path:
    """Download one source file (trying each URL, or the mirror), verify it, and return its path."""
    dest = paths.downloads / source.filename
    if dest.exists():
        digest = sha256_file(dest)
        lock.check_or_record(source.filename, digest, dest.stat().st_size, None, pinned=source.sha256)
        return dest
    if source.manual and not mirror:
        raise ManualDownloadRequired(source.manual.format(dest=dest, id=spec.id))
    if mirror:
        # a mirror serves either the registry's file name or the original URLs' file names
        urls = list(dict.fromkeys([mirror_url(source.filename, mirror)] + [mirror_url(u, mirror) for u in source.urls]))
    else:
        urls = list(source.urls)
    errors: list[str] = []
    for url in urls:
        say(f"{spec.id}: downloading {url}")
        try:
            digest = download(url, dest, sha256=source.sha256, size=source.size, progress=progress)
        except ChecksumMismatch:
            raise
        except FetchError as exc:
            errors.append(f"{url}: {exc}")
            continue
        lock.check_or_record(source.filename, digest, dest.stat().st_size, url, pinned=source.sha256)
        return dest
    hint = (f"Download it yourself from {source.urls[0]} and run `imudata fetch {spec.id} --from FILE`, "
            f"or point --mirror at a folder or server holding {source.filename}.")
    raise FetchError(f"{spec.id}: could not download {source.filename}:\n  " + "\n  ".join(errors) + f"\n{hint}")


def _from_local(spec: DatasetSpec, paths: DatasetPaths, lock: SourceLock, src: Path,
                say: Callable[[str], None]) -> None:
    if not src.exists():
        raise FetchError(f"--from {src}: no such file or folder")
    if src.is_dir():
        target = paths.extracted / src.name
        copy_tree(src, target, lock, say=say)
        return
    if not _is_archive(src):
        raise FetchError(f"--from {src}: expected an archive ({', '.join(ARCHIVE_SUFFIXES)}) or a folder")
    source = next((s for s in spec.sources if s.filename == src.name), None)
    dest = paths.downloads / src.name
    digest = sha256_file(src)
    lock.check_or_record(src.name, digest, src.stat().st_size, str(src), pinned=source.sha256 if source else None)
    if not dest.exists() or sha256_file(dest) != digest:
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    extract_once(dest, paths, source)
