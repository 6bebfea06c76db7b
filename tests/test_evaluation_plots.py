"""Plots render to real PNG files with the Agg backend."""

from __future__ import annotations

import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.neighbors import KNeighborsClassifier

from sersk.evaluation import (
    evaluate,
    plot_confusion_matrix,
    plot_per_class_f1,
    plot_spectrogram,
    plot_training_curves,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _save(ax, path):
    ax.figure.savefig(path)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000
    return path


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    y = np.repeat(["angry", "happy", "sad"], 20)
    X = rng.normal(size=(60, 2)) + (y == "angry")[:, None] * 2.5
    groups = np.tile(np.arange(6), 10)
    return evaluate(KNeighborsClassifier(5), X, y, groups=groups, cv=3)


def test_confusion_matrix_from_result_is_row_normalised(result, tmp_path):
    ax = plot_confusion_matrix(result, title="knn")
    _save(ax, tmp_path / "cm.png")
    image = ax.images[0].get_array()
    np.testing.assert_allclose(np.asarray(image).sum(axis=1), 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["angry", "happy", "sad"]
    # 9 cell texts, formatted with 2 decimals
    assert len(ax.texts) == 9
    assert all(len(t.get_text().split(".")[1]) == 2 for t in ax.texts)
    assert ax.get_title() == "knn"


def test_confusion_matrix_counts_and_bad_input(tmp_path):
    ax = plot_confusion_matrix([[3, 1], [0, 4]], normalize=None, colorbar=False)
    assert [t.get_text() for t in ax.texts] == ["3", "1", "0", "4"]
    _save(ax, tmp_path / "counts.png")
    with pytest.raises(ValueError, match="must be square"):
        plot_confusion_matrix([[1, 2, 3]])
    with pytest.raises(ValueError, match="Got 3 labels for a 2x2"):
        plot_confusion_matrix([[1, 0], [0, 1]], labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="'normalize' parameter"):
        plot_confusion_matrix([[1, 0], [0, 1]], normalize="rows")


def test_per_class_f1_bars(result, tmp_path):
    ax = plot_per_class_f1(result)
    _save(ax, tmp_path / "f1.png")
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, result.per_class["f1"])
    ax = result.plot_per_class_f1(metric="recall")
    np.testing.assert_allclose(
        [p.get_height() for p in ax.patches], result.per_class["recall"]
    )
    with pytest.raises(ValueError, match="no column 'auc'"):
        plot_per_class_f1(result, metric="auc")


def test_training_curves_from_a_skorch_history(tmp_path):
    from skorch.history import History

    history = History()
    for epoch in range(1, 6):
        history.new_epoch()
        history.record("epoch", epoch)
        history.record("train_loss", 2.0 / epoch)
        history.record("valid_loss", 2.2 / epoch)
        history.record("valid_acc", 0.1 * epoch)
    axes = plot_training_curves(history)
    _save(axes[0], tmp_path / "curves.png")
    assert [line.get_label() for line in axes[0].lines] == ["train_loss", "valid_loss"]
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), [0.1, 0.2, 0.3, 0.4, 0.5])

    class Net:  # anything exposing a fitted skorch-like ``history_``
        history_ = history

    axes = plot_training_curves(Net(), score_keys=())
    assert len(axes[0].lines) == 2 and not axes[1].lines


def test_training_curves_bad_input():
    with pytest.raises(ValueError, match="needs a skorch History"):
        plot_training_curves([])
    with pytest.raises(ValueError, match="None of the keys"):
        plot_training_curves([{"epoch": 1, "loss": 1.0}])


@pytest.mark.parametrize("kind, n_rows", [("mel", 64), ("mfcc", 20)])
def test_spectrogram_of_a_clip(kind, n_rows, tmp_path):
    t = np.arange(8000) / 16000
    y = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    ax = plot_spectrogram(y, kind=kind, n_mels=64, n_mfcc=20)
    _save(ax, tmp_path / f"{kind}.png")
    assert np.asarray(ax.images[0].get_array()).shape[0] == n_rows


def test_spectrogram_of_a_precomputed_matrix_and_errors(tmp_path):
    ax = plot_spectrogram(np.random.rand(40, 30), kind="mfcc", colorbar=False)
    assert np.asarray(ax.images[0].get_array()).shape == (40, 30)
    with pytest.raises(ValueError, match="must be 'mel' or 'mfcc'"):
        plot_spectrogram(np.zeros(100), kind="cqt")
    with pytest.raises(ValueError, match="1-D waveform or a 2-D"):
        plot_spectrogram(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"(?i)finite|nan"):
        plot_spectrogram(np.full(4000, np.nan))


def test_clear_error_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'sersk\[plot\]'"):
        plot_confusion_matrix([[1, 0], [0, 1]])


def test_result_methods_and_pandas_table(result):
    ax = result.plot_confusion_matrix(normalize="pred", colorbar=False)
    cols = np.asarray(ax.images[0].get_array()).sum(axis=0)
    assert np.all((np.abs(cols - 1) < 1e-9) | (cols == 0))
    table = pd.DataFrame({"f1": [0.5, 0.8]}, index=["sad", "angry"])
    assert len(plot_per_class_f1(table).patches) == 2
