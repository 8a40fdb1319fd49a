"""Damaged or tampered metadata: dataset.json and sources.lock.json give one clear error naming the
file (no traceback); convert re-hashes the raw files instead of trusting the lock; verify reports
files under parquet/ that dataset.json does not list."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.errors import ChecksumMismatch, FormatError, SchemaError
from imudata.verify import verify

from ..fixtures import hapt as fx
from ._tools import cli_in_process, sha256


@pytest.fixture
def fetched(tmp_path: Path) -> Path:
    """hapt fetched from the fixture archive (so sources.lock.json records hapt.zip) and converted."""
    root = tmp_path / "home"
    fetch("hapt", root, from_path=fx.make_archive(tmp_path / "src"), progress=False, log=lambda m: None)
    convert("hapt", root, progress=False, log=lambda m: None)
    return root


def _drop_key(key: str):
    def edit(card: dict) -> dict:
        card.pop(key)
        return card
    return edit


def _shard_edit(key: str, value) -> object:
    def edit(card: dict) -> dict:
        if value is None:
            card["shards"][0].pop(key)
        else:
            card["shards"][0][key] = value
        return card
    return edit


CARD_DAMAGE = {
    "empty": (lambda text: "", "empty file"),
    "invalid-json": (lambda text: text[: len(text) // 2], "not valid JSON"),
    "not-an-object": (lambda text: "[1, 2]", "expected a JSON object"),
    "key-missing": (lambda text: json.dumps(_drop_key("streams")(json.loads(text))), "'streams'"),
    "shard-key-missing": (lambda text: json.dumps(_shard_edit("sha256", None)(json.loads(text))), "'sha256'"),
    "shard-path-escapes": (lambda text: json.dumps(_shard_edit("path", "../../../etc/passwd")(json.loads(text))),
                           "leaves the dataset folder"),
}


@pytest.mark.parametrize("damage", sorted(CARD_DAMAGE))
def test_damaged_card(fetched: Path, damage: str, capsys, monkeypatch) -> None:
    card = fetched / "hapt" / "dataset.json"
    edit, expected = CARD_DAMAGE[damage]
    card.write_text(edit(card.read_text()))
    with pytest.raises(SchemaError) as exc:
        imudata.open("hapt", fetched)
    assert str(card) in str(exc.value) and expected in str(exc.value)
    for args in (["verify", "hapt"], ["bands", "hapt", "-q"], ["info", "hapt"], ["caption", "hapt", "-q"]):
        code, err = cli_in_process([*args, "--root", str(fetched)], capsys, monkeypatch)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (args, err)
        assert lines[0].startswith(f"error: {card}: ") and expected in lines[0]
    # a plain re-run of convert rebuilds the card
    again = convert("hapt", fetched, progress=False, log=lambda m: None)
    assert imudata.open("hapt", fetched).card == again and verify("hapt", fetched) == []


LOCK_DAMAGE = {
    "invalid-json": (lambda d: "{\"version\": 1, \"files\": {", "not valid JSON"),
    "a-list": (lambda d: "[]", "expected {\"version\": 1"),
    "files-missing": (lambda d: json.dumps({"version": 1}), "expected {\"version\": 1"),
    "sha-not-hex": (lambda d: json.dumps({"version": 1, "files": {"hapt.zip": {"sha256": "zz" * 32}}}),
                    "64-hex-digit"),
    "entry-not-object": (lambda d: json.dumps({"version": 1, "files": {"hapt.zip": "abc"}}), "64-hex-digit"),
    "name-escapes": (lambda d: json.dumps({"version": 1, "files": {"../../x": {"sha256": "a" * 64}}}),
                     "leaves the raw folder"),
}


@pytest.mark.parametrize("damage", sorted(LOCK_DAMAGE))
def test_damaged_sources_lock(fetched: Path, damage: str, capsys, monkeypatch) -> None:
    lock = fetched / "hapt" / "raw" / "sources.lock.json"
    edit, expected = LOCK_DAMAGE[damage]
    lock.write_text(edit(json.loads(lock.read_text())))
    for op in (lambda: convert("hapt", fetched, progress=False, force=True, log=lambda m: None),
               lambda: verify("hapt", fetched)):
        with pytest.raises(FormatError) as exc:
            op()
        assert str(lock) in str(exc.value) and expected in str(exc.value)
    code, err = cli_in_process(["convert", "hapt", "--root", str(fetched), "-q"], capsys, monkeypatch)
    assert code == 2 and err.startswith(f"error: {lock}: ") and len(err.strip().splitlines()) == 1


def test_tampered_lock_hash_is_not_copied_into_the_card(fetched: Path) -> None:
    lock = fetched / "hapt" / "raw" / "sources.lock.json"
    archive = fetched / "hapt" / "raw" / "downloads" / "hapt.zip"
    true = sha256(archive)
    data = json.loads(lock.read_text())
    assert data["files"]["hapt.zip"]["sha256"] == true
    data["files"]["hapt.zip"]["sha256"] = "0" * 64
    lock.write_text(json.dumps(data))
    with pytest.raises(ChecksumMismatch) as exc:
        convert("hapt", fetched, progress=False, force=True, log=lambda m: None)
    assert str(archive) in str(exc.value) and true in str(exc.value) and "0" * 64 in str(exc.value)
    assert imudata.open("hapt", fetched).card.sources == {"hapt.zip": true}  # the published card is untouched
    assert any("sha256 differs" in p for p in verify("hapt", fetched))


def test_changed_raw_file_refused(fetched: Path) -> None:
    archive = fetched / "hapt" / "raw" / "downloads" / "hapt.zip"
    with open(archive, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ChecksumMismatch, match="hapt.zip: sha256"):
        convert("hapt", fetched, progress=False, force=True, log=lambda m: None)


def test_verify_reports_stray_shards(fetched: Path) -> None:
    imu = fetched / "hapt" / "parquet" / "imu"
    first = sorted(imu.iterdir())[0]
    shutil.copyfile(first, imu / "part-99999.parquet")
    (fetched / "hapt" / "parquet" / "extra").mkdir()
    (fetched / "hapt" / "parquet" / "extra" / "notes.txt").write_text("x")
    problems = verify("hapt", fetched)
    assert sorted(p.split(" is not listed")[0] for p in problems) == [
        "stray file parquet/extra/notes.txt", "stray file parquet/imu/part-99999.parquet"]
    convert("hapt", fetched, progress=False, log=lambda m: None)  # up to date: removes the strays
    assert verify("hapt", fetched) == []
    assert not (imu / "part-99999.parquet").exists()
