"""
Quickstart: a speaker-independent emotion classifier
=====================================================

Synthesise emotional speech, build a scikit-learn pipeline of sersk feature
transformers and an SVM, and evaluate it so that no speaker is in both the
training and the test data of a fold.
"""

# %%
# Synthetic emotional speech
# --------------------------
# :func:`~sersk.datasets.make_emotional_speech` returns waveforms, labels and
# speaker ids, like scikit-learn's ``make_*`` generators. Emotions differ in
# pitch level and range, speaking rate, loudness and voice quality; speakers
# differ in base pitch and timbre.
import numpy as np

from sersk.datasets import make_emotional_speech

X, y, groups = make_emotional_speech(
    n_samples=240, n_speakers=8, duration=1.5, random_state=0
)
print(X.shape, X.dtype)
labels, counts = np.unique(y, return_counts=True)
print({str(k): int(v) for k, v in zip(labels, counts, strict=True)})
print(np.unique(groups))

# %%
# What the classes look like
# --------------------------
# Log-mel spectrograms of one clip per emotion, all by the same speaker.
import matplotlib.pyplot as plt

from sersk.features import MelSpectrogram

emotions = np.unique(y)
speaker = groups[0]
mel = MelSpectrogram(sr=16000, n_mels=64)
fig, axes = plt.subplots(2, 3, figsize=(10, 5), sharex=True, sharey=True)
for ax, emotion in zip(axes.ravel(), emotions, strict=True):
    clip = X[(y == emotion) & (groups == speaker)][:1]
    ax.imshow(mel.transform(clip)[0], origin="lower", aspect="auto", cmap="magma")
    ax.set_title(emotion)
fig.supxlabel("frame")
fig.supylabel("mel band")
fig.tight_layout()

# %%
# A pipeline and a speaker-independent evaluation
# -----------------------------------------------
# MFCCs are pooled over time (mean and standard deviation of every
# coefficient), standardised and classified by an RBF SVM.
# :func:`~sersk.evaluation.evaluate` runs ``GroupKFold`` by speaker.
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.evaluation import evaluate
from sersk.features import MFCC, TimePooling

pipe = make_pipeline(
    MFCC(sr=16000, n_mfcc=20), TimePooling(), StandardScaler(), SVC(C=10)
)
result = evaluate(pipe, X, y, groups=groups, cv=4)
print(result)
result.folds[["fold", "accuracy", "uar", "macro_f1", "test_speakers"]]

# %%
# The confusion matrix, summed over the four folds:
result.plot_confusion_matrix()
plt.show()
