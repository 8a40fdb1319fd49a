"""UCI-HAR: fixture archive -> fetch -> convert -> open, checked against the fixture's windows and files."""
from __future__ import annotations


import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.errors import FormatError
from imudata.format import G
from imudata.registry import get
from tests.conftest import realdata
from tests.fixtures import ucihar as fx

#: Stored channel -> original file stem, from the README (not from the converter).
STEM = {}
for _a in "xyz":
    STEM[f"waist_acc_{_a}"] = f"total_acc_{_a}"
    STEM[f"waist_lacc_{_a}"] = f"body_acc_{_a}"
    STEM[f"waist_gyro_{_a}"] = f"body_gyro_{_a}"
SCALE = {"acc": G, "lacc": G, "gyro": 1.0}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ucihar")
    archive = fx.make_archive(tmp / "download")
    root = tmp / "home"
    paths = fetch("uci-har", root, from_path=archive, progress=False, log=lambda m: None)
    convert("ucihar", root, progress=False, log=lambda m: None)
    ds = imudata.open("ucihar", root)
    orig = fx.make(tmp / "orig")
    return ds, orig, paths


def _sessions(ds) -> dict[tuple[str, str], pl.DataFrame]:
    df = ds.scan("imu").collect()
    return {(s, n): part for (s, n), part in df.group_by("subject", "session", maintain_order=True)}


def test_sessions_are_the_generated_recordings(converted):
    ds, _, _ = converted
    got = _sessions(ds)
    segs = fx.segments()
    want = {(str(s["subject"]), f"{s['split']}.w{s['first_line']:04d}"): s for s in segs}
    assert set(got) == set(want)  # same-label neighbours without overlap, gyro-only mismatch and
    # a label change over an equal overlap all start new sessions
    for key, seg in want.items():
        part = got[key]
        assert len(part) == 64 * (seg["windows"] + 1), key  # overlap stored once
        assert part["label"].null_count() == 0 and set(part["label"].to_list()) == {seg["label"]}
        np.testing.assert_allclose(part["t"].to_numpy(), np.arange(len(part)) / 50.0)
        for ch in ds.card.stream("imu").channels:
            want_v = np.array([float(tok) for tok in seg["tokens"][STEM[ch.name]]]) * SCALE[ch.sensor]
            np.testing.assert_allclose(part[ch.name].to_numpy(), want_v, rtol=2e-7, atol=1e-7, err_msg=f"{key} {ch.name}")


def test_every_window_line_is_recovered_from_the_files(converted):
    ds, orig, _ = converted
    got = _sessions(ds)
    for split in ("train", "test"):
        files = {stem: [[float(v) for v in line.split()] for line in
                        (orig / split / "Inertial Signals" / f"{stem}_{split}.txt").read_text().splitlines()]
                 for stem in STEM.values()}
        n_lines = len(files["total_acc_x"])
        covered = []
        for (subject, session), part in got.items():
            if not session.startswith(f"{split}."):
                continue
            first = int(session.split(".w")[1])
            k = (len(part) - 128) // 64 + 1
            for w in range(k):
                covered.append(first + w)
                for ch, stem in STEM.items():
                    stored = part[ch].to_numpy()[64 * w:64 * w + 128] / SCALE[ch.split("_")[1]]
                    np.testing.assert_allclose(stored, files[stem][first + w - 1], rtol=2e-7, atol=1e-7)
        assert sorted(covered) == list(range(1, n_lines + 1))  # every window exactly once


def test_card_units_split_and_subjects(converted):
    ds, _, paths = converted
    card = ds.card
    assert card.subjects == ["1", "2", "3", "4"]
    s = card.stream("imu")
    assert s.rate_hz == 50.0
    assert [c.name for c in s.channels] == [f"waist_{k}_{a}" for k in ("acc", "lacc", "gyro") for a in "xyz"]
    acc, lacc, gyro = s.channel("waist_acc_x"), s.channel("waist_lacc_y"), s.channel("waist_gyro_z")
    assert (acc.sensor, acc.unit, acc.source_unit, acc.scale, acc.gravity) == ("acc", "m/s²", "g", G, "included")
    assert (lacc.sensor, lacc.unit, lacc.scale, lacc.gravity) == ("lacc", "m/s²", G, "removed")
    assert (gyro.sensor, gyro.unit, gyro.scale) == ("gyro", "rad/s", 1.0)
    assert [(lab.id, lab.name) for lab in card.labels] == [
        (1, "WALKING"), (2, "WALKING_UPSTAIRS"), (3, "WALKING_DOWNSTAIRS"), (4, "SITTING"), (5, "STANDING"),
        (6, "LAYING")]
    sessions = _sessions(ds)
    train = {sub for sub, ses in sessions if ses.startswith("train.")}
    test = {sub for sub, ses in sessions if ses.startswith("test.")}
    assert train == {"1", "3"} and test == {"2", "4"}
    assert card.completeness["missing"] == []
    assert "train" in card.facts["split"] and "test" in card.facts["split"]
    assert get("uci-har") is get("ucihar") is get("UCI_HAR")
    assert not list(paths.extracted.rglob("__MACOSX")) and not list(paths.extracted.rglob("._*"))


def test_gravity_is_on_the_total_channel_only(converted):
    ds, _, _ = converted
    df = ds.scan("imu").collect().filter(pl.col("label") == 5)  # standing: upright, x vertical
    assert 9.0 < df["waist_acc_x"].mean() < 10.5
    assert abs(df["waist_lacc_x"].mean()) < 0.5


def test_real_label_and_subject_files():
    real = realdata("uci-har")
    spec = get("ucihar")
    from imudata.datasets.ucihar import windows_index
    subj, lab = windows_index(real, "train")
    assert len(lab) == 7352
    assert np.bincount(lab, minlength=7)[1:].tolist() == [1226, 1073, 986, 1286, 1374, 1407]
    assert sorted(set(subj.tolist())) == [1, 3, 5, 6, 7, 8, 11, 14, 15, 16, 17, 19, 21, 22, 23, 25, 26, 27,
                                          28, 29, 30]
    tsubj, tlab = windows_index(real, "test")
    assert np.bincount(tlab, minlength=7)[1:].tolist() == [496, 471, 420, 491, 532, 537]
    assert sorted(set(tsubj.tolist())) == [2, 4, 9, 10, 12, 13, 18, 20, 24]
    assert not set(subj.tolist()) & set(tsubj.tolist())
    # The real copy has no Inertial Signals: nothing to convert, and plan says why.
    plan = spec.plan(real)
    assert plan.subjects == {}
    assert len(plan.missing) == 2 and all("9 of 9 signal files" in m for m in plan.missing)


def test_partial_copy(tmp_path):
    spec = get("ucihar")
    root = fx.make(tmp_path / "copy")
    (root / "test" / "Inertial Signals" / "body_gyro_x_test.txt").unlink()
    plan = spec.plan(root)
    assert sorted(plan.subjects) == ["1", "2", "3", "4"]
    assert plan.missing == ["test/Inertial Signals: 1 of 9 signal files (body_gyro_x_test.txt)"]
    sessions = list(spec.read(root, "2", plan.subjects["2"]))
    assert [s.session for s in sessions] == ["test.w0001", "test.w0004"]
    assert np.isnan(sessions[0].columns["waist_gyro_x"]).all()
    assert not np.isnan(sessions[0].columns["waist_gyro_y"]).any()
    for f in (root / "test" / "Inertial Signals").iterdir():
        f.unlink()
    plan = spec.plan(root)
    assert sorted(plan.subjects) == ["1", "3"]
    assert "nothing of the test split" in plan.missing[0]


def test_bad_window_line_names_file_and_line(tmp_path):
    spec = get("ucihar")
    root = fx.make(tmp_path / "copy")
    f = root / "train" / "Inertial Signals" / "body_acc_z_train.txt"
    lines = f.read_text().splitlines()
    lines[2] = lines[2][:-16]
    f.write_text("\n".join(lines) + "\n")
    plan = spec.plan(root)
    with pytest.raises(FormatError, match=r"body_acc_z_train\.txt: line 3: 127 values"):
        list(spec.read(root, "1", plan.subjects["1"]))
    y = root / "train" / "y_train.txt"
    y.write_text(y.read_text().replace("5\n", "7\n", 1))
    with pytest.raises(FormatError, match=r"y_train\.txt: line 1: 7 is not an integer in 1..6"):
        spec.plan(root)
