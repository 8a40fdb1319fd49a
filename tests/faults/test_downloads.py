"""Faults injected into downloads and local copies: cut and close-delimited bodies, resumes that do not
add up, HTML sent as 206, files changed on the server between attempts, untrusted .part files, disk
full, an unusable --root, and truncated archives that must never have their hash locked in.

Downloads go to a real HTTP server on 127.0.0.1 (``tests/faults/_http.py``); disk full is an injected
``OSError(ENOSPC)`` at the write that would hit it.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import imudata.fetch as fetch_mod
from imudata.acquire import fetch
from imudata.errors import ChecksumMismatch, CorruptArchive, FetchError
from imudata.fetch import download, fetch_file, sha256_file

from ..fixtures import hapt as fx
from ._http import DATA, FAST, Server, server, write_part  # noqa: F401 (fixture)

DATA_SHA = hashlib.sha256(DATA).hexdigest()
NEW = random.Random(99).randbytes(len(DATA))  # the same file after the host replaced it
NEW_SHA = hashlib.sha256(NEW).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    """Temporary or partial files under ``folder`` (none may survive a failure)."""
    return sorted(p.name for p in folder.rglob("*")
                  if p.name.endswith((".part", ".part.json", ".tmp")) or ".extracting" in p.name)


class _FullDisk(io.RawIOBase):
    """A file that accepts ``room`` bytes, then fails every write with ENOSPC like a full disk."""

    def __init__(self, real: io.BufferedWriter, room: int) -> None:
        self.real, self.room = real, room

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if len(data) > self.room:
            self.real.write(bytes(data)[: self.room])
            self.real.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.real.name)
        self.room -= len(data)
        return self.real.write(data)

    def flush(self) -> None:
        if not self.real.closed:
            self.real.flush()

    def close(self) -> None:
        if not self.closed:
            super().close()
            self.real.close()


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, room: int, suffix: str) -> None:
    """Files that imudata.fetch opens for writing whose names end in ``suffix`` get ``room`` bytes."""
    real_open = open

    def fake_open(file, mode="r", *args, **kwargs):  # noqa: ANN001
        f = real_open(file, mode, *args, **kwargs)
        if any(c in mode for c in "wa") and str(file).endswith(suffix):
            return _FullDisk(f, room)
        return f

    monkeypatch.setattr(fetch_mod, "open", fake_open, raising=False)


# --------------------------------------------------------------------------- bodies that end early

def test_close_delimited_body_cut_short_is_completed(server: Server, tmp_path: Path) -> None:
    """F101: no Content-Length, connection closed halfway: the end is confirmed by a Range request."""
    server.files["/data.bin"] = DATA
    server.no_length.add("/data.bin")
    server.cut_first.add("/data.bin")
    got = fetch_file(server.url("/data.bin"), tmp_path / "data.bin", **FAST)
    assert (tmp_path / "data.bin").read_bytes() == DATA
    assert got.sha256 == DATA_SHA and got.size == len(DATA) and got.size_confirmed
    first, second = server.log("/data.bin")
    assert first.range is None and 0 < first.sent < len(DATA)
    assert second.range == f"bytes={first.sent}-" and second.status == 206
    assert _leftovers(tmp_path) == []


def test_close_delimited_complete_body_is_confirmed(server: Server, tmp_path: Path) -> None:
    """F102: a whole close-delimited body is confirmed by a 416 naming the same total."""
    server.files["/data.bin"] = DATA
    server.no_length.add("/data.bin")
    got = fetch_file(server.url("/data.bin"), tmp_path / "data.bin", **FAST)
    assert got.size_confirmed and got.sha256 == DATA_SHA
    first, second = server.log("/data.bin")
    assert second.range == f"bytes={len(DATA)}-" and second.status == 416


def test_close_delimited_without_ranges_is_unconfirmed(server: Server, tmp_path: Path) -> None:
    """F103: a host that declares no length and ignores Range: the size is reported unconfirmed
    (the caller must prove the file another way) and the body is not downloaded a third time."""
    server.files["/data.bin"] = DATA
    server.no_length.add("/data.bin")
    server.ignore_range.add("/data.bin")
    server.cut_always.add("/data.bin")
    got = fetch_file(server.url("/data.bin"), tmp_path / "data.bin", **FAST)
    assert not got.size_confirmed
    assert got.size == len(DATA) // 2 and (tmp_path / "data.bin").read_bytes() == DATA[: len(DATA) // 2]
    assert len(server.log("/data.bin")) == 2
    # with the size pinned, the short body is refused instead
    with pytest.raises(ChecksumMismatch, match="expected 200000 bytes"):
        fetch_file(server.url("/data.bin"), tmp_path / "pinned.bin", size=len(DATA), **FAST)
    assert _leftovers(tmp_path) == []


def test_close_delimited_restart_is_checked_again(server: Server, tmp_path: Path) -> None:
    """F123: no Content-Length and the file replaced while the end was being checked: the new file is
    downloaded whole and its end checked again, so the result is the new file with its size confirmed."""
    server.files["/data.bin"] = DATA
    server.etag["/data.bin"] = '"v1"'
    server.no_length.add("/data.bin")
    server.ignore_if_range.add("/data.bin")
    server.cut_first.add("/data.bin")
    server.before = _replace_on_second_request("etag")
    got = fetch_file(server.url("/data.bin"), tmp_path / "data.bin", **FAST)
    assert (tmp_path / "data.bin").read_bytes() == NEW and got.sha256 == NEW_SHA and got.size_confirmed
    assert [r.status for r in server.log("/data.bin")] == [200, 206, 200, 416]


def test_resume_short_of_content_range_total(server: Server, tmp_path: Path) -> None:
    """F104: a 206 without Content-Length that stops before the Content-Range total is resumed again."""
    server.files["/data.bin"] = DATA
    server.no_length.add("/data.bin")
    server.cut_first.add("/data.bin")
    dest = tmp_path / "data.bin"
    write_part(dest, DATA[:50_000], server.url("/data.bin"), total=len(DATA))
    assert download(server.url("/data.bin"), dest, **FAST) == DATA_SHA
    assert dest.read_bytes() == DATA
    first, second = server.log("/data.bin")
    assert first.range == "bytes=50000-" and first.status == 206 and first.sent == (len(DATA) - 50_000) // 2
    assert second.range == f"bytes={50_000 + first.sent}-"


def test_resume_with_another_total_restarts(server: Server, tmp_path: Path) -> None:
    """F105: the server's total differs from the one recorded with the .part: start again from zero."""
    server.files["/data.bin"] = DATA
    dest = tmp_path / "data.bin"
    write_part(dest, DATA[:50_000], server.url("/data.bin"), total=len(DATA) + 7)
    assert download(server.url("/data.bin"), dest, **FAST) == DATA_SHA
    first, second = server.log("/data.bin")
    assert first.range == "bytes=50000-" and second.range is None and second.sent == len(DATA)


def test_html_sent_as_206_is_refused(server: Server, tmp_path: Path) -> None:
    """B101: a resume answered by a 206 whose body is a login page: refused, nothing appended."""
    server.files["/data.zip"] = DATA
    server.html_on_range.add("/data.zip")
    dest = tmp_path / "data.zip"
    write_part(dest, DATA[:70_000], server.url("/data.zip"), total=len(DATA))
    with pytest.raises(FetchError, match=r"web page \(HTML\)") as info:
        download(server.url("/data.zip"), dest, **FAST)
    assert not isinstance(info.value, ChecksumMismatch)
    assert [r.status for r in server.requests] == [206]
    assert not dest.exists() and _leftovers(tmp_path) == []


# --------------------------------------------------------------------------- the file changes on the server

def _replace_on_second_request(kind: str):
    def before(state: Server, req, n: int) -> None:  # noqa: ANN001
        if n == 2:
            state.files["/data.bin"] = NEW if kind != "size" else NEW[:-1000]
            if kind == "etag":
                state.etag["/data.bin"] = '"v2"'
            elif kind == "last_modified":
                state.last_modified["/data.bin"] = "Tue, 02 Jun 2026 10:00:00 GMT"
    return before


@pytest.mark.parametrize("honours_if_range", [True, False])
@pytest.mark.parametrize("kind", ["etag", "last_modified"])
def test_file_changed_between_attempts_is_not_spliced(server: Server, tmp_path: Path, kind: str,
                                                      honours_if_range: bool) -> None:
    """F106: the first attempt is cut, then the host replaces the file. The resume carries If-Range;
    a server that honours it sends the new file whole, one that ignores it is caught by the changed
    validator. Either way the result is exactly the new file, never old head + new tail."""
    server.files["/data.bin"] = DATA
    if kind == "etag":
        server.etag["/data.bin"] = '"v1"'
    else:
        server.last_modified["/data.bin"] = "Mon, 01 Jun 2026 10:00:00 GMT"
    server.cut_first.add("/data.bin")
    if not honours_if_range:
        server.ignore_if_range.add("/data.bin")
    server.before = _replace_on_second_request(kind)
    dest = tmp_path / "data.bin"
    assert download(server.url("/data.bin"), dest, **FAST) == NEW_SHA
    assert dest.read_bytes() == NEW
    reqs = server.log("/data.bin")
    assert reqs[1].if_range == ('"v1"' if kind == "etag" else "Mon, 01 Jun 2026 10:00:00 GMT")
    if honours_if_range:
        assert [r.status for r in reqs] == [200, 200]
    else:
        assert [r.status for r in reqs] == [200, 206, 200] and reqs[2].range is None


def test_file_changed_without_validators_is_caught_by_size(server: Server, tmp_path: Path) -> None:
    """F107: no ETag or Last-Modified, but the total changed between attempts: restart from zero."""
    server.files["/data.bin"] = DATA
    server.cut_first.add("/data.bin")
    server.before = _replace_on_second_request("size")
    dest = tmp_path / "data.bin"
    download(server.url("/data.bin"), dest, **FAST)
    assert dest.read_bytes() == NEW[:-1000]
    assert [r.status for r in server.log("/data.bin")] == [200, 206, 200]


def test_part_of_unknown_origin_is_not_trusted(server: Server, tmp_path: Path) -> None:
    """F108: a .part without its record (another tool, an older version) or recorded for another URL
    is discarded: the download starts from zero instead of appending to unknown bytes."""
    server.files["/data.bin"] = DATA
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(NEW[:70_000])
    assert download(server.url("/data.bin"), dest, **FAST) == DATA_SHA
    assert [r.range for r in server.requests] == [None]
    dest.unlink()
    write_part(dest, NEW[:70_000], server.url("/elsewhere/data.bin"), total=len(DATA))
    assert download(server.url("/data.bin"), dest, **FAST) == DATA_SHA
    assert [r.range for r in server.requests] == [None, None]
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------- disk full, unusable root

def test_disk_full_while_downloading_then_resume(server: Server, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """F109: ENOSPC while writing the .part: a FetchError naming the .part and what to do; the bytes
    that fit are kept, and once space is free the next run resumes from them."""
    server.files["/data.bin"] = DATA
    dest = tmp_path / "data.bin"
    _fill_disk_after(monkeypatch, 120_000, ".part")
    with pytest.raises(FetchError) as info:
        download(server.url("/data.bin"), dest, **FAST)
    msg = str(info.value)
    assert str(dest.with_name("data.bin.part")) in msg and "No space left on device" in msg and "free space" in msg
    assert "\n" not in msg and not dest.exists()
    assert dest.with_name("data.bin.part").stat().st_size == 120_000
    monkeypatch.undo()
    assert download(server.url("/data.bin"), dest, **FAST) == DATA_SHA
    assert server.requests[-1].range == "bytes=120000-"
    assert _leftovers(tmp_path) == []


def test_disk_full_copying_from_mirror_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F110: ENOSPC while copying from a local mirror folder: FetchError, the partial copy removed."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "data.bin").write_bytes(DATA)
    dest = tmp_path / "downloads" / "data.bin"
    _fill_disk_after(monkeypatch, 4096, ".part")
    with pytest.raises(FetchError, match="No space left on device") as info:
        download(str(mirror / "data.bin"), dest, progress=False)
    assert "data.bin.part" in str(info.value)
    assert sorted(p.name for p in dest.parent.iterdir()) == []


def _fake_copyfile_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """shutil.copyfile writes half the file, then the disk is full."""
    def copyfile(src, dst, *args, **kwargs):  # noqa: ANN001
        data = Path(src).read_bytes()
        Path(dst).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
    monkeypatch.setattr(shutil, "copyfile", copyfile)


def test_disk_full_copying_from_archive(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F111: ENOSPC while `--from ARCHIVE` is copied into raw/downloads: one-line FetchError naming the
    file, no .tmp left, nothing recorded; with space back the same command works."""
    archive = fx.make_archive(tmp_path / "src")
    _fake_copyfile_full(monkeypatch)
    with pytest.raises(FetchError) as info:
        fetch("hapt", data_root, from_path=archive, progress=False)
    msg = str(info.value)
    downloads = data_root / "hapt" / "raw" / "downloads"
    assert str(downloads / "hapt.zip") in msg and "No space left on device" in msg and "\n" not in msg
    assert _leftovers(data_root) == [] and list(downloads.iterdir()) == []
    assert not (data_root / "hapt" / "raw" / "sources.lock.json").exists()
    monkeypatch.undo()
    fetch("hapt", data_root, from_path=archive, progress=False)
    assert (downloads / "hapt.zip").read_bytes() == archive.read_bytes()


def test_disk_full_copying_from_folder(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F112: ENOSPC while `--from FOLDER` is copied: FetchError naming the file, no .tmp left."""
    tree = fx.make(tmp_path / "src")
    _fake_copyfile_full(monkeypatch)
    with pytest.raises(FetchError, match="No space left on device") as info:
        fetch("hapt", data_root, from_path=tree, progress=False)
    assert str(data_root / "hapt" / "raw" / "extracted") in str(info.value)
    assert _leftovers(data_root) == []


def test_root_that_is_a_file_or_unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """B102: --root names a file, or a folder that cannot be written (injected EACCES: tests run as root):
    a FetchError naming the path and saying to choose a writable --root."""
    a_file = tmp_path / "root.txt"
    a_file.write_text("not a folder")
    with pytest.raises(FetchError, match="choose a writable --root") as info:
        fetch("hapt", a_file, from_path=tmp_path, progress=False)
    assert str(a_file) in str(info.value)

    locked = tmp_path / "locked"
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.is_relative_to(locked):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(FetchError, match="Permission denied") as info:
        fetch("hapt", locked, from_path=tmp_path, progress=False)
    assert str(locked) in str(info.value)


def test_cli_root_is_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    """B103: the same through the command line: exit status 2, one line on stderr, no traceback."""
    a_file = tmp_path / "root.txt"
    a_file.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "imudata.cli", "fetch", "hapt", "--root", str(a_file),
                           "--no-convert", "-q"], capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(a_file) in lines[0]
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- nothing unverified is locked in

def _lock(data_root: Path) -> dict:
    path = data_root / "hapt" / "raw" / "sources.lock.json"
    return json.loads(path.read_text())["files"] if path.exists() else {}


def test_truncated_download_never_enters_the_lock(server: Server, tmp_path: Path, data_root: Path) -> None:
    """F113: a host that cuts hapt.zip short, declares no length and ignores Range. The truncated zip
    fails to extract; it is deleted, its hash is not recorded, and the error names the file and says
    to run again. When the host serves the whole file, running again succeeds (no 'changed since')."""
    archive = fx.make_archive(tmp_path / "src")
    server.files["/hapt.zip"] = archive.read_bytes()
    server.no_length.add("/hapt.zip")
    server.ignore_range.add("/hapt.zip")
    server.cut_always.add("/hapt.zip")
    downloads = data_root / "hapt" / "raw" / "downloads"
    with pytest.raises(CorruptArchive) as info:
        fetch("hapt", data_root, mirror=server.url("/"), progress=False)
    msg = str(info.value)
    assert str(downloads / "hapt.zip") in msg and "was deleted" in msg and "imudata fetch hapt" in msg
    assert _lock(data_root) == {} and list(downloads.iterdir()) == []
    assert _leftovers(data_root) == []

    server.cut_always.clear()
    fetch("hapt", data_root, mirror=server.url("/"), progress=False)
    entry = _lock(data_root)["hapt.zip"]
    assert entry["sha256"] == sha256_file(archive) and entry["size"] == archive.stat().st_size
    assert entry["url"] == server.url("/hapt.zip")


def test_corrupt_from_archive_never_enters_the_lock(tmp_path: Path, data_root: Path) -> None:
    """F114: `--from` a truncated zip: the error names the --from file, nothing is recorded, the user's
    file is left alone; the complete file then works."""
    good = fx.make_archive(tmp_path / "src")
    bad = tmp_path / "dl" / "hapt.zip"
    bad.parent.mkdir()
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CorruptArchive) as info:
        fetch("hapt", data_root, from_path=bad, progress=False)
    assert f"--from {bad}" in str(info.value)
    assert _lock(data_root) == {} and bad.exists()
    assert list((data_root / "hapt" / "raw" / "downloads").iterdir()) == []
    fetch("hapt", data_root, from_path=good, progress=False)
    assert _lock(data_root)["hapt.zip"]["sha256"] == sha256_file(good)


def test_download_damaged_on_disk_advice_works(server: Server, tmp_path: Path, data_root: Path) -> None:
    """F115: after a good fetch the kept download is damaged on disk. The error names exactly that file;
    deleting it and running again downloads it again and passes the recorded hash."""
    archive = fx.make_archive(tmp_path / "src")
    server.files["/hapt.zip"] = archive.read_bytes()
    fetch("hapt", data_root, mirror=server.url("/"), progress=False)
    kept = data_root / "hapt" / "raw" / "downloads" / "hapt.zip"
    damaged = bytearray(kept.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    kept.write_bytes(bytes(damaged))
    with pytest.raises(ChecksumMismatch) as info:
        fetch("hapt", data_root, mirror=server.url("/"), progress=False)
    assert "delete it and run again" in str(info.value) and str(kept) in str(info.value)
    kept.unlink()  # what the message says
    fetch("hapt", data_root, mirror=server.url("/"), progress=False)
    assert kept.read_bytes() == archive.read_bytes()


def test_cli_disk_full_while_downloading_is_one_line_exit_2(server: Server, tmp_path: Path, data_root: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """F116: `imudata fetch` when the disk fills during the download: exit status 2 and one line naming
    the .part and saying to free space; no traceback."""
    import imudata.cli

    server.files["/hapt.zip"] = fx.make_archive(tmp_path / "src").read_bytes()
    _fill_disk_after(monkeypatch, 1000, ".part")
    monkeypatch.setattr(sys, "argv", ["imudata", "fetch", "hapt", "--mirror", server.url("/"), "--root",
                                      str(data_root), "--no-convert", "-q"])
    with pytest.raises(SystemExit) as info:
        imudata.cli.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    part = data_root / "hapt" / "raw" / "downloads" / "hapt.zip.part"
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0] and "Traceback" not in err
    assert str(part) in errors[0] and "No space left on device" in errors[0] and "free space" in errors[0]
    assert len(server.requests) == 1  # a full disk is not a reason to try the next URL
