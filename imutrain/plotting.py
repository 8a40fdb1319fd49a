"""Training curves from ``metrics.jsonl`` (one PNG per stage).

One panel per quantity, each with its y label: training and validation values of the same
quantity are overlaid in one panel (the reconstruction loss; the alignment accuracy next to
the validation zero-shot accuracy), and the validation accuracy has its chance level as a
dashed line (the ``chance`` the validation rows record: the mean over datasets of 1 / the
number of candidate labels). Drawn with matplotlib's object API on the Agg canvas, so it works
headless and leaves no global pyplot state.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: (panel title, y label, [(split, key, line label)]) in drawing order; a panel without data is skipped
PANELS: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    ("loss", "loss", [("train", "loss", "train"), ("val", "loss", "validation")]),
    ("reconstruction", "masked reconstruction (MSE)", [("train", "recon", "train"), ("val", "recon", "validation")]),
    ("contrastive", "contrastive loss", [("train", "contrast", "train")]),
    ("accuracy", "accuracy", [("train", "align_acc", "train (batch)"), ("val", "acc", "validation")]),
    ("macro-F1", "macro-F1 (validation)", [("val", "f1", "validation")]),
    ("learning rate", "learning rate", [("train", "lr", "train")]),
]


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl (empty when the file does not exist)."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _series(rows: list[dict[str, Any]], split: str, key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in rows if r.get("split") == split and key in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def curve_figure(rows: list[dict[str, Any]], title: str = ""):
    """The matplotlib Figure of the curves of one stage (no file written)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(t, y, [(s, k, lab) for s, k, lab in lines if _series(rows, s, k)[0]]) for t, y, lines in PANELS]
    panels = [p for p in panels if p[2]]
    n = max(len(panels), 1)
    fig = Figure(figsize=(3.4 * n, 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, n, i + 1) for i in range(len(panels))]
    for ax, (ptitle, ylabel, lines) in zip(axes, panels):
        for split, key, label in lines:
            x, y = _series(rows, split, key)
            style = {"marker": "o", "ms": 3} if split == "val" else {}
            ax.plot(x, y, label=label, lw=1.0, **style)
        if ptitle == "accuracy":
            _, chance = _series(rows, "val", "chance")
            if chance:
                ax.axhline(sum(chance) / len(chance), ls="--", color="0.5", lw=1.0, label="chance (validation)")
            ax.set_ylim(0, 1)
        if ptitle == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.set_title(ptitle, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        if len(ax.get_lines()) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    return fig


def plot_curves(metrics_path: Path, out_png: Path, title: str = "") -> Path | None:
    """Write the curves of one stage as a PNG (temporary name, then rename); None when there are no metrics."""
    rows = read_metrics(metrics_path)
    if not rows:
        return None
    fig = curve_figure(rows, title)
    out_png = Path(out_png)
    tmp = out_png.with_name(f".{out_png.name}.tmp-{os.getpid()}")
    try:
        fig.savefig(tmp, dpi=100, format="png")
        os.replace(tmp, out_png)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out_png
