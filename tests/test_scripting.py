"""Scripting: --json objects on stdout (messages on stderr), imudata.commands, --version, did-you-mean,
sessions, one help style without <bool> metavars, manifest check --write, manifest error lines."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from .fixtures import hapt as fx

REPO = Path(__file__).resolve().parents[1]
SCHEMA_KEYS = {"schema", "command"}


def cli(prog: str, *args: str, root: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m <prog>.cli ARGS`` as a user would (the console entry point's error handling included)."""
    env = dict(os.environ)
    if root is not None:
        env["IMUDATA_HOME"] = str(root)
    code = f"import sys; from {prog}.cli import main; sys.argv[0] = {prog!r}; main()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, cwd=REPO)


def as_json(proc: subprocess.CompletedProcess) -> dict:
    """stdout parsed as exactly one JSON object (nothing else may be printed there)."""
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A root holding the miniature HAPT, fetched and converted by `imudata fetch --json`."""
    base = tmp_path_factory.mktemp("scripting")
    root = base / "root"
    archive = fx.make_archive(base / "src")
    proc = cli("imudata", "fetch", "hapt", "--from", str(archive), "-q", "--json", root=root)
    assert proc.returncode == 0, proc.stderr
    return root, as_json(proc)


# ---------------------------------------------------------------------------------------------- --json per command
def test_fetch_json_describes_the_converted_copy(converted: tuple[Path, dict]) -> None:
    root, out = converted
    assert out["schema"] == 1 and out["command"] == "fetch"
    (entry,) = out["datasets"]
    assert entry["id"] == "hapt" and entry["converted"] is True
    assert Path(entry["card"]) == root / "hapt" / "dataset.json" and Path(entry["card"]).is_file()
    assert Path(entry["raw"]) == root / "hapt" / "raw" / "extracted"
    users = sorted({str(u) for _, u, _ in fx.EXPERIMENTS}, key=int)
    assert entry["subjects"] == users
    assert entry["rows"] == sum(n for _, _, n in fx.EXPERIMENTS)
    (stream,) = entry["streams"]
    assert stream["name"] == "imu" and stream["rate_hz"] == 50.0 and stream["shards"] == len(users)
    assert stream["channels"] == [f"waist_{s}_{a}" for s in ("acc", "gyro") for a in "xyz"]


def test_fetch_no_convert_json(tmp_path: Path) -> None:
    proc = cli("imudata", "fetch", "hapt", "--from", str(fx.make_archive(tmp_path / "src")), "--no-convert", "-q",
               "--json", root=tmp_path / "root")
    assert proc.returncode == 0, proc.stderr
    out = as_json(proc)
    assert out["datasets"] == [{"id": "hapt", "raw": str(tmp_path / "root" / "hapt" / "raw" / "extracted"),
                                "converted": False}]
    assert "original files ready" in proc.stderr   # the human messages stay on stderr


def test_convert_json_and_messages_on_stderr(converted: tuple[Path, dict]) -> None:
    root, fetched = converted
    proc = cli("imudata", "convert", "hapt", "-q", "--json", root=root)
    assert proc.returncode == 0, proc.stderr
    out = as_json(proc)
    assert out["command"] == "convert" and out["id"] == "hapt"
    assert {"card", "streams", "subjects", "shards", "rows"} <= set(out)
    assert out["subjects"] == fetched["datasets"][0]["subjects"]
    assert "shards" in proc.stderr and "{" not in proc.stderr


def test_verify_json_ok_then_failure_exit_1(converted: tuple[Path, dict], tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(converted[0], root)
    ok = cli("imudata", "verify", "hapt", "--json", root=root)
    assert ok.returncode == 0, ok.stderr
    out = as_json(ok)
    assert out["command"] == "verify" and out["ok"] is True and out["problems"] == []
    assert isinstance(out["originals"], list)
    shard = sorted((root / "hapt" / "parquet" / "imu").glob("part-*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    bad = cli("imudata", "verify", "hapt", "--json", root=root)
    assert bad.returncode == 1
    out = as_json(bad)
    assert out["ok"] is False and any("sha256 differs" in p for p in out["problems"])
    assert "FAIL" in bad.stderr


def test_bands_and_resample_json(converted: tuple[Path, dict], tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(converted[0], root)
    proc = cli("imudata", "bands", "hapt", "--bands", "0-1,1-", "-q", "--json", root=root)
    assert proc.returncode == 0, proc.stderr
    out = as_json(proc)
    assert out["command"] == "bands" and out["stream"] == "imu_bands" and out["source"] == "imu"
    assert out["rate_hz"] == 50.0 and len(out["channels"]) == 6 * 2
    assert out["rows"] == sum(n for _, _, n in fx.EXPERIMENTS) and out["shards"] == 3
    card = json.loads(Path(out["card"]).read_text())
    assert "imu_bands" in [s["name"] for s in card["streams"]]
    proc = cli("imudata", "resample", "hapt", "--rate", "25", "-q", "--json", root=root)
    assert proc.returncode == 0, proc.stderr
    out = as_json(proc)
    assert out["command"] == "resample" and out["stream"] == "imu_25hz" and out["rate_hz"] == 25.0
    assert out["rows"] == sum(n // 2 for _, _, n in fx.EXPERIMENTS)   # every session has an even length


def test_caption_json_lists_each_level(converted: tuple[Path, dict], tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(converted[0], root)
    proc = cli("imudata", "caption", "hapt", "--level", "low,high_middle", "--window", "5", "--stride", "5", "-q",
               "--json", root=root)
    assert proc.returncode == 0, proc.stderr
    out = as_json(proc)
    assert out["command"] == "caption" and [c["level"] for c in out["captions"]] == ["low", "high_middle"]
    windows = sum(n // 250 for _, _, n in fx.EXPERIMENTS)   # whole 5 s windows per session at 50 Hz
    for c in out["captions"]:
        assert c["id"] == "hapt" and c["stream"] == "imu" and c["rows"] == windows
        assert Path(c["folder"]) == root / "hapt" / "captions" / c["level"]
        assert (Path(c["folder"]) / "captions.json").is_file()


def test_json_error_is_one_stderr_line_exit_2(converted: tuple[Path, dict]) -> None:
    proc = cli("imudata", "bands", "hapt", "--bands", "5-1", "--json", root=converted[0])
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------- Python functions
def test_python_functions_return_the_json_objects(converted: tuple[Path, dict]) -> None:
    from imudata import commands

    root = converted[0]
    messages: list[str] = []
    res = commands.verify("hapt", root, log=messages.append)
    assert res["ok"] is True and res["id"] == "hapt"
    info = commands.info("hapt", root)
    assert info["status"] == "converted" and info["id"] == "hapt"
    sess = commands.sessions("hapt", root)
    cli_sess = as_json(cli("imudata", "sessions", "hapt", "--json", root=root))
    assert sess == cli_sess
    for name in ("fetch", "convert", "verify", "bands", "resample", "caption", "info", "sessions"):
        fn = getattr(commands, name)
        assert callable(fn) and fn.__doc__ and len(fn.__doc__) > 40


def test_import_imudata_is_light() -> None:
    code = ("import sys, imudata; heavy = [m for m in ('polars', 'pyarrow', 'numpy', 'scipy', 'typer') "
            "if m in sys.modules]; print(','.join(heavy)); imudata.open; print('imudata.api' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = proc.stdout.splitlines()
    assert before == "" and after == "True"   # nothing heavy at import; imudata.open loads the API on first use


# ---------------------------------------------------------------------------------------------- sessions
def test_sessions_lists_every_session_with_its_length(converted: tuple[Path, dict]) -> None:
    root = converted[0]
    out = as_json(cli("imudata", "sessions", "hapt", "--json", root=root))
    assert out["command"] == "sessions" and out["stream"] == "imu" and out["rate_hz"] == 50.0
    expected = [(str(u), f"exp{e:02d}", n) for e, u, n in fx.EXPERIMENTS]
    assert [(s["subject"], s["session"], s["rows"]) for s in out["sessions"]] == expected
    assert [s["seconds"] for s in out["sessions"]] == [n / 50 for _, _, n in fx.EXPERIMENTS]
    assert [s["ref"] for s in out["sessions"]] == [f"{u}/{s}" for u, s, _ in expected]
    one = as_json(cli("imudata", "sessions", "hapt", "--subject", "3", "--json", root=root))
    assert [s["session"] for s in one["sessions"]] == ["exp04", "exp05", "exp06"]
    text = cli("imudata", "sessions", "hapt", root=root)
    assert text.returncode == 0 and "3/exp05" in text.stdout and "13.0" in text.stdout
    bad = cli("imudata", "sessions", "hapt", "--subject", "4", root=root)
    assert bad.returncode == 2 and "no subject '4'" in bad.stderr and "subjects: 1, 2, 3" in bad.stderr


# ---------------------------------------------------------------------------------------------- did you mean
@pytest.mark.parametrize(("typed", "meant"), [("pamap3", "pamap2"), ("hpat", "hapt"), ("mhelth", "mhealth")])
def test_unknown_dataset_did_you_mean(typed: str, meant: str, tmp_path: Path) -> None:
    proc = cli("imudata", "info", typed, root=tmp_path)
    assert proc.returncode == 2
    assert f"unknown dataset '{typed}' (did you mean '{meant}'?)" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_unknown_caption_level_did_you_mean(converted: tuple[Path, dict]) -> None:
    proc = cli("imudata", "caption", "hapt", "--level", "high_midle", "-q", root=converted[0])
    assert proc.returncode == 2
    assert "unknown caption level(s) ['high_midle'] (did you mean 'high_middle'?)" in proc.stderr
    assert not (converted[0] / "hapt" / "captions" / "high_midle").exists()


# ---------------------------------------------------------------------------------------------- --version, help
def test_version_on_both_clis() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for prog in ("imudata", "imutrain"):
        proc = cli(prog, "--version")
        assert proc.returncode == 0 and proc.stdout == f"{prog} {version}\n"


def _help_pages(prog: str) -> dict[str, str]:
    """Every help page of a CLI: the top one and one per command (sub-commands of groups included)."""
    import importlib

    from typer.testing import CliRunner

    app = importlib.import_module(f"{prog}.cli").app
    runner = CliRunner()
    pages: dict[str, str] = {}
    todo = [()]
    while todo:
        words = todo.pop()
        text = runner.invoke(app, [*words, "--help"], prog_name=prog).stdout
        pages[" ".join(words)] = text
        if "Commands:" in text:
            block = text.split("Commands:")[1]
            todo += [(*words, n) for n in re.findall(r"^  ([a-z][a-z-]*)\s", block, flags=re.M)]
    return pages


@pytest.mark.parametrize("prog", ["imudata", "imutrain"])
def test_one_help_style_without_bool_metavar(prog: str) -> None:
    pages = _help_pages(prog)
    assert len(pages) >= 6 and (prog != "imudata" or "manifest check" in pages)
    for name, text in pages.items():
        assert text.startswith("Usage: "), (prog, name)
        assert "<bool>" not in text and "╭" not in text, (prog, name)   # no flag metavar, no boxed (rich) layout
    if prog == "imudata":
        for cmd in ("fetch", "convert", "verify", "bands", "resample", "caption", "sessions"):
            assert re.search(r"^  --json\s", pages[cmd], flags=re.M), cmd


# ---------------------------------------------------------------------------------------------- manifest check
HEAD = textwrap.dedent("""\
    version: 1
    name: t
    defaults: {window_s: 2.0, patch_s: 1.0}
    datasets:
    """)


def test_manifest_check_leaves_the_file_alone_without_write(converted: tuple[Path, dict], tmp_path: Path) -> None:
    root = converted[0]
    path = tmp_path / "m.yaml"
    text = HEAD + "  - id: hapt\n    splits: {fractions: {train: 0.7, test: 0.3}, seed: 3}\n"
    path.write_text(text)
    proc = cli("imudata", "manifest", "check", str(path), "--json", root=root)
    assert proc.returncode == 0, proc.stderr
    out = as_json(proc)
    assert out["written_back"] == [] and path.read_text() == text
    assert sum(out["datasets"][0]["subjects"].values()) == 3
    assert cli("imudata", "manifest", "check", str(path), "--no-write", root=root).returncode == 0   # old flag
    assert path.read_text() == text
    proc = cli("imudata", "manifest", "check", str(path), "--write", "--json", root=root)
    assert proc.returncode == 0, proc.stderr
    assert as_json(proc)["written_back"] == ["hapt"]
    new = path.read_text()
    assert new != text and "resolved: {seed: 3" in new
    import yaml

    splits = yaml.safe_load(new)["datasets"][0]["splits"]
    assert sorted(splits["train"] + splits["test"], key=int) == ["1", "2", "3"]


def _problems(proc: subprocess.CompletedProcess) -> list[str]:
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    lines = proc.stderr.removeprefix("error: ").splitlines()
    return lines[1:] if re.fullmatch(r"\d+ problems:", lines[0]) else lines


def test_manifest_required_key_missing_everywhere_is_one_line(converted: tuple[Path, dict], tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nname: t\ndatasets:\n  - {id: hapt, splits: {train: [1]}}\n"
                    "  - {id: dsads, role: heldout, patch_s: 1}\n  - {id: pamap2, role: heldout, patch_s: 1}\n")
    lines = _problems(cli("imudata", "manifest", "check", str(path), root=converted[0]))
    assert len(lines) == 2
    assert "datasets[0].window_s: required (here or in defaults); also missing in datasets[1], datasets[2]" in lines[0]
    assert "datasets[0].patch_s: required (here or in defaults)" in lines[1] and "also" not in lines[1]


def test_manifest_bad_defaults_reported_once(converted: tuple[Path, dict], tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nname: t\ndefaults: {window_s: 2.5, patch_s: 1.0, channels: {sensors: [acx]}}\n"
                    "datasets:\n  - {id: hapt, splits: {train: [1]}}\n  - {id: dsads, role: heldout}\n")
    lines = _problems(cli("imudata", "manifest", "check", str(path), root=converted[0]))
    assert len(lines) == 2 and len(set(lines)) == 2
    assert "defaults.window_s: window_s 2.5 s is not a whole number of patches of 1 s" in lines[0]
    assert "defaults.channels.sensors: unknown sensor 'acx' (did you mean 'acc'?)" in lines[1]


def test_manifest_repeated_entry_is_one_problem(converted: tuple[Path, dict], tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(HEAD + "  - {id: hapt, splits: {train: ['1'], test: ['3']}}\n"
                           "  - {id: hapt, role: heldout, splits: {test: ['1']}}\n")
    lines = _problems(cli("imudata", "manifest", "check", str(path), root=converted[0]))
    assert len(lines) == 1 and "datasets[1]: hapt/imu is already datasets[0]" in lines[0]
