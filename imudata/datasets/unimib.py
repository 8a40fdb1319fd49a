"""UniMiB-SHAR: smartphone accelerometer windows of 9 daily activities and 8 falls (Micucci et al. 2017).

Original layout (``UniMiB-SHAR.zip``)::

    UniMiB-SHAR/
      readme.txt, *.m (Matlab code)
      data/
        full_data.mat
        acc_data.mat  acc_labels.mat  acc_names.mat            17 classes (AF-17)
        adl_* / fall_* / two_classes_*                          subsets / regroupings of the same windows
        split/, results/

MATLAB v5 files, one variable named like the file. ``acc_data`` is float64, one row per window,
453 columns = 151 x samples, then 151 y, then 151 z (three consecutive blocks); 50 Hz, m/s² with
gravity, ±2 g. ``acc_labels`` is uint8 N x 3: [class 1-17, subject 1-30, trial]. ``acc_names``
is a 2 x 17 cell (long description, short code). The windows are 151 samples cut around an
acceleration peak; they are not contiguous, so every window is its own session.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from ..errors import FormatError
from ..format import Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


RATE = 50.0
WINDOW = 151
N_WINDOWS = 11771

#: (id, short code from acc_names row 2, long name from acc_names row 1, text)
_TABLE = [
    (1, "StandingUpFS", "Standing up from sitting", "standing up from sitting"),
    (2, "StandingUpFL", "Standing up from laying", "standing up from lying"),
    (3, "Walking", "Walking", "walking"),
    (4, "Running", "Running", "running"),
    (5, "GoingUpS", "Going upstairs", "walking upstairs"),
    (6, "Jumping", "Jumping", "jumping"),
    (7, "GoingDownS", "Going downstairs", "walking downstairs"),
    (8, "LyingDownFS", "Lying down from standing", "lying down from standing"),
    (9, "SittingDown", "Sitting down", "sitting down"),
    (10, "FallingForw", "Generic falling forward", "falling forward"),
    (11, "FallingRight", "Falling rightward", "falling to the right"),
    (12, "FallingBack", "Generic falling backward", "falling backward"),
    (13, "HittingObstacle", "Hitting an obstacle in the fall", "falling after hitting an obstacle"),
    (14, "FallingWithPS", "Falling with protection strategies", "falling with protection strategies"),
    (15, "FallingBackSC", "Falling backward-sitting-chair", "falling backward onto a chair, ending seated"),
    (16, "Syncope", "Syncope", "fainting (syncope)"),
    (17, "FallingLeft", "Falling leftward", "falling to the left"),
]
LONG_NAMES = {i: long for i, _, long, _ in _TABLE}
LABELS = labels_from([(i, code, text) for i, code, _, text in _TABLE])
#: classes 1-9 are activities of daily living (2 trials), 10-17 falls (6 trials)
ADL = range(1, 10)

_ACC = [Channel(f"pocket_acc_{a}", "acc", "pocket", "m/s²", "m/s²", axis=a, gravity="included", range="±2 g",
                description=f"Accelerometer {a.upper()}-axis (±2 g), smartphone in a trouser pocket (right or left, "
                            f"see the session name), gravity included") for a in "xyz"]

CARD = DatasetCard(
    id="unimib",
    title="UniMiB SHAR: smartphone accelerometer data for human activity recognition and fall detection",
    homepage="http://www.sal.disco.unimib.it/technologies/unimib-shar/",
    license="No licence file is shipped; the readme asks to cite Micucci et al. 2017",
    citation=("D. Micucci, M. Mobilio, P. Napoletano, \"UniMiB SHAR: A Dataset for Human Activity Recognition Using "
              "Acceleration Data from Smartphones\", Applied Sciences 7(10):1101, 2017 (arXiv:1611.07688)."),
    description="30 subjects (18-60 years) with an Android smartphone (Samsung Galaxy Nexus) in a trouser pocket; "
                "11,771 windows of 151 accelerometer samples (about 3 s at 50 Hz) cut around acceleration peaks, "
                "9 activities of daily living and 8 kinds of falls.",
    streams=[Stream("acc", RATE, _ACC, "Smartphone accelerometer windows (151 samples), 50 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "source": "data/acc_data.mat with acc_labels.mat (the AF-17 set). The adl_*, fall_* and two_classes_* files "
                  "hold the same windows split or regrouped (ADL = classes 1-9, falls = 10-17), so nothing is lost by "
                  "converting acc_* only. full_data.mat (the continuous per-subject recordings) is not converted: "
                  "its nested structure is documented only in prose and could not be checked on a real file.",
        "layout": "each acc_data row is 453 values = 151 x, then 151 y, then 151 z (readme: 'three subsequent rows "
                  "contain x, y, z'); the 2016 release (2-column labels, 51-sample windows) is refused.",
        "rate": "50 Hz (paper); windows carry no timestamps, t = sample / 50 within a window.",
        "acc_unit": "m/s² with gravity (scale 1): the sensor is ±2 g and the 2016 release clips at ±19.58 = 2 x 9.79; "
                    "not re-checked on acc_data.mat (not available here).",
        "labels": "class column of acc_labels.mat (1-17); names checked against acc_names.mat when present "
                  "(verified on the real acc_names.mat: 2 x 17, short codes in row 2).",
        "subjects": "subject column of acc_labels.mat (1-30); verified on the real acc_labels.mat (11771 x 3).",
        "placement": "trouser pocket. Readme: for activities with 2 trials (ADL) trial 1 is the right pocket, trial 2 "
                     "the left; for 6 trials (falls) trials 1-3 right, 4-6 left. The session name carries it.",
        "sessions": "one session per window, named w<row>.t<trial>.<right|left>, row = 1-based row of acc_data.mat.",
    },
)


def _load(path: Path, var: str) -> Any:
    if not path.exists():
        raise FormatError(f"{path} is missing")
    try:
        import scipy.io

        mat = scipy.io.loadmat(str(path))
    except (ValueError, NotImplementedError, OSError) as exc:
        raise FormatError(f"{path}: not a readable MATLAB v5 file ({exc})") from exc
    if var not in mat:
        raise FormatError(f"{path}: no variable {var!r} (found {sorted(k for k in mat if not k.startswith('__'))})")
    return mat[var]


def read_labels(path: Path) -> np.ndarray:
    """acc_labels.mat as an int64 (N, 3) array [class, subject, trial]; the 2016 2-column layout is refused."""
    lab = np.asarray(_load(path, "acc_labels"))
    if lab.ndim != 2 or lab.shape[1] != 3:
        raise FormatError(f"{path}: acc_labels has shape {lab.shape}, expected (N, 3) [class, subject, trial]; "
                          "a 2-column table is the 2016 release, which this converter does not read")
    lab = lab.astype(np.int64)
    bad = ~np.isin(lab[:, 0], list(LONG_NAMES)) | (lab[:, 1] < 1) | (lab[:, 2] < 1) | (lab[:, 2] > 6)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{path}: row {row + 1}: {lab[row].tolist()} is not [class 1-17, subject >= 1, trial 1-6]")
    return lab


def read_names(path: Path) -> list[tuple[str, str]]:
    """acc_names.mat as [(long description, short code)] per class, in class order."""
    cell = np.asarray(_load(path, "acc_names"), dtype=object)
    if cell.ndim != 2 or cell.shape[0] != 2:
        raise FormatError(f"{path}: acc_names has shape {cell.shape}, expected a 2 x K cell (the 2016 release has "
                          "K x 1 snake_case names)")

    def text(v: Any) -> str:
        return str(np.asarray(v).ravel()[0]) if np.asarray(v).size else ""

    return [(text(cell[0, k]), text(cell[1, k])) for k in range(cell.shape[1])]


def _check_names(path: Path) -> None:
    names = read_names(path)
    want = [(long, code) for _, code, long, _ in _TABLE]
    if len(names) != len(want):
        raise FormatError(f"{path}: {len(names)} class names, the 2017 release has {len(want)}")
    for k, (got, exp) in enumerate(zip(names, want), start=1):
        if got != exp:
            raise FormatError(f"{path}: class {k} is {got}, the converter's table says {exp}")


@lru_cache(maxsize=2)
def _data(path: str, mtime_ns: int, size: int) -> np.ndarray:
    arr = np.asarray(_load(Path(path), "acc_data"), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3 * WINDOW:
        raise FormatError(f"{path}: acc_data has shape {arr.shape}, expected (N, 453) = 151 x, 151 y, 151 z "
                          "per row (the 2016 release has other widths and is not read)")
    return arr


def plan(root: Path) -> Plan:
    data = root / "data"
    labels = read_labels(data / "acc_labels.mat")
    if (data / "acc_names.mat").exists():
        _check_names(data / "acc_names.mat")
    if not (data / "acc_data.mat").exists():
        raise FormatError(f"{data / 'acc_data.mat'} is missing: the signals of UniMiB-SHAR are in that file")
    subjects: dict[str, str] = {str(s): "data/acc_data.mat" for s in sorted(set(labels[:, 1].tolist()))}
    missing = []
    if len(labels) != N_WINDOWS:
        missing.append(f"acc_labels.mat lists {len(labels)} windows; the 2017 release has {N_WINDOWS}")
    return Plan(subjects=subjects, missing=missing)


def read(root: Path, subject: str, unit: str) -> Iterator[Session]:
    path = root / unit
    labels = read_labels(root / "data" / "acc_labels.mat")
    arr = _data(str(path), path.stat().st_mtime_ns, path.stat().st_size)
    if len(arr) != len(labels):
        raise FormatError(f"{path}: {len(arr)} windows but acc_labels.mat has {len(labels)} rows")
    rows = np.flatnonzero(labels[:, 1] == int(subject))
    for r in rows:
        cls, _, trial = (int(v) for v in labels[r])
        side = "right" if trial <= (1 if cls in ADL else 3) else "left"
        win = arr[r].reshape(3, WINDOW)
        cols = {f"pocket_acc_{a}": win[i] for i, a in enumerate("xyz")}
        yield Session("acc", subject, f"w{r + 1:05d}.t{trial}.{side}", cols, np.full(WINDOW, cls, dtype=np.int16))


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="UniMiB-SHAR.zip",
        urls=["https://www.dropbox.com/s/x2fpfqj0bpf8ep6/UniMiB-SHAR.zip?dl=1"],
    )],
    marker="data/acc_labels.mat",
    layout=('data/acc_labels.mat', 'data/acc_data.mat'),
    aliases=("unimib-shar",),
    plan=plan,
    read=read,
    hours=round(N_WINDOWS * WINDOW / RATE / 3600, 1),
    n_subjects=30,
)
