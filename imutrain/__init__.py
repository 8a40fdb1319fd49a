"""imutrain: pretraining, language alignment and zero-shot evaluation of an IMU foundation model.

The model (TSFM) is the dual-branch patch transformer of the language-aligned HAR models
described in ``docs/imutrain.md``; data come from imudata shards named by a manifest.

Library layout: ``imutrain.model`` (no training code), ``imutrain.data`` (manifest-driven
streaming loader), and small single-purpose modules for losses, checkpoints, the scheduler,
distributed helpers and the training / evaluation loops. ``imutrain.cli`` is the command line.
"""
__version__ = "0.1.0"
