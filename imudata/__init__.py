"""imudata: public IMU / wearable datasets as one self-describing Parquet format.

``imudata.open(name)`` opens a converted dataset; :mod:`imudata.commands` has one function per
command line command (fetch, convert, verify, bands, resample, caption, info, sessions), each
returning what the command's ``--json`` prints. Both load lazily, so ``import imudata`` stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from . import commands
    from .api import Dataset, open  # noqa: A004

__all__ = ["Dataset", "open", "commands", "__version__"]


def __getattr__(name: str) -> Any:
    """Import ``open``, ``Dataset`` (polars) and ``commands`` on first use."""
    if name in ("open", "Dataset"):
        from . import api

        return getattr(api, name)
    if name == "commands":
        import importlib

        return importlib.import_module(".commands", __name__)
    raise AttributeError(f"module 'imudata' has no attribute {name!r}")
