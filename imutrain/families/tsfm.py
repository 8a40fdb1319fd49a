"""The TSFM family: stage 1 (masked reconstruction + patch InfoNCE) and stage 2 (CLIP alignment
with label text, soft targets, memory bank), embedded through the semantic alignment head.

The stage modules, masking and validation stay in ``imutrain.train`` (where the TSFM tests patch
them); this module is the only caller, so the trainer loop itself names no family.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import Family, Objective, StageContext


class TSFMObjective(Objective):
    def __init__(self, ctx: StageContext, model) -> None:
        from .. import train as T
        from ..losses import MemoryBank

        self.ctx, self.model, self.T = ctx, model, T
        r = ctx.recipe
        self.stage = ctx.stage
        self.module = T.PretrainStep(model, r.pretrain) if ctx.stage == "pretrain" else T.AlignStep(model)
        if r.model.compile:
            model.encoder = torch.compile(model.encoder, dynamic=True)  # type: ignore[assignment]
            self.module.encoder = model.encoder
        self.collator_mode = ctx.stage
        self.bank = MemoryBank(r.align.memory_bank, r.model.embed_dim, r.model.text_dim) if ctx.stage == "align" else None
        self._push: list[torch.Tensor] | None = None

    def collator(self):
        from ..data import Collator

        r, tab = self.ctx.recipe, self.ctx.tables
        return Collator(self.stage, r.model.patch_len, r.model.max_patches, r.augment, self.T._patch_scales(r),
                        tab.label_variants, tab.label_plain, r.augment.text_p)

    def stream_kwargs(self) -> dict[str, Any]:
        return {"channel_ids": self.ctx.tables.channel_ids, "label_keys": self.ctx.keys}

    def to(self, device: torch.device) -> None:
        self.dev_tables = self.ctx.tables.to(device)
        if self.bank is not None:
            self.bank.to(device)

    def forward(self, ddp, b, step, gen):
        from ..losses import alignment_loss

        r, T, dt = self.ctx.recipe, self.T, self.dev_tables
        if self.stage == "pretrain":
            token_mask = T.pretrain_mask(b, r.pretrain, gen)
            loss, recon, contrast = ddp(b, dt.channel, token_mask)
            return loss, {"recon": float(recon), "contrast": float(contrast)}
        token_mask = T.channel_dropout(b, r.align.channel_drop, gen)
        lab = dt.label.select(b.label_text)
        imu, label, scale = ddp(b, dt.channel, token_mask, lab)
        key = b.label
        dev = imu.device
        ftext = dt.label.sentence[torch.tensor([self.ctx.tables.label_plain[int(k)] for k in key.cpu()], device=dev)]
        loss, info = alignment_loss(imu, label, ftext, key, scale, r.align.soft_target_tau,
                                    r.align.soft_target_weight, self.bank)
        self._push = [imu, label, ftext, key]
        return loss, {"align_acc": info["align_acc"], "scale": float(scale.detach()), "bank": len(self.bank)}

    def after_backward(self, step: int) -> None:
        if self.stage == "align" and step < self.ctx.recipe.align.freeze_encoder_steps:
            for p in self.model.encoder.parameters():
                p.grad = None

    def after_step(self) -> None:
        from .. import distributed

        if self.bank is not None and self._push is not None:
            with torch.no_grad():
                g = [distributed.all_gather_with_local_grad(t.detach()) for t in self._push]
                self.bank.push(*g)
            self._push = None

    def extra_state(self) -> Any:
        return self.bank.state_dict() if self.bank is not None else None

    def load_extra_state(self, state: Any) -> None:
        if self.bank is not None and state:
            self.bank.load_state_dict(state)

    def validate(self) -> dict[str, float]:
        c = self.ctx
        return self.T.validate(self.stage, self.model, c.val_idx, c.sources, c.tables, c.recipe, c.device, c.labels, c.tenc)


class TSFMFamily(Family):
    name = "tsfm"
    stages = ("pretrain", "align")
    labelled_stages = ("align",)

    def build(self, recipe) -> nn.Module:
        from ..model import TSFM

        return TSFM(recipe.model)

    def init_stage(self, stage: str, model: nn.Module, run_dir: Path, init: Path | None, log: Callable[[str], None]) -> None:
        if stage != "align":
            return
        from ..train import init_from

        src = Path(init) if init else run_dir
        try:
            init_from(model, src, log)
        except FileNotFoundError:
            if init:
                raise
            log(f"[align] no stage-1 weights in {run_dir}/pretrain: aligning from random initialisation")

    def objective(self, ctx: StageContext, model: nn.Module) -> Objective:
        return TSFMObjective(ctx, model)

    def embed_windows(self, model, index, sources: Sequence, tables, recipe, device, run_dir=None) -> np.ndarray:
        from ..run import encode_windows

        return encode_windows(model, index, sources, tables, recipe, device)

    def embed_texts(self, model, tenc, texts: Sequence[str], device, ensemble: bool, run_dir=None) -> np.ndarray:
        from ..run import encode_texts

        return encode_texts(model, tenc, texts, device, ensemble)


FAMILY = TSFMFamily()
