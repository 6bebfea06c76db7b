"""Presets: the classic SER feature vector, as a FeatureUnion or from one STFT.

Two designs give the same classic vector (pooled ZCR, RMS, MFCC, chroma,
log-mel and spectral contrast statistics, with the same column order and the
same feature names):

- :func:`make_classic_features` (default, ``shared_stft=False``): a
  :class:`~sklearn.pipeline.FeatureUnion` of ``make_pipeline(feature,
  TimePooling(stats))`` pieces. Every piece can be tuned, replaced or
  dropped like any FeatureUnion part; each spectral piece computes its own
  STFT (four STFTs for the six features).
- :class:`ClassicFeatures` (``make_classic_features(shared_stft=True)``): the
  same pieces asked for their part of one power spectrogram per chunk of
  clips, through the same kernels, each pooled at once, so memory stays at
  the pooled output plus one chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.pipeline import FeatureUnion, make_pipeline

from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions
from ._base import LENGTH_CONSTRAINT, SR_CONSTRAINT, _StatelessBase, check_choices
from ._compute import _Computed
from ._pooling import _STATS, TimePooling
from ._spectral import MFCC, Chroma, MelSpectrogram, SpectralContrast
from ._temporal import RMS, ZeroCrossingRate

__all__ = ["ClassicFeatures", "make_classic_features"]

#: Feature names of the classic vector, in the order of the FeatureUnion preset.
_CLASSIC = ("zcr", "rms", "mfcc", "chroma", "mel", "contrast")
_TIME_DOMAIN = ("zcr", "rms")


class ClassicFeatures(_Computed, _StatelessBase):
    """Pooled classic features of waveforms, computed from one shared STFT.

    The same vector as :func:`make_classic_features` (its default
    FeatureUnion), computed by the shared-STFT engine: for each chunk of
    clips the power spectrogram is computed once and the mel spectrogram
    (in dB), MFCC, chroma and spectral contrast are derived from it; ZCR
    and RMS are framed from the waveforms; each feature is pooled over time
    at once (its speed against the FeatureUnion is in ``docs/benchmarks.rst``).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms.
    features : tuple of str, default=("zcr", "rms", "mfcc", "chroma", "mel", "contrast")
        Which features to compute, in the output order (any subset of the
        six, no duplicates).
    stats : str, tuple of str or None, default=("mean", "std")
        Statistics of each coefficient over time, as :class:`TimePooling`
        ("mean", "std", "min", "max", "median", "skew", "kurtosis"). ``None``
        returns the frame-level features instead, stacked along the
        coefficient axis: ``(n_clips, n_coeffs, n_frames)`` (every piece has
        the same frames), e.g. log-mel and MFCC from one STFT for a deep
        model; that output cannot be a pandas DataFrame.
    n_fft : int, default=2048
        FFT window length in samples, also the ZCR / RMS frame length.
    hop_length : int, default=512
        Samples between (centred) frames.
    n_mels : int, default=128
        Mel bands of the log-mel feature and of the MFCC computation.
    n_mfcc : int, default=40
        Number of MFCCs (at most ``n_mels``).
    tuning : float or None, default=0.0
        Chroma tuning in fractions of a bin (see :class:`Chroma`); ``None``
        estimates it per clip as librosa does (slower).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to compute; ``"auto"`` picks CUDA when available, ``"cuda"``
        without a GPU raises a ``ValueError``.
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        BLAS, one torch and one FFT thread. ``None`` (one process, whose FFT
        uses all cores) is best on small machines and is always used on CUDA;
        several workers pay off on many-core machines for large corpora.

    See Also
    --------
    make_classic_features : The preset returning this transformer
        (``shared_stft=True``) or the equivalent FeatureUnion.
    TimePooling : The pooling statistics.

    Notes
    -----
    Each feature equals its transformer with default parameters (apart from
    those above) followed by :class:`TimePooling`: :class:`MFCC`,
    :class:`Chroma`, :class:`MelSpectrogram` (dB, ``ref=1.0``,
    ``top_db=80`` per clip), :class:`SpectralContrast`,
    :class:`ZeroCrossingRate` and :class:`RMS` (frame length ``n_fft``).
    Columns and names are those of the FeatureUnion: feature by feature,
    stat-major inside each feature, e.g. ``"mfcc__mfcc0_mean"``.

    Tolerances against the FeatureUnion of librosa-backend transformers
    (pooled values; tested on RAVDESS and synthetic clips): log-mel and MFCC
    statistics 2e-3 (dB / MFCC units), chroma 1e-4, RMS 1e-6, ZCR exact;
    spectral contrast 5e-2 dB on speech and noisy signals. The contrast
    valleys are the weakest bins of each band: on synthetic harmonic signals
    with a weak noise floor the pooled contrast differed by up to 0.13 dB
    (200 clips), and on noiseless tones, whose valleys are FFT rounding
    noise, by several dB (see :class:`SpectralContrast`).

    Input may be a 1-D object array of waveforms of different lengths
    (``AudioLoader(duration=None)``): clips of equal length are computed
    together, each clip gives the same values as alone.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import ClassicFeatures
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(scale=0.1, size=(4, 8000)).astype(np.float32)
    >>> feats = ClassicFeatures(n_mfcc=13, n_mels=40, device="cpu")
    >>> feats.fit_transform(X).shape
    (4, 148)
    >>> feats.get_feature_names_out()[[0, 1, 2, 4]].tolist()
    ['zcr__zcr_mean', 'zcr__zcr_std', 'rms__rms_mean', 'mfcc__mfcc0_mean']
    """

    _parameter_constraints: dict = {
        "sr": SR_CONSTRAINT,
        "features": [str, list, tuple],
        "stats": [str, list, tuple, None],
        "n_fft": LENGTH_CONSTRAINT,
        "hop_length": LENGTH_CONSTRAINT,
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_mfcc": [Interval(Integral, 1, None, closed="left")],
        "tuning": [Interval(Real, -0.5, 0.5, closed="left"), None],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        sr=16000,
        *,
        features=_CLASSIC,
        stats=("mean", "std"),
        n_fft=2048,
        hop_length=512,
        n_mels=128,
        n_mfcc=40,
        tuning=0.0,
        device="auto",
        n_jobs=None,
    ):
        self.sr = sr
        self.features = features
        self.stats = stats
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.n_mfcc = n_mfcc
        self.tuning = tuning
        self.device = device
        self.n_jobs = n_jobs

    def _features(self):
        return check_choices(
            self.features,
            _CLASSIC,
            param="features",
            estimator_name="ClassicFeatures",
            what="feature",
        )

    def _stats(self):
        if self.stats is None:
            return None
        return check_choices(
            self.stats,
            _STATS,
            param="stats",
            estimator_name="ClassicFeatures",
            what="statistic",
        )

    def _check_params(self):
        self._stats()
        if "mfcc" in self._features() and self.n_mfcc > self.n_mels:
            raise ValueError(
                f"The 'n_mfcc' parameter of ClassicFeatures ({self.n_mfcc}) cannot "
                f"exceed n_mels ({self.n_mels}). Lower n_mfcc or raise n_mels."
            )
        for piece in self._pieces().values():
            piece._check_params()
        super()._check_params()

    def transform(self, X):
        """Compute the pooled features of a batch (``fit`` is not needed).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            float waveforms, or a 1-D object array of 1-D waveforms of
            different lengths.

        Returns
        -------
        X_out : ndarray of shape (n_clips, n_features_out)
            float32 pooled features (columns as ``get_feature_names_out``).
        """
        return super().transform(X)

    def _pieces(self):
        """The single-feature transformers whose parts this vector computes."""
        common = {"sr": self.sr, "hop_length": self.hop_length, "device": self.device}
        stft, frames = (
            {**common, "n_fft": self.n_fft},
            {**common, "frame_length": self.n_fft},
        )
        pieces = {
            "zcr": ZeroCrossingRate(**frames),
            "rms": RMS(**frames),
            "mfcc": MFCC(n_mfcc=self.n_mfcc, n_mels=self.n_mels, **stft),
            "chroma": Chroma(tuning=self.tuning, **stft),
            "mel": MelSpectrogram(n_mels=self.n_mels, **stft),
            "contrast": SpectralContrast(**stft),
        }
        return {f: pieces[f] for f in self._features()}

    def _frames(self, K, x):
        pieces, stats, cache = self._pieces(), self._stats(), {}
        if set(pieces) - set(_TIME_DOMAIN):
            P = K.power_stft(x, self.n_fft, self.hop_length)
        parts = [
            piece._frames(K, x) if f in _TIME_DOMAIN else piece._from_power(K, P, cache)
            for f, piece in pieces.items()
        ]
        return K.concat(parts if stats is None else [K.pool(F, stats) for F in parts])

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, as those of the FeatureUnion preset.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (the input is waveforms).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``"<feature>__<coefficient>_<stat>"``, e.g. ``"mfcc__mfcc0_mean"``.
        """
        stats = self._stats()
        names = []
        for f, piece in self._pieces().items():
            coefs = [f"{f}__{c}" for c in piece._coef_names()]
            names += (
                coefs if stats is None else [f"{c}_{s}" for s in stats for c in coefs]
            )
        return np.asarray(names, dtype=object)


def make_classic_features(
    sr: int = 16000,
    *,
    n_mfcc: int = 40,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop_length: int = 512,
    stats: str | Sequence[str] = ("mean", "std"),
    n_jobs: int | None = None,
    shared_stft: bool = False,
    backend: str = "auto",
    device: str = "auto",
) -> FeatureUnion | ClassicFeatures:
    """Build the classic feature vector of the SVM / random-forest SER literature.

    Pooled statistics of zero-crossing rate, RMS energy, MFCC, chroma,
    log-mel spectrogram and spectral contrast, concatenated: a
    :class:`~sklearn.pipeline.FeatureUnion` of
    ``make_pipeline(feature, TimePooling(stats))`` pieces named ``"zcr"``,
    ``"rms"``, ``"mfcc"``, ``"chroma"``, ``"mel"`` and ``"contrast"``.
    Every piece can be tuned or dropped like any FeatureUnion part, e.g.
    ``set_params(mfcc__mfcc__n_mfcc=20, chroma="drop")``.

    With ``shared_stft=True`` it returns the equivalent
    :class:`ClassicFeatures` instead: same columns and names, one STFT for
    all the spectral features (faster), tuned through its
    own parameters (``set_params(n_mfcc=20, features=(...))``).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms.
    n_mfcc : int, default=40
        Number of MFCCs.
    n_mels : int, default=128
        Mel bands of the log-mel piece and of the MFCC computation.
    n_fft : int, default=2048
        FFT window (and ZCR / RMS frame) length in samples.
    hop_length : int, default=512
        Samples between frames.
    stats : tuple of str, default=("mean", "std")
        Statistics computed by each :class:`TimePooling`.
    n_jobs : int or None, default=None
        FeatureUnion: pieces computed in parallel. ``shared_stft=True``:
        worker processes over blocks of clips (see :class:`ClassicFeatures`).
    shared_stft : bool, default=False
        Return a :class:`ClassicFeatures` (one shared STFT) instead of the
        FeatureUnion.
    backend : {"auto", "librosa", "torch"}, default="auto"
        Backend of every FeatureUnion piece (ignored with
        ``shared_stft=True``, which computes with torch).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Device of the torch computations.

    Returns
    -------
    features : sklearn.pipeline.FeatureUnion or ClassicFeatures
        Unfitted transformer mapping waveforms ``(n_clips, n_samples)`` to
        ``(n_clips, (2 + n_mfcc + 12 + n_mels + 7) * len(stats))`` float32
        features; ``get_feature_names_out`` gives names such as
        ``"mfcc__mfcc0_mean"``.

    See Also
    --------
    ClassicFeatures : The shared-STFT version of this vector.
    TimePooling : The pooling applied to every piece.
    sersk.pipelines.make_svm_pipeline : A complete classic pipeline.

    Notes
    -----
    In the FeatureUnion each piece computes its own STFT (four spectral
    pieces: four STFTs). The mel piece is in dB (``power_to_db``, absolute
    reference), which keeps its statistics on a scale comparable to the
    others. ``shared_stft=False`` stays the default so that existing
    parameter names (``mfcc__mfcc__n_mfcc``) keep working.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import make_classic_features
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(scale=0.1, size=(4, 8000)).astype(np.float32)
    >>> union = make_classic_features(n_mfcc=13, n_mels=40)
    >>> union.fit_transform(X).shape
    (4, 148)
    >>> [name for name, _ in union.transformer_list]
    ['zcr', 'rms', 'mfcc', 'chroma', 'mel', 'contrast']
    >>> shared = make_classic_features(n_mfcc=13, n_mels=40, shared_stft=True)
    >>> bool(np.allclose(shared.fit_transform(X), union.transform(X), atol=5e-2))
    True
    """
    if shared_stft:
        return ClassicFeatures(
            sr,
            stats=stats,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            n_mfcc=n_mfcc,
            device=device,
            n_jobs=n_jobs,
        )
    backend_kw = {"backend": backend, "device": device}
    stft = {"sr": sr, "n_fft": n_fft, "hop_length": hop_length, **backend_kw}
    frames = {
        "sr": sr,
        "frame_length": n_fft,
        "hop_length": hop_length,
        **backend_kw,
    }
    pieces = [
        ("zcr", ZeroCrossingRate(**frames)),
        ("rms", RMS(**frames)),
        ("mfcc", MFCC(n_mfcc=n_mfcc, n_mels=n_mels, **stft)),
        ("chroma", Chroma(**stft)),
        ("mel", MelSpectrogram(n_mels=n_mels, **stft)),
        ("contrast", SpectralContrast(**stft)),
    ]
    return FeatureUnion(
        [
            (name, make_pipeline(feature, TimePooling(stats=stats)))
            for name, feature in pieces
        ],
        n_jobs=n_jobs,
    )
