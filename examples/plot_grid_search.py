"""
Grid search over feature and model parameters
=============================================

Every sersk step is a scikit-learn estimator, so
:class:`~sklearn.model_selection.GridSearchCV` tunes feature parameters
(``mfcc__n_mfcc``, ``melspectrogram__n_mels``) together with classifier
parameters (``svc__C``) and, for deep models, skorch's ``module__*``
architecture parameters. Pass the speakers as ``groups`` and use a
group-aware splitter, so that the search selects what generalises to new
speakers rather than what memorises the training speakers.
"""

# %%
import tempfile

import pandas as pd
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.datasets import make_emotional_speech
from sersk.features import MFCC, TimePooling

X, y, groups = make_emotional_speech(
    n_samples=192, n_speakers=8, duration=1.0, random_state=7
)

# %%
# An SVM on pooled MFCCs
# ----------------------
# ``memory`` caches the fitted feature steps: the three values of ``C`` share
# the MFCCs of each training fold instead of recomputing them.
cache = tempfile.mkdtemp(prefix="sersk-cache-")
pipe = Pipeline(
    [
        ("mfcc", MFCC(sr=16000)),
        ("pool", TimePooling(stats=("mean", "std"))),
        ("scale", StandardScaler()),
        ("svc", SVC()),
    ],
    memory=cache,
)
grid = GridSearchCV(
    pipe,
    {"mfcc__n_mfcc": [13, 40], "svc__C": [1, 10, 100]},
    cv=GroupKFold(4),
    scoring="balanced_accuracy",
)
grid.fit(X, y, groups=groups)
print("best:", grid.best_params_, f"UAR {grid.best_score_:.3f}")
results = pd.DataFrame(grid.cv_results_)
results.pivot_table(
    index="param_mfcc__n_mfcc",
    columns="param_svc__C",
    values="mean_test_score",
).round(3)

# %%
# A CRNN: features and architecture together
# ------------------------------------------
# The number of mel bands (a feature parameter) and the LSTM size (a
# ``module__`` parameter of the network) in one grid. Tiny networks and a
# few epochs keep the example fast (so the scores are near chance here); the
# mechanics are the same at full size. ``crnnclassifier__groups`` routes the
# speakers to the network's validation split inside each fold.
from sklearn.pipeline import make_pipeline

from sersk.features import ClipStandardizer, MelSpectrogram
from sersk.models import CRNNClassifier

deep = make_pipeline(
    MelSpectrogram(sr=16000),
    ClipStandardizer(),
    CRNNClassifier(
        module__conv_channels=(4, 8),
        module__attention_units=8,
        module__dense_units=(8,),
        max_epochs=2,
        lr=3e-3,
        device="cpu",
        random_state=0,
    ),
)
deep_grid = GridSearchCV(
    deep,
    {
        "melspectrogram__n_mels": [24, 40],
        "crnnclassifier__module__lstm_units": [(4,), (16,)],
    },
    cv=GroupKFold(2),
    scoring="balanced_accuracy",
)
# Half of the clips, to keep the example fast.
Xs, ys, gs = X[::2], y[::2], groups[::2]
deep_grid.fit(Xs, ys, groups=gs, crnnclassifier__groups=gs)
print("best:", deep_grid.best_params_, f"UAR {deep_grid.best_score_:.3f}")
pd.DataFrame(deep_grid.cv_results_)[
    [
        "param_melspectrogram__n_mels",
        "param_crnnclassifier__module__lstm_units",
        "mean_test_score",
        "std_test_score",
        "mean_fit_time",
    ]
].round(3)

# %%
# To report the score of the selected parameters, do not quote
# ``best_score_`` (it is the maximum over candidates, optimistically
# biased): nest the search in an outer speaker-independent loop, e.g.
# ``sersk.evaluation.evaluate(grid, X, y, groups=groups)``.
import shutil

shutil.rmtree(cache)
