"""Windows per second delivered by the imutrain loader (CPU), for a manifest's training split.

    python benchmarks/loader.py --manifest manifests/demo.yaml --root data --workers 2 --steps 200

Measures the full worker path: lazy Parquet reads (row groups, LRU cache), augmentation, two-view
patching (stage 1, the heavier case) or one view + label-text draw (stage 2), padding, masks.
Compare with the GPU's appetite: the public implementation trains at ~280 samples/s on one GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default="manifests/demo.yaml")
    ap.add_argument("--root", default=os.environ.get("IMUDATA_HOME"))
    ap.add_argument("--recipe", default="tiny")
    ap.add_argument("--mode", choices=["pretrain", "align", "eval"], default="pretrain")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    a = ap.parse_args()

    from imutrain import config
    from imutrain.data import Collator, WindowStream, build_index, make_loader, resolve_sources
    from imutrain.run import entries, load_manifest
    from imutrain.train import _patch_scales

    r = config.load(a.recipe)
    man = load_manifest(a.manifest, a.root)
    src = resolve_sources(entries(man, "pretrain"), a.root)
    idx = build_index(src, "train", stride_frac=r.data.stride_frac, min_window_frac=r.data.min_window_frac,
                      min_label_frac=r.data.min_label_frac)
    col = Collator(a.mode, r.model.patch_len, r.model.max_patches, r.augment, _patch_scales(r))
    kw = {} if a.mode == "eval" else {"steps": a.steps + a.warmup}
    st = WindowStream(idx, src, col, mode=a.mode, batch_size=a.batch, seed=0, **kw)
    it = iter(make_loader(st, a.workers))
    n = 0
    for _ in range(a.warmup):
        next(it)
    t = time.perf_counter()
    for b in it:
        n += len(b)
    dt = time.perf_counter() - t
    print(json.dumps({"mode": a.mode, "workers": a.workers, "batch": a.batch, "windows": n, "seconds": round(dt, 3),
                      "windows_per_s": round(n / dt, 1), "index_windows": len(idx), "cpu_cores": os.cpu_count(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
