"""The imudata command line as a user types it: list, info (before download), fetch, convert, verify, errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import hapt_users, realdata
from .fixtures import hapt as fx


def run(*args: str, root: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "IMUDATA_HOME": str(root)}
    proc = subprocess.run([sys.executable, "-m", "imudata.cli", *args], env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"imudata {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_info_before_download_and_list(data_root: Path) -> None:
    out = run("info", "hapt", "--json", root=data_root).stdout
    info = json.loads(out)
    assert info["status"] == "not downloaded"
    chans = info["streams"][0]["channels"]
    assert {c["unit"] for c in chans} == {"m/s²", "rad/s"}
    assert all(c["description"] for c in chans)
    listing = run("list", root=data_root).stdout
    assert "hapt" in listing and "dsads" in listing and "not downloaded" in listing


def test_unknown_dataset_is_a_clear_error(data_root: Path) -> None:
    proc = run("info", "pamap3", root=data_root, check=False)
    assert proc.returncode == 2
    assert "unknown dataset 'pamap3'" in proc.stderr and "Traceback" not in proc.stderr


def test_convert_before_fetch_says_what_to_do(data_root: Path) -> None:
    proc = run("convert", "hapt", root=data_root, check=False)
    assert proc.returncode == 2 and "imudata fetch hapt" in proc.stderr


def test_fetch_from_archive_then_verify_detects_tampering(tmp_path: Path, data_root: Path) -> None:
    archive = fx.make_archive(tmp_path / "src")
    run("fetch", "hapt", "--from", str(archive), "-q", root=data_root)
    assert run("verify", "hapt", root=data_root).returncode == 0
    shard = next((data_root / "hapt" / "parquet" / "imu").glob("part-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    proc = run("verify", "hapt", root=data_root, check=False)
    assert proc.returncode == 1 and "sha256 differs" in proc.stderr


def test_fetch_no_convert_stops_after_download(tmp_path: Path, data_root: Path) -> None:
    run("fetch", "hapt", "--from", str(fx.make_archive(tmp_path / "src")), "--no-convert", "-q", root=data_root)
    assert (data_root / "hapt" / "raw" / "sources.lock.json").exists()
    assert not (data_root / "hapt" / "dataset.json").exists()


def test_done_when_real_hapt(data_root: Path) -> None:
    """The issue's acceptance command: fetch --from the real files, convert, info."""
    src = realdata("hapt")
    run("fetch", "hapt", "--from", str(src), "--no-convert", root=data_root)
    run("convert", "hapt", root=data_root)
    text = run("info", "hapt", root=data_root).stdout
    for axis in "xyz":
        assert f"waist_acc_{axis}   m/s²   Accelerometer {axis.upper()}-axis (±2 g), waist, gravity included" in text
        assert f"waist_gyro_{axis}  rad/s  Gyroscope (angular rate) {axis.upper()}-axis, waist" in text
    for name in ("WALKING", "WALKING_UPSTAIRS", "LAYING", "STAND_TO_SIT", "LIE_TO_STAND"):
        assert name in text
    assert text.count("\n       ") + text.count("\n      1") >= 12
    info = json.loads(run("info", "hapt", "--json", root=data_root).stdout)
    assert [lab["id"] for lab in info["labels"]] == list(range(1, 13))
    assert info["subjects"] == hapt_users(src)


@pytest.mark.parametrize("cmd", ["list", "info", "fetch", "convert", "verify"])
def test_help_teaches(cmd: str, data_root: Path) -> None:
    out = run(cmd, "--help", root=data_root).stdout
    assert "Usage" in out and len(out) > 200


def test_verify_checks_that_sessions_start_at_zero(tmp_path: Path, data_root: Path) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from imudata.shards import read_metadata, write_table
    from imudata.verify import verify

    run("fetch", "hapt", "--from", str(fx.make_archive(tmp_path / "src")), "-q", root=data_root)
    assert verify("hapt", data_root) == []
    shard = next((data_root / "hapt" / "parquet" / "imu").glob("part-*.parquet"))
    table = pq.read_table(shard)
    shifted = table.set_column(table.schema.get_field_index("t"), "t", pc.add(table.column("t"), 1.0))
    write_table(shard, shifted.replace_schema_metadata(None), {k: v for k, v in read_metadata(shard).items()})
    problems = verify("hapt", data_root)
    assert any("starts at t = 1.0, expected 0" in p for p in problems)
