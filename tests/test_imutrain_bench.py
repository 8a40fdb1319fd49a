"""The benchmark's scoring (bootstrap, chance, present-label closed set), its baselines' invariances,
subject folds, and the provenance recorded in run.json. CPU, a few seconds each."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from imutrain import config, train
from imutrain.bench import features, stats
from imutrain.bench.data import subject_folds
from imutrain.bench.runner import Bench, ProtocolError, load_protocol


# ------------------------------------------------------------------------------------ bootstrap
def test_bootstrap_two_subjects_known_distribution():
    # subject A: 10 windows all right; subject B: 10 windows all wrong. A resample of 2 subjects is
    # AA (acc 1, p 1/4), AB or BA (acc 0.5, p 1/2) or BB (acc 0, p 1/4).
    y = np.zeros(20, int)
    p = np.r_[np.zeros(10, int), np.ones(10, int)]
    subj = np.array(["A"] * 10 + ["B"] * 10)
    out = stats.bootstrap_seed_mean(y, [p], subj, 2, n_boot=4000, seed=1)
    assert out["acc"]["mean"] == pytest.approx(0.5)
    assert out["acc"]["lo"] == 0.0 and out["acc"]["hi"] == 1.0
    assert out["n_subjects"] == 2 and out["n_windows"] == 20
    # the same draws, re-made here: frequencies of the three outcomes
    rng = np.random.default_rng(1)
    draws = [np.bincount(rng.integers(0, 2, 2), minlength=2)[0] / 2 for _ in range(4000)]
    assert np.mean(np.array(draws) == 0.5) == pytest.approx(0.5, abs=0.03)


def test_bootstrap_identical_subjects_collapse_and_seed_mean():
    # every subject has the same 3 windows and the same predictions: every resample equals the point value
    y = np.tile([0, 1, 2], 4)
    subj = np.repeat(["1", "2", "3", "4"], 3)
    p1 = np.tile([0, 1, 1], 4)            # acc 2/3 ; F1: class0 1, class1 2/3, class2 0 -> 5/9
    p2 = np.tile([0, 1, 2], 4)            # acc 1   ; F1 1
    out = stats.bootstrap_seed_mean(y, [p1, p2], subj, 3, n_boot=200, seed=0)
    assert out["acc"]["per_seed"] == pytest.approx([2 / 3, 1.0])
    assert out["acc"]["mean"] == pytest.approx(5 / 6)
    assert out["acc"]["sd"] == pytest.approx(np.std([2 / 3, 1.0], ddof=1))
    assert out["acc"]["lo"] == pytest.approx(5 / 6) and out["acc"]["hi"] == pytest.approx(5 / 6)
    assert out["f1"]["per_seed"] == pytest.approx([5 / 9, 1.0])


def test_bootstrap_is_paired_across_methods():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    subj = np.repeat([str(i) for i in range(10)], 30)
    a = stats.bootstrap_seed_mean(y, [y.copy()], subj, 3, n_boot=100, seed=7)
    b = stats.bootstrap_seed_mean(y, [y.copy()], subj, 3, n_boot=100, seed=7)
    assert a == b


def test_verdict_rule():
    assert stats.verdict(0.6, 0.7, 0.4, 0.59) == "win"
    assert stats.verdict(0.3, 0.39, 0.4, 0.5) == "loss"
    assert stats.verdict(0.3, 0.45, 0.4, 0.5) == "tie"


# ------------------------------------------------------------------------------------ chance
def test_chance_levels_hand_counts():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)    # shares 0.6, 0.3, 0.1
    c = stats.chance_levels(y)
    assert c["acc_uniform"] == pytest.approx(1 / 3)
    assert c["acc_majority"] == pytest.approx(0.6)
    # by hand: 2 p (1/3) / (p + 1/3) = 0.428571, 0.315789, 0.153846 -> mean 0.299402
    assert c["f1_uniform"] == pytest.approx(0.299402, abs=1e-6)
    # constant majority: F1 of class 0 = 2*0.6/1.6 = 0.75, others 0 -> 0.25
    assert c["f1_majority"] == pytest.approx(0.25)


def test_chance_f1_uniform_matches_simulation_and_majority_matches_scoring():
    rng = np.random.default_rng(3)
    y = np.array([0] * 6000 + [1] * 3000 + [2] * 1000)
    sim = np.mean([stats.scores(y, rng.integers(0, 3, len(y)), 3)["f1"] for _ in range(20)])
    assert sim == pytest.approx(stats.chance_levels(y)["f1_uniform"], abs=0.01)
    assert stats.scores(y, np.zeros(len(y), int), 3)["f1"] == pytest.approx(stats.chance_levels(y)["f1_majority"])


def test_scores_match_hand_confusion():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    s = stats.scores(y, p, 3)
    assert s["acc"] == pytest.approx(3 / 5)
    # F1: class0 tp1 fp1 fn1 -> 0.5; class1 tp2 fp1 fn0 -> 0.8; class2 -> 0
    assert s["f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


# ------------------------------------------------------------------------------------ closed set
def test_present_label_closed_set_never_predicts_an_absent_label():
    scores = np.array([[0.1, 0.9, 0.3, 0.2],     # best overall: label 1 (absent)
                       [0.5, 0.4, 0.1, 0.8],
                       [0.2, 0.95, 0.6, 0.1]])
    y = np.array([0, 3, 2])
    present = stats.present_labels(y)
    assert present == [0, 2, 3]
    pred = stats.closed_set_predict(scores, present)
    assert pred.tolist() == [2, 3, 2]
    assert stats.closed_set_predict(scores, range(4)).tolist() == [1, 3, 1]   # card-wide differs
    with pytest.raises(ValueError, match="empty"):
        stats.closed_set_predict(scores, [])


def test_name_transfer_marks_unseen_labels_impossible():
    from types import SimpleNamespace as NS

    w = NS(labels=[NS(name="walking"), NS(name="sleeping"), NS(name="sitting")])
    S_train = np.array([[1.0, 2.0, 3.0]])                 # training labels: sitting, running, walking
    S = Bench._to_target(S_train, ["sitting", "running", "walking"], w)
    assert S[0, 0] == 3.0 and S[0, 2] == 1.0 and S[0, 1] == -np.inf


# ------------------------------------------------------------------------------------ features, folds
def _rot(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_features_are_rotation_invariant_and_see_the_signal():
    rng = np.random.default_rng(0)
    t = np.arange(250) / 50.0
    acc = np.c_[0.5 * np.sin(2 * np.pi * 2 * t), 0.2 * rng.normal(size=250), 9.81 + np.cos(2 * np.pi * 0.5 * t)]
    gyro = np.c_[np.sin(2 * np.pi * 3 * t), 0.1 * rng.normal(size=250), 0.3 * np.ones(250)]
    names = [f"waist_acc_{a}" for a in "xyz"] + [f"waist_gyro_{a}" for a in "xyz"]
    f0 = features.window_features(np.c_[acc, gyro].astype(np.float32), names, 50.0)
    R = _rot(5)
    f1 = features.window_features(np.c_[acc @ R.T, gyro @ R.T].astype(np.float32), names, 50.0)
    assert f0.shape == (features.N_PER_PLACEMENT,)
    np.testing.assert_allclose(f0, f1, rtol=1e-3, atol=1e-3)
    still = features.window_features(np.c_[np.tile([0, 0, 9.81], (250, 1)), np.zeros((250, 3))].astype(np.float32), names, 50.0)
    assert not np.allclose(f0, still)
    assert still[0] == pytest.approx(9.81, rel=1e-4)       # mean |acc| of a still sensor


def test_features_split_acceleration_equals_total():
    rng = np.random.default_rng(1)
    grav = np.tile([0.0, 9.81, 0.0], (100, 1))
    lacc = rng.normal(size=(100, 3))
    gyro = rng.normal(size=(100, 3))
    split = features.window_features(np.c_[grav, gyro, lacc].astype(np.float32),
                                     [f"pocket_{s}_{a}" for s in ("grav", "gyro", "lacc") for a in "xyz"], 50.0)
    total = features.window_features(np.c_[lacc + grav, gyro].astype(np.float32),
                                     [f"pocket_{s}_{a}" for s in ("acc", "gyro") for a in "xyz"], 50.0)
    np.testing.assert_allclose(split, total, rtol=1e-4, atol=1e-4)


def test_subject_folds_disjoint_and_complete():
    subj = np.repeat([str(i) for i in range(1, 13)], 5)
    folds = subject_folds(subj, 5, 0)
    assert len(folds) == 5
    test_all = np.concatenate([te for _, te in folds])
    assert sorted(test_all.tolist()) == list(range(len(subj)))
    for tr, te in folds:
        assert not set(subj[tr]) & set(subj[te])
        assert len(tr) + len(te) == len(subj)
    assert len(subject_folds(np.array(["a", "b", "c", "d"]), 5, 0)) == 4   # leave one subject out


def test_protocol_errors_name_the_key(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("scale: cpu\nscales: {cpu: {recipe: tiny, seeds: [0]}}\nmethods: [tsfm, magic]\n")
    with pytest.raises(ProtocolError, match="methods: unknown method 'magic'"):
        load_protocol(p)
    p.write_text("scale: gpu\nscales: {cpu: {recipe: tiny, seeds: [0]}}\n")
    with pytest.raises(ProtocolError, match="scales.gpu missing"):
        load_protocol(p)
    p.write_text("bogus: 1\nscales: {cpu: {recipe: tiny, seeds: [0]}}\n")
    with pytest.raises(ProtocolError, match="unknown keys \\['bogus'\\]"):
        load_protocol(p)


# ------------------------------------------------------------------------------------ provenance
FAST = ["model.d_model=32", "model.n_heads=2", "model.ffn=64", "model.n_blocks=1", "model.head_dim=32",
        "model.head_heads=2", "model.fusion_heads=2", "model.cnn_channels=[8,8]", "model.cnn_kernels=[3,5]",
        "model.proj_dim=16", "data.batch_size=8", "data.num_workers=0", "pretrain.steps=2",
        "pretrain.save_every=100", "pretrain.val_every=100", "pretrain.optim.warmup_steps=1"]


def test_provenance_fields_in_run_json(tmp_path_factory, tmp_path):
    from tests.test_imutrain_loader import converted_root

    root = converted_root(tmp_path_factory)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train.train("pretrain", root / "manifest.yaml", config.load("tiny", FAST), tmp_path / "run", root=root,
                    progress=False, log=lambda m: None)
    finally:
        torch.set_num_threads(before)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    prov = info["pretrain_provenance"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                          text=True).stdout.strip()
    assert prov["commit"] == head and isinstance(prov["dirty"], bool)
    assert prov["threads"] == 1
    assert prov["torch"] == torch.__version__ and prov["device"] == "cpu" and prov["blas"]
    assert prov["shards"], "no shard hashes recorded"
    for path, digest in prov["shards"].items():
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    assert any("hapt" in p for p in prov["shards"])
