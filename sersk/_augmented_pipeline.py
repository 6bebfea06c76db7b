"""A Pipeline that trains on speed-perturbed copies of its training clips."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.pipeline import Pipeline

__all__ = ["AugmentedPipeline", "speed_perturb"]


def speed_perturb(y, factor):
    """Play a waveform ``factor`` times faster (resampling, as Kaldi's speed
    perturbation): tempo, pitch and formants all scale by ``factor``.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Mono waveform.
    factor : float
        Speed factor (> 0); 1.1 gives a clip 10 % shorter and 10 % higher.

    Returns
    -------
    y_perturbed : ndarray of shape (round(n_samples / factor),), float32
        The perturbed waveform at the same sampling rate.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.pipelines import speed_perturb
    >>> speed_perturb(np.zeros(16000, dtype=np.float32), 1.25).shape
    (12800,)
    """
    import soxr

    y = np.asarray(y, dtype=np.float32)
    if factor == 1.0:
        return y
    # only the ratio of the two rates matters to the resampler
    return np.asarray(soxr.resample(y, 1000.0 * factor, 1000.0), dtype=np.float32)


def _n_samples(value):
    """Length of a per-clip fit parameter, or None for other values."""
    if isinstance(value, (str, bytes, dict)) or np.isscalar(value) or value is None:
        return None
    try:
        return len(value)
    except TypeError:
        return None


def _raw_waves(pipeline, X):
    """The clips of ``X`` as 1-D arrays, before the pipeline's own loading.

    With an AudioLoader first, a copy of it loads them untrimmed and at their
    native length (the pipeline's loader trims and pads each perturbed copy
    afterwards, as it will the clips it predicts); otherwise ``X`` holds the
    waveforms already.
    """
    from .features import AudioLoader

    first = pipeline.steps[0][1]
    if isinstance(first, AudioLoader):
        loader = first.__class__(**first.get_params())
        loader.set_params(trim_db=None, duration=None, lazy=False)
        X = loader.fit_transform(X)
    return [np.asarray(w) for w in X]


def _tiled(params, n, reps):
    """Fit parameters with one value per clip repeated for the copies."""
    return {
        key: np.concatenate([np.asarray(value)] * reps)
        if _n_samples(value) == n
        else value
        for key, value in params.items()
    }


class AugmentedPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that fits on speed-perturbed
    copies of its training clips as well as the clips themselves.

    Speed perturbation (Ko et al., 2015) plays each training clip a few
    percent faster and slower, which changes the speaking rate, the pitch and
    the formants together: new versions of the training voices, so the model
    depends less on the speakers it was trained on. Only :meth:`fit` sees
    the copies; prediction, transformation and scoring run the plain
    pipeline on the clips given.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        The pipeline's steps, as for :class:`~sklearn.pipeline.Pipeline`.
        When the first step is an :class:`~sersk.features.AudioLoader`, the
        files (or waveforms) are loaded by a copy of it without trimming and
        without a fixed duration, perturbed, and handed to the pipeline as
        waveforms, so the loader then trims and pads each copy as it does at
        prediction. Otherwise the input must be waveforms (a 2-D array or a
        ragged list of 1-D clips) and is perturbed as given.
    speed_factors : tuple of float, default=(0.9, 1.1)
        One copy of every training clip per factor (> 0, 1.0 excluded: the
        clips themselves are always used). An empty tuple or None fits the
        plain pipeline.
    transform_input, memory, verbose
        As for :class:`~sklearn.pipeline.Pipeline`.

    Notes
    -----
    With ``k`` factors, fitting computes the features of ``k + 1`` times the
    training clips and holds their waveforms in memory at once; prediction
    costs what the plain pipeline costs. Per-clip fit parameters (such as
    ``groups`` for :class:`~sersk.features.SpeakerStandardizer`, or
    ``sample_weight``) are repeated for the copies, so each copy keeps its
    clip's speaker. ``fit_transform`` and ``fit_predict`` fit with the copies
    and return the output for the clips given. A slice of the pipeline
    (``pipe[:2]``) is a plain :class:`~sklearn.pipeline.Pipeline`.

    References
    ----------
    T. Ko, V. Peddinti, D. Povey and S. Khudanpur, "Audio augmentation for
    speech recognition", Interspeech 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sersk.pipelines import AugmentedPipeline
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 1600)).astype(np.float32)
    >>> lengths = FunctionTransformer(lambda W: [[len(w)] for w in W])
    >>> pipe = AugmentedPipeline([("len", lengths), ("clf", LogisticRegression())],
    ...                          speed_factors=(0.8, 1.25))
    >>> pipe.fit(X, [0, 1, 0, 1, 0, 1]).predict(X).shape
    (6,)
    """

    def __init__(
        self,
        steps,
        *,
        speed_factors=(0.9, 1.1),
        transform_input=None,
        memory=None,
        verbose=False,
    ):
        super().__init__(
            steps, transform_input=transform_input, memory=memory, verbose=verbose
        )
        self.speed_factors = speed_factors

    def _factors(self):
        factors = () if self.speed_factors is None else self.speed_factors
        try:
            factors = tuple(factors)
        except TypeError:
            factors = (factors,)
        for f in factors:
            if (
                isinstance(f, bool)
                or not isinstance(f, numbers.Real)
                or not np.isfinite(f)
                or f <= 0
                or f == 1.0
            ):
                raise ValueError(
                    "The 'speed_factors' parameter of AugmentedPipeline must be a "
                    "tuple of positive speed factors other than 1.0 (the clips "
                    f"themselves are always used), or None. Got "
                    f"{self.speed_factors!r} instead; e.g. speed_factors=(0.9, 1.1)."
                )
        return factors

    def _augmented(self, X, y, params):
        from .features._base import ragged_array

        factors = self._factors()
        waves = _raw_waves(self, X)
        n = len(waves)
        if y is not None and len(y) != n:
            raise ValueError(
                f"AugmentedPipeline got {n} clips but {len(y)} labels; pass one "
                "label per clip (clips the loader could not read are not "
                "dropped from the labels: fix or remove them first)."
            )
        if any(w.ndim != 1 for w in waves):
            raise ValueError(
                "AugmentedPipeline perturbs mono clips: each clip must be a 1-D "
                "waveform (load with AudioLoader(mono=True), the default)."
            )
        copies = [speed_perturb(w, f) for f in factors for w in waves]
        X_aug = ragged_array(waves + copies)
        reps = len(factors) + 1
        y_aug = None if y is None else np.concatenate([np.asarray(y)] * reps)
        return X_aug, y_aug, _tiled(params, n, reps)

    def fit(self, X, y=None, **params):
        """Fit the pipeline on the clips and their speed-perturbed copies.

        Parameters
        ----------
        X : list of str or array-like
            File paths (with an AudioLoader first) or waveforms.
        y : array-like of shape (n_clips,), default=None
            Labels, repeated for the copies.
        **params : dict
            Fit parameters as for :meth:`sklearn.pipeline.Pipeline.fit`;
            those with one value per clip are repeated for the copies.

        Returns
        -------
        self : AugmentedPipeline
            The fitted pipeline.
        """
        if not self._factors():
            return super().fit(X, y, **params)
        X_aug, y_aug, params_aug = self._augmented(X, y, params)
        return super().fit(X_aug, y_aug, **params_aug)

    def fit_transform(self, X, y=None, **params):
        """Fit with the perturbed copies, then transform ``X``."""
        if not self._factors():
            return super().fit_transform(X, y, **params)
        return self.fit(X, y, **params).transform(X)

    def fit_predict(self, X, y=None, **params):
        """Fit with the perturbed copies, then predict ``X``."""
        if not self._factors():
            return super().fit_predict(X, y, **params)
        return self.fit(X, y, **params).predict(X)

    def __getitem__(self, ind):
        if isinstance(ind, slice):
            if ind.step not in (1, None):
                raise ValueError("Pipeline slicing only supports a step of 1")
            return Pipeline(
                self.steps[ind],
                transform_input=self.transform_input,
                memory=self.memory,
                verbose=self.verbose,
            )
        return super().__getitem__(ind)


def perturbed_copies(pipeline, X):
    """The inputs of an :class:`AugmentedPipeline`'s perturbed copies.

    Yields one ragged batch of waveforms per speed factor: the clips of ``X``
    loaded as :meth:`AugmentedPipeline.fit` loads them (untrimmed, native
    length) and perturbed, ready for the pipeline's own first step. Nothing
    is yielded for another pipeline or without factors. One factor's copies
    are in memory at a time.
    """
    from .features._base import ragged_array

    if not isinstance(pipeline, AugmentedPipeline):
        return
    factors = pipeline._factors()
    if not factors:
        return
    waves = _raw_waves(pipeline, X)
    for f in factors:
        yield ragged_array([speed_perturb(w, f) for w in waves])


class _RowsWithCopies:
    """Fit ``estimator`` on precomputed rows plus their perturbed copies.

    The command line computes the features of a corpus once and
    cross-validates only the head of the pipeline; for an
    :class:`AugmentedPipeline` it also computes the features of the
    perturbed copies once. This estimator takes row indices as ``X``: ``fit``
    trains on ``features[rows]`` and each ``copies[k][rows]``, prediction
    uses ``features[rows]`` alone, as :meth:`AugmentedPipeline.fit` and its
    prediction do.
    """

    def __init__(self, estimator, features, copies):
        self.estimator = estimator
        self.features = features
        self.copies = copies

    # scikit-learn's estimator protocol, written out so the arrays are shared
    # (not copied) by clone
    def get_params(self, deep=True):
        return {
            "estimator": self.estimator,
            "features": self.features,
            "copies": self.copies,
        }

    def set_params(self, **params):
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def __sklearn_clone__(self):
        from sklearn.base import clone

        return _RowsWithCopies(clone(self.estimator), self.features, self.copies)

    def __sklearn_tags__(self):
        return self.estimator.__sklearn_tags__()

    @staticmethod
    def index(n):
        """The ``X`` standing for rows ``0 .. n-1``."""
        return np.arange(n).reshape(-1, 1)

    def _take(self, features, rows):
        return features[np.asarray(rows).ravel()]

    def get_metadata_routing(self):
        from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping

        mapping = MethodMapping()
        for method in ("fit", "predict", "predict_proba", "decision_function"):
            mapping.add(caller=method, callee=method)
        return MetadataRouter(owner=type(self).__name__).add(
            estimator=self.estimator, method_mapping=mapping
        )

    def _routed(self, method, params):
        """``params`` for the estimator's ``method`` (metadata routing on or off)."""
        from .utils._sklearn_compat import _routing_enabled

        if not _routing_enabled():
            return params
        from sklearn.utils.metadata_routing import process_routing

        return dict(process_routing(self, method, **params).estimator[method])

    def fit(self, X, y, **params):
        params = self._routed("fit", params)
        rows = np.asarray(X).ravel()
        reps = 1 + len(self.copies)
        Xs = [self._take(self.features, rows)]
        Xs += [self._take(C, rows) for C in self.copies]
        tiled = _tiled(params, len(rows), reps)
        self.estimator.fit(
            np.concatenate(Xs), np.concatenate([np.asarray(y)] * reps), **tiled
        )
        self.classes_ = self.estimator.classes_
        return self

    def predict(self, X, **params):
        params = self._routed("predict", params)
        return self.estimator.predict(self._take(self.features, X), **params)

    def predict_proba(self, X, **params):
        params = self._routed("predict_proba", params)
        return self.estimator.predict_proba(self._take(self.features, X), **params)

    def decision_function(self, X, **params):
        params = self._routed("decision_function", params)
        return self.estimator.decision_function(self._take(self.features, X), **params)
