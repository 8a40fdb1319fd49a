"""KU-HAR: an open dataset for heterogeneous human activity recognition (Sikder & Nahid 2021), raw part.

Original layout (Mendeley Data 45f952y38r, version 5; the misspelling "domian" is the authors')::

    1.Raw_time_domian_data.zip -> 1.Raw_time_domian_data/
        0.Stand/ 1.Sit/ 2.Talk-sit/ ... 17.Table-tennis/
            <subject>_<letter>_<trial>.csv        e.g. 0.Stand/1001_A_1.csv (also 5.Lay/1013_F_1_0.csv)
    2.Trimmed_interpolated_data.zip              (the same recordings trimmed and resampled by the authors)
    3.Time_domain_subsamples.zip                 (3-s windows of the trimmed data)

Each CSV has no header and 8 comma-separated columns: ``acc_time, acc_x, acc_y, acc_z,
gyro_time, gyro_x, gyro_y, gyro_z``. Times are seconds since the recording start (the readme
says milliseconds; the data are seconds), independent for the two sensors, nominally 100 Hz
with 1-20 ms jitter and occasional 1-10 ms steps backwards. When one sensor has fewer samples,
its four columns are padded with 0 at the end. Numbers are Java-formatted (``-4.276447E-5``).
The class is the folder's number (the file-name letter is not a reliable class code).

Conversion: per file and sensor, padding rows (time 0 after the first row) are dropped, samples
are sorted by time (the first of equal times is kept) and linearly interpolated onto a common
100 Hz grid (multiples of 10 ms of the file's clock); accelerometer and gyroscope share one
stream, NaN where one sensor has no sample. Holes over 0.1 s are not bridged: where neither
sensor has data the session is split. A clock is judged by its mean rate between holes, since
some recordings arrive in bursts (median step 2 ms, mean 100-110 Hz); a file whose clock is not
seconds at about 100 Hz is skipped with a note (``completeness.notes``), never aborting the rest.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Note, Plan, Session, Source
from ._common import labels_from, read_numeric
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


RATE = 100.0
#: A step between consecutive samples of one sensor longer than this (s) is a hole that is not interpolated.
GAP_S = 0.1
RAW_FILES = 1945
_FOLDER = re.compile(r"^(\d+)\.(.+)$")
_FILE = re.compile(r"^(\d+)_([A-Za-z])_(\d+)(?:_(\d+))?\.csv$")

#: id, folder name, natural-language text (readme descriptions)
_TABLE = [
    (0, "Stand", "standing still"),
    (1, "Sit", "sitting still"),
    (2, "Talk-sit", "talking with hand movements while sitting"),
    (3, "Talk-stand", "talking with hand movements while standing"),
    (4, "Stand-sit", "repeatedly standing up and sitting down"),
    (5, "Lay", "lying down still"),
    (6, "Lay-stand", "repeatedly lying down and standing up"),
    (7, "Pick", "picking up an object from the floor"),
    (8, "Jump", "jumping repeatedly"),
    (9, "Push-up", "doing push-ups"),
    (10, "Sit-up", "doing sit-ups"),
    (11, "Walk", "walking"),
    (12, "Walk-backward", "walking backwards"),
    (13, "Walk-circle", "walking in a circle"),
    (14, "Run", "running"),
    (15, "Stair-up", "walking upstairs"),
    (16, "Stair-down", "walking downstairs"),
    (17, "Table-tennis", "playing table tennis"),
]
LABELS = labels_from(_TABLE)
_NAMES = {i: {name.lower()} for i, name, _ in _TABLE}
_NAMES[12].add("walk-backwards")

_ACC = [Channel(f"waist_acc_{a}", "acc", "waist", "m/s²", "m/s²", axis=a, gravity="removed",
                description=f"Accelerometer {a.upper()}-axis, smartphone at the waist, gravity removed") for a in "xyz"]
_GYRO = [Channel(f"waist_gyro_{a}", "gyro", "waist", "rad/s", "rad/s", axis=a,
                 description=f"Gyroscope (angular rate) {a.upper()}-axis, smartphone at the waist") for a in "xyz"]

CARD = DatasetCard(
    id="kuhar",
    title="KU-HAR: An Open Dataset for Heterogeneous Human Activity Recognition (raw time-domain data)",
    homepage="https://data.mendeley.com/datasets/45f952y38r/5",
    license="CC BY 4.0 (Mendeley Data)",
    citation=("N. Sikder, A.-A. Nahid, \"KU-HAR: An open dataset for heterogeneous human activity recognition\", "
              "Pattern Recognition Letters 146:46-54, 2021, doi:10.1016/j.patrec.2021.02.024."),
    description="90 participants (ids 1001-1101) performing 18 activities (static postures, transitions, "
                "exercises, walking variants, stairs, table tennis) with a smartphone at the waist; "
                "accelerometer (gravity removed) and gyroscope at about 100 Hz.",
    streams=[Stream("imu", RATE, _ACC + _GYRO, "Waist smartphone accelerometer (gravity removed) and gyroscope, "
                                             "resampled to 100 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "source": "1.Raw_time_domian_data (the raw recordings). The authors' trimmed/interpolated copy and the 3-s "
                  "subsamples are derived from it and are not converted.",
        "acc_unit": "undocumented units; decided from the real raw files (3 users x 6 classes): median |acc| while "
                    "standing, sitting or lying is 0.04-0.13, so gravity is removed (with gravity it would be ≈9.81 "
                    "in m/s² or ≈1 in g); while walking or on stairs |acc| has p99 8-45, which only m/s² makes "
                    "plausible (8-45 g would be impossible). Stored as m/s², gravity removed, scale 1; the readme "
                    "also says gravity was omitted. A test on the real files checks both.",
        "gyro_unit": "rad/s, decided from the same files: median |ω| 0.6-2.1 while walking or on stairs, 0.01-0.02 "
                     "at rest (as deg/s, walking would turn at 1-2 °/s, implausibly slow).",
        "time": "the two time columns are seconds since the recording start (readme says ms; a ≈60 s standing "
                "recording runs from 5.0 to 65.0), checked on the real files. Stored t is the file's clock.",
        "clock": "each sensor's clock is judged by its mean rate between holes (50-200 Hz accepted), not its median "
                 "step: some real recordings (stairs, users past 1100) arrive in bursts of three samples 1-2 ms apart "
                 "and a 22 ms gap (median step 2 ms, mean rate 100-110 Hz). A file whose clock fails is skipped "
                 "with a completeness note naming it and why; the other files and subjects are converted.",
        "rate": "nominally 100 Hz with 1-20 ms jitter and small steps backwards (real files): each sensor is "
                "sorted, duplicate times keep the first sample, and values are linearly interpolated at "
                "multiples of 10 ms (the native rate, so no anti-alias filter is needed). Holes over 0.1 s "
                "are left as NaN (only one sensor missing) or split the session (both missing).",
        "padding": "rows with time 0 after the first row are the authors' zero padding of the shorter sensor "
                   "and are dropped per sensor.",
        "placement": "smartphone in a pouch at the waist (paper); not verified on data.",
        "labels": "the number before the dot in the class folder name (0-17; 0 = Stand is a real class); the "
                  "letter in the file name does not follow the class and is ignored.",
        "subjects": "the first number of the file name (1001-1101; the readme counts 90 participants).",
        "sessions": "one per file, named '<class:02d>-<file stem>' (e.g. '00-1001_A_1'); pieces after a hole in "
                    "both sensors get '.2', '.3'.",
    },
)


def plan(root: Path) -> Plan:
    for part in (root.name, root.parent.name):
        if part.lower().startswith("2.trimmed"):
            raise FormatError(f"{root}: this is the trimmed/interpolated copy; KU-HAR is converted from "
                              "1.Raw_time_domian_data")
    subjects: dict[str, list[tuple[int, str]]] = {}
    ignored: list[str] = []
    classes: set[int] = set()
    n = 0
    for d in sorted(root.iterdir()):
        m = _FOLDER.match(d.name)
        if not d.is_dir() or not m:
            continue
        cls = int(m.group(1))
        if cls not in _NAMES or m.group(2).lower() not in _NAMES[cls]:
            raise FormatError(f"{d}: class folder {d.name!r} is not one of the 18 KU-HAR classes "
                              f"({', '.join(f'{i}.{name}' for i, name, _ in _TABLE)})")
        classes.add(cls)
        for f in sorted(d.iterdir()):
            fm = _FILE.match(f.name)
            if fm and f.is_file():
                subjects.setdefault(str(int(fm.group(1))), []).append((cls, f"{d.name}/{f.name}"))
                n += 1
            elif f.is_file():
                ignored.append(f"{d.name}/{f.name}")
    missing = []
    if n and n < RAW_FILES:
        missing.append(f"{RAW_FILES - n} of {RAW_FILES} raw recordings (this copy has {n})")
    absent = [f"{i}.{name}" for i, name, _ in _TABLE if i not in classes]
    if subjects and absent:
        missing.append(f"class folders {', '.join(absent)}")
    notes = [f"files not named <subject>_<letter>_<trial>.csv, ignored: {', '.join(ignored)}"] if ignored else []
    return Plan(subjects=subjects, missing=missing, notes=notes)


def _clean(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the zero padding (time 0 after the first row), sort by time, keep the first of equal times."""
    keep = t != 0
    keep[0] = True
    t, v = t[keep], v[keep]
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    first = np.concatenate([[True], np.diff(t) > 0])
    return t[first], v[first]


def _to_grid(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation at the grid times k / RATE inside runs without holes; returns (k, values)."""
    cut = np.flatnonzero(np.diff(t) > GAP_S) + 1
    bounds = [0, *cut.tolist(), len(t)]
    ks, vs = [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        k0 = math.ceil(t[a] * RATE - 1e-6)
        k1 = math.floor(t[b - 1] * RATE + 1e-6)
        if k1 < k0:
            continue  # a lone sample between holes: nothing to interpolate
        k = np.arange(k0, k1 + 1, dtype=np.int64)
        tg = k / RATE
        ks.append(k)
        vs.append(np.column_stack([np.interp(tg, t[a:b], v[a:b, j]) for j in range(v.shape[1])]))
    if not ks:
        return np.zeros(0, dtype=np.int64), np.zeros((0, v.shape[1]))
    return np.concatenate(ks), np.vstack(vs)


#: Mean sampling rate (Hz) within a sensor's runs without holes that the 100 Hz grid accepts.
RATE_RANGE = (50.0, 200.0)


def clock_problem(t: np.ndarray) -> str | None:
    """Why a sensor's cleaned time column is not seconds at about 100 Hz, or None when it is.

    Judged by the mean rate inside runs without holes (steps up to ``GAP_S``), not by the median
    step: real recordings (stairs of users past 1100) deliver samples in bursts, three about 1-2 ms
    apart then a gap of about 22 ms, so the median step is 2 ms while the mean rate is 100-110 Hz.
    """
    if len(t) < 2:
        return None
    steps = np.diff(t)
    inside = steps[steps <= GAP_S]
    if len(inside) == 0:
        return (f"no two samples within {GAP_S:g} s of each other (median step {np.median(steps):g}); "
                "expected times in seconds at about 100 Hz")
    rate = len(inside) / float(inside.sum())
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        return (f"mean rate {rate:.1f} Hz between holes, outside {RATE_RANGE[0]:g}-{RATE_RANGE[1]:g} Hz; "
                "expected times in seconds at about 100 Hz")
    return None


def read(root: Path, subject: str, unit: list[tuple[int, str]]) -> Iterator[Session | Note]:
    for cls, rel in sorted(unit):
        path = root / rel
        arr = read_numeric(path, sep=",", ncols=8)
        if len(arr) == 0:  # an empty recording: an empty session, counted in completeness.notes
            yield Session("imu", subject, f"{cls:02d}-{Path(rel).stem}", {ch.name: arr[:, 0] for ch in _ACC + _GYRO},
                          np.zeros(0, dtype=np.int16), np.zeros(0))
            continue
        grids = []
        problems = []
        clock = [0, 0.0]
        for tcol, sensor in ((0, "accelerometer"), (4, "gyroscope")):
            t, v = _clean(arr[:, tcol], arr[:, tcol + 1:tcol + 4])
            steps = np.diff(t)
            inside = steps[steps <= GAP_S]
            clock[0] += len(inside)
            clock[1] += float(inside.sum())
            problem = clock_problem(t)
            if problem:
                problems.append(f"{sensor} time (column {tcol + 1}): {problem}")
            grids.append(_to_grid(t, v))
        if problems:
            yield Note(f"{rel}: not converted, its clock cannot be trusted: {'; '.join(problems)}")
            continue
        (ka, va), (kg, vg) = grids
        k = np.union1d(ka, kg)
        if len(k) == 0:
            continue
        vals = np.full((len(k), 6), np.nan)
        vals[np.searchsorted(k, ka), :3] = va
        vals[np.searchsorted(k, kg), 3:] = vg
        cuts = [0, *(np.flatnonzero(np.diff(k) > 1) + 1).tolist(), len(k)]
        stem = f"{cls:02d}-{Path(rel).stem}"
        for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]), start=1):
            cols = {ch.name: vals[a:b, j] for j, ch in enumerate(_ACC + _GYRO)}
            yield Session("imu", subject, stem if i == 1 else f"{stem}.{i}", cols,
                          np.full(b - a, cls, dtype=np.int16), k[a:b] / RATE,
                          source_clock=(clock[0], clock[1]) if i == 1 else None)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="1.Raw_time_domian_data.zip",
        urls=["https://data.mendeley.com/public-files/datasets/45f952y38r/files/"
              "d3126562-b795-4eba-8559-310a25859cc7/file_downloaded"],
    )],
    marker="0.Stand",
    layout=('[0-9]*.*/[0-9]*_[A-Za-z]_[0-9]*.csv',),
    aliases=("ku-har",),
    plan=plan,
    read=read,
    hours=None,
    n_subjects=90,
)
