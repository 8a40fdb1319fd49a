"""Start-up time of the CLI: ``imudata --help``, ``list`` and ``info NAME`` against bare Python.

    python benchmarks/startup.py [--repeat 7] [--name hapt]

Each command runs as a fresh process (``python -m imudata.cli ...`` from this checkout), the
commands interleaved round by round, best of ``--repeat`` wall times. References in the same
run: ``python -c pass`` (the interpreter alone), ``import typer`` (the CLI framework), typer
plus the modules it loads to render help (rich) and to coerce parameters (pydantic, typer
>= 0.2x), and ``import numpy, pyarrow`` (what the registry's modules imported at the top before
they became lazy), so the figure reads as interpreter + framework + what imudata itself adds. The goal is < 0.3 s for all three
commands; the CPU seconds of each child (user + system) are printed too, since on a shared
machine the wall time mostly measures waiting for a core. The same three commands through the
typer app (``imudata.cli.main``, what they cost before the light entry point ``imudata.quick``)
run in the same rounds as the "before" reference. The checkout's bytecode is compiled first
(``compileall``): an installed wheel has it, and an environment with PYTHONDONTWRITEBYTECODE=1
would otherwise re-compile every imudata module in every process (~0.13 CPU-s of ``list``). With ``--importtime`` it also prints the ten slowest imports of ``imudata list``
(``python -X importtime``), the profile that shows what is still imported eagerly.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system) of one fresh process."""
    c0 = os.times()
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    dt = time.perf_counter() - t
    c1 = os.times()
    return dt, (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--name", default="hapt")
    ap.add_argument("--importtime", action="store_true")
    a = ap.parse_args()
    py = sys.executable
    subprocess.run([py, "-m", "compileall", "-q", "imudata"], cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    via_typer = 'import sys; sys.argv[0] = "imudata"; from imudata.cli import main; main()'
    cmds = {
        "python -c pass (reference)": [py, "-c", "pass"],
        "python -c 'import typer' (reference)": [py, "-c", "import typer"],
        "python -c 'import numpy, pyarrow' (reference)": [py, "-c", "import numpy, pyarrow"],
        "typer + its help (rich) and coercion (pydantic) modules": [py, "-c", "import typer.rich_utils, typer._adapters"],
        "imudata --help": [py, "-m", "imudata.cli", "--help"],
        "imudata list": [py, "-m", "imudata.cli", "list"],
        f"imudata info {a.name}": [py, "-m", "imudata.cli", "info", a.name],
        "imudata --help through the typer app (before)": [py, "-c", via_typer, "--help"],
        "imudata list through the typer app (before)": [py, "-c", via_typer, "list"],
        f"imudata info {a.name} through the typer app (before)": [py, "-c", via_typer, "info", a.name],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(a.repeat):
        for k, c in cmds.items():
            w, u = wall(c)
            times[k].append(w)
            cpu[k].append(u)
    load = os.getloadavg()[0]
    print(f"# start-up, fresh process each, best of {a.repeat} (interleaved); load average {load:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"{'command':<60} {'best s':>7} {'median s':>9} {'best cpu s':>11}  goal (wall; cpu where the machine is shared)")
    for k, v in times.items():
        v = sorted(v)
        c = min(cpu[k])
        goal = (f"< 0.3 s: wall {'met' if v[0] < 0.3 else 'not met'}, cpu {'met' if c < 0.3 else 'not met'}"
                if k.startswith("imudata") and "before" not in k else "")
        print(f"{k:<60} {v[0]:7.3f} {v[len(v) // 2]:9.3f} {c:11.3f}  {goal}")
    if a.importtime:
        r = subprocess.run([py, "-X", "importtime", "-m", "imudata.cli", "list"], cwd=ROOT, capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        rows = []
        for line in r.stderr.splitlines()[1:]:
            parts = line.split("|")
            if len(parts) == 3 and parts[0].startswith("import time:"):
                rows.append((int(parts[1]), parts[2].rstrip()))
        print("\n# slowest imports of `imudata list` (cumulative microseconds, nesting shown by indent)")
        for us, name in sorted(rows, reverse=True)[:10]:
            print(f"{us:>10} {name}")


if __name__ == "__main__":
    main()
