"""HHAR: Heterogeneity Activity Recognition (UCI 344; Stisen et al., SenSys 2015).

Original layout (the UCI static zip wraps two zips)::

    Activity recognition exp.zip -> Activity recognition exp/
        Phones_accelerometer.csv  Phones_gyroscope.csv  Watch_accelerometer.csv  Watch_gyroscope.csv
        readme.txt
    Still exp.zip -> Still exp/<Orientation>/<DeviceName>/<DeviceModel>.csv   (+ readme.txt)

Each activity CSV has one header line ``Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt``
and one row per sensor event of every device, all devices interleaved and not sorted by time.
Arrival_Time is Unix epoch ms (the logging app's clock); Creation_Time is the OS event timestamp
in ns whose origin depends on the device (epoch on e.g. nexus4, time since boot on e.g. gear).
x, y, z are m/s² (accelerometer, gravity included) or rad/s (gyroscope). Users ``a``-``i``;
``gt`` is bike, sit, stand, walk, stairsup, stairsdown or the literal string ``null``. Each device
samples "at the highest frequency it allows" (nominally 50-200 Hz), with jitter.

Conversion: every (user, device) is processed on its own clock, never merged with another
device. Per sensor, rows are sorted by Creation_Time (repeated times keep the first row), put
on the arrival clock (Creation_Time plus the median Arrival - Creation offset of that sensor),
and resampled to 50 Hz at multiples of 20 ms: linear interpolation onto a uniform grid at the
multiple of 50 Hz nearest the device's measured rate, then a polyphase anti-aliasing FIR
decimation (scipy.signal.resample_poly). Accelerometer and gyroscope of a device share the grid
and form one session per (user, device); a hole over 0.25 s in one sensor is NaN there, and where
both sensors are silent the session is split. The still experiment (phones lying on a table, no
subject or activity) is calibration data and is not converted.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs
pl = lazy("polars", globals(), "pl")

RATE = 50.0
#: A step between consecutive events of one sensor longer than this (s) is a hole that is not interpolated.
GAP_S = 0.25
HEADER = ["Index", "Arrival_Time", "Creation_Time", "x", "y", "z", "User", "Model", "Device", "gt"]
SCHEMA_TYPES = {"Index": "Int64", "Arrival_Time": "Int64", "Creation_Time": "Int64", "x": "Float64", "y": "Float64",
                "z": "Float64", "User": "Utf8", "Model": "Utf8", "Device": "Utf8", "gt": "Utf8"}  # polars dtypes
FILES = {("phone", "acc"): "Phones_accelerometer.csv", ("phone", "gyro"): "Phones_gyroscope.csv",
         ("watch", "acc"): "Watch_accelerometer.csv", ("watch", "gyro"): "Watch_gyroscope.csv"}

LABELS = labels_from([
    (1, "bike", "cycling"),
    (2, "sit", "sitting"),
    (3, "stand", "standing"),
    (4, "walk", "walking"),
    (5, "stairsup", "walking upstairs"),
    (6, "stairsdown", "walking downstairs"),
])
_IDS = {lab.name: lab.id for lab in LABELS}
_IDS["null"] = -1

_PLACE = {"phone": ("waist", "smartphone carried at the waist"), "watch": ("wrist", "smartwatch worn on the arm")}


def _channels(kind: str) -> list[Channel]:
    p, where = _PLACE[kind]
    return ([Channel(f"{p}_acc_{a}", "acc", p, "m/s²", "m/s²", axis=a, gravity="included",
                     description=f"Accelerometer {a.upper()}-axis, {where}, gravity included") for a in "xyz"]
            + [Channel(f"{p}_gyro_{a}", "gyro", p, "rad/s", "rad/s", axis=a,
                       description=f"Gyroscope (angular rate) {a.upper()}-axis, {where}") for a in "xyz"])


CARD = DatasetCard(
    id="hhar",
    title="Heterogeneity Activity Recognition (HHAR)",
    homepage="https://archive.ics.uci.edu/dataset/344/heterogeneity+activity+recognition",
    license="CC BY 4.0 (UCI)",
    citation=("A. Stisen, H. Blunck, S. Bhattacharya, T. S. Prentow, M. B. Kjærgaard, A. Dey, T. Sonne, M. M. Jensen, "
              "\"Smart Devices are Different: Assessing and Mitigating Mobile Sensing Heterogeneities for Activity "
              "Recognition\", ACM SenSys 2015, doi:10.1145/2809695.2809718."),
    description="9 users each carrying 8 smartphones (2 each of LG Nexus 4, Samsung Galaxy S3, S3 mini and S+) "
                "around the waist and wearing 4 smartwatches (2 LG G Watch, 2 Samsung Galaxy Gear) while biking, "
                "sitting, standing, walking and climbing stairs; accelerometer and gyroscope of every device, "
                "resampled here from each device's own rate to 50 Hz.",
    streams=[Stream("phone", RATE, _channels("phone"), "Smartphones at the waist, one session per device, "
                                                      "resampled to 50 Hz"),
             Stream("watch", RATE, _channels("watch"), "Smartwatches, one session per device, resampled to 50 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "units": "accelerometer m/s² with gravity, gyroscope rad/s (scale 1): readme and paper; |acc| at rest is "
                 "9.6-10.6 m/s² in the real still-experiment files (a test checks it).",
        "time": "Creation_Time is ns (checked on the real still-experiment files: Creation_Time / 1e6 equals the "
                "ms Sensor_Time column) with a device-specific origin; Arrival_Time is epoch ms. Each sensor's "
                "events are put on the arrival clock: session_start + t = Creation_Time + median(Arrival_Time - Creation_Time) of "
                "that (user, device, sensor), so devices are roughly aligned in Unix time (s) while sample spacing "
                "comes from the device's own clock. Rows are sorted by Creation_Time; repeated times keep the "
                "first row.",
        "resampling": "every device stream is resampled on its own clock to 50 Hz at multiples of 20 ms (Unix "
                      "time): linear interpolation onto a uniform grid at the multiple of 50 Hz nearest the "
                      "segment's measured rate (e.g. 200 Hz for a Nexus 4 at 198.6 Hz), then "
                      "scipy.signal.resample_poly(1, factor, padtype='line') (Kaiser-windowed FIR low-pass at the "
                      "new Nyquist, 25 Hz) to remove aliasing. 50 Hz is the lowest nominal device rate "
                      "(Galaxy S+), so every device keeps its content up to 25 Hz and all share one channel set. "
                      "Labels are taken from the event nearest each output sample.",
        "rate": "native rates differ per device (paper maxima: Nexus 4 200, Galaxy S3 150, S3 mini 100, S+ 50, "
                "LG G Watch 200, Galaxy Gear 100 Hz; measured nexus4_1 ≈198.6, gear_1 ≈100.1 Hz) and jitter; "
                "the stored rate is 50 Hz for all.",
        "sessions": "one session per (user, device), named by the device id (e.g. 'nexus4_1'); accelerometer "
                    "and gyroscope share it (NaN where one has a hole over 0.25 s, or no data at all); where "
                    "both sensors are silent for over 0.25 s the session is split ('nexus4_1.2', ...).",
        "placement": "phones around the waist, watches on the arms (paper) [doc]; stored as waist / wrist.",
        "labels": "gt column per row; 'null' (the literal string) is stored as null.",
        "still_experiment": "'Still exp' (devices lying still in six orientations, no person, no activity) is "
                            "calibration data and is not converted; it was used to check units and clocks.",
        "subjects": "User column (a-i).",
    },
)


# ---------------------------------------------------------------------------------------- signal helpers

def device_time(creation_ns: np.ndarray, arrival_ms: np.ndarray) -> np.ndarray:
    """Seconds on the arrival (Unix) clock for events of one device sensor, spaced by its own clock."""
    creation_ns = np.asarray(creation_ns, dtype=np.int64)
    offset = np.median(np.asarray(arrival_ms, dtype=np.int64) * 1_000_000 - creation_ns)
    return (creation_ns + np.int64(round(float(offset)))) / 1e9


def resample(t: np.ndarray, values: np.ndarray, rate: float = RATE, gap: float = GAP_S
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample events at sorted, distinct times ``t`` (s) to the grid ``k / rate``.

    Returns (k, values (m, c), index of the nearest source event per output sample). Within each
    run without holes over ``gap``: linear interpolation onto a uniform grid at ``factor * rate``
    (factor = measured rate / rate, rounded, at least 1), then an anti-aliasing polyphase
    decimation by ``factor``. Runs too short for one output sample are dropped.
    """
    values = np.asarray(values, dtype=np.float64).reshape(len(t), -1)
    cut = np.flatnonzero(np.diff(t) > gap) + 1
    bounds = [0, *cut.tolist(), len(t)]
    ks, vs, src = [], [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        k0 = math.ceil(t[a] * rate - 1e-6)
        k1 = math.floor(t[b - 1] * rate + 1e-6)
        if k1 < k0:
            continue
        seg_t, seg_v = t[a:b], values[a:b]
        span = seg_t[-1] - seg_t[0]
        factor = max(1, int(round((b - a - 1) / span / rate))) if span > 0 else 1
        fine = (np.arange(k0 * factor, k1 * factor + 1, dtype=np.int64)) / (rate * factor)
        vf = np.column_stack([np.interp(fine, seg_t, seg_v[:, j]) for j in range(values.shape[1])])
        from scipy.signal import resample_poly

        out = resample_poly(vf, 1, factor, axis=0, padtype="line") if factor > 1 and len(vf) > 1 else vf
        k = np.arange(k0, k1 + 1, dtype=np.int64)
        ks.append(k)
        vs.append(out[:len(k)])
        src.append(a + _nearest(seg_t, k / rate))
    if not ks:
        return np.zeros(0, np.int64), np.zeros((0, values.shape[1])), np.zeros(0, np.int64)
    return np.concatenate(ks), np.vstack(vs), np.concatenate(src)


def _nearest(t: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Index of the element of sorted ``t`` nearest to each query time."""
    if len(t) == 1:
        return np.zeros(len(q), dtype=np.int64)
    i = np.clip(np.searchsorted(t, q), 1, len(t) - 1)
    return np.where(q - t[i - 1] <= t[i] - q, i - 1, i)


# ---------------------------------------------------------------------------------------- reading

def _check_header(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.readline().decode("utf-8", "replace").strip().split(",")
    if head != HEADER:
        raise FormatError(f"{path}: header {','.join(head)!r}, expected {','.join(HEADER)!r}")


def _collect(path: Path, lf: pl.LazyFrame) -> pl.DataFrame:
    try:
        return lf.collect()
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{path}: a row does not match {','.join(HEADER)} with integer times "
                          f"(a spreadsheet-mangled copy writes Creation_Time as 1.42E+18): {exc}") from exc


def _scan(path: Path) -> pl.LazyFrame:
    schema = {k: getattr(pl, v) for k, v in SCHEMA_TYPES.items()}
    return pl.scan_csv(path, schema=schema, has_header=True, quote_char=None)


def plan(root: Path) -> Plan:
    users: set[str] = set()
    missing = []
    for name in FILES.values():
        path = root / name
        if not path.exists():
            missing.append(name)
            continue
        _check_header(path)
        users |= set(_collect(path, _scan(path).select("User").unique())["User"].drop_nulls().to_list())
    return Plan(subjects={u: None for u in sorted(users)}, missing=missing)


def _sensor(path: Path, rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One (user, device) sensor's rows -> (grid k, values, label per output sample)."""
    rows = rows.sort("Creation_Time", maintain_order=True).unique("Creation_Time", keep="first", maintain_order=True)
    if rows.height < 2:
        return None
    bad = rows.filter(~pl.col("gt").is_in(list(_IDS)) | pl.col("gt").is_null())
    if bad.height:
        raise FormatError(f"{path}: Index {bad['Index'][0]}: gt {bad['gt'][0]!r} is not one of "
                          f"{', '.join(_IDS)}")
    t = device_time(rows["Creation_Time"].to_numpy(), rows["Arrival_Time"].to_numpy())
    k, vals, src = resample(t, rows.select("x", "y", "z").to_numpy())
    lab = rows["gt"].replace_strict(_IDS, return_dtype=pl.Int16).to_numpy()
    return k, vals, lab[src]


def read(root: Path, subject: str, unit: None) -> Iterator[Session]:
    for kind in ("phone", "watch"):
        per_sensor: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for sensor in ("acc", "gyro"):
            path = root / FILES[(kind, sensor)]
            if not path.exists():
                continue
            rows = _collect(path, _scan(path).filter(pl.col("User") == subject)
                            .select("Index", "Arrival_Time", "Creation_Time", "x", "y", "z", "Device", "gt"))
            for (device,), part in rows.group_by(["Device"], maintain_order=True):
                got = _sensor(path, part)
                if got is not None:
                    per_sensor.setdefault(str(device), {})[sensor] = got
        for device in sorted(per_sensor):
            parts = per_sensor[device]
            k = np.unique(np.concatenate([p[0] for p in parts.values()]))
            if not len(k):
                continue
            vals = np.full((len(k), 6), np.nan)
            label = np.full(len(k), -1, dtype=np.int16)
            have = np.zeros(len(k), dtype=bool)
            for j, sensor in enumerate(("acc", "gyro")):
                if sensor not in parts:
                    continue
                ks, v, lab = parts[sensor]
                pos = np.searchsorted(k, ks)
                vals[pos, 3 * j:3 * j + 3] = v
                fill = pos[~have[pos]]  # the accelerometer's label wins where both exist
                label[fill] = lab[~have[pos]]
                have[pos] = True
            cuts = [0, *(np.flatnonzero(np.diff(k) > 1) + 1).tolist(), len(k)]
            names = [c.name for c in _channels(kind)]
            for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]), start=1):
                yield Session(kind, subject, device if i == 1 else f"{device}.{i}",
                              {n: vals[a:b, c] for c, n in enumerate(names)}, label[a:b], k[a:b] / RATE)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="hhar.zip",
        urls=["https://archive.ics.uci.edu/static/public/344/heterogeneity+activity+recognition.zip"],
    )],
    marker="Phones_accelerometer.csv",
    layout=('Phones_accelerometer.csv', 'Phones_gyroscope.csv', 'Watch_accelerometer.csv', 'Watch_gyroscope.csv'),
    plan=plan,
    read=read,
    hours=None,
    n_subjects=9,
)
