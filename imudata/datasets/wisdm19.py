"""WISDM 2019: Smartphone and Smartwatch Activity and Biometrics Dataset (UCI 507; Weiss 2019).

Original layout (``wisdm-dataset.zip``, nested inside the UCI static zip)::

    wisdm-dataset/
      README.txt  activity_key.txt  WISDM-dataset-description.pdf  change_raw_act.pl
      .activity_key.txt.swp  .DS_Store  arffmagic-master/          (junk and tools, ignored)
      raw/phone/accel/data_1600_accel_phone.txt ... data_1650_accel_phone.txt
      raw/phone/gyro/data_<id>_gyro_phone.txt    raw/watch/accel/data_<id>_accel_watch.txt
      raw/watch/gyro/data_<id>_gyro_watch.txt
      arff_files/<device>/<sensor>/data_<id>_<sensor>_<device>.arff    (10-s window features)

Raw lines are ``subject,activity,timestamp,x,y,z;`` (every line ends with ``;``): subject 1600-1650,
activity letter A-S without N (``activity_key.txt`` lines ``walking = A``), timestamp a
nanosecond counter (documented as Unix time, but ≈2.5e14 and +5e7 per sample: device uptime),
x, y, z in m/s² (accelerometer, gravity included) or rad/s (gyroscope), 20 Hz requested.

Each file is one subject x one device x one sensor. Accelerometer and gyroscope of a device
have their own timestamps and different line counts, so they cannot be joined exactly: the
four (device, sensor) pairs are four streams. Samples are kept as recorded (no resampling) with
``t`` = timestamp in seconds; a session is one activity block, split where the timestamp goes
backwards, repeats with different values, or jumps by more than 1 s.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import Channel, DatasetCard, Label, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import read_lines
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs
pl = lazy("polars", globals(), "pl")

RATE = 20.0
#: A forward step longer than this (ns) starts a new session.
GAP_NS = 1_000_000_000
SUBJECT_IDS = range(1600, 1651)
DEVICES = ("phone", "watch")
SENSORS = ("accel", "gyro")
_FILE = re.compile(r"^data_(\d+)_(accel|gyro)_(phone|watch)\.txt$")
_KEY_LINE = re.compile(r"^\s*(.+?)\s*=\s*([A-Z])\s*$")

#: letter -> (key word in activity_key.txt, natural-language text)
ACTIVITIES = {
    "A": ("walking", "walking"),
    "B": ("jogging", "jogging"),
    "C": ("stairs", "walking up and down stairs"),
    "D": ("sitting", "sitting"),
    "E": ("standing", "standing"),
    "F": ("typing", "typing on a keyboard"),
    "G": ("teeth", "brushing teeth"),
    "H": ("soup", "eating soup"),
    "I": ("chips", "eating chips"),
    "J": ("pasta", "eating pasta"),
    "K": ("drinking", "drinking from a cup"),
    "L": ("sandwich", "eating a sandwich"),
    "M": ("kicking", "kicking a soccer ball"),
    "O": ("catch", "playing catch with a tennis ball"),
    "P": ("dribbling", "dribbling a basketball"),
    "Q": ("writing", "writing"),
    "R": ("clapping", "clapping"),
    "S": ("folding", "folding clothes"),
}


def label_id(letter: str) -> int:
    """The stored label id of an activity letter: its position in the alphabet (A=1 ... S=19; N unused)."""
    return ord(letter) - ord("A") + 1


LABELS = [Label(label_id(k), name, text) for k, (name, text) in ACTIVITIES.items()]

_PLACE = {"phone": ("pocket", "smartphone in a trouser pocket"),
          "watch": ("wrist", "smartwatch on the dominant hand's wrist")}


def _channels(device: str, sensor: str) -> list[Channel]:
    p, where = _PLACE[device]
    if sensor == "accel":
        return [Channel(f"{p}_acc_{a}", "acc", p, "m/s²", "m/s²", axis=a, gravity="included",
                        description=f"Accelerometer {a.upper()}-axis, {where}, gravity included") for a in "xyz"]
    return [Channel(f"{p}_gyro_{a}", "gyro", p, "rad/s", "rad/s", axis=a,
                    description=f"Gyroscope (angular rate) {a.upper()}-axis, {where}") for a in "xyz"]


def stream_name(device: str, sensor: str) -> str:
    return f"{device}_{'acc' if sensor == 'accel' else 'gyro'}"


_DEVICE_TEXT = {"phone": "Smartphone", "watch": "Smartwatch"}
_SENSOR_TEXT = {"accel": "accelerometer", "gyro": "gyroscope"}
STREAMS = [Stream(stream_name(d, s), RATE, _channels(d, s),
                  f"{_DEVICE_TEXT[d]} {_SENSOR_TEXT[s]}, 20 Hz requested, samples as recorded")
           for d in DEVICES for s in SENSORS]

CARD = DatasetCard(
    id="wisdm19",
    title="WISDM Smartphone and Smartwatch Activity and Biometrics Dataset (2019)",
    homepage="https://archive.ics.uci.edu/dataset/507/wisdm+smartphone+and+smartwatch+activity+and+biometrics+dataset",
    license="CC BY 4.0 (UCI)",
    citation=("G. M. Weiss, K. Yoneda, T. Hayajneh, \"Smartphone and Smartwatch-Based Biometrics Using Activities of "
              "Daily Living\", IEEE Access 7:133190-133202, 2019; G. M. Weiss, \"WISDM Smartphone and Smartwatch "
              "Activity and Biometrics Dataset\", UCI Machine Learning Repository, 2019."),
    description="51 subjects (1600-1650), each performing 18 activities of daily life, sport and eating for 3 "
                "minutes with a smartphone in a trouser pocket and an LG G Watch on the dominant hand; "
                "accelerometer and gyroscope of both devices at 20 Hz (requested).",
    streams=STREAMS,
    labels=LABELS,
    converter_version="1",
    facts={
        "streams": "four streams, one per (device, sensor): the accelerometer and gyroscope files of a device have "
                   "independent timestamps and different line counts (documented line totals differ by sensor), so "
                   "no exact sample pairing exists; joining would need resampling, which the raw release does not "
                   "ask for. Decided from the format description; the raw files were not available to check.",
        "rate": "20 Hz requested (README); the OS may delay sampling. Samples are stored as recorded, with session_start + t = the "
                "file's timestamp / 1e9 (s); the stream rate is nominal.",
        "time": "the timestamp is documented as Unix time but is a nanosecond counter (≈2.5e14, +5e7 per sample at "
                "20 Hz): the reader checks that the median step of each file lies between 1 ms and 1 s in ns.",
        "units": "accelerometer m/s² with gravity, gyroscope rad/s (README/description PDF), scale 1; consistent "
                 "with the real ARFF files of subjects 1600-1601 (window mean resultant ≈ 9.8 for the accelerometer).",
        "placement": "phone in a trouser pocket ('pocket'); watch on the dominant hand ('wrist').",
        "labels": "activity letter per line; stored id = position in the alphabet (A=1 ... S=19, there is no N), "
                  "names from activity_key.txt (checked against it when present; verified on the real file).",
        "sessions": "one session per contiguous activity block of a file, named by the letter ('A', a second block of "
                    "the same letter 'A.2'); a block is split where the timestamp goes backwards, repeats with "
                    "different values, or jumps by more than 1 s. Exact duplicate lines are dropped.",
        "arff": "arff_files/ (window features) are not converted; several phone-accel ARFFs are copies of 1610's.",
    },
)


def read_activity_key(path: Path) -> dict[str, str]:
    """activity_key.txt as {letter: key word}; blank lines are skipped, anything else must be ``word = L``."""
    out: dict[str, str] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        m = _KEY_LINE.match(line)
        if not m:
            raise FormatError(f"{path}: line {i}: {line!r} is not 'activity = LETTER'")
        if m.group(2) in out:
            raise FormatError(f"{path}: line {i}: letter {m.group(2)} appears twice")
        out[m.group(2)] = m.group(1)
    return out


def _check_key(path: Path) -> None:
    key = read_activity_key(path)
    want = {k: name for k, (name, _) in ACTIVITIES.items()}
    if key != want:
        diff = sorted(set(key.items()) ^ set(want.items()))
        raise FormatError(f"{path}: the activity codes differ from the converter's table: {diff}")


def plan(root: Path) -> Plan:
    if (root / "activity_key.txt").exists():
        _check_key(root / "activity_key.txt")
    subjects: dict[str, list[tuple[str, str, str]]] = {}
    found = 0
    for device in DEVICES:
        for sensor in SENSORS:
            folder = root / "raw" / device / sensor
            if not folder.is_dir():
                continue
            for f in sorted(folder.iterdir()):
                m = _FILE.match(f.name)
                if not m or not f.is_file():
                    continue
                if (m.group(2), m.group(3)) != (sensor, device):
                    raise FormatError(f"{f}: a {m.group(2)}/{m.group(3)} file inside raw/{device}/{sensor}")
                subjects.setdefault(m.group(1), []).append((device, sensor, f"raw/{device}/{sensor}/{f.name}"))
                found += 1
    full = len(SUBJECT_IDS) * len(DEVICES) * len(SENSORS)
    missing = []
    if subjects and found < full:
        missing.append(f"{full - found} of {full} raw files (this copy has {found})")
    if not subjects:
        missing.append("raw/ (no raw sensor files; arff_files/ hold only window features)")
    return Plan(subjects=subjects, missing=missing)


def read_raw(path: Path) -> dict[str, np.ndarray]:
    """One raw file: subject (int64), activity letters (str), timestamp (int64 ns), x, y, z (float64).

    Blank lines are skipped; any other line that is not ``int,LETTER,int,float,float,float;`` is an
    error naming the line.
    """
    lines = read_lines(path)
    df = pl.DataFrame({"line": lines}).with_row_index("lineno", offset=1).filter(
        pl.col("line").is_not_null() & (pl.col("line").str.strip_chars() != ""))
    f = pl.col("line").str.strip_chars().str.strip_chars_end(";").str.split(",")
    df = df.with_columns(f.alias("f")).with_columns(
        pl.col("f").list.len().alias("n"),
        pl.col("f").list.get(0, null_on_oob=True).str.strip_chars().cast(pl.Int64, strict=False).alias("subject"),
        pl.col("f").list.get(1, null_on_oob=True).str.strip_chars().alias("activity"),
        pl.col("f").list.get(2, null_on_oob=True).str.strip_chars().cast(pl.Int64, strict=False).alias("ts"),
        *[pl.col("f").list.get(3 + i, null_on_oob=True).str.strip_chars().cast(pl.Float64, strict=False).alias(a)
          for i, a in enumerate("xyz")],
    )
    bad = df.filter((pl.col("n") != 6) | pl.any_horizontal(pl.col("subject", "ts", "x", "y", "z").is_null())
                    | ~pl.col("activity").is_in(list(ACTIVITIES)))
    if bad.height:
        row = bad.row(0, named=True)
        raise FormatError(f"{path}: line {row['lineno']}: {row['line']!r} is not 'subject,activity letter,"
                          f"timestamp,x,y,z;' with an activity letter from activity_key.txt")
    return {"subject": df["subject"].to_numpy(), "activity": df["activity"].to_numpy(),
            "ts": df["ts"].to_numpy(), "xyz": df.select("x", "y", "z").to_numpy()}


def read(root: Path, subject: str, unit: list[tuple[str, str, str]]) -> Iterator[Session]:
    for device, sensor, rel in sorted(unit):
        path = root / rel
        raw = read_raw(path)
        if len(raw["ts"]) == 0:
            continue
        if np.any(raw["subject"] != int(subject)):
            line = int(np.flatnonzero(raw["subject"] != int(subject))[0]) + 1
            raise FormatError(f"{path}: data line {line} is for subject {raw['subject'][line - 1]}, the file name "
                              f"says {subject}")
        ts, xyz, act = raw["ts"], raw["xyz"], raw["activity"]
        step = np.diff(ts)
        pos = step[step > 0]
        if len(pos) and not (1e6 <= np.median(pos) <= 1e9):
            raise FormatError(f"{path}: median timestamp step {np.median(pos):g}; expected nanoseconds "
                              "(about 5e7 per sample at 20 Hz)")
        same = np.all(xyz[1:] == xyz[:-1], axis=1) & (step == 0) & (act[1:] == act[:-1])
        keep = np.concatenate([[True], ~same])
        ts, xyz, act = ts[keep], xyz[keep], act[keep]
        step = np.diff(ts)
        cut = np.flatnonzero((act[1:] != act[:-1]) | (step <= 0) | (step > GAP_NS)) + 1
        bounds = [0, *cut.tolist(), len(ts)]
        seen: dict[str, int] = {}
        chans = [c.name for c in _channels(device, sensor)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            letter = str(act[a])
            seen[letter] = seen.get(letter, 0) + 1
            name = letter if seen[letter] == 1 else f"{letter}.{seen[letter]}"
            cols = {c: xyz[a:b, i] for i, c in enumerate(chans)}
            yield Session(stream_name(device, sensor), subject, name, cols,
                          np.full(b - a, label_id(letter), dtype=np.int16), ts[a:b] / 1e9)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="wisdm19.zip",
        urls=["https://archive.ics.uci.edu/static/public/507/wisdm+smartphone+and+smartwatch+activity+and+biometrics+dataset.zip",
              "https://archive.ics.uci.edu/ml/machine-learning-databases/00507/wisdm-dataset.zip"],
    )],
    marker="activity_key.txt",
    layout=('activity_key.txt', 'raw/*/*/data_*_*_*.txt', 'arff_files/*/*/data_*_*_*.arff'),
    aliases=("wisdm-2019",),
    plan=plan,
    read=read,
    hours=51 * 18 * 3 / 60,  # 51 subjects x 18 activities x 3 min, per sensor
    n_subjects=51,
)
