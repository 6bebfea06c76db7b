"""TESS: the Toronto Emotional Speech Set."""

from __future__ import annotations

import os

import numpy as np
from sklearn.utils import Bunch

from ..utils._sklearn_compat import validate_params
from ._base import _COMMON, _Corpus, _filter_frame, _finish, _load_descr, _read_corpus

__all__ = ["load_tess"]

_EMOTIONS = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprise",
    "sad": "sad",
}
_AGE = {"OAF": 64, "YAF": 26}


def _parse(path: str, rel: str) -> dict | None:
    stem = os.path.splitext(os.path.basename(path))[0]
    parts = stem.split("_")
    if len(parts) < 3:
        return None
    speaker, code = parts[0].upper(), parts[-1].lower()
    word = "_".join(parts[1:-1]).lower()
    if speaker not in _AGE or code not in _EMOTIONS or not word:
        return None
    return {
        "speaker": speaker,
        "gender": "female",
        "emotion": _EMOTIONS[code],
        "code": code,
        "word": word,
        "age": _AGE[speaker],
    }


TESS = _Corpus(
    name="tess",
    title="TESS",
    convention="'<OAF|YAF>_<emotion>/<OAF|YAF>_<word>_<emotion>.wav' "
    "(e.g. OAF_angry/OAF_back_angry.wav, YAF_pleasant_surprised/YAF_bath_ps.wav)",
    how_to_get=(
        "Download it by hand from the University of Toronto repository "
        "https://tspace.library.utoronto.ca/handle/1807/24487 (one zip per "
        "speaker and emotion; sign-in free) and unzip every archive into the "
        "corpus folder."
    ),
    parse=_parse,
    speaker_format=lambda s: str(s).upper(),
    columns=("word", "age"),
)


@validate_params(dict(_COMMON), prefer_skip_nested_validation=True)
def load_tess(
    *,
    root=None,
    data_home=None,
    emotions=None,
    label_map=None,
    speakers=None,
    gender=None,
    on_invalid="raise",
    return_X_y=False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the TESS corpus (paths, labels, speakers, metadata).

    Two female speakers (OAF, aged 64, and YAF, aged 26) say 200 target words
    in the carrier phrase "Say the word ..." in seven emotions: 2,800 files.
    File names ``<speaker>_<word>_<emotion>.wav`` are decoded; folder names
    (whose case varies between releases) are ignored. The TESS code ``ps``
    (pleasant surprise) maps to ``"surprise"``. No audio is read.

    Parameters
    ----------
    root : str or os.PathLike, default=None
        Folder holding the corpus (searched recursively). None means
        ``<data_home>/tess``.
    data_home : str or os.PathLike, default=None
        Used when ``root`` is None; see :func:`get_data_home`.
    emotions : list of str, default=None
        Keep only these emotions (after ``label_map``): neutral, happy, sad,
        angry, fear, disgust, surprise.
    label_map : dict, default=None
        Rename emotions before filtering, e.g. ``{"surprise": "happy"}``.
    speakers : list of str, default=None
        ``"OAF"`` and/or ``"YAF"`` (case-insensitive, ``"tess_OAF"`` too).
    gender : {"female", "male"}, default=None
        Both TESS speakers are female; ``"male"`` leaves nothing and raises.
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
        (``"tess_OAF"``, ``"tess_YAF"``), ``frame`` (path, corpus, speaker,
        group, gender, emotion, code, word, age), ``target_names``, ``DESCR``,
        ``root``; or ``(data, target)`` if ``return_X_y`` is True.

    See Also
    --------
    load_ravdess : Loader conventions, Raises and Notes shared by all loaders.

    Notes
    -----
    With only two speakers, speaker-independent evaluation on TESS alone is
    a two-fold :class:`~sklearn.model_selection.LeaveOneGroupOut`; combine it
    with other corpora through :func:`load_corpora`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, soundfile as sf
    >>> from sersk.datasets import load_tess
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["OAF_angry/OAF_back_angry", "YAF_pleasant_surprised/YAF_bath_ps"]:
    ...     (root / name).parent.mkdir()
    ...     sf.write(root / f"{name}.wav", np.zeros(800), 16000)
    >>> ds = load_tess(root=root)
    >>> list(ds.target), list(ds.groups)
    (['angry', 'surprise'], ['tess_OAF', 'tess_YAF'])
    """
    frame, root = _read_corpus(
        TESS, root=root, data_home=data_home, on_invalid=on_invalid
    )
    frame = _filter_frame(frame, TESS, "load_tess", speakers=speakers, gender=gender)
    return _finish(
        frame,
        func_name="load_tess",
        emotions=emotions,
        label_map=label_map,
        return_X_y=return_X_y,
        descr=_load_descr("tess"),
        root=root,
        filters={"speakers": speakers, "gender": gender},
    )
