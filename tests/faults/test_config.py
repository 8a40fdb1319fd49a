"""Bad recipes, overrides and devices given to imutrain: numbers read as YAML 1.2 numbers, and every
refusal a one-line ``error:`` naming the key, file or option, exit status 2, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from imutrain import config
from imutrain.cli import app


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _refused(res, *needles: str) -> str:
    """Exit 2 with one error line (continuation lines of a problem list start with '  - ')."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = res.stderr.splitlines()
    assert lines and lines[0].startswith("error: ")
    assert all(line.startswith("  - ") for line in lines[1:]), res.stderr
    for n in needles:
        assert n in res.stderr, res.stderr
    return res.stderr


@pytest.mark.parametrize("raw, value", [("1e8", 1e8), ("3E-4", 3e-4), ("-2e-5", -2e-5), ("1.0e-3", 1e-3),
                                        ("5", 5.0), (".5", 0.5)])
def test_exponent_numbers_are_numbers(raw, value):
    """YAML 1.1 reads 1e8 (no dot) as a string; an lr given that way must be the number."""
    r = config.load("tiny", [f"pretrain.optim.lr={raw}"] if value > 0 else [f"pretrain.optim.min_lr_frac={raw}"])
    got = r.pretrain.optim.lr if value > 0 else r.pretrain.optim.min_lr_frac
    assert got == value and isinstance(got, float)


def test_exponent_for_an_integer_and_in_a_recipe_file(tmp_path):
    assert config.load("tiny", ["pretrain.steps=1e3"]).pretrain.steps == 1000
    text = (config.recipes_dir() / "tiny.yaml").read_text().replace("lr: 1.0e-3", "lr: 2e-3", 1)
    assert "lr: 2e-3" in text
    (tmp_path / "r.yaml").write_text(text)
    assert config.load(tmp_path / "r.yaml").pretrain.optim.lr == 2e-3
    assert config.load("tiny", ["text.model=1e3-local"]).text.model == "1e3-local"  # strings stay strings


def test_cli_accepts_exponent_lr(monkeypatch):
    """The override reaches training as a number (training itself is replaced: nothing to run here)."""
    from imutrain import train

    seen = {}

    def fake(stage, manifest, recipe, run_dir, **kw):
        seen["lr"] = recipe.pretrain.optim.lr
        raise SystemExit(0)

    monkeypatch.setattr(train, "train", fake)
    res = _cli("pretrain", "m.yaml", "--set", "pretrain.optim.lr=1e8")
    assert res.exit_code == 0 and seen["lr"] == 1e8, res.output


@pytest.mark.parametrize("args, needles", [
    (["--set", "pretrain.optim.lr=abc"], ["pretrain.optim.lr: expected a number, got 'abc'"]),
    (["--set", "pretrain.optim.lr=.nan"], ["pretrain.optim.lr: expected a finite number"]),
    (["--set", "pretrain.optim.lr=-.inf"], ["pretrain.optim.lr: expected a finite number"]),
    (["--set", "pretrain.optim.lr=0"], ["pretrain.optim.lr must be > 0"]),
    (["--set", "pretrain.save_every=0"], ["pretrain.save_every must be >= 1"]),
    (["--set", "align.log_every=-1"], ["align.log_every must be >= 1"]),
    (["--set", "data.num_workers=-2"], ["data.num_workers must be >= 0"]),
    (["--set", "pretrain.stepz=3", "--set", "data.batch_size=x"], ["stepz: unknown key", "batch_size: expected an integer"]),
    (["--set", "pretrain.steps"], ["override 'pretrain.steps' is not key=value"]),
    (["--set", "pretrain..steps=3"], ["'pretrain..steps' is not a dotted key"]),
    (["--set", "model.cnn_kernels=[3,5"], ["override 'model.cnn_kernels=[3,5'", "not valid YAML"]),
    (["--set", "seed.x=1"], ["seed is not a section"]),
    (["--recipe", "nope"], ["no recipe 'nope'"]),
])
def test_bad_recipe_values_exit_2(args, needles):
    _refused(_cli("pretrain", "m.yaml", *args), *needles)


@pytest.mark.parametrize("text, needles", [
    ("model:\n  d_model: [1, 2\n", ["line 3", "not valid YAML"]),
    ("- 1\n- 2\n", ["expected a mapping of sections"]),
    ("model: {d_model: 10}\n", ["model.d_model (10) must be divisible by model.n_heads"]),
])
def test_bad_recipe_file_exit_2(tmp_path, text, needles):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    out = _refused(_cli("align", "m.yaml", "--recipe", str(bad)), *needles)
    assert str(bad) in out


def test_recipes_command_bad_name_exit_2():
    _refused(_cli("recipes", "nope"), "no recipe 'nope'")


@pytest.mark.parametrize("cmd", ["pretrain", "align", "eval"])
def test_cuda_without_cuda_exit_2(monkeypatch, cmd):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["eval", "run", "--manifest", "m.yaml"] if cmd == "eval" else [cmd, "m.yaml"]
    out = _refused(_cli(*args, "--device", "cuda"), "--device cuda: CUDA is not available", "use --device cpu")
    assert len(out.splitlines()) == 1


@pytest.mark.parametrize("device, needle", [("gpu", "--device 'gpu': not a device name"),
                                            ("cuda:7", "--device cuda:7: only 1 CUDA device(s) visible"),
                                            ("meta", "--device meta: only cpu, cuda or cuda:N")])
def test_bad_device_exit_2(monkeypatch, device, needle):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    out = _refused(_cli("pretrain", "m.yaml", "--device", device), needle)
    assert len(out.splitlines()) == 1


def test_help_documents_exit_2():
    out = _cli("--help").output
    assert "Exit codes: 2 bad input" in out and "--device" in out


def test_run_folder_config_yaml_damaged(tmp_path):
    """A run folder whose config.yaml is not YAML: eval says which file and line, exit 2."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model:\n  d_model: [\n")
    out = _refused(_cli("eval", str(run), "--manifest", str(Path(tmp_path) / "m.yaml")), str(run / "config.yaml"))
    assert "not valid YAML" in out


@pytest.mark.parametrize("cmd", ["eval", "align-init"])
def test_damaged_final_weights_exit_2(tmp_path, cmd):
    """A run folder's final model.safetensors cut short: eval (or align --init from it) names the file, exit 2."""
    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    config.dump(config.load("tiny"), run / "config.yaml")
    (run / "pretrain" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": ")
    if cmd == "eval":
        res = _cli("eval", str(run), "--manifest", str(tmp_path / "m.yaml"), "--device", "cpu")
        _refused(res, str(run / "pretrain" / "model.safetensors"), "unreadable")
    else:
        from imutrain import train
        from imutrain.checkpoint import CheckpointError
        from imutrain.model import TSFM

        with pytest.raises(CheckpointError, match="pretrain/model.safetensors: unreadable"):
            train.init_from(TSFM(config.load("tiny").model), run, lambda m: None)


# ------------------------------------------------------------------ where a problem is, and what was meant
def test_recipe_file_typo_names_file_line_and_the_key_meant(tmp_path):
    """A misspelt key in a recipe file: the file, the key's line and the key it resembles."""
    bad = tmp_path / "mine.yaml"
    bad.write_text("name: mine\nmodel:\n  d_model: 64\n  n_head: 4\npretrain:\n  optim:\n    lr: fast\n")
    out = _refused(_cli("pretrain", "m.yaml", "--recipe", str(bad)),
                   f"invalid recipe ({bad})",
                   "line 4: model.n_head: unknown key; did you mean model.n_heads?",
                   "line 7: pretrain.optim.lr: expected a number, got 'fast'")
    assert len(out.splitlines()) == 3


def test_recipe_file_inconsistent_value_names_its_line(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("model:\n  n_heads: 4\n  d_model: 30\n")
    _refused(_cli("align", "m.yaml", "--recipe", str(bad)), "line 3: model.d_model (30) must be divisible")


def test_set_key_typo_suggests_the_key(tmp_path):
    """--set problems name the override they come from; an unlike key lists the section's keys."""
    out = _refused(_cli("pretrain", "m.yaml", "--set", "pretrain.optim.lrr=1e-3", "--set", "data.zzz=1"),
                   "--set pretrain.optim.lrr=1e-3: pretrain.optim.lrr: unknown key; did you mean pretrain.optim.lr?",
                   "--set data.zzz=1: data.zzz: unknown key; known: batch_size, block_windows")
    assert "line " not in out   # the shipped tiny.yaml is not at fault


def test_inconsistency_caused_by_an_override_blames_the_override(tmp_path):
    """warmup_steps (from the file) below steps (from --set): the --set is named, not the file's line;
    a file typo resembling an overridden key still points at its own line."""
    _refused(_cli("align", "m.yaml", "--set", "pretrain.steps=20"),
             "  - --set pretrain.steps=20: pretrain.optim.warmup_steps must be below pretrain.steps")
    bad = tmp_path / "mine.yaml"
    bad.write_text("data:\n  batchsize: 3\n")
    _refused(_cli("align", "m.yaml", "--recipe", str(bad), "--set", "data.batch_size=4"),
             "line 2: data.batchsize: unknown key; did you mean data.batch_size?")


def test_set_value_problem_in_a_list_names_the_override():
    _refused(_cli("pretrain", "m.yaml", "--set", "model.cnn_kernels=[3, x]"),
             "--set model.cnn_kernels=[3, x]: model.cnn_kernels[1]: expected an integer, got 'x'")


def test_recipe_name_typo_suggests_a_name():
    _refused(_cli("pretrain", "m.yaml", "--recipe", "tinny"), "no recipe 'tinny'", "did you mean 'tiny'?")
    _refused(_cli("recipes", "smal"), "did you mean 'small'?")


def test_every_yaml_in_the_recipes_folder_is_a_named_recipe(tmp_path, monkeypatch):
    """A recipe added to the package folder is listed and usable by name, with no code change."""
    folder = tmp_path / "recipes"
    folder.mkdir()
    for p in Path(config.__file__).parent.joinpath("recipes").glob("*.yaml"):
        (folder / p.name).write_text(p.read_text())
    (folder / "bench-cpu.yaml").write_text("name: bench-cpu\npretrain: {steps: 70}\n")
    monkeypatch.setattr(config, "recipes_dir", lambda: folder)
    res = _cli("recipes")
    assert res.exit_code == 0, res.output
    listed = [ln.split()[0] for ln in res.stdout.splitlines()]
    assert listed == sorted(p.stem for p in folder.glob("*.yaml")) and "bench-cpu" in listed and "tiny" in listed
    assert config.load("bench-cpu").pretrain.steps == 70
    assert config.resolve_recipe_path("recipes/bench-cpu.yaml") == folder / "bench-cpu.yaml"   # the documented path


def test_no_recipes_installed_is_an_error(tmp_path, monkeypatch):
    """A broken install (no package data) must not list nothing and exit 0."""
    monkeypatch.setattr(config, "recipes_dir", lambda: tmp_path)
    _refused(_cli("recipes"), f"no recipes in {tmp_path}")
