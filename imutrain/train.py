"""The training loop shared by both stages (one code path for one process and torchrun DDP).

Stage ``pretrain``: masked patch reconstruction + patch-level InfoNCE between the (masked)
original view and an augmented view. Stage ``align``: CLIP-style alignment of window embeddings
with label-text embeddings, soft targets from text-text similarity and a memory bank.

Per step: bf16 autocast on GPU, loss checked for NaN/inf on every rank (the run stops with a
message and writes nothing for that step), backward, gradient clipping, AdamW, warm-up + cosine
schedule. Rank 0 logs JSON lines, shows a progress bar, validates, and writes atomic checkpoints
holding weights, optimizer, scheduler, sampler position, RNG state and memory bank, so
``--resume`` continues exactly where the run stopped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from . import checkpoint, distributed, families, provenance
from . import config as cfgmod
from .checkpoint import NonFiniteLoss
from .data import Batch, Collator, WindowStream, build_index, make_loader, resolve_sources
from .families import StageContext
from .losses import info_nce, masked_reconstruction
from .metrics import JsonlLogger, accuracy, macro_f1
from .model import TSFM
from .model.tsfm import ChannelText
from .plotting import plot_curves
from .run import (TextTables, autocast, build_text, encode_windows, entries, label_keys, load_manifest,
                  run_labels, save_run_info, text_encoder, window_loader_kwargs)
from .scheduler import warmup_cosine

STAGES = ("pretrain", "align")


class RunFolderError(RuntimeError):
    """The run folder already holds a finished or started stage and --resume was not given."""


# ------------------------------------------------------------------------------------ stage modules
class PretrainStep(nn.Module):
    """Stage-1 forward: returns (loss, recon, contrast) for a batch with two views."""

    def __init__(self, tsfm: TSFM, cfg: cfgmod.PretrainConfig) -> None:
        super().__init__()
        self.encoder, self.recon, self.proj = tsfm.encoder, tsfm.recon, tsfm.proj
        self.cfg = cfg

    def forward(self, b: Batch, chan: ChannelText, token_mask: torch.Tensor):
        valid = b.patch_mask[:, :, None] & b.channel_mask[:, None, :]
        t1 = self.encoder(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan, token_mask)
        t2 = self.encoder(b.patches2, b.stats2, b.patch_mask, b.channel_mask, b.channel_ids2, chan)
        recon = masked_reconstruction(self.recon(t1), b.patches, token_mask, valid)
        # patches that kept some real token in view 1 are contrastive samples (fully masked ones hold no data)
        keep = b.patch_mask & (valid & ~token_mask).any(-1)
        z1 = self.proj(t1, b.channel_mask)[keep]
        z2 = self.proj(t2, b.channel_mask)[keep]
        contrast = info_nce(z1, z2, self.cfg.temperature) if z1.shape[0] > 1 else recon * 0
        loss = self.cfg.recon_weight * recon + self.cfg.contrast_weight * contrast
        return loss, recon.detach(), contrast.detach()


class AlignStep(nn.Module):
    """Stage-2 forward: window embeddings, embeddings of the batch's label texts, logit scale."""

    def __init__(self, tsfm: TSFM) -> None:
        super().__init__()
        self.encoder, self.head, self.label_pool, self.logit_scale = tsfm.encoder, tsfm.head, tsfm.label_pool, tsfm.logit_scale

    def forward(self, b: Batch, chan: ChannelText, token_mask: torch.Tensor | None, lab: ChannelText):
        tok = self.encoder(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan, token_mask)
        imu = self.head(tok, b.patch_mask, b.channel_mask)
        label = self.label_pool(lab.tokens, lab.token_mask, lab.sentence)
        return imu, label, self.logit_scale()


# ------------------------------------------------------------------------------------ masking
def pretrain_mask(b: Batch, cfg: cfgmod.PretrainConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, P, C) tokens to replace by the mask token: random patches, patch spans, or dropped channels.

    The strategy is drawn per batch; at least one real patch per sample is masked and one kept.
    """
    B, P = b.patch_mask.shape
    C = b.channel_mask.shape[1]
    pm = b.patch_mask.cpu()
    kind = int(torch.multinomial(torch.tensor(cfg.mask_strategy_p), 1, generator=gen))
    ratio = cfg.mask_ratio
    if kind == 1:  # spans of patches
        patch = torch.zeros(B, P, dtype=torch.bool)
        lo, hi = cfg.mask_span
        for i in range(B):
            n = int(pm[i].sum())
            target = max(1, int(round(ratio * n)))
            while int(patch[i, :n].sum()) < min(target, n - 1 if n > 1 else 1):
                span = int(torch.randint(lo, hi + 1, (1,), generator=gen))
                start = int(torch.randint(0, max(1, n - span + 1), (1,), generator=gen))
                patch[i, start:start + span] = True
        tok = patch[:, :, None].expand(B, P, C).clone()
    elif kind == 2:  # channel dropout plus a few random patches
        chan = torch.rand(B, C, generator=gen) < cfg.channel_drop
        patch = torch.rand(B, P, generator=gen) < ratio / 2
        tok = chan[:, None, :] | patch[:, :, None]
    else:
        patch = torch.rand(B, P, generator=gen) < ratio
        tok = patch[:, :, None].expand(B, P, C).clone()
    valid = pm[:, :, None] & b.channel_mask.cpu()[:, None, :]
    tok &= valid
    for i in range(B):  # at least one masked and one kept token per sample
        v = valid[i].nonzero()
        if len(v) == 0:
            continue
        if not tok[i].any():
            j = v[int(torch.randint(len(v), (1,), generator=gen))]
            tok[i, j[0], j[1]] = True
        if (tok[i] | ~valid[i]).all():
            j = v[int(torch.randint(len(v), (1,), generator=gen))]
            tok[i, j[0], j[1]] = False
    return tok.to(b.patches.device)


def channel_dropout(b: Batch, p: float, gen: torch.Generator) -> torch.Tensor | None:
    if p <= 0:
        return None
    B, P = b.patch_mask.shape
    cm = b.channel_mask.cpu()
    drop = (torch.rand(cm.shape, generator=gen) < p) & cm
    all_dropped = (drop | ~cm).all(1)
    drop[all_dropped] = False
    return drop[:, None, :].expand(B, P, -1).to(b.patches.device)


# ------------------------------------------------------------------------------------ optimizer
def param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only (not biases, norms, tokens, queries, scales)."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or any(k in name for k in ("token", "queries", "scale", "gamma", "norm")):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# ------------------------------------------------------------------------------------ the run
@dataclass
class TrainResult:
    stage: str
    run_dir: Path
    steps: int
    final_loss: float
    weights: Path
    metrics: Path
    val: dict[str, float]
    model: Any = None                 # the trained TSFM (in memory)
    windows: list = None              # window ids this rank consumed, per step (tests, audits)


def _stage_cfg(recipe: cfgmod.Recipe, stage: str) -> cfgmod.StageConfig:
    return recipe.pretrain if stage == "pretrain" else recipe.align


class MissingWeightsError(FileNotFoundError):
    """``align`` found no stage-1 weights to start from and ``--from-scratch`` was not given."""


def check_run_dir(run_dir: Path, stage: str, recipe: cfgmod.Recipe, resume: bool) -> None:
    """Refuse, before anything is loaded or written, a run folder that already holds this stage
    (without ``resume``) or whose ``config.yaml`` describes another model."""
    stage_dir = run_dir / stage
    started = (stage_dir / "checkpoints").exists() or (stage_dir / "model.safetensors").exists()
    if started and not resume:
        raise RunFolderError(f"{stage_dir} already holds a {stage} run; pass --resume to continue it, or choose "
                             f"another --out folder")
    cfg_path = run_dir / "config.yaml"
    if cfg_path.exists() and cfgmod.load(cfg_path).model != recipe.model:
        raise RunFolderError(f"{run_dir}: its config.yaml has a different model than this recipe; "
                             f"use another --out folder")


def prepare_run_dir(run_dir: Path, stage: str, recipe: cfgmod.Recipe, resume: bool, is_main: bool) -> None:
    """Create the stage folder and write ``config.yaml`` (rank 0), once training is about to start:
    a run that fails on its inputs leaves no folder behind."""
    check_run_dir(run_dir, stage, recipe, resume)
    if is_main:
        (run_dir / stage).mkdir(parents=True, exist_ok=True)
        cfg_path = run_dir / "config.yaml"
        if cfg_path.exists():
            old = cfgmod.load(cfg_path)
            if stage == "pretrain" and not resume or old.to_dict() != recipe.to_dict():
                cfgmod.dump(recipe, cfg_path)
        else:
            cfgmod.dump(recipe, cfg_path)


def stage1_weights(run_dir: Path, init: Path | None, from_scratch: bool) -> Path | None:
    """The weights ``align`` starts from: ``--init`` folder's, else the run folder's ``pretrain/``
    (or ``align/``) weights; None only with ``from_scratch``. MissingWeightsError otherwise, saying
    whether a stage-1 run exists there unfinished."""
    if from_scratch:
        if init is not None:
            raise MissingWeightsError("--from-scratch and --init contradict each other; give one")
        return None
    src = Path(init) if init is not None else run_dir
    for st in ("pretrain", "align"):
        w = src / st / "model.safetensors"
        if w.exists():
            return w
    if init is not None:
        raise MissingWeightsError(f"--init {init}: no pretrain/model.safetensors or align/model.safetensors there")
    why = (f"{src / 'pretrain'} holds an unfinished pretrain run (continue it with `imutrain pretrain --resume "
           f"--out {src}`)" if (src / "pretrain" / "checkpoints").exists()
           else f"{src / 'pretrain' / 'model.safetensors'} does not exist")
    raise MissingWeightsError(f"no stage-1 weights to align from: {why}; run `imutrain pretrain MANIFEST --out {src}` "
                              f"first, give --init RUN_DIR, or pass --from-scratch to align a randomly "
                              f"initialised model")


def init_from(model: TSFM, init_dir: Path, log: Callable[[str], None]) -> str:
    """Load the encoder (and any matching heads) from a run folder's stage-1 or stage-2 weights."""
    w = stage1_weights(Path(init_dir), Path(init_dir), False)
    assert w is not None
    sd = checkpoint.load_weights(w)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    log(f"initialised from {w} ({len(sd)} tensors; missing {len(missing)}, unexpected {len(unexpected)})")
    return str(w)


def train(stage: str, manifest_path: str | Path, recipe: cfgmod.Recipe, run_dir: str | Path, *,
          root: str | Path | None = None, resume: bool = False, init: str | Path | None = None,
          device: str | None = None, progress: bool = True, log: Callable[[str], None] = print,
          stop_after: int | None = None, from_scratch: bool = False) -> TrainResult:
    """Run one stage of the recipe's model family. TSFM's ``align`` starts from stage-1 weights (the
    run folder's, or ``init``'s) and refuses without them unless ``from_scratch``. The run folder is
    checked first and created only once data, text and model are ready. ``stop_after`` ends the loop
    early after that many steps (tests; the schedule and sampler still follow the full recipe, as an
    interrupted run would)."""
    fam = families.get(recipe.family)
    if stage not in fam.stages:
        raise cfgmod.ConfigError(f"family {fam.name} has no stage {stage!r} (its stages: {', '.join(fam.stages)})")
    run_dir = Path(run_dir)
    check_run_dir(run_dir, stage, recipe, resume)
    start_weights = stage1_weights(run_dir, Path(init) if init else None, from_scratch) \
        if stage == "align" and not resume else None
    di = distributed.init(device)
    st_cfg = _stage_cfg(recipe, stage)
    say = log if di.is_main else (lambda _m: None)
    stage_dir = run_dir / stage

    torch.manual_seed(recipe.seed)
    np.random.seed(recipe.seed)
    if di.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    # ---- data
    man = load_manifest(manifest_path, root)
    recipe, chosen = fam.from_manifest(recipe, man)
    train_entries = entries(man, "pretrain")
    if not train_entries:
        raise ValueError(f"{manifest_path}: no dataset with role 'pretrain'")
    sources = resolve_sources(train_entries, root)
    labelled = stage in fam.labelled_stages
    dkw = dict(min_window_frac=recipe.data.min_window_frac, min_label_frac=recipe.data.min_label_frac,
               window_s=recipe.data.window_s, labelled_only=labelled)
    train_idx = build_index(sources, "train", stride_frac=recipe.data.stride_frac, **dkw)
    val_idx = build_index(sources, "val", stride_frac=recipe.data.eval_stride_frac, **dkw)
    labels = run_labels(sources) if labelled else []
    if labelled:
        # only labels with training windows: a label the card maps but the converted subjects never
        # perform (a partial copy of a dataset) was never trained on, so it is no open-set candidate
        present = set(label_keys(train_idx, sources, labels).tolist())
        labels = [c for k, c in enumerate(labels) if k in present]
    tenc = text_encoder(recipe, run_dir)
    tables = build_text(tenc, sources, labels or None)
    keys = label_keys(train_idx, sources, labels) if labelled else None

    # ---- model
    model = fam.build(recipe)
    if not resume:
        if start_weights is not None:
            fam.init_stage(stage, model, start_weights.parent.parent, None, say)
        elif stage == "align":
            say("[align] --from-scratch: aligning a randomly initialised model (no stage-1 weights)")
        else:
            fam.init_stage(stage, model, run_dir, Path(init) if init else None, say)

    # ---- the run folder, now that every input loaded
    prepare_run_dir(run_dir, stage, recipe, resume, di.is_main)
    if di.is_main:
        tenc.save(run_dir / "text_cache.safetensors")
        save_run_info(run_dir, manifest=str(Path(man.path).resolve()), root=str(root) if root else None,
                      **({"labels": [c.name for c in labels]} if labelled else {}),
                      **{f"{stage}_datasets": [s.id for s in sources]}, **chosen)
        read = [sh.path for sh in train_idx.shards] + [sh.path for sh in val_idx.shards]
        save_run_info(run_dir, **{f"{stage}_provenance": provenance.collect(read, di.device)})
    distributed.barrier()
    say(f"[{stage}] {len(train_idx)} training windows from {', '.join(s.id for s in sources)}; "
        f"{len(val_idx)} validation windows; world size {di.world_size}; device {di.device}")

    # ---- the family's objective for this stage
    ctx = StageContext(stage, recipe, run_dir, sources, train_idx, val_idx, tables, labels, keys, tenc, di.device,
                       di.is_main, say)
    obj = fam.objective(ctx, model)
    step_mod = obj.module
    model.to(di.device)
    opt = torch.optim.AdamW(param_groups(step_mod, st_cfg.optim.weight_decay), lr=st_cfg.optim.lr,
                            betas=tuple(st_cfg.optim.betas))
    sched = warmup_cosine(opt, st_cfg.optim.warmup_steps, st_cfg.steps, st_cfg.optim.min_lr_frac)
    start = 0
    if resume:
        start = resume_from(stage_dir, stage, model, opt, sched, obj, di, say)
        if di.is_main:
            truncate_metrics(stage_dir / "metrics.jsonl", start, lambda m: say(f"[{stage}] {m}"))
    obj.to(di.device)
    if di.is_main and ctx.info:
        save_run_info(run_dir, **ctx.info)
    ddp = DDP(step_mod, device_ids=[di.device.index] if di.device.type == "cuda" else None,
              find_unused_parameters=True) if di.enabled else step_mod

    stream = WindowStream(ctx.train_idx, sources, obj.collator(), mode=stage, batch_size=recipe.data.batch_size,
                          rank=di.rank, world_size=di.world_size, seed=recipe.seed + recipe.data.seed,
                          steps=st_cfg.steps, start_step=start, **obj.stream_kwargs(), **window_loader_kwargs(recipe))
    loader = make_loader(stream, recipe.data.num_workers, pin_memory=di.device.type == "cuda")
    logger = JsonlLogger(stage_dir / "metrics.jsonl" if di.is_main else None)
    bar = None
    if progress and di.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=st_cfg.steps, initial=start, desc=stage, dynamic_ncols=True)
    last_val: dict[str, float] = {}
    loss_val = float("nan")
    t_last, n_last = time.time(), 0
    step = start - 1
    consumed: list[np.ndarray] = []
    end = st_cfg.steps if stop_after is None else min(st_cfg.steps, start + stop_after)
    for batch in loader:
        if batch.step >= end:
            break
        step = batch.step
        step_mod.train()
        consumed.append(batch.window.numpy().copy())
        b = batch.to(di.device)
        gen = torch.Generator().manual_seed(recipe.seed * 1_000_003 + step * 7919 + di.rank)
        with autocast(di.device):
            loss, parts = obj.forward(ddp, b, step, gen)
        bad = torch.tensor(0.0 if torch.isfinite(loss.detach()) else 1.0, device=di.device)
        if float(distributed.all_reduce_max(bad)) > 0:
            raise NonFiniteLoss(f"[{stage}] the loss became {float(loss.detach())} at step {step} (rank {di.rank}); "
                                f"stopped without writing a checkpoint for it. Last good checkpoint: "
                                f"{checkpoint.latest(stage_dir) or 'none'}. Lower {stage}.optim.lr or check the data.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        obj.after_backward(step)
        gnorm = torch.nn.utils.clip_grad_norm_(step_mod.parameters(), st_cfg.optim.grad_clip)
        if not torch.isfinite(gnorm):
            raise NonFiniteLoss(f"[{stage}] the gradient norm became {float(gnorm)} at step {step}; stopped without "
                                f"writing a checkpoint for it. Last good checkpoint: {checkpoint.latest(stage_dir) or 'none'}.")
        opt.step()
        sched.step()
        obj.after_step()
        loss_val = float(loss.detach())
        n_last += len(b) * di.world_size
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_val:.4f}")
        if done % st_cfg.log_every == 0 or done == end:
            dt = time.time() - t_last
            logger.log({"split": "train", "step": done, "loss": loss_val, **parts, "lr": sched.get_last_lr()[0],
                        "grad_norm": float(gnorm), "epoch": round(stream.epochs_done(done), 3),
                        "samples_per_s": round(n_last / max(dt, 1e-9), 1)})
            t_last, n_last = time.time(), 0
        if val_idx is not None and len(val_idx) and (done % st_cfg.val_every == 0 or done == end):
            last_val = obj.validate()
            if di.is_main:
                logger.log({"split": "val", "step": done, **last_val})
                say(f"[{stage}] step {done}: val " + ", ".join(f"{k} {v:.4f}" for k, v in last_val.items()))
        if done % st_cfg.save_every == 0 or done == end:
            _save(stage_dir, done, model, opt, sched, obj, di, st_cfg, recipe, stage)
    if bar is not None:
        bar.close()
    weights = stage_dir / "model.safetensors"
    if di.is_main and step + 1 >= st_cfg.steps:
        checkpoint.save_weights(weights, model.state_dict(), {"stage": stage, "steps": str(st_cfg.steps)})
        plot_curves(stage_dir / "metrics.jsonl", stage_dir / "curves.png", f"{recipe.name} {stage}")
    distributed.barrier()
    return TrainResult(stage, run_dir, step + 1, loss_val, weights, stage_dir / "metrics.jsonl", last_val, model, consumed)


def _patch_scales(recipe: cfgmod.Recipe) -> list[float]:
    lo, hi = recipe.data.patch_scale_range
    step = recipe.data.patch_scale_step
    n = int(round((hi - lo) / step)) + 1 if step > 0 else 1
    return [round(lo + i * step, 6) for i in range(n)]


def resume_from(stage_dir: Path, stage: str, model: nn.Module, opt, sched, obj, di, say: Callable[[str], None]) -> int:
    """Load the newest checkpoint of ``stage_dir`` that verifies and fits this run into model,
    optimizer, scheduler, memory bank and RNG; return its step (0 when there is no checkpoint).

    A damaged or hostile checkpoint is skipped with a message naming the file, and the next older
    one is tried; when checkpoints exist and none verifies, :class:`checkpoint.CheckpointError`."""
    ref = {k.replace("module.", "").replace("_orig_mod.", ""): v.shape for k, v in model.state_dict().items()}
    groups = [len(g["params"]) for g in opt.param_groups]

    def fits(path: Path, sd: dict, state: dict, meta: dict) -> None:
        shapes = {k: v.shape for k, v in sd.items()}
        if shapes != ref:
            diff = sorted(set(shapes) ^ set(ref)) or sorted(k for k in ref if shapes[k] != ref[k])
            raise checkpoint.CheckpointError(f"{path / 'model.safetensors'}: does not fit this recipe's model "
                                             f"(differs at {diff[:3]})")
        saved = [len(g.get("params", [])) for g in state["optimizer"].get("param_groups", [])]
        if saved != groups:
            raise checkpoint.CheckpointError(f"{path / 'state.pt'}: optimizer groups of {saved} parameters, "
                                             f"this model has {groups}")
        rng = state["rng"]
        if isinstance(rng, list) and len(rng) <= di.rank:
            raise checkpoint.CheckpointError(f"{path / 'state.pt'}: RNG state of {len(rng)} ranks, this is rank {di.rank}")

    found = checkpoint.newest_valid(stage_dir, fits, lambda m: say(f"[{stage}] --resume: {m}"))
    if found is None:
        say(f"[{stage}] --resume: no checkpoint in {stage_dir}/checkpoints, starting at step 0")
        return 0
    ck, sd, state, _meta = found
    try:
        model.load_state_dict(sd)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if obj is not None:
            obj.load_extra_state(state.get("bank"))
        checkpoint.set_rng_state(state["rng"][di.rank] if isinstance(state["rng"], list) else state["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise checkpoint.CheckpointError(f"{ck / 'state.pt'}: verified but could not be applied to this run "
                                         f"({type(exc).__name__}: {str(exc)[:200]})") from None
    start = int(state["sampler"]["step"])
    if state["sampler"].get("world_size", di.world_size) != di.world_size:
        say(f"[{stage}] resuming with world size {di.world_size} (was {state['sampler']['world_size']}): "
            f"the data order from here on differs from the original run")
    say(f"[{stage}] resumed from {ck} at step {start}")
    return start


def truncate_metrics(path: Path, step: int, say: Callable[[str], None]) -> None:
    """Drop the rows of ``metrics.jsonl`` logged after ``step`` (the resumed run logs them again) and
    a torn last line left by a crash mid-write; rewritten through a temporary file, said when done."""
    import json
    import os

    if not path.exists():
        return
    text = path.read_text(errors="replace")
    lines = text.split("\n")
    tail = lines.pop().strip() if lines else ""  # text after the last newline: a row cut off mid-write
    keep, dropped = [], 0
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            keep.append(line)  # not ours to judge; kept as it was
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] > step:
            dropped += 1
        else:
            keep.append(line)
    if not dropped and not tail:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)
    if dropped:
        say(f"{path}: dropped {dropped} rows logged after step {step}; they are logged again from here")
    if tail:
        say(f"{path}: dropped an incomplete last line ({len(tail)} characters) left by an interrupted write")


def _save(stage_dir: Path, done: int, model: nn.Module, opt, sched, obj, di, st_cfg, recipe, stage) -> None:
    rngs = distributed.all_gather_object(checkpoint.rng_state())
    if not di.is_main:
        return
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "sampler": {"step": done, "seed": recipe.seed + recipe.data.seed, "world_size": di.world_size},
             "rng": rngs if di.enabled else rngs[0], "bank": obj.extra_state() if obj is not None else None}
    checkpoint.save(stage_dir, done, model.state_dict(), state, {"stage": stage, "recipe": recipe.name},
                    keep=st_cfg.keep_checkpoints)


@torch.no_grad()
def validate(stage: str, model: TSFM, index, sources, tables: TextTables, recipe: cfgmod.Recipe,
             device: torch.device, labels: list, tenc=None) -> dict[str, float]:
    """Stage 1: masked-reconstruction loss on validation windows (fixed masks, no augmentation).
    Stage 2: closed-set zero-shot accuracy / macro-F1 on validation subjects (each dataset's own labels), and
    ``chance``, the mean over datasets of 1 / the number of candidate labels."""
    was = model.training
    model.eval()
    try:
        if stage == "pretrain":
            col = Collator("eval", recipe.model.patch_len, recipe.model.max_patches, None)
            stream = WindowStream(index, sources, col, mode="eval", batch_size=recipe.eval.batch_size,
                                  channel_ids=tables.channel_ids, cache_mb=recipe.data.cache_mb)
            chan = tables.channel.to(device)
            tot, n = 0.0, 0
            for batch in make_loader(stream, 0):
                b = batch.to(device)
                gen = torch.Generator().manual_seed(1234 + int(b.window[0]))
                tm = pretrain_mask(b, dataclass_replace(recipe.pretrain, mask_strategy_p=[1.0, 0.0, 0.0]), gen)
                valid = b.patch_mask[:, :, None] & b.channel_mask[:, None, :]
                with autocast(device):
                    tok = model.encoder(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan, tm)
                    r = masked_reconstruction(model.recon(tok), b.patches, tm, valid)
                tot += float(r) * len(b)
                n += len(b)
            out = {"recon": tot / max(n, 1)}
            return {k: float(distributed.all_reduce_mean(torch.tensor(v)).item()) for k, v in out.items()}
        # align: closed-set zero-shot per dataset
        from .run import encode_texts

        emb = encode_windows(model, index, sources, tables, recipe, device)
        keys = label_keys(index, sources, labels)
        accs, f1s, chances = [], [], []
        for si, src in enumerate(sources):
            m = (index.source == si) & (keys >= 0)
            if not m.any():
                continue
            cand = sorted({int(k) for k in keys[m]} | {i for i, c in enumerate(labels)
                                                       if c.name in {x.name for x in src.canonical.values()}})
            lab = encode_texts(model, tenc, [labels[k].text for k in cand], device, ensemble=False)
            pred = np.array(cand)[(emb[m] @ lab.T).argmax(1)]
            accs.append(accuracy(keys[m], pred))
            f1s.append(macro_f1(keys[m], pred))
            chances.append(1.0 / len(cand))  # uniform guessing among the candidates: the curve's chance line
        return {"acc": float(np.mean(accs)) if accs else float("nan"), "f1": float(np.mean(f1s)) if f1s else float("nan"),
                "chance": float(np.mean(chances)) if chances else float("nan")}
    finally:
        model.train(was)


def dataclass_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)
