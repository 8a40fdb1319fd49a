"""Getting a dataset's original files into ``<root>/<id>/raw``: download, a mirror, or a local copy.

Every source file is hashed and checked against the registry's pinned sha256 or, where none is
pinned, against the hash recorded at first use in ``raw/sources.lock.json``. A hash is recorded
only for a file that proved complete: an archive once it extracted, any other file once the server
confirmed its size. An archive that fails to extract never enters the lock.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from . import originals, registry
from .errors import (
    ChecksumMismatch,
    CorruptArchive,
    FetchError,
    FormatError,
    ManualDownloadRequired,
    WriteFailed,
)
from .fetch import ExtractLimits, SourceLock, fetch_file, mirror_url, safe_extract, sha256_file
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


# Decompression limits of the running ``fetch`` (None: the defaults and environment variables);
# a context variable so dataset-specific ``acquire`` functions need not pass them along.
_LIMITS: contextvars.ContextVar[ExtractLimits | None] = contextvars.ContextVar("imudata_extract_limits",
                                                                               default=None)
# Archives downloaded (or copied) but not yet proved by extraction: lock path -> name -> (sha, size, url).
_PENDING: dict[Path, dict[str, tuple[str, int, str | None]]] = {}


@contextlib.contextmanager
def extract_limits(limits: ExtractLimits | None) -> Iterator[None]:
    """Use ``limits`` for every archive extracted inside the block."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteFailed(f"{exc.filename or folder}: cannot create the folder {folder} ({exc.strerror}); "
                          "choose a writable --root (or $IMUDATA_HOME)") from exc


def extract_once(archive: Path, paths: DatasetPaths, source: Source | None = None,
                 lock: SourceLock | None = None) -> None:
    """Extract an archive into ``raw/extracted`` unless that was already done for this file, then
    record its hash in the lock (it proved complete).

    If the archive cannot be read to the end and was never recorded, a copy in ``raw/downloads`` is
    deleted (it was never trusted) and the error says to run again; the error always names the file.
    """
    lock = lock if lock is not None else SourceLock(paths.lock)
    done = paths.extracted / f".{archive.name}.extracted"
    digest = sha256_file(archive)
    if done.exists() and done.read_text().strip() == digest:
        _commit(lock, archive, digest)
        return
    limits = _LIMITS.get() or ExtractLimits.from_env()  # a bad setting is not the archive's fault
    try:
        safe_extract(archive, paths.extracted, keep_nested=_keep_nested(source) if source else None,
                     limits=limits)
    except WriteFailed:
        raise  # the disk, not the archive: keep it
    except FetchError as exc:  # truncated, damaged, hostile or unextractable: never recorded
        raise _rejected(archive, paths, lock, exc) from exc
    _commit(lock, archive, digest)
    try:
        tmp = done.with_name(done.name + ".tmp")
        tmp.write_text(digest)
        os.replace(tmp, done)
    except OSError as exc:
        raise WriteFailed(f"{done}: cannot write ({exc.strerror}); {archive.name} was extracted but will be "
                          "extracted again next time; free space or check permissions") from exc


def _commit(lock: SourceLock, archive: Path, digest: str) -> None:
    """Record an archive that extracted: with the URL it came from if this process downloaded it."""
    pending = _PENDING.get(lock.path, {}).pop(archive.name, None)
    size = archive.stat().st_size
    url = pending[2] if pending is not None and pending[0] == digest else None
    if lock.get(archive.name) is None or url is not None:
        lock.record(archive.name, digest, size, url)


def _rejected(archive: Path, paths: DatasetPaths, lock: SourceLock, exc: FetchError) -> FetchError:
    """The error for an archive that cannot be used, after deleting an untrusted download of it."""
    in_downloads = archive.parent == paths.downloads
    recorded = lock.get(archive.name) is not None
    _PENDING.get(lock.path, {}).pop(archive.name, None)
    if isinstance(exc, CorruptArchive) and in_downloads and not recorded:
        archive.unlink(missing_ok=True)
        return CorruptArchive(f"{exc}. {archive} was deleted (its checksum was not recorded); run "
                              f"`imudata fetch {paths.id}` again to download it again.")
    if isinstance(exc, CorruptArchive):
        entry = f" and the entry {archive.name!r} in {lock.path}" if recorded else ""
        return CorruptArchive(f"{exc}. Delete {archive}{entry}, then run `imudata fetch {paths.id}` again.")
    return type(exc)(f"{exc} It was not recorded in {lock.path}; delete {archive} before trying another copy.")


def copy_tree(src: Path, dest: Path, lock: SourceLock, *, say: Callable[[str], None]) -> int:
    """Copy an already-extracted original folder into ``dest``, hashing and locking every file.

    Each file goes to a temporary name first, renamed when complete; a failed copy (disk full)
    removes it and raises ``FetchError`` naming the file.
    """
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
        _mkdir(target.parent)
        digest = sha256_file(path)
        lock.check_or_record(f"{src.name}/{rel.as_posix()}", digest, path.stat().st_size, str(path))
        if not (target.exists() and target.stat().st_size == path.stat().st_size and sha256_file(target) == digest):
            _copy_file(path, target)
        n += 1
    say(f"copied and hashed {n} files from {src}")
    return n


def _copy_file(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temporary name; nothing half-written is left on failure."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        where = exc.filename if exc.filename and Path(exc.filename) != tmp else dest
        raise WriteFailed(f"{where}: copying {src} failed ({exc.strerror}); nothing was left behind; free space "
                          "on that disk or choose another --root, then run again") from exc


def fetch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    mirror: str | None = None,
    from_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    limits: ExtractLimits | None = None,
) -> DatasetPaths:
    """Download (or take from ``from_path``), verify and extract a dataset's original files.

    ``limits``: how far an archive may expand (default: ``ExtractLimits.from_env()``).
    """
    say = log or (lambda msg: print(msg, file=sys.stderr))
    spec = registry.get(name)
    paths = DatasetPaths(resolve_root(root), spec.id)
    _mkdir(paths.downloads)
    _mkdir(paths.extracted)
    lock = SourceLock(paths.lock)
    mirror = mirror or os.environ.get("IMUDATA_MIRROR") or None
    with extract_limits(limits):
        if from_path is not None:
            _from_local_committed(spec, paths, lock, Path(from_path).expanduser(), say)
        elif spec.acquire is not None:
            spec.acquire(spec, paths, lock, mirror=mirror, progress=progress, say=say)
        else:
            for source in spec.sources:
                archive = download_source(spec, source, paths, lock, mirror=mirror, progress=progress, say=say)
                if _is_archive(archive):
                    extract_once(archive, paths, source, lock)
    found = _root_or_refuse(spec, paths.extracted)
    originals.report(spec.id, found, paths.lock, paths.extracted, say)
    say(f"{spec.id}: original files ready in {found}")
    return paths


def download_source(spec: DatasetSpec, source: Source, paths: DatasetPaths, lock: SourceLock, *,
                    mirror: str | None, progress: bool, say: Callable[[str], None]) -> Path:
    """Download one source file (trying each URL, or the mirror), verify it, and return its path.

    The file is checked against its pin and the lock. It is recorded in the lock at once only if it
    is not an archive and its size was confirmed; an archive is recorded by ``extract_once`` after it
    extracted, so a truncated or damaged download never has its hash locked in.
    """
    dest = paths.downloads / source.filename
    if dest.exists():
        digest = sha256_file(dest)
        size = dest.stat().st_size
        known = lock.check(source.filename, digest, size, pinned=source.sha256, path=dest)
        if not known and not _is_archive(dest) and source.size is not None:
            lock.record(source.filename, digest, size, None)
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
            got = fetch_file(url, dest, sha256=source.sha256, size=source.size, progress=progress)
        except (ChecksumMismatch, WriteFailed):  # another URL would not help
            raise
        except FetchError as exc:
            errors.append(f"{url}: {exc}")
            continue
        try:
            lock.check(source.filename, got.sha256, got.size, pinned=source.sha256, path=dest)
        except ChecksumMismatch:
            dest.unlink(missing_ok=True)  # never accepted: do not leave a file that fails every later run
            raise
        if _is_archive(dest):
            _PENDING.setdefault(lock.path, {})[source.filename] = (got.sha256, got.size, url)
        elif got.size_confirmed:
            lock.record(source.filename, got.sha256, got.size, url)
        else:
            say(f"{spec.id}: the server did not declare the size of {source.filename}; its checksum is not "
                "recorded, so a later run cannot tell whether it changed")
        return dest
    hint = (f"Download it yourself from {source.urls[0]} and run `imudata fetch {spec.id} --from FILE`, "
            f"or point --mirror at a folder or server holding {source.filename}.")
    raise FetchError(f"{spec.id}: could not download {source.filename}:\n  " + "\n  ".join(errors) + f"\n{hint}")


def _root_or_refuse(spec: DatasetSpec, where: Path) -> Path:
    """The dataset's root under ``where``, or a FormatError asking whether this is the right download."""
    try:
        return find_root(where, spec)
    except FormatError as exc:
        raise FormatError(f"{spec.id}: the original files contain neither {spec.marker!r}, which marks the "
                          f"dataset's root, nor any file the converter reads; is this the right download? ({exc})"
                          ) from exc


class _RawSnapshot:
    """What ``raw/`` held before a ``--from`` copy, so a copy that is not this dataset can be undone.

    A local copy is committed only when the dataset's layout is recognised in it: otherwise every
    file and folder it added under ``raw/`` is removed and ``sources.lock.json`` is restored byte for
    byte, so no debris of another dataset stays behind and ``imudata list`` does not call it
    downloaded.
    """

    def __init__(self, paths: DatasetPaths) -> None:
        self.paths = paths
        self.files = {p for d in (paths.extracted, paths.downloads) if d.exists() for p in d.rglob("*")}
        self.lock_bytes = paths.lock.read_bytes() if paths.lock.exists() else None

    def restore(self) -> list[Path]:
        """Remove what was added since the snapshot (deepest first) and put the lock back."""
        added = sorted((p for d in (self.paths.extracted, self.paths.downloads) if d.exists()
                        for p in d.rglob("*") if p not in self.files), key=lambda p: len(p.parts), reverse=True)
        for p in added:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        if self.lock_bytes is None:
            self.paths.lock.unlink(missing_ok=True)
        else:
            tmp = self.paths.lock.with_name(f".{self.paths.lock.name}.restore")
            tmp.write_bytes(self.lock_bytes)
            os.replace(tmp, self.paths.lock)
        return added


def _from_local_committed(spec: DatasetSpec, paths: DatasetPaths, lock: SourceLock, src: Path,
                          say: Callable[[str], None]) -> None:
    """``_from_local``, kept only if the copy holds this dataset's layout (else undone, then the error)."""
    snap = _RawSnapshot(paths)
    try:
        _from_local(spec, paths, lock, src, say)
        # the layout must be recognised in what this copy brought, not in an earlier copy beside it
        if src.is_dir():
            _root_or_refuse(spec, paths.extracted / src.name)
        else:
            found = _root_or_refuse(spec, paths.extracted)
            fresh = [p for p in paths.extracted.iterdir() if p not in snap.files and not p.name.startswith(".")]
            if fresh and not any(found == f or found.is_relative_to(f) or f.is_relative_to(found) for f in fresh):
                raise FormatError(f"{spec.id}: --from {src} holds no file of this dataset's layout (the one found, "
                                  f"{found}, came from an earlier copy); is this the right download?")
    except BaseException as exc:
        added = snap.restore()
        _PENDING.pop(lock.path, None)
        if isinstance(exc, FormatError) and added:
            say(f"{spec.id}: --from {src} is not a copy of this dataset; removed the {len(added)} files and "
                f"folders it added under {paths.raw} and restored {paths.lock.name}")
        raise


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
    size = src.stat().st_size
    lock.check(src.name, digest, size, pinned=source.sha256 if source else None, path=src)
    if not dest.exists() or sha256_file(dest) != digest:
        _copy_file(src, dest)
    _PENDING.setdefault(lock.path, {})[src.name] = (digest, size, str(src))
    try:
        extract_once(dest, paths, source, lock)
    except CorruptArchive as exc:
        dest.unlink(missing_ok=True)  # the copy; the user's file is left alone
        cause = exc.__cause__ if isinstance(exc.__cause__, CorruptArchive) else exc
        raise CorruptArchive(f"--from {src}: {cause} The file is truncated or damaged and nothing was recorded; "
                             "download it again and run the same command.") from exc
