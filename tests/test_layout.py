"""Partial copies: the root of an original tree is found by any file the converter reads, not one marker."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imudata import registry
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.errors import FormatError
from imudata.layout import find_root, layout_text
from tests.conftest import realdata
from tests.fixtures import daphnet as fx_daphnet
from tests.fixtures import dsads as fx_dsads
from tests.fixtures import kuhar as fx_kuhar
from tests.fixtures import mhealth as fx_mhealth

QUIET = {"progress": False, "log": lambda m: None}


def _drop(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()


@pytest.mark.parametrize("name, make, drop, subjects", [
    ("daphnet", fx_daphnet.make, ["dataset/S01R01.txt", "dataset/S01R02.txt"], ["S02", "S03"]),
    ("kuhar", fx_kuhar.make, ["0.Stand"], None),
    ("dsads", fx_dsads.make, ["data/a01"], ["1", "2"]),
    ("mhealth", fx_mhealth.make, ["mHealth_subject1.log"], None),
])
def test_partial_copy_without_the_marker(tmp_path: Path, data_root: Path, name, make, drop, subjects):
    """A copy of some recordings only, lacking the marker path, is fetched and converted."""
    root = make(tmp_path / "src")
    spec = registry.get(name)
    _drop(root, *drop)
    assert not (root / spec.marker).exists()
    nested = tmp_path / "download" / "deep"
    shutil.move(str(root), nested / root.name)
    fetch(name, data_root, from_path=tmp_path / "download", **QUIET)
    card = convert(name, data_root, **QUIET)
    assert card.shards
    if subjects is not None:
        assert card.subjects == subjects


def test_root_is_the_layout_root(tmp_path: Path):
    """The folder above the matched path, however deep the copy nests it."""
    root = fx_dsads.make(tmp_path / "a" / "b")
    _drop(root, "data/a01")
    assert find_root(tmp_path, registry.get("dsads")) == root


def test_other_dataset_is_still_refused(tmp_path: Path, data_root: Path):
    """A DSADS folder handed to Daphnet matches none of Daphnet's patterns: the clear refusal stays."""
    root = fx_dsads.make(tmp_path / "src")
    with pytest.raises(FormatError, match=r"daphnet: the original files contain neither 'dataset/S01R02.txt'.*"
                                          r"nor any file the converter reads; is this the right download\?.*"
                                          r"dataset/S\[0-9\]\[0-9\]R\[0-9\]\[0-9\]\.txt"):
        fetch("daphnet", data_root, from_path=root, **QUIET)


def test_real_daphnet_without_s01r02(tmp_path: Path, data_root: Path):
    """The real recordings S03R02 and S06R02 alone (no S01R02.txt, the marker)."""
    src = realdata("daphnet")
    copy = tmp_path / "mine" / "dataset"
    copy.mkdir(parents=True)
    for run in ("S03R02", "S06R02"):
        shutil.copyfile(src / "dataset" / f"{run}.txt", copy / f"{run}.txt")
    fetch("daphnet", data_root, from_path=tmp_path / "mine", **QUIET)
    card = convert("daphnet", data_root, **QUIET)
    assert card.subjects == ["S03", "S06"]


def test_real_kuhar_without_stand(tmp_path: Path, data_root: Path):
    """The real raw KU-HAR walking recordings alone (no 0.Stand folder, the marker)."""
    src = realdata("kuhar") / "1.Raw_time_domian_data"
    dest = tmp_path / "1.Raw_time_domian_data"
    shutil.copytree(src / "11.Walk", dest / "11.Walk")
    fetch("kuhar", data_root, from_path=dest, **QUIET)
    card = convert("kuhar", data_root, **QUIET)
    assert card.subjects == sorted({p.name.split("_")[0] for p in (src / "11.Walk").glob("*.csv")}, key=int)


def test_every_dataset_declares_its_layout():
    for spec in registry.specs():
        assert spec.layout, spec.id
        text = layout_text(spec)
        assert text.startswith("Original layout"), spec.id
        assert "Files that locate the release root" in text, spec.id


def test_layout_text_keeps_the_indented_block():
    text = layout_text(registry.get("wisdm19"))
    assert "raw/phone/accel/data_1600_accel_phone.txt" in text
    assert "arff_files/<device>/<sensor>/data_<id>_<sensor>_<device>.arff" in text
    assert "Raw lines are" not in text  # the paragraph after the block is not part of the layout
