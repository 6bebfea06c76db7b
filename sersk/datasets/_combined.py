"""Several corpora at once, with harmonised labels and unique speaker groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._sklearn_compat import StrOptions, validate_params
from ._base import _COMMON, _finish, _list_names
from ._crema_d import load_crema_d
from ._emodb import load_emodb
from ._ravdess import load_ravdess
from ._savee import load_savee
from ._tess import load_tess

__all__ = ["load_corpora", "CORPORA"]

#: Loader of every corpus name accepted by :func:`load_corpora`.
CORPORA = {
    "ravdess": load_ravdess,
    "tess": load_tess,
    "crema_d": load_crema_d,
    "savee": load_savee,
    "emodb": load_emodb,
}
_ALIASES = {"cremad": "crema_d", "crema": "crema_d", "emo_db": "emodb"}


def _canonical_name(name) -> str:
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in CORPORA:
        raise ValueError(
            f"Unknown corpus {name!r} in load_corpora. Valid names: "
            f"{_list_names(CORPORA)}; for another corpus use load_folder."
        )
    return key


@validate_params(
    {
        "names": ["array-like", str],
        "roots": [dict, None],
        "data_home": _COMMON["data_home"],
        "emotions": _COMMON["emotions"],
        "label_map": _COMMON["label_map"],
        "gender": _COMMON["gender"],
        "on_invalid": [StrOptions({"raise", "warn", "skip"})],
        "loader_kwargs": [dict, None],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_corpora(
    names,
    *,
    roots=None,
    data_home=None,
    emotions=None,
    label_map=None,
    gender=None,
    on_invalid="raise",
    loader_kwargs=None,
    return_X_y=False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load and concatenate several corpora with harmonised labels.

    Every corpus is loaded with its own loader, its labels already mapped to
    the canonical vocabulary :data:`EMOTIONS`; ``label_map`` and
    ``emotions`` then apply to the union, so ``emotions`` may name an
    emotion that only some corpora have (``"boredom"`` is EmoDB-only).
    Speaker groups carry the corpus name (``"ravdess_01"``,
    ``"crema_d_1001"``), so they never collide across corpora.

    Parameters
    ----------
    names : list of str
        Corpus names among ``"ravdess"``, ``"tess"``, ``"crema_d"``,
        ``"savee"``, ``"emodb"`` (``"crema-d"`` and ``"emo-db"`` work too).
    roots : dict, default=None
        ``{name: folder}`` for corpora not under ``data_home``.
    data_home : str or os.PathLike, default=None
        Where the other corpora live (``<data_home>/<name>``); see
        :func:`get_data_home`.
    emotions : list of str, default=None
        Keep only these emotions (after ``label_map``), e.g. the six shared by
        most corpora: ``["neutral", "happy", "sad", "angry", "fear",
        "disgust"]``.
    label_map : dict, default=None
        Rename emotions before filtering, e.g. ``{"calm": "neutral"}``.
    gender : {"female", "male"}, default=None
        Keep one gender.
    on_invalid : {"raise", "warn", "skip"}, default="raise"
        Passed to every loader.
    loader_kwargs : dict, default=None
        ``{name: {parameter: value}}`` passed to one loader, e.g.
        ``{"ravdess": {"vocal_channel": "all"}, "crema_d": {"intensity":
        "high"}}``.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``, ``target``, ``groups``, ``frame`` (the union of the
        corpora's columns; ``corpus`` says where each row comes from, columns
        a corpus lacks are NaN), ``target_names``, ``DESCR`` (all
        descriptions); or ``(data, target)`` if ``return_X_y`` is True.

    See Also
    --------
    load_ravdess : RAVDESS alone.
    load_tess : TESS alone.
    load_crema_d : CREMA-D alone.
    load_savee : SAVEE alone.
    load_emodb : EmoDB alone.
    load_folder : Any folder-per-emotion corpus.

    Notes
    -----
    Cross-corpus evaluation: ``LeaveOneGroupOut`` on ``frame["corpus"]``
    trains on all corpora but one and tests on the held-out corpus.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, soundfile as sf
    >>> from sersk.datasets import load_corpora
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["ravdess/Actor_01/03-01-02-01-01-01-01", "emodb/wav/03a01Fa",
    ...              "emodb/wav/08a01La"]:
    ...     (tmp / name).parent.mkdir(parents=True, exist_ok=True)
    ...     sf.write(tmp / f"{name}.wav", np.zeros(800), 16000)
    >>> ds = load_corpora(["ravdess", "emodb"], data_home=tmp,
    ...                   label_map={"calm": "neutral"}, emotions=["neutral", "happy"])
    >>> list(ds.target), list(ds.groups)
    (['happy', 'neutral'], ['emodb_03', 'ravdess_01'])
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError("load_corpora needs at least one corpus name.")
    keys = [_canonical_name(n) for n in names]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"Corpus {_list_names(dupes)} listed twice in load_corpora.")
    roots = {_canonical_name(k): v for k, v in (roots or {}).items()}
    extra = {_canonical_name(k): dict(v) for k, v in (loader_kwargs or {}).items()}
    for key in set(roots) | set(extra):
        if key not in keys:
            raise ValueError(
                f"roots/loader_kwargs name corpus {key!r}, which is not in names "
                f"{names!r}."
            )
    frames, descrs = [], []
    for key in keys:
        bunch = CORPORA[key](
            root=roots.get(key),
            data_home=data_home,
            on_invalid=on_invalid,
            **extra.get(key, {}),
        )
        frames.append(bunch.frame)
        descrs.append(bunch.DESCR)
    frame = pd.concat(frames, ignore_index=True, sort=False)
    if gender is not None:
        frame = frame[frame["gender"] == gender]
    return _finish(
        frame,
        func_name="load_corpora",
        emotions=emotions,
        label_map=label_map,
        return_X_y=return_X_y,
        descr=("\n\n" + "-" * 72 + "\n\n").join(descrs),
        filters={"gender": gender},
    )
