"""Speaker-independent splitting.

The most common mistake in speech emotion recognition is letting one speaker
appear in both the training and the test data: the model learns the voice,
not the emotion, and the reported accuracy does not hold on new speakers.
Every corpus loader in :mod:`sersk.datasets` returns speaker ``groups``;
pass them to scikit-learn's group-aware splitters for cross-validation and
use :func:`train_test_split_by_speaker` for a single hold-out split.

Examples
--------
Five-fold cross-validation that never splits a speaker, and
leave-one-speaker-out:

>>> import numpy as np
>>> from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
>>> groups = np.repeat(["ravdess_01", "ravdess_02", "ravdess_03"], 4)
>>> X, y = np.arange(12).reshape(-1, 1), np.tile(["happy", "sad"], 6)
>>> all(set(groups[tr]).isdisjoint(groups[te])
...     for tr, te in GroupKFold(n_splits=3).split(X, y, groups))
True
>>> LeaveOneGroupOut().get_n_splits(X, y, groups)
3

With a corpus Bunch ``ds``::

    cross_val_score(pipe, ds.data, ds.target, groups=ds.groups,
                    cv=GroupKFold(n_splits=5))
"""

from ._split import train_test_split_by_speaker

__all__ = ["train_test_split_by_speaker"]
