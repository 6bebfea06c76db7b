"""Feature math on numpy arrays: the librosa backend, and the cached tables of both.

Kernels take a batch whose first axis is the clip and never validate: the
transformers validate their parameters and input once, then compose these
functions (``sersk.features._torch_kernels`` has the same functions on torch
tensors). Every kernel equals the per-clip librosa call it names; in
particular dB conversion and its ``top_db`` floor are per clip, where librosa
on a batch would use the maximum of the whole batch.

The tables (window, mel / chroma / DCT filter banks, contrast bands) are built
once per parameter set and cached read-only; the torch kernels cache one
device copy of each.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np

name = "librosa"
device = None


def _readonly(a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    a.setflags(write=False)
    return a


# ---------------------------------------------------------------------------
# cached tables (shared by both backends)
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def mel_table(sr, n_fft, n_mels, fmin, fmax):
    """``librosa.filters.mel``, shape ``(n_mels, 1 + n_fft // 2)``."""
    import librosa

    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return _readonly(fb)


@functools.lru_cache(maxsize=256)
def chroma_table(sr, n_fft, n_chroma, tuning):
    """``librosa.filters.chroma``, shape ``(n_chroma, 1 + n_fft // 2)``."""
    import librosa

    fb = librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=n_chroma, tuning=tuning)
    return _readonly(fb)


@functools.lru_cache(maxsize=32)
def dct_table(n_mfcc, n_mels):
    """Rows of the orthonormal DCT-II: ``scipy.fft.dct(S, norm="ortho", axis=0)[:n_mfcc]``."""
    from scipy.fft import dct

    return _readonly(dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc])


@functools.lru_cache(maxsize=32)
def lifter_table(n_mfcc, lifter):
    """Diagonal matrix of librosa's cepstral liftering (applied after the DCT)."""
    li = 1 + (lifter / 2) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter)
    return _readonly(np.diag(li))


@functools.lru_cache(maxsize=16)
def window_table(n_fft):
    """Periodic Hann window (``scipy.signal.get_window("hann", n_fft)``)."""
    return _readonly(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft))


@functools.lru_cache(maxsize=32)
def contrast_bands(sr, n_fft, fmin, n_bands, quantile):
    """``(lo, hi, n_q)`` bin ranges of librosa's spectral-contrast octave bands.

    A band that ``n_fft`` cannot resolve (no frequency bin) is ``(0, 0, 1)``.
    """
    freq = np.arange(1 + n_fft // 2) * sr / n_fft
    edges = np.zeros(n_bands + 2)
    edges[1:] = fmin * 2.0 ** np.arange(0, n_bands + 1)
    bands = []
    for k, (f_low, f_high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        current = (freq >= f_low) & (freq <= f_high)
        idx = np.flatnonzero(current)
        if idx.size == 0:
            bands.append((0, 0, 1))
            continue
        if k > 0:
            current[idx[0] - 1] = True
        if k == n_bands:
            current[idx[-1] + 1 :] = True
        sel = np.flatnonzero(current)
        n_q = max(int(np.rint(quantile * sel.size)), 1)
        bands.append((int(sel[0]), int(sel[-1]) + (k == n_bands), n_q))
    return tuple(bands)


def n_frames(n_samples, frame_length, hop_length):
    """Frames of a centred framing: ``1 + n_samples // hop_length`` for even lengths."""
    return 1 + (n_samples + 2 * (frame_length // 2) - frame_length) // hop_length


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------
def context(dev):
    return contextlib.nullcontext()


def asarray(X):
    return X


def to_numpy(S):
    return S


def power_stft(x, n_fft, hop_length):
    """``|librosa.stft(x)|**2`` (centred, zero padding), shape (b, 1 + n_fft // 2, t)."""
    import librosa

    with warnings.catch_warnings():
        # short clips are zero-padded on purpose (documented by the transformers)
        warnings.filterwarnings("ignore", message=r"n_fft=.*is too large")
        D = librosa.stft(x, n_fft=n_fft, hop_length=hop_length, pad_mode="constant")
    P = np.square(D.real)
    P += np.square(D.imag)
    return P


def apply(table, S):
    """``table @ S`` for one table ``(k, f)``, or a list of one table per clip."""
    return np.matmul(np.stack(table) if isinstance(table, list) else table, S)


def power(S, exponent):
    return S if exponent == 1.0 else S**exponent


def concat(parts):
    """Join along the coefficient axis."""
    return np.concatenate(parts, axis=1)


def power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0):
    """``librosa.power_to_db`` per clip; ``ref="max"`` is each clip's maximum."""
    axes = tuple(range(1, S.ndim))
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    if ref == "max":
        log_spec -= 10.0 * np.log10(np.maximum(amin, S.max(axis=axes, keepdims=True)))
    else:
        log_spec -= 10.0 * np.log10(max(amin, abs(ref)))
    if top_db is not None:
        floor = log_spec.max(axis=axes, keepdims=True) - top_db
        log_spec = np.maximum(log_spec, floor)
    return log_spec


def normalize(S, norm):
    """``librosa.util.normalize`` of each frame (axis -2)."""
    import librosa

    return librosa.util.normalize(S, norm=norm, axis=-2)


def contrast(S, bands, linear):
    """Spectral contrast of magnitudes ``S`` (b, f, t): peak minus valley per band.

    Each band is sorted on a contiguous (b, t, f) copy; peaks and valleys are
    means of the ``n_q`` largest / smallest magnitudes, in float64.
    """
    ST = np.ascontiguousarray(S.transpose(0, 2, 1))
    valley = np.empty((S.shape[0], len(bands), S.shape[2]))
    peak = np.empty_like(valley)
    for k, (lo, hi, n_q) in enumerate(bands):
        srt = np.sort(ST[:, :, lo:hi], axis=-1)
        n_q = min(n_q, hi - lo)
        valley[:, k] = srt[..., :n_q].mean(-1)
        peak[:, k] = srt[..., -n_q:].mean(-1)
    if linear:
        return peak - valley
    return power_to_db(peak) - power_to_db(valley)


def delta(M, order):
    """``librosa.feature.delta`` over frames; short clips use the widest odd width."""
    import librosa

    n = M.shape[-1]
    width = min(9, n if n % 2 else n - 1)
    if width < 3:
        return np.zeros_like(M)
    return librosa.feature.delta(M, width=width, order=order, axis=-1)


def zcr(x, frame_length, hop_length):
    """``librosa.feature.zero_crossing_rate`` (edge padding), counted by cumulative sums."""
    pad = frame_length // 2
    y = np.pad(x, ((0, 0), (pad, pad)), mode="edge")
    sign = np.signbit(np.where(np.abs(y) <= 1e-10, 0.0, y))
    cum = np.zeros(y.shape, dtype=np.int64)
    np.cumsum(sign[:, 1:] != sign[:, :-1], axis=1, out=cum[:, 1:])
    starts = np.arange(n_frames(x.shape[1], frame_length, hop_length)) * hop_length
    counts = cum[:, starts + frame_length - 1] - cum[:, starts]
    return (counts / frame_length)[:, np.newaxis, :]


def rms(x, frame_length, hop_length):
    """``librosa.feature.rms(y=x)``: zero-padded frames, root mean square."""
    pad = frame_length // 2
    y = np.pad(x, ((0, 0), (pad, pad)))
    frames = np.lib.stride_tricks.sliding_window_view(y, frame_length, axis=-1)
    return np.sqrt(np.mean(np.square(frames[:, ::hop_length]), axis=-1))[:, None, :]


def pool(F, stats):
    """``(..., c, t)`` -> ``(..., c * len(stats))``, stat-major.

    Skewness and kurtosis are the biased estimators of scipy; rows constant up
    to float32 rounding give 0 for std, skew and kurtosis instead of NaN.
    """
    out, moments = [], None
    for stat in stats:
        if stat in ("mean", "std"):
            out.append(getattr(F, stat)(axis=-1, dtype=np.float64))
        elif stat in ("min", "max", "median"):
            out.append(getattr(np, stat)(F, axis=-1))
        else:
            if moments is None:
                moments = _moments(F)
            out.append(moments[stat])
    return np.concatenate(out, axis=-1).astype(np.float32)


def _moments(F):
    F = np.asarray(F, dtype=np.float64)
    mu = F.mean(axis=-1, keepdims=True)
    d = F - mu
    d2 = d * d
    m2 = d2.mean(axis=-1)
    constant = m2 <= (np.finfo(np.float32).resolution * np.abs(mu[..., 0])) ** 2
    safe = np.where(constant, 1.0, m2)
    skew = np.where(constant, 0.0, (d2 * d).mean(axis=-1) / safe**1.5)
    kurt = np.where(constant, 0.0, (d2 * d2).mean(axis=-1) / safe**2 - 3.0)
    return {"skew": skew, "kurtosis": kurt}


# ---------------------------------------------------------------------------
# chroma tuning (numpy in both backends: a sort/stencil job)
# ---------------------------------------------------------------------------
def estimate_tuning(P, sr, n_fft, bins_per_octave=12, resolution=0.01):
    """Per-clip ``librosa.estimate_tuning(S=P[i], sr=sr)`` of power spectrograms.

    ``piptrack`` runs vectorised on the batch over the bins of its 150-4000 Hz
    band, following librosa's arithmetic (float32 sums, float64 ratios), so
    each value equals the per-clip librosa estimate; the median threshold and
    the tuning histogram are per clip. Clips without pitched content give 0.0.
    """
    import librosa

    pitch, mag = _piptrack(np.ascontiguousarray(P, dtype=np.float32), sr, n_fft)
    out = np.zeros(P.shape[0])
    for i in range(P.shape[0]):
        voiced = pitch[i] > 0
        if not voiced.any():
            continue
        freqs = pitch[i][(mag[i] >= np.median(mag[i][voiced])) & voiced]
        if freqs.size:
            out[i] = librosa.pitch_tuning(
                freqs, resolution=resolution, bins_per_octave=bins_per_octave
            )
    return out


def _piptrack(S, sr, n_fft, fmin=150.0, fmax=4000.0, threshold=0.1):
    freqs = np.arange(S.shape[-2]) * float(sr) / n_fft
    fmax = min(fmax, float(sr) / 2)
    band = np.flatnonzero((fmin <= freqs) & (freqs < fmax))
    if band.size == 0:
        empty = np.zeros((S.shape[0], 0, S.shape[-1]), np.float32)
        return empty, empty
    lo, end = max(int(band[0]) - 1, 0), min(S.shape[-2], int(band[-1]) + 2)
    ref = np.float32(threshold) * S.max(axis=-2, keepdims=True)
    W = S[:, lo:end]
    xm, x0, xp = W[:, :-2], W[:, 1:-1], W[:, 2:]
    a = (xp + xm).astype(np.float64) - 2.0 * x0
    b = (xp - xm) / np.float64(2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a).astype(np.float32)
    Z = W * (W > ref)
    local_max = (Z[:, 1:-1] > Z[:, :-2]) & (Z[:, 1:-1] >= Z[:, 2:])
    # inner bins lo+1 .. end-2 never hold bin 0 nor the Nyquist bin, so
    # librosa's edge rules never apply
    idx = np.arange(lo + 1, end - 1)
    mask = local_max & ((fmin <= freqs[idx]) & (freqs[idx] < fmax))[None, :, None]
    pitch = np.where(mask, (idx[None, :, None] + shift) * float(sr) / n_fft, 0.0)
    mag = np.where(
        mask, x0 + np.float32(0.5) * ((xp - xm) / np.float32(2.0)) * shift, 0
    )
    return pitch.astype(np.float32), mag.astype(np.float32)
