"""AudioLoader: the one boundary that turns file paths into waveforms."""

from __future__ import annotations

import os
import warnings

import numpy as np

from ..exceptions import AudioLoadWarning, InvalidAudioError
from ..io import load_audio
from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions
from ._base import _StatelessTransformer, check_waveforms, ragged_array

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


def _load_one(path, sr, mono, offset, read_duration):
    """Load one file; return ``(waveform, None)`` or ``(None, exception)``."""
    try:
        y, _ = load_audio(path, sr=sr, mono=mono, offset=offset, duration=read_duration)
        if not np.any(y):
            raise InvalidAudioError(
                f"'{os.fsdecode(path)}' is pure digital silence (all {y.shape[-1]} samples "
                "are 0), which carries no emotion. Remove the file, or use "
                "on_error='warn' to replace it by zeros with a warning."
            )
        return y, None
    except (OSError, ValueError) as exc:
        return None, exc


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

    See Also
    --------
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
    ):
        self.sr = sr
        self.duration = duration
        self.mono = mono
        self.pad_mode = pad_mode
        self.offset = offset
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.on_error = on_error

    def _n_target(self):
        return None if self.duration is None else int(round(self.sr * self.duration))

    def _check_params(self):
        if self.duration is not None and self._n_target() < 1:
            raise ValueError(
                f"The 'duration' parameter of AudioLoader is {self.duration} s, which is "
                f"less than one sample at sr={self.sr}. Use a longer duration."
            )

    def _check_input(self, X):
        """Return ``("paths", list)`` or ``("waveforms", _Batch)``."""
        if _is_path(X):
            raise TypeError(
                f"AudioLoader expects a 1-D list of paths; got a single path {X!r}. "
                "Wrap it in a list: [path]."
            )
        if hasattr(X, "columns") and hasattr(X, "iloc"):  # DataFrame
            if X.shape[1] != 1:
                raise ValueError(
                    f"AudioLoader got a DataFrame with {X.shape[1]} columns "
                    f"({list(X.columns)}); pass the column of paths, e.g. df['path']."
                )
            X = X.iloc[:, 0]
        if hasattr(X, "iloc"):  # Series
            X = X.to_numpy()
        if isinstance(X, (list, tuple)):
            if len(X) == 0:
                raise ValueError(
                    "AudioLoader got an empty list of paths. Pass at least one file."
                )
            is_path = [_is_path(x) for x in X]
            if all(is_path):
                return "paths", list(X)
            if any(is_path):
                bad = is_path.index(False)
                raise TypeError(
                    f"AudioLoader got a mix of paths and other values: item {bad} is "
                    f"{type(X[bad]).__name__} ({X[bad]!r:.80}). Pass only paths "
                    "(str or os.PathLike), or only waveforms."
                )
        elif isinstance(X, np.ndarray) and (
            X.dtype.kind in "US"
            or (X.dtype == object and X.size and _is_path(X.flat[0]))
        ):
            if X.ndim == 2 and X.shape[1] == 1:
                X = X[:, 0]
            if X.ndim != 1:
                raise ValueError(
                    f"AudioLoader expects a 1-D array of paths; got shape {X.shape}."
                )
            items = list(X)
            if not all(_is_path(x) for x in items):
                bad = next(i for i, x in enumerate(items) if not _is_path(x))
                raise TypeError(
                    f"AudioLoader expects only paths; item {bad} is "
                    f"{type(items[bad]).__name__} ({items[bad]!r:.80})."
                )
            if not items:
                raise ValueError("AudioLoader got an empty array of paths.")
            return "paths", items
        return "waveforms", check_waveforms(X, estimator_name="AudioLoader")

    def _transform_batch(self, checked):
        kind, data = checked
        n_target = self._n_target()
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
        return self._load_files(data, n_target)

    def _load_files(self, paths, n_target):
        read_duration = (
            self.duration
            if (self.duration is not None and self.pad_mode == "end")
            else None
        )
        args = (int(self.sr), bool(self.mono), float(self.offset), read_duration)
        n_jobs = 1 if self.n_jobs is None else self.n_jobs
        show = bool(self.verbose)
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

        waves, bad = [], []
        for path, (y, exc) in zip(paths, results, strict=True):
            if exc is not None:
                if self.on_error == "raise":
                    if hasattr(results, "close"):
                        results.close()
                    raise exc
                bad.append(
                    (len(waves), os.fsdecode(path), f"{type(exc).__name__}: {exc}")
                )
            waves.append(y)

        if bad:
            good = next((y for y in waves if y is not None), None)
            lead = () if (self.mono or good is None) else good.shape[:-1]
            n_zero = n_target if n_target is not None else int(self.sr)
            for i, _, _ in bad:
                waves[i] = np.zeros(lead + (n_zero,), dtype=np.float32)
            listing = "\n".join(f"  - {p}: {reason}" for _, p, reason in bad)
            warnings.warn(
                AudioLoadWarning(
                    f"AudioLoader replaced {len(bad)} of {len(paths)} file(s) by zeros "
                    f"(on_error='warn'):\n{listing}",
                    bad_files=[(p, reason) for _, p, reason in bad],
                ),
                stacklevel=4,
            )

        if n_target is None:
            return ragged_array(waves)
        waves = [_fit_length(y, n_target, self.pad_mode) for y in waves]
        shapes = {y.shape for y in waves}
        if len(shapes) > 1:
            raise ValueError(
                f"AudioLoader(mono=False) got files with different channel counts "
                f"({sorted(s[0] for s in shapes)}); use mono=True or files with the same layout."
            )
        return np.stack(waves).astype(np.float32, copy=False)

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
