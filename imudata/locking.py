"""One lock per dataset, so that two commands never write the same dataset at once.

``dataset_lock(paths, "convert")`` takes an exclusive ``flock`` on ``<root>/<id>/.lock`` without
waiting and writes who holds it (pid, host, command, start time) into the file. The operating
system releases the lock when the process ends, even by ``kill -9``, so a lock file left behind
never blocks anyone: only a live holder does. A second command on the same dataset fails at once
with ``DatasetBusy`` naming the holder. The lock is re-entrant within one process (``fetch`` holds
it while it calls ``convert``). Where ``fcntl`` is missing (Windows) it is a no-op.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from .errors import ImudataError
from .paths import DatasetPaths

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: lock path -> (open file, depth) for the locks this process holds
_held: dict[str, tuple[Any, int]] = {}


class DatasetBusy(ImudataError):
    """Another live process holds the dataset's lock."""


def lock_path(paths: DatasetPaths) -> Path:
    return paths.base / ".lock"


def holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its holder ({} when unreadable or empty)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process (its details are not recorded yet)"
    return (f"pid {info.get('pid')} on {info.get('host')} (`{info.get('command')}`, "
            f"since {info.get('started')})")


@contextlib.contextmanager
def dataset_lock(paths: DatasetPaths, operation: str) -> Iterator[None]:
    """Hold the dataset's exclusive lock for ``operation`` (``convert``, ``bands``, ...), or raise DatasetBusy."""
    path = lock_path(paths)
    key = os.path.abspath(path)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    if key in _held:
        fh, depth = _held[key]
        _held[key] = (fh, depth + 1)
        try:
            yield
        finally:
            fh, depth = _held[key]
            _held[key] = (fh, depth - 1)
        return
    paths.base.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise DatasetBusy(f"{paths.id} is in use by {_describe(holder(path))}; wait until it finishes "
                          f"(its lock {path} is released when that process ends, even if it is killed)") from None
    except BaseException:
        fh.close()
        raise
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "operation": operation,
                "command": " ".join(["imudata", *sys.argv[1:]]) if sys.argv and "imudata" in sys.argv[0]
                else f"{operation} (Python API, {Path(sys.argv[0]).name if sys.argv and sys.argv[0] else 'python'})",
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(info) + "\n")
        fh.flush()
        _held[key] = (fh, 1)
        yield
    finally:
        _held.pop(key, None)
        try:
            fh.seek(0)
            fh.truncate()  # a finished holder leaves an empty file behind
        except OSError:
            pass
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()
