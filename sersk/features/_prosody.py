"""Prosody: frame-level F0, voicing, jitter, shimmer, HNR and loudness.

Written for sersk (BSD licence) from the published methods, in numpy:

- **F0**: YIN (de Cheveigné & Kawahara, 2002), the cumulative mean normalised
  difference function of each frame computed from one real FFT per frame,
  first trough below 0.1 (else the global minimum) between ``sr / fmax`` and
  ``sr / fmin``, refined by parabolic interpolation;
- **voicing** and **HNR**: the normalised cross-correlation of the frame with
  itself one period later, the periodicity strength ``r`` of Boersma (1993),
  maximised around the YIN period with windowed-sinc interpolation of the
  correlation; ``HNR = 10 log10(r / (1 - r))``;
- **jitter** and **shimmer**: glottal pulses marked in each voiced frame by
  peak picking, one period after another (the search window of each pulse is
  0.8 to 1.2 periods after the previous one; sub-sample position and peak
  amplitude by windowed-sinc interpolation), then Praat's "local" definitions
  with its period factor 1.3 and amplitude factor 1.6;
- **loudness**: the frame's energy in dB relative to full scale.

The chunk loop and input handling are :mod:`sersk.features._compute`'s; every
clip is computed on its own (the silence gate is relative to the clip's own
loudest frame), so batching never changes a value.
"""

from __future__ import annotations

import math

import numpy as np

from ..utils._sklearn_compat import Integral, Interval, Real
from ._compute import _FrameFeature

__all__ = ["Prosody"]

#: YIN's absolute threshold on the normalised difference (de Cheveigné & Kawahara use 0.1)
_YIN_THRESHOLD = 0.1
#: half width (in lags) of the windowed-sinc interpolation of the correlation
_SINC_HALF = 8
#: points of the grid searched (then a parabola) around the YIN period for ``r``
_R_POINTS = 11
#: points of the grid searched (then a parabola) around a pulse's best sample
_PEAK_POINTS = 6
#: Praat's maximum period factor (jitter) and amplitude factor (shimmer)
_PERIOD_FACTOR = 1.3
_AMPLITUDE_FACTOR = 1.6
#: ``r`` is capped below 1 so that HNR stays finite: at most 40 dB
_R_MAX = 0.9999
#: frames analysed at once (about 8 MiB of float64 frames at frame_length=1024)
_BLOCK = 1024

_NAMES = ["f0", "voicing", "jitter", "shimmer", "hnr", "loudness"]


def _lag_range(sr, fmin, fmax):
    """Shortest and longest period searched, in samples."""
    return max(2, int(math.floor(sr / fmax))), int(math.ceil(sr / fmin))


def _min_frame_length(sr, fmin, fmax):
    """Frame length needed so that the correlation window covers ``sr / fmin``."""
    _, tau_max = _lag_range(sr, fmin, fmax)
    return 2 * tau_max + _SINC_HALF + 2


def _framer(x, frame_length, hop_length):
    """Centred, zero-padded frames of ``x`` ``(b, n)``, read in blocks.

    Returns ``(n_frames, get)``: ``get(i)`` copies the frames of flat indices
    ``i`` (clip-major) as a float64 array ``(len(i), frame_length)``, so that
    long clips never hold every overlapping frame in memory at once.
    """
    pad = frame_length // 2
    y = np.pad(np.asarray(x, dtype=np.float32), ((0, 0), (pad, pad)))
    view = np.lib.stride_tricks.sliding_window_view(y, frame_length, axis=-1)
    view = view[:, ::hop_length]
    t = view.shape[1]

    def get(i):
        return view[i // t, i % t].astype(np.float64)

    return t, get


def _pitch(frames, sr, fmin, fmax):
    """YIN period and periodicity strength of frames ``(m, L)``.

    Returns ``(period, r)``: the period in samples (float) and the maximum of
    the normalised cross-correlation ``r`` within one sample of it.
    """
    m, L = frames.shape
    tau_min, tau_max = _lag_range(sr, fmin, fmax)
    n_lags = tau_max + _SINC_HALF + 2  # lags 0 .. n_lags - 1
    W = L - n_lags + 1  # correlation window: frames[:, :W] against later parts
    # c(tau) = sum_{j < W} y_j y_{j + tau}: the circular correlation of a
    # length-L FFT has no wrap-around for these lags
    head = np.zeros_like(frames)
    head[:, :W] = frames[:, :W]
    c = np.fft.irfft(np.conj(np.fft.rfft(head)) * np.fft.rfft(frames), n=L)[:, :n_lags]
    cs = np.zeros((m, L + 1))
    np.cumsum(np.square(frames), axis=1, out=cs[:, 1:])
    lags = np.arange(n_lags)
    e_lag = cs[:, lags + W] - cs[:, lags]  # energy of the window shifted by tau
    e0 = e_lag[:, :1]
    d = np.maximum(e0 + e_lag - 2.0 * c, 0.0)
    # cumulative mean normalised difference d'(tau) = d(tau) tau / sum_{k<=tau} d(k)
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = np.ones_like(d)
    np.divide(d[:, 1:] * lags[1:], cum, out=dn[:, 1:], where=cum > 0)
    # troughs in [tau_min, tau_max]: the first below the threshold, else the minimum
    seg = dn[:, tau_min : tau_max + 1]
    trough = np.zeros(seg.shape, dtype=bool)
    trough[:, 1:-1] = (seg[:, 1:-1] < seg[:, :-2]) & (seg[:, 1:-1] <= seg[:, 2:])
    below = trough & (seg < _YIN_THRESHOLD)
    has = below.any(axis=1)
    best = np.where(has, below.argmax(axis=1), seg.argmin(axis=1)) + tau_min
    rows = np.arange(m)
    left, mid, right = dn[rows, best - 1], dn[rows, best], dn[rows, best + 1]
    curv = left - 2.0 * mid + right
    shift = np.zeros(m)
    np.divide(0.5 * (left - right), curv, out=shift, where=curv > 0)
    period = best + np.clip(shift, -0.5, 0.5)
    r = _max_ncc(c, e_lag, period, tau_min, n_lags)
    return period, r


def _sinc(seq, T):
    """``seq`` ``(m, n)`` at fractional positions ``T`` ``(m, g)``: windowed-sinc interpolation.

    Taps beyond the start mirror at 0 (the correlation is nearly even in the
    lag), taps beyond the end repeat the last sample.
    """
    base = np.floor(T).astype(np.int64)
    offs = np.arange(-_SINC_HALF + 1, _SINC_HALF + 1)
    taps = base[..., None] + offs  # (m, g, 2 * _SINC_HALF)
    dist = T[..., None] - taps
    kernel = np.sinc(dist) * (0.5 + 0.5 * np.cos(np.pi * dist / _SINC_HALF))
    taps = np.minimum(np.abs(taps), seq.shape[1] - 1)
    rows = np.arange(seq.shape[0])[:, None, None]
    return np.sum(seq[rows, taps] * kernel, axis=-1)


def _refine_max(seq, centre, half, n):
    """Maximum of the sinc-interpolated ``seq`` within ``centre +- half``.

    Evaluates ``n`` evenly spaced points, then a parabola through the best
    one and its neighbours. Returns ``(position, value)``, each ``(m,)``.
    """
    step = 2.0 * half / (n - 1)
    T = centre[:, None] + np.linspace(-half, half, n)[None, :]
    v = _sinc(seq, T)
    k = np.clip(v.argmax(axis=1), 1, n - 2)
    rows = np.arange(seq.shape[0])
    a, b, c = v[rows, k - 1], v[rows, k], v[rows, k + 1]
    curv = a - 2.0 * b + c
    shift = np.zeros_like(b)
    np.divide(0.5 * (a - c), curv, out=shift, where=curv < 0)
    shift = np.clip(shift, -1.0, 1.0)
    return T[rows, k] + shift * step, b - 0.25 * (a - c) * shift


def _max_ncc(c, e_lag, period, tau_min, n_lags):
    """Max over ``period +- 1`` of ``c(T) / sqrt(e(0) e(T))`` (sinc-interpolated ``c``)."""
    # the energies vary slowly with the lag: maximise c(T) / sqrt(e(T)) by
    # maximising c on the grid, then normalise at the maximum
    centre = np.clip(period, tau_min + 1, n_lags - _SINC_HALF - 3)
    T, cT = _refine_max(c, centre, 1.0, _R_POINTS)
    base = np.floor(T).astype(np.int64)
    frac = T - base
    rows = np.arange(c.shape[0])
    eT = (1 - frac) * e_lag[rows, base] + frac * e_lag[rows, base + 1]
    denom = np.sqrt(e_lag[:, 0] * eT)
    r = np.zeros_like(cT)
    np.divide(cT, denom, out=r, where=denom > 0)
    return r


def _pulses(frames, period):
    """Glottal pulses of frames ``(m, L)`` with known periods ``(m,)``.

    Returns ``(pos, amp)`` of shape ``(m, k)``, positions (samples, sorted)
    and peak amplitudes of each frame's pulses, NaN where a frame has fewer.
    Peaks are picked on the polarity of the frame's largest excursion.
    """
    m, L = frames.shape
    if m == 0:
        return np.empty((0, 0)), np.empty((0, 0))
    sign = np.where(frames.max(axis=1) >= -frames.min(axis=1), 1.0, -1.0)
    z = frames * sign[:, None]
    rows = np.arange(m)

    def peak(lo, hi, active):
        # argmax of z[lo..hi] per row (hi >= lo), refined by a parabola
        lo = np.clip(lo, 1, L - 2)
        hi = np.clip(hi, 1, L - 2)
        ok = active & (hi >= lo)
        width = int(max(1, (hi - lo)[ok].max() + 1)) if ok.any() else 1
        idx = lo[:, None] + np.arange(width)[None, :]
        inside = idx <= hi[:, None]
        vals = np.where(inside, z[rows[:, None], np.minimum(idx, L - 2)], -np.inf)
        k = lo + vals.argmax(axis=1)
        # the band-limited peak within half a sample of the best sample
        pos, amp = _refine_max(z, k.astype(np.float64), 0.5, _PEAK_POINTS)
        ok &= amp > 0
        return np.where(ok, pos, np.nan), np.where(ok, amp, np.nan), ok

    centre = L // 2
    half = np.ceil(period / 2).astype(np.int64)
    p0, a0, ok0 = peak(centre - half, centre + half, np.ones(m, dtype=bool))
    chains = {1: ([], []), -1: ([], [])}
    for direction in (1, -1):
        p, active = p0, ok0.copy()
        while active.any():
            start = np.where(active, p, centre) + direction * 0.8 * period
            stop = np.where(active, p, centre) + direction * 1.2 * period
            lo = np.ceil(np.minimum(start, stop)).astype(np.int64)
            hi = np.floor(np.maximum(start, stop)).astype(np.int64)
            # a window cut by the frame edge would bias the position: stop there
            active &= (lo >= 1) & (hi <= L - 2)
            if not active.any():
                break
            p, a, active = peak(lo, hi, active)
            chains[direction][0].append(p)
            chains[direction][1].append(a)
    pos = chains[-1][0][::-1] + [p0] + chains[1][0]
    amp = chains[-1][1][::-1] + [a0] + chains[1][1]
    return np.stack(pos, axis=1), np.stack(amp, axis=1)


def _local_perturbation(values, factor):
    """Praat's "local" perturbation of consecutive values ``(m, k)`` (NaN: missing).

    Mean absolute difference of consecutive values whose ratio is at most
    ``factor``, divided by the mean of the values taking part; 0 without any
    such pair.
    """
    if values.shape[1] < 2:
        return np.zeros(values.shape[0])
    a, b = values[:, :-1], values[:, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        pair = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
        pair &= np.where(pair, np.maximum(a, b) <= factor * np.minimum(a, b), False)
    diff = np.where(pair, np.abs(b - a), 0.0).sum(axis=1)
    used = np.zeros(values.shape, dtype=bool)
    used[:, :-1] |= pair
    used[:, 1:] |= pair
    total = np.where(used, values, 0.0).sum(axis=1)
    n_pairs, n_used = pair.sum(axis=1), used.sum(axis=1)
    out = np.zeros(values.shape[0])
    ok = (n_pairs > 0) & (total > 0)
    out[ok] = (diff[ok] / n_pairs[ok]) / (total[ok] / n_used[ok])
    return out


def prosody_frames(x, sr, frame_length, hop_length, fmin, fmax, threshold, silence):
    """Prosodic descriptors of waveforms ``x`` ``(b, n)``: ``(b, 6, 1 + n // hop)``.

    The kernel of :class:`Prosody` (parameters already validated); rows are
    ``f0, voicing, jitter, shimmer, hnr, loudness``.
    """
    t, get = _framer(x, frame_length, hop_length)
    m = x.shape[0] * t
    energy = np.empty(m)
    for start in range(0, m, _BLOCK):
        block = get(np.arange(start, min(m, start + _BLOCK)))
        energy[start : start + _BLOCK] = np.mean(np.square(block), axis=1)
    loud = 10.0 * np.log10(np.maximum(energy, 1e-10))
    gate = energy > 1e-10
    if silence is not None:
        clip_max = loud.reshape(-1, t).max(axis=1, keepdims=True)
        gate &= (loud.reshape(-1, t) >= clip_max - silence).reshape(-1)
    out = np.zeros((m, len(_NAMES)))
    out[:, 5] = loud
    gated = np.flatnonzero(gate)
    for start in range(0, gated.size, _BLOCK):
        idx = gated[start : start + _BLOCK]
        frames = get(idx)
        period, r = _pitch(frames, sr, fmin, fmax)
        r = np.clip(r, 0.0, 1.0)
        out[idx, 1] = r
        voiced = r >= threshold
        if not voiced.any():
            continue
        v, period, r = idx[voiced], period[voiced], r[voiced]
        out[v, 0] = sr / period
        rc = np.clip(r, 1e-6, _R_MAX)
        out[v, 4] = 10.0 * np.log10(rc / (1.0 - rc))
        pos, amp = _pulses(frames[voiced], period)
        out[v, 2] = _local_perturbation(np.diff(pos, axis=1), _PERIOD_FACTOR)
        out[v, 3] = _local_perturbation(amp, _AMPLITUDE_FACTOR)
    return out.reshape(-1, t, len(_NAMES)).transpose(0, 2, 1).astype(np.float32)


class Prosody(_FrameFeature):
    """Frame-level prosody: F0, voicing, jitter, shimmer, HNR and loudness.

    Six rows per frame, computed in numpy for the whole batch (sersk's own
    implementation of published methods, BSD licence):

    ========  ==================================================================
    row       meaning
    ========  ==================================================================
    f0        fundamental frequency in Hz (YIN); **0 in unvoiced frames**
    voicing   periodicity strength in [0, 1]: the normalised cross-correlation
              ``r`` of the frame with itself one period later (0 in silence)
    jitter    local jitter (fraction, 0.01 = 1 %): mean absolute difference
              of consecutive glottal periods / mean period; 0 when unvoiced
    shimmer   local shimmer (fraction): mean absolute difference of
              consecutive pulse peak amplitudes / mean amplitude; 0 when unvoiced
    hnr       harmonics-to-noise ratio in dB, ``10 log10(r / (1 - r))``
              (at most 40 dB); 0 when unvoiced
    loudness  frame energy in dB relative to full scale,
              ``10 log10(mean(y ** 2))``, floored at -100 dB (not weighted by
              frequency: a level, not a perceptual loudness)
    ========  ==================================================================

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms (file paths are resampled to it).
    frame_length : int, default=1024
        Samples per analysis frame. The correlation window must hold two of
        the longest periods: at least ``2 * ceil(sr / fmin) + 10`` samples
        (544 at 16 kHz and ``fmin=60``; use 2048 at 44.1 kHz).
    hop_length : int, default=512
        Samples between (centred, zero-padded) frames: a clip of ``n``
        samples gives ``1 + n // hop_length`` frames, aligned with the other
        feature transformers at the same hop.
    fmin : float, default=60.0
        Lowest F0 searched, in Hz.
    fmax : float, default=500.0
        Highest F0 searched, in Hz (at most ``sr / 2``).
    voicing_threshold : float, default=0.45
        A frame is voiced when its ``voicing`` reaches this value (Praat's
        default voicing threshold is also 0.45).
    silence_db : float or None, default=40.0
        Frames quieter than ``silence_db`` below the clip's loudest frame
        are unvoiced (and get ``voicing=0``); frames of digital silence
        always are. ``None`` applies only the latter.
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        thread; ``None`` computes in this process.

    See Also
    --------
    TimePooling : Pool the frames into one vector per clip.
    RMS : Linear RMS energy per frame.

    Notes
    -----
    The output is float32 of shape ``(n_clips, 6, n_frames)`` and never holds
    NaN: unvoiced frames carry 0 in ``f0``, ``jitter``, ``shimmer`` and
    ``hnr``, so ``voicing >= voicing_threshold`` (equivalently ``f0 > 0``)
    tells the voiced frames apart. Statistics over all frames
    (:class:`TimePooling`) mix those zeros with the voiced values: the mean of
    ``f0`` over a clip is then its voiced mean times the voiced fraction.
    Pool the voiced frames alone for speaker-level prosody (the user guide
    shows how). Clips shorter than a frame are zero-padded, as by the other
    transformers, and give ``1 + n // hop_length`` frames.

    Jitter and shimmer are measured on the pulses of each voiced frame
    (``frame_length`` samples, about 9 periods of a 140 Hz voice at 16 kHz);
    pairs of consecutive periods differing by more than a factor 1.3, and of
    amplitudes by more than 1.6, are left out, as in Praat. Pulses are found
    by peak picking, which is exact for clean voices; on strongly ringing or
    noisy voices it can overestimate jitter, and values are comparable within
    sersk rather than to Praat's to the decimal.

    YIN and the correlation share one FFT per frame, and frames are analysed
    in blocks, so memory stays flat for long clips (speed: the prosody page
    of the user guide).

    References
    ----------
    A. de Cheveigné and H. Kawahara, "YIN, a fundamental frequency estimator
    for speech and music", JASA 111(4), 2002.
    P. Boersma, "Accurate short-term analysis of the fundamental frequency and
    the harmonics-to-noise ratio of a sampled sound", IFA Proceedings 17, 1993.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import Prosody
    >>> t = np.arange(16000) / 16000
    >>> tone = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 6))
    >>> P = Prosody().fit_transform(0.1 * tone[np.newaxis])
    >>> P.shape  # six rows, 1 + 16000 // 512 frames
    (1, 6, 32)
    >>> Prosody().get_feature_names_out().tolist()
    ['f0', 'voicing', 'jitter', 'shimmer', 'hnr', 'loudness']
    >>> round(float(np.median(P[0, 0])), 1)  # F0 in Hz
    150.0
    """

    _auto_backend = "librosa"  # numpy only: the backend resolver never picks torch

    _parameter_constraints: dict = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "frame_length": [Interval(Integral, 1, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="neither")],
        "fmax": [Interval(Real, 0, None, closed="neither")],
        "voicing_threshold": [Interval(Real, 0, 1, closed="both")],
        "silence_db": [Interval(Real, 0, None, closed="left"), None],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        sr=16000,
        *,
        frame_length=1024,
        hop_length=512,
        fmin=60.0,
        fmax=500.0,
        voicing_threshold=0.45,
        silence_db=40.0,
        n_jobs=None,
    ):
        self.sr = sr
        self.frame_length = frame_length
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.voicing_threshold = voicing_threshold
        self.silence_db = silence_db
        self.n_jobs = n_jobs

    def _check_params(self):
        if self.fmin >= self.fmax:
            raise ValueError(
                f"Prosody needs fmin < fmax; got fmin={self.fmin} and "
                f"fmax={self.fmax} Hz. Lower fmin or raise fmax."
            )
        self._check_nyquist("fmax")
        need = _min_frame_length(self.sr, self.fmin, self.fmax)
        if self.frame_length < need:
            raise ValueError(
                f"The 'frame_length' parameter of Prosody is {self.frame_length}, too "
                f"short to measure periods down to fmin={self.fmin} Hz at "
                f"sr={self.sr}: it needs at least 2 * ceil(sr / fmin) + "
                f"{_SINC_HALF + 2} = {need} samples. Raise frame_length (e.g. "
                f"{1 << (need - 1).bit_length()}) or fmin."
            )
        super()._check_params()

    def _frame_length(self):
        return self.frame_length

    def _coef_names(self):
        return list(_NAMES)

    def _frames(self, K, x):
        return prosody_frames(
            K.to_numpy(x),
            int(self.sr),
            int(self.frame_length),
            int(self.hop_length),
            float(self.fmin),
            float(self.fmax),
            float(self.voicing_threshold),
            None if self.silence_db is None else float(self.silence_db),
        )
