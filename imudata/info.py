"""What ``imudata info`` and ``imudata list`` show: from the registry, and from dataset.json once converted."""
from __future__ import annotations

import os
from typing import Any

from . import registry
from .format import DatasetCard
from .layout import layout_text
from .physics import describe
from .paths import DatasetPaths, resolve_root


def status(spec: registry.DatasetSpec, root: str | os.PathLike[str] | None) -> tuple[str, DatasetCard | None]:
    """('converted' | 'downloaded' | 'not downloaded', card if converted)."""
    paths = DatasetPaths(resolve_root(root), spec.id)
    if paths.card.exists():
        from .api import read_card  # a damaged card is a SchemaError naming the file

        return "converted", read_card(paths.card)
    if paths.extracted.exists() and any(paths.extracted.iterdir()):
        return "downloaded", None
    return "not downloaded", None


def summary(spec: registry.DatasetSpec, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """A JSON-ready description of a dataset; converted figures where available."""
    state, card = status(spec, root)
    c = card or spec.card
    out = c.to_dict()
    out["status"] = state
    out["original_layout"] = layout_text(spec)
    out["physics_check"] = describe(spec.card)
    out["aliases"] = list(spec.aliases)
    out["download"] = [{"file": s.filename, "urls": s.urls, "sha256": s.sha256, "manual": s.manual is not None}
                       for s in spec.sources]
    if card is not None:
        rows: dict[str, int] = {}
        for sh in card.shards:
            rows[sh["stream"]] = rows.get(sh["stream"], 0) + sh["rows"]
        out["rows"] = rows
        out["hours"] = {s.name: rows.get(s.name, 0) / s.rate_hz / 3600 for s in card.streams}
    else:
        out["hours_full_release"] = spec.hours
        out["subjects_full_release"] = spec.n_subjects
    return out


def render(info: dict[str, Any]) -> str:
    """Human-readable text for ``imudata info``."""
    lines = [f"{info['id']}: {info['title']}", f"  status:   {info['status']}",
             f"  homepage: {info['homepage']}", f"  licence:  {info['license']}", f"  citation: {info['citation']}"]
    if info.get("description"):
        lines.append(f"  about:    {info['description']}")
    if info["status"] == "converted":
        lines.append(f"  subjects: {len(info['subjects'])} ({', '.join(info['subjects'])})")
        comp = info.get("completeness", {})
        for m in comp.get("missing") or []:
            lines.append(f"  missing:  {m}")
        for n in comp.get("notes") or []:
            lines.append(f"  note:     {n}")
        for n in comp.get("physics") or []:
            lines.append(f"  physics:  {n}")
        orig = comp.get("originals")
        if orig:
            c = orig.get("counts", {})
            lines.append(f"  originals: {', '.join(f'{v} {k}' for k, v in c.items())} (known hashes: {orig.get('source')})")
            for rel in orig.get("differs from the known original") or []:
                lines.append(f"  original: {rel}: differs from the known original")
    else:
        if info.get("subjects_full_release"):
            lines.append(f"  subjects: {info['subjects_full_release']} in the full release")
        if info.get("hours_full_release"):
            lines.append(f"  hours:    about {info['hours_full_release']:g} in the full release")
        if info.get("physics_check"):
            lines.append(f"  physics:  {info['physics_check']}")
    for s in info["streams"]:
        extra = ""
        if "rows" in info:
            r = info["rows"].get(s["name"], 0)
            extra = f", {r:,} rows, {info['hours'][s['name']]:.2f} h"
        lines.append(f"\n  stream {s['name']}: {s['rate_hz']:g} Hz, {len(s['channels'])} channels{extra}")
        w = max(len(c["name"]) for c in s["channels"])
        for c in s["channels"]:
            conv = "" if c["scale"] == 1.0 and not c["offset"] else f" (from {c['source_unit']} x {c['scale']:.9g})"
            lines.append(f"    {c['name']:<{w}}  {c['unit']:<6} {c['description']}{conv}")
    lines.append(f"\n  labels ({len(info['labels'])}):")
    wn = min(max((len(lab["name"]) for lab in info["labels"]), default=0), 40)
    for lab in info["labels"]:
        flag = "  [ignore]" if lab["ignore"] else ""
        lines.append(f"    {lab['id']:>4}  {lab['name']:<{wn}}  {lab['text']}{flag}")
    if info.get("original_layout"):
        lines.append("\n  expected original files:")
        lines += [f"    {x}" if x else "" for x in info["original_layout"].splitlines()]
    if info.get("facts"):
        lines.append("\n  how the facts were established:")
        for k, v in info["facts"].items():
            lines.append(f"    {k}: {v}")
    return "\n".join(lines)
