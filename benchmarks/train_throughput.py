"""Training throughput (samples/s) and peak memory of a recipe on synthetic batches.

    python benchmarks/train_throughput.py --recipe small-deep --batch 32 --patches 48 --channels 52   # GPU
    python benchmarks/train_throughput.py --recipe tiny --batch 8 --patches 6 --channels 6 --steps 5   # CPU smoke

One step = stage-2 forward (encoder + channel-text fusion + alignment head + label pooling), the
soft-target CLIP loss with a memory bank, backward, clipping and AdamW (``--stage pretrain``: the
two-view stage-1 step). bf16 autocast on CUDA. Prints JSON with samples/s and
torch.cuda.max_memory_allocated.
"""
from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="small-deep")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--patches", type=int, default=48)
    ap.add_argument("--channels", type=int, default=52)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--stage", choices=["align", "pretrain"], default="align")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="recipe override key=value")
    a = ap.parse_args()

    from imutrain import config
    from imutrain.data.collate import Batch
    from imutrain.losses import MemoryBank, alignment_loss
    from imutrain.model import TSFM
    from imutrain.model.tsfm import ChannelText
    from imutrain.run import autocast
    from imutrain.train import AlignStep, PretrainStep, param_groups, pretrain_mask

    ov = list(a.set) + (["model.compile=true"] if a.compile else []) + (["model.grad_checkpointing=true"] if a.grad_checkpointing else [])
    r = config.load(a.recipe, ov)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    model = TSFM(r.model).to(dev)
    step_mod = AlignStep(model) if a.stage == "align" else PretrainStep(model, r.pretrain)
    if r.model.compile:
        model.encoder = torch.compile(model.encoder, dynamic=False)
        step_mod.encoder = model.encoder
    opt = torch.optim.AdamW(param_groups(step_mod, 0.05), lr=1e-4)
    B, P, C, L = a.batch, a.patches, a.channels, r.model.patch_len
    n_text, T = 2 * C, 24
    chan = ChannelText(torch.randn(n_text, 384, device=dev), torch.randn(n_text, T, 384, device=dev),
                       torch.ones(n_text, T, dtype=torch.bool, device=dev))
    n_lab = 64
    lab = ChannelText(torch.randn(n_lab, 384, device=dev), torch.randn(n_lab, 12, 384, device=dev),
                      torch.ones(n_lab, 12, dtype=torch.bool, device=dev))

    def batch() -> Batch:
        b = Batch(torch.randn(B, P, C, L), torch.randn(B, P, C, 2), torch.ones(B, P, dtype=torch.bool),
                  torch.ones(B, C, dtype=torch.bool), torch.randint(0, n_text, (B, C)),
                  torch.randint(0, 20, (B,)), torch.randint(0, n_lab, (B,)), torch.zeros(B, dtype=torch.long),
                  torch.arange(B))
        if a.stage == "pretrain":
            b.patches2, b.stats2, b.channel_ids2 = b.patches.clone(), b.stats.clone(), b.channel_ids.clone()
        return b.to(dev)

    bank = MemoryBank(r.align.memory_bank, r.model.embed_dim, r.model.text_dim).to(dev)
    data = [batch() for _ in range(2)]
    gen = torch.Generator().manual_seed(0)

    def one(i: int) -> float:
        b = data[i % 2]
        with autocast(dev):
            if a.stage == "align":
                imu, le, scale = step_mod(b, chan, None, lab.select(b.label_text))
                loss, _ = alignment_loss(imu, le, lab.sentence[b.label_text], b.label, scale, 0.5, 0.5, bank)
            else:
                loss, _, _ = step_mod(b, chan, pretrain_mask(b, r.pretrain, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(step_mod.parameters(), 1.0)
        opt.step()
        if a.stage == "align":
            bank.push(imu.detach(), le.detach(), lab.sentence[b.label_text], b.label)
        return float(loss)

    for i in range(a.warmup):
        one(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for i in range(a.steps):
        loss = one(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    out = {"recipe": r.name, "stage": a.stage, "batch": B, "patches": P, "channels": C, "steps": a.steps,
           "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
           "precision": "bf16 autocast" if dev.type == "cuda" else "fp32",
           "compile": r.model.compile, "grad_checkpointing": r.model.grad_checkpointing,
           "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
           "samples_per_s": round(B * a.steps / dt, 1), "step_ms": round(1000 * dt / a.steps, 1),
           "max_memory_allocated_GiB": round(torch.cuda.max_memory_allocated(dev) / 2**30, 2) if dev.type == "cuda" else None,
           "final_loss": round(loss, 4), "torch": torch.__version__}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
