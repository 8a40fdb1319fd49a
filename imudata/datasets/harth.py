"""HARTH: Human Activity Recognition Trondheim (UCI 779, v1.2; Logacjov et al. 2021).

Original layout: ``harth/S006.csv, S008.csv, ... S029.csv`` (22 subjects; S007 and S011 do not exist).
Each CSV has the header ``timestamp,back_x,back_y,back_z,thigh_x,thigh_y,thigh_z,label``:
``timestamp`` is a wall-clock datetime ``YYYY-MM-DD HH:MM:SS.fff`` without time zone, the six
signals are two Axivity AX3 accelerometers (lower back, right thigh) in g with gravity (±8 g),
resampled by the authors to 50 Hz, and ``label`` is the activity id of every row (no null class).

Quirks handled: some files carry a ninth column (an explicit ``index`` or an unnamed leading column):
columns are selected by name and anything else is ignored; early versions wrote labels as floats
(``1.0``), so labels are parsed as numbers and must be integral. ``t`` is the timestamp in seconds
since 1970-01-01 read as if the local wall-clock time were UTC (so time of day is preserved). A file
is split into sessions wherever a step between timestamps is outside 10-30 ms (a missing sample or
a jump); the first session is named after the subject (``S006``), later ones ``S006.2``, ``S006.3``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import G, Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs
pl = lazy("polars", globals(), "pl")

RATE = 50.0
#: a step between consecutive timestamps outside this range (seconds) starts a new session
STEP_MIN, STEP_MAX = 0.010, 0.030
SIGNALS = ["back_x", "back_y", "back_z", "thigh_x", "thigh_y", "thigh_z"]
COLUMNS = ["timestamp", *SIGNALS, "label"]
#: subjects of the v1.2 release
SUBJECTS = ["S006", "S008", "S009", "S010", *[f"S{i:03d}" for i in range(12, 30)]]
_FILE = re.compile(r"^(S\d{3})\.csv$")
_WHERE = {"back": "lower back (about the third lumbar vertebra)",
          "thigh": "front of the right thigh, about 10 cm above the knee"}

LABELS = labels_from([
    (1, "walking", "walking"),
    (2, "running", "running"),
    (3, "shuffling", "shuffling (standing with leg movement)"),
    (4, "stairs (ascending)", "walking upstairs"),
    (5, "stairs (descending)", "walking downstairs"),
    (6, "standing", "standing"),
    (7, "sitting", "sitting"),
    (8, "lying", "lying down"),
    (13, "cycling (sit)", "cycling while sitting on the saddle"),
    (14, "cycling (stand)", "cycling while standing on the pedals"),
    (130, "cycling (sit, inactive)", "sitting on a bicycle without pedalling"),
    (140, "cycling (stand, inactive)", "standing on a bicycle without pedalling"),
])
_KNOWN = [lab.id for lab in LABELS]


def _channels() -> list[Channel]:
    return [Channel(f"{s}_acc_{a}", "acc", s, "m/s²", "g", scale=G, axis=a, gravity="included", range="±8 g",
                    description=f"Accelerometer {a.upper()}-axis (±8 g), {_WHERE[s]}, gravity included"
                                + ("; X runs along the body (about 1 g when upright)" if a == "x" else ""))
            for s in ("back", "thigh") for a in "xyz"]


CARD = DatasetCard(
    id="harth",
    title="HARTH: Human Activity Recognition Trondheim (v1.2)",
    homepage="https://archive.ics.uci.edu/dataset/779/harth",
    license="CC BY 4.0 (UCI); the authors' GitHub repository (ntnu-ai-lab/harth-ml-experiments) is MIT",
    citation=("A. Logacjov, K. Bach, A. Kongsvold, H. B. Bårdstu, P. J. Mork, \"HARTH: A Human Activity "
              "Recognition Dataset for Machine Learning\", Sensors 21(23):7853, 2021."),
    description="22 adults recorded for 1.5-2 hours in free living with two Axivity AX3 accelerometers (lower "
                "back and right thigh) at 50 Hz, annotated frame by frame from a chest-mounted video camera.",
    streams=[Stream("imu", RATE, _channels(), "Two Axivity AX3 accelerometers (lower back, right thigh), 50 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "50 Hz as provided by the authors (resampled from about 100 Hz); timestamps kept as t.",
        "acc_unit": "g with gravity, ±8 g (paper, README; a re-export of the same recordings reads x ≈ +1 g "
                    "upright and clips at ±8). Docs only: no original file was available to verify.",
        "placement": "lower back and front of the right thigh (paper).",
        "labels": "label column per row; ids as published (non-contiguous); no null class.",
        "sessions": "one per subject file, split where a timestamp step is outside 10-30 ms.",
        "time": "local wall-clock time without zone, recorded as session_start (seconds since 1970-01-01 read as UTC) + t.",
        "version": "UCI v1.2. The later v2.0 on GitHub rotates the thigh axes of S006-S022 and adds S030-S038.",
    },
)


def plan(root: Path) -> Plan:
    subjects = {m.group(1): str(f) for f in sorted(root.iterdir()) if (m := _FILE.match(f.name)) and f.is_file()}
    absent = [s for s in SUBJECTS if s not in subjects]
    missing = [f"{len(absent)} of {len(SUBJECTS)} subject files: {', '.join(absent)}"] if absent and subjects else []
    return Plan(subjects=subjects, missing=missing)


def _bad_row(path: Path, mask: pl.Series, what: str) -> FormatError:
    i = int(mask.arg_true()[0])
    return FormatError(f"{path}: line {i + 2}: {what}")


def read_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t seconds, signals (n, 6) in g, label ids) of one subject file."""
    try:
        df = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{path}: not a readable CSV ({exc})") from exc
    absent = [c for c in COLUMNS if c not in df.columns]
    if absent:
        raise FormatError(f"{path}: line 1: missing column(s) {absent}; expected the header {','.join(COLUMNS)} "
                          f"(an extra index column is allowed)")
    ts = df["timestamp"].str.strip_chars().str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
    if ts.null_count():
        raise _bad_row(path, ts.is_null(), f"timestamp {df['timestamp'][int(ts.is_null().arg_true()[0])]!r} is not "
                                           f"YYYY-MM-DD HH:MM:SS.fff")
    values = df.select([pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in SIGNALS + ["label"]])
    for c in SIGNALS + ["label"]:
        if values[c].null_count():
            raise _bad_row(path, values[c].is_null(), f"{c} value {df[c][int(values[c].is_null().arg_true()[0])]!r} "
                                                      f"is not a number")
    lab = values["label"].to_numpy()
    bad = np.flatnonzero((lab != np.round(lab)) | ~np.isin(lab, _KNOWN))
    if len(bad):
        raise FormatError(f"{path}: line {bad[0] + 2}: label {lab[bad[0]]:g} is not one of the HARTH ids "
                          f"{_KNOWN}")
    t = ts.dt.epoch("us").to_numpy().astype(np.float64) / 1e6
    return t, values.select(SIGNALS).to_numpy(), lab.astype(np.int16)


def read(root: Path, subject: str, unit: str) -> Iterator[Session]:
    path = Path(unit)
    t, sig, lab = read_file(path)
    step = np.diff(t)
    cuts = np.flatnonzero((step < STEP_MIN) | (step > STEP_MAX)) + 1
    bounds = [0, *cuts.tolist(), len(t)]
    for j, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
        cols = {f"{c.split('_')[0]}_acc_{c.split('_')[1]}": sig[a:b, i] for i, c in enumerate(SIGNALS)}
        yield Session("imu", subject, subject if j == 1 else f"{subject}.{j}", cols, lab[a:b], t[a:b])


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(filename="harth.zip", urls=["https://archive.ics.uci.edu/static/public/779/harth.zip"])],
    marker="S006.csv",
    layout=('S[0-9][0-9][0-9].csv',),
    plan=plan,
    read=read,
    hours=36.0,
    n_subjects=22,
)
