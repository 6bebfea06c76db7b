"""Baseline pipelines: structure, fit/predict from WAV files and from waveforms."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from sersk import load_model, save_model
from sersk.evaluation import evaluate
from sersk.features import VoiceFunctionals
from sersk.pipelines import (
    make_cnn_lstm_pipeline,
    make_cnn_pipeline,
    make_crnn_pipeline,
    make_fusion_pipeline,
    make_random_forest_pipeline,
    make_rnn_pipeline,
    make_svm_pipeline,
)

SR = 16000
FAST = {"n_mfcc": 13, "n_mels": 40}
# the first release's features (mean and std, no deltas): enough for the easy
# tones below, where 6 training clips cannot fit the 6-statistic recipe
SMALL = {**FAST, "stats": ("mean", "std"), "mfcc_deltas": 0}


def _tones(n_per_class=4, seconds=0.3, seed=0):
    """Low-pitched versus high-pitched noisy harmonic tones (an easy problem)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    X, y, groups = [], [], []
    for label, base in (("sad", 150.0), ("angry", 900.0)):
        for i in range(n_per_class):
            f0 = base * (1 + 0.05 * i)
            wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
            X.append(0.2 * wave + 0.01 * rng.normal(size=t.size))
            y.append(label)
            groups.append(f"spk{i % 2}")
    return np.asarray(X, dtype=np.float32), np.asarray(y), np.asarray(groups)


def test_svm_pipeline_structure_and_defaults():
    pipe = make_svm_pipeline()
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == [
        "audioloader",
        "features",
        "standardscaler",
        "svc",
    ]
    params = pipe.get_params()
    voiced = make_svm_pipeline(voice=True)
    assert [name for name, _ in voiced.steps] == [
        "audioloader",
        "features",
        "standardscaler",
        "voiceweight",
        "svc",
    ]
    assert isinstance(voiced.get_params()["features__voice"], VoiceFunctionals)
    assert "features__voice" not in params
    assert params["svc__C"] == 10.0
    assert params["svc__gamma"] == "scale"
    assert params["svc__kernel"] == "rbf"
    assert params["svc__class_weight"] == "balanced"
    assert params["audioloader__sr"] == 16000
    # the measured best speaker-independent recipe (benchmarks/bench_classic_recipes.py)
    assert params["audioloader__trim_db"] == 30.0
    assert params["features__mfcc__mfcc__n_mfcc"] == 40
    assert params["features__mfcc__mfcc__deltas"] == 2
    assert params["features__mfcc__timepooling__stats"] == (
        "mean",
        "std",
        "min",
        "max",
        "skew",
        "kurtosis",
    )
    assert clone(pipe).set_params(svc__C=1.0).get_params()["svc__C"] == 1.0


def test_svm_pipeline_from_wav_files(write_wav):
    X, y, groups = _tones(n_per_class=6)
    paths = [str(write_wav(f"clip{i}.wav", y=x, sr=SR)) for i, x in enumerate(X)]
    pipe = make_svm_pipeline(**SMALL)
    pipe.fit(paths, y)
    assert pipe.predict(paths).tolist() == y.tolist()
    # the same files as a list through speaker-independent evaluation
    result = evaluate(make_svm_pipeline(**SMALL), paths, y, groups=groups, cv=2)
    assert result.mean("accuracy") == 1.0
    assert pickle.loads(pickle.dumps(pipe)).predict(paths[:2]).tolist() == ["sad"] * 2


def test_svm_pipeline_with_probabilities_from_waveforms():
    X, y, _ = _tones(n_per_class=6)
    pipe = make_svm_pipeline(from_waveforms=True, probability=True, **FAST)
    assert pipe.steps[-1][0] == "calibratedclassifiercv"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        pipe.fit(X, y)
    proba = pipe.predict_proba(X)
    assert proba.shape == (12, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert pipe.classes_.tolist() == ["angry", "sad"]
    np.testing.assert_array_equal(pipe.classes_[proba.argmax(axis=1)], pipe.predict(X))


def test_mfcc_deltas_and_statistics_widen_the_features():
    X, y, _ = _tones(n_per_class=2)
    base = make_svm_pipeline(
        from_waveforms=True, mfcc_deltas=0, stats=("mean", "std"), **FAST
    )[:-2]
    rich = make_svm_pipeline(
        from_waveforms=True, mfcc_deltas=2, stats=("mean", "std", "max"), **FAST
    )[:-2]
    n_base = (2 + 13 + 12 + 40 + 7) * 2
    assert base.fit_transform(X).shape == (4, n_base)
    assert rich.fit_transform(X).shape == (4, (2 + 3 * 13 + 12 + 40 + 7) * 3)
    forest = make_random_forest_pipeline(mfcc_deltas=1)
    assert forest.get_params()["features__mfcc__mfcc__deltas"] == 1


def test_random_forest_pipeline_is_reproducible():
    X, y, _ = _tones()
    pipe = make_random_forest_pipeline(
        from_waveforms=True, n_estimators=20, random_state=0, **FAST
    )
    assert [name for name, _ in pipe.steps] == ["features", "randomforestclassifier"]
    p1 = pipe.fit(X, y).predict(X)
    p2 = clone(pipe).fit(X, y).predict(X)
    assert p1.tolist() == y.tolist()
    np.testing.assert_array_equal(p1, p2)


def test_classic_pipelines_on_synthetic_emotional_speech():
    from sersk.datasets import make_emotional_speech

    X, y, groups = make_emotional_speech(
        24, emotions=("sad", "angry"), duration=0.5, n_speakers=4, random_state=0
    )
    result = evaluate(
        make_svm_pipeline(from_waveforms=True, **SMALL), X, y, groups=groups, cv=2
    )
    assert len(result.folds) == 2
    assert set(result.labels) == {"sad", "angry"}
    # sad versus angry differ strongly in pitch and loudness
    assert result.mean("uar") > 0.6


def test_importing_pipelines_does_not_import_torch():
    code = (
        "import sys, sersk.pipelines; "
        "from sersk.pipelines import make_svm_pipeline; make_svm_pipeline(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "factory, step, first",
    [
        (make_crnn_pipeline, "crnnclassifier", "melspectrogram"),
        (make_cnn_pipeline, "cnnclassifier", "melspectrogram"),
        (make_cnn_lstm_pipeline, "cnnlstmclassifier", "melspectrogram"),
        (make_rnn_pipeline, "rnnclassifier", "melspectrogram"),
    ],
)
def test_deep_pipeline_structure(factory, step, first):
    pipe = factory(max_epochs=3, lr=0.01, patience=2)
    assert [name for name, _ in pipe.steps] == [
        "audioloader",
        first,
        "clipstandardizer",
        step,
    ]
    params = pipe.get_params()
    # full-length clips with leading and trailing silence cut
    assert params["audioloader__duration"] is None
    assert params["audioloader__trim_db"] == 30
    # 128 mel bands for the CRNN, whose recipe study measured both
    assert params[f"{first}__n_mels"] == (128 if step == "crnnclassifier" else 64)
    assert params[f"{step}__max_epochs"] == 3
    assert params[f"{step}__lr"] == 0.01
    assert params[f"{step}__patience"] == 2
    assert factory.__name__ in factory.__doc__
    clone(pipe)


def test_deep_pipeline_bad_arguments():
    with pytest.raises(ValueError, match="'features' parameter of make_crnn_pipeline"):
        make_crnn_pipeline(features="cqt")
    with pytest.raises(ValueError, match="deep must be one of"):
        make_fusion_pipeline("transformer")
    with pytest.raises(ValueError, match="apply only when deep names a factory"):
        make_fusion_pipeline(make_cnn_pipeline(), max_epochs=3)


@pytest.mark.slow
def test_deep_pipeline_fits_on_tiny_waveforms():
    X, y, _ = _tones(n_per_class=6, seconds=0.5)
    pipe = make_cnn_pipeline(
        from_waveforms=True,
        duration=0.5,
        n_mels=32,
        max_epochs=2,
        batch_size=4,
        train_split=None,
        random_state=0,
    )
    pipe.fit(X, y)
    pred = pipe.predict(X)
    assert set(pred) <= {"sad", "angry"} and len(pred) == 12
    proba = pipe.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert len(pipe[-1].history_) == 2


def test_voice_block_is_appended_and_weighted_as_all_spectral_columns_together(
    tmp_path,
):
    X, y, _ = _tones(n_per_class=4)
    # without speed perturbation the scaler is fitted on exactly these clips
    pipe = make_svm_pipeline(
        from_waveforms=True, speed_factors=None, **{**SMALL, "voice": True}
    )
    pipe.fit(X, y)
    n_voice = len(VoiceFunctionals().get_feature_names_out())
    step = [name for name, _ in pipe.steps].index
    names = pipe[: step("standardscaler")].get_feature_names_out()
    assert all(n.startswith("voice__") for n in names[-n_voice:])
    assert not any(n.startswith("voice__") for n in names[:-n_voice])
    n_rest = len(names) - n_voice
    scaled = pipe[: step("voiceweight")].transform(X)
    weighted = pipe[: step("svc")].transform(X)
    np.testing.assert_allclose(weighted[:, :n_rest], scaled[:, :n_rest])
    np.testing.assert_allclose(
        weighted[:, n_rest:], scaled[:, n_rest:] * np.sqrt(n_rest / n_voice)
    )
    # the summed variance of the voice block equals that of the rest (the
    # constant columns of a tone have none)
    var = weighted.var(axis=0)
    live = scaled.var(axis=0) > 0.5
    ratio = var[n_rest:][live[n_rest:]].mean() / var[:n_rest][live[:n_rest]].mean()
    np.testing.assert_allclose(ratio, n_rest / n_voice, rtol=1e-6)
    # the default pipeline saves and loads as a model file (the weight step is
    # on the allowlist of trusted types)
    path = tmp_path / "svm.sersk"
    save_model(pipe, path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    assert loaded.predict(X).tolist() == y.tolist()


def test_voice_functionals_take_the_pipeline_n_jobs():
    pipe = make_svm_pipeline(voice=True, n_jobs=2)
    assert pipe.get_params()["features__voice__n_jobs"] == 2
    assert pipe.get_params()["audioloader__n_jobs"] == 2
