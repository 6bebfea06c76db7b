"""``sersk predict``: label audio files with a saved model."""

from __future__ import annotations

import json
import sys
import warnings

from ..exceptions import AudioReadError, InvalidAudioError
from ..segmentation._timeline import _model_loader, _UnusableModel, _windows
from ._common import CLIError, check_out_path, emit
from ._data import expand_inputs

# With --segments a file is read block by block and only the windows of one
# batch are held, so memory does not grow with the file's length or the number
# of windows.
# A batch: at most _BATCH windows and _BATCH_SAMPLES samples (16 MiB of
# float32, 262 s at 16 kHz), so long windows are bounded too; at least one window.
_BATCH = 64
_BATCH_SAMPLES = 2**22
# frames read from the file at a time (one window's worth when that is more)
_BLOCK = 2**16


class _Stream:
    """The mono waveform of one file at the model's rate, read forward in blocks.

    :meth:`window` gives the same samples as slicing ``load_audio(path, sr=sr)``:
    channels are averaged block by block as load_audio averages them, and soxr
    resamples a stream exactly as it resamples the whole signal (librosa's
    ``soxr_hq``, which load_audio uses, then pads the end to
    ``ceil(frames * sr / native_sr)`` samples, as :meth:`_next` does). Only the
    samples from the start of the current window on are kept.
    """

    def __init__(self, f, path, sr, win):
        import numpy as np

        self._f = f
        self._path = str(path)
        native = int(f.samplerate)
        self._frames = int(f.frames)
        if native == sr:
            self.n = self._frames
            self._resampler = None
        else:
            import soxr

            # librosa.resample's length (load_audio resamples with it)
            self.n = int(np.ceil(self._frames * (float(sr) / native)))
            self._resampler = soxr.ResampleStream(
                native, sr, 1, dtype="float32", quality="soxr_hq"
            )
        self._block = max(_BLOCK, int(np.ceil(win * native / sr)))
        self._buf = np.zeros(0, dtype=np.float32)
        self._start = 0  # index (at the model's rate) of self._buf[0]
        self._read = 0  # frames read from the file
        self._done = False
        self.peak = 0.0

    def _decode(self):
        import soundfile as sf

        from ..exceptions import AudioReadError

        try:
            data = self._f.read(self._block, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, sf.SoundFileRuntimeError) as exc:
            raise AudioReadError(
                f"Could not decode '{self._path}' as audio ({exc})."
            ) from exc
        self._read += len(data)
        # as load_audio mixes the whole file down
        y = data.T
        y = y.mean(axis=0) if y.shape[0] > 1 else y[0]
        return y

    def _checked(self):
        """The next mono block at the file's rate, checked as load_audio checks
        the whole file; and whether it is the last."""
        import numpy as np

        y = np.ascontiguousarray(self._decode(), dtype=np.float32)
        bad = ~np.isfinite(y)
        if bad.any():
            self._nonfinite(self._read - len(y) + int(np.argmax(bad)), int(bad.sum()))
        if y.size:
            self.peak = max(self.peak, float(np.max(np.abs(y))))
        return y, len(y) < self._block or self._read >= self._frames

    def _next(self):
        """The next block at the model's rate; sets ``_done`` after the last."""
        import numpy as np

        y, last = self._checked()
        if self._resampler is not None:
            y = self._resampler.resample_chunk(y, last=last)
        if last:
            self._done = True
            produced = self._start + len(self._buf) + len(y)
            if produced < self.n:  # librosa.resample pads the end with zeros
                y = np.concatenate([y, np.zeros(self.n - produced, dtype=np.float32)])
        return y

    def _nonfinite(self, first, count):
        """Raise load_audio's error for NaN/Inf samples, counted over the whole file."""
        import numpy as np

        from ..exceptions import InvalidAudioError

        while self._read < self._frames:
            y = self._decode()
            if not len(y):
                break
            count += int((~np.isfinite(y)).sum())
        raise InvalidAudioError(
            f"audio of '{self._path}' contains {count} NaN/Inf sample(s) (first at "
            f"index {first}). Repair or drop the clip; np.nan_to_num(y) replaces "
            "them with zeros."
        )

    def finish(self):
        """Read what no window needed, for load_audio's checks of the whole file
        (NaN/Inf samples, and the warning for a peak far outside [-1, 1])."""
        import numpy as np

        from ..io._audio import _warn_if_far_outside

        while not self._done:
            self._done = self._checked()[1]
        name = f"audio of '{self._path}'"
        _warn_if_far_outside(np.float32([self.peak]), name, stacklevel=3)

    def window(self, a, b):
        """A copy of samples ``a:b``; ``a`` must not decrease between calls."""
        import numpy as np

        while True:
            if a > self._start:  # no later window needs what comes before a
                drop = min(a - self._start, len(self._buf))
                self._buf = self._buf[drop:]
                self._start += drop
            if self._start + len(self._buf) >= b or self._done:
                break
            self._buf = np.concatenate([self._buf, self._next()])
        return self._buf[a - self._start : b - self._start].copy()


def _ragged(waves):
    import numpy as np

    out = np.empty(len(waves), dtype=object)
    for i, w in enumerate(waves):
        out[i] = w
    return out


def _loader_of(pipeline, path, command):
    """The AudioLoader of the model loaded from ``path``; a one-line error
    (``sersk <command>: error: ...``) when the model does not start with one."""
    try:
        return _model_loader(pipeline, f"sersk {command}", repr(str(path)))
    except _UnusableModel as exc:
        raise CLIError(str(exc)) from None


def _open(file, sr):
    """Open an audio file for streaming, after load_audio's checks.

    Reading the first 10 ms with :func:`~sersk.io.load_audio` gives its errors
    for the path, the header's rate, decoding and an empty file, and its
    LowSampleRateWarning; :class:`_Stream` checks the samples of the whole file.
    """
    import soundfile as sf

    from ..exceptions import AudioAmplitudeWarning
    from ..io import load_audio

    with warnings.catch_warnings():
        # judged on the whole file by _Stream.finish
        warnings.simplefilter("ignore", AudioAmplitudeWarning)
        load_audio(file, sr=sr, duration=0.01)
    return sf.SoundFile(str(file))


def _segments(file, sr, seconds, hop):
    """Batches of ``(start, end, samples)`` windows of one file, read in blocks."""
    win = max(1, round(seconds * sr))
    with _open(file, sr) as f:
        stream = _Stream(f, file, sr, win)
        batch, size = [], 0
        for a, b in _windows(stream.n, sr, seconds, hop):
            batch.append((a, b, stream.window(a, b)))
            size += b - a
            if len(batch) == _BATCH or size >= _BATCH_SAMPLES:
                yield batch
                batch, size = [], 0
        stream.finish()  # a file with NaN further on is refused, as before
        if batch:
            yield batch


def _vad(file, pipeline, sr):
    """``(start, end, proba)`` of the speech segments of one file.

    The file is read in blocks at its own rate and pushed through a
    :class:`~sersk.segmentation.StreamingPredictor`, so memory does not grow
    with the file's length; the rows are those of
    :func:`~sersk.segmentation.predict_timeline` on the file.
    """
    import numpy as np

    from ..segmentation import StreamingPredictor

    with _open(file, sr) as f:
        stream = _Stream(f, file, sr, 0)
        predictor = StreamingPredictor(pipeline, sr=int(f.samplerate))
        found = []
        last = False
        while not last:
            y, last = stream._checked()
            found += predictor.push(y)
        found += predictor.flush()
        stream.finish()
    classes = [str(c) for c in pipeline.classes_]
    proba = np.array(
        [[p["probabilities"][c] for c in classes] for p in found], dtype=np.float64
    ).reshape(-1, len(classes))
    starts = np.array([round(p["start"], 3) for p in found], dtype=np.float64)
    ends = np.array([round(p["end"], 3) for p in found], dtype=np.float64)
    return starts, ends, proba


def _whole(file, sr):
    from ..io import load_audio

    y, _ = load_audio(file, sr=sr)
    yield [(0, y.shape[-1], y)]


def run(args):
    import numpy as np

    from .._persistence import _is_deep, load_model

    output = check_out_path(args.output) if args.output else None
    pipeline = load_model(args.model)
    loader = _loader_of(pipeline, args.model, "predict")
    files = expand_inputs(args.inputs)
    sr = int(loader.sr)
    vad = args.segments == "vad"
    if vad and args.hop:
        raise CLIError(
            f"--hop {args.hop:g} applies to windows (--segments SECONDS), not to "
            "--segments vad; leave it out"
        )
    if vad:
        from ..segmentation._silero import _weights_path

        _weights_path()  # the missing extra is named before any file is read
    elif args.segments and (loader.duration is None or not _is_deep(pipeline[-1])):
        # each window at its own length (the last one padded): classic models
        # pool statistics over time and deep models trained on full-length
        # clips take any length; a deep model trained on clips of one fixed
        # duration keeps it
        loader.set_params(duration=args.segments)
    classes = [str(c) for c in pipeline.classes_]
    # one row per window, kept as columns rather than one dict per window:
    # 90,000 windows (30 minutes at --hop 0.02) take 5 MB with 3 classes
    names, starts, ends, probas = [], [], [], []
    skipped = []
    for file in files:
        if vad:
            batches = None
        elif args.segments:
            batches = _segments(file, sr, args.segments, args.hop or args.segments)
        else:
            # one clip: the model's AudioLoader trims or pads it
            batches = _whole(file, sr)
        rows = ([], [], [], [])  # kept only once the whole file was read
        try:
            if vad:
                starts_, ends_, proba = _vad(file, pipeline, sr)
                rows[0].append((str(file), len(proba)))
                rows[1].append(starts_)
                rows[2].append(ends_)
                rows[3].append(proba)
            for batch in batches or ():
                # the model's AudioLoader pads or trims each window, as in training
                waves = _ragged([w for _, _, w in batch])
                proba = np.asarray(pipeline.predict_proba(waves), dtype=np.float64)
                rows[0].append((str(file), len(batch)))
                rows[1].append(np.array([round(a / sr, 3) for a, _, _ in batch]))
                rows[2].append(np.array([round(b / sr, 3) for _, b, _ in batch]))
                rows[3].append(proba)
        except (AudioReadError, InvalidAudioError) as exc:
            if args.on_invalid == "raise":
                raise
            skipped.append(f"{file}: {exc}")
            continue
        for kept, new in zip((names, starts, ends, probas), rows, strict=True):
            kept += new
    if skipped and args.on_invalid == "warn":
        listed = "\n  ".join(skipped)
        print(
            f"sersk predict: warning: {len(skipped)} file(s) left out "
            f"(--on-invalid warn):\n  {listed}",
            file=sys.stderr,
        )
    if not names:
        raise CLIError(
            f"none of the {len(files)} input file(s) could be read "
            f"(--on-invalid {args.on_invalid}); nothing written"
        )
    columns = {
        "file": np.repeat(
            np.array([n for n, _ in names], dtype=object), [k for _, k in names]
        )
    }
    if args.segments:
        columns["start"] = np.concatenate(starts)
        columns["end"] = np.concatenate(ends)
    proba = np.concatenate(probas)
    columns["label"] = np.array(classes, dtype=object)[np.argmax(proba, axis=1)]
    columns.update({c: proba[:, i] for i, c in enumerate(classes)})
    emit(_format(columns, classes, files, args), output)


def _json(columns, classes):
    """``json.dumps(records, indent=2)``, built one record at a time."""
    keys = [k for k in ("file", "start", "end", "label") if k in columns]
    n = len(columns["file"])

    def record(i):
        rec = {k: columns[k][i] for k in keys}
        for k in ("start", "end"):
            if k in rec:
                rec[k] = float(rec[k])
        rec["probabilities"] = {c: float(columns[c][i]) for c in classes}
        text = json.dumps(rec, indent=2)
        return "  " + text.replace("\n", "\n  ")

    if n == 0:
        return "[]"
    return "[\n" + ",\n".join(record(i) for i in range(n)) + "\n]"


def _format(columns, classes, files, args):
    import pandas as pd

    if args.format == "json":
        return _json(columns, classes)
    frame = pd.DataFrame(columns)
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
            if sub.empty:
                timeline = "no speech found"
            text += f"\n\n{file}: {timeline}"
    return text
