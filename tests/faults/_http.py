"""A misbehaving HTTP file server on 127.0.0.1 for download tests (no internet needed).

``Server`` says what is served and how the server misbehaves; the ``server`` fixture runs it in a
thread. Test modules import the fixture (``from tests.faults._http import server``).
"""
from __future__ import annotations

import json
import random
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DATA = random.Random(1234).randbytes(200_000)
LOGIN_PAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please log in</body></html>\n"
FAST = {"backoff": 0.01, "timeout": 5.0, "progress": False}


@dataclass
class Request:
    path: str
    range: str | None
    if_range: str | None = None
    status: int = 0
    sent: int = 0  # body bytes the server sent (or is sending)


@dataclass
class Server:
    """What the server serves and how it misbehaves; ``requests`` records every GET."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    content_type: dict[str, str] = field(default_factory=dict)
    etag: dict[str, str] = field(default_factory=dict)  # sent as ETag; If-Range compared against it
    last_modified: dict[str, str] = field(default_factory=dict)
    html: set[str] = field(default_factory=set)  # serve LOGIN_PAGE as text/html
    html_on_range: set[str] = field(default_factory=set)  # answer Range with a 206 whose body is LOGIN_PAGE
    status: dict[str, int] = field(default_factory=dict)  # always answer this status
    fail_first: dict[str, tuple[int, int]] = field(default_factory=dict)  # (status, first n requests)
    cut_first: set[str] = field(default_factory=set)  # first request: half the body, then close
    cut_always: set[str] = field(default_factory=set)  # every request: half the body, then close
    no_length: set[str] = field(default_factory=set)  # no Content-Length: the body ends when the connection closes
    ignore_range: set[str] = field(default_factory=set)  # answer 200 to Range requests
    ignore_if_range: set[str] = field(default_factory=set)  # resume with 206 even if If-Range does not match
    before: Callable[[Server, Request, int], None] | None = None  # hook run before answering request n
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def log(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _simple(self, code: int, body: bytes, ctype: str = "text/plain") -> int:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return len(body)

        def _cut(self) -> None:
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def do_GET(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            req = Request(path, self.headers.get("Range"), self.headers.get("If-Range"))
            with state.lock:
                state.requests.append(req)
                n = len(state.log(path))
            if state.before is not None:
                state.before(state, req, n)
            if path in state.status:
                req.status = state.status[path]
                req.sent = self._simple(state.status[path], b"error\n")
                return
            if path in state.fail_first and n <= state.fail_first[path][1]:
                req.status = state.fail_first[path][0]
                req.sent = self._simple(state.fail_first[path][0], b"try later\n")
                return
            if path in state.html:
                req.status = 200
                req.sent = self._simple(200, LOGIN_PAGE, "text/html; charset=utf-8")
                return
            data = state.files.get(path)
            if data is None:
                req.status = 404
                req.sent = self._simple(404, b"not found\n")
                return
            etag, modified = state.etag.get(path), state.last_modified.get(path)
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", req.range or "")
            validator_ok = (req.if_range is None or req.if_range in (etag, modified)
                            or path in state.ignore_if_range)
            if m and path not in state.ignore_range and validator_ok:
                start = int(m.group(1))
                if start >= len(data):
                    req.status = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                req.status = 206
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                req.status = 200
                self.send_response(200)
            body = data[start:]
            if path in state.html_on_range and start:
                body = LOGIN_PAGE
            self.send_header("Content-Type", state.content_type.get(path, "application/octet-stream"))
            if etag:
                self.send_header("ETag", etag)
            if modified:
                self.send_header("Last-Modified", modified)
            if path in state.no_length:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if path in state.cut_always or (path in state.cut_first and n == 1):
                half = body[: len(body) // 2]
                req.sent = len(half)
                self.wfile.write(half)
                self._cut()
                return
            req.sent = len(body)  # recorded first: the client may finish before write() returns
            self.wfile.write(body)
            if path in state.no_length:
                self._cut()

    return Handler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """A ``Server`` listening on 127.0.0.1 (proxies disabled), shut down after the test."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def write_part(dest: Path, data: bytes, url: str, *, total: int | None = None, etag: str | None = None,
               last_modified: str | None = None) -> Path:
    """An interrupted earlier download of ``url``: ``dest.part`` holding ``data`` and its ``.part.json``
    record (the layout imudata.fetch documents)."""
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(data)
    part.with_name(part.name + ".json").write_text(json.dumps(
        {"url": url, "etag": etag, "last_modified": last_modified, "total": total}))
    return part
