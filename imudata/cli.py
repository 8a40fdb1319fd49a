"""The ``imudata`` command line: a thin layer over the Python API.

Data goes to stdout, messages to stderr; errors print one clear message and exit non-zero
(set IMUDATA_DEBUG=1 for a traceback).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import registry
from .errors import ImudataError

app = typer.Typer(
    name="imudata",
    help=(
        "Public IMU / wearable datasets as one self-describing Parquet format.\n\n"
        "Typical use: `imudata list`, `imudata info pamap2`, `imudata fetch pamap2` "
        "(download, verify, extract, convert), then in Python `imudata.open('pamap2')`.\n\n"
        "Data lives under --root, else $IMUDATA_HOME, else the user cache directory."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RootOpt = Annotated[Optional[Path], typer.Option("--root", help="Data root (default: $IMUDATA_HOME or the user cache).")]
NamesArg = Annotated[list[str], typer.Argument(help="Dataset ids, as shown by `imudata list`.")]


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


@app.command("list")
def list_cmd(root: RootOpt = None,
             as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List every dataset imudata can fetch and convert, and its status under the root."""
    from .info import status

    rows = []
    for spec in registry.specs():
        state, _ = status(spec, root)
        manual = any(s.manual for s in spec.sources)
        rows.append({"id": spec.id, "title": spec.card.title, "status": state, "manual_download": manual,
                     "streams": {s.name: s.rate_hz for s in spec.card.streams}, "license": spec.card.license})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    w = max(len(r["id"]) for r in rows)
    for r in rows:
        rates = ", ".join(f"{k} {v:g} Hz" for k, v in r["streams"].items())
        flag = " (manual download)" if r["manual_download"] else ""
        typer.echo(f"{r['id']:<{w}}  {r['status']:<14}  {r['title']}  [{rates}]{flag}")


@app.command()
def info(name: Annotated[str, typer.Argument(help="Dataset id.")], root: RootOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Streams, channels (units, descriptions), rates, labels, subjects, rows, hours, licence, citation.

    Works before anything is downloaded (from the registry); after conversion it shows the
    figures of the converted copy.
    """
    from .info import render, summary

    data = summary(registry.get(name), root)
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else render(data))


@app.command()
def fetch(
    names: NamesArg,
    root: RootOpt = None,
    mirror: Annotated[Optional[str], typer.Option("--mirror", help="Base URL or local folder serving the same file names (also $IMUDATA_MIRROR).")] = None,
    from_path: Annotated[Optional[Path], typer.Option("--from", help="A downloaded archive or an already-extracted original folder (manual downloads, air-gapped machines).")] = None,
    no_convert: Annotated[bool, typer.Option("--no-convert", help="Stop after download, verification and extraction.")] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Parallel subjects during conversion.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Download, verify (sha256), extract and convert datasets: one command to a ready dataset.

    Interrupted downloads resume. Hosts that need a login print exactly what to download and
    where; then pass the file with --from.
    """
    from .acquire import fetch as do_fetch
    from .convert import convert as do_convert

    if from_path is not None and len(names) != 1:
        raise ImudataError("--from takes exactly one dataset name")
    for name in names:
        do_fetch(name, root, mirror=mirror, from_path=from_path, progress=not quiet)
        if not no_convert:
            card = do_convert(name, root, workers=workers, progress=not quiet)
            _err(f"{card.id}: converted, {len(card.shards)} shards, {len(card.subjects)} subjects")


@app.command()
def convert(
    name: Annotated[str, typer.Argument(help="Dataset id (fetched first).")],
    root: RootOpt = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Subjects converted in parallel.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Convert again even if up to date.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Convert fetched original files into Parquet shards and dataset.json.

    Idempotent (a re-run does no work), resumable (an interrupted run keeps finished subjects),
    atomic (no partial shard is ever visible).
    """
    from .convert import convert as do_convert

    card = do_convert(name, root, workers=workers, force=force, progress=not quiet)
    rows = sum(sh["rows"] for sh in card.shards)
    _err(f"{card.id}: {len(card.shards)} shards, {len(card.subjects)} subjects, {rows:,} rows")


@app.command()
def verify(name: Annotated[str, typer.Argument(help="Dataset id.")], root: RootOpt = None) -> None:
    """Re-hash raw files and shards and validate every shard's schema and embedded card."""
    from .verify import verify as do_verify

    problems = do_verify(name, root)
    if problems:
        for p in problems:
            _err(f"FAIL {p}")
        raise typer.Exit(1)
    _err(f"{name}: OK (raw files and shards match their recorded sha256, schemas valid)")


def main() -> None:
    """Console entry point: run the app, turning imudata errors into one-line messages."""
    try:
        app()
    except ImudataError as exc:
        if os.environ.get("IMUDATA_DEBUG"):
            raise
        _err(f"error: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        _err("interrupted; re-run the same command to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
