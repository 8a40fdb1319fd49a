"""CPU-time measurement shared by the benchmark scripts."""
from __future__ import annotations

import time
from typing import Callable


def rounds(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best CPU time (``time.process_time``: this process, all threads) of each function over
    ``repeat`` rounds, the functions interleaved in each round. On a shared machine the CPU time
    a computation needs is stable where its wall time is not (it also waits for a core)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.process_time()
            fn()
            times[k].append(time.process_time() - t)
    return {k: min(v) for k, v in times.items()}


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best CPU time of ``fn`` over ``repeat`` runs."""
    return rounds({"f": fn}, repeat)["f"]
