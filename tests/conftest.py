"""Shared test helpers: the real-data folder (skipped with a reason when absent) and a data root."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REALDATA = Path(os.environ.get("IMUDATA_REALDATA", Path(__file__).resolve().parents[1].parent / "shared" / "realdata"))


def realdata(name: str) -> Path:
    """The real original files of one dataset, or skip the test saying why."""
    path = REALDATA / name
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it ships beside the repository in CI only; "
                    f"set IMUDATA_REALDATA to point elsewhere)")
    return path


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root, also exported as $IMUDATA_HOME so CLI calls use it."""
    root = tmp_path / "imudata-home"
    root.mkdir()
    monkeypatch.setenv("IMUDATA_HOME", str(root))
    return root
