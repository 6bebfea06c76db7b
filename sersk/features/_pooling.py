"""TimePooling: frame-level features -> one fixed-size vector per clip."""

from __future__ import annotations

import numpy as np

from ..utils._sklearn_compat import _fit_context, check_is_fitted
from ._base import _StatelessBase, check_choices, check_frame_batch
from ._kernels import pool

__all__ = ["TimePooling"]

_STATS = ("mean", "std", "min", "max", "median", "skew", "kurtosis")


class TimePooling(_StatelessBase):
    """Pool frame-level features over time into one vector per clip.

    Turns ``(n_clips, n_coeffs, n_frames)`` into ``(n_clips, n_coeffs *
    n_stats)`` so that classic models (SVM, random forest) can use
    frame-level features such as :class:`MFCC`.

    Parameters
    ----------
    stats : str or tuple of str, default=("mean", "std")
        Statistics over the frames of each coefficient, among ``"mean"``,
        ``"std"``, ``"min"``, ``"max"``, ``"median"``, ``"skew"`` and
        ``"kurtosis"`` (biased skewness and excess kurtosis, as
        :func:`scipy.stats.skew` and :func:`scipy.stats.kurtosis`).
        Columns are stat-major: all coefficients' means, then all stds, ...

    Attributes
    ----------
    n_features_in_ : int
        Number of coefficients (axis 1) seen in ``fit``; ``transform`` then
        checks it. ``fit`` is optional (the pooling learns nothing).

    See Also
    --------
    ClipStandardizer : Per-clip standardisation that keeps the frames.
    make_classic_features : A FeatureUnion of pooled features.

    Notes
    -----
    Constant rows (e.g. a silent clip's log-mel floor, or a single frame)
    get ``std = skew = kurtosis = 0`` rather than NaN. A 1-D object array of
    ``(n_coeffs, n_frames_i)`` arrays (clips of different lengths, from
    ``AudioLoader(duration=None)``) is accepted and gives a regular 2-D
    output.

    Feature names: ``Pipeline.get_feature_names_out`` and FeatureUnion
    outputs (also as pandas DataFrames, e.g. from
    :func:`make_classic_features`) chain the coefficient names of the
    previous step (``mfcc__mfcc0_mean``, ...). A DataFrame produced by
    TimePooling itself, e.g. as the last step of a bare Pipeline, cannot see
    the previous step and uses ``coef0_mean``, ...

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import TimePooling
    >>> X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    >>> pool = TimePooling(stats=("mean", "max")).fit(X)
    >>> pool.transform(X)[0]
    array([ 1.5,  5.5,  9.5,  3. ,  7. , 11. ], dtype=float32)
    >>> pool.get_feature_names_out()[:2]
    array(['coef0_mean', 'coef1_mean'], dtype=object)
    """

    _parameter_constraints: dict = {"stats": [str, list, tuple]}

    def __init__(self, stats=("mean", "std")):
        self.stats = stats

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def _stats(self):
        return check_choices(
            self.stats,
            _STATS,
            param="stats",
            estimator_name="TimePooling",
            what="statistic",
        )

    def _check_input(self, X):
        self._stats()
        return check_frame_batch(X, estimator_name="TimePooling")

    def _n_coeffs(self, batch):
        return (
            batch.fixed.shape[1] if batch.ragged is None else batch.ragged[0].shape[0]
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and record the number of coefficients.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_coeffs, n_frames)
            Frame-level features (or an object array of per-clip arrays).
        y : None
            Ignored.

        Returns
        -------
        self : TimePooling
            The fitted transformer.
        """
        batch = self._check_input(X)
        self.n_features_in_ = self._n_coeffs(batch)
        return self

    def transform(self, X):
        """Pool each coefficient over the frames.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_coeffs, n_frames)
            Frame-level features, or a 1-D object array of
            ``(n_coeffs, n_frames_i)`` arrays.

        Returns
        -------
        X_pooled : ndarray of shape (n_clips, n_coeffs * n_stats)
            float32 statistics.
        """
        self._validate_params()
        batch = self._check_input(X)
        n_coeffs = self._n_coeffs(batch)
        if hasattr(self, "n_features_in_") and n_coeffs != self.n_features_in_:
            raise ValueError(
                f"X has {n_coeffs} coefficients (axis 1), but TimePooling was fitted "
                f"with {self.n_features_in_}. Use the same feature settings as in fit."
            )
        stats = self._stats()
        if batch.ragged is None:
            return pool(batch.fixed, stats)
        return np.stack([pool(x, stats) for x in batch.ragged])

    def get_feature_names_out(self, input_features=None):
        """Names of the pooled features: ``<coefficient>_<stat>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Names of the coefficients (axis 1 of the input), as returned by
            the feature transformers' ``get_feature_names_out``. ``None``
            uses ``coef0, coef1, ...`` (needs ``fit`` to know their number).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``n_coeffs * n_stats`` names, stat-major.
        """
        stats = self._stats()
        if input_features is None:
            check_is_fitted(self, "n_features_in_")
            input_features = [f"coef{i}" for i in range(self.n_features_in_)]
        else:
            input_features = [str(f) for f in input_features]
            if hasattr(self, "n_features_in_") and len(input_features) != (
                self.n_features_in_
            ):
                raise ValueError(
                    f"input_features has {len(input_features)} names, but TimePooling "
                    f"was fitted with {self.n_features_in_} coefficients."
                )
        return np.asarray(
            [f"{name}_{stat}" for stat in stats for name in input_features],
            dtype=object,
        )
