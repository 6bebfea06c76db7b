"""The ``sersk`` command line (also ``python -m sersk``).

Subcommands
-----------
``sersk demo``
    Train and evaluate on the built-in synthetic emotional speech and print a
    speaker-independent report (the README's main job; about a minute on a
    laptop CPU).
``sersk train``
    Fit a model on a corpus and save it to a ``.sersk`` model file.
``sersk evaluate``
    Cross-validate a model on a corpus (by speaker by default), print or write
    a Markdown report and plots.
``sersk predict``
    Label audio files with a saved model, as a table, JSON or CSV; with
    ``--segments SECONDS`` print an emotion timeline of long recordings.
``sersk features``
    Extract features of a corpus and save them (``.npz``, ``.csv`` or
    ``.parquet``).

Every subcommand has ``--help``. Errors are printed as one line
``sersk <command>: error: ...`` with exit status 1 (2 for wrong usage, as
argparse does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

__all__ = ["build_parser", "main"]

CORPORA = ("synthetic", "ravdess", "tess", "crema_d", "savee", "emodb", "folder")
CLASSIC_MODELS = ("svm", "rf")
DEEP_MODELS = ("crnn", "cnn", "cnn_lstm", "rnn")
MODELS = CLASSIC_MODELS + DEEP_MODELS
_AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"}


class CLIError(Exception):
    """An error reported to the user as one line, exit status 1."""


# ----------------------------------------------------------------------------
# Argument parsing
# ----------------------------------------------------------------------------


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _parse_value(text):
    if "," in text:
        return tuple(_parse_value(t) for t in text.split(",") if t)
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def _module_param(text):
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), _parse_value(value.strip())


class _Formatter(argparse.HelpFormatter):
    """Wrap description paragraphs; keep indented lines (examples) as they are."""

    def _fill_text(self, text, width, indent):
        import textwrap

        paragraphs = []
        for para in text.split("\n\n"):
            if para.startswith("  "):
                paragraphs.append(para)
            else:
                paragraphs.append(
                    textwrap.fill(
                        para, width, initial_indent=indent, subsequent_indent=indent
                    )
                )
        return "\n\n".join(paragraphs)


def _add_common(p):
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars or training logs, only the results",
    )


def _add_data_args(p, *, corpus_required=True):
    g = p.add_argument_group("data")
    g.add_argument(
        "--corpus",
        choices=CORPORA,
        required=corpus_required,
        help="corpus to use: 'synthetic' is the built-in synthetic speech; "
        "'folder' reads ROOT/<emotion>/*.wav",
    )
    g.add_argument(
        "--root",
        metavar="DIR",
        help="folder holding the corpus (default: $SERSK_DATA/<corpus>, "
        "or ~/sersk_data/<corpus>)",
    )
    g.add_argument(
        "--emotions",
        nargs="+",
        metavar="EMOTION",
        help="keep only these emotions (canonical names such as neutral happy sad "
        "angry fear disgust calm surprise boredom)",
    )
    g.add_argument(
        "--speaker-pattern",
        metavar="REGEX",
        help="folder corpus only: regular expression finding the speaker id in "
        "each file's path below its emotion folder, e.g. '^(\\w+?)_' (without "
        "it speakers are unknown and --cv speaker is impossible)",
    )
    g.add_argument(
        "--sr",
        type=_positive_int,
        default=16000,
        help="sampling rate audio is resampled to (default: 16000)",
    )
    g.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        help="clip length in seconds; longer clips are trimmed, shorter ones "
        "zero-padded (default: 3.0 for corpora, 2.0 for synthetic)",
    )
    g.add_argument(
        "--n-samples",
        type=_positive_int,
        default=480,
        help="number of synthetic clips (synthetic corpus only, default: 480)",
    )
    g.add_argument(
        "--n-speakers",
        type=_positive_int,
        default=8,
        help="number of synthetic speakers (synthetic corpus only, default: 8)",
    )
    g.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="parallel jobs for reading audio (default: 1; -1 uses all cores)",
    )
    g.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed for synthetic data, splits and training (default: 0)",
    )


def _add_model_args(p):
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        choices=MODELS,
        default="svm",
        help="svm / rf: classic feature statistics with an RBF SVM or a random "
        "forest; crnn / cnn / cnn_lstm / rnn: deep models on log-mel "
        "spectrograms (default: svm)",
    )
    g.add_argument(
        "--device",
        default="auto",
        help="deep models: 'auto' (CUDA when available), 'cpu', 'cuda' or "
        "'cuda:N' (default: auto)",
    )
    g.add_argument(
        "--epochs",
        type=_positive_int,
        default=30,
        help="deep models: maximum number of epochs (default: 30)",
    )
    g.add_argument(
        "--module-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=_module_param,
        help="deep models: set an architecture parameter (repeatable), e.g. "
        "--module-param conv_channels=16,32 --module-param lstm_units=32; see "
        "the classifier's module for the names",
    )
    g.add_argument(
        "--batch-size",
        type=_positive_int,
        default=32,
        help="deep models: batch size (default: 32)",
    )


def build_parser():
    """The :class:`argparse.ArgumentParser` of the ``sersk`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="sersk",
        description="Speech emotion recognition with scikit-learn: train, "
        "evaluate and apply emotion classifiers from the command line.",
        epilog="Run 'sersk COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"sersk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "demo",
        help="train and evaluate on built-in synthetic speech (about a minute)",
        description="Synthesise emotional speech from several speakers, extract "
        "features, and cross-validate a classifier so that no speaker is in both "
        "the training and the test data of a fold. Prints the speaker-independent "
        "report, and the over-optimistic score of a random split for comparison.",
        formatter_class=_Formatter,
    )
    p.add_argument(
        "--model",
        choices=("svm", "rf", "crnn"),
        default="svm",
        help="svm (default), rf, or a small crnn on log-mel spectrograms (a few "
        "minutes on a CPU; no random-split comparison)",
    )
    p.add_argument(
        "--n-samples",
        type=_positive_int,
        default=720,
        help="number of synthetic clips (default: 720)",
    )
    p.add_argument(
        "--n-speakers",
        type=_positive_int,
        default=12,
        help="number of synthetic speakers (default: 12)",
    )
    p.add_argument(
        "--duration",
        type=_positive_float,
        default=2.0,
        help="clip length in seconds (default: 2.0)",
    )
    p.add_argument(
        "--folds",
        type=_positive_int,
        default=4,
        help="speaker-independent folds (GroupKFold, default: 4)",
    )
    p.add_argument(
        "--epochs", type=_positive_int, default=15, help="crnn only (default: 15)"
    )
    p.add_argument("--device", default="auto", help="crnn only (default: auto)")
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument(
        "--no-random-split",
        action="store_true",
        help="skip the comparison with a random (speaker-dependent) split",
    )
    p.add_argument("--report", metavar="FILE", help="also write the report (Markdown)")
    _add_common(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "train",
        help="train a model on a corpus and save it",
        description="Train a model on a corpus and save it to a model file "
        "(.sersk). Example:\n\n"
        "  sersk train --corpus ravdess --root ~/data/ravdess --model svm "
        "--out ravdess-svm.sersk\n\n"
        "A .sersk file is a zip archive with metadata (sersk.json) and the model. "
        "Classic models (svm, rf) are stored with joblib, i.e. pickle: only load "
        "model files you trust. Deep models are stored as JSON + tensors.",
        formatter_class=_Formatter,
    )
    _add_data_args(p)
    _add_model_args(p)
    p.add_argument(
        "--out", required=True, metavar="FILE", help="model file to write (.sersk)"
    )
    _add_common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="cross-validate a model on a corpus (speaker-independent by default)",
        description="Cross-validate a model on a corpus. --cv speaker (default) "
        "keeps every speaker on one side of each split (GroupKFold); --cv random "
        "is a stratified random split, which leaks speakers and overestimates "
        "the accuracy on new speakers.",
        formatter_class=_Formatter,
    )
    _add_data_args(p)
    _add_model_args(p)
    p.add_argument("--cv", choices=("speaker", "random"), default="speaker")
    p.add_argument(
        "--folds", type=_positive_int, default=5, help="number of folds (default: 5)"
    )
    p.add_argument("--report", metavar="FILE", help="write the report (Markdown)")
    p.add_argument(
        "--plots",
        metavar="DIR",
        help="write confusion_matrix.png and per_class_f1.png into DIR",
    )
    _add_common(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "predict",
        help="label audio files with a saved model",
        description="Predict the emotion of audio files (or every audio file in "
        "the given folders) with a model written by 'sersk train'. With "
        "--segments SECONDS a window slides over each recording and one "
        "prediction per window is printed: an emotion timeline.",
        formatter_class=_Formatter,
    )
    p.add_argument("model", metavar="MODEL", help="model file (.sersk)")
    p.add_argument(
        "inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files or folders"
    )
    p.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="output format (default: table)",
    )
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--segments",
        type=_positive_float,
        metavar="SECONDS",
        help="predict on windows of SECONDS seconds (an emotion timeline)",
    )
    p.add_argument(
        "--hop",
        type=_positive_float,
        metavar="SECONDS",
        help="step between windows (default: the window length)",
    )
    _add_common(p)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "features",
        help="extract features of a corpus and save them",
        description="Extract features of every clip of a corpus and save them "
        "with the labels and speaker ids. --kind classic (default) gives the "
        "pooled statistics of ZCR, RMS, MFCC, chroma, mel and spectral contrast "
        "(one row per clip); --kind logmel gives log-mel spectrograms "
        "(n_clips, n_mels, n_frames). Output format by extension: .npz "
        "(arrays X, y, groups, feature_names), .csv (classic only), .parquet "
        "(classic only, needs pyarrow).",
        formatter_class=_Formatter,
    )
    _add_data_args(p)
    p.add_argument("--kind", choices=("classic", "logmel"), default="classic")
    p.add_argument(
        "--out", required=True, metavar="FILE", help="output .npz, .csv or .parquet"
    )
    _add_common(p)
    p.set_defaults(func=_cmd_features)
    return parser


def main(argv=None):
    """Run the ``sersk`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 on an error, 2 on wrong usage.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        args.func(args)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print("sersk: interrupted", file=sys.stderr)
        return 130
    except (CLIError, OSError, ValueError, ImportError, KeyError) as exc:
        message = str(exc) if not isinstance(exc, KeyError) else repr(exc.args[0])
        print(f"sersk {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------


def _log(args, *text):
    if not getattr(args, "quiet", False):
        print(*text, file=sys.stderr, flush=True)


def _default_duration(args):
    if args.duration is not None:
        return float(args.duration)
    return 2.0 if args.corpus == "synthetic" else 3.0


def _load_data(args):
    """Waveforms ``(n_clips, n_samples)``, labels, speaker ids and a description."""
    import numpy as np

    from . import datasets

    duration = _default_duration(args)
    if args.corpus == "synthetic":
        kwargs = {}
        if args.emotions:
            kwargs["emotions"] = tuple(args.emotions)
        X, y, groups = datasets.make_emotional_speech(
            args.n_samples,
            sr=args.sr,
            duration=duration,
            n_speakers=args.n_speakers,
            random_state=args.random_state,
            **kwargs,
        )
        desc = (
            f"synthetic speech: {len(y)} clips of {duration:g} s, "
            f"{np.unique(groups).size} speakers"
        )
        return np.asarray(X, dtype=np.float32), np.asarray(y), np.asarray(groups), desc

    loader = getattr(datasets, f"load_{args.corpus}")
    kwargs = {}
    if args.corpus == "folder":
        if args.root is None:
            raise CLIError(
                "--corpus folder needs --root DIR (a folder with one sub-folder "
                "of audio files per emotion)"
            )
        if args.speaker_pattern:
            kwargs["speaker_pattern"] = args.speaker_pattern
    if args.root is not None:
        root = Path(args.root).expanduser()
        if not root.exists():
            raise CLIError(
                f"--root {args.root!r} does not exist. Point --root at the folder "
                f"holding the {args.corpus} corpus (see 'sersk train --help')."
            )
        kwargs["root"] = root
    if args.emotions:
        kwargs["emotions"] = list(args.emotions)
    bunch = loader(**kwargs)
    from .features import AudioLoader

    _log(args, f"Reading {len(bunch.target)} audio files of {args.corpus} ...")
    # lazy: the files are read chunk by chunk by _transform, so the corpus'
    # waveforms are never all in memory
    audio = AudioLoader(
        sr=args.sr,
        duration=duration,
        n_jobs=args.n_jobs,
        verbose=not args.quiet,  # the bar of the eager case (duration=None)
        lazy=duration is not None,
    )
    X = audio.fit_transform(np.asarray(bunch.data))
    n_spk = "unknown" if bunch.groups is None else np.unique(bunch.groups).size
    desc = f"{args.corpus}: {len(bunch.target)} clips, {n_spk} speakers"
    groups = None if bunch.groups is None else np.asarray(bunch.groups)
    return X, np.asarray(bunch.target), groups, desc


def _make_model(
    name,
    *,
    sr,
    module_params=(),
    random_state=0,
    epochs=30,
    batch_size=32,
    device="auto",
    probability=False,
    verbose=False,
):
    """Split a model into a stateless feature front end and a learned head.

    The front end (feature extraction) has nothing to fit, so it runs once on
    all clips; cross-validation then only refits the head, which is what makes
    ``sersk demo`` fast. The saved model is the two joined in one pipeline.
    """
    from sklearn.pipeline import make_pipeline

    from .features import ClipStandardizer, MelSpectrogram, make_classic_features

    if name in CLASSIC_MODELS:
        from sklearn.preprocessing import StandardScaler

        front = make_pipeline(make_classic_features(sr=sr, shared_stft=True))
        if name == "svm":
            from sklearn.svm import SVC

            clf = SVC(C=10.0, gamma="scale", random_state=random_state)
            if probability:
                from sklearn.calibration import CalibratedClassifierCV

                clf = CalibratedClassifierCV(clf, cv=3, ensemble=False)
        else:
            from sklearn.ensemble import RandomForestClassifier

            clf = RandomForestClassifier(
                n_estimators=300, random_state=random_state, n_jobs=1
            )
        return front, make_pipeline(StandardScaler(), clf)

    from . import models

    front = make_pipeline(MelSpectrogram(sr=sr, n_mels=64), ClipStandardizer())
    cls = {
        "crnn": "CRNNClassifier",
        "cnn": "CNNClassifier",
        "cnn_lstm": "CNNLSTMClassifier",
        "rnn": "RNNClassifier",
    }[name]
    head = getattr(models, cls)(
        max_epochs=epochs,
        batch_size=batch_size,
        device=device,
        random_state=random_state,
        verbose=int(verbose),
        **{f"module__{key}": value for key, value in module_params},
    )
    return front, head


def _transform(front, X, *, quiet, desc="features", chunk_size=32):
    """Run the stateless front end in chunks, with a progress bar."""
    import numpy as np
    from tqdm.auto import tqdm

    n = len(X)
    out = None
    with tqdm(total=n, desc=desc, unit="clip", disable=quiet, file=sys.stderr) as bar:
        for start in range(0, n, chunk_size):
            F = np.asarray(front.transform(X[start : start + chunk_size]))
            if out is None:  # preallocated: no second copy of the features
                out = np.empty((n, *F.shape[1:]), dtype=F.dtype)
            out[start : start + len(F)] = F
            bar.update(len(F))
    return out


def _join(front, head):
    from sklearn.pipeline import Pipeline

    steps = list(front.steps)
    steps += (
        list(head.steps)
        if isinstance(head, Pipeline)
        else [(type(head).__name__.lower(), head)]
    )
    return Pipeline(steps)


def _print(text, path=None):
    if path is None:
        print(text, flush=True)
    else:
        Path(path).write_text(text if text.endswith("\n") else text + "\n")


def _check_out_path(path, suffixes=None):
    path = Path(path).expanduser()
    if not path.parent.exists():
        raise CLIError(f"output folder {str(path.parent)!r} does not exist")
    if suffixes and path.suffix.lower() not in suffixes:
        raise CLIError(
            f"cannot write {str(path)!r}: the extension must be one of "
            f"{', '.join(sorted(suffixes))}"
        )
    return path


def _fit_head(head, F, y, groups, deep):
    if deep:
        try:
            return head.fit(F, y, groups=groups)
        except TypeError as exc:
            if "groups" not in str(exc):
                raise
    return head.fit(F, y)


# ----------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------


# A small CRNN for ``sersk demo --model crnn``: a few times faster than the
# default architecture on a CPU, and enough for the synthetic speech.
_DEMO_CRNN = (
    ("conv_channels", (8, 16, 16)),
    ("lstm_units", (16,)),
    ("attention_units", 16),
    ("dense_units", (16,)),
)


def _cmd_demo(args):
    import numpy as np
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from .datasets import make_emotional_speech
    from .evaluation import LeakageWarning, evaluate

    t0 = time.perf_counter()
    sr = 16000
    X, y, groups = make_emotional_speech(
        args.n_samples,
        sr=sr,
        duration=args.duration,
        n_speakers=args.n_speakers,
        random_state=args.random_state,
    )
    classes = np.unique(y)
    n_speakers = np.unique(groups).size
    if args.folds > n_speakers:
        raise CLIError(
            f"--folds {args.folds} needs at least as many speakers; "
            f"--n-speakers is {n_speakers}"
        )
    _log(
        args,
        f"Synthesised {len(y)} clips of {args.duration:g} s: {n_speakers} speakers, "
        f"{classes.size} emotions ({', '.join(classes)}).",
    )
    front, head = _make_model(
        args.model,
        sr=sr,
        random_state=args.random_state,
        epochs=args.epochs,
        device=args.device,
        module_params=_DEMO_CRNN if args.model == "crnn" else (),
        verbose=False,
    )
    F = _transform(front, X, quiet=args.quiet)
    _log(args, f"Features: {F.shape[1:]} per clip. Cross-validating {args.model} ...")
    result = evaluate(head, F, y, groups=groups, cv=args.folds)
    title = (
        f"sersk demo: {args.model} on synthetic speech, speaker-independent "
        f"{args.folds}-fold CV"
    )
    report = result.to_markdown(title=title)
    chance = 1.0 / classes.size
    lines = [
        "",
        f"Speaker-independent (GroupKFold by speaker): accuracy "
        f"{result.format_metric('accuracy')}, UAR {result.format_metric('uar')} "
        f"(chance {chance:.3f}).",
    ]
    if args.model == "crnn" and not args.no_random_split:
        lines.append(
            "(The random-split comparison is skipped for crnn to keep the demo "
            "short; run 'sersk demo' for it.)"
        )
    elif not args.no_random_split:
        cv = StratifiedKFold(args.folds, shuffle=True, random_state=args.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LeakageWarning)
            leaky = evaluate(clone(head), F, y, groups=groups, cv=cv)
        gap = leaky.mean("uar") - result.mean("uar")
        lines.append(
            f"Random split (speakers in train and test): UAR "
            f"{leaky.format_metric('uar')}, {100 * gap:+.1f} points: a random "
            "split measures how well the model knows these speakers, not new ones."
        )
    lines.append(f"Done in {time.perf_counter() - t0:.0f} s.")
    text = report + "\n".join(lines)
    _print(text)
    if args.report:
        _print(text, _check_out_path(args.report))


def _cmd_train(args):
    import numpy as np

    from ._cli_model import save_bundle

    out = _check_out_path(args.out)
    t0 = time.perf_counter()
    X, y, groups, desc = _load_data(args)
    _log(args, f"Loaded {desc}.")
    deep = args.model in DEEP_MODELS
    front, head = _make_model(
        args.model,
        sr=args.sr,
        random_state=args.random_state,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        module_params=args.module_param,
        probability=True,
        verbose=not args.quiet,
    )
    F = _transform(front, X, quiet=args.quiet)
    _log(args, f"Training {args.model} on {F.shape[0]} clips ...")
    _fit_head(head, F, y, groups, deep)
    pipeline = _join(front, head)
    classes = [str(c) for c in pipeline.classes_]
    meta = {
        "model": args.model,
        "classes": classes,
        "sr": int(args.sr),
        "duration": _default_duration(args),
        "pooled": not deep,
        "corpus": args.corpus,
        "emotions": list(args.emotions) if args.emotions else None,
        "n_train": int(len(y)),
        "n_speakers": None if groups is None else int(np.unique(groups).size),
    }
    save_bundle(out, pipeline, meta, deep=deep)
    print(
        f"Saved {args.model} trained on {desc} ({len(classes)} classes: "
        f"{', '.join(classes)}) to {out} in {time.perf_counter() - t0:.0f} s."
    )


def _cmd_evaluate(args):
    from sklearn.model_selection import StratifiedKFold

    from .evaluation import LeakageWarning, evaluate

    X, y, groups, desc = _load_data(args)
    _log(args, f"Loaded {desc}.")
    front, head = _make_model(
        args.model,
        sr=args.sr,
        random_state=args.random_state,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        module_params=args.module_param,
        verbose=False,
    )
    F = _transform(front, X, quiet=args.quiet)
    if args.cv == "speaker":
        if groups is None:
            raise CLIError(
                "the speakers of this corpus are unknown, so --cv speaker is "
                "impossible: pass --speaker-pattern REGEX (folder corpus), or "
                "--cv random for a speaker-dependent estimate"
            )
        cv = args.folds
        title = f"{args.model} on {desc}: speaker-independent {args.folds}-fold CV"
    else:
        cv = StratifiedKFold(args.folds, shuffle=True, random_state=args.random_state)
        title = f"{args.model} on {desc}: random stratified {args.folds}-fold CV"
    _log(args, f"Cross-validating {args.model} ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LeakageWarning)
        result = evaluate(head, F, y, groups=groups, cv=cv)
    report = result.to_markdown(title=title)
    _print(report)
    if args.report:
        _print(report, _check_out_path(args.report, {".md", ".markdown", ".txt"}))
    if args.plots:
        plots = Path(args.plots).expanduser()
        plots.mkdir(parents=True, exist_ok=True)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for name, plot in (
            ("confusion_matrix.png", result.plot_confusion_matrix),
            ("per_class_f1.png", result.plot_per_class_f1),
        ):
            ax = plot()
            fig = ax.figure if hasattr(ax, "figure") else plt.gcf()
            fig.savefig(plots / name, dpi=120, bbox_inches="tight")
            plt.close(fig)
        _log(args, f"Plots written to {plots}.")


def _expand_inputs(inputs):
    files = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in _AUDIO_SUFFIXES
            )
            if not found:
                raise CLIError(
                    f"folder {item!r} holds no audio files "
                    f"({', '.join(sorted(_AUDIO_SUFFIXES))})"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise CLIError(f"input {item!r} does not exist")
    return files


def _fit_length(y, n):
    import numpy as np

    if y.shape[-1] >= n:
        return y[:n]
    return np.pad(y, (0, n - y.shape[-1]))


def _windows(y, sr, seconds, hop):
    """(start_s, end_s, waveform) for windows sliding over ``y``."""
    win = max(1, round(seconds * sr))
    step = max(1, round(hop * sr))
    n = y.shape[-1]
    out = []
    start = 0
    while start + win <= n:
        out.append((start, start + win))
        start += step
    if not out:
        out.append((0, n))
    elif n - out[-1][1] >= win / 2:
        # audio left uncovered after the last full window: one shorter window
        out.append((start, n))
    return [(a / sr, b / sr, _fit_length(y[a:b], win)) for a, b in out]


def _cmd_predict(args):
    import numpy as np
    import pandas as pd

    from ._cli_model import load_bundle
    from .io import load_audio

    pipeline, meta = load_bundle(args.model)
    files = _expand_inputs(args.inputs)
    sr = int(meta["sr"])
    n_fixed = round(float(meta["duration"]) * sr)
    rows = []
    for file in files:
        y, _ = load_audio(file, sr=sr)
        if args.segments:
            windows = _windows(y, sr, args.segments, args.hop or args.segments)
        else:
            windows = [(0.0, y.shape[-1] / sr, y)]
        if not meta.get("pooled") or not args.segments:
            windows = [(a, b, _fit_length(w, n_fixed)) for a, b, w in windows]
        batch = np.stack([w for _, _, w in windows]).astype(np.float32)
        proba = np.asarray(pipeline.predict_proba(batch))
        classes = [str(c) for c in pipeline.classes_]
        for (a, b, _), p in zip(windows, proba, strict=True):
            row = {"file": str(file)}
            if args.segments:
                row["start"] = round(a, 3)
                row["end"] = round(b, 3)
            row["label"] = classes[int(np.argmax(p))]
            row.update({c: float(v) for c, v in zip(classes, p, strict=True)})
            rows.append(row)
    frame = pd.DataFrame(rows)
    if args.format == "json":
        records = []
        for row in rows:
            rec = {k: row[k] for k in ("file", "start", "end", "label") if k in row}
            rec["probabilities"] = {c: row[c] for c in classes}
            records.append(rec)
        text = json.dumps(records, indent=2)
    elif args.format == "csv":
        text = frame.to_csv(index=False, float_format="%.4f")
    else:
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
    _print(text, _check_out_path(args.output) if args.output else None)


def _cmd_features(args):
    import numpy as np

    out = _check_out_path(args.out, {".npz", ".csv", ".parquet"})
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CLIError(
                "writing .parquet needs pyarrow, which is not installed: run "
                "'pip install pyarrow', or use --out FILE.npz / FILE.csv"
            ) from None
    if suffix in (".csv", ".parquet") and args.kind != "classic":
        raise CLIError(
            f"--kind {args.kind} gives 3-D arrays (clips x mels x frames), which "
            f"a {suffix} table cannot hold: use --out FILE.npz"
        )
    from .features import MelSpectrogram, make_classic_features

    X, y, groups, desc = _load_data(args)
    _log(args, f"Loaded {desc}.")
    front = (
        make_classic_features(sr=args.sr, shared_stft=True)
        if args.kind == "classic"
        else MelSpectrogram(sr=args.sr)
    )
    F = _transform(front, X, quiet=args.quiet)
    if args.kind == "classic":
        try:
            names = [str(n) for n in front.get_feature_names_out()]
        except (AttributeError, ValueError):
            names = [f"x{i}" for i in range(F.shape[1])]
    else:
        names = [f"mel{i}" for i in range(F.shape[1])]
    if suffix == ".npz":
        np.savez_compressed(
            out,
            X=F.astype(np.float32),
            y=np.asarray(y, dtype=str),
            groups=np.asarray(
                groups if groups is not None else [""] * len(y), dtype=str
            ),
            feature_names=np.asarray(names, dtype=str),
            sr=np.int64(args.sr),
        )
    else:
        import pandas as pd

        frame = pd.DataFrame(F, columns=names)
        if groups is not None:
            frame.insert(0, "speaker", np.asarray(groups, dtype=str))
        frame.insert(0, "label", np.asarray(y, dtype=str))
        if suffix == ".csv":
            frame.to_csv(out, index=False)
        else:
            frame.to_parquet(out, index=False)
    print(f"Saved {args.kind} features of shape {F.shape} ({desc}) to {out}.")
