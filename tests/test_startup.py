"""Start-up stays light: listing and describing datasets imports no converter dependencies."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pyarrow", "polars", "pandas", "scipy", "torch")


def _modules_after(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_registry_scan_and_cards_import_no_heavy_dependency():
    mods = _modules_after("import imudata.cli, imudata.info, imudata.registry as r\n"
                          "cards = [r.get(n).card for n in r.names()]\nassert len(cards) > 10")
    loaded = sorted({m.split(".")[0] for m in mods} & set(HEAVY))
    assert loaded == [], f"imported at start-up: {loaded}"


def test_lazy_module_imports_on_first_use_and_rebinds():
    from imudata._lazy import LazyModule, lazy

    ns: dict = {}
    ns["m"] = lazy("json", ns, "m")
    assert isinstance(ns["m"], LazyModule)
    assert ns["m"].dumps([1]) == "[1]"
    assert ns["m"] is json  # the alias now names the real module: no proxy cost in hot loops


def test_converter_still_finds_its_modules():
    """A converter function reached through the registry runs with numpy etc. loaded on demand."""
    mods = _modules_after("import imudata.registry as r\nfrom imudata.datasets import _common\n"
                          "print(_common.np.zeros(2).sum())")
    assert "numpy" in mods


# -- the light entry point (imudata.quick) answers list / info / --help / --version like the typer app --

_TYPER = 'import sys; sys.argv[0] = "imudata"; from imudata.cli import main; main()'
_QUICK = 'import sys; sys.argv[0] = "imudata"; from imudata.quick import main; main()'


def _both(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """The same command through the typer app and through the light entry point."""
    import os

    e = {**os.environ, **env}
    typer_ = subprocess.run([sys.executable, "-c", _TYPER, *args], cwd=ROOT, capture_output=True, text=True, env=e)
    quick = subprocess.run([sys.executable, "-c", _QUICK, *args], cwd=ROOT, capture_output=True, text=True, env=e)
    return typer_, quick


@pytest.fixture(scope="module")
def converted_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding a converted HAPT fixture (so `list` and `info` show converted figures)."""
    from imudata import commands

    from .fixtures import hapt as fx

    base = tmp_path_factory.mktemp("quick")
    tree = fx.make(base / "src")
    commands.fetch(["hapt"], base / "root", from_path=tree, progress=False, log=lambda m: None)
    return base / "root"


@pytest.mark.parametrize("args,columns", [
    (["--help"], "80"), (["--help"], "44"), (["--help"], "200"), ([], "80"), (["--version"], "80"),
    (["list"], "80"), (["list", "--json"], "80"), (["info", "hapt"], "80"), (["info", "HAPT", "--json"], "80"),
    (["info", "pamap3"], "80"), (["list", "--help"], "80"), (["list", "--bogus"], "80"), (["info"], "80"),
])
def test_light_entry_point_prints_what_the_typer_app_prints(args: list[str], columns: str,
                                                            converted_root: Path) -> None:
    typer_, quick = _both(args, {"COLUMNS": columns, "IMUDATA_HOME": str(converted_root)})
    assert (quick.stdout, quick.stderr, quick.returncode) == (typer_.stdout, typer_.stderr, typer_.returncode)
    if args in (["list"], ["info", "hapt"], ["info", "HAPT", "--json"]):
        assert "converted" in quick.stdout  # the converted copy's figures, not only the registry card


def test_light_entry_point_takes_root_option_forms(converted_root: Path, tmp_path: Path) -> None:
    """--root R and --root=R both reach the root; the default root ($IMUDATA_HOME) is not used."""
    env = {"IMUDATA_HOME": str(tmp_path)}
    for args in (["list", "--root", str(converted_root)], ["list", f"--root={converted_root}", "--json"],
                 ["info", "hapt", "--root", str(converted_root)]):
        typer_, quick = _both(args, env)
        assert (quick.stdout, quick.stderr, quick.returncode) == (typer_.stdout, typer_.stderr, typer_.returncode)
        assert "converted" in quick.stdout


def test_light_commands_do_not_import_typer() -> None:
    for argv in (["--help"], ["list"], ["info", "hapt"], ["--version"]):
        code = ("import io, contextlib\nfrom imudata import quick\nbuf = io.StringIO()\n"
                f"with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):\n"
                f"    assert quick.run({argv!r}) == 0")
        mods = _modules_after(code)
        loaded = sorted({m.split(".")[0] for m in mods} & {"typer", "click", "pydantic", "rich", "requests", *HEAVY})
        assert loaded == [], f"{argv}: imported {loaded}"


def test_short_help_follows_clicks_rule() -> None:
    from imudata.quick import short_help

    assert short_help("Convert files. Then more.", 45) == "Convert files."
    assert short_help("one two three four", 12) == "one two..."
    assert short_help("first paragraph here\n\nsecond", 80) == "first paragraph here"
    assert short_help("", 10) == ""
