"""Job functions for the worker tests (importable by spawned workers)."""
from __future__ import annotations

import os
import time
from pathlib import Path


def record_pid_and_sleep(folder: str, i: int, seconds: float) -> int:
    """Write this worker's pid to ``folder/<i>.pid``, then sleep: a stand-in for a long conversion."""
    tmp = Path(folder) / f".{i}.tmp"
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, Path(folder) / f"{i}.pid")
    time.sleep(seconds)
    return os.getpid()


def watch_without_prctl(parent_pid: int) -> None:
    """Worker initializer that uses only the portable parent watch (as on macOS), for its test."""
    from imudata import parallel

    parallel.sys.platform = "darwin"  # only this worker process is affected
    parallel._watch_parent(parent_pid)


def die(i: int) -> int:
    """Kill this worker with SIGKILL (as the out-of-memory killer would); returns only for i > 0."""
    import signal

    if i == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.5)
    return i


def already_imported(module: str) -> tuple[bool, int]:
    """(whether ``module`` was imported before this job ran, this worker's pid)."""
    import sys

    return module in sys.modules, os.getpid()


def environ_and_cwd(key: str) -> tuple[str | None, str]:
    """(``$key`` in this worker, its working directory)."""
    return os.environ.get(key), os.getcwd()
