"""SensorLM-style captions of IMU windows at three levels, composed deterministically.

Levels (model-anchors.md §3): *low* (statistical: mean / max / min / std per series in physical
units), *middle* (structural: trends and anomalies of pooled series), *high* (semantic: the
labelled activities with start and end). The eight caption keys combine them, semantic part
first: low, middle, high_summary, high_all, middle_low, high_low, high_middle, high_middle_low
(the combined keys use the full activity list, ``high_all``'s part).

Randomness (phrasing choice, the random extra series, the 'peak'/'spike' word, the subset of
insights kept) comes from one RNG per (seed, dataset, subject, session, window start, part), so
a caption does not depend on processing order, and the low part of ``high_middle_low`` is the
same text as the ``low`` caption of that window.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import ImudataError
from ..format import PLACEMENT_TEXT, DatasetCard, Stream
from . import templates as T
from .features import (StructuralParams, StructuralResult, bin_edges, binned, label_runs, structural, window_count,
                       window_stats, windows)

LEVELS = ("low", "middle", "high_summary", "high_all", "middle_low", "high_low", "high_middle", "high_middle_low")
#: The parts of each level, in the order they appear in the text.
LEVEL_PARTS: dict[str, tuple[str, ...]] = {
    "low": ("low",), "middle": ("middle",), "high_summary": ("summary",), "high_all": ("all",),
    "middle_low": ("middle", "low"), "high_low": ("all", "low"), "high_middle": ("all", "middle"),
    "high_middle_low": ("all", "middle", "low"),
}
SEMANTIC_PARTS = ("summary", "all")

#: Below this range (max - min of the pooled series within a window) a series is called steady
#: and gets no trend / anomaly analysis: the sensors' noise, not movement.
NOISE_FLOOR: dict[str, float] = {"m/s²": 0.1, "rad/s": 0.05, "µT": 1.0}

VECTOR_SENSORS = ("acc", "gyro", "mag", "lacc", "grav")


class CaptionError(ImudataError):
    """A caption request that cannot be honoured (unknown level, labels forbidden, window too short)."""


def parse_levels(spec: str | Sequence[str]) -> list[str]:
    """Levels from 'high_middle', 'low,middle' or 'all'."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    items = [s.strip() for s in items if s.strip()]
    if items == ["all"]:
        return list(LEVELS)
    bad = [s for s in items if s not in LEVELS]
    if bad or not items:
        import difflib

        close = [m[0] for b in bad if (m := difflib.get_close_matches(b, [*LEVELS, "all"], n=1))]
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise CaptionError(f"unknown caption level(s) {bad or items}{hint}; expected one of {', '.join(LEVELS)} "
                           f"(or 'all')")
    return list(dict.fromkeys(items))


@dataclass
class CaptionConfig:
    """Everything that decides a caption's text (stored with every caption shard)."""

    window_s: float = 60.0
    stride_s: float = 60.0
    seed: int = 0
    labels: bool = True
    min_activity_s: float = 2.0  # SensorLM: 20 min of a 1,440-min day
    max_activities: int = 8  # high_all (and the combined keys): the longest 8, listed in time order
    max_summary: int = 3  # high_summary: activities by total time, longest first
    max_insights: int = 7  # per channel group at the structural level
    extras_per_group: int = 1  # random extra series per group at the statistical level
    structural: StructuralParams = field(default_factory=StructuralParams)
    noise_floor: dict[str, float] = field(default_factory=lambda: dict(NOISE_FLOOR))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["structural"] = self.structural.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CaptionConfig":
        d = dict(d)
        sp = d.pop("structural", None) or {}
        sp = {k: (tuple(v) if isinstance(v, list) else v) for k, v in sp.items()}
        return cls(structural=StructuralParams(**sp), **d)


@dataclass
class Series:
    """One derived series of a channel group: a magnitude, one axis, or a scalar channel."""

    key: str
    text: str
    unit: str
    channels: list[int]  # indices into the stream's channels; >1 means the vector magnitude
    stat: str | None  # 'primary' | 'extra' | None
    struct: str | None  # 'mean' (pooled mean) | 'std' (pooled std = movement intensity) | None

    @property
    def decimals(self) -> int:
        return T.DECIMALS.get(self.unit, 2)


@dataclass
class Group:
    name: str
    series: list[Series]


def channel_groups(stream: Stream) -> list[Group]:
    """Groups by (placement, sensor), e.g. 'waist accelerometer', with their series.

    Three-axis sensors: the magnitude (statistical primary; structural pooled mean), per-axis
    values (statistical extras; structural pooled mean for accelerometers and magnetometers,
    where they follow orientation), and for accelerometers the movement intensity (pooled
    standard deviation of the magnitude). Other sensors: each channel is a primary series.
    """
    order: list[tuple[str, str]] = []
    members: dict[tuple[str, str], list[int]] = {}
    for i, ch in enumerate(stream.channels):
        if ch.sparse:
            continue
        key = (ch.placement, ch.sensor)
        if key not in members:
            order.append(key)
            members[key] = []
        members[key].append(i)
    groups = []
    for placement, sensor in order:
        idx = members[(placement, sensor)]
        chans = [stream.channels[i] for i in idx]
        place = PLACEMENT_TEXT.get(placement, placement.replace("_", " "))
        gname = f"{place} {T.SENSOR_NOUN.get(sensor, sensor)}"
        unit = chans[0].unit
        axes = {c.axis: i for c, i in zip(chans, idx) if c.axis}
        series: list[Series] = []
        gk = f"{placement}_{sensor}"
        if sensor in VECTOR_SENSORS and all(a in axes for a in "xyz") and len({c.unit for c in chans}) == 1:
            xyz = [axes[a] for a in "xyz"]
            series.append(Series(f"{gk}_mag", T.MAGNITUDE_TEXT[sensor], unit, xyz, "primary", "mean"))
            if sensor in ("acc", "lacc"):
                series.append(Series(f"{gk}_intensity", T.INTENSITY_TEXT, unit, xyz, None, "std"))
            axis_struct = "mean" if sensor in ("acc", "mag", "grav") else None
            for a in "xyz":
                series.append(Series(f"{gk}_{a}", f"{a.upper()}-axis {T.AXIS_TEXT[sensor]}", unit, [axes[a]],
                                     "extra", axis_struct))
            rest = [i for c, i in zip(chans, idx) if c.axis not in ("x", "y", "z")]
        else:
            rest = idx
        for i in rest:
            c = stream.channels[i]
            base = T.AXIS_TEXT.get(c.sensor) if c.axis else T.SCALAR_TEXT.get(c.sensor, c.sensor)
            text = f"{c.axis.upper()}-axis {base}" if c.axis and len(c.axis) == 1 else (
                f"{c.axis} {base}" if c.axis else base)
            if sum(1 for j in rest if stream.channels[j].axis == c.axis) > 1:
                text = f"{text} ({c.name.replace('_', ' ')})"
            series.append(Series(f"{gk}_{c.name}", text or c.name, c.unit, [i], "primary", "mean"))
        groups.append(Group(gname, series))
    return groups


_MASK = (1 << 64) - 1


class Rng:
    """A small, fast, fully specified PRNG (SplitMix64) for phrasing choices.

    Seeded per window part from blake2b(seed, dataset, subject, session, window start, part), so
    the draws of one window never depend on any other window, and the sequence is the same on
    every platform and Python version.
    """

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK

    def next64(self) -> int:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def randrange(self, n: int) -> int:
        return self.next64() % n  # bias below 2**-50 for the small n used here

    def random(self) -> float:
        return (self.next64() >> 11) / 9007199254740992.0

    def sample(self, n: int, k: int) -> list[int]:
        """k distinct indices of range(n), in draw order (partial Fisher-Yates)."""
        idx = list(range(n))
        for i in range(min(k, n)):
            j = i + self.randrange(n - i)
            idx[i], idx[j] = idx[j], idx[i]
        return idx[: min(k, n)]


def window_rng(seed: int, dataset: str, subject: str, session: str, start: float, part: str) -> Rng:
    key = f"{seed}|{dataset}|{subject}|{session}|{start:.6f}|{part}".encode()
    return Rng(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little"))


def _pick(rng: Rng, pool: list[tuple[str, str]]) -> tuple[str, str]:
    return pool[rng.randrange(len(pool))]


def _end(sentence: str) -> str:
    """One full stop at the end even when a unit ends with one ('a.u.')."""
    return sentence[:-1] if sentence.endswith("..") else sentence


@dataclass
class SessionCaptions:
    """Columns of the captions of one session (one row per window, one text column per level)."""

    window: list[int] = field(default_factory=list)
    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    label: list[int | None] = field(default_factory=list)
    labelled: list[float] = field(default_factory=list)
    text: dict[str, list[str]] = field(default_factory=dict)
    template_ids: dict[str, list[list[str]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.window)


class Captioner:
    """Captions windows of one stream of a dataset; ``session()`` does one session, vectorised."""

    def __init__(self, card: DatasetCard, stream: str | None = None, config: CaptionConfig | None = None,
                 levels: Sequence[str] = ("high_middle",), absolute_times: bool = False) -> None:
        """``absolute_times``: times in the text count from the session start instead of the window start
        (for figures drawn on the session's axis; stored captions keep window times)."""
        self.card = card
        self.absolute_times = absolute_times
        self._t0 = 0.0  # added to every time in the text of the window being captioned
        self.stream = card.stream(stream) if stream else card.streams[0]
        self.config = config or CaptionConfig()
        self.levels = parse_levels(levels)
        cfg = self.config
        if not cfg.labels:
            empty = [lv for lv in self.levels if all(p in SEMANTIC_PARTS for p in LEVEL_PARTS[lv])]
            if empty:
                raise CaptionError(f"level(s) {', '.join(empty)} consist only of label text; with --no-labels use "
                                   f"low, middle, middle_low (or a combined level, whose label part is then left out)")
        self.parts = [p for p in dict.fromkeys(p for lv in self.levels for p in LEVEL_PARTS[lv])
                      if cfg.labels or p not in SEMANTIC_PARTS]
        self.rate = self.stream.rate_hz
        self.nwin = int(round(cfg.window_s * self.rate))
        self.nstride = int(round(cfg.stride_s * self.rate))
        if self.nwin < cfg.structural.points or self.nstride < 1:
            raise CaptionError(f"window {cfg.window_s:g} s / stride {cfg.stride_s:g} s at {self.rate:g} Hz is too short "
                               f"(a window needs at least {cfg.structural.points} samples)")
        self.groups = channel_groups(self.stream)
        self.edges_s = bin_edges(self.nwin, cfg.structural.points) / self.rate
        self.bin_text = f"{self.nwin / self.rate / cfg.structural.points:.3g}"
        self.label_text = {lab.id: lab.text for lab in card.labels if not lab.ignore}
        self.window_text = T.fmt_time(self.nwin / self.rate)

    # ----------------------------------------------------------------------------------------
    def session(self, subject: str, session: str, t: np.ndarray, x: np.ndarray,
                lab: np.ndarray | None = None) -> SessionCaptions:
        """Captions of every window of one session; ``x`` is (n, channels) in SI units, ``lab`` -1 = null."""
        cfg = self.config
        out = SessionCaptions(text={lv: [] for lv in self.levels}, template_ids={lv: [] for lv in self.levels})
        n = len(x)
        nw = window_count(n, self.nwin, self.nstride)
        if nw == 0:
            return out
        x = np.asarray(x, dtype=np.float64)
        lab = np.full(n, -1) if lab is None else np.asarray(lab)
        starts = np.arange(nw) * self.nstride
        finite = np.isfinite(x)
        has_nan = not bool(finite.all())
        if has_nan:
            finite_any = windows(finite.any(axis=1).astype(np.int8), self.nwin, self.nstride).any(axis=1)
        else:
            finite_any = np.ones(nw, dtype=bool)

        need_low = "low" in self.parts
        need_mid = "middle" in self.parts
        stats: dict[str, dict[str, np.ndarray]] = {}
        struct: dict[str, StructuralResult] = {}
        for g in self.groups:
            mag: np.ndarray | None = None
            for s in g.series:
                if len(s.channels) > 1:
                    if mag is None:
                        mag = np.sqrt(np.sum(x[:, s.channels] ** 2, axis=1))
                    series = mag
                else:
                    series = x[:, s.channels[0]]
                xw = windows(series, self.nwin, self.nstride)
                if need_low and s.stat:
                    stats[s.key] = window_stats(xw, has_nan)
                if need_mid and s.struct:
                    mean, std = binned(xw, cfg.structural.points, with_std=s.struct == "std", has_nan=has_nan)
                    y = std if s.struct == "std" else mean
                    struct[s.key] = structural(y, cfg.noise_floor.get(s.unit, 0.0), cfg.structural)

        runs = label_runs(lab)
        for w in range(nw):
            if not finite_any[w]:
                continue
            i0 = int(starts[w])
            start = float(t[i0]) if len(t) else i0 / self.rate
            acts, present, majority, labelled = self._activities(runs, i0)
            self._t0 = start if self.absolute_times else 0.0
            texts: dict[str, tuple[str, list[str]]] = {}
            for part in self.parts:
                rng = window_rng(cfg.seed, self.card.id, subject, session, start, part)
                if part == "low":
                    texts[part] = self._low(w, stats, rng)
                elif part == "middle":
                    texts[part] = self._middle(w, struct, rng)
                elif part == "summary":
                    texts[part] = self._summary(acts, rng)
                else:
                    texts[part] = self._all(acts, rng)
            out.window.append(w)
            out.start.append(start)
            out.end.append(start + self.nwin / self.rate)
            out.labels.append(present)
            out.label.append(majority)
            out.labelled.append(labelled)
            for lv in self.levels:
                ps = [texts[p] for p in LEVEL_PARTS[lv] if p in texts]
                out.text[lv].append("\n".join(tx for tx, _ in ps if tx))
                out.template_ids[lv].append([i for _, ids in ps for i in ids])
        return out

    # ----------------------------------------------------------------------------------------
    def _activities(self, runs: tuple[np.ndarray, np.ndarray, np.ndarray], i0: int):
        """(qualifying activities [(id, start_s, end_s)], labels present, majority label, labelled fraction)."""
        rs, re_, ids = runs
        i1 = i0 + self.nwin
        j0 = int(np.searchsorted(re_, i0, side="right"))
        j1 = int(np.searchsorted(rs, i1, side="left"))
        acts: list[tuple[int, float, float]] = []
        present: list[int] = []
        total: dict[int, int] = {}
        covered = 0
        min_n = self.config.min_activity_s * self.rate - 1e-9
        for j in range(j0, j1):
            a, b, lid = max(int(rs[j]), i0), min(int(re_[j]), i1), int(ids[j])
            if b <= a:
                continue
            covered += b - a
            total[lid] = total.get(lid, 0) + (b - a)
            if lid not in present:
                present.append(lid)
            if lid in self.label_text and b - a >= min_n:
                acts.append((lid, (a - i0) / self.rate, (b - i0) / self.rate))
        majority = max(total, key=lambda k: (total[k], -present.index(k))) if total else None
        return acts, present, majority, covered / self.nwin

    def _low(self, w: int, stats: dict[str, dict[str, np.ndarray]], rng: Rng) -> tuple[str, list[str]]:
        lines, ids = [], []
        k = self.config.extras_per_group
        for g in self.groups:
            chosen = [s for s in g.series if s.stat == "primary"]
            pool = [s for s in g.series if s.stat == "extra"]
            if pool and k > 0:
                pick = sorted(rng.sample(len(pool), k))
                chosen += [pool[i] for i in pick]
            sentences = []
            for s in chosen:
                st = stats[s.key]
                vals = (st["mean"][w], st["max"][w], st["min"][w], st["std"][w])
                if not all(np.isfinite(vals)):
                    continue
                tid, tpl = _pick(rng, T.LOW)
                d = s.decimals
                sentences.append(_end(tpl.format(name=s.text, Name=T.cap(s.text), unit=s.unit,
                                                 mean=T.fmt_num(vals[0], d), max=T.fmt_num(vals[1], d),
                                                 min=T.fmt_num(vals[2], d), std=T.fmt_num(vals[3], d))))
                ids.append(tid)
            if sentences:
                lines.append(f"For the {g.name}: " + " ".join(sentences))
        return "\n".join(lines), ids

    def _middle(self, w: int, struct: dict[str, StructuralResult], rng: Rng) -> tuple[str, list[str]]:
        lines, ids = [], []
        e = self.edges_s
        for g in self.groups:
            insights: list[tuple[str, str]] = []
            steady = [s for s in g.series if s.struct and struct[s.key].steady[w]]
            if steady:
                tid, tpl = _pick(rng, T.STEADY)
                names = T.join_list([s.text for s in steady])
                one = len(steady) == 1
                insights.append((tid, tpl.format(names=names, Names=T.cap(names),
                                                 verb_stay="stays" if one else "stay",
                                                 verb_show="shows" if one else "show",
                                                 verb_remain="remains" if one else "remain")))
            for s in g.series:
                if not s.struct:
                    continue
                res = struct[s.key]
                if res.steady[w] or not res.valid[w]:
                    continue
                d = s.decimals
                for tr in res.trends[w]:
                    pool = T.TREND + T.TREND_VALUED[tr.kind]
                    tid, tpl = _pick(rng, pool)
                    insights.append((tid, _end(tpl.format(
                        name=s.text, Name=T.cap(s.text), trend=tr.kind, a_trend=T.article(tr.kind),
                        A_trend=T.cap(T.article(tr.kind)), start=T.fmt_time(e[tr.i0] + self._t0),
                        end=T.fmt_time(e[tr.i1] + self._t0),
                        v0=T.fmt_num(tr.v0, d), v1=T.fmt_num(tr.v1, d), level=T.fmt_num(tr.level, d), unit=s.unit,
                        bin=self.bin_text))))
                anoms = res.anomalies[w]
                if anoms:
                    peak_word = "peak" if rng.random() < 0.5 else "spike"
                    for an in anoms:
                        word = peak_word if an.kind == "peak" else "drop"
                        tid, tpl = _pick(rng, T.ANOMALY)
                        insights.append((tid, tpl.format(
                            name=s.text, Name=T.cap(s.text), anomaly=word, a_anomaly=T.article(word),
                            A_anomaly=T.cap(T.article(word)),
                            time=T.fmt_time((e[an.idx] + e[an.idx + 1]) / 2 + self._t0))))
            if len(insights) > self.config.max_insights:
                keep = sorted(rng.sample(len(insights), self.config.max_insights))
                insights = [insights[i] for i in keep]
            if insights:
                lines.append(f"{T.cap(g.name)}: " + " ".join(tx for _, tx in insights))
                ids += [tid for tid, _ in insights]
        return "\n".join(lines), ids

    def _none(self, rng: Rng) -> tuple[str, list[str]]:
        tid, tpl = _pick(rng, T.NO_ACTIVITY)
        return tpl.format(min=T.fmt_time(self.config.min_activity_s)), [tid]

    def _all(self, acts: list[tuple[int, float, float]], rng: Rng) -> tuple[str, list[str]]:
        if not acts:
            return self._none(rng)
        if len(acts) > self.config.max_activities:
            order = sorted(range(len(acts)), key=lambda i: (-(acts[i][2] - acts[i][1]), i))
            acts = [acts[i] for i in sorted(order[: self.config.max_activities])]
        sentences, ids = [], []
        for lid, a, b in acts:
            tid, tpl = _pick(rng, T.ACTIVITY)
            text = self.label_text[lid]
            sentences.append(tpl.format(activity=text, Activity=T.cap(text), start=T.fmt_time(a + self._t0),
                                        end=T.fmt_time(b + self._t0),
                                        duration=T.fmt_time(b - a)))
            ids.append(tid)
        return " ".join(sentences), ids

    def _summary(self, acts: list[tuple[int, float, float]], rng: Rng) -> tuple[str, list[str]]:
        if not acts:
            return self._none(rng)
        total: dict[int, float] = {}
        for lid, a, b in acts:
            total[lid] = total.get(lid, 0.0) + (b - a)
        ranked = sorted(total, key=lambda k: -total[k])[: self.config.max_summary]
        items = [f"{self.label_text[k]} ({T.fmt_time(total[k])} s)" for k in ranked]
        top = ranked[0]
        if total[top] >= 0.5 * self.nwin / self.rate:
            tid, tpl = _pick(rng, T.SUMMARY_DOMINANT)
            text = tpl.format(activity1=self.label_text[top], d1=T.fmt_time(total[top]), window=self.window_text)
            ids = [tid]
            if len(items) > 1:
                tid2, tpl2 = _pick(rng, T.SUMMARY_REST)
                text += " " + tpl2.format(list=T.join_list(items[1:]))
                ids.append(tid2)
            return text, ids
        tid, tpl = _pick(rng, T.SUMMARY)
        return tpl.format(list=T.join_list(items)), [tid]
