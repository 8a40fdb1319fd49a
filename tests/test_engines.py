"""The Ray engine: same shards, cards and captions as the local pool on real HAPT data, read-only
arrays on workers, errors, and a worker killed with SIGKILL in the middle of a conversion."""
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
from ._same import assert_same_dataset, caption_level
from .conftest import hapt_subset


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


def test_ray_engine_equals_local_on_real_hapt(ray_session, tmp_path: Path) -> None:
    """convert, bands, resample and caption: the Ray engine's output equals the local pool's."""
    src = hapt_subset(tmp_path / "hapt-src")
    roots = {e: tmp_path / e for e in ("local", "ray")}
    for engine, root in roots.items():
        commands.fetch("hapt", root, from_path=src, convert=False)
        res = commands.convert("hapt", root, workers=1, engine=engine)
        assert res["subjects"] == ["4", "5"] and res["shards"] == 2
        commands.bands("hapt", root, engine=engine)
        commands.resample("hapt", root, rate=20, engine=engine)
        commands.caption("hapt", root, level="high_middle,low", window=10, stride=10, engine=engine)
    assert_same_dataset(roots["local"], roots["ray"])
    for folder in ("high_middle", "low"):
        idx_l, rows_l = caption_level(roots["local"], "hapt", folder)
        idx_r, rows_r = caption_level(roots["ray"], "hapt", folder)
        assert idx_l == idx_r and rows_l.num_rows > 50 and rows_l.equals(rows_r)
    assert verify("hapt", roots["ray"]) == []


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
def test_kill_9_of_a_ray_worker_mid_conversion_loses_nothing(ray_session, tmp_path: Path) -> None:
    src = hapt_subset(tmp_path / "hapt-src")
    local, root = tmp_path / "local", tmp_path / "ray"
    commands.fetch("hapt", local, from_path=src)
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
    again = commands.convert("hapt", root, engine="ray")
    assert again["shards"] == 2, first
    assert_same_dataset(local, root)
    assert verify("hapt", root) == []
    leftovers = [p for p in root.rglob("*") if ".tmp-" in p.name or p.name == ".work"]
    assert leftovers == [], f"partial files left after {first}: {leftovers}"
