"""Schedulers for the per-unit work of convert, bands, resample and caption: ``local`` or ``ray``.

The work itself is one function per unit (``convert_subject`` for a subject, ``derive_shard`` and
``caption_shard`` for a source shard, whose sessions are processed whole) and is the same under
every engine: the engine only decides where each call runs. ``local`` is the process pool of
``imudata.parallel``; ``ray`` runs the calls as a Ray Data ``map`` over the unit indices, one unit
per block, on a running cluster (``--address``) or on a Ray instance started on this machine.

Each unit writes its own deterministic path, through a temporary name renamed into place, and
the command publishes only after every unit reported back, so a unit that Ray retries (its
worker was killed, or the node was lost) overwrites its own output whole and a killed run is
resumed by running the command again (docs/scale.md).
"""
from __future__ import annotations

import functools
import os
import pickle
from typing import Any, Callable, Sequence

from .errors import ImudataError

ENGINES = ("local", "ray")
#: attempts Ray makes for a unit whose worker process died (an exception in the work is not retried)
RAY_MAX_RETRIES = 3


def resolve_engine(engine: str | None) -> str:
    """``engine``, else ``$IMUDATA_ENGINE``, else ``local``; an unknown name is an error naming both."""
    name = engine or os.environ.get("IMUDATA_ENGINE") or "local"
    if name not in ENGINES:
        where = "--engine" if engine else "$IMUDATA_ENGINE"
        raise ImudataError(f"{where}: unknown engine {name!r}; expected one of {', '.join(ENGINES)}")
    return name


def writable(obj: Any) -> Any:
    """``obj`` with every read-only numpy array (lists, tuples and dict values included) copied.

    Arrays that reach a Ray worker through the object store are zero-copy views of shared memory
    and read-only; ``scipy.signal.sosfiltfilt`` and other Cython code refuse them ("buffer
    source array is read-only"). Every unit's arguments pass through here on the worker.
    """
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj if obj.flags.writeable else obj.copy()
    if isinstance(obj, tuple):
        return tuple(writable(x) for x in obj)
    if isinstance(obj, list):
        return [writable(x) for x in obj]
    if isinstance(obj, dict):
        return {k: writable(v) for k, v in obj.items()}
    return obj


def ensure_ray(address: str | None = None) -> Any:
    """The ``ray`` module, connected: to ``address`` (or ``$RAY_ADDRESS``) when given, else to a
    Ray instance started here with as many CPUs as this machine has. An instance already
    initialised in this process (tests, notebooks) is used as it is."""
    try:
        import ray
    except ImportError as exc:
        raise ImudataError("--engine ray needs Ray: pip install 'imudata[ray]'") from exc
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        addr = address or os.environ.get("RAY_ADDRESS")
        if addr:
            kwargs["address"] = addr
        else:  # workers import imudata from where this process did (a source checkout too)
            kwargs["include_dashboard"] = False
            kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": worker_pythonpath()}}
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ImudataError(f"--engine ray: cannot connect to Ray at {addr or 'a new local instance'} ({exc})") from exc
    return ray


def worker_pythonpath() -> str:
    """``$PYTHONPATH`` with the folder holding the imported ``imudata`` package first."""
    from pathlib import Path

    here = str(Path(__file__).resolve().parents[1])
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != here]
    return os.pathsep.join([here, *rest])


class ImudataUnit:
    """One unit of work on a Ray worker: row ``{"id": i}`` -> ``{"i": i, "result": pickled fn(*jobs[i])}``.

    The jobs travel once through the object store (``jobs_ref``), not inside every row; results
    are pickled bytes so that Arrow never reinterprets them. Ray names the worker process
    ``ray::Map(ImudataUnit)`` while a unit runs.
    """

    def __init__(self, fn: Callable[..., Any], jobs_ref: Any) -> None:
        self.fn = fn
        self.jobs_ref = jobs_ref

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        import ray

        i = int(row["id"])
        job = writable(ray.get(self.jobs_ref)[i])
        try:
            return {"i": i, "result": pickle.dumps(self.fn(*job)), "error": "", "message": ""}
        except ImudataError as exc:  # a bad input: reported, not retried (Ray's wrapper would lose the type)
            return {"i": i, "result": b"", "error": type(exc).__name__, "message": str(exc)}


def run_on_ray(fn: Callable[..., Any], jobs: Sequence[tuple], *, address: str | None = None, desc: str = "",
               progress: bool = True, on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(*job) for job in jobs]`` as a Ray Data map, one unit per task; results in job order.

    A worker that dies is replaced and its unit run again (``RAY_MAX_RETRIES``); an exception
    raised by the work stops the run with that error, as under the local engine.
    """
    ray = ensure_ray(address)
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = bool(progress)
    if not progress:  # quiet: no "progress bars disabled" warning nor per-run execution lines
        import logging

        logging.getLogger("ray.data").setLevel(logging.ERROR)
    ctx.print_on_execution_start = False
    results: list[Any] = [None] * len(jobs)
    if not jobs:
        return results
    jobs_ref = ray.put(list(jobs))
    ds = ray.data.range(len(jobs), override_num_blocks=len(jobs)).map(
        ImudataUnit(fn, jobs_ref), num_cpus=1,
        ray_remote_args_fn=functools.partial(dict, max_retries=RAY_MAX_RETRIES))
    rows = ds.iter_rows()
    for row in rows:
        i = int(row["i"])
        if row["error"]:  # the same error as under the local engine; the units not yet run are dropped
            from . import errors

            cls = getattr(errors, str(row["error"]), None)
            cls = cls if isinstance(cls, type) and issubclass(cls, ImudataError) else ImudataError
            raise cls(str(row["message"]))
        results[i] = pickle.loads(row["result"])
        if on_result:
            on_result(i, results[i])
    return results
