"""The dataset card for generic tools: ``README.md`` beside the shards, and Hugging Face features.

``README.md`` carries YAML front matter in the Hugging Face dataset-card layout (one ``configs:``
entry per stream whose ``data_files`` are globs over the stream's shards, ``dataset_info`` with
each stream's ``features``, ``label`` as a ``ClassLabel`` with the dataset's label names), so
``datasets.load_dataset("<root>/<dataset>")`` works offline on the folder as a whole. Its body is
the card for people: columns with units, labels, licence and citation. It is a pure function of
``dataset.json`` and is written with it at every publication (``api.write_card``); the globs match
every tagged shard name, so it never names a file that garbage collection removes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .format import FIXED_FIELDS, DatasetCard, Stream
from .paths import write_atomic

README_NAME = "README.md"


def label_names(card: DatasetCard) -> list[str] | None:
    """Names indexed by label id (ids 0..max, a gap named ``unused_<id>``), or None when an id is negative.

    Hugging Face's ClassLabel needs names for every id from 0 to the largest; the stored ids are
    the dataset's own, so gaps are filled rather than the ids renumbered.
    """
    ids = [lab.id for lab in card.labels]
    if not ids or min(ids) < 0:
        return None
    by_id = {lab.id: lab.name for lab in card.labels}
    return [by_id.get(i, f"unused_{i}") for i in range(max(ids) + 1)]


def hf_features(card: DatasetCard, stream: Stream) -> dict[str, Any]:
    """The stream's columns as Hugging Face ``Features.to_dict()`` JSON (``_type`` Value / ClassLabel)."""
    feats: dict[str, Any] = {"subject": {"dtype": "string", "_type": "Value"},
                             "session": {"dtype": "string", "_type": "Value"},
                             "t": {"dtype": "float64", "_type": "Value"}}
    for ch in stream.channels:
        feats[ch.name] = {"dtype": "float32", "_type": "Value"}
    names = label_names(card)
    feats["label"] = {"names": names, "_type": "ClassLabel"} if names else {"dtype": "int16", "_type": "Value"}
    return feats


def _yaml_features(card: DatasetCard, stream: Stream) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, f in hf_features(card, stream).items():
        if f["_type"] == "ClassLabel":
            out.append({"name": name, "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(f["names"])}}}})
        else:
            out.append({"name": name, "dtype": f["dtype"]})
    return out


def stream_glob(stream: str) -> str:
    """The data_files glob of one stream: every tagged shard name, never a hidden temporary file."""
    return f"parquet/{stream}/part-*.parquet"


def front_matter(card: DatasetCard) -> dict[str, Any]:
    """The YAML header: pretty name, one config per stream that has shards (the first is the default)."""
    with_shards = [s for s in card.streams if any(sh["stream"] == s.name for sh in card.shards)]
    configs, infos = [], []
    for i, s in enumerate(with_shards):
        cfg: dict[str, Any] = {"config_name": s.name,
                               "data_files": [{"split": "train", "path": stream_glob(s.name)}]}
        if i == 0:
            cfg["default"] = True
        configs.append(cfg)
        infos.append({"config_name": s.name, "features": _yaml_features(card, s)})
    return {"pretty_name": card.title, "tags": ["imu", "wearable", "human-activity-recognition", "time-series"],
            "configs": configs, "dataset_info": infos}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def readme_text(card: DatasetCard) -> str:
    """The whole README.md: YAML front matter, then the card in Markdown."""
    head = yaml.safe_dump(front_matter(card), sort_keys=False, allow_unicode=True, width=1000)
    rows_by_stream: dict[str, int] = {}
    for sh in card.shards:
        rows_by_stream[sh["stream"]] = rows_by_stream.get(sh["stream"], 0) + sh["rows"]
    lines = [f"---\n{head}---", "", f"# {card.title}", ""]
    if card.description:
        lines += [card.description, ""]
    lines += [f"- Dataset id: `{card.id}` (imudata format {card.format_version}; the full card is `dataset.json`)",
              f"- Homepage: {card.homepage}", f"- Licence: {card.license}",
              f"- Subjects: {len(card.subjects)}", ""]
    lines += ["Every row is one sample: `subject`, `session`, `t` (seconds from the session's first sample), one "
              "float32 column per channel in SI units, and `label` (the dataset's own label id, null where "
              "unlabelled). Each Parquet column also carries its unit and description as field metadata, and "
              "the file-level key `imudata.columns` holds the same as JSON.", ""]
    for s in card.streams:
        rows = rows_by_stream.get(s.name, 0)
        lines += [f"## Stream `{s.name}` ({s.rate_hz:g} Hz, {rows:,} rows, {rows / s.rate_hz / 3600:.2f} h)", ""]
        if s.description:
            lines += [s.description, ""]
        lines += [f"Files: `{stream_glob(s.name)}`", "", "| column | unit | description | stored = original × scale |",
                  "|---|---|---|---|"]
        for name in ("subject", "session", "t"):
            lines.append(f"| `{name}` | {FIXED_FIELDS[name]['unit']} | {_cell(FIXED_FIELDS[name]['description'])} | |")
        for ch in s.channels:
            conv = "" if ch.scale == 1.0 and not ch.offset else f"{ch.source_unit} × {ch.scale:.9g}"
            if ch.offset:
                conv += f" + {ch.offset:g}"
            lines.append(f"| `{ch.name}` | {ch.unit} | {_cell(ch.description)} | {conv} |")
        lines += [f"| `label` | | {_cell(FIXED_FIELDS['label']['description'])} | |", ""]
    lines += ["## Labels", "", "| id | name | text | ignore |", "|---|---|---|---|"]
    lines += [f"| {lab.id} | {_cell(lab.name)} | {_cell(lab.text)} | {'yes' if lab.ignore else ''} |"
              for lab in card.labels]
    lines += ["", "## Citation", "", "```", card.citation, "```", ""]
    return "\n".join(lines)


def readme_path(base: Path) -> Path:
    return base / README_NAME


def write_readme(base: Path, card: DatasetCard) -> Path:
    """Write ``README.md`` in the dataset folder atomically (temporary name, then rename)."""
    path = readme_path(base)
    return write_atomic(path, lambda tmp: tmp.write_text(readme_text(card), encoding="utf-8"))


def readme_current(base: Path, card: DatasetCard) -> bool:
    """True when ``README.md`` exists and says what the card says."""
    path = readme_path(base)
    try:
        return path.read_text(encoding="utf-8") == readme_text(card)
    except (OSError, UnicodeDecodeError):
        return False
