"""SensorLM-style hierarchical captions of IMU windows (statistical, structural, semantic).

``Captioner`` captions the windows of one session from arrays (for on-the-fly use);
``caption_dataset`` writes caption shards for a converted dataset. See docs/captions.md.
"""
from __future__ import annotations

from .generate import LEVELS, CaptionConfig, CaptionError, Captioner, channel_groups, parse_levels
from .templates import GENERATOR
from .writer import caption_dataset

__all__ = ["LEVELS", "GENERATOR", "CaptionConfig", "CaptionError", "Captioner", "caption_dataset", "channel_groups",
           "parse_levels"]
