"""SlotFM family: SSIM(x, x) = 1 and its gradient, MS-STFT(x, x) = 0, slot masks summing to one,
slot attention's permutation behaviour, the band input equal to imudata.signal's output,
std-weighted sampling frequencies against an independent bound, and a short run whose loss drops."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from imutrain import config
from imutrain.families.slotfm import SlotCollator, SlotFM, n_bands
from imutrain.families.slotfm.inputs import InputError, accel_columns, band_input, std_weighted_draw, window_std
from imutrain.families.slotfm.losses import ms_stft_loss, ssim, ssim_loss
from imutrain.families.slotfm.model import SlotAttention

SMALL = ["slotfm.enc_channels=8", "slotfm.enc_blocks=1", "slotfm.dec_channels=8", "slotfm.dec_blocks=1",
         "slotfm.hidden=16", "slotfm.slots=4", "slotfm.slot_dim=16"]


def _recipe(*extra: str) -> config.Recipe:
    return config.load("slotfm-tiny", SMALL + list(extra))


def _signal(B: int = 2, C: int = 3, T: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=torch.float64) / 50.0
    base = torch.sin(2 * torch.pi * 2.0 * t)[None, None] * torch.rand(B, C, 1, generator=g, dtype=torch.float64)
    return base + 0.3 * torch.randn(B, C, T, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------------------------ losses
def test_ssim_of_a_signal_with_itself_is_one_and_a_maximum():
    x = _signal()
    for w in (10, 25):
        assert float(ssim(x, x, w)) == pytest.approx(1.0, abs=1e-6)
        # a different signal scores below 1
        assert float(ssim(x, x + 0.5 * _signal(seed=1), w)) < 0.95
    # at y = x SSIM is at its maximum, so its gradient with respect to y vanishes
    y = x.clone().float().requires_grad_(True)
    ssim_loss(x.float(), y, 25).backward()
    assert float(y.grad.abs().max()) < 1e-5


def test_ssim_gradient_matches_finite_differences():
    """Autograd of the SSIM loss with respect to the reconstruction against central finite
    differences in float64 (gradcheck), away from y = x (where the gradient is zero, tested above).
    The target x sets the stabilising constants (detached), so it is held fixed."""
    x = _signal(B=1, C=2, T=40)
    y = (x + 0.2 * _signal(B=1, C=2, T=40, seed=3)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda b: ssim_loss(x, b, 10), (y,), eps=1e-6, atol=1e-5)
    assert ssim(x, y, 10).dtype == torch.float64 and ssim(x.float(), y.float(), 10).dtype == torch.float32


def test_multiscale_stft_is_zero_on_equal_signals_and_positive_otherwise():
    x = _signal().float()
    assert float(ms_stft_loss(x, x, [16, 32, 64])) == 0.0
    assert float(ms_stft_loss(x, 1.5 * x, [16, 32, 64])) > 0.01


# ------------------------------------------------------------------------------------ model
def test_slot_masks_sum_to_one_over_slots_and_blend_the_reconstruction():
    r = _recipe()
    torch.manual_seed(0)
    m = SlotFM(r.slotfm, 3).eval()
    x = torch.randn(2, 3, 3, 100)
    with torch.no_grad():
        rec, masks, slots = m(x)
    assert masks.shape == (2, 3, r.slotfm.slots, 100)
    assert torch.allclose(masks.sum(2), torch.ones(2, 3, 100), atol=1e-5)
    assert (masks >= 0).all()
    assert rec.shape == x.shape and slots.shape == (2, r.slotfm.slots, r.slotfm.slot_dim)


def test_slot_attention_is_invariant_to_input_order_and_equivariant_to_slot_order():
    torch.manual_seed(0)
    sa = SlotAttention(slots=5, dim=16, hidden=32, iters=3).eval()
    e = torch.randn(2, 60, 16)
    with torch.no_grad():
        s, _ = sa(e)
        perm_n = torch.randperm(60)
        s_n, _ = sa(e[:, perm_n])
        init = sa.initial(2, e.device)
        perm_k = torch.tensor([3, 0, 4, 1, 2])
        s_k, _ = sa(e, init=init[:, perm_k])
    assert torch.allclose(s, s_n, atol=1e-5)            # permuting the frames leaves the slots unchanged
    assert torch.allclose(s[:, perm_k], s_k, atol=1e-5)  # permuting the initial slots permutes the output
    assert not torch.allclose(s, s_k, atol=1e-3)         # (and the slots do differ from one another)


def test_fixed_initial_slots_give_the_same_slots_twice_and_resampled_do_not():
    torch.manual_seed(0)
    e = torch.randn(1, 30, 16)
    fixed = SlotAttention(4, 16, 32, 3, init="fixed").eval()
    res = SlotAttention(4, 16, 32, 3, init="resampled").eval()
    with torch.no_grad():
        assert torch.equal(fixed(e)[0], fixed(e)[0])
        assert not torch.allclose(res(e)[0], res(e)[0])


# ------------------------------------------------------------------------------------ input
def test_band_input_is_imudata_signal_output_of_the_resampled_accelerometer():
    from imudata.signal import resample, split_bands

    r = _recipe()
    rng = np.random.default_rng(0)
    names = ["hip_acc_x", "hip_acc_y", "hip_acc_z", "hip_gyro_x", "hip_gyro_y", "hip_gyro_z"]
    from imutrain.data.collate import Sample

    xs = [rng.normal(size=(500, 6)).astype(np.float32) for _ in range(3)]   # 5 s at 100 Hz
    col = SlotCollator(r.slotfm, 5.0)
    b = col([Sample(x=x, names=names, channel_ids=np.arange(6), rate=100.0, patch_s=1.0, window=i)
             for i, x in enumerate(xs)])
    assert b.x.shape == (3, 3, 3, 250)
    for i, x in enumerate(xs):
        acc50 = resample(x[:, :3].astype(np.float64), 100.0, 50.0)
        want = split_bands(acc50, 50.0, "0-1,1-4,4-", order=4)   # (bands, T, 3)
        got = b.x[i].numpy()                                     # (bands, 3, T)
        np.testing.assert_allclose(got, np.transpose(want, (0, 2, 1)).astype(np.float32), rtol=0, atol=1e-6)
        # the three bands add back to the signal (complementary filters)
        np.testing.assert_allclose(got.sum(0), acc50.T, atol=1e-4)
    assert band_input(np.ones((1, 50, 3)), 50.0, "none", 4).shape == (1, 1, 3, 50)


def test_accelerometer_selection_sums_lacc_and_grav_and_refuses_gyro_only():
    assert accel_columns(["pocket_lacc_x", "pocket_lacc_y", "pocket_lacc_z", "pocket_grav_x", "pocket_grav_y",
                          "pocket_grav_z"]) == [[0, 3], [1, 4], [2, 5]]
    assert accel_columns(["trunk_acc_x", "trunk_acc_y", "trunk_acc_z", "ankle_acc_x", "ankle_acc_y",
                          "ankle_acc_z"]) == [[3], [4], [5]]      # first placement in sorted order
    with pytest.raises(InputError, match="no accelerometer triad"):
        accel_columns(["wrist_gyro_x", "wrist_gyro_y", "wrist_gyro_z"])


def test_std_weighted_draw_frequencies_follow_the_std():
    """Counts of a seeded draw against a bound derived independently: each count is Binomial(n, p_i)
    with p_i = std_i / sum std, so |count - n p_i| <= 5 sqrt(n p_i (1 - p_i)) except with probability
    < 6e-7 per window; and Pearson's chi-square stays below scipy's 99.9 % quantile."""
    from scipy.stats import chi2

    rng = np.random.default_rng(1)
    std = np.concatenate([rng.uniform(0.05, 3.0, 40), [0.0]])
    groups = np.zeros(len(std), int)
    n = 200_000
    ids = std_weighted_draw(std, groups, n, seed=7)
    counts = np.bincount(ids, minlength=len(std))
    p = std / std.sum()
    assert counts[-1] == 0                                    # a still window (std 0) is never drawn
    assert np.all(np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p)) + 1e-9)
    k = p > 0
    stat = float(((counts[k] - n * p[k]) ** 2 / (n * p[k])).sum())
    assert stat < chi2.ppf(0.999, k.sum() - 1)
    # uniform draws would fail the same bound: the weighting is real
    uni = np.bincount(rng.integers(0, len(std), n), minlength=len(std))
    assert float(((uni[k] - n * p[k]) ** 2 / (n * p[k])).sum()) > chi2.ppf(0.999, k.sum() - 1)
    # per group: each group gets exactly its draws, only from its own windows
    g2 = np.array([0] * 20 + [1] * 21)
    ids2 = std_weighted_draw(std, g2, 1000, seed=7)
    assert (g2[ids2] == 0).sum() == 1000 and (g2[ids2] == 1).sum() == 1000
    assert window_std(np.tile([[1.0, 2.0, 3.0]], (50, 1))) == 0.0


# ------------------------------------------------------------------------------------ a run
def test_short_pretraining_run_lowers_the_loss(tmp_path):
    from imutrain import train
    from tests.test_imutrain_loader import converted_root

    class _F:
        def mktemp(self, name):
            p = tmp_path / name
            p.mkdir()
            return p

    root = converted_root(_F())
    torch.manual_seed(0)
    r = _recipe("data.batch_size=8", "pretrain.steps=40", "pretrain.log_every=1", "pretrain.val_every=40",
                "pretrain.save_every=40", "pretrain.optim.warmup_steps=2", "pretrain.optim.lr=3.0e-3",
                "slotfm.val_windows=16", "data.num_workers=0")
    res = train.train("pretrain", Path(root) / "manifest.yaml", r, tmp_path / "run", root=root, progress=False,
                      log=lambda m: None)
    rows = [json.loads(line) for line in res.metrics.read_text().splitlines()]
    losses = [row["loss"] for row in rows if row.get("split") == "train"]
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-8:]) < 0.95 * np.mean(losses[:4])
    # the downward trend is well outside the step-to-step noise: least-squares slope t < -3
    t = np.arange(len(losses), dtype=float)
    slope, icpt = np.polyfit(t, losses, 1)
    resid = np.asarray(losses) - (slope * t + icpt)
    se = np.sqrt(resid.var(ddof=2) / ((t - t.mean()) ** 2).sum())
    assert slope / se < -3
    assert res.weights.exists()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["slotfm_sampling"]["draws_per_dataset"] == 40 * 8
    assert n_bands(r.slotfm) == 3


# ------------------------------------------------------------------------------------ HAR protocol
def test_slot_head_learns_which_slot_carries_the_class():
    """The class is written into slot 2 only (other slots are noise): the head must find it."""
    from imutrain.bench.slotfm_har import fit_slot_head

    rng = np.random.default_rng(0)
    n, K, D = 300, 8, 16
    y = rng.integers(0, 3, n)
    s = rng.normal(size=(n, K, D)).astype(np.float32)
    s[:, 2, :3] += 4.0 * np.eye(3, dtype=np.float32)[y]
    scores = fit_slot_head(s[:200], y[:200], s[200:], 3, heads=4, hidden=32, epochs=30, lr=1e-2, weight_decay=1e-4,
                           batch_size=64, seed=0)
    assert (scores.argmax(1) == y[200:]).mean() > 0.8        # chance is 1/3


def test_har_protocol_refuses_unknown_keys_and_methods(tmp_path):
    from imutrain.bench.slotfm_har import ProtocolError, load_protocol

    good = Path(__file__).resolve().parents[1] / "results" / "slotfm-har.yaml"
    P = load_protocol(good)
    assert P["targets"] == ["uschad", "motionsense", "daphnet"] and P["folds"] == 5
    bad = tmp_path / "p.yaml"
    bad.write_text(good.read_text() + "extra_key: 1\n")
    with pytest.raises(ProtocolError, match="unknown keys \\['extra_key'\\]"):
        load_protocol(bad)
    bad.write_text(good.read_text().replace("methods: [slotfm,", "methods: [slotfn,"))
    with pytest.raises(ProtocolError, match="unknown method 'slotfn'"):
        load_protocol(bad)
