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

if __name__ == "__main__":  # `python -m imudata.cli list`: answer the light commands before importing typer
    from .quick import answer as _answer

    if (_code := _answer(sys.argv[1:])) is not None:
        sys.exit(_code)

import typer

from . import __version__
from .errors import ImudataError
from .jsonout import JSON_HELP, emit

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
    rich_markup_mode=None,  # plain help, the style of `imutrain --help`
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imudata {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Public IMU / wearable datasets as one self-describing Parquet format."""


RootOpt = Annotated[Optional[Path], typer.Option("--root", help="Data root (default: $IMUDATA_HOME or the user cache).")]
JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
EngineOpt = Annotated[Optional[str], typer.Option("--engine", help="Scheduler: 'local' (process pool, the default) or 'ray' (Ray Data; default: $IMUDATA_ENGINE). See docs/scale.md.")]
AddressOpt = Annotated[Optional[str], typer.Option("--address", help="Ray cluster address for --engine ray (default: $RAY_ADDRESS, else a Ray instance on this machine).")]
NamesArg = Annotated[list[str], typer.Argument(help="Dataset ids, as shown by `imudata list`.")]


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


@app.command("list")
def list_cmd(root: RootOpt = None,
             as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List every dataset imudata can fetch and convert, and its status under the root."""
    # shared with the light entry point (imudata.quick), which answers `list` without typer
    from .quick import list_output

    list_output(root, as_json)


@app.command()
def info(name: Annotated[str, typer.Argument(help="Dataset id.")], root: RootOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Streams, channels (units, descriptions), rates, labels, subjects, rows, hours, licence, citation.

    Works before anything is downloaded (from the registry); after conversion it shows the
    figures of the converted copy.
    """
    from .quick import info_output

    info_output(name, root, as_json)


@app.command()
def fetch(
    names: NamesArg,
    root: RootOpt = None,
    mirror: Annotated[Optional[str], typer.Option("--mirror", help="Base URL or local folder serving the same file names (also $IMUDATA_MIRROR).")] = None,
    from_path: Annotated[Optional[Path], typer.Option("--from", help="A downloaded archive or an already-extracted original folder (manual downloads, air-gapped machines).")] = None,
    no_convert: Annotated[bool, typer.Option("--no-convert", help="Stop after download, verification and extraction.")] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Parallel subjects during conversion.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    max_expand_ratio: Annotated[Optional[float], typer.Option("--max-expand-ratio", help="Refuse archives that expand more than this many times their size (default 100; also $IMUDATA_MAX_EXPAND_RATIO).")] = None,
    max_expand_size: Annotated[Optional[str], typer.Option("--max-expand-size", help="Refuse archives that expand to more than this, e.g. 64G (the default; also $IMUDATA_MAX_EXPAND_SIZE).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Download, verify (sha256), extract and convert datasets: one command to a ready dataset.

    Interrupted downloads resume. Hosts that need a login print exactly what to download and
    where; then pass the file with --from.
    """
    from . import commands

    res = commands.fetch(names, root, mirror=mirror, from_path=from_path, convert=not no_convert, workers=workers,
                         max_expand_ratio=max_expand_ratio, max_expand_size=max_expand_size, progress=not quiet,
                         log=_err)
    if as_json:
        emit(res)


@app.command()
def convert(
    name: Annotated[str, typer.Argument(help="Dataset id (fetched first).")],
    root: RootOpt = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Subjects converted in parallel.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Convert again even if up to date.")] = False,
    engine: EngineOpt = None,
    address: AddressOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Convert fetched original files into Parquet shards and dataset.json.

    Idempotent (a re-run does no work), resumable (an interrupted run keeps finished subjects),
    atomic (no partial shard is ever visible).
    """
    from . import commands

    res = commands.convert(name, root, workers=workers, force=force, progress=not quiet, log=_err, engine=engine,
                           address=address)
    _err(f"{res['id']}: {res['shards']} shards, {len(res['subjects'])} subjects, {res['rows']:,} rows")
    if as_json:
        emit(res)


@app.command()
def verify(name: Annotated[str, typer.Argument(help="Dataset id.")], root: RootOpt = None,
           as_json: JsonOpt = False) -> None:
    """Re-hash raw files and shards and validate every shard's schema and embedded card.

    Exit 0 when everything matches, 1 when a check failed (each failure on stderr as FAIL ...).
    """
    from . import commands

    res = commands.verify(name, root, log=_err)
    for p in res["problems"]:
        _err(f"FAIL {p}")
    if as_json:
        emit(res)
    if not res["ok"]:
        raise typer.Exit(1)
    _err(f"{res['id']}: OK (raw files and shards match their recorded sha256, schemas valid)")


@app.command()
def labels(
    name: Annotated[Optional[str], typer.Argument(help="Dataset id; omit for the whole vocabulary by group.")] = None,
    include_all: Annotated[bool, typer.Option("--all", help="Also list non-activities (affective states, null).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The canonical label vocabulary: each dataset label's canonical activity, text and group.

    With a dataset id: that dataset's labels (its own id and name kept) and what they map to.
    Without: every canonical label by group, with its synonyms and the datasets that use it.
    """
    from dataclasses import asdict

    from . import vocabulary as voc

    if name is not None:
        rows = voc.table(name)
        if as_json:
            typer.echo(json.dumps([{"dataset": r.dataset, "id": r.id, "name": r.name, "text": r.text,
                                    "canonical": asdict(r.canonical)} for r in rows], indent=2, ensure_ascii=False))
            return
        w_id = max(len(str(r.id)) for r in rows)
        w_name = max(len(r.name) for r in rows)
        w_can = max(len(r.canonical.name) for r in rows)
        for r in rows:
            flag = "" if r.canonical.activity else "  (not an activity)"
            typer.echo(f"{str(r.id if r.id is not None else '-'):>{w_id}}  {r.name:<{w_name}}  -> "
                       f"{r.canonical.name:<{w_can}}  [{r.canonical.group}]  \"{r.canonical.text}\"{flag}")
        return
    used: dict[str, list[str]] = {}
    for ds in voc.datasets():
        try:
            for r in voc.table(ds):
                used.setdefault(r.canonical.name, [])
                if ds not in used[r.canonical.name]:
                    used[r.canonical.name].append(ds)
        except ImudataError:
            continue
    grouped = voc.groups(activities_only=not include_all)
    if as_json:
        typer.echo(json.dumps({g: [{**asdict(c), "datasets": used.get(c.name, [])} for c in cs]
                               for g, cs in grouped.items()}, indent=2, ensure_ascii=False))
        return
    n = sum(len(cs) for cs in grouped.values())
    typer.echo(f"{n} canonical labels in {len(grouped)} groups")
    for g, cs in grouped.items():
        typer.echo(f"\n{g}")
        for c in cs:
            syn = f"; also: {', '.join(c.synonyms)}" if c.synonyms else ""
            typer.echo(f"  {c.name}: \"{c.text}\"{syn}  [{', '.join(used.get(c.name, [])) or 'no dataset'}]")


manifest_app = typer.Typer(help="Training manifests: datasets, channels, windows, weights and subject splits.",
                           no_args_is_help=True)
app.add_typer(manifest_app, name="manifest")


@manifest_app.command("check")
def manifest_check(
    file: Annotated[Path, typer.Argument(help="Manifest YAML file (schema: docs/manifests.md), or the name of a shipped one: demo, har10, heldout.")],
    root: RootOpt = None,
    write: Annotated[bool, typer.Option("--write", help="Write resolved fraction splits back to FILE as explicit subject lists.")] = False,
    no_write: Annotated[bool, typer.Option("--no-write", hidden=True, help="The default now; kept for old scripts.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Validate a manifest against the converted data and print a per-dataset table.

    Checks keys, types, dataset ids, streams, channels, labels and subject-disjoint splits (a
    subject in two splits fails); resolves seeded fraction splits in memory, and with --write
    writes them back to FILE as explicit subject lists (FILE is never changed otherwise).
    Table: subjects, hours, non-overlapping windows, labels, channels.
    """
    from . import manifest as mf

    if write and no_write:
        raise ImudataError("give --write or --no-write, not both")
    m = mf.load(file, root=root, write_back=write)
    rows = mf.check(m, root=root)
    for w in m.warnings:
        _err(f"warning: {w}")
    if m.written_back:
        _err(f"{file}: wrote the resolved splits of {', '.join(m.written_back)} back to the file")
    problems = [p for r in rows for p in r["problems"]]
    if as_json:
        typer.echo(json.dumps({"name": m.name, "datasets": rows, "warnings": m.warnings,
                               "written_back": m.written_back}, indent=2, ensure_ascii=False))
    else:
        typer.echo(mf.render(rows))
    for p in problems:
        _err(f"FAIL {p}")
    if problems:
        raise typer.Exit(1)
    _err(f"{file}: OK ({len(rows)} datasets)")


@app.command()
def bands(
    name: Annotated[str, typer.Argument(help="Dataset id (converted first).")],
    root: RootOpt = None,
    stream: Annotated[Optional[str], typer.Option("--stream", "-s", help="Source stream (default: the dataset's first).")] = None,
    band_spec: Annotated[str, typer.Option("--bands", help="Comma-separated LOW-HIGH bands in Hz; an open last band ('4-') runs to Nyquist.")] = "0-1,1-4,4-",
    order: Annotated[int, typer.Option("--order", help="Butterworth order of each low-/high-pass.")] = 4,
    causal: Annotated[bool, typer.Option("--causal", help="Causal filtering (sosfilt) instead of zero-phase (sosfiltfilt).")] = False,
    method: Annotated[str, typer.Option("--method", help="'complementary' (bands from low-passes; they sum back exactly) or 'butterworth' (low-/band-/high-pass per band).")] = "complementary",
    out: Annotated[Optional[str], typer.Option("--name", help="Name of the derived stream (default: <stream>_bands).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Shards processed in parallel.")] = 1,
    engine: EngineOpt = None,
    address: AddressOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Split a stream into frequency bands (SlotFM: 0-1, 1-4, >4 Hz) as a derived stream.

    Writes parquet/<stream>_bands/ with one channel per source channel and band
    (waist_acc_x_band0, ...), each carrying its band edges, order and filter in dataset.json.
    Zero-phase by default; NaN gaps stay NaN and do not spread. See docs/bands.md.
    """
    from . import commands

    res = commands.bands(name, root, stream=stream, bands=band_spec, order=order, causal=causal, method=method,
                         out=out, workers=workers, progress=not quiet, log=_err, engine=engine, address=address)
    if as_json:
        emit(res)


@app.command()
def resample(
    name: Annotated[str, typer.Argument(help="Dataset id (converted first).")],
    rate: Annotated[float, typer.Option("--rate", help="Target sampling rate in Hz.")],
    root: RootOpt = None,
    stream: Annotated[Optional[str], typer.Option("--stream", "-s", help="Source stream (default: the dataset's first).")] = None,
    out: Annotated[Optional[str], typer.Option("--name", help="Name of the derived stream (default: <stream>_<rate>hz).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Shards processed in parallel.")] = 1,
    engine: EngineOpt = None,
    address: AddressOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Resample a stream to another rate (anti-aliased polyphase filter) as a derived stream.

    The ratio is the nearest fraction up/down with down <= 1000; labels follow the nearest
    source sample. See docs/bands.md.
    """
    from . import commands

    res = commands.resample(name, root, rate=rate, stream=stream, out=out, workers=workers, progress=not quiet,
                            log=_err, engine=engine, address=address)
    if as_json:
        emit(res)


@app.command()
def caption(
    name: Annotated[Optional[str], typer.Argument(help="Dataset id; omit to caption every converted dataset under the root (or those of --manifest).")] = None,
    root: RootOpt = None,
    level: Annotated[str, typer.Option("--level", "-l", help="low, middle, high_summary, high_all, middle_low, high_low, high_middle, high_middle_low; several comma-separated, or 'all'.")] = "high_middle",
    window: Annotated[float, typer.Option("--window", help="Window length in seconds.")] = 60.0,
    stride: Annotated[float, typer.Option("--stride", help="Window stride in seconds.")] = 60.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the phrasing choices (captions are deterministic per seed).")] = 0,
    no_labels: Annotated[bool, typer.Option("--no-labels", help="Leave out all label-derived text (label-free pretraining).")] = False,
    min_activity: Annotated[float, typer.Option("--min-activity", help="Shortest labelled activity (seconds) the semantic level mentions.")] = 2.0,
    stream: Annotated[Optional[str], typer.Option("--stream", "-s", help="Stream to caption (default: the dataset's first).")] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", help="Caption the dataset streams of this training manifest (docs/manifests.md).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Shards captioned in parallel.")] = 1,
    engine: EngineOpt = None,
    address: AddressOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write SensorLM-style captions of fixed windows as Parquet caption shards.

    Output: <root>/<dataset>/captions/<level>/part-NNNNN.parquet (<level>_nolabels with
    --no-labels), one row per window: dataset, stream, subject, session, start, end, text,
    template ids, generator version, seed and the window's labels. See docs/captions.md.
    """
    from . import commands

    res = commands.caption(name, root, level=level, window=window, stride=stride, seed=seed, labels=not no_labels,
                           min_activity=min_activity, stream=stream, manifest=manifest, workers=workers,
                           progress=not quiet, log=_err, engine=engine, address=address)
    if as_json:
        emit(res)


@app.command()
def sessions(
    name: Annotated[str, typer.Argument(help="Dataset id (converted first).")],
    root: RootOpt = None,
    subject: Annotated[Optional[str], typer.Option("--subject", help="Only this subject's sessions.")] = None,
    stream: Annotated[Optional[str], typer.Option("--stream", "-s", help="Stream (default: the dataset's first).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the recording sessions of a converted dataset: subject, session, rows, duration.

    The SUBJECT/SESSION column is what `imudata plot --session` takes.
    """
    from . import commands

    res = commands.sessions(name, root, subject=subject, stream=stream)
    if as_json:
        emit(res)
        return
    rows = res["sessions"]
    head = ("SUBJECT/SESSION", "rows", "seconds")
    w = max([len(head[0])] + [len(r["ref"]) for r in rows])
    typer.echo(f"{head[0]:<{w}}  {head[1]:>9}  {head[2]:>9}")
    for r in rows:
        typer.echo(f"{r['ref']:<{w}}  {r['rows']:>9}  {r['seconds']:>9.1f}")
    _err(f"{res['id']}/{res['stream']}: {len(rows)} sessions at {res['rate_hz']:g} Hz")


@app.command()
def plot(
    name: Annotated[str, typer.Argument(help="Dataset id.")],
    session: Annotated[str, typer.Option("--session", help="Session id, or SUBJECT/SESSION when ids repeat across subjects.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output image (.png, .pdf, .svg).")],
    root: RootOpt = None,
    stream: Annotated[Optional[str], typer.Option("--stream", "-s", help="Stream to draw (default: the dataset's first).")] = None,
    start: Annotated[float, typer.Option("--start", help="First second to draw (from the session start).")] = 0.0,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Seconds to draw (default: three windows).")] = None,
    level: Annotated[str, typer.Option("--level", "-l", help="Caption level shown under each window.")] = "high_middle",
    window: Annotated[float, typer.Option("--window", help="Caption window in seconds.")] = 60.0,
    stride: Annotated[float, typer.Option("--stride", help="Caption stride in seconds.")] = 60.0,
    seed: Annotated[int, typer.Option("--seed", help="Caption seed.")] = 0,
    no_labels: Annotated[bool, typer.Option("--no-labels", help="Captions without label text.")] = False,
    band_spec: Annotated[str, typer.Option("--bands", help="Bands drawn under each channel group.")] = "0-1,1-4,4-",
    group: Annotated[Optional[list[str]], typer.Option("--group", "-g", help="Channel group(s) to draw, e.g. waist_acc (<placement>_<sensor>); repeat or separate with commas.")] = None,
    channels: Annotated[Optional[list[str]], typer.Option("--channels", "-c", help="Channel(s) to draw, e.g. waist_acc_x; repeat or separate with commas.")] = None,
) -> None:
    """Draw a session's channels, their frequency bands, the labels and each window's caption.

    The captions are generated with the same options as `imudata caption`, so the figure shows
    exactly what the stored text claims next to the signal it describes (times in the text are
    moved onto the figure's axis, seconds from the session start). A session shorter than the
    window is captioned as one window. Without --group/--channels the first four channel groups
    are drawn and the rest is named on stderr and in the title. Angles are unwrapped before
    their bands are computed.
    """
    from .captions import CaptionConfig
    from .plot import plot_session

    def _split(values: Optional[list[str]]) -> Optional[list[str]]:
        return [v.strip() for item in values for v in item.split(",") if v.strip()] if values else None

    cfg = CaptionConfig(window_s=window, stride_s=stride, seed=seed, labels=not no_labels)
    path = plot_session(name, session, out, root=root, stream=stream, start=start, duration=duration, level=level,
                        config=cfg, bands=band_spec, groups=_split(group), channels=_split(channels), log=_err)
    _err(f"wrote {path}")


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="Dataset id (converted first).")],
    root: RootOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for report.md and its figures (default: <root>/<name>/report).")] = None,
    session: Annotated[Optional[str], typer.Option("--session", help="Session drawn as the example figure (default: the first).")] = None,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Write the page without PNG figures.")] = False,
) -> None:
    """Write a Markdown report of a converted dataset: card, physics line, per-stream statistics,
    labelled time per label and subject, and a few figures beside it."""
    from .report import build_report

    path = build_report(name, root, out, session=session, figures=not no_figures, log=_err)
    _err(f"wrote {path}")


def os_error_message(exc: OSError) -> str:
    """One line for an operating-system error: the path, what happened, and what to do about it."""
    import errno
    import re

    code = exc.errno
    if code is None and (m := re.search(r"errno (\d+)", str(exc), re.IGNORECASE)):
        code = int(m.group(1))  # pyarrow's OSErrors carry the errno in their text only
    where = exc.filename if exc.filename is not None else "(no path given)"
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    what = exc.strerror or (os.strerror(code) if code else str(exc))
    hints = {
        errno.ENOSPC: "free disk space or pass --root on a larger disk, then re-run (finished work is kept)",
        errno.EDQUOT: "free space within your quota or pass --root elsewhere, then re-run (finished work is kept)",
        errno.EACCES: "make it writable or pass --root pointing to a folder you can write",
        errno.EPERM: "make it writable or pass --root pointing to a folder you can write",
        errno.EROFS: "the file system is read-only: pass --root pointing to a writable folder",
        errno.ENOTDIR: "a file is in the way of a folder: pass --root pointing to a folder (or move the file)",
        errno.EEXIST: "a file is in the way of a folder: pass --root pointing to a folder (or move the file)",
        errno.ENOENT: "check that the path exists and is spelled correctly",
        errno.EISDIR: "a folder is in the way: give a file name instead",
    }
    return f"{where}: {what}; {hints.get(code, 'check the path and its disk, then re-run')}"


def main() -> None:
    """Console entry point: run the app, turning imudata and OS errors into one-line messages (exit 2)."""
    try:
        app()
    except ImudataError as exc:
        if os.environ.get("IMUDATA_DEBUG"):
            raise
        _err(f"error: {exc}")
        sys.exit(2)
    except OSError as exc:
        if os.environ.get("IMUDATA_DEBUG"):
            raise
        _err(f"error: {os_error_message(exc)}")
        sys.exit(2)
    except KeyboardInterrupt:
        _err("interrupted; re-run the same command to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
