"""Manifests: schema errors, channel selection, splits (explicit, seeded fractions written back,
same_as), the check table, shipped manifests found by name, and `imudata manifest check demo` on
the real samples."""
from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from imudata import manifest as mf
from imudata import registry
from imudata.cli import app
from imudata.errors import SchemaError
from imudata.paths import DatasetPaths
from imudata.registry import Session
from imudata.shards import write_sessions

from .conftest import realdata

REPO = Path(__file__).resolve().parents[1]


def fake_dataset(root: Path, dataset_id: str, subjects: dict[str, list[tuple[str, int, int]]]) -> None:
    """A converted copy of a registered dataset: its card plus shards of (session, rows, label id)."""
    card = registry.get(dataset_id).card
    stream = card.streams[0]
    paths = DatasetPaths(root, dataset_id)
    shards = []
    for i, (subj, sessions) in enumerate(subjects.items()):
        sess = [Session(stream.name, subj, name, {c.name: np.zeros(n) for c in stream.channels},
                        np.full(n, lab, dtype=np.int16)) for name, n, lab in sessions]
        rel = f"parquet/{stream.name}/part-{i:05d}.parquet"
        (paths.base / rel).parent.mkdir(parents=True, exist_ok=True)
        info = write_sessions(paths.base / rel, card, stream, sess)
        shards.append({"path": rel, "stream": stream.name, "subject": subj, "sessions": [s[0] for s in sessions],
                       "rows": info["rows"], "bytes": 0, "sha256": ""})
    full = replace(card, subjects=list(subjects), shards=shards)
    paths.card.write_text(full.to_json())


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


HEAD = """\
version: 1
name: t
defaults: {window_s: 2.0, patch_s: 1.0}
datasets:
"""


# ---------------------------------------------------------------------------------------------- schema
@pytest.mark.parametrize("body, message", [
    ("version: 1\ndatasets: [{id: hapt, window_s: 2, patch_s: 1, splits: {train: [1]}}]\n", r"m\.yaml: name: required"),
    ("version: 1\nname: t\ndatasets: [{id: hapt, patch_s: 1, splits: {train: [1]}}]\n",
     r"m\.yaml: datasets\[0\]\.window_s: required"),
    (HEAD + "  - {id: hapt, window_s: five, splits: {train: [1]}}\n",
     r"m\.yaml: datasets\[0\]\.window_s: expected a positive number of seconds, got 'five'"),
    (HEAD + "  - {id: hapt, weight: [1], splits: {train: [1]}}\n", r"datasets\[0\]\.weight: expected a number"),
    (HEAD + "  - {id: hapt, windw_s: 4, splits: {train: [1]}}\n",
     r"datasets\[0\]\.windw_s: unknown key \(did you mean 'window_s'\?\)"),
    (HEAD + "  - {id: nosuchset, splits: {train: [1]}}\n", r"datasets\[0\]\.id: unknown dataset 'nosuchset'"),
    (HEAD + "  - id: hapt\n    splits:\n      train: [1, 2]\n      test: [2]\n",
     r"m\.yaml: datasets\[0\]\.splits\.test: subject '2' is in two splits \(train and test\)"),
    (HEAD + "  - {id: hapt, window_s: 2.5, splits: {train: [1]}}\n", r"not a whole number of patches"),
    (HEAD + "  - {id: hapt, splits: {fractions: {train: 0.7, val: 0.2}, seed: 1}}\n", r"fractions must sum to 1"),
    (HEAD + "  - {id: hapt, splits: {fractions: {train: 1.0}}}\n", r"fractions need a seed"),
    (HEAD + "  - {id: hapt}\n", r"datasets\[0\]\.splits: required for a pretrain dataset"),
    (HEAD + "  - {id: hapt, role: trainer, splits: {train: [1]}}\n", r"datasets\[0\]\.role: role is one of"),
    (HEAD + "  - {id: hapt, channels: {sensors: [accel]}, splits: {train: [1]}}\n",
     r"datasets\[0\]\.channels\.sensors: unknown sensor 'accel' \(did you mean 'acc'\?\)"),
    (HEAD + "  - {id: hapt, channels: [waist_acc_q], splits: {train: [1]}}\n",
     r"datasets\[0\]\.channels: unknown channel 'waist_acc_q' in hapt/imu"),
    (HEAD + "  - {id: hapt, drop_labels: [42], splits: {train: [1]}}\n", r"datasets\[0\]\.drop_labels\[0\]: hapt has no label id 42"),
    ("version: 2\nname: t\ndatasets: []\n", r"version: unsupported version 2"),
    ("name: [unclosed\n", r"m\.yaml: not valid YAML"),
])
def test_schema_errors_name_file_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(body)
    with pytest.raises(mf.ManifestError, match=message):
        mf.load(path, resolve=False)


def test_manifest_error_is_a_schema_error_and_lists_every_problem(tmp_path: Path) -> None:
    assert issubclass(mf.ManifestError, SchemaError)
    path = write(tmp_path, HEAD + "  - {id: hapt, window_s: -1, colour: red, splits: {train: [1]}}\n")
    with pytest.raises(mf.ManifestError) as exc:
        mf.load(path, resolve=False)
    assert "2 problems" in str(exc.value) and "colour" in str(exc.value) and "window_s" in str(exc.value)
    assert "(line 5)" in str(exc.value)


# ---------------------------------------------------------------------------------------------- channels
def test_channel_selection_by_sensor_and_placement(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
      - id: dsads
        channels: {sensors: [acc, gyro], placements: [torso, leftleg]}
        splits: {train: [1]}
      - id: hapt
        channels: {sensors: gyro}
        splits: {train: [1]}
    """)
    m = mf.load(path, resolve=False)  # channels resolve against the registry card without data
    assert m.datasets[0].channels == [f"{u}_{s}_{a}" for u in ("torso", "leftleg") for s in ("acc", "gyro") for a in "xyz"]
    assert m.datasets[1].channels == ["waist_gyro_x", "waist_gyro_y", "waist_gyro_z"]
    stream = registry.get("dsads").card.streams[0]
    assert mf.select_channels(stream, {"sensors": ["mag"], "placements": ["rightarm"]}) == [
        "rightarm_mag_x", "rightarm_mag_y", "rightarm_mag_z"]
    assert len(mf.select_channels(stream, "all")) == 45
    with pytest.raises(mf.ManifestError, match="no channel of dsads/imu matches.*placements leftarm, leftleg"):
        mf.select_channels(stream, {"placements": ["chest"]}, dataset="dsads")


# ---------------------------------------------------------------------------------------------- splits
def _ten(root: Path, dataset: str = "hapt") -> None:
    fake_dataset(root, dataset, {str(s): [(f"exp{s}", 500, 1)] for s in range(1, 11)})


def test_fraction_splits_deterministic_and_written_back(tmp_path: Path, data_root: Path) -> None:
    _ten(data_root)
    text = HEAD + """\
      # the training set
      - id: hapt
        splits:
          fractions: {train: 0.6, val: 0.2, test: 0.2}   # seeded
          seed: 7
        weight: 2.0
    # trailing comment
    """
    a = write(tmp_path, text, "a.yaml")
    b = write(tmp_path, text, "b.yaml")
    ma = mf.load(a, root=data_root, write_back=True)
    mb = mf.load(b, root=data_root, write_back=False)
    sa = ma.datasets[0].splits
    assert sa == mb.datasets[0].splits                               # same seed, same split
    assert [len(sa[k]) for k in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(sum(sa.values(), []), key=int) == [str(i) for i in range(1, 11)]
    assert ma.written_back == ["hapt"] and b.read_text() == textwrap.dedent(text)
    new = a.read_text()
    assert "# the training set" in new and "# trailing comment" in new and "weight: 2.0" in new
    data = yaml.safe_load(new)["datasets"][0]["splits"]
    assert {k: data[k] for k in ("train", "val", "test")} == sa
    assert data["resolved"] == {"seed": 7, "fractions": {"train": 0.6, "val": 0.2, "test": 0.2}, "subjects": 10}
    again = mf.load(a, root=data_root, write_back=True)              # rerun: reads the lists, writes nothing
    assert again.datasets[0].splits == sa and again.written_back == [] and a.read_text() == new
    other = mf.split_fractions([str(i) for i in range(1, 11)], {"train": 0.6, "val": 0.2, "test": 0.2}, 8, "hapt")
    assert other != sa


def test_write_back_into_flow_style_entry(tmp_path: Path, data_root: Path) -> None:
    _ten(data_root)
    path = write(tmp_path, HEAD + "  - {id: hapt, splits: {fractions: {train: 0.5, test: 0.5}, seed: 1}}  # flow\n")
    m = mf.load(path, root=data_root, write_back=True)
    assert m.written_back == ["hapt"] and "# flow" in path.read_text()
    again = mf.load(path, root=data_root, write_back=True)
    assert again.datasets[0].splits == m.datasets[0].splits and not again.written_back
    assert again.datasets[0].split_rule["resolved"]["seed"] == 1


def test_split_fractions_rules() -> None:
    subs = [str(i) for i in range(1, 5)]
    s = mf.split_fractions(subs, {"train": 0.9, "val": 0.05, "test": 0.05}, 0)
    assert [len(s[k]) for k in ("train", "val", "test")] == [2, 1, 1]   # every positive split gets a subject
    grown = mf.split_fractions(subs + ["5"], {"train": 1.0}, 0)
    assert grown["train"] == subs + ["5"]


def test_subject_in_two_splits_fails(tmp_path: Path, data_root: Path) -> None:
    _ten(data_root)
    path = write(tmp_path, HEAD + "  - id: hapt\n    splits: {train: [1, 2, 3], val: all, test: ['3']}\n")
    with pytest.raises(SchemaError, match=r"datasets\[0\]\.splits\.test: subject '3' is in two splits"):
        mf.load(path, root=data_root)


def test_same_people_in_two_datasets_must_share_splits(tmp_path: Path, data_root: Path) -> None:
    _ten(data_root, "hapt")
    _ten(data_root, "ucihar")
    bad = write(tmp_path, HEAD + """\
      - {id: ucihar, splits: {train: all, test: [1]}}
      - {id: hapt, splits: {train: [1], test: all}}
    """)
    with pytest.raises(mf.ManifestError, match=r"datasets\[1\]\.splits\.train: subject '1' of hapt is in train, "
                                               r"but in test for ucihar.*same_as"):
        mf.load(bad, root=data_root)
    good = write(tmp_path, HEAD + """\
      - {id: ucihar, splits: {fractions: {train: 0.8, test: 0.2}, seed: 3}}
      - {id: hapt, splits: {same_as: ucihar}}
    """, "good.yaml")
    m = mf.load(good, root=data_root, write_back=False)
    assert m.entry("hapt").splits == m.entry("ucihar").splits


def test_subject_not_converted_and_heldout_default(tmp_path: Path, data_root: Path) -> None:
    _ten(data_root)
    fake_dataset(data_root, "dsads", {"1": [("a01", 250, 1)], "2": [("a02", 250, 2)]})
    path = write(tmp_path, HEAD + "  - {id: hapt, splits: {train: [1, 99]}}\n")
    with pytest.raises(mf.ManifestError, match=r"splits\.train: subject '99' is not in the converted hapt/imu"):
        mf.load(path, root=data_root)
    path = write(tmp_path, HEAD + "  - {id: hapt, splits: {train: [1, 2]}}\n  - {id: dsads, role: heldout}\n")
    m = mf.load(path, root=data_root)
    assert m.entry("dsads").splits == {"test": ["1", "2"]} and m.entry("dsads").role == "heldout"
    assert any("8 converted subject(s) of hapt/imu are in no split" in w for w in m.warnings)
    path = write(tmp_path, HEAD + "  - {id: pamap2, splits: {train: [1]}}\n")
    with pytest.raises(mf.ManifestError, match=r"datasets\[0\]\.id: pamap2 is not converted"):
        mf.load(path, root=data_root)


# ---------------------------------------------------------------------------------------------- check
def test_check_counts_windows_hours_labels(tmp_path: Path, data_root: Path) -> None:
    # hapt at 50 Hz, 2 s windows = 100 samples: 250 rows -> 2 windows, 99 rows -> 0
    fake_dataset(data_root, "hapt", {
        "1": [("exp01", 250, 1), ("exp02", 99, 7)],
        "2": [("exp03", 400, 2)],
        "3": [("exp04", 100, 6)],
    })
    path = write(tmp_path, HEAD + "  - {id: hapt, drop_labels: [SIT_TO_STAND, 7], splits: {train: [1, 2], test: [3]}}\n")
    m = mf.load(path, root=data_root)
    assert m.datasets[0].drop_labels == [7, 8]
    (row,) = mf.check(m)
    assert row["subjects"] == {"train": 2, "test": 1}
    assert row["windows"] == {"train": 2 + 0 + 4, "test": 1}
    assert row["hours"]["train"] == pytest.approx(749 / 50 / 3600)
    assert row["label_ids"] == [1, 2, 6] and row["labels"] == 3 and row["channels"] == 6 and not row["problems"]
    assert "hapt" in mf.render([row])


def test_cli_check_fails_on_subject_in_two_splits(tmp_path: Path, data_root: Path) -> None:
    _ten(data_root)
    path = write(tmp_path, HEAD + "  - id: hapt\n    splits: {train: [1, 2], test: [2]}\n")
    res = CliRunner().invoke(app, ["manifest", "check", str(path)])
    assert res.exit_code != 0
    assert isinstance(res.exception, mf.ManifestError) and "in two splits" in str(res.exception)


# ---------------------------------------------------------------------------------------------- shipped manifests
@pytest.mark.parametrize("name", ["har10", "heldout", "demo"])
def test_shipped_manifests_parse(name: str) -> None:
    path = REPO / "imudata" / "manifests" / f"{name}.yaml"
    ids = [d["id"] for d in yaml.safe_load(path.read_text())["datasets"]]
    absent = [i for i in ids if i not in registry.names()]
    if absent:
        pytest.skip(f"converter modules not present yet: {', '.join(absent)}")
    m = mf.load(path, resolve=False)
    assert m.name == name and [e.id for e in m.datasets] == ids
    for e in m.datasets:
        assert e.channels and e.window_s > 0 and e.patch_s > 0 and e.role in mf.ROLES
    roles = {e.role for e in m.datasets}
    assert roles == {"heldout"} if name == "heldout" else "pretrain" in roles


def test_demo_manifest_check_on_real_data(data_root: Path) -> None:
    """The acceptance check: fetch the real samples, then `imudata manifest check demo` (the shipped
    manifest, by name, as the README types it)."""
    from imudata.acquire import fetch
    from imudata.convert import convert

    demo = REPO / "imudata" / "manifests" / "demo.yaml"
    ids = [d["id"] for d in yaml.safe_load(demo.read_text())["datasets"]]
    folders = {"hapt": "hapt", "kuhar": "kuhar", "dsads": "dsads", "motionsense": "motionsense"}
    for i in ids:
        if i not in registry.names():
            pytest.skip(f"converter module for {i} not present")
        src = realdata(folders[i])
        fetch(i, data_root, from_path=src, progress=False, log=lambda _m: None)
        convert(i, data_root, progress=False, log=lambda _m: None)
    before = demo.read_text()
    res = CliRunner().invoke(app, ["manifest", "check", "demo", "--root", str(data_root)])
    assert res.exit_code == 0, (res.output, res.exception)
    assert demo.read_text() == before   # explicit lists: nothing to write back
    lines = {ln.split()[0]: ln.split() for ln in res.stdout.splitlines()[2:]}
    assert set(lines) == set(ids)
    assert lines["hapt"][3] == "2/1/1"          # users 5, 8 / 9 / 10
    assert lines["kuhar"][3] == "3/-/-"         # users 1004, 1024, 1038: training only
    assert [lines[i][2] for i in ids] == ["pretrain", "pretrain", "heldout", "heldout"]
    assert lines["dsads"][3] == "-/-/8" and lines["motionsense"][3] == "-/-/12"
    rows = mf.check(mf.load(demo, root=data_root, write_back=False))
    by = {r["id"]: r for r in rows}
    assert by["hapt"]["labels"] == 12 and by["dsads"]["labels"] == 19 and by["motionsense"]["labels"] == 6
    assert by["kuhar"]["labels"] == 6 and by["kuhar"]["channels"] == 6   # the sample's 6 classes; acc + gyro
    assert all(r["windows_total"] > 0 for r in rows)


# ---------------------------------------------------------------------------------------------- manifests by name
def test_shipped_manifest_found_by_name_and_doc_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`demo`, `demo.yaml` and the documented `manifests/demo.yaml` name the shipped file wherever the
    command runs; an existing file of that name wins; an unknown name lists the shipped ones."""
    shipped = REPO / "imudata" / "manifests" / "demo.yaml"
    monkeypatch.chdir(tmp_path)
    for name in ("demo", "demo.yaml", "manifests/demo.yaml"):
        assert mf.find(name) == (shipped, True), name
        assert mf.load(name, resolve=False).name == "demo"
    assert sorted(p.stem for p in (REPO / "imudata" / "manifests").glob("*.yaml")) == mf.shipped_names()
    assert mf.find("other/demo.yaml") == (Path("other/demo.yaml"), False)   # only the documented folder
    (tmp_path / "manifests").mkdir()
    own = tmp_path / "manifests" / "demo.yaml"
    own.write_text(HEAD.replace("name: t", "name: mine") + "  - id: hapt\n    role: heldout\n")
    assert mf.find("manifests/demo.yaml") == (Path("manifests/demo.yaml"), False)
    assert mf.load("manifests/demo.yaml", resolve=False).name == "mine"
    with pytest.raises(mf.ManifestError, match=r"demoo: no such manifest file \(shipped manifests, usable by name: .*demo"):
        mf.load("demoo", resolve=False)


def test_shipped_manifest_never_rewritten(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_root: Path) -> None:
    """Fraction splits of a manifest found by name resolve for the run only: the package is not written."""
    _ten(data_root)
    fake = tmp_path / "pkg"
    fake.mkdir()
    (fake / "frac.yaml").write_text(HEAD + "  - id: hapt\n    splits: {fractions: {train: 0.6, val: 0.2, test: 0.2}, seed: 1}\n")
    before = (fake / "frac.yaml").read_text()
    monkeypatch.setattr(mf, "shipped_dir", lambda: fake)
    monkeypatch.chdir(tmp_path)
    m = mf.load("frac", root=data_root)
    assert (fake / "frac.yaml").read_text() == before and m.written_back == []
    assert sum(len(v) for v in m.datasets[0].splits.values()) == 10
