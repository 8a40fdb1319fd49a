"""The network and archive layer: resumable, verified downloads and safe extraction.

Nothing here knows about datasets. Downloads go through ``<dest>.part`` and are renamed into
place only after the size and sha256 check, so a file at ``dest`` is always complete. Archives
are extracted into a temporary sibling folder and moved into place at the end, and members that
would land outside the target (zip-slip, absolute paths, links) are refused before anything is
written. ``SourceLock`` remembers the sha256 of every source at first use, so a host that
silently replaces a file is noticed.
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import json
import lzma
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
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname

import requests
import urllib3
from tqdm import tqdm

from .errors import (
    ArchiveTooLarge,
    ChecksumMismatch,
    CorruptArchive,
    FetchError,
    FormatError,
    UnsafeArchive,
    WriteFailed,
)

__all__ = [
    "sha256_file",
    "is_html",
    "download",
    "fetch_file",
    "Downloaded",
    "mirror_url",
    "SourceLock",
    "safe_extract",
    "ExtractLimits",
    "parse_size",
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


@dataclass(frozen=True)
class Downloaded:
    """A completed download: its sha256, its size, and whether that size was confirmed by the server.

    ``size_confirmed`` is False only when the server neither declared the length (Content-Length or
    Content-Range) nor answered a follow-up Range request: a body cut short could then pass unnoticed,
    so the caller must check the file another way (an archive must extract) before trusting it.
    """

    sha256: str
    size: int
    size_confirmed: bool


def download(url: str, dest: Path, *, sha256: str | None = None, size: int | None = None,
             retries: int = 5, backoff: float = 1.0, timeout: float = 60.0,
             progress: bool = True, session: requests.Session | None = None) -> str:
    """Download ``url`` to ``dest`` resumably and verified; returns the file's sha256 hex digest.

    See ``fetch_file``, which also says whether the size was confirmed.
    """
    return fetch_file(url, dest, sha256=sha256, size=size, retries=retries, backoff=backoff,
                      timeout=timeout, progress=progress, session=session).sha256


def fetch_file(url: str, dest: Path, *, sha256: str | None = None, size: int | None = None,
               retries: int = 5, backoff: float = 1.0, timeout: float = 60.0,
               progress: bool = True, session: requests.Session | None = None) -> Downloaded:
    """Download ``url`` to ``dest`` resumably and verified.

    Bytes go to ``dest.name + ".part"`` next to ``dest``, with ``.part.json`` beside it naming the
    URL, the server's validators (ETag, Last-Modified) and the total size. An existing ``.part`` is
    resumed with a Range + If-Range request only when that record matches this URL; otherwise it is
    discarded. A resumed response whose validators or total differ from the record (the file changed
    on the server) restarts from zero, so two versions are never spliced. Every body is checked
    against its declared length and total; a body without any declared length is followed by a Range
    request from its end to confirm nothing is missing. Connection errors, cut connections, 5xx and
    429 are retried up to ``retries`` times with a ``backoff * 2**n`` second pause (an attempt that
    got further than any before does not use up a retry). Any other 4xx, or an HTML page served
    instead of the file (also as a 206 on resume), raises ``FetchError`` at once. Only when ``size``
    and ``sha256`` (if given) match is the ``.part`` renamed to ``dest`` (atomically); on a mismatch
    it is deleted and ``ChecksumMismatch`` raised. A failed write (disk full) raises ``FetchError``
    naming the ``.part``, which is kept for a later resume. ``url`` may also be a local path or
    ``file://`` URL (a mirror folder): the file is then copied the same way.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteFailed(f"{dest.parent}: cannot create the download folder ({exc.strerror}); choose a "
                          "writable --root") from exc
    part = dest.with_name(dest.name + ".part")
    local = _local_path(url)
    if local is not None:
        digest = _copy_local(local, part, dest.name, progress)
        confirmed = True
    else:
        sess = session if session is not None else requests.Session()
        try:
            digest, confirmed = _download_http(url, part, sess, retries=retries, backoff=backoff,
                                               timeout=timeout, progress=progress, name=dest.name)
        finally:
            if session is None:
                sess.close()
    _verify(part, dest.name, digest, sha256, size)
    got = part.stat().st_size
    try:
        os.replace(part, dest)
    except OSError as exc:
        raise WriteFailed(f"{part}: cannot rename it to {dest.name} ({exc.strerror}); the complete download "
                          "is kept there; check the folder's permissions and run again") from exc
    _unlink(_meta_path(part))
    return Downloaded(digest, got, confirmed or size is not None)


def _verify(part: Path, name: str, digest: str, sha256: str | None, size: int | None) -> None:
    if size is not None:
        actual = part.stat().st_size
        if actual != size:
            _discard(part)
            raise ChecksumMismatch(f"{name}: expected {size} bytes but got {actual}; the file was deleted. "
                                   "The host may have changed the file or sent a truncated copy; try again.")
    if sha256 is not None and digest.lower() != sha256.strip().lower():
        _discard(part)
        raise ChecksumMismatch(f"{name}: sha256 mismatch: expected {sha256.strip().lower()}, got {digest}; "
                               "the file was deleted. The download was corrupted or the host now serves "
                               "a different file.")


def _html_error(where: str) -> FetchError:
    return FetchError(f"{where} served a web page (HTML) instead of the file: probably a login, licence or "
                      "error page. Open the URL in a browser; if it needs a login or a click, download the "
                      "file by hand and use `--from FILE`.")


def _disk_error(path: Path, exc: OSError, kept: str) -> WriteFailed:
    """A one-line error for a failed write (disk full, read-only, quota) naming the file and what to do."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free space on that disk (or choose another --root) and run again"
    else:
        advice = "check that the folder is writable (or choose another --root) and run again"
    return WriteFailed(f"{path}: cannot write ({reason}); {kept}; {advice}")


def _copy_local(src: Path, part: Path, name: str, progress: bool) -> str:
    """Copy a local file to ``part``, hashing on the way; returns the sha256."""
    if not src.is_file():
        raise FetchError(f"{src}: no such file (local source or mirror folder)")
    hasher = _Hasher()
    try:
        fi = open(src, "rb")
    except OSError as exc:
        raise FetchError(f"{src}: cannot read it ({exc.strerror}); check the mirror folder's permissions") from exc
    try:
        with fi, _bar(src.stat().st_size, 0, name, progress) as bar:
            try:
                fo = open(part, "wb")
            except OSError as exc:
                raise _disk_error(part, exc, "nothing was copied") from exc
            with fo:
                first = True
                while True:
                    try:
                        block = fi.read(1 << 20)
                    except OSError as exc:
                        raise FetchError(f"{src}: read failed ({exc.strerror}); the partial copy was deleted; "
                                         "check the source disk and run again") from exc
                    if not block:
                        break
                    if first and is_html(block[:_SNIFF], None):
                        raise _html_error(str(src))
                    first = False
                    try:
                        fo.write(block)
                    except OSError as exc:
                        raise _disk_error(part, exc, "the partial copy was deleted") from exc
                    hasher.update(block)
                    bar.update(len(block))
    except BaseException:
        _unlink(part)
        raise
    return hasher.hexdigest()


# The ``.part.json`` record beside a ``.part``: where its bytes came from, so a resume is trusted only
# for the same URL and, through If-Range and the validators, only for the same version of the file.

def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _discard(part: Path) -> None:
    """Delete a ``.part`` and its record."""
    _unlink(part)
    _unlink(_meta_path(part))


@dataclass
class _Origin:
    """What the server said about the file being downloaded into a ``.part``."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    total: int | None = None

    @classmethod
    def load(cls, part: Path, url: str) -> _Origin | None:
        """The record of ``part`` if it exists, is readable and names ``url``; else None."""
        try:
            data = json.loads(_meta_path(part).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("url") != url:
            return None
        total = data.get("total")
        return cls(url, _str_or_none(data.get("etag")), _str_or_none(data.get("last_modified")),
                   total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None)

    def save(self, part: Path) -> None:
        """Write the record atomically (a temp file renamed over it)."""
        meta = _meta_path(part)
        tmp = meta.with_name(meta.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"url": self.url, "etag": self.etag, "last_modified": self.last_modified,
                                       "total": self.total}), encoding="utf-8")
            os.replace(tmp, meta)
        except OSError as exc:
            _unlink(tmp)
            raise _disk_error(meta, exc, f"the bytes received so far are kept in {part.name}") from exc

    def if_range(self) -> str | None:
        """The If-Range value: a strong ETag, else Last-Modified, else None (no validator to send)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    def differs(self, etag: str | None, last_modified: str | None, total: int | None) -> str | None:
        """Why a response is for another version of the file than the one recorded; None if not."""
        if self.etag and etag and etag != self.etag:
            return f"ETag changed from {self.etag} to {etag}"
        if self.last_modified and last_modified and last_modified != self.last_modified:
            return f"Last-Modified changed from {self.last_modified} to {last_modified}"
        if self.total is not None and total is not None and total != self.total:
            return f"size changed from {self.total} to {total} bytes"
        return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _download_http(url: str, part: Path, sess: requests.Session, *, retries: int, backoff: float,
                   timeout: float, progress: bool, name: str) -> tuple[str, bool]:
    """The retry loop around ``_attempt``; returns the sha256 of the completed ``part`` and whether
    its size was confirmed by the server."""
    hasher = _Hasher()
    failures = 0
    attempts = 0
    origin = _Origin.load(part, url) if part.exists() else None
    if part.exists() and origin is None:  # bytes of unknown origin: never resumed
        _discard(part)
    if origin is None:
        origin = _Origin(url)
    best = part.stat().st_size if part.exists() else 0
    probed_at: int | None = None  # the .part size at which the end was last checked with a Range request
    with _bar(None, 0, name, progress) as bar:
        while True:
            attempts += 1
            try:
                have = part.stat().st_size if part.exists() else 0
                total = _attempt(url, part, sess, timeout, hasher, bar, origin, probe=probed_at == have)
                now = part.stat().st_size if part.exists() else 0
                if total is None and probed_at != now:
                    probed_at = now  # no declared length: ask for the bytes after the end to be sure
                    continue
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
    if total is not None and size != total:  # defensive: _attempt checks this
        raise FetchError(f"{url}: {part} holds {size} bytes but the server declared {total}; run again")
    digest = sha256_file(part) if hasher.n != size else hasher.hexdigest()
    return digest, total is not None


def _restart(part: Path, hasher: _Hasher, origin: _Origin, why: str) -> _Retry:
    """Throw away the ``.part`` and its record; the next attempt starts from zero."""
    _discard(part)
    hasher.reset()
    origin.etag = origin.last_modified = None
    origin.total = None
    return _Retry(f"{why}; restarting from zero")


def _attempt(url: str, part: Path, sess: requests.Session, timeout: float, hasher: _Hasher, bar: tqdm,
             origin: _Origin, *, probe: bool = False) -> int | None:
    """One GET: append to (or restart) ``part``. Returns the file's total size when the server declared
    or confirmed it, None when it did not. Raises _Retry for transient failures.

    ``probe``: an earlier attempt ended at this size without a declared length; a 200 without one
    now is not read again (the size stays unconfirmed)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        validator = origin.if_range()
        if validator:
            headers["If-Range"] = validator
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
        etag = resp.headers.get("ETag")
        modified = resp.headers.get("Last-Modified")
        if status == 416:
            m = _CONTENT_RANGE_UNSAT.match(resp.headers.get("Content-Range", ""))
            total = int(m.group(1)) if m else None
            if have and total == have and origin.differs(etag, modified, total) is None:
                hasher.sync(part, have)  # the .part already holds the whole file
                return total
            if have and total is None and origin.total in (None, have):
                hasher.sync(part, have)  # nothing after the end, but no size declared either
                return origin.total
            if have:  # the .part is longer than the file, or another version: stale, start again
                raise _restart(part, hasher, origin, f"{part.name} has {have} bytes but the file has {total}")
            raise FetchError(f"{url}: HTTP 416 Range Not Satisfiable for a request without a Range")
        if status == 429 or 500 <= status < 600:
            raise _Retry(f"HTTP {status} {resp.reason}")
        if status not in (200, 206):
            hint = ""
            if status in (401, 403, 407):
                hint = " (the host needs a login or refuses automated downloads; download it by hand)"
            raise FetchError(f"HTTP {status} {resp.reason} for {url}{hint}")

        body_len = _int_header(resp.headers.get("Content-Length"))
        stale: str | None = None  # why the bytes already in the .part cannot be continued
        if status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            total = int(m.group(3)) if m and m.group(3) != "*" else None
            if not have or m is None or int(m.group(1)) != have:
                stale = f"server resumed at {m.group(1) if m else 'an unknown byte'}, not {have}"
            elif body_len is not None and total is not None and have + body_len != total:
                stale = f"Content-Range {m.group(0)!r} and Content-Length {body_len} disagree"
            elif why := origin.differs(etag, modified, total):
                # the server ignored If-Range (or none could be sent): never splice two versions
                stale = f"the file changed on the server ({why})"
            offset = have
        else:  # 200: the whole file (a server that ignores Range restarts from zero)
            offset = 0
            total = body_len
            if probe and have and total is None:
                return None  # still no length: do not download everything again
            if probe and have and total == have and origin.differs(etag, modified, total) is None:
                hasher.sync(part, have)  # Range ignored but the length now confirms the bytes we have
                return total
        if total is None and body_len is not None:
            total = offset + body_len

        stream = resp.raw.stream(_CHUNK, decode_content=False)
        first = _read_head(stream)
        if is_html(first, ctype):  # also on a 206: an error page is never appended to a .part
            _discard(part)
            hasher.reset()
            raise _html_error(url)
        if stale:
            raise _restart(part, hasher, origin, stale)

        if offset:
            hasher.sync(part, offset)
        else:
            hasher.reset()
        origin.etag, origin.last_modified = etag or origin.etag, modified or origin.last_modified
        origin.total = total
        origin.save(part)
        bar.reset(total=total)
        bar.update(offset)
        received = 0
        try:
            f = open(part, "ab" if offset else "wb")
        except OSError as exc:
            raise _disk_error(part, exc, "nothing was written") from exc
        with f:
            chunk = first
            while chunk:
                try:
                    f.write(chunk)
                    f.flush()
                except OSError as exc:
                    raise _disk_error(part, exc, f"the bytes received so far are kept in {part.name} and the "
                                                 "download resumes from there") from exc
                hasher.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                chunk = _next_chunk(stream)
        if body_len is not None and received != body_len:
            raise _Retry(f"connection closed after {received} of {body_len} bytes")
        if total is not None and offset + received != total:
            raise _Retry(f"connection closed at byte {offset + received} of {total}")
        return total


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
        before with another hash or size. Use it only for a file that is known to be complete;
        otherwise ``check`` first and ``record`` once the file has proved itself (an archive extracted).
        """
        self.check(name, sha256, size, pinned=pinned)
        self.record(name, sha256, size, url)

    def check(self, name: str, sha256: str, size: int, *, pinned: str | None = None,
              path: Path | None = None) -> bool:
        """Check a file against its pin and its earlier record, recording nothing.

        Returns True if the file is already recorded (with this hash and size), False if it is new.
        Raises ChecksumMismatch if ``pinned`` is given and differs, or if the recorded hash or size
        differs; the message names ``path`` (the file on disk) when given.
        """
        sha = sha256.strip().lower()
        where = str(path) if path is not None else "the downloaded file"
        if pinned is not None and pinned.strip().lower() != sha:
            raise ChecksumMismatch(f"{name}: sha256 {sha} does not match the pinned {pinned.strip().lower()}; "
                                   f"the file is corrupted or the host now serves a different version. Delete "
                                   f"{where} and download again; if it persists, report it.")
        self._files = self._load()  # another process may have recorded files meanwhile
        entry = self._files.get(name)
        if entry is None:
            return False
        if str(entry.get("sha256", "")).lower() == sha and entry.get("size") == size:
            return True
        raise ChecksumMismatch(
            f"{name} changed since it was first downloaded on {entry.get('recorded', '(unknown date)')}: "
            f"recorded sha256 {entry.get('sha256')} ({entry.get('size')} bytes), now {sha} ({size} bytes). "
            f"Converted data would no longer match earlier results. If {where} is damaged, delete it and run "
            f"again: the new copy is checked against the recorded hash. To accept a new version instead, "
            f"delete {where} and the entry {name!r} in {self.path}, then run again.")

    def record(self, name: str, sha256: str, size: int, url: str | None) -> None:
        """Record a verified file's hash and size (no-op if already recorded identically)."""
        sha = sha256.strip().lower()
        self._files = self._load()
        entry = self._files.get(name)
        if entry is not None and str(entry.get("sha256", "")).lower() == sha and entry.get("size") == size:
            return
        self._files[name] = {
            "sha256": sha,
            "size": size,
            "url": url,
            "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self._save()

    def _save(self) -> None:
        data = {"version": self.VERSION, "files": dict(sorted(self._files.items()))}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            raise _disk_error(self.path, exc, "no checksum was recorded") from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except OSError as exc:
            _unlink(Path(tmp))
            raise _disk_error(self.path, exc, "the lock file was left as it was") from exc
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
    raise CorruptArchive(f"{display}: not a zip or tar archive")


# --------------------------------------------------------------------------- decompression limits

_MIB = 1 << 20
_GIB = 1 << 30
_NAME_MAX = 255  # bytes in one path component on ext4, XFS, APFS, NTFS (UTF-16 units)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": _MIB, "G": _GIB, "T": 1 << 40}
ENV_MAX_RATIO = "IMUDATA_MAX_EXPAND_RATIO"
ENV_MAX_SIZE = "IMUDATA_MAX_EXPAND_SIZE"
# Errors that mean the archive's bytes are bad (truncated, damaged), as opposed to the disk failing.
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, zlib.error,
            gzip.BadGzipFile, lzma.LZMAError)


def parse_size(text: str) -> int:
    """Bytes from ``"64G"``, ``"500M"``, ``"1.5T"``, ``"4096"`` (binary units, optional ``iB``/``B``)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.I)
    if not m:
        raise ValueError(f"{text!r} is not a size; expected a number of bytes or e.g. 500M, 64G, 1T")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


@dataclass(frozen=True)
class ExtractLimits:
    """How far one archive may expand; checked on the declared sizes before anything is written, and
    on the bytes actually written.

    ``max_bytes`` caps everything one extraction writes (nested zips included). ``max_ratio`` caps
    that total relative to the archive's size, but only once it exceeds ``ratio_floor``, so a small
    archive of very repetitive text is never refused. The defaults (100x, 64 GiB, 64 MiB) pass every
    supported release (they expand 1-20x; the largest is a few GB) and stop a 1 MiB zip writing 1 GiB.
    """

    max_ratio: float = 100.0
    max_bytes: int = 64 * _GIB
    ratio_floor: int = 64 * _MIB

    @classmethod
    def from_env(cls) -> ExtractLimits:
        """The defaults, overridden by ``$IMUDATA_MAX_EXPAND_RATIO`` and ``$IMUDATA_MAX_EXPAND_SIZE``."""
        ratio, size = os.environ.get(ENV_MAX_RATIO), os.environ.get(ENV_MAX_SIZE)
        try:
            return cls.parse(ratio or None, size or None)
        except ValueError as exc:
            raise FetchError(f"${ENV_MAX_RATIO} / ${ENV_MAX_SIZE}: {exc}") from exc

    @classmethod
    def parse(cls, ratio: str | float | None, size: str | int | None) -> ExtractLimits:
        """Limits from user text (``None`` keeps a default); ValueError says what is wrong."""
        d = cls()
        r = d.max_ratio if ratio is None else float(ratio)
        b = d.max_bytes if size is None else (size if isinstance(size, int) else parse_size(size))
        if not r > 0 or b <= 0:
            raise ValueError(f"limits must be positive (got ratio {ratio!r}, size {size!r})")
        return cls(r, b, d.ratio_floor)

    def allowed(self, archive_size: int) -> int:
        """Bytes an archive of ``archive_size`` bytes may write in all."""
        return min(self.max_bytes, max(int(self.max_ratio * archive_size), self.ratio_floor))


class _Budget:
    """Bytes one ``safe_extract`` may still write, shared by the archive and the zips nested in it."""

    def __init__(self, archive: Path, limits: ExtractLimits) -> None:
        self.size = archive.stat().st_size
        self.limits = limits
        self.allowed = limits.allowed(self.size)
        self.used = 0

    def declare(self, n: int, display: str) -> None:
        """Refuse before writing if ``n`` more declared bytes would pass the limit."""
        if self.used + n > self.allowed:
            raise self._refuse(display, self.used + n, "declares")

    def spend(self, n: int, display: str) -> None:
        """Count ``n`` bytes written; refuse as soon as the actual total passes the limit."""
        self.used += n
        if self.used > self.allowed:
            raise self._refuse(display, self.used, "wrote")

    def _refuse(self, display: str, total: int, verb: str) -> ArchiveTooLarge:
        lim = self.limits
        return ArchiveTooLarge(
            f"{display}: {verb} {total:,} bytes of content, {total / max(self.size, 1):.0f} times the archive's "
            f"{self.size:,} bytes, more than the {self.allowed:,} allowed (at most {lim.max_ratio:g}x the archive "
            f"above {lim.ratio_floor // _MIB} MiB, at most {lim.max_bytes:,} bytes); refusing to extract it "
            f"(a decompression bomb?); nothing was left behind. If you trust it, raise the limits with "
            f"--max-expand-ratio / --max-expand-size (or ${ENV_MAX_RATIO} / ${ENV_MAX_SIZE}).")


def _check_layout(display: str, entries: list[tuple[str, bool, str]]) -> None:
    """Refuse names no file system can store and a file that another member needs as a folder.

    ``entries``: (relative path, is a folder, member name as in the archive), in archive order.
    """
    files: dict[str, str] = {}
    dirs: dict[str, str] = {}
    for rel, is_dir, member in entries:
        parts = rel.split("/")
        for comp in parts:
            n = len(os.fsencode(comp))
            if n > _NAME_MAX:
                shown = member if len(member) <= 100 else f"{member[:60]}...{member[-30:]}"
                raise FetchError(f"{display}: member {shown!r} has a name of {n} bytes, longer "
                                 f"than the {_NAME_MAX} that file systems allow; refusing to extract the archive "
                                 "(nothing was written). Extract it by hand with shorter names and use --from FOLDER.")
        for i in range(1, len(parts) + (1 if is_dir else 0)):
            folder = "/".join(parts[:i])
            if folder in files:
                raise FetchError(f"{display}: member {files[folder]!r} is a file but {member!r} needs a folder of "
                                 "that name; refusing to extract the archive (nothing was written). The archive "
                                 "is damaged or was not made for this file system.")
            dirs.setdefault(folder, member)
        if not is_dir:
            if rel in dirs:
                raise FetchError(f"{display}: member {member!r} is a file but {dirs[rel]!r} needs a folder of that "
                                 "name; refusing to extract the archive (nothing was written). The archive is "
                                 "damaged or was not made for this file system.")
            files[rel] = member


# --------------------------------------------------------------------------- archive readers

def _extract_zip(archive: Path, dest: Path, display: str, budget: _Budget) -> list[Path]:
    try:
        zf = zipfile.ZipFile(archive)
    except _CORRUPT as exc:
        raise CorruptArchive(f"{display}: not a readable zip archive ({exc})") from exc
    with zf:
        plan: list[tuple[zipfile.ZipInfo, str]] = []
        for info in zf.infolist():  # check every member before writing anything
            rel = _member_relpath(info.filename, display)
            if rel is None:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                try:
                    link = zf.read(info).decode("utf-8", "surrogateescape")
                except _CORRUPT as exc:
                    raise CorruptArchive(f"{display}: corrupt zip archive ({exc})") from exc
                _check_link(display, info.filename, rel, link, hard=False)
                warnings.warn(f"{display}: skipping symbolic link {info.filename!r} -> {link!r}", stacklevel=3)
                continue
            if info.flag_bits & 0x1:
                raise FetchError(f"{display}: member {info.filename!r} is encrypted; imudata cannot extract it")
            plan.append((info, rel))
        _check_layout(display, [(rel, info.is_dir(), info.filename) for info, rel in plan])
        budget.declare(sum(info.file_size for info, _ in plan if not info.is_dir()), display)
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
                _copy_member(zf, info, out, budget, display)
                try:
                    mtime = time.mktime(info.date_time + (0, 0, -1))
                    os.utime(out, (mtime, mtime))
                except (OverflowError, ValueError, OSError):
                    pass
                written.append(out)
        except _CORRUPT as exc:
            raise CorruptArchive(f"{display}: corrupt zip archive ({exc})") from exc
        except NotImplementedError as exc:  # deflate64, ppmd, ...
            raise FetchError(f"{display}: {exc}; extract it with another tool and use --from FOLDER") from exc
    return written


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: Path, budget: _Budget, display: str) -> None:
    """Write one zip member, counting the bytes actually produced against the budget."""
    with zf.open(info) as src, open(out, "wb") as dst:
        written = 0
        while block := src.read(_MIB):
            written += len(block)
            if written > info.file_size:  # more data than declared: never trust the header
                raise CorruptArchive(f"{display}: member {info.filename!r} holds more than its declared "
                                     f"{info.file_size} bytes")
            budget.spend(len(block), display)
            dst.write(block)


def _extract_tar(archive: Path, dest: Path, display: str, budget: _Budget) -> list[Path]:
    try:
        tf = tarfile.open(archive, "r:*")
    except _CORRUPT as exc:
        raise CorruptArchive(f"{display}: not a readable tar archive ({exc})") from exc
    with tf:
        try:
            members = tf.getmembers()
        except _CORRUPT as exc:
            raise CorruptArchive(f"{display}: truncated or corrupt tar archive ({exc})") from exc
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
        _check_layout(display, [(m.name, m.isdir(), m.name) for m in chosen])
        declared = sum(m.size for m in chosen if m.isfile())
        budget.declare(declared, display)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        for m in chosen:
            _ensure_inside(root, dest / m.name, display, m.name)
        extra = {"filter": "data"} if _HAS_TAR_FILTER else {}
        try:
            tf.extractall(dest, members=chosen, **extra)
        except _CORRUPT as exc:
            if _HAS_TAR_FILTER and isinstance(exc, tarfile.FilterError):
                raise UnsafeArchive(f"{display}: member {exc.tarinfo.name!r} refused: {exc}") from exc
            raise CorruptArchive(f"{display}: truncated or corrupt tar archive ({exc})") from exc
        budget.spend(declared, display)  # tar members are stored: their sizes are the bytes written
    for dirpath, _dirs, _files in os.walk(dest):  # read-only folders would block moving files out
        mode = os.stat(dirpath).st_mode
        if mode & 0o700 != 0o700:
            os.chmod(dirpath, mode | 0o700)
    return [dest / m.name for m in chosen if m.isfile() or m.islnk() or m.issym()]


def _extract_archive(archive: Path, dest: Path, display: str, budget: _Budget) -> list[Path]:
    if _archive_kind(archive, display) == "zip":
        return _extract_zip(archive, dest, display, budget)
    return _extract_tar(archive, dest, display, budget)


def _is_zip_name(path: Path) -> bool:
    return len(path.name) > 4 and path.name.lower().endswith(".zip")


def _expand_nested(tmp: Path, target: Path, found: list[Path], keep: Callable[[Path], bool] | None,
                   display: str, budget: _Budget) -> None:
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
        new = _extract_zip(z, out, inner, budget)
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
                 keep_nested: Callable[[Path], bool] | None = None,
                 limits: ExtractLimits | None = None) -> list[Path]:
    """Extract a .zip, .tar or .tar.gz/.tgz into ``target``, refusing unsafe members; returns the files.

    Every member is checked before anything is written: absolute paths, drive letters, paths that
    leave ``target`` and links pointing outside it raise ``UnsafeArchive``; names longer than a file
    system allows, or a file that another member needs as a folder, raise ``FetchError``; content
    declared beyond ``limits`` (default ``ExtractLimits.from_env()``) raises ``ArchiveTooLarge``, as
    does content actually written beyond them. A truncated or damaged archive raises
    ``CorruptArchive``; a failed write (disk full) ``FetchError`` naming the file and what to do.
    ``__MACOSX/``, ``._*`` and ``.DS_Store`` are skipped. Extraction happens in a temporary sibling
    folder that is renamed to ``target`` (or merged into an existing one) only at the end, so a
    failure leaves ``target`` as it was and no temporary folder behind. With ``nested``, zips inside
    are extracted recursively into a folder of the same name without ``.zip`` and then deleted, except
    those for which ``keep_nested(path)`` is true (``path`` as it will be under ``target``); they count
    against the same limits. Returns the extracted files' final paths, sorted.
    """
    archive = Path(archive)
    target = Path(target)
    if not archive.is_file():
        raise FetchError(f"{archive}: no such archive")
    if target.exists() and not target.is_dir():
        raise FetchError(f"{target}: exists and is not a folder; cannot extract {archive.name} there")
    budget = _Budget(archive, limits if limits is not None else ExtractLimits.from_env())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
    except OSError as exc:
        raise _disk_error(Path(exc.filename or target.parent), exc, f"nothing of {archive.name} was extracted") from exc
    try:
        found = _extract_archive(archive, tmp, archive.name, budget)
        if nested:
            _expand_nested(tmp, target, found, keep_nested, archive.name, budget)
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
    except OSError as exc:
        raise _extract_error(archive, target, tmp, exc) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return [target / rel for rel in rel_files]


def _extract_error(archive: Path, target: Path, tmp: Path, exc: OSError) -> WriteFailed:
    """A failed write while extracting, as a one-line error naming the file (as it would be under
    ``target``, not the temporary folder) and what to do."""
    where = Path(exc.filename) if exc.filename else target
    try:
        where = target / where.relative_to(tmp)
    except ValueError:
        pass
    if exc.errno == errno.ENAMETOOLONG:
        return WriteFailed(f"{archive.name}: cannot write {where}: the path is too long for this file system; "
                           "choose a shorter --root, or extract the archive by hand and use --from FOLDER")
    return _disk_error(where, exc, f"extracting {archive.name} stopped and the partial extraction was removed")


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
