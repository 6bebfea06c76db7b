"""Per-speaker feature normalisation (transductive, an explicit option)."""

from __future__ import annotations

import numpy as np

__all__ = ["standardize_by_speaker"]


def standardize_by_speaker(X, groups, *, with_std=True, eps=1e-8):
    """Standardise pooled features separately for every speaker.

    Each speaker's rows are centred on that speaker's mean (and divided by its
    standard deviation), which removes much of the voice from the features.
    This is common in SER papers ("speaker normalisation") but it is
    **transductive**: a test speaker is normalised with statistics of its own
    test clips (their audio, never their labels). So it assumes several
    unlabelled clips of every new speaker are available at prediction time.
    Report scores obtained with it as such; sersk never applies it silently.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Clip-level features (e.g. after :class:`~sersk.features.TimePooling`).
    groups : array-like of shape (n_samples,)
        Speaker id of every row.
    with_std : bool, default=True
        Also divide by the speaker's standard deviation.
    eps : float, default=1e-8
        Floor of the standard deviation (constant features become 0).

    Returns
    -------
    X_normalized : ndarray of shape (n_samples, n_features)
        float64 features, zero mean (unit variance) within every speaker.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.evaluation import standardize_by_speaker
    >>> X = np.array([[1.0], [3.0], [10.0], [14.0]])
    >>> standardize_by_speaker(X, [0, 0, 1, 1]).ravel()
    array([-1.,  1., -1.,  1.])
    """
    X = np.asarray(X, dtype=np.float64)
    groups = np.asarray(groups)
    if X.ndim != 2:
        raise ValueError(
            f"standardize_by_speaker expects 2-D clip-level features (n_samples, "
            f"n_features); got an array of shape {X.shape}. Pool frame-level "
            "features first, e.g. with TimePooling."
        )
    if groups.shape != (X.shape[0],):
        raise ValueError(
            f"groups must hold one speaker id per row: expected shape "
            f"({X.shape[0]},), got {groups.shape}."
        )
    out = np.empty_like(X)
    for speaker in np.unique(groups):
        rows = groups == speaker
        block = X[rows]
        block = block - block.mean(axis=0)
        if with_std:
            block = block / np.maximum(block.std(axis=0), eps)
        out[rows] = block
    return out
