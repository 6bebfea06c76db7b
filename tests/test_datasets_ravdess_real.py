"""load_ravdess on the real corpus in ../shared/data/ravdess (skipped when absent)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from sersk.datasets import load_corpora, load_ravdess
from sersk.model_selection import train_test_split_by_speaker


def test_real_ravdess_counts(ravdess_root):
    ds = load_ravdess(root=ravdess_root)
    assert len(ds.data) == 1440
    assert len(set(ds.groups)) == 24
    genders = ds.frame.drop_duplicates("speaker").gender.value_counts().to_dict()
    assert genders == {"female": 12, "male": 12}
    labels, counts = np.unique(ds.target, return_counts=True)
    counts = dict(zip(labels, counts, strict=True))
    assert counts.pop("neutral") == 96
    assert counts == dict.fromkeys(
        ["calm", "happy", "sad", "angry", "fear", "disgust", "surprise"], 192
    )
    assert ds.frame.groupby("speaker").size().eq(60).all()
    assert set(ds.frame.vocal_channel) == {"speech"}
    assert set(ds.frame.modality) == {"audio"}


def test_real_ravdess_group_kfold_never_splits_a_speaker(ravdess_root):
    ds = load_ravdess(root=ravdess_root)
    seen_test = []
    for train, test in GroupKFold(n_splits=6).split(ds.data, ds.target, ds.groups):
        assert set(ds.groups[train]).isdisjoint(ds.groups[test])
        seen_test.extend(set(ds.groups[test]))
    assert sorted(seen_test) == sorted(set(ds.groups))  # each speaker tested once
    assert LeaveOneGroupOut().get_n_splits(ds.data, ds.target, ds.groups) == 24


def test_real_ravdess_filters_and_split(ravdess_root):
    ds = load_ravdess(
        root=ravdess_root,
        label_map={"calm": "neutral"},
        emotions=["neutral", "happy", "sad", "angry"],
        gender="female",
    )
    assert len(ds.data) == 12 * (4 + 8 + 8 + 8 + 8)
    X_tr, X_te, y_tr, y_te, g_tr, g_te = train_test_split_by_speaker(
        ds.data, ds.target, ds.groups, test_size=3, random_state=0
    )
    assert len(set(g_te)) == 3 and set(g_tr).isdisjoint(g_te)
    assert len(X_tr) + len(X_te) == len(ds.data)
    combined = load_corpora(["ravdess"], roots={"ravdess": ravdess_root})
    assert len(combined.data) == 1440
