"""imutrain losses with known inputs, and the model's shapes and masks on synthetic data."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from imutrain import config
from imutrain.losses import MemoryBank, alignment_loss, info_nce, masked_reconstruction, soft_targets
from imutrain.model import TSFM
from imutrain.model.tsfm import ChannelText


def test_info_nce_aligned_vs_shuffled():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(64, 32), dim=-1)
    aligned = info_nce(z, z.clone(), 0.1)
    shuffled = info_nce(z, z[torch.randperm(64)], 0.1)
    assert aligned < 0.1 < math.log(127) * 0.5 < shuffled
    # orthogonal one-hot pairs: the positive has cos 1, negatives 0 -> known closed form
    e = torch.eye(8)
    expect = -math.log(math.exp(1 / 0.5) / (math.exp(1 / 0.5) + 14 * math.exp(0)))
    assert abs(float(info_nce(e, e, 0.5)) - expect) < 1e-5


def test_soft_targets_rows_sum_to_one_and_favor_similar():
    t = F.normalize(torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0, 0, 1.0]]), dim=-1)
    st = soft_targets(t, t, tau=0.5)
    assert torch.allclose(st.sum(-1), torch.ones(3))
    assert st[0, 1] > st[0, 2] and st[0, 0] >= st[0, 1]
    same = torch.eye(3, dtype=torch.bool)
    mixed = soft_targets(t, t, 0.5, same, soft_weight=0.0)
    assert torch.allclose(mixed, torch.eye(3))


def test_masked_reconstruction_counts_only_masked_valid_tokens():
    pred = torch.zeros(1, 2, 2, 4)
    target = torch.ones(1, 2, 2, 4)
    target[0, 1] = 3.0
    mask = torch.tensor([[[True, False], [False, False]]])
    valid = torch.ones(1, 2, 2, dtype=torch.bool)
    assert float(masked_reconstruction(pred, target, mask, valid)) == 1.0
    valid[0, 0, 0] = False
    assert float(masked_reconstruction(pred, target, mask, valid)) == 0.0


def test_alignment_loss_lower_when_aligned_and_bank_adds_keys():
    torch.manual_seed(0)
    labels = F.normalize(torch.randn(6, 16), dim=-1)
    key = torch.arange(6).repeat(2)
    text = labels[key]
    good, _ = alignment_loss(text.clone(), text, text, key, torch.tensor(20.0), 0.5, 0.5)
    bad, _ = alignment_loss(text[torch.randperm(12)], text, text, key, torch.tensor(20.0), 0.5, 0.5)
    assert good < bad
    bank = MemoryBank(8, 16, 16)
    bank.push(text, text, text, key)
    assert len(bank) == 8
    _, info = alignment_loss(text, text, text, key, torch.tensor(20.0), 0.5, 0.5, bank)
    assert info["n_keys"] == 12 + 8


def test_model_shapes_masks_and_padding_invariance():
    r = config.load("tiny", ["model.d_model=32", "model.ffn=64", "model.head_dim=32", "model.n_blocks=2",
                             "model.embed_dim=16", "model.dropout=0.0"])
    torch.manual_seed(0)
    m = TSFM(r.model).eval()
    text = ChannelText(torch.randn(5, 384), torch.randn(5, 7, 384), torch.ones(5, 7, dtype=torch.bool))
    x = torch.randn(1, 3, 4, 64)
    st = torch.randn(1, 3, 4, 2)
    pm, cm = torch.ones(1, 3, dtype=torch.bool), torch.ones(1, 4, dtype=torch.bool)
    ids = torch.tensor([[0, 1, 2, 3]])
    with torch.no_grad():
        e1 = m.head(m.encoder(x, st, pm, cm, ids, text), pm, cm)
        # the same sample padded with 2 extra patches and 2 extra channels of garbage
        xp = torch.randn(1, 5, 6, 64)
        xp[:, :3, :4] = x
        sp = torch.randn(1, 5, 6, 2)
        sp[:, :3, :4] = st
        pm2 = torch.tensor([[True] * 3 + [False] * 2])
        cm2 = torch.tensor([[True] * 4 + [False] * 2])
        ids2 = torch.tensor([[0, 1, 2, 3, 4, 4]])
        e2 = m.head(m.encoder(xp, sp, pm2, cm2, ids2, text), pm2, cm2)
    assert e1.shape == (1, 16)
    assert torch.allclose(e1.norm(dim=-1), torch.ones(1), atol=1e-5)
    assert torch.allclose(e1, e2, atol=1e-4), "padding changed the embedding"
