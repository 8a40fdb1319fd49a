"""Tests of imudata.fetch against a local HTTP server on 127.0.0.1 (no internet needed)."""
from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from imudata.errors import ChecksumMismatch, FetchError, FormatError, UnsafeArchive
from imudata.fetch import (
    SourceLock,
    download,
    find_marker,
    is_html,
    mirror_url,
    safe_extract,
    sha256_file,
)

from .faults._http import DATA, FAST, LOGIN_PAGE, Server, server, write_part  # noqa: F401 (fixture)

DATA_SHA = hashlib.sha256(DATA).hexdigest()


# --------------------------------------------------------------------------- download

def test_plain_download_with_pinned_sha(server: Server, tmp_path: Path) -> None:
    server.files["/d/data.bin"] = DATA
    dest = tmp_path / "sub" / "data.bin"
    digest = download(server.url("/d/data.bin"), dest, sha256=DATA_SHA.upper(), size=len(DATA), **FAST)
    assert digest == DATA_SHA
    assert dest.read_bytes() == DATA
    assert not (tmp_path / "sub" / "data.bin.part").exists()
    assert len(server.requests) == 1 and server.requests[0].range is None


def test_resume_after_cut_connection(server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = DATA
    server.cut_first.add("/data.bin")
    dest = tmp_path / "data.bin"
    assert download(server.url("/data.bin"), dest, sha256=DATA_SHA, **FAST) == DATA_SHA
    assert dest.read_bytes() == DATA
    assert not dest.with_name("data.bin.part").exists()
    first, second = server.log("/data.bin")
    assert first.range is None and 0 < first.sent < len(DATA)
    assert second.range == f"bytes={first.sent}-"
    assert second.sent == len(DATA) - first.sent


def test_existing_part_is_resumed(server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = DATA
    dest = tmp_path / "data.bin"
    write_part(dest, DATA[:70_000], server.url("/data.bin"), total=len(DATA))
    assert download(server.url("/data.bin"), dest, sha256=DATA_SHA, **FAST) == DATA_SHA
    assert dest.read_bytes() == DATA
    [req] = server.requests
    assert req.range == "bytes=70000-"
    assert req.sent == len(DATA) - 70_000


def test_range_ignored_restarts_from_zero(server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = DATA
    server.ignore_range.add("/data.bin")
    dest = tmp_path / "data.bin"
    write_part(dest, b"stale bytes from another version", server.url("/data.bin"))
    assert download(server.url("/data.bin"), dest, sha256=DATA_SHA, **FAST) == DATA_SHA
    assert dest.read_bytes() == DATA
    assert server.requests[0].range is not None and len(server.requests) == 1


def test_complete_part_and_416(server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = DATA
    dest = tmp_path / "data.bin"
    write_part(dest, DATA, server.url("/data.bin"), total=len(DATA))
    assert download(server.url("/data.bin"), dest, sha256=DATA_SHA, **FAST) == DATA_SHA
    assert dest.read_bytes() == DATA
    [req] = server.requests
    assert req.range == f"bytes={len(DATA)}-" and req.sent == 0


def test_html_login_page_is_refused(server: Server, tmp_path: Path) -> None:
    server.html.add("/data.zip")
    dest = tmp_path / "data.zip"
    with pytest.raises(FetchError, match=r"(?i)web page|html") as info:
        download(server.url("/data.zip"), dest, **FAST)
    assert not isinstance(info.value, ChecksumMismatch)
    assert not dest.exists() and not dest.with_name("data.zip.part").exists()
    assert len(server.requests) == 1


def test_html_body_sniffed_without_content_type(server: Server, tmp_path: Path) -> None:
    server.files["/data.zip"] = b"\n  " + LOGIN_PAGE.lower()
    server.content_type["/data.zip"] = "application/zip"
    dest = tmp_path / "data.zip"
    with pytest.raises(FetchError, match=r"(?i)web page"):
        download(server.url("/data.zip"), dest, **FAST)
    assert not dest.exists() and not dest.with_name("data.zip.part").exists()


def test_is_html() -> None:
    assert is_html(b"", "text/html; charset=UTF-8")
    assert is_html(b"\xef\xbb\xbf \r\n<!DocType HTML><html>", "application/octet-stream")
    assert is_html(b"\t<HTML lang=en>", None)
    assert not is_html(b"PK\x03\x04<html>", "application/zip")
    assert not is_html(b"timestamp,acc_x\n", "text/csv")


def test_wrong_checksum(server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = DATA
    dest = tmp_path / "data.bin"
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch) as info:
        download(server.url("/data.bin"), dest, sha256=wrong, **FAST)
    msg = str(info.value)
    assert wrong in msg and DATA_SHA in msg and "data.bin" in msg
    assert not dest.exists() and not dest.with_name("data.bin.part").exists()


def test_wrong_size(server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = DATA
    dest = tmp_path / "data.bin"
    with pytest.raises(ChecksumMismatch, match="bytes"):
        download(server.url("/data.bin"), dest, size=len(DATA) + 1, **FAST)
    assert not dest.exists() and not dest.with_name("data.bin.part").exists()


def test_404_is_not_retried(server: Server, tmp_path: Path) -> None:
    url = server.url("/missing.zip")
    with pytest.raises(FetchError) as info:
        download(url, tmp_path / "missing.zip", retries=5, **FAST)
    assert "404" in str(info.value) and url in str(info.value)
    assert len(server.requests) == 1
    assert not (tmp_path / "missing.zip").exists()


def test_5xx_and_429_are_retried(server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = DATA
    server.fail_first["/data.bin"] = (503, 2)
    server.files["/busy.bin"] = DATA
    server.fail_first["/busy.bin"] = (429, 1)
    assert download(server.url("/data.bin"), tmp_path / "a.bin", retries=3, **FAST) == DATA_SHA
    assert len(server.log("/data.bin")) == 3
    assert download(server.url("/busy.bin"), tmp_path / "b.bin", retries=3, **FAST) == DATA_SHA
    assert len(server.log("/busy.bin")) == 2


def test_retries_are_bounded(server: Server, tmp_path: Path) -> None:
    server.status["/down.bin"] = 502
    with pytest.raises(FetchError, match="giving up after 3 attempts"):
        download(server.url("/down.bin"), tmp_path / "down.bin", retries=2, **FAST)
    assert len(server.requests) == 3


# --------------------------------------------------------------------------- mirrors

def test_mirror_url() -> None:
    url = "https://archive.example.org/static/public/231/PAMAP2%20Dataset.zip?download=1"
    assert mirror_url(url, None) == url
    assert mirror_url(url, "http://mirror.local/imu/") == "http://mirror.local/imu/PAMAP2%20Dataset.zip"
    assert mirror_url(url, "https://m.example") == "https://m.example/PAMAP2%20Dataset.zip"
    assert mirror_url(url, "/srv/mirror") == str(Path("/srv/mirror") / "PAMAP2 Dataset.zip")


def test_download_through_mirror_folder(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "data.bin").write_bytes(DATA)
    src = mirror_url("https://unreachable.invalid/files/data.bin", str(mirror))
    assert src == str(mirror / "data.bin")
    dest = tmp_path / "downloads" / "data.bin"
    assert download(src, dest, sha256=DATA_SHA, size=len(DATA), progress=False) == DATA_SHA
    assert dest.read_bytes() == DATA and not dest.with_name("data.bin.part").exists()
    # a file:// URL works too, and a bad copy is refused like a bad download
    dest2 = tmp_path / "downloads" / "copy.bin"
    assert download((mirror / "data.bin").as_uri(), dest2, progress=False) == DATA_SHA
    with pytest.raises(ChecksumMismatch):
        download(src, tmp_path / "downloads" / "bad.bin", sha256="f" * 64, progress=False)
    assert not (tmp_path / "downloads" / "bad.bin").exists()
    with pytest.raises(FetchError, match="no such file"):
        download(str(mirror / "absent.bin"), tmp_path / "downloads" / "absent.bin", progress=False)


def test_sha256_file(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(DATA)
    assert sha256_file(p, chunk=4096) == DATA_SHA


# --------------------------------------------------------------------------- lock file

def test_source_lock(tmp_path: Path) -> None:
    path = tmp_path / "raw" / "sources.lock.json"
    lock = SourceLock(path)
    assert lock.get("a.zip") is None
    lock.check_or_record("a.zip", "AB" * 32, 10, "https://h/a.zip")
    data = json.loads(path.read_text())
    assert data["version"] == 1
    entry = data["files"]["a.zip"]
    assert entry["sha256"] == "ab" * 32 and entry["size"] == 10 and entry["url"] == "https://h/a.zip"
    assert re.match(r"\d{4}-\d\d-\d\dT", entry["recorded"])
    assert [p.name for p in path.parent.iterdir()] == ["sources.lock.json"]  # no temp file left

    again = SourceLock(path)  # a later run
    assert again.get("a.zip") == entry
    again.check_or_record("a.zip", "ab" * 32, 10, None)  # same file: fine
    with pytest.raises(ChecksumMismatch) as info:
        again.check_or_record("a.zip", "cd" * 32, 10, "https://h/a.zip")
    msg = str(info.value)
    assert "changed since it was first downloaded" in msg and entry["recorded"] in msg and "delete" in msg
    assert json.loads(path.read_text())["files"]["a.zip"]["sha256"] == "ab" * 32  # not overwritten

    with pytest.raises(ChecksumMismatch, match="pinned"):
        again.check_or_record("b.zip", "ef" * 32, 5, None, pinned="01" * 32)
    assert again.get("b.zip") is None
    again.check_or_record("b.zip", "ef" * 32, 5, None, pinned="EF" * 32)
    assert SourceLock(path).get("b.zip")["size"] == 5


# --------------------------------------------------------------------------- extraction

def _zip(path: Path, members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        for name, link in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, link)
    return path


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _only(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_zip_slip_refused(tmp_path: Path) -> None:
    arc = _zip(tmp_path / "evil.zip", {"ok.txt": b"fine", "../evil.txt": b"pwned"})
    target = tmp_path / "out" / "extracted"
    with pytest.raises(UnsafeArchive) as info:
        safe_extract(arc, target)
    assert "evil.zip" in str(info.value) and "../evil.txt" in str(info.value)
    assert not target.exists()
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert _only(tmp_path / "out") == []  # no temporary folder left behind


def test_absolute_and_drive_paths_refused(tmp_path: Path) -> None:
    for name in ("/etc/evil.txt", "C:\\evil.txt", "a\\..\\..\\evil.txt"):
        arc = _zip(tmp_path / "abs.zip", {"ok.txt": b"x", name: b"pwned"})
        target = tmp_path / "t"
        with pytest.raises(UnsafeArchive):
            safe_extract(arc, target)
        assert not target.exists()
    assert _only(tmp_path) == ["abs.zip"]


def test_tar_links_outside_refused(tmp_path: Path) -> None:
    for kind, linkname in ((tarfile.SYMTYPE, "../../outside.txt"), (tarfile.SYMTYPE, "/etc/passwd"),
                           (tarfile.LNKTYPE, "../outside.txt")):
        arc = tmp_path / "links.tar.gz"
        with tarfile.open(arc, "w:gz") as tf:
            data = b"hello"
            info = tarfile.TarInfo("dir/ok.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            link = tarfile.TarInfo("dir/link")
            link.type = kind
            link.linkname = linkname
            tf.addfile(link)
        target = tmp_path / "t"
        with pytest.raises(UnsafeArchive, match="link"):
            safe_extract(arc, target)
        assert not target.exists()
    assert _only(tmp_path) == ["links.tar.gz"]


def test_zip_symlink_outside_refused(tmp_path: Path) -> None:
    arc = _zip(tmp_path / "link.zip", {"a/ok.txt": b"x"}, symlinks={"a/link": "../../../etc/passwd"})
    with pytest.raises(UnsafeArchive, match="link"):
        safe_extract(arc, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_tar_extract_and_mac_junk_skipped(tmp_path: Path) -> None:
    arc = tmp_path / "data.tgz"
    with tarfile.open(arc, "w:gz") as tf:
        for name, data in {"./ds/a.csv": b"1,2\n", "ds/._a.csv": b"junk", "__MACOSX/ds/._b": b"junk",
                           "ds/.DS_Store": b"junk", "ds/sub/b.csv": b"3,4\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        inner = tarfile.TarInfo("ds/sub/c.csv")  # an internal link stays allowed
        inner.type = tarfile.SYMTYPE
        inner.linkname = "b.csv"
        tf.addfile(inner)
    target = tmp_path / "t"
    files = safe_extract(arc, target)
    assert [f.relative_to(target).as_posix() for f in files] == ["ds/a.csv", "ds/sub/b.csv", "ds/sub/c.csv"]
    assert (target / "ds" / "a.csv").read_bytes() == b"1,2\n"
    assert (target / "ds" / "sub" / "c.csv").read_bytes() == b"3,4\n"
    assert _only(target) == ["ds"]


def test_zip_mac_junk_skipped_and_nested(tmp_path: Path) -> None:
    members = {
        "WESAD/S2/S2.pkl": b"pickle",
        "WESAD/S2/S2_E4_Data.zip": _zip_bytes({"ACC.csv": b"acc"}),
        "WESAD/extra.zip": _zip_bytes({"inner/x.txt": b"x", "deeper.zip": _zip_bytes({"y.txt": b"y"})}),
        "__MACOSX/WESAD/._S2.pkl": b"junk",
        "__MACOSX/WESAD/S2/plain.txt": b"junk",
        "WESAD/._x": b"junk",
        "WESAD/.DS_Store": b"junk",
    }
    arc = _zip(tmp_path / "WESAD.zip", members)
    target = tmp_path / "t"
    seen: list[Path] = []

    def keep(p: Path) -> bool:
        seen.append(p)
        return p.name.endswith("_E4_Data.zip")

    files = safe_extract(arc, target, keep_nested=keep)
    rel = [f.relative_to(target).as_posix() for f in files]
    assert rel == ["WESAD/S2/S2.pkl", "WESAD/S2/S2_E4_Data.zip", "WESAD/extra/deeper/y.txt",
                   "WESAD/extra/inner/x.txt"]
    assert all(f.is_file() for f in files)
    assert zipfile.is_zipfile(target / "WESAD/S2/S2_E4_Data.zip")  # kept as a zip
    assert not (target / "WESAD/extra.zip").exists() and not (target / "WESAD/extra/deeper.zip").exists()
    assert (target / "WESAD/extra/deeper/y.txt").read_bytes() == b"y"
    assert target / "WESAD/S2/S2_E4_Data.zip" in seen  # keep_nested sees the final path
    assert not (target / "__MACOSX").exists() and not (target / "WESAD/._x").exists()
    assert _only(tmp_path) == ["WESAD.zip", "t"]

    # nested=False leaves inner zips alone
    files = safe_extract(arc, tmp_path / "flat", nested=False)
    assert (tmp_path / "flat/WESAD/extra.zip").is_file() and not (tmp_path / "flat/WESAD/extra").exists()


def test_extract_merges_into_existing_target_and_failure_leaves_it(tmp_path: Path) -> None:
    target = tmp_path / "extracted"
    (target / "ds").mkdir(parents=True)
    (target / "ds" / "old.txt").write_bytes(b"old")
    arc = _zip(tmp_path / "new.zip", {"ds/new.txt": b"new", "other/z.txt": b"z"})
    files = safe_extract(arc, target)
    assert sorted(f.relative_to(target).as_posix() for f in files) == ["ds/new.txt", "other/z.txt"]
    assert (target / "ds" / "old.txt").read_bytes() == b"old"
    assert (target / "ds" / "new.txt").read_bytes() == b"new"

    bad = _zip(tmp_path / "bad.zip", {"ds/more.txt": b"more", "ds/../../escape.txt": b"x"})
    with pytest.raises(UnsafeArchive):
        safe_extract(bad, target)
    assert not (target / "ds" / "more.txt").exists()
    assert _only(tmp_path) == ["bad.zip", "extracted", "new.zip"]


def test_corrupt_archive(tmp_path: Path) -> None:
    arc = tmp_path / "html.zip"
    arc.write_bytes(LOGIN_PAGE)
    with pytest.raises(FetchError, match="zip"):
        safe_extract(arc, tmp_path / "t")
    assert _only(tmp_path) == ["html.zip"]


# --------------------------------------------------------------------------- markers

def test_find_marker(tmp_path: Path) -> None:
    root = tmp_path / "extracted"
    deep = root / "HAPT Data Set" / "v2"
    (deep / "RawData").mkdir(parents=True)
    (deep / "RawData" / "labels.txt").write_text("1 1 1 0 100\n")
    (root / "__MACOSX" / "RawData").mkdir(parents=True)
    (root / "__MACOSX" / "RawData" / "labels.txt").write_text("junk")
    assert find_marker(root, "RawData/labels.txt") == deep
    assert find_marker(deep, "RawData/labels.txt") == deep
    with pytest.raises(FormatError) as info:
        find_marker(root, "Protocol/subject101.dat")
    msg = str(info.value)
    assert "Protocol/subject101.dat" in msg and "HAPT Data Set" in msg
    with pytest.raises(FormatError):
        find_marker(tmp_path / "absent", "x")
