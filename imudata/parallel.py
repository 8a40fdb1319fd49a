"""Running independent jobs (subjects, shards) serially or in worker processes, with a progress bar.

Workers die with their parent: each one asks Linux to send it SIGKILL when the parent dies
(``prctl(PR_SET_PDEATHSIG)``) and, on every platform, watches its parent from a daemon thread
and exits when it is gone. So ``kill -9`` of ``imudata convert`` leaves no worker converting.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from .errors import ImudataError

#: seconds between two checks of the parent in the portable watch
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _parent_alive(parent_pid: int) -> bool:
    # a worker whose parent died is re-parented (to init or a subreaper): getppid changes
    return os.getppid() == parent_pid


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (on Linux a killed but unreaped zombie counts as gone)."""
    if sys.platform.startswith("linux"):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")
    try:  # pragma: no cover - other platforms
        os.kill(pid, 0)
    except ProcessLookupError:  # pragma: no cover
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True  # pragma: no cover


def _watch_parent(parent_pid: int) -> None:
    """Worker initializer: make this worker die when the process that started it dies.

    ``parent_pid`` is the process running ``run_jobs``. A spawned worker is its child: Linux
    sends it SIGKILL when it dies (``PR_SET_PDEATHSIG``), and a thread watches ``getppid``. A
    worker of the fork server is the server's child, and the server outlives ``parent_pid`` while
    any worker holds its pipe: the thread watches ``parent_pid`` itself.
    """
    direct = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - unusual libc
            pass

    def alive() -> bool:
        return _parent_alive(direct) and (direct == parent_pid or _pid_alive(parent_pid))

    if not alive():  # the parent died before the request above
        os._exit(1)

    def watch() -> None:
        while alive():
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="imudata-parent-watch", daemon=True).start()


def _init_worker(parent_pid: int, environ: dict[str, str], cwd: str) -> None:
    """Worker initializer: the caller's environment and working directory as they are now (a worker
    of the fork server would otherwise see them as they were when the server started, possibly
    several ``run_jobs`` calls earlier), then the parent watch."""
    if dict(os.environ) != environ:
        os.environ.clear()
        os.environ.update(environ)
    if os.getcwd() != cwd:
        os.chdir(cwd)
    _watch_parent(parent_pid)


#: what every worker imports (besides the job's own module), loaded once by the fork server so that each worker starts as a fork of a
#: process that already has them (a spawned worker paid ~0.8 CPU-s of imports: half the CPU of
#: converting HAPT with -j 2; benchmarks/README.md)
PRELOAD = ("numpy", "pyarrow", "pyarrow.parquet", "polars")


def _context(fn: Callable[..., Any]) -> Any:
    """The fork server with the worker modules preloaded where the platform has one, else spawn.

    Never plain ``fork`` of the caller: the thread pools of polars and pyarrow do not survive a
    fork and a forked worker can hang. The server imports modules but runs no work, so it has no
    thread pools to lose; it is started once per process and reused by later ``run_jobs`` calls.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(dict.fromkeys([*PRELOAD, fn.__module__])))  # used when the server starts
    return ctx


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], *, workers: int = 1, desc: str = "",
             unit: str = "job", progress: bool = True,
             on_result: Callable[[int, Any], None] | None = None, engine: str | None = None,
             address: str | None = None) -> list[Any]:
    """``[fn(*job) for job in jobs]``, in ``workers`` processes when more than one; results in job order.

    ``engine="ray"`` (or ``$IMUDATA_ENGINE=ray``) runs the same calls on Ray instead, at
    ``address`` when given (``imudata.engines``); ``workers`` then does not apply.

    Workers are forked from a fork server that has preloaded their modules (``spawn`` where there
    is none), never forked from the caller: the thread pools of polars and pyarrow do not survive a
    fork and a forked worker can hang. ``on_result(i, result)`` is called as each job
    finishes (in completion order), e.g. to record progress that survives an interruption. When a
    job fails, jobs not yet started are cancelled and the error is raised.
    """
    from .engines import resolve_engine

    if resolve_engine(engine) == "ray":
        from .engines import run_on_ray

        return run_on_ray(fn, jobs, address=address, desc=desc, progress=progress, on_result=on_result)
    results: list[Any] = [None] * len(jobs)
    bar = tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                results[i] = fn(*job)
                if on_result:
                    on_result(i, results[i])
                bar.update(1)
        else:
            ctx = _context(fn)
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(os.getpid(), dict(os.environ), os.getcwd())) as pool:
                futs = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
                try:
                    for fut in as_completed(futs):
                        i = futs[fut]
                        results[i] = fut.result()
                        if on_result:
                            on_result(i, results[i])
                        bar.update(1)
                except BrokenProcessPool as exc:
                    raise ImudataError(f"{desc or 'a job'}: a worker process died without reporting (killed, "
                                       f"or out of memory); re-run to resume, with fewer --workers if memory "
                                       f"is short") from exc
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return results
