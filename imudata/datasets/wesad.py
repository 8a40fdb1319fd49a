"""WESAD: Wearable Stress and Affect Detection (UCI 465; Schmidt, Reiss, Duerichen, Marberger, Van Laerhoven).

Original layout (``WESAD.zip`` from Sciebo; the UCI download is only a 261-byte zip holding
``WESAD.txt``, a pointer to that link)::

    WESAD/wesad_readme.pdf
    WESAD/S2/ ... S11/, S13/ ... S17/     (S1 and S12 were discarded by the authors)
        SX_readme.txt     subject information and data-quality notes
        SX_quest.csv      ';'-separated, ragged: protocol ORDER / START / END (minutes.seconds) + questionnaires
        SX_respiban.txt   raw RespiBAN counts, 700 Hz (not read: SX.pkl holds the same data converted)
        SX_E4_Data.zip    Empatica E4 export: ACC.csv BVP.csv EDA.csv TEMP.csv (+ HR, IBI, tags: derived)
        SX.pkl            Python-2 pickle: {'subject', 'label' (700 Hz), 'signal': {'chest': {...}, 'wrist': {...}}}

``SX.pkl`` is the authors' synchronised version: chest (RespiBAN, 700 Hz) ACC in g, ECG/EMG in mV,
EDA in µS, Temp in °C, Resp in %; wrist (E4, non-dominant wrist) ACC in 1/64 g at 32 Hz, BVP at 64 Hz,
EDA and TEMP at 4 Hz, all cut to the chest time base. It is loaded with a restricted unpickler that
admits only what a dict of NumPy arrays needs. Subjects without a pkl but with the E4 zip (partial
copies) get their wrist streams from the E4 CSVs (read from the zip), unlabelled, because the raw E4
clock is not synchronised with the RespiBAN clock that the labels and quest.csv times refer to.
"""
from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import ChecksumMismatch, FetchError, FormatError, ManualDownloadRequired
from ..format import G, Channel, DatasetCard, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from ._common import labels_from, read_numeric
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs


CHEST_RATE = 700.0
WRIST_RATES = {"wrist_acc": 32.0, "wrist_bvp": 64.0, "wrist_eda": 4.0, "wrist_temp": 4.0}
#: The 15 subjects of the full release (S1 and S12 were discarded for sensor malfunction).
RELEASE_SUBJECTS = [f"S{i}" for i in (*range(2, 12), *range(13, 18))]

AUTHORS_PAGE = "https://ubicomp.eti.uni-siegen.de/home/datasets/icmi18/"
UCI_POINTER_URL = "https://archive.ics.uci.edu/static/public/465/wesad+wearable+stress+and+affect+detection.zip"
SCIEBO_URL = "https://uni-siegen.sciebo.de/s/HGdUkoNlW1Ub0Gx/download"
POINTER_FILE = "wesad+wearable+stress+and+affect+detection.zip"
DATA_FILE = "WESAD.zip"

_IGNORE_TEXT = ("a part of the study protocol the authors say to ignore (undocumented; quest.csv lists three short "
                "reading tasks, bRead, fRead and sRead, which these ids probably mark)")

LABELS = labels_from([
    (1, "baseline", "baseline, relaxed (seated or standing at a table, reading neutral magazines)"),
    (2, "stress", "under stress (Trier Social Stress Test: public speaking and mental arithmetic before a panel)"),
    (3, "amusement", "amused (watching funny video clips)"),
    (4, "meditation", "meditating (guided breathing exercise), relaxed"),
    (5, "ignore (5)", _IGNORE_TEXT),
    (6, "ignore (6)", _IGNORE_TEXT),
    (7, "ignore (7)", _IGNORE_TEXT),
], ignore={5, 6, 7})

_CHEST_TEXT = "chest (RespiBAN Professional)"
_WRIST_TEXT = "non-dominant wrist (Empatica E4)"

_CHEST = [Channel(f"chest_acc_{a}", "acc", "chest", "m/s²", "g", scale=G, axis=a, gravity="included",
                  description=f"Accelerometer {a.upper()}-axis, {_CHEST_TEXT}, gravity included") for a in "xyz"]
_CHEST += [
    Channel("chest_ecg", "ecg", "chest", "mV", "mV", description="Electrocardiogram (ECG), chest (RespiBAN Professional)"),
    Channel("chest_emg", "emg", "chest", "mV", "mV",
            description="Electromyogram (EMG), electrodes of the chest-worn RespiBAN Professional (site per the WESAD paper)"),
    Channel("chest_eda", "eda", "chest", "µS", "µS",
            description="Electrodermal activity (EDA), electrodes of the chest-worn RespiBAN Professional (site per the WESAD paper)"),
    Channel("chest_temp", "temp", "chest", "°C", "°C", description="Skin temperature, chest (RespiBAN Professional)",
            note="S2 and S17 readmes: the RespiBAN temperature sensor was not fully attached"),
    Channel("chest_resp", "resp", "chest", "%", "%",
            description="Respiration (chest expansion, inductive plethysmograph), chest (RespiBAN Professional)"),
]
_WRIST_ACC = [Channel(f"wrist_acc_{a}", "acc", "wrist", "m/s²", "1/64 g", scale=G / 64, axis=a, gravity="included",
                      range="±2 g", description=f"Accelerometer {a.upper()}-axis (±2 g), {_WRIST_TEXT}, gravity included")
              for a in "xyz"]
_WRIST_BVP = [Channel("wrist_bvp", "bvp", "wrist", "a.u.", "a.u.",
                      description=f"Blood volume pulse (photoplethysmograph, PPG), {_WRIST_TEXT}",
                      note="uncalibrated PPG signal as exported by the E4")]
_WRIST_EDA = [Channel("wrist_eda", "eda", "wrist", "µS", "µS", description=f"Electrodermal activity (EDA), {_WRIST_TEXT}")]
_WRIST_TEMP = [Channel("wrist_temp", "temp", "wrist", "°C", "°C", description=f"Skin temperature, {_WRIST_TEXT}",
                       note="raw E4 exports begin with about 1 s of 382.18 (the device's start-up value); kept as recorded")]

CARD = DatasetCard(
    id="wesad",
    title="WESAD: Wearable Stress and Affect Detection",
    homepage="https://archive.ics.uci.edu/dataset/465/wesad+wearable+stress+and+affect+detection",
    license="CC BY 4.0 (UCI); the authors' readme asks to cite the ICMI 2018 paper",
    citation=("P. Schmidt, A. Reiss, R. Duerichen, C. Marberger, K. Van Laerhoven, \"Introducing WESAD, a "
              "Multimodal Dataset for Wearable Stress and Affect Detection\", ICMI 2018, doi:10.1145/3242969.3242985."),
    description="15 subjects in a lab study with baseline, stress (TSST), amusement and meditation conditions, "
                "wearing a chest RespiBAN (3-axis acceleration, ECG, EMG, EDA, temperature, respiration at 700 Hz) "
                "and an Empatica E4 on the non-dominant wrist (acceleration 32 Hz, BVP 64 Hz, EDA and "
                "temperature 4 Hz).",
    streams=[
        Stream("chest", CHEST_RATE, _CHEST, "RespiBAN Professional on the chest, 700 Hz"),
        Stream("wrist_acc", WRIST_RATES["wrist_acc"], _WRIST_ACC, "Empatica E4 accelerometer, non-dominant wrist, 32 Hz"),
        Stream("wrist_bvp", WRIST_RATES["wrist_bvp"], _WRIST_BVP, "Empatica E4 photoplethysmograph, non-dominant wrist, 64 Hz"),
        Stream("wrist_eda", WRIST_RATES["wrist_eda"], _WRIST_EDA, "Empatica E4 electrodermal activity, non-dominant wrist, 4 Hz"),
        Stream("wrist_temp", WRIST_RATES["wrist_temp"], _WRIST_TEMP, "Empatica E4 skin temperature, non-dominant wrist, 4 Hz"),
    ],
    labels=LABELS,
    converter_version="1",
    facts={
        "rates": "700 Hz chest; E4 32 Hz ACC, 64 Hz BVP, 4 Hz EDA and TEMP (wesad_readme.pdf; E4 CSV line 2, checked "
                 "against the stream rate, on real S2-S4 exports).",
        "chest_units": "SX.pkl chest values are already converted by the authors: ACC in g (scale 9.80665), ECG and EMG "
                       "in mV, EDA in µS, Temp in °C, Resp in % (wesad_readme.pdf conversion formulas; outputs of a "
                       "program run on the real S2.pkl).",
        "wrist_units": "E4 ACC in 1/64 g (E4 info.txt: range ±2 g, 'the unit in this file is 1/64g'), scale 9.80665/64; "
                       "real S2 ACC.csv rows have |acc| ≈ 64 at rest. EDA µS and TEMP °C per info.txt; BVP is a raw PPG "
                       "signal (a.u.). The pkl wrist ACC is assumed to keep the CSV unit (widely assumed, unverified).",
        "placement": "E4 on the non-dominant wrist (wesad_readme.pdf: subjects double-tapped the chest with the "
                     "non-dominant hand, where they wore the E4); RespiBAN on the chest.",
        "labels": "SX.pkl 'label', one id per 700 Hz sample: 0 = not defined / transient (stored as null), 1 baseline, "
                  "2 stress, 3 amusement, 4 meditation, 5/6/7 'should be ignored' (kept, flagged ignore). Wrist sample k "
                  "at rate f takes the label at index round(k*700/f) (halves rounded up); beyond the label array: null.",
        "sessions": "one session per subject and stream: 'protocol' for SX.pkl data (t = 0 at the RespiBAN start, "
                    "the clock of the labels and quest.csv), 'e4' for wrist streams read from SX_E4_Data.zip when no "
                    "SX.pkl exists (unlabelled; t = 0 at the E4 start, whose Unix time from CSV line 1 is in the "
                    "completeness notes). No timestamps per sample in either source: t = row / rate.",
        "partial_copies": "raw E4 files are not synchronised with the RespiBAN clock (the authors aligned them by hand, "
                          "and only SX.pkl holds that alignment), so E4-only sessions carry no labels. When SX.pkl "
                          "exists the E4 zip is not read (the pkl holds the same wrist data, cut to the protocol).",
        "not_converted": "HR.csv, IBI.csv and tags.csv (derived by Empatica; the authors say to ignore them), "
                         "SX_respiban.txt (raw counts of the pkl chest data), questionnaire answers in SX_quest.csv. "
                         "The protocol schedule of each quest.csv and each SX_readme.txt are copied into the "
                         "completeness notes.",
        "quest_times": "quest.csv START/END are minutes.seconds with trailing zeros dropped ('50.3' = 50 min 30 s); "
                       "converted to seconds in the notes (checked on the 15 real quest files: S2 Base starts 7.08 = 428 s).",
        "pickle_safety": "SX.pkl is read with a restricted unpickler admitting only NumPy array reconstruction "
                         "(_reconstruct, ndarray, dtype, scalar; _frombuffer and latin-1 _codecs.encode for copies "
                         "re-saved by Python 3); any other global is refused with an error, before it is called.",
        "subjects": "folder names SX; the subject inside SX.pkl must match.",
    },
)

# --------------------------------------------------------------------------- restricted unpickling


def _numpy_attr(name: str) -> Any:
    try:
        from numpy._core import multiarray  # numpy >= 2 (and the 1.26 alias)
    except ImportError:  # pragma: no cover - older numpy
        from numpy.core import multiarray  # type: ignore[no-redef]
    return getattr(multiarray, name)


def _numeric_attr(name: str) -> Any:
    try:
        from numpy._core import numeric
    except ImportError:  # pragma: no cover - older numpy
        from numpy.core import numeric  # type: ignore[no-redef]
    return getattr(numeric, name)


def _latin1_encode(obj: Any, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python-3 protocol-2 pickles use it for bytes; only latin-1 is admitted."""
    if not isinstance(obj, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode called with {type(obj).__name__}, {encoding!r}")
    return obj.encode("latin-1")


_ALLOWED_GLOBALS: dict[tuple[str, str], Callable[[], Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_attr("_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_attr("_reconstruct"),
    ("numpy.core.multiarray", "scalar"): lambda: _numpy_attr("scalar"),
    ("numpy._core.multiarray", "scalar"): lambda: _numpy_attr("scalar"),
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _latin1_encode,  # bytes in Python-3 protocol-2 pickles
    ("numpy.core.numeric", "_frombuffer"): lambda: _numeric_attr("_frombuffer"),  # arrays in protocol-5 pickles
    ("numpy._core.numeric", "_frombuffer"): lambda: _numeric_attr("_frombuffer"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles a dict of NumPy arrays and nothing else: every other global is refused."""

    def __init__(self, f: Any, path: Path) -> None:
        super().__init__(f, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        make = _ALLOWED_GLOBALS.get((module, name))
        if make is None:
            raise FormatError(f"{self._path}: refused to load the pickled global {module}.{name}: a WESAD SX.pkl holds "
                              "only a dict of NumPy arrays, so this file is not a genuine SX.pkl (loading it could "
                              "run arbitrary code)")
        return make()


def load_pickle(path: Path) -> Any:
    """Load an SX.pkl with the restricted unpickler (Python-2 strings decoded as latin-1)."""
    try:
        with open(path, "rb") as f:
            return _ArrayUnpickler(f, path).load()
    except FormatError:
        raise
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... from a damaged file
        raise FormatError(f"{path}: not a readable WESAD pickle ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------- quest.csv and readme


def _min_sec(token: str, path: Path, row: str) -> float:
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,2}))?", token.strip())
    if not m:
        raise FormatError(f"{path}: {row} row: {token!r} is not a minutes.seconds time")
    sec = int((m.group(2) or "0").ljust(2, "0"))  # '50.3' = 50 min 30 s (trailing zero dropped)
    if sec >= 60:
        raise FormatError(f"{path}: {row} row: {token!r} has {sec} seconds; expected minutes.seconds")
    return int(m.group(1)) * 60.0 + sec


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_protocol(path: Path) -> list[tuple[str, float, float]]:
    """The study protocol of one ``SX_quest.csv``: (condition, start s, end s) in the file's ORDER.

    Times are counted from the RespiBAN start. Rows are ';'-separated and ragged (trailing empty
    fields); the first field is ``# ORDER``, ``# START`` or ``# END``.
    """
    rows: dict[str, list[str]] = {}
    for line in _read_text(path).splitlines():
        fields = [f.strip() for f in line.split(";")]
        key = fields[0].lstrip("#").strip().rstrip(":").upper()
        if key in ("ORDER", "START", "END") and key not in rows:
            while fields and fields[-1] == "":
                fields.pop()
            rows[key] = fields[1:]
    for key in ("ORDER", "START", "END"):
        if key not in rows:
            raise FormatError(f"{path}: no '# {key}' row; expected the protocol rows ORDER, START, END")
    order, start, end = rows["ORDER"], rows["START"], rows["END"]
    if not (len(order) == len(start) == len(end)) or not order:
        raise FormatError(f"{path}: ORDER lists {len(order)} conditions but START has {len(start)} and END {len(end)} times")
    out = []
    for name, s, e in zip(order, start, end):
        a, b = _min_sec(s, path, "START"), _min_sec(e, path, "END")
        if b < a:
            raise FormatError(f"{path}: condition {name!r} ends ({e}) before it starts ({s})")
        out.append((name, a, b))
    return out


def _readme_note(subject: str, path: Path) -> str:
    lines = [ln.strip() for ln in _read_text(path).splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith("###") and ln != "-"]
    return f"{subject} readme: " + "; ".join(kept)


# --------------------------------------------------------------------------- plan


def _subject_ranges(subjects: list[str]) -> str:
    """'S2-S4, S7' style list of subject folder names (runs of three or more consecutive numbers)."""
    nums = sorted({int(s[1:]) for s in subjects})
    runs: list[list[int]] = []
    for n in nums:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = []
    for run in runs:
        parts.append(f"S{run[0]}-S{run[-1]}" if len(run) >= 3 else ", ".join(f"S{n}" for n in run))
    return ", ".join(parts)


def _e4_container(sdir: Path, subject: str) -> Path | None:
    z = sdir / f"{subject}_E4_Data.zip"
    if z.is_file():
        return z
    d = sdir / f"{subject}_E4_Data"  # a copy where the user unpacked the inner zip
    return d if d.is_dir() else None


def _e4_start_note(subject: str, container: Path) -> str:
    """Where the E4 clock of an 'e4' session starts (line 1 of each CSV, Unix seconds, UTC)."""
    starts: dict[float, list[str]] = {}
    for stream, (member, ncols) in _E4_FILES.items():
        data, where = _e4_bytes(container, member)
        start = _e4_header(data.split(b"\n", 1)[0], where, 1, ncols, "Unix start time")
        starts.setdefault(start, []).append(stream)
    parts = []
    for start, streams in starts.items():
        when = datetime.fromtimestamp(start, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        which = "" if len(starts) == 1 else f" ({', '.join(streams)})"
        parts.append(f"Unix time {start:.6f} = {when}{which}")
    return f"{subject} 'e4' sessions start (t = 0) at " + "; ".join(parts) + " on the E4 clock, unsynchronised"


def plan(root: Path) -> Plan:
    subjects: dict[str, tuple[str, str]] = {}
    e4_only: list[str] = []
    nothing: list[str] = []
    raw_chest: list[str] = []
    notes: list[str] = []
    found = sorted((d for d in root.iterdir() if d.is_dir() and re.fullmatch(r"S\d+", d.name)),
                   key=lambda d: int(d.name[1:]))
    for sdir in found:
        s = sdir.name
        pkl = sdir / f"{s}.pkl"
        e4 = _e4_container(sdir, s)
        if pkl.is_file():
            subjects[s] = ("pkl", pkl.relative_to(root).as_posix())
        elif e4 is not None:
            subjects[s] = ("e4", e4.relative_to(root).as_posix())
            e4_only.append(s)
            notes.append(_e4_start_note(s, e4))
        else:
            nothing.append(s)
        if not pkl.is_file() and (sdir / f"{s}_respiban.txt").is_file():
            raw_chest.append(s)
        quest = sdir / f"{s}_quest.csv"
        if quest.is_file():
            table = parse_protocol(quest)
            notes.append(f"{s} protocol (s from the RespiBAN start): "
                         + ", ".join(f"{n} {a:g}-{b:g}" for n, a, b in table))
        readme = sdir / f"{s}_readme.txt"
        if readme.is_file():
            notes.append(_readme_note(s, readme))
    missing = []
    absent = [s for s in RELEASE_SUBJECTS if not (root / s).is_dir()]
    if absent:
        missing.append(f"{_subject_ranges(absent)}: subject folder not in this copy")
    if e4_only:
        missing.append(f"{_subject_ranges(e4_only)}: no SX.pkl; wrist streams from the E4 export, unlabelled "
                       "(E4 clock not synchronised with the labels); no chest stream")
    if nothing:
        missing.append(f"{_subject_ranges(nothing)}: neither SX.pkl nor SX_E4_Data.zip; no signals "
                       "(quest/readme files only)")
    if raw_chest:
        missing.append(f"{_subject_ranges(raw_chest)}: SX_respiban.txt present but not converted "
                       "(chest data is read from SX.pkl only)")
    return Plan(subjects=subjects, missing=missing, notes=notes)


# --------------------------------------------------------------------------- reading


def _column(arr: Any, path: Path, key: str, n_cols: int) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 1 and n_cols == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != n_cols:
        raise FormatError(f"{path}: signal {key} has shape {a.shape}, expected (n, {n_cols})")
    if a.dtype.kind not in "fiu":
        raise FormatError(f"{path}: signal {key} has dtype {a.dtype}, expected numbers")
    return a.astype(np.float64, copy=False)


def _dict_at(d: Any, path: Path, key: str, want: set[str]) -> dict:
    if not isinstance(d, dict):
        raise FormatError(f"{path}: {key} is a {type(d).__name__}, expected a dict")
    keys = set(d)
    if keys != want:
        raise FormatError(f"{path}: {key} has keys {sorted(map(str, keys))}, expected {sorted(want)}")
    return d


_CHEST_KEYS = {"ACC": ["chest_acc_x", "chest_acc_y", "chest_acc_z"], "ECG": ["chest_ecg"], "EMG": ["chest_emg"],
               "EDA": ["chest_eda"], "Temp": ["chest_temp"], "Resp": ["chest_resp"]}
_WRIST_KEYS = {"ACC": ("wrist_acc", ["wrist_acc_x", "wrist_acc_y", "wrist_acc_z"]), "BVP": ("wrist_bvp", ["wrist_bvp"]),
               "EDA": ("wrist_eda", ["wrist_eda"]), "TEMP": ("wrist_temp", ["wrist_temp"])}
_E4_FILES = {"wrist_acc": ("ACC.csv", 3), "wrist_bvp": ("BVP.csv", 1), "wrist_eda": ("EDA.csv", 1),
             "wrist_temp": ("TEMP.csv", 1)}


def _read_pkl(path: Path, subject: str) -> Iterator[Session]:
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise FormatError(f"{path}: holds a {type(data).__name__}, expected a dict with 'subject', 'label', 'signal'")
    _dict_at(data, path, "the top level", {"subject", "label", "signal"})
    who = data["subject"]
    who = who.decode("latin-1") if isinstance(who, bytes) else str(who)
    if who != subject:
        raise FormatError(f"{path}: key 'subject' says {who!r}, but the file is in folder {subject}")
    signal = _dict_at(data["signal"], path, "'signal'", {"chest", "wrist"})
    chest = _dict_at(signal["chest"], path, "'signal']['chest'", set(_CHEST_KEYS))
    wrist = _dict_at(signal["wrist"], path, "'signal']['wrist'", set(_WRIST_KEYS))
    raw_label = np.asarray(data["label"]).reshape(-1)
    if raw_label.dtype.kind not in "iuf" or (raw_label.dtype.kind == "f" and not np.all(raw_label == np.round(raw_label))):
        raise FormatError(f"{path}: 'label' has dtype {raw_label.dtype}, expected integer ids 0-7")
    raw_label = raw_label.astype(np.int64)
    bad = np.setdiff1d(np.unique(raw_label), np.arange(8))
    if len(bad):
        raise FormatError(f"{path}: 'label' holds ids {bad.tolist()}, expected 0-7")
    label = np.where(raw_label == 0, -1, raw_label).astype(np.int16)
    n = len(label)

    cols: dict[str, np.ndarray] = {}
    for key, names in _CHEST_KEYS.items():
        arr = _column(chest[key], path, f"['chest']['{key}']", len(names))
        if len(arr) != n:
            raise FormatError(f"{path}: ['chest']['{key}'] has {len(arr)} samples, 'label' has {n} (both 700 Hz)")
        cols.update({name: arr[:, i] for i, name in enumerate(names)})
    yield Session("chest", subject, "protocol", cols, label)

    for key, (stream, names) in _WRIST_KEYS.items():
        arr = _column(wrist[key], path, f"['wrist']['{key}']", len(names))
        rate = int(WRIST_RATES[stream])
        k = np.arange(len(arr), dtype=np.int64)
        idx = (2 * k * int(CHEST_RATE) + rate) // (2 * rate)  # round(k * 700 / rate), halves up, exact
        wl = np.full(len(arr), -1, dtype=np.int16)
        inside = idx < n
        wl[inside] = label[idx[inside]]
        yield Session(stream, subject, "protocol", {name: arr[:, i] for i, name in enumerate(names)}, wl)


def _e4_bytes(container: Path, member: str) -> tuple[bytes, str]:
    if container.is_dir():
        p = container / member
        if not p.is_file():
            raise FormatError(f"{container}: {member} is missing from the E4 export")
        return p.read_bytes(), str(p)
    try:
        with zipfile.ZipFile(container) as zf:
            names = [i for i in zf.infolist() if not i.is_dir() and i.filename.replace("\\", "/").rsplit("/", 1)[-1] == member
                     and "__MACOSX" not in i.filename]
            if len(names) != 1:
                raise FormatError(f"{container}: expected one {member} in the E4 export zip, found {len(names)}")
            return zf.read(names[0]), f"{container}:{names[0].filename}"
    except zipfile.BadZipFile as exc:
        raise FormatError(f"{container}: not a readable zip ({exc})") from exc


def _e4_header(line: bytes, where: str, lineno: int, ncols: int, what: str) -> float:
    try:
        vals = [float(v) for v in line.decode("latin-1").strip().split(",")]
    except ValueError as exc:
        raise FormatError(f"{where}: line {lineno}: expected the {what} ({ncols} comma-separated numbers), "
                          f"got {line[:80]!r}") from exc
    if len(vals) != ncols or len(set(vals)) != 1:
        raise FormatError(f"{where}: line {lineno}: expected the {what} repeated in {ncols} column(s), got {line[:80]!r}")
    return vals[0]


def read_e4_csv(container: Path, member: str, ncols: int, rate: float) -> tuple[float, np.ndarray]:
    """(Unix start time, samples) of one E4 CSV: line 1 start time, line 2 rate (checked), then samples."""
    data, where = _e4_bytes(container, member)
    lines = data.split(b"\n", 2)
    if len(lines) < 2:
        raise FormatError(f"{where}: fewer than 2 lines; an E4 CSV starts with the start time and the sample rate")
    start = _e4_header(lines[0], where, 1, ncols, "Unix start time")
    got = _e4_header(lines[1], where, 2, ncols, "sample rate")
    if got != rate:
        raise FormatError(f"{where}: line 2: sample rate {got:g} Hz, expected {rate:g} Hz")
    body = lines[2] if len(lines) == 3 else b""
    if not body.strip():
        return start, np.empty((0, ncols))
    return start, read_numeric(Path(where), sep=",", ncols=ncols, skip_rows=2, source=data)


def _read_e4(container: Path, subject: str) -> Iterator[Session]:
    for stream, (member, ncols) in _E4_FILES.items():
        rate = WRIST_RATES[stream]
        _start, arr = read_e4_csv(container, member, ncols, rate)
        names = [c.name for c in CARD.stream(stream).channels]
        yield Session(stream, subject, "e4", {name: arr[:, i] for i, name in enumerate(names)}, None)


def read(root: Path, subject: str, unit: tuple[str, str]) -> Iterator[Session]:
    kind, rel = unit
    if kind == "pkl":
        yield from _read_pkl(root / rel, subject)
    elif kind == "e4":
        yield from _read_e4(root / rel, subject)
    else:
        raise FormatError(f"wesad: unknown work unit {unit!r}")


# --------------------------------------------------------------------------- download


def read_pointer(path: Path) -> str:
    """The dataset link in the UCI pointer zip (``WESAD.txt``: 'Link to the dataset: https://...')."""
    try:
        with zipfile.ZipFile(path) as zf:
            texts = [zf.read(i) for i in zf.infolist() if i.filename.lower().endswith(".txt")]
    except zipfile.BadZipFile as exc:
        raise FormatError(f"{path}: not a readable zip ({exc})") from exc
    for raw in texts:
        m = re.search(r"https?://[^\s\"'<>]+", raw.decode("utf-8", "replace"))
        if m:
            return m.group(0).rstrip(".,;)")
    raise FormatError(f"{path}: no .txt member with a link to the dataset (expected WESAD.txt)")


def _source(spec: DatasetSpec, filename: str) -> Source:
    for s in spec.sources:
        if s.filename == filename:
            return s
    raise FetchError(f"{spec.id}: no source named {filename}")


def acquire(spec: DatasetSpec, paths: Any, lock: Any, *, mirror: str | None, progress: bool,
            say: Callable[[str], None]) -> None:
    """Follow the UCI pointer zip to WESAD.zip (falling back to the authors' Sciebo link), verify, extract."""
    from ..acquire import download_source, extract_once
    from ..fetch import mirror_url

    data_src = _source(spec, DATA_FILE)
    if mirror:
        src = replace(data_src, urls=[mirror_url(data_src.filename, mirror)])
        archive = download_source(spec, src, paths, lock, mirror=None, progress=progress, say=say)
        extract_once(archive, paths, data_src)
        return
    if (paths.downloads / data_src.filename).exists():
        archive = download_source(spec, data_src, paths, lock, mirror=None, progress=progress, say=say)
        extract_once(archive, paths, data_src)
        return
    urls: list[str] = []
    problems: list[str] = []
    try:
        pointer = download_source(spec, _source(spec, POINTER_FILE), paths, lock, mirror=None,
                                  progress=progress, say=say)
        link = read_pointer(pointer)
        say(f"{spec.id}: the UCI download points to {link}")
        urls.append(link)
    except ChecksumMismatch:
        raise
    except (FetchError, FormatError) as exc:
        problems.append(f"UCI pointer file: {exc}")
        say(f"{spec.id}: could not read the UCI pointer file ({exc}); trying the authors' link")
    urls += [u for u in data_src.urls if u not in urls]
    try:
        archive = download_source(spec, replace(data_src, urls=urls), paths, lock, mirror=None,
                                  progress=progress, say=say)
    except ChecksumMismatch:
        raise
    except FetchError as exc:
        problems.append(str(exc).split("\nDownload it yourself")[0])
        raise ManualDownloadRequired(
            f"{spec.id}: WESAD.zip could not be downloaded automatically:\n  " + "\n  ".join(problems)
            + f"\nOpen {AUTHORS_PAGE} in a browser, download WESAD.zip (~2.5 GB), then run "
            f"`imudata fetch {spec.id} --from /path/to/WESAD.zip`.") from exc
    extract_once(archive, paths, data_src)


SPEC = DatasetSpec(
    card=CARD,
    sources=[
        Source(filename=POINTER_FILE, urls=[UCI_POINTER_URL]),
        Source(filename=DATA_FILE, urls=[SCIEBO_URL], keep_nested=("S*_E4_Data.zip",)),
    ],
    marker="wesad_readme.pdf",
    layout=('wesad_readme.pdf', 'S*/S*.pkl', 'S*/S*_E4_Data.zip'),
    plan=plan,
    read=read,
    hours=25.0,  # 15 subjects x about 100 min of synchronised recording (S2: 6,079 s)
    n_subjects=15,
    acquire=acquire,
)
