"""SpeakerStandardizer: standardise features by the statistics of each clip's speaker."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..exceptions import SpeakerAdaptationWarning
from ..utils._sklearn_compat import (
    Integral,
    Interval,
    Real,
    _check_feature_names_in,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ._base import check_frame_batch, ragged_array

__all__ = ["SpeakerStandardizer"]


class SpeakerStandardizer(TransformerMixin, BaseEstimator):
    """Standardise every feature by the statistics of the clip's own speaker.

    Speaker adaptation as a pipeline step: each clip is centred on (and
    scaled by) the mean and standard deviation of the clips of **its
    speaker** in the same call, which removes much of the voice (pitch range,
    timbre, loudness habits) from the features and keeps what changes with
    the emotion. The speaker ids arrive as ``groups`` through scikit-learn's
    metadata routing: the step requests ``groups`` in ``fit`` and
    ``transform``, so it works inside :class:`~sklearn.pipeline.Pipeline`,
    :func:`~sklearn.model_selection.cross_validate` (``params={"groups":
    groups}``), :class:`~sklearn.model_selection.GridSearchCV` and
    :func:`sersk.evaluation.evaluate` once routing is enabled
    (``sklearn.set_config(enable_metadata_routing=True)``; ``evaluate``
    enables it itself). Labels are never looked at.

    At prediction time the statistics come from the unlabelled clips of each
    new speaker passed in the same call, so the model adapts to a speaker it
    has never heard, given a few of their recordings (at least
    ``min_clips``). A speaker with fewer clips in the call is standardised
    with the training statistics instead, with a
    :class:`~sersk.exceptions.SpeakerAdaptationWarning`.

    Parameters
    ----------
    min_clips : int, default=5
        Clips a speaker needs in a call to be standardised by their own
        statistics; fewer fall back to the statistics of the whole training
        set.
    with_mean : bool, default=True
        Centre each speaker's features.
    with_std : bool, default=True
        Divide by each speaker's standard deviation.
    eps : float, default=1e-8
        Standard deviations below ``eps`` count as 1 (constant features are
        only centred).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,) or (n_coeffs, 1)
        Mean of the training clips (the fallback), per feature (2-D input) or
        per coefficient over all frames (frame-level input).
    scale_ : ndarray of the shape of ``mean_``
        Standard deviation of the training clips (the fallback).
    n_features_in_ : int
        Number of features (2-D) or coefficients (3-D) seen in ``fit``.
    n_speakers_ : int
        Number of speakers in the training data.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : Standardise with the statistics of
        the whole training set.
    ClipStandardizer : Standardise each clip by its own statistics.

    Notes
    -----
    Input: clip-level features ``(n_clips, n_features)`` (e.g. after
    :class:`TimePooling`), standardised per column; or frame-level features
    ``(n_clips, n_coeffs, n_frames)`` (also a ragged object array of
    ``(n_coeffs, n_frames_i)`` arrays), standardised per coefficient over all
    frames of the speaker's clips, so a deep model sees spectrograms relative
    to the speaker's average spectrum.

    Scores obtained with this step assume several unlabelled clips of every
    test speaker at prediction time: report them as speaker-adapted.

    Examples
    --------
    >>> import numpy as np, sklearn
    >>> from sersk.features import SpeakerStandardizer
    >>> X = np.array([[1.0], [3.0], [10.0], [14.0]])
    >>> step = SpeakerStandardizer(min_clips=2)
    >>> step.fit_transform(X, groups=["a", "a", "b", "b"]).ravel()
    array([-1.,  1., -1.,  1.])
    >>> step.transform(np.array([[20.0], [40.0]]), groups=["new", "new"]).ravel()
    array([-1.,  1.])
    """

    __metadata_request__fit = {"groups": True}
    __metadata_request__transform = {"groups": True}

    _parameter_constraints: dict = {
        "min_clips": [Interval(Integral, 1, None, closed="left")],
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, min_clips=5, with_mean=True, with_std=True, eps=1e-8):
        self.min_clips = min_clips
        self.with_mean = with_mean
        self.with_std = with_std
        self.eps = eps

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _check(self, X, groups, *, reset):
        """``(kind, data, groups)``: 2-D array, or a frame batch, and speaker ids."""
        name = "SpeakerStandardizer"
        if groups is None:
            raise ValueError(
                f"{name} needs the speaker of every clip, but groups=None. Pass "
                "groups=speaker_ids to fit/transform; in a Pipeline, GridSearchCV or "
                "cross_validate enable routing with sklearn.set_config("
                "enable_metadata_routing=True) and pass groups (cross_validate: "
                "params={'groups': groups})."
            )
        first = X[0] if isinstance(X, (list, tuple)) and len(X) else None
        frames = np.ndim(first) == 2 or (
            isinstance(X, np.ndarray)
            and (X.ndim == 3 or (X.dtype == object and X.ndim == 1))
        )
        if frames:
            batch = check_frame_batch(X, estimator_name=name)
            n_clips = batch.n_clips
            n_features = (
                batch.fixed.shape[1]
                if batch.ragged is None
                else batch.ragged[0].shape[0]
            )
            if not reset and n_features != self.n_features_in_:
                raise ValueError(
                    f"X has {n_features} coefficients, but {name} was fitted with "
                    f"{self.n_features_in_}."
                )
            if reset:
                self.n_features_in_ = n_features
            data = batch
        else:
            data = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            n_clips = data.shape[0]
        groups = np.asarray(groups)
        if groups.shape != (n_clips,):
            raise ValueError(
                f"groups must hold one speaker id per clip: X has {n_clips} clips, "
                f"groups has shape {groups.shape}."
            )
        return frames, data, groups

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None):
        """Learn the training statistics (the fallback for unknown speakers).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features) or (n_clips, n_coeffs, n_frames)
            Clip-level or frame-level features.
        y : None
            Ignored: labels are never looked at.
        groups : array-like of shape (n_clips,)
            Speaker id of every clip (required).

        Returns
        -------
        self : SpeakerStandardizer
            The fitted step.
        """
        frames, data, groups = self._check(X, groups, reset=True)
        self.mean_, self.scale_ = self._stats(self._rows(frames, data))
        self.n_speakers_ = np.unique(groups).size
        return self

    def fit_transform(self, X, y=None, groups=None):
        """Fit, then standardise the training clips by their speakers' statistics.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features) or (n_clips, n_coeffs, n_frames)
            Clip-level or frame-level features.
        y : None
            Ignored.
        groups : array-like of shape (n_clips,)
            Speaker id of every clip (required).

        Returns
        -------
        X_new : ndarray of the shape of X
            Standardised features.
        """
        return self.fit(X, y, groups=groups).transform(X, groups=groups)

    def transform(self, X, groups=None):
        """Standardise each clip by the statistics of its speaker in this call.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features) or (n_clips, n_coeffs, n_frames)
            Clip-level or frame-level features.
        groups : array-like of shape (n_clips,)
            Speaker id of every clip (required).

        Returns
        -------
        X_new : ndarray of the shape of X
            Standardised features (a ragged input gives a ragged output).
        """
        check_is_fitted(self)
        frames, data, groups = self._check(X, groups, reset=False)
        rows = self._rows(frames, data)
        out = [None] * len(rows)
        few = []
        for speaker in np.unique(groups):
            idx = np.flatnonzero(groups == speaker)
            if idx.size >= self.min_clips:
                mean, scale = self._stats([rows[i] for i in idx])
            else:
                few.append(speaker)
                mean, scale = self.mean_, self.scale_
            for i in idx:
                out[i] = ((rows[i] - mean) / scale).astype(rows[i].dtype, copy=False)
        if few:
            warnings.warn(
                SpeakerAdaptationWarning(
                    f"{len(few)} speaker(s) have fewer than min_clips={self.min_clips} "
                    f"clips in this call ({', '.join(map(str, few[:5]))}"
                    f"{', ...' if len(few) > 5 else ''}): standardised with the "
                    "training statistics instead of their own."
                ),
                stacklevel=2,
            )
        if frames and data.ragged is not None:
            return ragged_array(out)
        return np.stack(out)

    @staticmethod
    def _rows(frames, data):
        """One array per clip: a row (2-D input) or ``(n_coeffs, n_frames)``."""
        if not frames:
            return list(data)
        return data.ragged if data.ragged is not None else list(data.fixed)

    def _stats(self, rows):
        """Mean and scale over the clips (and frames) of ``rows``."""
        if rows[0].ndim == 1:
            block, axis = np.stack(rows), 0
        else:  # per coefficient over every frame of every clip
            block, axis = np.concatenate(rows, axis=1), 1
        block = block.astype(np.float64)
        mean = block.mean(axis=axis, keepdims=block.ndim == 2 and axis == 1)
        if not self.with_mean:
            mean = np.zeros_like(mean)
        scale = np.ones_like(mean)
        if self.with_std:
            std = block.std(axis=axis, keepdims=block.ndim == 2 and axis == 1)
            scale = np.where(std <= self.eps, 1.0, std)
        return mean, scale

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: those of the input.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; ``None`` uses ``feature_names_in_`` when set,
            else ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The input names.
        """
        check_is_fitted(self)
        return _check_feature_names_in(self, input_features)
