"""``imudata plot``: one figure of a session's channels, their bands, labels and window captions.

Drawn with matplotlib's object API on the Agg canvas (no display, no global pyplot state), so it
works on headless machines. The captions are generated with the same code and options as
``imudata caption``, and the bands with ``imudata.signal.split_bands``, so the figure shows what
the stored text claims next to the signal it describes; the times inside the caption text are
moved onto the figure's axis (seconds from the session start; stored captions count from the
window start). A session shorter than the caption window is captioned as one window over the
whole session, and said so. Angle channels are unwrapped before their bands are computed
(``imudata.angles``). Which channel groups are drawn is chosen with ``groups``/``channels``; what
is left out is said in the figure's title and through ``log``.
"""
from __future__ import annotations

import difflib
import os
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import polars as pl

from .api import open as open_dataset
from .angles import angle_indices, is_angle, unwrap_columns
from .captions import templates as T
from .captions.generate import CaptionConfig, CaptionError, Captioner, parse_levels
from .errors import DatasetNotFound, ImudataError
from .format import PLACEMENT_TEXT, Stream
from .paths import write_atomic
from .signal import parse_bands, split_bands

MAX_GROUPS = 4
_AXIS_COLORS = {"x": "#d62728", "y": "#2ca02c", "z": "#1f77b4"}


def _load_session(ds, stream: str, session: str) -> tuple[str, str, pl.DataFrame]:
    subject = None
    if "/" in session:
        subject, session = session.split("/", 1)
    matches = {(sh["subject"], s) for sh in ds.card.shards if sh["stream"] == stream for s in sh["sessions"]
               if s == session and (subject is None or sh["subject"] == subject)}
    if not matches:
        known = sorted({f"{sh['subject']}/{s}" for sh in ds.card.shards if sh["stream"] == stream for s in sh["sessions"]})
        raise DatasetNotFound(f"{ds.id}: no session {session!r} in stream {stream} (known: {', '.join(known[:12])}"
                              f"{' ...' if len(known) > 12 else ''})")
    if len(matches) > 1:
        raise ImudataError(f"{ds.id}: session {session!r} exists for several subjects; pass --session SUBJECT/{session}")
    subject, session = next(iter(matches))
    df = (ds.scan(stream).filter((pl.col("subject") == subject) & (pl.col("session") == session)).sort("t").collect())
    return subject, session, df


@dataclass
class PlotGroup:
    """Channels drawn together in one panel: one (placement, sensor), e.g. key ``waist_acc``."""

    key: str
    name: str
    idx: list[int]


def plot_groups(stream: Stream, *, sparse: bool = False) -> list[PlotGroup]:
    """The stream's channels grouped by (placement, sensor) in channel order; sparse channels only if asked."""
    out: dict[str, PlotGroup] = {}
    for i, ch in enumerate(stream.channels):
        if ch.sparse and not sparse:
            continue
        key = f"{ch.placement}_{ch.sensor}"
        if key not in out:
            place = PLACEMENT_TEXT.get(ch.placement, ch.placement.replace("_", " "))
            out[key] = PlotGroup(key, f"{place} {T.SENSOR_NOUN.get(ch.sensor, ch.sensor)}", [])
        out[key].idx.append(i)
    return list(out.values())


def _unknown(kind: str, name: str, known: list[str], stream: Stream) -> ImudataError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ImudataError(f"stream {stream.name} has no {kind} {name!r}{hint} ({kind}s: {', '.join(known)})")


def select_groups(stream: Stream, groups: Sequence[str] | None = None,
                  channels: Sequence[str] | None = None) -> tuple[list[PlotGroup], list[str]]:
    """The groups to draw and a sentence per thing left out.

    Without a selection: the first ``MAX_GROUPS`` groups. ``groups`` names groups by key
    (``waist_acc``) or by their text (``waist accelerometer``); ``channels`` names single channels
    (sparse ones too). An unknown name is an ImudataError listing the known ones.
    """
    every = plot_groups(stream, sparse=True)
    by_key = {g.key: g for g in every}
    by_name = {g.name: g for g in every}
    names = [c.name for c in stream.channels]
    if not groups and not channels:
        dense = plot_groups(stream)
        shown, rest = dense[:MAX_GROUPS], dense[MAX_GROUPS:]
        notes = []
        if rest:
            notes.append(f"left out {len(rest)} of {len(dense)} channel groups ({', '.join(g.key for g in rest)}); "
                         f"at most {MAX_GROUPS} are drawn unless chosen with --group or --channels")
        sparse = [c.name for c in stream.channels if c.sparse]
        if sparse:
            notes.append(f"left out sparse channels {', '.join(sparse)} (choose them with --channels)")
        return shown, notes
    chosen: set[int] = set()
    for g in groups or []:
        grp = by_key.get(g) or by_name.get(g)
        if grp is None:
            raise _unknown("group", g, list(by_key), stream)
        chosen.update(grp.idx)
    for c in channels or []:
        if c not in names:
            raise _unknown("channel", c, names, stream)
        chosen.add(names.index(c))
    shown = [PlotGroup(g.key, g.name, [i for i in g.idx if i in chosen]) for g in every]
    shown = [g for g in shown if g.idx]
    left = len(names) - len(chosen)
    notes = [f"left out {left} of {len(names)} channels (not chosen with --group/--channels)"] if left else []
    return shown, notes


def _session_captions(ds, st: Stream, cfg: CaptionConfig, lv: list[str], subject: str, session: str, t: np.ndarray,
                      x: np.ndarray, lab: np.ndarray) -> tuple[object, str | None, list[str]]:
    """(captions on the session axis, a note when the whole session is one window, notes)."""
    cap = Captioner(ds.card, st.name, cfg, lv, absolute_times=True)
    caps = cap.session(subject, session, t, x, lab)
    if len(caps) or len(t) >= cap.nwin:
        return caps, None, []
    length = len(t) / st.rate_hz
    whole = f"whole session: shorter than the {cfg.window_s:g} s window"
    try:
        short = Captioner(ds.card, st.name, replace(cfg, window_s=length, stride_s=length), lv, absolute_times=True)
        return short.session(subject, session, t, x, lab), whole, []
    except CaptionError as exc:
        return caps, None, [f"no caption: the session ({length:g} s) is too short to caption ({exc})"]


def plot_session(name: str, session: str, out: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
                 stream: str | None = None, start: float = 0.0, duration: float | None = None,
                 level: str = "high_middle", config: CaptionConfig | None = None,
                 bands: str = "0-1,1-4,4-", groups: Sequence[str] | None = None,
                 channels: Sequence[str] | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Write the figure of one session to ``out``; returns its path. ``log`` receives what was left out."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.transforms import blended_transform_factory
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImudataError("imudata plot needs matplotlib: pip install 'imudata[plot]'") from exc

    fmt = image_format(out, FigureCanvasAgg)
    cfg = config or CaptionConfig()
    lv = parse_levels(level)
    if len(lv) != 1:
        raise ImudataError("imudata plot shows one caption level; pass a single --level")
    ds = open_dataset(name, root)
    st = ds.card.stream(stream) if stream else ds.card.streams[0]
    shown_groups, notes = select_groups(st, groups, channels)
    subject, session, df = _load_session(ds, st.name, session)
    rate = st.rate_hz
    t = df["t"].to_numpy()
    x = np.column_stack([df[c.name].to_numpy().astype(np.float64) for c in st.channels])
    lab = df["label"].fill_null(-1).to_numpy().astype(np.int64)
    caps, whole, cap_notes = _session_captions(ds, st, cfg, lv, subject, session, t, x, lab)
    notes += cap_notes
    if duration is None:
        duration = 3 * cfg.window_s
    t0, t1 = start, min(start + duration, float(t[-1]) + 1.0 / rate if len(t) else start)
    sel = (t >= t0) & (t < t1)
    if not sel.any():
        raise ImudataError(f"{ds.id} {subject}/{session}: no samples between {t0:g} s and {t0 + duration:g} s "
                           f"(the session lasts {len(t) / rate:.1f} s)")
    band_list = parse_bands(bands)
    cols = sorted({i for g in shown_groups for i in g.idx})  # filter only what is drawn
    xu = unwrap_columns(x[:, cols], angle_indices([st.channels[i] for i in cols]))  # a wrapped angle's ±π jump
    xb = np.full((len(band_list),) + x.shape, np.nan)                              # would leak into every band
    xb[:, :, cols] = split_bands(xu, rate, band_list, what=f"{ds.id} stream {st.name}")  # whole session: no edge effects
    names = [c.name for c in st.channels]
    log = log or (lambda msg: None)
    for n in notes:
        log(f"{ds.id} plot: {n}")

    shown = [i for i in range(len(caps)) if caps.end[i] > t0 and caps.start[i] < t1]
    win = (caps.end[shown[0]] - caps.start[shown[0]]) if shown else cfg.window_s  # the caption's share of the width
    wrap_chars = max(40, int(260 * min(1.0, win / max(t1 - t0, 1e-9))))
    wrapped = {}
    for i in shown:
        paras = caps.text[lv[0]][i].split("\n")
        wrapped[i] = "\n\n".join(textwrap.fill(p, wrap_chars) for p in paras if p)
    text_lines = max((w.count("\n") + 2 for w in wrapped.values()), default=1)

    n_sig = len(shown_groups) * (1 + len(band_list))
    heights = [0.5] + [1.5 if k % (1 + len(band_list)) == 0 else 0.9 for k in range(n_sig)] + [0.13 * text_lines + 0.4]
    fig = Figure(figsize=(16, sum(heights) + 1.0 + 0.2 * len(notes)), layout="constrained")
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    ax_lab = fig.add_subplot(gs[0])
    axes = [fig.add_subplot(gs[k + 1], sharex=ax_lab) for k in range(n_sig)]
    ax_txt = fig.add_subplot(gs[-1], sharex=ax_lab)
    title = (f"{ds.card.title}: subject {subject}, session {session}, stream {st.name} ({rate:g} Hz), "
             f"{t0:g}-{t1:g} s; captions: {lv[0]} (window {cfg.window_s:g} s, seed {cfg.seed}; "
             f"times in the text from the session start)")
    fig.suptitle("\n".join([title, *(textwrap.fill(n, 170) for n in notes)]), fontsize=10)

    # labels track
    from .captions.features import label_runs

    rs, re_, ids = label_runs(lab)
    cmap = {lid: f"C{k % 10}" for k, lid in enumerate(sorted({int(i) for i in ids}))}
    texts = ds.card.label_map()
    for a, b, lid in zip(rs, re_, ids):
        ta, tb = t[a], t[b - 1] + 1.0 / rate
        if tb < t0 or ta > t1:
            continue
        ax_lab.axvspan(ta, tb, color=cmap[int(lid)], alpha=0.5, lw=0)
        text = texts[int(lid)].text if int(lid) in texts else str(lid)
        if (min(tb, t1) - max(ta, t0)) > (0.0045 * len(text) + 0.01) * (t1 - t0):  # room for the text at 7 pt
            ax_lab.text((max(ta, t0) + min(tb, t1)) / 2, 0.5, text, ha="center", va="center", fontsize=7, clip_on=True)
    ax_lab.set_yticks([])
    ax_lab.set_ylabel("labels", rotation=0, ha="right", va="center", fontsize=8)

    k = 0
    ts = t[sel]
    for g in shown_groups:
        idx = g.idx
        unit = st.channels[idx[0]].unit
        unwrapped = " (unwrapped)" if any(is_angle(st.channels[i]) for i in idx) else ""
        rows = [("signal", x)] + [(f"band {b.label}{unwrapped}", xb[j]) for j, b in enumerate(band_list)]
        for title_row, arr in rows:
            ax = axes[k]
            for i in idx:
                ch = st.channels[i]
                ax.plot(ts, arr[sel, i], lw=0.6, color=_AXIS_COLORS.get(ch.axis or "", None), label=names[i])
            ax.set_ylabel(f"{g.name}\n{title_row}\n[{unit}]", fontsize=7, rotation=0, ha="right", va="center")
            ax.tick_params(labelsize=7)
            if title_row == "signal":
                ax.legend(fontsize=6, loc="upper right", ncol=len(idx))
            k += 1

    for i in shown:
        for ax in [ax_lab, *axes]:
            ax.axvline(caps.start[i], color="0.3", lw=0.8, ls="--")
        x_txt = max(caps.start[i], t0)
        head = f"[{caps.start[i]:g}-{caps.end[i]:g} s{', ' + whole if whole else ''}]"
        ax_txt.text(x_txt + 0.005 * (t1 - t0), 1.0, f"{head}\n{wrapped[i]}",
                    transform=blended_transform_factory(ax_txt.transData, ax_txt.transAxes),
                    va="top", ha="left", fontsize=6.5, family="DejaVu Sans", clip_on=True)
    ax_txt.set_axis_off()
    ax_lab.set_xlim(t0, t1)
    if axes:
        axes[-1].set_xlabel("time from session start [s]", fontsize=8)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a temporary name, then a rename: no half-written image is ever visible
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format=fmt))


def image_format(out: str | os.PathLike[str], canvas: type) -> str:
    """The image format named by ``out``'s extension, or an ImudataError listing the supported ones."""
    supported = canvas.get_supported_filetypes()
    ext = Path(out).suffix.lower().lstrip(".")
    if ext not in supported:
        names = ", ".join(f".{e}" for e in sorted(supported))
        raise ImudataError(f"--out {out}: {'no' if not ext else 'unknown'} image extension"
                           f"{'' if not ext else ' .' + ext}; use one of {names}")
    return ext
