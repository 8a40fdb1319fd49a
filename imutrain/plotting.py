"""Training curves from ``metrics.jsonl`` (one PNG per stage)."""
from __future__ import annotations

import json
from pathlib import Path


def read_metrics(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_curves(metrics_path: Path, out_png: Path, title: str = "") -> Path | None:
    rows = read_metrics(metrics_path)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in rows if r.get("split") == "train"]
    val = [r for r in rows if r.get("split") == "val"]
    keys = [k for k in ("loss", "recon", "contrast", "align_acc") if any(k in r for r in train)]
    vkeys = [k for k in ("recon", "acc", "f1", "loss") if any(k in r for r in val)]
    n = len(keys) + len(vkeys) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3))
    for ax, k in zip(axes, keys):
        ax.plot([r["step"] for r in train if k in r], [r[k] for r in train if k in r])
        ax.set_title(f"train {k}")
        ax.set_xlabel("step")
    for ax, k in zip(axes[len(keys):], vkeys):
        ax.plot([r["step"] for r in val if k in r], [r[k] for r in val if k in r], marker="o")
        ax.set_title(f"val {k}")
        ax.set_xlabel("step")
    axes[-1].plot([r["step"] for r in train], [r["lr"] for r in train])
    axes[-1].set_title("learning rate")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
