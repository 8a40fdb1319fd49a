"""WESAD: fixture archive -> fetch -> convert -> open; pickle safety; E4-only copies; pointer download."""
from __future__ import annotations

import io
import math
import os
import pickle
import shutil
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import imudata
from imudata.acquire import fetch
from imudata.convert import convert
from imudata.datasets import wesad as wesad_mod
from imudata.errors import FormatError, ManualDownloadRequired
from tests.conftest import expand_subject_ranges, realdata, wesad_subjects_with
from tests.fixtures import wesad as fx

G = 9.80665
RATES = {"wrist_acc": 32, "wrist_bvp": 64, "wrist_eda": 4, "wrist_temp": 4}
PKL_KEY = {"wrist_acc": "ACC", "wrist_bvp": "BVP", "wrist_eda": "EDA", "wrist_temp": "TEMP"}
CSV = {"wrist_acc": "ACC.csv", "wrist_bvp": "BVP.csv", "wrist_eda": "EDA.csv", "wrist_temp": "TEMP.csv"}
COLS = {"wrist_acc": ["wrist_acc_x", "wrist_acc_y", "wrist_acc_z"], "wrist_bvp": ["wrist_bvp"],
        "wrist_eda": ["wrist_eda"], "wrist_temp": ["wrist_temp"]}
SCALE = {"wrist_acc": G / 64, "wrist_bvp": 1.0, "wrist_eda": 1.0, "wrist_temp": 1.0}


def _rows(ds, stream: str, subject: str) -> pl.DataFrame:
    return ds.scan(stream).filter(pl.col("subject") == subject).collect()


def _expected_labels(lab700: np.ndarray, m: int, rate: int) -> list:
    """Wrist sample k takes the 700 Hz label at round(k*700/rate) (half up); 0 and out of range -> None."""
    out = []
    for k in range(m):
        i = math.floor(k * 700 / rate + 0.5)
        v = int(lab700[i]) if i < len(lab700) else 0
        out.append(None if v == 0 else v)
    return out


def _csv_values(zpath: Path, member: str) -> tuple[float, float, np.ndarray]:
    with zipfile.ZipFile(zpath) as zf:
        text = zf.read(member).decode()
    lines = text.splitlines()
    start = float(lines[0].split(",")[0])
    rate = float(lines[1].split(",")[0])
    return start, rate, np.loadtxt(io.StringIO("\n".join(lines[2:])), delimiter=",", ndmin=2)


@pytest.fixture
def converted(tmp_path: Path, data_root: Path):
    archive = fx.make_archive(tmp_path / "src", seed=3)
    fetch("wesad", data_root, from_path=archive, progress=False, log=lambda m: None)
    convert("wesad", data_root, progress=False, log=lambda m: None)
    return imudata.open("wesad", data_root), tmp_path / "src" / "wesad-tree" / "WESAD"


def test_card_streams_units_labels(converted):
    ds, _ = converted
    card = ds.card
    assert card.subjects == ["S2", "S3", "S4"]
    assert {s.name: s.rate_hz for s in card.streams} == {"chest": 700, **RATES}
    chest = card.stream("chest")
    assert [c.name for c in chest.channels] == ["chest_acc_x", "chest_acc_y", "chest_acc_z", "chest_ecg", "chest_emg",
                                                "chest_eda", "chest_temp", "chest_resp"]
    assert chest.channel("chest_acc_x").scale == pytest.approx(G) and chest.channel("chest_acc_x").source_unit == "g"
    assert [chest.channel(n).unit for n in ("chest_ecg", "chest_emg", "chest_eda", "chest_temp", "chest_resp")] == \
        ["mV", "mV", "µS", "°C", "%"]
    acc = card.stream("wrist_acc").channel("wrist_acc_z")
    assert acc.scale == pytest.approx(G / 64) and acc.source_unit == "1/64 g" and acc.unit == "m/s²"
    assert "non-dominant wrist" in acc.description
    assert card.stream("wrist_bvp").channel("wrist_bvp").unit == "a.u."
    labels = card.label_map()
    assert sorted(labels) == [1, 2, 3, 4, 5, 6, 7]  # 0 is transient: stored as null, not a label
    assert [i for i, lab in labels.items() if lab.ignore] == [5, 6, 7]
    assert "stress" in labels[2].text and "baseline" in labels[1].text


def test_chest_values_and_labels(converted):
    ds, _ = converted
    for subject in ("S2", "S3"):
        orig = fx.pkl_dict(subject, seed=3)
        ch = orig["signal"]["chest"]
        df = _rows(ds, "chest", subject)
        assert df["session"].unique().to_list() == ["protocol"]
        assert len(df) == fx.DURATION[subject] * 700
        np.testing.assert_allclose(df["t"].to_numpy(), np.arange(len(df)) / 700.0)
        for i, a in enumerate("xyz"):
            np.testing.assert_allclose(df[f"chest_acc_{a}"].to_numpy(), ch["ACC"][:, i] * G, rtol=1e-6, atol=1e-6)
        for key, name in (("ECG", "chest_ecg"), ("EMG", "chest_emg"), ("EDA", "chest_eda"), ("Temp", "chest_temp"),
                          ("Resp", "chest_resp")):
            np.testing.assert_allclose(df[name].to_numpy(), ch[key][:, 0], rtol=1e-6, atol=1e-6)
        want = [None if v == 0 else int(v) for v in orig["label"]]
        assert df["label"].to_list() == want
    s2 = _rows(ds, "chest", "S2")["label"]
    assert s2[262] is None and s2[263] == 1 and s2[5900] == 7


def test_wrist_from_pkl_aligned_labels(converted):
    ds, _ = converted
    for subject in ("S2", "S3"):
        orig = fx.pkl_dict(subject, seed=3)
        for stream, rate in RATES.items():
            arr = orig["signal"]["wrist"][PKL_KEY[stream]]
            df = _rows(ds, stream, subject)
            assert df["session"].unique().to_list() == ["protocol"]
            assert len(df) == len(arr)
            for i, col in enumerate(COLS[stream]):
                np.testing.assert_allclose(df[col].to_numpy(), arr[:, i] * SCALE[stream], rtol=1e-6, atol=1e-6)
            assert df["label"].to_list() == _expected_labels(orig["label"], len(arr), rate), (subject, stream)
    # k = 24 at 64 Hz sits exactly on 262.5: rounded up to the first sample labelled 1
    bvp = _rows(ds, "wrist_bvp", "S2")["label"]
    assert bvp[23] is None and bvp[24] == 1


def test_e4_only_subject_unlabelled(converted):
    ds, tree = converted
    zpath = tree / "S4" / "S4_E4_Data.zip"
    assert not _rows(ds, "chest", "S4").height
    for stream in RATES:
        start, rate, vals = _csv_values(zpath, CSV[stream])
        df = _rows(ds, stream, "S4")
        with zipfile.ZipFile(zpath) as zf:
            n_lines = len(zf.read(CSV[stream]).decode().splitlines())
        assert len(df) == n_lines - 2 == len(vals)
        assert df["session"].unique().to_list() == ["e4"]
        assert df["label"].null_count() == len(df)
        np.testing.assert_allclose(df["t"].to_numpy(), np.arange(len(df)) / rate)  # t from the session start
        for i, col in enumerate(COLS[stream]):
            np.testing.assert_allclose(df[col].to_numpy(), vals[:, i] * SCALE[stream], rtol=1e-6, atol=1e-6)
    temp = _rows(ds, "wrist_temp", "S4")["wrist_temp"]
    assert temp[0] == pytest.approx(382.18, abs=1e-4)  # the E4 start-up value is kept


def test_completeness_and_nested_zip_kept(converted):
    ds, _ = converted
    comp = ds.card.completeness
    missing = " | ".join(comp["missing"])
    assert "S4: no SX.pkl; wrist streams from the E4 export, unlabelled" in missing
    assert "S5: neither SX.pkl nor SX_E4_Data.zip" in missing
    assert "S6-S11, S13-S17: subject folder not in this copy" in missing
    notes = " | ".join(comp["notes"])
    # S2 Base starts 5.07 = 307 s; TSST ends 50.3 = 50 min 30 s; S3 sRead starts 48 = 2880 s
    assert "S2 protocol (s from the RespiBAN start): Base 307-1530, TSST 2395-3030" in notes
    assert "sRead 2880-2952" in notes
    assert "S5 readme: Age: 35" in notes and "Dominant hand: left" in notes
    assert f"S4 'e4' sessions start (t = 0) at Unix time {fx.E4_START['S4']}.000000 = 2017-06-13 09:46:21 UTC" in notes
    assert "S2 'e4'" not in notes  # S2 has its pkl: its E4 zip is not used
    extracted = ds.paths.extracted / "WESAD" / "S4"
    assert (extracted / "S4_E4_Data.zip").is_file() and not (extracted / "S4_E4_Data").exists()


def test_parse_protocol_fixture_quirks(tmp_path: Path):
    root = fx.make(tmp_path)
    table = wesad_mod.parse_protocol(root / "S3" / "S3_quest.csv")  # '# Subj:;' header, '48', '28'
    assert table[0] == ("Base", 6 * 60 + 44, 26 * 60 + 4)
    assert ("sRead", 48 * 60, 49 * 60 + 12) in table
    assert ("bRead", 26 * 60 + 27, 28 * 60) in table
    bad = tmp_path / "bad_quest.csv"
    bad.write_text("# Subj;S9;;\n# ORDER;Base;TSST;;\n# START;7.08;39.75;;\n# END;26.32;50.3;;\n")
    with pytest.raises(FormatError, match="39.75"):
        wesad_mod.parse_protocol(bad)


def test_parse_protocol_real_files():
    real = realdata("wesad")
    s2 = wesad_mod.parse_protocol(real / "S2" / "S2_quest.csv")
    assert s2[0] == ("Base", 428.0, 1592.0)  # 7.08 = 7 min 8 s; 26.32 = 26 min 32 s
    assert s2[1] == ("TSST", 2395.0, 3030.0)  # 39.55 .. 50.3 (= 50 min 30 s)
    for quest in sorted(real.glob("S*/S*_quest.csv")):
        table = wesad_mod.parse_protocol(quest)
        names = [n for n, _, _ in table]
        assert {"Base", "TSST", "Fun", "Medi 1", "Medi 2"} <= set(names), quest
        base = table[names.index("Base")]
        assert 1150 <= base[2] - base[1] <= 1230, quest  # the baseline lasts about 20 minutes


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("variant", ["top", "inner", "proto0"])
def test_malicious_pickle_refused(tmp_path: Path, data_root: Path, variant: str):
    root = fx.make(tmp_path / "src")
    marker = tmp_path / "pwned"
    if variant == "top":
        payload = pickle.dumps(_Evil(marker), protocol=2)
    elif variant == "inner":
        d = fx.pkl_dict("S2")
        d["signal"]["wrist"]["TEMP"] = _Evil(marker)
        payload = pickle.dumps(d, protocol=2)
    else:
        payload = f"c__builtin__\neval\n(Vopen('{marker}', 'w')\ntR.".encode()
    (root / "S2" / "S2.pkl").write_bytes(payload)
    fetch("wesad", data_root, from_path=root, progress=False, log=lambda m: None)
    with pytest.raises(FormatError, match=r"S2\.pkl: refused to load the pickled global (posix|os|__builtin__)\.(system|eval)"):
        convert("wesad", data_root, progress=False, log=lambda m: None)
    assert not marker.exists()
    with pytest.raises(FormatError, match="refused"):
        wesad_mod.load_pickle(root / "S2" / "S2.pkl")
    assert not marker.exists()


def test_pickle_subject_mismatch(tmp_path: Path, data_root: Path):
    root = fx.make(tmp_path / "src")
    d = fx.pkl_dict("S3")
    (root / "S3" / "S3.pkl").write_bytes(fx.py2_pickle({**d, "subject": "S9"}))
    fetch("wesad", data_root, from_path=root, progress=False, log=lambda m: None)
    with pytest.raises(FormatError, match=r"S3\.pkl: key 'subject' says 'S9'"):
        convert("wesad", data_root, progress=False, log=lambda m: None)


def test_e4_rate_mismatch(tmp_path: Path, data_root: Path):
    root = fx.make(tmp_path / "src")
    members = fx.e4_csvs("S4")
    members["BVP.csv"] = members["BVP.csv"].replace("\n64.000000\n", "\n32.000000\n", 1)
    (root / "S4" / "S4_E4_Data.zip").write_bytes(fx.e4_zip_bytes(members))
    fetch("wesad", data_root, from_path=root, progress=False, log=lambda m: None)
    with pytest.raises(FormatError, match=r"BVP\.csv: line 2: sample rate 32 Hz, expected 64 Hz"):
        convert("wesad", data_root, progress=False, log=lambda m: None)


def test_real_e4_exports(data_root: Path):
    """Every E4 export present converts, value for value; what is absent is listed in completeness."""
    real = realdata("wesad")
    fetch("wesad", data_root, from_path=real, progress=False, log=lambda m: None)
    convert("wesad", data_root, progress=False, log=lambda m: None)
    ds = imudata.open("wesad", data_root)
    e4 = [s for s in wesad_subjects_with(real, "_E4_Data.zip") if not (real / s / f"{s}.pkl").is_file()]
    assert e4, "the real WESAD folder holds no E4 export"
    assert ds.card.subjects == e4
    assert not ds.shard_paths("chest")
    missing = ds.card.completeness["missing"]
    notes = " | ".join(ds.card.completeness["notes"])
    e4_line = [m for m in missing if m.endswith(E4_ONLY_TAIL)]
    assert len(e4_line) == 1 and expand_subject_ranges(e4_line[0][: -len(E4_ONLY_TAIL)]) == e4
    folders = [d.name for d in real.glob("S*") if d.is_dir()]
    nothing = sorted(set(folders) - set(e4), key=lambda s: int(s[1:]))
    neither = [m for m in missing if m.endswith(NEITHER_TAIL)]
    if nothing:
        assert len(neither) == 1 and expand_subject_ranges(neither[0][: -len(NEITHER_TAIL)]) == nothing
    else:
        assert not neither
    for subject in e4:
        zpath = real / subject / f"{subject}_E4_Data.zip"
        for stream in RATES:
            start, rate, vals = _csv_values(zpath, CSV[stream])
            with zipfile.ZipFile(zpath) as zf:
                n_lines = len(zf.read(CSV[stream]).splitlines())
            df = _rows(ds, stream, subject)
            assert len(df) == n_lines - 2 == len(vals), (subject, stream)
            assert df["label"].null_count() == len(df)
            assert df["t"][0] == 0 and rate == RATES[stream]
            assert f"{subject} 'e4' sessions start (t = 0) at Unix time {start:.6f}" in notes
            for i, col in enumerate(COLS[stream]):
                np.testing.assert_allclose(df[col].to_numpy(), vals[:, i] * SCALE[stream], rtol=1e-6, atol=1e-5)
        acc = _rows(ds, "wrist_acc", subject).select(["wrist_acc_x", "wrist_acc_y", "wrist_acc_z"]).to_numpy()
        assert 9.3 < np.median(np.linalg.norm(acc, axis=1)) < 10.3  # 1/64 g confirmed: |acc| ≈ 1 g


E4_ONLY_TAIL = (": no SX.pkl; wrist streams from the E4 export, unlabelled "
                "(E4 clock not synchronised with the labels); no chest stream")
NEITHER_TAIL = ": neither SX.pkl nor SX_E4_Data.zip; no signals (quest/readme files only)"


# --------------------------------------------------------------------------- the pointer download


class _Server:
    """A tiny HTTP server on 127.0.0.1: path -> (status, body, content type)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.hits.append(self.path)
                status, body, ctype = server.routes.get(self.path, (404, b"not found", "text/plain"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    srv = _Server()
    pointer_url = f"{srv.base}/static/public/465/wesad.zip"
    fallback_url = f"{srv.base}/s/fallback/download"
    sources = [replace(s, urls=[pointer_url] if s.filename == wesad_mod.POINTER_FILE else [fallback_url])
               for s in wesad_mod.SPEC.sources]
    monkeypatch.setattr(wesad_mod.SPEC, "sources", sources)
    monkeypatch.delenv("IMUDATA_MIRROR", raising=False)
    yield srv
    srv.close()


def _serve(srv: _Server, tmp_path: Path, *, pointer: bool, link: str, fallback: bool) -> None:
    data = fx.make_archive(tmp_path / "src").read_bytes()
    ptr = fx.make_pointer_zip(tmp_path, f"{srv.base}/s/pointer/download").read_bytes()
    if pointer:
        srv.routes["/static/public/465/wesad.zip"] = (200, ptr, "application/zip")
    if link == "ok":
        srv.routes["/s/pointer/download"] = (200, data, "application/zip")
    elif link == "html":
        srv.routes["/s/pointer/download"] = (200, b"<!DOCTYPE html><html><body>File not found</body></html>",
                                             "text/html; charset=utf-8")
    if fallback:
        srv.routes["/s/fallback/download"] = (200, data, "application/zip")


@pytest.mark.parametrize("pointer,link,fallback,used", [
    (True, "ok", False, "/s/pointer/download"),
    (True, "404", True, "/s/fallback/download"),
    (True, "html", True, "/s/fallback/download"),
    (False, "ok", True, "/s/fallback/download"),
])
def test_acquire_follows_pointer_then_fallback(server, tmp_path: Path, data_root: Path, pointer, link, fallback, used):
    _serve(server, tmp_path, pointer=pointer, link=link, fallback=fallback)
    paths = fetch("wesad", data_root, progress=False, log=lambda m: None)
    assert server.hits[0] == "/static/public/465/wesad.zip"
    assert server.hits[-1] == used
    lock = paths.lock.read_text()
    assert f"{server.base}{used}" in lock
    assert (paths.extracted / "WESAD" / "S4" / "S4_E4_Data.zip").is_file()  # the inner E4 zip is kept
    card = convert("wesad", data_root, progress=False, log=lambda m: None)
    assert card.subjects == ["S2", "S3", "S4"]


def test_acquire_manual_when_all_fail(server, tmp_path: Path, data_root: Path):
    _serve(server, tmp_path, pointer=True, link="404", fallback=False)
    with pytest.raises(ManualDownloadRequired) as err:
        fetch("wesad", data_root, progress=False, log=lambda m: None)
    msg = str(err.value)
    assert wesad_mod.AUTHORS_PAGE in msg
    assert "download WESAD.zip (~2.5 GB)" in msg
    assert "imudata fetch wesad --from /path/to/WESAD.zip" in msg
    assert "/s/pointer/download" in msg and "/s/fallback/download" in msg
    assert server.hits == ["/static/public/465/wesad.zip", "/s/pointer/download", "/s/fallback/download"]


def test_acquire_mirror_folder(tmp_path: Path, data_root: Path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(fx.make_archive(tmp_path / "src"), mirror / "WESAD.zip")
    paths = fetch("wesad", data_root, mirror=str(mirror), progress=False, log=lambda m: None)
    assert (paths.downloads / "WESAD.zip").is_file()
    assert (paths.extracted / "WESAD" / "wesad_readme.pdf").is_file()
