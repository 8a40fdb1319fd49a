"""The local pool against Ray, and a local root against an S3 root: convert, bands and caption of a real dataset.

    python benchmarks/engines.py [--dataset hapt] [--realdata ../shared/realdata] [--workers 2]
                                 [--configs local/local,ray/local,local/s3,ray/s3] [--json out.json]

For each configuration ENGINE/ROOT it runs, in this process, the same three steps on the same
copy of the original files: ``convert`` (a subject per unit), ``bands`` (a shard per unit,
sessions whole) and ``caption`` (a shard per unit, 60 s windows, level high_middle). ``local`` is
the process pool with ``--workers`` processes, ``ray`` a Ray instance started here with
``num_cpus=--workers`` (its start-up, and the first run that starts its worker processes, are
timed separately). ``s3`` is an ``s3://`` root on a moto server on 127.0.0.1 (real HTTP, one
local process: it measures the working-copy protocol, not a cloud object store's bandwidth);
its raw files are uploaded before the steps and the working copy starts empty, so ``convert``
includes downloading them.

Per step: wall seconds, CPU seconds of every process doing the work (this process; the pool's
workers, reaped after each step; Ray's worker processes, read from /proc, with those that ended while it ran counted through
the raylet's reaped-children time; Ray's own daemons
and the S3 server are reported apart) and the throughput **per worker**: work done per CPU
second of the worker processes (MB of source text for convert, samples x channels for bands,
windows for caption). On this shared machine wall time mostly measures waiting for a core; the
per-worker CPU rates are what docs/scale.md projects from. The load average is printed with the
figures.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's imudata, not an installed one

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(match: Callable[[str], bool], reaped: bool = False) -> dict[int, float]:
    """pid -> CPU seconds (user + system) of the live processes whose command line ``match`` accepts;
    with ``reaped``, the CPU seconds of their reaped children instead (cutime + cstime)."""
    out: dict[int, float] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not match(cmd):
                continue
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            k = 13 if reaped else 11
            out[int(d.name)] = (int(fields[k]) + int(fields[k + 1])) / TICK
        except (OSError, IndexError, ValueError):
            continue
    return out


def is_ray_worker(cmd: str) -> bool:
    return cmd.startswith("ray::") and not cmd.startswith(("ray::DashboardAgent", "ray::RuntimeEnvAgent"))


def is_ray_system(cmd: str) -> bool:
    return any(k in cmd for k in ("raylet", "gcs_server", "ray::DashboardAgent", "ray::RuntimeEnvAgent",
                                  "_StatsActor", "_AutoscalingCoordinator", "log_monitor", "dashboard"))


def delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots by the processes alive at the second (those that ended are
    counted by their parent's reaped-children time)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items()) - sum(
        v for pid, v in before.items() if pid not in after)


def is_raylet(cmd: str) -> bool:
    return "raylet" in cmd.split(" ", 1)[0]


class Meter:
    """CPU seconds of this process, of reaped children, of Ray workers, of Ray daemons, of the S3 server."""

    def __init__(self, s3_pid: int | None) -> None:
        self.s3_pid = s3_pid

    def snap(self) -> dict[str, Any]:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        s3 = proc_cpu(lambda c: False)
        if self.s3_pid:
            s3 = {p: v for p, v in proc_cpu(lambda c: "moto.server" in c).items() if p == self.s3_pid}
        return {"wall": time.perf_counter(), "self": time.process_time(), "children": ru.ru_utime + ru.ru_stime,
                "ray": proc_cpu(is_ray_worker), "raysys": proc_cpu(is_ray_system), "s3": s3,
                "reaped": sum(proc_cpu(is_raylet, reaped=True).values())}

    @staticmethod
    def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
        return {"wall_s": b["wall"] - a["wall"], "driver_cpu_s": b["self"] - a["self"],
                "pool_cpu_s": b["children"] - a["children"],
                "ray_worker_cpu_s": delta(a["ray"], b["ray"]) + b["reaped"] - a["reaped"],
                "ray_daemon_cpu_s": delta(a["raysys"], b["raysys"]), "s3_server_cpu_s": delta(a["s3"], b["s3"])}


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    else:
        raise SystemExit(f"moto server did not start on {url}")
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=url)
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="hapt")
    ap.add_argument("--realdata", type=Path, default=REPO.parent / "shared" / "realdata")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--configs", default="local/local,ray/local,local/s3,ray/s3")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from imudata import commands
    from imudata.engines import worker_pythonpath

    src = args.realdata / args.dataset
    if not src.is_dir():
        raise SystemExit(f"{src}: no original files (pass --realdata)")
    configs = [tuple(c.split("/")) for c in args.configs.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="imudata-engines-"))
    moto = None
    report: dict[str, Any] = {"dataset": args.dataset, "workers": args.workers, "load_before": os.getloadavg(),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "runs": {}}
    try:
        seed = tmp / "seed"
        commands.fetch(args.dataset, seed, from_path=src, convert=False, log=lambda m: None)
        raw_mb = sum(p.stat().st_size for p in (seed / args.dataset / "raw" / "extracted").rglob("*")
                     if p.is_file()) / 1e6
        report["source_mb"] = raw_mb
        if any(r == "s3" for _, r in configs):
            moto, url = start_moto()
            import boto3

            boto3.client("s3", endpoint_url=url).create_bucket(Bucket="bench")
        meter = Meter(moto.pid if moto else None)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", "import imudata.convert, imudata.derive, imudata.captions.writer"],
                       cwd=REPO, check=True)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        report["pool_worker_startup_cpu_s"] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        print(f"one spawned pool worker's imports: {report['pool_worker_startup_cpu_s']:.2f} cpu-s (paid by each "
              f"of the {args.workers} workers at every step of the local engine)", flush=True)
        if any(e == "ray" for e, _ in configs):
            import ray

            os.environ["PYTHONPATH"] = worker_pythonpath()
            a = meter.snap()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
            b = meter.snap()
            from imudata.parallel import run_jobs

            run_jobs(abs, [(-i,) for i in range(args.workers * 2)], engine="ray", progress=False)
            c = meter.snap()
            report["ray_startup"] = {"init": Meter.diff(a, b), "first_map_workers_start": Meter.diff(b, c)}
            print(f"ray start-up: ray.init {report['ray_startup']['init']['wall_s']:.1f} s wall; first Ray Data "
                  f"map (starts {args.workers} workers) {report['ray_startup']['first_map_workers_start']['wall_s']:.1f}"
                  f" s wall", flush=True)
        for engine, kind in configs:
            name = f"{engine}/{kind}"
            if kind == "local":
                root: Any = tmp / name.replace("/", "-")
                shutil.copytree(seed, root)
            else:
                root = f"s3://bench/{engine}"
                os.environ["IMUDATA_S3_CACHE"] = str(tmp / f"cache-{engine}")
                a = meter.snap()
                commands.fetch(args.dataset, root, from_path=src, convert=False, log=lambda m: None)
                shutil.rmtree(tmp / f"cache-{engine}")  # the working copy starts empty: convert downloads
                report["runs"].setdefault(name, {})["upload_raw"] = Meter.diff(a, meter.snap())
            kw = dict(workers=args.workers, engine=engine, log=lambda m: None)
            steps = {
                "convert": lambda: commands.convert(args.dataset, root, force=True, **kw),
                "bands": lambda: commands.bands(args.dataset, root, **kw),
                "caption": lambda: commands.caption(args.dataset, root, level="high_middle", window=60, stride=60,
                                                    **kw),
            }
            for step, fn in steps.items():
                a = meter.snap()
                res = fn()
                m = Meter.diff(a, meter.snap())
                if step == "convert":
                    m["work"], m["unit"] = raw_mb, "MB of source text"
                    m["units"] = len(res["subjects"])
                elif step == "bands":
                    m["work"], m["unit"] = res["rows"] * len(res["channels"]) / 3, "samples x channels"
                    m["units"] = res["shards"]
                else:
                    m["work"], m["unit"] = res["captions"][0]["rows"], "windows"
                    m["units"] = m["work"]
                workers_cpu = m["ray_worker_cpu_s"] if engine == "ray" else (
                    m["pool_cpu_s"] if args.workers > 1 else m["driver_cpu_s"])
                m["per_worker_rate_per_cpu_s"] = m["work"] / max(workers_cpu, 1e-9)
                m["rate_per_wall_s"] = m["work"] / m["wall_s"]
                report["runs"].setdefault(name, {})[step] = m
                print(f"{name:12s} {step:8s} wall {m['wall_s']:7.2f} s | cpu driver {m['driver_cpu_s']:6.2f} "
                      f"pool {m['pool_cpu_s']:6.2f} ray-workers {m['ray_worker_cpu_s']:6.2f} ray-daemons "
                      f"{m['ray_daemon_cpu_s']:5.2f} s3-server {m['s3_server_cpu_s']:5.2f} | "
                      f"{m['per_worker_rate_per_cpu_s']:,.1f} {m['unit']}/cpu-s per worker, "
                      f"{m['rate_per_wall_s']:,.1f}/s wall | load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        report["load_after"] = os.getloadavg()
        if moto:
            moto.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average before {report['load_before']}, after {report['load_after']} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
