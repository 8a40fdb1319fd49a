"""UCI-HAR: Human Activity Recognition Using Smartphones v1.0 (UCI 240; Anguita et al. 2013).

Original layout (inside the nested ``UCI HAR Dataset.zip`` of the UCI download, next to
``__MACOSX/`` AppleDouble entries and ``.DS_Store`` files, which are ignored)::

    UCI HAR Dataset/
      README.txt  features_info.txt  features.txt  activity_labels.txt
      train/  X_train.txt  y_train.txt  subject_train.txt
              Inertial Signals/{total_acc,body_acc,body_gyro}_{x,y,z}_train.txt
      test/   the same with _test

The only signals are the pre-windowed ``Inertial Signals`` files: one 2.56 s window (128
samples at 50 Hz) per line, written as fixed-width numbers with three-digit exponents
(``  2.8858451e-001``); line *i* of every file of a split, of ``y_<split>.txt`` (activity
1-6) and ``subject_<split>.txt`` (volunteer 1-30) describe the same window. ``total_acc`` is
acceleration in g including gravity, ``body_acc`` the same minus a 0.3 Hz low-pass gravity
estimate (g), ``body_gyro`` angular rate in rad/s. The ``X_*`` feature vectors (normalised to
[-1, 1]) are derived from the signals and are not converted.

Windows overlap by 50 %, so a continuous recording is rebuilt exactly: consecutive lines of
the same subject and label whose overlapping 64 samples are equal in all nine signals form
one session (the first window whole, then the new second half of each following window);
any mismatch starts a new session. Sessions are named ``<split>.w<line>``, the 1-based line
of their first window in the split's files, so the train/test split and the window
boundaries (every 64 samples from the session start) stay recoverable.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import G, Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from, read_numeric
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


RATE = 50.0
WINDOW = 128
HOP = 64
SPLITS = ("train", "test")
N_SUBJECTS = 30

LABELS = labels_from([
    (1, "WALKING", "walking"),
    (2, "WALKING_UPSTAIRS", "walking upstairs"),
    (3, "WALKING_DOWNSTAIRS", "walking downstairs"),
    (4, "SITTING", "sitting"),
    (5, "STANDING", "standing"),
    (6, "LAYING", "lying down"),
])

_FILTERED = "signals were median- and 20 Hz low-pass-filtered by the authors before windowing"
_ACC = [Channel(f"waist_acc_{a}", "acc", "waist", "m/s²", "g", scale=G, axis=a, gravity="included",
                range="±2 g", note=f"total_acc_{a}; {_FILTERED}") for a in "xyz"]
_LACC = [Channel(f"waist_lacc_{a}", "lacc", "waist", "m/s²", "g", scale=G, axis=a, gravity="removed",
                 note=f"body_acc_{a}: total acceleration minus a 0.3 Hz Butterworth low-pass gravity estimate "
                      f"(the gravity estimate is waist_acc_{a} - waist_lacc_{a}); {_FILTERED}",
                 description=f"Linear (body) acceleration {a.upper()}-axis, waist, gravity removed "
                             f"(0.3 Hz low-pass gravity estimate subtracted)")
         for a in "xyz"]
_GYRO = [Channel(f"waist_gyro_{a}", "gyro", "waist", "rad/s", "rad/s", axis=a,
                 note=f"body_gyro_{a} (not gravity-separated despite the name); {_FILTERED}") for a in "xyz"]

#: Stored channel -> file stem in ``Inertial Signals`` (``<stem>_<split>.txt``).
FILES: dict[str, str] = {}
for _a in "xyz":
    FILES[f"waist_acc_{_a}"] = f"total_acc_{_a}"
    FILES[f"waist_lacc_{_a}"] = f"body_acc_{_a}"
    FILES[f"waist_gyro_{_a}"] = f"body_gyro_{_a}"

_TRAIN = "1, 3, 5, 6, 7, 8, 11, 14, 15, 16, 17, 19, 21, 22, 23, 25, 26, 27, 28, 29, 30"
_TEST = "2, 4, 9, 10, 12, 13, 18, 20, 24"

CARD = DatasetCard(
    id="ucihar",
    title="Human Activity Recognition Using Smartphones (UCI-HAR) v1.0",
    homepage="https://archive.ics.uci.edu/dataset/240/human+activity+recognition+using+smartphones",
    license="CC BY 4.0 (UCI); the authors' README: cite the paper, distributed AS-IS, any commercial use is prohibited",
    citation=("D. Anguita, A. Ghio, L. Oneto, X. Parra, J. L. Reyes-Ortiz, \"A Public Domain Dataset for Human "
              "Activity Recognition Using Smartphones\", ESANN 2013, Bruges (older README: IWAAL 2012, "
              "\"Human Activity Recognition on Smartphones using a Multiclass Hardware-Friendly Support Vector "
              "Machine\")."),
    description="30 volunteers with a Samsung Galaxy S II on the waist performing six activities; filtered "
                "accelerometer (total and gravity-removed) and gyroscope at 50 Hz, released as 2.56 s windows "
                "with 50 % overlap and rebuilt here into continuous runs. Fixed train (21 subjects) / test "
                "(9 subjects) split, kept in the session names. The same recordings appear unfiltered and "
                "unwindowed in HAPT (dataset 'hapt'): do not pool the two.",
    streams=[Stream("imu", RATE, _ACC + _LACC + _GYRO,
                    "Waist smartphone accelerometer (total and body) and gyroscope, 50 Hz, pre-filtered")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "50 Hz from the README; no timestamps: t = sample / 50 within each rebuilt session.",
        "acc_unit": "total_acc and body_acc in standard gravity 'g' per the README (g = 9.80665 m/s²); scale G.",
        "gyro_unit": "body_gyro in rad/s per the README; scale 1.",
        "channels": "waist_acc_* = total_acc (gravity included), waist_lacc_* = body_acc (gravity removed by the "
                    "authors' 0.3 Hz Butterworth split), waist_gyro_* = body_gyro. All nine were median- and "
                    "20 Hz low-pass-filtered before release; X_* feature files are not converted.",
        "windows": "Inertial Signals hold one 128-sample window per line with 50 % overlap (README). Consecutive "
                   "lines of the same subject and label whose overlapping 64 samples are equal in all nine files "
                   "are joined without duplicating the overlap; any mismatch starts a new session, so nothing is "
                   "interpolated or dropped. In a session named <split>.wN, window k (0-based) is line N+k of the "
                   "split's files and covers samples 64k to 64k+127.",
        "labels": "y_<split>.txt, one activity per window (1-6, activity_labels.txt); every sample of a session "
                  "has its windows' label. There is no null class (transitions were excluded by the authors).",
        "split": f"train/ and test/ are the authors' fixed split with disjoint subjects (train: {_TRAIN}; test: "
                 f"{_TEST}); the session name starts with 'train.' or 'test.'.",
        "subjects": "subject_<split>.txt, one volunteer id (1-30) per window. Checked on the real label files: "
                    "7352 train windows (per class 1226, 1073, 986, 1286, 1374, 1407) of 21 subjects and 2947 "
                    "test windows of 9 subjects.",
        "placement": "phone on the waist (README); orientation of the axes on the body is not documented.",
    },
)


def windows_index(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(subject, label) of every window (line) of one split, from ``subject_<split>.txt`` and ``y_<split>.txt``."""
    d = root / split
    out = []
    for name, lo, hi in ((f"subject_{split}.txt", 1, N_SUBJECTS), (f"y_{split}.txt", 1, len(LABELS))):
        path = d / name
        if not path.is_file():
            raise FormatError(f"{path} is missing: UCI-HAR needs it to know each window's subject and activity")
        col = read_numeric(path, ncols=1)[:, 0]
        bad = np.flatnonzero((col != np.round(col)) | (col < lo) | (col > hi))
        if len(bad):
            raise FormatError(f"{path}: line {bad[0] + 1}: {col[bad[0]]:g} is not an integer in {lo}..{hi}")
        out.append(col.astype(np.int64))
    subj, lab = out
    if len(subj) != len(lab):
        raise FormatError(f"{d}: subject_{split}.txt has {len(subj)} lines but y_{split}.txt has {len(lab)}; "
                          "they must describe the same windows")
    return subj, lab


def _signal_path(root: Path, split: str, stem: str) -> Path:
    return root / split / "Inertial Signals" / f"{stem}_{split}.txt"


def plan(root: Path) -> Plan:
    subjects: dict[str, list[tuple[str, int, int]]] = {}
    missing: list[str] = []
    for split in SPLITS:
        if not (root / split).is_dir():
            missing.append(f"{split}/ (the whole {split} split)")
            continue
        present = [stem for stem in FILES.values() if _signal_path(root, split, stem).is_file()]
        absent = [f"{stem}_{split}.txt" for stem in FILES.values() if stem not in present]
        if absent:
            missing.append(f"{split}/Inertial Signals: {len(absent)} of {len(FILES)} signal files "
                           f"({', '.join(absent)})" + ("" if present else f"; nothing of the {split} split converted"))
        if not present:
            continue
        subj, _ = windows_index(root, split)
        if len(subj) == 0:
            continue
        starts = np.r_[0, np.flatnonzero(np.diff(subj)) + 1]
        ends = np.r_[starts[1:], len(subj)]
        for a, b in zip(starts.tolist(), ends.tolist()):
            subjects.setdefault(str(int(subj[a])), []).append((split, a, b))
    return Plan(subjects=subjects, missing=missing)


_LINE_ENDS: dict[tuple[str, int, int], np.ndarray] = {}


def _line_ends(path: Path) -> np.ndarray:
    """Byte offset of the end of every line of a file (trailing blank lines ignored), cached per process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _LINE_ENDS:
        body = path.read_bytes().rstrip()
        ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10)
        if body:
            ends = np.r_[ends, len(body)]
        if len(_LINE_ENDS) >= 4 * len(FILES):
            _LINE_ENDS.clear()
        _LINE_ENDS[key] = ends
    return _LINE_ENDS[key]


def _read_windows(path: Path, start: int, end: int, n_lines: int) -> np.ndarray:
    """Lines ``start``..``end-1`` (0-based) of an Inertial Signals file as a (windows, 128) array."""
    ends = _line_ends(path)
    if len(ends) != n_lines:
        raise FormatError(f"{path}: {len(ends)} lines, but the split's y/subject files list {n_lines} windows")
    lo = 0 if start == 0 else int(ends[start - 1]) + 1
    hi = int(ends[end - 1])
    with open(path, "rb") as f:
        f.seek(lo)
        chunk = f.read(hi - lo)
    toks = chunk.split()
    try:
        if len(toks) != (end - start) * WINDOW:
            raise ValueError
        vals = np.array(toks).astype(np.float64)
    except ValueError:
        _raise_bad_line(path, chunk, start)
        raise
    return vals.reshape(end - start, WINDOW)


def _raise_bad_line(path: Path, chunk: bytes, start: int) -> None:
    for i, line in enumerate(chunk.split(b"\n"), start=start + 1):
        toks = line.split()
        if len(toks) != WINDOW:
            raise FormatError(f"{path}: line {i}: {len(toks)} values, expected {WINDOW} (one window per line)")
        for tok in toks:
            try:
                float(tok)
            except ValueError:
                raise FormatError(f"{path}: line {i}: {tok.decode('latin-1')!r} is not a number") from None
    raise FormatError(f"{path}: unparseable content in lines {start + 1}..")


def read(root: Path, subject: str, unit: list[tuple[str, int, int]]) -> Iterator[Session]:
    for split, start, end in sorted(unit, key=lambda u: (SPLITS.index(u[0]), u[1])):
        subj, lab = windows_index(root, split)
        if end > len(subj) or np.any(subj[start:end] != int(subject)):
            raise FormatError(f"{root / split / f'subject_{split}.txt'}: lines {start + 1}-{end} are no longer all "
                              f"subject {subject}; the file changed since planning")
        n = end - start
        sig: dict[str, np.ndarray] = {}
        present: list[str] = []
        for name, stem in FILES.items():
            path = _signal_path(root, split, stem)
            if path.is_file():
                sig[name] = _read_windows(path, start, end, len(subj))
                present.append(name)
            else:
                sig[name] = np.full((n, WINDOW), np.nan)
        labels = lab[start:end]
        joined = labels[1:] == labels[:-1]
        for name in present:
            w = sig[name]
            joined &= np.all(w[1:, :HOP] == w[:-1, HOP:], axis=1)
        firsts = np.r_[0, np.flatnonzero(~joined) + 1]
        lasts = np.r_[firsts[1:], n]
        for a, b in zip(firsts.tolist(), lasts.tolist()):
            cols = {name: np.concatenate([w[a], w[a + 1:b, HOP:].reshape(-1)]) for name, w in sig.items()}
            length = WINDOW + HOP * (b - a - 1)
            yield Session("imu", subject, f"{split}.w{start + a + 1:04d}", cols,
                          np.full(length, labels[a], dtype=np.int16))


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="ucihar.zip",
        urls=["https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip",
              "https://archive.ics.uci.edu/ml/machine-learning-databases/00240/UCI%20HAR%20Dataset.zip"],
    )],
    marker="activity_labels.txt",
    layout=('activity_labels.txt', 'train/Inertial Signals/*_train.txt', 'test/Inertial Signals/*_test.txt'),
    plan=plan,
    read=read,
    aliases=("uci-har",),
    hours=3.8,
    n_subjects=30,
)
