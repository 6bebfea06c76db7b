"""AugmentedPipeline: fitting on speed-perturbed copies of the training clips."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sersk import load_model, save_model
from sersk.evaluation import evaluate
from sersk.features import AudioLoader, SpeakerStandardizer
from sersk.pipelines import AugmentedPipeline, make_svm_pipeline, speed_perturb

SR = 16000
FAST = {"n_mfcc": 13, "n_mels": 40, "stats": ("mean", "std"), "mfcc_deltas": 0}


def _lengths(W):
    return np.array([[len(w)] for w in W], dtype=float)


class _Recorder(ClassifierMixin, BaseEstimator):
    """Keeps what fit saw (a real estimator: majority class)."""

    def fit(self, X, y, sample_weight=None):
        self.X_, self.y_, self.sample_weight_ = (
            np.asarray(X),
            np.asarray(y),
            sample_weight,
        )
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def _tones(n=8, seconds=0.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    X, y, g = [], [], []
    for i in range(n):
        f0 = 150.0 if i % 2 else 600.0
        X.append(0.2 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.normal(size=t.size))
        y.append("low" if i % 2 else "high")
        g.append(f"spk{i // 2}")
    return np.asarray(X, dtype=np.float32), np.asarray(y), np.asarray(g)


def test_speed_perturb_scales_length_and_frequency():
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 200.0 * t).astype(np.float32)
    fast = speed_perturb(tone, 1.25)
    assert fast.dtype == np.float32 and fast.shape == (12800,)
    spectrum = np.abs(np.fft.rfft(fast[1000:-1000] * np.hanning(len(fast) - 2000)))
    peak = np.argmax(spectrum) * SR / (len(fast) - 2000)
    assert peak == pytest.approx(250.0, abs=2.0)
    assert speed_perturb(tone, 1.0) is not None
    np.testing.assert_array_equal(speed_perturb(tone, 1.0), tone)


def test_fit_sees_the_clips_and_one_copy_per_factor():
    X, y, _ = _tones(n=6)
    pipe = AugmentedPipeline(
        [("len", FunctionTransformer(_lengths)), ("clf", _Recorder())],
        speed_factors=(0.8, 1.25),
    )
    pipe.fit(X, y, clf__sample_weight=np.arange(6.0))
    seen = pipe[-1]
    n = X.shape[1]
    # originals first, then each factor's copies, labels and weights repeated
    np.testing.assert_array_equal(
        seen.X_.ravel(), [n] * 6 + [round(n / 0.8)] * 6 + [round(n / 1.25)] * 6
    )
    assert seen.y_.tolist() == y.tolist() * 3
    np.testing.assert_array_equal(seen.sample_weight_, np.tile(np.arange(6.0), 3))
    # prediction and transform use the clips alone
    assert pipe.predict(X).shape == (6,)
    np.testing.assert_array_equal(pipe[:1].transform(X).ravel(), [n] * 6)
    assert type(pipe[:1]) is Pipeline


def test_without_factors_it_is_the_plain_pipeline():
    X, y, _ = _tones(n=6)
    for factors in (None, ()):
        pipe = AugmentedPipeline(
            [("len", FunctionTransformer(_lengths)), ("clf", _Recorder())],
            speed_factors=factors,
        ).fit(X, y)
        assert len(pipe[-1].X_) == 6


def test_the_loader_trims_every_copy_as_at_prediction(write_wav):
    # a tone between 0.3 s of silence on each side: the loader trims the
    # silence of the copies too, so each copy is the tone's length / factor
    t = np.arange(int(0.5 * SR)) / SR
    tone = 0.3 * np.sin(2 * np.pi * 300.0 * t)
    clip = np.concatenate([np.zeros(int(0.3 * SR)), tone, np.zeros(int(0.3 * SR))])
    paths = [str(write_wav(f"c{i}.wav", y=clip, sr=SR)) for i in range(2)]
    pipe = AugmentedPipeline(
        [
            ("audioloader", AudioLoader(sr=SR, trim_db=30)),
            ("len", FunctionTransformer(_lengths)),
            ("clf", _Recorder()),
        ],
        speed_factors=(0.5,),
    )
    pipe.fit(paths, ["a", "b"])
    plain, slow = pipe[-1].X_.ravel()[:2], pipe[-1].X_.ravel()[2:]
    trim = AudioLoader(sr=SR, trim_db=30)
    # the copies are the loader's output on the perturbed untrimmed clip
    expected = len(trim.transform([speed_perturb(clip.astype(np.float32), 0.5)])[0])
    np.testing.assert_array_equal(slow, [expected] * 2)
    np.testing.assert_array_equal(plain, [len(trim.transform([clip])[0])] * 2)
    assert plain[0] < len(clip) - 0.3 * SR  # the silence was trimmed
    assert expected > 1.6 * plain[0]
    np.testing.assert_array_equal(pipe[:-1].transform(paths).ravel(), plain)


def test_groups_follow_their_copies_through_metadata_routing():
    X, y, groups = _tones(n=8)
    pipe = make_svm_pipeline(from_waveforms=True, **FAST)
    pipe.steps.insert(2, ("speakerstandardizer", SpeakerStandardizer(min_clips=2)))
    result = evaluate(pipe, X, y, groups=groups, cv=GroupKFold(2))
    assert result.mean("accuracy") == 1.0
    fitted = pipe.fit(X, y, speakerstandardizer__groups=groups)
    assert fitted.named_steps["speakerstandardizer"].n_speakers_ == 4


def test_default_svm_pipeline_clone_grid_search_pickle_and_model_file(tmp_path):
    X, y, groups = _tones(n=8)
    pipe = make_svm_pipeline(from_waveforms=True, **FAST)
    assert isinstance(pipe, AugmentedPipeline) and pipe.speed_factors == (0.9, 1.1)
    assert clone(pipe).get_params()["speed_factors"] == (0.9, 1.1)
    search = GridSearchCV(
        pipe, {"speed_factors": [None, (0.9, 1.1)], "svc__C": [1.0, 10.0]}, cv=2
    ).fit(X, y)
    assert search.best_score_ == 1.0
    pipe.fit(X, y)
    again = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(again.predict(X), pipe.predict(X))
    path = tmp_path / "svm.sersk"
    save_model(pipe, path)
    loaded = load_model(path)
    assert isinstance(loaded, AugmentedPipeline)
    assert loaded.speed_factors == (0.9, 1.1)
    np.testing.assert_array_equal(loaded.predict(X), y)


@pytest.mark.parametrize("bad", [(0.0,), (1.0,), (-0.9,), (float("nan"),), ("x",)])
def test_bad_speed_factors_are_refused(bad):
    X, y, _ = _tones(n=4)
    pipe = AugmentedPipeline(
        [("len", FunctionTransformer(_lengths)), ("clf", _Recorder())],
        speed_factors=bad,
    )
    with pytest.raises(
        ValueError, match="'speed_factors' parameter of AugmentedPipeline"
    ):
        pipe.fit(X, y)


def test_label_count_mismatch_is_refused():
    X, y, _ = _tones(n=4)
    pipe = AugmentedPipeline(
        [("len", FunctionTransformer(_lengths)), ("clf", _Recorder())]
    )
    with pytest.raises(ValueError, match="got 4 clips but 3 labels"):
        pipe.fit(X, y[:3])


def test_make_pipeline_interop():
    # an AugmentedPipeline nests in a plain one like any estimator
    X, y, _ = _tones(n=6)
    inner = AugmentedPipeline(
        [("len", FunctionTransformer(_lengths)), ("clf", _Recorder())],
        speed_factors=(1.5,),
    )
    outer = make_pipeline(FunctionTransformer(lambda W: W), inner).fit(X, y)
    assert len(outer[-1][-1].X_) == 12


def test_command_line_head_on_precomputed_copies_equals_the_pipeline_fit():
    # the CLI computes the features of the clips and of their copies once and
    # fits the head on row indices; that must be the pipeline's own fit
    from sersk.cli._model import split_pipeline, with_perturbed_copies
    from sersk.datasets import make_emotional_speech

    X, y, groups = make_emotional_speech(
        48, sr=SR, duration=0.6, n_speakers=4, random_state=0
    )
    X = np.asarray(X, dtype=np.float32)
    pipe = make_svm_pipeline(from_waveforms=True, **FAST)
    loader, front, head = split_pipeline(pipe)
    F = front.transform(loader.transform(X))
    head, rows = with_perturbed_copies(pipe, head, X, F, quiet=True)
    assert len(head.copies) == 2 and rows.shape == (48, 1)
    train, test = next(GroupKFold(4).split(X, y, groups))
    cli = clone(head).fit(rows[train], y[train])
    lib = clone(make_svm_pipeline(from_waveforms=True, **FAST)).fit(X[train], y[train])
    np.testing.assert_array_equal(cli.predict(rows[test]), lib.predict(X[test]))
    np.testing.assert_allclose(
        cli.decision_function(rows[test]), lib.decision_function(X[test]), atol=1e-6
    )
    result = evaluate(head, rows, y, groups=groups, cv=GroupKFold(4))
    assert result.folds.shape[0] == 4
