"""matplotlib plots for SER results (matplotlib is the optional ``plot`` extra)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "plot_confusion_matrix",
    "plot_per_class_f1",
    "plot_spectrogram",
    "plot_training_curves",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sersk's plotting functions need matplotlib, which is not installed. "
            "Install it with: pip install 'sersk[plot]' (or pip install matplotlib)."
        ) from exc
    return plt


def _get_ax(ax, figsize=None):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_confusion_matrix(
    result,
    *,
    labels=None,
    normalize="true",
    ax=None,
    cmap="Blues",
    values_format=None,
    colorbar=True,
    title=None,
):
    """Plot a (normalised) confusion matrix.

    Parameters
    ----------
    result : EvaluationResult or array-like of shape (n_classes, n_classes)
        An :func:`evaluate` result or a confusion matrix of counts
        (rows: true labels, columns: predictions).
    labels : list of str, default=None
        Class names; taken from ``result`` when it is an EvaluationResult.
    normalize : {"true", "pred", "all"} or None, default="true"
        Divide by the row sums ("true": per-class recall on the diagonal),
        the column sums, the total, or plot counts (None).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    cmap : str, default="Blues"
        Colour map.
    values_format : str, default=None
        Format of the cell texts; ".2f" when normalised, "d" otherwise.
    colorbar : bool, default=True
        Draw a colour bar.
    title : str, default=None
        Axes title.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sersk.evaluation import plot_confusion_matrix
    >>> ax = plot_confusion_matrix([[3, 1], [0, 4]], labels=["sad", "angry"])
    >>> ax.get_xlabel()
    'Predicted label'
    """
    if hasattr(result, "confusion_matrix") and hasattr(result, "labels"):
        cm = np.asarray(result.confusion_matrix, dtype=float)
        if labels is None:
            labels = [str(c) for c in result.labels]
    else:
        cm = np.asarray(result, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(
            f"A confusion matrix must be square; got shape {cm.shape}. Pass "
            "evaluate()'s result or sklearn.metrics.confusion_matrix(...)."
        )
    if labels is None:
        labels = [str(i) for i in range(cm.shape[0])]
    if len(labels) != cm.shape[0]:
        raise ValueError(
            f"Got {len(labels)} labels for a {cm.shape[0]}x{cm.shape[0]} confusion "
            "matrix; pass one label per class."
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            cm = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            cm = cm / cm.sum(axis=0, keepdims=True)
        elif normalize == "all":
            cm = cm / cm.sum()
        elif normalize is not None:
            raise ValueError(
                "The 'normalize' parameter of plot_confusion_matrix must be one of "
                f"'true', 'pred', 'all' or None. Got {normalize!r} instead."
            )
    cm = np.nan_to_num(cm)
    if values_format is None:
        values_format = ".2f" if normalize else ".0f"
    n = cm.shape[0]
    ax = _get_ax(ax, figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    vmax = 1.0 if normalize else max(cm.max(), 1.0)
    image = ax.imshow(cm, cmap=cmap, vmin=0.0, vmax=vmax)
    threshold = vmax / 2.0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                format(cm[i, j], values_format),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if cm[i, j] > threshold else "black",
            )
    ax.set_xticks(range(n), labels=labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=labels)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.figure.tight_layout()
    return ax


def plot_per_class_f1(result, *, ax=None, metric="f1", color="C0", title=None):
    """Bar chart of a per-class score (F1 by default).

    Parameters
    ----------
    result : EvaluationResult or pandas.DataFrame
        An :func:`evaluate` result or its ``per_class`` table.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    metric : {"f1", "precision", "recall"}, default="f1"
        Column of the per-class table to plot.
    color : str, default="C0"
        Bar colour.
    title : str, default=None
        Axes title.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from sersk.evaluation import plot_per_class_f1
    >>> table = pd.DataFrame({"f1": [0.5, 0.8]}, index=["sad", "angry"])
    >>> len(plot_per_class_f1(table).patches)
    2
    """
    table = getattr(result, "per_class", result)
    if metric not in getattr(table, "columns", ()):
        raise ValueError(
            f"The per-class table has no column {metric!r}; choose one of "
            f"{list(getattr(table, 'columns', []))}."
        )
    values = np.asarray(table[metric], dtype=float)
    names = [str(c) for c in table.index]
    ax = _get_ax(ax, figsize=(1.0 + 0.6 * len(names), 3.0))
    bars = ax.bar(names, values, color=color)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            f"{value:.2f}",
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel(metric)
    ax.tick_params(axis="x", labelrotation=45)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax


def _history_records(history):
    for attr in ("history_", "history"):
        if hasattr(history, attr) and not isinstance(history, list):
            candidate = getattr(history, attr)
            if candidate is not None and not callable(candidate):
                history = candidate
                break
    records = list(history)
    if not records or not all(isinstance(r, dict) for r in records):
        raise ValueError(
            "plot_training_curves needs a skorch History (net.history), a fitted "
            "skorch net, or a non-empty list of per-epoch dicts such as "
            "{'epoch': 1, 'train_loss': 0.9, 'valid_loss': 1.1, 'valid_acc': 0.4}."
        )
    return records


def plot_training_curves(
    history,
    *,
    loss_keys=("train_loss", "valid_loss"),
    score_keys=("valid_acc",),
    axes=None,
):
    """Plot loss and validation-score curves of a deep model's training.

    Parameters
    ----------
    history : skorch History, fitted skorch net or list of dict
        Per-epoch records, e.g. ``net.history`` or ``clf.history_``.
    loss_keys : tuple of str, default=("train_loss", "valid_loss")
        Keys plotted on the left axes (missing keys are skipped).
    score_keys : tuple of str, default=("valid_acc",)
        Keys plotted on the right axes (missing keys are skipped).
    axes : sequence of two matplotlib Axes, default=None
        Where to draw; a new 1x2 figure when None.

    Returns
    -------
    axes : ndarray of two matplotlib Axes
        Loss axes and score axes.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sersk.evaluation import plot_training_curves
    >>> hist = [{"epoch": e, "train_loss": 1 / e, "valid_loss": 1.2 / e,
    ...          "valid_acc": 0.2 * e} for e in range(1, 4)]
    >>> axes = plot_training_curves(hist)
    >>> len(axes[0].lines), len(axes[1].lines)
    (2, 1)
    """
    records = _history_records(history)
    plt = _pyplot()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes = np.asarray(axes).ravel()
    if axes.size != 2:
        raise ValueError(f"axes must hold 2 Axes; got {axes.size}.")
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(records)]
    plotted = 0
    for ax, keys, ylabel in (
        (axes[0], loss_keys, "loss"),
        (axes[1], score_keys, "score"),
    ):
        for key in keys:
            points = [
                (e, r[key])
                for e, r in zip(epochs, records, strict=True)
                if r.get(key) is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker=".", label=key)
                plotted += 1
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if ax.lines:
            ax.legend()
    if not plotted:
        raise ValueError(
            f"None of the keys {tuple(loss_keys) + tuple(score_keys)} is in the "
            f"history; available keys: {sorted(records[0])}."
        )
    axes[0].figure.tight_layout()
    return axes


def plot_spectrogram(
    y,
    *,
    sr=16000,
    kind="mel",
    n_mels=128,
    n_mfcc=40,
    n_fft=1024,
    hop_length=256,
    ax=None,
    cmap="magma",
    colorbar=True,
    title=None,
):
    """Plot the log-mel spectrogram or the MFCCs of a clip.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_coeffs, n_frames)
        A waveform, or an already computed 2-D feature matrix (plotted as is).
    sr : int, default=16000
        Sampling rate of ``y``.
    kind : {"mel", "mfcc"}, default="mel"
        Feature computed from a waveform (log-mel in dB, or MFCCs).
    n_mels : int, default=128
        Mel bands.
    n_mfcc : int, default=40
        MFCCs (``kind="mfcc"``).
    n_fft : int, default=1024
        FFT size.
    hop_length : int, default=256
        Samples between frames.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    cmap : str, default="magma"
        Colour map.
    colorbar : bool, default=True
        Draw a colour bar.
    title : str, default=None
        Axes title.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sersk.evaluation import plot_spectrogram
    >>> t = np.arange(8000) / 16000
    >>> ax = plot_spectrogram(np.sin(2 * np.pi * 440 * t), kind="mfcc")
    >>> ax.get_ylabel()
    'MFCC'
    """
    if kind not in ("mel", "mfcc"):
        raise ValueError(
            "The 'kind' parameter of plot_spectrogram must be 'mel' or 'mfcc'. "
            f"Got {kind!r} instead."
        )
    data = np.asarray(y, dtype=np.float32)
    if data.ndim == 1:
        import librosa

        from ..utils._validation import check_audio

        data = check_audio(data, name="y")
        mel = librosa.feature.melspectrogram(
            y=data, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
        )
        log_mel = librosa.power_to_db(mel, ref=np.max)
        if kind == "mel":
            data = log_mel
        else:
            data = librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc)
    elif data.ndim != 2:
        raise ValueError(
            "plot_spectrogram expects a 1-D waveform or a 2-D (n_coeffs, n_frames) "
            f"matrix; got shape {data.shape}."
        )
    ax = _get_ax(ax, figsize=(7, 3))
    duration = data.shape[1] * hop_length / sr
    image = ax.imshow(
        data,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        extent=(0.0, duration, 0, data.shape[0]),
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band" if kind == "mel" else "MFCC")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="dB" if kind == "mel" else None)
    ax.figure.tight_layout()
    return ax
