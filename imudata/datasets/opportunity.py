"""OPPORTUNITY Activity Recognition (UCI 226; Roggen et al. 2010, Chavarriaga et al. 2013).

Original layout (``OpportunityUCIDataset/``, nested as a zip inside the UCI download)::

    README                          (Latin-1)
    dataset/S1-ADL1.dat ... S4-ADL5.dat, S1-Drill.dat ... S4-Drill.dat   (24 runs)
    dataset/column_names.txt        (CRLF; "Column: <n> <name>; value = <formula>, unit = <unit>")
    dataset/label_legend.txt        (CRLF; "<id>   -   <track>   -   <name>")
    doc/, scripts/                  (documentation and Matlab code; not read)

Each ``.dat`` run is plain text, single-space separated, no header, 250 columns at 30 Hz: column 1
``MILLISEC`` (time in ms, kept as ``t`` in seconds), 2-243 sensors, 244-250 seven label tracks;
missing values are the literal ``NaN`` (kept as NaN). The column map is read from
``column_names.txt`` at conversion time and every selected column's formula and unit are checked
against the ones this converter expects, so a changed file fails loudly instead of being misread.

Channels kept: every body-worn motion sensor, 133 columns --
* 12 Bluetooth 3-axis accelerometers (RKN^, RKN_, HIP, LUA^, LUA_, RUA^, RUA_, LH, RH, BACK, RWR,
  LWR; milli-g, scale g/1000). Placement names: rkneeup, rkneelow, hip, luaup, lualow, ruaup,
  rualow, lhand, rhand, back, rwrist, lwrist.
* 5 Xsens MTx IMUs in the motion jacket (BACK, RUA, RLA, LUA, LLA -> imuback, imurua, imurla,
  imulua, imulla): acceleration (stored as round(v / 9.8 * 1000): scale 9.8/1000 to m/s²), angular
  rate (round(v * 1000), unit "unknown" in the file; Xsens reports rad/s, so scale 0.001 to rad/s),
  magnetic field (round(v * 1000) of Xsens' Earth-field-normalised units: kept as a.u., scale 0.001)
  and orientation quaternion (scale 0.001, a.u.).
* 2 foot-mounted InertiaCube3 IMUs (L-SHOE, R-SHOE -> imulshoe, imurshoe): Euler angles and compass
  heading (degrees -> rad), acceleration in the body and in the navigation frame (milli-g computed
  with g = 9.8, scale 9.8/1000) and angular rate in both frames (round(v * 1000), unit written as
  "mm/s", a mislabel for an angular rate: taken as milli-rad/s, scale 0.001, flagged in the note).
Dropped (not body-worn or not motion): the 12 object sensors, 13 reed switches, 8 ambient
accelerometers and the 4 location tags (positions in mm).

Label: the Locomotion track (column 244: 1 Stand, 2 Walk, 4 Sit, 5 Lie; 0 = null). The other six
tracks (HL_Activity, LL_Left_Arm(_Object), LL_Right_Arm(_Object), ML_Both_Arms) are not stored:
the format has one label column (int16; the ML_Both_Arms ids such as 406516 do not fit).
One session per run file (``ADL1`` ... ``ADL5``, ``Drill``), split where the time column steps by
less than 17 ms or more than 50 ms (a missing 30 Hz sample or a jump).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import DEG, G, Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from, read_numeric
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


RATE = 30.0
NCOLS = 250
STEP_MIN_MS, STEP_MAX_MS = 17.0, 50.0
LABEL_TRACK = "Locomotion"
RUNS = [f"S{s}-{r}" for s in range(1, 5) for r in ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")]
_RUN = re.compile(r"^S(\d+)-(ADL\d+|Drill)\.dat$")
_COLUMN = re.compile(r"^Column:\s+(\d+)\s+(.+?)\s*$")


@dataclass(frozen=True)
class Column:
    """One line of column_names.txt."""

    index: int          # 1-based column number
    name: str           # e.g. "InertialMeasurementUnit BACK accX"
    formula: str | None  # e.g. "round(original_value / 9.8 * 1000)"
    unit: str | None    # e.g. "milli g"

    @property
    def parts(self) -> list[str]:
        return self.name.split()


def parse_column_names(path: Path) -> list[Column]:
    """All 250 columns of column_names.txt, in order; FormatError naming the line if one is malformed."""
    cols: list[Column] = []
    text = path.read_bytes().decode("latin-1")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip().startswith("Column:"):
            continue
        m = _COLUMN.match(line.strip())
        if not m:
            raise FormatError(f"{path}: line {lineno}: expected 'Column: <n> <name>[; value = ..., unit = ...]', "
                              f"got {line!r}")
        index, rest = int(m.group(1)), m.group(2)
        formula = unit = None
        if ";" in rest:
            name, spec = (s.strip() for s in rest.split(";", 1))
            fm = re.match(r"^value\s*=\s*(.+?),\s*unit\s*=\s*(.+)$", spec)
            if not fm:
                raise FormatError(f"{path}: line {lineno}: expected 'value = <formula>, unit = <unit>' after "
                                  f"the name, got {spec!r}")
            formula, unit = fm.group(1).strip(), fm.group(2).strip()
        else:
            name = rest.strip()
        if index != len(cols) + 1:
            raise FormatError(f"{path}: line {lineno}: column {index} out of order (expected {len(cols) + 1})")
        cols.append(Column(index, name, formula, unit))
    if len(cols) != NCOLS:
        raise FormatError(f"{path}: {len(cols)} columns listed, the OPPORTUNITY release has {NCOLS}")
    return cols


def parse_label_legend(path: Path) -> dict[str, dict[int, str]]:
    """track -> {label id: label name} from label_legend.txt."""
    tracks: dict[str, dict[int, str]] = {}
    text = path.read_bytes().decode("latin-1")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("Unique index"):
            continue
        parts = re.split(r"\s+-\s+", line.strip())
        if len(parts) != 3 or not parts[0].isdigit():
            raise FormatError(f"{path}: line {lineno}: expected '<id>   -   <track>   -   <name>', got {line!r}")
        tracks.setdefault(parts[1], {})[int(parts[0])] = parts[2]
    return tracks


# ----------------------------------------------------------------------------------------- channels

_M_G = ("round(original_value)", "milli g")
_M_G98 = ("round(original_value / 9.8 * 1000)", "milli g")
_MILLI_UNKNOWN = ("round(original_value * 1000)", "unknown")
_MILLI_NONE = ("round(original_value * 1000)", "none")
_MILLI_MMS = ("round(original_value * 1000)", "mm/s")
_DEGREES = ("round(original_value)", "degrees")

_BT = {"RKN^": ("rkneeup", "right knee, upper position"), "HIP": ("hip", "hip"),
       "LUA^": ("luaup", "left upper arm, upper position"), "RUA_": ("rualow", "right upper arm, lower position"),
       "LH": ("lhand", "left hand"), "BACK": ("back", "back"), "RKN_": ("rkneelow", "right knee, lower position"),
       "RWR": ("rwrist", "right wrist"), "RUA^": ("ruaup", "right upper arm, upper position"),
       "LUA_": ("lualow", "left upper arm, lower position"), "LWR": ("lwrist", "left wrist"),
       "RH": ("rhand", "right hand")}
_IMU = {"BACK": ("imuback", "back (Xsens motion jacket)"), "RUA": ("imurua", "right upper arm"),
        "RLA": ("imurla", "right lower arm"), "LUA": ("imulua", "left upper arm"), "LLA": ("imulla", "left lower arm")}
_SHOE = {"L-SHOE": ("imulshoe", "left shoe (foot-mounted)"), "R-SHOE": ("imurshoe", "right shoe (foot-mounted)")}

_GYRO_NOTE = "column_names.txt gives unit 'unknown'; Xsens MTx reports rad/s, so the stored milli-units are taken as milli-rad/s"
_MMS_NOTE = ("column_names.txt gives unit 'mm/s' for this angular rate (a mislabel); taken as milli-rad/s as "
             "for the Xsens units: scale unverified")


@dataclass(frozen=True)
class _Sel:
    channel: Channel
    key: tuple[str, str, str]      # (kind, location, field) as written in column_names.txt
    expect: tuple[str, str]        # (formula, unit) the scale assumes


def _selection() -> list[_Sel]:
    sel: list[_Sel] = []
    for loc, (pl_, where) in _BT.items():
        for a in "XYZ":
            ch = Channel(f"{pl_}_acc_{a.lower()}", "acc", pl_, "m/s²", "milli-g", scale=G / 1000, axis=a.lower(),
                         gravity="included",
                         description=f"Accelerometer {a}-axis (Bluetooth 3-axis sensor), {where}, gravity included")
            sel.append(_Sel(ch, ("Accelerometer", loc, f"acc{a}"), _M_G))
    for loc, (pl_, where) in _IMU.items():
        for a in "XYZ":
            sel.append(_Sel(Channel(f"{pl_}_acc_{a.lower()}", "acc", pl_, "m/s²", "milli-g (computed with g = 9.8)",
                                    scale=9.8 / 1000, axis=a.lower(), gravity="included",
                                    description=f"Accelerometer {a}-axis (Xsens MTx IMU), {where}, gravity included"),
                            ("InertialMeasurementUnit", loc, f"acc{a}"), _M_G98))
        for a in "XYZ":
            sel.append(_Sel(Channel(f"{pl_}_gyro_{a.lower()}", "gyro", pl_, "rad/s", "milli-rad/s", scale=0.001,
                                    axis=a.lower(), note=_GYRO_NOTE,
                                    description=f"Gyroscope (angular rate) {a}-axis (Xsens MTx IMU), {where}"),
                            ("InertialMeasurementUnit", loc, f"gyro{a}"), _MILLI_UNKNOWN))
        for a in "XYZ":
            sel.append(_Sel(Channel(f"{pl_}_mag_{a.lower()}", "mag", pl_, "a.u.",
                                    "milli (Xsens units normalised to the local Earth field)", scale=0.001,
                                    axis=a.lower(), note="Xsens normalised magnetic field (Earth field ≈ 1), not µT",
                                    description=f"Magnetometer {a}-axis (Xsens MTx IMU), {where}, normalised so the "
                                                f"Earth field is about 1"),
                            ("InertialMeasurementUnit", loc, f"magnetic{a}"), _MILLI_UNKNOWN))
        for q in range(1, 5):
            sel.append(_Sel(Channel(f"{pl_}_ori_q{q}", "ori", pl_, "a.u.", "milli (unit quaternion x 1000)",
                                    scale=0.001, axis=f"q{q}",
                                    description=f"Orientation quaternion component {q} of 4 (Xsens MTx sensor "
                                                f"fusion), {where}"),
                            ("InertialMeasurementUnit", loc, f"Quaternion{q}"), _MILLI_NONE))
    for loc, (pl_, where) in _SHOE.items():
        for a in "XYZ":
            sel.append(_Sel(Channel(f"{pl_}_ori_{a.lower()}", "ori", pl_, "rad", "degrees", scale=DEG, axis=a.lower(),
                                    description=f"Orientation Euler angle {a} (InertiaCube3 sensor fusion), {where}"),
                            ("InertialMeasurementUnit", loc, f"Eu{a}"), _DEGREES))
        for a in "XYZ":
            sel.append(_Sel(Channel(f"{pl_}_acc_nav{a.lower()}", "acc", pl_, "m/s²", "milli-g (computed with g = 9.8)",
                                    scale=9.8 / 1000, axis=f"nav{a.lower()}", gravity="included",
                                    note="navigation (earth) frame; whether gravity is subtracted is not documented",
                                    description=f"Acceleration along the navigation (earth) frame {a}-axis "
                                                f"(InertiaCube3), {where}"),
                            ("InertialMeasurementUnit", loc, f"Nav_A{a.lower()}"), _M_G98))
        for a in "XYZ":
            sel.append(_Sel(Channel(f"{pl_}_acc_{a.lower()}", "acc", pl_, "m/s²", "milli-g (computed with g = 9.8)",
                                    scale=9.8 / 1000, axis=a.lower(), gravity="included",
                                    description=f"Accelerometer {a}-axis in the sensor frame (InertiaCube3), {where}, "
                                                f"gravity included"),
                            ("InertialMeasurementUnit", loc, f"Body_A{a.lower()}"), _M_G98))
        for a in "XYZ":
            sel.append(_Sel(Channel(f"{pl_}_gyro_{a.lower()}", "gyro", pl_, "rad/s", "milli-rad/s (file says mm/s)",
                                    scale=0.001, axis=a.lower(), note=_MMS_NOTE,
                                    description=f"Gyroscope (angular rate) {a}-axis in the sensor frame "
                                                f"(InertiaCube3), {where}"),
                            ("InertialMeasurementUnit", loc, f"AngVelBodyFrame{a}"), _MILLI_MMS))
        for a in "XYZ":
            sel.append(_Sel(Channel(f"{pl_}_gyro_nav{a.lower()}", "gyro", pl_, "rad/s", "milli-rad/s (file says mm/s)",
                                    scale=0.001, axis=f"nav{a.lower()}", note=_MMS_NOTE,
                                    description=f"Angular rate about the navigation (earth) frame {a}-axis "
                                                f"(InertiaCube3), {where}"),
                            ("InertialMeasurementUnit", loc, f"AngVelNavFrame{a}"), _MILLI_MMS))
        sel.append(_Sel(Channel(f"{pl_}_ori_compass", "ori", pl_, "rad", "degrees", scale=DEG, axis="compass",
                                description=f"Compass heading (InertiaCube3), {where}"),
                        ("InertialMeasurementUnit", loc, "Compass"), _DEGREES))
    return sel


SELECTION = _selection()

LABELS = labels_from([
    (1, "Stand", "standing"),
    (2, "Walk", "walking"),
    (4, "Sit", "sitting"),
    (5, "Lie", "lying down"),
])

CARD = DatasetCard(
    id="opportunity",
    title="OPPORTUNITY Activity Recognition",
    homepage="https://archive.ics.uci.edu/dataset/226/opportunity+activity+recognition",
    license="CC BY 4.0 (UCI); the README asks to cite Roggen et al. 2010 or Chavarriaga et al. 2013",
    citation=("D. Roggen et al., \"Collecting complex activity datasets in highly rich networked sensor "
              "environments\", INSS 2010; R. Chavarriaga et al., \"The Opportunity challenge: A benchmark database "
              "for on-body sensor-based activity recognition\", Pattern Recognition Letters 34(15), 2013."),
    description="4 subjects in a kitchen-like room, each with 5 runs of daily morning activities and one drill run "
                "of 20 scripted repetitions; 12 Bluetooth accelerometers, 5 Xsens IMUs on the upper body and 2 "
                "foot-mounted IMUs at 30 Hz. Label: modes of locomotion (stand, walk, sit, lie).",
    streams=[Stream("imu", RATE, [s.channel for s in SELECTION],
                    "All body-worn motion sensors: 12 accelerometers, 5 upper-body IMUs, 2 shoe IMUs, 30 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "30 Hz (README / documentation); MILLISEC column kept as session_start + t = ms / 1000.",
        "columns": "mapped by parsing dataset/column_names.txt (verified on the real file: 250 columns, CRLF, "
                   "object accelerometers all named accX); each kept column's formula and unit is checked.",
        "acc_unit": "Bluetooth accelerometers milli-g (x g/1000); Xsens and shoe accelerations written as "
                    "round(v / 9.8 * 1000) of m/s² values (x 9.8/1000), per column_names.txt.",
        "gyro_unit": "written as round(v * 1000), unit 'unknown' (Xsens) or 'mm/s' (shoes): taken as milli-rad/s.",
        "mag_unit": "Xsens normalised field x 1000: kept as a.u. (x 0.001).",
        "missing": "literal NaN in the .dat files (mostly the wireless sensors); kept as NaN.",
        "labels": "Locomotion track (column 244) per row, 0 = null; ids and names checked against "
                  "dataset/label_legend.txt. The six gesture/activity tracks are not stored (one label column).",
        "dropped": "object sensors (cols 135-194), reed switches (195-207), ambient accelerometers (208-231), "
                   "location tags (232-243): not body-worn motion sensors.",
        "sessions": "one per run file, split where the time step is outside 17-50 ms.",
        "verification": "column_names.txt and label_legend.txt verified on the real files; the .dat format "
                        "(space separated, NaN, 30 Hz) is from the documentation only.",
    },
)


def column_map(cols: list[Column], path: Path) -> tuple[dict[str, int], int]:
    """channel name -> 0-based .dat column, and the 0-based column of the label track; checks formulas."""
    by_key: dict[tuple[str, str, str], Column] = {}
    for c in cols:
        p = c.parts
        if len(p) == 3 and p[0] in ("Accelerometer", "InertialMeasurementUnit"):
            by_key.setdefault((p[0], p[1], p[2]), c)  # object sensors repeat 'accX': first wins, unused here
    out: dict[str, int] = {}
    for s in SELECTION:
        c = by_key.get(s.key)
        if c is None:
            raise FormatError(f"{path}: no column named {' '.join(s.key)!r} (needed for {s.channel.name})")
        if (c.formula, c.unit) != s.expect:
            raise FormatError(f"{path}: column {c.index} {c.name!r}: 'value = {c.formula}, unit = {c.unit}', "
                              f"expected 'value = {s.expect[0]}, unit = {s.expect[1]}'")
        out[s.channel.name] = c.index - 1
    track = [c for c in cols if c.name == LABEL_TRACK]
    if len(track) != 1:
        raise FormatError(f"{path}: expected one label column named {LABEL_TRACK!r}, found {len(track)}")
    if cols[0].name != "MILLISEC":
        raise FormatError(f"{path}: column 1 is {cols[0].name!r}, expected MILLISEC")
    return out, track[0].index - 1


def _check_legend(path: Path) -> None:
    legend = parse_label_legend(path).get(LABEL_TRACK, {})
    want = {lab.id: lab.name for lab in LABELS}
    if legend != want:
        raise FormatError(f"{path}: the {LABEL_TRACK} track lists {legend}, this converter expects {want}")


def plan(root: Path) -> Plan:
    data = root / "dataset"
    names = data / "column_names.txt"
    column_map(parse_column_names(names), names)  # fail before any work if the layout changed
    legend = data / "label_legend.txt"
    if legend.exists():
        _check_legend(legend)
    subjects: dict[str, list[tuple[str, str]]] = {}
    for f in sorted(data.iterdir()):
        m = _RUN.match(f.name)
        if m and f.is_file():
            subjects.setdefault(f"S{m.group(1)}", []).append((m.group(2), str(f)))
    present = {f"{s}-{r}" for s, v in subjects.items() for r, _ in v}
    absent = [r for r in RUNS if r not in present]
    missing = [f"{len(absent)} of {len(RUNS)} runs: {', '.join(absent)}"] if absent and present else []
    return Plan(subjects=subjects, missing=missing)


def read(root: Path, subject: str, unit: list[tuple[str, str]]) -> Iterator[Session]:
    names = root / "dataset" / "column_names.txt"
    cmap, label_col = column_map(parse_column_names(names), names)
    valid = np.array([0] + [lab.id for lab in LABELS])
    for run, path in sorted(unit, key=lambda r: (r[0] == "Drill", r[0])):
        arr = read_numeric(Path(path), ncols=NCOLS)
        ms = arr[:, 0]
        if np.isnan(ms).any():
            raise FormatError(f"{path}: line {int(np.flatnonzero(np.isnan(ms))[0]) + 1}: MILLISEC is NaN")
        lab = arr[:, label_col]
        bad = np.flatnonzero(~np.isin(lab, valid))
        if len(bad):
            raise FormatError(f"{path}: line {bad[0] + 1}: {LABEL_TRACK} label {lab[bad[0]]:g}, expected one of "
                              f"{valid.tolist()}")
        label = np.where(lab == 0, -1, lab).astype(np.int16)
        step = np.diff(ms)
        cuts = np.flatnonzero((step < STEP_MIN_MS) | (step > STEP_MAX_MS)) + 1
        bounds = [0, *cuts.tolist(), len(arr)]
        for j, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
            cols = {name: arr[a:b, i] for name, i in cmap.items()}
            yield Session("imu", subject, run if j == 1 else f"{run}.{j}", cols, label[a:b], ms[a:b] / 1000.0)


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="opportunity.zip",
        urls=["https://archive.ics.uci.edu/static/public/226/opportunity+activity+recognition.zip",
              "https://archive.ics.uci.edu/ml/machine-learning-databases/00226/OpportunityUCIDataset.zip"],
    )],
    marker="dataset/column_names.txt",
    layout=('dataset/column_names.txt', 'dataset/S*-ADL*.dat', 'dataset/S*-Drill.dat'),
    plan=plan,
    read=read,
    hours=6.0,  # about 6 h of recordings (4 subjects x 6 runs; documentation)
    n_subjects=4,
)
