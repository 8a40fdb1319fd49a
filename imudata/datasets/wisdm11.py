"""WISDM v1.1: Actitracker lab data, release of December 2012 (Kwapisz, Weiss, Moore 2010).

Original layout (``WISDM_ar_latest.tar.gz``)::

    WISDM_ar_v1.1/
      readme.txt  WISDM_ar_v1.1_raw.txt  WISDM_ar_v1.1_raw_about.txt
      WISDM_ar_v1.1_trans_about.txt  WISDM_ar_v1.1_transformed.arff   (10-s window features)

``WISDM_ar_v1.1_raw.txt`` holds records ``user,activity,timestamp,x,y,z;`` terminated by ``;``,
normally one per line, but several records can share a line, some end with an extra comma
(``...,z,;``), some lack fields, and there are empty records. user 1-36; activity Walking,
Jogging, Upstairs, Downstairs, Sitting, Standing; timestamp "generally the phone's uptime in
nanoseconds" (zeros, duplicates and jitter occur); x, y, z acceleration in m/s² ("10 = 1 g"),
gravity included, phone in the front trouser pocket, 20 Hz.

Records that cannot be parsed are skipped and counted in the dataset notes. Time is rebuilt
from the sample order at 20 Hz (the raw timestamps are too irregular to use); a session is one
contiguous (user, activity) run, split where the timestamp jumps or goes back by more than 20
median steps (≈ 1 s).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from, read_lines
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs
pl = lazy("polars", globals(), "pl")

RATE = 20.0
RAW = "WISDM_ar_v1.1_raw.txt"
#: A step between non-zero timestamps larger than this many median steps (either way) starts a new session.
GAP_STEPS = 20
DOCUMENTED_RECORDS = 1_098_207

LABELS = labels_from([
    (1, "Walking", "walking"),
    (2, "Jogging", "jogging"),
    (3, "Upstairs", "walking upstairs"),
    (4, "Downstairs", "walking downstairs"),
    (5, "Sitting", "sitting"),
    (6, "Standing", "standing"),
])
_IDS = {lab.name.lower(): lab.id for lab in LABELS}

_ACC = [Channel(f"pocket_acc_{a}", "acc", "pocket", "m/s²", "m/s²", axis=a, gravity="included",
                range="±20 m/s² (about ±2 g)",
                description=f"Accelerometer {a.upper()}-axis, smartphone in the front trouser pocket, gravity included")
        for a in "xyz"]

CARD = DatasetCard(
    id="wisdm11",
    title="WISDM Activity Prediction dataset v1.1 (Actitracker lab data, 2012)",
    homepage="https://www.cis.fordham.edu/wisdm/dataset.php",
    license="No licence text; the readme asks to cite Kwapisz et al. 2010 and to include readme.txt when "
            "redistributing",
    citation=("J. R. Kwapisz, G. M. Weiss, S. A. Moore, \"Activity Recognition using Cell Phone Accelerometers\", "
              "SensorKDD-10 (KDD-10 workshop), Washington DC, 2010."),
    description="36 users with an Android phone in the front trouser pocket walking, jogging, climbing stairs, "
                "sitting and standing in a controlled setting; accelerometer at 20 Hz.",
    streams=[Stream("acc", RATE, _ACC, "Smartphone accelerometer, 20 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "parsing": "the raw file is split into records on ';' and on line ends; a trailing comma before ';' is "
                   "tolerated; a record without exactly 6 fields, a non-integer user or timestamp, a non-numeric "
                   "value or an unknown activity is skipped and counted in the dataset notes (completeness.notes), "
                   "with the first examples and their line numbers. Exact duplicate records are dropped and counted.",
        "rate": "20 Hz (readme: one sample every 50 ms). The raw timestamps (uptime ns, with zeros, duplicates and "
                "50-110 ms jitter) are not stored; t = sample order / 20 inside each session.",
        "acc_unit": "m/s² with gravity, scale 1: the about file says '10 = 1 g = 9.81 m/s²' and values lie in "
                    "-20..20; not checked on the raw file (no copy available).",
        "placement": "front trouser pocket (readme), stored as 'pocket'.",
        "labels": "activity string per record (matched case-insensitively), ids 1-6 in the readme's order; no null "
                  "class.",
        "sessions": "contiguous runs of one (user, activity) in file order, named by the activity in lower case "
                    "('walking', then 'walking.2', ...); a run is split where the step between non-zero "
                    "timestamps exceeds 20 median steps of that run in either direction (about 1 s). Records with "
                    "timestamp 0 stay in place.",
        "arff": "WISDM_ar_v1.1_transformed.arff (window features) is not converted.",
    },
)


@lru_cache(maxsize=2)
def _parse_cached(path: str, mtime_ns: int, size: int) -> tuple[pl.DataFrame, int, list[str], int]:
    lines = pl.DataFrame({"line": read_lines(Path(path))}).with_row_index("lineno", offset=1)
    rec = (lines.filter(pl.col("line").is_not_null())
           .with_columns(pl.col("line").str.split(";").alias("rec"))
           .explode("rec")
           .with_columns(pl.col("rec").str.strip_chars())
           .filter(pl.col("rec") != ""))
    body = pl.col("rec").str.replace(r",\s*$", "")  # the extra comma some records carry before ';'
    f = body.str.split(",")
    rec = rec.with_columns(f.alias("f")).with_columns(
        pl.col("f").list.len().alias("n"),
        pl.col("f").list.get(0, null_on_oob=True).str.strip_chars().cast(pl.Int64, strict=False).alias("user"),
        pl.col("f").list.get(1, null_on_oob=True).str.strip_chars().str.to_lowercase()
        .replace_strict(_IDS, default=None, return_dtype=pl.Int16).alias("label"),
        pl.col("f").list.get(2, null_on_oob=True).str.strip_chars().cast(pl.Int64, strict=False).alias("ts"),
        *[pl.col("f").list.get(3 + i, null_on_oob=True).str.strip_chars().cast(pl.Float64, strict=False).alias(a)
          for i, a in enumerate("xyz")],
    )
    ok = (pl.col("n") == 6) & pl.all_horizontal(pl.col("user", "label", "ts", "x", "y", "z").is_not_null())
    ok = ok & pl.all_horizontal(pl.col("x", "y", "z").is_finite())
    bad = rec.filter(~ok)
    examples = [f"line {r['lineno']}: {r['rec'][:60]!r}" for r in bad.head(3).iter_rows(named=True)]
    good = rec.filter(ok).select("lineno", "user", "label", "ts", "x", "y", "z")
    # an exact repeat of the previous record (same user, activity, timestamp and values) carries no information
    same = pl.all_horizontal([pl.col(c) == pl.col(c).shift(1) for c in ("user", "label", "ts", "x", "y", "z")])
    dup = good.select(same.fill_null(False).alias("d"))["d"]
    n_dup = int(dup.sum())
    good = good.filter(~dup).with_row_index("k")
    return good, bad.height, examples, n_dup


def parse_raw(path: Path) -> tuple[pl.DataFrame, int, list[str], int]:
    """The raw file as (valid records, number of malformed records, first examples, exact duplicates dropped).

    Valid records have columns k (0-based index among valid records), lineno (1-based physical line),
    user, label (stored id), ts, x, y, z.
    """
    if not path.exists():
        raise FormatError(f"{path} is missing: WISDM v1.1 data come from that file")
    st = path.stat()
    return _parse_cached(str(path), st.st_mtime_ns, st.st_size)


def plan(root: Path) -> Plan:
    good, n_bad, examples, n_dup = parse_raw(root / RAW)
    if good.height == 0:
        raise FormatError(f"{root / RAW}: no record parses as 'user,activity,timestamp,x,y,z;'")
    users = sorted(set(good["user"].to_list()))
    notes = [f"{good.height:,} records converted (readme: {DOCUMENTED_RECORDS:,})",
             f"{n_bad:,} malformed records skipped (cannot be parsed as user,activity,timestamp,x,y,z)"
             + (f"; first: {'; '.join(examples)}" if examples else "")]
    if n_dup:
        notes.append(f"{n_dup:,} exact duplicate records dropped")
    n_zero = int((good["ts"] == 0).sum())
    if n_zero:
        notes.append(f"{n_zero:,} records with timestamp 0 kept in file order")
    return Plan(subjects={str(u): RAW for u in users}, notes=notes)


def _breaks(ts: np.ndarray) -> np.ndarray:
    """Indices (> 0) inside one run where a new session starts: a large jump between non-zero timestamps."""
    nz = np.flatnonzero(ts != 0)
    if len(nz) < 2:
        return np.array([], dtype=np.int64)
    step = np.diff(ts[nz])
    pos = step[step > 0]
    if not len(pos):
        return np.array([], dtype=np.int64)
    med = float(np.median(pos))
    big = np.flatnonzero(np.abs(step) > GAP_STEPS * med)
    return nz[big + 1]


def read(root: Path, subject: str, unit: str) -> Iterator[Session]:
    good, _, _, _ = parse_raw(root / unit)
    mine = good.filter(pl.col("user") == int(subject))
    if mine.height == 0:
        return
    label = mine["label"].to_numpy().astype(np.int16)
    ts = mine["ts"].to_numpy()
    xyz = mine.select("x", "y", "z").to_numpy()
    # rows are in file order; a run ends where the activity changes or another user's records intervene
    index = mine["k"].to_numpy()
    run_cut = np.flatnonzero((label[1:] != label[:-1]) | (np.diff(index) != 1)) + 1
    runs = [0, *run_cut.tolist(), len(label)]
    count: dict[int, int] = {}
    for a, b in zip(runs[:-1], runs[1:]):
        cuts = [a, *(a + _breaks(ts[a:b])).tolist(), b]
        for c, d in zip(cuts[:-1], cuts[1:]):
            lab = int(label[c])
            count[lab] = count.get(lab, 0) + 1
            base = LABELS[lab - 1].name.lower()
            name = base if count[lab] == 1 else f"{base}.{count[lab]}"
            cols = {f"pocket_acc_{ax}": xyz[c:d, i] for i, ax in enumerate("xyz")}
            yield Session("acc", subject, name, cols, label[c:d])


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="WISDM_ar_latest.tar.gz",
        urls=["https://www.cis.fordham.edu/wisdm/includes/datasets/latest/WISDM_ar_latest.tar.gz"],
    )],
    marker=RAW,
    layout=('WISDM_ar_v1.1_raw.txt',),
    aliases=("wisdm-v1.1",),
    plan=plan,
    read=read,
    hours=round(DOCUMENTED_RECORDS / RATE / 3600, 1),
    n_subjects=36,
)
