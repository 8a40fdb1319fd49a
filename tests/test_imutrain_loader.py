"""imutrain loader: subject-disjoint splits (leaks refused), DDP x worker sharding, z-score, masks."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from imutrain import config
from imutrain.data import (Collator, SplitLeakError, WindowStream, build_index, check_splits, patchify,
                           resolve_sources)
from tests.conftest import realdata

MANIFEST = """
version: 1
name: imutrain-test
defaults: {window_s: 5.0, patch_s: 1.0, weight: 1.0}
datasets:
  - id: hapt
    role: pretrain
    stream: imu
    channels: {sensors: [acc, gyro]}
    splits: {train: ['5', '8'], val: ['9'], test: ['10']}
  - id: dsads
    role: heldout
    stream: imu
    channels: {sensors: [acc, gyro], placements: [torso]}
    splits: {test: all}
"""

_ROOT: dict[str, Path] = {}


def converted_root(tmp_path_factory) -> Path:
    """HAPT + DSADS from the real-data samples, converted once per session."""
    if "root" not in _ROOT:
        import imudata.acquire
        import imudata.convert

        root = tmp_path_factory.mktemp("imutrain-data")
        for name in ("hapt", "dsads"):
            src = realdata(name)
            imudata.acquire.fetch(name, root, from_path=src)
            imudata.convert.convert(name, root, progress=False)
        (root / "manifest.yaml").write_text(MANIFEST)
        _ROOT["root"] = root
    return _ROOT["root"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return converted_root(tmp_path_factory)


def _sources(root: Path):
    from imudata import manifest

    man = manifest.load(root / "manifest.yaml", root=root, write_back=False)
    return resolve_sources(man.pretrain, root)


def _entry(**kw):
    base = dict(id="hapt", stream="imu", channels=[], window_s=5.0, patch_s=1.0, weight=1.0, drop_labels=[],
                splits={"train": ["5", "8"], "val": ["9"], "test": ["10"]}, role="pretrain")
    base.update(kw)
    return SimpleNamespace(**base)


def test_leaking_subject_is_refused(root):
    with pytest.raises(SplitLeakError, match="subject 8 in both 'train' and 'test'"):
        resolve_sources([_entry(splits={"train": ["5", "8"], "test": ["8", "10"]})], root)
    with pytest.raises(SplitLeakError):
        check_splits("x", {"train": ["1"], "val": ["1"]})
    check_splits("x", {"train": ["1", "2"], "val": ["3"], "test": ["4"]})


def test_split_windows_are_subject_disjoint(root):
    src = _sources(root)
    kw = dict(stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5)
    subs = {s: set(build_index(src, s, **kw).subject) for s in ("train", "val", "test")}
    assert subs == {"train": {"5", "8"}, "val": {"9"}, "test": {"10"}}
    idx = build_index(src, "train", **kw)
    assert (idx.length == 250).all()           # 5 s at 50 Hz, native rate
    assert (idx.label >= -1).all() and (idx.label >= 1).any()


def _stream(idx, src, mode, world=1, rank=0, steps=None, B=8):
    col = Collator("eval" if mode == "eval" else mode, 64, 48, config.AugmentConfig())
    return WindowStream(idx, src, col, mode=mode, batch_size=B, rank=rank, world_size=world, steps=steps, seed=3)


@pytest.mark.parametrize("world,workers", [(1, 3), (2, 2), (3, 2)])
def test_eval_sharding_disjoint_and_complete(root, world, workers):
    src = _sources(root)
    idx = build_index(src, "train", stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5)
    seen = []
    for r in range(world):
        st = _stream(idx, src, "eval", world, r)
        per_worker = [[i for _, b in st.work(w, workers) for i in b] for w in range(workers)]
        assert all(per_worker), "a worker sits idle"
        seen += [i for p in per_worker for i in p]
    assert sorted(seen) == list(range(len(idx)))  # nothing skipped, nothing repeated


@pytest.mark.parametrize("world,workers", [(2, 2), (3, 1)])
def test_train_sharding_disjoint_complete_and_equal(root, world, workers):
    src = _sources(root)
    idx = build_index(src, "train", stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5)
    B = 8
    G = B * world
    steps = len(idx) // G  # one epoch of the single bucket, rounded down to whole global batches
    got = {}
    for r in range(world):
        st = _stream(idx, src, "pretrain", world, r, steps=steps, B=B)
        for w in range(workers):
            for s, ids in st.work(w, workers):
                assert len(ids) == B  # equal batches on every rank: no DDP hang
                assert (s, r) not in got
                got[(s, r)] = ids
    assert len(got) == steps * world  # every rank runs every step
    flat = np.concatenate(list(got.values()))
    assert len(np.unique(flat)) == len(flat) == steps * G  # disjoint, no repeats within the epoch
    # the epoch's leftover (< one global batch) opens the next steps: nothing is skipped
    st = _stream(idx, src, "pretrain", world, 0, steps=steps + 2, B=B)
    nxt = np.concatenate([st.global_batch(s) for s in range(steps + 2)])
    assert set(range(len(idx))) <= set(nxt.tolist())


def test_resume_plan_is_a_function_of_step(root):
    src = _sources(root)
    idx = build_index(src, "train", stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5)
    a = _stream(idx, src, "pretrain", steps=10)
    col = Collator("pretrain", 64, 48, config.AugmentConfig())
    b = WindowStream(idx, src, col, mode="pretrain", batch_size=8, steps=10, seed=3, start_step=6)
    assert [s for s, _ in b.work(0, 1)] == [6, 7, 8, 9]
    for s, ids in b.work(0, 1):
        assert np.array_equal(ids, a.rank_batch(s))


def test_batches_from_real_shards(root):
    src = _sources(root)
    idx = build_index(src, "train", stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5)
    st = _stream(idx, src, "pretrain", steps=2)
    batch = next(iter(st))
    assert batch.patches.shape == (8, batch.patches.shape[1], 6, 64)
    assert batch.patches2.shape == batch.patches.shape
    assert batch.patch_mask.any(1).all() and batch.channel_mask.all()


def test_patchify_zscore_and_stats():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(230, 3)) * [1.0, 5.0, 0.1] + [9.81, 0.0, -2.0]).astype(np.float32)
    z, st = patchify(x, rate=50.0, patch_s=1.0, L=64, max_patches=48)
    assert z.shape == (4, 3, 64)  # 230 samples -> 4 whole 50-sample patches, interpolated to 64
    assert np.allclose(z.mean(-1), 0, atol=1e-5) and np.allclose(z.std(-1), 1, atol=1e-3)
    assert np.allclose(st[..., 0].mean(0), np.sign([9.81, 0, -2]) * np.log1p(np.abs([9.81, 0, -2])), atol=0.35)
    flat = np.zeros((100, 2), np.float32)
    z, _ = patchify(flat, 50.0, 1.0, 64, 48)
    assert np.isfinite(z).all() and (z == 0).all()  # a constant patch is zeros, not noise * 1e8


def _patch_reference(x: np.ndarray, n: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain loops: each whole n-sample patch of each channel, np.interp to L points, z-scored (float64)."""
    P = x.shape[0] // n
    z = np.zeros((P, x.shape[1], L))
    st = np.zeros((P, x.shape[1], 2))
    for p in range(P):
        for c in range(x.shape[1]):
            seg = x[p * n:(p + 1) * n, c].astype(np.float64)
            v = np.interp(np.linspace(0, n - 1, L), np.arange(n), seg)
            z[p, c] = (v - v.mean()) / v.std() if v.std() > 1e-6 else 0.0
            st[p, c] = [np.sign(seg.mean()) * np.log1p(abs(seg.mean())), np.log1p(seg.std())]
    return z, st


def test_batched_patching_matches_plain_loops():
    """patchify_many (one vectorised pass per patch geometry) = np.interp per patch and channel."""
    from imutrain.data.collate import patchify_many

    rng = np.random.default_rng(1)
    xs = [(rng.normal(size=(T, C)) * 2 + 3).astype(np.float32) for T, C in ((250, 6), (250, 6), (180, 6), (500, 3), (100, 6))]
    rates, patch_s = [50.0, 50.0, 50.0, 100.0, 20.0], [1.0, 0.75, 1.0, 1.25, 1.0]
    out = patchify_many(xs, rates, patch_s, 64, 48)
    for x, r, p, (z, st) in zip(xs, rates, patch_s, out):
        zr, sr = _patch_reference(x, int(round(r * p)), 64)
        assert z.shape == zr.shape and z.dtype == np.float32
        assert np.abs(z - zr).max() < 1e-4 and np.abs(st - sr).max() < 1e-5
        z1, st1 = patchify(x, r, p, 64, 48)  # the single-window entry point is the same computation
        assert np.array_equal(z1, z) and np.array_equal(st1, st)


@pytest.mark.parametrize("cfg", [dict(), dict(time_warp_p=1.0), dict(rotation_p=1.0, rotation_deg=180.0),
                                 dict(jitter_p=1.0, scale_p=1.0, channel_shuffle_p=1.0)])
def test_batched_augmentation_equals_per_window(cfg):
    """augment_batch draws from each window's own generator in augment()'s order: same windows, same permutations."""
    from imutrain.augment import augment, augment_batch

    names6 = ["waist_acc_x", "waist_acc_y", "waist_acc_z", "waist_gyro_x", "waist_gyro_y", "waist_gyro_z"]
    names4 = ["wrist_acc_x", "wrist_acc_y", "wrist_acc_z", "ecg"]
    rng = np.random.default_rng(2)
    xs = [(rng.normal(size=(250, 6)) * 2 + 3).astype(np.float32) for _ in range(20)]
    xs += [(rng.normal(size=(120, 4))).astype(np.float32) for _ in range(5)]
    names = [names6] * 20 + [names4] * 5
    acfg = config.AugmentConfig(**cfg)
    seeds = [[0, 7, j, 5] for j in range(len(xs))]
    ref = [augment(x, n, np.random.default_rng(sd), acfg) for x, n, sd in zip(xs, names, seeds)]
    got = augment_batch(xs, names, [np.random.default_rng(sd) for sd in seeds], acfg)
    for (xr, pr), (xg, pg) in zip(ref, got):
        assert np.array_equal(pr, pg)
        assert np.allclose(xg, xr, rtol=1e-6, atol=1e-5)
    assert any(not np.array_equal(xg, x) for (xg, _), x in zip(got, xs))  # something was augmented


def test_collate_pads_and_masks():
    from imutrain.data import Sample

    col = Collator("eval", 64, 48, None)
    s1 = Sample(np.ones((250, 6), np.float32), [f"c{i}" for i in range(6)], np.arange(6), 50.0, 1.0)
    s2 = Sample(np.ones((150, 3), np.float32), [f"c{i}" for i in range(3)], np.arange(3), 50.0, 1.0)
    b = col([s1, s2])
    assert b.patches.shape == (2, 5, 6, 64)
    assert b.patch_mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert b.channel_mask.tolist() == [[True] * 6, [True] * 3 + [False] * 3]
    assert (b.patches[1, 3:] == 0).all() and (b.patches[1, :, 3:] == 0).all()


def test_shard_columns_break_at_sessions_subjects_and_gaps(tmp_path):
    """The index's per-shard columns, compared in Arrow (no Python string per row), break where a
    session or subject changes or time jumps: each run below is written out by hand."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from imutrain.data.windows import _changes, _segments, _shard_columns

    subject = ["a"] * 6 + ["b"] * 2 + ["a"] * 4
    session = ["s1"] * 3 + ["s2"] * 3 + ["s2"] * 2 + ["s2"] * 2 + ["s3"] * 2
    t = [0, 1, 2, 0, 1, 5, 2, 3, 6, 7, 0, 1]  # a gap inside s2 at row 5 (1 -> 5 s at 1 Hz)
    label = [1, 1, None, 2, 2, 2, 3, 3, 4, None, 5, 5]
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"subject": subject, "session": session, "t": pa.array(t, pa.float64()),
                             "label": pa.array(label, pa.int16())}), path, row_group_size=5)
    keep, new_session, tt, lab = _shard_columns(path, "a")
    assert keep.tolist() == [True] * 6 + [False] * 2 + [True] * 4
    assert new_session.tolist() == [False, False, False, True] + [False] * 6 + [True, False]
    assert lab.tolist() == [1, 1, -1, 2, 2, 2, -1, -1, 4, -1, 5, 5]
    starts, ends = _segments(new_session | _changes(keep), tt, 1.0)
    assert list(zip(starts.tolist(), ends.tolist())) == [(0, 3), (3, 5), (5, 6), (6, 8), (8, 10), (10, 12)]


def test_shard_reader_reads_across_row_groups_with_few_open_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from imutrain.data.loader import ShardReader

    rng = np.random.default_rng(0)
    data, paths = [], []
    for i in range(5):
        x = rng.standard_normal((100, 2))
        paths.append(tmp_path / f"{i}.parquet")
        pq.write_table(pa.table({"a": x[:, 0], "b": x[:, 1]}), paths[-1], row_group_size=30)
        data.append(x.astype(np.float32))
    reader = ShardReader(cache_mb=1)
    reader.max_open_files = 2
    for rep in range(2):
        for i in (0, 3, 1, 4, 2, 0):
            got = reader.read(i, paths[i], 25, 40, ["b", "a"])  # rows 25..64: three row groups
            np.testing.assert_array_equal(got, data[i][25:65, ::-1])
            assert len(reader.files) <= 2


def test_batches_cross_processes_as_one_buffer_and_match_in_process(root):
    """A Batch pickles as one byte buffer (not a tensor per field) and comes back equal, field by
    field; batches made by 2 DataLoader workers equal those made in this process (same seeds)."""
    import pickle

    import torch

    from imutrain.data import make_loader

    src = _sources(root)
    idx = build_index(src, "train", stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5)
    here = list(make_loader(_stream(idx, src, "pretrain", steps=4), 0))
    there = list(make_loader(_stream(idx, src, "pretrain", steps=4), 2))
    b = here[1]
    _, args = b.__reduce__()
    assert isinstance(args[0], np.ndarray) and not any(isinstance(a, torch.Tensor) for a in args[2].values())
    back = pickle.loads(pickle.dumps(b))
    assert [x.step for x in here] == [x.step for x in there] == [0, 1, 2, 3]
    for x, y in [(b, back)] + list(zip(here, there)):
        for name in ("patches", "stats", "patch_mask", "channel_mask", "channel_ids", "label", "label_text",
                     "source", "window", "patches2", "stats2", "channel_ids2"):
            u, v = getattr(x, name), getattr(y, name)
            assert u.dtype == v.dtype and u.shape == v.shape and torch.equal(u, v), name
    e = next(iter(make_loader(_stream(idx, src, "eval"), 0)))
    e2 = pickle.loads(pickle.dumps(e))
    assert e2.patches2 is None and torch.equal(e2.patches, e.patches) and e2.step == e.step
