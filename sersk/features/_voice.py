"""VoiceFunctionals: clip-level voice descriptors in the design of eGeMAPS.

Written for sersk (BSD licence) in numpy. The descriptors and functionals
follow the *design* of the extended Geneva Minimalistic Acoustic Parameter
Set (Eyben et al., 2016) -- pitch in semitones, loudness, jitter, shimmer,
HNR, formants, spectral balance, harmonic differences, rate of voiced
segments -- computed with sersk's own methods; it is not a reimplementation
of openSMILE, whose values differ.

F0, voicing, jitter, shimmer, HNR come from :class:`~sersk.features.Prosody`'s
kernel; the spectral descriptors from one short-time spectrum (25 ms
windows); the formants from linear prediction of the voiced frames (a
batched Levinson-Durbin recursion and the eigenvalues of stacked companion
matrices); H1-H2 and H1-A3 from a finer spectrum (64 ms windows) of the
voiced frames.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from ..utils._sklearn_compat import Integral, Interval, Real
from ._base import _StatelessTransformer
from ._compute import _Computed
from ._prosody import _min_frame_length, prosody_frames

__all__ = ["VoiceFunctionals"]

_EPS = 1e-12
#: LPC order at 16 kHz (scaled with the sampling rate, see ``_lpc_order``)
_LPC_ORDER_16K = 14
#: LPC resonances kept as formant candidates: frequency band and bandwidth (Hz)
_FORMANT_FMIN, _FORMANT_FMAX, _FORMANT_BWMAX = 90.0, 5000.0, 600.0
_PRE_EMPHASIS = 0.97
#: spectral window (25 ms) and harmonic window (64 ms, four times zero-padded)
_SPECTRAL_SECONDS = 0.025
_HARMONIC_SECONDS = 0.064
_HARMONIC_PAD = 4
#: loudness peaks: prominence as a fraction of the clip's loudness range
_PEAK_PROMINENCE = 0.1
_PERCENTILES = (20, 50, 80)
#: frames analysed at once (flat memory for long clips)
_BLOCK = 1024


def _names():
    names = []

    def pct(p):
        names.extend(f"{p}_{s}" for s in ("mean", "std", "p20", "p50", "p80", "range"))

    def slopes(p):
        names.extend(f"{p}_{d}_{s}" for d in ("rise", "fall") for s in ("mean", "std"))

    def stats(p):
        names.extend([f"{p}_mean", f"{p}_std"])

    pct("f0st")
    slopes("f0st")
    pct("loud")
    slopes("loud")
    for p in ("jitter", "shimmer", "hnr", "F1", "F2", "F3", "B1", "B2", "B3"):
        stats(p)
    for p in ("alpha", "hamm", "slope0_500", "slope500_1500", "flux"):
        stats(p + "_v")
        names.append(p + "_uv_mean")
    stats("h1h2")
    stats("h1a3")
    names += ["loud_peaks_rate", "voiced_rate", "vseg_mean", "vseg_std"]
    names += ["useg_mean", "useg_std", "voiced_frac", "leq"]
    return names


_NAMES = _names()


def _next_pow2(n):
    return 1 << max(0, int(n) - 1).bit_length()


def _lpc_order(sr):
    """14 poles at 16 kHz, in proportion to ``sr`` (at least 6, at most 40)."""
    return int(min(40, max(6, round(_LPC_ORDER_16K * sr / 16000))))


def _sizes(sr, fmin, fmax):
    """Window lengths of the analyses at ``sr``: a dict of sample counts."""
    n_spec = max(4, int(round(_SPECTRAL_SECONDS * sr)))
    n_harm = max(4, int(round(_HARMONIC_SECONDS * sr)))
    return {
        "spectral": n_spec,
        "spectral_fft": _next_pow2(n_spec),
        "harmonic": n_harm,
        "harmonic_fft": _HARMONIC_PAD * _next_pow2(n_harm),
        "prosody": _next_pow2(max(n_harm, _min_frame_length(sr, fmin, fmax))),
        "lpc_order": _lpc_order(sr),
    }


def _framed(y, n, hop, t):
    """``t`` centred, zero-padded frames of ``n`` samples of ``y``, a view ``(t, n)``."""
    pad = n // 2
    yp = np.zeros(max((t - 1) * hop + n, y.shape[0] + 2 * pad))
    yp[pad : pad + y.shape[0]] = y
    return np.lib.stride_tricks.sliding_window_view(yp, n)[::hop][:t]


def _levinson(r, order):
    """LPC polynomials ``(m, order + 1)`` from autocorrelations ``r`` ``(m, >order)``.

    The Levinson-Durbin recursion over all rows at once: ``a[:, 0] = 1`` and
    ``sum_j a_j r_|i-j| = 0`` for ``i = 1..order``. Rows whose prediction
    error stops being positive are NaN.
    """
    m = r.shape[0]
    a = np.zeros((m, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    ok = err > 0
    for k in range(1, order + 1):
        acc = r[:, k] + np.einsum("ij,ij->i", a[:, 1:k], r[:, k - 1 : 0 : -1])
        refl = np.zeros(m)
        np.divide(-acc, err, out=refl, where=ok)
        a[:, 1:k] += refl[:, None] * a[:, k - 1 : 0 : -1]
        a[:, k] = refl
        err = err * (1.0 - refl * refl)
        ok &= err > 0
    a[~ok] = np.nan
    return a


def lpc_formants(frames, sr, order):
    """F1..F3 frequencies and bandwidths (Hz) of frames ``(m, n)``: ``(m, 6)``.

    Hamming window, pre-emphasis 0.97, autocorrelation LPC of ``order``
    poles; the resonances (roots with positive imaginary part) between 90 and
    5000 Hz narrower than 600 Hz, lowest first. NaN where fewer are found.
    """
    m, n = frames.shape
    out = np.full((m, 6), np.nan)
    if m == 0:
        return out
    x = frames * np.hamming(n)
    x = np.concatenate([x[:, :1], x[:, 1:] - _PRE_EMPHASIS * x[:, :-1]], axis=1)
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * n)) ** 2)[:, : order + 1]
    rows = np.flatnonzero(ac[:, 0] > _EPS)
    if rows.size == 0:
        return out
    r = ac[rows]
    r[:, 0] *= 1.0 + 1e-6  # white-noise correction, as a tiny lag-0 boost
    a = _levinson(r, order)
    good = np.isfinite(a).all(axis=1)
    rows, a = rows[good], a[good]
    if rows.size == 0:
        return out
    # roots of 1 + a1 z^-1 + ... : eigenvalues of the companion matrices
    comp = np.zeros((rows.size, order, order))
    comp[:, 0, :] = -a[:, 1:]
    comp[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    roots = np.linalg.eigvals(comp)
    with np.errstate(divide="ignore"):
        freq = np.angle(roots) * sr / (2 * np.pi)
        bw = -np.log(np.abs(roots)) * sr / np.pi
    keep = (roots.imag > 0) & (freq > _FORMANT_FMIN) & (freq < _FORMANT_FMAX)
    keep &= bw < _FORMANT_BWMAX
    freq = np.where(keep, freq, np.inf)
    first = np.argsort(freq, axis=1, kind="stable")[:, :3]
    f3 = np.take_along_axis(freq, first, axis=1)
    b3 = np.take_along_axis(bw, first, axis=1)
    found = np.isfinite(f3)
    block = np.full((rows.size, 6), np.nan)
    block[:, :3] = np.where(found, f3, np.nan)
    block[:, 3:] = np.where(found, b3, np.nan)
    out[rows] = block
    return out


def harmonic_peaks(spec, freqs, centre, half):
    """Maximum of each row of ``spec`` over ``centre - half < freqs < centre + half``.

    ``spec`` ``(m, n_bins)``, ``centre`` and ``half`` ``(m,)``; NaN where
    no bin lies inside (or the centre is NaN).
    """
    m = spec.shape[0]
    out = np.full(m, np.nan)
    ok = np.isfinite(centre) & np.isfinite(half)
    if not ok.any():
        return out
    lo = np.searchsorted(freqs, np.where(ok, centre - half, 0.0), side="right")
    hi = np.searchsorted(freqs, np.where(ok, centre + half, 0.0), side="left")
    ok &= hi > lo
    if not ok.any():
        return out
    width = int((hi - lo)[ok].max())
    idx = lo[:, None] + np.arange(width)[None, :]
    inside = idx < hi[:, None]
    vals = spec[np.arange(m)[:, None], np.minimum(idx, spec.shape[1] - 1)]
    best = np.where(inside, vals, -np.inf).max(axis=1)
    out[ok] = best[ok]
    return out


def _stats(v):
    v = v[np.isfinite(v)]
    if v.size < 2:
        return [0.0, 0.0]
    return [v.mean(), v.std()]


def _pct(v):
    v = v[np.isfinite(v)]
    if v.size < 2:
        return [0.0] * 6
    p20, p50, p80 = np.percentile(v, _PERCENTILES)
    return [v.mean(), v.std(), p20, p50, p80, p80 - p20]


def _slopes(v, mask, rate):
    d = (np.diff(v) * rate)[mask[1:] & mask[:-1]]
    out = []
    for s in (d[d > 0], -d[d < 0]):
        out += [s.mean() if s.size else 0.0, s.std() if s.size > 1 else 0.0]
    return out


def _runs(mask):
    """Lengths (frames) of the runs of True in ``mask``."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


def _band(freqs, lo, hi):
    return (freqs >= lo) & (freqs < hi)


def _spectral(fr, sr, sz):
    """Spectral descriptors of frames ``fr`` ``(m, n)`` (25 ms Hann windows).

    Returns ``(desc, nm)``: ``desc`` ``(m, 5)`` holds the alpha ratio, the
    Hammarberg index, the slopes 0-500 and 500-1500 Hz and the loudness;
    ``nm`` the magnitude spectra normalised to unit sum (for the flux).
    """
    mag = np.abs(np.fft.rfft(fr * np.hanning(fr.shape[1]), sz["spectral_fft"]))
    S = mag * mag
    freqs = np.fft.rfftfreq(sz["spectral_fft"], 1 / sr)
    desc = np.empty((fr.shape[0], 5))
    lo, hi = _band(freqs, 50, 1000), _band(freqs, 1000, 5000)
    desc[:, 0] = 10 * np.log10((S[:, lo].sum(1) + _EPS) / (S[:, hi].sum(1) + _EPS))
    lo, hi = _band(freqs, 0, 2000), _band(freqs, 2000, 5000)
    desc[:, 1] = 10 * np.log10((S[:, lo].max(1) + _EPS) / (S[:, hi].max(1) + _EPS))
    for k, (lo, hi) in enumerate(((0, 500), (500, 1500)), start=2):
        b = _band(freqs, lo, hi)
        f = freqs[b] - freqs[b].mean()
        db = 10 * np.log10(S[:, b] + _EPS)
        desc[:, k] = (db - db.mean(1, keepdims=True)) @ f / (f @ f)
    desc[:, 4] = (S[:, 1:] ** 0.3).sum(1)
    return desc, mag / (mag.sum(1, keepdims=True) + _EPS)


def _voiced(fr, fr2, f0, sr, sz):
    """Formants and harmonic differences of voiced frames: ``(m, 8)``.

    ``fr``: 25 ms frames (LPC), ``fr2``: 64 ms frames (harmonic levels),
    ``f0``: their F0 (Hz). Columns F1..F3, B1..B3 (Hz), H1-H2, H1-A3 (dB).
    """
    out = np.empty((fr.shape[0], 8))
    out[:, :6] = lpc_formants(fr, sr, sz["lpc_order"])
    nfft2 = sz["harmonic_fft"]
    mag2 = np.abs(np.fft.rfft(fr2 * np.hanning(fr2.shape[1]), nfft2))
    f2 = np.fft.rfftfreq(nfft2, 1 / sr)

    def level(centre, half):  # dB of the highest bin near centre
        return 20 * np.log10(harmonic_peaks(mag2, f2, centre, half) + 1e-9)

    h1 = level(f0, f0 / 4)
    out[:, 6] = h1 - level(2 * f0, f0 / 4)
    out[:, 7] = h1 - level(out[:, 2], f0 / 2)
    return out


def _clip(y, P, sr, hop, sz):
    """The functionals of one clip ``y`` (float64) given its prosody frames ``P``."""
    t = P.shape[1]
    f0, _, jit, shim, hnr, _ = P
    voiced = f0 > 0
    idx = np.flatnonzero(voiced)
    fps = sr / hop

    # per-frame descriptors, in blocks of frames (flat memory for long clips)
    frames = _framed(y, sz["spectral"], hop, t)
    desc = np.empty((t, 6))  # alpha, hamm, slope0_500, slope500_1500, loud, flux
    prev = None
    for start in range(0, t, _BLOCK):
        stop = min(t, start + _BLOCK)
        desc[start:stop, :5], nm = _spectral(frames[start:stop], sr, sz)
        if prev is not None:
            nm = np.concatenate([prev, nm])
        desc[stop - nm.shape[0] + 1 : stop, 5] = np.square(np.diff(nm, axis=0)).sum(1)
        prev = nm[-1:]
    desc[0, 5] = 0.0
    vdesc = np.full((t, 8), np.nan)  # F1..F3, B1..B3, h1h2, h1a3
    frames2 = _framed(y, sz["harmonic"], hop, t)
    for start in range(0, idx.size, _BLOCK):
        v = idx[start : start + _BLOCK]
        vdesc[v] = _voiced(frames[v], frames2[v], f0[v], sr, sz)
    loud = desc[:, 4]

    st = np.where(voiced, 12 * np.log2(np.maximum(f0, 1) / 27.5), np.nan)
    out = _pct(st[voiced]) + _slopes(np.nan_to_num(st), voiced, fps)
    out += _pct(loud) + _slopes(loud, np.ones(t, dtype=bool), fps)
    for v in (jit, shim, hnr):
        out += _stats(v[voiced])
    for k in range(6):
        out += _stats(vdesc[:, k])
    for k in (0, 1, 2, 3, 5):
        out += _stats(desc[voiced, k])
        out.append(desc[~voiced, k].mean() if idx.size < t else 0.0)
    out += _stats(vdesc[:, 6]) + _stats(vdesc[:, 7])
    dur = y.shape[0] / sr
    prom = _PEAK_PROMINENCE * (loud.max() - loud.min() + _EPS)
    out.append(find_peaks(loud, prominence=prom)[0].size / dur)
    vr, ur = _runs(voiced) / fps, _runs(~voiced) / fps
    out.append(vr.size / dur)
    for r in (vr, ur):
        out += [r.mean(), r.std()] if r.size else [0.0, 0.0]
    out.append(voiced.mean())
    out.append(10 * np.log10(np.mean(np.square(y)) + _EPS))
    return np.asarray(out, dtype=np.float64)


def voice_functionals(x, sr, hop_length, fmin, fmax, threshold, silence):
    """Functionals of waveforms ``x`` ``(b, n)``: ``(b, 65)`` float64.

    The kernel of :class:`VoiceFunctionals` (parameters already validated).
    """
    x = np.asarray(x)
    sz = _sizes(sr, fmin, fmax)
    P = prosody_frames(x, sr, sz["prosody"], hop_length, fmin, fmax, threshold, silence)
    out = np.empty((x.shape[0], len(_NAMES)))
    for i in range(x.shape[0]):
        out[i] = _clip(
            x[i].astype(np.float64), P[i].astype(np.float64), sr, hop_length, sz
        )
    return out


class VoiceFunctionals(_Computed, _StatelessTransformer):
    """Clip-level voice descriptors in the design of eGeMAPS (BSD licence).

    One vector of 65 functionals per clip: statistics of pitch, loudness,
    voice quality, formants and spectral balance over the clip, computed in
    numpy by sersk (a BSD alternative to the eGeMAPS set of
    :class:`OpenSmile`, following its design; values differ from
    openSMILE's). Frames are ``hop_length`` apart; ``f0``, voicing, jitter,
    shimmer and HNR are those of :class:`Prosody`.

    - ``f0st_*``: F0 in semitones re 27.5 Hz over the voiced frames: mean,
      std, 20th/50th/80th percentiles, range (80th - 20th); mean and std of
      the rising and falling slopes (semitones per second) between
      consecutive voiced frames;
    - ``loud_*``: loudness, the power spectrum raised to 0.3 (Stevens' law,
      not a perceptual model) summed over frequency: the same functionals
      over all frames;
    - ``jitter_*``, ``shimmer_*``, ``hnr_*``: mean and std over voiced frames;
    - ``F1_*`` .. ``F3_*``, ``B1_*`` .. ``B3_*``: formant frequencies and
      bandwidths (Hz, linear prediction), mean and std over voiced frames;
    - ``alpha_*`` (alpha ratio, dB: 50-1000 Hz over 1-5 kHz energy),
      ``hamm_*`` (Hammarberg index, dB: 0-2 kHz over 2-5 kHz peak),
      ``slope0_500_*``, ``slope500_1500_*`` (spectral slopes, dB/Hz) and
      ``flux_*``: mean and std over voiced frames (``_v_``), mean over
      unvoiced ones (``_uv_mean``);
    - ``h1h2_*``, ``h1a3_*``: level of the first harmonic over the second,
      and over the strongest harmonic near F3 (dB), mean and std;
    - ``loud_peaks_rate``, ``voiced_rate``: loudness peaks and voiced
      segments per second; ``vseg_*``, ``useg_*``: mean and std length (s)
      of the voiced and unvoiced segments; ``voiced_frac``: fraction of
      voiced frames; ``leq``: equivalent level of the clip (dB re full
      scale).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms (file paths are resampled to it); at
        least 8000 Hz. Windows are defined in seconds (see Notes), so other
        rates work.
    hop_length : int, default=160
        Samples between frames (10 ms at 16 kHz).
    fmin : float, default=60.0
        Lowest F0 searched, in Hz.
    fmax : float, default=500.0
        Highest F0 searched, in Hz (at most ``sr / 2``).
    voicing_threshold : float, default=0.45
        Voicing threshold of :class:`Prosody`.
    silence_db : float or None, default=40.0
        Silence gate of :class:`Prosody` (dB below the clip's loudest frame).
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        thread; ``None`` computes in this process.

    See Also
    --------
    Prosody : The frame-level F0, voicing, jitter, shimmer, HNR and level.
    OpenSmile : openSMILE's own eGeMAPS (not BSD-licensed).
    SpeakerStandardizer : Standardise the functionals per speaker.

    Notes
    -----
    Input: file paths, a 2-D array of waveforms, a list or object array of
    waveforms of different lengths, or the lazy output of
    ``AudioLoader(lazy=True)``. The output is float32 of shape
    ``(n_clips, 65)`` (names: :meth:`get_feature_names_out`) and never holds
    NaN or Inf: a functional with fewer than two values to summarise (no
    voiced frames in a silent or noise-only clip, no formant found, a clip of
    one frame) is 0, as are the statistics of segments that do not occur;
    ``leq`` of digital silence is -120 dB.

    Windows: the spectral descriptors and the formants use 25 ms Hann (LPC:
    Hamming) windows, H1-H2 and H1-A3 64 ms Hann windows zero-padded four
    times; Prosody runs with frames of at least 64 ms (a power of two, long
    enough for ``fmin``). The LPC order is 14 at 16 kHz and scales with the
    rate (``round(14 * sr / 16000)``, between 6 and 40); at 8 kHz the
    1-5 kHz and 2-5 kHz bands end at the Nyquist frequency. Every clip is
    computed on its own, so batching and ``n_jobs`` never change a value.

    References
    ----------
    F. Eyben et al., "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS)
    for voice research and affective computing", IEEE Trans. Affective
    Computing 7(2), 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import VoiceFunctionals
    >>> t = np.arange(8000) / 16000
    >>> tone = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 6))
    >>> est = VoiceFunctionals()
    >>> F = est.fit_transform(0.1 * tone[np.newaxis])
    >>> F.shape
    (1, 65)
    >>> names = est.get_feature_names_out().tolist()
    >>> names[0]
    'f0st_mean'
    >>> round(float(F[0, 0]), 1)  # 220 Hz is 36 semitones above 27.5 Hz
    36.0
    """

    _auto_backend = "librosa"  # numpy only: the backend resolver never picks torch

    _parameter_constraints: dict = {
        "sr": [Interval(Integral, 8000, None, closed="left")],
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
        hop_length=160,
        fmin=60.0,
        fmax=500.0,
        voicing_threshold=0.45,
        silence_db=40.0,
        n_jobs=None,
    ):
        self.sr = sr
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.voicing_threshold = voicing_threshold
        self.silence_db = silence_db
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    def _check_params(self):
        if self.fmin >= self.fmax:
            raise ValueError(
                f"VoiceFunctionals needs fmin < fmax; got fmin={self.fmin} and "
                f"fmax={self.fmax} Hz. Lower fmin or raise fmax."
            )
        if self.fmax > self.sr / 2:
            raise ValueError(
                f"The 'fmax' parameter of VoiceFunctionals is {self.fmax} Hz, above "
                f"the Nyquist frequency sr/2 = {self.sr / 2} Hz. Lower fmax or use "
                "a higher sr."
            )
        super()._check_params()

    def _frame_length(self):
        # sizes the chunks of clips computed at once (one spectrum per clip)
        return _sizes(self.sr, self.fmin, self.fmax)["spectral_fft"]

    def _frames(self, K, x):
        return voice_functionals(
            K.to_numpy(x),
            int(self.sr),
            int(self.hop_length),
            float(self.fmin),
            float(self.fmax),
            float(self.voicing_threshold),
            None if self.silence_db is None else float(self.silence_db),
        )

    def get_feature_names_out(self, input_features=None):
        """Names of the 65 functionals (columns of the output).

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (the input is waveforms).

        Returns
        -------
        feature_names_out : ndarray of str objects
            E.g. ``f0st_mean``, ``F1_mean``, ``alpha_v_mean``.
        """
        return np.asarray(_NAMES, dtype=object)
