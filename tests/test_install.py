"""A non-editable install, as a user gets it from a wheel: the named recipes and the example
manifests travel inside the packages, and the installed commands find them by name from any folder.

The wheel is built from a copy of the sources and installed with ``--no-deps`` into a fresh virtual
environment that sees this interpreter's site-packages (torch and the rest are not installed again;
no network is needed).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted(p.stem for p in (REPO / "imutrain" / "recipes").glob("*.yaml"))
MANIFESTS = sorted(p.stem for p in (REPO / "imudata" / "manifests").glob("*.yaml"))


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict[str, str], Path]:
    """(venv bin folder, a folder outside the repository, environment, the wheel)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for pkg in ("imudata", "imutrain"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IMUDATA_HOME", "VIRTUAL_ENV")}
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src),
                  "-w", str(tmp / "dist")], tmp, env)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("imudata-*.whl")
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], tmp, env)
    assert made.returncode == 0, made.stderr
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    inst = _run([sys.executable, "-m", "pip", "--python", str(bindir / "python"), "install", "--no-deps", "-q",
                 str(wheel)], tmp, env)
    assert inst.returncode == 0, inst.stderr
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env["IMUDATA_HOME"] = str(tmp / "home")
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return bindir, elsewhere, env, wheel


def test_wheel_holds_every_recipe_and_manifest(installed):
    names = set(zipfile.ZipFile(installed[3]).namelist())
    assert RECIPES and {f"imutrain/recipes/{n}.yaml" for n in RECIPES} <= names
    assert "demo" in MANIFESTS and {f"imudata/manifests/{n}.yaml" for n in MANIFESTS} <= names


def test_installed_packages_are_the_wheel(installed):
    bindir, cwd, env, _ = installed
    res = _run([str(bindir / "python"), "-c", "import imudata, imutrain; print(imudata.__file__); print(imutrain.__file__)"],
               cwd, env)
    assert res.returncode == 0, res.stderr
    venv = bindir.parent.resolve()
    assert all(Path(line).resolve().is_relative_to(venv) for line in res.stdout.split()), res.stdout


def test_installed_imutrain_lists_and_resolves_recipes(installed):
    bindir, cwd, env, _ = installed
    res = _run([str(bindir / "imutrain"), "recipes"], cwd, env)
    assert res.returncode == 0, res.stderr
    assert [ln.split()[0] for ln in res.stdout.splitlines()] == RECIPES
    tiny = _run([str(bindir / "imutrain"), "recipes", "tiny"], cwd, env)
    assert tiny.returncode == 0 and "name: tiny" in tiny.stdout and "d_model: 192" in tiny.stdout, tiny.stderr


def test_installed_commands_find_the_demo_manifest_by_name(installed):
    """`imutrain pretrain demo --recipe tiny` gets past the recipe and the manifest and stops at the
    missing data (an empty root), exit 2, naming the root; nothing is created."""
    bindir, cwd, env, _ = installed
    res = _run([str(bindir / "imutrain"), "pretrain", "demo", "--recipe", "tiny", "--out", "runs/demo", "-q"],
               cwd, env)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert "imudata/manifests/demo.yaml" in res.stderr and "hapt" in res.stderr, res.stderr
    assert not (cwd / "runs").exists()
    check = _run([str(bindir / "imudata"), "manifest", "check", "demo"], cwd, env)
    assert check.returncode != 0 and "demo.yaml" in check.stderr and "hapt" in check.stderr, check.stderr
    listing = _run([str(bindir / "imudata"), "list"], cwd, env)
    assert listing.returncode == 0
    assert listing.stderr.splitlines()[0] == f"data root: {env['IMUDATA_HOME']} ($IMUDATA_HOME)"
