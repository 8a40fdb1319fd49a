"""The TSFM model: patch encoder, dual-branch transformer, text fusion and heads (no training code)."""
from .tsfm import TSFM, TSFMEncoder, ChannelText
from .heads import (ReconstructionHead, PatchProjection, SemanticAlignmentHead, LabelAttentionPooling,
                    LogitScale)

__all__ = ["TSFM", "TSFMEncoder", "ChannelText", "ReconstructionHead", "PatchProjection", "SemanticAlignmentHead",
           "LabelAttentionPooling", "LogitScale"]
