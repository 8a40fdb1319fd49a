"""OS errors on the command line: disk full while converting, --root that is a file or unwritable,
an unknown image type for plot. Each gives one line naming the path and what to do, exit 2, no
traceback, and no temporary file left behind; a re-run after the cause is gone finishes the work."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import imudata.api
from imudata.verify import verify

from ..fixtures import hapt as fx
from ._tools import cli_in_process, place_originals


def _temporaries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".tmp" in p.name)


def _one_line(err: str) -> str:
    """The one error line, which ends the output (progress messages may come before it)."""
    lines = err.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("error")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err, err
    return errors[0]


def test_disk_full_while_writing_shards(tmp_path: Path, capsys, monkeypatch) -> None:
    root = tmp_path / "home"
    place_originals(root, "hapt", fx)
    real = pq.write_table
    calls = {"n": 0}

    def full_disk(table, where, **kw):
        calls["n"] += 1
        if calls["n"] < 2:
            return real(table, where, **kw)
        Path(where).write_bytes(b"PAR1 half a shard")  # what a full disk leaves behind
        raise OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq, "write_table", full_disk)
    code, err = cli_in_process(["convert", "hapt", "--root", str(root), "-q"], capsys, monkeypatch)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"error: {root / 'hapt' / '.work'}") and ".parquet: " in line
    assert "No space left on device; free disk space or pass --root on a larger disk" in line
    assert _temporaries(root) == []
    monkeypatch.setattr(pq, "write_table", real)  # space freed: the re-run keeps the finished subject
    code, err = cli_in_process(["convert", "hapt", "--root", str(root), "-q"], capsys, monkeypatch)
    assert code == 0 and "resuming, 1 of 3 subjects already converted" in err
    assert verify("hapt", root) == []


def test_disk_full_while_writing_the_card(tmp_path: Path, capsys, monkeypatch) -> None:
    root = tmp_path / "home"
    place_originals(root, "hapt", fx)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(imudata.api.os, "fsync", no_space)
    code, err = cli_in_process(["convert", "hapt", "--root", str(root), "-q"], capsys, monkeypatch)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"error: {root / 'hapt' / 'dataset.json'}: No space left on device; ")
    assert _temporaries(root) == [] and not (root / "hapt" / "dataset.json").exists()
    monkeypatch.undo()
    code, err = cli_in_process(["convert", "hapt", "--root", str(root), "-q"], capsys, monkeypatch)
    assert code == 0 and "resuming, 3 of 3 subjects already converted" in err
    assert verify("hapt", root) == []


def test_root_is_a_file(tmp_path: Path, capsys, monkeypatch) -> None:
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    archive = fx.make_archive(tmp_path / "src")
    code, err = cli_in_process(["fetch", "hapt", "--from", str(archive), "--root", str(afile), "-q"], capsys, monkeypatch)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"error: {afile / 'hapt'}: Not a directory; a file is in the way")
    code, err = cli_in_process(["caption", "--root", str(afile), "-q"], capsys, monkeypatch)
    assert code == 2 and _one_line(err).startswith(f"error: {afile}: Not a directory; ")


def test_root_not_writable(tmp_path: Path, capsys, monkeypatch) -> None:
    """Tests run as root here, so a read-only folder is simulated at os.mkdir."""
    root = tmp_path / "readonly"
    root.mkdir()
    real_mkdir = os.mkdir

    def refuse(path, *args, **kw):
        if str(path).startswith(str(root)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_mkdir(path, *args, **kw)

    monkeypatch.setattr(os, "mkdir", refuse)
    archive = fx.make_archive(tmp_path / "src")
    code, err = cli_in_process(["fetch", "hapt", "--from", str(archive), "--root", str(root), "-q"], capsys, monkeypatch)
    line = _one_line(err)
    assert code == 2 and line == (f"error: {root / 'hapt'}: Permission denied; make it writable or pass --root "
                                  f"pointing to a folder you can write")


@pytest.mark.parametrize("out", ["figure.xyz", "figure"])
def test_plot_unknown_image_type(tmp_path: Path, out: str, capsys, monkeypatch) -> None:
    target = tmp_path / out
    code, err = cli_in_process(["plot", "hapt", "--session", "exp01", "--out", str(target), "--root",
                                str(tmp_path)], capsys, monkeypatch)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"error: --out {target}: ") and "image extension" in line
    assert ".png, " in line and ".svg" in line
    assert list(tmp_path.iterdir()) == []
