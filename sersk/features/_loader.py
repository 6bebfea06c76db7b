"""AudioLoader: the one boundary that turns file paths into waveforms."""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np

from ..exceptions import AudioLoadWarning, InvalidAudioError
from ..io import load_audio
from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions
from ._base import _Batch, _StatelessTransformer, check_waveforms, ragged_array

__all__ = ["AudioLoader", "LazyWaveforms"]

#: Bytes of waveforms per chunk when a consumer streams a :class:`LazyWaveforms`
#: (16 clips of 4 s at 16 kHz): small next to a corpus' output, large enough for
#: the batched STFT (``benchmarks/bench_memory.py`` measures the peak).
LAZY_CHUNK_BYTES = 4 * 2**20


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
        if not np.any(y):
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


def _user_stacklevel():
    """``stacklevel`` of the first caller outside sersk and scikit-learn's wrappers."""
    import sys

    import sklearn

    inside = (os.path.dirname(os.path.dirname(__file__)), *sklearn.__path__)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def _warn_bad(bad, n_total):
    """One AudioLoadWarning naming every ``(path, reason)`` in ``bad``, at the user's line."""
    listing = "\n".join(f"  - {p}: {reason}" for p, reason in bad)
    warnings.warn(
        AudioLoadWarning(
            f"AudioLoader replaced {len(bad)} of {n_total} file(s) by zeros "
            f"(on_error='warn'):\n{listing}",
            bad_files=list(bad),
        ),
        stacklevel=_user_stacklevel(),
    )


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
        "sr": [Interval(Integral, 1, None, closed="left")],
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

            results = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
                delayed(_load_one)(p, *args) for p in paths
            )
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


class LazyWaveforms:
    """Waveforms of audio files, read only when indexed.

    What ``AudioLoader(duration=..., lazy=True).transform(paths)`` returns:
    a light, picklable, read-only stand-in for the float32 array
    ``(n_clips, n_samples)`` that ``lazy=False`` would return. It holds the
    paths and a copy of the loader (its settings: ``sr``, ``duration``,
    ``pad_mode``, ``offset``, ``n_jobs``, ``verbose``, ``on_error``), and
    reads files when indexed, with exactly the eager loader's padding,
    trimming and ``on_error`` handling.

    The feature transformers stream it ``iter_chunks()`` at a time into a
    preallocated output, so the waveforms of the whole corpus are never in
    memory together. Every other consumer still works: ``np.asarray(X)``
    loads everything.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Audio files, one clip each.
    loader : AudioLoader
        A loader with a fixed ``duration`` and ``mono=True``; it is copied.

    Attributes
    ----------
    paths : tuple
        The files.
    loader : AudioLoader
        The copy of the loader that reads them (``lazy=False``).
    shape : tuple of int
        ``(n_clips, n_samples)`` with ``n_samples = round(sr * duration)``.
    dtype : numpy.dtype
        Always float32.
    ndim : int
        Always 2.
    size, nbytes : int
        Number of samples and bytes of the array once loaded.

    See Also
    --------
    AudioLoader : Its ``lazy`` parameter.

    Notes
    -----
    Indexing loads just the clips asked for: ``X[i]`` gives a 1-D waveform,
    ``X[a:b]``, ``X[[i, j]]`` and ``X[mask]`` a 2-D float32 array, and a
    tuple such as ``X[idx, :100]`` or ``X[idx, ...]`` applies the rest of the
    key to those clips (scikit-learn's ``_safe_indexing`` works).

    With ``on_error="warn"``, bad files become zeros and each bad file is
    reported once per object: an indexing call or ``np.asarray`` warns
    (one :class:`~sersk.exceptions.AudioLoadWarning`) about the bad files
    it read; :meth:`iter_chunks` warns once, after its last chunk, about all
    bad files of the pass. Files already reported by this object are not
    reported again. With ``on_error="raise"`` the first bad file raises when
    it is read.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sersk.features import AudioLoader
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"clip{i}.wav") for i in range(3)]
    >>> for i, path in enumerate(paths):
    ...     sf.write(path, np.full(8000, 0.1 * (i + 1)), 16000, subtype="FLOAT")
    >>> X = AudioLoader(duration=0.25, lazy=True).transform(paths)
    >>> X.shape, X.dtype, len(X)
    ((3, 4000), dtype('float32'), 3)
    >>> X[1][:3]
    array([0.2, 0.2, 0.2], dtype=float32)
    >>> X[[0, 2]].shape
    (2, 4000)
    >>> [(sl, chunk.shape) for sl, chunk in X.iter_chunks(2)]
    [(slice(0, 2, None), (2, 4000)), (slice(2, 3, None), (1, 4000))]
    >>> np.asarray(X).shape
    (3, 4000)
    """

    #: Marker read by ``_base.check_waveforms`` (duck typing, no import cycle).
    _sersk_lazy_waveforms = True

    def __init__(self, paths, loader):
        self.paths = tuple(paths)
        loader = loader.__class__(**{**loader.get_params(deep=False), "lazy": False})
        if loader.duration is None or not loader.mono:
            raise ValueError(
                "LazyWaveforms needs a loader with a fixed duration and mono=True; "
                f"got duration={loader.duration!r}, mono={loader.mono!r}."
            )
        self.loader = loader
        self._reported = set()

    # -- array-like interface ------------------------------------------------
    @property
    def n_samples(self):
        return self.loader._n_target()

    @property
    def shape(self):
        return (len(self.paths), self.n_samples)

    @property
    def dtype(self):
        return np.dtype(np.float32)

    @property
    def ndim(self):
        return 2

    @property
    def size(self):
        return len(self.paths) * self.n_samples

    @property
    def nbytes(self):
        return self.size * 4

    def __len__(self):
        return len(self.paths)

    def __repr__(self):
        return (
            f"LazyWaveforms(n_clips={len(self)}, n_samples={self.n_samples}, "
            f"sr={self.loader.sr})"
        )

    def __getstate__(self):
        # which files were reported is per object, not part of the data
        state = dict(self.__dict__)
        state["_reported"] = set()
        return state

    def __array__(self, dtype=None, copy=None):
        # Always a new array (the clips are read now); ``copy`` is accepted
        # for NumPy 2's protocol and has nothing to avoid.
        out = self._load(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __iter__(self):
        for _, chunk in self.iter_chunks():
            yield from chunk

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if not key or key[0] is Ellipsis:
                return np.asarray(self)[key]
            rows, rest = key[0], key[1:]
            arr = self._rows(rows)
            return arr[rest] if arr.ndim == 1 else arr[(slice(None),) + rest]
        if key is Ellipsis:
            return np.asarray(self)
        return self._rows(key)

    def _rows(self, rows):
        n = len(self)
        if isinstance(rows, (numbers.Integral, np.integer)) and not isinstance(
            rows, (bool, np.bool_)
        ):
            i = int(rows)
            if not -n <= i < n:
                raise IndexError(
                    f"index {i} is out of bounds for axis 0 with size {n} "
                    "(LazyWaveforms)"
                )
            return self._load(np.array([i % n]))[0]
        if rows is None:
            raise IndexError(
                "LazyWaveforms does not support np.newaxis; load the clips first "
                "(np.asarray(X)[None])."
            )
        idx = np.arange(n)[rows]
        if idx.ndim != 1:
            raise IndexError(
                "LazyWaveforms supports an int, a slice, a 1-D array of indices or a "
                f"boolean mask of length {n} on axis 0; got a key of shape {idx.shape}."
            )
        return self._load(idx)

    # -- loading ---------------------------------------------------------------
    def _read(self, idx):
        """Load the clips ``idx`` -> ``(array (len(idx), n_samples), bad pairs)``."""
        if len(idx) == 0:
            return np.empty((0, self.n_samples), np.float32), []
        waves, bad = self.loader._read_files(
            [self.paths[i] for i in idx], self.n_samples, show=False
        )
        return waves, [(p, reason) for _, p, reason in bad]

    def _report(self, bad, n_total):
        new = [(p, r) for p, r in bad if p not in self._reported]
        if new:
            self._reported.update(p for p, _ in new)
            _warn_bad(new, n_total)

    def _load(self, idx):
        waves, bad = self._read(idx)
        self._report(bad, len(idx))
        return waves

    def _chunk_clips(self, chunk_size=None):
        """Clips per chunk: ``chunk_size``, or about 4 MiB of samples (at least 1)."""
        if chunk_size is None:
            return max(1, LAZY_CHUNK_BYTES // (4 * self.n_samples))
        if (
            not isinstance(chunk_size, (numbers.Integral, np.integer))
            or isinstance(chunk_size, bool)
            or chunk_size < 1
        ):
            raise ValueError(
                f"chunk_size must be a positive int or None; got {chunk_size!r}."
            )
        return int(chunk_size)

    def iter_chunks(self, chunk_size=None):
        """Load the clips in order, ``chunk_size`` at a time.

        Parameters
        ----------
        chunk_size : int or None, default=None
            Clips per chunk; ``None``: about 4 MiB of waveforms per chunk
            (``LAZY_CHUNK_BYTES``; 16 clips of 4 s at 16 kHz).

        Yields
        ------
        rows : slice
            Rows of this chunk in the whole array.
        chunk : ndarray of shape (rows.stop - rows.start, n_samples)
            float32 waveforms, equal to ``np.asarray(self)[rows]``.

        Notes
        -----
        With ``on_error="warn"`` one :class:`~sersk.exceptions.AudioLoadWarning`
        naming all bad files of the pass (not yet reported by this object) is
        emitted after the last chunk. With ``verbose`` a progress bar counts
        the files of the pass.
        """
        chunk = self._chunk_clips(chunk_size)
        n = len(self)
        bar = None
        if self.loader.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="AudioLoader", unit="file")
        bad = []
        try:
            for start in range(0, n, chunk):
                rows = slice(start, min(n, start + chunk))
                waves, chunk_bad = self._read(np.arange(rows.start, rows.stop))
                bad += chunk_bad
                if bar is not None:
                    bar.update(rows.stop - rows.start)
                yield rows, waves
                del waves
        finally:
            if bar is not None:
                bar.close()
        self._report(bad, n)
