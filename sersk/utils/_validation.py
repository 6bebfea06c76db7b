"""Input checks shared by sersk's functions and estimators.

In the spirit of :func:`librosa.util.valid_audio`: dtype, ndim, finite values
and minimum length, with messages that name the value and the fix.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InvalidAudioError

__all__ = ["check_audio", "check_frames", "check_labels"]


def check_audio(y, *, name="y", allow_multichannel=False, min_samples=1):
    """Check a single waveform and return it as a float32 array.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_channels, n_samples)
        Waveform.
    name : str, default="y"
        How the waveform is named in error messages.
    allow_multichannel : bool, default=False
        Accept 2-D ``(n_channels, n_samples)`` input.
    min_samples : int, default=1
        Minimum number of samples.

    Returns
    -------
    y : ndarray
        float32 view or copy of the input.

    Raises
    ------
    sersk.exceptions.InvalidAudioError
        Empty, too short, non-finite or of the wrong shape.
    TypeError
        Not numeric.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.utils import check_audio
    >>> check_audio(np.zeros(4)).dtype
    dtype('float32')
    >>> check_audio(np.array([0.0, np.nan]))
    Traceback (most recent call last):
    ...
    sersk.exceptions.InvalidAudioError: y contains 1 NaN/Inf sample(s) ...
    """
    arr = np.asarray(y)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
    ):
        raise TypeError(
            f"{name} must be a numeric array of audio samples; got dtype {arr.dtype}."
        )
    if np.iscomplexobj(arr):
        raise TypeError(
            f"{name} must hold real-valued samples; got complex dtype {arr.dtype}."
        )
    max_ndim = 2 if allow_multichannel else 1
    if arr.ndim == 0 or arr.ndim > max_ndim:
        shape_hint = (
            "(n_samples,) or (n_channels, n_samples)"
            if allow_multichannel
            else "(n_samples,)"
        )
        raise InvalidAudioError(
            f"{name} must have shape {shape_hint}; got an array of shape {arr.shape}. "
            "Mix multichannel audio down to mono first (e.g. y.mean(axis=0))."
        )
    if arr.shape[-1] == 0:
        raise InvalidAudioError(
            f"{name} is empty (0 samples). Check the file or the offset/duration you asked for."
        )
    if arr.shape[-1] < min_samples:
        raise InvalidAudioError(
            f"{name} has {arr.shape[-1]} samples; at least {min_samples} are needed."
        )
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InvalidAudioError(
            f"{name} contains {int(bad.sum())} NaN/Inf sample(s) (first at index "
            f"{np.unravel_index(int(np.argmax(bad)), arr.shape)[-1]}). Repair or drop the clip; "
            "np.nan_to_num(y) replaces them with zeros."
        )
    return arr


def check_frames(X, *, name="X", estimator_name=None, allow_ragged=False):
    """Check a batch of frame-level features of shape (n_clips, n_coeffs, n_frames).

    Parameters
    ----------
    X : array-like of shape (n_clips, n_coeffs, n_frames)
        Features, e.g. the output of :class:`~sersk.features.MelSpectrogram`.
    name : str, default="X"
        How the array is named in error messages.
    estimator_name : str or None, default=None
        Added to error messages when given.
    allow_ragged : bool, default=False
        Also accept variable-length clips: a list, tuple or 1-D object array
        of ``(n_coeffs, n_frames_i)`` arrays (such as
        :class:`~sersk.features.MelSpectrogram` output for clips of different
        lengths). Every clip must have the same ``n_coeffs``.

    Returns
    -------
    X : ndarray of shape (n_clips, n_coeffs, n_frames) or list of ndarray
        float32 array; with ``allow_ragged``, clips of different lengths come
        back as a list of float32 ``(n_coeffs, n_frames_i)`` arrays (clips of
        one length are stacked into a 3-D array).

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.utils import check_frames
    >>> check_frames(np.zeros((2, 3, 4))).dtype
    dtype('float32')
    >>> check_frames(np.zeros((2, 3)))
    Traceback (most recent call last):
    ...
    ValueError: X must be a 3-D array of shape (n_clips, n_coeffs, n_frames); got shape (2, 3). ...
    """
    where = f" for {estimator_name}" if estimator_name else ""
    if allow_ragged and _is_sequence_of_clips(X):
        return _check_ragged_frames(X, name, where)
    arr = np.asarray(X)
    if arr.dtype == object:
        raise ValueError(
            f"{name}{where} must be a numeric 3-D array (n_clips, n_coeffs, n_frames); got an object "
            "array (variable-length clips?). Give AudioLoader a fixed duration so all clips have the same length."
        )
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(
            f"{name}{where} must hold real numbers; got dtype {arr.dtype}."
        )
    if arr.ndim != 3:
        hint = (
            " A 2-D array looks like waveforms or pooled features: put a frame-level feature "
            "transformer such as MelSpectrogram before this step."
            if arr.ndim == 2
            else ""
        )
        raise ValueError(
            f"{name}{where} must be a 3-D array of shape (n_clips, n_coeffs, n_frames); "
            f"got shape {arr.shape}.{hint}"
        )
    if 0 in arr.shape:
        raise ValueError(
            f"{name}{where} is empty: shape {arr.shape}. Every axis needs at least one element."
        )
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        n_bad = int((~np.isfinite(arr)).sum())
        clips = np.unique(np.nonzero(~np.isfinite(arr))[0])[:5].tolist()
        raise ValueError(
            f"{name}{where} contains {n_bad} NaN/Inf value(s) (clips {clips}...). "
            "Check the audio for NaN samples; silent clips give -inf only without to_db clipping."
        )
    return arr


def _is_sequence_of_clips(X):
    if isinstance(X, np.ndarray):
        return X.dtype == object and X.ndim == 1
    return isinstance(X, (list, tuple))


def _check_ragged_frames(X, name, where):
    """Validate variable-length clips; a list of float32 2-D arrays back."""
    if len(X) == 0:
        raise ValueError(
            f"{name}{where} is empty: got 0 clips. Pass at least one "
            "(n_coeffs, n_frames) array."
        )
    clips = []
    for i, item in enumerate(X):
        arr = np.asarray(item)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(
                f"{name}{where}: clip {i} must be a numeric (n_coeffs, n_frames) "
                f"array; got dtype {arr.dtype}."
            )
        if np.iscomplexobj(arr):
            raise ValueError(f"{name}{where}: clip {i} holds complex numbers.")
        if arr.ndim != 2:
            raise ValueError(
                f"{name}{where}: every clip must be a 2-D (n_coeffs, n_frames) "
                f"array, but clip {i} has shape {arr.shape} (clip 0 has shape "
                f"{np.shape(X[0])}). Pass either one 3-D array or a list of 2-D "
                "arrays, not a mix."
            )
        if 0 in arr.shape:
            raise ValueError(
                f"{name}{where}: clip {i} is empty (shape {arr.shape}); every clip "
                "needs at least one coefficient and one frame."
            )
        if clips and arr.shape[0] != clips[0].shape[0]:
            raise ValueError(
                f"{name}{where}: clip {i} has {arr.shape[0]} coefficients per "
                f"frame but clip 0 has {clips[0].shape[0]}; all clips need the "
                "same feature settings."
            )
        arr = arr.astype(np.float32, copy=False)
        if not np.isfinite(arr).all():
            frames = np.unique(np.nonzero(~np.isfinite(arr))[1])[:5].tolist()
            raise ValueError(
                f"{name}{where}: clip {i} contains NaN/Inf values (frames "
                f"{frames}...). Check the audio of that clip for NaN samples."
            )
        clips.append(arr)
    if len({c.shape[1] for c in clips}) == 1:
        return np.stack(clips)
    return clips


def _positions(mask, limit=5):
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in idx[:limit])
    return f"[{shown}{', ...' if len(idx) > limit else ''}]"


def check_labels(y, *, name="y"):
    """Check that every clip has a label and that labels are of one kind.

    scikit-learn's own checks answer a missing label (``None``, NaN) with
    "Unknown label type" or a ``TypeError`` from sorting; this check names
    the problem and the positions.

    Parameters
    ----------
    y : array-like of shape (n_clips,)
        Labels (emotion names, integers, ...).
    name : str, default="y"
        How the labels are named in error messages.

    Returns
    -------
    y : ndarray of shape (n_clips,)
        The labels as an array (not copied when already one).

    Raises
    ------
    ValueError
        Some labels are missing (None, NaN, ``pd.NA``) or strings and
        numbers are mixed.

    Examples
    --------
    >>> from sersk.utils import check_labels
    >>> check_labels(["angry", "calm"]).tolist()
    ['angry', 'calm']
    >>> check_labels(["angry", None, "calm"])
    Traceback (most recent call last):
    ...
    ValueError: Input y contains NaN or None: 1 missing label(s) at position(s) [1]. ...
    """
    arr = np.asarray(y)
    if arr.dtype == object:
        import pandas as pd

        missing = np.asarray(pd.isna(arr), dtype=bool)
    elif arr.dtype.kind in "fc":
        missing = np.isnan(arr)
    else:
        return arr
    if missing.any():
        raise ValueError(
            # starts as scikit-learn's message for NaN in y (common checks)
            f"Input {name} contains NaN or None: {int(missing.sum())} missing "
            f"label(s) at position(s) {_positions(missing.ravel())}. Every clip "
            "needs a label: "
            "drop the unlabelled clips (and their features and speaker ids) or fill "
            "in their labels."
        )
    if arr.dtype == object:
        is_str = np.fromiter((isinstance(v, str) for v in arr.ravel()), bool, arr.size)
        if is_str.any() and not is_str.all():
            kinds = sorted({type(v).__name__ for v in arr.ravel()})
            raise ValueError(
                f"{name} mixes strings and other label types ({', '.join(kinds)}); "
                f"the first non-string is at position {int(np.argmin(is_str))}. "
                "Use one type for all labels, e.g. y = [str(label) for label in y]."
            )
    return arr
