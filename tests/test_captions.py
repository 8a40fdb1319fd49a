"""Captions: every sentence is a template instance, and every number and claim in it is true.

The checks parse each caption back (one sentence per recorded template id) and compare it with
statistics computed here, independently, with numpy on the window's rows read from the shards
(or, for HAPT, from the original text files).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from imudata.captions import LEVELS, CaptionConfig, CaptionError, Captioner, caption_dataset, channel_groups
from imudata.captions import templates as T
from imudata.captions.generate import LEVEL_PARTS, NOISE_FLOOR

from .conftest import realdata
from .test_signal import PLAN_A, PLAN_B, hapt_card, imu_session, make_dataset

RATE = 50.0
QUIET = {"progress": False, "log": lambda m: None}


@pytest.fixture
def synth(data_root: Path) -> Path:
    """Three sessions of a waist IMU with HAPT's card: walking, standing, transitions, lying, unlabelled gaps."""
    xa, la = imu_session(PLAN_A + PLAN_B, seed=1)  # 240 s
    xb, lb = imu_session(PLAN_B + PLAN_A, seed=2)
    xc, lc = imu_session(PLAN_B, seed=3)
    make_dataset(data_root, [("1", "exp01", xa, la), ("1", "exp02", xb, lb), ("2", "exp03", xc, lc)])
    return data_root


# --------------------------------------------------------------------------------------------
# parsing captions back and recomputing the truth


class Truth:
    """The signal of every session of a stream, and the reference computations on a window."""

    def __init__(self, card, frame: pl.DataFrame, window_s: float = 60.0, points: int = 30):
        self.stream = card.streams[0]
        self.card = card
        self.rate = self.stream.rate_hz
        self.nwin = int(round(window_s * self.rate))
        self.edges = np.rint(np.linspace(0, self.nwin, points + 1)).astype(int)
        self.bin_s = window_s / points
        self.sessions = {}
        for (subj, sess), g in frame.group_by(["subject", "session"]):
            g = g.sort("t")
            self.sessions[(subj, sess)] = (
                {c.name: g[c.name].to_numpy().astype(np.float64) for c in self.stream.channels},
                g["label"].fill_null(-1).to_numpy(),
            )
        self.groups = channel_groups(self.stream)
        self.label_text = {lab.id: lab.text for lab in card.labels if not lab.ignore}
        series = [s.text for g in self.groups for s in g.series]
        units = {c.unit for c in self.stream.channels}
        acts = list(self.label_text.values())
        self.fields = {
            "name": T.alternation(series), "Name": T.alternation(T.cap(s) for s in series),
            "unit": T.alternation(units), "activity": T.alternation(acts), "Activity": T.alternation(T.cap(a) for a in acts),
            "activity1": T.alternation(acts), "trend": "increasing|decreasing|stable",
            "a_trend": "an increasing|a decreasing|a stable", "A_trend": "An increasing|A decreasing|A stable",
            "anomaly": "peak|spike|drop", "a_anomaly": "a peak|a spike|a drop", "A_anomaly": "A peak|A spike|A drop",
            "names": ".+?", "Names": ".+?", "list": ".+?", "verb_stay": "stays|stay", "verb_show": "shows|show",
            "verb_remain": "remains|remain", "min": T.NUMBER,
        }
        self.regex = {tid: T.template_regex(text, self.fields) for tid, text in T.ALL.items()}
        gnames = [g.name for g in self.groups]
        self.prefix = re.compile(rf"^(?:For the (?:{T.alternation(gnames)}): |(?:{T.alternation(T.cap(g) for g in gnames)}): )")

    def window(self, subject: str, session: str, start: float):
        cols, lab = self.sessions[(subject, session)]
        i0 = int(round(start * self.rate))
        return {k: v[i0:i0 + self.nwin] for k, v in cols.items()}, lab[i0:i0 + self.nwin]

    def series(self, w: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, str]:
        """(samples, 'mean' | 'std') of a series named in the text, computed from the channels."""
        for g in self.groups:
            for s in g.series:
                if s.text == name:
                    cols = [self.stream.channels[i].name for i in s.channels]
                    if len(cols) == 1:
                        return w[cols[0]], s.struct or "mean"
                    return np.sqrt(sum(w[c] ** 2 for c in cols)), s.struct or "mean"
        raise KeyError(name)

    def pooled(self, w, name: str) -> np.ndarray:
        x, how = self.series(w, name)
        parts = [x[a:b] for a, b in zip(self.edges[:-1], self.edges[1:])]
        return np.array([p.std() if how == "std" else p.mean() for p in parts])

    def unit_of(self, name: str) -> str:
        for g in self.groups:
            for s in g.series:
                if s.text == name:
                    return s.unit
        raise KeyError(name)

    def sentences(self, text: str, ids: list[str]) -> list[tuple[str, dict[str, str]]]:
        """[(template id, fields)] for every sentence; asserts each is exactly its template."""
        sents = []
        for line in text.split("\n"):
            line = self.prefix.sub("", line)
            sents += [s for s in re.split(r"(?<=\.)\s+(?=[A-Z])", line) if s]
        assert len(sents) == len(ids), (sents, ids)
        out = []
        for s, tid in zip(sents, ids):
            m = self.regex[tid].fullmatch(s)
            assert m, f"sentence {s!r} is not an instance of template {tid}: {T.ALL[tid]!r}"
            out.append((tid, m.groupdict()))
        return out


def close(text: str, value: float, decimals: int = 2) -> bool:
    return abs(float(text) - value) <= 0.5 * 10 ** -decimals + 1e-9 * max(1.0, abs(value))


def check_caption(truth: Truth, row: dict, *, counts: dict[str, int] | None = None) -> None:
    """Assert every number and claim of one caption row against the window's data."""
    counts = counts if counts is not None else {}
    w, lab = truth.window(row["subject"], row["session"], row["start"])
    params = CaptionConfig().structural
    scale = dict(zip(params.trend_windows, params.trend_scales))
    for tid, f in truth.sentences(row["text"], row["template_ids"]):
        kind = tid.split(".")[0]
        counts[kind] = counts.get(kind, 0) + 1
        name = f.get("name") or (f.get("Name") and f["Name"][:1].lower() + f["Name"][1:])
        if name and name not in {s.text for g in truth.groups for s in g.series}:
            name = f["Name"]  # names that start with a capital, e.g. 'X-axis acceleration'
        if kind == "low":
            x, _ = truth.series(w, name)
            assert f["unit"] == truth.unit_of(name)
            for key, val in (("mean", x.mean()), ("max", x.max()), ("min", x.min()), ("std", x.std())):
                assert close(f[key], val), (row["text"], name, key, f[key], val)
        elif kind == "trend":
            y = truth.pooled(w, name)
            R = y.max() - y.min()
            i0, i1 = int(round(float(f["start"]) / truth.bin_s)), int(round(float(f["end"]) / truth.bin_s))
            seg = y[i0:i1]
            assert len(seg) in scale, (tid, f)
            slope = np.polyfit(np.arange(len(seg)), seg, 1)[0]
            trend = f.get("trend") or (f.get("a_trend") or f.get("A_trend") or "").split(" ")[-1] or \
                {"inc": "increasing", "dec": "decreasing", "sta": "stable"}[tid.split(".")[1]]
            if trend == "increasing":
                assert slope > scale[len(seg)] * R / 40 and seg[-1] - seg[0] > 0.2 * R, (row["text"], f)
            elif trend == "decreasing":
                assert slope < -scale[len(seg)] * R / 40 and seg[0] - seg[-1] > 0.2 * R, (row["text"], f)
            else:
                assert abs(slope) < 0.01 * R and np.ptp(seg) < 0.1 * R, (row["text"], f)
            assert R >= NOISE_FLOOR.get(truth.unit_of(name), 0.0)
            if "v0" in f:
                assert close(f["v0"], seg[0]) and close(f["v1"], seg[-1]), (f, seg[0], seg[-1])
            if "level" in f:
                assert close(f["level"], seg.mean())
        elif kind == "anom":
            y = truth.pooled(w, name)
            R, mean = y.max() - y.min(), y.mean()
            k = int(float(f["time"]) / truth.bin_s)
            assert abs((k + 0.5) * truth.bin_s - float(f["time"])) < 0.051
            word = (f.get("anomaly") or f.get("a_anomaly") or f.get("A_anomaly")).split(" ")[-1]
            lo, hi = max(k - 1, 0), min(k + 2, len(y))
            if word == "drop":
                assert y[k] <= mean + 0.4 * R and y[k] == y[lo:hi].min(), (row["text"], f)
                assert min(y[:k + 1].max(), y[k:].max()) - y[k] >= 0.5 * R
            else:
                assert y[k] >= mean + 0.6 * R and y[k] == y[lo:hi].max(), (row["text"], f)
                assert y[k] - max(y[:k + 1].min(), y[k:].min()) >= 0.5 * R
        elif kind == "steady":
            names = re.split(r", | and ", f.get("names") or f["Names"][:1].lower() + f["Names"][1:])
            for n in names:
                n = n if n in {s.text for g in truth.groups for s in g.series} else T.cap(n)
                y = truth.pooled(w, n)
                assert y.max() - y.min() < NOISE_FLOOR[truth.unit_of(n)], (n, np.ptp(y))
    check_semantic(truth, row, lab)


def expected_activities(truth: Truth, lab: np.ndarray, min_s: float = 2.0) -> list[tuple[str, float, float]]:
    out = []
    i = 0
    while i < len(lab):
        j = i
        while j < len(lab) and lab[j] == lab[i]:
            j += 1
        if lab[i] >= 0 and lab[i] in truth.label_text and (j - i) / truth.rate >= min_s - 1e-9:
            out.append((truth.label_text[lab[i]], i / truth.rate, j / truth.rate))
        i = j
    return out


def check_semantic(truth: Truth, row: dict, lab: np.ndarray) -> None:
    parts = LEVEL_PARTS[row["level"]]
    acts = expected_activities(truth, lab)
    ids = row["template_ids"]
    sents = dict(enumerate(truth.sentences(row["text"], ids)))
    said = [f for _, (tid, f) in sents.items() if tid.startswith("act.")]
    if "all" in parts and row["label_conditioned"]:
        if len(acts) > 8:
            acts = sorted(sorted(acts, key=lambda a: -(a[2] - a[1]))[:8], key=lambda a: a[1])
        got = [((f.get("activity") or f["Activity"]).lower(), float(f["start"]), float(f["end"])) for f in said]
        assert len(got) == len(acts), (row["text"], acts)
        for (a, s, e), (ga, gs, ge) in zip(acts, got):
            assert ga == a.lower() and abs(gs - s) <= 0.051 and abs(ge - e) <= 0.051, (row["text"], acts)
        if not acts:
            assert any(t.startswith("none.") for t in ids)
    elif "summary" in parts and row["label_conditioned"]:
        totals: dict[str, float] = {}
        for a, s, e in acts:
            totals[a] = totals.get(a, 0.0) + e - s
        items = re.findall(rf"({T.alternation(totals or ['-'])}) \(({T.NUMBER}) s", row["text"])
        m = re.search(rf"(?:Mostly|mainly) ({T.alternation(totals or ['-'])}),? (?:\(|for )({T.NUMBER})", row["text"])
        if m:
            items.insert(0, m.groups())
        items = list(dict.fromkeys(items))
        ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:3]
        assert [(a, round(d, 1)) for a, d in ranked] == [(a, round(float(d), 1)) for a, d in items], (row["text"], ranked)
    else:
        assert not said


def read_captions(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(str(folder / "*.parquet")).sort("subject", "session", "start")


def load_truth(root: Path, name: str = "hapt", window_s: float = 60.0) -> Truth:
    import imudata

    ds = imudata.open(name, root)
    return Truth(ds.card, ds.scan(ds.card.streams[0].name).collect(), window_s)


# --------------------------------------------------------------------------------------------
# the structural features against a plain re-statement of SensorLM's algorithm (model-anchors §3.3)


def _reference_trends(y: np.ndarray) -> list[tuple[str, int, int]]:
    """SensorLM's trend selection on one series, written out loop by loop (spans in points)."""
    from scipy.stats import linregress

    R = y.max() - y.min()
    cands = []
    for w, sc in ((6, 1.5), (8, 1.3), (12, 1.0)):
        for i in range(0, len(y) - w + 1, w // 2):
            seg = y[i:i + w]
            slope = linregress(np.arange(w), seg).slope
            if slope > sc * R / 40 and seg[-1] - seg[0] > 0.2 * R:
                cands.append(("increasing", i, w, abs(seg[-1] - seg[0]), abs(slope)))
            elif slope < -sc * R / 40 and seg[0] - seg[-1] > 0.2 * R:
                cands.append(("decreasing", i, w, abs(seg[-1] - seg[0]), abs(slope)))
            elif abs(slope) < 0.01 * R and seg.max() - seg.min() < 0.1 * R:
                cands.append(("stable", i, w, 0.2 * R, 1.0))
    cands.sort(key=lambda c: (-c[3], -c[4], -c[2]))  # stable sort keeps generation order on ties
    chosen: list[tuple[int, int, str, int]] = []
    for kind, i, w, *_ in cands:
        s1, e1 = i + 1, i + w
        if any(max(0, min(e1, e2) - max(s1, s2)) > 0.3 * min(e1 - s1, e2 - s2) for s2, e2, _, _ in chosen):
            continue
        chosen.append((s1, e1, kind, i))
        if len(chosen) == 3:
            break
    return [(kind, i, i + e - s + 1) for s, e, kind, i in sorted(chosen)]


def test_structural_features_match_the_reference_algorithm():
    from scipy.signal import find_peaks

    from imudata.captions.features import StructuralParams, anomalies, trends

    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(size=(240, 30)), axis=1)
    y[::4, 10:16] = y[::4, 10:11]  # flat stretches: stable candidates
    y[1::5] += (rng.random((48, 30)) < 0.06) * 9  # spikes
    y = np.round(y, 1)  # ties
    R = y.max(axis=1) - y.min(axis=1)
    act = np.ones(len(y), dtype=bool)
    p = StructuralParams()
    got_t, got_a = trends(y, R, act, p), anomalies(y, R, act, p)
    n_t = n_a = 0
    for r in range(len(y)):
        assert [(t.kind, t.i0, t.i1) for t in got_t[r]] == _reference_trends(y[r]), r
        m, Rr = y[r].mean(), R[r]
        peaks, _ = find_peaks(y[r], prominence=0.5 * Rr, height=m + 0.6 * Rr, distance=5, width=(None, 4))
        valleys, _ = find_peaks(-y[r], prominence=0.5 * Rr, height=-m - 0.4 * Rr, distance=5, width=(None, 4))
        expect = sorted([("peak", int(i)) for i in peaks] + [("valley", int(i)) for i in valleys])
        assert sorted((a.kind, a.idx) for a in got_a[r]) == expect, r
        n_t += len(got_t[r])
        n_a += len(expect)
    assert n_t > 200 and n_a > 30


# --------------------------------------------------------------------------------------------
# tests on synthetic converted datasets


def test_statistical_numbers_are_true(synth: Path):
    out = caption_dataset("hapt", synth, levels="low", config=CaptionConfig(stride_s=20.0), **QUIET)
    df = read_captions(out["low"])
    truth = load_truth(synth)
    assert len(df) == 2 * 10 + 4  # 240 s sessions: 10 windows of 60 s every 20 s; 120 s: 4
    counts: dict[str, int] = {}
    for row in df.iter_rows(named=True):
        check_caption(truth, row, counts=counts)
    assert counts["low"] >= 4 * len(df)  # magnitude + one random axis, for both sensors


def test_structural_claims_are_true(synth: Path):
    out = caption_dataset("hapt", synth, levels="middle", config=CaptionConfig(stride_s=15.0), **QUIET)
    df = read_captions(out["middle"])
    truth = load_truth(synth)
    counts: dict[str, int] = {}
    for row in df.iter_rows(named=True):
        check_caption(truth, row, counts=counts)
    # the check is not vacuous: trends, anomalies and steady stretches were all claimed (and verified)
    assert counts.get("trend", 0) > 20 and counts.get("anom", 0) > 3 and counts.get("steady", 0) > 3, counts
    assert df["text"].str.contains(r"\d+\.\d\d m/s²").any()  # valued trend phrasings occur


def test_semantic_activities_and_summary(synth: Path):
    out = caption_dataset("hapt", synth, levels="high_all,high_summary,high_middle_low", **QUIET)
    truth = load_truth(synth)
    for level in ("high_all", "high_summary", "high_middle_low"):
        df = read_captions(out[level])
        assert df["label_conditioned"].all()
        for row in df.iter_rows(named=True):
            check_caption(truth, row)
    first = read_captions(out["high_all"]).row(0, named=True)
    # PLAN_A: walking 2-27 s, standing 27-41 s, lying down from standing 41-44 s, lying down 44-74 s
    assert "walking" in first["text"].lower() and "lying down from standing" in first["text"].lower()
    assert first["labels"] == [1, 5, 11, 6] and first["label"] == 1
    assert first["labelled"] == pytest.approx(58 / 60)


def test_all_eight_levels_compose_their_parts(synth: Path):
    out = caption_dataset("hapt", synth, levels="all", **QUIET)
    assert set(out) == set(LEVELS)
    frames = {lv: read_captions(out[lv]) for lv in LEVELS}
    n = len(frames["low"])
    assert n == 2 * 4 + 2 and all(len(f) == n for f in frames.values())
    for lv in LEVELS:
        assert (frames[lv]["text"].str.len_chars() > 0).all(), lv
    for i in range(n):
        part = {"low": frames["low"]["text"][i], "middle": frames["middle"]["text"][i],
                "all": frames["high_all"]["text"][i], "summary": frames["high_summary"]["text"][i]}
        for lv in LEVELS:
            expect = "\n".join(part[p] for p in LEVEL_PARTS[lv] if part[p])
            assert frames[lv]["text"][i] == expect, lv
    row = frames["high_middle"].row(0, named=True)
    assert row["generator"] == T.GENERATOR and row["seed"] == 0 and row["level"] == "high_middle"
    assert row["end"] - row["start"] == 60.0 and row["stream"] == "imu" and row["dataset"] == "hapt"
    index = json.loads((out["high_middle"] / "captions.json").read_text())
    assert index["config"]["window_s"] == 60.0 and index["rows"] == n and len(index["parts"]) == 2


def test_deterministic_by_seed_and_independent_of_order(synth: Path):
    a = read_captions(caption_dataset("hapt", synth, levels="high_middle_low", **QUIET)["high_middle_low"])
    b = read_captions(caption_dataset("hapt", synth, levels="high_middle_low", workers=2, **QUIET)["high_middle_low"])
    assert a.equals(b)
    c = read_captions(caption_dataset("hapt", synth, levels="high_middle_low", config=CaptionConfig(seed=7),
                                      **QUIET)["high_middle_low"])
    assert (a["text"] != c["text"]).sum() >= len(a) // 2
    # one session captioned alone, from arrays, gives the same rows (no dependence on processing order)
    truth = load_truth(synth)
    cols, lab = truth.sessions[("2", "exp03")]
    x = np.column_stack([cols[c.name] for c in truth.stream.channels])
    cap = Captioner(hapt_card(), None, CaptionConfig(), ["high_middle_low"])
    sc = cap.session("2", "exp03", np.arange(len(x)) / RATE, x, lab)
    assert sc.text["high_middle_low"] == a.filter(pl.col("session") == "exp03")["text"].to_list()


def test_no_labels_leaks_no_label(synth: Path):
    cfg = CaptionConfig(labels=False, stride_s=30.0)
    out = caption_dataset("hapt", synth, levels="low,middle,middle_low,high_low,high_middle,high_middle_low",
                          config=cfg, **QUIET)
    card = hapt_card()
    words = set()
    for lab in card.labels:
        words |= {lab.text.lower(), lab.name.lower().replace("_", " ")}
        words |= {w for w in re.split(r"[\s_]+", lab.text.lower() + " " + lab.name.lower()) if len(w) > 3 and w != "from"}
    words |= {"walk", "walks", "walked", "stair", "stairs", "sit", "sits", "stand", "stands", "lie", "lies", "lay",
              "lying", "laying", "transition", "transitions", "activity", "activities", "label", "labelled", "person",
              "posture"}
    try:  # the cross-dataset vocabulary's synonyms, where present (imudata.vocabulary)
        from imudata.vocabulary import mapping

        for c in mapping("hapt").values():
            for phrase in (c.text, c.name.replace("_", " "), *c.synonyms):
                words |= {phrase.lower()} | {w for w in phrase.lower().split() if len(w) > 3 and w != "from"}
    except ImportError:
        pass
    pattern = re.compile(rf"\b(?:{T.alternation(words)})\b", re.IGNORECASE)
    total = 0
    for lv, folder in out.items():
        assert folder.name == f"{lv}_nolabels"
        df = read_captions(folder)
        assert not df["label_conditioned"].any()
        for text, ids in zip(df["text"], df["template_ids"]):
            assert not pattern.search(text), (lv, pattern.search(text).group(0), text)
            assert not any(i.startswith(("act.", "sum.", "none.")) for i in ids)
            total += 1
    assert total > 0
    hm = read_captions(out["high_middle"])["text"].to_list()
    assert hm == read_captions(out["middle"])["text"].to_list()  # the label part is simply left out
    with pytest.raises(CaptionError, match="only of label text"):
        caption_dataset("hapt", synth, levels="high_summary", config=cfg, **QUIET)


def test_cli_caption_all_datasets_manifest_and_plot(synth: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from imudata.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["caption", "--level", "high_middle", "-q"])  # no NAME: every converted dataset
    assert res.exit_code == 0, res.output
    assert (synth / "hapt" / "captions" / "high_middle" / "part-00000.parquet").exists()
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nname: t\ndefaults: {window_s: 5.0, patch_s: 1.0}\n"
                        "datasets:\n  - id: hapt\n    stream: imu\n    role: pretrain\n    splits: {train: all}\n")
    res = runner.invoke(app, ["caption", "--manifest", str(manifest), "--level", "low", "--window", "30",
                              "--stride", "30", "--seed", "3", "--no-labels", "-q"])
    assert res.exit_code == 0, res.output
    df = read_captions(synth / "hapt" / "captions" / "low_nolabels")
    assert (df["end"] - df["start"] == 30.0).all() and (df["seed"] == 3).all()
    other = tmp_path / "other.yaml"
    other.write_text(manifest.read_text().replace("id: hapt", "id: dsads"))
    res = runner.invoke(app, ["caption", "--manifest", str(other), "-q"])
    assert res.exit_code != 0 and "dsads" in str(res.exception)
    res = runner.invoke(app, ["caption", "hapt", "--level", "bogus"])
    assert res.exit_code != 0
    png = tmp_path / "fig.png"
    res = runner.invoke(app, ["plot", "hapt", "--session", "1/exp01", "--out", str(png), "--duration", "120"])
    assert res.exit_code == 0, res.output
    assert png.stat().st_size > 50_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------
# real data: HAPT


def _hapt_raw(src: Path) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Signals (SI) and labels per session straight from the original text files (not via imudata)."""
    from imudata.format import G

    table = np.loadtxt(src / "RawData" / "labels.txt", dtype=np.int64, ndmin=2)
    cols, labels = {}, {}
    for f in sorted((src / "RawData").glob("acc_exp*_user*.txt")):
        exp = int(re.search(r"exp(\d+)", f.name).group(1))
        acc = np.loadtxt(f) * G
        gyro = np.loadtxt(f.with_name(f.name.replace("acc_", "gyro_")))
        sess = f"exp{exp:02d}"
        cols[sess] = {**{f"waist_acc_{a}": acc[:, i] for i, a in enumerate("xyz")},
                      **{f"waist_gyro_{a}": gyro[:, i] for i, a in enumerate("xyz")}}
        lab = np.full(len(acc), -1)
        for _, _, act, s, e in table[table[:, 0] == exp]:
            lab[s - 1:e] = act
        labels[sess] = lab
    return cols, labels


def test_real_hapt_bands_and_captions_are_true(data_root: Path):
    src = realdata("hapt")
    from imudata.acquire import fetch
    from imudata.convert import convert
    from imudata.derive import derive_bands

    fetch("hapt", data_root, from_path=src, progress=False, log=lambda m: None)
    convert("hapt", data_root, progress=False, log=lambda m: None)
    derive_bands("hapt", data_root, progress=False, log=lambda m: None)
    import imudata

    ds = imudata.open("hapt", data_root)
    imu, bands = ds.scan("imu").collect(), ds.scan("imu_bands").collect()
    for ch in ("waist_acc_x", "waist_gyro_y"):
        total = sum(bands[f"{ch}_band{i}"].to_numpy().astype(np.float64) for i in range(3))
        assert np.abs(total - imu[ch].to_numpy()).max() < 1e-5 * np.abs(imu[ch].to_numpy()).max()

    out = caption_dataset("hapt", data_root, levels="high_middle,low", **QUIET)
    cols, labels = _hapt_raw(src)
    truth = load_truth(data_root)
    # the truth comes from the original text files, not from the converted shards
    truth.sessions = {(subj, sess): (cols[sess], labels[sess]) for (subj, sess) in truth.sessions}
    hm = read_captions(out["high_middle"])
    total = sum(len(lab) // 3000 for lab in labels.values())
    assert len(hm) == total and hm["label_conditioned"].all()
    counts: dict[str, int] = {}
    for level in ("high_middle", "low"):
        for row in read_captions(out[level]).iter_rows(named=True):
            check_caption(truth, row, counts=counts)
    assert counts["act"] > 50 and counts["trend"] > 50 and counts["low"] >= 4 * total, counts
    # the activities of labels.txt appear with their own words: e.g. experiment 9's first minute
    first = hm.filter((pl.col("session") == "exp09") & (pl.col("start") == 0.0))["text"][0]
    for words in ("standing", "sitting down from standing", "sitting", "standing up from sitting"):
        assert words in first.lower()
