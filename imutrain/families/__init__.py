"""Model families behind one interface, the way datasets sit behind imudata's registry.

A recipe names ``family: tsfm | sensorlm | slotfm | llm``. A family module provides a :class:`Family`: its model
builder, its training objective per stage, and ``embed_windows`` / ``embed_texts`` for evaluation.
The loader, the trainer loop (checkpoints, resume, NaN stop, DDP, bf16, progress, metrics) and the
evaluator (zero-shot, probe, retrieval, the benchmark harness) are shared and never name a family.
Adding a family = one module (or package) here + its recipes + its tests; later families (SlotFM,
an LLM backbone) fit the same shape: a builder, per-stage objectives, and the two embedders.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

FAMILIES = {"tsfm": "imutrain.families.tsfm", "sensorlm": "imutrain.families.sensorlm",
            "slotfm": "imutrain.families.slotfm", "llm": "imutrain.families.llm"}


@dataclass
class StageContext:
    """What the shared trainer hands a family's objective for one stage."""

    stage: str
    recipe: Any
    run_dir: Path
    sources: list
    train_idx: Any
    val_idx: Any
    tables: Any                      # imutrain.run.TextTables (channel texts, label texts)
    labels: list
    keys: np.ndarray | None          # run label key per training window (labelled stages)
    tenc: Any                        # the frozen sentence-feature cache
    device: torch.device
    is_main: bool
    log: Callable[[str], None] = print
    info: dict = field(default_factory=dict)   # what the objective wants recorded in run.json


class Objective:
    """One stage's training objective. The trainer calls, per step: ``forward`` (inside autocast),
    backward, ``after_backward``, clip + optimizer step, ``after_step``; ``validate`` every
    ``val_every``; ``extra_state`` / ``load_extra_state`` go into / come from checkpoints."""

    module: nn.Module                # what DDP wraps and the optimizer trains
    collator_mode: str = "eval"      # the Collator mode that builds this stage's batches

    def collator(self):
        raise NotImplementedError

    def stream_kwargs(self) -> dict[str, Any]:
        return {}

    def forward(self, ddp: nn.Module, b, step: int, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def after_backward(self, step: int) -> None:
        pass

    def after_step(self) -> None:
        pass

    def extra_state(self) -> Any:
        return None

    def load_extra_state(self, state: Any) -> None:
        pass

    def to(self, device: torch.device) -> None:
        pass

    def validate(self) -> dict[str, float]:
        return {}


class Family:
    """The interface every family implements."""

    name: str = ""
    stages: tuple[str, ...] = ()
    labelled_stages: tuple[str, ...] = ()     # stages that train on labelled windows only

    def build(self, recipe) -> nn.Module:
        raise NotImplementedError

    def from_manifest(self, recipe, manifest) -> tuple[Any, dict[str, Any]]:
        """The recipe with what the manifest decides for this family (the recipe's values are the
        defaults), and what to record in ``run.json``. Called by the trainer before the model is
        built and ``config.yaml`` written, so evaluation reads the values the run trained with."""
        return recipe, {}

    def init_stage(self, stage: str, model: nn.Module, run_dir: Path, init: Path | None, log: Callable[[str], None]) -> None:
        """Initialise ``model`` for ``stage`` from earlier weights (a fresh, not resumed, stage)."""

    def objective(self, ctx: StageContext, model: nn.Module) -> Objective:
        raise NotImplementedError

    def load_weights(self, model: nn.Module, path: Path) -> None:
        from ..checkpoint import load_weights

        model.load_state_dict(load_weights(path))

    def embed_windows(self, model: nn.Module, index, sources: Sequence, tables, recipe, device: torch.device,
                      run_dir: Path | None = None) -> np.ndarray:
        """(N, D) L2-normalised window embeddings in index order (evaluation mode)."""
        raise NotImplementedError

    def embed_texts(self, model: nn.Module, tenc, texts: Sequence[str], device: torch.device, ensemble: bool,
                    run_dir: Path | None = None) -> np.ndarray:
        """(N, D) L2-normalised text embeddings in the shared space (``ensemble``: average over templates)."""
        raise NotImplementedError

    def score(self, window_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
        """(N, M) similarity used for zero-shot and retrieval (cosine: embeddings are unit vectors)."""
        return window_emb @ text_emb.T


def get(name: str) -> Family:
    """The family registered under ``name`` (ValueError listing the known ones)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[name]).FAMILY
