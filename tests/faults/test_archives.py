"""Crafted archives and faults during extraction: decompression bombs (declared and actual, nested,
zip and tar), a file/folder name clash, names too long for any file system, a path too long for this
one, disk full while writing members, and the limits through ``imudata fetch``.

Every refusal must leave the target as it was and no temporary folder behind.
"""
from __future__ import annotations

import errno
import io
import os
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

import imudata.fetch as fetch_mod
from imudata.acquire import fetch
from imudata.errors import ArchiveTooLarge, CorruptArchive, FetchError
from imudata.fetch import ExtractLimits, parse_size, safe_extract

from ..conftest import realdata
from ..fixtures import hapt as fx

MIB = 1 << 20
GIB = 1 << 30


def _deflated_zeros(n_mib: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``n_mib`` MiB of zero bytes, and its CRC-32, without compressing them all:
    after a full flush every 1 MiB block compresses to the same bytes."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zeros = bytes(MIB)
    for _ in range(n_mib):
        crc = zlib.crc32(zeros, crc)
    return block * n_mib + c.flush(), crc


def _raw_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip written byte by byte: (name, deflate data, crc, declared size, method) per member, so the
    declared sizes can be anything."""
    out = io.BytesIO()
    central = io.BytesIO()
    for name, data, crc, size, method in members:
        offset = out.tell()
        raw = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size,
                              len(raw), 0) + raw + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data),
                                  size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    cd = central.getvalue()
    start = out.tell()
    out.write(cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), start, 0))
    path.write_bytes(out.getvalue())
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz(path: Path, members: dict[str, bytes | None]) -> Path:
    """A .tar.gz; ``None`` makes a folder member."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _nothing_left(parent: Path, *keep: str) -> None:
    """Only the named entries remain in ``parent``: no target, no ``.extracting`` folder."""
    assert sorted(p.name for p in parent.iterdir()) == sorted(keep)


# --------------------------------------------------------------------------- decompression bombs

def test_one_mib_zip_of_one_gib_refused_by_default(tmp_path: Path) -> None:
    """B104: a real 1 MiB zip whose member inflates to 1 GiB: refused under the default limits from its
    declared size, before a byte is written."""
    data, crc = _deflated_zeros(1024)
    arc = _raw_zip(tmp_path / "bomb.zip", [("zeros.bin", data, crc, GIB, 8)])
    assert arc.stat().st_size < 1.1 * MIB
    with zipfile.ZipFile(arc) as zf:  # a well-formed archive: the stream does inflate to 1 GiB
        with zf.open("zeros.bin") as f:
            assert f.read(MIB) == bytes(MIB)
    with pytest.raises(ArchiveTooLarge) as info:
        safe_extract(arc, tmp_path / "out")
    msg = str(info.value)
    assert "bomb.zip" in msg and f"declares {GIB:,} bytes" in msg and "--max-expand-ratio" in msg
    _nothing_left(tmp_path, "bomb.zip")


def test_member_larger_than_declared_refused(tmp_path: Path) -> None:
    """B105: the header declares 1 KiB but the stream inflates to 64 MiB: never written past the
    declared size; refused as corrupt and nothing kept."""
    data, crc = _deflated_zeros(64)
    arc = _raw_zip(tmp_path / "liar.zip", [("small.txt", data, crc, 1024, 8)])
    with pytest.raises(CorruptArchive, match="liar.zip"):
        safe_extract(arc, tmp_path / "out")
    _nothing_left(tmp_path, "liar.zip")


def test_configured_ratio_and_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """B106: limits set by argument and by environment variable refuse what the defaults accept."""
    arc = _zip(tmp_path / "text.zip", {"a.csv": b"0,0,0\n" * 400_000})  # 2.4 MB of very repetitive text
    ratio = 2_400_000 / arc.stat().st_size
    assert ratio > 100
    with pytest.raises(ArchiveTooLarge, match="text.zip"):
        safe_extract(arc, tmp_path / "r", limits=ExtractLimits(max_ratio=100, ratio_floor=0))
    with pytest.raises(ArchiveTooLarge, match="text.zip"):
        safe_extract(arc, tmp_path / "b", limits=ExtractLimits(max_bytes=MIB))
    monkeypatch.setenv("IMUDATA_MAX_EXPAND_SIZE", "1M")
    with pytest.raises(ArchiveTooLarge):
        safe_extract(arc, tmp_path / "e")
    _nothing_left(tmp_path, "text.zip")
    monkeypatch.delenv("IMUDATA_MAX_EXPAND_SIZE")
    files = safe_extract(arc, tmp_path / "ok")  # small archives are never refused for their ratio
    assert [f.name for f in files] == ["a.csv"] and files[0].stat().st_size == 2_400_000
    monkeypatch.setenv("IMUDATA_MAX_EXPAND_RATIO", "lots")
    with pytest.raises(FetchError, match="IMUDATA_MAX_EXPAND_RATIO"):
        safe_extract(arc, tmp_path / "bad")


def test_parse_size() -> None:
    assert parse_size("64G") == 64 * GIB and parse_size("500M") == 500 * MIB and parse_size("4096") == 4096
    assert parse_size("1.5KiB") == 1536 and parse_size("2gb") == 2 * GIB
    with pytest.raises(ValueError, match="not a size"):
        parse_size("much")


def test_nested_zip_bomb_counts_every_level(tmp_path: Path) -> None:
    """B107: an outer zip of small zips that each expand within the limit on their own but together
    exceed it: refused, target left as it was."""
    inner = _zip_bytes({"zeros.bin": bytes(3 * MIB)})
    arc = _zip(tmp_path / "nest.zip", {f"part{i}.zip": inner for i in range(8)})
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("earlier")
    with pytest.raises(ArchiveTooLarge, match=r"nest.zip:part\d.zip: declares"):
        safe_extract(arc, target, limits=ExtractLimits(max_bytes=10 * MIB))
    _nothing_left(tmp_path, "nest.zip", "out")
    _nothing_left(target, "keep.txt")


def test_tar_bomb_refused(tmp_path: Path) -> None:
    """B108: a .tar.gz whose members declare more than the limit: refused before extraction."""
    arc = _tgz(tmp_path / "bomb.tar.gz", {"d/zeros.bin": bytes(8 * MIB), "d/ok.txt": b"ok"})
    assert arc.stat().st_size < 100_000
    with pytest.raises(ArchiveTooLarge, match="bomb.tar.gz: declares"):
        safe_extract(arc, tmp_path / "out", limits=ExtractLimits(max_ratio=20, ratio_floor=MIB))
    _nothing_left(tmp_path, "bomb.tar.gz")


def test_real_releases_pass_the_default_limits(tmp_path: Path) -> None:
    """The defaults do not refuse real data: the HAPT fixture release (a zip in a zip) and every
    real WESAD E4 export zip (when the real data is present)."""
    files = safe_extract(fx.make_archive(tmp_path / "src"), tmp_path / "hapt")
    assert any(f.name == "labels.txt" for f in files)
    for e4 in sorted(realdata("wesad").glob("S*/S*_E4_Data.zip")):
        out = tmp_path / e4.stem
        files = safe_extract(e4, out)
        with zipfile.ZipFile(e4) as zf:
            assert sum(f.stat().st_size for f in files) == sum(i.file_size for i in zf.infolist())


# --------------------------------------------------------------------------- names that cannot be written

@pytest.mark.parametrize("kind", ["zip", "tgz"])
def test_file_and_folder_name_clash(tmp_path: Path, kind: str) -> None:
    """B109: 'data' is a file and also the folder of 'data/x.csv': refused naming both, nothing written."""
    members = {"ds/data": b"a file", "ds/data/x.csv": b"1,2\n"}
    arc = _zip(tmp_path / "clash.zip", members) if kind == "zip" else _tgz(tmp_path / "clash.tgz", members)
    with pytest.raises(FetchError) as info:
        safe_extract(arc, tmp_path / "out")
    msg = str(info.value)
    assert arc.name in msg and "'ds/data'" in msg and "'ds/data/x.csv'" in msg and "folder" in msg
    _nothing_left(tmp_path, arc.name)
    # the other order (folder first, then a file of its name) is refused the same way
    arc2 = _tgz(tmp_path / "clash2.tgz", {"ds/data/": None, "ds/data/x.csv": b"1", "ds/data": b"file"})
    with pytest.raises(FetchError, match="needs a folder"):
        safe_extract(arc2, tmp_path / "out")
    _nothing_left(tmp_path, arc.name, "clash2.tgz")


def test_member_name_of_300_characters(tmp_path: Path) -> None:
    """B110: a member whose name is 300 characters: refused up front with the member named."""
    long = "x" * 300 + ".csv"
    arc = _zip(tmp_path / "long.zip", {"ds/ok.csv": b"1", f"ds/{long}": b"2"})
    with pytest.raises(FetchError, match="longer than the 255") as info:
        safe_extract(arc, tmp_path / "out")
    assert "long.zip" in str(info.value) and "xxxxxxxx" in str(info.value)
    _nothing_left(tmp_path, "long.zip")


def test_path_too_long_for_the_file_system(tmp_path: Path) -> None:
    """F117: every name fits but the whole path passes PATH_MAX (20 folders of 250 characters): the
    OS error becomes a FetchError saying so; nothing is left behind."""
    deep = "/".join(f"{i:02d}" + "d" * 248 for i in range(20)) + "/x.csv"
    arc = _zip(tmp_path / "deep.zip", {deep: b"1"})
    with pytest.raises(FetchError, match="too long") as info:
        safe_extract(arc, tmp_path / "out")
    assert "deep.zip" in str(info.value)
    _nothing_left(tmp_path, "deep.zip")


# --------------------------------------------------------------------------- disk full while extracting

def test_disk_full_while_extracting_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F118: ENOSPC while a zip member is written: FetchError naming the member's final path (not the
    temporary folder) and what to do; the partial extraction is removed, the target left as it was."""
    arc = _zip(tmp_path / "data.zip", {"ds/a.csv": b"1" * 100_000, "ds/b.csv": b"2" * 100_000})
    real_open = open
    calls = []

    def fake_open(file, mode="r", *args, **kwargs):  # noqa: ANN001
        if "w" in mode and str(file).endswith("b.csv"):
            calls.append(file)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(fetch_mod, "open", fake_open, raising=False)
    target = tmp_path / "out"
    with pytest.raises(FetchError) as info:
        safe_extract(arc, target)
    msg = str(info.value)
    assert calls and str(target / "ds" / "b.csv") in msg and "No space left on device" in msg
    assert "free space" in msg and ".extracting" not in msg and "\n" not in msg
    _nothing_left(tmp_path, "data.zip")


def test_disk_full_while_extracting_tar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F119: ENOSPC while tarfile writes a member: the same one-line FetchError, nothing left behind."""
    arc = _tgz(tmp_path / "data.tgz", {"ds/a.csv": b"1" * 1000, "ds/b.csv": b"2" * 1000})

    def makefile(self, tarinfo, targetpath):  # noqa: ANN001
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), targetpath)

    monkeypatch.setattr(tarfile.TarFile, "makefile", makefile)
    target = tmp_path / "out"
    with pytest.raises(FetchError, match="No space left on device") as info:
        safe_extract(arc, target)
    assert str(target / "ds" / "a.csv") in str(info.value)
    _nothing_left(tmp_path, "data.tgz")


# --------------------------------------------------------------------------- through fetch and the CLI

def test_bomb_through_fetch_is_not_recorded(tmp_path: Path, data_root: Path) -> None:
    """B111: `imudata fetch hapt --from` a bomb named like the release: refused, nothing extracted,
    nothing recorded in the lock, and the message names the file and the options."""
    data, crc = _deflated_zeros(1024)
    arc = _raw_zip(tmp_path / "hapt.zip", [("HAPT Data Set/RawData/zeros.txt", data, crc, GIB, 8)])
    with pytest.raises(ArchiveTooLarge) as info:
        fetch("hapt", data_root, from_path=arc, progress=False)
    msg = str(info.value)
    assert "hapt.zip" in msg and "--max-expand-size" in msg and "sources.lock.json" in msg
    raw = data_root / "hapt" / "raw"
    assert not (raw / "sources.lock.json").exists()
    assert list((raw / "extracted").iterdir()) == []


def test_cli_limits_options(tmp_path: Path, data_root: Path) -> None:
    """B112: `--max-expand-size` set below the release's size refuses it (exit 2, one line, nothing
    recorded); a malformed value is a one-line error too. (The defaults accepting it: test_real_releases_pass_the_default_limits.)"""
    archive = fx.make_archive(tmp_path / "src")
    env = {**os.environ, "IMUDATA_HOME": str(data_root)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "imudata.cli", "fetch", "hapt", "--from", str(archive),
                               "--no-convert", "-q", *args], capture_output=True, text=True, env=env)

    proc = run("--max-expand-size", "10K")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "hapt.zip" in line and "10,240 allowed" in line
    proc = run("--max-expand-size", "lots")
    assert proc.returncode == 2 and "--max-expand-size" in proc.stderr and "Traceback" not in proc.stderr
    assert not (data_root / "hapt" / "raw" / "sources.lock.json").exists()
