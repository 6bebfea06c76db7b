"""Backend parity: each feature and each kernel, in both backends, against librosa.

One parametrised test per feature (every transformer, both backends, on real
RAVDESS clips and synthetic edge cases, against the per-clip librosa call) and
one per kernel (both kernel modules against librosa / numpy / scipy), with the
tolerances documented in ``sersk.features._torch_kernels``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import librosa
import numpy as np
import pytest
import scipy.stats
from sklearn.base import clone

from sersk.features import (
    MFCC,
    RMS,
    AudioLoader,
    Chroma,
    ClassicFeatures,
    MelSpectrogram,
    SpectralContrast,
    ZeroCrossingRate,
    _kernels,
)

torch = pytest.importorskip("torch")
from sersk.features import _torch_kernels  # noqa: E402

SR = 16000
KERNELS = {"librosa": _kernels, "torch": _torch_kernels}
HAS_CUDA = torch.cuda.is_available()


def _lr(func, *args, **kwargs):
    """Call librosa hiding its warnings for tiny/silent clips (tested elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _logmel(y, **kw):
    return librosa.power_to_db(_lr(librosa.feature.melspectrogram, y=y, sr=SR, **kw))


# feature -> (transformer, per-clip librosa reference, absolute tolerance of the
# torch backend, absolute tolerance of the librosa backend)
FEATURES = {
    "mel": (MelSpectrogram(n_mels=64), lambda y: _logmel(y, n_mels=64), 2e-3, 1e-4),
    "mel_power": (
        MelSpectrogram(n_mels=40, to_db=False),
        lambda y: _lr(librosa.feature.melspectrogram, y=y, sr=SR, n_mels=40),
        "rel",
        "rel",
    ),
    "mel_max_ref": (
        MelSpectrogram(n_mels=64, ref="max", top_db=60.0, fmin=50.0, fmax=7000.0),
        lambda y: librosa.power_to_db(
            _lr(
                librosa.feature.melspectrogram,
                y=y,
                sr=SR,
                n_mels=64,
                fmin=50.0,
                fmax=7000.0,
            ),
            ref=np.max,
            top_db=60.0,
        ),
        2e-3,
        1e-4,
    ),
    "mfcc": (
        MFCC(n_mfcc=20),
        lambda y: _lr(librosa.feature.mfcc, y=y, sr=SR, n_mfcc=20),
        2e-3,
        2e-3,
    ),
    "chroma": (
        Chroma(tuning=None),
        lambda y: _lr(librosa.feature.chroma_stft, y=y, sr=SR),
        1e-4,
        1e-4,
    ),
    "contrast": (
        SpectralContrast(),
        lambda y: _lr(librosa.feature.spectral_contrast, y=y, sr=SR),
        5e-2,
        1e-3,
    ),
    "zcr": (ZeroCrossingRate(), lambda y: librosa.feature.zero_crossing_rate(y), 0, 0),
    "rms": (RMS(), lambda y: librosa.feature.rms(y=y), 1e-6, 1e-6),
}


@pytest.fixture(scope="module")
def ravdess_clips(ravdess_root):
    # WAV as shared, or a lossless FLAC copy of it (smaller to carry around)
    paths = sorted(
        p for p in ravdess_root.glob("Actor_*/*") if p.suffix in (".wav", ".flac")
    )[::241][:6]
    assert len(paths) == 6
    return AudioLoader(sr=SR, duration=3.0).transform(paths)


def _edge_cases():
    rng = np.random.default_rng(0)
    t = np.arange(7919) / SR
    chirp = np.sin(2 * np.pi * (200 + 1500 * t) * t)
    return {
        "silence": np.zeros((2, 4000)),
        "short_100": 0.3 * rng.normal(size=(2, 100)),
        "odd_length": 0.3 * rng.normal(size=(2, 12345)),
        # a noise floor keeps the contrast valleys above float32 FFT rounding noise
        "chirp_noise": np.stack([chirp, chirp])
        + [[1e-3], [0.05]] * rng.normal(size=(2, t.size)),
        "dc_offset": 0.2 + 0.01 * rng.normal(size=(2, 5000)),
    }


def _assert_matches(est, ref_fn, atol, X):
    out = est.fit_transform(X)
    ref = np.stack([ref_fn(y) for y in X])
    assert out.dtype == np.float32 and out.shape == ref.shape
    if atol == "rel":  # power values: relative to each clip's maximum
        scale = ref.max(axis=(1, 2), keepdims=True) + 1e-30
        np.testing.assert_allclose(out / scale, ref / scale, rtol=0, atol=1e-4)
    elif atol == 0:  # integer counts
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, rtol=0, atol=atol)


@pytest.mark.parametrize("backend", ["librosa", "torch"])
@pytest.mark.parametrize("feature", list(FEATURES))
def test_feature_matches_librosa_on_ravdess(ravdess_clips, feature, backend):
    est, ref_fn, atol_torch, atol_librosa = FEATURES[feature]
    est = clone(est).set_params(backend=backend, device="cpu")
    atol = atol_torch if backend == "torch" else atol_librosa
    _assert_matches(est, ref_fn, atol, ravdess_clips)


@pytest.mark.parametrize("backend", ["librosa", "torch"])
@pytest.mark.parametrize("case", list(_edge_cases()))
@pytest.mark.parametrize("feature", list(FEATURES))
def test_feature_matches_librosa_on_edge_cases(feature, case, backend):
    est, ref_fn, atol_torch, atol_librosa = FEATURES[feature]
    est = clone(est).set_params(backend=backend, device="cpu")
    atol = atol_torch if backend == "torch" else atol_librosa
    X = _edge_cases()[case].astype(np.float32)
    _assert_matches(est, ref_fn, atol, X)


# ------------------------------------------------------------------ kernels


def _run(K, func, *arrays, **kw):
    """Call ``K.func`` on the kernel's own arrays, return numpy."""
    with K.context("cpu"):
        args = [K.asarray(np.ascontiguousarray(a)) for a in arrays]
        return np.asarray(K.to_numpy(getattr(K, func)(*args, **kw)))


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(1)
    t = np.arange(9000) / SR
    y = np.sin(2 * np.pi * 220 * t) + 0.05 * rng.normal(size=(3, t.size))
    return (y * [[1.0], [1e-3], [0.3]]).astype(np.float32)


@pytest.mark.parametrize("backend", list(KERNELS))
def test_power_stft_kernel(backend, noisy):
    P = _run(KERNELS[backend], "power_stft", noisy, n_fft=512, hop_length=128)
    for i, y in enumerate(noisy):
        ref = np.abs(librosa.stft(y, n_fft=512, hop_length=128)) ** 2
        np.testing.assert_allclose(P[i], ref, rtol=0, atol=1e-4 * ref.max())


@pytest.mark.parametrize("backend", list(KERNELS))
@pytest.mark.parametrize(
    "kw",
    [{}, {"ref": "max"}, {"ref": 2.0, "top_db": 40.0}, {"amin": 1e-5, "top_db": None}],
)
def test_power_to_db_kernel_is_per_clip(backend, kw, noisy):
    P = _kernels.power_stft(noisy, 512, 128)
    out = _run(KERNELS[backend], "power_to_db", P, **kw)
    lib_kw = {**kw, "ref": np.max} if kw.get("ref") == "max" else kw
    for i in range(len(P)):
        ref = librosa.power_to_db(P[i], **lib_kw)
        np.testing.assert_allclose(out[i], ref, rtol=0, atol=2e-3)
    # librosa on the whole batch would floor the quiet clip at the loud one's level
    batched = librosa.power_to_db(P, **lib_kw)
    assert np.abs(batched[1] - out[1]).max() > 10 or kw.get("top_db", 80) is None


@pytest.mark.parametrize("backend", list(KERNELS))
def test_apply_kernel_takes_one_table_or_one_per_clip(backend, noisy):
    P = _kernels.power_stft(noisy, 512, 128)
    tables = [_kernels.chroma_table(SR, 512, 12, t) for t in (0.0, 0.2, -0.3)]
    K = KERNELS[backend]
    with K.context("cpu"):
        per_clip = K.to_numpy(K.apply(tables, K.asarray(P)))
        shared = K.to_numpy(K.apply(tables[1], K.asarray(P)))
    for i in range(3):
        np.testing.assert_allclose(per_clip[i], tables[i] @ P[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(shared[i], tables[1] @ P[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", list(KERNELS))
def test_estimate_tuning_kernel_equals_librosa(backend):
    tone = lambda f: np.sin(2 * np.pi * f * np.arange(SR) / SR)  # noqa: E731
    X = np.stack([tone(440.0), tone(452.0), np.zeros(SR)]).astype(np.float32)
    P = _kernels.power_stft(X, 2048, 512)
    K = KERNELS[backend]
    with K.context("cpu"):
        tunings = K.estimate_tuning(K.asarray(P), SR, 2048)
    for i in range(2):
        assert tunings[i] == librosa.estimate_tuning(S=P[i], sr=SR)
    assert tunings[0] != tunings[1] and tunings[2] == 0.0  # silence: no pitch


@pytest.mark.parametrize("backend", list(KERNELS))
@pytest.mark.parametrize("norm", [np.inf, 1.0, 2.0])
def test_normalize_kernel(backend, norm, noisy):
    C = _kernels.apply(
        _kernels.chroma_table(SR, 512, 12, 0.0), _kernels.power_stft(noisy, 512, 128)
    )
    C[0, :, 3] = 0.0  # a silent frame stays zero
    out = _run(KERNELS[backend], "normalize", C, norm=norm)
    np.testing.assert_allclose(
        out, librosa.util.normalize(C, norm=norm, axis=-2), rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("backend", list(KERNELS))
def test_delta_kernel(backend, noisy):
    M = np.random.default_rng(2).normal(size=(2, 5, 20)).astype(np.float32)
    for order in (1, 2):
        out = _run(KERNELS[backend], "delta", M, order=order)
        ref = librosa.feature.delta(M, order=order, axis=-1)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    short = _run(KERNELS[backend], "delta", M[..., :2], order=1)
    np.testing.assert_array_equal(short, 0.0)  # no change measurable in 2 frames


@pytest.mark.parametrize("backend", list(KERNELS))
def test_time_domain_kernels(backend, noisy):
    x = noisy.copy()
    x[0, 100:200] = 0.0  # exact zeros count as positive, as in librosa
    z = _run(KERNELS[backend], "zcr", x, frame_length=512, hop_length=128)
    r = _run(KERNELS[backend], "rms", x, frame_length=512, hop_length=128)
    for i, y in enumerate(x):
        zcr = librosa.feature.zero_crossing_rate(y, frame_length=512, hop_length=128)
        np.testing.assert_array_equal(z[i], zcr)  # integer counts
        rms = librosa.feature.rms(y=y, frame_length=512, hop_length=128)
        np.testing.assert_allclose(r[i], rms, rtol=0, atol=1e-6)


STATS = ("mean", "std", "min", "max", "median", "skew", "kurtosis")


@pytest.mark.parametrize("backend", list(KERNELS))
def test_pool_kernel(backend):
    rng = np.random.default_rng(3)
    F = rng.gamma(2.0, size=(3, 4, 11)).astype(np.float32)
    F[1, 2] = 7.5  # a constant row: std, skew and kurtosis 0, not NaN
    out = _run(KERNELS[backend], "pool", F, stats=STATS)
    assert out.shape == (3, 4 * len(STATS)) and out.dtype == np.float32
    with warnings.catch_warnings():  # scipy warns about the constant row
        warnings.simplefilter("ignore", RuntimeWarning)
        skew = scipy.stats.skew(F.astype(np.float64), axis=-1)
        kurtosis = scipy.stats.kurtosis(F.astype(np.float64), axis=-1)
    expected = np.concatenate(
        [
            F.mean(-1),
            F.std(-1),
            F.min(-1),
            F.max(-1),
            np.median(F, -1),
            skew,
            kurtosis,
        ],
        axis=-1,
    )
    # scipy gives NaN (with a warning) for the constant row
    expected[1, [2 + 4 * k for k in (1, 5, 6)]] = 0.0
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_tables_are_cached_and_read_only():
    a = _kernels.mel_table(SR, 2048, 128, 0.0, None)
    assert a is _kernels.mel_table(SR, 2048, 128, 0.0, None) and not a.flags.writeable
    np.testing.assert_allclose(
        a, librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128), rtol=1e-6, atol=1e-9
    )
    c = _kernels.chroma_table(SR, 2048, 12, 0.25)
    assert c is _kernels.chroma_table(SR, 2048, 12, 0.25) and not c.flags.writeable
    D = _kernels.dct_table(13, 40)
    S = np.random.default_rng(0).normal(size=(40, 3))
    np.testing.assert_allclose(
        D @ S, scipy.fft.dct(S, norm="ortho", axis=0)[:13], rtol=1e-5, atol=1e-5
    )


def test_importing_the_numpy_kernels_does_not_import_torch():
    code = (
        "import sys, sersk.features._kernels, sersk.features._compute; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_classic_features_equal_per_feature_librosa_on_ravdess(ravdess_clips):
    """One shared STFT gives each piece's per-clip librosa statistics."""
    feats = ClassicFeatures(tuning=None, device="cpu").fit_transform(ravdess_clips)
    names = ClassicFeatures().get_feature_names_out()
    refs = {
        "zcr": lambda y: librosa.feature.zero_crossing_rate(y),
        "rms": lambda y: librosa.feature.rms(y=y),
        "mfcc": lambda y: librosa.feature.mfcc(y=y, sr=SR, n_mfcc=40),
        "chroma": lambda y: librosa.feature.chroma_stft(y=y, sr=SR),
        "mel": lambda y: _logmel(y, n_mels=128),
        "contrast": lambda y: librosa.feature.spectral_contrast(y=y, sr=SR),
    }
    tol = {"zcr": 1e-7, "rms": 1e-6, "chroma": 1e-4, "contrast": 5e-2}
    for f, ref_fn in refs.items():
        cols = [i for i, n in enumerate(names) if n.startswith(f + "__")]
        ref = np.stack(
            [
                np.concatenate([(F := ref_fn(y)).mean(-1), F.std(-1)])
                for y in ravdess_clips
            ]
        )
        np.testing.assert_allclose(feats[:, cols], ref, rtol=0, atol=tol.get(f, 2e-3))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("feature", list(FEATURES))
def test_cuda_matches_librosa(ravdess_clips, feature):
    est, ref_fn, atol_torch, _ = FEATURES[feature]
    est = clone(est).set_params(backend="torch", device="cuda")
    # cuFFT rounds differently from pocketfft: the torch tolerances, 2x for dB
    _assert_matches(
        est,
        ref_fn,
        atol_torch if atol_torch in (0, "rel") else 2 * atol_torch,
        ravdess_clips,
    )
