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
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from .errors import ImudataError

#: seconds between two checks of the parent in the portable watch
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _parent_alive(parent_pid: int) -> bool:
    # a worker whose parent died is re-parented (to init or a subreaper): getppid changes
    return os.getppid() == parent_pid


def _watch_parent(parent_pid: int) -> None:
    """Worker initializer: make this worker die when the process that started it dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - unusual libc
            pass
    if not _parent_alive(parent_pid):  # the parent died before the request above
        os._exit(1)

    def watch() -> None:
        while _parent_alive(parent_pid):
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="imudata-parent-watch", daemon=True).start()


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], *, workers: int = 1, desc: str = "",
             unit: str = "job", progress: bool = True,
             on_result: Callable[[int, Any], None] | None = None, engine: str | None = None,
             address: str | None = None) -> list[Any]:
    """``[fn(*job) for job in jobs]``, in ``workers`` processes when more than one; results in job order.

    ``engine="ray"`` (or ``$IMUDATA_ENGINE=ray``) runs the same calls on Ray instead, at
    ``address`` when given (``imudata.engines``); ``workers`` then does not apply.

    Workers are started with ``spawn``, not ``fork``: the thread pools of polars and pyarrow do not
    survive a fork and a forked worker can hang. ``on_result(i, result)`` is called as each job
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
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_watch_parent,
                                     initargs=(os.getpid(),)) as pool:
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
