"""Manifest-driven data: window index (windows.py), streaming loader (loader.py), batches (collate.py)."""
from .collate import Batch, Collator, Sample, patchify
from .loader import ShardReader, WindowStream, make_loader
from .windows import (ManifestDataError, Source, SplitLeakError, WindowIndex, build_index, check_splits,
                      resolve_sources, subject_split)

__all__ = ["Batch", "Collator", "Sample", "patchify", "ShardReader", "WindowStream", "make_loader",
           "ManifestDataError", "Source", "SplitLeakError", "WindowIndex", "build_index", "check_splits",
           "resolve_sources", "subject_split"]
