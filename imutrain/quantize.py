"""INT8 weight-only post-training quantisation (SensorLM's ``quantize`` command).

Every floating tensor with two or more dimensions (linear, attention and embedding weights) is
stored as int8 with one float32 scale per output row (symmetric, ``scale = max|w_row| / 127``,
``q = round(w / scale)``); vectors and scalars (biases, norms, temperature, bias) stay float32.
Dequantisation ``w ~ q * scale`` has error at most ``scale / 2`` per element. The file is one
safetensors file (no code runs on load) with metadata ``format: imutrain-int8/1``; evaluation
loads it with :func:`load_any`, which dequantises to a float state dict.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import CheckpointError, clean_state_dict

FORMAT = "imutrain-int8/1"
Q, S = ".__int8", ".__scale"


def quantize_tensor(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 tensor of ``w``'s shape, float32 scale per row)."""
    rows = w.detach().float().reshape(w.shape[0], -1)
    scale = rows.abs().amax(1).clamp_min(1e-12) / 127.0
    q = torch.round(rows / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.reshape(w.shape), scale


def dequantize_tensor(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (q.float().reshape(q.shape[0], -1) * scale[:, None]).reshape(q.shape)


def quantize_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for k, v in clean_state_dict(sd).items():
        if v.is_floating_point() and v.ndim >= 2:
            out[k + Q], out[k + S] = quantize_tensor(v)
        else:
            out[k] = v.detach().float().contiguous() if v.is_floating_point() else v.contiguous()
    return out


def dequantize_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k.endswith(Q):
            base = k[: -len(Q)]
            if base + S not in sd:
                raise CheckpointError(f"int8 weights: {base} has no scale tensor")
            out[base] = dequantize_tensor(v, sd[base + S])
        elif not k.endswith(S):
            out[k] = v
    return out


def save_int8(path: Path, sd: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write the INT8 file through a temporary name."""
    import os

    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(quantize_state_dict(sd), str(tmp), metadata={"format": FORMAT, **(metadata or {})})
    os.replace(tmp, path)


def load_any(path: Path) -> dict[str, torch.Tensor]:
    """A float state dict from a float or an INT8 weights file (CheckpointError naming the file)."""
    from safetensors import safe_open

    from .checkpoint import load_weights

    try:
        with safe_open(str(path), "pt") as f:
            fmt = (f.metadata() or {}).get("format")
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path}: unreadable ({type(exc).__name__}: {str(exc)[:200]})") from None
    sd = load_weights(path)
    return dequantize_state_dict(sd) if fmt == FORMAT else sd


def size_bytes(path: Path) -> int:
    return Path(path).stat().st_size


def quantize_run(run_dir: Path, calibration: Path, *, root: Path | None = None, device: str | None = None,
                 stage: str | None = None, log=print) -> dict:
    """Write ``RUN/int8/model.safetensors`` from the run's float weights and report, on the
    calibration manifest's scored windows, the size and the change of every metric ``eval``
    reports (zero-shot accuracy, Recall@k) between the float and the INT8 model."""
    import json
    import os

    from .evaluate import evaluate
    from .run import load_model

    run_dir = Path(run_dir)
    model, recipe, used = load_model(run_dir, stage, "cpu")
    src = run_dir / used / "model.safetensors"
    out_dir = run_dir / "int8"
    out_dir.mkdir(exist_ok=True)
    save_int8(out_dir / "model.safetensors", model.state_dict(), {"from": f"{used}/model.safetensors",
                                                                  "recipe": recipe.name})
    deq = load_any(out_dir / "model.safetensors")
    err = {k: float((v - deq[k]).abs().max()) for k, v in clean_state_dict(model.state_dict()).items()
           if v.is_floating_point()}
    kw = dict(root=root, device=device, finetune=False, probe=False, log=log)
    fl = evaluate(run_dir, calibration, stage=used, **kw)
    q8 = evaluate(run_dir, calibration, stage="int8", **kw)
    report = {"float_weights": str(src), "float_bytes": size_bytes(src),
              "int8_bytes": size_bytes(out_dir / "model.safetensors"), "max_abs_weight_error": max(err.values()),
              "calibration": str(calibration), "datasets": {}}
    for ds, r in fl["datasets"].items():
        r8 = q8["datasets"][ds]
        row = {}
        for key in ("zero_shot_closed", "zero_shot_closed_plain", "zero_shot_closed_caption"):
            if key in r:
                row[key] = {"float": r[key]["acc"], "int8": r8[key]["acc"], "change": r8[key]["acc"] - r[key]["acc"]}
        if r.get("retrieval", {}).get("n"):
            for d in ("s2t", "t2s"):
                a, b = r["retrieval"][d][1], r8["retrieval"][d][1]
                row[f"recall1_{d}"] = {"float": a, "int8": b, "change": b - a}
        report["datasets"][ds] = row
    tmp = out_dir / ".report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out_dir / "report.json")
    return report
