"""Baseline 2 of docs/benchmark.md: the TSFM encoder + head trained with plain cross-entropy.

Everything equals stage 2 of ``imutrain.train`` (stage-1 weights, data plan, augmentation,
channel dropout, optimizer, schedule, steps, logit scale) except the text side: the label
embeddings are free parameters (one learned vector per training label) instead of the pooled
text features, and the loss is cross-entropy over the training labels instead of the CLIP loss.
Writes ``OUT/model.safetensors`` (TSFM weights + ``ce_classifier.weight``) and ``OUT/labels.json``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import checkpoint, provenance
from .. import config as cfgmod
from ..data import Collator, WindowStream, build_index, make_loader, resolve_sources
from ..model import TSFM
from ..run import autocast, build_text, entries, label_keys, load_manifest, text_encoder, window_loader_kwargs
from ..scheduler import warmup_cosine
from ..train import _patch_scales, channel_dropout, param_groups
from .data import training_labels


def train_ce(manifest_path: str | Path, recipe: cfgmod.Recipe, init_dir: Path, out: Path, *, root=None,
             device: str = "cpu", log: Callable[[str], None] = print) -> Path:
    dev = torch.device(device)
    torch.manual_seed(recipe.seed)
    np.random.seed(recipe.seed)
    man = load_manifest(manifest_path, root)
    sources = resolve_sources(entries(man, "pretrain"), root)
    dkw = dict(min_window_frac=recipe.data.min_window_frac, min_label_frac=recipe.data.min_label_frac,
               window_s=recipe.data.window_s, labelled_only=True)
    train_idx = build_index(sources, "train", stride_frac=recipe.data.stride_frac, **dkw)
    labels = training_labels(sources, train_idx)
    keys = label_keys(train_idx, sources, labels)
    tenc = text_encoder(recipe, init_dir)
    tables = build_text(tenc, sources, labels)
    model = TSFM(recipe.model)
    w = Path(init_dir) / "pretrain" / "model.safetensors"
    model.load_state_dict(checkpoint.load_weights(w))
    log(f"[sup-ce] from {w}; {len(train_idx)} windows, {len(labels)} labels")
    clf = torch.nn.Parameter(torch.randn(len(labels), recipe.model.embed_dim, generator=torch.Generator().manual_seed(recipe.seed)) * 0.02)
    model.to(dev)
    clf.data = clf.data.to(dev)
    mods = torch.nn.ModuleDict({"encoder": model.encoder, "head": model.head, "logit_scale": model.logit_scale})
    groups = param_groups(mods, recipe.align.optim.weight_decay) + [{"params": [clf], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=recipe.align.optim.lr, betas=tuple(recipe.align.optim.betas))
    steps = recipe.align.steps
    sched = warmup_cosine(opt, recipe.align.optim.warmup_steps, steps, recipe.align.optim.min_lr_frac)
    col = Collator("align", recipe.model.patch_len, recipe.model.max_patches, recipe.augment, _patch_scales(recipe),
                   tables.label_variants, tables.label_plain, recipe.augment.text_p)
    stream = WindowStream(train_idx, sources, col, mode="align", batch_size=recipe.data.batch_size,
                          seed=recipe.seed + recipe.data.seed, steps=steps, channel_ids=tables.channel_ids,
                          label_keys=keys, **window_loader_kwargs(recipe))
    chan = tables.channel.to(dev)
    params = [p for g in groups for p in g["params"]]
    t0, loss_v = time.time(), float("nan")
    for batch in make_loader(stream, recipe.data.num_workers):
        if batch.step >= steps:
            break
        model.train()
        b = batch.to(dev)
        gen = torch.Generator().manual_seed(recipe.seed * 1_000_003 + batch.step * 7919)
        tm = channel_dropout(b, recipe.align.channel_drop, gen)
        with autocast(dev):
            tok = model.encoder(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan, tm)
            emb = model.head(tok, b.patch_mask, b.channel_mask)
        logits = model.logit_scale() * emb.float() @ F.normalize(clf, dim=-1).t()
        loss = F.cross_entropy(logits, b.label)
        if not torch.isfinite(loss):
            raise checkpoint.NonFiniteLoss(f"[sup-ce] loss {float(loss)} at step {batch.step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, recipe.align.optim.grad_clip)
        opt.step()
        sched.step()
        loss_v = float(loss.detach())
        if (batch.step + 1) % recipe.align.log_every == 0:
            log(f"[sup-ce] step {batch.step + 1}/{steps} loss {loss_v:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    sd = dict(model.state_dict())
    sd["ce_classifier.weight"] = clf.detach()
    checkpoint.save_weights(out / "model.safetensors", sd, {"stage": "sup-ce", "steps": str(steps)})
    info = {"labels": [c.name for c in labels], "init": str(w), "steps": steps, "final_loss": loss_v,
            "wall_s": round(time.time() - t0, 1),
            "provenance": provenance.collect([sh.path for sh in train_idx.shards], dev)}
    tmp = out / "labels.json.tmp"
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(out / "labels.json")
    return out / "model.safetensors"


def load_ce(out: Path, recipe: cfgmod.Recipe, device: str = "cpu") -> tuple[TSFM, np.ndarray, list[str]]:
    sd = checkpoint.load_weights(out / "model.safetensors")
    w = sd.pop("ce_classifier.weight")
    model = TSFM(recipe.model)
    model.load_state_dict(sd)
    info = json.loads((out / "labels.json").read_text())
    return model.to(device).eval(), F.normalize(w, dim=-1).numpy(), info["labels"]
