"""Helpers shared by the commands: errors, logging, output files, interrupts."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path


class CLIError(Exception):
    """An error reported to the user as one line, exit status 1."""


_INTERRUPTED = threading.Event()


@contextlib.contextmanager
def catch_interrupts():
    """Remember a Ctrl-C even when a library (skorch) swallows it.

    skorch stops training at a KeyboardInterrupt and returns normally; the
    commands call :func:`check_interrupted` before writing anything, so an
    interrupted run exits with status 130 instead of saving a cut-short model.
    """
    _INTERRUPTED.clear()

    def handler(signum, frame):
        _INTERRUPTED.set()
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: keep Python's own handler
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def check_interrupted():
    """Raise KeyboardInterrupt if Ctrl-C was pressed during the command."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def log(args, *text):
    if not getattr(args, "quiet", False):
        print(*text, file=sys.stderr, flush=True)


def check_out_path(path, suffixes=None):
    """Check an output path before any work is done; return it as a Path."""
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise CLIError(f"output folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise CLIError(f"cannot write {str(path)!r}: it is a folder")
    if suffixes and path.suffix.lower() not in suffixes:
        raise CLIError(
            f"cannot write {str(path)!r}: the extension must be one of "
            f"{', '.join(sorted(suffixes))}"
        )
    return path


@contextlib.contextmanager
def atomic_output(path):
    """Yield a binary file that replaces ``path`` only once fully written.

    The data go to a temporary file in the same folder, renamed into place at
    the end; an error or Ctrl-C leaves the previous file intact and no
    temporary file behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def emit(text, path=None):
    """Print ``text``, or write it to ``path`` (atomically)."""
    if not text.endswith("\n"):
        text += "\n"
    if path is None:
        print(text, end="", flush=True)
        return
    with atomic_output(path) as fh:
        fh.write(text.encode())


def transform_in_chunks(front, X, *, quiet, desc="features", chunk_size=32):
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
