"""TimePooling and ClipStandardizer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sersk.features import (
    MFCC,
    AudioLoader,
    ClipStandardizer,
    MelSpectrogram,
    TimePooling,
)

ALL_STATS = ("mean", "std", "min", "max", "median", "skew", "kurtosis")


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, size=(5, 3, 40)) * np.array([1, 10, 100])[:, None]
    return X.astype(np.float32)


def test_statistics_match_numpy_and_scipy(frames):
    out = TimePooling(stats=ALL_STATS).fit_transform(frames)
    assert out.shape == (5, 3 * 7) and out.dtype == np.float32
    X = frames.astype(np.float64)
    expected = np.concatenate(
        [
            X.mean(-1),
            X.std(-1),
            X.min(-1),
            X.max(-1),
            np.median(X, -1),
            sps.skew(X, axis=-1),
            sps.kurtosis(X, axis=-1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_default_is_mean_and_std_and_a_single_string_works(frames):
    out = TimePooling().transform(frames)
    np.testing.assert_allclose(out[:, :3], frames.mean(-1), rtol=1e-6)
    np.testing.assert_allclose(out[:, 3:], frames.std(-1), rtol=1e-5)
    np.testing.assert_allclose(
        TimePooling(stats="max").transform(frames), frames.max(-1)
    )


@pytest.mark.parametrize("value", [0.0, -100.0, 37.25, 1e4])
def test_constant_rows_give_zeros_not_nan(value):
    X = np.full((2, 4, 30), value, dtype=np.float32)
    out = TimePooling(stats=("std", "skew", "kurtosis")).transform(X)
    np.testing.assert_array_equal(out, 0.0)
    one_frame = TimePooling(stats=ALL_STATS).transform(X[:, :, :1])
    assert np.isfinite(one_frame).all()


def test_silent_clip_pipeline_gives_finite_features():
    X = np.zeros((2, 8000), dtype=np.float32)
    X[1] = np.random.default_rng(0).normal(scale=0.1, size=8000)
    pooled = make_pipeline(MelSpectrogram(), TimePooling(stats=ALL_STATS)).transform(X)
    assert np.isfinite(pooled).all()


def test_variable_length_clips(frames):
    ragged = np.empty(3, dtype=object)
    for i, n in enumerate([40, 17, 3]):
        ragged[i] = frames[i, :, :n]
    out = TimePooling(stats=ALL_STATS).fit_transform(ragged)
    assert out.shape == (3, 21)
    for i, n in enumerate([40, 17, 3]):
        np.testing.assert_allclose(
            out[i], TimePooling(stats=ALL_STATS).transform(frames[i : i + 1, :, :n])[0]
        )


def test_native_length_svm_features_from_files(write_wav):
    paths = [
        write_wav(f"{i}.wav", seconds=s, freq=200 + 50 * i)
        for i, s in enumerate([0.3, 0.6])
    ]
    pipe = make_pipeline(AudioLoader(), MFCC(n_mfcc=13), TimePooling())
    assert pipe.fit_transform(paths).shape == (2, 26)


def test_feature_names_and_coefficient_check(frames):
    pool = TimePooling(stats=("mean", "max"))
    with pytest.raises(NotFittedError):
        pool.get_feature_names_out()
    pool.fit(frames)
    assert pool.n_features_in_ == 3
    assert list(pool.get_feature_names_out()) == [
        "coef0_mean",
        "coef1_mean",
        "coef2_mean",
        "coef0_max",
        "coef1_max",
        "coef2_max",
    ]
    assert list(pool.get_feature_names_out(["a", "b", "c"]))[:2] == ["a_mean", "b_mean"]
    with pytest.raises(
        ValueError,
        match="input_features has 2 names, but TimePooling was fitted with 3",
    ):
        pool.get_feature_names_out(["a", "b"])
    with pytest.raises(
        ValueError,
        match="X has 2 coefficients \\(axis 1\\), but TimePooling was fitted with 3",
    ):
        pool.transform(frames[:, :2])


def test_pandas_output_and_feature_names():
    X = np.random.default_rng(0).normal(scale=0.1, size=(3, 4000)).astype(np.float32)
    pipe = make_pipeline(MFCC(n_mfcc=4), TimePooling()).set_output(transform="pandas")
    df = pipe.fit_transform(X)
    assert isinstance(df, pd.DataFrame) and df.shape == (3, 8)
    # a bare Pipeline names the columns from TimePooling alone ...
    assert list(df.columns[:2]) == ["coef0_mean", "coef1_mean"]
    # ... while the chained names carry the coefficient names
    assert list(pipe.get_feature_names_out()[[0, -1]]) == ["mfcc0_mean", "mfcc3_std"]
    np.testing.assert_array_equal(
        df.to_numpy(), pipe.set_output(transform="default").transform(X)
    )
    union = FeatureUnion([("mfcc", make_pipeline(MFCC(n_mfcc=4), TimePooling()))])
    df = union.set_output(transform="pandas").fit_transform(X)
    assert list(df.columns[[0, -1]]) == ["mfcc__mfcc0_mean", "mfcc__mfcc3_std"]


@pytest.mark.parametrize(
    "stats, exc, match",
    [
        (
            ("mean", "variance"),
            ValueError,
            "'stats' parameter of TimePooling must hold statistics among .*Got 'variance' instead",
        ),
        ((), ValueError, "must name at least one statistic"),
        (("mean", "mean"), ValueError, "has duplicates"),
        (
            3,
            InvalidParameterError,
            "The 'stats' parameter of TimePooling must be an instance of",
        ),
    ],
)
def test_bad_stats(frames, stats, exc, match):
    with pytest.raises(exc, match=match):
        TimePooling(stats=stats).fit(frames)
    with pytest.raises(exc, match=match):
        TimePooling(stats=stats).transform(frames)


# ----------------------------------------------------------------- ClipStandardizer


def test_clip_standardizer_zero_mean_unit_variance(frames):
    out = ClipStandardizer(clip=None).fit_transform(frames)
    assert out.dtype == np.float32 and out.shape == frames.shape
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1.0, rtol=1e-5)
    X = frames.astype(np.float64)
    expected = (X - X.mean(axis=(1, 2), keepdims=True)) / X.std(
        axis=(1, 2), keepdims=True
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_clip_standardizer_clips_and_per_coefficient(frames):
    frames[0, 0, 0] = 1e4  # an outlier
    out = ClipStandardizer(clip=5.0).transform(frames)
    assert out.max() == pytest.approx(5.0) and out.min() >= -5.0
    per = ClipStandardizer(clip=None, per_coefficient=True).transform(frames)
    np.testing.assert_allclose(per.mean(axis=2), 0.0, atol=1e-4)
    np.testing.assert_allclose(per.std(axis=2), 1.0, rtol=1e-4)


def test_clip_standardizer_constant_and_silent_clips():
    X = np.full((2, 3, 10), -100.0, dtype=np.float32)
    X[1, 0] = 5.0  # one constant row in a non-constant clip
    out = ClipStandardizer().transform(X)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0.0)
    per = ClipStandardizer(per_coefficient=True).transform(X)
    np.testing.assert_array_equal(per, 0.0)
    silent = MelSpectrogram().transform(np.zeros((1, 4000), dtype=np.float32))
    np.testing.assert_array_equal(ClipStandardizer().transform(silent), 0.0)


def test_clip_standardizer_variable_length(frames):
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = frames[0], frames[1, :, :7]
    out = ClipStandardizer().transform(ragged)
    assert out.dtype == object and out[1].shape == (3, 7)
    np.testing.assert_allclose(
        out[1], ClipStandardizer().transform(frames[1:2, :, :7])[0]
    )


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"clip": 0},
            r"The 'clip' parameter of ClipStandardizer must be a float in the range \(0.0, inf\) or None. Got 0 instead.",
        ),
        ({"eps": -1.0}, "The 'eps' parameter of ClipStandardizer must be"),
        (
            {"per_coefficient": "yes"},
            "The 'per_coefficient' parameter of ClipStandardizer must be",
        ),
    ],
)
def test_clip_standardizer_bad_params(frames, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        ClipStandardizer(**params).transform(frames)
