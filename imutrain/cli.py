"""The ``imutrain`` command line: pretrain, align, eval (and recipes).

Typical session (CPU, the shipped demo manifest on the real-data samples, converted under the
data root that every imudata command uses)::

    imutrain pretrain demo --recipe tiny --out runs/demo
    imutrain align    demo --recipe tiny --out runs/demo
    imutrain eval     runs/demo --manifest demo

Multi-GPU / multi-node: ``torchrun --nproc-per-node 8 -m imutrain.cli pretrain ...`` (same flags).
Set ``IMUTRAIN_TRACEBACK=1`` to see Python tracebacks instead of one-line errors.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

HELP = """Train and evaluate the language-aligned IMU foundation model (TSFM) on imudata manifests.

\b
Typical session (CPU, the shipped demo manifest; its datasets converted by imudata first):
  imutrain pretrain demo --recipe tiny --out runs/demo
  imutrain align    demo --recipe tiny --out runs/demo
  imutrain eval     runs/demo --manifest demo

\b
Multi-GPU / multi-node: torchrun --nproc-per-node 8 -m imutrain.cli pretrain ... (same flags).
A manifest is a YAML file or the name of a shipped one (demo, har10, heldout).
Recipes: `imutrain recipes`; override any value with --set key=value.
Exit codes: 2 bad input (recipe, --set, --device, manifest, split leak, occupied run folder,
no checkpoint that verifies on --resume, align without stage-1 weights), 3 NaN loss. IMUTRAIN_TRACEBACK=1 shows tracebacks.
"""

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP, rich_markup_mode=None)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"imutrain {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Train and evaluate the language-aligned IMU foundation model."""


RecipeOpt = typer.Option("tiny", "--recipe", "-r", help="Name of a shipped recipe (`imutrain recipes` lists them: tiny, small, small-deep, ...) or a YAML file.")
SetOpt = typer.Option(None, "--set", "-s", metavar="KEY=VALUE", help="Override a recipe value, e.g. --set pretrain.steps=200 (repeatable).")
RootOpt = typer.Option(None, "--root", help="imudata root holding the converted datasets (default $IMUDATA_HOME, then the user cache).")
DeviceOpt = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda when available).")
ThreadsOpt = typer.Option(None, "--threads", help="torch intra-op threads (default: torch's own choice); recorded in run.json.")


class DeviceError(ValueError):
    """--device names no device this machine has."""


def check_device(device: Optional[str]) -> Optional[str]:
    """``device`` when this machine has it (None: the default choice); DeviceError saying what exists."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise DeviceError(f"--device {device!r}: not a device name; use cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return device
    if dev.type != "cuda":
        raise DeviceError(f"--device {device}: only cpu, cuda or cuda:N are supported")
    if not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise DeviceError(f"--device {device}: CUDA is not available ({why}); use --device cpu")
    n = torch.cuda.device_count()
    if dev.index is not None and dev.index >= n:
        raise DeviceError(f"--device {device}: only {n} CUDA device(s) visible (cuda:0 to cuda:{n - 1})")
    return device


def _err(msg: str, code: int = 1) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _run(fn):
    """``fn()``, with imutrain's and imudata's input errors as one ``error:`` line and exit 2 (3 for a
    NaN loss). The exception types are imported only when one is raised, so commands that never
    touch torch (``recipes``, ``--help``) start fast."""
    if os.environ.get("IMUTRAIN_TRACEBACK"):
        return fn()
    try:
        return fn()
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Exit):
            raise
        from .checkpoint import CheckpointError, NonFiniteLoss
        from .config import ConfigError
        from .data import ManifestDataError, SplitLeakError
        from .train import RunFolderError

        if isinstance(exc, NonFiniteLoss):
            _err(str(exc), 3)
        if isinstance(exc, (ConfigError, DeviceError, CheckpointError, SplitLeakError, ManifestDataError,
                            RunFolderError, FileNotFoundError)):
            _err(str(exc), 2)
        if type(exc).__module__.startswith("imudata"):  # imudata's errors (manifest, dataset not found) name their remedy
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
def pretrain(manifest: Path = typer.Argument(..., help="imudata manifest naming the datasets, splits, windows: a YAML file or a shipped name (demo, har10)."),
             recipe: str = RecipeOpt, out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default runs/<manifest>-<recipe>)."),
             resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in the run folder."),
             set_: Optional[List[str]] = SetOpt, root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt,
             quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
             threads: Optional[int] = ThreadsOpt) -> None:
    """Stage 1: masked patch reconstruction + patch InfoNCE on the manifest's pretrain datasets (train subjects).

    Writes RUN/pretrain/{model.safetensors, checkpoints/, metrics.jsonl, curves.png} and RUN/config.yaml.
    """
    from . import train

    def go():
        r = _recipe(recipe, set_)
        _threads(threads)
        return train.train("pretrain", manifest, r, out or _default_out(manifest, r.name), root=root, resume=resume,
                           device=check_device(device), progress=not quiet, log=lambda m: typer.echo(m, err=True))

    res = _run(go)
    typer.echo(f"pretrain done: {res.steps} steps, final loss {res.final_loss:.4f}; weights {res.weights}")


@app.command()
def align(manifest: Path = typer.Argument(..., help="imudata manifest (the same one as for pretrain)."),
          recipe: str = RecipeOpt, out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder; its pretrain/ weights initialise the encoder."),
          init: Optional[Path] = typer.Option(None, "--init", help="Start from another run folder's weights instead."),
          from_scratch: bool = typer.Option(False, "--from-scratch", help="Align a randomly initialised model when no stage-1 weights exist (otherwise refused)."),
          resume: bool = typer.Option(False, "--resume", help="Continue from the newest align checkpoint."),
          set_: Optional[List[str]] = SetOpt, root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt,
          quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
          threads: Optional[int] = ThreadsOpt) -> None:
    """Stage 2: align window embeddings with label text (soft targets, memory bank, text augmentation).

    Continues from RUN/pretrain/model.safetensors (or --init RUN_DIR); without them it refuses
    (exit 2) unless --from-scratch. Writes RUN/align/.
    """
    from . import train

    def go():
        r = _recipe(recipe, set_)
        _threads(threads)
        return train.train("align", manifest, r, out or _default_out(manifest, r.name), root=root, resume=resume,
                           init=init, from_scratch=from_scratch, device=check_device(device), progress=not quiet,
                           log=lambda m: typer.echo(m, err=True))

    res = _run(go)
    typer.echo(f"align done: {res.steps} steps, final loss {res.final_loss:.4f}; val {res.val}; weights {res.weights}")


@app.command("train")
def train_(manifest: Path = typer.Argument(..., help="imudata manifest: its pretrain datasets' train subjects are trained on, val subjects validate."),
           recipe: str = typer.Option(..., "--recipe", "-r", help="A recipe of a single-stage labelled family, e.g. llm-lora-tiny."),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default runs/<manifest>-<recipe>)."),
           resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in the run folder."),
           set_: Optional[List[str]] = SetOpt, root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt,
           quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
           threads: Optional[int] = ThreadsOpt) -> None:
    """Train a family whose one stage is supervised (llm: projection + LoRA + head, cross-entropy).

    Writes RUN/<stage>/{model.safetensors, checkpoints/, metrics.jsonl, curves.png} and RUN/config.yaml.
    """
    from . import families, train

    def go():
        r = _recipe(recipe, set_)
        _threads(threads)
        fam = families.get(r.family)
        if fam.stages != fam.labelled_stages or len(fam.stages) != 1:
            from .config import ConfigError

            raise ConfigError(f"imutrain train runs single-stage supervised families; {fam.name} has stages "
                              f"{', '.join(fam.stages)}: use imutrain {' / '.join(fam.stages)}")
        return train.train(fam.stages[0], manifest, r, out or _default_out(manifest, r.name), root=root, resume=resume,
                           device=check_device(device), progress=not quiet, log=lambda m: typer.echo(m, err=True))

    res = _run(go)
    typer.echo(f"{res.stage} done: {res.steps} steps, final loss {res.final_loss:.4f}; val {res.val}; weights {res.weights}")


@app.command("eval")
def eval_(run: Path = typer.Argument(..., help="Run folder written by pretrain/align."),
          manifest: Path = typer.Option(..., "--manifest", "-m", help="Manifest of the datasets to score (pretrain ones on their test subjects, heldout ones zero-shot)."),
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where results.json / results.md go (default RUN/eval-<manifest>)."),
          stage: Optional[str] = typer.Option(None, "--stage", help="Weights to score: align (default when present), pretrain, or int8 (from `imutrain quantize`)."),
          no_finetune: bool = typer.Option(False, "--no-finetune", help="Skip the 1% / 10% fine-tuning."),
          no_probe: bool = typer.Option(False, "--no-probe", help="Skip the linear probe."),
          untrained: bool = typer.Option(False, "--untrained", help="Score a randomly initialised model instead (a control)."),
          root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt) -> None:
    """Zero-shot open/closed set, linear probe and 1% / 10% fine-tuning, subject-disjoint; JSON + markdown."""
    from . import evaluate

    dest = out or (run / f"eval-{manifest.stem}{'-untrained' if untrained else ''}")
    _run(lambda: evaluate.evaluate(run, manifest, root=root, device=check_device(device), stage=stage,
                                   untrained=untrained, finetune=not no_finetune, probe=not no_probe, out=dest,
                                   log=lambda m: typer.echo(m, err=True)))
    typer.echo((dest / "results.md").read_text())
    typer.echo(f"written: {dest / 'results.json'}, {dest / 'results.md'}", err=True)


@app.command()
def quantize(run: Path = typer.Argument(..., help="Run folder written by pretrain/align."),
             calibration: Path = typer.Option(..., "--calibration", help="Manifest whose scored windows measure the float -> INT8 change."),
             stage: Optional[str] = typer.Option(None, "--stage", help="Float weights to quantise (default: align, else pretrain)."),
             root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt) -> None:
    """INT8 weight-only post-training quantisation: writes RUN/int8/model.safetensors (load it with
    `imutrain eval RUN --stage int8`) and RUN/int8/report.json (size, accuracy / Recall@1 change)."""
    import json

    from .quantize import quantize_run

    rep = _run(lambda: quantize_run(run, calibration, root=root, device=check_device(device), stage=stage,
                                    log=lambda m: typer.echo(m, err=True)))
    typer.echo(json.dumps(rep, indent=2))


@app.command()
def bench(protocol: Path = typer.Argument(..., help="Benchmark protocol YAML (results/bench.yaml)."),
          scale: Optional[str] = typer.Option(None, "--scale", help="Override the protocol's scale (cpu or gpu)."),
          root: Optional[Path] = RootOpt, device: Optional[str] = DeviceOpt,
          report_only: bool = typer.Option(False, "--report-only", help="Only rewrite the tables from finished cells.")) -> None:
    """Run every method x seed x target cell of a benchmark protocol (resumable) and write JSON + markdown tables."""
    from .bench import runner

    try:
        out = _run(lambda: runner.run_bench(protocol, scale=scale, root=root, device=check_device(device),
                                            report_only=report_only, log=lambda m: typer.echo(m, err=True)))
    except runner.ProtocolError as exc:
        _err(str(exc), 2)
    typer.echo(f"written: {out}")


@app.command()
def recipes(name: Optional[str] = typer.Argument(None, help="Show one recipe fully resolved.")) -> None:
    """List the shipped recipes (or print one, resolved, with every hyper-parameter)."""
    from . import config

    if name:
        import yaml

        typer.echo(yaml.safe_dump(_run(lambda: config.load(name)).to_dict(), sort_keys=False))
        return
    names = config.recipe_names()
    if not names:
        _err(f"no recipes in {config.recipes_dir()}: this installation lacks its package data; reinstall imudata", 2)
    for n in names:
        r = _run(lambda: config.load(config.recipes_dir() / f"{n}.yaml"))
        typer.echo(f"{n:18s} d={r.model.d_model} blocks={r.model.n_blocks} heads={r.model.n_heads} "
                   f"pretrain={r.pretrain.steps} align={r.align.steps} steps, batch {r.data.batch_size}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
