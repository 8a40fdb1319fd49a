"""The Ray engine: read-only arrays on workers, errors, and a worker killed with SIGKILL in the middle
of a conversion of real HAPT data (same shards as the local engine). Ray vs local for every step on
an s3:// root: tests/test_s3_root.py."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from imudata import commands
from imudata.engines import resolve_engine
from imudata.errors import FormatError, ImudataError
from imudata.parallel import run_jobs
from imudata.verify import verify

from . import _engine_jobs
from ._same import assert_same_dataset


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMUDATA_ENGINE", raising=False)
    assert resolve_engine(None) == "local"
    monkeypatch.setenv("IMUDATA_ENGINE", "ray")
    assert resolve_engine(None) == "ray" and resolve_engine("local") == "local"
    monkeypatch.setenv("IMUDATA_ENGINE", "spark")
    with pytest.raises(ImudataError, match=r"\$IMUDATA_ENGINE: unknown engine 'spark'; expected one of local, ray"):
        resolve_engine(None)
    with pytest.raises(ImudataError, match="--engine: unknown engine 'dask'"):
        resolve_engine("dask")
    monkeypatch.delenv("IMUDATA_ENGINE")
    for step in (commands.convert, commands.bands, commands.caption):  # refused before anything is read
        with pytest.raises(ImudataError, match="unknown engine 'dask'"):
            step("hapt", "/nonexistent-root", engine="dask")


def test_read_only_arrays_are_copied_on_workers(ray_session) -> None:
    """Arrays that travel through Ray's object store arrive read-only; sosfiltfilt refuses them."""
    from scipy.signal import butter, sosfiltfilt

    ray = ray_session
    sos = butter(4, 0.2, output="sos")
    x = np.sin(np.linspace(0, 40, 500)) + np.linspace(0, 1, 500)
    shared = ray.get(ray.put([sos]))[0]
    assert not shared.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        sosfiltfilt(shared, x)
    got = run_jobs(_engine_jobs.zero_phase, [(sos, x), (sos, 2 * x)], engine="ray", progress=False)
    assert np.array_equal(got[0], sosfiltfilt(sos, x)) and np.array_equal(got[1], sosfiltfilt(sos, 2 * x))


def test_an_error_in_the_work_stops_the_run(ray_session) -> None:
    """A bad input fails the run with the work's own error type and one-line message, as locally."""
    with pytest.raises(FormatError, match="^subject 7: bad file$"):
        run_jobs(_engine_jobs.fail_with, [("subject 7: bad file",)], engine="ray", progress=False)


def _unit_workers() -> list[int]:
    """Pids of Ray workers running an imudata unit now (Ray titles them ``ray::Map(ImudataUnit)``)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::Map(ImudataUnit)"):
                    out.append(int(d.name))
            except OSError:
                continue
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker through /proc")
def test_kill_9_of_a_ray_worker_mid_conversion_loses_nothing(ray_session, hapt_reference, tmp_path: Path) -> None:
    """A worker killed with SIGKILL while it converts a subject: Ray runs that unit again, the
    shards equal the local engine's, nothing partial is left, and a re-run has nothing to do."""
    src, local = hapt_reference
    root = tmp_path / "ray"
    commands.fetch("hapt", root, from_path=src, convert=False)
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        while not done.is_set() and not killed:
            for pid in _unit_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.005)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        try:
            commands.convert("hapt", root, engine="ray")
            first = "completed (Ray ran the killed unit again)"
        except Exception as exc:  # noqa: BLE001 - the contract is only that a re-run completes
            first = f"failed: {exc}"
    finally:
        done.set()
        t.join(5)
    assert killed, "no Ray worker was seen running a unit"
    print(f"first run after kill -9 of worker {killed[0]}: {first}")
    leftovers = [p for p in root.rglob("*") if ".tmp-" in p.name]
    assert leftovers == [], f"partial files left after {first}: {leftovers}"
    logs: list[str] = []
    again = commands.convert("hapt", root, engine="ray", log=logs.append)
    assert again["shards"] == 2 and any("up to date" in m for m in logs), (first, logs)
    assert_same_dataset(local, root)
    assert verify("hapt", root) == []
    assert not (root / "hapt" / ".work").exists()
