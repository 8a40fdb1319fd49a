"""Malformed original files: each is an error naming the file and line, or a counted note in
completeness that ``imudata info`` prints (the per-case decisions are in docs/reliability.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

from imudata import registry
from imudata.convert import convert
from imudata.errors import FormatError, SchemaError
from imudata.info import render, summary

from ..fixtures import dsads as fx_dsads
from ..fixtures import hapt as fx_hapt
from ..fixtures import kuhar as fx_kuhar
from ..fixtures import motionsense as fx_ms
from ._tools import place_originals


def _convert(root: Path, name: str):
    return convert(name, root, progress=False, log=lambda m: None)


def _info(root: Path, name: str) -> str:
    return render(summary(registry.get(name), root))


def test_hapt_empty_labels_file_is_an_error(tmp_path: Path) -> None:
    tree = place_originals(tmp_path, "hapt", fx_hapt)
    labels = tree / "RawData" / "labels.txt"
    labels.write_text("")
    with pytest.raises(FormatError) as exc:
        _convert(tmp_path, "hapt")
    assert str(labels) in str(exc.value) and "no label intervals" in str(exc.value)
    assert not (tmp_path / "hapt" / "dataset.json").exists()


def test_hapt_experiment_without_labels_is_a_counted_note(tmp_path: Path) -> None:
    tree = place_originals(tmp_path, "hapt", fx_hapt)
    labels = tree / "RawData" / "labels.txt"
    labels.write_text("".join(ln + "\n" for ln in labels.read_text().splitlines() if not ln.startswith("5 ")))
    card = _convert(tmp_path, "hapt")
    note = "1 of 6 experiments have no interval in RawData/labels.txt, so all their samples are unlabelled: exp05"
    assert card.completeness["notes"] == [note]
    assert f"note:     {note}" in _info(tmp_path, "hapt")


@pytest.mark.parametrize("token", ["inf", "-inf", "Infinity"])
def test_infinite_value_is_an_error_naming_file_and_line(tmp_path: Path, token: str) -> None:
    tree = place_originals(tmp_path, "hapt", fx_hapt)
    acc = tree / "RawData" / "acc_exp02_user01.txt"
    lines = acc.read_text().splitlines()
    lines[41] = f"0.1 {token} 0.9"
    acc.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError) as exc:
        _convert(tmp_path, "hapt")
    assert f"{acc}: line 42: value 2 is " in str(exc.value) and "not a finite number" in str(exc.value)


def test_value_beyond_float32_is_not_stored_as_infinity(tmp_path: Path) -> None:
    tree = place_originals(tmp_path, "hapt", fx_hapt)
    acc = tree / "RawData" / "acc_exp03_user02.txt"
    lines = acc.read_text().splitlines()
    lines[9] = "0.1 1e38 0.9"  # finite in the file, 9.8e38 m/s² after scaling: beyond float32
    acc.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=r"session 2/exp03: channel waist_acc_y row 10 holds 1e\+38"):
        _convert(tmp_path, "hapt")


def test_motionsense_header_only_trial_is_a_counted_note(tmp_path: Path) -> None:
    tree = place_originals(tmp_path, "motionsense", fx_ms)
    trial = tree / "A_DeviceMotion_data" / "dws_1" / "sub_2.csv"
    trial.write_text(fx_ms.HEADER + "\n")
    card = _convert(tmp_path, "motionsense")
    note = "1 trial files hold only the header line, no samples, and are not converted: dws_1/sub_2.csv"
    assert note in card.completeness["notes"]
    assert f"note:     {note}" in _info(tmp_path, "motionsense")
    assert not any(sh["subject"] == "2" and "dws_1" in sh["sessions"] for sh in card.shards)


def test_kuhar_empty_recording_is_a_counted_note(tmp_path: Path) -> None:
    tree = place_originals(tmp_path, "kuhar", fx_kuhar)
    rec = tree / "11.Walk" / "1001_L_2.csv"
    rec.write_text("")
    card = _convert(tmp_path, "kuhar")
    note = ("1 sessions hold no samples in the original files and are not stored (subject/session): "
            "1001/11-1001_L_2")
    assert note in card.completeness["notes"]
    assert f"note:     {note}" in _info(tmp_path, "kuhar")


def test_dsads_parse_error_names_the_file_not_its_folder(tmp_path: Path) -> None:
    tree = place_originals(tmp_path, "dsads", fx_dsads)
    seg = tree / "data" / "a01" / "p1" / "s02.txt"
    lines = seg.read_text().splitlines()
    lines[6] = lines[6].replace(",", ",x", 1)
    seg.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError) as exc:
        _convert(tmp_path, "dsads")
    assert str(exc.value).startswith(f"{seg}: line 7: ")
