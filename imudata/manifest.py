"""Training manifests: which datasets, streams and channels, window/patch lengths, weights, dropped
labels and subject-disjoint splits. ``docs/manifests.md`` is the human description of the schema.

``load(path)`` parses and validates a manifest, resolves its channel selections and splits against
the converted dataset cards under the data root, and writes splits given as seeded fractions back
into the file as explicit subject lists (with a ``resolved:`` block keeping the seed and fractions),
so every later run uses exactly the same subjects. ``check(manifest)`` computes the per-dataset
table that ``imudata manifest check FILE`` prints.
"""
from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import DatasetNotFound, SchemaError
from .format import SENSOR_UNITS, DatasetCard, Stream

MANIFEST_VERSION = 1
SPLITS = ("train", "val", "test")
ROLES = ("pretrain", "heldout")
ALL = "all"

_TOP_KEYS = ("version", "name", "description", "defaults", "captions", "datasets")
_CAPTION_KEYS = ("level", "labels")
_DEFAULT_KEYS = ("stream", "role", "channels", "window_s", "patch_s", "weight", "drop_labels", "seed")
_ENTRY_KEYS = ("id", "stream", "role", "channels", "window_s", "patch_s", "weight", "drop_labels", "splits",
               "exclude_subjects", "note")
_SPLIT_KEYS = (*SPLITS, "fractions", "seed", "same_as", "resolved")
_CHANNEL_KEYS = ("sensors", "placements")
#: Datasets recorded from the same people with the same subject ids: their splits must agree.
SAME_PEOPLE = (("ucihar", "hapt"),)
_WRITE_BACK_NOTE = "# resolved by imudata from the seed and fractions below; delete train/val/test to split again"


class ManifestError(SchemaError):
    """A manifest is malformed or does not fit the converted data; the message names file and key."""


@dataclass
class DatasetEntry:
    """One dataset stream of a manifest, fully resolved (what a training loader consumes)."""

    id: str                 # dataset id
    stream: str             # stream name in that dataset
    channels: list[str]     # resolved channel names, in the stream's order
    window_s: float
    patch_s: float
    weight: float           # sampling weight (pretrain): P(dataset) = weight / sum of pretrain weights
    drop_labels: list[int]  # dataset label ids never trained on; windows whose majority label is dropped are skipped
    splits: dict[str, list[str]]  # 'train' / 'val' / 'test' -> subject ids (resolved)
    role: str               # 'pretrain' or 'heldout' (zero-shot target, never trained on)
    rate_hz: float | None = None   # the stream's sampling rate (from the card)
    exclude_subjects: list[str] = field(default_factory=list)
    split_rule: dict[str, Any] = field(default_factory=dict)  # how splits were given: lists / fractions / same_as
    note: str = ""

    @property
    def subjects(self) -> list[str]:
        """Every subject in some split."""
        return [s for k in SPLITS for s in self.splits.get(k, [])]

    def split_of(self, subject: str) -> str | None:
        for k in SPLITS:
            if subject in self.splits.get(k, []):
                return k
        return None

    @property
    def window_samples(self) -> int | None:
        return None if self.rate_hz is None else int(round(self.window_s * self.rate_hz))

    @property
    def patches_per_window(self) -> int:
        return int(round(self.window_s / self.patch_s))


@dataclass
class Manifest:
    """A parsed (and, unless ``resolved`` is False, resolved) manifest."""

    path: Path | None
    name: str
    datasets: list[DatasetEntry]
    defaults: dict
    description: str = ""
    version: int = MANIFEST_VERSION
    resolved: bool = False
    root: Path | None = None
    warnings: list[str] = field(default_factory=list)
    captions: dict[str, Any] = field(default_factory=dict)  # caption choice for caption-trained models: level, labels
    written_back: list[str] = field(default_factory=list)  # dataset ids whose splits were written to the file
    _raw: Any = field(default=None, repr=False, compare=False)

    def entry(self, dataset_id: str, stream: str | None = None) -> DatasetEntry:
        for e in self.datasets:
            if e.id == dataset_id and (stream is None or e.stream == stream):
                return e
        raise KeyError(f"manifest {self.name} has no dataset {dataset_id!r}" + (f" stream {stream!r}" if stream else ""))

    @property
    def pretrain(self) -> list[DatasetEntry]:
        return [e for e in self.datasets if e.role == "pretrain"]

    @property
    def heldout(self) -> list[DatasetEntry]:
        return [e for e in self.datasets if e.role == "heldout"]

    def sampling_probabilities(self) -> dict[tuple[str, str], float]:
        """P(draw from entry) over the pretrain entries: weight / sum of weights."""
        total = sum(e.weight for e in self.pretrain)
        return {(e.id, e.stream): (e.weight / total if total > 0 else 0.0) for e in self.pretrain}


# ----------------------------------------------------------------------------------------------
# problems and key paths
# ----------------------------------------------------------------------------------------------
class _Problems:
    def __init__(self, where: str, lines: dict[str, int]) -> None:
        self.where = where
        self.lines = lines
        self.items: list[str] = []
        self.keys: list[str] = []

    def add(self, key: str, msg: str) -> None:
        """Record a problem at a key path, unless it repeats one already recorded or follows from one.

        A problem under a key that already failed (``datasets[0].splits.train`` after
        ``datasets[0].splits``) is a consequence of the first, so it is not reported again.
        """
        if any(self._under(key, k) for k in self.keys):
            return
        line = self._line(key)
        suffix = f" (line {line})" if line else ""
        text = f"{self.where}: {key}: {msg}{suffix}" if key else f"{self.where}: {msg}{suffix}"
        if text in self.items:
            return
        self.keys.append(key)
        self.items.append(text)

    def failed(self, key: str) -> bool:
        """Whether a problem was recorded at ``key`` or under it."""
        return any(k == key or self._under(k, key) for k in self.keys)

    @staticmethod
    def _under(key: str, parent: str) -> bool:
        return bool(parent) and key != parent and (key.startswith(parent + ".") or key.startswith(parent + "["))

    def _line(self, key: str) -> int | None:
        k = key
        while k:
            if k in self.lines:
                return self.lines[k]
            shorter = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", k)
            if shorter == k:
                break
            k = shorter
        return None

    def raise_if(self) -> None:
        if self.items:
            if len(self.items) == 1:
                raise ManifestError(self.items[0])
            raise ManifestError(f"{len(self.items)} problems:\n" + "\n".join(self.items))


def _line_index(text: str) -> dict[str, int]:
    """Key path ('datasets[1].splits.train') -> 1-based line, for error messages."""
    out: dict[str, int] = {}
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return out

    def walk(n: Any, path: str) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                p = f"{path}.{k.value}" if path else str(k.value)
                out[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                p = f"{path}[{i}]"
                out[p] = v.start_mark.line + 1
                walk(v, p)

    if node is not None:
        walk(node, "")
    return out


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _natural(s: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", s) if p)


# ----------------------------------------------------------------------------------------------
# syntax
# ----------------------------------------------------------------------------------------------
@dataclass
class _RawEntry:
    index: int
    id: str
    stream: str | None
    role: str
    channels: Any
    window_s: float
    patch_s: float
    weight: float
    drop_labels: list[int | str]
    splits: dict[str, Any]        # kind + data, see _parse_splits
    exclude_subjects: list[str]
    note: str


def _check_keys(obj: dict, allowed: tuple[str, ...], key: str, p: _Problems) -> None:
    for k in obj:
        if k not in allowed:
            where = f"{key}.{k}" if key else str(k)
            p.add(where, f"unknown key{_suggest(k, allowed)}; allowed: {', '.join(allowed)}")


def _subject_list(v: Any, key: str, p: _Problems) -> list[str] | None:
    if not isinstance(v, list):
        p.add(key, f"expected a list of subject ids or 'all', got {type(v).__name__} {v!r}")
        return None
    out: list[str] = []
    for i, s in enumerate(v):
        if isinstance(s, bool) or not isinstance(s, (str, int)):
            p.add(f"{key}[{i}]", f"a subject id is a string or an integer, got {s!r}")
            continue
        s = str(s)
        if s in out:
            p.add(key, f"subject {s!r} is listed twice")
            continue
        out.append(s)
    return out


def _parse_seed(v: Any, key: str, p: _Problems) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int):
        p.add(key, f"the seed is an integer, got {v!r}")
        return None
    return v


def _parse_fractions(v: Any, key: str, p: _Problems) -> dict[str, float] | None:
    if not isinstance(v, dict) or not v:
        p.add(key, f"expected a mapping split -> fraction, e.g. {{train: 0.7, val: 0.15, test: 0.15}}, got {v!r}")
        return None
    out: dict[str, float] = {}
    for k, f in v.items():
        if k not in SPLITS:
            p.add(f"{key}.{k}", f"unknown split{_suggest(k, SPLITS)}; splits are {', '.join(SPLITS)}")
        elif not _is_num(f) or f < 0:
            p.add(f"{key}.{k}", f"a fraction is a number >= 0, got {f!r}")
        else:
            out[k] = float(f)
    if len(out) == len(v) and abs(sum(out.values()) - 1.0) > 1e-6:
        p.add(key, f"fractions must sum to 1, they sum to {sum(out.values()):g}")
    return out


def _parse_splits(v: Any, key: str, role: str, default_seed: int | None, p: _Problems) -> dict[str, Any]:
    """{'kind': 'lists', 'lists': {split: [..] | 'all'}, 'resolved': {...}?} | {'kind': 'fractions', ...}
    | {'kind': 'same_as', 'dataset': id}."""
    if v is None:
        if role == "heldout":
            return {"kind": "lists", "lists": {"test": ALL}, "implicit": True}
        p.add(key, "required for a pretrain dataset: explicit subject lists ({train: [...], val: [...], "
                   "test: [...]}), seeded fractions ({fractions: {...}, seed: N}) or {same_as: DATASET}")
        return {"kind": "invalid"}
    if not isinstance(v, dict):
        p.add(key, f"expected a mapping, got {type(v).__name__} {v!r}")
        return {"kind": "invalid"}
    _check_keys(v, _SPLIT_KEYS, key, p)
    lists_given = [k for k in SPLITS if k in v]
    if "same_as" in v:
        other = [k for k in v if k != "same_as"]
        if other:
            p.add(key, f"same_as cannot be combined with {', '.join(other)}")
        if not isinstance(v["same_as"], str):
            p.add(f"{key}.same_as", f"expected a dataset id, got {v['same_as']!r}")
            return {"kind": "invalid"}
        return {"kind": "same_as", "dataset": v["same_as"]}
    if "fractions" in v and not lists_given:
        fr = _parse_fractions(v["fractions"], f"{key}.fractions", p)
        seed = v.get("seed", default_seed)
        if seed is None:
            p.add(key, "fractions need a seed (here or in defaults.seed) so the split is reproducible")
        else:
            seed = _parse_seed(seed, f"{key}.seed" if "seed" in v else "defaults.seed", p)
        if "resolved" in v:
            p.add(f"{key}.resolved", "a resolved: block goes with the written-back train/val/test lists")
        if fr is None or seed is None:
            return {"kind": "invalid"}
        return {"kind": "fractions", "fractions": fr, "seed": seed}
    if "fractions" in v or "seed" in v:
        p.add(key, "give either subject lists or fractions with a seed (a written-back file keeps the seed "
                   "and fractions inside resolved:)")
        return {"kind": "invalid"}
    if not lists_given:
        p.add(key, "no split given: name subjects under train, val and/or test")
        return {"kind": "invalid"}
    lists: dict[str, Any] = {}
    for k in lists_given:
        if v[k] == ALL:
            lists[k] = ALL
            continue
        got = _subject_list(v[k], f"{key}.{k}", p)
        if got is not None:
            lists[k] = got
    alls = [k for k, x in lists.items() if x == ALL]
    if len(alls) > 1:
        p.add(key, f"only one split can be 'all' (here: {', '.join(alls)})")
    seen: dict[str, str] = {}
    for k in SPLITS:
        if isinstance(lists.get(k), list):
            for s in lists[k]:
                if s in seen:
                    p.add(f"{key}.{k}", f"subject {s!r} is in two splits ({seen[s]} and {k}); splits must be "
                                        f"subject-disjoint")
                else:
                    seen[s] = k
    out: dict[str, Any] = {"kind": "lists", "lists": lists}
    if "resolved" in v:
        r = v["resolved"]
        if not isinstance(r, dict):
            p.add(f"{key}.resolved", f"expected a mapping with seed and fractions, got {r!r}")
        else:
            _check_keys(r, ("seed", "fractions", "subjects"), f"{key}.resolved", p)
            if "seed" in r:
                _parse_seed(r["seed"], f"{key}.resolved.seed", p)
            if "fractions" in r:
                _parse_fractions(r["fractions"], f"{key}.resolved.fractions", p)
            out["resolved"] = r
    return out


def _parse_channels(v: Any, key: str, p: _Problems) -> Any:
    if v is None or v == ALL:
        return ALL
    if isinstance(v, list):
        if not v or not all(isinstance(c, str) for c in v):
            p.add(key, f"a channel list is a non-empty list of channel names, got {v!r}")
            return ALL
        dup = sorted({c for c in v if v.count(c) > 1})
        if dup:
            p.add(key, f"channel(s) listed twice: {', '.join(dup)}")
        return list(dict.fromkeys(v))
    if isinstance(v, dict):
        _check_keys(v, _CHANNEL_KEYS, key, p)
        sel: dict[str, list[str]] = {}
        for k in _CHANNEL_KEYS:
            if k not in v:
                continue
            x = v[k]
            x = [x] if isinstance(x, str) else x
            if not isinstance(x, list) or not x or not all(isinstance(i, str) for i in x):
                p.add(f"{key}.{k}", f"expected a name or a non-empty list of names, got {v[k]!r}")
                continue
            if k == "sensors":
                for s in x:
                    if s not in SENSOR_UNITS:
                        p.add(f"{key}.sensors", f"unknown sensor {s!r}{_suggest(s, SENSOR_UNITS)}; "
                                                f"known: {', '.join(SENSOR_UNITS)}")
            sel[k] = x
        if not any(k in v for k in _CHANNEL_KEYS):
            p.add(key, "a channel selection names sensors and/or placements")
        return sel
    p.add(key, f"expected 'all', a list of channel names or {{sensors: [...], placements: [...]}}, got {v!r}")
    return ALL


def _parse_drop(v: Any, key: str, p: _Problems) -> list[int | str]:
    if v is None:
        return []
    if not isinstance(v, list):
        p.add(key, f"expected a list of label ids or names, got {v!r}")
        return []
    out: list[int | str] = []
    for i, x in enumerate(v):
        if isinstance(x, bool) or not isinstance(x, (int, str)):
            p.add(f"{key}[{i}]", f"a label is an integer id or a name, got {x!r}")
        else:
            out.append(x)
    return out


def _parse_captions(v: Any, p: _Problems) -> dict[str, Any]:
    """``captions: {level: KEY, labels: BOOL}``: which imudata caption a caption-trained model pairs
    with each window, and whether it may name labels. Either key may be omitted (the recipe's value
    then applies)."""
    if v is None:
        return {}
    if not isinstance(v, dict) or not v:
        p.add("captions", f"expected a mapping with level and/or labels, e.g. {{level: middle_low, labels: false}}, "
                          f"got {v!r}")
        return {}
    _check_keys(v, _CAPTION_KEYS, "captions", p)
    out: dict[str, Any] = {}
    if "level" in v:
        from .captions.generate import LEVELS  # lazy: captions pull in numpy

        lv = v["level"]
        if not isinstance(lv, str) or lv not in LEVELS:
            p.add("captions.level", f"unknown caption level {lv!r}{_suggest(lv, LEVELS)}; expected one of "
                                    f"{', '.join(LEVELS)}")
        else:
            out["level"] = lv
    if "labels" in v:
        if not isinstance(v["labels"], bool):
            p.add("captions.labels", f"expected true (captions may name labels) or false (label-free, like "
                                     f"`imudata caption --no-labels`), got {v['labels']!r}")
        else:
            out["labels"] = v["labels"]
    return out


def _parse(data: Any, p: _Problems) -> tuple[str, str, int, dict, list[_RawEntry]]:
    if not isinstance(data, dict):
        p.add("", f"a manifest is a YAML mapping with keys {', '.join(_TOP_KEYS)}")
        p.raise_if()
    _check_keys(data, _TOP_KEYS, "", p)
    version = data.get("version")
    if version is None:
        p.add("version", f"required (this imudata reads version {MANIFEST_VERSION})")
    elif version != MANIFEST_VERSION:
        p.add("version", f"unsupported version {version!r}; this imudata reads version {MANIFEST_VERSION}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        p.add("name", f"required: a non-empty string, got {name!r}")
        name = ""
    description = data.get("description", "") or ""
    if not isinstance(description, str):
        p.add("description", "expected a string")
        description = ""
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        p.add("defaults", f"expected a mapping, got {defaults!r}")
        defaults = {}
    _check_keys(defaults, _DEFAULT_KEYS, "defaults", p)
    default_seed = defaults.get("seed")
    if default_seed is not None:
        default_seed = _parse_seed(default_seed, "defaults.seed", p)
    items = data.get("datasets")
    entries: list[_RawEntry] = []
    missing: dict[str, list[str]] = {}  # a required number absent from defaults: the entries lacking it
    if not isinstance(items, list) or not items:
        p.add("datasets", "required: a non-empty list of datasets")
        return name, description, version or 0, defaults, entries
    for i, item in enumerate(items):
        key = f"datasets[{i}]"
        if not isinstance(item, dict):
            p.add(key, f"expected a mapping with at least id, got {item!r}")
            continue
        _check_keys(item, _ENTRY_KEYS, key, p)

        def get(k: str, item: dict = item) -> tuple[Any, str]:
            if k in item:
                return item[k], f"{key}.{k}"
            return defaults.get(k), f"defaults.{k}"

        did = item.get("id")
        if not isinstance(did, str) or not did:
            p.add(f"{key}.id", f"required: a dataset id (see `imudata list`), got {did!r}")
            did = ""
        stream, sk = get("stream")
        if stream is not None and not isinstance(stream, str):
            p.add(sk, f"expected a stream name, got {stream!r}")
            stream = None
        role, rk = get("role")
        role = role if role is not None else "pretrain"
        if role not in ROLES:
            p.add(rk, f"role is one of {', '.join(ROLES)}, got {role!r}")
            role = "pretrain"
        nums: dict[str, float] = {}
        for k in ("window_s", "patch_s", "weight"):
            v, vk = get(k)
            if v is None:
                if k == "weight":
                    nums[k] = 1.0
                    continue
                missing.setdefault(k, []).append(key)
                nums[k] = float("nan")
            elif not _is_num(v) or v < 0 or (k != "weight" and v == 0):
                p.add(vk, f"expected a {'number >= 0' if k == 'weight' else 'positive number of seconds'}, got {v!r}")
                nums[k] = float("nan")
            else:
                nums[k] = float(v)
        w, pt = nums["window_s"], nums["patch_s"]
        if math.isfinite(w) and math.isfinite(pt):
            ratio = w / pt
            # named where the values come from, so a bad pair in defaults is one line, not one per dataset
            own = "window_s" in item or "patch_s" in item
            wk, pk = (f"{key}.window_s", f"{key}.patch_s") if own else ("defaults.window_s", "defaults.patch_s")
            if pt > w:
                p.add(pk, f"patch_s {pt:g} s is longer than window_s {w:g} s")
            elif abs(ratio - round(ratio)) > 1e-6:
                p.add(wk, f"window_s {w:g} s is not a whole number of patches of {pt:g} s "
                                         f"({ratio:.3g}); every window is cut into window_s / patch_s patches")
        ch, ck = get("channels")
        channels = _parse_channels(ch, ck, p)
        dl, dk = get("drop_labels")
        drop = _parse_drop(dl, dk, p)
        excl = item.get("exclude_subjects")
        exclude: list[str] = []
        if excl is not None:
            exclude = _subject_list(excl, f"{key}.exclude_subjects", p) or []
        note = item.get("note", "") or ""
        if not isinstance(note, str):
            p.add(f"{key}.note", "expected a string")
            note = ""
        splits = _parse_splits(item.get("splits"), f"{key}.splits", role, default_seed, p)
        if splits.get("kind") == "lists":
            for k, lst in splits["lists"].items():
                if isinstance(lst, list):
                    for s in set(lst) & set(exclude):
                        p.add(f"{key}.splits.{k}", f"subject {s!r} is also in exclude_subjects")
        entries.append(_RawEntry(i, did, stream, role, channels, w, pt, nums["weight"], drop, splits, exclude, note))
    for k, where in missing.items():  # one line per key, not one per dataset
        also = f"; also missing in {', '.join(where[1:])}: set defaults.{k} once" if len(where) > 1 else ""
        p.add(f"{where[0]}.{k}", f"required (here or in defaults){also}")
    return name, description, version or 0, defaults, entries


# ----------------------------------------------------------------------------------------------
# resolution against cards
# ----------------------------------------------------------------------------------------------
def _pick_stream(card: DatasetCard, name: str | None, key: str, p: _Problems) -> Stream | None:
    if name is None:
        if len(card.streams) == 1:
            return card.streams[0]
        p.add(key, f"{card.id} has several streams ({', '.join(s.name for s in card.streams)}): name one with stream:")
        return None
    try:
        return card.stream(name)
    except KeyError:
        p.add(key, f"{card.id} has no stream {name!r}{_suggest(name, [s.name for s in card.streams])}; "
                   f"streams: {', '.join(s.name for s in card.streams)}")
        return None


def select_channels(stream: Stream, selection: Any, *, dataset: str = "", key: str = "channels",
                    problems: _Problems | None = None, warnings: list[str] | None = None) -> list[str]:
    """Channel names of ``stream`` chosen by ``selection`` ('all', a list of names, or a mapping with
    ``sensors`` and/or ``placements``), in the stream's own order."""
    p = problems or _Problems("channels", {})
    label = f"{dataset}/{stream.name}" if dataset else stream.name
    names = [c.name for c in stream.channels]
    if selection == ALL or selection is None:
        out = names
    elif isinstance(selection, list):
        unknown = [c for c in selection if c not in names]
        for c in unknown:
            p.add(key, f"unknown channel {c!r} in {label}{_suggest(c, names)}; channels: {', '.join(names)}")
        out = [c for c in names if c in selection]
    else:
        sensors = selection.get("sensors")
        places = selection.get("placements")
        out = [c.name for c in stream.channels
               if (sensors is None or c.sensor in sensors) and (places is None or c.placement in places)]
        have_s = sorted({c.sensor for c in stream.channels})
        have_p = sorted({c.placement for c in stream.channels})
        if not out:
            p.add(key, f"no channel of {label} matches sensors {sensors or 'any'} and placements {places or 'any'}; "
                       f"it has sensors {', '.join(have_s)} and placements {', '.join(have_p)}")
        elif warnings is not None:
            for k, want, have in (("sensors", sensors, have_s), ("placements", places, have_p)):
                missing = [x for x in (want or []) if x not in have]
                if missing:
                    warnings.append(f"{key}.{k}: {label} has no {', '.join(missing)} (it has {', '.join(have)})")
    if problems is None:
        p.raise_if()
    return out


def _resolve_drop(card: DatasetCard, drop: list[int | str], key: str, p: _Problems) -> list[int]:
    from .vocabulary import _norm

    ids = card.label_map()
    out: set[int] = set()
    for i, x in enumerate(drop):
        if isinstance(x, int):
            if x not in ids:
                p.add(f"{key}[{i}]", f"{card.id} has no label id {x}; ids: {', '.join(map(str, sorted(ids)))}")
            else:
                out.add(x)
        elif x == "ignored":
            out.update(lab.id for lab in card.labels if lab.ignore)
        else:
            hits = [lab.id for lab in card.labels if _norm(x) in (_norm(lab.name), _norm(lab.text))]
            if not hits:
                p.add(f"{key}[{i}]", f"{card.id} has no label named {x!r}{_suggest(x, [l.name for l in card.labels])}")
            out.update(hits)
    return sorted(out)


def _stream_subjects(card: DatasetCard, stream: str) -> list[str]:
    subs = {sh["subject"] for sh in card.shards if sh.get("stream") == stream and "subject" in sh}
    if not subs and not card.shards:
        subs = set(card.subjects)
    return sorted(subs, key=_natural)


def split_fractions(subjects: list[str], fractions: dict[str, float], seed: int, salt: str = "") -> dict[str, list[str]]:
    """Deterministic subject-level split: order subjects by sha256(seed, salt, subject), then cut.

    Counts per split use the largest-remainder rule; every split with a positive fraction gets at
    least one subject when there are enough. The order is stable under adding subjects (a new
    subject does not reshuffle the others) and identical on every platform and Python version.
    """
    order = sorted(subjects, key=lambda s: hashlib.sha256(f"{seed}:{salt}:{s}".encode()).hexdigest())
    n = len(order)
    keys = [k for k in SPLITS if k in fractions]
    exact = {k: fractions[k] * n for k in keys}
    counts = {k: int(math.floor(exact[k] + 1e-9)) for k in keys}
    rest = n - sum(counts.values())
    for k in sorted(keys, key=lambda k: (-(exact[k] - counts[k]), keys.index(k)))[:max(rest, 0)]:
        counts[k] += 1
    positive = [k for k in keys if fractions[k] > 0]
    if n >= len(positive):
        for k in positive:
            if counts[k] == 0:
                donor = max(keys, key=lambda d: counts[d])
                counts[donor] -= 1
                counts[k] += 1
    out: dict[str, list[str]] = {}
    i = 0
    for k in keys:
        out[k] = sorted(order[i:i + counts[k]], key=_natural)
        i += counts[k]
    return out


def _resolve(raw: list[_RawEntry], root: Path | None, p: _Problems, warnings: list[str],
             *, use_data: bool) -> list[tuple[DatasetEntry, dict | None]]:
    """Resolve raw entries. With ``use_data`` cards come from the converted copy under ``root``;
    otherwise from the registry (static cards: no subjects, splits stay as written)."""
    from . import registry
    from .api import load_card

    results: list[tuple[DatasetEntry, dict | None]] = []
    cards: dict[int, DatasetCard] = {}
    subjects_of: dict[int, list[str]] = {}
    for r in raw:
        key = f"datasets[{r.index}]"
        entry = DatasetEntry(id=r.id, stream=r.stream or "", channels=[], window_s=r.window_s, patch_s=r.patch_s,
                             weight=r.weight, drop_labels=[], splits={}, role=r.role,
                             exclude_subjects=list(r.exclude_subjects), split_rule=dict(r.splits), note=r.note)
        results.append((entry, None))
        if not r.id:
            continue
        try:
            spec = registry.get(r.id)
        except DatasetNotFound:
            p.add(f"{key}.id", f"unknown dataset {r.id!r}{_suggest(r.id, registry.names())}; "
                               f"known: {', '.join(registry.names())}")
            continue
        entry.id = spec.id
        card = spec.card
        if use_data:
            try:
                _, card = load_card(spec.id, root)
            except DatasetNotFound as exc:
                p.add(f"{key}.id", str(exc))
                continue
        cards[r.index] = card
        stream = _pick_stream(card, r.stream, f"{key}.stream", p)
        if stream is None:
            continue
        entry.stream = stream.name
        entry.rate_hz = stream.rate_hz
        wkey = f"{key}.channels"
        entry.channels = select_channels(stream, r.channels, dataset=spec.id, key=wkey, problems=p, warnings=warnings)
        entry.drop_labels = _resolve_drop(card, r.drop_labels, f"{key}.drop_labels", p)
        n = int(round(r.window_s * stream.rate_hz)) if math.isfinite(r.window_s) else 1
        if n < 2:
            p.add(f"{key}.window_s", f"{r.window_s:g} s is {n} sample(s) at {stream.rate_hz:g} Hz; a window needs "
                                     f"at least 2")
        if use_data:
            subs = _stream_subjects(card, stream.name)
            subjects_of[r.index] = subs
            for s in r.exclude_subjects:
                if s not in subs:
                    p.add(f"{key}.exclude_subjects", f"subject {s!r} is not in the converted {spec.id}/{stream.name}")

    # splits: lists and fractions first, then same_as (which copies another entry's assignment)
    by_id: dict[str, DatasetEntry] = {}
    for r, (entry, _) in zip(raw, results):
        if r.splits.get("kind") != "same_as" and entry.id and entry.id not in by_id:
            by_id[entry.id] = entry
    write: dict[int, dict] = {}
    for r, (entry, _) in zip(raw, results):
        kind = r.splits.get("kind")
        key = f"datasets[{r.index}].splits"
        if kind == "lists":
            lists = r.splits["lists"]
            explicit = {k: v for k, v in lists.items() if isinstance(v, list)}
            if r.index in subjects_of:
                avail = [s for s in subjects_of[r.index] if s not in r.exclude_subjects]
                for k, v in explicit.items():
                    for s in v:
                        if s not in subjects_of[r.index]:
                            p.add(f"{key}.{k}", f"subject {s!r} is not in the converted {entry.id}/{entry.stream} "
                                                f"(subjects: {', '.join(subjects_of[r.index]) or 'none'})")
                taken = {s for v in explicit.values() for s in v}
                rest = [s for s in avail if s not in taken]
                entry.splits = {k: (rest if v == ALL else list(v)) for k, v in lists.items()}
                if ALL not in lists.values() and rest:
                    note = ""
                    if "resolved" in r.splits:
                        note = (f"; the lists were resolved from {r.splits['resolved'].get('subjects', '?')} subjects, "
                                f"delete them to split again")
                    warnings.append(f"{key}: {len(rest)} converted subject(s) of {entry.id}/{entry.stream} are in no "
                                    f"split: {', '.join(rest[:10])}{' ...' if len(rest) > 10 else ''}{note}")
            else:
                entry.splits = {k: (list(v) if isinstance(v, list) else []) for k, v in lists.items()}
        elif kind == "fractions":
            if r.index in subjects_of:
                avail = [s for s in subjects_of[r.index] if s not in r.exclude_subjects]
                entry.splits = split_fractions(avail, r.splits["fractions"], r.splits["seed"], entry.id)
                write[r.index] = {"splits": entry.splits, "seed": r.splits["seed"],
                                  "fractions": r.splits["fractions"], "subjects": len(avail)}
            else:
                entry.splits = {k: [] for k in r.splits["fractions"]}
    for r, (entry, _) in zip(raw, results):
        if r.splits.get("kind") != "same_as":
            continue
        key = f"datasets[{r.index}].splits.same_as"
        ref_id = r.splits["dataset"]
        try:
            ref_id = registry.get(ref_id).id
        except DatasetNotFound:
            pass
        ref = by_id.get(ref_id)
        if ref is None or ref is entry:
            p.add(key, f"{r.splits['dataset']!r} is not another dataset of this manifest with its own splits")
            continue
        if r.index in subjects_of:
            avail = [s for s in subjects_of[r.index] if s not in r.exclude_subjects]
            orphans = [s for s in avail if ref.split_of(s) is None]
            if orphans and ref.subjects:
                p.add(key, f"subject(s) {', '.join(orphans)} of {entry.id} are in no split of {ref.id}")
            entry.splits = {k: [s for s in v if s in avail] for k, v in ref.splits.items()}
        else:
            entry.splits = {k: list(v) for k, v in ref.splits.items()}

    # a repeated dataset/stream first: the role and split conflicts it causes are not reported again
    seen_pairs: dict[tuple[str, str], int] = {}
    for r, (entry, _) in zip(raw, results):
        pair = (entry.id, entry.stream)
        if entry.id and entry.stream and pair in seen_pairs:
            p.add(f"datasets[{r.index}]", f"{entry.id}/{entry.stream} is already datasets[{seen_pairs[pair]}]")
        seen_pairs.setdefault(pair, r.index)

    # subject-disjointness within an entry, across entries of one dataset, and across linked datasets
    for r, (entry, _) in zip(raw, results):
        seen: dict[str, str] = {}
        for k in SPLITS:
            for s in entry.splits.get(k, []):
                if s in seen and seen[s] != k:
                    p.add(f"datasets[{r.index}].splits.{k}",
                          f"subject {s!r} is in two splits ({seen[s]} and {k}); splits must be subject-disjoint")
                seen[s] = k
    groups: dict[str, list[tuple[int, DatasetEntry]]] = {}
    for r, (entry, _) in zip(raw, results):
        if entry.id:
            groups.setdefault(entry.id, []).append((r.index, entry))
    for a, b in SAME_PEOPLE:
        if a in groups and b in groups:
            groups.setdefault(f"{a}+{b}", []).extend(groups[a] + groups[b])
    for gid, members in groups.items():
        if len(members) < 2:
            continue
        roles = {e.role for _, e in members}
        if len(roles) > 1:
            if "+" in gid:
                warnings.append(f"{gid.replace('+', ' and ')} record the same people, but one is trained on and the "
                                f"other held out: the held-out subjects were seen in training")
                continue
            p.add(f"datasets[{members[-1][0]}].role", f"{gid} is both trained on and held out in this manifest")
        where: dict[str, tuple[str, int]] = {}
        for idx, e in members:
            for k in SPLITS:
                for s in e.splits.get(k, []):
                    if s in where and where[s][0] != k:
                        p.add(f"datasets[{idx}].splits.{k}",
                              f"subject {s!r} of {e.id} is in {k}, but in {where[s][0]} for "
                              f"{results[where[s][1]][0].id} (datasets[{where[s][1]}]); the same person must be "
                              f"in the same split everywhere" + (" (UCI-HAR and HAPT record the same 30 people: use "
                                                                  "splits: {same_as: ucihar})" if "+" in gid else ""))
                    else:
                        where.setdefault(s, (k, idx))
    return [(e, write.get(r.index)) for r, (e, _) in zip(raw, results)]


# ----------------------------------------------------------------------------------------------
# write-back
# ----------------------------------------------------------------------------------------------
def _yaml_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _flow_list(items: list[str], indent: int, first: int, width: int = 100) -> str:
    if not items:
        return "[]"
    parts = [_yaml_str(s) for s in items]
    lines: list[str] = []
    cur = "["
    col = first
    for i, part in enumerate(parts):
        tok = part + (", " if i < len(parts) - 1 else "]")
        if len(cur) > 1 and col + len(cur) + len(tok) > width:
            lines.append(cur.rstrip())
            cur = " " * (indent + 2)
            col = 0
        cur += tok
    lines.append(cur)
    return "\n".join(lines)


def _render_splits(info: dict, col: int) -> str:
    ind = " " * (col + 2)
    out = ["splits:", ind + _WRITE_BACK_NOTE]
    for k in SPLITS:
        if k in info["splits"]:
            out.append(f"{ind}{k}: " + _flow_list(info["splits"][k], col + 2, col + 2 + len(k) + 2))
    fr = ", ".join(f"{k}: {v:g}" for k, v in info["fractions"].items())
    out.append(f"{ind}resolved: {{seed: {info['seed']}, fractions: {{{fr}}}, subjects: {info['subjects']}}}")
    return "\n".join(out)


def _render_splits_flow(info: dict) -> str:
    lists = ", ".join(f"{k}: [{', '.join(_yaml_str(x) for x in info['splits'][k])}]" for k in SPLITS if k in info["splits"])
    fr = ", ".join(f"{k}: {v:g}" for k, v in info["fractions"].items())
    return f"splits: {{{lists}, resolved: {{seed: {info['seed']}, fractions: {{{fr}}}, subjects: {info['subjects']}}}}}"


def _last_end(node: Any) -> int:
    """Character index just after the last real token of a node (block collections end at the next token)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _last_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _last_end(node.value[-1])
    return node.end_mark.index


def _write_back(path: Path, text: str, updates: dict[int, dict]) -> str:
    """Replace the ``splits`` of the given dataset indices in the YAML text (comments elsewhere kept).

    The new text is parsed and compared before the file is replaced (atomically)."""
    root = yaml.compose(text)
    items = next(v for k, v in root.value if k.value == "datasets")
    edits: list[tuple[int, int, str]] = []
    for idx, info in updates.items():
        item = items.value[idx]
        for k, v in item.value:
            if k.value == "splits":
                new = (_render_splits_flow(info) if item.flow_style or items.flow_style
                       else _render_splits(info, k.start_mark.column))
                edits.append((k.start_mark.index, _last_end(v), new))
                break
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    try:
        data = yaml.safe_load(text)
        ok = all({k: [str(x) for x in data["datasets"][i]["splits"][k]] for k in info["splits"]} == info["splits"]
                 for i, info in updates.items())
    except (yaml.YAMLError, KeyError, TypeError, IndexError):
        ok = False
    if not ok:
        raise OSError("the rewritten file would not read back the same splits (unusual YAML layout); "
                      "write the lists by hand")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return text


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------
def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def loads(text: str, *, where: str = "<manifest>", root: str | os.PathLike[str] | None = None,
          resolve: bool = True) -> Manifest:
    """Parse a manifest from a string (no write-back: there is no file)."""
    return _load_text(text, None, where, root, resolve, False)


def shipped_dir() -> Path:
    """The folder of the example manifests shipped inside the package (``imudata/manifests``)."""
    return Path(__file__).resolve().parent / "manifests"


def shipped_names() -> list[str]:
    """Names of the shipped example manifests (``demo``, ``har10``, ...), sorted."""
    return sorted(p.stem for p in shipped_dir().glob("*.yaml"))


def find(path: str | os.PathLike[str]) -> tuple[Path, bool]:
    """The manifest file meant by ``path`` and whether it is a shipped example.

    An existing file is always that file. Otherwise a bare name (``demo``, ``demo.yaml``) or the
    repository-relative path the documentation uses (``manifests/demo.yaml``) names the manifest
    shipped in the package, so the same command works in a clone and in an installed wheel.
    Anything else is returned unchanged (loading it then reports the missing file).
    """
    p = Path(path)
    if p.is_file():
        return p, False
    bare = len(p.parts) == 1 or (len(p.parts) == 2 and p.parts[0] == "manifests")
    stem = p.name[:-5] if p.name.endswith(".yaml") else p.name[:-4] if p.name.endswith(".yml") else p.name
    cand = shipped_dir() / f"{stem}.yaml"
    if bare and stem and cand.is_file():
        return cand, True
    return p, False


def load(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None, resolve: bool = True,
         write_back: bool = False) -> Manifest:
    """Parse, validate and (unless ``resolve=False``) resolve a manifest against the converted data.

    Errors (:class:`ManifestError`, a :class:`~imudata.errors.SchemaError`) name the file and key
    path, e.g. ``manifests/demo.yaml: datasets[1].splits.train: ...``. Resolution reads each
    dataset's card under ``root`` (default ``$IMUDATA_HOME`` / user cache): channel selections,
    label names, subjects, ``all`` and ``same_as`` splits, and seeded fractions. With
    ``write_back=True`` fraction splits are written back into the file as explicit subject lists,
    keeping the seed and fractions in a ``resolved:`` block; by default the file is only read (the
    fractions resolve the same on every machine), and a shipped manifest found by name
    (:func:`find`) is never rewritten. ``resolve=False`` checks the syntax and the registry only
    (dataset ids, streams, channels, label ids); fraction splits then stay empty.
    """
    path, is_shipped = find(path)
    where = _display(path) if is_shipped else str(path)
    if is_shipped:
        write_back = False  # never rewrite the installed package; seeded splits resolve the same each time
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        names = ", ".join(shipped_names())
        raise ManifestError(f"{where}: no such manifest file (shipped manifests, usable by name: {names})") from None
    return _load_text(text, path, where, root, resolve, write_back)


def _load_text(text: str, path: Path | None, where: str, root: Any, resolve: bool, write_back: bool) -> Manifest:
    p = _Problems(where, _line_index(text))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ManifestError(f"{where}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    name, description, version, defaults, raw = _parse(data, p)
    captions = _parse_captions(data.get("captions"), p)
    p.raise_if()
    warnings: list[str] = []
    from .paths import resolve_root

    root_path = resolve_root(root) if resolve else (Path(root) if root is not None else None)
    resolved = _resolve(raw, root_path, p, warnings, use_data=resolve)
    p.raise_if()
    m = Manifest(path=path, name=name, datasets=[e for e, _ in resolved], defaults=dict(defaults),
                 description=description, version=version, resolved=resolve, root=root_path,
                 warnings=[f"{where}: {w}" for w in warnings], captions=captions, _raw=raw)
    updates = {r.index: info for r, (_, info) in zip(raw, resolved) if info is not None}
    if updates and write_back and path is not None:
        try:
            new_text = _write_back(path, text, updates)
        except OSError as exc:
            m.warnings.append(f"{where}: could not write the resolved splits back ({exc}); they hold for this run only")
        else:
            check_again = _load_text(new_text, None, where, root, resolve, False)
            for a, b in zip(check_again.datasets, m.datasets):
                if a.splits != b.splits:
                    raise ManifestError(f"{where}: internal error: the written-back splits of {a.id} differ on re-reading")
            m.written_back = [m.datasets[i].id for i in sorted(updates)]
            for i in sorted(updates):
                m.datasets[i].split_rule = {"kind": "lists", "resolved": {
                    "seed": updates[i]["seed"], "fractions": updates[i]["fractions"],
                    "subjects": updates[i]["subjects"]}}
    return m


def check(manifest: Manifest, root: str | os.PathLike[str] | None = None) -> list[dict]:
    """Per-dataset rows: id, stream, role, subjects / hours / windows per split, labels, channels.

    Windows are non-overlapping (stride = window_s) within each session, counted from the row
    count of every (subject, session) with polars over the shards; a session shorter than a window
    gives none. ``labels`` counts the distinct labels present in the split subjects' rows, dropped
    labels excluded; every such label must have a canonical label (``problems`` otherwise).
    """
    import polars as pl

    from . import api
    from .vocabulary import UnknownLabel, canonical

    if not manifest.resolved or (root is not None and manifest.root != Path(root)):
        if manifest._raw is None:
            raise ManifestError(f"manifest {manifest.name}: not resolved; load it with resolve=True")
        p = _Problems(_display(manifest.path) if manifest.path else manifest.name, {})
        warn: list[str] = []
        from .paths import resolve_root

        res = _resolve(manifest._raw, resolve_root(root if root is not None else manifest.root), p, warn, use_data=True)
        p.raise_if()
        entries = [e for e, _ in res]
    else:
        entries = manifest.datasets
    rows: list[dict] = []
    for e in entries:
        ds = api.open(e.id, root if root is not None else manifest.root)
        rate = ds.card.stream(e.stream).rate_hz
        wlen = max(int(round(e.window_s * rate)), 1)
        subjects = e.subjects
        problems: list[str] = []
        split_of = {s: k for k in SPLITS for s in e.splits.get(k, [])}
        counts = {k: {"subjects": len(e.splits[k]), "rows": 0, "windows": 0} for k in SPLITS if k in e.splits}
        labels_present: set[int] = set()
        if subjects and ds.shard_paths(e.stream):
            df = (ds.scan(e.stream).filter(pl.col("subject").is_in(subjects))
                  .group_by(["subject", "session", "label"]).agg(pl.len().alias("n")).collect())
            per_session = df.group_by(["subject", "session"]).agg(pl.col("n").sum())
            for subj, _sess, n in per_session.iter_rows():
                c = counts[split_of[subj]]
                c["rows"] += int(n)
                c["windows"] += int(n) // wlen
            labels_present = {int(x) for x in df["label"].drop_nulls().unique().to_list()}
        kept = sorted(labels_present - set(e.drop_labels))
        unmapped = []
        for lab in kept:
            try:
                canonical(e.id, lab)
            except UnknownLabel:
                unmapped.append(lab)
        if unmapped:
            problems.append(f"{e.id}: label id(s) {unmapped} have no canonical label (imudata/vocabulary.py); "
                            f"map them or drop them with drop_labels")
        for k, c in counts.items():
            if c["subjects"] and c["windows"] == 0:
                problems.append(f"{e.id}/{e.stream}: the {k} split has no window of {e.window_s:g} s")
        rows.append({
            "id": e.id, "stream": e.stream, "role": e.role, "rate_hz": rate,
            "window_s": e.window_s, "patch_s": e.patch_s, "weight": e.weight,
            "subjects": {k: c["subjects"] for k, c in counts.items()},
            "hours": {k: c["rows"] / rate / 3600.0 for k, c in counts.items()},
            "windows": {k: c["windows"] for k, c in counts.items()},
            "hours_total": sum(c["rows"] for c in counts.values()) / rate / 3600.0,
            "windows_total": sum(c["windows"] for c in counts.values()),
            "labels": len(kept), "label_ids": kept, "drop_labels": list(e.drop_labels),
            "channels": len(e.channels), "channel_names": list(e.channels),
            "problems": problems,
        })
    return rows


def render(rows: list[dict]) -> str:
    """The check rows as a plain-text table."""
    def split_str(d: dict, fmt: str = "{}") -> str:
        return "/".join(fmt.format(d.get(k, 0)) if k in d else "-" for k in SPLITS)

    head = ["dataset", "stream", "role", "subjects tr/va/te", "hours", "windows tr/va/te", "window/patch s",
            "labels", "channels", "weight"]
    body = [[r["id"], r["stream"], r["role"], split_str(r["subjects"]), f"{r['hours_total']:.2f}",
             split_str(r["windows"]), f"{r['window_s']:g}/{r['patch_s']:g}", str(r["labels"]), str(r["channels"]),
             f"{r['weight']:g}" if r["role"] == "pretrain" else "-"] for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
