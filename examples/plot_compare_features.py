"""
Comparing features: log-mel, MFCC and classic statistics
========================================================

Which representation works best for a classic classifier? Pool each
frame-level feature over time and compare the speaker-independent score of
the same SVM on log-mel statistics, MFCC statistics and the classic feature
vector of the speech-emotion literature
(:func:`~sersk.features.make_classic_features`).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.datasets import make_emotional_speech
from sersk.evaluation import evaluate
from sersk.features import MFCC, MelSpectrogram, TimePooling, make_classic_features

X, y, groups = make_emotional_speech(
    n_samples=240, n_speakers=8, duration=1.5, random_state=1
)

# %%
# The feature extractors have nothing to learn, so each representation is
# computed once for all clips; cross-validation then refits only the scaler
# and the SVM. (Inside a full pipeline, ``Pipeline(memory=...)`` gives the
# same saving.)
representations = {
    "log-mel (64) mean+std": make_pipeline(MelSpectrogram(n_mels=64), TimePooling()),
    "MFCC (20) mean+std": make_pipeline(MFCC(n_mfcc=20), TimePooling()),
    "MFCC (20) + deltas": make_pipeline(MFCC(n_mfcc=20, deltas=2), TimePooling()),
    "classic vector": make_classic_features(),
}
results = {}
for name, features in representations.items():
    F = features.transform(X)
    head = make_pipeline(StandardScaler(), SVC(C=10))
    results[name] = evaluate(head, F, y, groups=groups, cv=4)
    print(f"{name:>24}: {F.shape[1]:4d} features, UAR {results[name].format_metric()}")

# %%
# Mean and standard deviation of the UAR over the four speaker-independent
# folds (chance is 1/6):
fig, ax = plt.subplots(figsize=(7, 3))
names = list(results)
means = [results[n].mean("uar") for n in names]
stds = [results[n].std("uar") for n in names]
ax.barh(names, means, xerr=stds, color="C0")
ax.axvline(1 / np.unique(y).size, color="k", ls="--", label="chance")
ax.set_xlabel("UAR (speaker-independent)")
ax.set_xlim(0, 1)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
