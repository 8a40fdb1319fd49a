"""Workers die with their parent: kill -9 of the process running ``run_jobs`` leaves no worker behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see dead workers")

REPO = Path(__file__).resolve().parents[2]

PARENT = """
import os, sys
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from tests.faults import _jobs
folder = sys.argv[1]
if sys.argv[2] == "run_jobs":
    from imudata.parallel import run_jobs
    run_jobs(_jobs.record_pid_and_sleep, [(folder, 0, 120), (folder, 1, 120)], workers=2, progress=False)
else:  # the portable watch alone, without prctl
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=_jobs.watch_without_prctl, initargs=(os.getpid(),)) as pool:
        futs = [pool.submit(_jobs.record_pid_and_sleep, folder, i, 120) for i in range(2)]
        [f.result() for f in futs]
"""


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a dead child nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("mode", ["run_jobs", "portable-watch"])
def test_workers_die_within_seconds_of_parent_kill9(tmp_path: Path, mode: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), mode], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("*.pid"))) < 2:
            assert parent.poll() is None, "the parent exited before its workers started"
            assert time.monotonic() < deadline, "workers did not start within 60 s"
            time.sleep(0.1)
        pids = [int(p.read_text()) for p in sorted(tmp_path.glob("*.pid"))]
        assert all(_alive(p) for p in pids) and parent.pid not in pids
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        t0 = time.monotonic()
        while any(_alive(p) for p in pids) and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        left = [p for p in pids if _alive(p)]
        assert not left, f"workers {left} still running 5 s after kill -9 of their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in tmp_path.glob("*.pid"):
            try:
                os.kill(int(p.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


def test_worker_killed_is_one_clear_error() -> None:
    """A worker killed with -9 (e.g. by the out-of-memory killer) is an ImudataError saying what to do."""
    from imudata.errors import ImudataError
    from imudata.parallel import run_jobs

    from . import _jobs

    with pytest.raises(ImudataError, match="convert x: a worker process died without reporting .* re-run to resume"):
        run_jobs(_jobs.die, [(0,), (1,), (2,)], workers=2, desc="convert x", progress=False)


@pytest.mark.skipif(sys.platform == "win32", reason="no fork server on Windows")
def test_workers_start_with_the_heavy_modules_already_imported() -> None:
    """Workers are forked from a server that preloaded numpy, pyarrow and polars: a job finds them
    imported (a spawned worker would import them itself, ~0.8 CPU-s each)."""
    import subprocess

    import json

    code = ("import json\nfrom imudata.parallel import run_jobs\nfrom tests.faults import _jobs\n"
            "r = run_jobs(_jobs.already_imported, [('polars',), ('pyarrow.parquet',), ('numpy',)], workers=2, "
            "progress=False)\nprint(json.dumps(r))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert [imported for imported, _ in json.loads(out.strip().splitlines()[-1])] == [True, True, True]


def test_workers_see_the_callers_environment_and_folder_of_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork server starts once per process; a later run_jobs call's workers still see the
    environment and working directory the caller has at that call, as spawned workers did."""
    from imudata.parallel import run_jobs

    from . import _jobs

    monkeypatch.setenv("IMUDATA_TEST_MARK", "first")
    first = run_jobs(_jobs.environ_and_cwd, [("IMUDATA_TEST_MARK",)] * 2, workers=2, progress=False)
    monkeypatch.setenv("IMUDATA_TEST_MARK", "second")
    monkeypatch.chdir(tmp_path)
    second = run_jobs(_jobs.environ_and_cwd, [("IMUDATA_TEST_MARK",)] * 2, workers=2, progress=False)
    assert [m for m, _ in first] == ["first", "first"]
    assert second == [("second", str(tmp_path))] * 2
