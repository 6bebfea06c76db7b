"""Spectral frame-level features: log-mel, MFCC, chroma, spectral contrast.

Each transformer holds its parameters and composes the kernels on the power
spectrogram (``_from_power``): MFCC is the DCT of the log-mel recipe, as in
librosa, so :class:`~sersk.features.ClassicFeatures` computes one STFT and
asks every piece for its part. :mod:`sersk.features._compute` picks the
backend (``backend="auto"|"librosa"|"torch"``, ``device="auto"|"cpu"|"cuda"``)
and runs the chunk loop; torch is imported only when a transformer computes
with it.

dB conversion and its ``top_db`` floor are applied **per clip**, so each clip
equals the per-clip librosa call (librosa on a batch would use the maximum of
the whole batch).
"""

from __future__ import annotations

import numpy as np

from ..utils._sklearn_compat import Integral, Interval, Options, Real, StrOptions
from ._base import LENGTH_CONSTRAINT, SR_CONSTRAINT
from ._compute import BACKEND_CONSTRAINTS, _FrameFeature
from ._kernels import chroma_table, contrast_bands, dct_table, lifter_table, mel_table

__all__ = ["MelSpectrogram", "MFCC", "Chroma", "SpectralContrast"]

_STFT_CONSTRAINTS = {
    "sr": SR_CONSTRAINT,
    "n_fft": LENGTH_CONSTRAINT,
    "hop_length": LENGTH_CONSTRAINT,
    **BACKEND_CONSTRAINTS,
}


def _cached(cache, key, make):
    """``make()`` once per key and per chunk (pieces of ClassicFeatures share it)."""
    if key not in cache:
        cache[key] = make()
    return cache[key]


class _MelRecipe(_FrameFeature):
    """The mel spectrogram and its dB, shared by MelSpectrogram and MFCC."""

    def _check_params(self):
        self._check_nyquist("fmin", "fmax")
        fmax = self.sr / 2 if self.fmax is None else self.fmax
        if self.fmin >= fmax:
            raise ValueError(
                f"{type(self).__name__} needs fmin < fmax; got fmin={self.fmin} and "
                f"fmax={fmax} Hz. Lower fmin or raise fmax."
            )
        super()._check_params()

    def _mel(self, K, P, cache, power=2.0):
        fmax = None if self.fmax is None else float(self.fmax)
        table = (
            int(self.sr),
            int(self.n_fft),
            int(self.n_mels),
            float(self.fmin),
            fmax,
        )
        key = ("mel", *table, float(power))
        return _cached(
            cache, key, lambda: K.apply(mel_table(*table), K.power(P, power / 2.0))
        )

    def _log_mel(self, K, P, cache, top_db):
        key = ("db", *self._mel_key(), top_db)
        return _cached(
            cache, key, lambda: K.power_to_db(self._mel(K, P, cache), top_db=top_db)
        )

    def _mel_key(self):
        return (self.sr, self.n_fft, self.n_mels, self.fmin, self.fmax)


class MelSpectrogram(_MelRecipe):
    """Mel spectrogram (in dB by default) of a batch of waveforms.

    Equals, clip by clip, ``librosa.feature.melspectrogram`` followed by
    ``librosa.power_to_db`` (each clip with its own reference and ``top_db``
    floor), computed for the whole batch at once.

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms.
    n_fft : int, default=2048
        FFT window length in samples (periodic Hann window).
    hop_length : int, default=512
        Samples between frames. Frames are centred: a clip of ``n`` samples
        gives ``1 + n // hop_length`` frames.
    n_mels : int, default=128
        Number of mel bands.
    fmin : float, default=0.0
        Lowest band edge in Hz.
    fmax : float or None, default=None
        Highest band edge in Hz; ``None`` means ``sr / 2``.
    power : float, default=2.0
        Exponent of the magnitude (2: power, 1: magnitude).
    to_db : bool, default=True
        Return decibels: ``librosa.power_to_db`` for ``power=2``,
        ``librosa.amplitude_to_db`` for ``power=1`` (in general
        ``10 * log10(S ** (2 / power))``).
    ref : float or "max", default=1.0
        dB reference. ``1.0`` keeps absolute levels (loudness is informative
        for emotion); ``"max"`` references each clip to its own maximum
        (librosa's ``ref=np.max`` on that clip).
    top_db : float or None, default=80.0
        Floor at ``top_db`` below each clip's maximum; ``None`` keeps all.
    backend : {"auto", "librosa", "torch"}, default="auto"
        How to compute. ``"torch"``: batched torch functions (CPU or CUDA);
        ``"librosa"``: librosa's STFT and numpy. ``"auto"`` uses torch when it
        is installed (equal within the tolerances in the Notes), else
        librosa.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the torch backend computes; ``"auto"`` picks CUDA when
        available. ``"cuda"`` without a GPU raises a ``ValueError``. The
        output is a float32 NumPy array either way.
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        BLAS and one torch thread. ``None`` computes in this process.

    See Also
    --------
    MFCC : Cepstral coefficients of the log-mel spectrogram.
    TimePooling : Pool frames into one vector per clip.

    Notes
    -----
    Clips shorter than ``n_fft`` are zero-padded by the centred framing (as
    librosa does, without its warning) and give ``1 + n // hop_length``
    frames; digital silence gives the dB floor (``-100`` dB with ``ref=1.0``),
    never NaN. Integer PCM waveforms (int16 ...) are scaled to [-1, 1]
    as soundfile does. Input may also be a 1-D object array of
    waveforms of different lengths (``AudioLoader(duration=None)``); the
    output is then an object array of ``(n_mels, n_frames_i)`` arrays.

    **Backends.** Both backends reproduce, clip by clip, the librosa call
    (centred frames, zero padding, periodic Hann window, per-clip dB).
    The torch backend agrees with the librosa backend within 1e-4 of each
    clip's maximum for the power mel spectrogram and 2e-3 dB for the log-mel
    and is faster (``docs/benchmarks.rst``), hence ``backend="auto"`` picks
    torch (on CUDA when available). Choose ``backend="librosa"`` for
    librosa's own STFT or without torch.

    **Parallelism.** With ``n_jobs=None`` (default) one process computes the
    batch; its FFT already uses all cores, so this is the best choice on
    small machines, for batches up to a few thousand clips, and always on
    CUDA (where ``n_jobs`` is ignored). ``n_jobs=k`` splits the clips into
    ``k`` blocks computed in joblib worker processes, each limited to one
    thread (threadpoolctl), so they do not oversubscribe the cores: useful on
    many-core machines for large corpora and for the per-clip parts (chroma
    tuning estimation, librosa backend); each worker pays its start-up once.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import MelSpectrogram
    >>> t = np.arange(8000) / 16000
    >>> X = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 440 * t)])
    >>> S = MelSpectrogram(n_mels=64).fit_transform(X)
    >>> S.shape, S.dtype
    ((2, 64, 16), dtype('float32'))
    """

    _parameter_constraints: dict = {
        **_STFT_CONSTRAINTS,
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither"), None],
        "power": [Interval(Real, 0, None, closed="neither")],
        "to_db": ["boolean"],
        "ref": [Interval(Real, 0, None, closed="neither"), StrOptions({"max"})],
        "top_db": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        sr=16000,
        *,
        n_fft=2048,
        hop_length=512,
        n_mels=128,
        fmin=0.0,
        fmax=None,
        power=2.0,
        to_db=True,
        ref=1.0,
        top_db=80.0,
        backend="auto",
        device="auto",
        n_jobs=None,
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.power = power
        self.to_db = to_db
        self.ref = ref
        self.top_db = top_db
        self.backend = backend
        self.device = device
        self.n_jobs = n_jobs

    def _coef_names(self):
        return [f"mel{i}" for i in range(self.n_mels)]

    def _from_power(self, K, P, cache):
        if self.to_db and self.power == 2.0 and self.ref == 1.0:
            return self._log_mel(K, P, cache, self.top_db)
        M = self._mel(K, P, cache, self.power)
        if not self.to_db:
            return M
        # amplitude_to_db and friends: dB of the power, 10 * log10(M ** (2 / power))
        p = 2.0 / self.power
        ref = self.ref if self.ref == "max" else float(self.ref) ** p
        return K.power_to_db(K.power(M, p), ref=ref, top_db=self.top_db)


class MFCC(_MelRecipe):
    """Mel-frequency cepstral coefficients, optionally with deltas.

    Equals, clip by clip, ``librosa.feature.mfcc`` (orthonormal DCT-II of
    ``power_to_db`` of the mel power spectrogram, each clip with its own
    ``top_db`` floor), computed for the whole batch at once.

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms.
    n_mfcc : int, default=40
        Number of coefficients (at most ``n_mels``).
    deltas : {0, 1, 2}, default=0
        Append first (1) and second (2) order deltas along the coefficient
        axis (``librosa.feature.delta``, width 9): the output has
        ``n_mfcc * (1 + deltas)`` rows ``[mfcc, delta, delta-delta]``.
    n_fft : int, default=2048
        FFT window length in samples.
    hop_length : int, default=512
        Samples between (centred) frames.
    n_mels : int, default=128
        Number of mel bands before the DCT.
    fmin : float, default=0.0
        Lowest mel band edge in Hz.
    fmax : float or None, default=None
        Highest mel band edge in Hz; ``None`` means ``sr / 2``.
    top_db : float or None, default=80.0
        Floor of the log-mel spectrogram, ``top_db`` below each clip's maximum.
    lifter : float, default=0.0
        Cepstral liftering coefficient (0 disables it), as in librosa.
    backend : {"auto", "librosa", "torch"}, default="auto"
        How to compute. ``"torch"``: batched torch functions (CPU or CUDA);
        ``"librosa"``: librosa's STFT and numpy. ``"auto"`` uses torch when it
        is installed (equal within the tolerances in the Notes), else
        librosa.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the torch backend computes; ``"auto"`` picks CUDA when
        available. ``"cuda"`` without a GPU raises a ``ValueError``. The
        output is a float32 NumPy array either way.
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        BLAS and one torch thread. ``None`` computes in this process.

    See Also
    --------
    MelSpectrogram : The log-mel spectrogram the MFCCs are computed from.
    TimePooling : Pool frames into one vector per clip.

    Notes
    -----
    Clips shorter than ``n_fft`` are zero-padded (see :class:`MelSpectrogram`).
    Deltas need at least 9 frames for librosa's width; shorter clips use the
    largest odd width that fits (at least 3), and clips of 1 or 2 frames get
    zero deltas (no change can be measured).

    Backends (see :class:`MelSpectrogram`): the torch backend agrees with the
    librosa backend within 2e-3 (absolute, MFCC units) and is faster, so
    ``backend="auto"`` uses it. Deltas are computed with librosa in both.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import MFCC
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(scale=0.1, size=(3, 8000)).astype(np.float32)
    >>> MFCC(n_mfcc=13, deltas=2).fit_transform(X).shape
    (3, 39, 16)
    """

    _parameter_constraints: dict = {
        **_STFT_CONSTRAINTS,
        "n_mfcc": [Interval(Integral, 1, None, closed="left")],
        "deltas": [Interval(Integral, 0, 2, closed="both")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither"), None],
        "top_db": [Interval(Real, 0, None, closed="left"), None],
        "lifter": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        sr=16000,
        *,
        n_mfcc=40,
        deltas=0,
        lifter=0.0,
        n_mels=128,
        fmin=0.0,
        fmax=None,
        top_db=80.0,
        n_fft=2048,
        hop_length=512,
        backend="auto",
        device="auto",
        n_jobs=None,
    ):
        self.sr = sr
        self.n_mfcc = n_mfcc
        self.deltas = deltas
        self.lifter = lifter
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.backend = backend
        self.device = device
        self.n_jobs = n_jobs

    def _check_params(self):
        if self.n_mfcc > self.n_mels:
            raise ValueError(
                f"The 'n_mfcc' parameter of MFCC ({self.n_mfcc}) cannot exceed "
                f"n_mels ({self.n_mels}). Lower n_mfcc or raise n_mels."
            )
        super()._check_params()

    def _coef_names(self):
        return [
            f"mfcc{prefix}{i}"
            for prefix in ("", "_d", "_dd")[: 1 + self.deltas]
            for i in range(self.n_mfcc)
        ]

    def _from_power(self, K, P, cache):
        table = dct_table(int(self.n_mfcc), int(self.n_mels))
        M = K.apply(table, self._log_mel(K, P, cache, self.top_db))
        if self.lifter > 0:
            M = K.apply(lifter_table(int(self.n_mfcc), float(self.lifter)), M)
        if self.deltas == 0:
            return M
        return K.concat([M] + [K.delta(M, k) for k in range(1, self.deltas + 1)])


_PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


class Chroma(_FrameFeature):
    """Chromagram from the power spectrogram (``librosa.feature.chroma_stft``).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms.
    n_fft : int, default=2048
        FFT window length in samples.
    hop_length : int, default=512
        Samples between (centred) frames.
    n_chroma : int, default=12
        Number of chroma bins per octave.
    tuning : float or None, default=0.0
        Tuning deviation in fractions of a bin, in ``[-0.5, 0.5)``. ``None``
        estimates it for each clip as librosa does by default
        (``librosa.estimate_tuning``), which is slower; speech has no
        musical tuning, so ``0.0`` is the default here.
    norm : float or None, default=np.inf
        Norm of each frame's chroma vector (``librosa.util.normalize``);
        ``None`` leaves the frames unnormalised.
    backend : {"auto", "librosa", "torch"}, default="auto"
        How to compute. ``"torch"``: batched torch functions (CPU or CUDA);
        ``"librosa"``: librosa's STFT and numpy. ``"auto"`` uses torch when it
        is installed (equal within the tolerances in the Notes), else
        librosa.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the torch backend computes; ``"auto"`` picks CUDA when
        available. ``"cuda"`` without a GPU raises a ``ValueError``. The
        output is a float32 NumPy array either way.
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        BLAS and one torch thread. ``None`` computes in this process.

    See Also
    --------
    SpectralContrast : Peak-valley contrast in octave bands.

    Notes
    -----
    Equals ``librosa.feature.chroma_stft(y=clip, sr=sr, tuning=tuning, ...)``
    for each clip. Silent frames stay at (near) zero instead of NaN.

    Backends (see :class:`MelSpectrogram`): the torch backend agrees with the
    librosa backend within 1e-4 (the tuning estimated with ``tuning=None`` is
    the same in both) and is faster, so ``backend="auto"`` uses it.
    ``n_jobs`` parallelises the per-clip tuning estimation of ``tuning=None``
    on many-core machines.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import Chroma
    >>> t = np.arange(8000) / 16000
    >>> C = Chroma().fit_transform(np.sin(2 * np.pi * 440 * t)[np.newaxis])
    >>> C.shape, int(C[0].mean(axis=1).argmax())  # A = pitch class 9
    ((1, 12, 16), 9)
    """

    _parameter_constraints: dict = {
        **_STFT_CONSTRAINTS,
        "n_chroma": [Interval(Integral, 1, None, closed="left")],
        "tuning": [Interval(Real, -0.5, 0.5, closed="left"), None],
        "norm": [
            Interval(Real, 0, None, closed="neither"),
            Options(Real, {np.inf}),
            None,
        ],
    }

    def __init__(
        self,
        sr=16000,
        *,
        n_fft=2048,
        hop_length=512,
        n_chroma=12,
        tuning=0.0,
        norm=np.inf,
        backend="auto",
        device="auto",
        n_jobs=None,
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_chroma = n_chroma
        self.tuning = tuning
        self.norm = norm
        self.backend = backend
        self.device = device
        self.n_jobs = n_jobs

    def _coef_names(self):
        if self.n_chroma == 12:
            return [f"chroma_{p}" for p in _PITCH_CLASSES]
        return [f"chroma{i}" for i in range(self.n_chroma)]

    def _from_power(self, K, P, cache):
        key = (int(self.sr), int(self.n_fft), int(self.n_chroma))
        if self.tuning is not None:
            table = chroma_table(*key, float(self.tuning))
        else:  # librosa's default: the tuning of each clip from its own spectrogram
            tunings = K.estimate_tuning(P, key[0], key[1], key[2])
            table = [chroma_table(*key, float(t)) for t in tunings]
            table = table[0] if len(set(tunings)) == 1 else table
        raw = K.apply(table, P)
        return raw if self.norm is None else K.normalize(raw, self.norm)


class SpectralContrast(_FrameFeature):
    """Spectral contrast in octave bands (``librosa.feature.spectral_contrast``).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms.
    n_fft : int, default=2048
        FFT window length in samples.
    hop_length : int, default=512
        Samples between (centred) frames.
    fmin : float, default=200.0
        Upper edge of the lowest band in Hz; band ``k`` spans
        ``fmin * 2**(k-1)`` to ``fmin * 2**k``.
    n_bands : int, default=6
        Number of octave bands above the lowest; the output has
        ``n_bands + 1`` rows. ``fmin * 2**(n_bands - 1)`` must stay below
        ``sr / 2``.
    quantile : float, default=0.02
        Fraction of each band's bins averaged for the peak and the valley.
    linear : bool, default=False
        Return ``peak - valley`` on the linear scale instead of the dB
        difference.
    backend : {"auto", "librosa", "torch"}, default="auto"
        How to compute. ``"torch"``: batched torch functions (CPU or CUDA);
        ``"librosa"``: librosa's STFT and numpy. ``"auto"`` uses torch when it
        is installed (equal within the tolerances in the Notes), else
        librosa.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the torch backend computes; ``"auto"`` picks CUDA when
        available. ``"cuda"`` without a GPU raises a ``ValueError``. The
        output is a float32 NumPy array either way.
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        BLAS and one torch thread. ``None`` computes in this process.

    See Also
    --------
    Chroma : Pitch-class energy per frame.

    Notes
    -----
    Equals the per-clip librosa call; its dB conversion (``top_db=80``) is
    applied per clip rather than over the whole batch.

    Backends (see :class:`MelSpectrogram`): on real speech and noisy signals
    the torch backend agrees with the librosa backend within 5e-2 dB
    (``linear=True``: 1e-4 relative), but the valleys are the smallest
    magnitudes of each band, and for noiseless synthetic tones they are
    float32 FFT rounding noise, where the two FFT implementations differ by
    up to several dB. Torch is barely faster on the CPU for this sort-bound
    feature, so ``backend="auto"`` uses librosa (torch only with
    ``device="cuda"``).

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import SpectralContrast
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(scale=0.1, size=(2, 8000)).astype(np.float32)
    >>> SpectralContrast().fit_transform(X).shape
    (2, 7, 16)
    """

    _parameter_constraints: dict = {
        **_STFT_CONSTRAINTS,
        "fmin": [Interval(Real, 0, None, closed="neither")],
        "n_bands": [Interval(Integral, 1, None, closed="left")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
        "linear": ["boolean"],
    }

    def __init__(
        self,
        sr=16000,
        *,
        n_fft=2048,
        hop_length=512,
        fmin=200.0,
        n_bands=6,
        quantile=0.02,
        linear=False,
        backend="auto",
        device="auto",
        n_jobs=None,
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.n_bands = n_bands
        self.quantile = quantile
        self.linear = linear
        self.backend = backend
        self.device = device
        self.n_jobs = n_jobs

    #: sort-bound, and not equal on noiseless tones (see Notes): librosa on the CPU
    _auto_backend = "librosa"

    def _bands(self):
        return contrast_bands(
            int(self.sr),
            int(self.n_fft),
            float(self.fmin),
            int(self.n_bands),
            float(self.quantile),
        )

    def _check_params(self):
        top = self.fmin * 2.0 ** (self.n_bands - 1)
        if top >= self.sr / 2:
            raise ValueError(
                f"SpectralContrast: the highest band starts at fmin * 2**(n_bands - 1) = "
                f"{top:g} Hz, not below the Nyquist frequency sr/2 = {self.sr / 2:g} Hz "
                f"(fmin={self.fmin}, n_bands={self.n_bands}, sr={self.sr}). Reduce fmin "
                "or n_bands."
            )
        if any(hi == lo for lo, hi, _ in self._bands()):
            raise ValueError(
                f"SpectralContrast: n_fft={self.n_fft} is too small to resolve "
                f"{self.n_bands} octave bands above fmin={self.fmin} Hz at sr={self.sr}; "
                "raise n_fft or fmin, or lower n_bands."
            )
        super()._check_params()

    def _coef_names(self):
        return [f"contrast{i}" for i in range(self.n_bands + 1)]

    def _from_power(self, K, P, cache):
        return K.contrast(K.power(P, 0.5), self._bands(), self.linear)
