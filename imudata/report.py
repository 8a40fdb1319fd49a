"""``imudata report NAME``: the page a user reads before training on a converted dataset.

One Markdown file with the card (what, where from, licence, citation), what the copy lacks and
the converter's notes, the physics line measured at conversion (``completeness.physics``), per
stream the per-channel statistics computed from the shards (mean, standard deviation, range,
missing samples), the labelled time per label and per subject, and a few PNG figures written
beside it (hours per subject, time per label, one example session drawn by ``imudata plot``).
Every file is written under a temporary name and renamed; the page last, so it never links a
figure that is not there yet.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

from .api import open as open_dataset
from .errors import ImudataError
from .paths import os_error_at, write_atomic

#: label columns of the per-subject table (the most frequent labels; the rest are summed as "other")
MAX_LABEL_COLUMNS = 12


def channel_stats(scan: pl.LazyFrame, channels: list[str]) -> dict[str, dict[str, float]]:
    """Per channel: mean, std, min, max over finite samples, and the count of missing (NaN) samples."""
    exprs = []
    for c in channels:
        v = pl.col(c).fill_nan(None)
        exprs += [v.mean().alias(f"{c}|mean"), v.std().alias(f"{c}|std"), v.min().alias(f"{c}|min"),
                  v.max().alias(f"{c}|max"), pl.col(c).is_nan().sum().alias(f"{c}|missing"),
                  pl.col(c).is_null().sum().alias(f"{c}|null")]
    row = scan.select(exprs).collect().row(0, named=True) if exprs else {}
    out: dict[str, dict[str, float]] = {}
    for c in channels:
        out[c] = {k: row[f"{c}|{k}"] for k in ("mean", "std", "min", "max")}
        out[c]["missing"] = int(row[f"{c}|missing"] or 0) + int(row[f"{c}|null"] or 0)
    return out


def label_table(scan: pl.LazyFrame) -> pl.DataFrame:
    """Rows per (subject, label), label null for unlabelled samples."""
    return scan.group_by("subject", "label").agg(pl.len().alias("rows")).collect()


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    return f"{v:.4g}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _natural(s: str) -> tuple:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s))


def _hours_figure(path: Path, per_subject: dict[str, float], title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    subs = sorted(per_subject, key=_natural)
    fig = Figure(figsize=(max(6.0, 0.25 * len(subs) + 2), 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(range(len(subs)), [per_subject[s] for s in subs], color="C0")
    ax.set_xticks(range(len(subs)), subs, rotation=90, fontsize=7)
    ax.set_xlabel("subject")
    ax.set_ylabel("recorded time [h]")
    ax.set_title(title, fontsize=9)
    write_atomic(path, lambda p: fig.savefig(p, dpi=100, format="png"))


def _labels_figure(path: Path, totals: list[tuple[str, float]], title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 0.25 * len(totals) + 1.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.barh(range(len(totals)), [v for _, v in totals], color="C1")
    ax.set_yticks(range(len(totals)), [n for n, _ in totals], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("labelled time [min]")
    ax.set_title(title, fontsize=9)
    write_atomic(path, lambda p: fig.savefig(p, dpi=100, format="png"))


def build_report(name: str, root: str | os.PathLike[str] | None = None, out: str | os.PathLike[str] | None = None,
                 *, session: str | None = None, figures: bool = True,
                 log: Callable[[str], None] | None = None) -> Path:
    """Write ``report.md`` (and its PNG figures) into ``out`` (default ``<root>/<name>/report``); returns its path."""
    say = log or (lambda msg: None)
    if figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImudataError("imudata report draws figures with matplotlib: pip install 'imudata[plot]', "
                               "or pass --no-figures") from exc
    ds = open_dataset(name, root)
    card = ds.card
    out_dir = Path(out) if out is not None else ds.paths.base / "report"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error_at(exc, out_dir) from exc
    comp = card.completeness or {}
    rows_by_stream: dict[str, int] = {}
    sessions_by_stream: dict[str, int] = {}
    for sh in card.shards:
        rows_by_stream[sh["stream"]] = rows_by_stream.get(sh["stream"], 0) + sh["rows"]
        sessions_by_stream[sh["stream"]] = sessions_by_stream.get(sh["stream"], 0) + len(sh["sessions"])

    md: list[str] = [f"# {card.title}", "", f"Report of the converted dataset `{card.id}` (imudata format "
                     f"{card.format_version}). Regenerate with `imudata report {card.id}`.", ""]
    if card.description:
        md += [card.description, ""]
    md += ["## Card", "", "| | |", "|---|---|", f"| homepage | {card.homepage} |", f"| licence | {_cell(card.license)} |",
           f"| citation | {_cell(card.citation)} |", f"| subjects | {len(card.subjects)}: {', '.join(card.subjects)} |",
           f"| streams | {', '.join(f'{s.name} ({s.rate_hz:g} Hz)' for s in card.streams)} |",
           f"| labels | {len(card.labels)} |", ""]
    if card.sources:
        md += ["Source files (sha256): " + ", ".join(f"`{k}` `{v[:12]}…`" for k, v in sorted(card.sources.items())), ""]
    md += ["## Completeness and physics", ""]
    physics = comp.get("physics") or []
    md += [f"- physics: {p}" for p in physics] or ["- physics: not measured (converted before the physics line existed; "
                                                   f"`imudata convert {card.id} --force` adds it)"]
    md += [f"- missing from this copy: {m}" for m in comp.get("missing") or []]
    md += [f"- note: {n}" for n in comp.get("notes") or []]
    orig = comp.get("originals")
    if orig:
        counts = ", ".join(f"{v} {k}" for k, v in (orig.get("counts") or {}).items())
        md.append(f"- originals: {counts} (known hashes: {orig.get('source')})")
    md.append("")

    figs: list[tuple[str, str]] = []
    first_stream: str | None = None
    for st in card.streams:
        rows = rows_by_stream.get(st.name, 0)
        md += [f"## Stream `{st.name}`", "", f"{st.rate_hz:g} Hz, {len(st.channels)} channels, {rows:,} rows "
               f"({rows / st.rate_hz / 3600:.2f} h), {sessions_by_stream.get(st.name, 0)} sessions.", ""]
        if st.description:
            md += [st.description, ""]
        if not rows:
            md += ["No shards in this copy.", ""]
            continue
        first_stream = first_stream or st.name
        say(f"{card.id}: statistics of stream {st.name}")
        scan = ds.scan(st.name)
        stats = channel_stats(scan, [c.name for c in st.channels])
        md += ["| channel | unit | description | mean | std | min | max | missing |", "|---|---|---|---|---|---|---|---|"]
        for ch in st.channels:
            s = stats[ch.name]
            miss = f"{s['missing']:,} ({100 * s['missing'] / rows:.1f} %)" if s["missing"] else "0"
            md.append(f"| `{ch.name}` | {ch.unit} | {_cell(ch.description)} | {_num(s['mean'])} | {_num(s['std'])} | "
                      f"{_num(s['min'])} | {_num(s['max'])} | {miss} |")
        md.append("")
        if st.name != first_stream:
            continue
        md += _label_section(card, st, label_table(scan), out_dir, figs, figures)
    if figures and first_stream is not None:
        figs += _session_figure(card.id, root, first_stream, session, out_dir, say)
    if figs:
        md += ["## Figures", ""]
        md += [f"![{alt}]({fname})" for fname, alt in figs]
        md.append("")
    path = out_dir / "report.md"
    write_atomic(path, lambda p: p.write_text("\n".join(md), encoding="utf-8"))
    return path


def _label_section(card, st, tab: pl.DataFrame, out_dir: Path, figs: list[tuple[str, str]], figures: bool) -> list[str]:
    """Labelled time per label and per subject (first stream), plus two figures."""
    rate = st.rate_hz
    names = {lab.id: lab.name for lab in card.labels}
    total_rows = int(tab["rows"].sum())
    longest = float(tab.group_by("subject").agg(pl.col("rows").sum())["rows"].max() or 0) / rate
    unit, div = ("s", 1.0) if longest < 600 else ("min", 60.0) if longest < 36_000 else ("h", 3600.0)
    md = [f"## Labels (stream `{st.name}`)", "", f"Times in {unit}.", ""]
    by_label = tab.group_by("label").agg(pl.col("rows").sum()).sort("rows", descending=True)
    md += ["| id | name | text | time | share | subjects |", "|---|---|---|---|---|---|"]
    subj_per_label = {r["label"]: r["n"] for r in tab.filter(pl.col("rows") > 0).group_by("label")
                      .agg(pl.col("subject").n_unique().alias("n")).iter_rows(named=True)}
    rows_per_label = {r["label"]: r["rows"] for r in by_label.iter_rows(named=True)}
    for lab in card.labels:
        n = rows_per_label.get(lab.id, 0)
        flag = " (ignore)" if lab.ignore else ""
        md.append(f"| {lab.id} | {_cell(lab.name)}{flag} | {_cell(lab.text)} | {n / rate / div:.1f} | "
                  f"{100 * n / max(total_rows, 1):.1f} % | {subj_per_label.get(lab.id, 0)} |")
    unl = rows_per_label.get(None, 0)
    md += [f"| – | unlabelled | | {unl / rate / div:.1f} | {100 * unl / max(total_rows, 1):.1f} % | "
           f"{subj_per_label.get(None, 0)} |", ""]
    unknown = sorted(k for k in rows_per_label if k is not None and k not in names)
    if unknown:
        md += [f"Label ids in the data but not in the card: {unknown}.", ""]
    top = [r["label"] for r in by_label.iter_rows(named=True) if r["label"] is not None][:MAX_LABEL_COLUMNS]
    subjects = sorted(tab["subject"].unique().to_list(), key=_natural)
    cell = {(r["subject"], r["label"]): r["rows"] for r in tab.iter_rows(named=True)}
    has_other = len([k for k in rows_per_label if k is not None]) > len(top)
    head = [names.get(k, str(k)) for k in top] + (["other"] if has_other else []) + ["unlabelled", "total"]
    md += [f"Time per subject, in {unit}" + (f" (the {len(top)} most frequent labels; the rest under "
                                                       f"'other')" if has_other else "") + ":", "",
           "| subject | " + " | ".join(_cell(h) for h in head) + " |", "|---" * (len(head) + 1) + "|"]
    per_subject_h: dict[str, float] = {}
    for s in subjects:
        vals = [cell.get((s, k), 0) for k in top]
        total = sum(v for (ss, _), v in cell.items() if ss == s)
        other = total - sum(vals) - cell.get((s, None), 0)
        vals += ([other] if has_other else []) + [cell.get((s, None), 0), total]
        per_subject_h[s] = total / rate / 3600
        md.append(f"| {s} | " + " | ".join(f"{v / rate / div:.1f}" if v else "" for v in vals) + " |")
    md.append("")
    if figures:
        _hours_figure(out_dir / "subjects.png", per_subject_h, f"{card.id} stream {st.name}: time per subject")
        figs.append(("subjects.png", "recorded time per subject"))
        totals = [(names.get(k, str(k)), rows_per_label[k] / rate / 60) for k in rows_per_label if k is not None]
        totals.sort(key=lambda kv: -kv[1])
        if totals:
            _labels_figure(out_dir / "labels.png", totals[:30], f"{card.id} stream {st.name}: labelled time per label"
                           + (" (30 most frequent)" if len(totals) > 30 else ""))
            figs.append(("labels.png", "labelled time per label"))
    return md


def _session_figure(name: str, root, stream: str, session: str | None, out_dir: Path,
                    say: Callable[[str], None]) -> list[tuple[str, str]]:
    """One example session drawn by ``imudata plot`` (the first session of the stream unless named)."""
    from .plot import plot_session

    ds = open_dataset(name, root)
    if session is None:
        first = next(sh for sh in ds.card.shards if sh["stream"] == stream)
        session = f"{first['subject']}/{first['sessions'][0]}"
    try:
        plot_session(name, session, out_dir / "session.png", root=root, stream=stream, log=say)
    except ImudataError as exc:
        if "matplotlib" in str(exc):
            raise
        say(f"{name}: no session figure ({exc})")
        return []
    return [("session.png", f"session {session} of stream {stream}: signal, bands, labels and captions")]
