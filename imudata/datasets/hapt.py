"""HAPT: Smartphone-Based Recognition of Human Activities and Postural Transitions (UCI 341, v2.1).

Original layout: ``RawData/acc_expXX_userYY.txt`` and ``gyro_expXX_userYY.txt`` (3 space-separated
columns, 50 Hz, no timestamps; acceleration in g including gravity, angular rate in rad/s) and
``RawData/labels.txt`` (``experiment user activity start end``, 1-based inclusive row numbers).
Samples outside every labelled interval are unlabelled (null). One session per experiment.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import G, Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from, read_numeric
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


RATE = 50.0
_FILE = re.compile(r"^acc_exp(\d+)_user(\d+)\.txt$")

LABELS = labels_from([
    (1, "WALKING", "walking"),
    (2, "WALKING_UPSTAIRS", "walking upstairs"),
    (3, "WALKING_DOWNSTAIRS", "walking downstairs"),
    (4, "SITTING", "sitting"),
    (5, "STANDING", "standing"),
    (6, "LAYING", "lying down"),
    (7, "STAND_TO_SIT", "sitting down from standing"),
    (8, "SIT_TO_STAND", "standing up from sitting"),
    (9, "SIT_TO_LIE", "lying down from sitting"),
    (10, "LIE_TO_SIT", "sitting up from lying"),
    (11, "STAND_TO_LIE", "lying down from standing"),
    (12, "LIE_TO_STAND", "standing up from lying"),
])

_ACC = [Channel(f"waist_acc_{a}", "acc", "waist", "m/s²", "g", scale=G, axis=a, gravity="included",
                range="±2 g") for a in "xyz"]
_GYRO = [Channel(f"waist_gyro_{a}", "gyro", "waist", "rad/s", "rad/s", axis=a) for a in "xyz"]

CARD = DatasetCard(
    id="hapt",
    title="Smartphone-Based Recognition of Human Activities and Postural Transitions (HAPT) v2.1",
    homepage="https://archive.ics.uci.edu/dataset/341/smartphone+based+recognition+of+human+activities+and+postural+transitions",
    license="CC BY 4.0 (UCI); some copies of the authors' README add: any commercial use is prohibited",
    citation=("J.-L. Reyes-Ortiz, L. Oneto, A. Samà, X. Parra, D. Anguita, \"Transition-Aware Human Activity "
              "Recognition Using Smartphones\", Neurocomputing 171 (2016) 754-767."),
    description="30 volunteers with a Samsung Galaxy S II on the waist performing six activities and six "
                "postural transitions; raw unfiltered accelerometer and gyroscope at 50 Hz.",
    streams=[Stream("imu", RATE, _ACC + _GYRO, "Waist smartphone IMU, 50 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "50 Hz from the README; files have no timestamps, t = row / 50.",
        "acc_unit": "g per the README (g = 9.80665 m/s²); checked on real files: |acc| ≈ 1.03 g while standing.",
        "gyro_unit": "rad/s per the README; real files peak near 10 rad/s.",
        "labels": "RawData/labels.txt intervals, 1-based inclusive rows; rows outside any interval are null.",
        "subjects": "user number in the file name (experiments are numbered globally).",
    },
)


def plan(root: Path) -> Plan:
    raw = root / "RawData"
    exps: dict[str, list[tuple[int, str]]] = {}
    for f in sorted(raw.iterdir()):
        m = _FILE.match(f.name)
        if not m:
            continue
        exp, user = int(m.group(1)), int(m.group(2))
        gyro = raw / f"gyro_exp{m.group(1)}_user{m.group(2)}.txt"
        if not gyro.exists():
            raise FormatError(f"{f}: its gyroscope file {gyro.name} is missing")
        exps.setdefault(str(user), []).append((exp, f.name))
    table = _label_table(raw / "labels.txt")
    present = {e for v in exps.values() for e, _ in v}
    listed = sorted({(int(r[0]), int(r[1])) for r in table})
    missing_exps = [(e, u) for e, u in listed if e not in present]
    missing = []
    if missing_exps:
        users = sorted({u for _, u in missing_exps})
        missing.append(f"{len(missing_exps)} of {len(listed)} experiments listed in labels.txt "
                       f"(users {', '.join(map(str, users))})")
    unlabelled = sorted(present - {e for e, _ in listed})
    notes = []
    if unlabelled:  # kept (the signals are valid) but said: every sample of these experiments is null
        notes.append(f"{len(unlabelled)} of {len(present)} experiments have no interval in RawData/labels.txt, so "
                     f"all their samples are unlabelled: {', '.join(f'exp{e:02d}' for e in unlabelled)}")
    return Plan(subjects=exps, missing=missing, notes=notes)


def _label_table(path: Path) -> np.ndarray:
    if not path.exists():
        raise FormatError(f"{path} is missing: HAPT labels come from RawData/labels.txt")
    table = read_numeric(path, ncols=5)
    if len(table) == 0:
        raise FormatError(f"{path}: no label intervals (the file is empty); expected one line 'experiment user "
                          f"activity start end' per interval, as in the original release: restore the file")
    frac = table != np.round(table)
    if frac.any():
        row = int(np.nonzero(frac)[0][0])
        raise FormatError(f"{path}: line {row + 1}: expected 5 whole numbers, got {table[row].tolist()}")
    return table.astype(np.int64)


def read(root: Path, subject: str, unit: list[tuple[int, str]]) -> Iterator[Session]:
    raw = root / "RawData"
    table = _label_table(raw / "labels.txt")
    for exp, name in sorted(unit):
        acc = read_numeric(raw / name, ncols=3)
        gyro = read_numeric(raw / name.replace("acc_", "gyro_", 1), ncols=3)
        if len(acc) != len(gyro):
            raise FormatError(f"{raw / name}: {len(acc)} rows but its gyroscope file has {len(gyro)}")
        label = np.full(len(acc), -1, dtype=np.int16)
        for _, user, act, start, end in table[table[:, 0] == exp]:
            if str(user) != subject:
                raise FormatError(f"{raw / 'labels.txt'}: experiment {exp} is listed for user {user}, file says {subject}")
            if start < 1 or end > len(acc) or start > end:
                raise FormatError(f"{raw / 'labels.txt'}: interval {start}-{end} of experiment {exp} outside 1..{len(acc)}")
            label[start - 1:end] = act
        cols = {f"waist_acc_{a}": acc[:, i] for i, a in enumerate("xyz")}
        cols.update({f"waist_gyro_{a}": gyro[:, i] for i, a in enumerate("xyz")})
        yield Session("imu", subject, f"exp{exp:02d}", cols, label)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="hapt.zip",
        urls=["https://archive.ics.uci.edu/static/public/341/smartphone+based+recognition+of+human+activities+and+postural+transitions.zip",
              "https://archive.ics.uci.edu/ml/machine-learning-databases/00341/HAPT%20Data%20Set.zip"],
    )],
    marker="RawData/labels.txt",
    layout=('RawData/labels.txt', 'RawData/acc_exp*_user*.txt', 'RawData/gyro_exp*_user*.txt'),
    plan=plan,
    read=read,
    hours=6.2,
    n_subjects=30,
)
