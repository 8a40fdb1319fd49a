"""kill -9 at every named point of a conversion's publication: readers always see a whole dataset,
and a plain re-run (no --force) repairs every state, leaving no .work and no unlisted file."""
from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from imudata.api import read_card
from imudata.convert import convert
from imudata.verify import verify

from ..fixtures import hapt as fx
from ._tools import assert_readable, files_under, place_originals, run_cli

KILLED = -signal.SIGKILL


def _rerun(root: Path) -> tuple[list[str], object]:
    said: list[str] = []
    card = convert("hapt", root, progress=False, log=said.append)
    return said, card


def _assert_clean(root: Path) -> None:
    assert verify("hapt", root) == []  # hashes, schemas, and no file that dataset.json does not list
    assert not (root / "hapt" / ".work").exists()
    assert not (root / "hapt" / "parquet.new").exists() and not (root / "hapt" / "parquet.old").exists()


@pytest.mark.parametrize("point, card_after_kill", [
    ("convert:subject-done", False),    # killed while subjects convert (after the first one)
    ("finalize:first-shard", False),    # killed after publishing one shard
    ("finalize:after-shards", False),   # every shard published, card not written
    ("finalize:after-card", True),      # card written, old files and .work not removed
])
def test_first_conversion_killed(tmp_path: Path, point: str, card_after_kill: bool) -> None:
    root = tmp_path / "home"
    place_originals(root, "hapt", fx)
    res = run_cli("convert", "hapt", "--root", str(root), "-q", fault=point)
    assert res.returncode == KILLED, res.stderr
    assert (root / "hapt" / "dataset.json").exists() == card_after_kill
    rows = assert_readable(root, "hapt")
    said, card = _rerun(root)
    if point.startswith("finalize:") and not card_after_kill:
        # the staged subjects were kept: publication is redone without converting anything again
        assert any("resuming, 3 of 3 subjects already converted" in m for m in said), said
    if card_after_kill:
        assert any("up to date" in m for m in said), said
    _assert_clean(root)
    assert card.subjects == ["1", "2", "3"]
    assert assert_readable(root, "hapt") == (rows or sum(n for _e, _u, n in fx.EXPERIMENTS))


@pytest.mark.parametrize("point", ["finalize:first-shard", "finalize:after-shards", "finalize:after-card",
                                   "finalize:after-gc"])
def test_replacing_a_conversion_killed(tmp_path: Path, point: str) -> None:
    """A new conversion (user 3's files removed) killed while it replaces the old one."""
    root = tmp_path / "home"
    tree = place_originals(root, "hapt", fx)
    old = convert("hapt", root, progress=False, log=lambda m: None)
    old_text = (root / "hapt" / "dataset.json").read_text()
    for f in (tree / "RawData").glob("*_user03.txt"):
        f.unlink()
    res = run_cli("convert", "hapt", "--root", str(root), "-q", fault=point)
    assert res.returncode == KILLED, res.stderr
    now = (root / "hapt" / "dataset.json").read_text()
    if point in ("finalize:first-shard", "finalize:after-shards"):
        assert now == old_text  # the old card, and (checked next) every one of its shards, untouched
    else:
        assert read_card(root / "hapt" / "dataset.json").subjects == ["1", "2"]
    assert assert_readable(root, "hapt") is not None
    said, card = _rerun(root)
    _assert_clean(root)
    assert card.subjects == ["1", "2"] and old.subjects == ["1", "2", "3"]
    assert assert_readable(root, "hapt") == sum(n for _e, u, n in fx.EXPERIMENTS if u != 3)
    listed = sorted(sh["path"].removeprefix("parquet/") for sh in card.shards)
    assert files_under(root / "hapt" / "parquet") == listed


def test_staged_shard_lost_after_kill(tmp_path: Path) -> None:
    """A done-record whose staged shard vanished (the state the old publication left) is converted again."""
    root = tmp_path / "home"
    place_originals(root, "hapt", fx)
    res = run_cli("convert", "hapt", "--root", str(root), "-q", "-j", "1", fault="finalize:after-shards")
    assert res.returncode == KILLED, res.stderr
    staged = sorted((root / "hapt" / ".work").rglob("imu/*.parquet"))
    assert len(staged) == 3
    staged[0].unlink()
    said, card = _rerun(root)
    assert any("are gone; it is converted again" in m for m in said), said
    assert any("resuming, 2 of 3 subjects" in m for m in said), said
    _assert_clean(root)
    assert card.subjects == ["1", "2", "3"]


def test_legacy_leftovers_removed(tmp_path: Path) -> None:
    """parquet.new/ and parquet.old/ left by the earlier publication scheme are removed by a re-run."""
    root = tmp_path / "home"
    place_originals(root, "hapt", fx)
    convert("hapt", root, progress=False, log=lambda m: None)
    for name in ("parquet.new", "parquet.old"):
        shutil.copytree(root / "hapt" / "parquet", root / "hapt" / name)
    said, _card = _rerun(root)
    assert any("up to date" in m for m in said)
    _assert_clean(root)


@pytest.mark.parametrize("point, has_bands", [("derive:after-shards", False), ("derive:after-card", True)])
def test_band_derivation_killed(tmp_path: Path, point: str, has_bands: bool) -> None:
    """Derived streams are published the same way: kill -9 before or after their card."""
    from imudata.derive import derive_bands

    root = tmp_path / "home"
    place_originals(root, "hapt", fx)
    convert("hapt", root, progress=False, log=lambda m: None)
    res = run_cli("bands", "hapt", "--root", str(root), "-q", fault=point)
    assert res.returncode == KILLED, res.stderr
    card = read_card(root / "hapt" / "dataset.json")
    assert ("imu_bands" in [s.name for s in card.streams]) == has_bands
    assert assert_readable(root, "hapt") is not None
    derive_bands("hapt", root, progress=False, log=lambda m: None)  # a plain re-run
    assert verify("hapt", root) == []
    card = read_card(root / "hapt" / "dataset.json")
    assert files_under(root / "hapt" / "parquet") == sorted(sh["path"].removeprefix("parquet/") for sh in card.shards)
