"""CREMA-D: the Crowd-sourced Emotional Multimodal Actors Dataset."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._sklearn_compat import validate_params
from ._base import _COMMON, _Corpus, _filter_frame, _finish, _load_descr, _read_corpus

__all__ = ["load_crema_d"]

_EMOTIONS = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
_SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
# Sex of actors 1001-1091 from the corpus' VideoDemographics.csv (43 female,
# 48 male); a VideoDemographics.csv found in the corpus folder takes precedence.
_FEMALE = frozenset(
    [1002, 1003, 1004, 1006, 1007, 1008, 1009, 1010, 1012, 1013, 1018, 1020, 1021]
    + [1024, 1025, 1028, 1029, 1030, 1037, 1043, 1046, 1047, 1049, 1052, 1053]
    + [1054, 1055, 1056, 1058, 1060, 1061, 1063, 1072, 1073, 1074, 1075, 1076]
    + [1078, 1079, 1082, 1084, 1089, 1091]
)
_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})")


def _parse(path: str, rel: str) -> dict | None:
    stem = os.path.splitext(os.path.basename(path))[0]
    m = _NAME.fullmatch(stem)
    if m is None:
        return None
    actor, sentence, emo, level = m.groups()
    if (
        not 1001 <= int(actor) <= 1091
        or sentence not in _SENTENCES
        or emo not in _EMOTIONS
        or level not in _LEVELS
    ):
        return None
    return {
        "speaker": actor,
        "gender": "female" if int(actor) in _FEMALE else "male",
        "emotion": _EMOTIONS[emo],
        "code": emo,
        "intensity": _LEVELS[level],
        "sentence": sentence,
    }


CREMA_D = _Corpus(
    name="crema_d",
    title="CREMA-D",
    convention="'AudioWAV/AAAA_SSS_EEE_LL.wav' (e.g. AudioWAV/1001_DFA_ANG_XX.wav)",
    how_to_get=(
        "Clone https://github.com/CheyneyComputerScience/CREMA-D with git-lfs "
        "(the AudioWAV folder holds the 7,442 audio files) or download it from "
        "https://www.kaggle.com/datasets/ejlok1/cremad, and put AudioWAV (and "
        "VideoDemographics.csv) inside the corpus folder."
    ),
    parse=_parse,
    speaker_format=lambda s: str(s),
    columns=("intensity", "sentence"),
    extra={"intensity": tuple(_LEVELS.values())},
)


def _add_demographics(frame: pd.DataFrame, root: str) -> pd.DataFrame:
    path = os.path.join(root, "VideoDemographics.csv")
    if not os.path.isfile(path):
        return frame
    demo = pd.read_csv(path, dtype={"ActorID": str})
    demo = demo.rename(columns=str.lower).rename(columns={"actorid": "speaker"})
    if "sex" in demo:
        sex = dict(zip(demo["speaker"], demo["sex"].str.lower(), strict=False))
        frame["gender"] = frame["speaker"].map(sex).fillna(frame["gender"])
    extra = [c for c in ("age", "race", "ethnicity") if c in demo]
    return frame.merge(demo[["speaker", *extra]], on="speaker", how="left")


@validate_params(
    {**_COMMON, "intensity": ["array-like", str, None]},
    prefer_skip_nested_validation=True,
)
def load_crema_d(
    *,
    root=None,
    data_home=None,
    emotions=None,
    label_map=None,
    speakers=None,
    gender=None,
    intensity=None,
    on_invalid="raise",
    return_X_y=False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the CREMA-D corpus (paths, labels, speakers, metadata).

    91 actors (1001-1091; 48 male, 43 female) say 12 sentences in six
    emotions (7,442 files, ``AAAA_SSS_EEE_LL.wav``: actor, sentence code,
    emotion ANG DIS FEA HAP NEU SAD, level LO MD HI or XX = unspecified).
    Gender comes from the corpus' demographics table: the
    ``VideoDemographics.csv`` in ``root`` when present (its age, race and
    ethnicity columns are added to ``frame``), else a built-in copy of its
    sex column. No audio is read.

    Parameters
    ----------
    root : str or os.PathLike, default=None
        Folder holding the corpus (searched recursively). None means
        ``<data_home>/crema_d``.
    data_home : str or os.PathLike, default=None
        Used when ``root`` is None; see :func:`get_data_home`.
    emotions : list of str, default=None
        Keep only these emotions (after ``label_map``): neutral, happy, sad,
        angry, fear, disgust.
    label_map : dict, default=None
        Rename emotions before filtering.
    speakers : list of int or str, default=None
        Actor ids to keep (``1001``, ``"1001"`` or ``"crema_d_1001"``).
    gender : {"female", "male"}, default=None
        Keep one gender.
    intensity : {"low", "medium", "high", "unspecified"} or list, default=None
        Keep these emotion levels (only sentence IEO was recorded at three
        levels; the others are "unspecified").
    on_invalid : {"raise", "warn", "skip"}, default="raise"
        What to do with audio files whose name does not follow the convention,
        and with folders or audio files that cannot be read (permission
        denied, broken links): "raise" (an OSError for those), "warn" or
        "skip" loads the rest.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (absolute paths), ``target`` (emotions), ``groups``
        (``"crema_d_1001"``, ...), ``frame`` (path, corpus, speaker, group,
        gender, emotion, code, intensity, sentence [, age, race, ethnicity]),
        ``target_names``, ``DESCR``, ``root``; or ``(data, target)`` if
        ``return_X_y`` is True.

    See Also
    --------
    load_ravdess : Loader conventions, Raises and Notes shared by all loaders.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, soundfile as sf
    >>> from sersk.datasets import load_crema_d
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "AudioWAV").mkdir()
    >>> for name in ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI"]:
    ...     sf.write(root / "AudioWAV" / f"{name}.wav", np.zeros(800), 16000)
    >>> ds = load_crema_d(root=root)
    >>> ds.frame[["speaker", "gender", "emotion", "intensity"]].values.tolist()
    [['1001', 'male', 'angry', 'unspecified'], ['1002', 'female', 'happy', 'high']]
    """
    frame, root = _read_corpus(
        CREMA_D, root=root, data_home=data_home, on_invalid=on_invalid
    )
    frame = _add_demographics(frame, root)
    frame = _filter_frame(
        frame,
        CREMA_D,
        "load_crema_d",
        speakers=speakers,
        gender=gender,
        columns={"intensity": intensity},
    )
    return _finish(
        frame,
        func_name="load_crema_d",
        emotions=emotions,
        label_map=label_map,
        return_X_y=return_X_y,
        descr=_load_descr("crema_d"),
        root=root,
        filters={"speakers": speakers, "gender": gender, "intensity": intensity},
    )
