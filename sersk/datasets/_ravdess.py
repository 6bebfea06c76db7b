"""RAVDESS: the Ryerson Audio-Visual Database of Emotional Speech and Song."""

from __future__ import annotations

import os
import re

import numpy as np
from sklearn.utils import Bunch

from ..utils._sklearn_compat import Integral, Real, StrOptions, validate_params
from ._base import _COMMON, _Corpus, _filter_frame, _finish, _load_descr, _read_corpus
from ._download import ARCHIVES, download_archive

__all__ = ["load_ravdess", "fetch_ravdess"]

_EMOTION_CODES = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
_MODALITY = {"01": "audio-video", "02": "video", "03": "audio"}
_CHANNEL = {"01": "speech", "02": "song"}
_INTENSITY = {"01": "normal", "02": "strong"}
_STATEMENT = {
    "01": "Kids are talking by the door",
    "02": "Dogs are sitting by the door",
}
_NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")


def _parse(path: str, rel: str) -> dict | None:
    stem = os.path.splitext(os.path.basename(path))[0]
    m = _NAME.fullmatch(stem)
    if m is None:
        return None
    mod, chan, emo, inten, stmt, rep, actor = m.groups()
    if (
        mod not in _MODALITY
        or chan not in _CHANNEL
        or emo not in _EMOTION_CODES
        or inten not in _INTENSITY
        or stmt not in _STATEMENT
        or rep not in ("01", "02")
        or not 1 <= int(actor) <= 24
    ):
        return None
    return {
        "speaker": actor,
        "gender": "male" if int(actor) % 2 else "female",
        "emotion": _EMOTION_CODES[emo],
        "code": emo,
        "intensity": _INTENSITY[inten],
        "vocal_channel": _CHANNEL[chan],
        "modality": _MODALITY[mod],
        "statement": int(stmt),
        "repetition": int(rep),
    }


def _speaker(value) -> str:
    try:
        return f"{int(value):02d}"
    except (TypeError, ValueError):
        return str(value)


_HOW = (
    "Download it with sersk.datasets.fetch_ravdess() (or load_ravdess("
    "download_if_missing=True)), or by hand from https://zenodo.org/records/1188976 "
    "(Audio_Speech_Actors_01-24.zip for speech, Audio_Song_Actors_01-24.zip for "
    "song) and unzip it so that the Actor_01 ... Actor_24 folders are inside the "
    "corpus folder."
)

RAVDESS = _Corpus(
    name="ravdess",
    title="RAVDESS",
    convention="'Actor_NN/MM-VV-EE-II-SS-RR-AA.wav' (e.g. Actor_01/03-01-05-02-01-01-01.wav)",
    how_to_get=_HOW,
    parse=_parse,
    speaker_format=_speaker,
    columns=(
        "intensity",
        "vocal_channel",
        "modality",
        "statement",
        "repetition",
    ),
    extra={"intensity": ("normal", "strong")},
)


def _download_for(vocal_channel, *, progress, n_retries, delay):
    wanted = ["speech", "song"] if vocal_channel == "all" else [vocal_channel]
    missing = list(wanted)  # updated by needs() once the folder was scanned

    def needs(frame):
        have = set(frame["vocal_channel"])
        missing[:] = [c for c in wanted if c not in have]
        return bool(missing)

    def download(root):
        for channel in missing:
            archive = ARCHIVES[f"ravdess_{channel}"]
            download_archive(
                archive.url,
                os.path.join(root, archive.folder),
                checksum=archive.checksum,
                max_extracted_bytes=archive.max_extracted_bytes,
                max_download_bytes=archive.max_download_bytes,
                progress=progress,
                n_retries=n_retries,
                delay=delay,
                manual_instructions=(
                    f"To install RAVDESS by hand: download {archive.page}, unzip "
                    f"it into {os.path.join(root, archive.folder)!r}, then call "
                    f"load_ravdess(root={root!r})."
                ),
            )

    return download, needs


@validate_params(
    {
        **_COMMON,
        "vocal_channel": [StrOptions({"speech", "song", "all"})],
        "intensity": ["array-like", str, None],
        "download_if_missing": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_ravdess(
    *,
    root=None,
    data_home=None,
    vocal_channel="speech",
    emotions=None,
    label_map=None,
    speakers=None,
    gender=None,
    intensity=None,
    on_invalid="raise",
    download_if_missing=False,
    return_X_y=False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the RAVDESS corpus (paths, labels, speakers, metadata).

    Walks ``root`` for files named ``MM-VV-EE-II-SS-RR-AA.wav`` (usually in
    ``Actor_NN`` folders) and decodes the name: modality, vocal channel,
    emotion, intensity, statement, repetition and actor (odd = male). No
    audio is read. Read more in the corpus description (``DESCR``).

    Parameters
    ----------
    root : str or os.PathLike, default=None
        Folder holding the corpus (searched recursively). None means
        ``<data_home>/ravdess``.
    data_home : str or os.PathLike, default=None
        Used when ``root`` is None; see :func:`get_data_home`.
    vocal_channel : {"speech", "song", "all"}, default="speech"
        Which recordings to keep.
    emotions : list of str, default=None
        Keep only these emotions (names after ``label_map``). The eight RAVDESS
        emotions are neutral, calm, happy, sad, angry, fear, disgust, surprise.
        None keeps all.
    label_map : dict, default=None
        Rename emotions before filtering, e.g. ``{"calm": "neutral"}`` to
        merge calm into neutral.
    speakers : list of int or str, default=None
        Actor numbers to keep (``1``, ``"01"`` or ``"ravdess_01"``).
    gender : {"female", "male"}, default=None
        Keep one gender.
    intensity : {"normal", "strong"} or list, default=None
        Keep one emotional intensity (neutral only has "normal").
    on_invalid : {"raise", "warn", "skip"}, default="raise"
        What to do with audio files whose name does not follow the convention,
        and with folders or audio files that cannot be read (permission
        denied, broken links): "raise" (an OSError for those), "warn" or
        "skip" loads the rest.
        Files that are not audio (README, csv, ...) are always ignored.
    download_if_missing : bool, default=False
        Download the archive(s) from Zenodo into ``root`` when the wanted
        vocal channel is absent (see :func:`fetch_ravdess`).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : ndarray of shape (n_files,), dtype=object
            Absolute file paths, sorted.
        target : ndarray of shape (n_files,), dtype=object
            Emotion labels (canonical names, after ``label_map``).
        groups : ndarray of shape (n_files,), dtype=object
            Speaker ids such as ``"ravdess_01"``, for ``GroupKFold``.
        frame : pandas.DataFrame
            One row per file: path, corpus, speaker, group, gender, emotion,
            code (emotion code in the name), intensity, vocal_channel, modality,
            statement, repetition.
        target_names : ndarray of str
            Emotions present, in :data:`EMOTIONS` order.
        DESCR : str
            Description of the corpus.
        root : str
            The corpus folder.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` arrays described above.

    Raises
    ------
    DatasetNotFoundError
        The folder is missing or holds no RAVDESS file; the message says
        where it looked and how to get the corpus.
    ValueError
        Misnamed audio files (with ``on_invalid="raise"``), unknown emotion
        or speaker names, or filters that leave no file.

    See Also
    --------
    fetch_ravdess : Download then load.
    load_corpora : Several corpora with harmonised labels.
    sersk.model_selection.train_test_split_by_speaker : Hold out speakers.

    Notes
    -----
    Always evaluate with speaker-independent splits: pass ``groups`` to
    :class:`~sklearn.model_selection.GroupKFold` or
    :class:`~sklearn.model_selection.LeaveOneGroupOut`::

        ds = load_ravdess()
        cross_val_score(pipe, ds.data, ds.target, groups=ds.groups,
                        cv=GroupKFold(n_splits=6))

    With ``return_X_y=True`` take the groups from a second call's ``frame``
    or, simpler, use the Bunch.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, soundfile as sf
    >>> from sersk.datasets import load_ravdess
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["03-01-01-01-01-01-01", "03-01-05-02-01-01-02"]:
    ...     actor = root / f"Actor_{name[-2:]}"
    ...     actor.mkdir()
    ...     sf.write(actor / f"{name}.wav", np.zeros(800), 16000)
    >>> ds = load_ravdess(root=root)
    >>> ds.target, ds.groups
    (array(['neutral', 'angry'], dtype=object), array(['ravdess_01', 'ravdess_02'], dtype=object))
    >>> ds.frame[["gender", "intensity"]].values.tolist()
    [['male', 'normal'], ['female', 'strong']]
    """
    return _load_ravdess(
        root=root,
        data_home=data_home,
        vocal_channel=vocal_channel,
        emotions=emotions,
        label_map=label_map,
        speakers=speakers,
        gender=gender,
        intensity=intensity,
        on_invalid=on_invalid,
        download_if_missing=download_if_missing,
        return_X_y=return_X_y,
    )


def _load_ravdess(
    *,
    root,
    data_home,
    vocal_channel,
    emotions,
    label_map,
    speakers,
    gender,
    intensity,
    on_invalid,
    download_if_missing,
    return_X_y,
    progress=True,
    n_retries=3,
    delay=1.0,
):
    download = needs = None
    if download_if_missing:
        download, needs = _download_for(
            vocal_channel, progress=progress, n_retries=n_retries, delay=delay
        )
    frame, root = _read_corpus(
        RAVDESS,
        root=root,
        data_home=data_home,
        on_invalid=on_invalid,
        download=download,
        needs_download=needs,
    )
    if vocal_channel != "all":
        frame = frame[frame["vocal_channel"] == vocal_channel]
    frame = _filter_frame(
        frame,
        RAVDESS,
        "load_ravdess",
        speakers=speakers,
        gender=gender,
        columns={"intensity": intensity},
    )
    return _finish(
        frame,
        func_name="load_ravdess",
        emotions=emotions,
        label_map=label_map,
        return_X_y=return_X_y,
        descr=_load_descr("ravdess"),
        root=root,
        filters={
            "vocal_channel": vocal_channel,
            "speakers": speakers,
            "gender": gender,
            "intensity": intensity,
        },
    )


@validate_params(
    {
        **_COMMON,
        "vocal_channel": [StrOptions({"speech", "song", "all"})],
        "intensity": ["array-like", str, None],
        "download_if_missing": ["boolean"],
        "progress": ["boolean"],
        "n_retries": [Integral],
        "delay": [Real],
    },
    prefer_skip_nested_validation=True,
)
def fetch_ravdess(
    *,
    data_home=None,
    vocal_channel="speech",
    emotions=None,
    label_map=None,
    speakers=None,
    gender=None,
    intensity=None,
    on_invalid="raise",
    download_if_missing=True,
    progress=True,
    n_retries=3,
    delay=1.0,
    return_X_y=False,
    root=None,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Download RAVDESS from Zenodo if needed, then load it.

    The speech archive (``Audio_Speech_Actors_01-24.zip``, 208 MB, 1,440
    files) is verified against the MD5 published on Zenodo record 1188976;
    the song archive (1,012 files) has no published checksum and is only
    checked for zip integrity. Each archive is extracted into
    ``<data_home>/ravdess/<archive name>`` through a temporary folder and an
    atomic rename, so an interrupted download leaves nothing that loads.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        See :func:`get_data_home`.
    vocal_channel : {"speech", "song", "all"}, default="speech"
        Which archive(s) to download and load.
    emotions : list of str, default=None
        As in :func:`load_ravdess`.
    label_map : dict, default=None
        As in :func:`load_ravdess`.
    speakers : list of int or str, default=None
        As in :func:`load_ravdess`.
    gender : {"female", "male"}, default=None
        As in :func:`load_ravdess`.
    intensity : {"normal", "strong"} or list, default=None
        As in :func:`load_ravdess`.
    on_invalid : {"raise", "warn", "skip"}, default="raise"
        As in :func:`load_ravdess`.
    download_if_missing : bool, default=True
        If False, raise :class:`~sersk.exceptions.DatasetNotFoundError`
        instead of downloading.
    progress : bool, default=True
        Show a progress bar while downloading.
    n_retries : int, default=3
        Extra attempts after a network error.
    delay : float, default=1.0
        Seconds between attempts.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    root : str or os.PathLike, default=None
        Corpus folder to use instead of ``<data_home>/ravdess``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        As :func:`load_ravdess`.

    Raises
    ------
    DatasetNotFoundError
        Offline or the host is unreachable; the message gives the manual
        download steps.
    OSError
        Incomplete download, checksum mismatch or corrupt archive (nothing
        is kept).
    """
    return _load_ravdess(
        root=root,
        data_home=data_home,
        vocal_channel=vocal_channel,
        emotions=emotions,
        label_map=label_map,
        speakers=speakers,
        gender=gender,
        intensity=intensity,
        on_invalid=on_invalid,
        download_if_missing=download_if_missing,
        return_X_y=return_X_y,
        progress=progress,
        n_retries=n_retries,
        delay=delay,
    )
