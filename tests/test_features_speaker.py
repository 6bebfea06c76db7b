"""SpeakerStandardizer: per-speaker statistics, metadata routing, fallbacks, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sersk.evaluation import evaluate, standardize_by_speaker
from sersk.exceptions import SpeakerAdaptationWarning
from sersk.features import SpeakerStandardizer


def _speakers(n_speakers=6, n_per=12, n_features=4, seed=0):
    """Clips whose features are speaker offset + scale x emotion signal."""
    rng = np.random.default_rng(seed)
    X, y, g = [], [], []
    for s in range(n_speakers):
        offset = rng.normal(scale=10.0, size=n_features)
        scale = rng.uniform(0.5, 3.0, size=n_features)
        labels = np.arange(n_per) % 2
        signal = labels[:, None] * 1.0 + rng.normal(scale=0.3, size=(n_per, n_features))
        X.append(offset + scale * signal)
        y.append(labels)
        g.append(np.full(n_per, f"spk{s}"))
    return np.concatenate(X), np.concatenate(y), np.concatenate(g)


@pytest.fixture(autouse=True)
def _routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_each_speaker_is_standardised_by_its_own_clips():
    X, _, g = _speakers()
    out = SpeakerStandardizer().fit_transform(X, groups=g)
    for s in np.unique(g):
        rows = out[g == s]
        np.testing.assert_allclose(rows.mean(0), 0.0, atol=1e-12)
        np.testing.assert_allclose(rows.std(0), 1.0, atol=1e-12)
    # the same as the functional form it replaces
    np.testing.assert_allclose(out, standardize_by_speaker(X, g), atol=1e-12)


def test_new_speakers_use_their_own_clips_and_labels_are_never_read():
    X, y, g = _speakers()
    step = SpeakerStandardizer(min_clips=3).fit(X[g != "spk5"], groups=g[g != "spk5"])
    new = X[g == "spk5"]
    out = step.transform(new, groups=g[g == "spk5"])
    np.testing.assert_allclose(out, (new - new.mean(0)) / new.std(0), atol=1e-12)
    with_labels = clone(step).fit(X, y, groups=g).transform(X, groups=g)
    shuffled = clone(step).fit(X, y[::-1], groups=g).transform(X, groups=g)
    np.testing.assert_array_equal(with_labels, shuffled)


def test_speakers_with_few_clips_fall_back_to_training_statistics():
    X, _, g = _speakers()
    step = SpeakerStandardizer(min_clips=5).fit(X, groups=g)
    few = X[:3] + 100.0
    with pytest.warns(
        SpeakerAdaptationWarning, match="1 speaker.*fewer than min_clips=5.*lonely"
    ):
        out = step.transform(few, groups=["lonely"] * 3)
    np.testing.assert_allclose(out, (few - X.mean(0)) / X.std(0), atol=1e-12)
    np.testing.assert_allclose(step.mean_, X.mean(0))
    assert step.n_speakers_ == 6 and step.n_features_in_ == 4


def test_frame_level_features_fixed_and_ragged():
    rng = np.random.default_rng(1)
    F = rng.normal(loc=5.0, size=(6, 3, 10)).astype(np.float32)
    g = np.array([0, 0, 0, 1, 1, 1])
    out = SpeakerStandardizer(min_clips=2).fit_transform(F, groups=g)
    assert out.shape == F.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, standardize_by_speaker(F, g), atol=1e-5)
    ragged = np.empty(6, dtype=object)
    for i in range(6):
        ragged[i] = F[i, :, : 5 + i]
    out = SpeakerStandardizer(min_clips=2).fit_transform(ragged, groups=g)
    assert out.dtype == object and out[5].shape == (3, 10)
    frames = np.concatenate([out[i] for i in range(3)], axis=1)
    np.testing.assert_allclose(frames.mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(frames.std(1), 1.0, atol=1e-5)


def test_pipeline_cross_validate_and_grid_search_route_the_groups():
    X, y, g = _speakers()
    pipe = make_pipeline(SpeakerStandardizer(), LogisticRegression())
    plain = make_pipeline(StandardScaler(), LogisticRegression())
    res = cross_validate(pipe, X, y, cv=GroupKFold(3), params={"groups": g})
    # the voice offsets hide the emotion until they are removed
    assert res["test_score"].mean() > 0.9
    search = GridSearchCV(
        pipe, {"speakerstandardizer__with_std": [True, False]}, cv=GroupKFold(3)
    )
    search.fit(X, y, groups=g)
    assert search.best_score_ > 0.9
    assert search.best_estimator_.predict(X[:12], groups=g[:12]).shape == (12,)
    # without speaker adaptation the voice offsets hide the emotion
    res_plain = cross_validate(plain, X, y, cv=GroupKFold(3), params={"groups": g})
    assert res_plain["test_score"].mean() < res["test_score"].mean() - 0.2


def test_evaluate_routes_the_speakers_of_each_fold():
    X, y, g = _speakers()
    with sklearn.config_context(enable_metadata_routing=False):  # evaluate enables it
        res = evaluate(
            make_pipeline(SpeakerStandardizer(), LogisticRegression()),
            X,
            y,
            groups=g,
            cv=3,
        )
        base = evaluate(make_pipeline(LogisticRegression()), X, y, groups=g, cv=3)
    assert res.mean("uar") > 0.9 > base.mean("uar")


def test_errors_name_the_fix():
    X, _, g = _speakers()
    with pytest.raises(
        ValueError, match="needs the speaker of every clip, but groups=None"
    ):
        SpeakerStandardizer().fit(X)
    step = SpeakerStandardizer().fit(X, groups=g)
    with pytest.raises(ValueError, match="needs the speaker of every clip"):
        step.transform(X)
    with pytest.raises(ValueError, match="X has 72 clips, groups has shape \\(5,\\)"):
        step.transform(X, groups=g[:5])
    with pytest.raises(
        ValueError, match="X has 3 features, but SpeakerStandardizer is expecting 4"
    ):
        step.transform(X[:, :3], groups=g)
    with pytest.raises(ValueError, match="'min_clips' parameter"):
        SpeakerStandardizer(min_clips=0).fit(X, groups=g)
    with pytest.raises(ValueError, match="groups=None"):
        evaluate(
            make_pipeline(SpeakerStandardizer(), LogisticRegression()),
            X,
            _speakers()[1],
            groups=None,
            cv=StratifiedOnly(),
        )


class StratifiedOnly:
    """A splitter that needs no groups (so that only the missing-groups check fires)."""

    def split(self, X, y=None, groups=None):
        n = len(X)
        yield np.arange(n // 2, n), np.arange(n // 2)

    def get_n_splits(self, *args, **kwargs):
        return 1


def test_pickle_round_trip():
    X, _, g = _speakers()
    step = SpeakerStandardizer().fit(X, groups=g)
    again = pickle.loads(pickle.dumps(step))
    np.testing.assert_array_equal(
        again.transform(X, groups=g), step.transform(X, groups=g)
    )
