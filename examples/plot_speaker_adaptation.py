"""
Speaker adaptation with SpeakerStandardizer
===========================================

Much of what separates two speakers' features is an offset and a scale: one
voice is higher, louder or brighter than another in every emotion.
:class:`~sersk.features.SpeakerStandardizer` standardises each clip by the
statistics of its own speaker, so the classifier sees how a clip differs from
that speaker's usual voice. At prediction time a new speaker is standardised
by their own unlabelled clips, so the step needs a few recordings of every new
speaker (speaker adaptation). The speaker ids reach the step through
scikit-learn's metadata routing; :func:`~sersk.evaluation.evaluate` routes
them fold by fold.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.datasets import make_emotional_speech
from sersk.evaluation import evaluate
from sersk.features import ClassicFeatures, SpeakerStandardizer

X, y, groups = make_emotional_speech(
    n_samples=288, n_speakers=8, duration=1.5, random_state=3
)
# The features are stateless: compute them once, cross-validate the rest.
F = ClassicFeatures(device="cpu").fit_transform(X)

# %%
# The same SVM, with and without the speaker step, on speaker-independent
# folds (``GroupKFold(4)`` by speaker: every test speaker is new).
inductive = make_pipeline(StandardScaler(), SVC(C=10))
adapted = make_pipeline(SpeakerStandardizer(), StandardScaler(), SVC(C=10))
results = {
    "StandardScaler only": evaluate(inductive, F, y, groups=groups, cv=4),
    "SpeakerStandardizer first": evaluate(adapted, F, y, groups=groups, cv=4),
}
for name, res in results.items():
    print(f"{name:>26}: UAR {res.format_metric('uar')}")

# %%
# Per fold: the adapted model gains on most new speakers.
fig, ax = plt.subplots(figsize=(6, 3))
for name, res in results.items():
    ax.plot(res.folds["uar"].to_numpy(dtype=float), marker="o", label=name)
ax.set(xlabel="fold (test speakers)", ylabel="UAR", title="Speaker adaptation")
ax.legend()
fig.tight_layout()

# %%
# Outside ``evaluate``, enable metadata routing and pass ``groups`` to ``fit``
# and ``predict``. A new speaker with fewer than ``min_clips`` clips falls back
# to the training statistics, with a
# :class:`~sersk.exceptions.SpeakerAdaptationWarning`.
sklearn.set_config(enable_metadata_routing=True)
train = groups != groups[-1]
adapted.fit(F[train], y[train], groups=groups[train])
new_speaker = ~train
pred = adapted.predict(F[new_speaker], groups=groups[new_speaker])
print(
    f"new speaker: {np.mean(pred == y[new_speaker]):.2f} accuracy on {pred.size} clips"
)
sklearn.set_config(enable_metadata_routing=False)
