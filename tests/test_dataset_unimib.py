"""UniMiB-SHAR: fixture archive -> fetch -> convert -> open, and the real label/name files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.io

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import unimib
from imudata.errors import FormatError
from tests.conftest import realdata
from tests.fixtures import unimib as fx


def test_fixture_archive(tmp_path: Path, data_root: Path) -> None:
    archive = fx.make_archive(tmp_path / "src")
    fetch("unimib-shar", data_root, from_path=archive, progress=False, log=lambda m: None)
    card = convert("unimib", data_root, progress=False, log=lambda m: None)
    assert card.subjects == ["1", "2", "3"]
    assert "lists 12 windows" in card.completeness["missing"][0]
    df = imudata.open("unimib", data_root).scan("acc").collect()
    assert df.height == len(fx.LABELS) * 151
    data = tmp_path / "src" / "tree" / "UniMiB-SHAR" / "data"
    acc = scipy.io.loadmat(data / "acc_data.mat")["acc_data"]
    for row, (cls, subj, trial) in enumerate(fx.LABELS):
        # readme: ADL (classes 1-9) trial 1 right pocket, 2 left; falls trials 1-3 right, 4-6 left
        side = "right" if (trial == 1 if cls <= 9 else trial <= 3) else "left"
        name = f"w{row + 1:05d}.t{trial}.{side}"
        part = df.filter((pl.col("subject") == str(subj)) & (pl.col("session") == name))
        assert part.height == 151, name
        for i, a in enumerate("xyz"):  # column-major: 151 x, then 151 y, then 151 z
            np.testing.assert_allclose(part[f"pocket_acc_{a}"].to_numpy(),
                                       acc[row, i * 151:(i + 1) * 151].astype(np.float32), rtol=1e-6)
        assert part["label"].to_list() == [cls] * 151
        np.testing.assert_allclose(part["t"].to_numpy(), np.arange(151) / 50.0)
    stream = imudata.open("unimib", data_root).card.stream("acc")
    assert stream.rate_hz == 50.0 and stream.channel("pocket_acc_y").unit == "m/s²"
    assert stream.channel("pocket_acc_y").scale == 1.0 and stream.channel("pocket_acc_y").gravity == "included"


def test_2016_release_is_refused(tmp_path: Path) -> None:
    root = fx.make(tmp_path)
    scipy.io.savemat(root / "data" / "acc_labels.mat", {"acc_labels": np.array(fx.LABELS, dtype=np.uint8)[:, :2]})
    with pytest.raises(FormatError, match="2016 release"):
        unimib.plan(root)


def test_real_label_and_name_files() -> None:
    src = realdata("unimib")
    lab = unimib.read_labels(src / "data" / "acc_labels.mat")
    assert lab.shape == (11771, 3)
    assert sorted(set(lab[:, 1].tolist())) == list(range(1, 31))
    assert np.bincount(lab[:, 0], minlength=18)[1:].tolist() == [
        153, 216, 1738, 1985, 921, 746, 1324, 296, 200, 529, 511, 526, 661, 484, 434, 513, 534]
    # ADL classes have 2 trials, falls 6 (the pocket-side rule depends on it)
    for cls in range(1, 18):
        assert lab[lab[:, 0] == cls, 2].max() == (2 if cls <= 9 else 6)
    names = unimib.read_names(src / "data" / "acc_names.mat")
    assert [code for _, code in names] == [lab.name for lab in unimib.LABELS]
    assert names[0][0] == "Standing up from sitting" and names[16] == ("Falling leftward", "FallingLeft")
    unimib._check_names(src / "data" / "acc_names.mat")  # the converter accepts the real file
