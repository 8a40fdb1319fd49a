"""An ``s3://`` data root on a real S3 server (moto on 127.0.0.1): fetch, convert, bands and
captions (local and Ray engines) equal a local root's; open, verify, manifests and the imutrain
loader read from it; a publication killed half-way leaves readers the old dataset."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import imudata
from imudata import commands
from imudata.errors import ImudataError
from imudata.paths import DatasetPaths, resolve_root
from imudata.storage import RemotePath, filesystem, is_remote

from ._same import assert_same_dataset, caption_level

REPO = Path(__file__).resolve().parents[1]


def test_root_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_remote("s3://b/p") and is_remote(Path("s3://b/p")) and not is_remote("/data/s3")
    r = resolve_root(Path("s3://bucket/pre/fix"))  # typer hands --root over as a Path: s3:/bucket/...
    assert isinstance(r, RemotePath) and str(r) == "s3://bucket/pre/fix"
    assert str(DatasetPaths(r, "hapt").card) == "s3://bucket/pre/fix/hapt/dataset.json"
    monkeypatch.setenv("IMUDATA_HOME", "s3://bucket/home")
    assert str(resolve_root(None)) == "s3://bucket/home"
    with pytest.raises(ImudataError, match="'..' are not allowed"):
        RemotePath("s3://bucket/a/../b")


def test_s3_root_equals_local_root_and_readers_read_it(s3_root: str, hapt_reference, tmp_path: Path) -> None:
    """Local engine: fetch (with conversion) and caption on the s3 root equal the local root's."""
    src, local = hapt_reference
    res = commands.fetch("hapt", s3_root, from_path=src)
    assert res["datasets"][0]["card"] == f"{s3_root}/hapt/dataset.json"
    said: list[str] = []
    cap = commands.caption("hapt", s3_root, window=10, stride=10, log=said.append)
    assert any(f"{s3_root}/hapt/captions/high_middle" in m for m in said), said  # named as readers see it
    assert not any("s3-working-copy" in m for m in said), said
    assert cap["captions"][0]["folder"] == f"{s3_root}/hapt/captions/high_middle"
    assert_same_dataset(local, s3_root)  # imudata.open + polars scans read the objects in place
    idx_l, rows_l = caption_level(local, "hapt", "high_middle")
    idx_s, rows_s = caption_level(s3_root, "hapt", "high_middle")
    assert idx_l == idx_s and rows_l.num_rows > 50 and rows_l.equals(rows_s)
    keys = filesystem().find(s3_root[len("s3://"):])
    assert not [k for k in keys if ".tmp-" in k or "/.work/" in k], "temporary objects left on the server"
    assert commands.verify("hapt", s3_root)["ok"]
    # a re-run is a no-op: nothing uploaded, the card object untouched
    card_key = f"{s3_root[len('s3://'):]}/hapt/dataset.json"
    before = filesystem().info(card_key, refresh=True)["LastModified"]
    commands.convert("hapt", s3_root)
    assert filesystem().info(card_key, refresh=True)["LastModified"] == before
    # the imutrain loader and manifests read the shards from the server
    from imudata import manifest
    from imutrain.data import build_index, resolve_sources

    text = ("version: 1\nname: s3\ndefaults: {window_s: 5.0, patch_s: 1.0, weight: 1.0}\ndatasets:\n"
            "  - {id: hapt, role: pretrain, stream: imu, splits: {train: ['4'], test: ['5']}}\n")
    (tmp_path / "m.yaml").write_text(text)
    from imutrain.data.loader import ShardReader
    from imutrain.families.sensorlm.pairs import caption_windows

    got = []
    for root in (local, s3_root):
        man = manifest.load(tmp_path / "m.yaml", root=root, write_back=False)
        sources = resolve_sources(man.pretrain, root)
        idx = build_index(sources, "train", stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5)
        assert isinstance(idx.shards[0].path, RemotePath) == (root == s3_root)
        w = len(idx.start) // 2
        window = ShardReader().read(0, idx.shards[int(idx.shard[w])].path, int(idx.start[w]), int(idx.length[w]),
                                    sources[0].channels)
        captions = caption_windows(idx, sources, "high_middle", labels=True, seed=0)  # SensorLM pairs
        got.append((len(idx.start), window, captions.texts))
    (n_local, x_local, t_local), (n_s3, x_s3, t_s3) = got
    assert n_local == n_s3 > 10 and x_local.shape == x_s3.shape and (x_local == x_s3).all()
    assert t_local == t_s3 and all(t_local), "the SensorLM captions of the windows differ between roots"


def test_ray_engine_on_s3_root_equals_local_engine(ray_session, hapt_reference, s3_root: str) -> None:
    """Every step (convert, bands, resample, caption) with the Ray engine on the s3 root: the same
    values, rows, schema, card and captions as the local engine on a local root."""
    src, local = hapt_reference
    commands.fetch("hapt", s3_root, from_path=src, convert=False)
    res = commands.convert("hapt", s3_root, engine="ray")
    assert res["subjects"] == ["4", "5"] and res["shards"] == 2
    commands.bands("hapt", s3_root, engine="ray")
    commands.resample("hapt", s3_root, rate=20, engine="ray")
    commands.caption("hapt", s3_root, level="high_middle,low", window=10, stride=10, engine="ray")
    assert_same_dataset(local, s3_root)
    assert [s.name for s in imudata.open("hapt", s3_root).card.streams] == ["imu", "imu_bands", "imu_20hz"]
    for folder in ("high_middle", "low"):
        idx_l, rows_l = caption_level(local, "hapt", folder)
        idx_s, rows_s = caption_level(s3_root, "hapt", folder)
        assert idx_l == idx_s and rows_l.num_rows > 50 and rows_l.equals(rows_s)


@pytest.mark.parametrize("point", ["s3:after-shards", "s3:after-card"])
def test_publication_killed_leaves_a_whole_dataset(s3_root: str, hapt_reference, point: str) -> None:
    """kill -9 of ``convert --force`` on the s3 root between uploading the new shards and the card
    (readers keep the old card and all of its shards) or after the card (the new card with all of
    its shards): either way the leftover objects are listed by no card, ``verify`` names them, and
    a re-run removes them."""
    src, _ = hapt_reference
    commands.fetch("hapt", s3_root, from_path=src)
    before = imudata.open("hapt", s3_root)
    old_card = before.paths.card.read_bytes()
    env = dict(os.environ, IMUDATA_FAULT=point, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "imudata.cli", "convert", "hapt", "--root", s3_root, "--force",
                           "-q"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    after = imudata.open("hapt", s3_root)
    card_now = after.paths.card.read_bytes()
    assert (card_now == old_card) == (point == "s3:after-shards")
    assert after.scan().collect().equals(before.scan().collect())  # every shard the card lists is there
    problems = commands.verify("hapt", s3_root)["problems"]
    assert len(problems) == 2 and all(p.startswith("stray file parquet/imu/") for p in problems), problems
    commands.convert("hapt", s3_root)  # the re-run: up to date, and the stray objects go
    assert commands.verify("hapt", s3_root)["ok"]
    assert imudata.open("hapt", s3_root).paths.card.read_bytes() == card_now
