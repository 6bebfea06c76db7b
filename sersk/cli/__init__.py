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
    ``--segments SECONDS`` (fixed windows) or ``--segments vad`` (speech
    segments) print an emotion timeline of long recordings.
``sersk listen``
    Label live speech from a microphone (or 16-bit PCM piped in with
    ``--stdin``), one line per speech segment as it ends.
``sersk features``
    Extract features of a corpus and save them (``.npz``, ``.csv`` or
    ``.parquet``).
``sersk serve``
    A local web app around a model file: a page to upload or record audio
    and see its emotion timeline, and a JSON API (``POST /api/predict``,
    ``GET /api/model``); needs ``pip install 'sersk[serve]'``.

Every model is the pipeline of a :mod:`sersk.pipelines` factory with the
command-line options applied (:func:`build_pipeline`); model files are
written and read with :func:`sersk.save_model` and :func:`sersk.load_model`.

Every subcommand has ``--help``. Errors are printed as one line
``sersk <command>: error: ...`` with exit status 1 (2 for wrong usage, as
argparse does; 130 when interrupted with Ctrl-C, without writing anything).
"""

from __future__ import annotations

import importlib
import os
import sys

from ._common import CLIError, catch_interrupts
from ._parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv=None):
    """Run the ``sersk`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 on an error, 2 on wrong usage, 130 when interrupted.

    Examples
    --------
    >>> from sersk.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    sersk ...
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        os.environ.setdefault("TQDM_DISABLE", "1")
    command = importlib.import_module(f".{args.run}", __name__)
    try:
        with catch_interrupts():
            command.run(args)
    except KeyboardInterrupt:
        print(f"sersk {args.command}: interrupted, nothing written", file=sys.stderr)
        return 130
    except (CLIError, OSError, ValueError, ImportError, KeyError) as exc:
        message = str(exc) if not isinstance(exc, KeyError) else repr(exc.args[0])
        print(f"sersk {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0
