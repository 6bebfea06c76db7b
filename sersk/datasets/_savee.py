"""SAVEE: the Surrey Audio-Visual Expressed Emotion database."""

from __future__ import annotations

import os
import re

import numpy as np
from sklearn.utils import Bunch

from ..utils._sklearn_compat import validate_params
from ._base import _COMMON, _Corpus, _filter_frame, _finish, _load_descr, _read_corpus

__all__ = ["load_savee"]

_EMOTIONS = {
    "a": "angry",
    "d": "disgust",
    "f": "fear",
    "h": "happy",
    "n": "neutral",
    "sa": "sad",
    "su": "surprise",
}
_SPEAKERS = ("DC", "JE", "JK", "KL")
_FLAT = re.compile(r"(DC|JE|JK|KL)_(sa|su|a|d|f|h|n)(\d\d)", re.IGNORECASE)
_NESTED = re.compile(r"(sa|su|a|d|f|h|n)(\d\d)", re.IGNORECASE)


def _parse(path: str, rel: str) -> dict | None:
    stem = os.path.splitext(os.path.basename(path))[0]
    m = _FLAT.fullmatch(stem)
    if m is not None:
        speaker, code, num = m.groups()
    else:
        m = _NESTED.fullmatch(stem)
        parent = os.path.basename(os.path.dirname(path)).upper()
        if m is None or parent not in _SPEAKERS:
            return None
        code, num = m.groups()
        speaker = parent
    code = code.lower()
    if int(num) < 1 or int(num) > (30 if code == "n" else 15):
        return None
    return {
        "speaker": speaker.upper(),
        "gender": "male",
        "emotion": _EMOTIONS[code],
        "code": code,
        "sentence": int(num),
    }


SAVEE = _Corpus(
    name="savee",
    title="SAVEE",
    convention="'<DC|JE|JK|KL>_<code><NN>.wav' or '<DC|JE|JK|KL>/<code><NN>.wav' "
    "(codes a d f h n sa su; e.g. DC_a01.wav or DC/sa15.wav)",
    how_to_get=(
        "Request it (free for research) at "
        "http://kahlan.eps.surrey.ac.uk/savee/Download.html and unzip "
        "AudioData (folders DC, JE, JK, KL) into the corpus folder."
    ),
    parse=_parse,
    speaker_format=lambda s: str(s).upper(),
    columns=("sentence",),
)


@validate_params(dict(_COMMON), prefer_skip_nested_validation=True)
def load_savee(
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
    """Load the SAVEE corpus (paths, labels, speakers, metadata).

    Four male British English speakers (DC, JE, JK, KL) read TIMIT sentences
    in seven emotions: 15 per emotion and 30 neutral each, 480 files. Both the
    original layout (``DC/a01.wav``) and the flat one (``DC_a01.wav``) are
    decoded; codes a d f h n sa su map to angry, disgust, fear, happy,
    neutral, sad, surprise. No audio is read.

    Parameters
    ----------
    root : str or os.PathLike, default=None
        Folder holding the corpus (searched recursively). None means
        ``<data_home>/savee``.
    data_home : str or os.PathLike, default=None
        Used when ``root`` is None; see :func:`get_data_home`.
    emotions : list of str, default=None
        Keep only these emotions (after ``label_map``).
    label_map : dict, default=None
        Rename emotions before filtering.
    speakers : list of str, default=None
        Speaker initials to keep (``"DC"``, ``"savee_DC"``).
    gender : {"female", "male"}, default=None
        All SAVEE speakers are male; ``"female"`` leaves nothing and raises.
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
        (``"savee_DC"``, ...), ``frame`` (path, corpus, speaker, group,
        gender, emotion, code, sentence), ``target_names``, ``DESCR``,
        ``root``; or ``(data, target)`` if ``return_X_y`` is True.

    See Also
    --------
    load_ravdess : Loader conventions, Raises and Notes shared by all loaders.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, soundfile as sf
    >>> from sersk.datasets import load_savee
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "JK").mkdir()
    >>> sf.write(root / "DC_a01.wav", np.zeros(800), 16000)
    >>> sf.write(root / "JK" / "sa03.wav", np.zeros(800), 16000)
    >>> ds = load_savee(root=root)
    >>> list(ds.target), list(ds.groups)
    (['angry', 'sad'], ['savee_DC', 'savee_JK'])
    """
    frame, root = _read_corpus(
        SAVEE, root=root, data_home=data_home, on_invalid=on_invalid
    )
    frame = _filter_frame(frame, SAVEE, "load_savee", speakers=speakers, gender=gender)
    return _finish(
        frame,
        func_name="load_savee",
        emotions=emotions,
        label_map=label_map,
        return_X_y=return_X_y,
        descr=_load_descr("savee"),
        root=root,
        filters={"speakers": speakers, "gender": gender},
    )
