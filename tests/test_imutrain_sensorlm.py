"""SensorLM family: SigLIP / CLIP loss on known inputs, gradients to both towers, the MAP head,
window-caption pairing (a window's own caption, never a neighbour's; only the selected channels),
INT8 round-trip bounds, and a 2-process gloo training step."""
from __future__ import annotations

import math
import os
import re
import socket
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from imutrain import config, train
from imutrain.families.sensorlm.loss import clip_loss, siglip_loss
from tests.test_imutrain_loader import converted_root

FAST = ["sensorlm.d_model=32", "sensorlm.depth=1", "sensorlm.heads=2", "sensorlm.mlp=64", "sensorlm.embed_dim=32",
        "sensorlm.text_d_model=32", "sensorlm.text_heads=2", "sensorlm.text_mlp=64", "sensorlm.text_layers=1",
        "sensorlm.text_max_tokens=64", "data.batch_size=8", "pretrain.steps=2", "pretrain.save_every=2",
        "pretrain.val_every=100", "pretrain.log_every=1", "pretrain.optim.warmup_steps=1"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return converted_root(tmp_path_factory)


def _recipe(*extra: str) -> config.Recipe:
    return config.load("sensorlm-tiny", FAST + list(extra))


# ------------------------------------------------------------------------------------ loss
def test_siglip_initial_loss_is_its_closed_form_and_aligned_pairs_score_far_below():
    B, D = 16, 32
    t0, b0 = torch.tensor(math.log(10.0)), torch.tensor(-10.0)
    # orthonormal aligned pairs: diagonal logit 10*1-10 = 0, off-diagonal 10*0-10 = -10
    z = torch.eye(B, D)
    aligned = float(siglip_loss(z, z, t0, b0))
    closed = (B * math.log(2) + (B * B - B) * math.log1p(math.exp(-10))) / B ** 2
    assert aligned == pytest.approx(closed, rel=1e-5)
    # the initial loss of unrelated unit vectors, against its closed form on the same cosines
    g = torch.Generator().manual_seed(0)
    zs = torch.nn.functional.normalize(torch.randn(B, D, generator=g), dim=-1)
    zt = torch.nn.functional.normalize(torch.randn(B, D, generator=g), dim=-1)
    cos = (zs @ zt.T).numpy().astype(np.float64)
    s = 10 * cos - 10
    y = 2 * np.eye(B) - 1
    expected = float(np.mean(np.log1p(np.exp(-y * s))))
    initial = float(siglip_loss(zs, zt, t0, b0))
    assert initial == pytest.approx(expected, rel=1e-5)
    assert aligned < initial / 10  # ~0.043 against ~0.6: aligned pairs score far below


def test_clip_loss_closed_form_on_aligned_pairs():
    B = 8
    z = torch.eye(B, 16)
    got = float(clip_loss(z, z, torch.tensor(math.log(10.0))))
    assert got == pytest.approx(math.log(1 + (B - 1) * math.exp(-10)), rel=1e-4)


# ------------------------------------------------------------------------------------ towers
def _batch(B: int = 4, P: int = 5, C: int = 6, L: int = 64, seed: int = 0):
    from imutrain.data import Collator
    from imutrain.data.collate import Sample

    rng = np.random.default_rng(seed)
    samples = [Sample(x=rng.normal(size=(250, C)).astype(np.float32), names=[f"c{i}" for i in range(C)],
                      channel_ids=np.arange(C), rate=50.0, patch_s=1.0, window=i) for i in range(B)]
    return Collator("eval", L, 48, None)(samples)


def test_gradients_reach_both_towers_and_the_loss_scalars():
    from imutrain.families.sensorlm import SensorLMStep, tokenizer
    from imutrain.families.sensorlm.pairs import tokenize
    from imutrain.families import get

    r = _recipe()
    model = get("sensorlm").build(r)
    b = _batch()
    tok = tokenize(tokenizer(), ["Walking from second 0 to 5.", "Sitting occurred during seconds 0 to 5.",
                                 "Standing from second 1 to 4.", "The person was lying from second 0 to second 5."], 64)
    loss, _ = SensorLMStep(model)(b, torch.from_numpy(tok.ids), torch.from_numpy(tok.mask), None)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum() > 0]
    # rows of the position tables beyond this batch and unused vocabulary rows get zero gradient,
    # but every parameter tensor receives some
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    assert any(n.startswith("sensor.") for n, _ in model.named_parameters())
    assert any(n.startswith("text.") for n, _ in model.named_parameters())
    # the towers share no weights
    sensor = {id(p) for p in model.sensor.parameters()}
    assert not sensor & {id(p) for p in model.text.parameters()}


def test_minilm_text_init_takes_the_first_layers_of_the_offline_model():
    from safetensors import safe_open

    from imutrain.families import get
    from imutrain.families.sensorlm import minilm_path

    model = get("sensorlm").build(_recipe("sensorlm.text_init=minilm", "sensorlm.text_layers=1"))
    bert = model.text.bert
    assert len(bert.encoder.layer) == 1 and bert.config.hidden_size == 384
    with safe_open(f"{minilm_path()}/model.safetensors", "pt") as f:
        for k in ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight"):
            assert torch.equal(bert.state_dict()[k], f.get_tensor(k))
    assert model.text.proj.in_features == 384 and model.text.proj.out_features == 32


def test_tsfm_sensor_tower_option_trains_too():
    from imutrain.families import get
    from imutrain.families.sensorlm import SensorLMStep
    from imutrain.model.tsfm import ChannelText

    r = config.load("sensorlm-tiny", FAST + ["sensorlm.tower=tsfm", "model.d_model=32", "model.n_heads=2",
                                              "model.ffn=64", "model.n_blocks=1", "model.fusion_heads=2",
                                              "model.cnn_channels=[8,8]", "model.cnn_kernels=[3,5]"])
    model = get("sensorlm").build(r)
    b = _batch()
    g = torch.Generator().manual_seed(0)
    chan = ChannelText(torch.randn(6, 384, generator=g), torch.randn(6, 4, 384, generator=g), torch.ones(6, 4, dtype=torch.bool))
    ids = torch.randint(1000, 2000, (4, 8), generator=g)
    loss, _ = SensorLMStep(model)(b, ids, torch.ones(4, 8, dtype=torch.bool), chan)
    loss.backward()
    assert model.sensor.encoder.patch is not None
    assert all(p.grad is not None for p in model.sensor.pool.parameters())


def test_map_head_is_attention_pooling_with_one_probe():
    from imutrain.families.sensorlm.model import MAPHead

    torch.manual_seed(0)
    head = MAPHead(16, 2, 32).eval()
    x = torch.randn(3, 7, 16)
    valid = torch.ones(3, 7, dtype=torch.bool)
    valid[1, 4:] = False
    out = head(x, valid)
    # permutation of the tokens does not change the pooled vector
    perm = torch.tensor([6, 2, 0, 5, 1, 3, 4])
    out_p = head(x[:, perm], valid[:, perm])
    assert torch.allclose(out[[0, 2]], out_p[[0, 2]], atol=1e-5)
    # padded tokens are ignored, whatever they hold
    x2 = x.clone()
    x2[1, 4:] = 1e3
    assert torch.allclose(head(x2, valid)[1], out[1], atol=1e-5)
    # with one real token, attention weight 1: pooled = out_proj(v_proj(token)), then + MLP(LN(.))
    one = torch.zeros(1, 7, dtype=torch.bool)
    one[0, 2] = True
    W, bias = head.attn.in_proj_weight, head.attn.in_proj_bias
    v = x[0, 2] @ W[32:].T + bias[32:]
    ctx = head.attn.out_proj(v)
    manual = ctx + head.mlp(head.norm(ctx))
    assert torch.allclose(head(x[:1], one)[0], manual, atol=1e-5)


# ------------------------------------------------------------------------------------ pairing
def _index(root, split="train", channels=None):
    from types import SimpleNamespace

    from imutrain.data import build_index, resolve_sources

    e = SimpleNamespace(id="hapt", stream="imu", channels=channels or [], window_s=5.0, patch_s=1.0, weight=1.0,
                        drop_labels=[], splits={"train": ["5", "8"], "val": ["9"], "test": ["10"]}, role="pretrain")
    src = resolve_sources([e], root)
    return build_index(src, split, stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5), src


def test_each_window_gets_its_own_caption_never_a_neighbours(root):
    import imudata
    from imutrain.families.sensorlm.pairs import caption_windows

    idx, src = _index(root, "val")
    cap = caption_windows(idx, src, "high_all", True, 0)
    assert len(cap.texts) == len(idx) and all(cap.texts)
    label_text = {lab.id: lab.text for lab in imudata.open("hapt", root).card.labels}
    texts = sorted(set(label_text.values()), key=len, reverse=True)

    def mentioned(caption: str) -> set[str]:
        out, rest = set(), caption.lower()
        for t in texts:  # longest first, so "standing" inside "standing up from sitting" is not double-counted
            if t.lower() in rest:
                out.add(t)
                rest = rest.replace(t.lower(), "#")
        return out

    checked = differ = 0
    for w in range(len(idx)):
        lab = int(idx.label[w])
        if lab < 0:
            continue
        own = mentioned(cap.texts[w])
        assert label_text[lab] in own, f"window {w}: label {label_text[lab]!r} not in its caption {cap.texts[w]!r}"
        checked += 1
        # a later window's label that occurs nowhere in this window's rows is never named in its caption
        a, n = int(idx.start[w]), int(idx.length[w])
        rows = pq.read_table(idx.shards[int(idx.shard[w])].path, columns=["label"]).column("label").to_numpy(
            zero_copy_only=False)[a:a + n]
        for v in range(w + 1, min(w + 4, len(idx))):
            other = int(idx.label[v])
            if idx.shard[v] == idx.shard[w] and other >= 0 and other != lab and not np.any(rows == other):
                assert label_text[other] not in own, f"window {w} names window {v}'s activity"
                differ += 1
    assert checked > 20 and differ > 0
    # times are relative to the window: every activity span lies inside [0, window]
    for t in cap.texts[:50]:
        for num in re.findall(r"second[s]? (\d+(?:\.\d+)?)", t):
            assert 0 <= float(num) <= 5.0


def test_batches_carry_the_captions_of_their_own_windows(root, tmp_path):
    """Through the trainer's objective and loader: the token ids a step trains on are those of the
    caption generated for exactly the windows in the batch."""
    from imudata import manifest
    from imutrain.data import make_loader, WindowStream, resolve_sources, build_index
    from imutrain.families import StageContext, get
    from imutrain.families.sensorlm import tokenizer
    from imutrain.families.sensorlm.pairs import caption_windows, tokenize
    from imutrain.run import build_text, text_encoder

    r = _recipe()
    src = resolve_sources(manifest.load(root / "manifest.yaml", root=root, write_back=False).pretrain, root)
    idx = build_index(src, "train", stride_frac=0.5, min_window_frac=0.6, min_label_frac=0.5)
    tables = build_text(text_encoder(r, None), src)
    fam = get("sensorlm")
    ctx = StageContext("pretrain", r, tmp_path, src, idx, None, tables, [], None, None, torch.device("cpu"), True,
                       lambda m: None)
    obj = fam.objective(ctx, fam.build(r))
    obj.to(torch.device("cpu"))
    stream = WindowStream(ctx.train_idx, src, obj.collator(), mode="pretrain", batch_size=8, steps=3, seed=0,
                          **obj.stream_kwargs())
    direct = caption_windows(ctx.train_idx, src, "high_all", True, 0).texts
    for batch in make_loader(stream, 0):
        w = batch.window.numpy()
        expect = tokenize(tokenizer(), [direct[i] for i in w], 64)
        assert np.array_equal(obj.ids[w].numpy(), expect.ids)
        # the first few windows' captions differ from their neighbours' (no off-by-one reuse)
        assert len({direct[i] for i in w}) > 1
    assert ctx.info["sensorlm_captions"]["captions"] == len(ctx.train_idx)


def test_captions_describe_only_the_selected_channels(root):
    from imutrain.families.sensorlm.pairs import caption_windows

    idx, src = _index(root, "val", channels=["waist_acc_x", "waist_acc_y", "waist_acc_z"])
    both, src2 = _index(root, "val")
    acc_only = caption_windows(idx, src, "middle_low", True, 0).texts
    full = caption_windows(both, src2, "middle_low", True, 0).texts
    assert all("gyroscope" not in t.lower() and "angular" not in t.lower() for t in acc_only)
    assert any("gyroscope" in t.lower() for t in full)
    assert np.mean([len(t) for t in acc_only]) < np.mean([len(t) for t in full])


def test_truncation_is_counted():
    from imutrain.families.sensorlm import tokenizer
    from imutrain.families.sensorlm.pairs import tokenize, truncation_report

    tok = tokenize(tokenizer(), ["walking", "walking " * 200], 16)
    rep = truncation_report(tok, 16)
    assert rep["truncated"] == 1 and tok.mask[1].sum() == 16 and tok.mask[0].sum() == 3
    assert tok.ids[1, 15] == tokenizer().sep_token_id
    assert 0.9 < rep["tokens_lost_frac"] < 1.0


# ------------------------------------------------------------------------------------ INT8
def test_int8_round_trip_error_is_within_half_a_step(tmp_path):
    from imutrain.quantize import dequantize_state_dict, load_any, quantize_state_dict, save_int8
    from imutrain.families import get

    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 48, generator=g) * torch.logspace(-3, 1, 64)[:, None]  # rows of very different scale
    sd = {"w": w, "b": torch.randn(64, generator=g)}
    q = quantize_state_dict(sd)
    assert q["w.__int8"].dtype == torch.int8 and "b" in q
    back = dequantize_state_dict(q)
    step = w.abs().amax(1) / 127
    assert torch.all((back["w"] - w).abs() <= step[:, None] / 2 + 1e-7)
    assert torch.equal(back["b"], sd["b"])
    # a whole model: the file is about a quarter of the float size and embeddings barely move
    r = _recipe()
    model = get("sensorlm").build(r).eval()
    from imutrain.checkpoint import save_weights

    save_weights(tmp_path / "f.safetensors", model.state_dict())
    save_int8(tmp_path / "q.safetensors", model.state_dict())
    ratio = (tmp_path / "q.safetensors").stat().st_size / (tmp_path / "f.safetensors").stat().st_size
    assert 0.2 < ratio < 0.35
    m8 = get("sensorlm").build(r).eval()
    m8.load_state_dict(load_any(tmp_path / "q.safetensors"))
    b = _batch()
    with torch.no_grad():
        z, z8 = (m.sensor(b.patches, b.stats, b.patch_mask, b.channel_mask) for m in (model, m8))
    assert float((z * z8).sum(-1).min()) > 0.99


# ------------------------------------------------------------------------------------ DDP
def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _ddp_worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    r = config.load("sensorlm-tiny", FAST)
    res = train.train("pretrain", Path(root) / "manifest.yaml", r, Path(out) / "run", root=root, progress=False,
                      device="cpu", log=lambda m: None)
    flat = torch.cat([p.detach().flatten() for p in res.model.parameters()])
    torch.save({"params": flat, "windows": res.windows, "loss": res.final_loss}, Path(out) / f"rank{rank}.pt")
    from imutrain import distributed

    distributed.shutdown()


def test_two_process_gloo_step(root, tmp_path):
    import torch.multiprocessing as mp

    from imutrain.run import build_text, text_encoder
    from imudata import manifest
    from imutrain.data import resolve_sources

    rc = _recipe()
    src = resolve_sources(manifest.load(root / "manifest.yaml", root=root, write_back=False).pretrain, root)
    (tmp_path / "run").mkdir()
    tenc = text_encoder(rc, None)
    build_text(tenc, src)
    tenc.save(tmp_path / "run" / "text_cache.safetensors")
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(root), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{i}.pt", weights_only=False) for i in (0, 1))
    assert torch.equal(r0["params"], r1["params"]), "ranks diverged after a DDP step"
    assert r0["loss"] == pytest.approx(r1["loss"])  # both computed the loss of the gathered global batch
    w0, w1 = np.concatenate(r0["windows"]), np.concatenate(r1["windows"])
    assert len(w0) == len(w1) == 2 * 8 and not set(w0.tolist()) & set(w1.tolist())
    assert (tmp_path / "run" / "pretrain" / "model.safetensors").exists()


def test_recall_at_k_on_known_rankings():
    from imutrain.evaluate import recall_at_k, recall_same_text

    # 3 windows; window 0's caption ranks 1st, window 1's 2nd, window 2's 3rd among the captions
    sim = np.array([[0.9, 0.1, 0.0],
                    [0.8, 0.5, 0.1],
                    [0.7, 0.6, 0.2]])
    r = recall_at_k(sim, (1, 2))
    assert r["s2t"] == {1: 1 / 3, 2: 2 / 3}
    # per caption column: caption 0 -> window 0 first; caption 1 -> window 2 first, window 1 second; caption 2 -> window 2 first
    assert r["t2s"] == {1: 2 / 3, 2: 1.0}
    # two windows with the identical text: the strict metric counts the twin against, same_text does not
    texts = ["walking", "walking", "sitting"]
    z = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    strict = recall_at_k(z @ z.T, (1,))
    same = recall_same_text(z @ z.T, texts, (1,))
    assert strict["s2t"][1] == pytest.approx(1 / 3) and same["s2t"][1] == 1.0 and same["t2s"][1] == 1.0
    assert same["chance"]["s2t"][1] == 0.5
    assert same["chance"]["t2s"][1] == pytest.approx((2 * (1 - 1 / 3) + 1 / 3) / 3)


# ------------------------------------------------------------------------------------ the manifest's caption choice
CAPTION_HEAD = "version: 1\nname: t\n{captions}defaults: {{window_s: 5.0, patch_s: 1.0}}\n" \
               "datasets:\n  - {{id: hapt, splits: {{train: ['5']}}}}\n"


@pytest.mark.parametrize("captions, message", [
    ("captions: {level: midle}\n", (r"m\.yaml: captions\.level: unknown caption level 'midle' \(did you mean "
                                     r"'middle'\?\); expected one of low, middle, .* \(line 3\)")),
    ("captions: {labels: 'no'}\n", r"m\.yaml: captions\.labels: expected true .* or false .*, got 'no' \(line 3\)"),
    ("captions: {level: low, lables: false}\n", r"m\.yaml: captions\.lables: unknown key \(did you mean 'labels'\?\)"),
    ("captions: middle\n", r"m\.yaml: captions: expected a mapping with level and/or labels"),
])
def test_manifest_captions_key_errors_name_file_and_key(tmp_path, captions, message):
    from imudata import manifest

    path = tmp_path / "m.yaml"
    path.write_text(CAPTION_HEAD.format(captions=captions))
    with pytest.raises(manifest.ManifestError, match=message):
        manifest.load(path, resolve=False)


def test_manifest_captions_key_parses_and_defaults_to_nothing(tmp_path):
    from imudata import manifest

    path = tmp_path / "m.yaml"
    path.write_text(CAPTION_HEAD.format(captions="captions: {level: middle_low, labels: false}\n"))
    assert manifest.load(path, resolve=False).captions == {"level": "middle_low", "labels": False}
    path.write_text(CAPTION_HEAD.format(captions="captions: {labels: true}\n"))
    assert manifest.load(path, resolve=False).captions == {"labels": True}
    path.write_text(CAPTION_HEAD.format(captions=""))
    assert manifest.load(path, resolve=False).captions == {}


def _train_with(root: Path, tmp_path: Path, captions: str, name: str, *extra: str):
    from tests.test_imutrain_loader import MANIFEST

    man = tmp_path / f"{name}.yaml"
    man.write_text(MANIFEST.replace("defaults:", captions + "defaults:", 1))
    out = tmp_path / name
    train.train("pretrain", man, _recipe(*extra), out, root=root, progress=False, device="cpu", log=lambda m: None)
    import json

    return json.loads((out / "run.json").read_text()), config.load(out / "config.yaml"), out


def test_the_manifest_chooses_captions_and_the_recipe_is_only_the_default(root, tmp_path):
    """Trained through the shared trainer: the manifest's level and label setting win over the
    recipe's (even over a --set), are recorded in run.json and in the run's config.yaml (which
    evaluation reads), and the captions trained on are those of the manifest's choice."""
    import imudata
    from imutrain.families import get
    from imutrain.families.sensorlm.pairs import caption_windows

    info, cfg, _ = _train_with(root, tmp_path, "captions: {level: high_middle, labels: false}\n", "chosen",
                               "sensorlm.caption_level=high_all", "sensorlm.caption_labels=true")
    assert info["sensorlm_caption_choice"] == {
        "level": "high_middle", "labels": False, "level_from": "manifest", "labels_from": "manifest",
        "recipe_default": {"level": "high_all", "labels": True}}
    assert info["sensorlm_captions"]["level"] == "high_middle" and info["sensorlm_captions"]["labels"] is False
    assert cfg.sensorlm.caption_level == "high_middle" and cfg.sensorlm.caption_labels is False
    # the captions of the run's recipe (what eval's retrieval pairs) are label-free middle captions
    idx, src = _index(root, "val")
    texts = get("sensorlm").caption_texts(cfg, idx, src)
    assert texts == caption_windows(idx, src, "middle", True, 0).texts  # no semantic part: high_middle = middle
    label_texts = {lab.text.lower() for lab in imudata.open("hapt", root).card.labels}
    assert {"walking", "sitting", "standing"} <= label_texts
    assert not any(n in t.lower() for t in texts for n in label_texts)
    # only the level in the manifest: the recipe's label setting applies and is recorded as such
    info2, cfg2, _ = _train_with(root, tmp_path, "captions: {level: low}\n", "level-only")
    assert info2["sensorlm_caption_choice"]["level_from"] == "manifest"
    assert info2["sensorlm_caption_choice"]["labels_from"] == "recipe" and cfg2.sensorlm.caption_labels is True
    assert cfg2.sensorlm.caption_level == "low"
    # no captions key: the recipe decides
    info3, cfg3, _ = _train_with(root, tmp_path, "", "recipe", "sensorlm.caption_level=middle")
    assert info3["sensorlm_caption_choice"]["level_from"] == "recipe" and cfg3.sensorlm.caption_level == "middle"
