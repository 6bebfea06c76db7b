"""Time-domain frame-level features: zero-crossing rate and RMS energy.

Both accept ``backend``/``device``/``n_jobs`` like the spectral transformers.
On the CPU, ``backend="auto"`` uses numpy for both (torch is no faster for
these framed sums), so neither imports torch by default; torch only with
``device="cuda"``.
"""

from __future__ import annotations

from ._base import LENGTH_CONSTRAINT, SR_CONSTRAINT
from ._compute import BACKEND_CONSTRAINTS, _FrameFeature

__all__ = ["ZeroCrossingRate", "RMS"]

_CONSTRAINTS = {
    "sr": SR_CONSTRAINT,
    "frame_length": LENGTH_CONSTRAINT,
    "hop_length": LENGTH_CONSTRAINT,
    **BACKEND_CONSTRAINTS,
}


class _TimeFeature(_FrameFeature):
    #: numpy is as fast as torch on the CPU for these framed sums
    _auto_backend = "librosa"
    _parameter_constraints: dict = dict(_CONSTRAINTS)

    def __init__(
        self,
        sr=16000,
        *,
        frame_length=2048,
        hop_length=512,
        backend="auto",
        device="auto",
        n_jobs=None,
    ):
        self.sr = sr
        self.frame_length = frame_length
        self.hop_length = hop_length
        self.backend = backend
        self.device = device
        self.n_jobs = n_jobs

    def _frame_length(self):
        return self.frame_length

    def _coef_names(self):
        return [self._kernel]

    def _frames(self, K, x):
        return getattr(K, self._kernel)(x, self.frame_length, self.hop_length)


class ZeroCrossingRate(_TimeFeature):
    """Zero-crossing rate per frame (``librosa.feature.zero_crossing_rate``).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms. The rate is a fraction of samples,
        so ``sr`` does not change the values; it is a parameter so that every
        feature transformer of a pipeline is configured alike.
    frame_length : int, default=2048
        Samples per frame.
    hop_length : int, default=512
        Samples between (centred) frames.
    backend : {"auto", "librosa", "torch"}, default="auto"
        How to compute: numpy/librosa framing or the batched torch function.
        ``"auto"`` uses numpy (faster than torch on the CPU, exact either way; torch
        is not imported) unless ``device="cuda"``.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the torch backend computes; ``"auto"`` picks CUDA when
        available, ``"cuda"`` without a GPU raises a ``ValueError``.
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        thread; ``None`` computes in this process (see
        :class:`~sersk.features.MelSpectrogram` for when to use which).

    See Also
    --------
    RMS : Root-mean-square energy per frame.

    Notes
    -----
    As librosa: frames are centred (edge padding), samples with
    ``|y| <= 1e-10`` count as zero and zero counts as positive. The output
    has shape ``(n_clips, 1, n_frames)``. Crossings are counted with a
    cumulative sum over the clip instead of materialising the overlapping
    frames, which gives the same (integer) counts with less memory.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import ZeroCrossingRate
    >>> t = np.arange(16000) / 16000
    >>> Z = ZeroCrossingRate().fit_transform(np.sin(2 * np.pi * 100 * t)[np.newaxis])
    >>> Z.shape  # one row, 1 + 16000 // 512 frames
    (1, 1, 32)
    >>> bool(abs(np.median(Z) * 16000 / 2 - 100) < 5)  # 2 crossings per period
    True
    """

    _kernel = "zcr"


class RMS(_TimeFeature):
    """Root-mean-square energy per frame (``librosa.feature.rms``).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate of the waveforms (does not change the values; kept so
        every feature transformer is configured alike).
    frame_length : int, default=2048
        Samples per frame.
    hop_length : int, default=512
        Samples between (centred, zero-padded) frames.
    backend : {"auto", "librosa", "torch"}, default="auto"
        How to compute: numpy/librosa framing or the batched torch function.
        ``"auto"`` uses numpy on the CPU (torch was no faster there; equal
        within 1e-6) and torch with ``device="cuda"``.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the torch backend computes; ``"auto"`` picks CUDA when
        available, ``"cuda"`` without a GPU raises a ``ValueError``.
    n_jobs : int or None, default=None
        Worker processes (joblib) over blocks of clips, each limited to one
        thread; ``None`` computes in this process (see
        :class:`~sersk.features.MelSpectrogram` for when to use which).

    See Also
    --------
    ZeroCrossingRate : Zero-crossing rate per frame.

    Notes
    -----
    The output has shape ``(n_clips, 1, n_frames)``; values are linear (apply
    ``np.log`` or a :class:`~sklearn.preprocessing.FunctionTransformer` for a
    log scale).

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import RMS
    >>> X = np.full((1, 8000), 0.5, dtype=np.float32)
    >>> R = RMS().fit_transform(X)
    >>> R.shape, float(R[0, 0, 8])
    ((1, 1, 16), 0.5)
    """

    _kernel = "rms"
