"""The emotion of every segment of a recording: an emotion timeline."""

from __future__ import annotations

import copy
from numbers import Real

import numpy as np

from ._segmenter import SpeechSegmenter, _check_sr, _is_path

# segments classified per predict_proba call (bounded by samples too)
_BATCH = 32
_BATCH_SAMPLES = 2**22


class _UnusableModel(TypeError):
    """A model that an entry point cannot run on audio (see _model_loader)."""


def _model_loader(model, where, what="the model given"):
    """The :class:`~sersk.features.AudioLoader` that starts ``model``.

    The one check of every entry point that feeds audio (file paths, live or
    streamed waveforms) to a loaded model: ``predict_timeline``,
    ``StreamingPredictor``, ``create_app``, ``sersk predict`` and ``sersk
    listen``. ``where`` names the entry point and ``what`` the model as the
    user gave it (e.g. the repr of its file path). Raises a TypeError
    (``_UnusableModel``); callers with their own kind of error (the CLI's
    one-line errors) catch that subclass only.
    """
    from sklearn.pipeline import Pipeline

    from ..features import AudioLoader

    if isinstance(model, Pipeline) and model.steps:
        if isinstance(model[0], AudioLoader):
            return model[0]
        got = (
            f"a {type(model).__name__} whose first step is a {type(model[0]).__name__}"
        )
    else:
        got = f"a {type(model).__name__}"
    raise _UnusableModel(
        f"{where} needs a fitted sersk pipeline whose first step is "
        "sersk.features.AudioLoader, which gives the sampling rate the model "
        f"expects; {what} is {got}. Save a pipeline of sersk.pipelines (as sersk "
        "train does), or put an AudioLoader(sr=...) first."
    )


def _segment_model(model, seconds=None):
    """``model`` with its loader set for segments, without changing ``model``.

    Each segment is classified at its own length (``seconds=None``: VAD
    segments) or padded to the window length (fixed windows, as ``sersk
    predict --segments`` does); a deep model trained on clips of one fixed
    duration keeps it. Returns a shallow copy sharing the fitted steps, so
    concurrent callers never see each other's settings.
    """
    from .._persistence import _is_deep

    loader = _model_loader(model, "predict_timeline")
    if loader.duration is not None and _is_deep(model[-1]):
        return model
    new_loader = copy.copy(loader)
    new_loader.duration = seconds
    new_loader.lazy = False
    view = copy.copy(model)
    view.steps = [(model.steps[0][0], new_loader), *model.steps[1:]]
    return view


def _ragged(waves):
    out = np.empty(len(waves), dtype=object)
    for i, w in enumerate(waves):
        out[i] = w
    return out


def _classify(model, waves):
    """Probabilities ``(n, n_classes)`` of a list of waveforms, in batches."""
    out, batch, size = [], [], 0
    for w in waves:
        batch.append(w)
        size += len(w)
        if len(batch) == _BATCH or size >= _BATCH_SAMPLES:
            out.append(np.asarray(model.predict_proba(_ragged(batch)), np.float64))
            batch, size = [], 0
    if batch:
        out.append(np.asarray(model.predict_proba(_ragged(batch)), np.float64))
    n_classes = len(model.classes_)
    return np.concatenate(out) if out else np.zeros((0, n_classes))


def _frame(bounds, proba, classes):
    """The timeline DataFrame: start, end, label, one column per class."""
    import pandas as pd

    bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
    proba = np.asarray(proba, dtype=np.float64).reshape(-1, len(classes))
    names = [str(c) for c in classes]
    columns = {
        "start": bounds[:, 0],
        "end": bounds[:, 1],
        "label": pd.Series(
            np.array(names, dtype=object)[np.argmax(proba, axis=1)]
            if len(proba)
            else np.array([], dtype=object),
            dtype=object,
        ),
    }
    columns.update({c: proba[:, i] for i, c in enumerate(names)})
    return pd.DataFrame(columns)


def _windows(n, sr, seconds, hop):
    """``(start, end)`` sample bounds of windows sliding over ``n`` samples.

    The windows of ``sersk predict --segments``: full windows every ``hop``,
    then one shorter window over what is left when it is at least half a
    window (the whole signal when it is shorter than one window).
    """
    win = max(1, round(seconds * sr))
    step = max(1, round(hop * sr))
    if n < win:
        yield 0, n
        return
    start = 0
    while start + win <= n:
        yield start, start + win
        start += step
    last_end = start - step + win
    if start < n and n - last_end >= win / 2:
        yield start, n


def _check_segments(segments, hop, segmenter):
    if isinstance(segments, str):
        if segments != "vad":
            raise ValueError(
                f"The 'segments' parameter of predict_timeline must be 'vad' or a "
                f"positive number of seconds. Got {segments!r} instead."
            )
        if hop is not None:
            raise ValueError(
                "The 'hop' parameter of predict_timeline applies to fixed "
                f"windows (segments=SECONDS), not to segments='vad'. Got "
                f"hop={hop!r}; leave it None."
            )
        if segmenter is None:
            return SpeechSegmenter()
        if not hasattr(segmenter, "segment"):
            raise TypeError(
                "The 'segmenter' parameter of predict_timeline must have a "
                "segment(audio, sr=...) method, like SpeechSegmenter. Got "
                f"{type(segmenter).__name__} instead."
            )
        return segmenter
    if (
        isinstance(segments, bool)
        or not isinstance(segments, Real)
        or not np.isfinite(segments)
        or segments <= 0
    ):
        raise ValueError(
            f"The 'segments' parameter of predict_timeline must be 'vad' or a "
            f"positive number of seconds. Got {segments!r} instead."
        )
    if hop is not None and (
        isinstance(hop, bool)
        or not isinstance(hop, Real)
        or not np.isfinite(hop)
        or hop <= 0
    ):
        raise ValueError(
            f"The 'hop' parameter of predict_timeline must be a positive number "
            f"of seconds or None (the window length). Got {hop!r} instead."
        )
    if segmenter is not None:
        raise ValueError(
            "The 'segmenter' parameter of predict_timeline applies to "
            f"segments='vad'; got segments={segments!r}. Pass segments='vad' "
            "or leave segmenter None."
        )
    return None


def _model_audio(audio, sr, model_sr):
    """The waveform at the model's rate, and (for VAD) the audio to segment."""
    from ..io import load_audio, resample
    from ..utils import check_audio

    if _is_path(audio):
        y, native = load_audio(audio, sr=None)
        return resample(y, orig_sr=native, target_sr=model_sr), y, native
    sr = _check_sr(sr, "predict_timeline")
    y = check_audio(audio, name="the waveform given to predict_timeline")
    return resample(y, orig_sr=sr, target_sr=model_sr), y, sr


def predict_timeline(
    model, audio, *, sr=None, segments="vad", hop=None, segmenter=None
):
    """The emotion of every speech segment (or window) of a recording.

    Parameters
    ----------
    model : Pipeline
        A fitted sersk pipeline whose first step is
        :class:`~sersk.features.AudioLoader` (what :func:`sersk.load_model`
        returns for a model of ``sersk train``); its ``sr`` is the model's
        sampling rate. It is not modified.
    audio : str, os.PathLike or array-like of shape (n_samples,)
        An audio file, or a mono waveform (floats in [-1, 1]) sampled at
        ``sr``; it is resampled to the model's rate.
    sr : int or None, default=None
        Sampling rate of ``audio`` when it is a waveform (required then);
        ignored for files.
    segments : "vad" or float, default="vad"
        ``"vad"``: one prediction per speech segment found by ``segmenter``
        (silence is left out), each segment classified at its own length.
        A number: windows of that many seconds sliding by ``hop`` over the
        whole recording, silence included, as ``sersk predict --segments``.
    hop : float or None, default=None
        Step between windows in seconds (``None``: the window length); only
        with a number for ``segments``.
    segmenter : object or None, default=None
        With ``segments="vad"``: what finds the speech, an object with a
        ``segment(audio, sr=...)`` method returning ``(n, 2)`` start and end
        seconds, such as a configured :class:`SpeechSegmenter`. ``None``:
        ``SpeechSegmenter()``.

    Returns
    -------
    timeline : pandas.DataFrame
        One row per segment, in time order: ``start`` and ``end`` (seconds,
        float), ``label`` (str, the most probable class), then one float
        column per class in ``model.classes_`` order (the probabilities).
        No rows, with the same columns, when no speech was found.

    See Also
    --------
    SpeechSegmenter : The default segmenter.
    StreamingPredictor : The same predictions on audio pushed in chunks.

    Examples
    --------
    >>> from sersk.segmentation import predict_timeline
    >>> predict_timeline(model, "long_recording.wav")  # doctest: +SKIP
       start   end    label  angry  happy  neutral    sad
    0   0.42  3.17    happy  0.061  0.712    0.154  0.073
    1   4.03  7.90      sad  0.043  0.065    0.301  0.591
    """
    seg = _check_segments(segments, hop, segmenter)
    loader = _model_loader(model, "predict_timeline")
    model_sr = int(loader.sr)
    classes = list(model.classes_)
    y, native_y, native_sr = _model_audio(audio, sr, model_sr)
    if seg is not None:
        bounds = np.asarray(seg.segment(native_y, sr=native_sr), dtype=np.float64)
        bounds = bounds.reshape(-1, 2)
        view = _segment_model(model, None)
        samples = [(round(a * model_sr), round(b * model_sr)) for a, b in bounds]
    else:
        view = _segment_model(model, float(segments))
        samples = list(_windows(len(y), model_sr, segments, hop or segments))
        bounds = np.array(
            [(round(a / model_sr, 3), round(b / model_sr, 3)) for a, b in samples],
            dtype=np.float64,
        )
    waves = (y[a:b] for a, b in samples)
    proba = _classify(view, waves)
    return _frame(bounds, proba, classes)
