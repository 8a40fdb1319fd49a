"""Shards read by polars, duckdb, pyarrow and Hugging Face ``datasets`` without imudata.

The datasets are converted from the HAPT and Daphnet fixtures in one subprocess; the
reader recipes of docs/interop.md then run in fresh subprocesses that never import imudata
(each checks ``sys.modules``). Expected values come from the fixtures, not from imudata.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .fixtures import daphnet as fx_daphnet
from .fixtures import hapt as fx_hapt

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "interop.md"
G = 9.80665
HAPT_ROWS = {"1": 900 + 700, "2": 800, "3": 600 + 650 + 500}  # fixtures/hapt.py EXPERIMENTS by user
DAPHNET_ROWS = sum(fx_daphnet.RUNS.values())

NOT_IMPORTED = "\nimport sys as _s\nassert 'imudata' not in _s.modules, 'the recipe imported imudata'\n"


CONVERT = """
import sys
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.derive import derive_bands
root, hapt, daphnet = sys.argv[1:4]
for name, archive in (("hapt", hapt), ("daphnet", daphnet)):
    fetch(name, root, from_path=archive, progress=False, log=lambda m: None)
    convert(name, root, progress=False, log=lambda m: None)
for _ in range(2):  # a second publication: new tags, the first one's files collected
    derive_bands("hapt", root, bands="0-1,1-", progress=False, log=lambda m: None)
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with HAPT (plus a band-split stream, published twice) and Daphnet, converted in a subprocess."""
    base = tmp_path_factory.mktemp("interop")
    data = base / "data"
    args = [str(data), str(fx_hapt.make_archive(base / "src_hapt")), str(fx_daphnet.make_archive(base / "src_daphnet"))]
    proc = subprocess.run([sys.executable, "-c", CONVERT, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return data


def recipe(name: str) -> str:
    """The code block of docs/interop.md that starts with ``# recipe: <name>``."""
    blocks = dict(re.findall(r"```python\n# recipe: (\w+)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S))
    assert name in blocks, f"docs/interop.md has no '# recipe: {name}' block"
    return blocks[name]


def run_python(root: Path, code: str) -> dict:
    """Run ``code`` in a fresh interpreter outside the repository; it prints one JSON object last."""
    env = {**os.environ, "IMUDATA_HOME": str(root), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(root.parent / "hf"), "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run([sys.executable, "-c", code + NOT_IMPORTED], cwd=root.parent, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def first_acc_x(root: Path) -> float:
    """The first waist acc X value of HAPT experiment 1 in the fixture's original file, in g."""
    raw = next((root / "hapt" / "raw" / "extracted").rglob("acc_exp01_user01.txt"))
    return float(raw.read_text().split()[0])


def test_pyarrow_field_metadata_carries_units_and_conversion(root: Path) -> None:
    out = run_python(root, """
import glob, json, os
import pyarrow.parquet as pq
f = sorted(glob.glob(os.environ["IMUDATA_HOME"] + "/hapt/parquet/imu/part-*.parquet"))[0]
s = pq.read_schema(f)
meta = {n: {k.decode(): v.decode() for k, v in (s.field(n).metadata or {}).items()} for n in s.names}
print(json.dumps(meta))
""")
    acc, gyro = out["waist_acc_x"], out["waist_gyro_z"]
    assert acc["unit"] == "m/s²" and acc["source_unit"] == "g" and float(acc["scale"]) == G
    assert acc["axis"] == "x" and acc["placement"] == "waist" and acc["gravity"] == "included"
    assert "Accelerometer X-axis" in acc["description"]
    assert gyro["unit"] == "rad/s" and gyro["source_unit"] == "rad/s" and float(gyro["scale"]) == 1.0
    assert out["t"]["unit"] == "s" and "label id" in out["label"]["description"]


def test_polars_recipe(root: Path) -> None:
    out = run_python(root, recipe("polars") + """
print(json.dumps({"unit": acc_unit, "rows": hapt.group_by("subject").len().sort("subject").rows(),
                  "pairs": sorted(set(hapt.select("label", "label_name").drop_nulls().rows())),
                  "first": hapt.sort("subject", "session", "t")["waist_acc_x"][0],
                  "both": both.group_by("dataset").agg(pl.len(), pl.col("waist_acc_x").count().alias("w"),
                                                       pl.col("ankle_acc_x").count().alias("a")).sort("dataset").rows()}))
""")
    assert out["unit"] == "m/s²"
    assert dict(out["rows"]) == HAPT_ROWS
    assert out["pairs"] and all(name == fx_hapt.ACTIVITIES[lid - 1] for lid, name in out["pairs"])
    assert out["first"] == pytest.approx(first_acc_x(root) * G, rel=1e-6)
    n_hapt = sum(HAPT_ROWS.values())
    assert out["both"] == [["daphnet", DAPHNET_ROWS, 0, DAPHNET_ROWS], ["hapt", n_hapt, n_hapt, 0]]


def test_duckdb_recipe(root: Path) -> None:
    out = run_python(root, recipe("duckdb") + """
print(json.dumps({"columns": columns, "rows": rows_per_subject, "datasets": rows_per_dataset}))
""")
    assert out["columns"]["waist_acc_x"]["unit"] == "m/s²" and out["columns"]["waist_gyro_x"]["unit"] == "rad/s"
    assert float(out["columns"]["waist_acc_x"]["scale"]) == G
    assert dict(out["rows"]) == HAPT_ROWS
    n_hapt = sum(HAPT_ROWS.values())
    assert out["datasets"] == [["daphnet", DAPHNET_ROWS, 0, DAPHNET_ROWS], ["hapt", n_hapt, n_hapt, 0]]


def test_hugging_face_datasets_recipe_offline(root: Path) -> None:
    out = run_python(root, recipe("hf") + """
import json
import collections
bands = datasets.load_dataset(f"{root}/hapt", "imu_bands", split="train")
print(json.dumps({"names": label_names, "rows": len(hapt), "labels": hapt.features["label"].names,
                  "first": hapt[0]["waist_acc_x"], "both": dict(collections.Counter(both["dataset"])),
                  "both_cols": both.column_names, "null_ankle_in_hapt": both.filter(
                      lambda r: r["dataset"] == "hapt")[0]["ankle_acc_x"],
                  "bands_rows": len(bands), "bands_cols": bands.column_names}))
""")
    assert out["names"][1:] == fx_hapt.ACTIVITIES and out["names"][0] == "unused_0"
    assert out["rows"] == sum(HAPT_ROWS.values())
    assert out["first"] == pytest.approx(first_acc_x(root) * G, rel=1e-6)
    assert out["both"] == {"hapt": sum(HAPT_ROWS.values()), "daphnet": DAPHNET_ROWS}
    assert {"dataset", "waist_acc_x", "ankle_acc_x", "label"} <= set(out["both_cols"])
    assert out["null_ankle_in_hapt"] is None
    # the derived stream is its own configuration, and only the current publication's shards are read
    assert out["bands_rows"] == sum(HAPT_ROWS.values())
    assert "waist_acc_x_band0" in out["bands_cols"] and "waist_acc_x_band1" in out["bands_cols"]


def test_readme_front_matter_lists_every_stream_with_globs(root: Path) -> None:
    out = run_python(root, """
import json, os, yaml
text = open(os.environ["IMUDATA_HOME"] + "/hapt/README.md", encoding="utf-8").read()
head = yaml.safe_load(text.split("---\\n")[1])
print(json.dumps(head))
""")
    assert [c["config_name"] for c in out["configs"]] == ["imu", "imu_bands"]
    assert out["configs"][0].get("default") is True
    assert [c["data_files"][0]["path"] for c in out["configs"]] == ["parquet/imu/part-*.parquet",
                                                                   "parquet/imu_bands/part-*.parquet"]
    label = next(f for f in out["dataset_info"][0]["features"] if f["name"] == "label")
    assert label["dtype"]["class_label"]["names"]["1"] == "WALKING"
