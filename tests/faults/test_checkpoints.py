"""Faults injected into training run folders: hostile, damaged and missing checkpoint files, dangling
``latest`` pointers, rows logged after the last checkpoint, a torn ``metrics.jsonl``.

One uninterrupted 4-step run and one run interrupted after step 3 (a checkpoint at every step) are
trained once per module on the real-data samples; each test damages a copy of the interrupted run
and resumes it. A resume that falls back to an older checkpoint must still end bit for bit at the
uninterrupted run's weights, with exactly the uninterrupted run's metric rows.
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from imutrain import checkpoint, config, train
from imutrain.checkpoint import CheckpointError
from tests.test_imutrain_loader import converted_root
from tests.test_imutrain_train import FAST

SETS = FAST + ["pretrain.steps=4", "pretrain.save_every=1", "pretrain.keep_checkpoints=4", "pretrain.log_every=1"]


@contextlib.contextmanager
def deterministic():
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(False)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _rows(path: Path) -> list[dict]:
    """Metric rows without the wall-clock fields (which differ between any two runs)."""
    out = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out.append({k: v for k, v in row.items() if k not in ("time", "samples_per_s")})
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> SimpleNamespace:
    root = converted_root(tmp_path_factory)
    base = tmp_path_factory.mktemp("checkpoint-faults")
    r = config.load("tiny", SETS)
    kw = dict(root=root, progress=False, log=lambda m: None)
    with deterministic():
        full = train.train("pretrain", root / "manifest.yaml", r, base / "full", **kw)
        part = train.train("pretrain", root / "manifest.yaml", r, base / "part", stop_after=3, **kw)
    assert part.steps == 3 and checkpoint.latest(base / "part" / "pretrain").name == "step_000003"
    return SimpleNamespace(root=root, recipe=r, part=base / "part", weights=_weights(full.model),
                           rows=_rows(base / "full" / "pretrain" / "metrics.jsonl"))


@pytest.fixture
def run(runs, tmp_path) -> Path:
    """A fresh copy of the interrupted run folder (3 of 4 steps done, checkpoints 1, 2, 3)."""
    dst = tmp_path / "run"
    shutil.copytree(runs.part, dst)
    return dst


def _ck(run: Path, step: int) -> Path:
    return run / "pretrain" / "checkpoints" / f"step_{step:06d}"


def _resume(runs, run: Path, logs: list[str]):
    with deterministic():
        return train.train("pretrain", runs.root / "manifest.yaml", runs.recipe, run, root=runs.root, resume=True,
                           progress=False, log=logs.append)


def _assert_exact(runs, run: Path, res, stopped_at: int | None = None) -> None:
    """The resumed run ends where the uninterrupted one did, and logged the same rows once each
    (plus the validation row the interrupted run wrote when it stopped at ``stopped_at``, if kept)."""
    assert res.steps == 4
    got = _weights(res.model)
    assert got.keys() == runs.weights.keys()
    for k in got:
        assert torch.equal(got[k], runs.weights[k]), f"{k} differs from the uninterrupted run"
    rows = _rows(run / "pretrain" / "metrics.jsonl")
    if stopped_at is not None:
        extra = [r for r in rows if r["split"] == "val" and r["step"] == stopped_at]
        assert len(extra) == 1
        rows.remove(extra[0])
    assert rows == runs.rows


def _reseal(ck: Path) -> None:
    """Rewrite meta.json's digests to match the files, as someone crafting a run folder would."""
    meta = json.loads((ck / "meta.json").read_text())
    meta["sha256"] = {f: checkpoint.sha256(ck / f) for f in ("model.safetensors", "state.pt")}
    (ck / "meta.json").write_text(json.dumps(meta))


class Payload:
    """Unpickling this runs ``touch MARKER`` through os.system (what weights_only=False would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _plant(ck: Path, marker: Path, legacy: bool = False) -> None:
    """Replace ``state.pt`` with a well-formed-looking state whose optimizer entry is the payload."""
    state = torch.load(ck / "state.pt", weights_only=True)
    state["optimizer"] = Payload(marker)
    torch.save(state, ck / "state.pt", _use_new_zipfile_serialization=not legacy)
    _reseal(ck)


# ------------------------------------------------------------------------------------ hostile state.pt
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_malicious_state_pt_is_refused_without_running(run, tmp_path, legacy):
    marker = tmp_path / "marker"
    ck = _ck(run, 3)
    _plant(ck, marker, legacy)
    with pytest.raises(CheckpointError, match=r"state\.pt: refused.*posix\.system|state\.pt: refused.*nt\.system"):
        checkpoint.load(ck)
    assert not marker.exists(), "loading the checkpoint ran its payload"
    # the payload is live: the loader this replaced (weights_only=False) runs it
    torch.load(ck / "state.pt", weights_only=False)
    assert marker.exists()


def test_resume_skips_malicious_checkpoint_and_stays_exact(runs, run, tmp_path):
    marker = tmp_path / "marker"
    _plant(_ck(run, 3), marker)
    logs: list[str] = []
    res = _resume(runs, run, logs)
    assert not marker.exists(), "resume ran the payload"
    text = "\n".join(logs)
    assert "step_000003/state.pt: refused" in text and "falling back to step_000002" in text
    assert "resumed from" in text and "at step 2" in text
    _assert_exact(runs, run, res)


# ------------------------------------------------------------------------------------ damaged files
def _flip_tensor_byte(path: Path) -> None:
    """Flip one byte inside the tensor data of a safetensors file (the header still parses)."""
    raw = bytearray(path.read_bytes())
    (hlen,) = struct.unpack("<Q", raw[:8])
    pos = 8 + hlen + (len(raw) - 8 - hlen) // 2
    raw[pos] ^= 0x40
    path.write_bytes(bytes(raw))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _no_digests(ck: Path) -> None:
    meta = json.loads((ck / "meta.json").read_text())
    meta.pop("sha256")
    (ck / "meta.json").write_text(json.dumps(meta))


def _drop_optimizer(ck: Path) -> None:
    state = torch.load(ck / "state.pt", weights_only=True)
    del state["optimizer"]
    torch.save(state, ck / "state.pt")
    _reseal(ck)


def _state_is_list(ck: Path) -> None:
    torch.save([1, 2, 3], ck / "state.pt")
    _reseal(ck)


def _optimizer_is_list(ck: Path) -> None:
    state = torch.load(ck / "state.pt", weights_only=True)
    state["optimizer"] = [1, 2]
    torch.save(state, ck / "state.pt")
    _reseal(ck)


def _rng_missing_numpy(ck: Path) -> None:
    state = torch.load(ck / "state.pt", weights_only=True)
    del state["rng"]["numpy"]
    torch.save(state, ck / "state.pt")
    _reseal(ck)


def _meta_step(ck: Path) -> None:
    meta = json.loads((ck / "meta.json").read_text())
    meta["step"] = 7
    (ck / "meta.json").write_text(json.dumps(meta))


def _nan_weights(ck: Path) -> None:
    from safetensors.torch import load_file, save_file

    sd = load_file(ck / "model.safetensors")
    k = next(k for k, v in sd.items() if v.is_floating_point())
    sd[k] = sd[k].clone()
    sd[k].view(-1)[0] = float("nan")
    save_file(sd, ck / "model.safetensors")
    _reseal(ck)


DAMAGE = {
    # id: (how the newest checkpoint is damaged, the file the message must name, what it must say)
    "model-bitflip": (lambda ck: _flip_tensor_byte(ck / "model.safetensors"), "model.safetensors", "SHA-256 differs"),
    "model-truncated": (lambda ck: _truncate(ck / "model.safetensors"), "model.safetensors", "SHA-256 differs"),
    "model-truncated-no-digest": (lambda ck: (_no_digests(ck), _truncate(ck / "model.safetensors")),
                                  "model.safetensors", "unreadable"),
    "model-missing": (lambda ck: (ck / "model.safetensors").unlink(), "model.safetensors", "missing"),
    "model-nan": (_nan_weights, "model.safetensors", "non-finite"),
    "state-truncated-no-digest": (lambda ck: (_no_digests(ck), _truncate(ck / "state.pt")), "state.pt", "unreadable"),
    "state-empty-no-digest": (lambda ck: (_no_digests(ck), (ck / "state.pt").write_bytes(b"")), "state.pt", "unreadable"),
    "state-no-optimizer": (_drop_optimizer, "state.pt", "no 'optimizer' entry"),
    "state-not-a-dict": (_state_is_list, "state.pt", "expected a dict"),
    "state-optimizer-a-list": (_optimizer_is_list, "state.pt", "'optimizer' is a list, expected a dict"),
    "state-rng-incomplete": (_rng_missing_numpy, "state.pt", "'rng' is not the python/numpy/torch"),
    "meta-truncated": (lambda ck: _truncate(ck / "meta.json"), "meta.json", "not valid JSON"),
    "meta-missing": (lambda ck: (ck / "meta.json").unlink(), "meta.json", "missing"),
    "meta-wrong-step": (_meta_step, "meta.json", "does not match the folder name"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_newest_checkpoint_falls_back(run, kind):
    damage, fname, says = DAMAGE[kind]
    ck = _ck(run, 3)
    damage(ck)
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(ck)
    assert str(err.value).startswith(str(ck / fname)) and says in str(err.value)
    notes: list[str] = []
    found = checkpoint.newest_valid(run / "pretrain", say=notes.append)
    assert found is not None and found[0].name == "step_000002" and found[3]["step"] == 2
    assert any(str(ck / fname) in n for n in notes) and any("falling back to step_000002" in n for n in notes)


def test_resume_after_bitflip_is_exact(runs, run):
    _flip_tensor_byte(_ck(run, 3) / "model.safetensors")
    logs: list[str] = []
    res = _resume(runs, run, logs)
    assert any("step_000003/model.safetensors: SHA-256 differs" in m for m in logs)
    assert any("falling back to step_000002" in m for m in logs)
    _assert_exact(runs, run, res)


def test_checkpoint_of_another_model_is_skipped(runs, run):
    """A checkpoint whose weights do not fit the recipe's model is not loaded into it."""
    ck = _ck(run, 3)
    from safetensors.torch import load_file, save_file

    sd = load_file(ck / "model.safetensors")
    sd.pop(sorted(sd)[0])
    save_file(sd, ck / "model.safetensors")
    _reseal(ck)
    logs: list[str] = []
    res = _resume(runs, run, logs)
    assert any("step_000003/model.safetensors: does not fit this recipe's model" in m for m in logs)
    _assert_exact(runs, run, res)


# ------------------------------------------------------------------------------------ the latest pointer
@pytest.mark.parametrize("pointer", ["step_000009", "../../../../etc/passwd", ""], ids=["dangling", "outside", "empty"])
def test_bad_latest_pointer_resumes_from_newest_checkpoint(runs, run, pointer):
    (run / "pretrain" / "checkpoints" / "latest").write_text(pointer)
    assert checkpoint.latest(run / "pretrain").name == "step_000003"
    notes: list[str] = []
    found = checkpoint.newest_valid(run / "pretrain", say=notes.append)
    assert found[0].name == "step_000003"
    assert any("latest" in n and "ignored" in n for n in notes)


def test_dangling_latest_does_not_restart_from_zero(runs, run):
    (run / "pretrain" / "checkpoints" / "latest").write_text("step_000009")
    shutil.rmtree(_ck(run, 3))  # the newest valid one is step 2: the run must not restart at 0
    logs: list[str] = []
    res = _resume(runs, run, logs)
    assert any("names step_000009, which does not exist" in m for m in logs)
    assert any("at step 2" in m for m in logs)
    _assert_exact(runs, run, res)


# ------------------------------------------------------------------------------------ nothing verifies
def test_no_valid_checkpoint_refuses_and_keeps_everything(runs, run):
    for s in (1, 2, 3):
        _truncate(_ck(run, s) / "state.pt")
    before = {p: p.read_bytes() for p in (run / "pretrain").rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match="no checkpoint verifies") as err:
        _resume(runs, run, [])
    for s in (1, 2, 3):
        assert f"step_{s:06d}/state.pt" in str(err.value)
    after = {p: p.read_bytes() for p in (run / "pretrain").rglob("*") if p.is_file()}
    assert before == after, "a refused resume changed the run folder"


def test_cli_no_valid_checkpoint_exit_2(runs, run):
    from typer.testing import CliRunner

    from imutrain.cli import app

    for s in (1, 2, 3):
        (_ck(run, s) / "meta.json").write_text("{")
    sets = sum((["--set", s] for s in SETS), [])
    res = CliRunner().invoke(app, ["pretrain", str(runs.root / "manifest.yaml"), "--out", str(run), "--root",
                                   str(runs.root), "--resume", "-q", *sets])
    assert res.exit_code == 2, res.output
    err = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "no checkpoint verifies" in err[0] and "meta.json: not valid JSON" in err[0]
    assert "Traceback" not in res.output


# ------------------------------------------------------------------------------------ metrics.jsonl
def test_crash_mid_checkpoint_write_and_torn_metrics_line(runs, run):
    """Killed while writing step 3's checkpoint and a metrics row: a leftover temporary folder, the
    step-3 rows already logged, half a row at the end. Resume continues from step 2, logs no step twice."""
    ck = run / "pretrain" / "checkpoints"
    os.replace(_ck(run, 3), ck / ".step_000003.tmp")
    (ck / ".step_000003.tmp" / "meta.json").unlink()
    (ck / "latest").write_text("step_000002")
    metrics = run / "pretrain" / "metrics.jsonl"
    assert [r["step"] for r in _rows(metrics)].count(3) == 2  # the train and val rows of step 3
    with metrics.open("a") as f:
        f.write('{"time": 9.1, "split": "tra')
    logs: list[str] = []
    res = _resume(runs, run, logs)
    assert any("dropped 2 rows logged after step 2" in m for m in logs)
    assert any("incomplete last line" in m for m in logs)
    _assert_exact(runs, run, res)


def test_truncate_metrics_keeps_foreign_lines():
    """Rows after the step go, rows up to it and lines that are not rows stay, in order."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "metrics.jsonl"
        p.write_text('{"step": 1}\nnot json\n{"step": 2, "split": "val"}\n{"step": 3}\n{"note": "x"}\n')
        said: list[str] = []
        train.truncate_metrics(p, 2, said.append)
        assert p.read_text() == '{"step": 1}\nnot json\n{"step": 2, "split": "val"}\n{"note": "x"}\n'
        assert len(said) == 1 and "dropped 1 rows" in said[0]
        train.truncate_metrics(p, 2, said.append)
        assert len(said) == 1  # nothing to do: nothing said, nothing rewritten


# ------------------------------------------------------------------------------------ older checkpoints
def test_checkpoint_of_earlier_format_still_resumes_exactly(runs, run):
    """State written before RNG states were tensors (numpy arrays, Python tuples; no digests in
    meta.json) loads with weights_only=True and resumes bit for bit."""
    ck = _ck(run, 3)
    state = torch.load(ck / "state.pt", weights_only=True)
    py, npst = state["rng"]["python"], state["rng"]["numpy"]
    state["rng"]["python"] = (py["version"], tuple(py["state"].tolist()), py["gauss_next"])
    state["rng"]["numpy"] = (npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                             npst["cached_gaussian"])
    torch.save(state, ck / "state.pt")
    _no_digests(ck)
    logs: list[str] = []
    res = _resume(runs, run, logs)
    assert not any("skipping" in m for m in logs) and any("at step 3" in m for m in logs)
    _assert_exact(runs, run, res, stopped_at=3)
