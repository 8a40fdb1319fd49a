"""Every registered dataset is complete: card, sources, fixture, test, docs row; cards are valid."""
from __future__ import annotations

from pathlib import Path

import pytest

from imudata import registry
from imudata.cards import render_all
from imudata.format import SENSOR_UNITS, validate_card

REPO = Path(__file__).resolve().parents[1]
SPECS = list(registry.specs())


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_spec_is_complete(spec: registry.DatasetSpec) -> None:
    c = spec.card
    validate_card(c)
    assert c.title and c.homepage.startswith("http") and c.license and c.citation
    assert c.facts, "the card must say how its facts (units, rate, labels) were established"
    assert spec.sources and all(s.urls or s.manual for s in spec.sources)
    assert all(lab.text and lab.text == lab.text.strip() for lab in c.labels)
    for st in c.streams:
        for ch in st.channels:
            assert ch.description, ch.name
            assert ch.unit in (SENSOR_UNITS.get(ch.sensor, ch.unit), "a.u."), ch.name
            assert ch.scale != 0 and abs(ch.scale) < 1e6, ch.name  # negative only for a documented sign convention
    assert (REPO / "tests" / "fixtures" / f"{spec.id}.py").exists(), "every dataset ships a fixture generator"
    assert (REPO / "tests" / f"test_dataset_{spec.id}.py").exists(), "every dataset has a converter test"


def test_lookup_by_alias_and_case() -> None:
    assert registry.get("HAPT").id == "hapt"
    with pytest.raises(Exception, match="known:"):
        registry.get("no-such-dataset")


def test_datasets_doc_is_up_to_date() -> None:
    doc = (REPO / "docs" / "datasets.md").read_text()
    assert doc == render_all(), "docs/datasets.md is stale: run `python -m imudata.cards > docs/datasets.md`"


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_info_works_before_download(spec: registry.DatasetSpec, data_root: Path) -> None:
    from imudata.info import render, summary

    info = summary(spec, data_root)
    assert info["status"] == "not downloaded"
    text = render(info)
    assert spec.card.title in text and spec.card.license in text
    for st in spec.card.streams:
        for ch in st.channels:
            assert ch.name in text
