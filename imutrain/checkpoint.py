"""Checkpoints: weights in safetensors, training state (optimizer, scheduler, sampler, RNG, memory
bank) in a torch file, both written into a temporary folder that is renamed into place, and a
``latest`` pointer replaced atomically. A crash mid-write never leaves a half checkpoint behind.

Layout of a stage folder::

    checkpoints/step_000200/{model.safetensors, state.pt, meta.json}
    checkpoints/latest            (text: the name of the newest complete checkpoint)
    model.safetensors             (final weights, weights only: what evaluation and inference load)

Nothing read back executes code: ``state.pt`` holds only tensors, numbers, strings, lists and dicts
and is read with ``torch.load(weights_only=True)``; ``meta.json`` records the SHA-256 of the two
other files, so a damaged checkpoint is detected before any of it is used (:func:`load` raises
:class:`CheckpointError` naming the file) and resume can fall back to an older one (:func:`newest_valid`).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN/inf loss or gradient; nothing was written for that step."""


class CheckpointError(RuntimeError):
    """A checkpoint on disk is missing a file, damaged, or holds something other than plain data."""


STEP_NAME = re.compile(r"step_(\d{6,})")
FILES = ("model.safetensors", "state.pt", "meta.json")


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
    """Tensors of a safetensors file (no code runs); CheckpointError naming the file when unreadable."""
    try:
        return load_file(str(path))
    except Exception as exc:  # header too short or not JSON, data cut off, not a file ...
        raise CheckpointError(f"{path}: unreadable ({type(exc).__name__}: {str(exc).strip()[:200]})") from None


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) generator states as tensors and plain numbers only, so that
    ``state.pt`` stays loadable with ``weights_only=True``."""
    version, mt, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    st: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64), "gauss_next": gauss_next},
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict[str, Any]) -> None:
    """Restore :func:`rng_state` (also the tuple form older checkpoints stored)."""
    py = st["python"]
    if isinstance(py, dict):
        random.setstate((int(py["version"]), tuple(int(x) for x in py["state"].tolist()), py["gauss_next"]))
    else:
        random.setstate((py[0], tuple(py[1]), py[2]))
    npst = st["numpy"]
    if isinstance(npst, dict):
        np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), int(npst["pos"]),
                             int(npst["has_gauss"]), float(npst["cached_gaussian"])))
    else:
        np.random.set_state(tuple(npst))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def step_of(path: Path) -> int | None:
    """The step in a ``step_NNNNNN`` folder name (None for anything else)."""
    m = STEP_NAME.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def save(folder: Path, step: int, model_sd: dict[str, torch.Tensor], state: dict[str, Any], meta: dict[str, Any],
         keep: int = 2) -> Path:
    """Write ``folder/checkpoints/step_NNNNNN`` atomically and point ``latest`` at it.

    ``state`` must hold only tensors, numbers, strings, lists and dicts (it is read back with
    ``weights_only=True``); ``meta.json`` gets the SHA-256 of the two other files.
    """
    ck = Path(folder) / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:06d}"
    final = ck / name
    tmp = ck / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_weights(tmp / "model.safetensors", model_sd)
    torch.save(state, tmp / "state.pt")
    digests = {f: sha256(tmp / f) for f in FILES[:2]}
    (tmp / "meta.json").write_text(json.dumps({"step": step, **meta, "sha256": digests}, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    ptr = ck / ".latest.tmp"
    ptr.write_text(name)
    os.replace(ptr, ck / "latest")
    done = sorted((p for p in ck.glob("step_*") if p.is_dir() and step_of(p) is not None),
                  key=lambda p: step_of(p) or 0)
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _complete(p: Path) -> bool:
    return all((p / f).is_file() for f in FILES[:2])


def latest(folder: Path) -> Path | None:
    """The checkpoint ``latest`` names, or else the highest-numbered complete one (no verification)."""
    ck = Path(folder) / "checkpoints"
    ptr = ck / "latest"
    if ptr.is_file():
        name = ptr.read_text(errors="replace").strip()
        if STEP_NAME.fullmatch(name) and _complete(ck / name):
            return ck / name
    found = [p for p in candidates(folder)[0] if _complete(p)]
    return found[0] if found else None


def candidates(folder: Path) -> tuple[list[Path], list[str]]:
    """Checkpoint folders newest (highest step) first, and notes on a ``latest`` pointer that names
    no existing checkpoint. Leftover ``.step_N.tmp`` folders of an interrupted write are not candidates."""
    ck = Path(folder) / "checkpoints"
    found = sorted((p for p in ck.glob("step_*") if p.is_dir() and step_of(p) is not None),
                   key=lambda p: step_of(p), reverse=True)  # type: ignore[arg-type, return-value]
    notes = []
    ptr = ck / "latest"
    if ptr.is_file():
        name = ptr.read_text(errors="replace").strip()
        if not STEP_NAME.fullmatch(name):
            notes.append(f"{ptr}: holds {name[:80]!r}, not a checkpoint name; ignored")
        elif not (ck / name).is_dir():
            notes.append(f"{ptr}: names {name}, which does not exist; ignored")
    return found, notes


# numpy array reconstruction only: the numpy RNG state of checkpoints written before RNG states were
# stored as tensors is a uint32 array; these globals rebuild such an array and nothing else
_MULTIARRAY = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
_NUMPY_ARRAYS = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), _MULTIARRAY._reconstruct]


def _read_state(path: Path) -> dict[str, Any]:
    import pickle

    try:
        with torch.serialization.safe_globals(_NUMPY_ARRAYS):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        m = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"it names the Python object {m.group(1)}" if m else "it holds objects other than tensors and plain data"
        raise CheckpointError(f"{path}: refused, not plain training state ({what}); nothing in it was run") from None
    except Exception as exc:  # truncated zip, bad magic number, EOF ...
        raise CheckpointError(f"{path}: unreadable ({type(exc).__name__}: {str(exc).strip()[:200]})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, expected a dict of training state")
    for key in ("optimizer", "scheduler", "sampler", "rng"):
        if key not in state:
            raise CheckpointError(f"{path}: no {key!r} entry (has {sorted(map(str, state))})")
    for key in ("optimizer", "scheduler", "sampler"):
        if not isinstance(state[key], dict):
            raise CheckpointError(f"{path}: {key!r} is a {type(state[key]).__name__}, expected a dict")
    if not isinstance(state["sampler"].get("step"), int):
        raise CheckpointError(f"{path}: sampler has no integer 'step'")
    rngs = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
    if not rngs or not all(isinstance(r, dict) and {"python", "numpy", "torch"} <= set(r) for r in rngs):
        raise CheckpointError(f"{path}: 'rng' is not the python/numpy/torch generator states of each rank")
    if state.get("bank") is not None and not isinstance(state["bank"], dict):
        raise CheckpointError(f"{path}: 'bank' is a {type(state['bank']).__name__}, expected a dict")
    return state


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int) or isinstance(meta.get("step"), bool):
        raise CheckpointError(f"{path}: expected an object with an integer 'step'")
    return meta


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Weights, training state and metadata of one checkpoint, verified before anything is returned:
    every file present, ``meta.json`` valid with the folder's step, each file's SHA-256 as recorded
    (checkpoints older than the digests are checked by parsing alone), weights finite, ``state.pt``
    plain data. Raises :class:`CheckpointError` naming the offending file."""
    path = Path(path)
    for f in FILES:
        if not (path / f).is_file():
            raise CheckpointError(f"{path / f}: missing")
    meta = _read_meta(path / "meta.json")
    if step_of(path) is not None and meta["step"] != step_of(path):
        raise CheckpointError(f"{path / 'meta.json'}: step {meta['step']} does not match the folder name {path.name}")
    digests = meta.get("sha256") or {}
    for f in FILES[:2]:
        want = digests.get(f) if isinstance(digests, dict) else None
        if want is not None and sha256(path / f) != want:
            raise CheckpointError(f"{path / f}: SHA-256 differs from the one in meta.json (the file is damaged)")
    sd = load_weights(path / "model.safetensors")
    bad = [k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path / 'model.safetensors'}: non-finite weights in {bad[:3]}")
    state = _read_state(path / "state.pt")
    if state["sampler"]["step"] != meta["step"]:
        raise CheckpointError(f"{path / 'state.pt'}: sampler step {state['sampler']['step']} differs from "
                              f"meta.json's step {meta['step']}")
    return sd, state, meta


def newest_valid(folder: Path, check: Callable[[Path, dict, dict, dict], None] | None = None,
                 say: Callable[[str], None] = print):
    """The newest checkpoint of ``folder`` that verifies (:func:`load`, then ``check``, which raises
    :class:`CheckpointError` when a checkpoint does not fit the run) as ``(path, weights, state, meta)``.

    Each rejected checkpoint is reported through ``say``. None when there is no checkpoint at all;
    :class:`CheckpointError` when there are some and none verifies (resuming from step 0 would throw
    them away)."""
    paths, notes = candidates(folder)
    for note in notes:
        say(note)
    rejected: list[str] = []
    for p in paths:
        try:
            sd, state, meta = load(p)
            if check is not None:
                check(p, sd, state, meta)
        except CheckpointError as exc:
            say(f"skipping checkpoint {p.name}: {exc}")
            rejected.append(str(exc))
            continue
        if rejected:
            say(f"falling back to {p.name}, the newest checkpoint that verifies")
        return p, sd, state, meta
    if rejected:
        raise CheckpointError(f"{Path(folder) / 'checkpoints'}: no checkpoint verifies ({'; '.join(rejected)}); "
                              f"move that folder aside to start the stage over, or use another --out folder")
    return None
