"""`imudata report`: the page is checked against the original files (fixture and real HAPT), not against imudata."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from imudata.acquire import fetch
from imudata.convert import convert
from imudata.format import G
from imudata.report import build_report

from .conftest import hapt_users, realdata
from .fixtures import hapt as fx

PNG = b"\x89PNG\r\n\x1a\n"


def tables(md: str) -> dict[str, list[dict[str, str]]]:
    """Every Markdown table of the page, keyed by its first header cell, as lists of row dicts."""
    out: dict[str, list[dict[str, str]]] = {}
    for block in re.findall(r"((?:^\|.*\|\n)+)", md + "\n", re.M):
        lines = [ln.strip().strip("|").split(" | ") for ln in block.strip().splitlines()]
        head = [h.strip() for h in lines[0]]
        out.setdefault(head[0], []).extend(dict(zip(head, (c.strip() for c in row))) for row in lines[2:])
    return out


def truth(raw: Path) -> tuple[dict[tuple[str, str], int], dict[str, int], np.ndarray]:
    """From the original RawData folder: labelled rows per (user, activity name), rows per user, all acc (g)."""
    names = {int(a): n for a, n in (ln.split() for ln in (raw.parent / "activity_labels.txt").read_text().splitlines()
                                    if ln.strip())}
    present: dict[int, tuple[int, int]] = {}
    accs = []
    for f in sorted(raw.glob("acc_exp*_user*.txt")):
        exp, user = map(int, re.findall(r"\d+", f.name))
        acc = np.loadtxt(f, ndmin=2)
        present[exp] = (user, len(acc))
        accs.append(acc)
    labelled: dict[tuple[str, str], int] = {}
    for line in (raw / "labels.txt").read_text().splitlines():
        exp, user, act, s, e = map(int, line.split())
        if exp in present:
            key = (str(user), names[act])
            labelled[key] = labelled.get(key, 0) + (e - s + 1)
    rows: dict[str, int] = {}
    for user, n in present.values():
        rows[str(user)] = rows.get(str(user), 0) + n
    return labelled, rows, np.concatenate(accs)


def check_page(md: str, raw: Path, rate: float = 50.0) -> None:
    labelled, rows, acc = truth(raw)
    unit = re.search(r"Times in (s|min|h)\.", md).group(1)
    div = {"s": 1.0, "min": 60.0, "h": 3600.0}[unit]
    t = tables(md)
    per_subject = {r["subject"]: r for r in t["subject"]}
    assert set(per_subject) == set(rows)
    for subject, n in rows.items():
        assert float(per_subject[subject]["total"]) == pytest.approx(n / rate / div, abs=0.051)
    for (subject, name), n in labelled.items():
        if name in per_subject[subject]:
            assert float(per_subject[subject][name]) == pytest.approx(n / rate / div, abs=0.051), (subject, name)
    by_label: dict[str, int] = {}
    for (_, name), n in labelled.items():
        by_label[name] = by_label.get(name, 0) + n
    label_rows = {r["name"]: r for r in t["id"]}
    for name, n in by_label.items():
        assert float(label_rows[name]["time"]) == pytest.approx(n / rate / div, abs=0.051), name
        subjects = {s for (s, nm) in labelled if nm == name}
        assert int(label_rows[name]["subjects"]) == len(subjects)
    channels = {r["channel"].strip("`"): r for r in t["channel"]}
    for k, a in enumerate("xyz"):
        col = acc[:, k] * G
        row = channels[f"waist_acc_{a}"]
        assert float(row["mean"]) == pytest.approx(col.mean(), rel=1e-3, abs=1e-4)
        assert float(row["min"]) == pytest.approx(col.min(), rel=1e-3) and float(row["max"]) == pytest.approx(col.max(), rel=1e-3)
        assert row["unit"] == "m/s²" and row["missing"] == "0"


def test_report_on_the_fixture(tmp_path: Path, data_root: Path) -> None:
    from typer.testing import CliRunner

    from imudata.cli import app

    fetch("hapt", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    card = convert("hapt", data_root, progress=False)
    res = CliRunner().invoke(app, ["report", "hapt", "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    raw = next((data_root / "hapt" / "raw" / "extracted").rglob("RawData"))
    check_page(md, raw)
    assert card.title in md and card.citation in md and "CC BY 4.0" in md
    for line in card.completeness["physics"]:  # the physics line measured at conversion, word for word
        assert f"- physics: {line}" in md
    assert "missing from this copy: 1 of 7 experiments" in md
    for png in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (tmp_path / "rep" / png).read_bytes()[:8] == PNG
    assert {"subjects.png", "labels.png", "session.png"} <= {p.name for p in (tmp_path / "rep").iterdir()}
    assert not [p for p in (tmp_path / "rep").iterdir() if ".tmp-" in p.name]


def test_report_unknown_session_is_said_not_fatal(tmp_path: Path, data_root: Path) -> None:
    fetch("hapt", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    convert("hapt", data_root, progress=False)
    said: list[str] = []
    path = build_report("hapt", data_root, tmp_path / "r", session="nope", log=said.append)
    assert any("no session figure" in s and "'nope'" in s for s in said)
    assert "session.png" not in path.read_text(encoding="utf-8")


def test_report_on_real_hapt(data_root: Path, tmp_path: Path) -> None:
    src = realdata("hapt")
    fetch("hapt", data_root, from_path=src, progress=False)
    card = convert("hapt", data_root, progress=False)
    path = build_report("hapt", data_root, tmp_path / "rep", figures=False)
    md = path.read_text(encoding="utf-8")
    check_page(md, src / "RawData")
    assert card.subjects == hapt_users(src)
    assert any(line.startswith("imu/waist_acc: |acc| at rest") for line in card.completeness["physics"])
    for line in card.completeness["physics"]:
        assert f"- physics: {line}" in md
