"""Running independent jobs (subjects, shards) serially or in worker processes, with a progress bar."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], *, workers: int = 1, desc: str = "",
             unit: str = "job", progress: bool = True,
             on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(*job) for job in jobs]``, in ``workers`` processes when more than one; results in job order.

    Workers are started with ``spawn``, not ``fork``: the thread pools of polars and pyarrow do not
    survive a fork and a forked worker can hang. ``on_result(i, result)`` is called as each job
    finishes (in completion order), e.g. to record progress that survives an interruption.
    """
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
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futs = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
                for fut in as_completed(futs):
                    i = futs[fut]
                    results[i] = fut.result()
                    if on_result:
                        on_result(i, results[i])
                    bar.update(1)
    finally:
        bar.close()
    return results
