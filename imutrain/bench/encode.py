"""TSFM window embeddings of in-memory raw windows, with the channel texts chosen by the caller.

Same computation as ``imutrain.run.encode_windows`` (eval collator: no augmentation), but on the
arrays of a :class:`~imutrain.bench.data.Windows`, so evaluation-time variants of a dataset's
channels (rewritten channel texts, summed triads) can be scored with unchanged weights.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..data import Collator
from ..data.collate import Sample
from ..model import TSFM
from ..run import autocast

# evaluation-time channel variants for MotionSense (docs/benchmark.md, ablations)
_AXES = "xyz"


def ms_text_style(x: np.ndarray, names: list[str], texts: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """MotionSense channel texts rewritten in the training sets' wording (signals unchanged)."""
    out = []
    for n in names:
        sensor, axis = n.split("_")[-2], n.split("_")[-1].upper()
        where = "smartphone in the front trouser pocket"
        if sensor == "lacc":
            out.append(f"Accelerometer {axis}-axis, {where}, gravity removed")
        elif sensor == "grav":
            out.append(f"Accelerometer {axis}-axis, {where}, gravity component only")
        elif sensor == "gyro":
            out.append(f"Gyroscope (angular rate) {axis}-axis, {where}")
        else:
            raise ValueError(f"ms-text-style: unexpected channel {n}")
    return x, names, out


def ms_summed(x: np.ndarray, names: list[str], texts: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """lacc + grav summed into one gravity-included triad (+ gyro): 6 channels like HAPT."""
    col = {n.split("_", 1)[1]: i for i, n in enumerate(names)}  # e.g. 'lacc_x'
    acc = np.stack([x[:, col[f"lacc_{a}"]] + x[:, col[f"grav_{a}"]] for a in _AXES], 1)
    gyro = np.stack([x[:, col[f"gyro_{a}"]] for a in _AXES], 1)
    where = "smartphone in the front trouser pocket"
    new_names = [f"pocket_acc_{a}" for a in _AXES] + [f"pocket_gyro_{a}" for a in _AXES]
    new_texts = [f"Accelerometer {a.upper()}-axis, {where}, gravity included" for a in _AXES] + \
                [f"Gyroscope (angular rate) {a.upper()}-axis, {where}" for a in _AXES]
    return np.concatenate([acc, gyro], 1).astype(np.float32), new_names, new_texts


TRANSFORMS: dict[str, Callable] = {"ms-text-style": ms_text_style, "ms-summed": ms_summed}


@torch.no_grad()
def embed(model: TSFM, tenc, windows, recipe, device: torch.device, transform: str | None = None,
          batch_size: int = 128) -> np.ndarray:
    """(N, D) alignment-head embeddings of every window of ``windows`` (index order)."""
    model.eval()
    texts_all: list[str] = []
    pos: dict[str, int] = {}
    samples: list[Sample] = []
    for w, x in enumerate(windows.x):
        src = windows.sources[int(windows.index.source[w])]
        names, texts = list(src.channels), list(src.channel_texts)
        if transform:
            x, names, texts = TRANSFORMS[transform](x, names, texts)
        ids = []
        for t in texts:
            if t not in pos:
                pos[t] = len(texts_all)
                texts_all.append(t)
            ids.append(pos[t])
        samples.append(Sample(x=x, names=names, channel_ids=np.asarray(ids, np.int64), rate=src.rate,
                              patch_s=src.patch_s, label=-1, source=src.index, window=w))
    chan = tenc.table(texts_all).to(device)
    col = Collator("eval", recipe.model.patch_len, recipe.model.max_patches, None)
    out = np.zeros((len(samples), recipe.model.embed_dim), np.float32)
    # batches of one channel layout (sources differ in channel count)
    order = sorted(range(len(samples)), key=lambda i: (len(samples[i].names), samples[i].x.shape[0], i))
    for k in range(0, len(order), batch_size):
        chunk = order[k:k + batch_size]
        groups: dict[tuple, list[int]] = {}
        for i in chunk:
            groups.setdefault((len(samples[i].names),), []).append(i)
        for ids in groups.values():
            b = col([samples[i] for i in ids]).to(device)
            with autocast(device):
                tok = model.encoder(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan)
                emb = model.head(tok, b.patch_mask, b.channel_mask)
            out[np.asarray(ids)] = emb.float().cpu().numpy()
    return out


def label_embeddings(model: TSFM, tenc, labels: Sequence, device: torch.device, ensemble: bool) -> np.ndarray:
    from ..run import encode_texts

    return encode_texts(model, tenc, [c.text for c in labels], device, ensemble)
