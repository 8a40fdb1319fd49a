"""The imudata on-disk format: the dataset card, its channels, labels, and the shard schema.

Everything that reads or writes imudata files goes through this module, so the format is
defined once. ``docs/format.md`` is the human description of the same thing.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ._lazy import lazy
from .errors import SchemaError

pa = lazy("pyarrow", globals(), "pa")  # only arrow_schema needs it; list / info / --help do not

FORMAT_VERSION = "1.2"
METADATA_KEY = b"imudata"  # Parquet key-value metadata key holding the JSON card
#: Parquet key-value key holding {column: {unit, description, ...}} for readers without Arrow field metadata
COLUMNS_KEY = b"imudata.columns"

#: Standard gravity, used for every g -> m/s² conversion (the value the dataset authors cite).
G = 9.80665
DEG = math.pi / 180.0

#: SI target unit of each sensor kind. ``a.u.`` marks an uncalibrated source kept as is.
SENSOR_UNITS: dict[str, str] = {
    "acc": "m/s²",
    "gyro": "rad/s",
    "mag": "µT",
    "ecg": "mV",
    "emg": "mV",
    "eda": "µS",
    "temp": "°C",
    "hr": "bpm",
    "bvp": "a.u.",
    "resp": "%",
    "ori": "rad",
    "grav": "m/s²",
    "lacc": "m/s²",
    "baro": "hPa",
}

SENSOR_TEXT: dict[str, str] = {
    "acc": "Accelerometer",
    "gyro": "Gyroscope (angular rate)",
    "mag": "Magnetometer",
    "ecg": "Electrocardiogram (ECG)",
    "emg": "Electromyogram (EMG)",
    "eda": "Electrodermal activity (EDA)",
    "temp": "Temperature",
    "hr": "Heart rate",
    "bvp": "Blood volume pulse (PPG)",
    "resp": "Respiration (chest expansion)",
    "ori": "Orientation angle",
    "grav": "Gravity estimate",
    "lacc": "Linear acceleration",
    "baro": "Barometric pressure",
}

PLACEMENT_TEXT: dict[str, str] = {
    "hand": "dominant wrist",
    "wrist": "wrist",
    "chest": "chest",
    "ankle": "dominant ankle",
    "waist": "waist",
    "hip": "front right hip",
    "torso": "torso",
    "rightarm": "right arm",
    "leftarm": "left arm",
    "rightleg": "right leg",
    "leftleg": "left leg",
    "thigh": "thigh",
    "back": "lower back",
    "pocket": "trouser pocket",
}

GRAVITY_VALUES = ("included", "removed", "n.a.")
DATASET_LEVEL_KEYS = ("subjects", "shards", "completeness")
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass
class Channel:
    """One signal column: what it measures, where, in which unit, and how it was converted.

    ``scale`` is the factor that turns the original value into the stored SI value
    (stored = original * scale); ``offset`` is added after scaling (0 for every IMU source).
    """

    name: str
    sensor: str
    placement: str
    unit: str
    source_unit: str
    scale: float = 1.0
    axis: str | None = None
    offset: float = 0.0
    gravity: str = "n.a."
    range: str | None = None
    description: str = ""
    note: str | None = None
    sparse: bool = False
    #: Set on channels of derived streams (bands, resampled): how the channel was computed from
    #: which source channel (see docs/derived.md). None for channels converted from originals.
    derived: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise SchemaError(f"channel name {self.name!r} is not snake case <placement>_<sensor>[_<axis>]")
        if self.gravity not in GRAVITY_VALUES:
            raise SchemaError(f"channel {self.name}: gravity must be one of {GRAVITY_VALUES}, got {self.gravity!r}")
        if not self.description:
            self.description = describe_channel(self)


def describe_channel(ch: Channel) -> str:
    """One natural-language sentence for a channel, e.g. for the model's channel-text encoding."""
    sensor = SENSOR_TEXT.get(ch.sensor, ch.sensor)
    head = f"{sensor} {ch.axis.upper()}-axis" if ch.axis else sensor
    if ch.range:
        head += f" ({ch.range})"
    parts = [head, PLACEMENT_TEXT.get(ch.placement, ch.placement.replace("_", " "))]
    if ch.sensor in ("acc", "lacc", "grav") or ch.gravity != "n.a.":
        parts.append(f"gravity {ch.gravity}")
    return ", ".join(parts)


@dataclass
class Stream:
    """A set of channels sampled uniformly at one rate (one Parquet folder)."""

    name: str
    rate_hz: float
    channels: list[Channel]
    description: str = ""

    def channel(self, name: str) -> Channel:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(f"stream {self.name} has no channel {name!r}")


@dataclass
class Label:
    """A dataset label: its id in the stored ``label`` column, the original name and plain text.

    ``ignore`` marks labels the authors say to discard (kept in the data, never silently dropped).
    """

    id: int
    name: str
    text: str
    ignore: bool = False


@dataclass
class DatasetCard:
    """Everything a user or a model needs to know about one converted dataset."""

    id: str
    title: str
    homepage: str
    license: str
    citation: str
    streams: list[Stream]
    labels: list[Label]
    converter_version: str = "1"
    format_version: str = FORMAT_VERSION
    description: str = ""
    facts: dict[str, str] = field(default_factory=dict)  # how each fact (units, rate, ...) was established
    sources: dict[str, str] = field(default_factory=dict)  # source file -> sha256
    subjects: list[str] = field(default_factory=list)
    completeness: dict[str, Any] = field(default_factory=dict)
    shards: list[dict[str, Any]] = field(default_factory=list)

    def stream(self, name: str) -> Stream:
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(f"dataset {self.id} has no stream {name!r}; streams: {[s.name for s in self.streams]}")

    def label_map(self) -> dict[int, Label]:
        return {lab.id: lab for lab in self.labels}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DatasetCard":
        try:
            streams = [
                Stream(name=s["name"], rate_hz=float(s["rate_hz"]), description=s.get("description", ""),
                       channels=[Channel(**c) for c in s["channels"]])
                for s in d["streams"]
            ]
            labels = [Label(**lab) for lab in d["labels"]]
            rest = {k: v for k, v in d.items() if k not in ("streams", "labels")}
            return cls(streams=streams, labels=labels, **rest)
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"dataset card is missing or has an unexpected key: {exc}") from exc

    def static_dict(self) -> dict[str, Any]:
        """The card without its dataset-level tables (``subjects``, ``shards``, ``completeness``).

        This is what every shard embeds: those tables are only known once every shard is written
        (a shard cannot contain its own sha256), so they live in dataset.json alone.
        """
        d = self.to_dict()
        for key in DATASET_LEVEL_KEYS:
            d.pop(key, None)
        return d


#: Field metadata of the four fixed columns (every stream has them).
FIXED_FIELDS: dict[str, dict[str, str]] = {
    "subject": {"unit": "", "description": "the dataset's own subject id"},
    "session": {"unit": "", "description": "one continuous recording of the subject"},
    "t": {"unit": "s", "description": "seconds from the session's first sample"},
    "label": {"unit": "", "description": "the dataset's label id (names in dataset.json labels and README.md); "
                                         "null where unlabelled"},
}


def channel_field_metadata(ch: Channel) -> dict[str, str]:
    """What generic Parquet readers show beside a channel column: unit, description and the conversion.

    All values are strings (Arrow field metadata is bytes to bytes); ``scale`` and ``offset`` use
    ``repr`` so they parse back to the exact float.
    """
    meta = {"unit": ch.unit, "description": ch.description, "sensor": ch.sensor, "placement": ch.placement,
            "source_unit": ch.source_unit, "scale": repr(float(ch.scale)), "offset": repr(float(ch.offset)),
            "gravity": ch.gravity}
    if ch.axis:
        meta["axis"] = ch.axis
    if ch.range:
        meta["range"] = ch.range
    if ch.sparse:
        meta["sparse"] = "true"
    return meta


def columns_metadata(stream: Stream) -> dict[str, dict[str, str]]:
    """{column: field metadata} for every column of a stream's shards, in column order."""
    out = {"subject": FIXED_FIELDS["subject"], "session": FIXED_FIELDS["session"], "t": FIXED_FIELDS["t"]}
    out.update({ch.name: channel_field_metadata(ch) for ch in stream.channels})
    out["label"] = FIXED_FIELDS["label"]
    return out


def arrow_schema(stream: Stream) -> pa.Schema:
    """The Parquet schema of one stream's shards, each field carrying its unit and description.

    The same per-column facts are also kept as JSON under the file-level key ``imudata.columns``,
    for readers that do not expose Arrow field metadata (duckdb, polars).
    """
    cols = columns_metadata(stream)
    nonnull = {"subject": pa.string(), "session": pa.string(), "t": pa.float64()}
    fields = [pa.field(n, typ, nullable=False, metadata=cols[n]) for n, typ in nonnull.items()]
    fields += [pa.field(ch.name, pa.float32(), metadata=cols[ch.name]) for ch in stream.channels]
    fields.append(pa.field("label", pa.int16(), metadata=cols["label"]))
    return pa.schema(fields, metadata={COLUMNS_KEY: json.dumps(cols, ensure_ascii=False).encode()})


def validate_card(card: DatasetCard) -> None:
    """Raise SchemaError listing every inconsistency in a card."""
    problems: list[str] = []
    names = [s.name for s in card.streams]
    if len(set(names)) != len(names):
        problems.append(f"duplicate stream names {names}")
    for s in card.streams:
        if not (s.rate_hz > 0):
            problems.append(f"stream {s.name}: rate_hz must be positive")
        cn = [c.name for c in s.channels]
        if len(set(cn)) != len(cn):
            problems.append(f"stream {s.name}: duplicate channel names")
        for c in s.channels:
            if c.name in ("subject", "session", "t", "label"):
                problems.append(f"channel {c.name} collides with a fixed column")
            want = SENSOR_UNITS.get(c.sensor)
            if want and c.unit not in (want, "a.u."):
                problems.append(f"channel {c.name}: unit {c.unit!r}, expected {want!r} (or 'a.u.')")
    ids = [lab.id for lab in card.labels]
    if len(set(ids)) != len(ids):
        problems.append("duplicate label ids")
    if any(not (-32768 <= i <= 32767) for i in ids):
        problems.append("label ids must fit int16")
    if problems:
        raise SchemaError(f"dataset card {card.id}: " + "; ".join(problems))
