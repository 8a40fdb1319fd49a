"""The physics line of a conversion: |acc| at rest where gravity is included, and the mean sampling
step of every stream against its stated rate, measured on the real data as it is converted.

A wrong unit (g stored as m/s², mg as g) or a wrong rate shows on the first real download: at rest
the magnitude of a gravity-including accelerometer is 9.81 m/s², and the mean step of a stream's
own clock is 1 / rate. Statistics are gathered per subject (in the worker) and merged at the end.
"""
from __future__ import annotations

import math
from typing import Any

from ._lazy import lazy
from .format import DatasetCard, Stream
from .registry import Session

np = lazy("numpy", globals(), "np")  # only a conversion measures; info / list only describe

G = 9.80665
#: A window is still when the std of |acc| is below this fraction of its mean (unit-free).
REST_REL_STD = 0.02
REST_WINDOW_S = 1.0


def gravity_triads(stream: Stream) -> dict[str, list[int]]:
    """'<placement>_acc' -> indices of its x, y, z channels, for accelerometers that include gravity."""
    out: dict[str, list[int]] = {}
    for i, ch in enumerate(stream.channels):
        if ch.sensor == "acc" and ch.gravity == "included" and ch.axis in ("x", "y", "z") and ch.name.endswith(f"_{ch.axis}"):
            out.setdefault(ch.name[: -2], []).append(i)
    return {k: v for k, v in out.items() if len(v) == 3}


class Accumulator:
    """Per-stream sums for the physics line, from the sessions of one subject (JSON-ready)."""

    def __init__(self, card: DatasetCard) -> None:
        self.card = card
        self.data: dict[str, dict[str, Any]] = {}

    def add(self, sess: Session) -> None:
        try:
            stream = self.card.stream(sess.stream)
        except KeyError:
            return  # the shard writer reports the unknown stream
        d = self.data.setdefault(sess.stream, {"step_sum": 0.0, "steps": 0, "timed": False, "rest": {}})
        if sess.source_clock is not None:
            d["source_steps"] = d.get("source_steps", 0) + int(sess.source_clock[0])
            d["source_sum"] = d.get("source_sum", 0.0) + float(sess.source_clock[1])
        n = len(sess)
        if n > 1:
            if sess.t is not None:
                t = np.asarray(sess.t, dtype=np.float64)
                d["step_sum"] += float(t[-1] - t[0])
                d["timed"] = True
            else:
                d["step_sum"] += (n - 1) / stream.rate_hz
            d["steps"] += n - 1
        w = max(int(round(stream.rate_hz * REST_WINDOW_S)), 5)
        if n < w:
            return
        for name, idx in gravity_triads(stream).items():
            cols = []
            for i in idx:
                ch = stream.channels[i]
                raw = np.asarray(sess.columns[ch.name], dtype=np.float64)
                cols.append(raw * ch.scale + ch.offset)
            mag = np.sqrt(cols[0] ** 2 + cols[1] ** 2 + cols[2] ** 2)
            m = mag[: (n // w) * w].reshape(-1, w)
            ok = np.isfinite(m).all(axis=1)
            m = m[ok]
            if len(m) == 0:
                continue
            mean = m.mean(axis=1)
            still = m.std(axis=1) < REST_REL_STD * np.abs(mean)
            r = d["rest"].setdefault(name, {"sum": 0.0, "windows": 0, "min": math.inf, "max": -math.inf})
            if still.any():
                r["sum"] += float(mean[still].sum())
                r["windows"] += int(still.sum())
                r["min"] = min(r["min"], float(mean[still].min()))
                r["max"] = max(r["max"], float(mean[still].max()))

    def to_dict(self) -> dict[str, Any]:
        return {k: {**v, "rest": {n: {**r, "min": r["min"] if r["windows"] else None,
                                      "max": r["max"] if r["windows"] else None}
                                  for n, r in v["rest"].items()}}
                for k, v in self.data.items()}


def merge(card: DatasetCard, per_subject: list[dict[str, Any]]) -> list[str]:
    """The physics lines of a conversion: one per stream (mean step) and one per gravity triad."""
    lines: list[str] = []
    for stream in card.streams:
        parts = [p[stream.name] for p in per_subject if p and stream.name in p]
        if not parts:
            continue
        steps = sum(p["steps"] for p in parts)
        total = sum(p["step_sum"] for p in parts)
        timed = any(p["timed"] for p in parts)
        stated = 1000.0 / stream.rate_hz
        if steps:
            mean = 1000.0 * total / steps
            how = "the stored time column (source clock or the converter's grid)" if timed else \
                "no source timestamps, t = row / rate"
            lines.append(f"{stream.name}: mean sampling step {mean:.3f} ms over {steps:,} steps, stated "
                         f"{stream.rate_hz:g} Hz = {stated:.3f} ms (ratio {mean / stated:.3f}; {how})")
        src_steps = sum(p.get("source_steps", 0) for p in parts)
        if src_steps:
            mean = 1000.0 * sum(p.get("source_sum", 0.0) for p in parts) / src_steps
            lines.append(f"{stream.name}: source clock before resampling: mean step {mean:.3f} ms over {src_steps:,} "
                         f"steps between holes (ratio {mean / stated:.3f} to the stated {stream.rate_hz:g} Hz)")
        for name in gravity_triads(stream):
            rs = [p["rest"][name] for p in parts if name in p["rest"]]
            n = sum(r["windows"] for r in rs)
            if not n:
                lines.append(f"{stream.name}/{name}: |acc| at rest not measured: no still {REST_WINDOW_S:g}-s window "
                             f"(std of |acc| under {REST_REL_STD:.0%} of its mean)")
                continue
            mean = sum(r["sum"] for r in rs) / n
            lo = min(r["min"] for r in rs if r["windows"])
            hi = max(r["max"] for r in rs if r["windows"])
            verdict = "as expected for gravity" if abs(mean - G) < 0.05 * G else "NOT 9.81 m/s²: check the unit"
            lines.append(f"{stream.name}/{name}: |acc| at rest {mean:.3f} m/s² ({mean / G:.3f} g; {verdict}) over "
                         f"{n:,} still {REST_WINDOW_S:g}-s windows, range {lo:.2f}-{hi:.2f}")
    return lines


def describe(card: DatasetCard) -> str:
    """What the physics line of a dataset measures, from its static card (for the dataset docs)."""
    parts = []
    for s in card.streams:
        triads = list(gravity_triads(s))
        what = f"|acc| at rest of {', '.join(triads)} (gravity included, expected 9.81 m/s²) and " if triads else ""
        parts.append(f"stream `{s.name}`: {what}the mean sampling step against {s.rate_hz:g} Hz")
    return ("computed at conversion on the real data and stored in dataset.json (`completeness.physics`, "
            "shown by `imudata info`): " + "; ".join(parts) + ".")
