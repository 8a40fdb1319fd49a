"""What a result depends on, recorded beside it: code version, data bytes, numeric environment.

``collect`` returns the git commit (and whether the working tree had uncommitted changes), the
sha256 of every shard file read, torch version, ``torch.get_num_threads()``, the BLAS torch was
built with, the device, Python and platform. It never fails a run: a field it cannot determine is
``None`` with the reason.
"""
from __future__ import annotations

import hashlib
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import torch

REPO = Path(__file__).resolve().parent.parent


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def git_state(repo: Path = REPO) -> dict[str, Any]:
    """Commit id and dirty flag of the repository holding this package (None when not a git checkout)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                timeout=20, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, timeout=20, check=True).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "git_error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}


def blas() -> str | None:
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return m.group(1) if m else None


def collect(shards: Iterable[str | Path] = (), device: str | torch.device | None = None) -> dict[str, Any]:
    """Provenance record (JSON-serialisable) for a run that reads ``shards`` on ``device``."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    rec: dict[str, Any] = dict(git_state())
    rec["shards"] = {str(Path(p)): sha256_file(p) for p in sorted({str(Path(s)) for s in shards})}
    rec.update(torch=torch.__version__, threads=torch.get_num_threads(), blas=blas(), device=str(dev),
               python=sys.version.split()[0], platform=platform.platform(), machine=platform.machine())
    if dev.type == "cuda" and torch.cuda.is_available():
        rec["gpu"] = torch.cuda.get_device_name(dev)
    return rec


def set_threads(n: int | None) -> int:
    """Set torch's intra-op thread count (``None`` or 0 leaves it) and return the count in effect."""
    if n:
        torch.set_num_threads(int(n))
    return torch.get_num_threads()
