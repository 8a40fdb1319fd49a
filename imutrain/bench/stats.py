"""Scores for the benchmark: confusion-based accuracy / macro-F1, chance levels, the present-label
closed set, the paired subject-level bootstrap of a seed mean, and the win / tie / loss rule.

Labels are integer keys; macro-F1 averages over the classes present in the true labels (a
prediction of another class counts as an error but adds no class of its own), as
``imutrain.metrics.macro_f1``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def confusion(y: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    """(n, n) counts, rows = true, columns = predicted; keys must lie in [0, n)."""
    y, p = np.asarray(y, np.int64), np.asarray(p, np.int64)
    return np.bincount(y * n + p, minlength=n * n).reshape(n, n)


def acc_f1(cm: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 (over classes with at least one true window) from a confusion matrix."""
    total = cm.sum()
    if total == 0:
        return float("nan"), float("nan")
    tp = np.diag(cm).astype(float)
    true_n = cm.sum(1).astype(float)
    pred_n = cm.sum(0).astype(float)
    present = true_n > 0
    f1 = np.where(tp > 0, 2 * tp / np.maximum(true_n + pred_n, 1), 0.0)
    return float(tp.sum() / total), float(f1[present].mean())


def scores(y: np.ndarray, p: np.ndarray, n: int | None = None) -> dict[str, float]:
    n = int(max(np.max(y, initial=-1), np.max(p, initial=-1)) + 1) if n is None else n
    a, f = acc_f1(confusion(y, p, n))
    return {"acc": a, "f1": f}


def chance_levels(y: np.ndarray) -> dict[str, float]:
    """Chance for the K classes present in ``y``.

    acc_uniform: 1/K; acc_majority: share of the largest class;
    f1_uniform: expected macro-F1 of a uniform guess over the K classes (large-sample: precision of
    class c is its share p_c, recall 1/K, so F1_c = 2 p_c (1/K) / (p_c + 1/K));
    f1_majority: always predicting the largest class (F1 = 2 p_max / (1 + p_max) for it, 0 for the rest).
    """
    y = np.asarray(y)
    if len(y) == 0:
        return {k: float("nan") for k in ("acc_uniform", "acc_majority", "f1_uniform", "f1_majority")}
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    k = len(p)
    f1u = float(np.mean(2 * p * (1 / k) / (p + 1 / k)))
    pm = float(p.max())
    return {"acc_uniform": 1.0 / k, "acc_majority": pm, "f1_uniform": f1u, "f1_majority": 2 * pm / (1 + pm) / k}


def closed_set_predict(scores_: np.ndarray, allowed: Sequence[int]) -> np.ndarray:
    """Argmax of ``scores_`` (N, L) over the label columns ``allowed`` only (returns column indices).

    The present-label closed set: ``allowed`` = the labels that occur in the evaluated data.
    """
    allowed = np.asarray(sorted(set(int(a) for a in allowed)), np.int64)
    if len(allowed) == 0:
        raise ValueError("closed set is empty: no allowed label")
    return allowed[np.asarray(scores_)[:, allowed].argmax(1)]


def present_labels(y: np.ndarray) -> list[int]:
    return sorted({int(v) for v in np.asarray(y).tolist() if v >= 0})


def bootstrap_seed_mean(y: np.ndarray, preds: Sequence[np.ndarray], subjects: np.ndarray, n_classes: int,
                        n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Subject-level bootstrap of the seed-mean accuracy and macro-F1.

    ``preds`` holds one prediction vector per seed, all for the same windows ``y``. Each resample
    draws the subjects with replacement (a subject drawn twice counts twice), recomputes every
    seed's metric on the drawn windows and averages over seeds. Returns, per metric, the point
    value (all subjects), the seed sd, and the 2.5 / 97.5 percentiles. The generator seed fixes the
    resamples, so two methods scored on the same windows get the same resamples (paired).
    """
    y = np.asarray(y)
    subjects = np.asarray(subjects).astype(str)
    uniq = sorted(set(subjects.tolist()), key=lambda s: (len(s), s))
    # per subject, per seed: confusion matrix (a resample is a weighted sum of these)
    per = np.zeros((len(preds), len(uniq), n_classes, n_classes), np.int64)
    for j, s in enumerate(uniq):
        m = subjects == s
        for i, p in enumerate(preds):
            per[i, j] = confusion(y[m], np.asarray(p)[m], n_classes)
    point = [acc_f1(per[i].sum(0)) for i in range(len(preds))]
    rng = np.random.default_rng(seed)
    draws = np.zeros((n_boot, 2))
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))
        vals = [acc_f1(np.tensordot(w, per[i], axes=1)) for i in range(len(preds))]
        draws[b] = np.nanmean(np.array(vals), axis=0)
    out = {}
    for k, name in enumerate(("acc", "f1")):
        v = np.array([pt[k] for pt in point])
        out[name] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                     "per_seed": [float(x) for x in v],
                     "lo": float(np.nanpercentile(draws[:, k], 2.5)), "hi": float(np.nanpercentile(draws[:, k], 97.5))}
    out["n_subjects"] = len(uniq)  # type: ignore[assignment]
    out["n_windows"] = int(len(y))  # type: ignore[assignment]
    return out


def verdict(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> str:
    """Win / tie / loss of A against B from their 95% intervals: overlap = tie."""
    if a_lo > b_hi:
        return "win"
    if a_hi < b_lo:
        return "loss"
    return "tie"


def pool_folds(n: int, folds: Sequence[tuple[np.ndarray, np.ndarray]],
               fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Pooled out-of-fold predictions: ``fit_predict(train_idx, test_idx)`` for every fold, each window once."""
    out = np.full(n, -1, np.int64)
    for tr, te in folds:
        out[te] = fit_predict(tr, te)
    return out
