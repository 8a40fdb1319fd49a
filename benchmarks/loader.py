"""Windows per second delivered by the imutrain loader (CPU), for a manifest's training split.

    python benchmarks/loader.py --manifest manifests/demo.yaml --root data --workers 2 --steps 200

Three parts, all in one run:

1. **Where the time goes**, in this process, single thread, for the same ``--steps`` batches:
   reading the windows (Parquet row groups through the LRU cache), the per-window generators,
   augmentation of both views, interpolation of patches to the patch length with z-scoring, and padding /
   collation into tensors. The augmentation and patching are timed twice, interleaved: the
   batched path the collator uses (``augment_views``, ``patchify_many``) and the per-window
   reference (``augment_sequential`` and ``patchify`` once per window, the earlier collator's way). All
   in CPU seconds of this process (on a shared machine wall time includes waiting for a core).
2. **End to end**: the DataLoader with ``--workers`` processes (the full worker path: lazy
   Parquet reads, augmentation, two-view patching for stage 1, or one view + label text for
   stage 2, padding, masks), best of ``--repeat``: wall rate, and the rate per CPU second of the
   worker processes (their user + system time once they have exited), which times the number
   of cores is what the loader would deliver with the cores to itself.
3. **Memory**: the largest resident set of the worker processes and of this process after the
   run (``--workers`` > 0), so a run over a larger corpus shows whether it stays flat.

Compare with the GPU's appetite: the public implementation trains at ~280 samples/s on one GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages, not installed ones


def breakdown(st, col, steps: int) -> dict[str, float]:
    """Seconds per stage for ``steps`` training batches, in this process (see the module docstring)."""
    from imutrain.augment import augment_sequential, augment_views
    from imutrain.data.collate import Sample, patchify, patchify_many
    from imutrain.data.loader import ShardReader, window_generators

    t = dict.fromkeys(["read", "rng", "augment", "augment_per_window", "patch", "patch_per_window", "collate"], 0.0)
    reader = ShardReader(st.cache_mb)
    nwin = 0
    for step in range(steps):
        ids = st.rank_batch(step)
        c0 = time.process_time()
        samples = []
        for w in ids:
            w = int(w)
            s = int(st.index.source[w])
            src = st.sources[s]
            sh = int(st.index.shard[w])
            x = reader.read(sh, st.index.shards[sh].path, int(st.index.start[w]), int(st.index.length[w]), src.channels)
            samples.append(Sample(x=x, names=src.channels, channel_ids=st.channel_ids[s], rate=src.rate,
                                  patch_s=src.patch_s, window=w))
        c1 = time.process_time()
        rngs = window_generators(st.seed, step, np.arange(len(ids)))
        c2 = time.process_time()
        xs = [np.nan_to_num(s.x.astype(np.float32)) for s in samples]
        names = [s.names for s in samples]
        aug = augment_views(xs, names, rngs, col.aug, 2)[0]  # stage 1 augments both views, each by its own draw
        c3 = time.process_time()
        rngs = window_generators(st.seed, step, np.arange(len(ids)))
        c3b = time.process_time()
        for _ in range(2):
            [augment_sequential(x, n, r, col.aug) for x, n, r in zip(xs, names, rngs)]
        c4 = time.process_time()
        both = xs + [a for a, _ in aug]
        rates = [s.rate for s in samples] * 2
        ps = [s.patch_s for s in samples] * 2
        patchify_many(both, rates, ps, col.L, col.max_patches)
        c5 = time.process_time()
        [patchify(x, r, p, col.L, col.max_patches) for x, r, p in zip(both, rates, ps)]
        c6 = time.process_time()
        rngs = window_generators(st.seed, step, np.arange(len(ids)))
        c7 = time.process_time()
        col(samples, rngs, step=step)
        c8 = time.process_time()
        t["read"] += c1 - c0
        t["rng"] += c2 - c1
        t["augment"] += c3 - c2
        t["augment_per_window"] += c4 - c3b
        t["patch"] += c5 - c4
        t["patch_per_window"] += c6 - c5
        # the collator's own work beyond augmentation and patching: padding, masks, tensors
        t["collate"] += max(0.0, (c8 - c7) - (c3 - c2) - (c5 - c4))
        nwin += len(ids)
    t["windows"] = nwin
    return t


def peak_rss_mb() -> tuple[float, float]:
    """(this process, largest finished child) peak resident set in MB (Linux ru_maxrss is in KB)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


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
    ap.add_argument("--repeat", type=int, default=2, help="end-to-end runs; the best is reported")
    ap.add_argument("--cache-mb", type=int, default=512, help="each worker's row-group cache bound (the recipe's cache_mb)")
    ap.add_argument("--breakdown-steps", type=int, default=40, help="batches timed stage by stage (0: skip)")
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

    if a.breakdown_steps and a.mode == "pretrain":
        st = WindowStream(idx, src, col, mode=a.mode, batch_size=a.batch, seed=0, steps=a.breakdown_steps)
        t = breakdown(st, col, a.breakdown_steps)
        n = t.pop("windows")
        print(f"# where the time goes: {n} stage-1 windows ({a.breakdown_steps} batches of {a.batch}), this process, "
              f"one thread; microseconds per window")
        for k, v in t.items():
            print(f"  {k:<20} {v / n * 1e6:8.1f} us")
        print(f"  augment, batched vs per window: {t['augment_per_window'] / max(t['augment'], 1e-9):.2f}x; "
              f"patching, batched vs per window: {t['patch_per_window'] / max(t['patch'], 1e-9):.2f}x")
        per = (t["read"] + t["rng"] + t["augment"] + t["patch"] + t["collate"]) / n
        print(f"  total {per * 1e6:.1f} us/window = {1 / per:,.0f} windows/s per core")

    best = None
    import gc
    for _ in range(a.repeat):
        st = WindowStream(idx, src, col, mode=a.mode, batch_size=a.batch, seed=0, cache_mb=a.cache_mb, **kw)
        it = iter(make_loader(st, a.workers))
        n = 0
        for _ in range(a.warmup):
            next(it)
        c0 = os.times()
        t0 = time.perf_counter()
        for b in it:
            n += len(b)
        dt = time.perf_counter() - t0
        del it, b
        gc.collect()
        time.sleep(0.5)  # the workers exit and are reaped: their CPU time lands in the children's count
        c1 = os.times()
        kids = c1.children_user + c1.children_system - c0.children_user - c0.children_system
        main = c1.user + c1.system - c0.user - c0.system
        cpu = kids + main
        if best is None or n / dt > best[0] / best[1]:
            best = (n, dt, cpu, main)
    n, dt, cpu, main = best
    me, kids = peak_rss_mb()
    print(json.dumps({"mode": a.mode, "workers": a.workers, "batch": a.batch, "windows": n, "seconds": round(dt, 3),
                      "windows_per_s": round(n / dt, 1),
                      "cpu_s_all_processes": round(cpu, 2), "cpu_s_main": round(main, 2), "windows_per_cpu_s": round(n / cpu, 1) if cpu > 0 else None,
                      "windows_per_s_on_2_free_cores": round(2 * n / cpu, 1) if cpu > 0 else None, "index_windows": len(idx), "cache_mb": a.cache_mb, "cpu_cores": os.cpu_count(),
                      "load_avg_1min": round(os.getloadavg()[0], 2), "peak_rss_mb_main": round(me),
                      "peak_rss_mb_worker": round(kids), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
