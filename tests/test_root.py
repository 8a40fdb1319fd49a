"""One data root: `imudata list` says which root it looks at and where that came from, and the
Makefile's `make demo` / `make demo-data` use the very root the CLI uses (it sets none of its own)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("IMUDATA_HOME", "XDG_CACHE_HOME", "MAKEFLAGS", "MFLAGS")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def _list_root_line(env: dict[str, str], *args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "imudata.cli", "list", *args], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "hapt" in res.stdout and "data root" not in res.stdout   # the table on stdout stays a table
    return res.stderr.splitlines()[0]


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the default cache folder is XDG's on Linux only")
def test_list_names_root_and_origin(tmp_path: Path) -> None:
    assert _list_root_line(_env(tmp_path)) == (f"data root: {tmp_path / 'cache' / 'imudata'} (default: the user "
                                               f"cache; set $IMUDATA_HOME or --root to change it)")
    assert _list_root_line(_env(tmp_path, IMUDATA_HOME=str(tmp_path / "h"))) == f"data root: {tmp_path / 'h'} ($IMUDATA_HOME)"
    assert (_list_root_line(_env(tmp_path, IMUDATA_HOME=str(tmp_path / "h")), "--root", str(tmp_path / "r"))
            == f"data root: {tmp_path / 'r'} (--root)")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("home", [None, "chosen"])
def test_makefile_uses_the_cli_root(tmp_path: Path, home: str | None) -> None:
    """What `make demo-data` reports (and so fetches into) is what `imudata list` then looks at."""
    env = _env(tmp_path, **({"IMUDATA_HOME": str(tmp_path / home)} if home else {}))
    res = subprocess.run(["make", "-s", "demo-data", "DEMO_DATA=", f"PYTHON={sys.executable}"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [_list_root_line(env)]
    want = tmp_path / home if home else tmp_path / "cache" / "imudata"
    assert f"data root: {want} " in res.stdout
