"""MHEALTH: Mobile HEALTH dataset (UCI 319; Banos et al. 2014).

Original layout: ``MHEALTHDATASET/README.txt`` and ``MHEALTHDATASET/mHealth_subject1.log`` ...
``mHealth_subject10.log``. Each ``.log`` is plain text, tab separated, no header, 24 columns, one
row per 20 ms (50 Hz), no timestamp column. Columns (1-based): 1-3 chest acceleration (m/s²),
4-5 ECG lead 1 and lead 2 (mV), 6-8 left-ankle acceleration, 9-11 left-ankle gyroscope (deg/s
per the README), 12-14 left-ankle magnetometer ("local" units), 15-17 right-lower-arm
acceleration, 18-20 right-lower-arm gyroscope, 21-23 right-lower-arm magnetometer, 24 label
(0 = null). The README's own column list is mis-numbered ("Column 13" twice, no "Column 12");
the order above is the real one. One session per file; label 0 is stored as null.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import DEG, Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from, read_numeric
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


RATE = 50.0
NCOLS = 24
N_SUBJECTS = 10
_FILE = re.compile(r"^mHealth_subject(\d+)\.log$")

LABELS = labels_from([
    (1, "Standing still", "standing still"),
    (2, "Sitting and relaxing", "sitting and relaxing"),
    (3, "Lying down", "lying down"),
    (4, "Walking", "walking"),
    (5, "Climbing stairs", "climbing stairs"),
    (6, "Waist bends forward", "bending the waist forward"),
    (7, "Frontal elevation of arms", "raising the arms in front of the body"),
    (8, "Knees bending (crouching)", "bending the knees (crouching)"),
    (9, "Cycling", "cycling"),
    (10, "Jogging", "jogging"),
    (11, "Running", "running"),
    (12, "Jump front & back", "jumping forwards and backwards"),
])
_KNOWN = [0] + [lab.id for lab in LABELS]

_WHERE = {"chest": "chest", "leftankle": "left ankle", "rightwrist": "right lower arm (wrist)"}
_GYRO_NOTE = ("README states deg/s (converted with π/180); not yet checked on real files: the conversion "
              "records the running-time gyroscope magnitude in the dataset notes")


def _acc(p: str) -> list[Channel]:
    return [Channel(f"{p}_acc_{a}", "acc", p, "m/s²", "m/s²", axis=a, gravity="included",
                    description=f"Accelerometer {a.upper()}-axis, {_WHERE[p]}, gravity included") for a in "xyz"]


def _gyro(p: str) -> list[Channel]:
    return [Channel(f"{p}_gyro_{a}", "gyro", p, "rad/s", "deg/s", scale=DEG, axis=a, note=_GYRO_NOTE,
                    description=f"Gyroscope (angular rate) {a.upper()}-axis, {_WHERE[p]}") for a in "xyz"]


def _mag(p: str) -> list[Channel]:
    return [Channel(f"{p}_mag_{a}", "mag", p, "a.u.", "local (uncalibrated) units", axis=a,
                    note="the README gives no unit ('local'); kept as recorded",
                    description=f"Magnetometer {a.upper()}-axis, {_WHERE[p]}, uncalibrated units") for a in "xyz"]


_ECG = [Channel(f"chest_ecg_lead{i}", "ecg", "chest", "mV", "mV",
                description=f"Electrocardiogram (ECG) lead {i}, chest") for i in (1, 2)]

#: Stored channels in the order of the file's columns 1-23.
CHANNELS: list[Channel] = (_acc("chest") + _ECG + _acc("leftankle") + _gyro("leftankle") + _mag("leftankle")
                           + _acc("rightwrist") + _gyro("rightwrist") + _mag("rightwrist"))

CARD = DatasetCard(
    id="mhealth",
    title="MHEALTH (Mobile HEALTH) dataset",
    homepage="https://archive.ics.uci.edu/dataset/319/mhealth+dataset",
    license="CC BY 4.0 (UCI); the README asks to cite the mHealthDroid papers",
    citation=("O. Banos, R. Garcia, J. A. Holgado-Terriza, M. Damas, H. Pomares, I. Rojas, A. Saez, C. Villalonga, "
              "\"mHealthDroid: a novel framework for agile development of mobile health applications\", IWAAL 2014; "
              "O. Banos et al., \"Design, implementation and validation of a novel open framework for agile "
              "development of mobile health applications\", BioMedical Engineering OnLine 14(S2):S6, 2015."),
    description="10 volunteers with three Shimmer2 units (chest with 2-lead ECG, right lower arm, left ankle) "
                "performing 12 activities out of the lab; acceleration, angular rate, magnetic field and ECG "
                "at 50 Hz. The chest unit has no gyroscope or magnetometer.",
    streams=[Stream("imu", RATE, CHANNELS, "Three Shimmer2 units and chest ECG, 50 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "columns": "24 tab-separated columns per the README (its numbering repeats 'Column 13'; the real order is "
                   "chest acc 1-3, ECG 4-5, left-ankle acc/gyro/mag 6-14, right-lower-arm acc/gyro/mag 15-23, "
                   "label 24). Runs of spaces or tabs are both accepted as separators.",
        "rate": "50 Hz for every modality per the README; no timestamp column, t = row / 50.",
        "acc_unit": "m/s² with gravity per the README (scale 1); not checked on real files (none available).",
        "gyro_unit": "deg/s per the README, converted with π/180. Unverified: the reference flags this claim; the "
                     "conversion writes the p99 gyroscope magnitude while running (label 11) into the notes of "
                     "dataset.json so it can be judged (hundreds of deg/s is plausible, single digits is not).",
        "mag_unit": "README says 'local' units: kept as recorded, unit 'a.u.'.",
        "column_assignment": "gyroscope = columns 9-11 / 18-20 and magnetometer = 12-14 / 21-23 is the README's "
                             "assignment, unverified on full logs (none were available). A dozen real at-rest rows of "
                             "subject 1 suggest a swap: the README's 'gyroscope' magnitude stays at 1.09-1.11 for 3-4 "
                             "samples at a time while the 'magnetometer' magnitude swings 0.5-3.9 within 0.2 s, which "
                             "no magnetometer does. Every conversion decides it per subject and unit with two physics "
                             "tests written to the completeness notes: the magnetometer's magnitude must be nearly "
                             "constant within 1-s windows, and the gyroscope's integral must follow the tilt change "
                             "of the accelerometer's gravity direction.",
        "ecg_unit": "mV per the README.",
        "placement": "chest; right lower arm (stored as rightwrist); left ankle (README and paper).",
        "labels": "column 24, ids 1-12 as in the README; 0 (null class, the majority of rows) is stored as null.",
        "sessions": "one session per subject file ('log').",
        "subjects": "subject number parsed from the file name with a regex (subject10 has two digits).",
    },
)


def plan(root: Path) -> Plan:
    subjects: dict[str, str] = {}
    for f in sorted(root.iterdir()):
        m = _FILE.match(f.name)
        if m and f.is_file():
            subjects[str(int(m.group(1)))] = f.name
    absent = [f"mHealth_subject{i}.log" for i in range(1, N_SUBJECTS + 1) if str(i) not in subjects]
    missing = [f"{len(absent)} of {N_SUBJECTS} subject files: {', '.join(absent)}"] if absent else []
    notes = []
    gyro_cols = [8, 9, 10, 17, 18, 19]
    mags = []
    for subj, name in sorted(subjects.items(), key=lambda kv: int(kv[0])):
        arr = _load(root / name)
        notes += column_check(arr, f"subject {subj} ({name})")
        run = arr[arr[:, 23] == 11]
        if len(run):
            mags.append(np.concatenate([np.linalg.norm(run[:, gyro_cols[:3]], axis=1),
                                        np.linalg.norm(run[:, gyro_cols[3:]], axis=1)]))
    if mags:
        p99 = float(np.percentile(np.concatenate(mags), 99))
        verdict = ("plausible for deg/s" if p99 > 50 else
                   "implausibly small for deg/s: the README unit is doubtful, check before using the gyroscope")
        notes.append(f"gyroscope |ω| p99 while running (label 11): {p99:.3g} source units "
                     f"({p99 * DEG:.3g} rad/s if deg/s): {verdict}")
    return Plan(subjects=subjects, missing=missing, notes=notes)


#: 0-based columns of each unit with a gyroscope: (acc, README gyroscope, README magnetometer)
UNITS = {"left ankle": (5, 8, 11), "right lower arm": (14, 17, 20)}
_WIN = 50  # 1 s


def _mag_variation(v: np.ndarray) -> float:
    """Median over 1-s windows of std(|v|) / mean(|v|): near 0 for a magnetometer in a steady field
    however the unit turns, large for a gyroscope whenever it turns."""
    mag = np.linalg.norm(v, axis=1)
    n = len(mag) // _WIN
    if n == 0:
        return math.nan
    m = mag[: n * _WIN].reshape(n, _WIN)
    mean = m.mean(axis=1)
    ok = mean > 0
    return float(np.median(m.std(axis=1)[ok] / mean[ok])) if ok.any() else math.nan


def _tilt_correlation(acc: np.ndarray, rate: np.ndarray) -> float:
    """Correlation over 0.5-s steps between the tilt change of the gravity direction (accelerometer
    means) and the integral of |rate| in deg/s; high for a gyroscope, near 0 for a magnetometer."""
    w = _WIN // 2
    n = len(acc) // w
    if n < 4:
        return math.nan
    g = acc[: n * w].reshape(n, w, 3).mean(axis=1)
    u = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    tilt = np.arccos(np.clip((u[1:] * u[:-1]).sum(axis=1), -1.0, 1.0))
    turn = np.linalg.norm(rate[: n * w], axis=1).reshape(n, w).sum(axis=1) * DEG / RATE
    turn = 0.5 * (turn[1:] + turn[:-1])  # the rotation between the two window centres, approximately
    if tilt.std() == 0 or turn.std() == 0:
        return math.nan
    return float(np.corrcoef(tilt, turn)[0, 1])


def column_check(arr: np.ndarray, what: str) -> list[str]:
    """Which of the README's gyroscope and magnetometer columns behave like a gyroscope (one note per unit).

    A magnetometer's magnitude is nearly constant under rotation; a gyroscope's integral follows the
    orientation change seen by the accelerometer. A dozen real rows of subject 1 suggested the
    README's two triads may be swapped; this decides it on every full log converted.
    """
    notes = []
    for unit, (a, g, m) in UNITS.items():
        acc, gy, mg = arr[:, a:a + 3], arr[:, g:g + 3], arr[:, m:m + 3]
        vg, vm = _mag_variation(gy), _mag_variation(mg)
        cg, cm = _tilt_correlation(acc, gy), _tilt_correlation(acc, mg)
        if any(math.isnan(x) for x in (vg, vm, cg, cm)):
            verdict = "undecided (too few samples or no movement)"
        elif vm < vg and cg > cm:
            verdict = "consistent with the README"
        elif vg < vm and cm > cg:
            verdict = ("the README's columns look SWAPPED: its magnetometer columns behave like a gyroscope; "
                       "the stored channels follow the README")
        else:
            verdict = "undecided (the two tests disagree)"
        notes.append(f"column check {what}, {unit}: README gyroscope columns {g + 1}-{g + 3}: |v| varies "
                     f"{vg:.1%} within 1-s windows, its integral correlates {cg:.2f} with the accelerometer's "
                     f"tilt change; README magnetometer columns {m + 1}-{m + 3}: {vm:.1%}, {cm:.2f}: {verdict}")
    return notes


def _load(path: Path) -> np.ndarray:
    """A .log file as (rows, 24) floats; any run of tabs/spaces separates fields."""
    raw = path.read_bytes()
    text = re.sub(rb"[ \t]+", b" ", raw.replace(b"\r", b""))
    text = re.sub(rb"(?m)^ | $", b"", text)
    return read_numeric(path, sep=" ", ncols=NCOLS, source=text)


def read(root: Path, subject: str, unit: str) -> Iterator[Session]:
    path = root / unit
    arr = _load(path)
    if len(arr) == 0:
        return
    raw = arr[:, 23]
    bad = (raw != np.round(raw)) | ~np.isin(raw, _KNOWN)
    if bad.any():
        line = int(np.flatnonzero(bad)[0]) + 1
        raise FormatError(f"{path}: line {line}: label {raw[line - 1]:g} (column 24) is not one of the README's "
                          f"ids 0-12")
    label = raw.astype(np.int16)
    label[label == 0] = -1
    cols = {ch.name: arr[:, i] for i, ch in enumerate(CHANNELS)}
    yield Session("imu", subject, "log", cols, label)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="mhealth.zip",
        urls=["https://archive.ics.uci.edu/static/public/319/mhealth+dataset.zip",
              "https://archive.ics.uci.edu/ml/machine-learning-databases/00319/MHEALTHDATASET.zip"],
    )],
    marker="mHealth_subject1.log",
    layout=('mHealth_subject*.log',),
    plan=plan,
    read=read,
    hours=6.7,  # about 1.2 million rows at 50 Hz (reported, not measured)
    n_subjects=N_SUBJECTS,
)
