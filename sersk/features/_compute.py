"""The one place where feature transformers pick a backend and run over a batch.

A feature transformer validates its parameters and input once, then
:func:`compute` runs its ``_frames(K, x)`` (math composed from the kernels
``K``: :mod:`~sersk.features._kernels` for numpy/librosa or
:mod:`~sersk.features._torch_kernels`) over the batch:

- a lazy batch (``AudioLoader(lazy=True)``) is read chunk by chunk;
- clips of different lengths are grouped by length;
- ``n_jobs`` splits a fixed-length batch into blocks computed in joblib
  worker processes, each limited to one BLAS/OpenMP and one torch thread so
  that workers never oversubscribe the cores (ignored on CUDA); a lazy batch
  is split into blocks of *paths*: each worker reads its own files, so only
  paths and settings travel to the workers, never waveforms (what makes a
  Dask cluster, ``joblib.parallel_config(backend="dask")``, worth using);
- each block is computed in chunks of clips whose STFT takes about
  ``CHUNK_BYTES``, written into one preallocated float32 output.

Every clip is computed independently of the others, so none of these splits
changes a value.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..utils._sklearn_compat import Integral, StrOptions
from ._base import _StatelessTransformer, check_waveforms, ragged_array
from ._kernels import n_frames

#: Bytes of complex STFT per chunk of clips: keeps the working memory of a
#: transformer below the size of its output for a corpus.
CHUNK_BYTES = 8 * 2**20

#: Clips per block when a lazy batch is spread over joblib workers: blocks
#: small enough to balance the load (and to lose little when a cluster worker
#: dies and Dask recomputes its block), large enough that the per-task
#: overhead of a Dask cluster (a few ms) stays small next to the work.
LAZY_BLOCK_CLIPS = 64

#: Constraints of the ``backend``, ``device`` and ``n_jobs`` parameters.
BACKEND_CONSTRAINTS = {
    "backend": [StrOptions({"auto", "librosa", "torch"})],
    "device": [StrOptions({"auto", "cpu", "cuda"})],
    "n_jobs": [Integral, None],
}


def kernels(backend):
    """The kernel module of ``"librosa"`` or ``"torch"`` (torch imported only here)."""
    if backend == "torch":
        from . import _torch_kernels

        return _torch_kernels
    from . import _kernels

    return _kernels


def resolve_device(device, estimator_name):
    """Torch device name for ``device`` ("auto", "cpu", "cuda"), with a clear error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"The 'device' parameter of {estimator_name} is 'cuda', but no CUDA GPU "
            "is available (torch.cuda.is_available() is False: no GPU, or a CPU-only "
            "torch build). Use device='auto' (CUDA when available, else CPU) or "
            "device='cpu'."
        )
    return device


def resolve_backend(est):
    """``("librosa", None)`` or ``("torch", device)``: what ``est`` computes with.

    ``backend="auto"`` takes torch when it is installed and the transformer's
    ``_auto_backend`` is torch (where torch was measured equal within the
    kernels' tolerances and faster on the CPU), or whenever ``device="cuda"``.
    """
    name = type(est).__name__
    backend = getattr(est, "backend", "auto")
    device = getattr(est, "device", "auto")
    has_torch = importlib.util.find_spec("torch") is not None
    if backend == "librosa" and device == "cuda":
        raise ValueError(
            f"{name}(backend='librosa') computes on the CPU only, but device='cuda' "
            "was given. Use backend='torch' (or 'auto') to compute on the GPU, or "
            "device='auto'/'cpu'."
        )
    if backend == "torch" and not has_torch:
        raise ImportError(
            f"{name}(backend='torch') needs torch, which is not installed. "
            "Install it (pip install torch) or use backend='librosa'."
        )
    if backend == "auto":
        if not has_torch and device == "cuda":
            raise ValueError(
                f"{name}: device='cuda' needs torch, which is not installed. "
                "Install torch with CUDA support or use device='auto'."
            )
        if not has_torch or (est._auto_backend != "torch" and device != "cuda"):
            return "librosa", None
    if backend == "librosa":
        return "librosa", None
    return "torch", resolve_device(device, name)


def compute(est, batch):
    """``est._frames`` over a validated batch (fixed, ragged or lazy), as numpy."""
    backend, device = resolve_backend(est)
    if batch.lazy is not None and _n_workers(est, device, len(batch.lazy)) > 1:
        return _lazy_blocks(est, backend, device, batch.lazy)
    if batch.lazy is not None:
        out = None
        for sl, chunk in batch.lazy.iter_chunks():
            chunk = check_waveforms(chunk, estimator_name=type(est).__name__).fixed
            part = _blocks(est, backend, device, chunk)
            if out is None:
                out = np.empty((len(batch.lazy),) + part.shape[1:], np.float32)
            out[sl] = part
        return out
    if batch.ragged is None:
        return _blocks(est, backend, device, batch.fixed)
    clips, by_length = batch.ragged, {}
    for i, y in enumerate(clips):
        by_length.setdefault(y.shape[0], []).append(i)
    out = [None] * len(clips)
    for idx in by_length.values():
        part = _blocks(est, backend, device, np.stack([clips[i] for i in idx]))
        for j, i in enumerate(idx):
            out[i] = part[j]
    return np.stack(out) if out[0].ndim == 1 else ragged_array(out)


def _n_workers(est, device, n_clips):
    """Joblib workers for ``n_clips`` clips: 1 without ``n_jobs`` or on CUDA."""
    n_jobs = getattr(est, "n_jobs", None)
    if n_jobs is None or device == "cuda":
        return 1
    from joblib import effective_n_jobs

    return min(effective_n_jobs(n_jobs), n_clips)


def _lazy_blocks(est, backend, device, lazy):
    """A lazy batch over joblib workers: blocks of paths out, features back.

    Each worker reads its block's files with the loader's settings (one
    thread: the workers are the parallelism) and computes its features; the
    main process reports the files that ``on_error="warn"`` replaced by zeros,
    once, as a streamed pass does.
    """
    from joblib import Parallel, delayed

    n = len(lazy)
    n_blocks = max(_n_workers(est, device, n), -(-n // LAZY_BLOCK_CLIPS))
    blocks = [b for b in np.array_split(np.arange(n), n_blocks) if len(b)]
    loader = lazy.loader.__class__(
        **{**lazy.loader.get_params(deep=False), "n_jobs": None, "verbose": False}
    )
    bar = None
    if lazy.loader.verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="AudioLoader", unit="file")
    out, bad = None, []
    try:
        parts = Parallel(n_jobs=_n_workers(est, device, n), return_as=_as_generator())(
            delayed(_lazy_in_worker)(
                est,
                backend,
                device,
                lazy.__class__(lazy.paths[b[0] : b[-1] + 1], loader),
            )
            for b in blocks
        )
        for b, (part, part_bad) in zip(blocks, parts, strict=True):
            if out is None:
                out = np.empty((n,) + part.shape[1:], np.float32)
            out[b[0] : b[-1] + 1] = part
            bad += part_bad
            if bar is not None:
                bar.update(len(b))
    finally:
        if bar is not None:
            bar.close()
    lazy._report(bad, n)
    return out


def _as_generator():
    """``"generator"`` where the active joblib backend streams results, else ``"list"``.

    Ray's joblib backend (``ray.util.joblib``) returns lists only.
    """
    from joblib.parallel import get_active_backend

    backend = get_active_backend()[0]
    return (
        "generator" if getattr(backend, "supports_return_generator", False) else "list"
    )


def _lazy_in_worker(est, backend, device, lazy):
    """One block of paths in a joblib worker: read, compute, ``(out, bad files)``."""
    from threadpoolctl import threadpool_limits

    out, bad = None, []
    with threadpool_limits(limits=1):
        n_threads = None
        if backend == "torch":
            import torch

            n_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        try:
            step = lazy._chunk_clips()
            for start in range(0, len(lazy), step):
                sl = slice(start, min(len(lazy), start + step))
                waves, chunk_bad = lazy._read(np.arange(sl.start, sl.stop))
                bad += chunk_bad
                chunk = check_waveforms(waves, estimator_name=type(est).__name__).fixed
                part = _chunks(est, backend, device, chunk)
                if out is None:
                    out = np.empty((len(lazy),) + part.shape[1:], np.float32)
                out[sl] = part
        finally:
            if n_threads is not None:
                torch.set_num_threads(n_threads)
    return out, bad


def _blocks(est, backend, device, X):
    n_workers = _n_workers(est, device, X.shape[0])
    if n_workers <= 1:
        return _chunks(est, backend, device, X)
    from joblib import Parallel, delayed

    blocks = np.array_split(np.arange(X.shape[0]), n_workers)
    parts = Parallel(n_jobs=n_workers)(
        delayed(_in_worker)(est, backend, device, X[b]) for b in blocks
    )
    return np.concatenate(parts)


def _in_worker(est, backend, device, X):
    """One block in a joblib worker: one BLAS and one torch thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        if backend != "torch":
            return _chunks(est, backend, device, X)
        import torch

        n_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return _chunks(est, backend, device, X)
        finally:
            torch.set_num_threads(n_threads)


def _chunks(est, backend, device, X):
    K = kernels(backend)
    n_clips, n_samples = X.shape
    per_clip = (est._frame_length() // 2 + 1) * est._n_frames(n_samples) * 8
    step = max(1, CHUNK_BYTES // max(1, per_clip))
    out = None
    with K.context(device):
        for start in range(0, n_clips, step):
            sl = slice(start, min(n_clips, start + step))
            part = K.to_numpy(est._frames(K, K.asarray(X[sl])))
            if out is None:
                out = np.empty((n_clips,) + part.shape[1:], np.float32)
            out[sl] = part
    return out


class _Computed:
    """Mixin of the transformers computed by :func:`compute` from waveforms.

    Subclasses define ``_frames(K, x)``: the output of a chunk of waveforms
    ``x`` composed from the kernels ``K``.
    """

    #: Backend of ``backend="auto"`` on the CPU (see :func:`resolve_backend`).
    _auto_backend = "torch"

    def _check_input(self, X):
        # file paths are read and resampled to ``sr`` by the loader's own code
        from ._loader import AudioLoader, as_paths

        paths = as_paths(X, type(self).__name__)
        if paths is not None:
            X = AudioLoader(sr=self.sr).transform(paths)
        return check_waveforms(X, estimator_name=type(self).__name__, allow_lazy=True)

    def _check_params(self):
        resolve_backend(self)

    def _transform_batch(self, batch):
        return compute(self, batch)

    def _frame_length(self):
        return self.n_fft

    def _n_frames(self, n_samples):
        return n_frames(n_samples, self._frame_length(), self.hop_length)


class _FrameFeature(_Computed, _StatelessTransformer):
    """Base of the frame-level feature transformers: waveforms -> frames.

    Subclasses hold the parameters and compose the kernels: spectral features
    define ``_from_power(K, P, cache)`` on the power spectrogram ``P`` (the
    shared STFT of :class:`~sersk.features.ClassicFeatures` goes there too),
    time-domain ones override ``_frames(K, x)``; both define ``_coef_names()``.
    """

    def _frames(self, K, x):
        return self._from_power(K, K.power_stft(x, self.n_fft, self.hop_length), {})

    def get_feature_names_out(self, input_features=None):
        """Names of the coefficients (axis 1 of the output).

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (the input is waveforms).

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per coefficient, e.g. ``mfcc0, mfcc1, ...``; a following
            :class:`TimePooling` turns them into ``mfcc0_mean, ...``.
        """
        return np.asarray(self._coef_names(), dtype=object)

    def _check_nyquist(self, *names):
        for name in names:
            value = getattr(self, name)
            if value is not None and value > self.sr / 2:
                raise ValueError(
                    f"The '{name}' parameter of {type(self).__name__} is {value} Hz, "
                    f"above the Nyquist frequency sr/2 = {self.sr / 2} Hz. Lower {name} "
                    "or use a higher sr."
                )
