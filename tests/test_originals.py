"""Known checksums of original release files: the packaged lists, matching by path, and the per-file
report of ``fetch --from`` and ``verify`` on real copies (originals, and re-saved or edited ones)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import scipy.io

from imudata import originals
from imudata.acquire import fetch

from .conftest import realdata
from .test_cli import run

SOURCE = re.compile(r"in [\w.-]+/[\w.-]+ (\(branch [\w-]+\) )?@ [0-9a-f]{40}, under ")


def test_packaged_lists_and_their_sources() -> None:
    counts = {"pamap2": 14, "wesad": 45, "wisdm19": 404, "uschad": 840}
    for ds, n in counts.items():
        kh = originals.known(ds)
        assert kh is not None and len(kh.entries) == n, ds
        assert SOURCE.search(kh.source), kh.source
        assert all(len(e.sha256) == 64 and e.size > 0 for e in kh.entries)
    assert originals.known("hapt") is None


def test_lookup_by_path_suffix() -> None:
    pamap2, wesad, uschad = (originals.known(d) for d in ("pamap2", "wesad", "uschad"))
    assert pamap2.lookup("Protocol/subject101.dat").path == "PAMAP2_Dataset/Protocol/subject101.dat"
    assert pamap2.lookup("PAMAP2_Dataset/Optional/subject101.dat").path == "PAMAP2_Dataset/Optional/subject101.dat"
    assert pamap2.lookup("subject101.dat") is None  # Protocol or Optional: ambiguous, so no claim
    assert wesad.lookup("S2.pkl").path == "S2/S2.pkl"  # a unique file name suffices
    assert uschad.lookup("Subject1/a1t1.mat").size == 45001
    assert uschad.lookup("a1t1.mat") is None
    assert uschad.lookup("Subject99/a1t1.mat") is None  # the folder must agree too


def test_real_uschad_fetch_and_verify_report_per_file(tmp_path: Path, data_root: Path) -> None:
    """Real files match; a re-saved copy of one (same content, written again by scipy) differs."""
    src = realdata("uschad") / "USC-HAD"
    copy = tmp_path / "USC-HAD"
    shutil.copytree(src / "Subject2", copy / "Subject2")
    shutil.copyfile(src / "Readme.txt", copy / "Readme.txt")
    mat = scipy.io.loadmat(copy / "Subject2" / "a4t2.mat")
    scipy.io.savemat(copy / "Subject2" / "a4t2.mat", {k: v for k, v in mat.items() if not k.startswith("__")})
    proc = run("fetch", "uschad", "--from", str(copy), "-q", root=data_root)
    assert "uschad: Subject2/a1t1.mat: matches the known original" in proc.stderr
    assert "uschad: Subject2/a4t2.mat: differs from the known original" in proc.stderr
    assert "uschad: Readme.txt: no known hash" in proc.stderr
    assert "59 files match the known originals, 1 differ (re-saved or edited copies), 1 have no known hash" in proc.stderr
    card = json.loads((data_root / "uschad" / "dataset.json").read_text())
    orig = card["completeness"]["originals"]
    assert orig["counts"] == {originals.MATCHES: 59, originals.DIFFERS: 1, originals.UNKNOWN: 1}
    assert orig[originals.DIFFERS] == ["Subject2/a4t2.mat"]
    assert "Subject2/a12t5.mat" in orig[originals.MATCHES]
    assert "ader003/PRCIS @ 99929da81ea9748dedee13e50d394b03392a031f" in orig["source"]
    proc = run("verify", "uschad", root=data_root)
    assert "uschad: Subject2/a4t2.mat: differs from the known original" in proc.stderr
    assert "uschad: Subject2/a5t5.mat: matches the known original" in proc.stderr
    assert "OK" in proc.stderr


def test_real_wesad_readmes(tmp_path: Path, data_root: Path) -> None:
    """The real S2_readme.txt is the CRLF original; S3-S17 are LF re-saves: differs, per file."""
    src = realdata("wesad")
    copy = tmp_path / "WESAD"
    copy.mkdir()
    shutil.copyfile(src / "wesad_readme.pdf", copy / "wesad_readme.pdf")
    readmes = sorted(src.glob("S*/S*_readme.txt"))
    for p in readmes:
        (copy / p.parent.name).mkdir()
        shutil.copyfile(p, copy / p.parent.name / p.name)
    said: list[str] = []
    fetch("wesad", data_root, from_path=copy, progress=False, log=said.append)
    assert "wesad: S2/S2_readme.txt: matches the known original" in said
    for p in readmes:
        if p.parent.name != "S2":
            assert b"\r\n" not in p.read_bytes()
            assert f"wesad: {p.parent.name}/{p.name}: differs from the known original" in said
    assert "wesad: wesad_readme.pdf: no known hash" in said


def test_dataset_without_known_hashes_says_so(tmp_path: Path, data_root: Path) -> None:
    from .fixtures import hapt as fx

    said: list[str] = []
    fetch("hapt", data_root, from_path=fx.make_archive(tmp_path / "src"), progress=False, log=said.append)
    assert any(re.fullmatch(r"hapt: \d+ original files, no known hash for any of them \(imudata knows no "
                            r"published checksums of this release's files\)", s) for s in said), said
