"""The network and archive layer: resumable, verified downloads and safe extraction.

Nothing here knows about datasets. Downloads go through ``<dest>.part`` and are renamed into
place only after the size and sha256 check, so a file at ``dest`` is always complete. Archives
are extracted into a temporary sibling folder and moved into place at the end, and members that
would land outside the target (zip-slip, absolute paths, links) are refused before anything is
written. ``SourceLock`` remembers the sha256 of every source at first use, so a host that
silently replaces a file is noticed.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import time
import warnings
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname

import requests
import urllib3
from tqdm import tqdm

from .errors import ChecksumMismatch, FetchError, FormatError, UnsafeArchive

__all__ = [
    "sha256_file",
    "is_html",
    "download",
    "mirror_url",
    "SourceLock",
    "safe_extract",
    "find_marker",
]

_CHUNK = 1 << 16  # network read size
_SNIFF = 512  # bytes looked at to recognise an HTML page
_MAX_NESTING = 8  # zips inside zips deeper than this are refused (zip quines)
_USER_AGENT = f"imudata python-requests/{requests.__version__}"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_HAS_TAR_FILTER = hasattr(tarfile, "data_filter")  # PEP 706: 3.12, 3.11.4+, 3.10.12+
# Errors raised while reading a response body: transient, retried.
_READ_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, HTTPException, OSError)


# --------------------------------------------------------------------------- hashing / sniffing

def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file, read in ``chunk``-byte blocks so large archives fit in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def is_html(first_bytes: bytes, content_type: str | None) -> bool:
    """True for an HTML page (login, licence or error page) served where a data file was expected.

    Decided by the Content-Type (``text/html``, ``application/xhtml+xml``) or by the body starting
    with ``<!doctype html`` or ``<html`` (case-insensitive, after whitespace and a UTF-8 BOM).
    """
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime in _HTML_TYPES:
            return True
    head = first_bytes[:1024]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = head.lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


# --------------------------------------------------------------------------- small helpers

def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _bar(total: int | None, initial: int, desc: str, progress: bool) -> tqdm:
    # disable=None lets tqdm switch itself off when stderr is not a terminal.
    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True,
                unit_divisor=1024, disable=None if progress else True, dynamic_ncols=True)


def _local_path(url: str) -> Path | None:
    """The local file a ``url`` names (plain path or ``file://``), None for http(s)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"{url}: file:// URLs on another host are not supported; mount it and give a path")
        return Path(url2pathname(parts.path))
    if scheme == "" or len(scheme) == 1:  # a plain path, or a Windows drive letter
        return Path(url).expanduser()
    raise FetchError(f"{url}: unsupported URL scheme {scheme!r}; expected http(s)://, file:// or a local path")


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)
_CONTENT_RANGE_UNSAT = re.compile(r"bytes\s+\*/(\d+)", re.I)


# --------------------------------------------------------------------------- download

class _Retry(Exception):
    """A transient failure: try again, resuming from the bytes already on disk."""


class _Hasher:
    """sha256 of the ``.part`` file kept up to date while writing, so it is not re-read at the end."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.h = hashlib.sha256()
        self.n = 0

    def update(self, data: bytes) -> None:
        self.h.update(data)
        self.n += len(data)

    def sync(self, path: Path, size: int) -> None:
        """Make the state cover the first ``size`` bytes of ``path`` (after a resume from disk)."""
        if self.n == size:
            return
        self.reset()
        if size:
            with open(path, "rb") as f:
                while self.n < size and (block := f.read(min(1 << 20, size - self.n))):
                    self.update(block)

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def download(url: str, dest: Path, *, sha256: str | None = None, size: int | None = None,
             retries: int = 5, backoff: float = 1.0, timeout: float = 60.0,
             progress: bool = True, session: requests.Session | None = None) -> str:
    """Download ``url`` to ``dest`` resumably and verified; returns the file's sha256 hex digest.

    Bytes go to ``dest.name + ".part"`` next to ``dest``; an existing ``.part`` (an interrupted
    earlier run) is resumed with an HTTP Range request. Connection errors, cut connections, 5xx and
    429 are retried up to ``retries`` times with a ``backoff * 2**n`` second pause, each retry
    resuming where the last stopped (an attempt that got further than any before does not use up a
    retry). Any other 4xx, or an HTML page served instead of the file, raises ``FetchError`` at once.
    Only when ``size`` and ``sha256`` (if given) match is the ``.part`` renamed to ``dest``
    (atomically); on a mismatch it is deleted and ``ChecksumMismatch`` raised. ``url`` may also be a
    local path or ``file://`` URL (a mirror folder): the file is then copied the same way.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    local = _local_path(url)
    if local is not None:
        digest = _copy_local(local, part, dest.name, progress)
    else:
        sess = session if session is not None else requests.Session()
        try:
            digest = _download_http(url, part, sess, retries=retries, backoff=backoff,
                                    timeout=timeout, progress=progress, name=dest.name)
        finally:
            if session is None:
                sess.close()
    _verify(part, dest.name, digest, sha256, size)
    os.replace(part, dest)
    return digest


def _verify(part: Path, name: str, digest: str, sha256: str | None, size: int | None) -> None:
    if size is not None:
        actual = part.stat().st_size
        if actual != size:
            _unlink(part)
            raise ChecksumMismatch(f"{name}: expected {size} bytes but got {actual}; the file was deleted. "
                                   "The host may have changed the file or sent a truncated copy; try again.")
    if sha256 is not None and digest.lower() != sha256.strip().lower():
        _unlink(part)
        raise ChecksumMismatch(f"{name}: sha256 mismatch: expected {sha256.strip().lower()}, got {digest}; "
                               "the file was deleted. The download was corrupted or the host now serves "
                               "a different file.")


def _html_error(where: str) -> FetchError:
    return FetchError(f"{where} served a web page (HTML) instead of the file: probably a login, licence or "
                      "error page. Open the URL in a browser; if it needs a login or a click, download the "
                      "file by hand and use `--from FILE`.")


def _copy_local(src: Path, part: Path, name: str, progress: bool) -> str:
    """Copy a local file to ``part``, hashing on the way; returns the sha256."""
    if not src.is_file():
        raise FetchError(f"{src}: no such file (local source or mirror folder)")
    hasher = _Hasher()
    try:
        with open(src, "rb") as fi, open(part, "wb") as fo, \
                _bar(src.stat().st_size, 0, name, progress) as bar:
            first = True
            while block := fi.read(1 << 20):
                if first and is_html(block[:_SNIFF], None):
                    raise _html_error(str(src))
                first = False
                fo.write(block)
                hasher.update(block)
                bar.update(len(block))
    except BaseException:
        _unlink(part)
        raise
    return hasher.hexdigest()


def _download_http(url: str, part: Path, sess: requests.Session, *, retries: int, backoff: float,
                   timeout: float, progress: bool, name: str) -> str:
    """The retry loop around ``_attempt``; returns the sha256 of the completed ``part``."""
    hasher = _Hasher()
    failures = 0
    attempts = 0
    best = part.stat().st_size if part.exists() else 0
    with _bar(None, 0, name, progress) as bar:
        while True:
            attempts += 1
            try:
                _attempt(url, part, sess, timeout, hasher, bar)
                break
            except _Retry as exc:
                now = part.stat().st_size if part.exists() else 0
                if now > best:  # got further than ever before: this failure is not held against us
                    best = now
                    failures = 0
                if failures >= retries:
                    kept = f"; the {now} bytes received are kept in {part.name}, run again to resume" if now else ""
                    raise FetchError(f"{url}: giving up after {attempts} attempts ({exc}){kept}") from exc
                time.sleep(backoff * 2 ** failures)
                failures += 1
    size = part.stat().st_size
    if hasher.n != size:  # defensive: the state should always cover the whole file here
        return sha256_file(part)
    return hasher.hexdigest()


def _attempt(url: str, part: Path, sess: requests.Session, timeout: float, hasher: _Hasher, bar: tqdm) -> None:
    """One GET: append to (or restart) ``part``. Raises _Retry for transient failures."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = sess.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.exceptions.SSLError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise FetchError(f"{url}: the server's TLS certificate could not be verified ({exc})") from exc
        raise _Retry(f"TLS error: {exc}") from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Retry(f"connection failed: {exc}") from exc
    except requests.RequestException as exc:  # invalid URL, too many redirects, ...
        raise FetchError(f"{url}: {exc}") from exc

    with resp:
        status = resp.status_code
        ctype = resp.headers.get("Content-Type")
        if status == 416:
            m = _CONTENT_RANGE_UNSAT.match(resp.headers.get("Content-Range", ""))
            total = int(m.group(1)) if m else None
            if have and (total is None or total == have):
                hasher.sync(part, have)  # the .part already holds the whole file
                return
            if have:  # the .part is longer than the file: stale, start again
                _unlink(part)
                hasher.reset()
                raise _Retry(f"{part.name} has {have} bytes but the file has {total}; restarting")
            raise FetchError(f"{url}: HTTP 416 Range Not Satisfiable for a request without a Range")
        if status == 429 or 500 <= status < 600:
            raise _Retry(f"HTTP {status} {resp.reason}")
        if status not in (200, 206):
            hint = ""
            if status in (401, 403, 407):
                hint = " (the host needs a login or refuses automated downloads; download it by hand)"
            raise FetchError(f"HTTP {status} {resp.reason} for {url}{hint}")

        body_len = _int_header(resp.headers.get("Content-Length"))
        if status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            start = int(m.group(1)) if m else None
            if start != have:
                _unlink(part)
                hasher.reset()
                raise _Retry(f"server resumed at byte {start}, not {have}; restarting from zero")
            offset = have
            total = int(m.group(3)) if m and m.group(3) != "*" else None
        else:  # 200: the whole file (a server that ignores Range restarts from zero)
            offset = 0
            total = body_len
        if total is None and body_len is not None:
            total = offset + body_len

        stream = resp.raw.stream(_CHUNK, decode_content=False)
        first = _read_head(stream)
        if is_html(first if offset == 0 else b"", ctype):
            _unlink(part)
            hasher.reset()
            raise _html_error(url)

        if offset:
            hasher.sync(part, offset)
        else:
            hasher.reset()
        bar.reset(total=total)
        bar.update(offset)
        received = 0
        with open(part, "ab" if offset else "wb") as f:
            chunk = first
            while chunk:
                f.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                chunk = _next_chunk(stream)
        if body_len is not None and received != body_len:
            raise _Retry(f"connection closed after {received} of {body_len} bytes")


def _next_chunk(stream: Iterator[bytes]) -> bytes:
    """The next body chunk, b"" at the end; read errors become _Retry."""
    try:
        return next(stream, b"")
    except _READ_ERRORS as exc:
        raise _Retry(f"connection lost: {exc}") from exc


def _read_head(stream: Iterator[bytes]) -> bytes:
    """At least ``_SNIFF`` bytes of body (less only at its end), to recognise HTML."""
    head = b""
    while len(head) < _SNIFF:
        chunk = _next_chunk(stream)
        if not chunk:
            break
        head += chunk
    return head


# --------------------------------------------------------------------------- mirrors

def mirror_url(url: str, mirror: str | None) -> str:
    """Where to get ``url``'s file from a mirror: ``url`` itself if ``mirror`` is None.

    The file name is the last path component of ``url`` (URL-unquoted, query dropped). An
    http(s) ``mirror`` gives ``<mirror>/<name>``; a local folder (or ``file://`` URL) gives the
    path ``<folder>/<name>``, which ``download`` copies.
    """
    if mirror is None:
        return url
    parts = urlsplit(url)
    if len(parts.scheme) > 1 and parts.scheme.lower() != "file":  # http(s), ftp, ...
        name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    else:  # a local path, file:// URL or Windows drive path
        name = _local_path(url).name  # type: ignore[union-attr]
    if not name:
        raise ValueError(f"{url}: no file name in the URL to look up in the mirror")
    scheme = urlsplit(mirror).scheme.lower()
    if scheme in ("http", "https"):
        return mirror.rstrip("/") + "/" + quote(name)
    folder = _local_path(mirror)
    return str(folder / name)  # type: ignore[operator]


# --------------------------------------------------------------------------- lock file

class SourceLock:
    """``raw/sources.lock.json``: the sha256 and size of every source file, recorded at first use.

    Format: ``{"version": 1, "files": {name: {"sha256", "size", "url", "recorded"}}}``. A later
    download with a different hash is refused, so a silently replaced upstream file cannot change
    a converted dataset without the user noticing.
    """

    VERSION = 1

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._files = self._load()

    def _load(self) -> dict[str, dict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FetchError(f"{self.path}: not valid JSON ({exc}); repair it, or delete it to record the "
                             "checksums of the downloaded files again") from exc
        if not isinstance(data, dict) or data.get("version") != self.VERSION or not isinstance(data.get("files"), dict):
            raise FetchError(f"{self.path}: expected {{\"version\": {self.VERSION}, \"files\": {{...}}}}; "
                             "delete it to record the checksums again")
        return data["files"]

    def get(self, name: str) -> dict | None:
        """The recorded entry for ``name`` (a copy), or None."""
        entry = self._files.get(name)
        return dict(entry) if entry is not None else None

    def check_or_record(self, name: str, sha256: str, size: int, url: str | None, pinned: str | None = None) -> None:
        """Check a file against its pin and its earlier record; record it if new.

        Raises ChecksumMismatch if ``pinned`` is given and differs, or if the file was recorded
        before with another hash or size. The caller decides what to do with the file itself.
        """
        sha = sha256.strip().lower()
        if pinned is not None and pinned.strip().lower() != sha:
            raise ChecksumMismatch(f"{name}: sha256 {sha} does not match the pinned {pinned.strip().lower()}; "
                                   "the file is corrupted or the host now serves a different version. Delete "
                                   "it and download again; if it persists, report it.")
        self._files = self._load()  # another process may have recorded files meanwhile
        entry = self._files.get(name)
        if entry is not None:
            if str(entry.get("sha256", "")).lower() == sha and entry.get("size") == size:
                return
            raise ChecksumMismatch(
                f"{name} changed since it was first downloaded on {entry.get('recorded', '(unknown date)')}: "
                f"recorded sha256 {entry.get('sha256')} ({entry.get('size')} bytes), now {sha} ({size} bytes). "
                f"Converted data would no longer match earlier results. To accept the new version, delete the "
                f"downloaded file and the entry {name!r} in {self.path}, then run again.")
        self._files[name] = {
            "sha256": sha,
            "size": size,
            "url": url,
            "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self._save()

    def _save(self) -> None:
        data = {"version": self.VERSION, "files": dict(sorted(self._files.items()))}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            _unlink(Path(tmp))
            raise


# --------------------------------------------------------------------------- extraction

def _member_relpath(name: str, display: str) -> str | None:
    """A member's normalised relative POSIX path; None to skip it; UnsafeArchive if it leaves the target."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise UnsafeArchive(f"{display}: member {name!r} has an absolute path; refusing to extract the archive")
    norm = posixpath.normpath(raw) if raw else "."
    if norm == ".." or norm.startswith("../"):
        raise UnsafeArchive(f"{display}: member {name!r} would be written outside the target folder "
                            "(zip-slip); refusing to extract the archive")
    if norm == ".":
        return None
    parts = norm.split("/")
    if "__MACOSX" in parts or parts[-1] == ".DS_Store" or parts[-1].startswith("._"):
        return None
    return norm


def _check_link(display: str, member: str, rel: str, linkname: str, *, hard: bool) -> None:
    """Refuse a link whose target is absolute or resolves outside the target folder."""
    link = linkname.replace("\\", "/")
    if link.startswith("/") or _DRIVE.match(link):
        raise UnsafeArchive(f"{display}: link member {member!r} points to the absolute path {linkname!r}; "
                            "refusing to extract the archive")
    base = "" if hard else posixpath.dirname(rel)  # hard link targets are relative to the archive root
    resolved = posixpath.normpath(posixpath.join(base, link)) if link else "."
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchive(f"{display}: link member {member!r} -> {linkname!r} points outside the target "
                            "folder; refusing to extract the archive")


def _ensure_inside(root: Path, out: Path, display: str, member: str) -> None:
    if not out.resolve().is_relative_to(root):
        raise UnsafeArchive(f"{display}: member {member!r} would be written outside the target folder; "
                            "refusing to extract the archive")


def _archive_kind(archive: Path, display: str) -> str:
    lower = archive.name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")):
        return "tar"
    if zipfile.is_zipfile(archive):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    raise FetchError(f"{display}: not a zip or tar archive")


def _extract_zip(archive: Path, dest: Path, display: str) -> list[Path]:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"{display}: not a readable zip archive ({exc}); delete it and download it again") from exc
    with zf:
        plan: list[tuple[zipfile.ZipInfo, str]] = []
        for info in zf.infolist():  # check every member before writing anything
            rel = _member_relpath(info.filename, display)
            if rel is None:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                link = zf.read(info).decode("utf-8", "surrogateescape")
                _check_link(display, info.filename, rel, link, hard=False)
                warnings.warn(f"{display}: skipping symbolic link {info.filename!r} -> {link!r}", stacklevel=3)
                continue
            if info.flag_bits & 0x1:
                raise FetchError(f"{display}: member {info.filename!r} is encrypted; imudata cannot extract it")
            plan.append((info, rel))
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written: list[Path] = []
        try:
            for info, rel in plan:
                out = dest / rel
                _ensure_inside(root, out, display, info.filename)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                try:
                    mtime = time.mktime(info.date_time + (0, 0, -1))
                    os.utime(out, (mtime, mtime))
                except (OverflowError, ValueError, OSError):
                    pass
                written.append(out)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise FetchError(f"{display}: corrupt zip archive ({exc}); delete it and download it again") from exc
    return written


def _extract_tar(archive: Path, dest: Path, display: str) -> list[Path]:
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FetchError(f"{display}: not a readable tar archive ({exc}); delete it and download it again") from exc
    with tf:
        try:
            members = tf.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise FetchError(f"{display}: truncated or corrupt tar archive ({exc}); delete it and download it "
                             "again") from exc
        chosen: list[tarfile.TarInfo] = []
        for m in members:  # check every member before writing anything
            rel = _member_relpath(m.name, display)
            if rel is None:
                continue
            if m.issym() or m.islnk():
                _check_link(display, m.name, rel, m.linkname, hard=m.islnk())
                if not _HAS_TAR_FILTER:
                    raise UnsafeArchive(f"{display}: link member {m.name!r}: this Python cannot extract links "
                                        "safely; use Python >= 3.11.4")
                if m.islnk():
                    m.linkname = posixpath.normpath(m.linkname.replace("\\", "/"))
            elif not (m.isfile() or m.isdir()):
                warnings.warn(f"{display}: skipping special member {m.name!r}", stacklevel=3)
                continue
            m.name = rel
            chosen.append(m)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        for m in chosen:
            _ensure_inside(root, dest / m.name, display, m.name)
        extra = {"filter": "data"} if _HAS_TAR_FILTER else {}
        try:
            tf.extractall(dest, members=chosen, **extra)
        except tarfile.TarError as exc:
            if _HAS_TAR_FILTER and isinstance(exc, tarfile.FilterError):
                raise UnsafeArchive(f"{display}: member {exc.tarinfo.name!r} refused: {exc}") from exc
            raise FetchError(f"{display}: corrupt tar archive ({exc}); delete it and download it again") from exc
        except EOFError as exc:
            raise FetchError(f"{display}: truncated tar archive; delete it and download it again") from exc
    for dirpath, _dirs, _files in os.walk(dest):  # read-only folders would block moving files out
        mode = os.stat(dirpath).st_mode
        if mode & 0o700 != 0o700:
            os.chmod(dirpath, mode | 0o700)
    return [dest / m.name for m in chosen if m.isfile() or m.islnk() or m.issym()]


def _extract_archive(archive: Path, dest: Path, display: str) -> list[Path]:
    if _archive_kind(archive, display) == "zip":
        return _extract_zip(archive, dest, display)
    return _extract_tar(archive, dest, display)


def _is_zip_name(path: Path) -> bool:
    return len(path.name) > 4 and path.name.lower().endswith(".zip")


def _expand_nested(tmp: Path, target: Path, found: list[Path], keep: Callable[[Path], bool] | None,
                   display: str) -> None:
    """Extract every zip under ``tmp`` into a folder of its name (without .zip) and delete it."""
    queue = deque((p, 1) for p in found if _is_zip_name(p))
    seen: set[Path] = set()
    while queue:
        z, depth = queue.popleft()
        if z in seen or z.is_symlink() or not z.is_file():
            continue
        seen.add(z)
        rel = z.relative_to(tmp)
        if keep is not None and keep(target / rel):
            continue
        inner = f"{display}:{rel.as_posix()}"
        if depth > _MAX_NESTING:
            raise UnsafeArchive(f"{inner}: zip files nested more than {_MAX_NESTING} levels deep; refusing")
        out = z.with_name(z.name[:-4])
        if out.exists() and not out.is_dir():
            raise FetchError(f"{inner}: cannot extract into {out.relative_to(tmp)}, a file of that name exists")
        new = _extract_zip(z, out, inner)
        z.unlink()
        queue.extend((p, depth + 1) for p in new if _is_zip_name(p))


def _merge(src: Path, dst: Path) -> None:
    """Move the contents of ``src`` into the existing folder ``dst`` (files replace files)."""
    for entry in sorted(src.iterdir()):
        to = dst / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if to.is_dir() and not to.is_symlink():
                _merge(entry, to)
                continue
            if to.is_symlink() or to.exists():
                to.unlink()
        elif to.is_dir() and not to.is_symlink():
            shutil.rmtree(to)
        os.replace(entry, to)


def safe_extract(archive: Path, target: Path, *, nested: bool = True,
                 keep_nested: Callable[[Path], bool] | None = None) -> list[Path]:
    """Extract a .zip, .tar or .tar.gz/.tgz into ``target``, refusing unsafe members; returns the files.

    Every member is checked before anything is written: absolute paths, drive letters, paths that
    leave ``target`` and links pointing outside it raise ``UnsafeArchive``. ``__MACOSX/``, ``._*``
    and ``.DS_Store`` are skipped. Extraction happens in a temporary sibling folder that is renamed
    to ``target`` (or merged into an existing one) only at the end, so a failure leaves ``target``
    as it was. With ``nested``, zips inside are extracted recursively into a folder of the same
    name without ``.zip`` and then deleted, except those for which ``keep_nested(path)`` is true
    (``path`` as it will be under ``target``). Returns the extracted files' final paths, sorted.
    """
    archive = Path(archive)
    target = Path(target)
    if not archive.is_file():
        raise FetchError(f"{archive}: no such archive")
    if target.exists() and not target.is_dir():
        raise FetchError(f"{target}: exists and is not a folder; cannot extract {archive.name} there")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
    try:
        found = _extract_archive(archive, tmp, archive.name)
        if nested:
            _expand_nested(tmp, target, found, keep_nested, archive.name)
        rel_files = sorted(Path(dirpath, f).relative_to(tmp)
                           for dirpath, _dirs, files in os.walk(tmp) for f in files)
        moved = False
        if not target.exists():
            try:
                os.replace(tmp, target)
                moved = True
            except OSError:
                if not target.is_dir():
                    raise
        if not moved:
            _merge(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return [target / rel for rel in rel_files]


# --------------------------------------------------------------------------- markers

def find_marker(root: Path, relative: str) -> Path:
    """The folder under ``root`` (``root`` itself included) that contains ``relative``.

    Archives put a dataset's tree at varying depths, so the search is recursive, breadth-first
    (the shallowest match wins, ties by name). Raises ``FormatError`` listing the folders searched.
    """
    root = Path(root)
    if not root.is_dir():
        raise FormatError(f"{root}: no such folder, so {relative!r} cannot be found there")
    searched: list[Path] = []
    queue: deque[Path] = deque([root])
    while queue:
        folder = queue.popleft()
        searched.append(folder)
        if (folder / relative).exists():
            return folder
        try:
            children = sorted(c for c in folder.iterdir()
                              if c.is_dir() and not c.is_symlink() and c.name != "__MACOSX")
        except OSError:
            continue
        queue.extend(children)
    shown = ", ".join(str(p.relative_to(root)) for p in searched[:20])
    if len(searched) > 20:
        shown += f", ... ({len(searched) - 20} more)"
    raise FormatError(f"{relative!r} not found under {root}; searched {len(searched)} folder(s): {shown}")
