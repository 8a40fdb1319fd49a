"""What training and evaluation share: the run folder, the manifest, text tables, and window encoding.

A run folder holds ``config.yaml`` (the resolved recipe), ``run.json`` (manifest, data root, the
training label list), ``text_cache.safetensors`` (every text feature the run used) and one folder
per stage (``pretrain/``, ``align/``) with checkpoints, final weights, metrics and curves.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from . import config as cfgmod
from .data import Collator, Source, WindowIndex, WindowStream, make_loader
from .model import TSFM
from .model.tsfm import ChannelText
from .text import TextEncoder, template_variants


def load_manifest(path: str | Path, root: str | Path | None):
    """The imudata manifest (resolved, never rewritten by training)."""
    from imudata import manifest

    return manifest.load(path, root=root, write_back=False)


def entries(man, role: str | None) -> list[Any]:
    return [e for e in man.datasets if role is None or getattr(e, "role", "pretrain") == role]


def run_labels(sources: Sequence[Source]) -> list[Any]:
    """The training label list: canonical labels used by the sources, in vocabulary order (activities only)."""
    from imudata import vocabulary

    used = {c.name for s in sources for c in s.canonical.values()}
    return [c for c in vocabulary.vocabulary() if c.name in used]


def label_keys(index: WindowIndex, sources: Sequence[Source], labels: Sequence[Any]) -> np.ndarray:
    """Run label key (index into ``labels``) of each window, -1 when unlabelled or not in the list."""
    pos = {c.name: i for i, c in enumerate(labels)}
    out = np.full(len(index), -1, np.int64)
    for si, src in enumerate(sources):
        m = index.source == si
        for lid, canon in src.canonical.items():
            if canon.name in pos:
                out[m & (index.label == lid)] = pos[canon.name]
    return out


@dataclass
class TextTables:
    """Channel-text and label-text tables of a run, with the ids the loader puts in batches."""

    channel: ChannelText
    channel_ids: dict[int, np.ndarray]            # source position -> ids of its channels
    label: ChannelText | None = None
    label_plain: dict[int, int] | None = None      # label key -> id of its canonical text
    label_variants: dict[int, list[int]] | None = None

    def to(self, device) -> "TextTables":
        return TextTables(self.channel.to(device), self.channel_ids, self.label.to(device) if self.label else None,
                          self.label_plain, self.label_variants)


def build_text(encoder: TextEncoder, sources: Sequence[Source], labels: Sequence[Any] | None = None) -> TextTables:
    strings: list[str] = []
    pos: dict[str, int] = {}
    ids: dict[int, np.ndarray] = {}
    for si, src in enumerate(sources):
        row = []
        for t in src.channel_texts:
            if t not in pos:
                pos[t] = len(strings)
                strings.append(t)
            row.append(pos[t])
        ids[si] = np.array(row, np.int64)
    tables = TextTables(encoder.table(strings), ids)
    if labels:
        lstr: list[str] = []
        lpos: dict[str, int] = {}

        def add(t: str) -> int:
            if t not in lpos:
                lpos[t] = len(lstr)
                lstr.append(t)
            return lpos[t]

        plain, variants = {}, {}
        for k, c in enumerate(labels):
            plain[k] = add(c.text)
            variants[k] = sorted({add(v) for syn in c.texts for v in template_variants(syn)})
        tables.label = encoder.table(lstr)
        tables.label_plain, tables.label_variants = plain, variants
    return tables


def text_encoder(recipe: cfgmod.Recipe, run_dir: Path | None) -> TextEncoder:
    enc = TextEncoder(recipe.text.model, recipe.text.max_tokens, recipe.text.batch_size)
    if run_dir is not None and (Path(run_dir) / "text_cache.safetensors").exists():
        enc.load(Path(run_dir) / "text_cache.safetensors")
    return enc


def save_run_info(run_dir: Path, **info: Any) -> None:
    path = Path(run_dir) / "run.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(info)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(old, indent=2, default=str))
    os.replace(tmp, path)


def read_run_info(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_model(run_dir: Path, stage: str | None = None, device: str = "cpu") -> tuple[torch.nn.Module, cfgmod.Recipe, str]:
    """Rebuild the model of a run folder from its ``config.yaml`` (its family) and the newest stage
    weights; ``stage="int8"`` loads ``RUN/int8/model.safetensors`` written by ``imutrain quantize``."""
    from .families import get as get_family

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir}: no config.yaml; is this a run folder written by imutrain pretrain/align?")
    recipe = cfgmod.load(run_dir / "config.yaml")
    fam = get_family(recipe.family)
    model = fam.build(recipe)
    stages = [stage] if stage else ["align", "pretrain"] + [s for s in fam.stages if s not in ("align", "pretrain")]
    for st in stages:
        w = run_dir / st / "model.safetensors"
        if w.exists():
            if st == "int8":
                from .quantize import load_any

                model.load_state_dict(load_any(w))
            else:
                fam.load_weights(model, w)
            return model.to(device).eval(), recipe, st
    raise FileNotFoundError(f"{run_dir}: no {' or '.join(s + '/model.safetensors' for s in stages)}; "
                            f"run `imutrain pretrain` / `imutrain align` (or `imutrain quantize`) first")


@torch.no_grad()
def encode_windows(model: TSFM, index: WindowIndex, sources: Sequence[Source], tables: TextTables,
                   recipe: cfgmod.Recipe, device: torch.device, batch_size: int | None = None,
                   num_workers: int = 0) -> np.ndarray:
    """Window embeddings (N, D), in index order, from the alignment head (eval mode, no augmentation)."""
    model.eval()
    col = Collator("eval", recipe.model.patch_len, recipe.model.max_patches, None)
    stream = WindowStream(index, sources, col, mode="eval", batch_size=batch_size or recipe.eval.batch_size,
                          channel_ids=tables.channel_ids, cache_mb=recipe.data.cache_mb)
    out = np.zeros((len(index), recipe.model.embed_dim), np.float32)
    chan = tables.channel.to(device)
    for batch in make_loader(stream, num_workers):
        b = batch.to(device)
        with autocast(device):
            tok = model.encoder(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan)
            emb = model.head(tok, b.patch_mask, b.channel_mask)
        out[b.window.cpu().numpy()] = emb.float().cpu().numpy()
    return out


@torch.no_grad()
def encode_texts(model: TSFM, encoder: TextEncoder, texts: Sequence[str], device: torch.device,
                 ensemble: bool = True) -> np.ndarray:
    """Label embeddings (N, D): each text through the label pooling, averaged over templates if ``ensemble``."""
    model.eval()
    out = []
    for t in texts:
        variants = template_variants(t) if ensemble else [t]
        tab = encoder.table(variants).to(device)
        e = model.label_pool(tab.tokens, tab.token_mask, tab.sentence)
        e = torch.nn.functional.normalize(e.mean(0), dim=-1)
        out.append(e.float().cpu().numpy())
    return np.stack(out) if out else np.zeros((0, model.cfg.embed_dim), np.float32)


def autocast(device: torch.device | str):
    dev = torch.device(device)
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")


def window_loader_kwargs(recipe: cfgmod.Recipe) -> dict[str, Any]:
    return dict(block_windows=recipe.data.block_windows, shuffle_blocks=recipe.data.shuffle_blocks,
                cache_mb=recipe.data.cache_mb)
