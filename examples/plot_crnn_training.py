"""
Training a CRNN: learning curves and confusion matrix
=====================================================

Train :class:`~sersk.models.CRNNClassifier` on log-mel spectrograms of
synthetic speech, hold out whole speakers for the test, and look at the
training curves and the test confusion matrix. The network is kept small and
trained for a few epochs so the example runs in well under a minute on a CPU;
on real corpora use the default architecture and more epochs.
"""

# %%
# Data and a speaker-independent hold-out split
# ---------------------------------------------
import matplotlib.pyplot as plt
import numpy as np

from sersk.datasets import make_emotional_speech
from sersk.model_selection import train_test_split_by_speaker

X, y, groups = make_emotional_speech(
    n_samples=192,
    emotions=("neutral", "happy", "sad", "angry"),
    n_speakers=8,
    duration=1.0,
    random_state=6,
)
X_train, X_test, y_train, y_test, g_train, g_test = train_test_split_by_speaker(
    X, y, groups, test_size=0.25, random_state=0
)
print("train speakers:", np.unique(g_train), "test speakers:", np.unique(g_test))

# %%
# The pipeline
# ------------
# Log-mel spectrograms (40 bands), standardised per clip, into a CRNN:
# convolution blocks, a bidirectional LSTM and attention pooling over time.
# ``module__*`` parameters set the architecture, as in skorch. Passing the
# training speakers as ``groups`` makes the held-out validation part (the
# validation curves below) speaker-independent as well. The classifier's
# default recipe (cosine learning rate, SpecAugment, frequency warp, time
# stretch, mixup, label smoothing) applies; see the models guide.
from sklearn.pipeline import make_pipeline

from sersk.features import ClipStandardizer, MelSpectrogram
from sersk.models import CRNNClassifier

pipe = make_pipeline(
    MelSpectrogram(sr=16000, n_mels=40),
    ClipStandardizer(),
    CRNNClassifier(
        module__conv_channels=(16, 32, 32),
        module__lstm_units=(32,),
        module__attention_units=32,
        module__dense_units=(32,),
        max_epochs=12,
        lr=3e-3,
        batch_size=32,
        device="cpu",
        random_state=0,
    ),
)
pipe.fit(X_train, y_train, crnnclassifier__groups=g_train)
net = pipe[-1]

# %%
# Training curves
# ---------------
# Training and validation loss per epoch, and the validation accuracy. The
# model trains the whole schedule (``patience=None``); pass ``patience=5`` to
# stop early and keep the weights of the best validation loss instead.
from sersk.evaluation import plot_training_curves

plot_training_curves(net.history)
plt.tight_layout()

# %%
# Test on the held-out speakers
# -----------------------------
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from sersk.evaluation import plot_confusion_matrix

y_pred = pipe.predict(X_test)
print(f"test UAR on unseen speakers: {balanced_accuracy_score(y_test, y_pred):.3f}")
print(
    "predict agrees with argmax(predict_proba):",
    np.array_equal(y_pred, net.classes_[pipe.predict_proba(X_test).argmax(1)]),
)
plot_confusion_matrix(
    confusion_matrix(y_test, y_pred, labels=net.classes_),
    labels=list(net.classes_),
    title="CRNN, unseen speakers",
)
plt.show()
