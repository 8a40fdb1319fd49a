"""Conversion throughput (MB of source text per second) next to a plain pandas reading of the same files.

Usage: python benchmarks/convert.py [--dataset hapt] [--src ../shared/realdata/hapt] [--workers 1]

The baseline is what a typical loader does: pandas.read_csv on every raw file, nothing else (no
unit conversion, no labels, no Parquet). Both are measured in the same run on the same files.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def raw_files(dataset: str, src: Path) -> list[Path]:
    if dataset == "hapt":
        return sorted((src / "RawData").glob("*_exp*_user*.txt"))
    if dataset == "dsads":
        return sorted((src / "data").rglob("s*.txt"))
    raise SystemExit(f"no baseline reader for {dataset}")


def pandas_baseline(dataset: str, files: list[Path]) -> float:
    import pandas as pd

    t0 = time.perf_counter()
    for f in files:
        if dataset == "hapt":
            pd.read_csv(f, sep=" ", header=None)
        else:
            pd.read_csv(f, header=None)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="hapt", choices=["hapt", "dsads"])
    ap.add_argument("--src", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    src = args.src or REPO.parent / "shared" / "realdata" / args.dataset
    if not src.exists():
        raise SystemExit(f"{src} not found; pass --src with the original files")
    from imudata.acquire import fetch
    from imudata.convert import convert

    files = raw_files(args.dataset, src)
    mb = sum(f.stat().st_size for f in files) / 1e6
    best_conv = best_pd = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        fetch(args.dataset, tmp, from_path=src, progress=False, log=lambda m: None)
        for _ in range(args.repeat):
            shutil.rmtree(Path(tmp) / args.dataset / "parquet", ignore_errors=True)
            (Path(tmp) / args.dataset / "dataset.json").unlink(missing_ok=True)
            t0 = time.perf_counter()
            card = convert(args.dataset, tmp, workers=args.workers, progress=False, log=lambda m: None)
            best_conv = min(best_conv, time.perf_counter() - t0)
            best_pd = min(best_pd, pandas_baseline(args.dataset, files))
        rows = sum(s["rows"] for s in card.shards)
    print(f"dataset {args.dataset}: {len(files)} source files, {mb:.1f} MB, {rows:,} rows; best of {args.repeat}")
    print(f"  imudata convert (parse + SI + labels + zstd Parquet + sha256), workers={args.workers}: "
          f"{best_conv:.2f} s = {mb / best_conv:.1f} MB/s")
    print(f"  pandas.read_csv only (baseline, same files):                        "
          f"{best_pd:.2f} s = {mb / best_pd:.1f} MB/s")
    print(f"  ratio: {best_pd / best_conv:.2f}x the baseline's speed")


if __name__ == "__main__":
    main()
