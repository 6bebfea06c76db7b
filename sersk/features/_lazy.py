"""LazyWaveforms: the waveforms of audio files, read only when a step needs them."""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np

from ..exceptions import AudioLoadWarning

__all__ = ["LazyWaveforms"]

#: Bytes of waveforms per chunk when a consumer streams a :class:`LazyWaveforms`
#: (16 clips of 4 s at 16 kHz): small next to a corpus' output, large enough for
#: the batched STFT (``benchmarks/bench_memory.py`` measures the peak).
LAZY_CHUNK_BYTES = 4 * 2**20


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
