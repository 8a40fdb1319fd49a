"""Where datasets live on disk: ``--root``, else ``$IMUDATA_HOME``, else the user cache."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable


def user_cache() -> Path:
    """The platform's user cache folder (``~/.cache`` on Linux)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))


def default_root() -> Path:
    """The data root when none is given: ``$IMUDATA_HOME`` or the platform's user cache dir.

    An ``s3://bucket/prefix`` value gives a :class:`imudata.storage.RemotePath` (object storage).
    """
    env = os.environ.get("IMUDATA_HOME")
    if env:
        if env.startswith("s3://"):
            from .storage import RemotePath

            return RemotePath(env)  # type: ignore[return-value]
        return Path(env).expanduser()
    return user_cache() / "imudata"


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root to use for an explicit ``root`` (may be None); ``s3://...`` gives a RemotePath."""
    if root is None:
        return default_root()
    from .storage import RemotePath, is_remote

    if is_remote(root):
        return RemotePath(root)  # type: ignore[arg-type,return-value]
    return Path(root).expanduser()


def describe_root(root: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The data root for ``root`` and where it came from: ``--root``, ``$IMUDATA_HOME`` or the
    default (the user cache), so a command can say which root it is looking at."""
    if root is not None:
        return resolve_root(root), "--root"
    if os.environ.get("IMUDATA_HOME"):
        return default_root(), "$IMUDATA_HOME"
    return default_root(), "default: the user cache; set $IMUDATA_HOME or --root to change it"


class DatasetPaths:
    """The fixed layout of one dataset below the data root.

    ``raw/downloads`` holds archives as downloaded, ``raw/extracted`` the original tree,
    ``raw/sources.lock.json`` the sha256 of every source, ``parquet/<stream>/`` the shards,
    ``dataset.json`` the card, and ``.work`` the staging area of an unfinished conversion.
    """

    def __init__(self, root: Path, dataset_id: str) -> None:
        from .storage import RemotePath

        self.root = root if isinstance(root, RemotePath) else Path(root)
        self.id = dataset_id
        self.base = self.root / dataset_id

    @property
    def raw(self) -> Path:
        return self.base / "raw"

    @property
    def downloads(self) -> Path:
        return self.raw / "downloads"

    @property
    def extracted(self) -> Path:
        return self.raw / "extracted"

    @property
    def lock(self) -> Path:
        return self.raw / "sources.lock.json"

    @property
    def parquet(self) -> Path:
        return self.base / "parquet"

    def stream_dir(self, stream: str) -> Path:
        return self.parquet / stream

    @property
    def card(self) -> Path:
        return self.base / "dataset.json"

    @property
    def work(self) -> Path:
        return self.base / ".work"


def os_error_at(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    """``exc`` if it names a file, else the same error naming ``path`` (writes and fsyncs name none).

    pyarrow reports a full disk as a plain OSError whose text holds the errno; that errno is kept.
    """
    if exc.filename is not None:
        return exc
    code = exc.errno
    if code is None:
        import errno
        import re

        m = re.search(r"errno (\d+)", str(exc), re.IGNORECASE)
        code = int(m.group(1)) if m else errno.EIO
    return OSError(code, os.strerror(code), str(path))


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it to ``path``: no
    half-written file is ever visible, the temporary is removed on failure, and an OSError names
    ``path`` (``os_error_at``)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise os_error_at(exc, path) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
