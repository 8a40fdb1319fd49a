"""RealWorld (HAR) 2016 (Sztyler & Stuckenschmidt, University of Mannheim).

Original layout (``realworld2016_dataset.zip``)::

    realworld2016_dataset/proband1/ ... proband15/
      data/acc_<activity>_csv.zip  gyr_<activity>_csv.zip  mag_<activity>_csv.zip
           gps_..., lig_..., mic_... (GPS, light, sound level: not motion sensors, not converted)

Activities: climbingdown climbingup jumping lying running sitting standing walking. Inside
``acc_walking_csv.zip`` is one CSV per body position (chest forearm head shin thigh upperarm waist)
with a sensor-dependent prefix: ``acc_walking_chest.csv``, ``Gyroscope_walking_chest.csv``,
``MagneticField_walking_chest.csv`` (plus a ``readMe`` member). Variants handled by parsing every
member name as ``<prefix>_<activity>[_<segment>]_<position>.csv`` after opening zips recursively:
probands 4, 7 and 14 have their climbing recordings as further zips inside the zip, one per segment
(``acc_climbingup_2_csv.zip`` ...; CSVs of segment 1 carry no number, later ones ``_<n>``); some
files carry a lone ``_2`` suffix (e.g. proband4 walking); some positions are absent (proband2
climbingup forearm, proband6 jumping thigh) and become NaN channels. The inner zips are kept as
they are when the archive is extracted (``keep_nested``) and read in memory.

Each CSV has the header ``id,attr_time,attr_x,attr_y,attr_z``; ``attr_time`` is a Unix time in ms.
The seven devices (smartphones, a smartwatch on the forearm) and their three sensors were logged
independently at about 50 Hz: every (position, sensor) file has its own time stamps. They are
aligned on ``attr_time`` and resampled to a common 50 Hz grid by this module's ``resample``:
grid points are the multiples of 20 ms of Unix time; each channel is linearly interpolated between
its two neighbouring samples (samples sharing a time stamp are averaged) and is NaN where it has no
sample within ``MAX_GAP_MS`` on both sides (before its first sample, after its last, or inside a
dropout). The grid covers the union of all files' coverage, so nothing recorded is cut off; where
no file has data the recording is split into separate sessions. ``t`` is the grid time in Unix seconds.

One session per (activity, segment): ``walking``, or ``climbingup.1``, ``climbingup.2``... when an
activity has several segments (an extra ``.p2`` suffix only if all sensors stop at once). Labels
come from the activity in the file name (no null class). Units as the Android sensor API reports
them: acceleration m/s² with gravity, angular rate rad/s, magnetic field µT.
"""
from __future__ import annotations

import io
import re
import zipfile
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
STEP_MS = 20
#: a channel is NaN at grid points farther than this from a sample on either side
MAX_GAP_MS = 100
ACTIVITIES = ["climbingdown", "climbingup", "jumping", "lying", "running", "sitting", "standing", "walking"]
POSITIONS = ["chest", "forearm", "head", "shin", "thigh", "upperarm", "waist"]
#: zip prefix -> (CSV member prefix, imudata sensor)
SENSORS = {"acc": ("acc", "acc"), "gyr": ("Gyroscope", "gyro"), "mag": ("MagneticField", "mag")}
N_SUBJECTS = 15
HEADER = ["id", "attr_time", "attr_x", "attr_y", "attr_z"]

_SOURCE = re.compile(r"^(acc|gyr|mag)_([a-z]+)_csv(\.zip)?$")
_MEMBER = re.compile(r"^(acc|Gyroscope|MagneticField)_([a-z]+?)(?:_(\d+))?_([a-z]+)\.csv$")
_PROBAND = re.compile(r"^proband(\d+)$")
_DEVICE = {p: "smartphone" for p in POSITIONS} | {"forearm": "smartwatch"}
_WHERE = {"chest": "chest", "forearm": "forearm (wrist)", "head": "head", "shin": "shin", "thigh": "thigh",
          "upperarm": "upper arm", "waist": "waist"}
_UNIT = {"acc": "m/s²", "gyro": "rad/s", "mag": "µT"}
_TEXT = {"acc": "Accelerometer", "gyro": "Gyroscope (angular rate)", "mag": "Magnetometer"}

LABELS = labels_from([
    (0, "climbingdown", "walking downstairs"),
    (1, "climbingup", "walking upstairs"),
    (2, "jumping", "jumping"),
    (3, "lying", "lying down"),
    (4, "running", "running"),
    (5, "sitting", "sitting"),
    (6, "standing", "standing"),
    (7, "walking", "walking"),
])
_LABEL_ID = {lab.name: lab.id for lab in LABELS}


def _channels() -> list[Channel]:
    chans = []
    for pos in POSITIONS:
        for _zip, (_prefix, sensor) in SENSORS.items():
            for a in "xyz":
                desc = f"{_TEXT[sensor]} {a.upper()}-axis, {_DEVICE[pos]} on the {_WHERE[pos]}"
                if sensor == "acc":
                    desc += ", gravity included"
                chans.append(Channel(f"{pos}_{sensor}_{a}", sensor, pos, _UNIT[sensor], _UNIT[sensor], axis=a,
                                     gravity="included" if sensor == "acc" else "n.a.",
                                     note="resampled from the device's own time stamps (linear interpolation)",
                                     description=desc))
    return chans


CARD = DatasetCard(
    id="realworld",
    title="RealWorld (HAR) 2016",
    homepage="https://www.uni-mannheim.de/dws/research/projects/activity-recognition/dataset/dataset-realworld/",
    license="not stated; free for academic use with citation of Sztyler & Stuckenschmidt 2016",
    citation=("T. Sztyler, H. Stuckenschmidt, \"On-body Localization of Wearable Devices: An Investigation of "
              "Position-Aware Activity Recognition\", IEEE PerCom 2016, doi:10.1109/PERCOM.2016.7456521."),
    description="15 subjects performing eight activities (climbing stairs down and up, jumping, lying, standing, "
                "sitting, running, walking) outdoors with seven devices (chest, forearm, head, shin, thigh, upper "
                "arm, waist) recording accelerometer, gyroscope and magnetometer at about 50 Hz.",
    streams=[Stream("imu", RATE, _channels(),
                    "Seven body-worn devices, each sensor resampled on its own time stamps to a common 50 Hz grid")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "about 50 Hz per device (authors' page); resampled to exactly 50 Hz by linear interpolation on "
                "attr_time (Unix ms), grid on multiples of 20 ms; session_start + t = grid time in Unix seconds.",
        "alignment": "devices and sensors are not synchronised: every file is interpolated on its own time "
                     f"stamps; a channel is NaN more than {MAX_GAP_MS} ms away from its samples.",
        "units": "Android sensor units: acceleration m/s² with gravity, gyroscope rad/s, magnetometer µT "
                 "(documentation and loaders; no original file was available to verify).",
        "labels": "activity in the file names (no null class).",
        "layout": "zip files opened recursively; member names parsed as <prefix>_<activity>[_<n>]_<position>.csv.",
        "not_converted": "GPS, light and microphone (sound level) files.",
        "sessions": "one per (activity, segment); split only where no sensor has data.",
    },
)


# ----------------------------------------------------------------------------------------- reading

def _zip_members(data: zipfile.ZipFile, where: str) -> Iterator[tuple[str, str, bytes]]:
    """(where, member base name, bytes) of every CSV, descending into inner zips."""
    for info in data.infolist():
        name = info.filename.replace("\\", "/")
        base = name.rsplit("/", 1)[-1]
        if info.is_dir() or "__MACOSX" in name.split("/") or base.startswith("._"):
            continue
        if base.lower().endswith(".zip"):
            try:
                inner = zipfile.ZipFile(io.BytesIO(data.read(info)))
            except zipfile.BadZipFile as exc:
                raise FormatError(f"{where}:{name}: not a readable zip ({exc})") from exc
            with inner:
                yield from _zip_members(inner, f"{where}:{name}")
        elif base.lower().endswith(".csv"):
            yield where, base, data.read(info)


def members(path: Path) -> Iterator[tuple[str, str, bytes]]:
    """CSV members of one sensor source: a ``*_csv.zip`` (nested zips included) or an unpacked folder."""
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and p.suffix.lower() == ".zip":
                with zipfile.ZipFile(p) as zf:
                    yield from _zip_members(zf, str(p))
            elif p.is_file() and p.suffix.lower() == ".csv" and not p.name.startswith("._"):
                yield str(p), p.name, p.read_bytes()
        return
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FormatError(f"{path}: not a readable zip ({exc})") from exc
    with zf:
        yield from _zip_members(zf, str(path))


def parse_csv(where: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(time in ms as int64, values (n, 3)) of one sensor CSV, sorted by time, equal times averaged."""
    try:
        df = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{where}: not a readable CSV ({exc})") from exc
    if df.columns != HEADER:
        raise FormatError(f"{where}: line 1: expected the header {','.join(HEADER)}, got {','.join(df.columns)}")
    num = df.select([pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in HEADER[1:]])
    for c in HEADER[1:]:
        if num[c].null_count():
            i = int(num[c].is_null().arg_true()[0])
            raise FormatError(f"{where}: line {i + 2}: {c} {df[c][i]!r} is not a number")
    t = num["attr_time"].to_numpy()
    vals = num.select(HEADER[2:]).to_numpy()
    if len(t) == 0:
        return t.astype(np.int64), vals
    if np.any(t != np.round(t)):
        raise FormatError(f"{where}: attr_time must be whole milliseconds, got {t[t != np.round(t)][0]!r}")
    order = np.argsort(t, kind="stable")
    t, vals = t[order].astype(np.int64), vals[order]
    uniq, inv, counts = np.unique(t, return_inverse=True, return_counts=True)
    if len(uniq) < len(t):
        sums = np.zeros((len(uniq), 3))
        np.add.at(sums, inv, vals)
        t, vals = uniq, sums / counts[:, None]
    if len(t) > 10:
        med = float(np.median(np.diff(t)))
        if not 5 <= med <= 100:
            raise FormatError(f"{where}: median time step {med:g}; attr_time should be milliseconds at about 50 Hz")
    return t, vals


def coverage(t: np.ndarray) -> list[tuple[int, int]]:
    """[first, last] ms intervals of one file, broken where two samples are more than MAX_GAP_MS apart."""
    if len(t) == 0:
        return []
    br = np.flatnonzero(np.diff(t) > MAX_GAP_MS)
    starts = [int(t[0]), *(int(t[i + 1]) for i in br)]
    ends = [*(int(t[i]) for i in br), int(t[-1])]
    return list(zip(starts, ends))


def resample(t: np.ndarray, vals: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of (t, vals) at the grid (all ms); NaN without a sample within MAX_GAP_MS on
    both sides. This is the whole resampling method: no filtering, no extrapolation."""
    out = np.full((len(grid), vals.shape[1]), np.nan)
    if len(t) == 0:
        return out
    if len(t) == 1:
        hit = grid == t[0]
        out[hit] = vals[0]
        return out
    right = np.clip(np.searchsorted(t, grid, side="left"), 1, len(t) - 1)
    left = right - 1
    exact = (t[right] == grid) | (t[left] == grid)
    ok = (grid >= t[0]) & (grid <= t[-1]) & (((t[right] - t[left]) <= MAX_GAP_MS) | exact)
    for j in range(vals.shape[1]):
        col = np.interp(grid, t, vals[:, j])
        out[ok, j] = col[ok]
    return out


def _pieces(files: list[np.ndarray]) -> list[tuple[int, int]]:
    """Grid spans (first, last grid ms) of the union of every file's coverage."""
    ivs = sorted(iv for t in files for iv in coverage(t))
    merged: list[list[int]] = []
    for a, b in ivs:
        if merged and a <= merged[-1][1] + STEP_MS:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    spans = []
    for a, b in merged:
        g0, g1 = -(-a // STEP_MS) * STEP_MS, (b // STEP_MS) * STEP_MS
        if g1 >= g0:
            spans.append((g0, g1))
    return spans


def plan(root: Path) -> Plan:
    subjects: dict[str, list[str]] = {}
    for pdir in sorted(root.iterdir()):
        m = _PROBAND.match(pdir.name)
        if not (m and (pdir / "data").is_dir()):
            continue
        srcs = [str(p) for p in sorted((pdir / "data").iterdir())
                if (sm := _SOURCE.match(p.name)) and sm.group(1) in SENSORS and (p.is_dir() or sm.group(3))]
        if srcs:
            subjects[m.group(1)] = srcs
    missing = []
    if subjects and len(subjects) < N_SUBJECTS:
        absent = [str(i) for i in range(1, N_SUBJECTS + 1) if str(i) not in subjects]
        missing.append(f"{len(absent)} of {N_SUBJECTS} probands: {', '.join(absent)}")
    for s, srcs in subjects.items():
        have = {(_SOURCE.match(Path(p).name).group(1), _SOURCE.match(Path(p).name).group(2)) for p in srcs}
        gaps = [f"{z}_{a}" for a in ACTIVITIES for z in SENSORS if (z, a) not in have]
        if gaps:
            missing.append(f"proband{s}: no {', '.join(gaps)} files")
    return Plan(subjects=subjects, missing=missing)


def _collect(unit: list[str]) -> dict[str, dict[int, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]]]:
    """activity -> segment -> (position, sensor) -> (t ms, values)."""
    found: dict[str, dict[int, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]]] = {}
    for src in unit:
        sm = _SOURCE.match(Path(src).name)
        zprefix, act = sm.group(1), sm.group(2)
        if act not in _LABEL_ID:
            raise FormatError(f"{src}: unknown activity {act!r}; expected one of {ACTIVITIES}")
        prefix, sensor = SENSORS[zprefix]
        for where, base, data in members(Path(src)):
            mm = _MEMBER.match(base)
            if not mm:
                raise FormatError(f"{where}:{base}: expected a member named {prefix}_{act}[_<n>]_<position>.csv")
            if mm.group(1) != prefix or mm.group(2) != act or mm.group(4) not in POSITIONS:
                raise FormatError(f"{where}:{base}: expected {prefix}_{act}[_<n>]_<position>.csv with a position "
                                  f"in {POSITIONS}")
            seg = int(mm.group(3) or 1)
            key = (mm.group(4), sensor)
            slot = found.setdefault(act, {}).setdefault(seg, {})
            if key in slot:
                raise FormatError(f"{where}:{base}: a second {sensor} file for {key[0]}, {act}, segment {seg}")
            slot[key] = parse_csv(f"{where}:{base}", data)
    return found


def read(root: Path, subject: str, unit: list[str]) -> Iterator[Session]:
    names = [c.name for c in CARD.streams[0].channels]
    by_act: dict[str, list[str]] = {}
    for src in unit:  # one activity in memory at a time
        by_act.setdefault(_SOURCE.match(Path(src).name).group(2), []).append(src)
    for act, segs in ((a, s) for a in sorted(by_act) for a, s in _collect(by_act[a]).items()):
        keys = {k for files in segs.values() for k in files}
        if len(segs) > 1 and all(sum(k in files for files in segs.values()) == 1 for k in keys):
            # every file of the activity exists once, only some carry a '_2' suffix: one recording
            segs = {min(segs): {k: v for files in segs.values() for k, v in files.items()}}
        for seg, files in sorted(segs.items()):
            base = act if len(segs) == 1 else f"{act}.{seg}"
            spans = _pieces([t for t, _ in files.values()])
            for p, (g0, g1) in enumerate(spans, start=1):
                grid = np.arange(g0, g1 + 1, STEP_MS, dtype=np.int64)
                cols = {n: np.full(len(grid), np.nan) for n in names}
                for (pos, sensor), (t, vals) in files.items():
                    res = resample(t, vals, grid)
                    for j, a in enumerate("xyz"):
                        cols[f"{pos}_{sensor}_{a}"] = res[:, j]
                name = base if p == 1 else f"{base}.p{p}"
                yield Session("imu", subject, name, cols, np.full(len(grid), _LABEL_ID[act], dtype=np.int16),
                              grid / 1000.0)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="realworld2016_dataset.zip",
        urls=["http://wifo5-14.informatik.uni-mannheim.de/sensor/dataset/realworld2016/realworld2016_dataset.zip"],
        keep_nested=("*_csv.zip",),
    )],
    marker="proband1/data",
    layout=('proband*/data/*_*_csv.zip', 'proband*/data/*_*_csv'),
    plan=plan,
    read=read,
    hours=18.0,  # about 10 minutes per activity (jumping less) x 8 x 15 probands (authors' page)
    n_subjects=N_SUBJECTS,
)
