"""train_test_split_by_speaker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sersk.model_selection import train_test_split_by_speaker


def _toy(n_speakers=12, seed=0):
    """Speakers with different class mixes, so a random split is unbalanced."""
    rng = np.random.RandomState(seed)
    y, g = [], []
    for s in range(n_speakers):
        counts = rng.randint(1, 9, size=3)
        for label, c in zip(["a", "b", "c"], counts, strict=True):
            y += [label] * int(c)
            g += [f"spk{s}"] * int(c)
    y, g = np.array(y), np.array(g)
    return np.arange(len(y)).reshape(-1, 1), y, g


def _dist(y, labels=("a", "b", "c")):
    return np.array([np.mean(y == lab) for lab in labels])


def test_no_speaker_on_both_sides_and_sizes():
    X, y, g = _toy()
    X_tr, X_te, y_tr, y_te, g_tr, g_te = train_test_split_by_speaker(
        X, y, g, test_size=0.25, random_state=0
    )
    assert set(g_tr).isdisjoint(g_te)
    assert len(set(g_te)) == 3 and len(set(g_tr)) == 9
    assert len(X_tr) + len(X_te) == len(X)
    assert sorted(np.concatenate([X_tr, X_te]).ravel()) == list(range(len(X)))
    assert (np.diff(X_tr.ravel()) > 0).all()  # original order kept
    assert len(set(train_test_split_by_speaker(X, y, g, test_size=4)[5])) == 4
    assert len(set(train_test_split_by_speaker(X, y, g, train_size=10)[5])) == 2


def test_stratification_beats_random_speaker_draws():
    X, y, g = _toy(n_speakers=20)
    p = _dist(y)
    strat, plain = [], []
    for seed in range(10):
        y_te = train_test_split_by_speaker(X, y, g, test_size=0.2, random_state=seed)[3]
        strat.append(np.abs(_dist(y_te) - p).sum())
        y_te = train_test_split_by_speaker(
            X, y, g, test_size=0.2, stratify=False, random_state=seed
        )[3]
        plain.append(np.abs(_dist(y_te) - p).sum())
    assert np.mean(strat) < 0.5 * np.mean(plain)
    assert max(strat) < 0.1


def test_deterministic_with_random_state_and_types_kept():
    X, y, g = _toy()
    a = train_test_split_by_speaker(X, y, g, random_state=3)
    b = train_test_split_by_speaker(X, y, g, random_state=3)
    assert all((u == v).all() for u, v in zip(a, b, strict=True))
    df = pd.DataFrame({"x": X.ravel()})
    paths = [f"/data/{i}.wav" for i in range(len(y))]
    out = train_test_split_by_speaker(df, list(y), pd.Series(g), random_state=0)
    assert isinstance(out[0], pd.DataFrame) and isinstance(out[2], list)
    assert isinstance(out[4], pd.Series)
    p_tr, p_te = train_test_split_by_speaker(paths, y, g, random_state=0)[:2]
    assert isinstance(p_tr, list) and len(p_tr) + len(p_te) == len(paths)


def test_custom_stratify_array():
    X, y, g = _toy()
    corpus = np.where(np.char.startswith(g, "spk1"), "c1", "c0")
    out = train_test_split_by_speaker(X, y, g, stratify=corpus, random_state=0)
    assert set(out[4]).isdisjoint(out[5])


def test_bad_input():
    X, y, g = _toy(n_speakers=3)
    with pytest.raises(ValueError, match="at least 2 speakers"):
        train_test_split_by_speaker(X, y, np.zeros(len(y)))
    with pytest.raises(ValueError, match="X has 42 samples but y has 41"):
        train_test_split_by_speaker(X, y[:-1], g)
    with pytest.raises(ValueError, match="test_size=3 with 3 speakers"):
        train_test_split_by_speaker(X, y, g, test_size=3)
    with pytest.raises(ValueError, match="test_size=0.01 with 3 speakers leaves 0"):
        train_test_split_by_speaker(X, y, g, test_size=0.01)
    with pytest.raises(ValueError, match="'test_size' parameter"):
        train_test_split_by_speaker(X, y, g, test_size=1.5)
    with pytest.raises(ValueError, match="stratify has 2 values"):
        train_test_split_by_speaker(X, y, g, stratify=["a", "b"])
