"""Reading a corpus for ``train``, ``evaluate`` and ``features``."""

from __future__ import annotations

from pathlib import Path

from ._common import CLIError, log
from ._model import default_duration

_AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"}


def load_data(args, loader, *, with_source=False):
    """Waveforms, labels, speaker ids and a description of the corpus.

    ``loader`` is the :class:`~sersk.features.AudioLoader` of the pipeline
    being trained: the corpus is read (or the synthetic clips are padded) by a
    copy of it, so the clips are exactly what the saved model expects. Files
    are read lazily, chunk by chunk, by the feature extraction. With
    ``with_source=True`` a fifth value is what the loader read: the file
    paths, or the synthetic waveforms.
    """
    import numpy as np
    from sklearn.base import clone

    from .. import datasets

    if args.corpus == "synthetic":
        kwargs = {}
        if args.emotions:
            kwargs["emotions"] = tuple(args.emotions)
        duration = default_duration(args)
        X, y, groups = datasets.make_emotional_speech(
            args.n_samples,
            sr=loader.sr,
            duration=duration,
            n_speakers=args.n_speakers,
            random_state=args.random_state,
            **kwargs,
        )
        desc = (
            f"synthetic speech: {len(y)} clips of {duration:g} s, "
            f"{np.unique(groups).size} speakers"
        )
        source = np.asarray(X, dtype=np.float32)
        X = loader.transform(source)
        out = X, np.asarray(y), np.asarray(groups), desc
        return (*out, source) if with_source else out

    corpus_loader = getattr(datasets, f"load_{args.corpus}")
    kwargs = {"on_invalid": getattr(args, "on_invalid", "raise")}
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
    bunch = corpus_loader(**kwargs)
    log(args, f"Reading {len(bunch.target)} audio files of {args.corpus} ...")
    reader = clone(loader).set_params(
        lazy=loader.duration is not None, verbose=not args.quiet
    )
    X = reader.transform(np.asarray(bunch.data))
    n_spk = "unknown" if bunch.groups is None else np.unique(bunch.groups).size
    desc = f"{args.corpus}: {len(bunch.target)} clips, {n_spk} speakers"
    groups = None if bunch.groups is None else np.asarray(bunch.groups)
    out = X, np.asarray(bunch.target), groups, desc
    return (*out, np.asarray(bunch.data)) if with_source else out


def expand_inputs(inputs):
    """Audio files named on the command line, folders expanded."""
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
