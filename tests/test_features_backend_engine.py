"""The shared-STFT engine equals the per-feature librosa reference."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import scipy.stats

from sersk.features import _engine as eng
from sersk.io import load_audio

SR = 16000


def _librosa_reference(y, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=40):
    """The seed recipe: one librosa call per feature (each recomputes the STFT)."""
    kw = dict(n_fft=n_fft, hop_length=hop_length)
    return {
        "mfcc": librosa.feature.mfcc(y=y, sr=SR, n_mfcc=n_mfcc, n_mels=n_mels, **kw),
        "chroma": librosa.feature.chroma_stft(y=y, sr=SR, **kw),
        "mel": librosa.power_to_db(
            librosa.feature.melspectrogram(y=y, sr=SR, n_mels=n_mels, **kw)
        ),
        "contrast": librosa.feature.spectral_contrast(y=y, sr=SR, **kw),
        "zcr": librosa.feature.zero_crossing_rate(
            y, frame_length=n_fft, hop_length=hop_length
        ),
        "rms": librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length),
    }


TOL = {
    "mfcc": 2e-3,
    "chroma": 1e-4,
    "mel": 2e-3,
    "contrast": 5e-2,
    "zcr": 0.0,
    "rms": 1e-6,
}


def _noisy_tones(n_clips, n_samples, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / SR
    f0 = rng.uniform(120, 300, size=(n_clips, 1))
    X = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.2 * X + 0.02 * rng.normal(size=X.shape)).astype(np.float32)


def test_engine_equals_per_feature_librosa_on_ravdess(ravdess_root):
    files = sorted(ravdess_root.glob("Actor_*/*.wav"))[5::300][:4]
    X = np.stack(
        [librosa.util.fix_length(load_audio(f, sr=SR)[0], size=3 * SR) for f in files]
    )
    F = eng.compute_features(X, SR, device="cpu")
    assert list(F) == list(eng.FEATURES)
    pooled = eng.compute_features(X, SR, device="cpu", stats=("mean", "std"))
    for i, y in enumerate(X):
        for name, ref in _librosa_reference(y).items():
            assert F[name][i].shape == ref.shape
            assert np.abs(F[name][i] - ref).max() <= TOL[name], name
            ref_pooled = np.concatenate([ref.mean(-1), ref.std(-1)])
            # pooled statistics inherit the frame tolerance
            np.testing.assert_allclose(
                pooled[name][i], ref_pooled, atol=TOL[name] + 1e-5
            )


def test_engine_on_synthetic_clips_subset_order_and_power_mel():
    X = _noisy_tones(3, 9000)
    F = eng.compute_features(
        X, SR, features=("rms", "mel"), mel_to_db=False, n_mels=40, device="cpu"
    )
    assert list(F) == ["rms", "mel"]
    for i, y in enumerate(X):
        ref = librosa.feature.melspectrogram(y=y, sr=SR, n_mels=40)
        np.testing.assert_allclose(F["mel"][i], ref, rtol=1e-4, atol=1e-4 * ref.max())
    assert F["mel"].dtype == np.float32


def test_engine_with_small_fft_and_fixed_tuning():
    X = _noisy_tones(2, 6000, seed=1)
    F = eng.compute_features(
        X, SR, n_fft=512, hop_length=160, n_mels=40, n_mfcc=13, tuning=0.0, device="cpu"
    )
    for i, y in enumerate(X):
        ref = librosa.feature.chroma_stft(
            y=y, sr=SR, n_fft=512, hop_length=160, tuning=0.0
        )
        assert np.abs(F["chroma"][i] - ref).max() <= TOL["chroma"]
        ref = librosa.feature.zero_crossing_rate(y, frame_length=512, hop_length=160)
        np.testing.assert_array_equal(F["zcr"][i], ref)
        ref = librosa.feature.mfcc(
            y=y, sr=SR, n_fft=512, hop_length=160, n_mels=40, n_mfcc=13
        )
        assert np.abs(F["mfcc"][i] - ref).max() <= TOL["mfcc"]


def test_variable_length_clips_give_object_arrays_and_pooled_rows():
    X = _noisy_tones(3, 9000, seed=2)
    clips = np.empty(3, dtype=object)
    clips[:] = [X[0, :5000], X[1], X[2, :5000]]
    F = eng.compute_features(
        clips, SR, features=("mfcc", "zcr"), n_mfcc=20, device="cpu"
    )
    assert F["mfcc"].dtype == object and F["mfcc"].shape == (3,)
    assert F["mfcc"][0].shape == (20, 10) and F["mfcc"][1].shape == (20, 18)
    for i, y in enumerate(clips):
        ref = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20)
        assert np.abs(F["mfcc"][i] - ref).max() <= TOL["mfcc"]
    pooled = eng.compute_features(
        clips, SR, features=("zcr",), stats=("mean",), device="cpu"
    )
    assert pooled["zcr"].shape == (3, 1)
    np.testing.assert_allclose(pooled["zcr"][1, 0], F["zcr"][1].mean(), atol=1e-7)


@pytest.mark.slow  # starting two loky workers (each importing torch) takes seconds
def test_n_jobs_gives_the_same_result():
    X = _noisy_tones(4, 6000, seed=3)
    kw = dict(features=("mfcc", "chroma", "zcr"), n_mfcc=13, n_mels=40, device="cpu")
    a = eng.compute_features(X, SR, n_jobs=2, stats=("mean", "std"), **kw)
    b = eng.compute_features(X, SR, n_jobs=None, stats=("mean", "std"), **kw)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)
    clips = np.empty(3, dtype=object)
    clips[:] = [X[0, :5000], X[1], X[2, :4000]]
    c = eng.compute_features(clips, SR, n_jobs=2, **kw)
    d = eng.compute_features(clips, SR, **kw)
    for name in c:
        for i in range(3):
            np.testing.assert_allclose(c[name][i], d[name][i], atol=1e-5)


def test_worker_block_limits_and_restores_blas_threads():
    from threadpoolctl import threadpool_info

    before = [p["num_threads"] for p in threadpool_info()]
    X = _noisy_tones(2, 4000, seed=4)
    p = eng._params({})
    out = eng._compute_block(X, SR, ("rms",), None, "cpu", None, p, True)
    assert out["rms"].shape == (2, 1, 8)
    assert [p["num_threads"] for p in threadpool_info()] == before


def test_pool_frames_matches_numpy_and_scipy():
    F = np.random.default_rng(5).normal(size=(3, 4, 11)).astype(np.float32)
    F[1, 2] = 7.0  # a constant row: skew/kurtosis must be 0, not NaN
    out = eng.pool_frames(F, eng.STATS)
    F64 = F.astype(np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy: constant row
        skew = np.nan_to_num(scipy.stats.skew(F64, axis=-1))
        kurt = np.nan_to_num(scipy.stats.kurtosis(F64, axis=-1))
    expected = np.concatenate(
        [F.mean(-1), F.std(-1), F.min(-1), F.max(-1), np.median(F, -1), skew, kurt],
        axis=1,
    )
    assert out.shape == (3, 4 * 7) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert out[1, 5 * 4 + 2] == 0.0 and out[1, 6 * 4 + 2] == 0.0
    # even number of frames: the median averages the two middle values
    np.testing.assert_allclose(
        eng.pool_frames(F[..., :10], ("median",)), np.median(F[..., :10], -1), atol=1e-6
    )


def test_extract_from_files_streams_and_equals_compute_features(write_wav):
    X = _noisy_tones(5, 8000, seed=6)
    paths = [write_wav(f"c{i}.wav", y=X[i], subtype="FLOAT") for i in range(5)]
    paths.append(write_wav("short.wav", y=X[0, :4000], subtype="FLOAT"))
    got = eng.extract_from_files(
        paths,
        SR,
        duration=0.5,
        features=("mel", "rms"),
        chunk_size=2,
        n_mels=32,
        device="cpu",
    )
    Xp = np.concatenate([X, np.pad(X[:1, :4000], ((0, 0), (0, 4000)))])
    ref = eng.compute_features(Xp, SR, features=("mel", "rms"), n_mels=32, device="cpu")
    for name in ("mel", "rms"):
        assert got[name].shape == ref[name].shape == (6,) + ref[name].shape[1:]
        np.testing.assert_allclose(got[name], ref[name], atol=1e-4)
    with pytest.raises(
        ValueError, match=r"short.wav has 4000 samples but earlier files have 8000"
    ):
        eng.extract_from_files(paths, SR, chunk_size=2, device="cpu")
    with pytest.raises(ValueError, match="paths is empty"):
        eng.extract_from_files([], SR)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"features": ("mfcc", "tonnetz")},
            ValueError,
            r"Unknown feature\(s\) \['tonnetz'\]",
        ),
        ({"features": ()}, ValueError, "features must name at least one"),
        ({"features": ("rms", "rms")}, ValueError, "features contains duplicates"),
        ({"stats": ("mean", "mode")}, ValueError, "stats must be a non-empty tuple of"),
        ({"n_mfc": 13}, TypeError, r"unknown parameter\(s\) \['n_mfc'\]"),
        ({"n_mfcc": 200}, ValueError, "n_mfcc=200 must not exceed n_mels=128"),
        ({"tuning": 1.0}, ValueError, "tuning must be None"),
        ({"n_bands": 0}, ValueError, "n_bands must be >= 1; got 0"),
    ],
)
def test_bad_engine_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        eng.compute_features(
            np.zeros((1, 4000), np.float32), SR, device="cpu", **kwargs
        )


def test_bad_sampling_rate():
    with pytest.raises(ValueError, match="sr must be a positive number; got 0"):
        eng.compute_features(np.zeros((1, 4000), np.float32), 0)


def test_engine_reproduces_the_classic_feature_preset():
    """The engine is a drop-in for make_classic_features (same columns, same values)."""
    from sersk.features import make_classic_features

    X = _noisy_tones(3, 8000, seed=7)
    order = ("zcr", "rms", "mfcc", "chroma", "mel", "contrast")
    stats = ("mean", "std", "skew")
    union = make_classic_features(n_mfcc=13, n_mels=40, stats=stats)
    ref = union.fit_transform(X)
    # Chroma's default is tuning=0.0 (librosa's chroma_stft estimates it)
    F = eng.compute_features(
        X,
        SR,
        features=order,
        stats=stats,
        n_mfcc=13,
        n_mels=40,
        tuning=0.0,
        device="cpu",
    )
    got = np.concatenate([F[f] for f in order], axis=1)
    assert got.shape == ref.shape
    start = 0
    for f, width in eng.feature_sizes(order, n_mfcc=13, n_mels=40).items():
        cols = slice(start, start + width * len(stats))
        # skewness of near-constant rows amplifies float32 rounding: looser there
        np.testing.assert_allclose(
            got[:, cols], ref[:, cols], atol=TOL[f] + 2e-3, err_msg=f
        )
        start += width * len(stats)
