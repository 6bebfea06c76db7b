"""Write the model files of ``tests/data`` (run from the repository root).

``python tests/data/make_model_files.py`` writes ``svm-format2.sersk``: a tiny
SVM pipeline of :func:`sersk.pipelines.make_svm_pipeline` fitted on the tones
of :func:`tones`, saved with :func:`sersk.save_model`. The file is committed
and never rewritten by the tests: ``tests/test_persistence.py`` checks that
this sersk still loads a file written by an earlier release of the same
format version and predicts the labels stored in its metadata.

``python tests/data/make_model_files.py cnn`` writes ``cnn-meanpool.sersk``: a
tiny :func:`sersk.pipelines.make_cnn_pipeline` of the release before
``CNN(freq_pooling=...)`` existed (its CNN averaged over frequency), with the
probabilities it predicted for :func:`tones` in its metadata. Run it with that
release importable (it was written from commit a6e2a18).

``python tests/data/make_model_files.py crnn`` writes
``crnn-attention-only.sersk`` the same way: a tiny
:func:`sersk.pipelines.make_crnn_pipeline` of the release before
``CRNN(conv_summary=...)`` existed (its head saw the LSTM's attention output
only), written from commit bdf4314.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SVM_FILE = HERE / "svm-format2.sersk"
CNN_FILE = HERE / "cnn-meanpool.sersk"
CRNN_FILE = HERE / "crnn-attention-only.sersk"
SR = 16000
DURATION = 0.25


def tones():
    """Clips of a low (150-190 Hz) or high (900-1100 Hz) tone with a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(SR * DURATION)) / SR
    freqs = [150, 170, 190, 900, 1000, 1100] * 2
    X = np.stack(
        [np.sin(2 * np.pi * f * t) + 0.01 * rng.normal(size=t.size) for f in freqs]
    ).astype(np.float32)
    y = np.array(["low" if f < 500 else "high" for f in freqs])
    return X, y


def make_svm_file(path=SVM_FILE):
    import sersk
    from sersk.pipelines import make_svm_pipeline

    X, y = tones()
    pipe = make_svm_pipeline(
        sr=SR, duration=DURATION, n_mfcc=8, n_mels=20, stats=("mean",), C=1.0
    )
    pipe.fit(X, y)
    expected = pipe.predict(X).tolist()
    return sersk.save_model(
        pipe, path, metadata={"expected": expected, "sersk": sersk.__version__}
    )


# the deep files: (file, factory, tiny network) of each kind
DEEP = {
    "cnn": (
        CNN_FILE,
        "make_cnn_pipeline",
        dict(module__conv_channels=(4, 4), module__dense_units=(4,)),
    ),
    "crnn": (
        CRNN_FILE,
        "make_crnn_pipeline",
        dict(
            module__conv_channels=(4, 4),
            module__lstm_units=(4,),
            module__attention_units=4,
            module__dense_units=(4,),
        ),
    ),
}


def make_deep_file(kind):
    import torch

    import sersk
    from sersk import pipelines

    path, factory, network = DEEP[kind]
    torch.manual_seed(0)
    X, y = tones()
    pipe = getattr(pipelines, factory)(
        sr=SR,
        duration=DURATION,
        n_mels=20,
        n_fft=512,
        hop_length=128,
        max_epochs=20,
        batch_size=6,
        train_split=None,
        precision="fp32",
        device="cpu",
        random_state=0,
        **network,
    )
    pipe.fit(X, y)
    proba = pipe.predict_proba(X)
    return sersk.save_model(
        pipe,
        path,
        metadata={
            "expected_proba": proba.round(6).tolist(),
            "classes": pipe.classes_.tolist(),
            "sersk": sersk.__version__,
        },
    )


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 or sys.argv[1:] and sys.argv[1] not in DEEP:
        sys.exit(f"usage: make_model_files.py [{'|'.join(DEEP)}]")
    print(make_deep_file(sys.argv[1]) if sys.argv[1:] else make_svm_file())
