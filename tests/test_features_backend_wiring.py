"""backend= / device= / n_jobs= of the feature transformers, and ClassicFeatures.

Parity of the torch backend with the librosa backend (documented tolerances
of sersk.features._torch_kernels), backend selection, CUDA errors, parallel
workers, and the shared-STFT classic vector against the FeatureUnion preset.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError

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
    make_classic_features,
)
from sersk.features._compute import resolve_backend

torch = pytest.importorskip("torch")

SR = 16000
HAS_CUDA = torch.cuda.is_available()

# (transformer, documented absolute tolerance torch vs librosa backend)
TRANSFORMERS = {
    "mel_db": (MelSpectrogram(n_mels=64), 2e-3),
    "mel_max_ref": (MelSpectrogram(ref="max", top_db=60.0, fmin=50.0), 2e-3),
    "mel_amplitude_db": (MelSpectrogram(power=1.0, n_mels=40), 2e-3),
    "mfcc_deltas": (MFCC(n_mfcc=20, deltas=2, lifter=22.0), 2e-3),
    "chroma": (Chroma(), 1e-4),
    "chroma_estimated_tuning": (Chroma(tuning=None), 1e-4),
    "contrast": (SpectralContrast(), 5e-2),
    "zcr": (ZeroCrossingRate(), 0.0),
    "rms": (RMS(), 1e-6),
}


def _noisy_speechlike(n_clips=4, n_samples=12000, seed=0):
    """Harmonic tones with vibrato plus a noise floor (like speech: no exact zeros)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / SR
    X = np.empty((n_clips, n_samples), dtype=np.float32)
    for i in range(n_clips):
        f0 = rng.uniform(90, 300) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        y = sum(np.sin(k * phase) / k for k in range(1, 6))
        X[i] = rng.uniform(0.05, 0.3) * y + 0.01 * rng.normal(size=n_samples)
    return X


def _both(est, X):
    out_l = clone(est).set_params(backend="librosa").fit_transform(X)
    out_t = clone(est).set_params(backend="torch", device="cpu").fit_transform(X)
    return out_l, out_t


def _assert_close(a, b, atol):
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    if atol == 0.0:
        np.testing.assert_array_equal(a, b)
    else:
        # plus float32 rounding relative to the value: liftered MFCCs reach
        # thousands, where one float32 step is 2.4e-4 and sums of 128 terms
        # accumulate differently on AVX-512 and AMX (seen: 3.9e-3 at 2194)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=atol)


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning")
@pytest.mark.parametrize("case", list(TRANSFORMERS))
def test_torch_matches_librosa_backend_on_synthetic_clips(case):
    est, atol = TRANSFORMERS[case]
    X = _noisy_speechlike()
    _assert_close(*_both(est, X), atol)


@pytest.mark.parametrize(
    "est",
    [MelSpectrogram(n_mels=32), MFCC(n_mfcc=13, deltas=1), Chroma(), RMS()],
    ids=lambda e: type(e).__name__,
)
def test_torch_backend_edge_cases(est):
    """Silence, DC offset, clips shorter than n_fft, ragged batches."""
    atol = 2e-3 if not isinstance(est, Chroma) else 1e-4
    rng = np.random.default_rng(1)
    silent = np.zeros((2, 4000), dtype=np.float32)
    dc = np.full((1, 4000), 0.25, dtype=np.float32) + 1e-3 * rng.normal(
        size=(1, 4000)
    ).astype(np.float32)
    short = (0.1 * rng.normal(size=(2, 700))).astype(np.float32)  # < n_fft=2048
    for X in (silent, dc, short):
        out_l, out_t = _both(est, X)
        _assert_close(out_l, out_t, atol)
        assert np.isfinite(out_t).all()
    ragged = np.empty(3, dtype=object)
    ragged[0], ragged[1], ragged[2] = short[0], dc[0], short[1]
    out_l, out_t = _both(est, ragged)
    assert out_t.dtype == object and len(out_t) == 3
    for a, b in zip(out_l, out_t, strict=True):
        _assert_close(a, b, atol)


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning")
def test_torch_matches_librosa_backend_on_ravdess(ravdess_root):
    paths = sorted((ravdess_root / "Actor_05").glob("*.wav"))[::12][:4]
    X = AudioLoader(sr=SR, duration=3.0).transform(paths)
    for case, (est, atol) in TRANSFORMERS.items():
        out_l, out_t = _both(est, X)
        assert np.abs(out_l).max() > 0, case
        _assert_close(out_l, out_t, atol)


def test_auto_backend_rule():
    """backend="auto": torch where it is equal and faster, else librosa/numpy."""
    device = "cuda" if HAS_CUDA else "cpu"
    expected = {
        MelSpectrogram: "torch",
        MFCC: "torch",
        Chroma: "torch",
        RMS: "librosa",  # numpy on CPU; torch only with device="cuda"
        SpectralContrast: "librosa",
        ZeroCrossingRate: "librosa",
    }
    for cls, backend in expected.items():
        got = resolve_backend(cls())
        assert got == (backend, device if backend == "torch" else None), cls
        assert resolve_backend(cls(device="cpu", backend="torch")) == (
            "torch",
            "cpu",
        )
        assert resolve_backend(cls(backend="librosa")) == ("librosa", None)
    # auto on the CPU computes the same values as the chosen backend
    X = _noisy_speechlike(2, 8000)
    np.testing.assert_array_equal(
        MelSpectrogram(device="cpu").transform(X),
        MelSpectrogram(backend="torch", device="cpu").transform(X),
    )


@pytest.mark.skipif(HAS_CUDA, reason="tests the error raised without CUDA")
@pytest.mark.parametrize(
    "est",
    [MelSpectrogram(), MFCC(), Chroma(), SpectralContrast(), ZeroCrossingRate(), RMS()],
    ids=lambda e: type(e).__name__,
)
def test_cuda_without_gpu_is_a_clear_error(est):
    X = _noisy_speechlike(1, 4000)
    for backend in ("auto", "torch"):
        bad = clone(est).set_params(backend=backend, device="cuda")
        with pytest.raises(ValueError, match="'device' parameter of .* is 'cuda'.*"):
            bad.fit(X)
        with pytest.raises(ValueError, match="Use device='auto'"):
            bad.transform(X)
    with pytest.raises(
        ValueError, match="backend='librosa'.*CPU only.*backend='torch'"
    ):
        clone(est).set_params(backend="librosa", device="cuda").fit(X)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        ClassicFeatures(device="cuda").fit(X)


@pytest.mark.parametrize(
    "param, value, message",
    [
        ("backend", "numpy", r"The 'backend' parameter of MFCC must be a str among"),
        ("device", "tpu", r"The 'device' parameter of MFCC must be a str among"),
        ("n_jobs", 1.5, r"The 'n_jobs' parameter of MFCC must be an instance of"),
    ],
)
def test_bad_backend_params(param, value, message):
    with pytest.raises(InvalidParameterError, match=message):
        MFCC(**{param: value}).fit(_noisy_speechlike(1, 4000))


def test_importing_features_does_not_import_torch():
    code = (
        "import sys, sersk.features as f; from sersk.features._compute import "
        "resolve_backend; assert resolve_backend(f.ZeroCrossingRate()) == "
        "('librosa', None);"
        "f.make_classic_features(shared_stft=True).get_feature_names_out();"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=".")


class _RecordThreads(MelSpectrogram):
    """Records the thread limits seen while computing (in-process worker test)."""

    def _frames(self, K, x):
        from threadpoolctl import threadpool_info

        self.seen_ = (
            K.context is not None and torch.get_num_threads(),
            {p["num_threads"] for p in threadpool_info()},
        )
        return super()._frames(K, x)


def test_worker_limits_threads_and_restores_them():
    est = _RecordThreads(n_mels=16)
    X = _noisy_speechlike(2, 4000)
    before = torch.get_num_threads()
    out = _compute._in_worker(est, "torch", "cpu", X)
    assert est.seen_[0] == 1 and est.seen_[1] <= {1}
    assert torch.get_num_threads() == before
    np.testing.assert_array_equal(
        out, MelSpectrogram(n_mels=16, backend="torch", device="cpu").transform(X)
    )


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning")
def test_n_jobs_gives_the_same_values():
    X = _noisy_speechlike(5, 6000)
    est = ZeroCrossingRate(frame_length=512, hop_length=128)  # numpy in workers
    np.testing.assert_array_equal(
        clone(est).set_params(n_jobs=2).transform(X), est.transform(X)
    )


@pytest.mark.slow  # worker processes importing torch: ~20 s on 2 busy cores
def test_n_jobs_with_torch_gives_the_same_values(speech):
    est = MFCC(n_mfcc=13, deltas=1, backend="torch", device="cpu")
    # blocks of other sizes, one thread per worker: float32 rounding (MFCC units)
    np.testing.assert_allclose(
        clone(est).set_params(n_jobs=2).transform(speech),
        est.transform(speech),
        rtol=0,
        atol=1e-3,
    )
    shared = ClassicFeatures(n_mfcc=13, n_mels=32, device="cpu")
    np.testing.assert_allclose(
        clone(shared).set_params(n_jobs=2).transform(speech),
        shared.transform(speech),
        atol=1e-6,
    )


# ------------------------------------------------------------ ClassicFeatures


def _reference_union(**kw):
    return make_classic_features(backend="librosa", device="cpu", **kw)


@pytest.fixture(scope="module")
def speech():
    return _noisy_speechlike(6, 16000, seed=3)


def _assert_classic_close(shared, ref, names):
    """Documented tolerances of ClassicFeatures against the librosa FeatureUnion."""
    assert shared.shape == ref.shape and shared.dtype == np.float32
    tol = {"zcr": 1e-6, "rms": 1e-6, "mfcc": 2e-3, "chroma": 1e-4, "mel": 2e-3}
    tol["contrast"] = 5e-2
    for feature, atol in tol.items():
        cols = np.array([n.startswith(feature + "__") for n in names])
        if cols.any():
            np.testing.assert_allclose(
                shared[:, cols], ref[:, cols], rtol=0, atol=atol, err_msg=feature
            )


def test_classic_features_equal_the_feature_union(speech):
    kw = {"n_mfcc": 20, "n_mels": 64, "stats": ("mean", "std", "max", "skew")}
    union = _reference_union(**kw)
    shared = make_classic_features(shared_stft=True, device="cpu", **kw)
    assert isinstance(shared, ClassicFeatures)
    ref = union.fit_transform(speech)
    out = shared.fit_transform(speech)
    names = shared.get_feature_names_out()
    np.testing.assert_array_equal(names, union.get_feature_names_out())
    assert names[0] == "zcr__zcr_mean" and "chroma__chroma_A_skew" in set(names)
    _assert_classic_close(out, ref, names)


def test_classic_features_on_ravdess(ravdess_root):
    paths = sorted((ravdess_root / "Actor_12").glob("*.wav"))[::15][:4]
    X = AudioLoader(sr=SR, duration=3.0).transform(paths)
    shared = ClassicFeatures(device="cpu")
    _assert_classic_close(
        shared.fit_transform(X),
        _reference_union().fit_transform(X),
        shared.get_feature_names_out(),
    )


def test_classic_features_subset_order_ragged_and_pandas(speech):
    shared = ClassicFeatures(
        features=("mel", "rms"), stats="mean", n_mels=16, device="cpu"
    )
    out = shared.fit_transform(speech)
    assert out.shape == (6, 17)
    assert list(shared.get_feature_names_out()[[0, 16]]) == [
        "mel__mel0_mean",
        "rms__rms_mean",
    ]
    ragged = np.empty(3, dtype=object)
    ragged[0], ragged[1], ragged[2] = speech[0], speech[1, :9000], speech[2]
    out_r = shared.transform(ragged)
    for i, y in enumerate(ragged):
        np.testing.assert_allclose(out_r[i], shared.transform(y[None])[0], atol=1e-5)
    df = clone(shared).set_output(transform="pandas").fit_transform(speech)
    assert list(df.columns) == list(shared.get_feature_names_out())
    restored = pickle.loads(pickle.dumps(shared))
    np.testing.assert_array_equal(restored.transform(speech), out)


def test_classic_features_in_grid_search(speech):
    shared = ClassicFeatures(n_mfcc=13, n_mels=32, device="cpu")
    y = np.array(["a", "b"] * 3)
    grid = GridSearchCV(
        make_pipeline(shared, SVC()),
        {"classicfeatures__features": [("mfcc",), ("mel", "rms")]},
        cv=2,
    ).fit(speech, y)
    assert grid.best_params_["classicfeatures__features"] in [("mfcc",), ("mel", "rms")]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"features": ("mfcc", "pitch")}, "'features' parameter of ClassicFeatures"),
        ({"features": ("mfcc", "mfcc")}, "has duplicates"),
        ({"features": ()}, "must name at least one feature"),
        ({"stats": ("mean", "mode")}, "'stats' parameter of ClassicFeatures"),
        ({"n_mfcc": 50, "n_mels": 40}, "cannot exceed n_mels"),
    ],
)
def test_classic_features_bad_params(params, message, speech):
    with pytest.raises(ValueError, match=message):
        ClassicFeatures(device="cpu", **params).fit(speech)
    with pytest.raises(InvalidParameterError, match="'tuning' parameter"):
        ClassicFeatures(tuning=0.7).fit(speech)


@pytest.mark.gpu
def test_cuda_backend_matches_librosa():
    X = _noisy_speechlike(4, 12000)
    for est, atol in TRANSFORMERS.values():
        out_l = clone(est).set_params(backend="librosa").transform(X)
        out_c = clone(est).set_params(backend="torch", device="cuda").transform(X)
        assert isinstance(out_c, np.ndarray) and out_c.dtype == np.float32
        np.testing.assert_allclose(out_c, out_l, rtol=0, atol=max(atol, 1e-6))
    shared = ClassicFeatures(device="cuda")
    _assert_classic_close(
        shared.transform(X),
        _reference_union().fit_transform(X),
        shared.get_feature_names_out(),
    )
