"""Emotion predictions on audio that arrives in chunks."""

from __future__ import annotations

import math

import numpy as np

from ._segmenter import SpeechSegmenter, _check_sr
from ._silero import RATE
from ._timeline import (
    _check_segments,
    _classify,
    _frame,
    _model_loader,
    _segment_model,
)


class _Resampler:
    """Chunks at ``orig`` Hz in, chunks at ``target`` Hz out, as one signal.

    soxr resamples a stream exactly as it resamples the whole signal;
    :meth:`finish` pads the end to ``ceil(n * target / orig)`` samples as
    :func:`sersk.io.resample` (``librosa.resample``) does.
    """

    def __init__(self, orig, target):
        self.ratio = target / orig
        self.stream = None
        if orig != target:
            import soxr

            self.stream = soxr.ResampleStream(
                orig, target, 1, dtype="float32", quality="soxr_hq"
            )
        self.n_in = 0
        self.n_out = 0

    def push(self, y, last=False):
        self.n_in += len(y)
        if self.stream is not None:
            y = self.stream.resample_chunk(y, last=last)
            if last:
                want = int(math.ceil(self.n_in * self.ratio))
                if self.n_out + len(y) < want:
                    y = np.concatenate(
                        [y, np.zeros(want - self.n_out - len(y), dtype=np.float32)]
                    )
        y = np.asarray(y, dtype=np.float32)
        self.n_out += len(y)
        return y


class StreamingPredictor:
    """Emotion predictions on audio pushed in chunks: live input.

    Audio is given in chunks of any size (:meth:`push`), at the sampling
    rate ``sr`` said once; every speech segment (``segments="vad"``) or
    window (``segments=SECONDS``) is classified as soon as it is complete,
    and its prediction returned by the :meth:`push` call that completed it
    (or by :meth:`flush` at the end). Only the audio of the segment still
    open is kept, so memory stays bounded however long the stream runs. The
    predictions are those of :func:`predict_timeline` on the whole
    recording.

    Parameters
    ----------
    model : Pipeline
        A fitted sersk pipeline whose first step is
        :class:`~sersk.features.AudioLoader` (as :func:`sersk.load_model`
        returns).
    sr : int
        Sampling rate of the pushed audio in Hz; it is resampled to the
        model's rate (and to 16 kHz for the speech detector).
    segments : "vad" or float, default="vad"
        ``"vad"``: one prediction per speech segment; a number: windows of
        that many seconds sliding by ``hop``.
    hop : float or None, default=None
        Step between windows in seconds (``None``: the window length); only
        with a number for ``segments``.
    segmenter : SpeechSegmenter or None, default=None
        The speech detector with ``segments="vad"`` (``None``:
        ``SpeechSegmenter()``). Its ``max_duration`` caps the audio held.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The model's classes, in the order of the probabilities.
    duration_ : float
        Seconds of audio pushed so far.

    See Also
    --------
    predict_timeline : The same predictions for a whole recording.
    SpeechSegmenter : The speech detector.

    Notes
    -----
    A segment is complete once the pause after it lasts
    ``min_silence_duration`` (and ``2 * padding``), so its prediction comes
    that long after it ends; a segment reaching ``max_duration`` is split
    and classified right away. A window is complete when its last sample
    arrives.

    Examples
    --------
    >>> from sersk.segmentation import StreamingPredictor
    >>> stream = StreamingPredictor(model, sr=44100)  # doctest: +SKIP
    >>> for chunk in microphone_chunks():  # doctest: +SKIP
    ...     for p in stream.push(chunk):
    ...         print(f"{p['start']:.1f}-{p['end']:.1f} s {p['label']}")
    >>> stream.flush()  # doctest: +SKIP
    """

    def __init__(self, model, *, sr, segments="vad", hop=None, segmenter=None):
        self.model = model
        self.sr = sr
        self.segments = segments
        self.hop = hop
        self.segmenter = segmenter
        self._started = False

    def _start(self):
        seg = _check_segments(self.segments, self.hop, self.segmenter)
        if seg is not None and not isinstance(seg, SpeechSegmenter):
            raise TypeError(
                "The 'segmenter' parameter of StreamingPredictor must be a "
                f"SpeechSegmenter (or None); got {type(seg).__name__}. Segmenters "
                "without a streaming mode work with predict_timeline only."
            )
        sr = _check_sr(self.sr, "StreamingPredictor")
        loader = _model_loader(self.model, "StreamingPredictor")
        self._msr = int(loader.sr)
        self.classes_ = np.asarray(self.model.classes_)
        self._to_model = _Resampler(sr, self._msr)
        self._buf = np.zeros(0, dtype=np.float32)
        self._base = 0  # model-rate index of self._buf[0]
        self._finished = False
        self.duration_ = 0.0
        self._n_in = 0
        if seg is not None:
            self._vad = seg._stream()
            self._to_vad = _Resampler(sr, RATE)
            self._view = _segment_model(self.model, None)
            self._ready = []  # segments (seconds) waiting for their audio
        else:
            self._vad = None
            self._view = _segment_model(self.model, float(self.segments))
            self._win = max(1, round(float(self.segments) * self._msr))
            step = self.hop if self.hop is not None else self.segments
            self._step = max(1, round(float(step) * self._msr))
            self._next = 0  # start of the next window (model rate)
        self._started = True

    def _check_chunk(self, chunk):
        from ..io import pcm_to_float

        arr = np.asarray(chunk)
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.reshape(-1)
        if arr.ndim != 1:
            raise ValueError(
                "StreamingPredictor.push takes a mono chunk of shape "
                f"(n_samples,); got an array of shape {arr.shape}. Mix the "
                "channels down first, e.g. chunk.mean(axis=1) for (frames, "
                "channels)."
            )
        if arr.size == 0:
            return arr.astype(np.float32)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(
                "StreamingPredictor.push takes numeric audio samples; got dtype "
                f"{arr.dtype}."
            )
        y = pcm_to_float(arr) if np.issubdtype(arr.dtype, np.integer) else arr
        y = np.asarray(y, dtype=np.float32)
        bad = ~np.isfinite(y)
        if bad.any():
            from ..exceptions import InvalidAudioError

            raise InvalidAudioError(
                f"The chunk given to StreamingPredictor.push contains "
                f"{int(bad.sum())} NaN/Inf sample(s) (first at index "
                f"{int(np.argmax(bad))} of the chunk). Repair it first, e.g. "
                "np.nan_to_num(chunk)."
            )
        return y

    def push(self, chunk):
        """Add audio; return the predictions it completed.

        Parameters
        ----------
        chunk : array-like of shape (n_samples,)
            The next samples, at ``sr``: floats in [-1, 1], or integer PCM
            (scaled to [-1, 1]). A ``(n_samples, 1)`` array is accepted.

        Returns
        -------
        predictions : list of dict
            One dict per completed segment, in time order: ``start`` and
            ``end`` (seconds from the start of the stream), ``label`` (str)
            and ``probabilities`` (a dict class -> float).
        """
        if not self._started:
            self._start()
        if self._finished:
            raise ValueError(
                "This StreamingPredictor was flushed; create a new one for a "
                "new stream."
            )
        y = self._check_chunk(chunk)
        if not len(y):
            return []
        self._n_in += len(y)
        self.duration_ = self._n_in / float(self.sr)
        self._append(self._to_model.push(y))
        if self._vad is not None:
            self._ready += self._vad.push(self._to_vad.push(y))
        return self._emit()

    def flush(self):
        """End the stream; return the predictions of what is left.

        Returns
        -------
        predictions : list of dict
            As :meth:`push`: the segment open at the end (if long enough)
            and any waiting for the pause after them, or the last window.
        """
        if not self._started:
            self._start()
        if self._finished:
            return []
        empty = np.zeros(0, dtype=np.float32)
        self._append(self._to_model.push(empty, last=True))
        if self._vad is not None:
            self._vad.push(self._to_vad.push(empty, last=True))
            self._ready += self._vad.finish()
        self._finished = True
        return self._emit()

    def _append(self, y):
        if len(y):
            self._buf = np.concatenate([self._buf, y]) if len(self._buf) else y

    def _end(self):
        return self._base + len(self._buf)

    def _drop_before(self, index):
        drop = min(max(0, index - self._base), len(self._buf))
        if drop:
            self._buf = self._buf[drop:].copy()
            self._base += drop

    def _emit(self):
        if self._vad is not None:
            bounds, waves = self._vad_segments()
        else:
            bounds, waves = self._windows()
        if not bounds:
            return []
        proba = _classify(self._view, waves)
        frame = _frame(bounds, proba, self.classes_)
        names = [str(c) for c in self.classes_]
        return [
            {
                "start": float(row["start"]),
                "end": float(row["end"]),
                "label": str(row["label"]),
                "probabilities": {c: float(row[c]) for c in names},
            }
            for _, row in frame.iterrows()
        ]

    def _vad_segments(self):
        bounds, waves = [], []
        msr = self._msr
        while self._ready:
            a, b = self._ready[0]
            ia, ib = round(a * msr), round(b * msr)
            if ib > self._end() and not self._finished:
                break  # the resampler has not given these samples yet
            bounds.append((a, b))
            waves.append(self._buf[ia - self._base : ib - self._base].copy())
            self._ready.pop(0)
        # keep what a segment not yet returned may need
        keep = self._ready[0][0] if self._ready else self._vad.open_start / RATE
        self._drop_before(math.floor(keep * msr) - 1)
        return bounds, waves

    def _windows(self):
        spans = []
        while self._next + self._win <= self._end():
            spans.append((self._next, self._next + self._win))
            self._next += self._step
        if self._finished and self._end() > 0:
            # the end of the recording, as predict_timeline's windows
            n = self._end()
            if n < self._win:
                spans.append((0, n))
            else:
                last_end = self._next - self._step + self._win
                if self._next < n and n - last_end >= self._win / 2:
                    spans.append((self._next, n))
        waves = [self._buf[a - self._base : b - self._base].copy() for a, b in spans]
        msr = self._msr
        bounds = [(round(a / msr, 3), round(b / msr, 3)) for a, b in spans]
        self._drop_before(self._next)
        return bounds, waves
