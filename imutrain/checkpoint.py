"""Checkpoints: weights in safetensors, training state (optimizer, scheduler, sampler, RNG, memory
bank) in a torch file, both written into a temporary folder that is renamed into place, and a
``latest`` pointer replaced atomically. A crash mid-write never leaves a half checkpoint behind.

Layout of a stage folder::

    checkpoints/step_000200/{model.safetensors, state.pt, meta.json}
    checkpoints/latest            (text: the name of the newest complete checkpoint)
    model.safetensors             (final weights, weights only: what evaluation and inference load)
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN/inf loss or gradient; nothing was written for that step."""


def clean_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip DDP (``module.``) and torch.compile (``_orig_mod.``) prefixes; contiguous CPU tensors."""
    out = {}
    for k, v in sd.items():
        k = k.replace("module.", "").replace("_orig_mod.", "")
        out[k] = v.detach().to("cpu").contiguous().clone()
    return out


def assert_finite(sd: dict[str, torch.Tensor]) -> None:
    bad = [k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise NonFiniteLoss(f"refusing to write a checkpoint with non-finite weights: {bad[:5]}")


def save_weights(path: Path, sd: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    sd = clean_state_dict(sd)
    assert_finite(sd)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    save_file(sd, str(tmp), metadata=metadata or {})
    os.replace(tmp, path)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def rng_state() -> dict[str, Any]:
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict[str, Any]) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def save(folder: Path, step: int, model_sd: dict[str, torch.Tensor], state: dict[str, Any], meta: dict[str, Any],
         keep: int = 2) -> Path:
    """Write ``folder/checkpoints/step_NNNNNN`` atomically and point ``latest`` at it."""
    ck = Path(folder) / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:06d}"
    final = ck / name
    tmp = ck / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_weights(tmp / "model.safetensors", model_sd)
    torch.save(state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({"step": step, **meta}, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    ptr = ck / ".latest.tmp"
    ptr.write_text(name)
    os.replace(ptr, ck / "latest")
    done = sorted(p for p in ck.glob("step_*") if p.is_dir())
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest(folder: Path) -> Path | None:
    ptr = Path(folder) / "checkpoints" / "latest"
    if not ptr.exists():
        return None
    p = ptr.parent / ptr.read_text().strip()
    return p if (p / "model.safetensors").exists() and (p / "state.pt").exists() else None


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    path = Path(path)
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    return load_weights(path / "model.safetensors"), state, json.loads((path / "meta.json").read_text())
