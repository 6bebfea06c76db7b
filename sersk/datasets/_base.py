"""Shared machinery of the corpus loaders.

Data home, the canonical emotion vocabulary and label harmonisation, the
directory walk (symlink-loop safe, hidden entries skipped), the
``on_invalid`` policy, the filters and the :class:`~sklearn.utils.Bunch`
every loader returns. No audio is decoded here: loaders only read file names.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..exceptions import DatasetNotFoundError
from ..utils._sklearn_compat import Integral, StrOptions

__all__ = ["EMOTIONS", "AUDIO_EXTENSIONS", "get_data_home", "harmonize_label"]

#: The canonical emotion vocabulary every loader maps its codes into.
EMOTIONS = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fear",
    "disgust",
    "surprise",
    "boredom",
)

#: File extensions treated as audio when walking a corpus folder.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

# Spellings found in corpus file and folder names -> canonical emotion.
_SYNONYMS = {
    "neutral": "neutral",
    "neu": "neutral",
    "calm": "calm",
    "happy": "happy",
    "happiness": "happy",
    "hap": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "angry": "angry",
    "anger": "angry",
    "ang": "angry",
    "fear": "fear",
    "fearful": "fear",
    "fea": "fear",
    "afraid": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "dis": "disgust",
    "surprise": "surprise",
    "surprised": "surprise",
    "ps": "surprise",
    "pleasant_surprise": "surprise",
    "pleasant_surprised": "surprise",
    "boredom": "boredom",
    "bored": "boredom",
}


def get_data_home(data_home=None) -> str:
    """Return the folder where sersk keeps downloaded corpora.

    Resolution order: the ``data_home`` argument, the ``SERSK_DATA``
    environment variable, then ``~/sersk_data``. Each corpus lives in a
    sub-folder named after it (``<data_home>/ravdess``, ...). The folder is
    not created here; downloads create it when they need it.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Explicit folder; ``~`` is expanded.

    Returns
    -------
    data_home : str
        Absolute path of the data folder.

    Examples
    --------
    >>> from sersk.datasets import get_data_home
    >>> get_data_home("/tmp/corpora")
    '/tmp/corpora'
    """
    if data_home is None:
        data_home = os.environ.get("SERSK_DATA", os.path.join("~", "sersk_data"))
    return os.path.abspath(os.path.expanduser(os.fspath(data_home)))


def harmonize_label(name) -> str | None:
    """Map an emotion spelling to the canonical vocabulary.

    Case, surrounding spaces and ``-``/space separators are ignored, so
    ``"Anger"``, ``"FEARFUL"``, ``"pleasant surprise"`` and ``"ps"`` (TESS)
    are all recognised.

    Parameters
    ----------
    name : str
        A label as it appears in a folder or file name.

    Returns
    -------
    emotion : str or None
        One of :data:`EMOTIONS`, or None when the spelling is unknown.

    Examples
    --------
    >>> from sersk.datasets import harmonize_label
    >>> harmonize_label("Anger"), harmonize_label("Pleasant_surprised")
    ('angry', 'surprise')
    >>> harmonize_label("contempt") is None
    True
    """
    key = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    return _SYNONYMS.get(key)


# Parameter constraints shared by every loader (for validate_params).
_COMMON = {
    "root": [str, os.PathLike, None],
    "data_home": [str, os.PathLike, None],
    "emotions": ["array-like", str, None],
    "label_map": [dict, None],
    "speakers": ["array-like", str, Integral, None],
    "gender": [StrOptions({"female", "male"}), None],
    "on_invalid": [StrOptions({"raise", "warn", "skip"})],
    "return_X_y": ["boolean"],
}

# ---------------------------------------------------------------------------
# Directory walk
# ---------------------------------------------------------------------------


def _scan_audio_files(root: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Walk ``root``: (audio paths, other file names, unreadable entries).

    Symbolic links are followed, but each real directory is visited once, so
    a link back to a folder already seen ends the walk there instead of
    recursing forever. Hidden entries (``.name``, including the temporary
    folders of an unfinished download) and macOS ``__MACOSX`` folders are
    skipped. Paths are absolute (built from ``root``, symlinks not resolved)
    and sorted. ``unreadable`` lists ``(path, reason)`` for the folders the
    walk could not open, the audio files it may not read and the links that
    lead nowhere, so that the loaders can report them instead of loading a
    part of the corpus without a word.
    """
    audio: list[str] = []
    other: list[str] = []
    unreadable: list[tuple[str, str]] = []
    visited: set[str] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in visited:
            continue
        visited.add(real)
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            unreadable.append((folder, _os_reason(exc)))
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name == "__MACOSX":
                continue
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError as exc:  # e.g. too many levels of symbolic links
                unreadable.append((entry.path, _os_reason(exc)))
                continue
            if is_dir:
                stack.append(entry.path)
            elif is_file:
                if not name.lower().endswith(AUDIO_EXTENSIONS):
                    other.append(name)
                elif os.access(entry.path, os.R_OK):
                    audio.append(entry.path)
                else:
                    unreadable.append((entry.path, "permission denied"))
            elif entry.is_symlink() and not os.path.exists(entry.path):
                unreadable.append((entry.path, "broken symbolic link"))
    audio.sort()
    unreadable.sort()
    return audio, other, unreadable


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or type(exc).__name__


# ---------------------------------------------------------------------------
# Corpus description and the generic loader
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Corpus:
    """What the generic loader needs to know about one corpus."""

    name: str  # short id, used in groups ("ravdess_01") and the corpus column
    title: str
    convention: str  # the expected file layout, quoted in error messages
    how_to_get: str  # instructions quoted when the corpus is missing
    parse: Callable[[str, str], dict | None]  # (abs path, path rel. to root)
    speaker_format: Callable[[object], str] = str
    columns: tuple[str, ...] = ()  # corpus-specific frame columns, in order
    extra: dict = field(default_factory=dict)  # allowed filter values per column
    unique_names: bool = True  # each file name occurs once in the corpus
    uses_data_home: bool = True  # root=None means <data_home>/<name>


def _load_descr(name: str) -> str:
    return (
        resources.files("sersk.datasets")
        .joinpath("descr", f"{name}.rst")
        .read_text(encoding="utf-8")
    )


def _resolve_root(corpus: _Corpus, root, data_home) -> str:
    if root is None:
        return os.path.join(get_data_home(data_home), corpus.name)
    if not os.fspath(root).strip():
        # "" would resolve to the current directory and scan it
        raise ValueError(
            f"root={root!r} names no folder. Pass the folder of {corpus.title} "
            "(e.g. root='path/to/corpus'), or root=None for the data home."
        )
    return os.path.abspath(os.path.expanduser(os.fspath(root)))


def _missing_error(corpus: _Corpus, root: str, reason: str) -> DatasetNotFoundError:
    msg = (
        f"{corpus.title} not found: {reason} (looked in {root!r}, expecting "
        f"{corpus.convention}). {corpus.how_to_get}"
    )
    if corpus.uses_data_home:
        msg += (
            f" Then pass root='path/to/{corpus.name}', or put it in "
            f"<data_home>/{corpus.name} (data_home is the SERSK_DATA environment "
            "variable, default ~/sersk_data)."
        )
    return DatasetNotFoundError(msg)


def _list_names(names, limit=10) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown


def _handle_invalid(corpus: _Corpus, invalid: list[str], on_invalid: str, root: str):
    if not invalid or on_invalid == "skip":
        return
    rel = [os.path.relpath(p, root) for p in invalid]
    msg = (
        f"{len(invalid)} audio file(s) under {root!r} do not follow the "
        f"{corpus.title} naming convention {corpus.convention}: {_list_names(rel)}."
    )
    _apply_policy(
        on_invalid,
        msg,
        fix=" Rename or remove them, or pass on_invalid='skip' (or 'warn') to "
        "leave them out.",
        done=" They were left out.",
    )


def _apply_policy(on_invalid, msg, *, fix, done, error=ValueError):
    """``on_invalid``: raise ``error(msg + fix)`` or warn ``msg + done``."""
    if on_invalid == "raise":
        raise error(msg + fix)
    if on_invalid == "warn":
        # stacklevel: the caller of the public loader
        warnings.warn(msg + done, UserWarning, stacklevel=5)


def _as_list(value) -> list:
    if isinstance(value, str | bytes | int | np.integer):
        return [value]
    return list(value)


def _check_label_map(label_map, func_name: str) -> dict:
    if label_map is None:
        return {}
    if not isinstance(label_map, Mapping):
        raise TypeError(
            f"The 'label_map' parameter of {func_name} must be a dict mapping "
            f"emotion names to new names (e.g. {{'calm': 'neutral'}}). Got "
            f"{label_map!r} instead."
        )
    out = {}
    for key, value in label_map.items():
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"label_map values must be non-empty strings; got {value!r} for "
                f"{key!r} in {func_name}."
            )
        out[str(key)] = value
    return out


def _filter_values(name, values, allowed, func_name, normalize=str):
    """Normalise a filter value (str or list) and check it against ``allowed``."""
    wanted = [normalize(v) for v in _as_list(values)]
    unknown = [v for v in wanted if v not in allowed]
    if unknown:
        raise ValueError(
            f"Unknown value(s) {_list_names(unknown)} for the '{name}' parameter "
            f"of {func_name}. Valid values: {_list_names(sorted(allowed), 100)}."
        )
    return wanted


def _apply_labels(
    frame: pd.DataFrame,
    *,
    emotions,
    label_map: dict,
    func_name: str,
    extra_labels: Iterable[str] = (),
) -> pd.DataFrame:
    """Apply ``label_map`` then keep the rows whose label is in ``emotions``."""
    known = set(EMOTIONS) | set(extra_labels)
    bad_keys = [k for k in label_map if k not in known]
    if bad_keys:
        raise ValueError(
            f"label_map keys {_list_names(bad_keys)} are not emotion names "
            f"(in {func_name}). Valid keys: {_list_names(_ordered(known), 100)}."
        )
    if label_map:
        frame["emotion"] = frame["emotion"].map(lambda e: label_map.get(e, e))
    if emotions is not None:
        valid = (known - set(label_map)) | set(label_map.values())
        wanted = _as_list(emotions)
        unknown = [e for e in wanted if e not in valid]
        if unknown:
            hint = ""
            merged = [e for e in unknown if e in label_map]
            if merged:
                hint = (
                    f" ({_list_names(merged)} were renamed by label_map; "
                    "use the new names)"
                )
            raise ValueError(
                f"Unknown emotion(s) {_list_names(unknown)} in the 'emotions' "
                f"parameter of {func_name}{hint}. Valid names: "
                f"{_list_names(_ordered(valid), 100)}."
            )
        present = set(frame["emotion"])
        absent = [e for e in wanted if e not in present]
        if absent and len(absent) < len(set(wanted)):
            warnings.warn(
                f"{func_name}: emotion(s) {_list_names(absent)} requested in "
                "'emotions' but no file has them (after the other filters); the "
                "result holds the other emotions only.",
                UserWarning,
                stacklevel=4,
            )
        frame = frame[frame["emotion"].isin(wanted)]
    return frame


def _ordered(labels) -> list[str]:
    """Canonical emotions first (in EMOTIONS order), then others sorted."""
    labels = set(labels)
    return [e for e in EMOTIONS if e in labels] + sorted(labels - set(EMOTIONS))


def _make_bunch(frame: pd.DataFrame, *, descr: str, return_X_y: bool, root=None):
    frame = frame.sort_values("path", kind="stable").reset_index(drop=True)
    data = frame["path"].to_numpy(dtype=object)
    target = frame["emotion"].to_numpy(dtype=object)
    groups = frame["group"].to_numpy(dtype=object)
    if frame["group"].isna().all():
        groups = None  # speakers unknown (load_folder without speaker_pattern)
    if return_X_y:
        return data, target
    bunch = Bunch(
        data=data,
        target=target,
        groups=groups,
        frame=frame,
        target_names=np.asarray(_ordered(frame["emotion"].unique()), dtype=object),
        DESCR=descr,
    )
    if root is not None:
        bunch["root"] = root
    return bunch


def _handle_unreadable(corpus: _Corpus, unreadable, on_invalid: str, root: str):
    if not unreadable or on_invalid == "skip":
        return
    shown = _list_names(
        f"{os.path.relpath(path, root)} ({reason})" for path, reason in unreadable
    )
    msg = (
        f"{len(unreadable)} folder(s) or file(s) under {root!r} could not be "
        f"read, so the {corpus.title} files in them are missing: {shown}."
    )
    _apply_policy(
        on_invalid,
        msg,
        fix=" Fix their permissions (or links), or pass on_invalid='warn' (or "
        "'skip') to load the rest.",
        done=" The rest was loaded.",
        error=OSError,
    )


def _read_corpus(
    corpus: _Corpus,
    *,
    root,
    data_home,
    on_invalid: str,
    download: Callable[[str], None] | None = None,
    needs_download: Callable[[pd.DataFrame], bool] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Walk, parse and validate a corpus folder into an unfiltered frame."""
    root = _resolve_root(corpus, root, data_home)

    unreadable = []

    def scan():
        if not os.path.isdir(root):
            return None, []
        audio, _, bad = _scan_audio_files(root)
        unreadable[:] = bad
        records, invalid = [], []
        skip = len(os.path.join(root, ""))  # every path starts with root + sep
        for path in audio:
            rec = corpus.parse(path, path[skip:])
            if rec is None:
                invalid.append(path)
            else:
                rec["path"] = path
                records.append(rec)
        return records, invalid

    records, invalid = scan()
    if download is not None and (
        not records
        or (needs_download is not None and needs_download(_frame(corpus, records)))
    ):
        download(root)
        records, invalid = scan()

    if records is None:
        reason = (
            "the path exists but is not a folder"
            if os.path.exists(root)
            else "the folder does not exist"
        )
        raise _missing_error(corpus, root, reason)
    _handle_unreadable(corpus, unreadable, on_invalid, root)
    if not records and not invalid:
        raise _missing_error(corpus, root, "the folder holds no audio files")
    _handle_invalid(corpus, invalid, on_invalid, root)
    if corpus.unique_names:
        records = _drop_duplicates(corpus, records, on_invalid, root)
    if not records:
        raise _missing_error(
            corpus,
            root,
            f"none of its {len(invalid)} audio files follow the naming convention",
        )
    return _frame(corpus, records), root


def _drop_duplicates(corpus: _Corpus, records, on_invalid: str, root: str):
    """The same file name twice means the corpus was unpacked twice under root."""
    seen: dict[str, str] = {}
    dupes = []
    kept = []
    for rec in records:  # sorted by path: the first copy wins
        name = os.path.basename(rec["path"]).lower()
        if name in seen:
            dupes.append(os.path.relpath(rec["path"], root))
        else:
            seen[name] = rec["path"]
            kept.append(rec)
    if not dupes or on_invalid == "skip":
        return kept
    msg = (
        f"{len(dupes)} {corpus.title} file name(s) occur more than once under "
        f"{root!r} (is the corpus unpacked twice?): {_list_names(dupes)}."
    )
    _apply_policy(
        on_invalid,
        msg,
        fix=" Point root at a single copy, or pass on_invalid='skip' (or 'warn') "
        "to keep only the first copy of each file.",
        done=" Only the first copy was kept.",
    )
    return kept


def _frame(corpus: _Corpus, records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)
    frame["corpus"] = corpus.name
    frame["group"] = corpus.name + "_" + frame["speaker"].astype(str)
    base = ["path", "corpus", "speaker", "group", "gender", "emotion", "code"]
    cols = base + [c for c in corpus.columns if c not in base]
    cols += [c for c in frame.columns if c not in cols]
    return frame[cols]


def _filter_frame(
    frame: pd.DataFrame,
    corpus: _Corpus,
    func_name: str,
    *,
    speakers=None,
    gender=None,
    columns: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Keep rows matching ``speakers``, ``gender`` and ``{column: values}``."""
    if speakers is not None:

        def norm(s):
            s = str(s) if not isinstance(s, int | np.integer) else s
            if isinstance(s, str) and s.lower().startswith(corpus.name + "_"):
                s = s[len(corpus.name) + 1 :]
            return corpus.speaker_format(s)

        wanted = _filter_values(
            "speakers", speakers, set(frame["speaker"]), func_name, norm
        )
        frame = frame[frame["speaker"].isin(wanted)]
    if gender is not None:
        frame = frame[frame["gender"] == gender]
    for col, values in (columns or {}).items():
        if values is None:
            continue
        allowed = set(frame[col].dropna()) | set(corpus.extra.get(col, ()))
        wanted = _filter_values(col, values, allowed, func_name)
        frame = frame[frame[col].isin(wanted)]
    return frame


def _finish(
    frame: pd.DataFrame,
    *,
    func_name: str,
    emotions,
    label_map,
    return_X_y: bool,
    descr: str,
    root=None,
    filters: Mapping[str, object] | None = None,
    allow_empty: bool = False,
    extra_labels: Iterable[str] = (),
):
    label_map = _check_label_map(label_map, func_name)
    frame = _apply_labels(
        frame.copy(),
        emotions=emotions,
        label_map=label_map,
        func_name=func_name,
        extra_labels=extra_labels,
    )
    if frame.empty and not allow_empty:
        used = {k: v for k, v in (filters or {}).items() if v is not None}
        if emotions is not None:
            used["emotions"] = emotions
        raise ValueError(
            f"No file left after filtering in {func_name} "
            f"({', '.join(f'{k}={v!r}' for k, v in used.items())}). "
            "Relax the filters."
        )
    return _make_bunch(frame, descr=descr, return_X_y=return_X_y, root=root)
