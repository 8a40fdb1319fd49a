"""DSADS: Daily and Sports Activities (UCI 256; Altun, Barshan, Tunçel).

Original layout: ``data/aNN/pM/sKK.txt``: activity NN (01-19), subject M (1-8), segment KK (01-60);
each file is 125 rows x 45 comma-separated columns (5 s at 25 Hz), five Xsens MTx units
(torso, right arm, left arm, right leg, left leg) x (acc, gyro, mag) x (x, y, z).
The 60 segments of an (activity, subject) are consecutive pieces of one 5-minute recording, so
consecutive segments are joined into one session; a missing segment starts a new session.
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


RATE = 25.0
ROWS_PER_SEGMENT = 125
UNITS = ["torso", "rightarm", "leftarm", "rightleg", "leftleg"]
_UNIT_TEXT = {"torso": "torso", "rightarm": "right wrist", "leftarm": "left wrist",
              "rightleg": "right knee", "leftleg": "left knee"}


def _channels() -> list[Channel]:
    chans = []
    for u in UNITS:
        for a in "xyz":
            chans.append(Channel(f"{u}_acc_{a}", "acc", u, "m/s²", "m/s²", axis=a, gravity="included",
                                 description=f"Accelerometer {a.upper()}-axis, {_UNIT_TEXT[u]}, gravity included"))
        for a in "xyz":
            chans.append(Channel(f"{u}_gyro_{a}", "gyro", u, "rad/s", "rad/s", axis=a,
                                 description=f"Gyroscope (angular rate) {a.upper()}-axis, {_UNIT_TEXT[u]}"))
        for a in "xyz":
            chans.append(Channel(f"{u}_mag_{a}", "mag", u, "a.u.", "a.u. (Xsens normalised, Earth field ≈ 1)",
                                 axis=a, note="uncalibrated: no exact factor to µT is published",
                                 description=f"Magnetometer {a.upper()}-axis, {_UNIT_TEXT[u]}, normalised units (Earth field about 1)"))
    return chans


LABELS = labels_from([
    (1, "sitting", "sitting"),
    (2, "standing", "standing"),
    (3, "lying on back", "lying on the back"),
    (4, "lying on right side", "lying on the right side"),
    (5, "ascending stairs", "walking upstairs"),
    (6, "descending stairs", "walking downstairs"),
    (7, "standing in an elevator still", "standing still in an elevator"),
    (8, "moving around in an elevator", "moving around in an elevator"),
    (9, "walking in a parking lot", "walking in a parking lot"),
    (10, "walking on a treadmill 4 km/h flat", "walking on a flat treadmill at 4 km/h"),
    (11, "walking on a treadmill 4 km/h 15 deg inclined", "walking on a treadmill inclined 15 degrees at 4 km/h"),
    (12, "running on a treadmill 8 km/h", "running on a treadmill at 8 km/h"),
    (13, "exercising on a stepper", "exercising on a stepper"),
    (14, "exercising on a cross trainer", "exercising on a cross trainer"),
    (15, "cycling on an exercise bike horizontal", "cycling on an exercise bike in horizontal position"),
    (16, "cycling on an exercise bike vertical", "cycling on an exercise bike in vertical position"),
    (17, "rowing", "rowing"),
    (18, "jumping", "jumping"),
    (19, "playing basketball", "playing basketball"),
])

CARD = DatasetCard(
    id="dsads",
    title="Daily and Sports Activities (DSADS)",
    homepage="https://archive.ics.uci.edu/dataset/256/daily+and+sports+activities",
    license="CC BY 4.0 (UCI)",
    citation=("K. Altun, B. Barshan, O. Tunçel, \"Comparative study on classifying human activities with miniature "
              "inertial and magnetic sensors\", Pattern Recognition 43(10):3605-3620, 2010; B. Barshan, M. C. Yüksek, "
              "The Computer Journal 57(11), 2014."),
    description="8 subjects, 19 daily and sports activities of 5 minutes each, five Xsens MTx units "
                "(torso, both wrists, both knees) with accelerometer, gyroscope and magnetometer at 25 Hz.",
    streams=[Stream("imu", RATE, _channels(), "Five Xsens MTx units, 25 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "25 Hz from the UCI page; 125 rows = 5 s per segment file; no timestamps, t = row / 25.",
        "acc_unit": "undocumented; decided from the data: |acc| while sitting is 9.77-9.87 m/s² on every unit, "
                    "so values are m/s² with gravity (scale 1). Checked by a test on real files.",
        "gyro_unit": "rad/s (magnitudes up to about 28 rad/s; deg/s would be implausibly slow for sports).",
        "mag_unit": "Xsens normalised units (field magnitude 0.73-0.82 at rest), not µT: kept as a.u.",
        "placement": "arm units at the wrists and leg units near the knees as the authors describe; exact spots unverified.",
        "labels": "one activity per file, from the aNN folder name.",
        "sessions": "consecutive segment files sKK of one (activity, subject) are joined; a gap starts a new session.",
    },
)

_SEG = re.compile(r"^s(\d+)\.txt$")


def plan(root: Path) -> Plan:
    data = root / "data"
    subjects: dict[str, list[tuple[int, int, str]]] = {}
    n = 0
    for adir in sorted(data.glob("a[0-9][0-9]")):
        for pdir in sorted(adir.glob("p[0-9]*")):
            for f in pdir.iterdir():
                m = _SEG.match(f.name)
                if m:
                    subjects.setdefault(pdir.name[1:], []).append((int(adir.name[1:]), int(m.group(1)), str(f)))
                    n += 1
    missing = []
    if n and n < 19 * 8 * 60:
        missing.append(f"{19 * 8 * 60 - n} of {19 * 8 * 60} segment files (this copy has {n})")
    return Plan(subjects=subjects, missing=missing)


def read(root: Path, subject: str, unit: list[tuple[int, int, str]]) -> Iterator[Session]:
    names = [c.name for c in CARD.streams[0].channels]
    by_act: dict[int, list[tuple[int, str]]] = {}
    for act, seg, path in unit:
        by_act.setdefault(act, []).append((seg, path))
    for act, segs in sorted(by_act.items()):
        segs.sort()
        runs: list[list[tuple[int, str]]] = []
        for seg, path in segs:
            if runs and seg == runs[-1][-1][0] + 1:
                runs[-1].append((seg, path))
            else:
                runs.append([(seg, path)])
        for run in runs:
            # one parse per run: joining the small segment files is much faster than parsing each
            blobs = [Path(p).read_bytes() for _, p in run]
            for (seg, p), blob in zip(run, blobs):
                lines = blob.count(b"\n") + (0 if blob.endswith(b"\n") else 1)
                if lines != ROWS_PER_SEGMENT:
                    raise FormatError(f"{p}: {lines} rows, every DSADS segment has {ROWS_PER_SEGMENT} (5 s at 25 Hz)")
            joined = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blobs)
            try:
                arr = read_numeric(Path(run[0][1]).parent, sep=",", ncols=45, source=joined)
            except FormatError:
                for (_seg, p), blob in zip(run, blobs):  # parse each file alone to name the bad file and line
                    read_numeric(Path(p), sep=",", ncols=45, source=blob)
                raise
            first = run[0][0]
            session = f"a{act:02d}" if first == 1 else f"a{act:02d}.s{first:02d}"
            yield Session("imu", subject, session, {n: arr[:, i] for i, n in enumerate(names)},
                          np.full(len(arr), act, dtype=np.int16))


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="dsads.zip",
        urls=["https://archive.ics.uci.edu/static/public/256/daily+and+sports+activities.zip",
              "https://archive.ics.uci.edu/ml/machine-learning-databases/00256/data.zip"],
    )],
    marker="data/a01",
    layout=('data/a[0-9][0-9]/p[0-9]*/s[0-9]*.txt',),
    plan=plan,
    read=read,
    hours=19 * 8 * 5 / 60,
    n_subjects=8,
)
