"""The SlotFM HAR-table protocol (``results/slotfm-har.md``): frozen backbones + heads over
subject-disjoint folds on 2-s windows, SlotFM beside TSFM and the harness baselines.

``python -m imutrain.bench.slotfm_har results/slotfm-har.yaml [--report-only]``

Reuses the harness: windows (``bench.data.load_windows`` + ``runner.cap_windows``), folds
(``subject_folds``), the MLP probe, features, the supervised baseline, and ``stats`` (scores,
chance, subject bootstrap, verdict). Layout under the protocol's ``out``::

    runs/<method>-s<seed>/        pretraining run folders (imutrain run folders)
    reps/<target>/<method>.npz    frozen representations of the target's windows
    cells/<target>/<row>.json     per-fold and pooled scores, per head seed (+ .npz predictions)

Existing run folders, representations and cells are reused, so a cut-off run resumes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import config as cfgmod
from .. import provenance
from . import features, probe, stats
from .data import Windows, entry, load_windows, subject_folds
from .runner import ProtocolError, _atomic_json, _atomic_npz, cap_windows, read_protocol

KEYS = {"name", "out", "report", "threads", "pretrain_manifest", "frozen_manifest", "targets", "cap_per_subject_label",
        "folds", "fold_seed", "head_seeds", "rate_hz", "probe", "bootstrap", "slotfm_recipe", "tsfm_recipe",
        "pretrain_seed", "methods", "ablations", "optional_methods"}
REQUIRED = ("out", "report", "pretrain_manifest", "frozen_manifest", "targets", "head_seeds", "probe",
            "slotfm_recipe", "tsfm_recipe")
METHODS = ("slotfm", "slotfm-untrained", "tsfm", "feat", "feat-acc", "sup-ce", "random")
ABLATIONS = ("no-bands", "no-reg", "mean-pool", "resampled-init")
PAPER = {"uschad": 60.1, "motionsense": 85.5, "daphnet": 57.7}   # seed 001 Table 3, macro-F1 %


def load_protocol(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    P = read_protocol(path, KEYS)
    for k in REQUIRED:
        if k not in P:
            raise ProtocolError(f"{path}: key {k!r} missing")
    for m in list(P.get("methods") or []) + list(P.get("optional_methods") or []):
        if m not in METHODS:
            raise ProtocolError(f"{path}: methods: unknown method {m!r} (known: {list(METHODS)})")
    for a in P.get("ablations") or {}:
        if a not in ABLATIONS:
            raise ProtocolError(f"{path}: ablations: unknown ablation {a!r} (known: {list(ABLATIONS)})")
    P["_path"] = str(path)
    return P


# ---------------------------------------------------------------------------------------- heads
def fit_slot_head(s: np.ndarray, y: np.ndarray, s_test: np.ndarray, n_cls: int, *, heads: int, hidden: int,
                  epochs: int, lr: float, weight_decay: float, batch_size: int, seed: int) -> np.ndarray:
    """The paper's downstream head on frozen slots (N, K, D): standardised slots (training
    statistics per slot dimension), self-attention over slots, flatten, MLP; AdamW, seeded
    mini-batches, fixed epochs. Returns class scores for ``s_test``."""
    from ..families.slotfm.model import SlotHead

    if len(s) == 0:
        raise ValueError("no training windows for the slot head")
    mu, sd = s.mean(0), s.std(0) + 1e-6
    X = torch.from_numpy((s - mu) / sd).float()
    Xt = torch.from_numpy((s_test - mu) / sd).float()
    Y = torch.from_numpy(np.asarray(y, np.int64))
    torch.manual_seed(seed)
    net = SlotHead(s.shape[1], s.shape[2], heads, hidden, n_cls)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for ids in torch.randperm(len(X), generator=g).split(batch_size or len(X)):
            opt.zero_grad()
            F.cross_entropy(net(X[ids]), Y[ids]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return net(Xt).numpy()


# ---------------------------------------------------------------------------------------- bench
class HarBench:
    def __init__(self, P: dict[str, Any], root: str | Path | None, log: Callable[[str], None] = print) -> None:
        self.P, self.log = P, log
        self.root = root or os.environ.get("IMUDATA_HOME")
        self.out = Path(P["out"])
        self.dev = torch.device("cpu")
        self._win: dict[str, Windows] = {}
        self._window_s: dict[str, float] = {}
        self.wall: dict[str, float] = {}

    # -------------------------------------------------------------------- data
    def windows(self, ds: str) -> Windows:
        if ds not in self._win:
            r = cfgmod.load(self.P["tsfm_recipe"])       # the harness's window rules (as runner.Bench.target)
            e = entry(self.P["frozen_manifest"], self.root, ds)
            w = load_windows([e], self.root, split=None, labels=None, stride_frac=r.data.eval_stride_frac,
                             min_window_frac=r.data.min_window_frac, min_label_frac=r.data.min_label_frac)
            w = cap_windows(w, (self.P.get("cap_per_subject_label") or {}).get(ds))
            self._window_s[ds] = float(e.window_s)
            self.log(f"[slotfm-har] {ds}: {len(w)} windows, {len(set(w.subjects.tolist()))} subjects, "
                     f"{len(stats.present_labels(w.y))} labels")
            self._win[ds] = w
        return self._win[ds]

    def acc50(self, ds: str, cfg) -> np.ndarray:
        """(N, T, 3) accelerometer triads of the target's windows at ``cfg.rate_hz``."""
        from ..families.slotfm import window_samples

        w = self.windows(ds)
        srcs = [w.sources[int(s)] for s in w.index.source]
        T = int(round(self._window_s[ds] * cfg.rate_hz))
        return window_samples(w.x, [s.channels for s in srcs], [s.rate for s in srcs], cfg, T)

    # -------------------------------------------------------------------- training
    def run_dir(self, method: str) -> Path:
        return self.out / "runs" / f"{method}-s{int(self.P.get('pretrain_seed', 0))}"

    def _train(self, stage: str, recipe: cfgmod.Recipe, run: Path, **kw) -> None:
        from ..train import train

        if (run / stage / "model.safetensors").exists():
            return
        t0 = time.time()
        train(stage, self.P["pretrain_manifest"], recipe, run, root=self.root, resume=(run / stage / "checkpoints").exists(),
              device="cpu", progress=False, log=self.log, **kw)
        (run / stage / "wall_s.txt").write_text(f"{time.time() - t0:.1f}\n")

    def slotfm_recipe(self, method: str) -> cfgmod.Recipe:
        sets = [f"seed={int(self.P.get('pretrain_seed', 0))}"]
        if method in ABLATIONS:
            sets += list((self.P.get("ablations") or {})[method])
        return cfgmod.load(self.P["slotfm_recipe"], sets)

    def slotfm_model(self, method: str):
        from .. import checkpoint
        from ..families import get

        fam = get("slotfm")
        if method == "slotfm-untrained":
            r = self.slotfm_recipe("slotfm")
            torch.manual_seed(r.seed)
            return fam.build(r), r
        run = self.run_dir(method)
        r = self.slotfm_recipe(method)
        self._train("pretrain", r, run)
        r = cfgmod.load(run / "config.yaml")
        m = fam.build(r)
        m.load_state_dict(checkpoint.load_weights(run / "pretrain" / "model.safetensors"))
        return m, r

    def tsfm_like(self, method: str):
        """(model, recipe, text encoder, embed dim) of tsfm / sup-ce / random (trained if missing)."""
        from ..run import load_model, text_encoder

        seed = int(self.P.get("pretrain_seed", 0))
        r = cfgmod.load(self.P["tsfm_recipe"], [f"seed={seed}", f"eval.seed={seed}"])
        base = self.run_dir("tsfm")
        if method == "tsfm":
            self._train("pretrain", r, base)
            self._train("align", r, base)
        elif method == "sup-ce":
            from .supervised import load_ce, train_ce

            self._train("pretrain", r, base)
            run = self.run_dir("sup-ce")
            if not (run / "model.safetensors").exists():
                train_ce(self.P["pretrain_manifest"], r, base, run, root=self.root, log=self.log)
            model, _W, _names = load_ce(run, r)
            return model, r, text_encoder(r, base)
        elif method == "random":
            run = self.run_dir("random")
            rr = cfgmod.load(self.P["tsfm_recipe"], [f"seed={seed}", f"eval.seed={seed}",
                                                     f"align.freeze_encoder_steps={r.align.steps}"])
            self._train("align", rr, run, from_scratch=True)
            base = run
        model, r2, _ = load_model(base, "align", "cpu")
        return model, r2, text_encoder(r2, base)

    # -------------------------------------------------------------------- representations
    def rep(self, ds: str, method: str) -> np.ndarray:
        """Frozen representation of every window of ``ds``: slots (N, K, D) for SlotFM variants,
        (N, F) otherwise; cached under reps/."""
        path = self.out / "reps" / ds / f"{method}.npz"
        if path.exists():
            return np.load(path)["x"]
        t0 = time.time()
        w = self.windows(ds)
        if method.startswith("slotfm") or method in ABLATIONS:
            from ..families.slotfm import embed_slots

            model, r = self.slotfm_model(method)
            x = embed_slots(model, self.acc50(ds, r.slotfm), self.dev, seed=0)
        elif method in ("tsfm", "sup-ce", "random"):
            from . import encode

            model, r, tenc = self.tsfm_like(method)
            x = encode.embed(model, tenc, w, r, self.dev)
        elif method == "feat":
            x = features.features(w)
        elif method == "feat-acc":
            from ..families.slotfm.inputs import accel_triad

            srcs = [w.sources[int(s)] for s in w.index.source]
            x = np.stack([np.asarray(features.placement_features(accel_triad(xi, s.channels), None, s.rate), np.float32)
                          for xi, s in zip(w.x, srcs)])
        else:
            raise ValueError(f"unknown method {method!r}")
        _atomic_npz(path, x=np.asarray(x, np.float32))
        self.wall[f"rep/{ds}/{method}"] = round(time.time() - t0, 1)
        return np.asarray(x, np.float32)

    # -------------------------------------------------------------------- cells
    def cell_path(self, ds: str, row: str) -> Path:
        return self.out / "cells" / ds / f"{row}.json"

    def cell(self, ds: str, row: str, method: str, head: str) -> None:
        """Out-of-fold predictions of ``head`` (slot | mlp) on ``method``'s representation, per head seed."""
        if self.cell_path(ds, row).exists():
            return
        t0 = time.time()
        X = self.rep(ds, method)
        w = self.windows(ds)
        present = stats.present_labels(w.y)
        to_c = {k: i for i, k in enumerate(present)}
        yc = np.array([to_c[int(v)] for v in w.y])
        folds = subject_folds(w.subjects, int(self.P.get("folds", 5)), int(self.P.get("fold_seed", 0)))
        pr = self.P["probe"]
        kw = dict(epochs=int(pr["epochs"]), lr=float(pr["lr"]), weight_decay=float(pr["weight_decay"]),
                  batch_size=int(pr.get("batch_size", 0)))
        preds, per_fold = [], []
        for seed in self.P["head_seeds"]:
            scores_ = np.zeros((len(w), len(present)), np.float32)
            for tr, te in folds:
                if head == "slot":
                    cfg = self.slotfm_recipe("slotfm").slotfm
                    scores_[te] = fit_slot_head(X[tr], yc[tr], X[te], len(present), heads=cfg.head_heads,
                                                hidden=cfg.head_hidden, seed=int(seed), **kw)
                else:
                    Xf = X.reshape(len(X), -1)
                    scores_[te] = probe.fit_scores(Xf[tr], yc[tr], Xf[te], len(present), hidden=int(pr["hidden"]),
                                                   seed=int(seed), **kw)
            pred = np.asarray(present)[scores_.argmax(1)]
            preds.append(pred)
            per_fold.append([stats.scores(w.y[te], pred[te], len(w.labels)) for _tr, te in folds])
        f1 = np.array([[f["f1"] for f in pf] for pf in per_fold])      # (seeds, folds)
        acc = np.array([[f["acc"] for f in pf] for pf in per_fold])
        bs = self.P.get("bootstrap") or {}
        boot = stats.bootstrap_seed_mean(w.y, preds, w.subjects, len(w.labels), int(bs.get("resamples", 1000)),
                                         int(bs.get("seed", 0)))
        row_ = {"row": row, "method": method, "head": head, "target": ds, "windows": len(w),
                "subjects": len(set(w.subjects.tolist())), "labels": [c.name for c in w.labels], "present": present,
                "folds": len(folds), "fold_subjects": [sorted(set(w.subjects[te].tolist())) for _, te in folds],
                "head_seeds": list(self.P["head_seeds"]),
                "fold_f1": f1.tolist(), "fold_acc": acc.tolist(),
                "f1_folds_mean": float(f1.mean(0).mean()), "f1_folds_sd": float(f1.mean(0).std(ddof=1)) if len(folds) > 1 else 0.0,
                "acc_folds_mean": float(acc.mean(0).mean()), "pooled": boot, "chance": stats.chance_levels(w.y),
                "rep_dim": list(X.shape[1:]), "wall_s": round(time.time() - t0, 1)}
        _atomic_npz(self.cell_path(ds, row).with_suffix(".npz"), y=w.y, subjects=w.subjects, pred=np.stack(preds))
        _atomic_json(self.cell_path(ds, row), row_)
        self.log(f"[slotfm-har] {ds}/{row}: macro-F1 {100 * row_['f1_folds_mean']:.1f} ± {100 * row_['f1_folds_sd']:.1f} "
                 f"over folds; pooled {100 * boot['f1']['mean']:.1f} [{100 * boot['f1']['lo']:.1f}, "
                 f"{100 * boot['f1']['hi']:.1f}] ({row_['wall_s']} s)")

    def rows(self) -> list[tuple[str, str, str]]:
        """(row, method, head) in run order: main methods, then ablations, then optional methods."""
        out = []
        for m in self.P.get("methods") or []:
            if m == "slotfm":
                out += [("slotfm", "slotfm", "slot"), ("slotfm+mlp", "slotfm", "mlp")]
            elif m == "slotfm-untrained":
                out.append((m, m, "slot"))
            else:
                out.append((m, m, "mlp"))
        out += [(a, a, "slot") for a in self.P.get("ablations") or {}]
        out += [(m, m, "mlp") for m in self.P.get("optional_methods") or []]
        return out

    def run(self, only: list[str] | None = None) -> None:
        for row, method, head in self.rows():
            if only and row not in only:
                continue
            for ds in self.P["targets"]:
                self.cell(ds, row, method, head)


# ---------------------------------------------------------------------------------------- report
def _pct(v: float | None) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def pretrain_summary(bench: HarBench) -> dict[str, Any]:
    """Steps, final train loss, last validation loss and wall time of every run folder."""
    out: dict[str, Any] = {}
    runs = bench.out / "runs"
    for run in sorted(runs.glob("*")) if runs.exists() else []:
        if not run.is_dir():
            continue
        info: dict[str, Any] = {}
        for stage in ("pretrain", "align"):
            mf = run / stage / "metrics.jsonl"
            if not mf.exists():
                continue
            rows = [json.loads(x) for x in mf.read_text().splitlines() if x.strip()]
            tr = [r for r in rows if r.get("split") == "train"]
            va = [r for r in rows if r.get("split") == "val"]
            info[stage] = {"steps": tr[-1]["step"] if tr else 0, "first_loss": tr[0]["loss"] if tr else None,
                           "final_loss": tr[-1]["loss"] if tr else None, "val": va[-1] if va else None,
                           "done": (run / stage / "model.safetensors").exists(),
                           "time_s": rows[-1].get("time") if rows else None}
        if (run / "labels.json").exists():
            lj = json.loads((run / "labels.json").read_text())
            info["sup-ce"] = {"steps": lj.get("steps"), "final_loss": lj.get("final_loss"), "wall_s": lj.get("wall_s")}
        out[run.name] = info
    return out


def write_report(bench: HarBench) -> Path:
    P = bench.P
    cells: dict[str, dict[str, Any]] = {}
    for ds in P["targets"]:
        for row, _m, _h in bench.rows():
            p = bench.cell_path(ds, row)
            if p.exists():
                cells.setdefault(ds, {})[row] = json.loads(p.read_text())
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    doc = {"protocol": P["_path"], "git_commit": commit, "threads": torch.get_num_threads(), "data_root": str(bench.root),
           "provenance": provenance.collect([], torch.device("cpu")), "pretraining": pretrain_summary(bench),
           "cells": cells, "paper_macro_f1": PAPER,
           "not_run": [f"{ds}/{row}" for ds in P["targets"] for row, _m, _h in bench.rows() if row not in cells.get(ds, {})]}
    rep = Path(P["report"])
    _atomic_json(rep.with_suffix(".json"), doc)
    md = rep.with_suffix(".md")
    text = md.read_text() if md.exists() else "# SlotFM HAR table\n"
    text = text.split("\n## Results")[0].rstrip() + "\n\n" + results_markdown(bench, doc) + "\n"
    tmp = md.with_name(f".{md.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, md)
    return md


def results_markdown(bench: HarBench, doc: dict[str, Any]) -> str:
    P = bench.P
    names = {"uschad": "USC-HAD", "motionsense": "MotionSense", "daphnet": "Daphnet FoG"}
    lines = ["## Results", "",
             "Generated by `python -m imutrain.bench.slotfm_har results/slotfm-har.yaml` from the cells under "
             f"`{P['out']}/cells` (numbers: macro-F1 in %). *Folds*: per-fold macro-F1 averaged over head seeds "
             f"{P['head_seeds']}, mean ± sd over folds. *Pooled*: out-of-fold predictions of all subjects, seed mean, "
             "[95 % subject-bootstrap interval]. *vs slotfm*: win / tie / loss of SlotFM (slot head) against the row "
             "by interval overlap.", ""]
    for ds in P["targets"]:
        cs = doc["cells"].get(ds, {})
        if not cs:
            lines += [f"### {names.get(ds, ds)}", "", "not run", ""]
            continue
        any_c = next(iter(cs.values()))
        ch = any_c["chance"]
        lines += [f"### {names.get(ds, ds)} ({any_c['windows']} windows, {any_c['subjects']} subjects, "
                  f"{len(any_c['present'])} classes, {any_c['folds']} folds; paper SlotFM {PAPER.get(ds, 'n/a')})", "",
                  "| row | head | macro-F1 folds | pooled macro-F1 [95 %] | accuracy (folds) | vs slotfm |",
                  "|---|---|---|---|---|---|"]
        ref = cs.get("slotfm")
        for row, _m, head in bench.rows():
            c = cs.get(row)
            if c is None:
                lines.append(f"| {row} | {head} | not run | | | |")
                continue
            b = c["pooled"]["f1"]
            v = "" if ref is None or row == "slotfm" else \
                stats.verdict(ref["pooled"]["f1"]["lo"], ref["pooled"]["f1"]["hi"], b["lo"], b["hi"])
            lines.append(f"| {row} | {head} | {_pct(c['f1_folds_mean'])} ± {_pct(c['f1_folds_sd'])} | "
                         f"{_pct(b['mean'])} [{_pct(b['lo'])}, {_pct(b['hi'])}] | {_pct(c['acc_folds_mean'])} | {v} |")
        lines += [f"| chance | | uniform {_pct(ch['f1_uniform'])}, majority {_pct(ch['f1_majority'])} | | "
                  f"uniform {_pct(ch['acc_uniform'])}, majority {_pct(ch['acc_majority'])} | |", ""]
    lines += ["### Pretraining runs", "", "| run | stage | steps | first → final train loss (logged every 10 steps) | "
              "last validation | seconds |",
              "|---|---|---|---|---|---|"]
    for run, info in doc["pretraining"].items():
        for stage, s in info.items():
            if stage == "sup-ce":
                lines.append(f"| {run} | sup-ce | {s['steps']} | → {s['final_loss']:.3f} | | {s['wall_s']} |")
                continue
            val = s["val"] or {}
            key = next((k for k in ("loss", "recon", "f1") if k in val), None)
            vl = f"{key} {val[key]:.3f}" if key else None
            fl = f"{s['first_loss']:.2f} → {s['final_loss']:.2f}" if s["final_loss"] is not None else ""
            lines.append(f"| {run} | {stage} | {s['steps']} | {fl} | {vl or ''} | "
                         f"{'' if s['time_s'] is None else round(s['time_s'])} |")
    if doc["not_run"]:
        lines += ["", "Cells not run: " + ", ".join(doc["not_run"]) + "."]
    lines += ["", f"Provenance: git {doc['git_commit'][:10]}, torch threads {doc['threads']}, data {doc['data_root']}; "
              "full per-fold numbers, fold subjects and bootstrap draws' percentiles in `results/slotfm-har.json`."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="SlotFM HAR-table protocol (results/slotfm-har.md)")
    ap.add_argument("protocol")
    ap.add_argument("--root", default=None, help="imudata data root (default: $IMUDATA_HOME)")
    ap.add_argument("--only", nargs="*", default=None, help="rows to run (default: every row of the protocol)")
    ap.add_argument("--report-only", action="store_true")
    a = ap.parse_args(argv)
    P = load_protocol(a.protocol)
    threads = provenance.set_threads(int(P.get("threads") or 0) or None)
    bench = HarBench(P, a.root, lambda m: print(m, flush=True))
    print(f"[slotfm-har] {P['_path']}: threads {threads}, data {bench.root}", flush=True)
    if not a.report_only:
        bench.run(a.only)
    print(f"[slotfm-har] wrote {write_report(bench)}", flush=True)


if __name__ == "__main__":
    main()
