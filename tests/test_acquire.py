"""Dataset-level fetch over HTTP: a mirror server on 127.0.0.1 through download -> extract -> convert,
the source lock on later use, and manual-download instructions."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.errors import ChecksumMismatch, FetchError

from .fixtures import hapt as fx


@pytest.fixture
def mirror(tmp_path: Path):
    """A static file server on 127.0.0.1 serving tmp_path/'mirror'."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


def test_fetch_through_http_mirror_then_convert(tmp_path: Path, data_root: Path, mirror) -> None:
    folder, url = mirror
    archive = fx.make_archive(tmp_path / "src")
    (folder / "hapt.zip").write_bytes(archive.read_bytes())  # same file name as the registry's source
    fetch("hapt", data_root, mirror=url, progress=False)
    card = convert("hapt", data_root, progress=False)
    assert card.sources["hapt.zip"] and card.subjects == ["1", "2", "3"]
    assert not list((data_root / "hapt" / "raw" / "downloads").glob("*.part"))
    assert imudata.open("hapt", data_root).scan().select("t").collect().height == sum(n for *_, n in fx.EXPERIMENTS)


def test_mirror_from_environment(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "local-mirror"
    folder.mkdir()
    (folder / "hapt.zip").write_bytes(fx.make_archive(tmp_path / "src").read_bytes())
    monkeypatch.setenv("IMUDATA_MIRROR", str(folder))
    fetch("hapt", data_root, progress=False)
    assert (data_root / "hapt" / "raw" / "downloads" / "hapt.zip").exists()


def test_changed_source_is_refused_on_later_use(tmp_path: Path, data_root: Path) -> None:
    archive = fx.make_archive(tmp_path / "a")
    fetch("hapt", data_root, from_path=archive, progress=False)
    other = fx.make_archive(tmp_path / "b", seed=1)  # same name, different bytes
    with pytest.raises(ChecksumMismatch, match="hapt.zip"):
        fetch("hapt", data_root, from_path=other, progress=False)


def test_missing_mirror_file_names_what_to_do(data_root: Path, mirror) -> None:
    _folder, url = mirror
    with pytest.raises(FetchError, match="--from"):
        fetch("hapt", data_root, mirror=url, progress=False)


def test_from_folder_that_is_not_the_dataset(tmp_path: Path, data_root: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "notes.txt").write_text("hello")
    with pytest.raises(Exception, match="RawData/labels.txt"):
        fetch("hapt", data_root, from_path=wrong, progress=False)
