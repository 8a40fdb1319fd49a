"""The SlotFM family (seed 001): Time-Frequency Slot Attention over imudata's frequency bands.

One stage, ``pretrain``: each training window's accelerometer triad is resampled to 50 Hz, split
into bands by ``imudata.signal.split_bands`` (``inputs.py``), encoded per band, pooled into K
slots by slot attention with fixed learned initial slots, and decoded back per band; the loss is
the per-band MSE / SSIM / multi-scale STFT mix of the paper's Table 5 (``losses.py``). Training
windows are drawn with probability proportional to their standard deviation within each dataset
(the datasets themselves are mixed by the manifest's weights, the shared loader's rule).

Evaluation: ``embed_windows`` returns the flattened slots (L2-normalised) so the shared evaluator's
probes work; the frozen-backbone HAR protocol (``imutrain/bench/slotfm_har.py``) trains the paper's
head (self-attention over slots, flatten, MLP) on ``embed_slots``. There is no text side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .. import Family, Objective, StageContext
from .inputs import accel_triad, band_input, std_weighted_draw, to_rate, window_std
from .losses import band_losses
from .model import SlotFM


def n_bands(cfg) -> int:
    if cfg.bands == "none":
        return 1
    from imudata.signal import parse_bands

    return len(parse_bands(cfg.bands))


@dataclass
class SlotBatch:
    """A batch of band inputs (B, n_bands, 3, T) with the window ids the trainer records."""

    x: torch.Tensor
    window: torch.Tensor
    source: torch.Tensor
    step: int = -1

    def to(self, device: torch.device, non_blocking: bool = True) -> "SlotBatch":
        return SlotBatch(self.x.to(device, non_blocking=non_blocking), self.window.to(device),
                         self.source.to(device), self.step)

    def pin_memory(self) -> "SlotBatch":
        return SlotBatch(self.x.pin_memory(), self.window.pin_memory(), self.source.pin_memory(), self.step)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def window_samples(xs: Sequence[np.ndarray], names: Sequence[Sequence[str]], rates: Sequence[float], cfg,
                   samples: int | None = None) -> np.ndarray:
    """(N, T, 3) accelerometer windows at ``cfg.rate_hz``; T = ``samples`` or the longest window's
    length after resampling (shorter ones zero-padded at the end)."""
    acc = [to_rate(accel_triad(x, n), r, cfg.rate_hz) for x, n, r in zip(xs, names, rates)]
    T = samples or max(len(a) for a in acc)
    return np.stack([to_rate(a, cfg.rate_hz, cfg.rate_hz, T) for a in acc])


class SlotCollator:
    """Samples from the shared ``WindowStream`` -> :class:`SlotBatch` (no augmentation: the paper
    trains on raw windows)."""

    def __init__(self, cfg, window_s: float | None) -> None:
        self.cfg = cfg
        self.samples = int(round(window_s * cfg.rate_hz)) if window_s else None

    def __call__(self, samples, rngs=None, step: int = -1) -> SlotBatch:
        acc = window_samples([s.x for s in samples], [s.names for s in samples], [s.rate for s in samples],
                             self.cfg, self.samples)
        x = band_input(acc, self.cfg.rate_hz, self.cfg.bands, self.cfg.order)
        return SlotBatch(torch.from_numpy(x), torch.tensor([s.window for s in samples], dtype=torch.long),
                         torch.tensor([s.source for s in samples], dtype=torch.long), step)


class SlotFMStep(nn.Module):
    """Forward of one step: reconstruction of every band -> weighted per-band loss."""

    def __init__(self, model: SlotFM) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.model.cfg
        rec, _masks, _slots = self.model(x)
        return band_losses(x, rec, c.mse, c.ssim, c.stft, c.ssim_window, c.stft_ffts)


def window_stds(index, sources, cfg, cache_mb: int = 256) -> np.ndarray:
    """The std of every window of ``index`` (accelerometer triad at ``cfg.rate_hz``)."""
    from ...bench.data import read_raw

    raw = read_raw(index, sources, cache_mb)
    out = np.zeros(len(index))
    for w, x in enumerate(raw):
        src = sources[int(index.source[w])]
        out[w] = window_std(to_rate(accel_triad(x, src.channels), src.rate, cfg.rate_hz))
    return out


class SlotFMObjective(Objective):
    def __init__(self, ctx: StageContext, model: SlotFM) -> None:
        r, cfg = ctx.recipe, ctx.recipe.slotfm
        self.ctx, self.model = ctx, model
        self.module = SlotFMStep(model)
        self.window_s = r.data.window_s
        if cfg.std_weighted:
            std = window_stds(ctx.train_idx, ctx.sources, cfg, r.data.cache_mb)
            per = min(r.pretrain.steps * r.data.batch_size, cfg.draw_cap)
            ids = std_weighted_draw(std, np.asarray(ctx.train_idx.source), per, r.seed + r.data.seed)
            ctx.info["slotfm_sampling"] = {
                "rule": "P(window) = std / sum(std) within its dataset, with replacement",
                "windows": int(len(ctx.train_idx)), "draws_per_dataset": per,
                "std_mean": float(std.mean()), "zero_std_windows": int((std == 0).sum())}
            ctx.log(f"[{ctx.stage}] std-weighted sampling: {len(ctx.train_idx)} windows, {per} draws per dataset")
            ctx.train_idx = ctx.train_idx.subset(ids)
        self.val = None
        if ctx.val_idx is not None and len(ctx.val_idx):
            n = len(ctx.val_idx)
            keep = np.unique(np.linspace(0, n - 1, min(n, cfg.val_windows)).round().astype(int))
            self.val = ctx.val_idx.subset(keep)

    def collator(self):
        return SlotCollator(self.ctx.recipe.slotfm, self.window_s)

    def forward(self, ddp, b, step, gen):
        return ddp(b.x)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss and its terms on the validation windows (evaluation mode)."""
        if self.val is None:
            return {}
        from ...data import WindowStream, make_loader

        c = self.ctx
        was = self.model.training
        self.model.eval()
        tot, n, acc = 0.0, 0, {}
        try:
            stream = WindowStream(self.val, c.sources, self.collator(), mode="eval", batch_size=c.recipe.eval.batch_size,
                                  cache_mb=c.recipe.data.cache_mb)
            for batch in make_loader(stream, 0):
                b = batch.to(c.device)
                loss, parts = self.module(b.x)
                tot += float(loss) * len(b)
                n += len(b)
                for k, v in parts.items():
                    acc[k] = acc.get(k, 0.0) + v * len(b)
        finally:
            self.model.train(was)
        return {"loss": tot / max(n, 1), **{k: v / max(n, 1) for k, v in acc.items()}}


@torch.no_grad()
def embed_slots(model: SlotFM, acc: np.ndarray, device: torch.device, batch_size: int = 128,
                seed: int = 0) -> np.ndarray:
    """(N, T, 3) windows at ``model.cfg.rate_hz`` -> slots (N, K, D) (evaluation mode; the
    resampled-init ablation draws its noise from a generator seeded with ``seed``)."""
    cfg = model.cfg
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(acc), batch_size):
        x = torch.from_numpy(band_input(acc[i:i + batch_size], cfg.rate_hz, cfg.bands, cfg.order)).to(device)
        out.append(model.encode(x, gen=gen).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, cfg.slots, cfg.slot_dim), np.float32)


class SlotFMFamily(Family):
    name = "slotfm"
    stages = ("pretrain",)
    labelled_stages = ()
    supports_finetune = False

    def build(self, recipe) -> nn.Module:
        return SlotFM(recipe.slotfm, n_bands(recipe.slotfm))

    def objective(self, ctx: StageContext, model: nn.Module) -> Objective:
        return SlotFMObjective(ctx, model)

    @torch.no_grad()
    def embed_windows(self, model, index, sources: Sequence, tables, recipe, device, run_dir=None) -> np.ndarray:
        from ...bench.data import read_raw

        raw = read_raw(index, sources, recipe.data.cache_mb)
        srcs = [sources[int(s)] for s in index.source]
        acc = window_samples(raw, [s.channels for s in srcs], [s.rate for s in srcs], recipe.slotfm)
        z = embed_slots(model, acc, torch.device(device), recipe.eval.batch_size).reshape(len(acc), -1)
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)

    def embed_texts(self, model, tenc, texts: Sequence[str], device, ensemble: bool, run_dir=None) -> np.ndarray:
        raise NotImplementedError("SlotFM has no text side: zero-shot and retrieval do not apply; use the probes "
                                  "or the frozen-backbone HAR protocol (imutrain/bench/slotfm_har.py)")


FAMILY = SlotFMFamily()
