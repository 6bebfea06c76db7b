"""Presets: the classic SER feature vector as a FeatureUnion."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.pipeline import FeatureUnion, make_pipeline

from ._pooling import TimePooling
from ._spectral import MFCC, Chroma, MelSpectrogram, SpectralContrast
from ._temporal import RMS, ZeroCrossingRate

__all__ = ["make_classic_features"]


def make_classic_features(
    sr: int = 16000,
    *,
    n_mfcc: int = 40,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop_length: int = 512,
    stats: str | Sequence[str] = ("mean", "std"),
    n_jobs: int | None = None,
) -> FeatureUnion:
    """Build the classic feature vector of the SVM / random-forest SER literature.

    Pooled statistics of zero-crossing rate, RMS energy, MFCC, chroma,
    log-mel spectrogram and spectral contrast, concatenated: a
    :class:`~sklearn.pipeline.FeatureUnion` of
    ``make_pipeline(feature, TimePooling(stats))`` pieces named ``"zcr"``,
    ``"rms"``, ``"mfcc"``, ``"chroma"``, ``"mel"`` and ``"contrast"``.
    Every piece can be tuned or dropped like any FeatureUnion part, e.g.
    ``set_params(mfcc__mfcc__n_mfcc=20, chroma="drop")``.

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
        Pieces computed in parallel by the FeatureUnion.

    Returns
    -------
    features : sklearn.pipeline.FeatureUnion
        Unfitted union mapping waveforms ``(n_clips, n_samples)`` to
        ``(n_clips, (2 + n_mfcc + 12 + n_mels + 7) * len(stats))`` float32
        features; ``get_feature_names_out`` gives names such as
        ``"mfcc__mfcc0_mean"``.

    See Also
    --------
    TimePooling : The pooling applied to every piece.
    sersk.pipelines.make_svm_pipeline : A complete classic pipeline.

    Notes
    -----
    Each piece computes its own STFT (four spectral pieces: four STFTs). The
    mel piece is in dB (``power_to_db``, absolute reference), which keeps its
    statistics on a scale comparable to the others.

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
    """
    stft = {"sr": sr, "n_fft": n_fft, "hop_length": hop_length}
    frames = {"sr": sr, "frame_length": n_fft, "hop_length": hop_length}
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
