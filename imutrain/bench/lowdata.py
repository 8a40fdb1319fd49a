"""The low-label protocol of the LLM-backbone family (results/llm-lora.md): per target, per label
budget, per seed, every method trained on the same labelled windows and scored on the same
subject-disjoint test windows.

Methods: ``llm-pretrained`` (the recipe as it is), ``llm-random`` (the same config with seeded
random backbone weights, the same LoRA, projection and head initialisation), ``proj-only`` (the
backbone removed), ``feat-lr`` / ``feat-mlp`` (the harness's rotation-invariant features with
logistic regression / a one-hidden-layer MLP) and ``tsfm-ce`` (the harness's bench-cpu TSFM
encoder + alignment head trained from random initialisation with cross-entropy on the same
windows and steps). Budgets: ``N`` labelled windows per class, or ``P%`` of the training pool
(class-balanced, ``imutrain.evaluate.few_label_subset``). Each cell writes one JSON (metrics,
validation curve, trainable parameters, wall time) and one NPZ (per-window predictions) and is
skipped when its JSON exists, so a cut-off run resumes; ``report`` aggregates whatever exists.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import config as cfgmod
from ..evaluate import few_label_subset
from . import features as featmod
from . import probe, stats
from .data import Windows, entry, load_windows
from .runner import ProtocolError, _atomic_json, _atomic_npz, read_protocol

METHODS = ("llm-pretrained", "llm-random", "proj-only", "feat-lr", "feat-mlp", "tsfm-ce")
KEYS = {"manifest", "targets", "recipe", "recipe_set", "steps", "batch_size", "val_every", "lr", "weight_decay",
        "warmup_steps", "budgets", "seeds", "methods", "cap_per_subject_label", "tsfm_recipe", "out", "threads"}


def load_protocol(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    P = read_protocol(path, KEYS)
    missing = sorted(KEYS - {"recipe_set", "tsfm_recipe", "out", "threads"} - set(P))
    if missing:
        raise ProtocolError(f"{path}: missing keys {missing}")
    for m in P["methods"]:
        if m not in METHODS:
            raise ProtocolError(f"{path}: methods: unknown method {m!r} (known: {list(METHODS)})")
    for b in P["budgets"]:
        parse_budget(b, str(path))
    P["_path"] = str(path)
    return P


def parse_budget(b: Any, where: str = "budget") -> tuple[str, float]:
    """``5`` -> ("per_class", 5); ``"10%"`` -> ("fraction", 0.1)."""
    if isinstance(b, int) and not isinstance(b, bool) and b >= 1:
        return "per_class", float(b)
    if isinstance(b, str) and b.endswith("%"):
        try:
            f = float(b[:-1]) / 100
        except ValueError:
            f = -1
        if 0 < f <= 1:
            return "fraction", f
    raise ProtocolError(f"{where}: budget {b!r} is neither a whole number of windows per class nor 'P%'")


def budget_subset(y: np.ndarray, budget: Any, seed: int) -> np.ndarray:
    """Boolean mask of the labelled windows of ``budget`` from pool labels ``y`` (class-balanced, seeded)."""
    kind, v = parse_budget(budget)
    if kind == "fraction":
        return few_label_subset(y, v, seed)
    rng = np.random.default_rng(seed)
    sel = np.zeros(len(y), bool)
    for c in np.unique(y):
        ids = np.flatnonzero(y == c)
        sel[rng.choice(ids, min(int(v), len(ids)), replace=False)] = True
    return sel


def budget_name(b: Any) -> str:
    kind, v = parse_budget(b)
    return f"{int(v)}pc" if kind == "per_class" else f"{b[:-1]}pct"


def cap_windows(w: Windows, per_group: int | None) -> Windows:
    """At most ``per_group`` windows per (subject, label), evenly spaced in index order (deterministic)."""
    if not per_group:
        return w
    keep = np.zeros(len(w), bool)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, (s, y) in enumerate(zip(w.subjects.tolist(), w.y.tolist())):
        groups.setdefault((s, y), []).append(i)
    for ids in groups.values():
        pick = ids if len(ids) <= per_group else np.asarray(ids)[np.linspace(0, len(ids) - 1, per_group).round().astype(int)]
        keep[pick] = True
    sel = np.flatnonzero(keep)
    return Windows(w.sources, w.index.subset(keep), [w.x[i] for i in sel], w.y[sel], w.labels, w.subjects[sel])


@dataclass
class Tensors:
    """Patched windows of one split, ready for the models (the eval collator: no augmentation)."""

    patches: torch.Tensor       # (N, P, C, L)
    stats: torch.Tensor         # (N, P, C, 2)
    patch_mask: torch.Tensor    # (N, P)
    channel_mask: torch.Tensor  # (N, C)
    channel_ids: torch.Tensor   # (N, C)

    def take(self, ids) -> tuple[torch.Tensor, ...]:
        return self.patches[ids], self.stats[ids], self.patch_mask[ids], self.channel_mask[ids], self.channel_ids[ids]


def patch_windows(w: Windows, patch_len: int, max_patches: int, chunk: int = 512) -> Tensors:
    from ..data import Collator
    from ..data.collate import Sample

    col = Collator("eval", patch_len, max_patches, None)
    src = w.sources[0]
    parts = []
    for i in range(0, len(w), chunk):
        samples = [Sample(x=x, names=src.channels, channel_ids=np.arange(len(src.channels)), rate=src.rate,
                          patch_s=src.patch_s, window=i + j) for j, x in enumerate(w.x[i:i + chunk])]
        parts.append(col(samples))
    P = max(b.patches.shape[1] for b in parts)

    def cat(name: str, pad_dim: int | None):
        out = []
        for b in parts:
            t = getattr(b, name)
            if pad_dim is not None and t.shape[1] < P:
                pad = [0, 0] * (t.dim() - 2) + [0, P - t.shape[1]]
                t = F.pad(t, pad)
            out.append(t)
        return torch.cat(out)

    return Tensors(cat("patches", 1), cat("stats", 1), cat("patch_mask", 1), cat("channel_mask", None),
                   cat("channel_ids", None))


@dataclass
class Target:
    name: str
    pool: Windows           # training pool (stride 0.5 window)
    val: Windows
    test: Windows
    tpool: Tensors
    tval: Tensors
    ttest: Tensors
    n_classes: int


class LowData:
    def __init__(self, P: dict[str, Any], root: str | Path | None, out: Path, log: Callable[[str], None] = print):
        self.P, self.root, self.out, self.log = P, root, Path(out), log
        self.recipe = cfgmod.load(P["recipe"], list(P.get("recipe_set") or []))
        self._targets: dict[str, Target] = {}
        self._tables: dict[str, Any] = {}

    # ------------------------------------------------------------------ data
    def target(self, name: str) -> Target:
        if name in self._targets:
            return self._targets[name]
        r, e = self.recipe, entry(self.P["manifest"], self.root, name)
        kw = dict(labels=None, min_window_frac=r.data.min_window_frac, min_label_frac=r.data.min_label_frac)
        caps = self.P.get("cap_per_subject_label") or {}
        pool = load_windows([e], self.root, split="train", stride_frac=r.data.stride_frac, **kw)
        val = cap_windows(load_windows([e], self.root, split="val", stride_frac=r.data.eval_stride_frac, **kw), caps.get("val"))
        test = cap_windows(load_windows([e], self.root, split="test", stride_frac=r.data.eval_stride_frac, **kw), caps.get("test"))
        L, M = r.model.patch_len, r.model.max_patches
        t = Target(name, pool, val, test, patch_windows(pool, L, M), patch_windows(val, L, M), patch_windows(test, L, M),
                   len(pool.labels))
        self.log(f"[{name}] pool {len(pool)} windows ({len(set(pool.subjects))} subjects), val {len(val)} "
                 f"({len(set(val.subjects))}), test {len(test)} ({len(set(test.subjects))}); {t.n_classes} labels, "
                 f"{t.tpool.patches.shape[1]} patches x {t.tpool.patches.shape[2]} channels")
        self._targets[name] = t
        return t

    # ------------------------------------------------------------------ cells
    def cell_path(self, target: str, budget: Any, method: str, seed: int) -> Path:
        return self.out / target / budget_name(budget) / f"{method}-s{seed}.json"

    def run(self, only_targets: list[str] | None = None, only_methods: list[str] | None = None) -> None:
        P = self.P
        for budget in P["budgets"]:
            for name in P["targets"]:
                if only_targets and name not in only_targets:
                    continue
                for seed in P["seeds"]:
                    for method in P["methods"]:
                        if only_methods and method not in only_methods:
                            continue
                        path = self.cell_path(name, budget, method, seed)
                        if path.exists():
                            continue
                        self.cell(name, budget, method, seed, path)

    def cell(self, name: str, budget: Any, method: str, seed: int, path: Path) -> None:
        t0 = time.time()
        T = self.target(name)
        sel = np.flatnonzero(budget_subset(T.pool.y, budget, seed))
        if method.startswith("feat-"):
            row, scores, curve = self.features_cell(T, sel, method, seed), None, []
            pred = row.pop("pred")
        else:
            pred, scores, curve, row = self.neural_cell(T, sel, method, seed)
        m = stats.scores(T.test.y, pred, T.n_classes)
        row.update(target=name, budget=str(budget), method=method, seed=seed, train_windows=int(len(sel)),
                   train_classes=int(len(np.unique(T.pool.y[sel]))), test_windows=int(len(T.test)), acc=m["acc"], f1=m["f1"],
                   curve=curve, wall_s=round(time.time() - t0, 1), threads=torch.get_num_threads())
        _atomic_npz(path.with_suffix(".npz"), y=T.test.y, pred=pred, subject=T.test.subjects.astype(str),
                    **({"scores": scores} if scores is not None else {}))
        _atomic_json(path, row, indent=1)
        self.log(f"[{name} {budget_name(budget)} {method} s{seed}] {len(sel)} windows: test acc {m['acc']:.3f} "
                 f"macro-F1 {m['f1']:.3f} ({row['wall_s']} s)")

    def features_cell(self, T: Target, sel: np.ndarray, method: str, seed: int) -> dict[str, Any]:
        xtr = featmod.features(_subset(T.pool, sel))
        xte = featmod.features(T.test)
        hidden = 128 if method == "feat-mlp" else 0
        lr = 1e-3 if hidden else 1e-2
        s = probe.fit_scores(xtr, T.pool.y[sel], xte, T.n_classes, hidden=hidden, epochs=300, lr=lr, seed=seed)
        return {"pred": s.argmax(1), "parameters": {"trainable": int(xtr.shape[1] * (hidden or T.n_classes) + (hidden or T.n_classes)
                                                                     + (hidden * T.n_classes + T.n_classes if hidden else 0))}}

    def neural_cell(self, T: Target, sel: np.ndarray, method: str, seed: int):
        from ..scheduler import warmup_cosine

        P = self.P
        torch.manual_seed(seed)
        net, counts = self.build(method, T, seed)
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=P["lr"], weight_decay=P["weight_decay"])
        sched = warmup_cosine(opt, P["warmup_steps"], P["steps"], 0.1)
        g = torch.Generator().manual_seed(seed)
        y = torch.from_numpy(T.pool.y)
        curve = [{"step": 0, "f1": self.val_f1(net, T)}]
        for step in range(P["steps"]):
            net.train()
            ids = torch.from_numpy(sel)[torch.randint(len(sel), (min(P["batch_size"], max(len(sel), 1)),), generator=g)]
            logits = call(net, T.tpool.take(ids))
            loss = F.cross_entropy(logits.float(), y[ids])
            if not torch.isfinite(loss):
                raise RuntimeError(f"[{T.name} {method} s{seed}] loss {float(loss)} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            if (step + 1) % P["val_every"] == 0 or step + 1 == P["steps"]:
                curve.append({"step": step + 1, "f1": self.val_f1(net, T), "loss": float(loss.detach())})
        scores = predict(net, T.ttest)
        return scores.argmax(1), scores, curve, {"parameters": counts}

    def val_f1(self, net, T: Target) -> float:
        if not len(T.val):
            return float("nan")
        return stats.scores(T.val.y, predict(net, T.tval).argmax(1), T.n_classes)["f1"]

    def build(self, method: str, T: Target, seed: int):
        from ..families.llm.model import build, trainable_counts

        n_ch = int(T.tpool.patches.shape[2])
        if method == "tsfm-ce":
            r = self.tsfm_recipe(seed)
            if T.name not in self._tables:   # channel-text features, computed once per target
                from ..run import build_text, text_encoder

                self._tables[T.name] = build_text(text_encoder(r, None), T.pool.sources)
            net = TSFMClassifier(r, T, self._tables[T.name])
            counts = trainable_counts(net)
            return net, counts
        init = {"llm-pretrained": "pretrained", "llm-random": "random", "proj-only": "none"}[method]
        cfg = copy.deepcopy(self.recipe.llm)
        cfg.init, cfg.backbone_seed, cfg.channels = init, seed, n_ch
        if self.recipe.llm.init != "pretrained":
            raise ProtocolError(f"{self.P['_path']}: the recipe must have llm.init pretrained (the methods choose the init)")
        net = build(cfg, self.recipe.model.patch_len, self.root, self.log)
        net.set_num_classes(T.n_classes)
        return net, trainable_counts(net)

    def tsfm_recipe(self, seed: int) -> cfgmod.Recipe:
        return cfgmod.load(self.P.get("tsfm_recipe") or "bench-cpu", [f"seed={seed}", f"model.patch_len={self.recipe.model.patch_len}",
                                                                        f"model.max_patches={self.recipe.model.max_patches}"])


class TSFMClassifier(torch.nn.Module):
    """The harness's TSFM encoder + alignment head (random initialisation) with a linear classifier."""

    def __init__(self, recipe: cfgmod.Recipe, T: Target, tables) -> None:
        super().__init__()
        from ..model import TSFM

        torch.manual_seed(recipe.seed)
        self.tsfm = TSFM(recipe.model)
        del self.tsfm.recon, self.tsfm.proj, self.tsfm.label_pool   # stage-1 / text heads: unused here
        self.chan = tables.channel
        self.ids = torch.as_tensor(tables.channel_ids[0])
        self.cls = torch.nn.Linear(recipe.model.embed_dim, T.n_classes)

    def forward(self, patches, stats_, patch_mask, channel_mask, channel_ids):
        cid = self.ids[channel_ids]
        tok = self.tsfm.encoder(patches, stats_, patch_mask, channel_mask, cid, self.chan)
        return self.cls(self.tsfm.head(tok, patch_mask, channel_mask))


def call(net: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Logits of ``net`` for (patches, stats, patch_mask, channel_mask, channel_ids): the LLM
    classifier ignores the channel ids (its projection reads channels by position)."""
    from ..families.llm.model import LLMClassifier

    return net(*args[:4]) if isinstance(net, LLMClassifier) else net(*args)


@torch.no_grad()
def predict(net: torch.nn.Module, t: Tensors, batch: int = 128) -> np.ndarray:
    net.eval()
    return torch.cat([call(net, t.take(slice(i, i + batch))).float() for i in range(0, len(t.patches), batch)]).numpy()


def _subset(w: Windows, ids: np.ndarray) -> Windows:
    keep = np.zeros(len(w), bool)
    keep[ids] = True
    ids = np.flatnonzero(keep)
    return Windows(w.sources, w.index.subset(keep), [w.x[i] for i in ids], w.y[ids], w.labels, w.subjects[ids])


def main(argv: list[str] | None = None) -> None:
    """``python -m imutrain.bench.lowdata PROTOCOL [--targets a,b] [--methods m,n] [--report]``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("protocol")
    ap.add_argument("--root", default=None)
    ap.add_argument("--out", default=None, help="cell folder (default: the protocol's out)")
    ap.add_argument("--targets", default=None)
    ap.add_argument("--methods", default=None)
    ap.add_argument("--report", action="store_true", help="only write the tables from the finished cells")
    a = ap.parse_args(argv)
    P = load_protocol(a.protocol)
    out = Path(a.out or P.get("out") or "runs/llm-lowdata")
    torch.set_num_threads(int(P.get("threads", 1)))
    if not a.report:
        LowData(P, a.root, out).run(a.targets.split(",") if a.targets else None,
                                    a.methods.split(",") if a.methods else None)
    from .lowdata_report import write_report

    write_report(P, out)


if __name__ == "__main__":
    main()
