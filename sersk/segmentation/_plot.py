"""Plot an emotion timeline (matplotlib is the optional ``plot`` extra)."""

from __future__ import annotations

import numpy as np


def plot_timeline(timeline, *, y=None, sr=None, ax=None, colors=None, title=None):
    """Plot an emotion timeline: one coloured span per segment.

    Each segment of ``timeline`` is drawn from its start to its end in the
    colour of its label, as high as the label's probability; the waveform, when
    given, is drawn underneath so silences (and the segments left out of a VAD
    timeline) can be seen.

    Parameters
    ----------
    timeline : pandas.DataFrame
        What :func:`predict_timeline` returns (or ``sersk predict --format
        csv`` read back): columns ``start``, ``end``, ``label`` and one
        probability column per class.
    y : array-like of shape (n_samples,), default=None
        The recording's waveform, drawn in grey (scaled to the axes).
    sr : int, default=None
        Sampling rate of ``y`` (required with ``y``).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    colors : dict, default=None
        Colour of each label (``None``: matplotlib's default cycle, in the
        order of the probability columns).
    title : str, default=None
        Axes title.

    Returns
    -------
    ax : matplotlib Axes

    See Also
    --------
    predict_timeline : Compute the timeline.

    Examples
    --------
    >>> import pandas as pd
    >>> from sersk.segmentation import plot_timeline
    >>> timeline = pd.DataFrame({"start": [0.5, 2.0], "end": [1.5, 3.2],
    ...                          "label": ["happy", "sad"],
    ...                          "happy": [0.8, 0.3], "sad": [0.2, 0.7]})
    >>> ax = plot_timeline(timeline)  # doctest: +SKIP
    """
    from ..evaluation._plot import _get_ax

    missing = [c for c in ("start", "end", "label") if c not in timeline.columns]
    if missing:
        raise ValueError(
            f"plot_timeline needs the columns start, end and label of "
            f"predict_timeline; {missing} are missing (got columns "
            f"{list(timeline.columns)})."
        )
    if y is not None and sr is None:
        raise ValueError("plot_timeline got a waveform y without sr: pass sr=...")
    classes = [
        c for c in timeline.columns if c not in ("file", "start", "end", "label")
    ]
    labels = list(dict.fromkeys([*classes, *map(str, timeline["label"])]))
    if colors is None:
        colors = {c: f"C{k % 10}" for k, c in enumerate(labels)}
    ax = _get_ax(ax, figsize=(10, 3))
    end = float(timeline["end"].max()) if len(timeline) else 0.0
    if y is not None:
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        peak = float(np.max(np.abs(y))) or 1.0
        t = np.arange(len(y)) / float(sr)
        step = max(1, len(y) // 20000)  # enough points for the eye
        ax.plot(t[::step], 0.5 + 0.45 * y[::step] / peak, color="0.55", lw=0.4)
        end = max(end, len(y) / float(sr))
    for row in timeline.to_dict("records"):
        label = str(row["label"])
        height = float(row[label]) if label in classes else 1.0
        ax.fill_between(
            [row["start"], row["end"]], 0, height, color=colors[label], alpha=0.55,
            lw=0,
        )  # fmt: skip
    from matplotlib.patches import Patch

    shown = [c for c in labels if c in set(map(str, timeline["label"]))]
    ax.legend(
        handles=[Patch(color=colors[c], alpha=0.55, label=c) for c in shown],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize="small",
        frameon=False,
    )
    ax.set_xlim(0, end or 1.0)
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability of the label")
    if title:
        ax.set_title(title)
    return ax
