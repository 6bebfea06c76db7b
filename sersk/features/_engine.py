"""Shared-STFT feature engine: several classic features from one STFT.

The seed recipes call librosa once per feature and per clip: every call
recomputes the STFT, rebuilds the filter banks and (for chroma) re-estimates
the tuning. :func:`compute_features` computes, for a chunk of clips at a time,

- one power spectrogram ``P = |STFT|**2`` (torch, float32), from which come
  the mel spectrogram (``mel_fb @ P``, optionally in dB per clip), the MFCC
  (orthonormal DCT-II of the dB mel), the chroma (``chroma_fb @ P``, tuning
  per clip from the same ``P``) and the spectral contrast (on ``sqrt(P)``);
- the time-domain ZCR and RMS with librosa's framing;

with filter banks built once per parameter set (cached). Every feature equals
the per-clip librosa call with the same parameters within the tolerances of
:mod:`sersk.features._torch_backend` (tested in
``tests/test_features_backend_engine.py``).

Design for the transformers (``backend="auto"|"librosa"|"torch"``,
``device="auto"|"cpu"|"cuda"``): each spectral transformer can call the
matching function of :mod:`~sersk.features._torch_backend`; a multi-feature
preset (``make_classic_features``) can call :func:`compute_features` with
``stats=...`` once instead of one FeatureUnion branch per feature.

When to use what
----------------
- ``n_jobs=None`` (default): one process. The STFT, where most of the time
  goes, already runs on ``torch.get_num_threads()`` FFT threads (all cores by
  default); the rest is vectorised over each chunk. Best for batches up to a
  few thousand clips, and always on CUDA.
- ``n_jobs=k > 1``: the clips are split into ``k`` blocks computed in joblib
  (loky) worker processes, each limited to one BLAS/OpenMP thread
  (threadpoolctl), one torch thread and one FFT thread, so ``k`` workers
  never oversubscribe the cores. Worth it on machines with many idle cores
  and large corpora, where the single-threaded numpy parts (chroma tuning,
  contrast sorting, pooling) start to dominate; the first call pays the
  worker start-up (one to several seconds each: importing torch). On a
  2-core machine it did not pay off (see the benchmark).
- ``device="cuda"`` ignores ``n_jobs``: one process feeds the GPU in chunks.

Memory stays bounded: clips are processed ``chunk_size`` at a time and each
chunk is written into the preallocated float32 outputs; with ``stats`` the
frame-level arrays of a chunk are pooled and dropped at once, so a whole
corpus costs only its pooled output. :func:`extract_from_files` also streams
the audio itself, so the waveforms of the corpus are never all in memory.
"""

from __future__ import annotations

import numbers

import numpy as np

from sersk.features import _torch_backend as _tb

__all__ = [
    "FEATURES",
    "STATS",
    "compute_features",
    "extract_from_files",
    "feature_sizes",
    "pool_frames",
]

#: Feature names understood by :func:`compute_features`, in the classic order.
FEATURES = ("mfcc", "chroma", "mel", "contrast", "zcr", "rms")

#: Pooling statistics understood by :func:`pool_frames`.
STATS = ("mean", "std", "min", "max", "median", "skew", "kurtosis")

_DEFAULTS = {
    "n_fft": 2048,
    "hop_length": 512,
    "n_mels": 128,
    "n_mfcc": 40,
    "fmin": 0.0,
    "fmax": None,
    "mel_to_db": True,
    "ref": 1.0,
    "amin": 1e-10,
    "top_db": 80.0,
    "n_chroma": 12,
    "tuning": None,
    "chroma_norm": np.inf,
    "contrast_fmin": 200.0,
    "n_bands": 6,
    "quantile": 0.02,
    "lifter": 0.0,
}


def _check_features(features):
    if isinstance(features, str):
        features = (features,)
    features = tuple(features)
    if not features:
        raise ValueError(f"features must name at least one of {FEATURES}; got ().")
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"Unknown feature(s) {unknown}; choose from {FEATURES}.")
    if len(set(features)) != len(features):
        raise ValueError(f"features contains duplicates: {features}.")
    return features


def _check_stats(stats):
    if stats is None:
        return None
    if isinstance(stats, str):
        stats = (stats,)
    stats = tuple(stats)
    unknown = [s for s in stats if s not in STATS]
    if not stats or unknown:
        raise ValueError(f"stats must be a non-empty tuple of {STATS}; got {stats!r}.")
    return stats


def _params(overrides):
    unknown = sorted(set(overrides) - set(_DEFAULTS))
    if unknown:
        raise TypeError(
            f"compute_features() got unknown parameter(s) {unknown}; "
            f"valid ones are {sorted(_DEFAULTS)}."
        )
    p = {**_DEFAULTS, **overrides}
    for name in ("n_fft", "hop_length", "n_mels", "n_mfcc", "n_chroma", "n_bands"):
        p[name] = _tb._check_int(p[name], name)
    _tb._check_db_params(p["amin"], p["top_db"])
    _tb._check_chroma_params(p["n_chroma"], p["tuning"], p["chroma_norm"])
    _tb._check_contrast_params(p["contrast_fmin"], p["n_bands"], p["quantile"])
    p["fmin"] = float(p["fmin"])
    p["fmax"] = None if p["fmax"] is None else float(p["fmax"])
    return p


def feature_sizes(features=FEATURES, **params):
    """Number of coefficients of each feature for the given parameters.

    Examples
    --------
    >>> from sersk.features._engine import feature_sizes
    >>> feature_sizes()
    {'mfcc': 40, 'chroma': 12, 'mel': 128, 'contrast': 7, 'zcr': 1, 'rms': 1}
    """
    features = _check_features(features)
    p = {**_DEFAULTS, **params}
    sizes = {
        "mfcc": p["n_mfcc"],
        "chroma": p["n_chroma"],
        "mel": p["n_mels"],
        "contrast": p["n_bands"] + 1,
        "zcr": 1,
        "rms": 1,
    }
    return {f: int(sizes[f]) for f in features}


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------
def _pool_t(F, stats):
    """(batch, c, t) tensor -> (batch, c * n_stats) float32, stat-major."""
    torch = _tb._torch()
    out = []
    Fd = None
    for s in stats:
        if s == "mean":
            out.append(F.mean(-1))
        elif s == "std":
            out.append(F.double().std(-1, correction=0).float())
        elif s == "min":
            out.append(F.amin(-1))
        elif s == "max":
            out.append(F.amax(-1))
        elif s == "median":
            # numpy's median averages the two middle values for even lengths
            srt = F.sort(-1)[0]
            n = F.shape[-1]
            out.append(0.5 * (srt[..., (n - 1) // 2] + srt[..., n // 2]))
        else:
            if Fd is None:
                Fd = F.double()
                mu = Fd.mean(-1, keepdim=True)
                c = Fd - mu
                m2 = c.square().mean(-1)
                # constant up to float32 rounding (same rule as TimePooling)
                res = float(np.finfo(np.float32).resolution)
                ok = m2 > (res * mu[..., 0].abs()).square()
                m2s = torch.where(ok, m2, torch.ones_like(m2))
            if s == "skew":
                v = c.pow(3).mean(-1) / m2s.pow(1.5)
            else:  # kurtosis (Fisher, biased, as scipy.stats.kurtosis)
                v = c.pow(4).mean(-1) / m2s.square() - 3.0
            out.append(torch.where(ok, v, torch.zeros_like(v)).float())
    return torch.cat(out, dim=-1)


def pool_frames(F, stats=("mean", "std")):
    """Pool frame-level features over time: (n_clips, c, t) -> (n_clips, c * n_stats).

    The columns are stat-major: all coefficients' first statistic, then all
    coefficients' second statistic, and so on. ``std`` is the population
    standard deviation (``ddof=0``), ``skew``/``kurtosis`` the biased
    estimators of :mod:`scipy.stats` (Fisher kurtosis); constant rows give 0,
    not NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features._engine import pool_frames
    >>> F = np.array([[[1.0, 3.0], [2.0, 2.0]]], dtype=np.float32)
    >>> pool_frames(F, ("mean", "std", "skew"))
    array([[2., 2., 1., 0., 0., 0.]], dtype=float32)
    """
    torch = _tb._torch()
    stats = _check_stats(stats)
    F = np.ascontiguousarray(F, dtype=np.float32)
    if F.ndim != 3:
        raise ValueError(
            f"F must have shape (n_clips, n_coeffs, n_frames); got shape {F.shape}."
        )
    with torch.inference_mode():
        return _pool_t(torch.from_numpy(F), stats).numpy()


# ---------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------
def _compute_chunk_t(x, sr, features, p):
    """Dict of (batch, c, t) tensors for one chunk (a float32 tensor of waveforms)."""
    out = {}
    spectral = {"mfcc", "chroma", "mel", "contrast"} & set(features)
    if spectral:
        P = _tb._stft_power_t(x, p["n_fft"], p["hop_length"])
        if "mel" in features or "mfcc" in features:
            M = _tb._mel_t(P, sr, p["n_fft"], p["n_mels"], p["fmin"], p["fmax"])
            M_db = None
            if "mfcc" in features or p["mel_to_db"]:
                M_db = _tb._power_to_db_t(M, p["ref"], p["amin"], p["top_db"])
            if "mel" in features:
                out["mel"] = M_db if p["mel_to_db"] else M
            if "mfcc" in features:
                if p["mel_to_db"] and (p["ref"], p["amin"], p["top_db"]) != (
                    1.0,
                    1e-10,
                    80.0,
                ):
                    # librosa.feature.mfcc always uses power_to_db's defaults
                    M_db = _tb._power_to_db_t(M)
                out["mfcc"] = _tb._mfcc_from_db_t(M_db, p["n_mfcc"], p["lifter"])
        if "chroma" in features:
            out["chroma"] = _tb._chroma_from_power_t(
                P, sr, p["n_fft"], p["n_chroma"], p["tuning"], p["chroma_norm"]
            )
        if "contrast" in features:
            out["contrast"] = _tb._contrast_from_mag_t(
                P.sqrt(),
                sr,
                p["n_fft"],
                p["contrast_fmin"],
                p["n_bands"],
                p["quantile"],
                False,
            )
    if "zcr" in features:
        out["zcr"] = _tb._zcr_t(x, p["n_fft"], p["hop_length"])
    if "rms" in features:
        out["rms"] = _tb._rms_t(x, p["n_fft"], p["hop_length"])
    return {f: out[f] for f in features}


def _compute_block(X, sr, features, stats, device, chunk_size, p, limit_threads):
    """Compute one block of equal-length clips in the current process."""
    torch = _tb._torch()
    limiter = None
    n_threads = torch.get_num_threads()
    if limit_threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(1)
        limiter = threadpool_limits(limits=1)
    try:
        n_clips, n_samples = X.shape
        n_frames = _tb._n_frames(n_samples, p["n_fft"], p["hop_length"], True)
        sizes = feature_sizes(features, **p)
        n_stats = len(stats) if stats else None
        res = {
            f: np.empty(
                (n_clips, sizes[f] * n_stats)
                if stats
                else (n_clips, sizes[f], n_frames),
                dtype=np.float32,
            )
            for f in features
        }
        chunk = _tb._auto_chunk(chunk_size, p["n_fft"], n_frames)
        with _tb._compute_context(device):
            for sl in _tb._chunks(n_clips, chunk):
                x = _tb._to_tensor(X[sl], device)
                for f, v in _compute_chunk_t(x, sr, features, p).items():
                    if stats:
                        v = _pool_t(v, stats)
                    res[f][sl] = v.cpu().numpy()
        return res
    finally:
        if limiter is not None:
            limiter.unregister()
            torch.set_num_threads(n_threads)


def _as_list_of_clips(X):
    """Object array / list of 1-D waveforms -> list of float32 arrays, or None if 2-D numeric."""
    if isinstance(X, np.ndarray) and X.dtype != object:
        return None
    if isinstance(X, (list, tuple)) or (
        isinstance(X, np.ndarray) and X.dtype == object
    ):
        clips = [np.asarray(c) for c in X]
        if clips and all(c.ndim == 1 for c in clips):
            if len({c.shape[0] for c in clips}) == 1 and not (
                isinstance(X, np.ndarray) and X.dtype == object
            ):
                return None
            return clips
    return None


def compute_features(
    X,
    sr=16000,
    *,
    features=FEATURES,
    stats=None,
    device="auto",
    chunk_size=None,
    n_jobs=None,
    **params,
):
    """Compute several classic features of a batch from one shared STFT.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_samples), or object array of 1-D waveforms
        Waveforms. Variable-length clips (``AudioLoader(duration=None)``) are
        grouped by length; their frame-level outputs are object arrays of
        per-clip ``(n_coeffs, n_frames_i)`` arrays.
    sr : int, default=16000
        Sampling rate.
    features : tuple of str, default=("mfcc", "chroma", "mel", "contrast", "zcr", "rms")
        Which features to compute (any subset of :data:`FEATURES`, in any order).
    stats : tuple of str or None, default=None
        If given (e.g. ``("mean", "std")``), pool each feature over time chunk
        by chunk (see :func:`pool_frames`) and return 2-D arrays.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to compute (``"auto"``: CUDA when available).
    chunk_size : int or None, default=None
        Clips per chunk; ``None`` keeps each chunk's complex STFT near 8 MiB.
    n_jobs : int or None, default=None
        Worker processes (joblib); see the module notes on when this helps.
    **params
        Feature parameters, with their defaults: ``n_fft=2048``,
        ``hop_length=512`` (also the ZCR/RMS frame length and hop), ``n_mels=128``,
        ``n_mfcc=40``, ``fmin=0.0``, ``fmax=None``, ``mel_to_db=True``,
        ``ref=1.0``, ``amin=1e-10``, ``top_db=80.0`` (dB per clip),
        ``lifter=0.0``, ``n_chroma=12``, ``tuning=None`` (per-clip estimate as
        librosa; a float fixes it), ``chroma_norm=np.inf``,
        ``contrast_fmin=200.0``, ``n_bands=6``, ``quantile=0.02``.

    Returns
    -------
    features : dict of str to ndarray
        ``name -> (n_clips, n_coeffs, n_frames)`` float32 arrays, or
        ``name -> (n_clips, n_coeffs * n_stats)`` when ``stats`` is given.

    Notes
    -----
    Each feature equals the per-clip librosa call:
    ``mfcc``: ``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_mels=n_mels, ...)``;
    ``chroma``: ``librosa.feature.chroma_stft(y=y, sr=sr, ...)``;
    ``mel``: ``librosa.power_to_db(librosa.feature.melspectrogram(...))``
    (or the power mel with ``mel_to_db=False``);
    ``contrast``: ``librosa.feature.spectral_contrast(y=y, sr=sr, fmin=contrast_fmin, ...)``;
    ``zcr``: ``librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=...)``;
    ``rms``: ``librosa.feature.rms(y=y, frame_length=n_fft, hop_length=...)``.

    Examples
    --------
    >>> import numpy as np, librosa
    >>> from sersk.features._engine import compute_features
    >>> rng = np.random.default_rng(0)
    >>> X = (np.sin(np.arange(8000) / 4.0) + 0.1 * rng.normal(size=(2, 8000))).astype(np.float32)
    >>> F = compute_features(X, 16000, n_fft=512, hop_length=256, n_mfcc=13, n_mels=40, device="cpu")
    >>> {k: v.shape for k, v in F.items()}
    {'mfcc': (2, 13, 32), 'chroma': (2, 12, 32), 'mel': (2, 40, 32), 'contrast': (2, 7, 32), 'zcr': (2, 1, 32), 'rms': (2, 1, 32)}
    >>> ref = librosa.feature.mfcc(y=X[1], sr=16000, n_fft=512, hop_length=256, n_mfcc=13, n_mels=40)
    >>> float(np.abs(F["mfcc"][1] - ref).max()) < 2e-3
    True
    >>> pooled = compute_features(X, 16000, features=("mfcc", "rms"), stats=("mean", "std"),
    ...                           n_fft=512, hop_length=256, n_mfcc=13, n_mels=40, device="cpu")
    >>> {k: v.shape for k, v in pooled.items()}
    {'mfcc': (2, 26), 'rms': (2, 2)}
    """
    features = _check_features(features)
    stats = _check_stats(stats)
    p = _params(params)
    if "mfcc" in features:
        _tb.dct_matrix(p["n_mfcc"], p["n_mels"])  # validates n_mfcc <= n_mels
    if not isinstance(sr, numbers.Real) or isinstance(sr, bool) or not sr > 0:
        raise ValueError(f"sr must be a positive number; got {sr!r}.")
    device = _tb.resolve_device(device)

    clips = _as_list_of_clips(X)
    if clips is not None:
        return _compute_variable(
            clips, sr, features, stats, device, chunk_size, n_jobs, p
        )

    X = _tb._check_waveforms(X)
    return _compute_parallel(X, sr, features, stats, device, chunk_size, n_jobs, p)


def _compute_parallel(X, sr, features, stats, device, chunk_size, n_jobs, p):
    from joblib import effective_n_jobs

    n_workers = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    n_workers = min(n_workers, X.shape[0])
    if n_workers <= 1 or device.startswith("cuda"):
        return _compute_block(X, sr, features, stats, device, chunk_size, p, False)
    from joblib import Parallel, delayed

    blocks = np.array_split(np.arange(X.shape[0]), n_workers)
    parts = Parallel(n_jobs=n_workers)(
        delayed(_compute_block)(X[b], sr, features, stats, device, chunk_size, p, True)
        for b in blocks
    )
    return {f: np.concatenate([part[f] for part in parts]) for f in features}


def _compute_groups(groups, sr, features, stats, device, chunk_size, p, limit_threads):
    """Compute several equal-length blocks (one per clip length)."""
    return [
        _compute_block(block, sr, features, stats, device, chunk_size, p, limit_threads)
        for block in groups
    ]


def _compute_variable(clips, sr, features, stats, device, chunk_size, n_jobs, p):
    """Variable-length clips: one batch per distinct length (same values as per clip)."""
    from joblib import Parallel, delayed, effective_n_jobs

    clips = [_tb._check_waveforms(c, name=f"X[{i}]")[0] for i, c in enumerate(clips)]
    lengths = np.array([c.shape[0] for c in clips])
    index = [np.flatnonzero(lengths == n) for n in np.unique(lengths)]
    groups = [np.stack([clips[i] for i in idx]) for idx in index]
    n_workers = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    n_workers = min(n_workers, len(groups))
    if n_workers <= 1 or device.startswith("cuda"):
        parts = _compute_groups(
            groups, sr, features, stats, device, chunk_size, p, False
        )
    else:
        # whole length groups per worker, round-robin
        shares = [list(range(w, len(groups), n_workers)) for w in range(n_workers)]
        done = Parallel(n_jobs=n_workers)(
            delayed(_compute_groups)(
                [groups[g] for g in share],
                sr,
                features,
                stats,
                device,
                chunk_size,
                p,
                True,
            )
            for share in shares
        )
        parts = [None] * len(groups)
        for share, results in zip(shares, done, strict=True):
            for g, r in zip(share, results, strict=True):
                parts[g] = r
    if stats:
        sizes = feature_sizes(features, **p)
        res = {
            f: np.empty((len(clips), sizes[f] * len(stats)), np.float32)
            for f in features
        }
    else:
        res = {f: np.empty(len(clips), dtype=object) for f in features}
    for idx, part in zip(index, parts, strict=True):
        for f in features:
            if stats:
                res[f][idx] = part[f]
            else:
                for j, i in enumerate(idx):
                    res[f][i] = part[f][j]
    return res


def extract_from_files(
    paths,
    sr=16000,
    *,
    duration=None,
    features=("mel",),
    stats=None,
    device="auto",
    chunk_size=64,
    **params,
):
    """Stream audio files into features, ``chunk_size`` files at a time.

    Only one chunk of waveforms is ever in memory: peak memory is the output
    plus one chunk of audio and its spectrograms (measured by
    ``benchmarks/bench_feature_engine.py``).

    Parameters
    ----------
    paths : sequence of str or PathLike
        Audio files (read with :func:`sersk.io.load_audio` at ``sr``).
    sr : int, default=16000
    duration : float or None, default=None
        Pad with zeros at the end or trim each clip to ``round(sr * duration)``
        samples; required unless all files have the same length.
    features, stats, device, **params
        As in :func:`compute_features`.
    chunk_size : int, default=64
        Files per chunk.

    Returns
    -------
    features : dict of str to ndarray
        As :func:`compute_features`.
    """
    from sersk.io import load_audio

    paths = list(paths)
    if not paths:
        raise ValueError("paths is empty; give at least one audio file.")
    chunk_size = _tb._check_int(chunk_size, "chunk_size")
    target = None if duration is None else int(round(sr * float(duration)))
    res = None
    expected_len = None
    for start in range(0, len(paths), chunk_size):
        waves = []
        for path in paths[start : start + chunk_size]:
            y = np.asarray(load_audio(path, sr=sr)[0], dtype=np.float32)
            if target is not None:
                y = (
                    y[:target]
                    if y.shape[0] >= target
                    else np.pad(y, (0, target - y.shape[0]))
                )
            if expected_len is None:
                expected_len = y.shape[0]
            elif y.shape[0] != expected_len:
                raise ValueError(
                    f"{path} has {y.shape[0]} samples but earlier files have {expected_len}; "
                    "pass duration=... (seconds) to pad or trim every clip to the same length."
                )
            waves.append(y)
        block = np.stack(waves)
        del waves
        part = compute_features(
            block,
            sr,
            features=features,
            stats=stats,
            device=device,
            **params,
        )
        if res is None:
            res = {
                f: np.empty((len(paths),) + v.shape[1:], dtype=np.float32)
                for f, v in part.items()
            }
        for f, v in part.items():
            res[f][start : start + v.shape[0]] = v
        del block, part
    return res
