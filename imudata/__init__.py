"""imudata: public IMU / wearable datasets as one self-describing Parquet format."""
from __future__ import annotations

__version__ = "0.1.0"

from .api import Dataset, open  # noqa: E402,A004

__all__ = ["Dataset", "open", "__version__"]
