"""Voice activity detection: speech intervals of a recording."""

from __future__ import annotations

import math
import os
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator

from ..utils._sklearn_compat import Interval
from . import _silero
from ._silero import CHUNK, RATE


def _is_path(audio):
    return isinstance(audio, (str, os.PathLike))


def _check_sr(sr, where):
    if sr is None:
        raise ValueError(
            f"{where} got a waveform without its sampling rate: pass sr=... "
            "(the rate of the samples in Hz), or pass a file path instead."
        )
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr < 1000:
        raise ValueError(
            f"The 'sr' parameter of {where} must be an int of at least 1000 "
            f"(Hz). Got {sr!r} instead."
        )
    return int(sr)


def _load(audio, sr, target_sr, where):
    """``audio`` (a path, or a waveform at ``sr``) as float32 at ``target_sr``."""
    from ..io import load_audio, resample
    from ..utils import check_audio

    if _is_path(audio):
        y, _ = load_audio(audio, sr=target_sr)
        return y
    sr = _check_sr(sr, where)
    y = check_audio(audio, name=f"the waveform given to {where}")
    return resample(y, orig_sr=sr, target_sr=target_sr)


class SpeechSegmenter(BaseEstimator):
    """Find the speech in a recording: voice activity detection (VAD).

    A recurrent network (Silero VAD, MIT licence, shipped in the
    ``silero-vad`` wheel) gives the probability of speech of every 32 ms of
    audio at 16 kHz (other rates are resampled); runs above ``threshold``
    become segments, which are then cleaned up: short pauses are bridged,
    short bursts dropped, segments padded and long ones split. Needs the
    ``vad`` extra: ``pip install 'sersk[vad]'``.

    Parameters
    ----------
    threshold : float, default=0.5
        Speech probability above which a frame starts speech. Speech goes on
        until the probability falls below ``threshold - 0.15`` (hysteresis,
        as in Silero's own segmentation).
    min_speech_duration : float, default=0.25
        Segments shorter than this many seconds (before padding) are dropped.
    min_silence_duration : float, default=0.3
        A pause ends a segment only when it lasts this many seconds; shorter
        pauses stay inside the segment.
    padding : float, default=0.1
        Seconds of audio added before and after every segment (less where two
        segments would overlap: then they meet half-way between; never past
        the start or end of the recording).
    max_duration : float, default=10.0
        Longest segment in seconds, padding included. A longer run of speech
        is split at its longest pause in the second half of the segment
        (shorter than ``min_silence_duration``), or cut where it reaches the
        limit when there is no pause. Must exceed ``2 * padding``.

    See Also
    --------
    predict_timeline : The emotion of every speech segment of a recording.
    StreamingPredictor : The same segments, found on audio pushed in chunks.

    Notes
    -----
    Only the network's tensors are read from the wheel (its ``safetensors``
    file); the layers are built by sersk in plain torch, so no file loaded
    here can run code (the wheel's TorchScript model is not used). The
    decisions are made frame by frame with bounded state, so segmenting
    audio in chunks (:class:`StreamingPredictor`) gives the same intervals
    as segmenting it whole.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.segmentation import SpeechSegmenter
    >>> silence = np.zeros(16000, dtype=np.float32)
    >>> SpeechSegmenter().segment(silence, sr=16000).shape
    (0, 2)
    >>> SpeechSegmenter(padding=0.2).get_params()["padding"]
    0.2
    """

    _parameter_constraints: dict = {
        "threshold": [Interval(Real, 0, 1, closed="neither")],
        "min_speech_duration": [Interval(Real, 0, None, closed="left")],
        "min_silence_duration": [Interval(Real, 0, None, closed="left")],
        "padding": [Interval(Real, 0, None, closed="left")],
        "max_duration": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        threshold=0.5,
        min_speech_duration=0.25,
        min_silence_duration=0.3,
        padding=0.1,
        max_duration=10.0,
    ):
        self.threshold = threshold
        self.min_speech_duration = min_speech_duration
        self.min_silence_duration = min_silence_duration
        self.padding = padding
        self.max_duration = max_duration

    def _check_params(self):
        self._validate_params()
        if self.max_duration - 2 * self.padding < CHUNK / RATE:
            raise ValueError(
                f"The 'max_duration' parameter of SpeechSegmenter must exceed "
                f"2 * padding + {CHUNK / RATE} s (padding={self.padding!r}). "
                f"Got {self.max_duration!r} instead; raise max_duration or "
                "lower padding."
            )

    def segment(self, audio, *, sr=None):
        """Speech intervals of a recording.

        Parameters
        ----------
        audio : str, os.PathLike or array-like of shape (n_samples,)
            An audio file, or a mono waveform (floats in [-1, 1]).
        sr : int or None, default=None
            Sampling rate of ``audio`` when it is a waveform (required then);
            ignored for files.

        Returns
        -------
        segments : ndarray of shape (n_segments, 2)
            ``start`` and ``end`` of every speech segment in seconds (float64),
            in order and not overlapping; ``(0, 2)`` when there is no speech.
        """
        self._check_params()
        y = _load(audio, sr, RATE, "SpeechSegmenter.segment")
        stream = self._stream()
        found = stream.push(y)
        found += stream.finish()
        return np.asarray(found, dtype=np.float64).reshape(-1, 2)

    def speech_probabilities(self, audio, *, sr=None):
        """Speech probability of every frame (32 ms at 16 kHz).

        Parameters
        ----------
        audio : str, os.PathLike or array-like of shape (n_samples,)
            An audio file, or a mono waveform.
        sr : int or None, default=None
            Sampling rate of ``audio`` when it is a waveform.

        Returns
        -------
        probabilities : ndarray of shape (n_frames,)
            Frame ``k`` covers seconds ``[0.032 k, 0.032 (k + 1))``; the last
            partial frame is zero-padded.
        """
        y = _load(audio, sr, RATE, "SpeechSegmenter.speech_probabilities")
        pad = (-len(y)) % CHUNK
        y = np.concatenate([y, np.zeros(pad, dtype=np.float32)])
        return _silero.speech_probabilities(y)[0]

    def _stream(self):
        """A fresh :class:`_SegmentStream` with these parameters (checked)."""
        self._check_params()
        return _SegmentStream(
            threshold=float(self.threshold),
            min_speech=float(self.min_speech_duration),
            min_silence=float(self.min_silence_duration),
            padding=float(self.padding),
            max_duration=float(self.max_duration),
        )


class _SegmentStream:
    """Segments of 16 kHz audio pushed in pieces of any length.

    :meth:`push` returns the segments (seconds) whose both ends are final;
    :meth:`finish` the rest. The network's state, the samples of an
    incomplete frame and the open segment's bookkeeping are all it holds, so
    memory does not grow with the length of the audio.
    """

    def __init__(self, *, threshold, min_speech, min_silence, padding, max_duration):
        self.thr = threshold
        self.neg = max(threshold - 0.15, 0.01)
        self.min_speech = min_speech
        self.min_silence_frames = max(1, math.ceil(min_silence * RATE / CHUNK - 1e-9))
        self.pad = round(padding * RATE)
        self.max_frames = max(
            1, math.floor((max_duration - 2 * padding) * RATE / CHUNK + 1e-9)
        )
        self.frame = 0  # frames decided
        self.n = 0  # samples pushed
        self.buf = np.zeros(0, dtype=np.float32)
        self.state = None
        self.context = None
        self.in_speech = False
        self.start = 0
        self.temp_end = None
        self.pauses = []
        # closed segments waiting for their end padding: [start_padded, a, b]
        self.pending = []
        self.last_end = None  # raw end (samples) of the previous segment
        self.finished = False

    @property
    def open_start(self):
        """Earliest sample (16 kHz) a segment not yet returned may start at."""
        if self.pending:
            return self.pending[0][0]
        if self.in_speech:
            return max(0, self.start * CHUNK - self.pad)
        return max(0, self.frame * CHUNK - self.pad)

    def push(self, y):
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        self.n += len(y)
        self.buf = np.concatenate([self.buf, y]) if len(self.buf) else y
        full = len(self.buf) // CHUNK * CHUNK
        if full:
            probs, self.state, self.context = _silero.speech_probabilities(
                self.buf[:full], self.state, self.context
            )
            self.buf = self.buf[full:].copy()
            for p in probs:
                self._step(float(p))
        return self._release()

    def finish(self):
        if len(self.buf):
            last = np.zeros(CHUNK, dtype=np.float32)
            last[: len(self.buf)] = self.buf
            probs, self.state, self.context = _silero.speech_probabilities(
                last, self.state, self.context
            )
            self.buf = self.buf[:0]
            self._step(float(probs[0]))
        if self.in_speech:
            end = self.temp_end if self.temp_end is not None else self.frame
            self._close(self.start, end)
            self.in_speech = False
        self.finished = True
        return self._release()

    def _step(self, p):
        i = self.frame
        self.frame += 1
        if not self.in_speech:
            if p >= self.thr:
                self.in_speech = True
                self.start = i
                self.temp_end = None
                self.pauses = []
            return
        if p >= self.thr and self.temp_end is not None:
            self.pauses.append((self.temp_end, i))
            self.temp_end = None
        elif p < self.neg and self.temp_end is None:
            self.temp_end = i
        if self.temp_end is not None and i + 1 - self.temp_end >= (
            self.min_silence_frames
        ):
            self._close(self.start, self.temp_end)
            self.in_speech = False
        elif i + 1 - self.start >= self.max_frames:
            self._split(i + 1)

    def _split(self, now):
        """The open segment reached the longest allowed: end it."""
        if self.temp_end is not None:  # in a (short) pause: end there
            self._close(self.start, self.temp_end)
            self.in_speech = False
            return
        half = self.start + self.max_frames // 2
        late = [q for q in self.pauses if q[0] >= half]
        if late:
            a, b = max(late, key=lambda q: (q[1] - q[0], q[0]))
            self._close(self.start, a)
            self.start = b
            self.pauses = [q for q in self.pauses if q[0] >= b]
        else:
            self._close(self.start, now)
            self.start = now
            self.pauses = []

    def _close(self, a, b):
        a, b = a * CHUNK, min(b * CHUNK, self.n)
        if b - a < self.min_speech * RATE - 1e-6 or b <= a:
            return
        lo = max(0, a - self.pad)
        if self.last_end is not None:
            lo = max(lo, (a + self.last_end + 1) // 2)
        self.pending.append([lo, a, b])
        self.last_end = b

    def _open_kept(self):
        """Whether the open segment will be kept whatever comes next.

        It ends at its pause (``temp_end``), later if speech resumes, or
        where it is split (at least half the longest segment in).
        """
        end = self.temp_end if self.temp_end is not None else self.frame
        shortest = min(end - self.start, self.max_frames // 2)
        return shortest * CHUNK >= self.min_speech * RATE - 1e-6

    def _release(self):
        out = []
        while self.pending:
            lo, a, b = self.pending[0]
            # the end is clipped half-way to the next segment kept: wait until
            # it is known, or until no later segment can come that close
            if len(self.pending) > 1:
                nxt = self.pending[1][1]
            elif self.in_speech and self._open_kept():
                nxt = self.start * CHUNK
            elif self.in_speech and self.start * CHUNK - b >= 2 * self.pad:
                nxt = None
            elif self.finished or (
                not self.in_speech and self.frame * CHUNK - b >= 2 * self.pad
            ):
                nxt = None
            else:
                break
            hi = b + self.pad
            if nxt is not None:
                hi = min(hi, (b + nxt) // 2)
            if self.finished:
                hi = min(hi, self.n)
            out.append((lo / RATE, hi / RATE))
            self.pending.pop(0)
        return out
