"""Frame-level transformers: parity with per-clip librosa calls, shapes, bad input."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sersk.exceptions import InvalidAudioError
from sersk.features import (
    MFCC,
    RMS,
    AudioLoader,
    Chroma,
    ClassicFeatures,
    MelSpectrogram,
    SpectralContrast,
    ZeroCrossingRate,
    _compute,
    _kernels,
)

SR = 16000


@pytest.fixture(scope="module")
def batch():
    """Five 0.75 s clips: harmonic tones at very different levels, noise, a chirp."""
    rng = np.random.default_rng(0)
    t = np.arange(12000) / SR
    clips = [
        0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 660 * t),
        1e-3 * np.sin(2 * np.pi * 150 * t),  # quiet: per-clip dB matters
        0.05 * rng.normal(size=t.size),
        0.2 * np.sin(2 * np.pi * (100 + 2000 * t) * t),
        0.3 * np.sign(np.sin(2 * np.pi * 97 * t)) * np.exp(-3 * t),
    ]
    return np.stack(clips).astype(np.float32)


def _per_clip(fn, X):
    return np.stack([fn(y) for y in X])


def _mfcc_ref(y, n_mfcc=40, deltas=0, **kw):
    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=n_mfcc, **kw)
    parts = [m] + [librosa.feature.delta(m, order=o) for o in range(1, deltas + 1)]
    return np.concatenate(parts)


# (transformer, per-clip librosa reference, absolute tolerance)
CASES = {
    "logmel": (
        MelSpectrogram(),
        lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR)),
        1e-3,
    ),
    "logmel_refmax_40": (
        MelSpectrogram(n_mels=40, ref="max", top_db=60.0, fmin=50.0, fmax=7000.0),
        lambda y: librosa.power_to_db(
            librosa.feature.melspectrogram(
                y=y, sr=SR, n_mels=40, fmin=50.0, fmax=7000.0
            ),
            ref=np.max,
            top_db=60.0,
        ),
        1e-3,
    ),
    "mel_amplitude_db": (
        MelSpectrogram(power=1.0),
        lambda y: librosa.amplitude_to_db(
            librosa.feature.melspectrogram(y=y, sr=SR, power=1.0)
        ),
        1e-3,
    ),
    "mel_power_linear": (
        MelSpectrogram(to_db=False, n_fft=1024, hop_length=256),
        lambda y: librosa.feature.melspectrogram(
            y=y, sr=SR, n_fft=1024, hop_length=256
        ),
        None,  # relative tolerance below
    ),
    "mel_odd_window": (
        MelSpectrogram(n_fft=301, hop_length=77, n_mels=20),
        lambda y: librosa.power_to_db(
            librosa.feature.melspectrogram(
                y=y, sr=SR, n_fft=301, hop_length=77, n_mels=20
            )
        ),
        1e-3,
    ),
    "mfcc40": (MFCC(), lambda y: _mfcc_ref(y), 2e-3),
    "mfcc13_deltas2_lifter": (
        MFCC(n_mfcc=13, deltas=2, lifter=22.0, n_mels=64),
        lambda y: _mfcc_ref(y, n_mfcc=13, deltas=2, lifter=22.0, n_mels=64),
        2e-3,
    ),
    "chroma": (
        Chroma(),
        lambda y: librosa.feature.chroma_stft(y=y, sr=SR, tuning=0.0),
        1e-5,
    ),
    "chroma_estimated_tuning": (
        Chroma(tuning=None, n_chroma=24),
        lambda y: librosa.feature.chroma_stft(y=y, sr=SR, n_chroma=24),
        1e-5,
    ),
    "contrast": (
        SpectralContrast(),
        lambda y: librosa.feature.spectral_contrast(y=y, sr=SR),
        1e-3,
    ),
    "contrast_linear": (
        SpectralContrast(linear=True, fmin=100.0, n_bands=5, quantile=0.1),
        lambda y: librosa.feature.spectral_contrast(
            y=y, sr=SR, linear=True, fmin=100.0, n_bands=5, quantile=0.1
        ),
        1e-4,  # float32 output, values up to ~100
    ),
    "zcr": (ZeroCrossingRate(), lambda y: librosa.feature.zero_crossing_rate(y), 1e-7),
    "zcr_odd": (
        ZeroCrossingRate(frame_length=301, hop_length=77),
        lambda y: librosa.feature.zero_crossing_rate(
            y, frame_length=301, hop_length=77
        ),
        1e-7,
    ),
    "rms": (RMS(), lambda y: librosa.feature.rms(y=y), 1e-6),
}


# Documented tolerances of the torch kernels (sersk.features._torch_kernels):
# dB features 2e-3, chroma 1e-4, contrast 5e-2 dB, ZCR exact, RMS 1e-6.
TORCH_ATOL = {"mel": 2e-3, "mfcc": 2e-3, "chroma": 1e-4, "contrast": 5e-2}


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning:UserWarning")  # librosa's
@pytest.mark.parametrize("backend", ["librosa", "torch"])
@pytest.mark.parametrize("case", list(CASES))
def test_parity_with_per_clip_librosa(batch, case, backend):
    est, ref_fn, atol = CASES[case]
    est = clone(est).set_params(backend=backend, device="cpu")
    if backend == "torch" and atol is not None:
        atol = max(atol, TORCH_ATOL.get(case.split("_")[0].rstrip("0123456789"), 0))
    out = est.fit_transform(batch)
    ref = _per_clip(ref_fn, batch)
    assert out.dtype == np.float32 and out.shape == ref.shape
    if backend == "torch" and case == "contrast":
        # dB contrast of the noiseless tones compares FFT rounding noise in the
        # valleys (documented in SpectralContrast); the clips with a noise
        # floor (white noise, decaying square wave) must agree
        out, ref = out[[2, 4]], ref[[2, 4]]
    if atol is None:
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-6 * ref.max())
    else:
        np.testing.assert_allclose(out, ref, rtol=0, atol=atol)


def test_db_reference_and_floor_are_per_clip(batch):
    """A batched librosa call would take the loud clip's max for the quiet one."""
    mel = MelSpectrogram(ref="max")
    alone = mel.transform(batch[1:2])
    together = mel.transform(batch)
    np.testing.assert_allclose(together[1], alone[0], atol=1e-4)
    assert together[1].max() == pytest.approx(0.0, abs=1e-4)  # its own maximum
    batched_librosa = librosa.power_to_db(
        librosa.feature.melspectrogram(y=batch, sr=SR), ref=np.max
    )
    assert np.abs(batched_librosa[1] - together[1]).max() > 10  # what we avoid


@pytest.mark.parametrize("backend", ["librosa", "torch"])
def test_chunked_computation_gives_the_same_result(batch, monkeypatch, backend):
    expected = MFCC(deltas=1, backend=backend).transform(batch)
    monkeypatch.setattr(_compute, "CHUNK_BYTES", 1)  # one clip per chunk
    # other batch sizes may take other FFT/BLAS code paths: float32 rounding
    np.testing.assert_allclose(
        MFCC(deltas=1, backend=backend).transform(batch), expected, atol=1e-3
    )


@pytest.mark.parametrize("n_samples", [1, 100, 2047])
def test_clips_shorter_than_n_fft_are_zero_padded(n_samples):
    X = (
        np.random.default_rng(0)
        .normal(scale=0.1, size=(2, n_samples))
        .astype(np.float32)
    )
    n_frames = 1 + n_samples // 512
    for est in [
        MelSpectrogram(),
        MFCC(deltas=2),
        Chroma(),
        SpectralContrast(),
        ZeroCrossingRate(),
        RMS(),
    ]:
        out = est.transform(X)
        assert out.shape[::2] == (2, n_frames), type(est).__name__
        assert np.isfinite(out).all()
    with pytest.warns(UserWarning, match="too large"):  # librosa warns, we do not
        ref = librosa.power_to_db(librosa.feature.melspectrogram(y=X[0], sr=SR))
    np.testing.assert_allclose(MelSpectrogram().transform(X)[0], ref, atol=1e-3)


def test_deltas_of_very_short_clips():
    rng = np.random.default_rng(0)
    X = rng.normal(scale=0.1, size=(2, 512 * 4)).astype(np.float32)  # 5 frames
    out = MFCC(n_mfcc=13, deltas=1).transform(X)
    m = librosa.feature.mfcc(y=X[0], sr=SR, n_mfcc=13)
    np.testing.assert_allclose(
        out[0, 13:], librosa.feature.delta(m, width=5), atol=2e-3
    )
    two_frames = MFCC(n_mfcc=13, deltas=2).transform(X[:, :600])
    assert two_frames.shape == (2, 39, 2)
    np.testing.assert_array_equal(two_frames[:, 13:], 0.0)


def test_silence_gives_finite_features():
    Z = np.zeros((2, 8000), dtype=np.float32)
    mel = MelSpectrogram().transform(Z)
    np.testing.assert_allclose(mel, -100.0, atol=1e-3)  # 10 * log10(amin)
    for est in [
        MFCC(deltas=2),
        Chroma(),
        Chroma(tuning=None),
        SpectralContrast(),
        ZeroCrossingRate(),
        RMS(),
    ]:
        out = est.transform(Z)
        assert np.isfinite(out).all(), type(est).__name__


def test_variable_length_clips(batch):
    lengths = [12000, 5000, 7000, 5000]
    ragged = AudioLoader().transform([batch[i, :n] for i, n in enumerate(lengths)])
    assert ragged.dtype == object
    for est in [
        MelSpectrogram(n_mels=32),
        MFCC(n_mfcc=13, deltas=1),
        ZeroCrossingRate(),
    ]:
        out = est.transform(ragged)
        assert out.dtype == object and len(out) == 4
        for i, n in enumerate(lengths):
            single = est.transform(batch[i : i + 1, :n])[0]
            # a batch of one and a batch of several clips may take other FFT /
            # BLAS code paths (AVX-512, AMX): float32 rounding, in dB/MFCC units
            np.testing.assert_allclose(out[i], single, rtol=0, atol=1e-3)
    as_list = MelSpectrogram(n_mels=32).transform(list(ragged))
    assert [a.shape[1] for a in as_list] == [1 + n // 512 for n in lengths]


def test_integer_pcm_waveforms_are_scaled_like_soundfile(batch):
    X = np.round(batch * 1000).astype(np.int16)
    np.testing.assert_allclose(
        RMS().transform(X), RMS().transform(X.astype(np.float32) / 32768), rtol=1e-6
    )
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = X[0], X[1, :5000]
    np.testing.assert_allclose(
        MelSpectrogram().transform(ragged)[1],
        MelSpectrogram().transform(X[1:2, :5000].astype(np.float32) / 32768)[0],
        atol=1e-3,
    )
    with pytest.raises(InvalidAudioError, match="int64, which is not a PCM sample"):
        RMS().transform(X.astype(np.int64))


@pytest.mark.parametrize("backend", ["librosa", "torch"])
def test_filter_banks_are_cached_and_read_only(batch, backend):
    _kernels.mel_table.cache_clear()
    MelSpectrogram(n_mels=32, backend=backend).transform(batch)
    MFCC(n_mfcc=13, n_mels=32, backend=backend).transform(batch)
    info = _kernels.mel_table.cache_info()
    assert info.misses == 1 and info.hits >= 1
    basis = _kernels.mel_table(SR, 2048, 32, 0.0, None)
    assert not basis.flags.writeable


def test_feature_names():
    assert list(MelSpectrogram(n_mels=3).get_feature_names_out()) == [
        "mel0",
        "mel1",
        "mel2",
    ]
    names = MFCC(n_mfcc=2, deltas=2).get_feature_names_out()
    assert list(names) == [
        "mfcc0",
        "mfcc1",
        "mfcc_d0",
        "mfcc_d1",
        "mfcc_dd0",
        "mfcc_dd1",
    ]
    assert Chroma().get_feature_names_out()[9] == "chroma_A"
    assert len(SpectralContrast(n_bands=4).get_feature_names_out()) == 5
    assert list(ZeroCrossingRate().get_feature_names_out()) == ["zcr"]
    assert list(RMS().get_feature_names_out()) == ["rms"]


def test_real_ravdess_clips(ravdess_root):
    paths = sorted((ravdess_root / "Actor_02").glob("*.wav"))[:3]
    X = AudioLoader(sr=SR, duration=3.0).transform(paths)
    mel = MelSpectrogram().transform(X)
    ref = _per_clip(
        lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR)), X
    )
    np.testing.assert_allclose(mel, ref, atol=1e-3)
    mfcc = MFCC(deltas=1).transform(X)
    np.testing.assert_allclose(
        mfcc, _per_clip(lambda y: _mfcc_ref(y, deltas=1), X), atol=2e-3
    )
    for est, fn in [
        (Chroma(), lambda y: librosa.feature.chroma_stft(y=y, sr=SR, tuning=0.0)),
        (SpectralContrast(), lambda y: librosa.feature.spectral_contrast(y=y, sr=SR)),
        (ZeroCrossingRate(), lambda y: librosa.feature.zero_crossing_rate(y)),
        (RMS(), lambda y: librosa.feature.rms(y=y)),
    ]:
        np.testing.assert_allclose(est.transform(X), _per_clip(fn, X), atol=1e-3)


# ----------------------------------------------------------------- bad input

ALL = [
    MelSpectrogram(),
    MFCC(),
    Chroma(),
    SpectralContrast(),
    ZeroCrossingRate(),
    RMS(),
]
_ids = [type(e).__name__ for e in ALL]


@pytest.mark.parametrize("est", ALL, ids=_ids)
def test_bad_waveforms(est):
    name = type(est).__name__
    X = np.zeros((3, 1000), dtype=np.float32)
    X[2, 10] = np.nan
    with pytest.raises(
        InvalidAudioError,
        match=rf"{name} got waveforms with 1 NaN/Inf value\(s\) \(in clip\(s\) \[2\]",
    ):
        est.transform(X)
    X[2, 10] = np.inf
    with pytest.raises(ValueError, match="NaN/Inf"):
        est.fit(X)
    with pytest.raises(
        ValueError,
        match="shape \\(1000,\\). Reshape your data with X\\[np.newaxis, :\\]",
    ):
        est.transform(np.zeros(1000))
    with pytest.raises(ValueError, match="got an array of shape \\(2, 1, 1000\\)"):
        est.transform(np.zeros((2, 1, 1000)))
    with pytest.raises(ValueError, match="got 0 clips"):
        est.transform(np.zeros((0, 1000)))
    with pytest.raises(ValueError, match="empty waveforms"):
        est.transform(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="Complex data not supported"):
        est.transform(np.zeros((2, 100), dtype=complex))
    with pytest.raises(ValueError, match="1-D array of paths; got shape \\(1, 2\\)"):
        est.transform(np.array([["a.wav", "b.wav"]]))
    for paths in (np.array(["a.wav", "b.wav"], dtype=object), ["a.wav", "b.wav"]):
        with pytest.raises(OSError, match="a.wav"):  # paths are read, and missing
            est.transform(paths)
    with pytest.raises(TypeError, match="mix of paths and other values: item 1"):
        est.transform(["a.wav", np.zeros(100)])
    with pytest.raises(TypeError, match="got a single path 'a.wav'. Wrap it in a list"):
        est.transform("a.wav")
    ragged = AudioLoader().transform([np.zeros(100), np.zeros(50)])
    ragged[1] = np.array([0.0, np.nan])
    with pytest.raises(InvalidAudioError, match=r"in clip\(s\) \[1\]"):
        est.transform(ragged)


@pytest.mark.parametrize(
    "est, match",
    [
        (
            MelSpectrogram(n_mels=0),
            r"The 'n_mels' parameter of MelSpectrogram must be an int in the range \[1, inf\). Got 0 instead.",
        ),
        (
            MelSpectrogram(sr=-1),
            r"The 'sr' parameter of MelSpectrogram must be an int in the range \[1, 768000\]. Got -1 instead.",
        ),
        (MelSpectrogram(ref="min"), r"The 'ref' parameter of MelSpectrogram must be"),
        (
            MFCC(deltas=3),
            r"The 'deltas' parameter of MFCC must be an int in the range \[0, 2\]. Got 3 instead.",
        ),
        (MFCC(hop_length=0.5), r"The 'hop_length' parameter of MFCC must be an int"),
        (Chroma(tuning=0.7), r"The 'tuning' parameter of Chroma must be"),
        (
            SpectralContrast(quantile=1.5),
            r"The 'quantile' parameter of SpectralContrast must be",
        ),
        (
            ZeroCrossingRate(frame_length=0),
            r"The 'frame_length' parameter of ZeroCrossingRate must be",
        ),
        (RMS(hop_length=None), r"The 'hop_length' parameter of RMS must be"),
    ],
)
def test_bad_parameter_messages(est, match):
    X = np.zeros((1, 100), dtype=np.float32)
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(X)
    with pytest.raises(InvalidParameterError, match=match):
        est.transform(X)


@pytest.mark.parametrize(
    "est, match",
    [
        (
            MelSpectrogram(fmax=9000.0),
            "'fmax' parameter of MelSpectrogram is 9000.0 Hz, above the Nyquist frequency sr/2 = 8000.0 Hz",
        ),
        (
            MelSpectrogram(fmin=3000.0, fmax=2000.0),
            "needs fmin < fmax; got fmin=3000.0 and fmax=2000.0",
        ),
        (
            MFCC(n_mfcc=50, n_mels=40),
            r"'n_mfcc' parameter of MFCC \(50\) cannot exceed n_mels \(40\)",
        ),
        (MFCC(sr=8000, fmin=5000.0), "above the Nyquist frequency sr/2 = 4000.0 Hz"),
        (
            SpectralContrast(sr=8000),
            "highest band starts at .* = 6400 Hz, not below the Nyquist frequency sr/2 = 4000 Hz",
        ),
        (SpectralContrast(n_fft=16), "n_fft=16 is too small to resolve"),
    ],
)
def test_inconsistent_parameters(est, match):
    with pytest.raises(ValueError, match=match):
        est.transform(np.zeros((1, 4000), dtype=np.float32))


@pytest.mark.parametrize(
    "est", ALL + [ClassicFeatures(n_mels=40)], ids=_ids + ["Classic"]
)
def test_file_paths_are_loaded_and_resampled(est, write_wav):
    """Paths in (as the dataset loaders return them): the loader's own reading."""
    paths = [
        write_wav("a.wav", sr=22050, seconds=0.7, freq=220.0),
        write_wav("b.wav", sr=16000, seconds=0.4, freq=330.0),
    ]
    out = est.fit_transform(paths)
    expected = est.transform(AudioLoader(sr=est.sr).transform(paths))
    assert type(out) is type(expected) and len(out) == 2
    for a, b in zip(out, expected, strict=True):
        np.testing.assert_array_equal(a, b)  # the same waveforms, the same code
    if out.dtype == object:  # frame features keep each file's own length
        assert out[0].shape[-1] == 1 + int(0.7 * SR) // 512
