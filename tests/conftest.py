"""Shared test helpers: the real-data folder (skipped with a reason when absent) and a data root."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REALDATA = Path(os.environ.get("IMUDATA_REALDATA", Path(__file__).resolve().parents[1].parent / "shared" / "realdata"))


def realdata(name: str) -> Path:
    """The real original files of one dataset, or skip the test saying why."""
    path = REALDATA / name
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it ships beside the repository in CI only; "
                    f"set IMUDATA_REALDATA to point elsewhere)")
    return path


def hapt_users(src: Path) -> list[str]:
    """HAPT user ids present in a copy (from its ``RawData/acc_expNN_userMM.txt`` names), numerically sorted."""
    users = {int(m.group(1)) for p in (src / "RawData").glob("acc_exp*_user*.txt")
             if (m := re.fullmatch(r"acc_exp\d+_user(\d+)\.txt", p.name))}
    return [str(u) for u in sorted(users)]


def hapt_experiments(src: Path) -> list[tuple[int, int]]:
    """(experiment, user) pairs present in a HAPT copy, sorted by experiment."""
    pairs = []
    for p in (src / "RawData").glob("acc_exp*_user*.txt"):
        m = re.fullmatch(r"acc_exp(\d+)_user(\d+)\.txt", p.name)
        if m:
            pairs.append((int(m.group(1)), int(m.group(2))))
    return sorted(pairs)


def wesad_subjects_with(src: Path, suffix: str) -> list[str]:
    """WESAD subject folders (S2 ... S17) of a copy holding ``S<k><suffix>``, numerically sorted."""
    found = [d.name for d in src.glob("S*") if d.is_dir() and (d / f"{d.name}{suffix}").is_file()]
    return sorted(found, key=lambda s: int(s[1:]))


def expand_subject_ranges(text: str) -> list[str]:
    """'S2-S11, S13-S17' -> ['S2', ..., 'S11', 'S13', ..., 'S17'] (the inverse of the card's short form)."""
    out: list[str] = []
    for part in text.split(", "):
        if "-" in part:
            a, b = part.split("-")
            out += [f"S{n}" for n in range(int(a[1:]), int(b[1:]) + 1)]
        else:
            out.append(part)
    return out


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root, also exported as $IMUDATA_HOME so CLI calls use it."""
    root = tmp_path / "imudata-home"
    root.mkdir()
    monkeypatch.setenv("IMUDATA_HOME", str(root))
    return root


def session_start(card, subject: str, session: str) -> float:
    """The original clock at a session's first sample, from dataset.json (t + this = source time)."""
    for sh in card.shards:
        if sh["subject"] == subject and session in sh["sessions"]:
            return sh["session_start"][session]
    raise KeyError(f"no shard holds {subject}/{session}")


def with_clock(df, card, stream: str | None = None):
    """``df`` with a ``clock`` column: t + the session's start on the source's own clock."""
    import polars as pl

    rows = [(sh["subject"], s, float(v)) for sh in card.shards if stream is None or sh["stream"] == stream
            for s, v in sh["session_start"].items()]
    starts = pl.DataFrame(rows, schema=["subject", "session", "_start"], orient="row")
    return (df.join(starts, on=["subject", "session"], how="left")
            .with_columns((pl.col("t") + pl.col("_start")).alias("clock")).drop("_start"))


def scan_with_clock(name: str, root, stream: str | None = None):
    """A converted stream collected with its ``clock`` column (see ``with_clock``)."""
    import imudata

    ds = imudata.open(name, root)
    stream = stream or ds.card.streams[0].name
    return with_clock(ds.scan(stream).collect(), ds.card, stream)


# --------------------------------------------------------------------------------------------
# Ray engine and s3:// roots (tests/test_engines.py, tests/test_s3_root.py)

HAPT_SUBSET = ("exp07_user04", "exp08_user04", "exp09_user05", "exp10_user05")


def hapt_subset(dest: Path) -> Path:
    """A copy of the real HAPT files holding users 4 and 5 only (4 experiments): small enough to
    convert, band-split and caption in seconds, real enough to carry gaps, labels and transitions."""
    import shutil

    src = realdata("hapt")
    (dest / "RawData").mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "activity_labels.txt", dest)
    shutil.copy(src / "RawData" / "labels.txt", dest / "RawData")
    for stem in HAPT_SUBSET:
        for kind in ("acc", "gyro"):
            shutil.copy(src / "RawData" / f"{kind}_{stem}.txt", dest / "RawData")
    return dest


@pytest.fixture(scope="session")
def hapt_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(subset of the real HAPT files, a local root where the local engine fetched and converted
    them, split bands, resampled to 20 Hz and captioned 10 s windows at levels high_middle and
    low): the reference the other engine and the s3 root are compared with. Built once."""
    from imudata import commands

    base = tmp_path_factory.mktemp("hapt-reference")
    src = hapt_subset(base / "hapt-src")
    root = base / "local"
    commands.fetch("hapt", root, from_path=src)
    commands.bands("hapt", root)
    commands.resample("hapt", root, rate=20)
    commands.caption("hapt", root, level="high_middle,low", window=10, stride=10)
    return src, root


@pytest.fixture(scope="session")
def ray_session():
    """Ray started once per test session on 2 CPUs (about 12 s here); workers import this checkout."""
    ray = pytest.importorskip("ray")
    from imudata.engines import worker_pythonpath

    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "OMP_NUM_THREADS")}
    # in the environment Ray starts with (not a runtime_env): the workers Ray starts in advance qualify
    os.environ.update(PYTHONPATH=worker_pythonpath(), OMP_NUM_THREADS="1")
    try:
        if not ray.is_initialized():
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        yield ray
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 server (moto) on 127.0.0.1 at a free port, for the session; yields its URL.

    The AWS variables that the s3fs client and polars read are set for the session and restored after.
    """
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the moto S3 server did not start on {url}")
            time.sleep(0.1)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": url}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_root(s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<new bucket>/imudata`` on the test server, with the local working copy under tmp_path."""
    import secrets

    import boto3

    bucket = f"t-{secrets.token_hex(6)}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    monkeypatch.setenv("IMUDATA_S3_CACHE", str(tmp_path / "s3-working-copy"))
    return f"s3://{bucket}/imudata"
