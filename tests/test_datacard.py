"""README.md follows every publication; per-column metadata is checked by verify; ClassLabel names."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import yaml

from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datacard import label_names
from imudata.derive import derive_bands, remove_derived
from imudata.format import Label
from imudata.verify import verify

from .fixtures import hapt as fx


def configs(base: Path) -> list[str]:
    head = (base / "README.md").read_text(encoding="utf-8").split("---\n")[1]
    return [c["config_name"] for c in yaml.safe_load(head)["configs"]]


def test_readme_follows_each_publication_and_is_repaired(tmp_path: Path, data_root: Path) -> None:
    fetch("hapt", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    convert("hapt", data_root, progress=False)
    base = data_root / "hapt"
    assert configs(base) == ["imu"]
    derive_bands("hapt", data_root, bands="0-1,1-", progress=False, log=lambda m: None)
    assert configs(base) == ["imu", "imu_bands"]
    remove_derived("hapt", "imu_bands", data_root)
    assert configs(base) == ["imu"]
    (base / "README.md").write_text("stale", encoding="utf-8")  # e.g. a run killed between README and card
    convert("hapt", data_root, progress=False, log=lambda m: None)  # up to date: only repairs
    assert configs(base) == ["imu"]
    assert not list(base.glob(".README.md.tmp-*"))


def test_verify_reports_changed_column_metadata(tmp_path: Path, data_root: Path) -> None:
    fetch("hapt", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False)
    convert("hapt", data_root, progress=False)
    assert verify("hapt", data_root) == []
    shard = sorted((data_root / "hapt" / "parquet" / "imu").glob("part-*.parquet"))[0]
    table = pq.read_table(shard)
    schema = table.schema
    i = schema.get_field_index("waist_acc_x")
    schema = schema.set(i, schema.field(i).with_metadata({**schema.field(i).metadata, b"unit": b"g"}))
    pq.write_table(table.cast(schema), shard)
    assert any("units and descriptions in its column metadata differ" in p for p in verify("hapt", data_root))


def test_label_names_fill_gaps_and_refuse_negative_ids() -> None:
    from imudata.format import DatasetCard

    def card(ids: list[int]) -> DatasetCard:
        return DatasetCard(id="x", title="x", homepage="", license="", citation="", streams=[],
                           labels=[Label(i, f"L{i}", f"l{i}") for i in ids])

    assert label_names(card([1, 3])) == ["unused_0", "L1", "unused_2", "L3"]
    assert label_names(card([0, 1])) == ["L0", "L1"]
    assert label_names(card([-1, 2])) is None  # no ClassLabel: label stays a plain integer
