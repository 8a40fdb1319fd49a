"""``imutrain bench PROTOCOL.yaml``: every method x seed x protocol x target cell, resumable.

Layout under the protocol's ``out`` folder::

    runs/<method>-s<seed>/            training run folders (imutrain run folders; sup-ce: its own)
    cells/<protocol>/<target>/<method>-s<seed>.json   metrics + wall time + provenance
    cells/<protocol>/<target>/<method>-s<seed>.npz    per-window ids, subjects, true keys, predictions, scores

A cell whose JSON exists is skipped, so a cut-off bench continues where it stopped (a training
stage that was cut off resumes from its newest checkpoint). ``report`` (``imutrain.bench.report``)
builds the tables from whatever cells exist and lists the missing ones.
Protocols: ``a`` zero-shot, ``b`` frozen encoder + MLP over subject folds, ``c1`` / ``c10`` the same
with 1% / 10% of the training folds' windows.

Methods: the fixed ones (``MAIN_METHODS``, ``ABLATIONS``) and any number of ``family_methods``: a
name -> ``{recipe, set, prompts, title}``; such a method trains every stage of its recipe's model
family (``imutrain/families``) on the zero-shot manifest, scores (a) with the family's text tower
and (b) / (c) with its frozen window embedding, so a new family joins the bench by naming a recipe.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from .. import config as cfgmod
from .. import families, provenance
from ..evaluate import few_label_subset
from ..run import build_text, entries, load_manifest, load_model, read_run_info, text_encoder
from . import encode, features, probe, stats
from .data import Windows, entry, load_windows, subject_folds, training_labels

TEXT_METHODS = {"tsfm", "random", "no-stage1", "no-chantext"}
MAIN_METHODS = ("tsfm", "feat-lr", "sup-ce", "random")
ABLATIONS = ("no-stage1", "no-chantext", "ms-text-style", "ms-summed")
PROTO_KEYS = {"name", "scale", "out", "report", "threads", "data_root", "bootstrap", "zeroshot", "frozen", "probe",
              "feat_lr", "methods", "ablations", "scales", "family_methods", "compare_with"}
FAMILY_METHOD_KEYS = {"recipe", "set", "prompts", "title"}


class ProtocolError(ValueError):
    """The benchmark protocol file is malformed (names the file and key)."""


def read_protocol(path: Path, known: set[str]) -> dict[str, Any]:
    """The protocol file's top-level mapping (safe YAML), refused with file and key when it is
    unreadable, not a mapping, or names a key outside ``known``; shared by every protocol runner."""
    try:
        P = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProtocolError(f"{path}: cannot read the protocol ({exc})") from None
    if not isinstance(P, dict):
        raise ProtocolError(f"{path}: expected a mapping at the top level")
    unknown = sorted(set(P) - known)
    if unknown:
        raise ProtocolError(f"{path}: unknown keys {unknown} (known: {sorted(known)})")
    return P


def load_protocol(path: str | Path, scale: str | None = None) -> dict[str, Any]:
    path = Path(path)
    P = read_protocol(path, PROTO_KEYS)
    scale = scale or P.get("scale", "cpu")
    scales = P.get("scales") or {}
    if scale not in scales:
        raise ProtocolError(f"{path}: scales.{scale} missing (have {sorted(scales)})")
    P = dict(P, scale=scale, run=scales[scale])
    for k in ("recipe", "seeds"):
        if k not in P["run"]:
            raise ProtocolError(f"{path}: scales.{scale}.{k} missing")
    fm = _family_methods(path, P.get("family_methods"))
    for m in P.get("methods", []):
        if m not in MAIN_METHODS and m not in fm:
            raise ProtocolError(f"{path}: methods: unknown method {m!r} (known: {list(MAIN_METHODS) + list(fm)}; "
                                f"a family recipe joins as family_methods.NAME: {{recipe: ...}})")
    cw = P.get("compare_with")
    if cw is not None and not isinstance(cw, str):
        raise ProtocolError(f"{path}: compare_with: expected the path of a committed bench JSON, got {cw!r}")
    for m in P.get("ablations", []) or []:
        if m not in ABLATIONS:
            raise ProtocolError(f"{path}: ablations: unknown ablation {m!r} (known: {list(ABLATIONS)})")
    P["_path"] = str(path)
    return P


def _family_methods(path: Path, fm: Any) -> dict[str, dict[str, Any]]:
    """Validate ``family_methods`` (name -> {recipe, set, prompts, title}); the recipe must load."""
    if fm is None:
        return {}
    if not isinstance(fm, dict):
        raise ProtocolError(f"{path}: family_methods: expected a mapping NAME -> {{recipe: RECIPE}}, got {fm!r}")
    for name, spec in fm.items():
        key = f"family_methods.{name}"
        if name in MAIN_METHODS or name in ABLATIONS:
            raise ProtocolError(f"{path}: {key}: {name!r} is a built-in method; choose another name")
        if not isinstance(spec, dict) or not isinstance(spec.get("recipe"), str):
            raise ProtocolError(f"{path}: {key}: expected {{recipe: RECIPE, set: [...], prompts: NAME}}, got {spec!r}")
        unknown = sorted(set(spec) - FAMILY_METHOD_KEYS)
        if unknown:
            raise ProtocolError(f"{path}: {key}: unknown keys {unknown} (known: {sorted(FAMILY_METHOD_KEYS)})")
        sets = spec.get("set") or []
        if not isinstance(sets, list) or not all(isinstance(x, str) for x in sets):
            raise ProtocolError(f"{path}: {key}.set: expected a list of key=value overrides, got {sets!r}")
        try:
            cfgmod.load(spec["recipe"], list(sets))
        except cfgmod.ConfigError as exc:
            msg = " ".join(str(exc).split())  # one line: the recipe's own problems, joined
            raise ProtocolError(f"{path}: {key}.recipe: {msg}") from None
    return fm


def _atomic_json(path: Path, obj: Any, indent: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=indent, default=str))
    os.replace(tmp, path)


def _atomic_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def cap_windows(w: Windows, per_group: int | None) -> Windows:
    """At most ``per_group`` windows per (subject, label), evenly spaced in index order (deterministic)."""
    if not per_group:
        return w
    keep = np.zeros(len(w), bool)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, (s, y) in enumerate(zip(w.subjects.tolist(), w.y.tolist())):
        groups.setdefault((s, y), []).append(i)
    for ids in groups.values():
        if len(ids) <= per_group:
            keep[ids] = True
        else:
            keep[np.asarray(ids)[np.linspace(0, len(ids) - 1, per_group).round().astype(int)]] = True
    sel = np.flatnonzero(keep)
    return Windows(w.sources, w.index.subset(keep), [w.x[i] for i in sel], w.y[sel], w.labels, w.subjects[sel])


class Bench:
    def __init__(self, P: dict[str, Any], root: str | Path | None, device: str | None, log: Callable[[str], None]):
        self.P = P
        self.root = root or P.get("data_root") or os.environ.get("IMUDATA_HOME")
        self.dev = torch.device(device or P["run"].get("device") or "cpu")
        self.log = log
        self.out = Path(P.get("out", "runs/bench"))
        self.za = P["zeroshot"]
        self.fb = P["frozen"]
        self.fm: dict[str, dict[str, Any]] = P.get("family_methods") or {}
        self._win: dict[tuple[str, str], Windows] = {}
        self._train_w: Windows | None = None
        self._train_names: list[str] | None = None

    # ------------------------------------------------------------------ data
    def recipe(self, seed: int, extra: list[str] | None = None) -> cfgmod.Recipe:
        sets = list(self.P["run"].get("set") or []) + [f"seed={seed}", f"eval.seed={seed}"] + list(extra or [])
        return cfgmod.load(self.P["run"]["recipe"], sets)

    def target(self, proto: str, ds: str) -> Windows:
        key = (proto, ds)
        if key not in self._win:
            cfg = self.za if proto == "a" else self.fb
            e = entry(cfg["manifest"], self.root, ds)
            r = self.recipe(0)
            split = "test" if getattr(e, "role", "pretrain") == "pretrain" else None
            w = load_windows([e], self.root, split=split, labels=None, stride_frac=r.data.eval_stride_frac,
                             min_window_frac=r.data.min_window_frac, min_label_frac=r.data.min_label_frac)
            caps = cfg.get("cap_per_subject_label") or {}
            w = cap_windows(w, caps.get(ds) if isinstance(caps, dict) else caps)
            self.log(f"[bench] {proto}/{ds}: {len(w)} windows, {len(set(w.subjects.tolist()))} subjects, "
                     f"{len(stats.present_labels(w.y))} labels present")
            self._win[key] = w
        return self._win[key]

    def _training_labels(self) -> tuple[list[Any], list[Any]]:
        """(pretraining entries, training labels): canonical labels with labelled training windows."""
        from ..data import build_index, resolve_sources

        man = load_manifest(self.za["manifest"], self.root)
        ents = entries(man, "pretrain")
        r = self.recipe(0)
        srcs = resolve_sources(ents, self.root)
        idx = build_index(srcs, "train", stride_frac=r.data.stride_frac, min_window_frac=r.data.min_window_frac,
                          min_label_frac=r.data.min_label_frac, labelled_only=True)
        return ents, training_labels(srcs, idx)

    def train_label_names(self) -> list[str]:
        """Names of the training labels (what "seen" means in protocol a), without loading windows."""
        if self._train_names is None:
            self._train_names = [c.name for c in self._training_labels()[1]]
        return self._train_names

    def train_windows(self) -> Windows:
        """Labelled training windows of the pretraining sets (train split, training stride), training labels."""
        if self._train_w is None:
            ents, labels = self._training_labels()
            r = self.recipe(0)
            self._train_w = load_windows(ents, self.root, split="train", labels=labels, stride_frac=r.data.stride_frac,
                                         min_window_frac=r.data.min_window_frac, min_label_frac=r.data.min_label_frac)
        return self._train_w

    # ------------------------------------------------------------------ cells
    def cell_path(self, proto: str, ds: str, method: str, seed: int) -> Path:
        return self.out / "cells" / proto / ds / f"{method}-s{seed}.json"

    def done(self, proto: str, ds: str, method: str, seed: int) -> bool:
        return self.cell_path(proto, ds, method, seed).exists()

    def a_targets(self, method: str) -> list[str]:
        if method in ("ms-text-style", "ms-summed"):
            return ["motionsense"]
        return list(self.za["targets"])

    def b_targets(self, method: str) -> list[str]:
        if method in ("ms-text-style", "ms-summed", "no-stage1", "no-chantext"):
            return []
        return list(self.fb["targets"])

    def pending(self, method: str, seed: int) -> bool:
        a = any(not self.done("a", t, method, seed) for t in self.a_targets(method))
        b = any(not self.done("b", t, method, seed) for t in self.b_targets(method))
        c = any(not self.done(f"c{int(round(f * 100))}", t, method, seed)
                for f in self.fb.get("fractions", []) for t in self.fb.get("few_label_targets", [])
                if t in self.b_targets(method))
        return a or b or c

    def write_cell(self, proto: str, ds: str, method: str, seed: int, w: Windows, row: dict, t0: float,
                   **arrays: np.ndarray) -> None:
        row = dict(method=method, seed=seed, protocol=proto, target=ds, windows=len(w), **row,
                   wall_s=round(time.time() - t0, 1), labels=[c.name for c in w.labels],
                   shards=[str(p) for p in w.shard_paths])
        _atomic_npz(self.cell_path(proto, ds, method, seed).with_suffix(".npz"), y=w.y, subjects=w.subjects,
                    shard=w.index.shard, start=w.index.start, **arrays)
        _atomic_json(self.cell_path(proto, ds, method, seed), row)
        extra = f" acc {row['acc']:.3f} f1 {row['f1']:.3f}" if "acc" in row else ""
        self.log(f"[bench] cell {proto}/{ds}/{method}-s{seed}:{extra} ({row['wall_s']} s)")

    def zero_shot_cell(self, ds: str, method: str, seed: int, w: Windows, S: np.ndarray, train_names: list[str],
                       text: bool, t0: float, extra: dict[str, Any] | None = None) -> None:
        """Protocol (a) scores ``S`` (N, labels of ``w``); non-text methods have -inf for unseen labels."""
        present = stats.present_labels(w.y)
        seen = [k for k, c in enumerate(w.labels) if c.name in set(train_names)]
        allowed = present if text else [k for k in present if k in seen]
        n = len(w.labels)
        row: dict[str, Any] = {"present": present, "seen": seen, "text_side": text, **(extra or {})}
        if allowed:
            pred = stats.closed_set_predict(S, allowed)
            row.update(stats.scores(w.y, pred, n))
        else:
            pred = np.full(len(w), -1, np.int64)
            row.update(acc=0.0, f1=0.0, note="no seen label present: every prediction is wrong")
        pred_card = stats.closed_set_predict(S, range(n)) if text else pred
        if text:
            row["card"] = stats.scores(w.y, pred_card, n)
        sm = np.isin(w.y, seen)
        row["seen_acc"] = float((pred[sm] == w.y[sm]).mean()) if sm.any() else None
        row["novel_acc"] = float((pred[~sm] == w.y[~sm]).mean()) if (~sm).any() else None
        row["seen_windows"], row["novel_windows"] = int(sm.sum()), int((~sm).sum())
        row["chance"] = stats.chance_levels(w.y)
        self.write_cell("a", ds, method, seed, w, row, t0, pred=pred, pred_card=pred_card, scores=S.astype(np.float32))

    def frozen_cells(self, ds: str, method: str, seed: int, w: Windows, X: np.ndarray, t0: float) -> None:
        """Protocols (b) and (c) from the representation ``X`` (N, F) of every window of ``w``."""
        pr = self.P["probe"]
        present = stats.present_labels(w.y)
        to_c = {k: i for i, k in enumerate(present)}
        yc = np.array([to_c[int(v)] for v in w.y])
        folds = subject_folds(w.subjects, int(self.fb.get("folds", 5)), int(self.fb.get("fold_seed", 0)))
        kw = dict(hidden=int(pr["hidden"]), epochs=int(pr["epochs"]), lr=float(pr["lr"]),
                  weight_decay=float(pr["weight_decay"]), batch_size=int(pr.get("batch_size", 0)), seed=seed)
        jobs = [("b", 1.0)] + [(f"c{int(round(f * 100))}", f) for f in self.fb.get("fractions", [])
                               if ds in self.fb.get("few_label_targets", [])]
        for proto, frac in jobs:
            if self.done(proto, ds, method, seed):
                continue
            t1 = time.time() if proto != "b" else t0
            scores_ = np.zeros((len(w), len(present)), np.float32)
            n_train = []
            for tr, te in folds:
                if frac < 1.0:
                    tr = tr[few_label_subset(yc[tr], frac, seed)]
                n_train.append(int(len(tr)))
                scores_[te] = probe.fit_scores(X[tr], yc[tr], X[te], len(present), **kw)
            pred = np.asarray(present)[scores_.argmax(1)]
            row = dict(stats.scores(w.y, pred, len(w.labels)), present=present, folds=len(folds),
                       fold_subjects=[sorted(set(w.subjects[te].tolist())) for _, te in folds],
                       train_windows_per_fold=n_train, fraction=frac, chance=stats.chance_levels(w.y))
            self.write_cell(proto, ds, method, seed, w, row, t1, pred=pred, scores=scores_)

    # ------------------------------------------------------------------ training
    def run_dir(self, method: str, seed: int) -> Path:
        return self.out / "runs" / f"{method}-s{seed}"

    def _stage(self, stage: str, recipe: cfgmod.Recipe, run: Path) -> None:
        from ..train import train

        if (run / stage / "model.safetensors").exists():
            return
        resume = (run / stage / "checkpoints").exists()
        t0 = time.time()
        # the random-weights control and the no-stage-1 ablation align from a random initialisation on purpose
        scratch = stage == "align" and not (run / "pretrain" / "model.safetensors").exists()
        train(stage, self.za["manifest"], recipe, run, root=self.root, resume=resume, device=str(self.dev),
              from_scratch=scratch, progress=False, log=self.log)
        (run / stage / "wall_s.txt").write_text(f"{time.time() - t0:.1f}\n")

    def trained(self, method: str, seed: int):
        """Train (or find) the model of ``method`` for ``seed``; returns (model, recipe, tenc, extra)."""
        run = self.run_dir(method, seed)
        if method in ("tsfm", "no-chantext"):
            extra = ["model.channel_encoding=false", "model.channel_fusion=false"] if method == "no-chantext" else []
            r = self.recipe(seed, extra)
            self._stage("pretrain", r, run)
            self._stage("align", r, run)
        elif method in ("random", "no-stage1"):
            r = self.recipe(seed)
            if method == "random":
                r = self.recipe(seed, [f"align.freeze_encoder_steps={r.align.steps}"])
            self._stage("align", r, run)
        elif method == "sup-ce":
            from .supervised import load_ce, train_ce

            r = self.recipe(seed)
            base = self.run_dir("tsfm", seed)
            self._stage("pretrain", r, base)
            if not (run / "model.safetensors").exists():
                train_ce(self.za["manifest"], r, base, run, root=self.root, device=str(self.dev), log=self.log)
            model, W, names = load_ce(run, r, str(self.dev))
            return model, r, text_encoder(r, base), {"W": W, "train_names": names}
        else:
            raise ValueError(method)
        model, r2, _ = load_model(run, "align", str(self.dev))
        return model, r2, text_encoder(r2, run), {"train_names": read_run_info(run).get("labels", [])}

    # ------------------------------------------------------------------ methods
    def run_neural(self, method: str, seed: int, weights_of: str | None = None, transform: str | None = None) -> None:
        if not self.pending(method, seed):
            return
        model, r, tenc, extra = self.trained(weights_of or method, seed)
        text = (weights_of or method) in TEXT_METHODS
        for ds in self.a_targets(method):
            if self.done("a", ds, method, seed):
                continue
            t0 = time.time()
            w = self.target("a", ds)
            E = encode.embed(model, tenc, w, r, self.dev, transform=transform)
            if text:
                L = encode.label_embeddings(model, tenc, w.labels, self.dev, r.eval.prompt_ensemble)
                S = E @ L.T
            else:
                S = self._to_target(E @ extra["W"].T, extra["train_names"], w)
            self.zero_shot_cell(ds, method, seed, w, S, extra["train_names"], text, t0)
        for ds in self.b_targets(method):
            t0 = time.time()
            w = self.target("b", ds)
            if all(self.done(p, ds, method, seed) for p in self._frozen_protos(ds)):
                continue
            self.frozen_cells(ds, method, seed, w, encode.embed(model, tenc, w, r, self.dev), t0)

    def _frozen_protos(self, ds: str) -> list[str]:
        return ["b"] + ([f"c{int(round(f * 100))}" for f in self.fb.get("fractions", [])]
                        if ds in self.fb.get("few_label_targets", []) else [])

    @staticmethod
    def _to_target(S_train: np.ndarray, train_names: list[str], w: Windows) -> np.ndarray:
        """Scores over training labels -> scores over the target's labels (by canonical name; -inf if unseen)."""
        pos = {n: i for i, n in enumerate(train_names)}
        S = np.full((len(S_train), len(w.labels)), -np.inf, np.float32)
        for k, c in enumerate(w.labels):
            if c.name in pos:
                S[:, k] = S_train[:, pos[c.name]]
        return S

    def run_family(self, method: str, seed: int) -> None:
        """A ``family_methods`` entry: train every stage of its family from its recipe (seed ``s`` as
        ``seed`` and ``eval.seed``), then (a) zero-shot by the family's text tower over the target's
        labels and (b) / (c) the probes on its frozen window embedding."""
        if not self.pending(method, seed):
            return
        spec = self.fm[method]
        r = cfgmod.load(spec["recipe"], list(spec.get("set") or []) + [f"seed={seed}", f"eval.seed={seed}"])
        fam = families.get(r.family)
        run = self.run_dir(method, seed)
        for stage in fam.stages:
            self._stage(stage, r, run)
        model, r, _ = load_model(run, None, str(self.dev))
        tenc = text_encoder(r, run)
        for ds in self.a_targets(method):
            if self.done("a", ds, method, seed):
                continue
            t0 = time.time()
            w = self.target("a", ds)
            E = self._family_embed(fam, model, tenc, r, w)
            sets = self._family_prompts(fam, model, tenc, r, w)
            main = spec.get("prompts") or "labels"
            if main not in sets:
                raise ProtocolError(f"{self.P['_path']}: family_methods.{method}.prompts: {main!r} is not a prompt set "
                                    f"of family {fam.name} (has {sorted(sets)})")
            present = stats.present_labels(w.y)
            others = {k: stats.scores(w.y, stats.closed_set_predict(fam.score(E, L), present), len(w.labels))
                      for k, L in sets.items() if k != main}
            self.zero_shot_cell(ds, method, seed, w, fam.score(E, sets[main]), self.train_label_names(), True, t0,
                                extra={"family": fam.name, "recipe": r.name, "prompts": main, "other_prompts": others})
        for ds in self.b_targets(method):
            t0 = time.time()
            w = self.target("b", ds)
            if all(self.done(p, ds, method, seed) for p in self._frozen_protos(ds)):
                continue
            self.frozen_cells(ds, method, seed, w, self._family_embed(fam, model, tenc, r, w), t0)

    def _family_embed(self, fam, model, tenc, r: cfgmod.Recipe, w: Windows) -> np.ndarray:
        """The family's window embeddings of ``w`` (read from the shards by the same index)."""
        return fam.embed_windows(model, w.index, w.sources, build_text(tenc, w.sources), r, self.dev)

    def _family_prompts(self, fam, model, tenc, r: cfgmod.Recipe, w: Windows) -> dict[str, np.ndarray]:
        """Label-text embeddings of ``w``'s labels per prompt set: ``labels`` (the canonical texts, the
        recipe's template ensemble) and the family's own ``prompt_sets`` where it has them."""
        texts = [c.text for c in w.labels]
        out = {"labels": fam.embed_texts(model, tenc, texts, self.dev, r.eval.prompt_ensemble)}
        if hasattr(fam, "prompt_sets"):
            window_s = r.data.window_s or w.sources[0].window_s
            for k, prompts in fam.prompt_sets(texts, window_s).items():
                out[k] = fam.embed_texts(model, tenc, prompts, self.dev, False)
        return out

    def run_features(self, seed: int) -> None:
        method = "feat-lr"
        if not self.pending(method, seed):
            return
        fl = self.P["feat_lr"]
        tw = self.train_windows()
        t_train = time.time()
        Xtr = features.features(tw)
        names = [c.name for c in tw.labels]
        feat_s = time.time() - t_train
        for ds in self.a_targets(method):
            if self.done("a", ds, method, seed):
                continue
            t0 = time.time() - feat_s
            w = self.target("a", ds)
            S_train = probe.fit_scores(Xtr, tw.y, features.features(w), len(names), hidden=0, epochs=int(fl["epochs"]),
                                       lr=float(fl["lr"]), weight_decay=float(fl["weight_decay"]), seed=seed)
            self.zero_shot_cell(ds, method, seed, w, self._to_target(S_train, names, w), names, False, t0)
        for ds in self.b_targets(method):
            if all(self.done(p, ds, method, seed) for p in self._frozen_protos(ds)):
                continue
            t0 = time.time()
            w = self.target("b", ds)
            self.frozen_cells(ds, method, seed, w, features.features(w), t0)

    def run(self) -> None:
        seeds = [int(s) for s in self.P["run"]["seeds"]]
        for seed in seeds:
            for m in self.P.get("methods", MAIN_METHODS):
                self.log(f"[bench] === {m} seed {seed} ===")
                if m in self.fm:
                    self.run_family(m, seed)
                else:
                    self.run_features(seed) if m == "feat-lr" else self.run_neural(m, seed)
        for m in self.P.get("ablations", []) or []:      # cheap evaluation-time ablations first
            for seed in seeds:
                self.log(f"[bench] === ablation {m} seed {seed} ===")
                if m in ("ms-text-style", "ms-summed"):
                    self.run_neural(m, seed, weights_of="tsfm", transform=m)
                else:
                    self.run_neural(m, seed)


def run_bench(protocol: str | Path, *, scale: str | None = None, root=None, device: str | None = None,
              report_only: bool = False, log: Callable[[str], None] = print) -> Path:
    from . import report

    P = load_protocol(protocol, scale)
    threads = provenance.set_threads(int(P.get("threads") or 0) or None)
    bench = Bench(P, root, device, log)
    log(f"[bench] {P['_path']} scale {P['scale']}: recipe {P['run']['recipe']}, seeds {P['run']['seeds']}, "
        f"threads {threads}, device {bench.dev}, data {bench.root}")
    if not report_only:
        t0 = time.time()
        bench.run()
        log(f"[bench] all cells done in {time.time() - t0:.0f} s")
    return report.write(bench)


def remove_partial(path: Path) -> None:
    """Delete a folder the bench owns (used by tests and by a deliberate restart)."""
    if path.exists():
        shutil.rmtree(path)
