"""The canonical label vocabulary: coverage of every registered dataset, groups, errors, the CLI."""
from __future__ import annotations

import re
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from imudata import registry
from imudata import vocabulary as voc
from imudata.cli import app
from imudata.errors import ImudataError

SPECS = list(registry.specs())
#: Every dataset id the project converts (modules may arrive later; the table must be ready).
PROJECT_DATASETS = ["pamap2", "ucihar", "wesad", "hapt", "dsads", "uschad", "hhar", "mhealth", "wisdm11", "wisdm19",
                    "unimib", "kuhar", "recgym", "motionsense", "realworld", "shoaib", "opportunity", "daphnet",
                    "harth", "capture24"]


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_every_label_of_every_registered_dataset_maps(spec: registry.DatasetSpec) -> None:
    rows = voc.table(spec.id)  # raises UnknownLabel listing every unmapped label
    assert [r.id for r in rows] == [lab.id for lab in spec.card.labels]
    m = voc.mapping(spec.id)
    for lab in spec.card.labels:
        c = voc.canonical(spec.id, lab.id)
        assert m[lab.id] == c
        assert voc.canonical(spec.id, lab.name) == c  # by the dataset's own name too
        assert c.text and c.group and c.coarse


def test_table_covers_every_project_dataset() -> None:
    missing = [d for d in PROJECT_DATASETS if d not in voc.datasets()]
    assert not missing


def test_canonical_labels_are_well_formed_and_texts_unambiguous() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for c in voc.vocabulary(activities_only=False):
        assert re.fullmatch(r"[a-z][a-z0-9_]*", c.name), c.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", c.group), c.group
        assert isinstance(c.synonyms, tuple) and c.text not in c.synonyms
        for t in (c.name.replace("_", " "), *c.texts):
            owners[voc._norm(t)].add(c.name)
    clashes = {t: n for t, n in owners.items() if len(n) > 1}
    assert not clashes, f"a text or synonym names two canonical labels: {clashes}"


def test_hapt_transitions_have_their_own_labels_and_groups() -> None:
    m = voc.mapping("hapt")
    statics = {m[i].name for i in range(1, 7)}
    for i in range(7, 13):
        assert m[i].name not in statics
        assert m[i].group.startswith("transition_to_") and m[i].coarse == "transition"
    assert m[7].text == "sitting down from standing"
    # lie_to_sit ends sitting (the public benchmark filed it under standing up)
    assert m[10].group == "transition_to_sitting"
    assert m[2].group == voc.get("walking_upstairs").group == "ascending_stairs"


def test_groups_match_across_datasets() -> None:
    assert voc.same_group(voc.canonical("dsads", 5), voc.canonical("hapt", 2))      # ascending stairs
    assert voc.same_group(voc.canonical("motionsense", "jog"), voc.canonical("pamap2", 5))  # jogging ~ running
    assert not voc.same_group(voc.canonical("hapt", 4), voc.canonical("hapt", 7))   # sitting vs sitting down
    assert voc.canonical("hhar", "stairsup").name == "walking_upstairs"
    assert voc.canonical("shoaib", "upsatirs").name == "walking_upstairs"  # the release's misspelling
    assert voc.canonical("wisdm19", "C").group == "stairs"                 # direction unknown: its own group
    assert voc.get("walking_upstairs").coarse == voc.get("using_stairs").coarse == "stairs"


def test_affective_states_are_not_activities() -> None:
    for i in (1, 2, 3, 4):
        c = voc.canonical("wesad", i)
        assert c.group == "affective_state" and not c.activity
    names = {c.name for c in voc.vocabulary()}
    assert "affect_stress" not in names and "null" not in names
    assert "affect_stress" in {c.name for c in voc.vocabulary(activities_only=False)}
    assert "affective_state" not in voc.groups()


def test_vocabulary_and_groups_restricted_to_datasets() -> None:
    sub = voc.vocabulary(["hapt", "dsads"])
    assert {c.name for c in sub} == {c.name for d in ("hapt", "dsads") for c in voc.mapping(d).values()}
    g = voc.groups(["hapt"])
    assert set(g) == {c.group for c in voc.mapping("hapt").values()}
    assert all(c.group == name for name, cs in voc.groups().items() for c in cs)


def test_lookup_by_text_and_synonym() -> None:
    assert voc.lookup("going up stairs").name == "walking_upstairs"
    assert voc.lookup("Walking Upstairs").name == "walking_upstairs"
    assert voc.lookup("lying down").name == "lying"
    with pytest.raises(voc.UnknownLabel):
        voc.lookup("juggling chainsaws")


def test_unknown_dataset_and_label_raise_naming_them() -> None:
    with pytest.raises(voc.UnknownLabel, match="nosuchset"):
        voc.canonical("nosuchset", 1)
    with pytest.raises(voc.UnknownLabel, match=r"hapt: label id 99"):
        voc.canonical("hapt", 99)
    with pytest.raises(voc.UnknownLabel, match=r"hapt: label 'FLYING'"):
        voc.canonical("hapt", "FLYING")
    assert issubclass(voc.UnknownLabel, ImudataError)


def test_unregistered_dataset_uses_release_ids_or_names() -> None:
    # works whether or not the converter module exists yet
    assert voc.canonical("harth", "shuffling").name == "shuffling"
    assert voc.canonical("uschad", "Elevator Up").group == "elevator"
    assert voc.canonical("capture24", "sleep").name == "sleeping"


def test_cli_labels() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["labels", "hapt"])
    assert res.exit_code == 0, res.output
    assert re.search(r"7\s+STAND_TO_SIT\s+-> stand_to_sit\s+\[transition_to_sitting\]", res.output)
    res = runner.invoke(app, ["labels"])
    assert res.exit_code == 0, res.output
    assert "ascending_stairs" in res.output and "walking upstairs" in res.output
    res = runner.invoke(app, ["labels", "wesad", "--json"])
    assert res.exit_code == 0 and '"affective_state"' in res.output
