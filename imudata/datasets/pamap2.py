"""PAMAP2: Physical Activity Monitoring (UCI 231; Reiss & Stricker 2012).

Original layout (inside the nested ``PAMAP2_Dataset.zip`` of the UCI download)::

    PAMAP2_Dataset/
      readme.pdf, DataCollectionProtocol.pdf, DescriptionOfActivities.pdf, ...
      Protocol/subject101.dat ... subject109.dat             (9 files)
      Optional/subject101.dat, 105, 106, 108, 109            (5 files)

Each ``.dat`` is plain text, single-space separated, no header, 54 fields per line, one line
per 10 ms tick; missing values are the literal token ``NaN``. Columns (1-based): 1 timestamp
(s, arbitrary origin), 2 activityID, 3 heart rate (bpm, NaN on most rows: the monitor runs at
about 9 Hz), then three 17-column IMU blocks: hand (dominant wrist) 4-20, chest 21-37, ankle
(dominant side) 38-54. Inside a block: 1 temperature (°C), 2-4 acceleration ±16 g (m/s²),
5-7 acceleration ±6 g (m/s²), 8-10 gyroscope (rad/s), 11-13 magnetometer (µT), 14-17
orientation, which the readme declares invalid: those 12 columns are dropped.

Everything is already in SI units (scale 1). Activity 0 ("other", transient) becomes null.
Protocol and Optional files are separate sessions; aborted recordings were spliced, so the
timestamp column can jump: a file is cut into sub-sessions wherever the step between rows
is not 0.01 s (``protocol``, ``protocol.2``, ...), and ``t`` is the file timestamp minus the
first timestamp of the sub-session.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from, read_numeric
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


RATE = 100.0
NCOLS = 54
STEP = 1.0 / RATE
#: A step between consecutive timestamps outside STEP ± STEP_TOL starts a new session.
STEP_TOL = 0.004
#: More breaks than this in one file means the timestamps are not what the readme describes.
MAX_BREAKS = 1000

#: 0-based first column of each IMU block (1-based 4, 21, 38 in the readme).
BLOCKS = {"hand": 3, "chest": 20, "ankle": 37}
#: Offsets inside a 17-column block (0-based); 13-16 are the invalid orientation columns.
_TEMP, _ACC16, _ACC6, _GYRO, _MAG, _ORI = 0, 1, 4, 7, 10, 13

#: Session kind -> folder name, in the order the files are read.
KINDS = {"protocol": "Protocol", "optional": "Optional"}
#: The 14 files of the full release.
EXPECTED = ([f"Protocol/subject{s}.dat" for s in range(101, 110)]
            + [f"Optional/subject{s}.dat" for s in (101, 105, 106, 108, 109)])
_FILE = re.compile(r"^subject(\d{3})\.dat$")

_SIDE = "dominant side: the right side for every subject except 108, who is left-handed (left side)"
_PLACE_TEXT = {"hand": "wrist of the dominant arm", "chest": "chest", "ankle": "ankle of the dominant side"}

LABELS = labels_from([
    (1, "lying", "lying down"),
    (2, "sitting", "sitting"),
    (3, "standing", "standing"),
    (4, "walking", "walking"),
    (5, "running", "running"),
    (6, "cycling", "cycling"),
    (7, "Nordic walking", "Nordic walking with poles"),
    (9, "watching TV", "watching TV"),
    (10, "computer work", "working at a computer"),
    (11, "car driving", "driving a car"),
    (12, "ascending stairs", "walking upstairs"),
    (13, "descending stairs", "walking downstairs"),
    (16, "vacuum cleaning", "vacuum cleaning"),
    (17, "ironing", "ironing clothes"),
    (18, "folding laundry", "folding laundry"),
    (19, "house cleaning", "cleaning the house"),
    (20, "playing soccer", "playing soccer"),
    (24, "rope jumping", "jumping rope"),
])
_KNOWN = sorted({lab.id for lab in LABELS} | {0})


def _imu_channels(p: str) -> list[tuple[Channel, int]]:
    """(channel, 0-based source column) for one IMU block."""
    base = BLOCKS[p]
    where = _PLACE_TEXT[p]
    note = _SIDE if p in ("hand", "ankle") else None
    out: list[tuple[Channel, int]] = [(Channel(
        f"{p}_temp", "temp", p, "°C", "°C", note=note,
        description=f"Temperature of the IMU, {where}"), base + _TEMP)]
    for i, a in enumerate("xyz"):
        out.append((Channel(
            f"{p}_acc_{a}", "acc", p, "m/s²", "m/s²", axis=a, gravity="included", range="±16 g",
            note="the accelerometer the authors recommend" + (f"; {note}" if note else ""),
            description=f"Accelerometer {a.upper()}-axis (±16 g, recommended), {where}, gravity included"),
            base + _ACC16 + i))
    for i, a in enumerate("xyz"):
        out.append((Channel(
            f"{p}_acc6g_{a}", "acc", p, "m/s²", "m/s²", axis=a, gravity="included", range="±6 g",
            note="second accelerometer: saturates in high-impact activities and is not precisely calibrated; "
                 "the authors recommend the ±16 g channels" + (f"; {note}" if note else ""),
            description=f"Second accelerometer {a.upper()}-axis (±6 g, saturates; prefer the ±16 g {p}_acc_{a}), "
                        f"{where}, gravity included"),
            base + _ACC6 + i))
    for i, a in enumerate("xyz"):
        out.append((Channel(
            f"{p}_gyro_{a}", "gyro", p, "rad/s", "rad/s", axis=a, note=note,
            description=f"Gyroscope (angular rate) {a.upper()}-axis, {where}"), base + _GYRO + i))
    for i, a in enumerate("xyz"):
        out.append((Channel(
            f"{p}_mag_{a}", "mag", p, "µT", "µT", axis=a, note=note,
            description=f"Magnetometer {a.upper()}-axis, {where}"), base + _MAG + i))
    return out


_HR = Channel("chest_hr", "hr", "chest", "bpm", "bpm", sparse=True,
              note="heart-rate monitor at about 9 Hz merged into the 100 Hz rows: NaN on rows without a new "
                   "value (about 90 % of rows); not filled",
              description="Heart rate from a chest-strap monitor (about 9 Hz; NaN between readings)")

#: (channel, 0-based source column) in stored order.
COLUMNS: list[tuple[Channel, int]] = [(_HR, 2)] + [c for p in BLOCKS for c in _imu_channels(p)]

CARD = DatasetCard(
    id="pamap2",
    title="PAMAP2 Physical Activity Monitoring",
    homepage="https://archive.ics.uci.edu/dataset/231/pamap2+physical+activity+monitoring",
    license="CC BY 4.0 (UCI); the authors' readme: free for academic research, cite the two papers",
    citation=("A. Reiss, D. Stricker, \"Introducing a New Benchmarked Dataset for Activity Monitoring\", ISWC 2012; "
              "A. Reiss, D. Stricker, \"Creating and Benchmarking a New Dataset for Physical Activity Monitoring\", "
              "5th Workshop on Affect and Behaviour Related Assistance (ABRA), 2012."),
    description="9 subjects (101-109) with three Trivisio Colibri IMUs (wrist of the dominant arm, chest, ankle "
                "of the dominant side; subject 108 is left-handed, so the left side) and a chest heart-rate "
                "monitor, performing 12 protocol and 6 optional activities of daily living and sport. Each IMU "
                "has two accelerometers (±16 g, recommended, and ±6 g, which saturates), a gyroscope, a "
                "magnetometer and a temperature sensor; 100 Hz.",
    streams=[Stream("imu", RATE, [c for c, _ in COLUMNS],
                    "Three IMUs (hand, chest, ankle) at 100 Hz with the sparse chest heart rate")],
    labels=LABELS,
    converter_version="1",
    facts={
        "columns": "54 space-separated columns per the readme: timestamp, activityID, heart rate, then IMU blocks of "
                   "17 at 1-based columns 4-20 (hand), 21-37 (chest), 38-54 (ankle): temperature, acc ±16 g (3), "
                   "acc ±6 g (3), gyro (3), mag (3), orientation (4). The readme declares the orientation columns "
                   "invalid; they are dropped. The real first line of subject101.dat (seen in several independent "
                   "copies) gives plausible values in this mapping: chest ±16 g acc (0.24, 9.80, -1.69) m/s², "
                   "temperatures 30-32 °C, orientation 1 0 0 0.",
        "rate": "100 Hz per the readme; the timestamp column steps by 0.01 s. The readme gives effective IMU rates "
                "of 99.63 (hand), 99.89 (chest) and 99.65 Hz (ankle): dropped wireless packets are rows of NaN in "
                "that IMU's columns (kept as NaN, not interpolated).",
        "units": "per the readme: acceleration m/s² with gravity, angular rate rad/s, magnetic field µT, "
                 "temperature °C, heart rate bpm; all SI already, scale 1.",
        "accelerometers": "both kept: <place>_acc_* is the ±16 g sensor (13-bit), <place>_acc6g_* the ±6 g sensor "
                          "(13-bit), which the readme says saturates for high-impact movements and is not precisely "
                          "calibrated; the authors recommend the ±16 g data.",
        "heart_rate": "chest_hr is a sparse channel: the monitor (BM-CS5SR, about 9 Hz) gives a value on about one "
                      "row in eleven; other rows are NaN exactly as in the file (no forward fill).",
        "placement": "readme: hand IMU over the wrist of the dominant arm, chest IMU, ankle IMU on the dominant side. "
                     "subjectInformation.pdf lists subject 108 as left-handed (all others right-handed), so for 108 "
                     "the hand and ankle channels are on the left side.",
        "labels": "activityID column, ids as in the readme; 0 ('other', transient activities, which the readme "
                  "says to discard) is stored as null.",
        "sessions": "Protocol/subjectNNN.dat is session 'protocol', Optional/subjectNNN.dat is 'optional'. "
                    "Aborted recordings were spliced (readme), so the timestamp column can jump: a file is split "
                    "wherever the step between rows is not 0.01 s, the later pieces named 'protocol.2', "
                    "'protocol.3', ... in file order.",
        "time": "t = file timestamp minus the first timestamp of the (sub-)session; the files' own origin is "
                "arbitrary (subject101 starts at 8.38 s).",
        "subjects": "subject id from the file name (101-109).",
    },
)


def plan(root: Path) -> Plan:
    subjects: dict[str, list[tuple[str, str]]] = {}
    found: set[str] = set()
    for kind, folder in KINDS.items():
        d = root / folder
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            m = _FILE.match(f.name)
            if not m or not f.is_file():
                continue
            rel = f"{folder}/{f.name}"
            found.add(rel)
            subjects.setdefault(m.group(1), []).append((kind, rel))
    absent = [e for e in EXPECTED if e not in found]
    missing = []
    if absent:
        missing.append(f"{len(absent)} of {len(EXPECTED)} .dat files: {', '.join(absent)}")
    return Plan(subjects=subjects, missing=missing)


def _breaks(path: Path, ts: np.ndarray) -> np.ndarray:
    """Row indices (> 0) where a new sub-session starts: the step before them is not 0.01 s."""
    if np.isnan(ts).any():
        line = int(np.flatnonzero(np.isnan(ts))[0]) + 1
        raise FormatError(f"{path}: line {line}: the timestamp (column 1) is NaN")
    step = np.diff(ts)
    cut = np.flatnonzero(np.abs(step - STEP) > STEP_TOL) + 1
    if len(cut) > MAX_BREAKS:
        raise FormatError(f"{path}: {len(cut)} irregular timestamp steps (first at line {cut[0] + 1}: "
                          f"{ts[cut[0] - 1]:g} -> {ts[cut[0]]:g}); expected 0.01 s steps with a few splices")
    return cut


def _labels(path: Path, raw: np.ndarray) -> np.ndarray:
    bad = np.isnan(raw) | (raw != np.round(raw)) | ~np.isin(raw, _KNOWN)
    if bad.any():
        line = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{path}: line {line + 1}: activityID {float(raw[line]):g} (column 2) is not one of the "
                          f"readme's ids {', '.join(map(str, _KNOWN))}")
    lab = raw.astype(np.int16)
    lab[lab == 0] = -1
    return lab


def read(root: Path, subject: str, unit: list[tuple[str, str]]) -> Iterator[Session]:
    for kind, rel in unit:
        path = root / rel
        arr = read_numeric(path, ncols=NCOLS)
        if len(arr) == 0:
            continue
        ts = arr[:, 0]
        label = _labels(path, arr[:, 1])
        bounds = [0, *_breaks(path, ts).tolist(), len(arr)]
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
            cols = {ch.name: arr[a:b, j] for ch, j in COLUMNS}
            t = np.round(ts[a:b] - ts[a], 6)
            name = kind if k == 1 else f"{kind}.{k}"
            yield Session("imu", subject, name, cols, label[a:b], t)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="pamap2.zip",
        urls=["https://archive.ics.uci.edu/static/public/231/pamap2+physical+activity+monitoring.zip",
              "https://archive.ics.uci.edu/ml/machine-learning-databases/00231/PAMAP2_Dataset.zip"],
    )],
    marker="Protocol",
    layout=('Protocol/subject*.dat', 'Optional/subject*.dat'),
    plan=plan,
    read=read,
    hours=10.7,
    n_subjects=9,
)
