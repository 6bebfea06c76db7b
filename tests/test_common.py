"""scikit-learn's estimator checks on every public estimator of sersk.features.

Layout (so other areas can add theirs in their own file, e.g.
``tests/test_common_models.py``, without editing this one):

- ``FEATURE_ESTIMATORS``: one fast instance of each public estimator.
- ``EXPECTED_FAILED_CHECKS``: ``{class name: {check name: reason}}``, passed
  to :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`
  (``xfail_strict=True``, so a check that starts passing must be removed).
- Estimators taking 3-D frames ``(n_clips, n_coeffs, n_frames)``
  (``TimePooling``, ``ClipStandardizer``) declare
  ``input_tags.three_d_array=True, two_d_array=False``. scikit-learn cannot
  test such estimators (it only runs ``check_estimator_cloneable`` and
  emits a ``SkipTestWarning``), so ``test_3d_*`` below re-run the relevant
  checks on 3-D data.
"""

from __future__ import annotations

import importlib.util
import inspect
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import SkipTestWarning
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import _num_samples

import sersk.features
from sersk.features import (
    MFCC,
    RMS,
    AudioLoader,
    Chroma,
    ClassicFeatures,
    ClipStandardizer,
    MelSpectrogram,
    OpenSmile,
    Prosody,
    SpeakerStandardizer,
    SpectralContrast,
    TimePooling,
    VoiceFunctionals,
    ZeroCrossingRate,
)

# Small windows: scikit-learn's check data are "clips" of 1-10 samples.
FEATURE_ESTIMATORS = [
    AudioLoader(),
    AudioLoader(duration=0.0005, pad_mode="center"),  # pads/trims to 8 samples
    MelSpectrogram(n_fft=64, hop_length=16, n_mels=8),
    MFCC(n_mfcc=5, deltas=2, n_fft=64, hop_length=16, n_mels=8),
    Chroma(n_fft=64, hop_length=16),
    SpectralContrast(n_fft=128, hop_length=32),
    ZeroCrossingRate(frame_length=64, hop_length=16),
    RMS(frame_length=64, hop_length=16),
    # the other backend of each transformer (backend="auto" picks torch for
    # mel/MFCC/chroma and librosa/numpy for contrast/ZCR/RMS on the CPU)
    MelSpectrogram(n_fft=64, hop_length=16, n_mels=8, backend="librosa"),
    MFCC(n_mfcc=5, deltas=1, n_fft=64, hop_length=16, n_mels=8, backend="librosa"),
    Chroma(n_fft=64, hop_length=16, backend="librosa"),
    SpectralContrast(n_fft=128, hop_length=32, backend="torch"),
    ZeroCrossingRate(frame_length=64, hop_length=16, backend="torch"),
    RMS(frame_length=64, hop_length=16, backend="torch"),
    ClassicFeatures(n_fft=128, hop_length=32, n_mels=8, n_mfcc=5, device="cpu"),
    TimePooling(stats=("mean", "std", "min", "max", "median", "skew", "kurtosis")),
    ClipStandardizer(),
    Prosody(),
    Prosody(frame_length=544, hop_length=16),  # the smallest legal frame
    VoiceFunctionals(),
]
HAS_OPENSMILE = importlib.util.find_spec("opensmile") is not None
if HAS_OPENSMILE:  # the `opensmile` extra (installed by .ci/run)
    FEATURE_ESTIMATORS.append(OpenSmile())
# SpeechEmbedding (the `embeddings` extra: transformers) on a tiny random encoder
# with a 1-sample receptive field (the checks' clips are 1 to 20 samples long),
# written once to a path that is the same in every process (it is in the ids)
HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
if HAS_TRANSFORMERS:
    from test_features_embedding import common_check_instance

    FEATURE_ESTIMATORS.append(common_check_instance())


class _SpeakerStandardizerWithGroups(SpeakerStandardizer):
    """scikit-learn's checks call fit/transform without metadata: this adapter
    supplies three speakers, so they exercise everything else (validation,
    dtypes, pickling, idempotence...); the routing of real speaker ids is
    tested in test_features_speaker.py."""

    def fit(self, X, y=None, groups=None):
        return super().fit(X, y, groups=_three_speakers(X, groups))

    def transform(self, X, groups=None):
        return super().transform(X, groups=_three_speakers(X, groups))

    def fit_transform(self, X, y=None, groups=None):
        return self.fit(X, y, groups).transform(X, groups)


def _three_speakers(X, groups):
    return np.arange(_num_samples(X)) % 3 if groups is None else groups


FEATURE_ESTIMATORS.append(_SpeakerStandardizerWithGroups(min_clips=1))

_NO_N_FEATURES = (
    "stateless audio transformer: the number of samples per clip is not a fixed "
    "feature count (clips of any length are valid after fit), so n_features_in_ "
    "is neither set nor checked"
)
_WAVEFORM_XFAIL = {
    "check_n_features_in": _NO_N_FEATURES,
    "check_n_features_in_after_fitting": _NO_N_FEATURES,
    # integer waveforms are PCM samples, scaled as soundfile does; int64 is no
    # PCM format, so its full scale is unknown and it is refused with a message
    # that says how to convert (tested in test_features_spectral.py)
    "check_estimators_dtypes": "int64 waveforms are refused: not a PCM sample format",
}
_PER_SPEAKER = (
    "statistics are those of each speaker's clips in the call: another subset "
    "or order of the same speakers' clips standardises differently, by design"
)
EXPECTED_FAILED_CHECKS = {
    name: dict(_WAVEFORM_XFAIL)
    for name in [
        "AudioLoader",
        "MelSpectrogram",
        "MFCC",
        "Chroma",
        "SpectralContrast",
        "ZeroCrossingRate",
        "RMS",
        "ClassicFeatures",
        "Prosody",
        "VoiceFunctionals",
        "OpenSmile",
        "SpeechEmbedding",
    ]
}
EXPECTED_FAILED_CHECKS["_SpeakerStandardizerWithGroups"] = {
    "check_methods_subset_invariance": _PER_SPEAKER,
    "check_methods_sample_order_invariance": _PER_SPEAKER,
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


with warnings.catch_warnings():
    warnings.simplefilter("ignore", SkipTestWarning)  # the two 3-D estimators
    _sklearn_checks = parametrize_with_checks(
        FEATURE_ESTIMATORS,
        expected_failed_checks=_expected_failed_checks,
        xfail_strict=True,
    )


@_sklearn_checks
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked():
    public = {
        name
        for name in sersk.features.__all__
        if inspect.isclass(getattr(sersk.features, name))
        and issubclass(getattr(sersk.features, name), BaseEstimator)
    }
    checked = {
        type(est).__mro__[1 if type(est).__name__.startswith("_") else 0].__name__
        for est in FEATURE_ESTIMATORS
    }
    if not HAS_OPENSMILE:
        public.discard("OpenSmile")
    if not HAS_TRANSFORMERS:
        public.discard("SpeechEmbedding")
    assert public == checked


# --------------------------------------------------------------------------
# Checks on 3-D input for TimePooling and ClipStandardizer (scikit-learn skips
# them, see the module docstring). Each mirrors the scikit-learn check named
# in its docstring.

FRAME_ESTIMATORS = [
    est
    for est in FEATURE_ESTIMATORS
    if est.__sklearn_tags__().input_tags.three_d_array
    # its 3-D path needs speakers and a fit: test_features_speaker.py
    and not isinstance(est, SpeakerStandardizer)
]
_ids = [type(est).__name__ for est in FRAME_ESTIMATORS]


def _frames(n_clips=12, n_coeffs=4, n_frames=9, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_clips, n_coeffs, n_frames)).astype(np.float32)


def test_3d_estimators_declare_their_input():
    assert {type(e).__name__ for e in FRAME_ESTIMATORS} == {
        "TimePooling",
        "ClipStandardizer",
    }
    for est in FRAME_ESTIMATORS:
        tags = est.__sklearn_tags__()
        assert not tags.input_tags.two_d_array
        assert not tags.requires_fit


@pytest.mark.parametrize("est", FRAME_ESTIMATORS, ids=_ids)
def test_3d_params_clone_and_init(est):
    """check_no_attributes_set_in_init, check_get_params_invariance, check_set_params."""
    fresh = type(est)()
    assert set(vars(fresh)) == set(fresh.get_params())
    cloned = clone(est)
    assert cloned is not est and cloned.get_params() == est.get_params()
    params = est.get_params()
    assert cloned.set_params(**params).get_params() == params


@pytest.mark.parametrize("est", FRAME_ESTIMATORS, ids=_ids)
def test_3d_fit_transform_consistency(est):
    """check_transformer_general, check_fit_idempotent, check_estimators_fit_returns_self,
    check_transformers_unfitted_stateless, check_dict_unchanged."""
    X = _frames()
    est = clone(est)
    unfitted = est.transform(X)
    assert est.fit(X) is est
    state = dict(vars(est))
    out = est.transform(X)
    assert dict(vars(est)).keys() == state.keys()
    # exact: the same transform on the same array, in the same process
    np.testing.assert_array_equal(out, unfitted)
    np.testing.assert_array_equal(clone(est).fit_transform(X), out)
    np.testing.assert_array_equal(est.fit(X).transform(X), out)
    assert out.dtype == np.float32 and out.shape[0] == X.shape[0]
    assert np.isfinite(out).all()


@pytest.mark.parametrize("est", FRAME_ESTIMATORS, ids=_ids)
def test_3d_sample_order_and_subset_invariance(est):
    """check_methods_sample_order_invariance, check_methods_subset_invariance."""
    X = _frames()
    out = clone(est).fit(X).transform(X)
    perm = np.random.default_rng(1).permutation(len(X))
    # Another batch size or order may change how the reductions are blocked
    # (SIMD width, torch chunks): a few float32 ulps of O(1) values, and an
    # atol for outputs near zero where rtol alone would demand bit equality.
    tol = dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(est.transform(X[perm]), out[perm], **tol)
    for i in (0, 5):
        np.testing.assert_allclose(est.transform(X[i : i + 1])[0], out[i], **tol)


@pytest.mark.parametrize("est", FRAME_ESTIMATORS, ids=_ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_3d_dtypes(est, dtype):
    """check_estimators_dtypes, check_transformer_preserve_dtypes (float32 out)."""
    X = (3 * _frames()).astype(dtype)
    out = clone(est).fit(X).transform(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        out, clone(est).transform(X.astype(np.float32)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("est", FRAME_ESTIMATORS, ids=_ids)
def test_3d_pickle_and_readonly_memmap(est, tmp_path):
    """check_estimators_pickle (also with readonly memmap input)."""
    X = _frames()
    est = clone(est).fit(X)
    out = est.transform(X)
    restored = pickle.loads(pickle.dumps(est))
    # exact: the same parameters, the same array, the same code path
    np.testing.assert_array_equal(restored.transform(X), out)
    np.save(tmp_path / "X.npy", X)
    X_mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    # Another memory layout (memmap alignment, Fortran order) may change the
    # order of the float32 reductions: a few ulps of O(1) values.
    tol = dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(restored.transform(X_mm), out, **tol)
    np.testing.assert_allclose(restored.transform(np.asfortranarray(X)), out, **tol)


@pytest.mark.parametrize("est", FRAME_ESTIMATORS, ids=_ids)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_3d_nan_inf(est, bad):
    """check_estimators_nan_inf."""
    X = _frames()
    X[3, 1, 2] = bad
    for method in ("fit", "transform"):
        with pytest.raises(
            ValueError, match=r"NaN/Inf value\(s\) \(in clip\(s\) \[3\]"
        ):
            getattr(clone(est), method)(X)


@pytest.mark.parametrize("est", FRAME_ESTIMATORS, ids=_ids)
def test_3d_bad_shapes_and_types(est):
    """check_estimators_empty_data_messages, check_fit1d, check_complex_data,
    check_dtype_object, check_estimator_sparse_*."""
    from scipy import sparse

    name = type(est).__name__
    with pytest.raises(ValueError, match="0 sample\\(s\\) \\(shape=\\(0, 4, 9\\)\\)"):
        clone(est).fit(np.empty((0, 4, 9)))
    with pytest.raises(ValueError, match="0 feature\\(s\\) \\(shape=\\(3, 4, 0\\)\\)"):
        clone(est).fit(np.empty((3, 4, 0)))
    with pytest.raises(ValueError, match="2-D array looks like waveforms"):
        clone(est).fit(np.ones((3, 100)))
    with pytest.raises(ValueError, match=f"{name} expects 3-D .* shape \\(5,\\)"):
        clone(est).fit(np.ones(5))
    with pytest.raises(ValueError, match="Complex data not supported"):
        clone(est).fit(_frames() + 1j)
    with pytest.raises(TypeError, match="does not accept sparse input"):
        clone(est).fit(sparse.csr_array(np.ones((3, 4))))
    X = _frames().astype(object)
    np.testing.assert_allclose(
        clone(est).fit_transform(X), clone(est).fit_transform(_frames()), rtol=1e-6
    )
    X[0, 0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be .* string.* number"):
        clone(est).fit(X)
    with pytest.raises(TypeError, match="expects numeric frame-level features"):
        clone(est).fit(np.full((2, 3, 4), "a"))


@pytest.mark.parametrize("est", FRAME_ESTIMATORS, ids=_ids)
def test_3d_bad_params_message(est):
    """check_param_validation: the scikit-learn message format."""
    name = type(est).__name__
    param = {"TimePooling": "stats", "ClipStandardizer": "clip"}[name]
    bad = clone(est).set_params(**{param: -1})
    with pytest.raises(
        InvalidParameterError, match=f"The '{param}' parameter of {name} must be"
    ):
        bad.fit(_frames())
    with pytest.raises(InvalidParameterError, match="Got -1 instead"):
        bad.transform(_frames())
