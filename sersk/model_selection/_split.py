"""Speaker-independent train/test splitting."""

from __future__ import annotations

from numbers import Integral as _Int

import numpy as np
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Integral, Interval, Real, validate_params

__all__ = ["train_test_split_by_speaker"]


def _n_samples(a) -> int:
    return a.shape[0] if hasattr(a, "shape") else len(a)


def _take(a, idx: np.ndarray):
    """Index rows of an array, DataFrame/Series or list, keeping its type."""
    if hasattr(a, "iloc"):
        return a.iloc[idx]
    if isinstance(a, np.ndarray):
        return a[idx]
    return [a[i] for i in idx]


def _n_test_groups(test_size, train_size, n_groups: int) -> int:
    if test_size is None and train_size is None:
        test_size = 0.25
    if test_size is None:
        size, other = train_size, True
    else:
        size, other = test_size, False
    if isinstance(size, _Int):
        n = int(size)
    else:
        n = int(round(float(size) * n_groups))
    if other:
        n = n_groups - n
    if not 1 <= n <= n_groups - 1:
        which = "train_size" if other else "test_size"
        raise ValueError(
            f"{which}={size!r} with {n_groups} speakers leaves {n} speaker(s) for "
            f"the test set and {n_groups - n} for training; both need at least "
            "one. test_size is a fraction of the speakers (float) or a number of "
            "speakers (int)."
        )
    return n


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "groups": ["array-like"],
        "test_size": [
            Interval(Real, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "train_size": [
            Interval(Real, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "stratify": ["boolean", "array-like"],
        "random_state": ["random_state"],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def train_test_split_by_speaker(
    X,
    y,
    groups,
    *,
    test_size=None,
    train_size=None,
    stratify=True,
    random_state=None,
    n_candidates=200,
):
    """Split into train and test sets that share no speaker.

    :func:`sklearn.model_selection.train_test_split` with
    :class:`~sklearn.model_selection.GroupShuffleSplit` semantics (whole
    speakers go to one side) plus approximate stratification, which
    scikit-learn's group splitters only offer as K-fold
    (:class:`~sklearn.model_selection.StratifiedGroupKFold`): among
    ``n_candidates`` random speaker subsets of the requested size, the one
    whose test (and train) label distribution is closest to the overall one
    is kept, preferring subsets where every class appears on both sides.

    Parameters
    ----------
    X : array-like or list of length n_samples
        Data, e.g. the file paths of a corpus Bunch.
    y : array-like of shape (n_samples,)
        Labels.
    groups : array-like of shape (n_samples,)
        Speaker ids (a corpus Bunch's ``groups``).
    test_size : float or int, default=None
        Fraction of the speakers (float in (0, 1)) or number of speakers (int)
        in the test set. None means the complement of ``train_size``, or 0.25
        when both are None.
    train_size : float or int, default=None
        Fraction or number of speakers in the training set, used when
        ``test_size`` is None.
    stratify : bool or array-like of shape (n_samples,), default=True
        True balances the distribution of ``y``; an array balances that array
        instead (e.g. ``y`` combined with the corpus); False draws speakers
        uniformly at random.
    random_state : int, RandomState instance or None, default=None
        Controls the draw; pass an int for reproducible splits.
    n_candidates : int, default=200
        Number of random speaker subsets compared when stratifying.

    Returns
    -------
    X_train, X_test, y_train, y_test, groups_train, groups_test : sequences
        Same types as the inputs (ndarray, DataFrame/Series or list), rows in
        their original order. ``groups_train`` lets you run speaker-independent
        cross-validation inside the training set.

    Raises
    ------
    ValueError
        Fewer than two speakers, lengths that differ, or a size leaving a side
        without speakers.

    See Also
    --------
    sklearn.model_selection.GroupKFold : K folds that never split a speaker.
    sklearn.model_selection.StratifiedGroupKFold : The same, stratified.
    sklearn.model_selection.LeaveOneGroupOut : One fold per speaker (or per
        corpus, with ``groups=frame["corpus"]``).

    Notes
    -----
    For cross-validation no helper is needed: pass the speaker groups to
    scikit-learn's group-aware splitters::

        from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
        ds = load_ravdess()
        cross_val_score(pipe, ds.data, ds.target, groups=ds.groups,
                        cv=GroupKFold(n_splits=6))
        cross_val_score(pipe, ds.data, ds.target, groups=ds.groups,
                        cv=LeaveOneGroupOut())  # leave-one-speaker-out

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.model_selection import train_test_split_by_speaker
    >>> groups = np.repeat(["s1", "s2", "s3", "s4"], 4)
    >>> y = np.tile(["happy", "sad"], 8)
    >>> X = np.arange(16)
    >>> X_tr, X_te, y_tr, y_te, g_tr, g_te = train_test_split_by_speaker(
    ...     X, y, groups, test_size=0.25, random_state=0)
    >>> len(set(g_tr) & set(g_te)), len(set(g_te)), sorted(set(y_te.tolist()))
    (0, 1, ['happy', 'sad'])
    """
    n = _n_samples(X)
    for name, arr in (("y", y), ("groups", groups)):
        if _n_samples(arr) != n:
            raise ValueError(
                f"X has {n} samples but {name} has {_n_samples(arr)}; they must "
                "have the same length."
            )
    groups_arr = np.asarray(groups)
    uniq, g_idx = np.unique(groups_arr, return_inverse=True)
    n_groups = len(uniq)
    if n_groups < 2:
        raise ValueError(
            f"train_test_split_by_speaker needs at least 2 speakers in groups; got "
            f"{n_groups}. Check that groups holds speaker ids (e.g. a Bunch's "
            "groups), not a constant."
        )
    n_test = _n_test_groups(test_size, train_size, n_groups)
    rng = check_random_state(random_state)

    if isinstance(stratify, bool | np.bool_):
        strat = np.asarray(y) if stratify else None
    else:
        strat = np.asarray(stratify)
        if strat.shape[0] != n:
            raise ValueError(
                f"stratify has {strat.shape[0]} values but X has {n} samples."
            )

    if strat is None:
        test_groups = rng.permutation(n_groups)[:n_test]
    else:
        _, c_idx = np.unique(strat, return_inverse=True)
        counts = np.zeros((n_groups, c_idx.max() + 1))
        np.add.at(counts, (g_idx, c_idx), 1)
        total = counts.sum(axis=0)
        p = total / total.sum()
        cand = np.argsort(rng.random_sample((n_candidates, n_groups)), axis=1)
        mask = np.zeros((n_candidates, n_groups))
        np.put_along_axis(mask, cand[:, :n_test], 1.0, axis=1)
        test_counts = mask @ counts
        train_counts = total - test_counts
        q = test_counts / test_counts.sum(axis=1, keepdims=True)
        r = train_counts / np.maximum(train_counts.sum(axis=1, keepdims=True), 1)
        score = np.abs(q - p).sum(axis=1) + np.abs(r - p).sum(axis=1)
        # classes missing from one side are the worst outcome
        score += 10.0 * (train_counts == 0).sum(axis=1)
        score += 4.0 * (test_counts == 0).sum(axis=1)
        best = int(np.argmin(score))
        test_groups = np.flatnonzero(mask[best])

    is_test = np.isin(g_idx, test_groups)
    train_idx, test_idx = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    out = []
    for a in (X, y, groups):
        out += [_take(a, train_idx), _take(a, test_idx)]
    return out
