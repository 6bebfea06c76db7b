"""OpenSmile: the openSMILE feature sets (eGeMAPS, ComParE, ...) as a transformer.

A thin adapter over audEERING's ``opensmile`` Python package, an optional
dependency (``pip install "sersk[opensmile]"``) imported only when the
transformer computes or names its features: ``import sersk.features`` never
imports it. openSMILE is **not** under sersk's BSD licence: its research
licence allows non-commercial use (research, education, personal
experimentation) only; commercial products need a licence from audEERING.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ..utils._sklearn_compat import Integral, Interval, StrOptions
from ._base import _StatelessTransformer, check_waveforms, ragged_array
from ._compute import _Computed

__all__ = ["OpenSmile"]

#: The standard feature sets of ``opensmile.FeatureSet`` that the package
#: does not deprecate (eGeMAPSv01a/b and GeMAPSv01a warn and are left out)
FEATURE_SETS = ("eGeMAPSv02", "GeMAPSv01b", "ComParE_2016", "emobase")
_LEVELS = {"functionals": "Functionals", "lld": "LowLevelDescriptors"}
#: openSMILE returns nothing for clips shorter than its longest window (60 ms
#: in eGeMAPS and ComParE): shorter clips are zero-padded to this duration
MIN_SECONDS = 0.1

_INSTALL = 'pip install "sersk[opensmile]"'


def _import_opensmile():
    try:
        import opensmile
    except ImportError as exc:
        raise ImportError(
            "OpenSmile needs the 'opensmile' package (audEERING's openSMILE, free "
            "for research and education only), which is not installed. Install it "
            f"with: {_INSTALL}"
        ) from exc
    return opensmile


@functools.lru_cache(maxsize=8)
def _smile(feature_set, level):
    """One ``opensmile.Smile`` per feature set and level (reading its config is slow)."""
    opensmile = _import_opensmile()
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set],
        feature_level=opensmile.FeatureLevel[_LEVELS[level]],
    )


class OpenSmile(_Computed, _StatelessTransformer):
    """openSMILE features (eGeMAPS, ComParE, ...) through the ``opensmile`` package.

    **Licence: openSMILE is not part of sersk and not BSD-licensed.**
    audEERING's openSMILE (and its ``opensmile`` Python package) is free for
    research, teaching and personal, non-commercial use; using it in or for
    commercial products needs a commercial licence from audEERING GmbH. Read
    the licence shipped with the package before you use it. Install it with
    ``pip install "sersk[opensmile]"``; without it, constructing an
    ``OpenSmile`` works and ``fit``/``transform`` raise an ``ImportError``
    that says how to install it.

    Parameters
    ----------
    feature_set : {"eGeMAPSv02", "GeMAPSv01b", "ComParE_2016", "emobase"}, \
default="eGeMAPSv02"
        The openSMILE standard feature set (``opensmile.FeatureSet``; the
        versions the package deprecates are left out): eGeMAPSv02 has 88
        functionals of 25 low-level descriptors (LLDs), GeMAPSv01b 62 of 18,
        ComParE_2016 6373 of 65, emobase 988 of 26.
    feature_level : {"functionals", "lld"}, default="functionals"
        ``"functionals"``: one vector per clip, shape ``(n_clips,
        n_features)``. ``"lld"``: the frame-level low-level descriptors,
        shape ``(n_clips, n_lld, n_frames)``, for :class:`TimePooling` or the
        deep classifiers.
    sr : int, default=16000
        Sampling rate of the waveforms, passed to openSMILE; file paths are
        read and resampled to it.

    See Also
    --------
    Prosody : sersk's own (BSD) F0, voicing, jitter, shimmer, HNR and loudness.
    TimePooling : Pool frame-level features (e.g. the LLDs) over time.

    Notes
    -----
    Input: file paths, a 2-D array of waveforms, a list or object array of
    waveforms of different lengths, or the lazy output of
    ``AudioLoader(lazy=True)``, as for the other feature transformers. Each
    clip is processed on its own by openSMILE (16-bit, as the ``opensmile``
    package does; samples beyond [-1, 1] are clipped rather than wrapped
    around), so values equal ``opensmile.Smile(...)(y[np.newaxis], sr)`` for
    in-range waveforms.

    The LLDs come at openSMILE's own frame rate (10 ms for eGeMAPS and
    ComParE), not at sersk's ``hop_length``; their number of frames depends
    on the clip's length, so clips of different lengths give a 1-D object
    array of ``(n_lld, n_frames_i)`` arrays (functionals are always 2-D).
    openSMILE produces nothing for clips shorter than its longest window
    (60 ms): such clips are zero-padded at the end to 0.1 s, as the other
    transformers zero-pad clips shorter than a frame. openSMILE writes NaN
    nowhere else; a NaN output raises a ``ValueError``.

    Every clip is one call of the native openSMILE engine; the output is
    float32.

    References
    ----------
    F. Eyben et al., "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS)
    for voice research and affective computing", IEEE Trans. Affective
    Computing 7(2), 2016. openSMILE: https://github.com/audeering/opensmile

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.features import OpenSmile
    >>> t = np.arange(16000) / 16000
    >>> X = 0.1 * np.sin(2 * np.pi * 150 * t)[np.newaxis]
    >>> est = OpenSmile()  # works without the package; fit/transform need it
    >>> est.get_params()["feature_set"]
    'eGeMAPSv02'
    >>> F = est.fit_transform(X)  # doctest: +SKIP
    >>> F.shape, est.get_feature_names_out()[0]  # doctest: +SKIP
    ((1, 88), 'F0semitoneFrom27.5Hz_sma3nz_amean')
    """

    _parameter_constraints: dict = {
        "feature_set": [StrOptions(set(FEATURE_SETS))],
        "feature_level": [StrOptions(set(_LEVELS))],
        "sr": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, feature_set="eGeMAPSv02", feature_level="functionals", sr=16000):
        self.feature_set = feature_set
        self.feature_level = feature_level
        self.sr = sr

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    def _check_params(self):
        _import_opensmile()

    def _smile(self):
        return _smile(self.feature_set, self.feature_level)

    def _one(self, smile, y, index):
        n_min = int(round(MIN_SECONDS * self.sr))
        if y.shape[0] < n_min:
            y = np.pad(y, (0, n_min - y.shape[0]))
        # the opensmile package scales by 32768 and casts to int16: clip first
        # so that samples at or beyond full scale do not wrap around
        y = np.clip(y, -1.0, 32767 / 32768)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Segment too short")
            out = smile(y[np.newaxis], self.sr)[0]
        if not np.isfinite(out).all():
            raise ValueError(
                f"OpenSmile: openSMILE ({self.feature_set}, {self.feature_level}) gave "
                f"NaN/Inf for clip {index} ({y.shape[0]} samples at sr={self.sr}). "
                "Check that the clip holds audio at this sampling rate, or drop it."
            )
        if self.feature_level == "functionals":
            out = out[:, 0]
        return out.astype(np.float32)

    def _clips(self, batch):
        """The clips of a validated batch, one 1-D float32 array at a time."""
        if batch.lazy is not None:
            for _, chunk in batch.lazy.iter_chunks():
                yield from check_waveforms(chunk, estimator_name="OpenSmile").fixed
        elif batch.ragged is not None:
            yield from batch.ragged
        else:
            yield from batch.fixed

    def _transform_batch(self, batch):
        smile = self._smile()
        outs = [self._one(smile, y, i) for i, y in enumerate(self._clips(batch))]
        if self.feature_level == "functionals" or (
            batch.ragged is None and len({o.shape for o in outs}) == 1
        ):
            return np.stack(outs)
        return ragged_array(outs)

    def get_feature_names_out(self, input_features=None):
        """Names of openSMILE's features (functionals or LLDs).

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (the input is waveforms).

        Returns
        -------
        feature_names_out : ndarray of str objects
            openSMILE's names, e.g. ``F0semitoneFrom27.5Hz_sma3nz_amean`` for
            the functionals or ``Loudness_sma3`` for the LLDs (axis 1 of the
            output).
        """
        self._validate_params()
        return np.asarray(self._smile().feature_names, dtype=object)
