"""Feature transformers inside scikit-learn: Pipeline, FeatureUnion, GridSearchCV,
clone, pickling, and the classic-features preset."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.features import (
    MFCC,
    RMS,
    AudioLoader,
    Chroma,
    ClipStandardizer,
    MelSpectrogram,
    SpectralContrast,
    TimePooling,
    ZeroCrossingRate,
    make_classic_features,
)

SR = 16000


def _toy_dataset(n_per_class=8, seconds=0.25, seed=0):
    """Two 'emotions': low harmonic voices vs bright noisy ones."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    X, y = [], []
    for i in range(2 * n_per_class):
        label = i % 2
        f0 = rng.uniform(100, 140) if label == 0 else rng.uniform(220, 300)
        sig = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
        noise = rng.normal(scale=0.02 + 0.1 * label, size=t.size)
        X.append(0.2 * sig + noise)
        y.append(["calm", "angry"][label])
    return np.asarray(X, dtype=np.float32), np.asarray(y)


def test_get_set_params_and_clone():
    mfcc = MFCC(n_mfcc=13, deltas=1)
    assert mfcc.get_params()["n_mfcc"] == 13
    assert mfcc.set_params(n_mfcc=20, hop_length=256) is mfcc
    assert (mfcc.n_mfcc, mfcc.hop_length) == (20, 256)
    twin = clone(mfcc)
    assert twin is not mfcc and twin.get_params() == mfcc.get_params()
    union = make_classic_features(n_mfcc=13)
    union.set_params(
        mfcc__mfcc__n_mfcc=7, chroma="drop", mel__timepooling__stats=("max",)
    )
    assert union.get_params()["mfcc__mfcc__n_mfcc"] == 7
    X = _toy_dataset(n_per_class=1)[0]
    # zcr 2 + rms 2 + mfcc 14 + (chroma dropped) + mel 128 maxima + contrast 14
    assert union.fit_transform(X).shape == (2, 2 + 2 + 14 + 128 + 14)


@pytest.mark.parametrize(
    "est",
    [
        AudioLoader(duration=0.2),
        MelSpectrogram(n_mels=16),
        MFCC(n_mfcc=8, deltas=2),
        Chroma(tuning=None),
        SpectralContrast(),
        ZeroCrossingRate(),
        RMS(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_pickle_round_trip(est):
    X = _toy_dataset(n_per_class=1)[0]
    est.fit(X)
    restored = pickle.loads(pickle.dumps(est))
    assert restored.get_params() == est.get_params()
    np.testing.assert_array_equal(restored.transform(X), est.transform(X))


def test_pipeline_from_wav_files_to_svm(write_wav):
    X, y = _toy_dataset(n_per_class=6)
    paths = [write_wav(f"clip{i}.wav", y=x, subtype="FLOAT") for i, x in enumerate(X)]
    pipe = make_pipeline(
        AudioLoader(sr=SR, duration=0.25),
        MFCC(n_mfcc=13, n_fft=512, hop_length=256),
        TimePooling(),
        StandardScaler(),
        SVC(),
    )
    train = np.arange(len(paths)) % 4 < 2  # both classes on both sides
    paths = np.asarray([str(p) for p in paths])
    pipe.fit(paths[train], y[train])
    assert set(pipe.classes_) == {"angry", "calm"}
    assert (pipe.predict(paths[~train]) == y[~train]).mean() >= 0.8
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(paths), pipe.predict(paths))
    # the same pipeline on already-loaded waveforms gives the same decisions
    np.testing.assert_allclose(
        pipe.decision_function(X), pipe.decision_function(paths), atol=1e-4
    )


def test_grid_search_over_a_feature_parameter():
    X, y = _toy_dataset(n_per_class=6)
    pipe = make_pipeline(
        MFCC(n_fft=512, hop_length=256, n_mels=40),
        TimePooling(),
        StandardScaler(),
        SVC(C=1.0),
    )
    search = GridSearchCV(
        pipe,
        {"mfcc__n_mfcc": [5, 13], "timepooling__stats": [("mean",), ("mean", "std")]},
        cv=StratifiedKFold(2),
    )
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    n_mfcc = search.best_params_["mfcc__n_mfcc"]
    n_stats = len(search.best_params_["timepooling__stats"])
    assert best[-1].n_features_in_ == n_mfcc * n_stats
    assert search.best_score_ >= 0.8
    assert search.score(X, y) >= 0.8


def test_feature_union_concatenates_pooled_pieces():
    X, _ = _toy_dataset(n_per_class=2)
    union = FeatureUnion(
        [
            ("mfcc", make_pipeline(MFCC(n_mfcc=5), TimePooling())),
            ("rms", make_pipeline(RMS(), TimePooling(stats=("max",)))),
        ]
    )
    out = union.fit_transform(X)
    expected = np.hstack(
        [
            TimePooling().transform(MFCC(n_mfcc=5).transform(X)),
            TimePooling(stats=("max",)).transform(RMS().transform(X)),
        ]
    )
    np.testing.assert_array_equal(out, expected)
    assert list(union.get_feature_names_out()[[0, -1]]) == [
        "mfcc__mfcc0_mean",
        "rms__rms_max",
    ]


def test_classic_preset():
    X, _ = _toy_dataset(n_per_class=2)
    union = make_classic_features(n_mfcc=20, n_mels=32, stats=("mean", "std", "max"))
    assert [name for name, _ in union.transformer_list] == [
        "zcr",
        "rms",
        "mfcc",
        "chroma",
        "mel",
        "contrast",
    ]
    out = union.fit_transform(X)
    assert out.shape == (4, (1 + 1 + 20 + 12 + 32 + 7) * 3) and out.dtype == np.float32
    assert np.isfinite(out).all()
    names = union.get_feature_names_out()
    assert len(names) == out.shape[1]
    assert {
        "zcr__zcr_mean",
        "mfcc__mfcc19_max",
        "chroma__chroma_A_std",
        "mel__mel31_mean",
        "contrast__contrast6_max",
    } <= set(names)
    mfcc_cols = [i for i, n in enumerate(names) if n.startswith("mfcc__")]
    np.testing.assert_array_equal(
        out[:, mfcc_cols],
        TimePooling(stats=("mean", "std", "max")).transform(
            MFCC(n_mfcc=20, n_mels=32).transform(X)
        ),
    )
    df = clone(union).set_output(transform="pandas").fit_transform(X)
    assert list(df.columns) == list(names)
    parallel = make_classic_features(
        n_mfcc=20, n_mels=32, stats=("mean", "std", "max"), n_jobs=2
    )
    with parallel_config(backend="threading"):  # no process start-up in tests
        np.testing.assert_array_equal(parallel.fit_transform(X), out)


def test_deep_model_input_chain_and_pipeline_memory(tmp_path):
    X, _ = _toy_dataset(n_per_class=2)
    pipe = Pipeline(
        [("mel", MelSpectrogram(n_mels=32)), ("norm", ClipStandardizer())],
        memory=str(tmp_path),
    )
    out = pipe.fit_transform(X)
    assert out.shape == (4, 32, 8) and out.dtype == np.float32
    assert np.abs(out).max() <= 5.0
    again = clone(pipe).fit_transform(X)  # served from the joblib cache
    np.testing.assert_array_equal(again, out)
    assert any(tmp_path.rglob("*.pkl"))
