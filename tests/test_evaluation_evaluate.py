"""evaluate(): folds, metrics, leakage warning, reports, speaker normalisation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_backend
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
)
from sklearn.neighbors import KNeighborsClassifier

from sersk.evaluation import (
    EvaluationResult,
    LeakageWarning,
    check_speaker_independence,
    evaluate,
    markdown_table,
    standardize_by_speaker,
)


class FixedPredictionClassifier(ClassifierMixin, BaseEstimator):
    """Predicts ``labels[X[:, 0]]``.

    It ignores the training labels, so its out-of-fold predictions are known in
    advance; it remembers the speakers (column 1) it was trained on.
    """

    def __init__(self, labels=("angry", "happy", "sad")):
        self.labels = labels

    def fit(self, X, y, groups=None):
        self.classes_ = np.asarray(self.labels)
        self.train_speakers_ = np.unique(np.asarray(X)[:, 1])
        self.fit_groups_ = None if groups is None else np.asarray(groups)
        return self

    def predict(self, X):
        return self.classes_[np.asarray(X)[:, 0].astype(int)]


LABELS = np.array(["angry", "happy", "sad"])


def _known_problem():
    # 12 clips, 6 speakers x 2 clips; prediction index in column 0
    y = np.array(["angry", "happy"] * 6)
    pred = np.array([0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1])
    speakers = np.repeat([10, 11, 12, 13, 14, 15], 2)
    X = np.column_stack([pred, speakers]).astype(float)
    return X, y, speakers, pred


def test_result_columns():
    X, y, speakers, _ = _known_problem()
    y = np.array(["angry", "happy"] * 6)
    result = evaluate(FixedPredictionClassifier(), X, y, groups=speakers, cv=3)
    assert isinstance(result, EvaluationResult)
    assert result.folds.columns.tolist() == [
        "fold",
        "n_train",
        "n_test",
        "accuracy",
        "uar",
        "macro_f1",
        "fit_time",
        "predict_time",
        "test_speakers",
    ]
    assert result.summary.index.tolist() == [
        "accuracy",
        "uar",
        "macro_f1",
        "fit_time",
        "predict_time",
    ]
    assert result.summary.columns.tolist() == ["mean", "std"]
    assert result.per_class.columns.tolist() == ["precision", "recall", "f1", "support"]


def test_summed_confusion_matrix_per_class_and_fold_scores():
    # three classes present in every training fold
    y = np.array(["angry", "happy", "sad"] * 4)
    # predicted indices (classes sorted: angry=0, happy=1, sad=2)
    pred = np.array([0, 1, 2, 0, 0, 2, 1, 1, 2, 0, 1, 0])
    speakers = np.repeat([1, 2, 3, 4], 3)
    X = np.column_stack([pred, speakers]).astype(float)
    folds = [(np.arange(6, 12), np.arange(6)), (np.arange(6), np.arange(6, 12))]
    result = evaluate(FixedPredictionClassifier(), X, y, groups=speakers, cv=folds)

    # fold 0 (samples 0-5): true a h s a h s, pred a h s a a s -> 5/6 correct
    # recalls: a 2/2, h 1/2, s 2/2 -> UAR 5/6
    # fold 1 (samples 6-11): true a h s a h s, pred h h s a h a -> 4/6
    # recalls: a 1/2, h 2/2, s 1/2 -> UAR 2/3
    np.testing.assert_allclose(result.folds["accuracy"], [5 / 6, 4 / 6])
    np.testing.assert_allclose(result.folds["uar"], [5 / 6, 2 / 3])
    # fold 0 F1: a: p 2/3 r 1 -> 0.8; h: p 1 r .5 -> 2/3; s: 1 -> macro 0.8222
    np.testing.assert_allclose(result.folds.loc[0, "macro_f1"], (0.8 + 2 / 3 + 1) / 3)
    assert result.folds["n_test"].tolist() == [6, 6]
    assert result.folds["test_speakers"].tolist() == ["1,2", "3,4"]
    assert (result.folds["fit_time"] >= 0).all()

    expected_cm = np.array([[3, 1, 0], [1, 3, 0], [1, 0, 3]])
    np.testing.assert_array_equal(result.confusion_matrix, expected_cm)
    assert result.labels.tolist() == ["angry", "happy", "sad"]
    # pooled per-class scores from the summed matrix
    np.testing.assert_allclose(result.per_class["recall"], [3 / 4, 3 / 4, 3 / 4])
    np.testing.assert_allclose(result.per_class["precision"], [3 / 5, 3 / 4, 1.0])
    assert result.per_class["support"].tolist() == [4, 4, 4]

    summary = result.summary
    assert summary.loc["accuracy", "mean"] == pytest.approx(0.75)
    assert summary.loc["accuracy", "std"] == pytest.approx(1 / 12)
    assert result.format_metric("uar") == "0.750 ± 0.083"
    # out-of-fold predictions
    assert result.test_mask.all()
    assert result.y_pred.tolist() == LABELS[pred].tolist()


def test_default_cv_is_group_kfold_and_respects_groups():
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(10), 6)
    y = np.tile(["angry", "sad", "happy"], 20)
    X = np.column_stack([rng.integers(0, 3, 60), speakers]).astype(float)
    result = evaluate(
        FixedPredictionClassifier(), X, y, groups=speakers, return_estimators=True
    )
    assert result.cv == "GroupKFold(n_splits=5)"
    assert len(result.folds) == 5
    seen = []
    for est, test_speakers in zip(
        result.estimators, result.folds["test_speakers"], strict=True
    ):
        test = {float(s) for s in test_speakers.split(",")}
        assert test.isdisjoint(est.train_speakers_)
        assert len(test) + len(est.train_speakers_) == 10
        seen.extend(test)
    assert sorted(seen) == list(range(10))
    assert result.leaking_folds == []


def test_logo_gives_one_fold_per_speaker():
    speakers = np.repeat(["s1", "s2", "s3", "s4"], 4)
    y = np.tile(["a", "b"], 8)
    X = np.column_stack([np.tile([0, 1], 8), np.repeat([1, 2, 3, 4], 4)])
    clf = FixedPredictionClassifier(labels=("a", "b"))
    result = evaluate(clf, X, y, groups=speakers, cv="logo")
    assert result.folds["test_speakers"].tolist() == ["s1", "s2", "s3", "s4"]
    assert result.cv == "LeaveOneGroupOut()"
    assert result.mean("accuracy") == 1.0


def test_int_cv_and_parallel_folds_agree():
    rng = np.random.default_rng(1)
    y = np.tile(["a", "b"], 30)
    X = rng.normal(size=(60, 2)) + (y == "a")[:, None] * 2.0
    groups = np.repeat(np.arange(6), 10)
    r1 = evaluate(KNeighborsClassifier(3), X, y, groups=groups, cv=3)
    with parallel_backend("threading"):  # same code path, no process start-up
        r2 = evaluate(KNeighborsClassifier(3), X, y, groups=groups, cv=3, n_jobs=2)
    assert len(r1.folds) == 3
    np.testing.assert_array_equal(r1.confusion_matrix, r2.confusion_matrix)
    np.testing.assert_allclose(r1.folds["uar"], r2.folds["uar"])


def test_list_inputs_such_as_paths_are_indexed():
    # X as a plain list (e.g. file paths); the estimator converts it itself
    X, y, speakers, _ = _known_problem()
    y = np.array(["angry", "happy"] * 6)
    rows = [list(map(float, row)) for row in X]
    rows = [[i % 2, s] for i, (_, s) in enumerate(rows)]
    result = evaluate(FixedPredictionClassifier(), rows, y, groups=speakers, cv=3)
    assert result.mean("accuracy") == 1.0


def test_speaker_independent_cv_needs_groups():
    X, y, _, _ = _known_problem()
    with pytest.raises(ValueError, match="needs the speaker id of every clip"):
        evaluate(FixedPredictionClassifier(), X, y)
    with pytest.raises(ValueError, match="needs the speaker id"):
        evaluate(FixedPredictionClassifier(), X, y, cv="logo")
    with pytest.raises(ValueError, match="needs the speaker id"):
        evaluate(FixedPredictionClassifier(), X, y, cv=3)
    # an explicit splitter without groups is the user's informed choice
    result = evaluate(FixedPredictionClassifier(), X, y, cv=KFold(3))
    assert result.folds["test_speakers"].tolist() == ["", "", ""]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cv": "random"}, "The 'cv' parameter of evaluate must be"),
        ({"cv": 1}, "2 <= n_splits <= number of speakers"),
        ({"cv": 7}, r"number of speakers \(6\)"),
        ({"groups": np.arange(5)}, r"expected shape \(12,\)"),
        ({"labels": ["angry"]}, r"labels missing from `labels`: \['happy'\]"),
    ],
)
def test_bad_arguments(kwargs, match):
    X, y, speakers, _ = _known_problem()
    kwargs = {"groups": speakers, **kwargs}
    with pytest.raises(ValueError, match=match):
        evaluate(FixedPredictionClassifier(), X, y, **kwargs)


def test_bad_estimator_and_lengths():
    X, y, speakers, _ = _known_problem()
    with pytest.raises(TypeError, match="needs an estimator with fit and predict"):
        evaluate(object(), X, y, groups=speakers)
    with pytest.raises(ValueError, match="X has 12 samples, y has shape"):
        evaluate(FixedPredictionClassifier(), X, y[:5], groups=speakers)


def test_missing_labels_are_named():
    X, y, speakers, _ = _known_problem()
    y = y.astype(object)
    y[[3, 7]] = None
    with pytest.raises(
        ValueError,
        match=r"Input y contains NaN or None: 2 missing label\(s\) at position\(s\) "
        r"\[3, 7\]",
    ):
        evaluate(FixedPredictionClassifier(), X, y, groups=speakers)


class _WrongLabels(FixedPredictionClassifier):
    def predict(self, X):
        return np.array(["???"] * len(X))


def test_predictions_outside_the_classes_are_an_error():
    X, y, speakers, _ = _known_problem()
    with pytest.raises(ValueError, match=r"predicted labels that are not classes"):
        evaluate(_WrongLabels(), X, y, groups=speakers, cv=3)


@pytest.mark.parametrize("cv", [KFold(3, shuffle=True, random_state=0), KFold(4)])
def test_leakage_warning_fires_when_a_speaker_is_on_both_sides(cv):
    X, y, speakers, _ = _known_problem()
    with pytest.warns(LeakageWarning, match="put the same speaker in training and"):
        result = evaluate(FixedPredictionClassifier(), X, y, groups=speakers, cv=cv)
    assert result.leaking_folds
    assert "speaker-dependent" in result.to_markdown()


@pytest.mark.parametrize(
    "cv", [None, "logo", GroupKFold(3), StratifiedGroupKFold(3), KFold(3)]
)
def test_leakage_warning_silent_for_speaker_independent_folds(cv):
    # KFold(3) without shuffling happens to keep the 2-clip speakers together
    X, y, speakers, _ = _known_problem()
    y = np.array(["angry", "happy"] * 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate(FixedPredictionClassifier(), X, y, groups=speakers, cv=cv)
    assert result.leaking_folds == []


def test_leakage_warning_silent_without_groups():
    X, y, _, _ = _known_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(FixedPredictionClassifier(), X, y, cv=StratifiedKFold(3))


def test_check_speaker_independence_lists_leaking_speakers():
    groups = np.array([1, 1, 2, 2, 3, 3])
    splits = [(np.array([0, 2, 4]), np.array([1, 3, 5])), (np.arange(4), [4, 5])]
    assert check_speaker_independence(splits, groups) == [(0, [1, 2, 3])]


def test_per_sample_fit_params_follow_the_training_indices():
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(8), 5)
    y = np.tile(["a", "b"], 20)
    X = rng.normal(size=(40, 2)) + (y == "a")[:, None] * 3
    search = GridSearchCV(
        KNeighborsClassifier(), {"n_neighbors": [1, 3]}, cv=GroupKFold(3)
    )
    result = evaluate(
        search,
        X,
        y,
        groups=speakers,
        cv=4,
        fit_params={"groups": speakers},
        return_estimators=True,
    )
    assert all(est.n_splits_ == 3 for est in result.estimators)
    Xf = np.column_stack([np.zeros(40), speakers])
    res = evaluate(
        FixedPredictionClassifier(labels=("a", "b")),
        Xf,
        y,
        groups=speakers,
        cv=4,
        fit_params={"groups": speakers},
        return_estimators=True,
    )
    for est in res.estimators:
        np.testing.assert_array_equal(np.unique(est.fit_groups_), est.train_speakers_)


def test_to_markdown_report():
    X, y, speakers, _ = _known_problem()
    y = np.array(["angry", "happy"] * 6)
    result = evaluate(FixedPredictionClassifier(), X, y, groups=speakers, cv=3)
    report = result.to_markdown(title="Fixed")
    assert report.startswith("## Fixed")
    for heading in ("### Summary", "### Folds", "### Per class", "### Confusion"):
        assert heading in report
    assert "| uar |" in report
    assert "| true \\ predicted | angry | happy |" in report
    assert "GroupKFold(n_splits=3)" in repr(result)


def test_markdown_table_formats_and_escapes():
    frame = pd.DataFrame(
        {"name": ["a|b", "c"], "score": [0.12345, np.nan], "n": [3, 4]}
    )
    text = markdown_table(frame, index=False, floatfmt=".2f")
    assert text.splitlines() == [
        "| name | score | n |",
        "| --- | ---: | ---: |",
        "| a\\|b | 0.12 | 3 |",
        "| c |  | 4 |",
    ]


def test_standardize_by_speaker():
    rng = np.random.default_rng(0)
    groups = np.repeat(["x", "y", "z"], 10)
    X = rng.normal(size=(30, 4)) * np.repeat([1, 5, 10], 10)[:, None] + 3
    X[:, 3] = 7.0  # constant feature
    Z = standardize_by_speaker(X, groups)
    for g in "xyz":
        rows = groups == g
        np.testing.assert_allclose(Z[rows, :3].mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(Z[rows, :3].std(axis=0), 1, atol=1e-12)
    assert np.all(Z[:, 3] == 0)
    centred = standardize_by_speaker(X, groups, with_std=False)
    np.testing.assert_allclose(centred[:10, 0].std(), X[:10, 0].std())
    with pytest.raises(ValueError, match="2-D clip-level features"):
        standardize_by_speaker(X[:, :, None, None], groups)
    with pytest.raises(ValueError, match=r"expected shape \(30,\)"):
        standardize_by_speaker(X, groups[:3])
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        standardize_by_speaker(bad, groups)


def test_standardize_by_speaker_frames():
    """3-D input: per speaker and coefficient, over clips and frames."""
    rng = np.random.default_rng(1)
    groups = np.repeat([3, 7], 6)
    # speaker 7 is louder and has another spectral tilt
    S = rng.normal(size=(12, 5, 9)) + np.where(groups == 7, 20.0, 0.0)[:, None, None]
    S[groups == 7] *= np.linspace(1, 3, 5)[:, None]
    Z = standardize_by_speaker(S, groups)
    assert Z.dtype == np.float32 and Z.shape == S.shape
    for g in (3, 7):
        block = Z[groups == g].transpose(1, 0, 2).reshape(5, -1)
        np.testing.assert_allclose(block.mean(axis=1), 0, atol=1e-5)
        np.testing.assert_allclose(block.std(axis=1), 1, atol=1e-5)
    # frames of one clip keep their relative shape (a per-clip z-score would not)
    clip = S[0, 2]
    np.testing.assert_allclose(np.corrcoef(Z[0, 2], clip)[0, 1], 1.0, atol=1e-6)
    expected = (S[groups == 3] - S[groups == 3].mean(axis=(0, 2), keepdims=True)) / S[
        groups == 3
    ].std(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(Z[groups == 3], expected, rtol=1e-5, atol=1e-5)
