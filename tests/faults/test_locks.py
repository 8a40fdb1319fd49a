"""One lock per dataset: while a live process holds it, every writing command fails at once naming
the holder; a holder killed with -9 leaves a lock file that blocks nobody."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imudata.captions import CaptionConfig, caption_dataset
from imudata.convert import convert
from imudata.derive import derive_bands, derive_resample
from imudata.locking import DatasetBusy, dataset_lock, holder
from imudata.paths import DatasetPaths
from imudata.verify import verify

from ..fixtures import hapt as fx
from ._tools import REPO, place_originals, run_cli

HOLD = """
import sys, time
from pathlib import Path
from imudata.locking import dataset_lock
from imudata.paths import DatasetPaths
with dataset_lock(DatasetPaths(Path(sys.argv[1]), "hapt"), "bands"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("locks") / "home"
    place_originals(root, "hapt", fx)
    convert("hapt", root, progress=False, log=lambda m: None)
    return root


@pytest.fixture
def held(converted: Path):
    """A separate live process holding the hapt lock; yields its pid."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(converted)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


OPERATIONS = {
    "convert": lambda root: convert("hapt", root, progress=False, force=True, log=lambda m: None),
    "bands": lambda root: derive_bands("hapt", root, progress=False, log=lambda m: None),
    "resample": lambda root: derive_resample("hapt", root, rate=25, progress=False, log=lambda m: None),
    "caption": lambda root: caption_dataset("hapt", root, config=CaptionConfig(window_s=5, stride_s=5),
                                            progress=False, log=lambda m: None),
    "verify": lambda root: verify("hapt", root),
}


def test_every_command_refused_while_another_holds_the_lock(converted: Path, held) -> None:
    before = (converted / "hapt" / "dataset.json").read_text()
    for name, op in OPERATIONS.items():
        t0 = time.monotonic()
        with pytest.raises(DatasetBusy) as exc:
            op(converted)
        msg = str(exc.value)
        assert f"pid {held.pid} " in msg and "bands" in msg and "since" in msg, (name, msg)
        assert time.monotonic() - t0 < 10, f"{name} waited instead of failing at once"
    assert (converted / "hapt" / "dataset.json").read_text() == before  # nothing was touched


def test_cli_names_the_holder_and_exits_2(converted: Path, held) -> None:
    for args in (["convert", "hapt"], ["fetch", "hapt", "--no-convert"]):
        res = run_cli(*args, "--root", str(converted), "-q")
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: hapt is in use by pid ") and "Traceback" not in res.stderr
        assert str(held.pid) in lines[0]


def test_lock_of_a_killed_holder_blocks_nobody(converted: Path, held) -> None:
    os.kill(held.pid, signal.SIGKILL)
    held.wait(10)
    lock = converted / "hapt" / ".lock"
    assert holder(lock)["pid"] == held.pid  # the record is left behind ...
    assert verify("hapt", converted) == []  # ... but the lock went with the process


def test_lock_is_reentrant_within_a_process(converted: Path) -> None:
    """fetch holds the lock while it converts (the CLI's fetch does exactly this)."""
    paths = DatasetPaths(converted, "hapt")
    with dataset_lock(paths, "fetch"):
        assert holder(paths.base / ".lock")["operation"] == "fetch"
        card = convert("hapt", converted, progress=False, log=lambda m: None)
        assert card.subjects == ["1", "2", "3"]
    assert holder(paths.base / ".lock") == {}  # released and cleared
