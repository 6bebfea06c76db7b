"""Per-speaker feature normalisation (transductive, an explicit option)."""

from __future__ import annotations

import numpy as np

__all__ = ["standardize_by_speaker"]


def standardize_by_speaker(X, groups, *, with_std=True, eps=1e-8):
    """Standardise features separately for every speaker.

    Each speaker's rows are centred on that speaker's mean (and divided by its
    standard deviation), which removes much of the voice from the features.
    Clip-level features are normalised per column; frame-level features
    (3-D) per coefficient, over all frames of all the speaker's clips, so a
    deep model sees spectrograms relative to the speaker's average spectrum.
    This is common in SER papers ("speaker normalisation") but it is
    **transductive**: a test speaker is normalised with statistics of its own
    test clips (their audio, never their labels). So it assumes several
    unlabelled clips of every new speaker are available at prediction time.
    Report scores obtained with it as such; sersk never applies it silently.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or \
            (n_samples, n_coeffs, n_frames)
        Clip-level features (e.g. after :class:`~sersk.features.TimePooling`)
        or fixed-size frame-level features (e.g. log-mel spectrograms).
    groups : array-like of shape (n_samples,)
        Speaker id of every row.
    with_std : bool, default=True
        Also divide by the speaker's standard deviation.
    eps : float, default=1e-8
        Floor of the standard deviation (constant features become 0).

    Returns
    -------
    X_normalized : ndarray of the shape of X
        Zero mean (unit variance) within every speaker: float64 for 2-D
        input, float32 for 3-D input (what the deep models take).

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.evaluation import standardize_by_speaker
    >>> X = np.array([[1.0], [3.0], [10.0], [14.0]])
    >>> standardize_by_speaker(X, [0, 0, 1, 1]).ravel()
    array([-1.,  1., -1.,  1.])

    Frame-level input is normalised per coefficient over the speaker's frames:

    >>> S = np.array([[[0.0, 2.0]], [[4.0, 6.0]], [[1.0, 1.0]], [[3.0, 3.0]]])
    >>> standardize_by_speaker(S, [0, 0, 1, 1], with_std=False)[:, 0]
    array([[-3., -1.],
           [ 1.,  3.],
           [-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """
    X = np.asarray(X)
    groups = np.asarray(groups)
    if X.ndim not in (2, 3):
        raise ValueError(
            f"standardize_by_speaker expects 2-D clip-level features (n_samples, "
            f"n_features) or 3-D frame-level features (n_samples, n_coeffs, "
            f"n_frames); got an array of shape {X.shape}. Pool frame-level "
            "features of other shapes first, e.g. with TimePooling."
        )
    X = X.astype(np.float64 if X.ndim == 2 else np.float32, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(
            "standardize_by_speaker got NaN or infinite feature values; "
            "check the audio and the features that produced them."
        )
    axes = (0,) if X.ndim == 2 else (0, 2)
    if groups.shape != (X.shape[0],):
        raise ValueError(
            f"groups must hold one speaker id per row: expected shape "
            f"({X.shape[0]},), got {groups.shape}."
        )
    out = np.empty_like(X)
    for speaker in np.unique(groups):
        rows = groups == speaker
        block = X[rows]
        block = block - block.mean(axis=axes, keepdims=True)
        if with_std:
            block = block / np.maximum(block.std(axis=axes, keepdims=True), eps)
        out[rows] = block
    return out
