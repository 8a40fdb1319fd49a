"""MotionSense (Malekzadeh et al. 2018/2019): iPhone 6s in the front trouser pocket, Device Motion part.

Original layout: the release's ``A_DeviceMotion_data.zip`` holds ``A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv``
(15 trial folders x 24 subjects, plus ``__MACOSX`` AppleDouble junk, which extraction skips; some re-packs
such as Kaggle's nest the folder twice). ``data_subjects_info.csv`` (``code,weight,height,age,gender``,
starting with a UTF-8 byte-order mark) is a separate download beside the zip.

Each CSV has a header whose first field is empty, a leading pandas row index 0..N-1 (dropped), and 12
signal columns sampled at 50 Hz without timestamps (t = row / 50):
``attitude.roll/pitch/yaw`` (rad), ``gravity.x/y/z`` (g), ``rotationRate.x/y/z`` (rad/s),
``userAcceleration.x/y/z`` (g, gravity removed). Everything is stored as it is in the source
(nothing is derived): ``pocket_grav_*`` is Core Motion's gravity estimate and ``pocket_lacc_*`` its
user acceleration; the total acceleration the phone measured is their sum and is not stored.

Sign: Core Motion reports acceleration with the opposite sign of the specific-force convention used
by Android and by every other dataset here (a phone lying face up reads gravity.z = -1 g in Core
Motion, +9.81 m/s² on Android). Both acceleration kinds are therefore stored with scale -9.80665
(stored = -g_value * 9.80665), so that ``pocket_grav_*`` points up like an Android gravity sensor and
``pocket_lacc_*`` is the acceleration of the phone. The original value is stored / scale.
Rotation rate and attitude keep their sign (same right-handed device axes on both platforms).

Labels come from the trial folder prefix (whole file = one activity, no null class); ids follow the
authors' code (``ACT_LABELS = ["dws", "ups", "wlk", "jog", "std", "sit"]``). One session per trial
folder (``dws_1``), subject = the number in ``sub_<n>.csv``.
The B (raw accelerometer) and C (gyroscope) zips are not converted: they duplicate A (B = gravity +
userAcceleration, C = rotationRate) and are not row-aligned with A or with each other.
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
FOLDER = "A_DeviceMotion_data"
HEADER = ["", "attitude.roll", "attitude.pitch", "attitude.yaw", "gravity.x", "gravity.y", "gravity.z",
          "rotationRate.x", "rotationRate.y", "rotationRate.z",
          "userAcceleration.x", "userAcceleration.y", "userAcceleration.z"]
#: Trial folders of the full release: activity code -> trial numbers.
TRIALS = {"dws": (1, 2, 11), "ups": (3, 4, 12), "wlk": (7, 8, 15), "jog": (9, 16), "std": (6, 14), "sit": (5, 13)}
N_SUBJECTS = 24
#: Core Motion acceleration sign -> specific-force (Android) sign, in m/s².
ACC_SCALE = -G

_TRIAL = re.compile(r"^(dws|ups|wlk|jog|std|sit)_(\d+)$")
_SUB = re.compile(r"^sub_(\d+)\.csv$")

LABELS = labels_from([
    (0, "dws", "walking downstairs"),
    (1, "ups", "walking upstairs"),
    (2, "wlk", "walking"),
    (3, "jog", "jogging"),
    (4, "std", "standing"),
    (5, "sit", "sitting"),
])
_LABEL_ID = {lab.name: lab.id for lab in LABELS}

_WHERE = "iPhone 6s in the front trouser pocket"
_SIGN_NOTE = ("Core Motion sign flipped to the specific-force (Android) convention: scale is -9.80665; "
              "the original Core Motion value in g is stored / scale")


def _channels() -> list[Channel]:
    chans = []
    for a in ("roll", "pitch", "yaw"):
        chans.append(Channel(f"pocket_ori_{a}", "ori", "pocket", "rad", "rad", axis=a,
                             description=f"Orientation angle ({a}) of the {_WHERE}, Core Motion attitude "
                                         f"in an arbitrary horizontal reference frame with vertical Z"))
    for a in "xyz":
        chans.append(Channel(f"pocket_grav_{a}", "grav", "pocket", "m/s²", "g (Core Motion sign)", scale=ACC_SCALE,
                             axis=a, gravity="included", note=_SIGN_NOTE,
                             description=f"Gravity estimate {a.upper()}-axis, {_WHERE}: the gravity component "
                                         f"of the acceleration as separated by Core Motion sensor fusion "
                                         f"(magnitude about 9.81 m/s²)"))
    for a in "xyz":
        chans.append(Channel(f"pocket_gyro_{a}", "gyro", "pocket", "rad/s", "rad/s", axis=a,
                             description=f"Gyroscope (angular rate) {a.upper()}-axis, {_WHERE}, "
                                         f"bias-corrected by Core Motion"))
    for a in "xyz":
        chans.append(Channel(f"pocket_lacc_{a}", "lacc", "pocket", "m/s²", "g (Core Motion sign)", scale=ACC_SCALE,
                             axis=a, gravity="removed", note=_SIGN_NOTE,
                             description=f"Linear acceleration {a.upper()}-axis, {_WHERE}, gravity removed "
                                         f"(Core Motion user acceleration)"))
    return chans


_CHANNELS = _channels()
#: channel name -> 0-based column of the CSV (column 0 is the row index)
_COLUMN = {ch.name: i for i, ch in enumerate(_CHANNELS, start=1)}

CARD = DatasetCard(
    id="motionsense",
    title="MotionSense (Device Motion data)",
    homepage="https://github.com/mmalekzadeh/motion-sense",
    license="MIT (the authors' repository LICENSE); the Kaggle mirror states ODC-ODbL",
    citation=("M. Malekzadeh, R. G. Clegg, A. Cavallaro, H. Haddadi, \"Mobile Sensor Data Anonymization\", "
              "Proc. IoTDI 2019, doi:10.1145/3302505.3310068; and \"Protecting Sensory Data against Sensitive "
              "Inferences\", W-P2DS 2018."),
    description="24 subjects with an iPhone 6s in the front trouser pocket performing six activities "
                "(15 trials each: walking, jogging, walking up and down stairs, sitting, standing); Core Motion "
                "device-motion output at 50 Hz: attitude, gravity, rotation rate and user acceleration.",
    streams=[Stream("imu", RATE, _CHANNELS, "iPhone 6s Core Motion device motion, front trouser pocket, 50 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "50 Hz from the authors' README; the files have no timestamps, t = row / 50.",
        "acc_unit": "gravity and userAcceleration in g (verified on real files: |gravity| = 1.000 on every row); "
                    "stored in m/s² with scale -9.80665.",
        "sign": "Core Motion's acceleration sign is the opposite of the specific-force convention (Apple "
                "documentation: a device lying face up reads gravity.z = -1); the negative scale converts it. "
                "Not checkable from the files themselves (no reference orientation is recorded).",
        "gyro_unit": "rotationRate in rad/s (Core Motion; verified: equals the C_Gyroscope data).",
        "ori_unit": "attitude roll/pitch/yaw in radians (verified: yaw spans -pi..pi).",
        "placement": "front trouser pocket (authors' README); iPhone 6s.",
        "labels": "trial folder prefix; ids in the order of the authors' ACT_LABELS list.",
        "sessions": "one session per trial folder (e.g. dws_1); subject = n in sub_<n>.csv.",
        "not_converted": "B_Accelerometer_data and C_Gyroscope_data (redundant with A and not row-aligned); "
                         "data_subjects_info.csv (weight, height, age, gender) is downloaded but not stored.",
    },
)


def _data_dir(root: Path) -> Path:
    d = root / FOLDER
    if not d.is_dir():
        raise FormatError(f"{root}: no {FOLDER}/ folder (the content of A_DeviceMotion_data.zip)")
    inner = d / FOLDER
    if inner.is_dir() and not any(_TRIAL.match(p.name) for p in d.iterdir()):
        return inner  # re-packs that nest the folder twice
    return d


def subject_codes(path: Path) -> list[str]:
    """The subject codes listed in data_subjects_info.csv (read with its UTF-8 byte-order mark)."""
    lines = [ln for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    if not lines or lines[0].split(",")[0].strip() != "code":
        raise FormatError(f"{path}: expected the header 'code,weight,height,age,gender', got {lines[:1]}")
    return [ln.split(",")[0].strip() for ln in lines[1:]]


def plan(root: Path) -> Plan:
    data = _data_dir(root)
    subjects: dict[str, list[tuple[str, str]]] = {}
    header_only: list[str] = []
    n = 0
    for tdir in sorted(data.iterdir()):
        if not (tdir.is_dir() and _TRIAL.match(tdir.name)):
            continue
        for f in sorted(tdir.iterdir()):
            m = _SUB.match(f.name)
            if m and not _has_samples(f):
                header_only.append(f"{tdir.name}/{f.name}")
            elif m:
                subjects.setdefault(str(int(m.group(1))), []).append((tdir.name, str(f)))
                n += 1
    expected = sum(len(v) for v in TRIALS.values()) * N_SUBJECTS
    missing = []
    if n and n < expected:
        missing.append(f"{expected - n} of {expected} trial files (this copy has {n}, "
                       f"{len(subjects)} of {N_SUBJECTS} subjects)")
    info = root / "data_subjects_info.csv"
    if info.exists():
        absent = [c for c in subject_codes(info) if c not in subjects]
        if absent:
            missing.append(f"subjects listed in data_subjects_info.csv without files: {', '.join(absent)}")
    notes = []
    if header_only:  # a trial without samples is not an error, but it is counted and named
        notes.append(f"{len(header_only)} trial files hold only the header line, no samples, and are not "
                     f"converted: {', '.join(header_only)}")
    return Plan(subjects=subjects, missing=missing, notes=notes)


def _has_samples(path: Path) -> bool:
    """Whether a trial file has a line after its header (the header itself is checked here too)."""
    _check_header(path)
    with open(path, "rb") as fh:
        fh.readline()
        return bool(fh.readline().strip())


def _check_header(path: Path) -> None:
    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8-sig").rstrip("\r\n")
    if first.split(",") != HEADER:
        raise FormatError(f"{path}: line 1: expected the header {','.join(HEADER)!r}, got {first!r}")


def read_trial(path: Path) -> np.ndarray:
    """One trial file as a (rows, 13) float64 array, index column first, after checking its layout."""
    _check_header(path)
    arr = read_numeric(path, sep=",", ncols=len(HEADER), skip_rows=1)
    idx = arr[:, 0]
    if not np.array_equal(idx, np.arange(len(arr), dtype=np.float64)):
        bad = int(np.flatnonzero(idx != np.arange(len(arr)))[0])
        raise FormatError(f"{path}: line {bad + 2}: row index {idx[bad]:g}, expected {bad} (rows must be "
                          f"consecutive 50 Hz samples)")
    return arr


def read(root: Path, subject: str, unit: list[tuple[str, str]]) -> Iterator[Session]:
    for trial, path in sorted(unit):
        arr = read_trial(Path(path))
        act = trial.split("_")[0]
        cols = {name: arr[:, j] for name, j in _COLUMN.items()}
        yield Session("imu", subject, trial, cols, np.full(len(arr), _LABEL_ID[act], dtype=np.int16))


SPEC = DatasetSpec(
    card=CARD,
    sources=[
        Source(filename="A_DeviceMotion_data.zip",
               urls=["https://github.com/mmalekzadeh/motion-sense/raw/master/data/A_DeviceMotion_data.zip"]),
        Source(filename="data_subjects_info.csv",
               urls=["https://github.com/mmalekzadeh/motion-sense/raw/master/data/data_subjects_info.csv"]),
    ],
    marker=FOLDER,
    layout=('A_DeviceMotion_data/*_*/sub_*.csv',),
    plan=plan,
    read=read,
    hours=8.0,  # estimate: 409,251 rows in 72 long trials of the real subset; 9 long + 6 short trials x 24
    n_subjects=N_SUBJECTS,
)
