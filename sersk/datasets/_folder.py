"""Any corpus laid out as one sub-folder per emotion."""

from __future__ import annotations

import os
import re

import numpy as np
from sklearn.utils import Bunch

from ..utils._sklearn_compat import StrOptions, validate_params
from ._base import (
    _COMMON,
    _Corpus,
    _filter_frame,
    _finish,
    _load_descr,
    _read_corpus,
    harmonize_label,
)

__all__ = ["load_folder"]


def _folder_corpus(name: str, pattern: re.Pattern | None, harmonize: bool) -> _Corpus:
    def parse(path: str, rel: str) -> dict | None:
        parts = rel.replace(os.sep, "/").split("/")
        if len(parts) < 2:
            return None  # a file directly in root has no label folder
        folder = parts[0]
        label = (harmonize_label(folder) if harmonize else None) or folder
        speaker = None
        if pattern is not None:
            m = pattern.search("/".join(parts[1:]))
            if m is None:
                return None
            if "speaker" in pattern.groupindex:
                speaker = m.group("speaker")
            elif pattern.groups:
                speaker = m.group(1)
            else:
                speaker = m.group(0)
            if not speaker:
                return None
        return {"speaker": speaker, "gender": None, "emotion": label, "code": folder}

    if pattern is None:
        convention = "'<emotion>/<file>.wav' (one sub-folder per emotion)"
    else:
        convention = (
            "'<emotion>/<file>.wav' (one sub-folder per emotion) with a path "
            f"below the emotion folder matching speaker_pattern={pattern.pattern!r}"
        )
    return _Corpus(
        name=name,
        title=f"Folder corpus {name!r}",
        convention=convention,
        how_to_get="Check the path; it must hold one sub-folder per emotion.",
        parse=parse,
        unique_names=False,
        uses_data_home=False,
    )


@validate_params(
    {
        "root": [str, os.PathLike],
        "speaker_pattern": [str, re.Pattern, None],
        "corpus": [str],
        "harmonize": ["boolean"],
        "emotions": _COMMON["emotions"],
        "label_map": _COMMON["label_map"],
        "speakers": _COMMON["speakers"],
        "on_invalid": [StrOptions({"raise", "warn", "skip"})],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_folder(
    root,
    *,
    speaker_pattern=None,
    corpus="folder",
    harmonize=True,
    emotions=None,
    label_map=None,
    speakers=None,
    on_invalid="raise",
    return_X_y=False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load a custom corpus laid out as one sub-folder per emotion.

    The layout many projects use (``Emotions/Anger/x.wav``,
    ``Emotions/Happy/y.wav``, ...): the first-level folder under ``root``
    is the label, files may sit in deeper folders. With ``harmonize=True``
    folder names are mapped to the canonical vocabulary (``Anger`` ->
    ``angry``, ``Fearful`` -> ``fear``, ``Surprised`` -> ``surprise``, see
    :func:`harmonize_label`); unknown names are kept as they are. No audio
    is read.

    Parameters
    ----------
    root : str or os.PathLike
        Folder holding one sub-folder per emotion.
    speaker_pattern : str or re.Pattern, default=None
        Regular expression searched in each file's path below its emotion
        folder (``"/"``-separated, e.g. ``"spk1/take3.wav"``); the group named
        ``speaker``, else the first group, else the whole match is the speaker
        id. Files it does not match are invalid (see ``on_invalid``). None:
        speakers are unknown and ``groups`` is None, so speaker-independent
        evaluation is impossible; give a pattern whenever the names allow.
    corpus : str, default="folder"
        Corpus name, used in the ``corpus`` column and as the prefix of the
        speaker groups (``"<corpus>_<speaker>"``).
    harmonize : bool, default=True
        Map folder names to the canonical emotion names.
    emotions : list of str, default=None
        Keep only these labels (after ``label_map``).
    label_map : dict, default=None
        Rename labels before filtering, e.g. ``{"calm": "neutral"}``.
    speakers : list of str, default=None
        Speaker ids to keep (needs ``speaker_pattern``).
    on_invalid : {"raise", "warn", "skip"}, default="raise"
        What to do with audio files directly in ``root`` (no label folder) or
        not matching ``speaker_pattern``, and with folders or audio files that
        cannot be read (permission denied, broken links): "raise" (an OSError
        for those), "warn" or "skip" loads the rest.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (absolute paths), ``target`` (labels), ``groups`` (speaker
        groups, or None without ``speaker_pattern``), ``frame`` (path, corpus,
        speaker, group, gender, emotion, code = folder name),
        ``target_names``, ``DESCR``, ``root``; or ``(data, target)`` if
        ``return_X_y`` is True.

    See Also
    --------
    load_ravdess : Loader conventions, Raises and Notes shared by all loaders.
    harmonize_label : The folder-name to emotion mapping.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, soundfile as sf
    >>> from sersk.datasets import load_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["Anger/spk1_01.wav", "Happiness/spk2_07.wav"]:
    ...     (root / name).parent.mkdir()
    ...     sf.write(root / name, np.zeros(800), 16000)
    >>> ds = load_folder(root, speaker_pattern=r"^(spk\\d+)_")
    >>> list(ds.target), list(ds.groups)
    (['angry', 'happy'], ['folder_spk1', 'folder_spk2'])
    """
    pattern = speaker_pattern
    if isinstance(pattern, str):
        try:
            pattern = re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"speaker_pattern {speaker_pattern!r} is not a valid regular "
                f"expression ({exc})."
            ) from exc
    spec = _folder_corpus(corpus, pattern, harmonize)
    frame, root = _read_corpus(spec, root=root, data_home=None, on_invalid=on_invalid)
    if pattern is None:
        if speakers is not None:
            raise ValueError(
                "load_folder got speakers= but no speaker_pattern; pass a "
                "speaker_pattern so speakers can be read from the file names."
            )
        frame["speaker"] = None
        frame["group"] = None
    frame = _filter_frame(frame, spec, "load_folder", speakers=speakers)
    return _finish(
        frame,
        func_name="load_folder",
        emotions=emotions,
        label_map=label_map,
        return_X_y=return_X_y,
        descr=_load_descr("folder"),
        root=root,
        filters={"speakers": speakers},
        extra_labels=set(frame["emotion"]),
    )
