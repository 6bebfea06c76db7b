"""sersk: speech emotion recognition for scikit-learn.

Subpackages are imported lazily, so ``import sersk`` is cheap and never
imports torch; :mod:`sersk.models` imports it only when a deep model is used.

Subpackages
-----------
io
    Reading audio files into float32 waveforms.
features
    Transformers from file paths to waveforms to frame-level features.
datasets
    Loaders for the public acted-emotion corpora and a synthetic generator.
models
    skorch-based deep classifiers and classic baseline pipelines.
evaluation
    Speaker-independent cross-validation, metrics, reports and plots.
pipelines
    Ready-made pipelines (classic features + SVM / random forest, deep models).
serve
    The local web app of ``sersk serve`` (needs the ``serve`` extra).

Functions
---------
save_model, load_model
    One model file for every sersk estimator and pipeline, loaded without
    pickle.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = [
    "datasets",
    "evaluation",
    "exceptions",
    "features",
    "io",
    "model_selection",
    "models",
    "pipelines",
    "serve",
    "utils",
]

# public names of private modules, imported on first use
_LAZY = {
    "save_model": "._persistence",
    "load_model": "._persistence",
    "ModelFileError": "._persistence",
    "ModelVersionWarning": "._persistence",
}

__all__ = ["__version__", *_SUBMODULES, *_LAZY]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sersk' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
