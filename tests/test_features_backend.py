"""Parity of the torch feature backend with librosa (real RAVDESS clips and edge cases)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import librosa
import numpy as np
import pytest

from sersk.exceptions import InvalidAudioError
from sersk.features import _torch_backend as tb
from sersk.io import load_audio

SR = 16000
# Documented tolerances (see the module docstring of sersk.features._torch_backend)
TOL_DB = 2e-3  # log-mel, dB
TOL_MFCC = 2e-3
TOL_CHROMA = 1e-4
TOL_CONTRAST = 5e-2  # dB; valleys are the smallest magnitudes, float32 FFT rounding
TOL_RMS = 1e-6


def _lr(func, *args, **kwargs):
    """Call librosa hiding its warnings for tiny/silent clips (tested separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _ref_logmel(y, **kw):
    return _lr(
        librosa.power_to_db, _lr(librosa.feature.melspectrogram, y=y, sr=SR, **kw)
    )


@pytest.fixture(scope="module")
def ravdess_clips(ravdess_root):
    files = sorted(ravdess_root.glob("Actor_*/*.wav"))[::241][:6]
    assert len(files) == 6
    X = [librosa.util.fix_length(load_audio(f, sr=SR)[0], size=3 * SR) for f in files]
    return np.stack(X).astype(np.float32)


def _assert_all_features_match(X, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=40):
    kw = dict(n_fft=n_fft, hop_length=hop_length)
    logmel = tb.melspectrogram(X, SR, n_mels=n_mels, to_db=True, device="cpu", **kw)
    mf = tb.mfcc(X, SR, n_mfcc=n_mfcc, n_mels=n_mels, device="cpu", **kw)
    ch = tb.chroma_stft(X, SR, device="cpu", **kw)
    co = tb.spectral_contrast(X, SR, device="cpu", **kw)
    zc = tb.zero_crossing_rate(
        X, frame_length=n_fft, hop_length=hop_length, device="cpu"
    )
    rm = tb.rms(X, frame_length=n_fft, hop_length=hop_length, device="cpu")
    P = tb.stft_power(X, device="cpu", **kw)
    for i, y in enumerate(X):
        ref_P = np.abs(_lr(librosa.stft, y, **kw)) ** 2
        assert P[i].shape == ref_P.shape
        assert np.abs(P[i] - ref_P).max() <= 1e-4 * max(ref_P.max(), 1e-10)
        ref = _ref_logmel(y, n_mels=n_mels, **kw)
        assert logmel[i].shape == ref.shape
        assert np.abs(logmel[i] - ref).max() <= TOL_DB
        ref = _lr(librosa.feature.mfcc, y=y, sr=SR, n_mfcc=n_mfcc, n_mels=n_mels, **kw)
        assert np.abs(mf[i] - ref).max() <= TOL_MFCC
        ref = _lr(librosa.feature.chroma_stft, y=y, sr=SR, **kw)
        assert np.abs(ch[i] - ref).max() <= TOL_CHROMA
        ref = _lr(librosa.feature.spectral_contrast, y=y, sr=SR, **kw)
        assert np.abs(co[i] - ref).max() <= TOL_CONTRAST
        ref = librosa.feature.zero_crossing_rate(
            y, frame_length=n_fft, hop_length=hop_length
        )
        np.testing.assert_array_equal(zc[i], ref)
        ref = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length)
        assert np.abs(rm[i] - ref).max() <= TOL_RMS
    for out in (logmel, mf, ch, co, zc, rm, P):
        assert out.dtype == np.float32


def test_parity_on_real_ravdess_clips(ravdess_clips):
    _assert_all_features_match(ravdess_clips)


def test_logmel_and_mfcc_parity_on_ravdess_at_other_settings(ravdess_clips):
    X = ravdess_clips[:3]
    S = tb.melspectrogram(
        X,
        SR,
        n_fft=512,
        hop_length=160,
        n_mels=64,
        fmin=50.0,
        fmax=7000.0,
        to_db=True,
        ref="max",
        device="cpu",
    )
    for i, y in enumerate(X):
        mel = librosa.feature.melspectrogram(
            y=y, sr=SR, n_fft=512, hop_length=160, n_mels=64, fmin=50.0, fmax=7000.0
        )
        ref = librosa.power_to_db(mel, ref=np.max)
        assert np.abs(S[i] - ref).max() <= TOL_DB


@pytest.mark.parametrize(
    "case",
    [
        "silence",
        "short_100",
        "odd_length",
        "nfft_gt_length",
        "chirp_noise",
        "dc_offset",
    ],
)
def test_parity_on_synthetic_edge_cases(case):
    rng = np.random.default_rng(0)
    t = np.arange(7919) / SR
    chirp = np.sin(2 * np.pi * (200 + 1500 * t) * t)
    X = {
        "silence": np.zeros((2, 4000)),
        "short_100": 0.3 * rng.normal(size=(2, 100)),
        "odd_length": 0.3 * rng.normal(size=(2, 12345)),
        "nfft_gt_length": 0.5 * np.sin(np.arange(1500) / 3.0)[None].repeat(2, 0),
        # a noise floor keeps the contrast valleys above float32 FFT rounding noise
        # (for a pure tone both libraries would compare rounding noise there)
        "chirp_noise": np.stack([chirp, chirp])
        + [[1e-3], [0.05]] * rng.normal(size=(2, t.size)),
        "dc_offset": 0.2 + 0.01 * rng.normal(size=(2, 5000)),
    }[case].astype(np.float32)
    _assert_all_features_match(X, n_mfcc=20)


def test_power_to_db_is_per_clip_not_per_batch():
    rng = np.random.default_rng(1)
    loud = rng.normal(size=8000).astype(np.float32)
    X = np.stack([loud, 1e-4 * loud]).astype(np.float32)
    for ref in (1.0, "max", np.max):
        S = tb.melspectrogram(X, SR, n_mels=40, to_db=True, ref=ref, device="cpu")
        for i, y in enumerate(X):
            mel = librosa.feature.melspectrogram(y=y, sr=SR, n_mels=40)
            expected = librosa.power_to_db(mel, ref=np.max if ref != 1.0 else 1.0)
            assert np.abs(S[i] - expected).max() <= TOL_DB
    # librosa on the whole batch would floor the quiet clip at the loud clip's max - 80 dB
    S = tb.melspectrogram(X, SR, n_mels=40, to_db=True, device="cpu")
    assert S[1].min() > S[0].max() - 80.0 - 80.0 + 1.0
    assert S[1].max() - S[1].min() <= 80.0 + 1e-4


def test_power_to_db_function_matches_librosa_with_other_parameters():
    P = tb.stft_power(np.random.default_rng(2).normal(size=(3, 6000)), device="cpu")
    for kw in ({"amin": 1e-5, "top_db": None}, {"ref": 2.0, "top_db": 40.0}):
        out = tb.power_to_db(P, device="cpu", **kw)
        for i in range(3):
            assert np.abs(out[i] - librosa.power_to_db(P[i], **kw)).max() <= TOL_DB
    callable_ref = tb.power_to_db(P, ref=np.median, device="cpu")
    assert (
        np.abs(callable_ref[2] - librosa.power_to_db(P[2], ref=np.median)).max()
        <= TOL_DB
    )


def test_chroma_with_fixed_tuning_and_estimated_tuning_per_clip():
    tone = lambda f: np.sin(2 * np.pi * f * np.arange(SR) / SR)  # noqa: E731
    # 440 Hz is in tune, 452 Hz is about +0.47 semitone off
    X = np.stack([tone(440.0), tone(452.0)]).astype(np.float32)
    P = tb.stft_power(X, device="cpu")
    tunings = tb.estimate_tuning(P, SR)
    for i, y in enumerate(X):
        # chroma_stft estimates the tuning on the *power* spectrogram
        S = np.abs(librosa.stft(y)) ** 2
        assert tunings[i] == librosa.estimate_tuning(S=S, sr=SR)
    assert tunings[0] != tunings[1]
    C = tb.chroma_stft(X, SR, tuning=0.0, device="cpu")
    for i, y in enumerate(X):
        ref = librosa.feature.chroma_stft(y=y, sr=SR, tuning=0.0)
        assert np.abs(C[i] - ref).max() <= TOL_CHROMA


def test_chunking_does_not_change_results():
    X = np.random.default_rng(3).normal(size=(5, 7000)).astype(np.float32)
    a = tb.mfcc(X, SR, n_mfcc=20, device="cpu", chunk_size=2)
    b = tb.mfcc(X, SR, n_mfcc=20, device="cpu", chunk_size=None)
    np.testing.assert_allclose(a, b, atol=1e-4)
    c = tb.chroma_stft(X, SR, device="cpu", chunk_size=1)
    d = tb.chroma_stft(X, SR, device="cpu", chunk_size=5)
    np.testing.assert_allclose(c, d, atol=1e-6)


def test_filter_banks_are_cached_and_read_only():
    a = tb.mel_filterbank(SR, 2048, 128)
    assert a is tb.mel_filterbank(SR, 2048, 128)
    assert not a.flags.writeable
    np.testing.assert_array_equal(a, librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128))
    c = tb.chroma_filterbank(SR, 2048, 12, 0.25)
    assert c is tb.chroma_filterbank(SR, 2048, 12, 0.25)
    np.testing.assert_array_equal(
        c, librosa.filters.chroma(sr=SR, n_fft=2048, n_chroma=12, tuning=0.25)
    )


def test_one_dimensional_input_is_one_clip():
    y = np.random.default_rng(4).normal(size=4000).astype(np.float32)
    S = tb.melspectrogram(y, SR, n_mels=32, device="cpu")
    assert S.shape == (1, 32, 8)


def test_importing_the_backend_does_not_import_torch():
    code = (
        "import sys, sersk.features._torch_backend, sersk.features._engine; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (
            np.array([[0.0, np.nan, 1.0], [0.0, 0.0, 0.0]]),
            InvalidAudioError,
            r"1 NaN/Inf sample\(s\) \(clips \[0\]\)",
        ),
        (
            np.zeros((2, 3, 4)),
            InvalidAudioError,
            r"shape \(n_clips, n_samples\); got .*\(2, 3, 4\)",
        ),
        (np.zeros((2, 0)), InvalidAudioError, r"is empty: shape \(2, 0\)"),
        (np.array([["a", "b"]]), TypeError, r"numeric array of waveforms"),
        (np.zeros((1, 8), dtype=complex), TypeError, r"real-valued"),
    ],
)
def test_bad_waveforms_raise_clear_errors(X, error, match):
    with pytest.raises(error, match=match):
        tb.melspectrogram(X, SR, device="cpu")


@pytest.mark.parametrize(
    ("func", "kwargs", "error", "match"),
    [
        (tb.melspectrogram, {"n_mels": 0}, ValueError, "n_mels must be >= 1; got 0"),
        (tb.melspectrogram, {"n_fft": 2.5}, TypeError, "n_fft must be an int; got 2.5"),
        (
            tb.melspectrogram,
            {"to_db": True, "amin": 0.0},
            ValueError,
            "amin must be strictly positive",
        ),
        (
            tb.melspectrogram,
            {"to_db": True, "top_db": -1.0},
            ValueError,
            "top_db must be non-negative",
        ),
        (
            tb.mfcc,
            {"n_mfcc": 50, "n_mels": 40},
            ValueError,
            "n_mfcc=50 must not exceed n_mels=40",
        ),
        (tb.mfcc, {"lifter": -1}, ValueError, "lifter must be a non-negative number"),
        (
            tb.chroma_stft,
            {"tuning": 0.7},
            ValueError,
            r"tuning must be None .* \[-0.5, 0.5\); got 0.7",
        ),
        (
            tb.chroma_stft,
            {"norm": -2},
            ValueError,
            "norm must be None, np.inf or a positive number",
        ),
        (
            tb.spectral_contrast,
            {"fmin": 2000.0},
            ValueError,
            "Frequency band exceeds Nyquist",
        ),
        (
            tb.spectral_contrast,
            {"quantile": 1.5},
            ValueError,
            r"quantile must lie in the range \(0, 1\)",
        ),
        (
            tb.melspectrogram,
            {"chunk_size": 0},
            ValueError,
            "chunk_size must be >= 1; got 0",
        ),
    ],
)
def test_bad_parameters_raise_clear_errors(func, kwargs, error, match):
    X = np.zeros((1, 4000), dtype=np.float32)
    with pytest.raises(error, match=match):
        func(X, SR, device="cpu", **kwargs)


def test_cuda_request_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(
        ValueError, match=r"device='cuda' was requested but .*device='cpu'"
    ):
        tb.melspectrogram(np.zeros((1, 4000)), SR, device="cuda")
    assert tb.resolve_device("auto") == "cpu"


@pytest.mark.gpu
def test_cuda_matches_cpu():
    X = np.random.default_rng(5).normal(size=(4, 16000)).astype(np.float32)
    for func in (tb.mfcc, tb.chroma_stft, tb.spectral_contrast):
        np.testing.assert_allclose(
            func(X, SR, device="cuda"), func(X, SR, device="cpu"), atol=5e-3
        )
    a = tb.melspectrogram(X, SR, to_db=True, device="cuda")
    b = tb.melspectrogram(X, SR, to_db=True, device="cpu")
    assert np.abs(a - b).max() <= TOL_DB
