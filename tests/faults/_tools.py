"""Helpers of the fault tests: original trees placed as if fetched, CLI runs, and consistency checks."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import imudata
from imudata.api import read_card

REPO = Path(__file__).resolve().parents[2]


def place_originals(root: Path, dataset: str, fixture: ModuleType, seed: int = 0) -> Path:
    """Write a fixture's original tree where ``imudata fetch`` would extract it; returns the tree root."""
    return fixture.make(root / dataset / "raw" / "extracted", seed)


def run_cli(*args: str, fault: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m imudata.cli ARGS`` from this checkout, optionally with ``IMUDATA_FAULT`` set."""
    env = {k: v for k, v in os.environ.items() if k not in ("IMUDATA_FAULT", "IMUDATA_DEBUG")}
    if fault:
        env["IMUDATA_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "imudata.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_readable(root: Path, dataset: str) -> int | None:
    """What a reader sees is whole: no card at all, or a card whose every shard exists with its recorded
    size and sha256, and whose rows all load. Returns the rows read (None without a card)."""
    card_path = root / dataset / "dataset.json"
    if not card_path.exists():
        return None
    card = read_card(card_path)
    for sh in card.shards:
        p = root / dataset / sh["path"]
        assert p.is_file(), f"dataset.json lists {sh['path']}, which is missing"
        assert p.stat().st_size == sh["bytes"] and sha256(p) == sh["sha256"], f"{sh['path']} is not the listed file"
    rows = imudata.open(dataset, root).scan().collect().height
    assert rows == sum(sh["rows"] for sh in card.shards if sh["stream"] == card.streams[0].name)
    return rows


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder`` (relative, sorted); [] when it does not exist."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def cli_in_process(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    """Run ``imudata ARGS`` through the console entry point in this process: (exit code, stderr)."""
    from imudata.cli import main

    monkeypatch.delenv("IMUDATA_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["imudata", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err
