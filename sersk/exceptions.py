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
    "TrainingInterruptedWarning",
    "AudioAmplitudeWarning",
    "SpeakerAdaptationWarning",
    "LowSampleRateWarning",
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


class TrainingInterruptedWarning(UserWarning):
    """Training of a deep classifier was stopped by KeyboardInterrupt (Ctrl-C).

    skorch ends the epoch loop quietly on KeyboardInterrupt, so that a notebook
    keeps the model trained so far; sersk's classifiers keep that behaviour but
    record it: ``interrupted_`` is True, the last row of ``history`` holds
    ``interrupted=True``, and this warning names the epoch reached. Code that
    must not go on with a cut-short model (a script, the ``sersk`` command)
    checks ``interrupted_`` or turns the warning into an error::

        with warnings.catch_warnings():
            warnings.simplefilter("error", TrainingInterruptedWarning)
            clf.fit(X, y)

    Attributes
    ----------
    epoch : int or None
        Epoch (counted from 1 within this call to ``fit``) during which
        training stopped; 0 when it stopped before the first epoch began.
    max_epochs : int or None
        The ``max_epochs`` the call would have trained for.
    """

    def __init__(self, message, epoch=None, max_epochs=None):
        super().__init__(message)
        self.epoch = epoch
        self.max_epochs = max_epochs

    def __reduce__(self):
        # keep the attributes when the warning is raised as an error in a
        # worker process and pickled back
        return type(self), (str(self), self.epoch, self.max_epochs)


class AudioAmplitudeWarning(UserWarning):
    """Float samples lie far outside [-1, 1].

    sersk's waveforms are floats in [-1, 1]; samples many times larger usually
    are integer PCM cast to float without scaling (e.g. the int16 output of
    :func:`scipy.io.wavfile.read` passed through ``astype(float)``), which
    ruins every feature computed from them. :func:`sersk.io.pcm_to_float`
    scales integer PCM the way :mod:`soundfile` does.
    """


class SpeakerAdaptationWarning(UserWarning):
    """A speaker had too few clips to be standardised by their own statistics.

    Emitted by :class:`~sersk.features.SpeakerStandardizer`, which then uses
    the statistics of the training set for that speaker's clips.
    """


class LowSampleRateWarning(UserWarning):
    """Audio is upsampled: it was recorded at a lower rate than the model's.

    An 8 kHz recording upsampled to 16 kHz holds nothing above 4 kHz, where a
    model trained on 16 kHz speech expects signal; its high-frequency features
    look like silence, and predictions can be wrong without any error.
    """
