"""Classification metrics and a JSON-lines logger (rank 0 only)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float((np.asarray(y) == np.asarray(p)).mean()) if len(y) else float("nan")


def macro_f1(y: np.ndarray, p: np.ndarray, classes: list | None = None) -> float:
    """Macro-F1 over ``classes`` (default: the classes present in ``y``; predictions of other classes
    count as errors but add no zero-F1 class of their own)."""
    y, p = np.asarray(y), np.asarray(p)
    classes = sorted(set(y.tolist())) if classes is None else classes
    if not classes:
        return float("nan")
    f1s = []
    for c in classes:
        tp = np.sum((p == c) & (y == c))
        fp = np.sum((p == c) & (y != c))
        fn = np.sum((p != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def chance(y: np.ndarray, n_classes: int) -> dict[str, float]:
    """Uniform-guess accuracy and majority-class accuracy for labels ``y``."""
    y = np.asarray(y)
    if len(y) == 0:
        return {"uniform": float("nan"), "majority": float("nan")}
    _, counts = np.unique(y, return_counts=True)
    return {"uniform": 1.0 / max(n_classes, 1), "majority": float(counts.max() / len(y))}


class JsonlLogger:
    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path else None
        self.t0 = time.time()
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, row: dict) -> None:
        if not self.path:
            return
        row = {"time": round(time.time() - self.t0, 3), **row}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
