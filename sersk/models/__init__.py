"""Deep speech emotion classifiers built on skorch and PyTorch.

All classifiers take frame-level features of shape
``(n_clips, n_coeffs, n_frames)`` (e.g. :class:`~sersk.features.MelSpectrogram`
output) and behave as scikit-learn classifiers. PyTorch is imported lazily:
``import sersk.models`` alone does not import torch; touching a class does.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "BaseDeepClassifier": "._classifiers",
    "CRNNClassifier": "._classifiers",
    "CNNClassifier": "._classifiers",
    "CNNLSTMClassifier": "._classifiers",
    "RNNClassifier": "._classifiers",
    "AccelerateMixin": "._accelerate",
    "AcceleratedCRNNClassifier": "._accelerate",
    "AcceleratedCNNClassifier": "._accelerate",
    "AcceleratedCNNLSTMClassifier": "._accelerate",
    "AcceleratedRNNClassifier": "._accelerate",
    "CRNN": "._modules",
    "CNN": "._modules",
    "CNNLSTM": "._modules",
    "RNN": "._modules",
    "AttentionPooling": "._modules",
    "SpeakerValidSplit": "._training",
    "native_bf16": "._training",
    "save_model": "._persistence",
    "load_model": "._persistence",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sersk.models' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
