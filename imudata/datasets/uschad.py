"""USC-HAD: USC Human Activity Dataset (Zhang and Sawchuk, UbiComp 2012 SAGAware workshop).

Original layout (``USC-HAD.zip`` from sipi.usc.edu)::

    USC-HAD/Readme.txt, displayData_acc.m, displayData_gyro.m
    USC-HAD/Subject1/ ... Subject14/
        a<m>t<n>.mat      activity m (1-12), trial n (1-5), no zero padding (a10t1 sorts before a1t1)

Each MAT file (MATLAB v5, ``scipy.io.loadmat``) holds one trial as top-level variables: ``title``,
``version``, ``date``, ``subject``, ``age``, ``height``, ``weight``, ``activity``, ``activity_number``
(misspelt ``activity_numbr`` in subject 13's files), ``trial``, ``sensor_location``,
``sensor_orientation`` (all character arrays, numbers included) and ``sensor_readings``: N x 6 doubles,
acc x/y/z in g then gyro x/y/z in deg/s, 100 Hz, no timestamps. One MotionNode IMU on the front right
hip. One session per trial; subject, activity and trial come from the path ``Subject<s>/a<m>t<n>.mat``
(the release's organising key). The ``subject``, ``activity_number`` and ``trial`` variables are
compared with it and every contradiction is recorded in the completeness notes, never fatal: in the
real release ``Subject3/a8t5.mat`` says trial 4 and ``Subject5/a8t3.mat`` says trial 2, each a copy
of the previous trial file's metadata over different samples. Some files (``Subject3/a1t3-5``) carry
an extra ``comments`` variable (``'indoor'``), copied into the notes.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterator

from ..errors import FormatError
from ..format import DEG, G, Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


RATE = 100.0
N_SUBJECTS, N_ACTIVITIES, N_TRIALS = 14, 12, 5
_FILE = re.compile(r"^a(\d+)t(\d+)\.mat$")
_SUBJECT = re.compile(r"^Subject(\d+)$")
_ACTIVITY_KEYS = ("activity_number", "activity_numbr")  # the second: subject 13's files
_META_KEYS = ("subject", "activity", "trial", *_ACTIVITY_KEYS)

LABELS = labels_from([
    (1, "Walking Forward", "walking forward in a straight line"),
    (2, "Walking Left", "walking in a circle turning left (counter-clockwise)"),
    (3, "Walking Right", "walking in a circle turning right (clockwise)"),
    (4, "Walking Upstairs", "walking upstairs"),
    (5, "Walking Downstairs", "walking downstairs"),
    (6, "Running Forward", "running forward in a straight line"),
    (7, "Jumping Up", "jumping up and down on the spot"),
    (8, "Sitting", "sitting on a chair"),
    (9, "Standing", "standing"),
    (10, "Sleeping", "lying down on a bed, sleeping"),
    (11, "Elevator Up", "standing in an elevator going up"),
    (12, "Elevator Down", "standing in an elevator going down"),
])

_ACC = [Channel(f"hip_acc_{a}", "acc", "hip", "m/s²", "g", scale=G, axis=a, gravity="included", range="±6 g")
        for a in "xyz"]
_GYRO = [Channel(f"hip_gyro_{a}", "gyro", "hip", "rad/s", "deg/s", scale=DEG, axis=a, range="±500 °/s")
         for a in "xyz"]
_NAMES = [c.name for c in _ACC + _GYRO]

CARD = DatasetCard(
    id="uschad",
    title="USC-HAD: USC Human Activity Dataset",
    homepage="https://sipi.usc.edu/had/",
    license="no licence text in the archive; the authors ask to cite the UbiComp 2012 SAGAware paper",
    citation=("M. Zhang, A. A. Sawchuk, \"USC-HAD: A Daily Activity Dataset for Ubiquitous Activity Recognition "
              "Using Wearable Sensors\", ACM UbiComp 2012 Workshop on Situation, Activity and Goal Awareness "
              "(SAGAware), Pittsburgh, 2012."),
    description="14 subjects (7 male, 7 female), 12 low-level daily activities with 5 trials each, one MotionNode "
                "6-axis IMU (accelerometer and gyroscope) on the front right hip at 100 Hz.",
    streams=[Stream("imu", RATE, _ACC + _GYRO, "MotionNode IMU on the front right hip, 100 Hz")],
    labels=LABELS,
    converter_version="2",
    facts={
        "rate": "100 Hz from the Readme (and the authors' displayData_*.m scripts); no timestamps, t = row / 100.",
        "acc_unit": "g per the Readme (column order acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z); gravity included; "
                    "range ±6 g.",
        "gyro_unit": "deg/s ('dps') per the Readme, scale π/180; range ±500 °/s.",
        "placement": "front right hip (Readme / paper); the MotionNode magnetometer is not in the files.",
        "labels": "one activity per trial file, the m of the file name a<m>t<n>.mat (the release's organising key). "
                  "The 'activity_number' variable (subject 13: 'activity_numbr'), 'trial' and 'subject' are compared "
                  "with the path and each contradiction is a completeness note, not an error: a scan of the 720 real "
                  "files of subjects 1-12 found every activity number equal to the file name's, and two files whose "
                  "'trial' repeats the previous trial's (Subject3/a8t5.mat says 4, Subject5/a8t3.mat says 2). "
                  "No null class. Label texts paraphrase the activity descriptions of the paper.",
        "sessions": "one session per trial file, named a<m>t<n>; trials are never joined.",
        "subjects": "number in the SubjectN folder name; age, height and weight (as stored, unit-less strings) are "
                    "copied into the completeness notes.",
        "not_converted": "title, version, date, activity name, trial, sensor_location and sensor_orientation "
                         "variables (constant metadata; location and orientation of each subject are in the notes).",
    },
)


def _text(value: Any) -> str:
    """A MATLAB char array (or number) from loadmat as one string."""
    a = np.asarray(value)
    if a.dtype.kind in "US":
        items = [x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in a.reshape(-1)]
        return "".join(items).strip()
    if a.dtype.kind in "iuf" and a.size == 1:
        v = float(a.reshape(-1)[0])
        return str(int(v)) if v.is_integer() else repr(v)
    if a.dtype.kind == "O" and a.size == 1:
        return _text(a.reshape(-1)[0])
    raise ValueError(f"expected a string or a number, got an array of dtype {a.dtype} and shape {a.shape}")


def _load(path: Path, **kw: Any) -> dict[str, Any]:
    try:
        import scipy.io

        return scipy.io.loadmat(path, **kw)
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5)
        raise FormatError(f"{path}: a MATLAB v7.3 file; USC-HAD files are MATLAB v5 ({exc})") from exc
    except Exception as exc:  # MatReadError, ValueError, OSError from a damaged file
        raise FormatError(f"{path}: not a readable MAT file ({type(exc).__name__}: {exc})") from exc


def plan(root: Path) -> Plan:
    subjects: dict[str, list[tuple[int, int, str]]] = {}
    for sdir in sorted(root.iterdir()):
        ms = _SUBJECT.match(sdir.name)
        if not ms or not sdir.is_dir():
            continue
        trials = []
        for f in sdir.iterdir():
            mf = _FILE.match(f.name)
            if mf and f.is_file():
                trials.append((int(mf.group(1)), int(mf.group(2)), f.relative_to(root).as_posix()))
        if trials:
            subjects[str(int(ms.group(1)))] = sorted(trials)
    n = sum(len(v) for v in subjects.values())
    full = N_SUBJECTS * N_ACTIVITIES * N_TRIALS
    missing = []
    absent = [str(i) for i in range(1, N_SUBJECTS + 1) if str(i) not in subjects]
    if absent:
        missing.append(f"subjects {', '.join(absent)} (no SubjectN folder with trial files)")
    if n and n < full:
        missing.append(f"{full - n} of {full} trial files (this copy has {n})")
    notes = []
    for subj, trials in sorted(subjects.items(), key=lambda kv: int(kv[0])):
        path = root / trials[0][2]
        mat = _load(path, variable_names=["age", "height", "weight", "sensor_location", "sensor_orientation"])
        fields = []
        for key in ("age", "height", "weight", "sensor_location", "sensor_orientation"):
            if key in mat:
                try:
                    fields.append(f"{key} {_text(mat[key])}")
                except ValueError:
                    fields.append(f"{key} (unreadable)")
        notes.append(f"subject {subj} ({Path(trials[0][2]).name}): " + ", ".join(fields))
    notes += metadata_notes(root, subjects)
    return Plan(subjects=subjects, missing=missing, notes=notes)


def _meta(mat: dict[str, Any], key: str) -> str | None:
    """A metadata variable as text, None when absent, '(unreadable)' when not text or a number."""
    if key not in mat:
        return None
    try:
        return _text(mat[key])
    except ValueError:
        return "(unreadable)"


def _number(text: str | None) -> int | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def metadata_notes(root: Path, subjects: dict[str, list[tuple[int, int, str]]]) -> list[str]:
    """One note per trial file whose metadata contradict its name or path, and per ``comments`` variable.

    The file name ``Subject<s>/a<m>t<n>.mat`` is the release's organising key and decides subject,
    activity and trial; the variables inside are only compared with it. (In the real release
    ``Subject3/a8t5.mat`` and ``Subject5/a8t3.mat`` carry the ``trial`` of the previous trial file
    while their samples differ.) A contradiction is recorded, never fatal.
    """
    notes: list[str] = []
    seen: dict[tuple, str] = {}
    for subj, trials in sorted(subjects.items(), key=lambda kv: int(kv[0])):
        for m, n, rel in trials:
            mat = _load(root / rel, variable_names=[*_META_KEYS, "comments"])
            key = next((k for k in _ACTIVITY_KEYS if k in mat), None)
            values = {"subject": _meta(mat, "subject"), "trial": _meta(mat, "trial"),
                      "activity": _meta(mat, "activity"), "activity number": _meta(mat, key) if key else None}
            wanted = {"subject": int(subj), "activity number": m, "trial": n}
            problems = []
            if key is None:
                problems.append("no 'activity_number' (or 'activity_numbr') variable")
            for name, want in wanted.items():
                got = values[name]
                if got is not None and _number(got) != want:
                    what = "folder" if name == "subject" else "file name"
                    problems.append(f"{name} {got} in the file, but the {what} says {want}")
            meta_key = (subj, values["activity"], values["activity number"], values["trial"])
            twin = seen.setdefault(meta_key, rel)
            if problems:
                also = f"; its metadata equal those of {twin}" if twin != rel else ""
                notes.append(f"{rel}: " + "; ".join(problems) + f"{also}; the file name decides "
                             f"(subject {subj}, activity {m}, trial {n})")
            comments = _meta(mat, "comments")
            if comments is not None:
                notes.append(f"{rel}: comments {comments!r}")
    return notes


def read(root: Path, subject: str, unit: list[tuple[int, int, str]]) -> Iterator[Session]:
    for m, n, rel in sorted(unit):
        path = root / rel
        mat = _load(path)
        if "sensor_readings" not in mat:
            raise FormatError(f"{path}: no 'sensor_readings' variable")
        data = np.asarray(mat["sensor_readings"])
        if data.ndim != 2 or data.shape[1] != 6 or data.dtype.kind not in "fiu":
            raise FormatError(f"{path}: 'sensor_readings' is {data.dtype} {data.shape}, expected N x 6 numbers "
                              "(acc x/y/z in g, gyro x/y/z in deg/s)")
        data = data.astype(np.float64, copy=False)
        yield Session("imu", subject, f"a{m}t{n}", {name: data[:, i] for i, name in enumerate(_NAMES)},
                      np.full(len(data), m, dtype=np.int16))


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(filename="USC-HAD.zip", urls=["https://sipi.usc.edu/had/USC-HAD.zip"])],
    marker="Subject1",
    layout=('Subject*/a*t*.mat',),
    plan=plan,
    read=read,
    aliases=("usc-had",),
    hours=None,  # not published; only the 840 files' total size (about 45 MB) is known
    n_subjects=N_SUBJECTS,
)
