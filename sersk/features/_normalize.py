"""ClipStandardizer: per-clip standardisation of frame-level features."""

from __future__ import annotations

import numpy as np

from ..utils._sklearn_compat import Interval, Real
from ._base import _StatelessTransformer, check_frame_batch, ragged_array

__all__ = ["ClipStandardizer"]


def _standardize(X, axes, clip, eps):
    X = np.asarray(X, dtype=np.float64)
    mu = X.mean(axis=axes, keepdims=True)
    sd = X.std(axis=axes, keepdims=True)
    out = (X - mu) / np.where(sd < eps, 1.0, sd)
    if clip is not None:
        np.clip(out, -clip, clip, out=out)
    return out.astype(np.float32)


class ClipStandardizer(_StatelessTransformer):
    """Standardise each clip's frame-level features, then clip the values.

    Every clip is shifted to zero mean and scaled to unit variance over all
    its coefficients and frames (or per coefficient), then clipped to
    ``[-clip, clip]``: the input normalisation of the CRNN recipes, which
    removes level differences between recordings and tames outliers.

    Parameters
    ----------
    clip : float or None, default=5.0
        Clip the standardised values to ``[-clip, clip]``; ``None`` keeps them.
    per_coefficient : bool, default=False
        Standardise each coefficient (row) of a clip separately over its
        frames (cepstral mean and variance normalisation) instead of the
        whole clip at once.
    eps : float, default=1e-6
        Standard deviations below ``eps`` count as zero: such constant clips
        (or rows), e.g. digital silence, are only centred and give zeros,
        never NaN.

    See Also
    --------
    TimePooling : Pool frames into one vector per clip.
    sklearn.preprocessing.StandardScaler : Standardise features over the dataset.

    Notes
    -----
    Stateless: nothing is learned from the training set, so the same clip
    gives the same output in training and prediction. Accepts a 3-D array
    ``(n_clips, n_coeffs, n_frames)`` or a 1-D object array of per-clip
    ``(n_coeffs, n_frames_i)`` arrays (returned as such).

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import ClipStandardizer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(loc=-40, scale=10, size=(2, 8, 20)).astype(np.float32)
    >>> Z = ClipStandardizer().fit_transform(X)
    >>> bool(np.allclose(Z.mean(axis=(1, 2)), 0, atol=1e-5)), float(np.abs(Z).max()) <= 5
    (True, True)
    """

    _parameter_constraints: dict = {
        "clip": [Interval(Real, 0, None, closed="neither"), None],
        "per_coefficient": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, clip=5.0, *, per_coefficient=False, eps=1e-6):
        self.clip = clip
        self.per_coefficient = per_coefficient
        self.eps = eps

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def _check_input(self, X):
        return check_frame_batch(X, estimator_name="ClipStandardizer")

    def _transform_batch(self, batch):
        if batch.ragged is None:
            axes = (2,) if self.per_coefficient else (1, 2)
            return _standardize(batch.fixed, axes, self.clip, self.eps)
        axes = (1,) if self.per_coefficient else (0, 1)
        return ragged_array(
            [_standardize(x, axes, self.clip, self.eps) for x in batch.ragged]
        )
