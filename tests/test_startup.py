"""Start-up stays light: listing and describing datasets imports no converter dependencies."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
