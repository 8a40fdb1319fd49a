"""Shoaib et al. 2014: smartphone motion-sensor fusion, 7 activities x 5 body positions (University of Twente).

Original layout: a RAR archive holding ``DataSet/Participant_1.csv ... Participant_10.csv`` and a readme.
imudata cannot unpack RAR, so the download is manual: extract the archive and run
``imudata fetch shoaib --from <folder>``.

Each participant CSV has **two header rows**: row 1 names the body position at the start of each
block (``Left_pocket``, ``Right_pocket``, ``Wrist``, ``Upper_arm``, ``Belt``), row 2 the fields. Five
blocks of 13 columns (``time_stamp, Ax, Ay, Az, Lx, Ly, Lz, Gx, Gy, Gz, Mx, My, Mz``) are separated by
one empty column each, and the last column is the activity as text: 5 x 13 + 4 + 1 = 70 columns.
A = accelerometer (m/s², gravity included), L = linear acceleration (gravity removed), G = gyroscope
(rad/s), M = magnetometer (µT): the Android sensor units of the Samsung Galaxy S II phones; the files
do not state them. The header rows are parsed and checked, not assumed.

Labels: the last column, stripped and lower-cased; the upstairs class is spelled ``upsatirs`` in the
files and is mapped to ``upstairs``. Ids follow the order of the readme and of common loaders.
The five phones were logged row-aligned at 50 Hz by the authors, but each block has its own
``time_stamp`` from an unsynchronised phone clock whose unit is not documented: rows are taken as
the 50 Hz sample grid (t = row / 50) and the per-phone time stamps are not stored. A file is split
into one session per contiguous run of the same activity (``walking``; a second run of the same
activity would be ``walking.2``).
"""
from __future__ import annotations

import csv
import re
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
POSITIONS = {"Left_pocket": "leftpocket", "Right_pocket": "rightpocket", "Wrist": "wrist", "Upper_arm": "upperarm",
             "Belt": "belt"}
FIELDS = ["time_stamp", "Ax", "Ay", "Az", "Lx", "Ly", "Lz", "Gx", "Gy", "Gz", "Mx", "My", "Mz"]
BLOCK = len(FIELDS) + 1  # 13 fields and one empty separator column
NCOLS = 5 * len(FIELDS) + 4 + 1
N_PARTICIPANTS = 10
_FILE = re.compile(r"^Participant_(\d+)\.csv$")
_WHERE = {"leftpocket": "in the left front jeans pocket", "rightpocket": "in the right front jeans pocket",
          "wrist": "on the right wrist", "upperarm": "on the right upper arm",
          "belt": "on the belt towards the right leg (landscape)"}
#: field letter -> (sensor, unit, gravity, text)
_KIND = {"A": ("acc", "m/s²", "included", "Accelerometer"), "L": ("lacc", "m/s²", "removed", "Linear acceleration"),
         "G": ("gyro", "rad/s", "n.a.", "Gyroscope (angular rate)"), "M": ("mag", "µT", "n.a.", "Magnetometer")}

LABELS = labels_from([
    (0, "walking", "walking"),
    (1, "standing", "standing"),
    (2, "jogging", "jogging"),
    (3, "sitting", "sitting"),
    (4, "biking", "cycling"),
    (5, "upstairs", "walking upstairs"),
    (6, "downstairs", "walking downstairs"),
])
_IDS = {lab.name: lab.id for lab in LABELS}
_NAMES = {lab.id: lab.name for lab in LABELS}
#: spellings found in the files -> label name
SPELLINGS = {**{n: n for n in _IDS}, "upsatirs": "upstairs"}


def _channels() -> list[Channel]:
    chans = []
    for pos in POSITIONS.values():
        for letter in "ALGM":
            sensor, unit, grav, text = _KIND[letter]
            for a in "xyz":
                chans.append(Channel(f"{pos}_{sensor}_{a}", sensor, pos, unit, unit, axis=a, gravity=grav,
                                     description=f"{text} {a.upper()}-axis, Samsung Galaxy S II {_WHERE[pos]}"
                                                 + (f", gravity {grav}" if grav != "n.a." else "")))
    return chans


CARD = DatasetCard(
    id="shoaib",
    title="Shoaib et al. 2014: Fusion of smartphone motion sensors (7 activities, 5 positions)",
    homepage="https://www.utwente.nl/en/eemcs/ps/research/dataset/",
    license="research use; cite Shoaib et al., Sensors 2014 (no licence text in the archive)",
    citation=("M. Shoaib, S. Bosch, O. D. Incel, H. Scholten, P. J. M. Havinga, \"Fusion of Smartphone Motion "
              "Sensors for Physical Activity Recognition\", Sensors 14(6):10146-10176, 2014."),
    description="10 male participants performing seven activities (walking, jogging, sitting, standing, biking, "
                "walking up and down stairs) for 3-4 minutes each with five Samsung Galaxy S II phones (both "
                "jeans pockets, belt, right upper arm, right wrist) logging accelerometer, linear acceleration, "
                "gyroscope and magnetometer at 50 Hz.",
    streams=[Stream("imu", RATE, _channels(), "Five smartphones (pockets, wrist, upper arm, belt), 50 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "50 Hz (paper); rows are the common sample grid, t = row / 50.",
        "units": "not stated in the files; Android sensor API units assumed (m/s², rad/s, µT). Docs only: no "
                 "original participant file was available to check |A| at rest.",
        "layout": "two header rows parsed and checked; empty separator columns must be empty.",
        "labels": "last column, stripped and lower-cased; 'upsatirs' (sic) = upstairs. 'running' in the paper "
                  "means jogging (readme).",
        "placement": "left and right front jeans pockets, belt towards the right leg, right upper arm, right wrist "
                     "(paper).",
        "sessions": "one per contiguous run of one activity in a participant file.",
        "not_stored": "the per-phone time_stamp columns (unsynchronised clocks, undocumented unit).",
    },
)


def plan(root: Path) -> Plan:
    data = root / "DataSet"
    subjects = {str(int(m.group(1))): str(f) for f in sorted(data.iterdir())
                if (m := _FILE.match(f.name)) and f.is_file()}
    missing = []
    if subjects and len(subjects) < N_PARTICIPANTS:
        absent = [str(i) for i in range(1, N_PARTICIPANTS + 1) if str(i) not in subjects]
        missing.append(f"{len(absent)} of {N_PARTICIPANTS} participant files: {', '.join(absent)}")
    return Plan(subjects=subjects, missing=missing)


def _check_headers(path: Path, h1: list[str], h2: list[str]) -> None:
    for b, pos in enumerate(POSITIONS):
        start = b * BLOCK
        if (h1[start] or "").strip() != pos:
            raise FormatError(f"{path}: line 1, column {start + 1}: expected the position {pos!r}, got {h1[start]!r}")
        got = [(v or "").strip() for v in h2[start:start + len(FIELDS)]]
        if got != FIELDS:
            raise FormatError(f"{path}: line 2, columns {start + 1}-{start + len(FIELDS)}: expected "
                              f"{','.join(FIELDS)}, got {','.join(got)}")


def _header_rows(path: Path) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="latin-1") as fh:
        reader = csv.reader(fh)
        rows = [next(reader, []), next(reader, [])]
    return tuple(r + [""] * (NCOLS - len(r)) for r in rows)  # type: ignore[return-value]


def read_participant(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(channel name -> values, label ids) of one participant file."""
    h1, h2 = _header_rows(path)
    _check_headers(path, h1, h2)
    try:
        body = pl.read_csv(path, has_header=False, skip_rows=2, infer_schema=False, truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{path}: not a readable CSV with {NCOLS} columns per line ({exc})") from exc
    if body.width != NCOLS:
        raise FormatError(f"{path}: {body.width} columns, expected {NCOLS} (5 blocks of 13, 4 empty separators, "
                          f"label)")
    if body.height == 0:
        raise FormatError(f"{path}: no data after the two header rows")
    for b in range(4):
        sep = body[:, b * BLOCK + len(FIELDS)]
        filled = sep.is_not_null() & (sep.str.strip_chars() != "")
        if filled.any():
            raise FormatError(f"{path}: line {int(filled.arg_true()[0]) + 3}, column {b * BLOCK + len(FIELDS) + 1}: "
                              f"the separator column between blocks must be empty, got {sep[int(filled.arg_true()[0])]!r}")
    cols: dict[str, np.ndarray] = {}
    for b, pos in enumerate(POSITIONS.values()):
        for k, field in enumerate(FIELDS[1:], start=1):
            raw = body[:, b * BLOCK + k]
            val = raw.str.strip_chars().cast(pl.Float64, strict=False)
            if val.null_count():
                i = int(val.is_null().arg_true()[0])
                raise FormatError(f"{path}: line {i + 3}, column {b * BLOCK + k + 1} ({field} of {pos}): "
                                  f"{raw[i]!r} is not a number")
            sensor = _KIND[field[0]][0]
            cols[f"{pos}_{sensor}_{field[1]}"] = val.to_numpy()
    text = body[:, NCOLS - 1].fill_null("").str.strip_chars().str.to_lowercase()
    names = text.replace_strict(SPELLINGS, default=None)
    if names.null_count():
        i = int(names.is_null().arg_true()[0])
        raise FormatError(f"{path}: line {i + 3}: activity {body[i, NCOLS - 1]!r} is not one of "
                          f"{sorted(SPELLINGS)}")
    label = names.replace_strict(_IDS, return_dtype=pl.Int16).to_numpy()
    return cols, label


def read(root: Path, subject: str, unit: str) -> Iterator[Session]:
    cols, label = read_participant(Path(unit))
    change = np.flatnonzero(np.diff(label) != 0) + 1
    bounds = [0, *change.tolist(), len(label)]
    seen: dict[int, int] = {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        lab = int(label[a])
        seen[lab] = seen.get(lab, 0) + 1
        name = _NAMES[lab] if seen[lab] == 1 else f"{_NAMES[lab]}.{seen[lab]}"
        yield Session("imu", subject, name, {c: v[a:b] for c, v in cols.items()}, label[a:b])


_URL = "https://www.utwente.nl/en/eemcs/ps/dataset-folder/sensors-activity-recognition-dataset-shoaib.rar"

SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="sensors-activity-recognition-dataset-shoaib.rar",
        urls=[_URL, "http://ps.ewi.utwente.nl/Blog/Sensors_Activity_Recognition_DataSet_Shoaib.rar"],
        manual=(f"The Shoaib dataset is distributed as a RAR archive, which imudata cannot unpack. "
                f"Download {_URL} (no login), extract it with `unrar x`, 7-Zip or `bsdtar -xf`, and run "
                f"`imudata fetch {{id}} --from FOLDER`, where FOLDER contains DataSet/Participant_1.csv."),
    )],
    marker="DataSet",
    layout=('DataSet/Participant_*.csv',),
    plan=plan,
    read=read,
    hours=7 * 3.5 * 10 / 60,
    n_subjects=N_PARTICIPANTS,
)
