"""Conversion throughput (MB of source text per second) beside the bare parse of the same files.

    python benchmarks/convert.py [--datasets hapt,dsads,motionsense] [--realdata ../shared/realdata]
                                 [--workers N] [--repeat 3]

Per dataset, in one run, interleaved round by round, best of ``--repeat``:

* **reference**: ``pyarrow.csv.read_csv`` of every source text file the converter reads (all
  threads; HAPT space-separated, DSADS comma-separated, MotionSense CSV with a header), nothing
  else: the parse floor. ``pandas.read_csv`` of the same files for scale;
* **end to end**: ``imudata convert NAME --force -j N`` as a fresh process (start-up, worker
  processes, parse, SI units, labels, zstd Parquet, sha256, dataset.json), N = cores by default;
  the goal is >= 50 % of the reference's MB/s. Wall time and CPU time (user + system, all
  processes and threads) are both printed: on a shared machine the CPU time is the stable one;
* **start-up**: the CPU time of one fresh process that imports what a conversion worker imports
  (``imudata.convert``, numpy, pyarrow.parquet, polars): paid by the CLI and again by every
  spawned worker;
* **where the time goes** (in this process, one worker, after imports): the dataset's reader
  (parse + checks + sessions), building the Arrow tables (SI scaling, labels), zstd Parquet
  encoding at the writer's level and at level 1, and sha256 of the written bytes in memory (what
  hashing while writing would cost) beside ``sha256_file`` re-reading the shard from disk.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's imudata, not an installed one


def raw_files(dataset: str, src: Path) -> list[Path]:
    """The text files the converter parses (labels files included where the reader reads them)."""
    if dataset == "hapt":
        return sorted((src / "RawData").glob("*_exp*_user*.txt"))
    if dataset == "dsads":
        return sorted((src / "data").rglob("s*.txt"))
    if dataset == "motionsense":
        return sorted((src / "A_DeviceMotion_data").rglob("sub_*.csv"))
    raise SystemExit(f"no reference reader for {dataset}")


def arrow_parse(dataset: str, files: list[Path]) -> None:
    import pyarrow.csv as pacsv

    if dataset == "hapt":
        opts = (pacsv.ReadOptions(autogenerate_column_names=True), pacsv.ParseOptions(delimiter=" "))
    elif dataset == "dsads":
        opts = (pacsv.ReadOptions(autogenerate_column_names=True), pacsv.ParseOptions(delimiter=","))
    else:
        opts = (pacsv.ReadOptions(), pacsv.ParseOptions(delimiter=","))
    for f in files:
        pacsv.read_csv(f, read_options=opts[0], parse_options=opts[1])


def pandas_parse(dataset: str, files: list[Path]) -> None:
    import pandas as pd

    for f in files:
        if dataset == "hapt":
            pd.read_csv(f, sep=" ", header=None)
        elif dataset == "dsads":
            pd.read_csv(f, header=None)
        else:
            pd.read_csv(f)


def cpu_children() -> float:
    t = os.times()
    return t.children_user + t.children_system


def cpu_self() -> float:
    t = os.times()
    return t.user + t.system


def worker_imports() -> None:
    subprocess.run([sys.executable, "-c", "import imudata.convert, numpy, pyarrow.parquet, polars"], cwd=REPO,
                   check=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux): the fork server outlives the CLI by a moment, and its CPU
    time (and that of the workers it forked) only reaches ``os.times`` once this process reaps it."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_all() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def cli_convert(dataset: str, root: str, workers: int, repo: Path = REPO) -> None:
    subprocess.run([sys.executable, "-m", "imudata.cli", "convert", dataset, "--root", root, "--force", "-q",
                    "-j", str(workers)], cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(repo)})
    reap_all()  # the fork server and anything else the CLI left to exit after it


def breakdown(dataset: str, root: str) -> dict[str, float]:
    """Seconds per stage for the whole dataset, one process (see the module docstring)."""
    import pyarrow.parquet as pq

    from imudata import registry
    from imudata.convert import data_root
    from imudata.fetch import sha256_file
    from imudata.paths import DatasetPaths, resolve_root
    from imudata.shards import ROW_GROUP_ROWS, session_table

    spec = registry.get(dataset)
    droot = data_root(spec, DatasetPaths(resolve_root(root), spec.id))
    plan = spec.plan(droot)
    t = dict.fromkeys(["read", "tables", "zstd", "zstd level 1", "sha256 in memory", "sha256_file re-read"], 0.0)
    out_bytes = 0
    with tempfile.TemporaryDirectory() as tmp:
        for subject, unit in plan.subjects.items():
            c0 = time.perf_counter()
            sessions = list(spec.read(droot, subject, unit))
            c1 = time.perf_counter()
            import pyarrow as pa

            tables = [session_table(spec.card.stream(s.stream), s) for s in sessions if len(s)]
            table = pa.concat_tables(tables)
            c2 = time.perf_counter()
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd", row_group_size=ROW_GROUP_ROWS)
            c3 = time.perf_counter()
            pq.write_table(table, io.BytesIO(), compression="zstd", compression_level=1, row_group_size=ROW_GROUP_ROWS)
            c4 = time.perf_counter()
            data = buf.getvalue()
            hashlib.sha256(data).hexdigest()
            c5 = time.perf_counter()
            path = Path(tmp) / f"{subject}.parquet"
            path.write_bytes(data)
            c6 = time.perf_counter()
            sha256_file(path)
            c7 = time.perf_counter()
            out_bytes += len(data)
            for k, dt in zip(t, (c1 - c0, c2 - c1, c3 - c2, c4 - c3, c5 - c4, c7 - c6)):
                t[k] += dt
    t["parquet MB"] = out_bytes / 1e6
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="hapt,dsads,motionsense")
    ap.add_argument("--realdata", type=Path, default=REPO.parent / "shared" / "realdata")
    ap.add_argument("--root", default=None, help="a data root where the datasets are already fetched (else a temporary one)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", type=Path, default=None,
                    help="another checkout (e.g. `git archive` of an older commit): its `imudata convert` runs in "
                         "the same rounds, into its own copy of the root, as the before-reference")
    a = ap.parse_args()
    become_subreaper()
    from imudata.acquire import fetch

    # compiled bytecode, as an installed wheel has it (PYTHONDONTWRITEBYTECODE=1 would otherwise make
    # every process of the run compile imudata again)
    for repo in (REPO, a.before):
        if repo:
            subprocess.run([sys.executable, "-m", "compileall", "-q", "imudata"], cwd=repo, check=True,
                           stdout=subprocess.DEVNULL)

    print(f"# conversion, best of {a.repeat} interleaved rounds; workers {a.workers}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = a.root or tmp
        for ds in [d.strip() for d in a.datasets.split(",") if d.strip()]:
            src = a.realdata / ds
            if not src.exists():
                print(f"{ds}: {src} not found, skipped")
                continue
            if not (Path(root) / ds / "dataset.json").exists():
                fetch(ds, root, from_path=src, progress=False, log=lambda m: None)
            files = raw_files(ds, src)
            mb = sum(f.stat().st_size for f in files) / 1e6
            best = {k: float("inf") for k in ("arrow", "pandas", "cli", "start", "before")}
            cpu = {k: float("inf") for k in best}
            runs = [("arrow", lambda: arrow_parse(ds, files)), ("pandas", lambda: pandas_parse(ds, files)),
                    ("cli", lambda: cli_convert(ds, root, a.workers)), ("start", worker_imports)]
            if a.before:
                broot = str(Path(root) / "_before")
                if not (Path(broot) / ds / "dataset.json").exists():
                    fetch(ds, broot, from_path=src, progress=False, log=lambda m: None)
                runs.append(("before", lambda: cli_convert(ds, broot, a.workers, a.before)))
            for _ in range(a.repeat):
                for k, fn in runs:
                    t0, c0 = time.perf_counter(), cpu_self() + cpu_children()
                    fn()
                    best[k] = min(best[k], time.perf_counter() - t0)
                    cpu[k] = min(cpu[k], cpu_self() + cpu_children() - c0)
            ratio = best["arrow"] / best["cli"]
            print(f"\n{ds}: {len(files)} source files, {mb:.1f} MB of text; wall s, MB/s, then CPU s, MB per CPU s")
            for k, name in (("arrow", "pyarrow.csv.read_csv, all threads (reference)"), ("pandas", "pandas.read_csv"),
                            ("cli", f"imudata convert --force -j {a.workers} (fresh process)"),
                            ("before", "the same, --before checkout")):
                if k == "before" and not a.before:
                    continue
                print(f"  {name:<46} {best[k]:7.2f} s {mb / best[k]:7.1f} MB/s {cpu[k]:7.2f} cpu-s {mb / cpu[k]:7.1f} MB/cpu-s")
            print(f"  end to end = {100 * ratio:.0f} % of the reference's wall rate, "
                  f"{100 * (cpu['arrow'] / cpu['cli']):.0f} % of its CPU rate (goal >= 50 %: {'met' if ratio >= 0.5 else 'not met'})")
            paid = 2 if a.workers > 1 else 1  # the CLI, and the fork server the workers are forked from
            print(f"  start-up of one process importing a worker's modules: {best['start']:.2f} s wall, "
                  f"{cpu['start']:.2f} cpu-s (paid {paid} times by -j {a.workers}, by the CLI and the fork server: "
                  f"{100 * cpu['start'] * paid / cpu['cli']:.0f} % of the end-to-end CPU; "
                  f"{1 + a.workers} times with spawned workers)")
            bd = breakdown(ds, root)
            pmb = bd.pop("parquet MB")
            total = bd["read"] + bd["tables"] + bd["zstd"] + bd["sha256_file re-read"]
            print(f"  where the time goes, one process, after imports ({pmb:.1f} MB of Parquet written):")
            for k, v in bd.items():
                print(f"    {k:<22} {v:7.3f} s" + (f"  {100 * v / total:4.0f} %" if k in ("read", "tables", "zstd", "sha256_file re-read") else ""))
            print(f"    in-process total {total:.3f} s = {mb / total:.1f} MB/s")


if __name__ == "__main__":
    main()
