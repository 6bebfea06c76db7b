"""
Speaker-independent versus random splits
========================================

A random split of an acted-emotion corpus puts every speaker in the training
and the test data, so a classifier can recognise the *voice* instead of the
emotion and the score overestimates what happens with a new speaker. This
example measures the gap on synthetic speech with the same features and the
same SVM, split three ways.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.datasets import make_emotional_speech
from sersk.evaluation import LeakageWarning, evaluate
from sersk.features import make_classic_features

X, y, groups = make_emotional_speech(
    n_samples=288, n_speakers=8, duration=1.5, random_state=2
)
# Feature extraction is stateless: compute it once, cross-validate the rest.
F = make_classic_features().transform(X)
head = make_pipeline(StandardScaler(), SVC(C=10))

# %%
# Three protocols. ``evaluate`` notices that ``StratifiedKFold`` puts the
# same speakers on both sides of every fold and says so with a
# :class:`~sersk.evaluation.LeakageWarning`, which we record here.
protocols = {
    "random stratified 4-fold": StratifiedKFold(4, shuffle=True, random_state=0),
    "GroupKFold(4) by speaker": GroupKFold(4),
    "leave one speaker out": LeaveOneGroupOut(),
}
results = {}
for name, cv in protocols.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LeakageWarning)
        results[name] = evaluate(head, F, y, groups=groups, cv=cv)
    leak = any(issubclass(w.category, LeakageWarning) for w in caught)
    print(f"{name:>26}: UAR {results[name].format_metric()}  leakage warning: {leak}")

gap = results["random stratified 4-fold"].mean("uar") - results[
    "GroupKFold(4) by speaker"
].mean("uar")
print(f"The random split is optimistic by {100 * gap:.1f} UAR points.")

# %%
# Per-speaker scores of leave-one-speaker-out show how much the accuracy
# depends on who is speaking, something a random split hides completely.
logo = results["leave one speaker out"].folds
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
names = list(results)
ax1.bar(
    range(len(names)),
    [results[n].mean("uar") for n in names],
    yerr=[results[n].std("uar") for n in names],
    color=["C3", "C0", "C0"],
)
ax1.set_xticks(range(len(names)), [n.replace(" ", "\n", 1) for n in names])
ax1.axhline(1 / np.unique(y).size, color="k", ls="--", lw=1)
ax1.set_ylabel("UAR")
ax1.set_ylim(0, 1)
ax2.bar([str(s[0]) for s in logo["test_speakers"]], logo["uar"], color="C0")
ax2.set_ylabel("UAR of the held-out speaker")
ax2.tick_params(axis="x", rotation=45)
ax2.set_ylim(0, 1)
fig.tight_layout()
plt.show()
