"""`fetch --from` a copy of another dataset: nothing of it stays under raw/ (issue: a wrong folder left debris,
its hashes in the lock, and `imudata list` said "downloaded")."""
from __future__ import annotations

from pathlib import Path

import pytest

from imudata import registry
from imudata.acquire import fetch
from imudata.errors import FormatError
from imudata.info import status
from imudata.paths import DatasetPaths

from ..fixtures import daphnet as daphnet_fx
from ..fixtures import dsads as dsads_fx
from ..fixtures import hapt as hapt_fx


def _tree(paths: DatasetPaths) -> set[str]:
    return {p.relative_to(paths.raw).as_posix() for p in paths.raw.rglob("*")} if paths.raw.exists() else set()


def test_wrong_folder_into_an_empty_dataset_leaves_nothing(tmp_path: Path, data_root: Path) -> None:
    other = dsads_fx.make(tmp_path / "dsads-copy")
    paths = DatasetPaths(data_root, "daphnet")
    messages: list[str] = []
    with pytest.raises(FormatError, match="is this the right download"):
        fetch("daphnet", data_root, from_path=other, progress=False, log=messages.append)
    assert not paths.lock.exists()
    assert not any(paths.extracted.iterdir()) and not any(paths.downloads.iterdir())
    assert status(registry.get("daphnet"), data_root)[0] == "not downloaded"
    assert any("is not a copy of this dataset; removed the" in m for m in messages)


def test_wrong_folder_beside_a_good_copy_is_undone_and_the_lock_restored(tmp_path: Path, data_root: Path) -> None:
    good = daphnet_fx.make(tmp_path / "daphnet-copy")
    fetch("daphnet", data_root, from_path=good, progress=False, log=lambda m: None)
    paths = DatasetPaths(data_root, "daphnet")
    before_tree, before_lock = _tree(paths), paths.lock.read_bytes()
    other = dsads_fx.make(tmp_path / "dsads-copy")
    with pytest.raises(FormatError, match="is this the right download"):
        fetch("daphnet", data_root, from_path=other, progress=False, log=lambda m: None)
    assert _tree(paths) == before_tree
    assert paths.lock.read_bytes() == before_lock
    assert status(registry.get("daphnet"), data_root)[0] == "downloaded"


def test_wrong_archive_is_undone(tmp_path: Path, data_root: Path) -> None:
    archive = hapt_fx.make_archive(tmp_path / "hapt-src")
    paths = DatasetPaths(data_root, "daphnet")
    with pytest.raises(FormatError, match="is this the right download"):
        fetch("daphnet", data_root, from_path=archive, progress=False, log=lambda m: None)
    assert not paths.lock.exists()
    assert _tree(paths) == {"extracted", "downloads"}
    assert archive.is_file()  # the user's own file is never touched


def test_wrong_archive_beside_a_good_copy_is_undone(tmp_path: Path, data_root: Path) -> None:
    fetch("daphnet", data_root, from_path=daphnet_fx.make(tmp_path / "daphnet-copy"), progress=False,
          log=lambda m: None)
    paths = DatasetPaths(data_root, "daphnet")
    before_tree, before_lock = _tree(paths), paths.lock.read_bytes()
    with pytest.raises(FormatError, match="right download"):
        fetch("daphnet", data_root, from_path=dsads_fx.make_archive(tmp_path / "dsads-src"), progress=False,
              log=lambda m: None)
    assert _tree(paths) == before_tree
    assert paths.lock.read_bytes() == before_lock
