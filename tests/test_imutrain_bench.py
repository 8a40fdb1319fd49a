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


# ------------------------------------------------------------------------------------ family methods
REPO = Path(__file__).resolve().parents[1]


def test_family_method_protocol_errors_name_the_key(tmp_path):
    p = tmp_path / "p.yaml"
    base = "scales: {cpu: {recipe: tiny, seeds: [0]}}\n"
    p.write_text(base + "methods: [sensorlm]\n")
    with pytest.raises(ProtocolError, match=r"p\.yaml: methods: unknown method 'sensorlm'.*family_methods"):
        load_protocol(p)
    p.write_text(base + "methods: [sl]\nfamily_methods: {sl: {recipe: no-such-recipe}}\n")
    with pytest.raises(ProtocolError, match=r"p\.yaml: family_methods\.sl\.recipe: .*no-such-recipe"):
        load_protocol(p)
    p.write_text(base + "methods: [tsfm]\nfamily_methods: {tsfm: {recipe: sensorlm-tiny}}\n")
    with pytest.raises(ProtocolError, match=r"family_methods\.tsfm: 'tsfm' is a built-in method"):
        load_protocol(p)
    p.write_text(base + "methods: [sl]\nfamily_methods: {sl: {recipe: sensorlm-tiny, prompt: caption}}\n")
    with pytest.raises(ProtocolError, match=r"family_methods\.sl: unknown keys \['prompt'\]"):
        load_protocol(p)
    p.write_text(base + "methods: [sl]\nfamily_methods: {sl: {recipe: sensorlm-tiny, set: [sensorlm.nope=1]}}\n")
    with pytest.raises(ProtocolError, match=r"family_methods\.sl\.recipe: .*nope"):
        load_protocol(p)
    p.write_text(base + "methods: [sl]\nfamily_methods: {sl: {recipe: sensorlm-tiny}}\n")
    assert load_protocol(p)["family_methods"]["sl"]["recipe"] == "sensorlm-tiny"


def test_sensorlm_protocol_is_the_committed_protocol_plus_one_method():
    """results/bench-sensorlm.yaml scores the same windows, splits, folds, probe, seeds and bootstrap
    as results/bench.yaml; only the methods, the output places and the comparison differ."""
    import yaml

    a = yaml.safe_load((REPO / "results" / "bench.yaml").read_text())
    b = yaml.safe_load((REPO / "results" / "bench-sensorlm.yaml").read_text())
    differ = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert differ == {"name", "out", "report", "compare_with", "methods", "ablations", "family_methods"}
    assert b["methods"] == ["sensorlm"] and b["family_methods"]["sensorlm"]["recipe"] == "sensorlm-tiny"
    assert b["compare_with"] == "results/bench.json"


SL_FAST = ["sensorlm.d_model=32", "sensorlm.depth=1", "sensorlm.heads=2", "sensorlm.mlp=64", "sensorlm.embed_dim=32",
           "sensorlm.text_d_model=32", "sensorlm.text_heads=2", "sensorlm.text_mlp=64", "sensorlm.text_layers=1",
           "sensorlm.text_max_tokens=64", "data.batch_size=8", "pretrain.steps=2", "pretrain.save_every=2",
           "pretrain.val_every=100", "pretrain.optim.warmup_steps=1"]


def test_a_family_recipe_runs_as_a_bench_method_beside_committed_rows(tmp_path_factory, tmp_path):
    """A sensorlm method named by its recipe: its run trains every stage of its family, its cells
    (a, b, c) score the same capped windows as any method, zero-shot uses the named prompt set, and
    the report puts the committed rows of another bench JSON beside it with verdicts only on equal
    window counts."""
    import yaml

    from imutrain.bench import runner
    from imutrain.families import get
    from tests.test_imutrain_loader import converted_root

    root = converted_root(tmp_path_factory)
    committed = tmp_path / "committed.json"
    P = {"name": "t", "scale": "cpu", "out": str(tmp_path / "out"), "report": str(tmp_path / "rep"), "threads": 1,
         "compare_with": str(committed), "bootstrap": {"resamples": 50, "seed": 0},
         "zeroshot": {"manifest": str(root / "manifest.yaml"), "targets": ["hapt", "dsads"],
                      "cap_per_subject_label": {"hapt": 2, "dsads": 2}},
         "frozen": {"manifest": str(root / "manifest.yaml"), "targets": ["dsads"], "folds": 2, "fold_seed": 0,
                    "cap_per_subject_label": {"dsads": 3}, "fractions": [0.5], "few_label_targets": ["dsads"]},
         "probe": {"hidden": 8, "epochs": 2, "batch_size": 16, "lr": 1e-3, "weight_decay": 1e-4},
         "feat_lr": {"epochs": 2, "lr": 1e-2, "weight_decay": 1e-4},
         "methods": ["sl"], "ablations": [],
         "family_methods": {"sl": {"recipe": "sensorlm-tiny", "set": SL_FAST, "prompts": "caption", "title": "SL"}},
         "scales": {"cpu": {"recipe": "tiny", "seeds": [0], "device": "cpu", "set": []}}}
    proto = tmp_path / "p.yaml"
    proto.write_text(yaml.safe_dump(P))
    # the capped windows of the a/dsads cell: at most 2 per (subject, label), every pair present
    bench = Bench(load_protocol(proto), root, "cpu", lambda m: None)
    w = bench.target("a", "dsads")
    from collections import Counter

    per = Counter(zip(w.subjects.tolist(), w.y.tolist()))
    n = len(w)
    assert max(per.values()) <= 2 and len(per) > 10 and n == sum(per.values())
    perfect = {"mean": 1.0, "sd": 0.0, "lo": 1.0, "hi": 1.0}
    committed.write_text(json.dumps({"protocol_file": "results/bench.yaml", "tables": {"a/dsads": {"rows": {
        "tsfm": {"seeds": [0], "windows": n, "acc": perfect, "f1": perfect, "wall_s": {"0": 1}},
        "feat-lr": {"seeds": [0], "windows": n + 1, "acc": perfect, "f1": perfect, "wall_s": {"0": 1}}}}}}))
    md = runner.run_bench(proto, root=root, device="cpu", log=lambda m: None)

    out = tmp_path / "out"
    run = out / "runs" / "sl-s0"
    assert (run / "pretrain" / "model.safetensors").exists()
    assert config.load(run / "config.yaml").family == "sensorlm"
    cells = {p.relative_to(out / "cells").as_posix() for p in (out / "cells").glob("*/*/*.json")}
    assert cells == {"a/hapt/sl-s0.json", "a/dsads/sl-s0.json", "b/dsads/sl-s0.json", "c50/dsads/sl-s0.json"}
    row = json.loads((out / "cells" / "a" / "dsads" / "sl-s0.json").read_text())
    arr = np.load(out / "cells" / "a" / "dsads" / "sl-s0.npz")
    assert row["windows"] == n and np.array_equal(arr["y"], w.y)
    assert row["prompts"] == "caption" and {"plain", "labels"} <= set(row["other_prompts"])
    # the cell's scores are the caption-prompt cosines of each window's own embedding (order kept)
    from imutrain.run import build_text, load_model, text_encoder

    model, r, _ = load_model(run, None, "cpu")
    fam, tenc = get("sensorlm"), text_encoder(r, run)
    one = w.index.subset(np.arange(n) == n - 1)
    e_last = fam.embed_windows(model, one, w.sources, build_text(tenc, w.sources), r, torch.device("cpu"))
    L = fam.embed_texts(model, tenc, fam.prompt_sets([c.text for c in w.labels], 5.0)["caption"], torch.device("cpu"), False)
    np.testing.assert_allclose(arr["scores"][-1], (e_last @ L.T)[0], atol=1e-5)
    # the report: committed rows marked, a verdict only where the window counts agree
    text = md.read_text()
    assert "| SL | 1 |" in text and "| TSFM † | 1 |" in text and "`" + str(committed) + "`" in text
    res = json.loads(md.with_suffix(".json").read_text())
    v = {(x["other"], x["metric"]): x["verdict"] for x in res["family_verdicts"] if x["target"] == "dsads"
         and x["protocol"] == "a"}
    assert v[("tsfm", "acc")] == "loss" or row["acc"] == 1.0
    assert v[("feat-lr", "acc")].startswith("not comparable")
