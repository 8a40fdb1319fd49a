"""The ``imutrain`` command line: pretrain, align, eval (and recipes).

Typical session (CPU, the demo manifest on the real-data samples)::

    export IMUDATA_HOME=$PWD/data
    imutrain pretrain manifests/demo.yaml --recipe tiny --out runs/demo
    imutrain align    manifests/demo.yaml --recipe tiny --out runs/demo
    imutrain eval     runs/demo --manifest manifests/demo.yaml

Multi-GPU / multi-node: ``torchrun --nproc-per-node 8 -m imutrain.cli pretrain ...`` (same flags).
Set ``IMUTRAIN_TRACEBACK=1`` to see Python tracebacks instead of one-line errors.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

HELP = """Train and evaluate the language-aligned IMU foundation model (TSFM) on imudata manifests.

\b
Typical session (CPU, the demo manifest on the real-data samples):
  export IMUDATA_HOME=$PWD/data
  imutrain pretrain manifests/demo.yaml --recipe tiny --out runs/demo
  imutrain align    manifests/demo.yaml --recipe tiny --out runs/demo
  imutrain eval     runs/demo --manifest manifests/demo.yaml

\b
Multi-GPU / multi-node: torchrun --nproc-per-node 8 -m imutrain.cli pretrain ... (same flags).
Recipes: `imutrain recipes`; override any value with --set key=value.
Exit codes: 2 bad input (recipe, manifest, split leak), 3 NaN loss. IMUTRAIN_TRACEBACK=1 shows tracebacks.
"""

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP, rich_markup_mode=None)

RecipeOpt = typer.Option("tiny", "--recipe", "-r", help="Recipe name in recipes/ (tiny, small, small-deep) or a YAML file.")
SetOpt = typer.Option(None, "--set", "-s", help="Override a recipe value, e.g. --set pretrain.steps=200 (repeatable).")
RootOpt = typer.Option(None, "--root", help="imudata root holding the converted datasets (default $IMUDATA_HOME, then the user cache).")
DeviceOpt = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda when available).")
ThreadsOpt = typer.Option(None, "--threads", help="torch intra-op threads (default: torch's own choice); recorded in run.json.")


def _err(msg: str, code: int = 1) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _run(fn):
    if os.environ.get("IMUTRAIN_TRACEBACK"):
        return fn()
    from .checkpoint import NonFiniteLoss
    from .config import ConfigError
    from .data import ManifestDataError, SplitLeakError
    from .train import RunFolderError

    try:
        return fn()
    except NonFiniteLoss as exc:
        _err(str(exc), 3)
    except (ConfigError, SplitLeakError, ManifestDataError, RunFolderError, FileNotFoundError) as exc:
        _err(str(exc), 2)
    except Exception as exc:  # imudata's errors (manifest, dataset not found) name their remedy
        if type(exc).__module__.startswith("imudata"):
            _err(str(exc), 2)
        raise


def _recipe(recipe: str, overrides: Optional[List[str]]):
    from . import config

    return config.load(recipe, overrides or [])


def _threads(n: Optional[int]) -> None:
    from .provenance import set_threads

    set_threads(n)


def _default_out(manifest: Path, recipe_name: str) -> Path:
    return Path("runs") / f"{manifest.stem}-{recipe_name}"


@app.command()
def pretrain(manifest: Path = typer.Argument(..., help="imudata manifest (YAML) naming the datasets, splits, windows."),
             recipe: str = RecipeOpt, out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default runs/<manifest>-<recipe>)."),
             resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in the run folder."),
             set_: Optional[List[str]] = SetOpt, root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt,
             quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
             threads: Optional[int] = ThreadsOpt) -> None:
    """Stage 1: masked patch reconstruction + patch InfoNCE on the manifest's pretrain datasets (train subjects).

    Writes RUN/pretrain/{model.safetensors, checkpoints/, metrics.jsonl, curves.png} and RUN/config.yaml.
    """
    from . import train

    r = _recipe(recipe, set_)
    run_dir = out or _default_out(manifest, r.name)
    _threads(threads)
    res = _run(lambda: train.train("pretrain", manifest, r, run_dir, root=root, resume=resume, device=device,
                                   progress=not quiet, log=lambda m: typer.echo(m, err=True)))
    typer.echo(f"pretrain done: {res.steps} steps, final loss {res.final_loss:.4f}; weights {res.weights}")


@app.command()
def align(manifest: Path = typer.Argument(..., help="imudata manifest (the same one as for pretrain)."),
          recipe: str = RecipeOpt, out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder; its pretrain/ weights initialise the encoder."),
          init: Optional[Path] = typer.Option(None, "--init", help="Start from another run folder's weights instead."),
          resume: bool = typer.Option(False, "--resume", help="Continue from the newest align checkpoint."),
          set_: Optional[List[str]] = SetOpt, root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt,
          quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
          threads: Optional[int] = ThreadsOpt) -> None:
    """Stage 2: align window embeddings with label text (soft targets, memory bank, text augmentation).

    Continues from RUN/pretrain/model.safetensors (or --init RUN_DIR); writes RUN/align/.
    """
    from . import train

    r = _recipe(recipe, set_)
    run_dir = out or _default_out(manifest, r.name)
    _threads(threads)
    res = _run(lambda: train.train("align", manifest, r, run_dir, root=root, resume=resume, init=init, device=device,
                                   progress=not quiet, log=lambda m: typer.echo(m, err=True)))
    typer.echo(f"align done: {res.steps} steps, final loss {res.final_loss:.4f}; val {res.val}; weights {res.weights}")


@app.command("eval")
def eval_(run: Path = typer.Argument(..., help="Run folder written by pretrain/align."),
          manifest: Path = typer.Option(..., "--manifest", "-m", help="Manifest of the datasets to score (pretrain ones on their test subjects, heldout ones zero-shot)."),
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where results.json / results.md go (default RUN/eval-<manifest>)."),
          stage: Optional[str] = typer.Option(None, "--stage", help="Weights to score: align (default when present) or pretrain."),
          no_finetune: bool = typer.Option(False, "--no-finetune", help="Skip the 1% / 10% fine-tuning."),
          no_probe: bool = typer.Option(False, "--no-probe", help="Skip the linear probe."),
          untrained: bool = typer.Option(False, "--untrained", help="Score a randomly initialised model instead (a control)."),
          root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt) -> None:
    """Zero-shot open/closed set, linear probe and 1% / 10% fine-tuning, subject-disjoint; JSON + markdown."""
    from . import evaluate

    dest = out or (run / f"eval-{manifest.stem}{'-untrained' if untrained else ''}")
    _run(lambda: evaluate.evaluate(run, manifest, root=root, device=device, stage=stage, untrained=untrained,
                                   finetune=not no_finetune, probe=not no_probe, out=dest,
                                   log=lambda m: typer.echo(m, err=True)))
    typer.echo((dest / "results.md").read_text())
    typer.echo(f"written: {dest / 'results.json'}, {dest / 'results.md'}", err=True)


@app.command()
def bench(protocol: Path = typer.Argument(..., help="Benchmark protocol YAML (results/bench.yaml)."),
          scale: Optional[str] = typer.Option(None, "--scale", help="Override the protocol's scale (cpu or gpu)."),
          root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt,
          report_only: bool = typer.Option(False, "--report-only", help="Only rewrite the tables from finished cells.")) -> None:
    """Run every method x seed x target cell of a benchmark protocol (resumable) and write JSON + markdown tables."""
    from .bench import runner

    try:
        out = _run(lambda: runner.run_bench(protocol, scale=scale, root=root, device=device, report_only=report_only,
                                            log=lambda m: typer.echo(m, err=True)))
    except runner.ProtocolError as exc:
        _err(str(exc), 2)
    typer.echo(f"written: {out}")


@app.command()
def recipes(name: Optional[str] = typer.Argument(None, help="Show one recipe fully resolved.")) -> None:
    """List the recipes in recipes/ (or print one, resolved, with every hyper-parameter)."""
    from . import config

    if name:
        import yaml

        typer.echo(yaml.safe_dump(config.load(name).to_dict(), sort_keys=False))
        return
    for p in sorted(config.recipes_dir().glob("*.yaml")):
        r = config.load(p)
        typer.echo(f"{p.stem:12s} d={r.model.d_model} blocks={r.model.n_blocks} heads={r.model.n_heads} "
                   f"pretrain={r.pretrain.steps} align={r.align.steps} steps, batch {r.data.batch_size}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
