"""``imudata plot``: one figure of a session's channels, their bands, labels and window captions.

Drawn with matplotlib's object API on the Agg canvas (no display, no global pyplot state), so it
works on headless machines. The captions are generated with the same code and options as
``imudata caption``, and the bands with ``imudata.signal.split_bands``, so the figure shows what
the stored text claims next to the signal it describes.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

from .api import open as open_dataset
from .captions.generate import CaptionConfig, Captioner, channel_groups, parse_levels
from .errors import DatasetNotFound, ImudataError
from .paths import os_error_at
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


def plot_session(name: str, session: str, out: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
                 stream: str | None = None, start: float = 0.0, duration: float | None = None,
                 level: str = "high_middle", config: CaptionConfig | None = None,
                 bands: str = "0-1,1-4,4-") -> Path:
    """Write the figure of one session to ``out``; returns its path."""
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
    subject, session, df = _load_session(ds, st.name, session)
    rate = st.rate_hz
    t = df["t"].to_numpy()
    x = np.column_stack([df[c.name].to_numpy().astype(np.float64) for c in st.channels])
    lab = df["label"].fill_null(-1).to_numpy().astype(np.int64)
    cap = Captioner(ds.card, st.name, cfg, lv)
    caps = cap.session(subject, session, t, x, lab)
    if duration is None:
        duration = 3 * cfg.window_s
    t0, t1 = start, min(start + duration, float(t[-1]) + 1.0 / rate if len(t) else start)
    sel = (t >= t0) & (t < t1)
    if not sel.any():
        raise ImudataError(f"{ds.id} {subject}/{session}: no samples between {t0:g} s and {t0 + duration:g} s "
                           f"(the session lasts {len(t) / rate:.1f} s)")
    band_list = parse_bands(bands)
    xb = split_bands(x, rate, band_list, what=f"{ds.id} stream {st.name}")  # whole session: no edge effects at t0
    groups = channel_groups(st)[:MAX_GROUPS]
    names = [c.name for c in st.channels]

    shown = [i for i in range(len(caps)) if caps.end[i] > t0 and caps.start[i] < t1]
    wrap_chars = max(40, int(260 * (cfg.window_s / max(duration, cfg.window_s))))
    wrapped = {}
    for i in shown:
        paras = caps.text[lv[0]][i].split("\n")
        wrapped[i] = "\n\n".join(textwrap.fill(p, wrap_chars) for p in paras if p)
    text_lines = max((w.count("\n") + 1 for w in wrapped.values()), default=1)

    n_sig = len(groups) * (1 + len(band_list))
    heights = [0.5] + [1.5 if k % (1 + len(band_list)) == 0 else 0.9 for k in range(n_sig)] + [0.13 * text_lines + 0.4]
    fig = Figure(figsize=(16, sum(heights) + 1.0), layout="constrained")
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    ax_lab = fig.add_subplot(gs[0])
    axes = [fig.add_subplot(gs[k + 1], sharex=ax_lab) for k in range(n_sig)]
    ax_txt = fig.add_subplot(gs[-1], sharex=ax_lab)
    fig.suptitle(f"{ds.card.title}: subject {subject}, session {session}, stream {st.name} ({rate:g} Hz), "
                 f"{t0:g}-{t1:g} s; captions: {lv[0]} (window {cfg.window_s:g} s, seed {cfg.seed})", fontsize=10)

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
    for g in groups:
        idx = sorted({i for s in g.series for i in s.channels})
        unit = st.channels[idx[0]].unit
        rows = [("signal", x)] + [(f"band {b.label}", xb[j]) for j, b in enumerate(band_list)]
        for title, arr in rows:
            ax = axes[k]
            for i in idx:
                ch = st.channels[i]
                ax.plot(ts, arr[sel, i], lw=0.6, color=_AXIS_COLORS.get(ch.axis or "", None), label=names[i])
            ax.set_ylabel(f"{g.name}\n{title}\n[{unit}]", fontsize=7, rotation=0, ha="right", va="center")
            ax.tick_params(labelsize=7)
            if title == "signal":
                ax.legend(fontsize=6, loc="upper right", ncol=len(idx))
            k += 1

    for i in shown:
        for ax in [ax_lab, *axes]:
            ax.axvline(caps.start[i], color="0.3", lw=0.8, ls="--")
        x_txt = max(caps.start[i], t0)
        ax_txt.text(x_txt + 0.005 * (t1 - t0), 1.0, f"[{caps.start[i]:g}-{caps.end[i]:g} s]\n{wrapped[i]}",
                    transform=blended_transform_factory(ax_txt.transData, ax_txt.transAxes),
                    va="top", ha="left", fontsize=6.5, family="DejaVu Sans", clip_on=True)
    ax_txt.set_axis_off()
    ax_lab.set_xlim(t0, t1)
    if axes:
        axes[-1].set_xlabel("time from session start [s]", fontsize=8)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:  # a temporary name, then a rename: no half-written image is ever visible
        fig.savefig(tmp, dpi=110, format=fmt)
        os.replace(tmp, path)
    except OSError as exc:
        raise os_error_at(exc, path) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def image_format(out: str | os.PathLike[str], canvas: type) -> str:
    """The image format named by ``out``'s extension, or an ImudataError listing the supported ones."""
    supported = canvas.get_supported_filetypes()
    ext = Path(out).suffix.lower().lstrip(".")
    if ext not in supported:
        names = ", ".join(f".{e}" for e in sorted(supported))
        raise ImudataError(f"--out {out}: {'no' if not ext else 'unknown'} image extension"
                           f"{'' if not ext else ' .' + ext}; use one of {names}")
    return ext
