"""Every recipe validates; overrides are typed; problems are reported together; the CLI teaches."""
from __future__ import annotations

import pytest

from imutrain import config

RECIPES = sorted(p.stem for p in config.recipes_dir().glob("*.yaml"))


def test_expected_recipes_exist():
    assert {"tiny", "small", "small-deep"} <= set(RECIPES)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_validates_and_sets_every_key(name):
    import yaml

    raw = yaml.safe_load((config.recipes_dir() / f"{name}.yaml").read_text())
    r = config.load(name)
    full = r.to_dict()

    def keys(d, prefix=""):
        return {prefix + k if not isinstance(v, dict) else x for k, v in d.items()
                for x in (keys(v, prefix + k + ".") if isinstance(v, dict) else [prefix + k])}

    assert keys(full) == keys(raw), "a recipe must spell out every hyper-parameter"


def test_overrides_and_errors():
    r = config.load("tiny", ["pretrain.steps=7", "pretrain.optim.warmup_steps=2", "model.cnn_kernels=[3]", "data.window_s=4"])
    assert r.pretrain.steps == 7 and r.model.cnn_kernels == [3] and r.data.window_s == 4.0
    with pytest.raises(config.ConfigError) as e:
        config.load("tiny", ["pretrain.stepz=3", "data.batch_size=x"])
    msg = str(e.value)
    assert "stepz: unknown key" in msg and "batch_size: expected an integer" in msg  # both, at once
    with pytest.raises(config.ConfigError, match="divisible"):
        config.load("tiny", ["model.d_model=10", "model.n_heads=4"])
    with pytest.raises(config.ConfigError, match="no recipe"):
        config.load("nope")


def test_cli_help_teaches():
    from typer.testing import CliRunner

    from imutrain.cli import app

    out = CliRunner().invoke(app, ["--help"]).output
    assert "imutrain pretrain demo --recipe tiny" in out and "torchrun" in out and "shipped one (demo" in out
    for cmd in ("pretrain", "align", "eval"):
        res = CliRunner().invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and "--root" in res.output
