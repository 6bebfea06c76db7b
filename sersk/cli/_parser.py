"""The argument parser of the ``sersk`` command (no heavy imports here)."""

from __future__ import annotations

import argparse

__all__ = ["CORPORA", "DEEP_MODELS", "DEMO_CRNN", "MODELS", "build_parser"]

CORPORA = ("synthetic", "ravdess", "tess", "crema_d", "savee", "emodb", "folder")
CLASSIC_MODELS = ("svm", "rf")
DEEP_MODELS = ("crnn", "cnn", "cnn_lstm", "rnn")
MODELS = CLASSIC_MODELS + DEEP_MODELS
# ``sersk demo --model crnn`` without --module-param: a network small enough
# for a CPU demo, applied to make_crnn_pipeline() like --module-param options.
DEMO_CRNN = (
    ("conv_channels", "8,16,16"),
    ("lstm_units", "16,"),
    ("attention_units", "16"),
    ("dense_units", "16,"),
)


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


def _segments_arg(text):
    """``--segments``: "vad" or a positive number of seconds."""
    if text.strip().lower() == "vad":
        return "vad"
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected 'vad' or a positive number of seconds, got {text!r}"
        ) from None


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


def _add_on_invalid(group, what):
    group.add_argument(
        "--on-invalid",
        choices=("raise", "warn", "skip"),
        default="raise",
        help=f"{what}: stop with an error (raise, the default), or leave them "
        "out with a warning (warn) or without (skip)",
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
    _add_on_invalid(
        g,
        "corpus files named against the corpus' convention and folders or "
        "files that cannot be read",
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
        "zero-padded (default: every clip at its own length; synthetic clips "
        "last 2.0 s)",
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
        "spectrograms (MFCCs for rnn); each is the pipeline of the matching "
        "sersk.pipelines factory, e.g. make_crnn_pipeline (default: svm)",
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
        default=None,
        help="deep models: number of training epochs (default: the recipe's, 60)",
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


def _add_segments(p, *, default, help):
    """``--segments vad|SECONDS`` and ``--hop SECONDS`` (predict, listen, serve).

    ``default``: the value without ``--segments`` (``None``: one prediction per
    file; ``"vad"``: per speech segment); ``help``: the help of ``--segments``.
    """
    p.add_argument(
        "--segments",
        type=_segments_arg,
        default=default,
        metavar="vad|SECONDS",
        help=help,
    )
    p.add_argument(
        "--hop",
        type=_positive_float,
        metavar="SECONDS",
        help="with --segments SECONDS: step between windows (default: the "
        "window length)",
    )


def _add_scheduler(p):
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run the work on a running Dask cluster, e.g. tcp://10.0.0.5:8786 "
        "(the address 'dask scheduler' prints; needs pip install "
        "'sersk[distributed]'); the workers read the audio files themselves, so "
        "the paths must be valid on the workers",
    )


def build_parser():
    """The :class:`argparse.ArgumentParser` of the ``sersk`` command."""
    from .. import __version__

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
        "--module-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=_module_param,
        help="crnn only: set an architecture parameter (repeatable; default: a "
        "small network, " + ", ".join(f"{k}={v}" for k, v in DEMO_CRNN) + ")",
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
    p.set_defaults(run="_demo")

    p = sub.add_parser(
        "train",
        help="train a model on a corpus and save it",
        description="Train a model on a corpus and save it to a model file "
        "(.sersk). Example:\n\n"
        "  sersk train --corpus ravdess --root ~/data/ravdess --model svm "
        "--out ravdess-svm.sersk\n\n"
        "The model is the pipeline of sersk.pipelines (make_svm_pipeline, "
        "make_random_forest_pipeline, make_crnn_pipeline, ...) with the options "
        "given here. It is written with sersk.save_model: a zip archive with "
        "metadata (sersk.json), the scikit-learn part in the skops format and "
        "deep networks as JSON + tensors. Loading it never runs pickle.",
        formatter_class=_Formatter,
    )
    _add_data_args(p)
    _add_model_args(p)
    p.add_argument(
        "--out", required=True, metavar="FILE", help="model file to write (.sersk)"
    )
    _add_common(p)
    p.set_defaults(run="_train")

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
    _add_scheduler(p)
    _add_common(p)
    p.set_defaults(run="_evaluate")

    p = sub.add_parser(
        "predict",
        help="label audio files with a saved model",
        description="Predict the emotion of audio files (or every audio file in "
        "the given folders) with a model written by 'sersk train'. With "
        "--segments vad each speech segment (found by voice activity "
        "detection; needs pip install 'sersk[vad]') gets one prediction; with "
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
    _add_segments(
        p,
        default=None,
        help="an emotion timeline: 'vad' predicts on each speech segment "
        "(silence left out), a number on windows of that many seconds",
    )
    _add_on_invalid(
        p,
        "an input file that cannot be read or decoded (corrupt, empty, NaN "
        "samples, permission denied)",
    )
    _add_common(p)
    p.set_defaults(run="_predict")

    p = sub.add_parser(
        "listen",
        help="label live speech from the microphone",
        description="Listen to the default microphone and print the emotion of "
        "every speech segment as soon as it ends (voice activity detection), "
        "or of every window with --segments SECONDS. Needs pip install "
        "'sersk[vad,listen]' and the PortAudio library (or --stdin: raw PCM "
        "piped in). Ctrl-C stops. Examples:\n\n  sersk listen ravdess-svm.sersk"
        "\n  arecord -q -f S16_LE -r 16000 -c 1 | sersk listen ravdess-svm.sersk "
        "--stdin --sr 16000",
        formatter_class=_Formatter,
    )
    p.add_argument("model", metavar="MODEL", help="model file (.sersk)")
    _add_segments(
        p,
        default="vad",
        help="'vad' (default) labels each speech segment, a number labels "
        "windows of that many seconds",
    )
    p.add_argument(
        "--device",
        metavar="DEVICE",
        help="input device: its number or (part of) its name (default: the "
        "system's default input)",
    )
    p.add_argument(
        "--stdin",
        action="store_true",
        help="read 16-bit little-endian mono PCM at --sr from standard input "
        "(e.g. from arecord or ffmpeg) instead of a microphone",
    )
    p.add_argument(
        "--sr",
        type=_positive_int,
        metavar="HZ",
        help="recording rate (default: the device's default rate; required "
        "with --stdin)",
    )
    p.add_argument(
        "--seconds",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    _add_common(p)
    p.set_defaults(run="_listen")

    p = sub.add_parser(
        "features",
        help="extract features of a corpus and save them",
        description="Extract features of every clip of a corpus and save them "
        "with the labels and speaker ids. --kind classic (default) gives the "
        "pooled statistics of ZCR, RMS, MFCC, chroma, mel and spectral contrast "
        "that the svm and rf models use (one row per clip); --kind logmel gives "
        "the log-mel spectrograms of the deep models (n_clips, n_mels, "
        "n_frames). Output format by extension: .npz "
        "(arrays X, y, groups, feature_names), .csv (classic only), .parquet "
        "(classic only, needs pyarrow).",
        formatter_class=_Formatter,
    )
    _add_data_args(p)
    p.add_argument("--kind", choices=("classic", "logmel"), default="classic")
    p.add_argument(
        "--out", required=True, metavar="FILE", help="output .npz, .csv or .parquet"
    )
    _add_scheduler(p)
    _add_common(p)
    p.set_defaults(run="_features")

    p = sub.add_parser(
        "serve",
        help="a local web app and JSON API around a saved model",
        description="Serve a model written by 'sersk train' as a web page (upload "
        "or record audio, see the emotion timeline, the probabilities and the "
        "spectrogram) and a JSON API: POST /api/predict (audio in, timeline out) "
        "and GET /api/model. Listens on 127.0.0.1 unless told otherwise. Needs "
        "pip install 'sersk[serve]'. Example:\n\n"
        "  sersk serve ravdess-svm.sersk --port 8000",
        formatter_class=_Formatter,
    )
    p.add_argument("model", metavar="MODEL", help="model file (.sersk)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 opens the server to the network)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port to listen on (default: 8000; 0 picks a free one)",
    )
    p.add_argument(
        "--max-mb",
        type=_positive_float,
        default=50.0,
        metavar="MB",
        help="largest upload accepted, in megabytes (default: 50)",
    )
    p.add_argument(
        "--max-seconds",
        type=_positive_float,
        default=600.0,
        metavar="SECONDS",
        help="longest recording accepted, in seconds (default: 600)",
    )
    _add_segments(
        p,
        default="vad",
        help="timeline segments: 'vad' labels each speech segment (default), a "
        "number labels fixed windows of that many seconds",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="threads running the model at once (default: min(4, cores)); "
        "each gets cores // workers threads for its own maths",
    )
    _add_common(p)
    p.set_defaults(run="_serve")
    return parser
