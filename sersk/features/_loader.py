"""AudioLoader: the one boundary that turns file paths into waveforms."""

from __future__ import annotations

import os

import numpy as np

from ..exceptions import InvalidAudioError
from ..io import load_audio
from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions
from ._base import (
    SR_CONSTRAINT,
    _Batch,
    _StatelessTransformer,
    check_waveforms,
    ragged_array,
)
from ._lazy import LazyWaveforms, _warn_bad

__all__ = ["AudioLoader"]


def _is_path(x):
    return isinstance(x, (str, bytes, os.PathLike))


def _fit_length(y, n, pad_mode):
    """Pad with zeros or trim the last axis of ``y`` to ``n`` samples."""
    length = y.shape[-1]
    if length == n:
        return y
    if length > n:
        start = 0 if pad_mode == "end" else (length - n) // 2
        return y[..., start : start + n]
    missing = n - length
    left = 0 if pad_mode == "end" else missing // 2
    widths = [(0, 0)] * (y.ndim - 1) + [(left, missing - left)]
    return np.pad(y, widths)


def _trim_silence(y, top_db):
    """Cut leading and trailing parts quieter than ``top_db`` below the peak."""
    if top_db is None:
        return y
    import librosa

    return librosa.effects.trim(y, top_db=top_db)[0]


def _load_one(path, sr, mono, offset, read_duration, trim_db=None):
    """Load one file; return ``(waveform, None)`` or ``(None, exception)``."""
    try:
        y, _ = load_audio(path, sr=sr, mono=mono, offset=offset, duration=read_duration)
        # the part read may be leading silence of a file that speaks later:
        # only a file that is silent as a whole is refused
        if not np.any(y) and (
            read_duration is None
            or not np.any(load_audio(path, sr=None, mono=mono, offset=offset)[0])
        ):
            raise InvalidAudioError(
                f"'{os.fsdecode(path)}' is pure digital silence (all {y.shape[-1]} samples "
                "are 0), which carries no emotion. Remove the file, or use "
                "on_error='warn' to replace it by zeros with a warning."
            )
        return _trim_silence(y, trim_db), None
    except (OSError, ValueError) as exc:
        return None, exc


def as_paths(X, name):
    """The list of paths in ``X`` (list, tuple, array, Series, one-column DataFrame).

    ``None`` when ``X`` holds no paths (waveforms); a clear error for a single
    path, an empty list, or paths mixed with other values.
    """
    if _is_path(X):
        raise TypeError(
            f"{name} expects a 1-D list of paths; got a single path {X!r}. "
            "Wrap it in a list: [path]."
        )
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # DataFrame
        if X.shape[1] != 1:
            raise ValueError(
                f"{name} got a DataFrame with {X.shape[1]} columns "
                f"({list(X.columns)}); pass the column of paths, e.g. df['path']."
            )
        X = X.iloc[:, 0]
    if hasattr(X, "iloc"):  # Series
        X = X.to_numpy()
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(
                f"{name} got an empty list of paths. Pass at least one file."
            )
        is_path = [_is_path(x) for x in X]
        if all(is_path):
            return list(X)
        if any(is_path):
            bad = is_path.index(False)
            raise TypeError(
                f"{name} got a mix of paths and other values: item {bad} is "
                f"{type(X[bad]).__name__} ({X[bad]!r:.80}). Pass only paths "
                "(str or os.PathLike), or only waveforms."
            )
    elif isinstance(X, np.ndarray) and (
        X.dtype.kind in "US" or (X.dtype == object and X.size and _is_path(X.flat[0]))
    ):
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim != 1:
            raise ValueError(
                f"{name} expects a 1-D array of paths; got shape {X.shape}."
            )
        items = list(X)
        if not all(_is_path(x) for x in items):
            bad = next(i for i, x in enumerate(items) if not _is_path(x))
            raise TypeError(
                f"{name} expects only paths; item {bad} is "
                f"{type(items[bad]).__name__} ({items[bad]!r:.80})."
            )
        if not items:
            raise ValueError(f"{name} got an empty array of paths.")
        return items
    return None


class AudioLoader(_StatelessTransformer):
    """Load audio files into a batch of float32 waveforms.

    The first step of a sersk pipeline: file paths in, waveforms out, so that
    every later step (features, models) works on numeric arrays and datasets
    can hand out cheap lists of paths. Files are read with
    :func:`sersk.io.load_audio` (resampled to ``sr``, mixed down to mono).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the output; files are resampled to it.
    duration : float or None, default=None
        Length of every output clip in seconds: clips are zero-padded or
        trimmed to ``round(sr * duration)`` samples and stacked into a 2-D
        array. ``None`` keeps each file's native length and returns a 1-D
        object array of 1-D waveforms (the feature transformers and
        :class:`TimePooling` accept it).
    mono : bool, default=True
        Average the channels. With ``False`` each waveform has shape
        ``(n_channels, n_samples)`` (the feature transformers need mono).
    pad_mode : {"end", "center"}, default="end"
        Where to pad or trim: ``"end"`` keeps the start of the clip (padding
        or cutting at the end; only the needed part of each file is read);
        ``"center"`` pads both sides equally or keeps the middle.
    offset : float, default=0.0
        Start reading each file after this many seconds.
    trim_db : float or None, default=None
        Cut the leading and trailing silence of every clip before it is
        padded or trimmed to ``duration``: the parts whose RMS (frames of
        2048 samples, hop 512) stays more than ``trim_db`` dB below the
        clip's loudest frame (:func:`librosa.effects.trim`). Corpus
        recordings such as RAVDESS start and end with up to a second of
        room noise, which dilutes clip statistics and wastes a fixed-length
        input; ``trim_db=30`` keeps the speech. Applies to waveforms passed in
        as arrays too. ``None`` keeps the clips as they are.
    n_jobs : int or None, default=None
        Files read in parallel (joblib, threads by default; change it with
        :func:`joblib.parallel_config`). ``None`` means 1, ``-1`` all cores.
    verbose : bool or int, default=False
        Show a tqdm progress bar over the files (useful for long lists).
    on_error : {"raise", "warn"}, default="raise"
        What to do with a file that is missing, a directory, not decodable,
        empty, holds NaN/Inf samples or is pure digital silence. ``"raise"``
        raises the first such error (its message names the file).
        ``"warn"`` replaces each bad file by zeros (``round(sr * duration)``
        samples, or one second when ``duration`` is None) and emits **one**
        :class:`~sersk.exceptions.AudioLoadWarning` per call whose message
        names every bad file and why; its ``bad_files`` attribute holds the
        list of ``(path, reason)`` pairs.
    lazy : bool, default=False
        Return a :class:`LazyWaveforms` instead of loading the files: a
        light, picklable, read-only array-like of shape
        ``(n_clips, round(sr * duration))`` that reads files only when
        indexed. The feature transformers (:class:`MelSpectrogram`,
        :class:`MFCC`, :class:`Chroma`, :class:`SpectralContrast`,
        :class:`ZeroCrossingRate`, :class:`RMS`, :class:`ClassicFeatures`)
        then stream it: they load about 4 MiB of waveforms at a time (16
        clips of 4 s at 16 kHz) into a preallocated output, so a pipeline
        ``AudioLoader(lazy=True) -> MelSpectrogram`` never holds the
        waveforms of the whole corpus, with the same values (peak memory:
        ``docs/benchmarks.rst``). Any other consumer gets the whole array through
        ``np.asarray`` (it works, without the memory gain). Needs a fixed
        ``duration`` and ``mono=True``. Errors of the files are raised (or
        warned about) when they are read, that is by the next step. Arrays
        of waveforms given to a lazy loader are processed as with
        ``lazy=False``. The sersk pipelines (:mod:`sersk.pipelines`) use
        ``lazy=True`` whenever ``duration`` is set.

    See Also
    --------
    LazyWaveforms : What ``lazy=True`` returns.
    sersk.io.load_audio : Read one file.
    MelSpectrogram : Frame-level features of the waveforms.

    Notes
    -----
    The input is a 1-D array-like of paths (list, tuple, ndarray or pandas
    Series of ``str`` / :class:`os.PathLike`; a one-column DataFrame works
    too). Already-loaded waveforms pass through: a 2-D numeric array
    ``(n_clips, n_samples)`` or a 1-D object array of 1-D waveforms is
    checked (numeric, finite) and cast to float32; it is assumed to be
    sampled at ``sr`` already (it is not resampled) and, when ``duration`` is
    set, padded or trimmed like loaded files, so the output shape does not
    depend on the input type. ``on_error`` applies to files only: bad arrays
    always raise.

    The transformer is stateless: ``fit`` only checks its parameters and
    input, and ``transform`` works without it.

    With ``lazy=True`` and ``on_error="warn"``, each bad file is reported
    once per :class:`LazyWaveforms` (that is, per ``transform`` call): the
    consumer that streams the clips emits one
    :class:`~sersk.exceptions.AudioLoadWarning` naming every bad file it met,
    at the end of its pass; later passes over the same object (e.g. the
    other branches of a :class:`~sklearn.pipeline.FeatureUnion`) do not
    repeat it.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sersk.features import AudioLoader
    >>> folder = tempfile.mkdtemp()
    >>> paths = []
    >>> for i, seconds in enumerate([0.5, 1.5]):
    ...     t = np.arange(int(22050 * seconds)) / 22050
    ...     paths.append(os.path.join(folder, f"clip{i}.wav"))
    ...     sf.write(paths[-1], 0.3 * np.sin(2 * np.pi * 220 * t), 22050)
    >>> X = AudioLoader(sr=16000, duration=1.0).fit_transform(paths)
    >>> X.shape, X.dtype
    ((2, 16000), dtype('float32'))
    >>> [y.shape for y in AudioLoader(sr=16000).transform(paths)]
    [(8000,), (24000,)]

    With ``lazy=True`` nothing is read until a later step streams the clips:

    >>> from sklearn.pipeline import make_pipeline
    >>> from sersk.features import MelSpectrogram
    >>> lazy = AudioLoader(duration=1.0, lazy=True).transform(paths)
    >>> lazy
    LazyWaveforms(n_clips=2, n_samples=16000, sr=16000)
    >>> S = MelSpectrogram(n_mels=40).transform(lazy)
    >>> S.shape, S.dtype
    ((2, 40, 32), dtype('float32'))
    >>> bool(np.allclose(S, MelSpectrogram(n_mels=40).transform(X), atol=1e-3))
    True
    """

    _parameter_constraints: dict = {
        "sr": SR_CONSTRAINT,
        "duration": [Interval(Real, 0, None, closed="neither"), None],
        "mono": ["boolean"],
        "pad_mode": [StrOptions({"end", "center"})],
        "offset": [Interval(Real, 0, None, closed="left")],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "on_error": [StrOptions({"raise", "warn"})],
        "lazy": ["boolean"],
        "trim_db": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        sr=16000,
        duration=None,
        *,
        mono=True,
        pad_mode="end",
        offset=0.0,
        n_jobs=None,
        verbose=False,
        on_error="raise",
        lazy=False,
        trim_db=None,
    ):
        self.sr = sr
        self.duration = duration
        self.mono = mono
        self.pad_mode = pad_mode
        self.offset = offset
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.on_error = on_error
        self.lazy = lazy
        self.trim_db = trim_db

    def _n_target(self):
        return None if self.duration is None else int(round(self.sr * self.duration))

    def _check_params(self):
        if self.duration is not None and self._n_target() < 1:
            raise ValueError(
                f"The 'duration' parameter of AudioLoader is {self.duration} s, which is "
                f"less than one sample at sr={self.sr}. Use a longer duration."
            )
        if self.lazy and self.duration is None:
            raise ValueError(
                "AudioLoader(lazy=True) needs a fixed clip length, but duration=None. "
                "Set duration (seconds, e.g. duration=4.0) so every clip is padded or "
                "trimmed to the same length, or use lazy=False to load clips of "
                "native lengths."
            )
        if self.lazy and not self.mono:
            raise ValueError(
                "AudioLoader(lazy=True) loads mono waveforms only, but mono=False. "
                "Use mono=True, or lazy=False for multichannel waveforms."
            )

    def _check_input(self, X):
        """Return ``("paths", list)`` or ``("waveforms", _Batch)``."""
        paths = as_paths(X, "AudioLoader")
        if paths is not None:
            return "paths", paths
        return "waveforms", check_waveforms(X, estimator_name="AudioLoader")

    def _transform_batch(self, checked):
        kind, data = checked
        n_target = self._n_target()
        if kind == "waveforms" and self.trim_db is not None:
            # trimmed clips differ in length: continue as a ragged batch
            waves = data.ragged if data.ragged is not None else list(data.fixed)
            data = _Batch(ragged=[_trim_silence(y, self.trim_db) for y in waves])
        if kind == "waveforms":
            if n_target is None:
                return data.fixed if data.ragged is None else ragged_array(data.ragged)
            if data.ragged is None:
                return np.ascontiguousarray(
                    _fit_length(data.fixed, n_target, self.pad_mode)
                )
            return np.stack(
                [_fit_length(y, n_target, self.pad_mode) for y in data.ragged]
            )
        if self.lazy:
            return LazyWaveforms(data, self)
        return self._load_files(data, n_target)

    def _load_files(self, paths, n_target):
        waves, bad = self._read_files(paths, n_target, show=bool(self.verbose))
        if bad:
            _warn_bad([(p, reason) for _, p, reason in bad], len(paths))
        if n_target is None:
            return ragged_array(waves)
        if isinstance(waves, np.ndarray):  # mono: filled in place
            return waves
        waves = [_fit_length(y, n_target, self.pad_mode) for y in waves]
        shapes = {y.shape for y in waves}
        if len(shapes) > 1:
            raise ValueError(
                f"AudioLoader(mono=False) got files with different channel counts "
                f"({sorted(s[0] for s in shapes)}); use mono=True or files with the same layout."
            )
        return np.stack(waves).astype(np.float32, copy=False)

    def _read_files(self, paths, n_target, *, show):
        """Read ``paths`` in order, applying ``on_error``; warn nothing.

        Returns ``(waves, bad)``: ``waves`` is a preallocated float32 array
        ``(len(paths), n_target)`` filled file by file when ``mono`` and
        ``n_target`` is set (so the waveforms are never held twice), else a
        list of arrays; bad files are zeros there. ``bad`` lists
        ``(index, path, reason)``.
        """
        read_duration = (
            self.duration
            if (
                self.duration is not None
                and self.pad_mode == "end"
                and self.trim_db is None  # the speech may start late
            )
            else None
        )
        args = (
            int(self.sr),
            bool(self.mono),
            float(self.offset),
            read_duration,
            self.trim_db,
        )
        n_jobs = 1 if self.n_jobs is None else self.n_jobs
        if n_jobs == 1:
            results = (_load_one(p, *args) for p in paths)
        else:
            from joblib import Parallel, delayed
            from joblib.parallel import get_active_backend

            # files in order as they come; a backend that cannot stream
            # results (Ray's) hands them over all at the end
            backend = get_active_backend(prefer="threads")[0]
            streams = getattr(backend, "supports_return_generator", False)
            results = Parallel(
                n_jobs=n_jobs,
                prefer="threads",
                return_as="generator" if streams else "list",
            )(delayed(_load_one)(p, *args) for p in paths)
        if show:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(paths), desc="AudioLoader", unit="file")

        fixed = n_target is not None and self.mono
        waves = np.empty((len(paths), n_target), np.float32) if fixed else []
        bad = []
        for i, (path, (y, exc)) in enumerate(zip(paths, results, strict=True)):
            if exc is not None:
                if self.on_error == "raise":
                    if hasattr(results, "close"):
                        results.close()
                    raise exc
                bad.append((i, os.fsdecode(path), f"{type(exc).__name__}: {exc}"))
            if fixed:
                waves[i] = 0.0 if y is None else _fit_length(y, n_target, self.pad_mode)
            else:
                waves.append(y)

        if bad and not fixed:
            good = next((y for y in waves if y is not None), None)
            lead = () if (self.mono or good is None) else good.shape[:-1]
            n_zero = n_target if n_target is not None else int(self.sr)
            for i, _, _ in bad:
                waves[i] = np.zeros(lead + (n_zero,), dtype=np.float32)
        return waves, bad

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``sample0, sample1, ...`` when ``duration`` is set, else the single
            name ``waveform`` (one variable-length waveform per clip).
        """
        n = self._n_target()
        if n is None:
            return np.asarray(["waveform"], dtype=object)
        return np.asarray([f"sample{i}" for i in range(n)], dtype=object)
