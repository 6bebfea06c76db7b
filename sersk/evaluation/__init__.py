"""Speaker-independent evaluation: cross-validation, metrics, reports, plots.

:func:`evaluate` cross-validates an estimator by speaker (``GroupKFold(5)`` by
default) and reports accuracy, unweighted average recall (UAR), macro F1,
per-class scores and the confusion matrix. A :class:`LeakageWarning` is raised
when a splitter puts one speaker on both sides of a fold. The plotting
functions need matplotlib (``pip install 'sersk[plot]'``), imported lazily.
"""

from __future__ import annotations

from ._evaluate import (
    EvaluationResult,
    LeakageWarning,
    check_speaker_independence,
    evaluate,
)
from ._markdown import markdown_table
from ._plot import (
    plot_confusion_matrix,
    plot_per_class_f1,
    plot_spectrogram,
    plot_training_curves,
)
from ._speaker import standardize_by_speaker

__all__ = [
    "EvaluationResult",
    "LeakageWarning",
    "check_speaker_independence",
    "evaluate",
    "markdown_table",
    "plot_confusion_matrix",
    "plot_per_class_f1",
    "plot_spectrogram",
    "plot_training_curves",
    "standardize_by_speaker",
]
