"""Tables of the low-label protocol (docs/llm-lora-protocol.md) from whatever cells exist.

Per target and budget: every method's seed-mean macro-F1 and accuracy with the subject-bootstrap
95% interval (``stats.bootstrap_seed_mean``, the same resamples for every method), chance levels,
trainable parameters; the paired difference llm-pretrained minus each other method, bootstrapped
over the same subject resamples, with its verdict (interval above 0 = win, below = loss, else
tie); the validation macro-F1 curves of llm-pretrained and llm-random. A (target, budget, method)
with fewer seeds than the protocol is listed as incomplete and left out of the verdicts.
Writes ``<out>/tables.md`` and ``<out>/tables.json`` (each through a temporary name).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import stats

MAIN = "llm-pretrained"


def paired_difference(y: np.ndarray, preds_a: list[np.ndarray], preds_b: list[np.ndarray], subjects: np.ndarray,
                      n_classes: int, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Seed-mean macro-F1 of A minus that of B, with a subject-level bootstrap 95% interval: each
    resample draws the subjects with replacement (generator ``seed``, so the draws equal those of
    ``stats.bootstrap_seed_mean``) and recomputes both seed means on the drawn windows."""
    subjects = np.asarray(subjects).astype(str)
    uniq = sorted(set(subjects.tolist()), key=lambda s: (len(s), s))

    def per_subject(preds):
        per = np.zeros((len(preds), len(uniq), n_classes, n_classes), np.int64)
        for j, s in enumerate(uniq):
            m = subjects == s
            for i, p in enumerate(preds):
                per[i, j] = stats.confusion(y[m], np.asarray(p)[m], n_classes)
        return per

    pa, pb = per_subject(preds_a), per_subject(preds_b)

    def f1_mean(per, w):
        return float(np.mean([stats.acc_f1(np.tensordot(w, per[i], axes=1))[1] for i in range(len(per))]))

    ones = np.ones(len(uniq), np.int64)
    point = f1_mean(pa, ones) - f1_mean(pb, ones)
    rng = np.random.default_rng(seed)
    d = np.zeros(n_boot)
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))
        d[b] = f1_mean(pa, w) - f1_mean(pb, w)
    lo, hi = float(np.nanpercentile(d, 2.5)), float(np.nanpercentile(d, 97.5))
    return {"diff": point, "lo": lo, "hi": hi, "verdict": "win" if lo > 0 else "loss" if hi < 0 else "tie"}


def _load(out: Path, target: str, bname: str, method: str, seeds: list[int]) -> list[tuple[dict, dict]] | None:
    cells = []
    for s in seeds:
        j = out / target / bname / f"{method}-s{s}.json"
        if not j.exists():
            return None
        with np.load(j.with_suffix(".npz")) as z:
            arr = {k: z[k] for k in z.files}
        cells.append((json.loads(j.read_text()), arr))
    return cells


def collect(P: dict[str, Any], out: Path) -> dict[str, Any]:
    from .lowdata import budget_name

    out = Path(out)
    seeds = list(P["seeds"])
    res: dict[str, Any] = {"protocol": P.get("_path"), "seeds": seeds, "cells": {}, "not_run": []}
    for budget in P["budgets"]:
        bname = budget_name(budget)
        for target in P["targets"]:
            entry: dict[str, Any] = {"methods": {}}
            loaded = {}
            for method in P["methods"]:
                cells = _load(out, target, bname, method, seeds)
                if cells is None:
                    done = sum((out / target / bname / f"{method}-s{s}.json").exists() for s in seeds)
                    res["not_run"].append(f"{target} {budget} {method} ({done}/{len(seeds)} seeds)")
                    continue
                loaded[method] = cells
                y, subj = cells[0][1]["y"], cells[0][1]["subject"]
                n_cls = int(max(max(c[1]["y"].max(), c[1]["pred"].max()) for c in cells)) + 1
                b = stats.bootstrap_seed_mean(y, [c[1]["pred"] for c in cells], subj, n_cls)
                meta = cells[0][0]
                entry["methods"][method] = {"f1": b["f1"], "acc": b["acc"], "parameters": meta.get("parameters"),
                                            "train_windows": [c[0]["train_windows"] for c in cells],
                                            "wall_s": [c[0]["wall_s"] for c in cells],
                                            "curve": _mean_curve([c[0].get("curve") or [] for c in cells])}
                entry.update(n_subjects=b["n_subjects"], n_windows=b["n_windows"], chance=stats.chance_levels(y))
            if MAIN in loaded:
                a = loaded[MAIN]
                y, subj = a[0][1]["y"], a[0][1]["subject"]
                entry["vs"] = {}
                for method, cells in loaded.items():
                    if method == MAIN:
                        continue
                    n_cls = int(max(max(c[1]["y"].max(), c[1]["pred"].max()) for c in a + cells)) + 1
                    entry["vs"][method] = paired_difference(y, [c[1]["pred"] for c in a], [c[1]["pred"] for c in cells],
                                                            subj, n_cls)
            if entry["methods"]:
                res["cells"].setdefault(str(budget), {})[target] = entry
    return res


def _mean_curve(curves: list[list[dict]]) -> list[dict]:
    steps = sorted({c["step"] for cur in curves for c in cur})
    out = []
    for s in steps:
        v = [c["f1"] for cur in curves for c in cur if c["step"] == s]
        out.append({"step": s, "f1": float(np.mean(v)), "n": len(v)})
    return out


def _fmt(m: dict) -> str:
    return f"{100 * m['mean']:.1f} [{100 * m['lo']:.1f}, {100 * m['hi']:.1f}]"


def markdown(P: dict[str, Any], res: dict[str, Any]) -> str:
    methods = list(P["methods"])
    L = ["<!-- written by python -m imutrain.bench.lowdata --report; do not edit -->", ""]
    for budget, per_target in res["cells"].items():
        L += [f"### Budget {budget}" + (" per class" if not str(budget).endswith("%") else " of the training pool"), "",
              "Test macro-F1 (%), seed mean [subject-bootstrap 95% interval]; chance = uniform / majority macro-F1.", "",
              "| target | subjects / windows | " + " | ".join(methods) + " | chance |",
              "|---|---|" + "---|" * len(methods) + "---|"]
        for target, e in per_target.items():
            cells = [(_fmt(e["methods"][m]["f1"]) if m in e["methods"] else "not run") for m in methods]
            ch = e.get("chance", {})
            L.append(f"| {target} | {e.get('n_subjects')} / {e.get('n_windows')} | " + " | ".join(cells)
                     + f" | {100 * ch.get('f1_uniform', float('nan')):.1f} / {100 * ch.get('f1_majority', float('nan')):.1f} |")
        L += ["", f"{MAIN} minus each method, paired seed-mean macro-F1 difference (points) [95% interval] verdict:", "",
              "| target | " + " | ".join(m for m in methods if m != MAIN) + " |", "|---|" + "---|" * (len(methods) - 1)]
        for target, e in per_target.items():
            vs = e.get("vs", {})
            row = [(f"{100 * vs[m]['diff']:+.1f} [{100 * vs[m]['lo']:+.1f}, {100 * vs[m]['hi']:+.1f}] {vs[m]['verdict']}"
                    if m in vs else "-") for m in methods if m != MAIN]
            L.append(f"| {target} | " + " | ".join(row) + " |")
        L += ["", "Validation macro-F1 (%) against steps (mean over seeds), pretrained / random backbone:", "",
              "| target | " + " | ".join(f"step {c['step']}" for c in _first_curve(per_target)) + " |",
              "|---|" + "---|" * len(_first_curve(per_target))]
        for target, e in per_target.items():
            cp = {c["step"]: c["f1"] for c in e["methods"].get(MAIN, {}).get("curve", [])}
            cr = {c["step"]: c["f1"] for c in e["methods"].get("llm-random", {}).get("curve", [])}
            L.append(f"| {target} | " + " | ".join(
                f"{100 * cp[c['step']]:.1f} / {100 * cr[c['step']]:.1f}" if c["step"] in cp and c["step"] in cr else "-"
                for c in _first_curve(per_target)) + " |")
        L.append("")
    L += ["### Trainable parameters", "", "| method | target | projection | LoRA | head | trainable | frozen |",
          "|---|---|---|---|---|---|---|"]
    seen = set()
    for per_target in res["cells"].values():
        for target, e in per_target.items():
            for m, v in e["methods"].items():
                p = v.get("parameters") or {}
                if (m, target) in seen or not p:
                    continue
                seen.add((m, target))
                L.append(f"| {m} | {target} | {p.get('projection', '-')} | {p.get('lora', '-')} | {p.get('head', '-')} | "
                         f"{p.get('trainable', '-')} | {p.get('frozen', '-')} |")
    if res["not_run"]:
        L += ["", "### Not run (the CPU budget ended first)", ""] + [f"- {x}" for x in res["not_run"]]
    return "\n".join(L) + "\n"


def _first_curve(per_target: dict) -> list[dict]:
    for e in per_target.values():
        c = e["methods"].get(MAIN, {}).get("curve")
        if c:
            return c
    return []


def write_report(P: dict[str, Any], out: Path) -> Path:
    out = Path(out)
    res = collect(P, out)
    for name, text in (("tables.json", json.dumps(res, indent=1, default=str)), ("tables.md", markdown(P, res))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)
    return out / "tables.md"
