"""Daphnet Freezing of Gait (UCI 245; Bächlin et al. 2010).

Original layout (``dataset_fog_release/``, nested as a zip inside the UCI download)::

    README                     (Latin-1)
    dataset/S01R01.txt ... S10R01.txt   (17 runs: S<subject>R<run>)
    doc/, scripts/             (documentation and Matlab code; not read)

Each run is plain text, single-space separated, no header, 11 integer columns per line:
1 time [ms], 2-4 ankle (shank) acceleration, 5-7 thigh (just above the knee), 8-10 trunk (hip /
lower back), each as horizontal forward, vertical, horizontal lateral [milli-g], 11 annotation
(0 = not part of the experiment, 1 = experiment without freeze, 2 = freezing of gait).

Sampling is 64 Hz; the time column advances by 15 or 16 ms (64 Hz rounded to whole ms) and is kept
as ``t`` (seconds). A run is split into sessions where a step is not 15-16 ms (none known in the
release). Missing sensor data is written as ``0 0 0``: a triple of exact zeros becomes NaN for that
sensor (the first few hundred rows of most runs, and the thigh of S03R03 from row 37,800 on).
Annotation 0 is kept as its own label with ``ignore=True`` (the authors: not part of the experiment,
e.g. sensor setup or debriefing; to be left out of evaluation). One session per run (``R01``).
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


RATE = 64.0
NCOLS = 11
#: steps of the ms time column inside one continuous recording (64 Hz rounded to whole ms)
STEP_MIN_MS, STEP_MAX_MS = 15, 16
SENSORS = ["ankle", "thigh", "back"]
#: the 17 runs of the full release
RUNS = ["S01R01", "S01R02", "S02R01", "S02R02", "S03R01", "S03R02", "S03R03", "S04R01", "S05R01", "S05R02",
        "S06R01", "S06R02", "S07R01", "S07R02", "S08R01", "S09R01", "S10R01"]
_FILE = re.compile(r"^S(\d{2})R(\d{2})\.txt$")
_AXES = {"x": "horizontal forward", "y": "vertical", "z": "horizontal lateral"}
_WHERE = {"ankle": "shank just above the ankle", "thigh": "thigh just above the knee",
          "back": "trunk at the hip / lower back (belt)"}

LABELS = labels_from([
    (0, "not part of the experiment", "not part of the experiment (sensor setup, debriefing or other activity "
                                      "outside the protocol)"),
    (1, "no freeze", "walking, standing or turning without freezing of gait"),
    (2, "freeze", "freezing of gait (a Parkinson's disease patient briefly unable to step forward)"),
], ignore={0})


def _channels() -> list[Channel]:
    return [Channel(f"{s}_acc_{a}", "acc", s, "m/s²", "milli-g", scale=G / 1000, axis=a, gravity="included",
                    note="axis names as in the README; in some runs gravity lies on another axis "
                         "(e.g. S03R02 thigh), so the sensor mounting is not identical across runs",
                    description=f"Accelerometer {a.upper()}-axis ({_AXES[a]} as named by the authors), "
                                f"{_WHERE[s]}, gravity included")
            for s in SENSORS for a in "xyz"]


CARD = DatasetCard(
    id="daphnet",
    title="Daphnet Freezing of Gait",
    homepage="https://archive.ics.uci.edu/dataset/245/daphnet+freezing+of+gait",
    license="CC BY 4.0 (UCI); the README requires citing Bächlin et al. 2010",
    citation=("M. Bächlin, M. Plotnik, D. Roggen, I. Maidan, J. M. Hausdorff, N. Giladi, G. Tröster, \"Wearable "
              "Assistant for Parkinson's Disease Patients With the Freezing of Gait Symptom\", IEEE Trans. Inf. "
              "Technol. Biomed. 14(2):436-446, 2010."),
    description="10 Parkinson's disease patients walking in the lab (straight walks, turns, everyday-like tasks) "
                "with three 3-axis accelerometers on the shank, thigh and lower back at 64 Hz; every sample is "
                "annotated as freezing of gait, no freeze, or outside the experiment.",
    streams=[Stream("imu", RATE, _channels(), "Three wireless accelerometers (shank, thigh, lower back), 64 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "64 Hz (README); the time column steps by 15-16 ms, verified on 7 runs; session_start + t = time / 1000.",
        "acc_unit": "milli-g (README); verified: median |acc| 980-1070 milli-g during the experiment.",
        "missing": "exact 0 0 0 triples are missing data (sensor not yet streaming) and become NaN; verified at "
                   "the start of most runs.",
        "placement": "ankle = shank, thigh = just above the knee, back = hip / lower back (README, paper).",
        "labels": "column 11 per row; 0 = not part of the experiment (ignore=True), 1 = no freeze, 2 = freeze.",
        "sessions": "one session per run file SxxRyy (subject Sxx, session Ryy).",
    },
)


def plan(root: Path) -> Plan:
    data = root / "dataset"
    subjects: dict[str, list[tuple[str, str]]] = {}
    for f in sorted(data.iterdir()):
        m = _FILE.match(f.name)
        if m and f.is_file():
            subjects.setdefault(f"S{m.group(1)}", []).append((f"R{m.group(2)}", str(f)))
    present = {f"{s}{r}" for s, v in subjects.items() for r, _ in v}
    absent = [r for r in RUNS if r not in present]
    missing = [f"{len(absent)} of {len(RUNS)} runs: {', '.join(absent)}"] if absent and present else []
    return Plan(subjects=subjects, missing=missing)


def read_run(path: Path) -> np.ndarray:
    arr = read_numeric(path, ncols=NCOLS)
    lab = arr[:, 10]
    bad = np.flatnonzero(~np.isin(lab, (0, 1, 2)))
    if len(bad):
        raise FormatError(f"{path}: line {bad[0] + 1}: annotation {lab[bad[0]]:g}, expected 0, 1 or 2")
    return arr


def read(root: Path, subject: str, unit: list[tuple[str, str]]) -> Iterator[Session]:
    for run, path in sorted(unit):
        arr = read_run(Path(path))
        ms = arr[:, 0]
        step = np.diff(ms)
        back = np.flatnonzero(step <= 0)
        if len(back):
            raise FormatError(f"{path}: line {back[0] + 2}: time {ms[back[0] + 1]:g} ms does not increase")
        cuts = np.flatnonzero((step < STEP_MIN_MS) | (step > STEP_MAX_MS)) + 1
        cols: dict[str, np.ndarray] = {}
        for k, s in enumerate(SENSORS):
            block = arr[:, 1 + 3 * k:4 + 3 * k].copy()
            block[(block == 0).all(axis=1)] = np.nan  # missing data is written as 0 0 0
            for i, a in enumerate("xyz"):
                cols[f"{s}_acc_{a}"] = block[:, i]
        label = arr[:, 10].astype(np.int16)
        bounds = [0, *cuts.tolist(), len(arr)]
        for j, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
            name = run if j == 1 else f"{run}.{j}"
            yield Session("imu", subject, name, {c: v[a:b] for c, v in cols.items()}, label[a:b], ms[a:b] / 1000.0)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="daphnet.zip",
        urls=["https://archive.ics.uci.edu/static/public/245/daphnet+freezing+of+gait.zip",
              "http://har-dataset.org/lib/exe/fetch.php?media=wiki:dataset:daphnetfog:dataset_fog_release.zip"],
    )],
    marker="dataset/S01R02.txt",
    layout=('dataset/S[0-9][0-9]R[0-9][0-9].txt',),
    plan=plan,
    read=read,
    aliases=("daphnet-fog",),
    hours=8.3,
    n_subjects=10,
)
