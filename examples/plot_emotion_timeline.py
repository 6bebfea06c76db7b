"""
An emotion timeline of a long recording
=======================================

Train a classifier on short clips, then slide a window over a long recording
and predict the emotion of every window: an emotion timeline. The command
line does the same with ``sersk predict MODEL FILE --segments SECONDS``.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.datasets import make_emotional_speech
from sersk.features import make_classic_features

sr = 16000
emotions = ("neutral", "happy", "sad", "angry")
X, y, groups = make_emotional_speech(
    n_samples=240, emotions=emotions, n_speakers=9, duration=2.0, random_state=3
)
# Speaker synth_01 is kept out of training: the "long recording" is theirs.
train = groups != "synth_01"
model = make_pipeline(
    make_classic_features(sr=sr),
    StandardScaler(),
    CalibratedClassifierCV(SVC(C=10), cv=3, ensemble=False),
)
model.fit(X[train], y[train])

# %%
# A 24-second recording of the held-out speaker: twelve clips one after the
# other, three of each emotion in blocks.
script = ["neutral"] * 3 + ["happy"] * 3 + ["angry"] * 3 + ["sad"] * 3
rng = np.random.default_rng(0)
held_out = np.flatnonzero(~train)
pieces = [X[rng.choice(held_out[y[held_out] == e])] for e in script]
recording = np.concatenate(pieces)
truth_edges = np.arange(len(script) + 1) * 2.0

# %%
# Windows of 2 s every 0.5 s (``numpy.lib.stride_tricks.sliding_window_view``
# makes them without copying), classified in one batch.
win, hop = int(2.0 * sr), int(0.5 * sr)
windows = np.lib.stride_tricks.sliding_window_view(recording, win)[::hop]
proba = model.predict_proba(windows)
starts = np.arange(len(windows)) * hop / sr
predicted = model.classes_[proba.argmax(axis=1)]
for t, label, p in list(zip(starts, predicted, proba.max(axis=1), strict=True))[::4]:
    print(f"{t:5.1f}-{t + 2:5.1f} s  {label:8s} {p:.2f}")

# %%
fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
t = np.arange(recording.size) / sr
ax0.plot(t, recording, lw=0.3, color="0.3")
for (a, b), e in zip(
    zip(truth_edges[:-1], truth_edges[1:], strict=True), script, strict=True
):
    ax0.axvspan(a, b, color=f"C{emotions.index(e)}", alpha=0.15, lw=0)
ax0.set_ylabel("true emotion\n(shaded)")
centres = starts + 1.0
for k, emotion in enumerate(model.classes_):
    ax1.plot(centres, proba[:, k], label=emotion, color=f"C{emotions.index(emotion)}")
ax1.set_ylabel("probability")
ax1.set_xlabel("time (s): window centre")
ax1.legend(ncol=4, loc="upper center", fontsize="small")
fig.tight_layout()
plt.show()
