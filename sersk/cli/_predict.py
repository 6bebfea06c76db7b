"""``sersk predict``: label audio files with a saved model."""

from __future__ import annotations

import json

from ._common import CLIError, check_out_path, emit
from ._data import expand_inputs

# windows classified per call: memory stays bounded for long recordings
_BATCH = 64


def _windows(n, sr, seconds, hop):
    """``(start, end)`` sample bounds of windows sliding over ``n`` samples."""
    win = max(1, round(seconds * sr))
    step = max(1, round(hop * sr))
    bounds = []
    start = 0
    while start + win <= n:
        bounds.append((start, start + win))
        start += step
    if not bounds:
        bounds.append((0, n))
    elif n - bounds[-1][1] >= win / 2:
        # audio left uncovered after the last full window: one shorter window
        bounds.append((start, n))
    return bounds


def _ragged(waves):
    import numpy as np

    out = np.empty(len(waves), dtype=object)
    for i, w in enumerate(waves):
        out[i] = w
    return out


def _model_loader(pipeline, path):
    from sklearn.pipeline import Pipeline

    from ..features import AudioLoader

    if not (isinstance(pipeline, Pipeline) and isinstance(pipeline[0], AudioLoader)):
        raise CLIError(
            f"{path!r} holds a {type(pipeline).__name__} that does not start with "
            "an AudioLoader, so sersk predict cannot tell the sampling rate it "
            "expects; save a pipeline of sersk.pipelines (or one starting with "
            "sersk.features.AudioLoader)"
        )
    return pipeline[0]


def run(args):
    import numpy as np

    from .._persistence import _is_deep, load_model
    from ..io import load_audio

    output = check_out_path(args.output) if args.output else None
    pipeline = load_model(args.model)
    loader = _model_loader(pipeline, args.model)
    files = expand_inputs(args.inputs)
    sr = int(loader.sr)
    if args.segments and (loader.duration is None or not _is_deep(pipeline[-1])):
        # each window at its own length (the last one padded): classic models
        # pool statistics over time and deep models trained on full-length
        # clips take any length; a deep model trained on clips of one fixed
        # duration keeps it
        loader.set_params(duration=args.segments)
    classes = [str(c) for c in pipeline.classes_]
    rows = []
    for file in files:
        y, _ = load_audio(file, sr=sr)
        n = y.shape[-1]
        if args.segments:
            bounds = _windows(n, sr, args.segments, args.hop or args.segments)
        else:
            bounds = [(0, n)]
        for first in range(0, len(bounds), _BATCH):
            batch = bounds[first : first + _BATCH]
            # the model's AudioLoader pads or trims each window, as in training
            waves = _ragged([y[a:b] for a, b in batch])
            proba = np.asarray(pipeline.predict_proba(waves))
            for (a, b), p in zip(batch, proba, strict=True):
                row = {"file": str(file)}
                if args.segments:
                    row["start"] = round(a / sr, 3)
                    row["end"] = round(b / sr, 3)
                row["label"] = classes[int(np.argmax(p))]
                row.update({c: float(v) for c, v in zip(classes, p, strict=True)})
                rows.append(row)
    emit(_format(rows, classes, files, args), output)


def _format(rows, classes, files, args):
    import pandas as pd

    frame = pd.DataFrame(rows)
    if args.format == "json":
        records = []
        for row in rows:
            rec = {k: row[k] for k in ("file", "start", "end", "label") if k in row}
            rec["probabilities"] = {c: row[c] for c in classes}
            records.append(rec)
        return json.dumps(records, indent=2)
    if args.format == "csv":
        return frame.to_csv(index=False, float_format="%.4f")
    text = frame.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    if args.segments:
        for file in files:
            sub = frame[frame["file"] == str(file)]
            timeline = " | ".join(
                f"{a:g}-{b:g}s {label}"
                for a, b, label in zip(
                    sub["start"], sub["end"], sub["label"], strict=True
                )
            )
            text += f"\n\n{file}: {timeline}"
    return text
