"""The LLM-backbone family (seed 002): IMU windows through a convolutional patch projection into a
frozen pretrained language model adapted with LoRA, pooled, and classified by a linear head.

One labelled stage, ``finetune`` (``imutrain train MANIFEST --recipe llm-lora-tiny``): cross-entropy
over the run's label list on the manifest's training subjects; validation macro-F1 on its
validation subjects every ``align.val_every`` steps (the stage reads the ``align`` section for
steps and optimiser). Only the projection, the LoRA adapters and the head train. Evaluation
(``imutrain eval RUN --manifest M``) scores the head's predictions on each dataset's test subjects
(``evaluate_run``); ``embed_windows`` gives the pooled features for probes. The recipe's ``llm.init``
chooses the controls: ``random`` (the same config with seeded random weights, the same LoRA) and
``none`` (the backbone removed: projection -> pool -> head).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import Family, Objective, StageContext
from .model import LLMClassifier, build, trainable_counts


class LLMStep(nn.Module):
    """Forward of one step: class logits of the batch -> cross-entropy (unlabelled windows ignored)."""

    def __init__(self, model: LLMClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, b) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(b.patches, b.stats, b.patch_mask, b.channel_mask)
        return F.cross_entropy(logits.float(), b.label, ignore_index=-1), logits


@torch.no_grad()
def predict_scores(model: LLMClassifier, index, sources: Sequence, recipe, device: torch.device,
                   features: bool = False) -> np.ndarray:
    """(N, classes) logits (or (N, D) pooled features) of every window of ``index``, in index order."""
    from ...data import Collator, WindowStream, make_loader
    from ...run import autocast

    model.eval()
    col = Collator("eval", recipe.model.patch_len, recipe.model.max_patches, None)
    stream = WindowStream(index, sources, col, mode="eval", batch_size=recipe.eval.batch_size,
                          cache_mb=recipe.data.cache_mb)
    dim = model.head.in_features if features else model.head.out_features
    out = np.zeros((len(index), dim), np.float32)
    for batch in make_loader(stream, 0):
        b = batch.to(device)
        with autocast(device):
            f = model.features(b.patches, b.stats, b.patch_mask, b.channel_mask)
            z = f if features else model.head(f)
        out[b.window.cpu().numpy()] = z.float().cpu().numpy()
    return out


class LLMObjective(Objective):
    def __init__(self, ctx: StageContext, model: LLMClassifier) -> None:
        self.ctx, self.model = ctx, model
        if not ctx.labels:
            raise ValueError(f"{ctx.stage}: the manifest's training subjects have no labelled windows")
        model.set_num_classes(len(ctx.labels))
        self.module = LLMStep(model)
        counts = trainable_counts(model)
        ctx.info["llm_parameters"] = counts
        ctx.info["llm_backbone"] = {"backbone": ctx.recipe.llm.backbone, "init": ctx.recipe.llm.init,
                                    "layers": ctx.recipe.llm.layers}
        ctx.log(f"[{ctx.stage}] llm {ctx.recipe.llm.backbone} ({ctx.recipe.llm.init}, layers "
                f"{ctx.recipe.llm.layers or 'all'}): {counts['trainable']:,} trainable parameters (projection "
                f"{counts['projection']:,}, LoRA {counts['lora']:,}, head {counts['head']:,}), {counts['frozen']:,} frozen")

    def collator(self):
        from ...data import Collator

        r = self.ctx.recipe
        return Collator("eval", r.model.patch_len, r.model.max_patches, None)

    def stream_kwargs(self) -> dict[str, Any]:
        return {"label_keys": self.ctx.keys}

    def forward(self, ddp, b, step, gen):
        loss, logits = ddp(b)
        ok = b.label >= 0
        acc = float((logits.argmax(1)[ok] == b.label[ok]).float().mean()) if ok.any() else float("nan")
        return loss, {"train_acc": acc}

    def validate(self) -> dict[str, float]:
        """Accuracy and macro-F1 of the head on the validation subjects' labelled windows."""
        from ...metrics import accuracy, macro_f1
        from ...run import label_keys

        c = self.ctx
        if c.val_idx is None or not len(c.val_idx):
            return {}
        keys = label_keys(c.val_idx, c.sources, c.labels)
        idx, keys = c.val_idx.subset(keys >= 0), keys[keys >= 0]
        if not len(idx):
            return {}
        was = self.model.training
        try:
            pred = predict_scores(self.model, idx, c.sources, c.recipe, c.device).argmax(1)
        finally:
            self.model.train(was)
        return {"acc": accuracy(keys, pred), "f1": macro_f1(keys, pred)}


class LLMFamily(Family):
    name = "llm"
    stages = ("finetune",)
    labelled_stages = ("finetune",)
    supports_finetune = False

    def build(self, recipe) -> nn.Module:
        return build(recipe.llm, recipe.model.patch_len, None)

    def objective(self, ctx: StageContext, model: nn.Module) -> Objective:
        return LLMObjective(ctx, model)

    def load_weights(self, model: nn.Module, path: Path) -> None:
        from ...checkpoint import load_weights

        sd = load_weights(path)
        if "head.weight" not in sd:
            raise ValueError(f"{path}: no head.weight; not weights of an llm-family run")
        model.set_num_classes(int(sd["head.weight"].shape[0]))
        model.load_state_dict(sd)

    def embed_windows(self, model, index, sources: Sequence, tables, recipe, device, run_dir=None) -> np.ndarray:
        z = predict_scores(model, index, sources, recipe, device, features=True)
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)

    def embed_texts(self, model, tenc, texts: Sequence[str], device, ensemble: bool, run_dir=None) -> np.ndarray:
        raise NotImplementedError("the llm family has no text tower: it classifies with its head (imutrain eval "
                                  "uses evaluate_run)")

    def evaluate_run(self, model: LLMClassifier, recipe, run_dir: Path, manifest_path, *, root=None,
                     device: torch.device, out: Path | None, log: Callable[[str], None] = print) -> dict[str, Any]:
        """Head predictions on every dataset of the manifest (a pretrain entry's test subjects, a
        heldout entry's every subject), over the run's labels that the dataset has; accuracy,
        macro-F1 and chance per dataset. Writes ``out/results.json`` and ``out/results.md``."""
        from imudata import vocabulary

        from ...data import build_index, resolve_sources
        from ...metrics import accuracy, chance, macro_f1
        from ...run import label_keys, load_manifest, read_run_info

        info = read_run_info(run_dir)
        if not info.get("labels"):
            raise FileNotFoundError(f"{run_dir}/run.json: no training label list; was this run trained?")
        labels = [vocabulary.get(n) for n in info["labels"]]
        man = load_manifest(manifest_path, root)
        res: dict[str, Any] = {"run": str(run_dir), "manifest": str(manifest_path), "recipe": recipe.name,
                               "family": self.name, "train_labels": info["labels"],
                               "parameters": trainable_counts(model), "datasets": {}}
        for e in man.datasets:
            (src,) = resolve_sources([e], root)
            role = getattr(e, "role", "pretrain")
            subjects = (sorted({s for v in src.splits.values() for s in v}) if role == "heldout"
                        else src.splits.get("test", []))
            idx = build_index([src], "eval", subjects={src.id: subjects}, stride_frac=recipe.data.eval_stride_frac,
                              min_window_frac=recipe.data.min_window_frac, min_label_frac=recipe.data.min_label_frac,
                              window_s=recipe.data.window_s, labelled_only=True)
            keys = label_keys(idx, [src], labels)
            idx, keys = idx.subset(keys >= 0), keys[keys >= 0]
            row: dict[str, Any] = {"role": role, "subjects": subjects, "windows": int(len(idx))}
            if len(idx):
                allowed = sorted({k for k, c in enumerate(labels)
                                  if c.name in {x.name for x in src.canonical.values()}})
                s = predict_scores(model, idx, [src], recipe, device)
                pred = np.array(allowed)[s[:, allowed].argmax(1)]
                row.update(acc=accuracy(keys, pred), f1=macro_f1(keys, pred), classes=len(allowed),
                           chance=chance(keys, len(allowed)))
                log(f"[eval] {src.id}: {len(idx)} test windows, acc {row['acc']:.3f}, macro-F1 {row['f1']:.3f} "
                    f"(chance {row['chance']['uniform']:.3f})")
            res["datasets"][src.id] = row
        if out is not None:
            _write(res, Path(out))
        return res


def _write(res: dict[str, Any], out: Path) -> None:
    """results.json and results.md, each through a temporary name."""
    import os

    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {res['recipe']} ({res['family']}): {res['run']}", "",
             f"Trainable parameters: {res['parameters']['trainable']:,} (frozen {res['parameters']['frozen']:,})", "",
             "| dataset | role | windows | classes | acc | macro-F1 | chance (uniform / majority) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in res["datasets"].items():
        if "acc" in r:
            lines.append(f"| {name} | {r['role']} | {r['windows']} | {r['classes']} | {r['acc']:.3f} | {r['f1']:.3f} | "
                         f"{r['chance']['uniform']:.3f} / {r['chance']['majority']:.3f} |")
        else:
            lines.append(f"| {name} | {r['role']} | 0 | - | - | - | - |")
    for fname, text in (("results.json", json.dumps(res, indent=2, default=str)), ("results.md", "\n".join(lines) + "\n")):
        tmp = out / f".{fname}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / fname)


FAMILY = LLMFamily()
