"""Exceptions raised by sersk.

Every class subclasses a standard exception, so ``except ValueError`` or
``except OSError`` in user code keeps working.
"""

from __future__ import annotations

__all__ = [
    "AudioReadError",
    "InvalidAudioError",
    "DatasetNotFoundError",
    "AudioLoadWarning",
]


class AudioReadError(OSError):
    """A file exists but cannot be decoded as audio.

    Subclasses :class:`OSError`, like the errors raised for missing files.
    """


class InvalidAudioError(ValueError):
    """Audio was read but is unusable: empty, silent where sound is needed,
    or holding NaN/Inf samples."""


class DatasetNotFoundError(FileNotFoundError):
    """A corpus folder is missing or holds none of the corpus' files."""


class AudioLoadWarning(UserWarning):
    """Some audio files were unusable and were replaced by zeros.

    Emitted once per call by :class:`sersk.features.AudioLoader` with
    ``on_error="warn"``. The message names every bad file; the attribute
    ``bad_files`` holds the same information as a list of
    ``(path, reason)`` pairs.
    """

    def __init__(self, message, bad_files=()):
        super().__init__(message)
        self.bad_files = list(bad_files)
