"""Validation helpers shared across sersk."""

from ._validation import check_audio, check_frames, check_labels

__all__ = ["check_audio", "check_frames", "check_labels"]
