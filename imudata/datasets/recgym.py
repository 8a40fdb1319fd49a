"""RecGym: gym workouts recognition with IMU and body capacitance (UCI 1128; Bian et al.).

Original layout: one file ``RecGym.csv`` (≈ 450 MB, ≈ 4.4-4.7 M rows) with a header; columns used
by the authors' loader, in order: ``Subject, Position, Session, A_x, A_y, A_z, G_x, G_y, G_z, C_1,
Workout`` (an older description calls the first column ``Object``; columns are selected by
name). No time column: rows are consecutive 20 Hz samples, and a change of (Subject, Position,
Session) starts a new recording. Position is ``wrist``, ``pocket`` or ``leg``; ``C_1`` is body
capacitance; ``Workout`` is one of 11 exercise names or ``Null`` (rest between exercises).
Values may be NaN. Units are undocumented: the values are reported to be min-max normalised.

No real file was available when this converter was written: the layout, the units and the
label spellings follow the documentation and the authors' loader, and the reader checks the
unit assumption on the data (values outside 0-1 stop the conversion with a diagnosis).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import Channel, DatasetCard, Label, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs
pl = lazy("polars", globals(), "pl")

RATE = 20.0
FILE = "RecGym.csv"
POSITIONS = ("wrist", "pocket", "leg")
SIGNALS = ("A_x", "A_y", "A_z", "G_x", "G_y", "G_z", "C_1")
#: Normalised values lie in [0, 1]; this much slack is allowed for rounding.
NORM_SLACK = 0.01

_TABLE = [
    (0, "Null", "resting between exercises", True),
    (1, "Adductor", "exercising on an adductor machine", False),
    (2, "ArmCurl", "doing arm curls", False),
    (3, "BenchPress", "bench pressing", False),
    (4, "LegCurl", "exercising on a leg curl machine", False),
    (5, "LegPress", "exercising on a leg press machine", False),
    (6, "Riding", "riding an exercise bike", False),
    (7, "RopeSkipping", "skipping rope", False),
    (8, "Running", "running on a treadmill", False),
    (9, "Squat", "doing squats", False),
    (10, "StairsClimber", "exercising on a stair climber", False),
    (11, "Walking", "walking on a treadmill", False),
]
LABELS = [Label(i, name, text, ignore) for i, name, text, ignore in _TABLE]
_IDS = {name.lower(): i for i, name, _, _ in _TABLE}
_IDS["stairclimber"] = 10  # the authors' own loader spells it this way

_WHERE = {"wrist": "wrist", "pocket": "trouser pocket", "leg": "lower leg (calf)"}
_UNIT_NOTE = ("source unit undocumented; values reported to be min-max normalised to 0-1 (no SI conversion "
              "possible); assumption checked on the data at conversion, not on a real file")


def _channels(pos: str) -> list[Channel]:
    where = _WHERE[pos]
    out = [Channel(f"{pos}_acc_{a}", "acc", pos, "a.u.", "normalised 0-1 (undocumented)", axis=a, gravity="included",
                   note=_UNIT_NOTE + "; gravity presumably included before normalisation",
                   description=f"Accelerometer {a.upper()}-axis, {where}, min-max normalised (no physical unit)")
           for a in "xyz"]
    out += [Channel(f"{pos}_gyro_{a}", "gyro", pos, "a.u.", "normalised 0-1 (undocumented)", axis=a, note=_UNIT_NOTE,
                    description=f"Gyroscope (angular rate) {a.upper()}-axis, {where}, min-max normalised "
                                "(no physical unit)") for a in "xyz"]
    out.append(Channel(f"{pos}_hbc", "hbc", pos, "a.u.", "a.u. (undocumented)", note=_UNIT_NOTE,
                       description=f"Human body capacitance (body-area electric field sensing), {where}, "
                                   "arbitrary units"))
    return out


CARD = DatasetCard(
    id="recgym",
    title="RecGym: Gym Workouts Recognition Dataset with IMU and Capacitive Sensor",
    homepage="https://archive.ics.uci.edu/dataset/1128",
    license="CC BY 4.0 (UCI)",
    citation=("S. Bian, V. F. Rey, S. Yuan, P. Lukowicz, \"The Contribution of Human Body Capacitance/Body-Area "
              "Electric Field to Individual and Collaborative Activity Recognition\", arXiv:2210.14794; S. Bian et "
              "al., \"Hybrid CNN-Dilated Self-attention Model Using Inertial and Body-Area Electrostatic Sensing for "
              "Gym Workout Recognition, Counting, and User Authentification\", 2025."),
    description="10 volunteers, 5 sessions each, doing 11 gym exercises with a custom ESP32 sensor board (IMU and "
                "body-capacitance front end) at the wrist, in a trouser pocket or on the calf; 20 Hz.",
    streams=[Stream(p, RATE, _channels(p), f"Sensor board at the {_WHERE[p]}: IMU and body capacitance, 20 Hz")
             for p in POSITIONS],
    labels=LABELS,
    converter_version="1",
    facts={
        "verification": "no real RecGym.csv was available: column names, label spellings, positions and units "
                        "follow the documentation and the authors' loader and are unverified; the converter checks "
                        "what it can on the data (names present, labels known, values in 0-1).",
        "units": "undocumented; users report min-max normalised values. Decision rule applied to the data at "
                 "conversion: if every accelerometer and gyroscope value lies in [0, 1] (±0.01) the data are "
                 "normalised and stored unchanged as 'a.u.'; otherwise the conversion stops and reports |A| at rest "
                 "(≈9.81 would mean m/s², ≈1 g) so the converter can be corrected. Checked on fixture data only.",
        "rate": "20 Hz (documentation); no time column, t = row / 20 inside a recording.",
        "streams": "one stream per position (wrist, pocket, leg): whether positions were recorded at once is not "
                   "documented, so each keeps its own sessions.",
        "labels": "Workout strings; ids assigned here in alphabetical order after Null = 0. 'StairClimber' (the "
                  "authors' loader) and 'StairsClimber' are the same label. Null (rest between exercises) is kept "
                  "with ignore = true; an empty Workout cell is stored as null.",
        "sessions": "a contiguous run of one (Subject, Position, Session) in file order is one session, named by "
                    "the Session value ('3'; a later run of the same key '3.run2'). NaN values are kept as NaN.",
        "subjects": "the Subject column (or Object in older copies), as written.",
    },
)


def _header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        return [h.strip().strip('"') for h in fh.readline().decode("utf-8-sig", "replace").strip().split(",")]


@lru_cache(maxsize=1)
def _load_cached(path: str, mtime_ns: int, size: int) -> pl.DataFrame:
    p = Path(path)
    head = _header(p)
    subj = "Subject" if "Subject" in head else "Object" if "Object" in head else None
    need = ["Position", "Session", *SIGNALS, "Workout"]
    absent = [c for c in need if c not in head] + ([] if subj else ["Subject (or Object)"])
    if absent:
        raise FormatError(f"{p}: header {head} lacks {absent}; expected Subject, Position, Session, A_x, A_y, A_z, "
                          "G_x, G_y, G_z, C_1, Workout")
    schema = {c: (pl.Float64 if c in SIGNALS else pl.Utf8) for c in head}
    try:
        df = pl.read_csv(p, schema=schema, columns=[subj, *need], null_values=["", "NA", "nan", "NaN"],
                         quote_char='"')
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{p}: not a CSV with numeric {', '.join(SIGNALS)} columns ({exc})") from exc
    df = df.rename({subj: "Subject"}).with_row_index("row", offset=2)  # row = line number in the file
    return df.with_columns(
        pl.col("Subject").str.strip_chars(), pl.col("Session").str.strip_chars(),
        pl.col("Position").str.strip_chars().str.to_lowercase(),
        pl.when(pl.col("Workout").str.strip_chars().fill_null("") == "").then(pl.lit(-1, pl.Int16))
        .otherwise(pl.col("Workout").str.strip_chars().str.to_lowercase()
                   .replace_strict(_IDS, default=-2, return_dtype=pl.Int16)).alias("label"),
        pl.col("Workout").str.strip_chars().alias("Workout"),
        *[pl.col(c).fill_null(float("nan")) for c in SIGNALS],
    )


def load(path: Path) -> pl.DataFrame:
    """RecGym.csv as a frame: row (line number), Subject, Position, Session, signals, Workout, label."""
    if not path.exists():
        raise FormatError(f"{path} is missing")
    st = path.stat()
    return _load_cached(str(path), st.st_mtime_ns, st.st_size)


def check_units(df: pl.DataFrame, path: Path) -> str:
    """Raise FormatError unless the IMU values look min-max normalised; returns a one-line summary."""
    imu = df.select(SIGNALS[:6]).to_numpy()
    finite = imu[np.isfinite(imu)]
    if not len(finite):
        return "no finite IMU values"
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= -NORM_SLACK and hi <= 1 + NORM_SLACK:
        return f"accelerometer and gyroscope values span {lo:.3g} to {hi:.3g}: normalised, stored as a.u."
    rest = df.filter(pl.col("label") == 0).select("A_x", "A_y", "A_z").to_numpy()
    rest = rest[np.isfinite(rest).all(axis=1)]
    mag = float(np.median(np.linalg.norm(rest, axis=1))) if len(rest) else float("nan")
    guess = ("m/s² with gravity" if 8.8 < mag < 10.8 else "g with gravity" if 0.85 < mag < 1.15
             else "gravity removed" if mag < 0.3 else "an unknown unit")
    raise FormatError(f"{path}: IMU values span {lo:.4g} to {hi:.4g}, so they are not min-max normalised as the "
                      f"converter assumes; median |A| during Null (rest) is {mag:.4g}, which looks like {guess}. "
                      "Update the channel units and scales in imudata/datasets/recgym.py.")


def plan(root: Path) -> Plan:
    path = root / FILE
    df = load(path)
    if df.height == 0:
        return Plan(subjects={})
    bad = df.filter(pl.col("label") == -2)
    if bad.height:
        names = sorted(set(bad["Workout"].to_list()))
        raise FormatError(f"{path}: line {bad['row'][0]}: Workout {names} not among "
                          f"{', '.join(n for _, n, _, _ in _TABLE)} (or StairClimber)")
    pos = df.filter(~pl.col("Position").is_in(list(POSITIONS)) | pl.col("Position").is_null())
    if pos.height:
        raise FormatError(f"{path}: line {pos['row'][0]}: Position {pos['Position'][0]!r} is not one of {POSITIONS}")
    nokey = df.filter(pl.col("Subject").is_null() | pl.col("Session").is_null())
    if nokey.height:
        raise FormatError(f"{path}: line {nokey['row'][0]}: empty Subject or Session")
    notes = [check_units(df, path)]
    n_nan = int(df.select(pl.any_horizontal(pl.col(c).is_nan() for c in SIGNALS).sum()).item())
    if n_nan:
        notes.append(f"{n_nan:,} rows with NaN values kept as NaN")
    subjects = sorted(set(df["Subject"].to_list()))
    return Plan(subjects={s: FILE for s in subjects}, notes=notes)


def read(root: Path, subject: str, unit: str) -> Iterator[Session]:
    df = load(root / unit)
    mine = df.filter(pl.col("Subject") == subject)
    if mine.height == 0:
        return
    pos = mine["Position"].to_numpy()
    ses = mine["Session"].to_numpy()
    row = mine["row"].to_numpy()
    cut = np.flatnonzero((pos[1:] != pos[:-1]) | (ses[1:] != ses[:-1]) | (np.diff(row) != 1)) + 1
    bounds = [0, *cut.tolist(), len(mine)]
    sig = mine.select(SIGNALS).to_numpy()
    label = mine["label"].to_numpy().astype(np.int16)
    seen: dict[tuple[str, str], int] = {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        p, s = str(pos[a]), str(ses[a])
        seen[(p, s)] = seen.get((p, s), 0) + 1
        name = s if seen[(p, s)] == 1 else f"{s}.run{seen[(p, s)]}"
        names = [c.name for c in _channels(p)]
        yield Session(p, subject, name, {n: sig[a:b, i] for i, n in enumerate(names)}, label[a:b])


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="recgym.zip",
        urls=["https://archive.ics.uci.edu/static/public/1128/"
              "recgym:+gym+workouts+recognition+dataset+with+imu+and+capacitive+sensor-7.zip"],
    )],
    marker=FILE,
    layout=('RecGym.csv',),
    plan=plan,
    read=read,
    hours=50.0,
    n_subjects=10,
)
