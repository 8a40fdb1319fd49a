"""Render every registered dataset as one markdown page (``docs/datasets.md``), from the registry.

The page is generated so it cannot drift from the code: a test checks it is up to date.
Regenerate with ``python -m imudata.cards > docs/datasets.md``.
"""
from __future__ import annotations

from . import originals, physics, registry
from .layout import layout_text


def render_all() -> str:
    out = ["# Datasets", "",
           "Generated from the registry by `python -m imudata.cards > docs/datasets.md`; "
           "`imudata info NAME` shows the same facts, and the converted figures once converted.", "",
           "| id | title | streams | channels | labels | subjects | download |", "|---|---|---|---|---|---|---|"]
    for spec in registry.specs():
        c = spec.card
        streams = ", ".join(f"{s.name} {s.rate_hz:g} Hz" for s in c.streams)
        nch = sum(len(s.channels) for s in c.streams)
        manual = "manual" if any(s.manual for s in spec.sources) else "automatic"
        out.append(f"| `{c.id}` | {c.title} | {streams} | {nch} | {len(c.labels)} | {spec.n_subjects or '?'} | {manual} |")
    for spec in registry.specs():
        c = spec.card
        out += ["", f"## {c.id}: {c.title}", ""]
        if c.description:
            out += [c.description, ""]
        aliases = f" (aliases: {', '.join(spec.aliases)})" if spec.aliases else ""
        out += [f"- id: `{c.id}`{aliases}", f"- homepage: {c.homepage}", f"- licence: {c.license}",
                f"- citation: {c.citation}"]
        for s in spec.sources:
            how = "manual download" if s.manual else ", ".join(s.urls[:1])
            pin = f", sha256 pinned `{s.sha256[:12]}…`" if s.sha256 else ", sha256 recorded at first download"
            out.append(f"- source `{s.filename}`: {how}{pin}")
        known = originals.known(c.id)
        if known:
            out.append(f"- known originals: sha256 and size of {len(known.entries)} release files, from {known.source}; "
                       "`fetch` and `verify` say per file whether a copy matches them, and dataset.json records which")
        else:
            out.append("- known originals: none (no published checksums of the release's files); every file is "
                       "reported as 'no known hash'")
        out.append(f"- physics line: {physics.describe(c)}")
        if c.facts:
            out += ["", "How each fact was established:", ""]
            out += [f"- **{k}**: {v}" for k, v in c.facts.items()]
        text = layout_text(spec)
        if text:
            out += ["", "Expected original files (`imudata info` shows the same):", "", "```text", text, "```"]
        for st in c.streams:
            out += ["", f"Stream `{st.name}`, {st.rate_hz:g} Hz:", "", "| channel | unit | from | scale | description |",
                    "|---|---|---|---|---|"]
            for ch in st.channels:
                out.append(f"| `{ch.name}` | {ch.unit} | {ch.source_unit} | {ch.scale:.9g} | {ch.description} |")
        out += ["", "Labels: " + "; ".join(f"{lab.id} {lab.text}{' (ignored)' if lab.ignore else ''}" for lab in c.labels)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render_all(), end="")
