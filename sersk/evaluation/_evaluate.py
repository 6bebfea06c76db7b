"""Speaker-independent cross-validated evaluation of SER estimators."""

from __future__ import annotations

import numbers
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, check_cv
from sklearn.utils.parallel import Parallel, delayed

from ..utils._validation import check_labels
from ._markdown import markdown_table

__all__ = [
    "EvaluationResult",
    "LeakageWarning",
    "check_speaker_independence",
    "evaluate",
]

_METRICS = ("accuracy", "uar", "macro_f1", "fit_time", "predict_time")


class LeakageWarning(UserWarning):
    """A cross-validation fold has the same speaker in training and test data.

    Speech emotion recognition scores obtained that way are inflated: the
    classifier partly recognises the voice, not the emotion (the user guide's
    evaluation page shows the gap on RAVDESS).
    Use :class:`~sklearn.model_selection.GroupKFold` or
    :class:`~sklearn.model_selection.LeaveOneGroupOut` with the speaker ids as
    ``groups``.
    """


def _n_samples(X):
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


def _take(X, indices):
    """Row subset of an array, DataFrame or list (e.g. of file paths)."""
    if hasattr(X, "iloc"):
        return X.iloc[indices]
    if isinstance(X, np.ndarray) or hasattr(X, "__array__") and hasattr(X, "shape"):
        return X[indices]
    return [X[i] for i in indices]


def _has_len(value, n):
    try:
        return _n_samples(value) == n
    except TypeError:
        return False


def check_speaker_independence(splits, groups):
    """List the folds in which a speaker is on both sides of the split.

    Parameters
    ----------
    splits : iterable of (train_indices, test_indices)
        Folds, e.g. ``list(cv.split(X, y, groups))``.
    groups : array-like of shape (n_samples,)
        Speaker id of every sample.

    Returns
    -------
    leaks : list of tuple (fold, speakers)
        One entry per leaking fold: its 0-based number and the sorted list of
        speakers found in both the training and the test indices. Empty when
        every fold is speaker-independent.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GroupKFold, KFold
    >>> from sersk.evaluation import check_speaker_independence
    >>> groups = np.repeat([1, 2, 3, 4], 3)
    >>> X = np.zeros((12, 1))
    >>> check_speaker_independence(GroupKFold(2).split(X, groups=groups), groups)
    []
    >>> check_speaker_independence(KFold(3).split(X), groups)[0]
    (0, [2])
    """
    groups = np.asarray(groups)
    leaks = []
    for fold, (train, test) in enumerate(splits):
        both = np.intersect1d(groups[np.asarray(train)], groups[np.asarray(test)])
        if both.size:
            leaks.append((fold, both.tolist()))
    return leaks


def _resolve_cv(cv, groups, y):
    if isinstance(cv, str):
        if cv not in ("logo", "group_kfold"):
            raise ValueError(
                f"The 'cv' parameter of evaluate must be None, an int, 'logo', "
                f"'group_kfold', a cross-validation splitter or an iterable of "
                f"(train, test) splits. Got {cv!r} instead."
            )
    speaker_independent = cv is None or isinstance(cv, (str, numbers.Integral))
    if speaker_independent and not isinstance(cv, bool):
        if groups is None:
            raise ValueError(
                f"evaluate(cv={cv!r}) runs speaker-independent cross-validation and "
                "needs the speaker id of every clip: pass groups=bunch.groups. To "
                "measure a speaker-dependent score on purpose, pass a splitter "
                "explicitly, e.g. cv=StratifiedKFold(5, shuffle=True)."
            )
        if cv == "logo":
            return LeaveOneGroupOut(), "LeaveOneGroupOut()"
        n_splits = 5 if cv in (None, "group_kfold") else int(cv)
        n_groups = np.unique(groups).size
        if n_splits < 2 or n_splits > n_groups:
            raise ValueError(
                f"GroupKFold needs 2 <= n_splits <= number of speakers ({n_groups}); "
                f"got cv={cv!r}. Pass a smaller int or cv='logo'."
            )
        return GroupKFold(n_splits), f"GroupKFold(n_splits={n_splits})"
    cv = check_cv(cv, y, classifier=True)
    return cv, repr(cv)


def _consumes_groups(estimator):
    """Whether ``estimator`` requests ``groups`` at prediction time (metadata
    routing), e.g. through a :class:`~sersk.features.SpeakerStandardizer` step.

    An estimator that uses groups only to split its training data (a nested
    ``GridSearchCV``) keeps getting them through ``fit_params``, unrouted.
    """
    from sklearn import config_context
    from sklearn.utils.metadata_routing import get_routing_for_object

    with config_context(enable_metadata_routing=True):
        try:
            routing = get_routing_for_object(estimator)
            return bool(routing.consumes("predict", ["groups"]))
        except (AttributeError, TypeError, ValueError):
            return False


def _fit_and_score(estimator, X, y, train, test, labels, fit_params, groups=None):
    """Fit on ``train`` and predict ``test``.

    ``groups`` (given when the estimator requests them) are routed, subset to
    each side, to the steps that request them in fit and in predict.
    """
    from sklearn import config_context

    X_train, X_test = _take(X, train), _take(X, test)
    n = y.shape[0]
    # per-sample fit parameters (e.g. groups for an inner GridSearchCV) follow
    # the training indices, as in sklearn.model_selection.cross_validate
    fit_params = {
        key: _take(value, train)
        if not isinstance(value, (str, dict)) and _has_len(value, n)
        else value
        for key, value in fit_params.items()
    }
    predict_params = {}
    if groups is not None:
        fit_params["groups"], predict_params["groups"] = groups[train], groups[test]
    with config_context(enable_metadata_routing=groups is not None):
        start = time.perf_counter()
        estimator.fit(X_train, y[train], **fit_params)
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        y_pred = np.asarray(estimator.predict(X_test, **predict_params))
        predict_time = time.perf_counter() - start
    return estimator, y_pred, fit_time, predict_time


@dataclass(repr=False)
class EvaluationResult:
    """What :func:`evaluate` computed.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per fold: ``fold``, ``n_train``, ``n_test``, ``accuracy``,
        ``uar`` (unweighted average recall, i.e. balanced accuracy),
        ``macro_f1``, ``fit_time``, ``predict_time`` (seconds) and
        ``test_speakers`` (comma-separated speaker ids, empty without groups).
    summary : pandas.DataFrame
        Mean and standard deviation over folds (index: the metric names,
        columns ``mean`` and ``std``; population std, ``ddof=0``).
    per_class : pandas.DataFrame
        ``precision``, ``recall``, ``f1`` and ``support`` of every class,
        computed from the out-of-fold predictions of all folds pooled.
    confusion_matrix : ndarray of shape (n_classes, n_classes)
        Sum of the folds' confusion matrices (rows: true, columns: predicted),
        in the order of ``labels``.
    labels : ndarray of shape (n_classes,)
        Class labels.
    y_true, y_pred : ndarray of shape (n_samples,)
        Every sample's label and its out-of-fold prediction (samples never in
        a test fold keep ``y_pred`` equal to ``None``).
    test_mask : ndarray of shape (n_samples,) of bool
        Samples that were in some test fold.
    cv : str
        The splitter that was used.
    leaking_folds : list
        Output of :func:`check_speaker_independence` (empty when the folds
        are speaker-independent or groups were not given).
    estimators : list of estimators or None
        The fitted estimator of each fold when ``return_estimators=True``.
    """

    folds: pd.DataFrame
    per_class: pd.DataFrame
    confusion_matrix: np.ndarray
    labels: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    test_mask: np.ndarray
    cv: str
    leaking_folds: list = field(default_factory=list)
    estimators: list | None = None

    @property
    def summary(self):
        scores = self.folds[list(_METRICS)].astype(float)
        stats = pd.DataFrame({"mean": scores.mean(), "std": scores.std(ddof=0)})
        stats.index.name = "metric"
        return stats

    def mean(self, metric="uar"):
        """Mean of ``metric`` over folds."""
        return float(self.folds[metric].mean())

    def std(self, metric="uar"):
        """Standard deviation (``ddof=0``) of ``metric`` over folds."""
        return float(self.folds[metric].std(ddof=0))

    def format_metric(self, metric="uar", *, digits=3):
        """``"mean ± std"`` of a metric over folds, as in a results table."""
        return f"{self.mean(metric):.{digits}f} ± {self.std(metric):.{digits}f}"

    def to_markdown(self, *, title=None, digits=3):
        """Markdown report: summary, per-fold scores, per-class scores, confusion.

        Parameters
        ----------
        title : str, default=None
            Heading of the report.
        digits : int, default=3
            Decimals of the scores.

        Returns
        -------
        report : str
        """
        fmt = f".{digits}f"
        parts = []
        if title:
            parts += [f"## {title}", ""]
        n = len(self.folds)
        parts += [
            f"Cross-validation: {self.cv}, {n} folds, "
            f"{int(self.test_mask.sum())} test predictions.",
            "",
        ]
        if self.leaking_folds:
            parts += [
                f"**Warning:** {len(self.leaking_folds)} of {n} folds have a "
                "speaker in both training and test data; the scores are "
                "speaker-dependent.",
                "",
            ]
        summary = pd.DataFrame(
            {
                "metric": list(_METRICS),
                "mean ± std": [self.format_metric(m, digits=digits) for m in _METRICS],
            }
        )
        parts += ["### Summary", "", markdown_table(summary, index=False), ""]
        parts += [
            "### Folds",
            "",
            markdown_table(self.folds, index=False, floatfmt=fmt),
            "",
        ]
        parts += [
            "### Per class",
            "",
            markdown_table(self.per_class, floatfmt=fmt),
            "",
        ]
        cm = pd.DataFrame(
            self.confusion_matrix,
            index=pd.Index([str(c) for c in self.labels], name="true \\ predicted"),
            columns=[str(c) for c in self.labels],
        )
        parts += ["### Confusion matrix", "", markdown_table(cm), ""]
        return "\n".join(parts)

    def plot_confusion_matrix(self, **kwargs):
        """Plot the normalised confusion matrix (see :func:`plot_confusion_matrix`)."""
        from ._plot import plot_confusion_matrix

        return plot_confusion_matrix(self, **kwargs)

    def plot_per_class_f1(self, **kwargs):
        """Plot per-class F1 bars (see :func:`plot_per_class_f1`)."""
        from ._plot import plot_per_class_f1

        return plot_per_class_f1(self, **kwargs)

    def __repr__(self):
        return (
            f"EvaluationResult(cv={self.cv}, n_folds={len(self.folds)}, "
            f"accuracy={self.format_metric('accuracy')}, "
            f"uar={self.format_metric('uar')}, "
            f"macro_f1={self.format_metric('macro_f1')})"
        )


def evaluate(
    estimator,
    X,
    y,
    *,
    groups=None,
    cv=None,
    labels=None,
    n_jobs=None,
    fit_params=None,
    return_estimators=False,
    verbose=0,
):
    """Cross-validate a classifier, speaker-independently by default.

    Every fold fits a clone of ``estimator`` on the training part and predicts
    the test part. The scores are those the SER literature reports: accuracy
    (weighted accuracy, WA), unweighted average recall (UAR, the mean of the
    per-class recalls, :func:`~sklearn.metrics.balanced_accuracy_score`) and
    macro F1.

    Parameters
    ----------
    estimator : estimator object
        A classifier or pipeline with ``fit`` and ``predict``, e.g.
        :func:`sersk.pipelines.make_svm_pipeline`.
    X : array-like or list of length n_samples
        Inputs: file paths, waveforms or features, whatever ``estimator`` takes.
    y : array-like of shape (n_samples,)
        Emotion labels.
    groups : array-like of shape (n_samples,), default=None
        Speaker id of every sample. Required by the speaker-independent
        splitters; when given with any other splitter, the folds are checked
        and a :class:`LeakageWarning` is emitted if a speaker is on both sides.
    cv : None, int, {"logo", "group_kfold"}, splitter or iterable, default=None
        - None or "group_kfold": ``GroupKFold(5)`` over ``groups``;
        - int: ``GroupKFold(cv)`` over ``groups``;
        - "logo": ``LeaveOneGroupOut()`` (one fold per speaker);
        - a scikit-learn splitter (``split(X, y, groups)`` is called) or an
          iterable of ``(train, test)`` index arrays, used as given.

        The first three need ``groups``; to measure a speaker-dependent score
        on purpose pass e.g. ``StratifiedKFold(5, shuffle=True)``.
    labels : array-like of shape (n_classes,), default=None
        Order of the classes in the confusion matrix and the per-class table;
        by default the sorted unique values of ``y``.
    n_jobs : int, default=None
        Folds fitted in parallel (joblib); None means 1.
    fit_params : dict, default=None
        Extra keyword arguments of ``estimator.fit``. Values with one entry per
        sample (e.g. ``{"groups": groups}`` for a nested ``GridSearchCV``)
        are subset to each fold's training indices. A step that requests
        ``groups`` through metadata routing (e.g.
        :class:`~sersk.features.SpeakerStandardizer`) gets the speakers of its
        clips in fit and in predict without it.
    return_estimators : bool, default=False
        Keep the fitted estimator of every fold in ``result.estimators``.
    verbose : int, default=0
        joblib verbosity.

    Returns
    -------
    result : EvaluationResult
        Per-fold DataFrame, summary, per-class scores, summed confusion matrix
        and a Markdown report (``result.to_markdown()``).

    Raises
    ------
    ValueError
        If a speaker-independent ``cv`` is asked without ``groups``, if
        ``X``, ``y`` and ``groups`` differ in length, or ``cv`` is invalid.

    Warns
    -----
    LeakageWarning
        If ``groups`` is given and a fold has a speaker in both its training
        and its test indices.

    See Also
    --------
    check_speaker_independence : Which folds mix speakers.
    plot_confusion_matrix : Plot ``result.confusion_matrix``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sersk.evaluation import evaluate
    >>> rng = np.random.default_rng(0)
    >>> y = np.tile(["angry", "sad"], 20)
    >>> X = rng.normal(size=(40, 2)) + (y == "angry")[:, None] * 3.0
    >>> speakers = np.repeat(np.arange(10), 4)
    >>> result = evaluate(KNeighborsClassifier(3), X, y, groups=speakers)
    >>> result.folds.columns.tolist()
    ['fold', 'n_train', 'n_test', 'accuracy', 'uar', 'macro_f1', 'fit_time', 'predict_time', 'test_speakers']
    >>> len(result.folds), int(result.confusion_matrix.sum())
    (5, 40)
    >>> result.mean("uar") > 0.9
    True
    """
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise TypeError(
            "evaluate() needs an estimator with fit and predict; got "
            f"{type(estimator).__name__}."
        )
    y = check_labels(y)
    n = _n_samples(X)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"X and y must describe the same clips: X has {n} samples, y has shape "
            f"{y.shape}. Pass one label per clip."
        )
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(
                f"groups must hold one speaker id per clip: expected shape ({n},), "
                f"got {groups.shape}."
            )
    if labels is None:
        labels = np.unique(y)
    else:
        labels = np.asarray(labels)
        unknown = np.setdiff1d(np.unique(y), labels)
        if unknown.size:
            raise ValueError(
                f"y has labels missing from `labels`: {unknown.tolist()}. Add them "
                "to `labels` or leave labels=None."
            )
    splitter, cv_name = _resolve_cv(cv, groups, y)
    with warnings.catch_warnings():
        # e.g. "The groups parameter is ignored by StratifiedKFold": the folds
        # are checked against the groups below instead
        warnings.filterwarnings("ignore", message="The groups parameter is ignored")
        splits = [
            (np.asarray(train), np.asarray(test))
            for train, test in splitter.split(X, y, groups)
        ]
    leaks = []
    if groups is not None:
        leaks = check_speaker_independence(splits, groups)
        if leaks:
            fold, speakers = leaks[0]
            shown = ", ".join(map(str, speakers[:5])) + (
                ", ..." if len(speakers) > 5 else ""
            )
            warnings.warn(
                f"{len(leaks)} of {len(splits)} folds of {cv_name} put the same "
                f"speaker in training and test data (fold {fold}: speakers "
                f"{shown}); the scores will be speaker-dependent and inflated. Use "
                "cv=None (GroupKFold by speaker) or cv='logo' for speaker-"
                "independent scores.",
                LeakageWarning,
                stacklevel=2,
            )
    fit_params = {} if fit_params is None else dict(fit_params)
    # speaker adaptation steps (SpeakerStandardizer) get the speakers of the
    # clips they see, in fit and in predict, through metadata routing
    routed_groups = (
        groups if groups is not None and _consumes_groups(estimator) else None
    )
    if routed_groups is None and _consumes_groups(estimator):
        raise ValueError(
            "The estimator has a step that needs the speaker of every clip "
            "(e.g. SpeakerStandardizer), but groups=None. Pass groups=bunch.groups."
        )
    outputs = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_fit_and_score)(
            clone(estimator), X, y, train, test, labels, fit_params, routed_groups
        )
        for train, test in splits
    )

    y_pred_all = np.full(n, None, dtype=object)
    test_mask = np.zeros(n, dtype=bool)
    cm = np.zeros((labels.size, labels.size), dtype=np.int64)
    rows, fitted = [], []
    for i, ((train, test), (est, y_pred, fit_time, predict_time)) in enumerate(
        zip(splits, outputs, strict=True)
    ):
        y_true = y[test]
        unknown = np.setdiff1d(np.unique(y_pred), labels)
        if unknown.size:
            raise ValueError(
                f"The estimator predicted labels that are not classes of y: "
                f"{unknown.tolist()[:5]}. Its predict must return labels like y."
            )
        cm += confusion_matrix(y_true, y_pred, labels=labels)
        y_pred_all[test] = y_pred
        test_mask[test] = True
        speakers = "" if groups is None else ",".join(map(str, np.unique(groups[test])))
        rows.append(
            {
                "fold": i,
                "n_train": int(train.size),
                "n_test": int(test.size),
                "accuracy": accuracy_score(y_true, y_pred),
                "uar": balanced_accuracy_score(y_true, y_pred),
                "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
                "fit_time": fit_time,
                "predict_time": predict_time,
                "test_speakers": speakers,
            }
        )
        fitted.append(est)

    y_true_pooled = y[test_mask]
    y_pred_pooled = y_pred_all[test_mask].astype(y.dtype)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true_pooled, y_pred_pooled, labels=labels, zero_division=0
    )
    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=pd.Index(labels, name="class"),
    )
    return EvaluationResult(
        folds=pd.DataFrame(rows),
        per_class=per_class,
        confusion_matrix=cm,
        labels=labels,
        y_true=y,
        y_pred=y_pred_all,
        test_mask=test_mask,
        cv=cv_name,
        leaking_folds=leaks,
        estimators=fitted if return_estimators else None,
    )
