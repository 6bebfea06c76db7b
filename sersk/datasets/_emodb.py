"""EmoDB: the Berlin Database of Emotional Speech."""

from __future__ import annotations

import os
import re

import numpy as np
from sklearn.utils import Bunch

from ..utils._sklearn_compat import Integral, Real, validate_params
from ._base import _COMMON, _Corpus, _filter_frame, _finish, _load_descr, _read_corpus
from ._download import ARCHIVES, download_archive

__all__ = ["load_emodb", "fetch_emodb"]

_EMOTIONS = {
    "W": "angry",  # Aerger / Wut
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happy",  # Freude
    "T": "sad",  # Trauer
    "N": "neutral",
}
# speaker: (gender, age), from the corpus documentation
_SPEAKERS = {
    "03": ("male", 31),
    "08": ("female", 34),
    "09": ("female", 21),
    "10": ("male", 32),
    "11": ("male", 26),
    "12": ("male", 30),
    "13": ("female", 32),
    "14": ("female", 35),
    "15": ("male", 25),
    "16": ("female", 31),
}
_TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")
_NAME = re.compile(r"(\d\d)([ab]\d\d)([WLEAFTN])([a-z])")


def _parse(path: str, rel: str) -> dict | None:
    stem = os.path.splitext(os.path.basename(path))[0]
    m = _NAME.fullmatch(stem)
    if m is None:
        return None
    speaker, text, emo, version = m.groups()
    if speaker not in _SPEAKERS or text not in _TEXTS:
        return None
    gender, age = _SPEAKERS[speaker]
    return {
        "speaker": speaker,
        "gender": gender,
        "emotion": _EMOTIONS[emo],
        "code": emo,
        "text": text,
        "version": version,
        "age": age,
    }


def _speaker(value) -> str:
    try:
        return f"{int(value):02d}"
    except (TypeError, ValueError):
        return str(value)


EMODB = _Corpus(
    name="emodb",
    title="EmoDB",
    convention="'wav/SSTTTEV.wav' (speaker, text code, emotion letter W L E A F T N, "
    "version; e.g. wav/03a01Fa.wav)",
    how_to_get=(
        "Download it with sersk.datasets.fetch_emodb(), or by hand from "
        "http://emodb.bilderbar.info/download/ (download.zip) and unzip it into "
        "the corpus folder."
    ),
    parse=_parse,
    speaker_format=_speaker,
    columns=("text", "version", "age"),
)


@validate_params(
    {**_COMMON, "download_if_missing": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_emodb(
    *,
    root=None,
    data_home=None,
    emotions=None,
    label_map=None,
    speakers=None,
    gender=None,
    on_invalid="raise",
    download_if_missing=False,
    return_X_y=False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the Berlin EmoDB corpus (paths, labels, speakers, metadata).

    Ten German actors (5 female, 5 male) say ten sentences in seven emotions,
    535 files named ``SSTTTEV.wav``: speaker (03-16), text code (a01-b10),
    emotion letter (W anger, L boredom, E disgust, A fear, F happiness,
    T sadness, N neutral) and version letter. No audio is read.

    Parameters
    ----------
    root : str or os.PathLike, default=None
        Folder holding the corpus (searched recursively). None means
        ``<data_home>/emodb``.
    data_home : str or os.PathLike, default=None
        Used when ``root`` is None; see :func:`get_data_home`.
    emotions : list of str, default=None
        Keep only these emotions (after ``label_map``): neutral, happy, sad,
        angry, fear, disgust, boredom.
    label_map : dict, default=None
        Rename emotions before filtering, e.g. ``{"boredom": "neutral"}``.
    speakers : list of int or str, default=None
        Speaker numbers to keep (``3``, ``"03"`` or ``"emodb_03"``).
    gender : {"female", "male"}, default=None
        Keep one gender.
    on_invalid : {"raise", "warn", "skip"}, default="raise"
        What to do with audio files whose name does not follow the convention,
        and with folders or audio files that cannot be read (permission
        denied, broken links): "raise" (an OSError for those), "warn" or
        "skip" loads the rest.
    download_if_missing : bool, default=False
        Download ``download.zip`` from emodb.bilderbar.info into ``root`` when
        no file is found (see :func:`fetch_emodb`).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (absolute paths), ``target`` (emotions), ``groups``
        (``"emodb_03"``, ...), ``frame`` (path, corpus, speaker, group, gender,
        emotion, code, text, version, age), ``target_names``, ``DESCR``,
        ``root``; or ``(data, target)`` if ``return_X_y`` is True.

    See Also
    --------
    load_ravdess : Loader conventions, Raises and Notes shared by all loaders.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, soundfile as sf
    >>> from sersk.datasets import load_emodb
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "wav").mkdir()
    >>> for name in ["03a01Fa", "08b10Lc"]:
    ...     sf.write(root / "wav" / f"{name}.wav", np.zeros(800), 16000)
    >>> ds = load_emodb(root=root)
    >>> ds.frame[["speaker", "gender", "emotion"]].values.tolist()
    [['03', 'male', 'happy'], ['08', 'female', 'boredom']]
    """
    return _load_emodb(
        root=root,
        data_home=data_home,
        emotions=emotions,
        label_map=label_map,
        speakers=speakers,
        gender=gender,
        on_invalid=on_invalid,
        download_if_missing=download_if_missing,
        return_X_y=return_X_y,
    )


def _load_emodb(
    *,
    root,
    data_home,
    emotions,
    label_map,
    speakers,
    gender,
    on_invalid,
    download_if_missing,
    return_X_y,
    progress=True,
    n_retries=3,
    delay=1.0,
):
    download = None
    if download_if_missing:
        archive = ARCHIVES["emodb"]

        def download(root):
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
                    f"To install EmoDB by hand: download {archive.page}download.zip"
                    f", unzip it into {os.path.join(root, archive.folder)!r}, then "
                    f"call load_emodb(root={root!r})."
                ),
            )

    frame, root = _read_corpus(
        EMODB, root=root, data_home=data_home, on_invalid=on_invalid, download=download
    )
    frame = _filter_frame(frame, EMODB, "load_emodb", speakers=speakers, gender=gender)
    return _finish(
        frame,
        func_name="load_emodb",
        emotions=emotions,
        label_map=label_map,
        return_X_y=return_X_y,
        descr=_load_descr("emodb"),
        root=root,
        filters={"speakers": speakers, "gender": gender},
    )


@validate_params(
    {
        **_COMMON,
        "download_if_missing": ["boolean"],
        "progress": ["boolean"],
        "n_retries": [Integral],
        "delay": [Real],
    },
    prefer_skip_nested_validation=True,
)
def fetch_emodb(
    *,
    data_home=None,
    emotions=None,
    label_map=None,
    speakers=None,
    gender=None,
    on_invalid="raise",
    download_if_missing=True,
    progress=True,
    n_retries=3,
    delay=1.0,
    return_X_y=False,
    root=None,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Download EmoDB if needed, then load it.

    The archive (``download.zip`` from http://emodb.bilderbar.info, about
    40 MB) is extracted into ``<data_home>/emodb/download`` through a
    temporary folder and an atomic rename. The host publishes no checksum,
    so only the zip's own CRCs are checked.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        See :func:`get_data_home`.
    emotions : list of str, default=None
        As in :func:`load_emodb`.
    label_map : dict, default=None
        As in :func:`load_emodb`.
    speakers : list of int or str, default=None
        As in :func:`load_emodb`.
    gender : {"female", "male"}, default=None
        As in :func:`load_emodb`.
    on_invalid : {"raise", "warn", "skip"}, default="raise"
        As in :func:`load_emodb`.
    download_if_missing : bool, default=True
        If False, raise instead of downloading.
    progress : bool, default=True
        Show a progress bar while downloading.
    n_retries : int, default=3
        Extra attempts after a network error.
    delay : float, default=1.0
        Seconds between attempts.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    root : str or os.PathLike, default=None
        Corpus folder to use instead of ``<data_home>/emodb``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        As :func:`load_emodb`.
    """
    return _load_emodb(
        root=root,
        data_home=data_home,
        emotions=emotions,
        label_map=label_map,
        speakers=speakers,
        gender=gender,
        on_invalid=on_invalid,
        download_if_missing=download_if_missing,
        return_X_y=return_X_y,
        progress=progress,
        n_retries=n_retries,
        delay=delay,
    )
