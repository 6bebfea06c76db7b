"""Shared machinery of the feature transformers: input checks and base classes.

Two kinds of input flow through :mod:`sersk.features`:

- **waveforms**: a 2-D float array ``(n_clips, n_samples)`` (fixed length), or a
  1-D object array (or list) of 1-D waveforms of different lengths, as
  returned by ``AudioLoader(duration=None)``;
- **frames**: a 3-D float array ``(n_clips, n_coeffs, n_frames)``, or a 1-D
  object array (or list) of 2-D ``(n_coeffs, n_frames_i)`` arrays.

The helpers here turn either form into a :class:`_Batch` and back, with error
messages that name the estimator, the value and the fix.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..exceptions import InvalidAudioError
from ..utils._sklearn_compat import Integral, Interval, _fit_context

__all__ = []

#: Constraints of sampling rates and of window / hop lengths in samples. The
#: upper bounds refuse absurd values (a stored n_fft of 2**26 would allocate
#: gigabytes per clip) with scikit-learn's parameter message.
SR_CONSTRAINT = [Interval(Integral, 1, 768_000, closed="both")]
LENGTH_CONSTRAINT = [Interval(Integral, 1, 2**16, closed="both")]


def _is_sparse(X):
    return hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse")


def _as_object_list(X):
    """Return a list of elements when ``X`` holds ragged arrays, else None."""
    if isinstance(X, np.ndarray):
        if X.dtype == object and X.ndim == 1:
            return list(X)
        return None
    if hasattr(X, "iloc") and getattr(X, "ndim", 2) == 1:  # pandas Series
        values = X.to_numpy()
        return list(values) if values.dtype == object else None
    if isinstance(X, (list, tuple)):
        if len(X) and all(
            isinstance(x, np.ndarray) or isinstance(x, (list, tuple)) for x in X
        ):
            shapes = {np.shape(x) for x in X}
            if len(shapes) > 1:
                return list(X)
        return None
    return None


def _to_float_array(X, *, what, estimator_name, shape_hint):
    """np.asarray with the sklearn-style error messages for bad dtypes."""
    if _is_sparse(X):
        raise TypeError(
            f"{estimator_name} does not accept sparse input (got {type(X).__name__}); "
            f"pass a dense array of {what} of shape {shape_hint}, e.g. X.toarray()."
        )
    arr = np.asarray(X)
    if np.iscomplexobj(arr):
        raise ValueError(
            f"Complex data not supported: {estimator_name} expects real-valued {what}; "
            f"got dtype {arr.dtype}. Use np.abs(X) or X.real first."
        )
    if arr.dtype == object:
        # numeric data stored as objects: convert like scikit-learn does (this
        # raises "float() argument must be a string or a real number" otherwise)
        arr = arr.astype(np.float64)
    elif not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(
            f"{estimator_name} expects numeric {what}; got an array of dtype "
            f"{arr.dtype}. File paths go through AudioLoader first."
        )
    return arr


def check_choices(value, allowed, *, param, estimator_name, what):
    """``value`` (a name or a sequence of distinct names among ``allowed``) as a tuple."""
    names = (value,) if isinstance(value, str) else tuple(value)
    start = f"The '{param}' parameter of {estimator_name}"
    if not names:
        raise ValueError(
            f"{start} must name at least one {what} among {list(allowed)}. "
            f"Got {value!r} instead."
        )
    for name in names:
        if name not in allowed:
            raise ValueError(
                f"{start} must hold {what}s among {list(allowed)}. Got {name!r} instead."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"{start} has duplicates: {list(names)}.")
    return names


def _check_finite(arr, *, what, estimator_name, index=None):
    bad = ~np.isfinite(arr)
    if bad.any():
        n_bad = int(bad.sum())
        if index is None:
            clips = np.unique(np.nonzero(bad)[0])[:5].tolist()
        else:
            clips = [index]
        raise InvalidAudioError(
            f"{estimator_name} got {what} with {n_bad} NaN/Inf value(s) (in clip(s) "
            f"{clips}). Repair or drop those clips; np.nan_to_num(X) replaces them with zeros."
        )


class _Batch:
    """A validated batch: one fixed-size array, a list of ragged arrays, or lazy.

    ``lazy`` (only from ``check_waveforms(..., allow_lazy=True)``) is a
    :class:`~sersk.features.LazyWaveforms`; :func:`sersk.features._compute.compute`
    reads it one chunk at a time.
    """

    def __init__(self, fixed=None, ragged=None, lazy=None):
        self.fixed = fixed
        self.ragged = ragged
        self.lazy = lazy

    @property
    def n_clips(self):
        if self.lazy is not None:
            return len(self.lazy)
        return len(self.fixed) if self.ragged is None else len(self.ragged)


def _is_lazy(X):
    """True for a :class:`~sersk.features.LazyWaveforms` (duck-typed, no import cycle)."""
    return getattr(type(X), "_sersk_lazy_waveforms", False)


def _check_items(items, *, estimator_name, what, ndim, item_shape, fix):
    """Validate the clips of a variable-length batch: numeric, shaped, finite."""
    if not items:
        raise ValueError(
            f"{estimator_name} got an empty batch (0 clips). Pass at least one clip."
        )
    out = []
    for i, x in enumerate(items):
        a = _to_float_array(
            x, what=what, estimator_name=estimator_name, shape_hint=item_shape
        )
        if a.ndim != ndim:
            raise ValueError(
                f"{estimator_name}: clip {i} of the variable-length batch must be "
                f"{what} of shape {item_shape}; got shape {a.shape}. {fix}"
            )
        if 0 in a.shape:
            raise ValueError(
                f"{estimator_name}: clip {i} is empty (shape {a.shape}). Drop it or "
                "check the file."
            )
        if out and a.shape[:-1] != out[0].shape[:-1]:
            raise ValueError(
                f"{estimator_name}: all clips must have the same number of "
                f"coefficients; clip 0 has {out[0].shape[0]}, clip {i} has {a.shape[0]}."
            )
        a = np.ascontiguousarray(a, dtype=np.float32)
        _check_finite(a, what=what, estimator_name=estimator_name, index=i)
        out.append(a)
    return _Batch(ragged=out)


def _check_fixed(X, *, estimator_name, what, shape, fix):
    """Validate a fixed-size batch of ``len(shape)`` dimensions, as float32."""
    arr = _to_float_array(X, what=what, estimator_name=estimator_name, shape_hint=shape)
    ndim = shape.count(",") + 1
    if arr.ndim != ndim:
        raise ValueError(
            f"{estimator_name} expects {ndim}-D {what} of shape {shape}; "
            f"got an array of shape {arr.shape}. {fix.get(arr.ndim, fix[None])}"
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"{estimator_name} got 0 clips: Found array with 0 sample(s) "
            f"(shape={arr.shape}) while a minimum of 1 is required."
        )
    if 0 in arr.shape:
        raise ValueError(
            f"{estimator_name} got empty {what}: Found array with 0 feature(s) "
            f"(shape={arr.shape}) while a minimum of 1 is required: every axis of "
            f"{shape} needs at least one element."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    _check_finite(arr, what=what, estimator_name=estimator_name)
    return _Batch(fixed=arr)


_FRAME_FIX = (
    "Put a frame-level feature transformer such as MelSpectrogram or MFCC before "
    "this step."
)


def check_waveforms(X, *, estimator_name, allow_lazy=False):
    """Validate a batch of waveforms.

    Returns a :class:`_Batch` holding either ``fixed``: a C-contiguous float32
    array ``(n_clips, n_samples)``, or ``ragged``: a list of 1-D float32 arrays.
    Integer PCM (int8, int16, int32, uint8) is scaled to [-1, 1] as soundfile
    does (:func:`sersk.io.pcm_to_float`); other integer types are refused.

    A :class:`~sersk.features.LazyWaveforms` (``AudioLoader(lazy=True)``) is
    returned unread as ``_Batch(lazy=X)`` when ``allow_lazy`` (the consumer
    streams it); otherwise it is loaded whole (``np.asarray``), which works
    but saves no memory.
    """
    if _is_lazy(X):
        if allow_lazy:
            return _Batch(lazy=X)
        X = np.asarray(X)
    items = _as_object_list(X)
    if items is not None:
        return _check_items(
            [_integer_pcm_scaled(x, estimator_name) for x in items],
            estimator_name=estimator_name,
            what="waveforms",
            ndim=1,
            item_shape="(n_samples,)",
            fix="Mix stereo down to mono first.",
        )
    fix = {
        1: "Reshape your data with X[np.newaxis, :] for a single clip.",
        3: "A 3-D array looks like frame-level features or multichannel audio: mix "
        "channels down to mono (AudioLoader(mono=True)) and put this step first.",
        None: "Reshape your data to (n_clips, n_samples).",
    }
    return _check_fixed(
        _integer_pcm_scaled(X, estimator_name),
        estimator_name=estimator_name,
        what="waveforms",
        shape="(n_clips, n_samples)",
        fix=fix,
    )


def _integer_pcm_scaled(x, estimator_name):
    """Integer PCM samples scaled to [-1, 1] as soundfile does (int64: a clear error)."""
    if getattr(x, "dtype", None) is not None and x.dtype.kind in "iu":
        from ..io import pcm_to_float

        return pcm_to_float(x, name=f"The waveforms given to {estimator_name}")
    return x


def check_frame_batch(X, *, estimator_name):
    """Validate frame-level features.

    Returns a :class:`_Batch` holding either ``fixed``: a float32 array
    ``(n_clips, n_coeffs, n_frames)``, or ``ragged``: a list of float32 arrays
    ``(n_coeffs, n_frames_i)`` that share ``n_coeffs``.
    """
    what = "frame-level features"
    items = _as_object_list(X)
    if items is not None:
        return _check_items(
            items,
            estimator_name=estimator_name,
            what=what,
            ndim=2,
            item_shape="(n_coeffs, n_frames)",
            fix=_FRAME_FIX,
        )
    fix = {
        2: "A 2-D array looks like waveforms or already pooled features. " + _FRAME_FIX,
        None: "",
    }
    return _check_fixed(
        X,
        estimator_name=estimator_name,
        what=what,
        shape="(n_clips, n_coeffs, n_frames)",
        fix=fix,
    )


def ragged_array(items):
    """Pack a list of arrays into a 1-D object array (never a stacked array)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


class _NoPandasOutputMixin:
    """``set_output`` that accepts any setting and keeps ndarray outputs.

    Waveforms and 3-D frame-level features cannot be DataFrames. The method
    exists so that a :class:`~sklearn.pipeline.Pipeline` or
    :class:`~sklearn.pipeline.FeatureUnion` containing this step can be
    configured with ``set_output(transform="pandas")``: the pooled, 2-D
    steps downstream (e.g. :class:`TimePooling`) then return DataFrames.
    """

    def set_output(self, *, transform=None):
        """Accept an output configuration; this step always returns ndarrays.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            Ignored: the output (waveforms or 3-D frames) stays a NumPy array
            so that a Pipeline or FeatureUnion holding this step can be
            configured as a whole.

        Returns
        -------
        self : estimator instance
            The estimator, unchanged.
        """
        return self


class _StatelessBase(TransformerMixin, BaseEstimator):
    """Base of the stateless transformers: ``fit`` only validates.

    Subclasses implement ``_check_input(X)`` (validation, returns a batch) and
    ``_transform_batch(batch)``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _validate_all(self, X):
        # transform works without fit (stateless), so it validates the
        # parameters itself; fit does it through _fit_context.
        self._validate_params()
        self._check_params()
        return self._check_input(X)

    def _check_params(self):
        """Cross-parameter checks (overridden where needed)."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and the input; nothing is learned.

        Parameters
        ----------
        X : array-like
            Input batch (see the class documentation for its shape).
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The transformer.
        """
        self._check_params()
        self._check_input(X)
        return self

    def transform(self, X):
        """Compute the output for a batch (``fit`` is not needed).

        Parameters
        ----------
        X : array-like
            Input batch (see the class documentation for its shape).

        Returns
        -------
        X_out : ndarray
            float32 array, or a 1-D object array of float32 arrays for a
            variable-length input batch.
        """
        return self._transform_batch(self._validate_all(X))


class _StatelessTransformer(_NoPandasOutputMixin, _StatelessBase):
    """Stateless transformer whose output (waveforms, 3-D frames) stays an ndarray."""

    def __init_subclass__(cls, **kwargs):
        # No automatic pandas wrapping: outputs are waveforms or 3-D frames.
        kwargs.setdefault("auto_wrap_output_keys", None)
        super().__init_subclass__(**kwargs)
