"""Property tests: the feature transformers on arbitrary lengths, dtypes and amplitudes.

Hypothesis draws batches the way users produce them by accident (clips of any
length from 1 sample up, float16 to float64, integer PCM, near-silence and
full-scale noise, ragged lists) and checks the promises that hold for every
input: a float32 output of the documented shape, no NaN or Inf, batch results
equal to per-clip results within the documented tolerances, and a clear error
(never a crash of numpy or torch) for what is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sersk.exceptions import InvalidAudioError  # noqa: E402
from sersk.features import (  # noqa: E402
    MFCC,
    RMS,
    Chroma,
    ClassicFeatures,
    ClipStandardizer,
    MelSpectrogram,
    SpectralContrast,
    TimePooling,
    ZeroCrossingRate,
)

SR = 16000
SMALL = {"n_fft": 256, "hop_length": 64}
TRANSFORMERS = [
    MelSpectrogram(n_mels=16, **SMALL),
    MFCC(n_mfcc=8, n_mels=16, deltas=1, **SMALL),
    Chroma(**SMALL),
    SpectralContrast(n_fft=512, hop_length=128, n_bands=3),
    ZeroCrossingRate(frame_length=256, hop_length=64),
    RMS(frame_length=256, hop_length=64),
]
PROFILE = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def waveforms(draw, max_len=4000):
    """A batch of 1-4 clips: length, dtype and amplitude drawn independently."""
    n_clips = draw(st.integers(1, 4))
    lengths = [draw(st.integers(1, max_len)) for _ in range(n_clips)]
    amplitude = draw(st.sampled_from([0.0, 1e-6, 1e-3, 0.3, 1.0]))
    dtype = draw(st.sampled_from(["float16", "float32", "float64"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    clips = [(amplitude * rng.uniform(-1, 1, n)).astype(dtype) for n in lengths]
    return clips


def _frames(n, hop):
    return 1 + n // hop


@pytest.mark.parametrize("est", TRANSFORMERS, ids=lambda e: type(e).__name__)
@PROFILE
@given(clips=waveforms())
def test_any_clip_gives_finite_float32_frames(est, clips):
    out = est.fit_transform(clips)
    hop = est.hop_length
    assert len(out) == len(clips)
    for clip, frames in zip(clips, out, strict=True):
        frames = np.asarray(frames)
        assert frames.dtype == np.float32
        assert frames.shape[-1] == _frames(len(clip), hop)
        assert np.isfinite(frames).all()


@pytest.mark.parametrize(
    "est", TRANSFORMERS[:2] + TRANSFORMERS[4:], ids=lambda e: type(e).__name__
)
@PROFILE
@given(clips=waveforms(max_len=2000))
def test_a_batch_equals_its_clips_one_by_one(est, clips):
    batch = est.fit_transform(clips)
    for clip, frames in zip(clips, batch, strict=True):
        alone = est.transform([clip])[0]
        # other batch sizes may take other FFT/BLAS code paths: float32 rounding
        # in dB / MFCC units (2e-3 is the documented backend tolerance)
        np.testing.assert_allclose(frames, alone, rtol=1e-5, atol=2e-3)


@PROFILE
@given(
    bits=st.sampled_from([8, 16, 32]),
    n=st.integers(1, 3000),
    seed=st.integers(0, 2**16),
)
def test_integer_pcm_is_scaled_like_soundfile(bits, n, seed):
    rng = np.random.default_rng(seed)
    dtype = {8: np.int8, 16: np.int16, 32: np.int32}[bits]
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=n, endpoint=True).astype(dtype)
    scaled = x.astype(np.float64) / 2 ** (bits - 1)
    rms = RMS(frame_length=256, hop_length=64)
    np.testing.assert_allclose(
        rms.transform(x[None]), rms.transform(scaled[None]), rtol=1e-5, atol=1e-7
    )
    assert rms.transform(x[None]).max() <= 1.0 + 1e-6


@PROFILE
@given(
    clips=waveforms(max_len=3000),
    stats=st.sets(
        st.sampled_from(["mean", "std", "min", "max", "median", "skew", "kurtosis"]),
        min_size=1,
    ),
)
def test_classic_vector_is_finite_and_pools_like_time_pooling(clips, stats):
    stats = tuple(sorted(stats))
    vec = ClassicFeatures(
        features=("rms", "mfcc"),
        stats=stats,
        n_mfcc=8,
        n_mels=16,
        device="cpu",
        **SMALL,
    ).fit_transform(clips)
    assert vec.shape == (len(clips), (1 + 8) * len(stats))
    assert np.isfinite(vec).all()
    frames = RMS(frame_length=256, hop_length=64).fit_transform(clips)
    pooled = TimePooling(stats=stats).fit_transform(frames)
    np.testing.assert_allclose(vec[:, : len(stats)], pooled, rtol=1e-4, atol=1e-6)


@PROFILE
@given(
    n_clips=st.integers(1, 4),
    n_coeffs=st.integers(1, 6),
    n_frames=st.integers(1, 30),
    scale=st.sampled_from([0.0, 1e-8, 1.0, 1e4]),
    seed=st.integers(0, 2**16),
)
def test_pooling_and_standardising_never_give_nan(
    n_clips, n_coeffs, n_frames, scale, seed
):
    F = scale * np.random.default_rng(seed).normal(size=(n_clips, n_coeffs, n_frames))
    F = F.astype(np.float32)
    stats = ("mean", "std", "min", "max", "median", "skew", "kurtosis")
    assert np.isfinite(TimePooling(stats=stats).fit_transform(F)).all()
    Z = ClipStandardizer().fit_transform(F)
    assert np.isfinite(Z).all() and np.abs(Z).max() <= 5.0


@pytest.mark.parametrize("est", TRANSFORMERS, ids=lambda e: type(e).__name__)
@PROFILE
@given(
    bad=st.sampled_from(["nan", "inf", "empty", "int64", "3d", "complex"]),
    n=st.integers(1, 500),
)
def test_refused_input_gets_a_clear_error(est, bad, n):
    x = np.zeros((2, n), dtype=np.float32)
    if bad == "nan":
        x[1, n // 2] = np.nan
        error, match = InvalidAudioError, "NaN/Inf value"
    elif bad == "inf":
        x[0, 0] = np.inf
        error, match = InvalidAudioError, "NaN/Inf value"
    elif bad == "empty":
        x = np.zeros((2, 0), dtype=np.float32)
        error, match = ValueError, "0 feature"
    elif bad == "int64":
        x = x.astype(np.int64)
        error, match = InvalidAudioError, "not a PCM sample format"
    elif bad == "3d":
        x = x[:, None, :]
        error, match = ValueError, "expects 2-D waveforms"
    else:
        x = x.astype(np.complex64)
        error, match = ValueError, "Complex data not supported"
    with pytest.raises(error, match=match):
        est.fit_transform(x)
