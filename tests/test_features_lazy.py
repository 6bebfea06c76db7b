"""AudioLoader(lazy=True) / LazyWaveforms: same values as the eager path, bounded memory."""

from __future__ import annotations

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import InvalidParameterError

from sersk.exceptions import AudioLoadWarning, AudioReadError
from sersk.features import (
    MFCC,
    RMS,
    AudioLoader,
    Chroma,
    ClassicFeatures,
    LazyWaveforms,
    MelSpectrogram,
    SpectralContrast,
    TimePooling,
    ZeroCrossingRate,
    _lazy,
    make_classic_features,
)

SR = 16000
N_SAMPLES = 8000  # duration=0.5 s


@pytest.fixture
def small_chunks(monkeypatch):
    """Two clips of 0.5 s per chunk, so every batch below spans several chunks."""
    monkeypatch.setattr(_lazy, "LAZY_CHUNK_BYTES", 2 * 4 * N_SAMPLES)


@pytest.fixture
def wavs(write_wav):
    """Five real WAV files: tones, noise, shorter/longer than 0.5 s, one at 22.05 kHz."""
    rng = np.random.default_rng(0)
    paths = []
    for i, (seconds, freq) in enumerate(
        [(0.3, 220.0), (0.5, 330.0), (0.8, 440.0), (0.6, 523.0)]
    ):
        t = np.arange(int(SR * seconds)) / SR
        y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.normal(size=t.size)
        paths.append(write_wav(f"w{i}.wav", y=y, sr=SR))
    paths.append(write_wav("w4.wav", sr=22050, seconds=0.7, freq=300.0))
    return paths


def _lazy_and_eager(paths, **kw):
    lazy = AudioLoader(duration=0.5, lazy=True, **kw).fit_transform(paths)
    eager = AudioLoader(duration=0.5, **kw).fit_transform(paths)
    return lazy, eager


# ------------------------------------------------------------ same values

SMALL = {"n_fft": 512, "hop_length": 256}
TRANSFORMERS = [
    MelSpectrogram(n_mels=40, **SMALL),
    MelSpectrogram(n_mels=40, backend="librosa", **SMALL),
    MFCC(n_mfcc=13, n_mels=40, deltas=1, **SMALL),
    Chroma(**SMALL),
    SpectralContrast(**SMALL),
    ZeroCrossingRate(frame_length=512, hop_length=256),
    RMS(frame_length=512, hop_length=256),
    ClassicFeatures(n_mels=40, n_mfcc=13, device="cpu", **SMALL),
    make_pipeline(MelSpectrogram(n_mels=40, **SMALL), TimePooling()),
    make_classic_features(n_mfcc=13, n_mels=40, **SMALL),
]


IDS = [
    "mel-torch",
    "mel-librosa",
    "mfcc",
    "chroma",
    "contrast",
    "zcr",
    "rms",
    "classic-shared-stft",
    "mel-pooled",
    "classic-featureunion",
]


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=IDS)
def test_lazy_input_gives_the_eager_values(transformer, wavs, small_chunks):
    lazy, eager = _lazy_and_eager(wavs)
    assert isinstance(lazy, LazyWaveforms) and isinstance(eager, np.ndarray)
    assert lazy._chunk_clips() == 2  # 3 chunks for 5 clips
    expected = clone(transformer).fit_transform(eager)
    out = clone(transformer).fit_transform(lazy)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(
        clone(transformer).transform(lazy), expected, rtol=1e-6, atol=1e-5
    )


def test_loader_settings_apply_to_lazy_loading(wavs, small_chunks):
    kw = {"pad_mode": "center", "offset": 0.05, "n_jobs": 2}
    lazy, eager = _lazy_and_eager(wavs, **kw)
    np.testing.assert_array_equal(np.asarray(lazy), eager)
    assert not eager[0, :100].any()  # the short clip is centred


def test_waveforms_given_to_a_lazy_loader_pass_through():
    X = np.random.default_rng(0).normal(size=(3, 9000)).astype(np.float64)
    out = AudioLoader(duration=0.5, lazy=True).fit_transform(X)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, AudioLoader(duration=0.5).transform(X))


def test_other_consumers_load_the_whole_array(wavs):
    lazy, eager = _lazy_and_eager(wavs)
    np.testing.assert_array_equal(
        FunctionTransformer(np.abs).fit_transform(lazy), np.abs(eager)
    )
    np.testing.assert_allclose(
        StandardScaler().fit_transform(lazy), StandardScaler().fit_transform(eager)
    )
    np.testing.assert_array_equal(_safe_indexing(lazy, [4, 0]), eager[[4, 0]])
    # a consumer that is not a sersk transformer gets the array itself
    np.testing.assert_array_equal(
        FunctionTransformer(lambda X: np.asarray(X)[:, ::2]).fit_transform(lazy),
        eager[:, ::2],
    )


def test_fit_does_not_read_the_files(wavs, tmp_path):
    paths = [*wavs, tmp_path / "missing.wav"]
    lazy = AudioLoader(duration=0.5, lazy=True).fit_transform(paths)
    mel = MelSpectrogram(n_mels=40, **SMALL).fit(lazy)  # nothing is read
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        mel.transform(lazy)


# ----------------------------------------------------------------- indexing


def test_array_like_interface(wavs):
    lazy, eager = _lazy_and_eager(wavs)
    n = len(wavs)
    assert len(lazy) == n and lazy.shape == (n, N_SAMPLES) == eager.shape
    assert lazy.ndim == 2 and lazy.dtype == np.float32
    assert lazy.size == eager.size and lazy.nbytes == eager.nbytes
    assert repr(lazy) == f"LazyWaveforms(n_clips={n}, n_samples={N_SAMPLES}, sr=16000)"
    assert lazy.paths == tuple(wavs)
    assert lazy.loader.lazy is False and lazy.loader.duration == 0.5

    for key in [0, 3, -1, np.int64(2)]:
        out = lazy[key]
        assert out.shape == (N_SAMPLES,) and out.dtype == np.float32
        np.testing.assert_array_equal(out, eager[key])
    mask = np.array([True, False, True, True, False])
    keys = [slice(1, 4), slice(None, None, -2), [4, 0, 4], np.array([1, 2]), mask]
    for key in keys:
        out = lazy[key]
        assert out.ndim == 2 and out.dtype == np.float32
        np.testing.assert_array_equal(out, eager[key])
    np.testing.assert_array_equal(lazy[[1, 3], :100], eager[[1, 3], :100])
    np.testing.assert_array_equal(lazy[2, 10:20], eager[2, 10:20])
    np.testing.assert_array_equal(lazy[[0, 1], ...], eager[[0, 1], ...])
    np.testing.assert_array_equal(lazy[...], eager)
    np.testing.assert_array_equal(lazy[..., 5], eager[..., 5])
    assert lazy[3:3].shape == (0, N_SAMPLES)
    np.testing.assert_array_equal(np.asarray(lazy), eager)
    assert np.asarray(lazy, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(np.stack(list(lazy)), eager)

    with pytest.raises(IndexError, match="out of bounds"):
        lazy[n]
    with pytest.raises(IndexError, match="out of bounds"):
        lazy[-n - 1]
    with pytest.raises(IndexError):
        lazy[np.ones(n + 1, dtype=bool)]
    with pytest.raises(IndexError, match="1-D array of indices"):
        lazy[np.array([[0, 1]])]
    with pytest.raises(IndexError, match="newaxis"):
        lazy[None]


def test_iter_chunks(wavs):
    lazy, eager = _lazy_and_eager(wavs)
    chunks = list(lazy.iter_chunks(2))
    assert [sl for sl, _ in chunks] == [slice(0, 2), slice(2, 4), slice(4, 5)]
    for sl, chunk in chunks:
        assert chunk.dtype == np.float32
        np.testing.assert_array_equal(chunk, eager[sl])
    [(sl, whole)] = list(lazy.iter_chunks())  # default: ~4 MiB, all 5 clips
    assert sl == slice(0, 5)
    np.testing.assert_array_equal(whole, eager)
    for bad in [0, -1, 1.5, True]:
        with pytest.raises(ValueError, match="chunk_size must be a positive int"):
            next(lazy.iter_chunks(bad))


def test_verbose_shows_one_progress_bar_per_pass(wavs, capsys):
    lazy = AudioLoader(duration=0.5, lazy=True, verbose=True).transform(wavs)
    MelSpectrogram(n_mels=40, **SMALL).transform(lazy)
    assert capsys.readouterr().err.count("AudioLoader") >= 1


# ---------------------------------------------------------- params and errors


def test_lazy_needs_a_fixed_duration_and_mono(wavs):
    with pytest.raises(ValueError, match=r"lazy=True.*duration=None.*Set duration"):
        AudioLoader(lazy=True).fit(wavs)
    with pytest.raises(ValueError, match=r"lazy=True.*duration=None"):
        AudioLoader(lazy=True).transform(wavs)
    with pytest.raises(ValueError, match=r"mono=False.*Use mono=True"):
        AudioLoader(duration=1.0, mono=False, lazy=True).transform(wavs)
    with pytest.raises(InvalidParameterError, match="'lazy' parameter of AudioLoader"):
        AudioLoader(duration=1.0, lazy="yes").fit(wavs)


@pytest.fixture
def corrupt(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF this is not really a wave file" * 10)
    return path


def test_on_error_raise_raises_in_the_consumer(wavs, corrupt, small_chunks):
    lazy = AudioLoader(duration=0.5, lazy=True).transform([*wavs[:3], corrupt])
    with pytest.raises(AudioReadError, match="corrupt.wav"):
        MelSpectrogram(**SMALL).transform(lazy)
    with pytest.raises(AudioReadError, match="corrupt.wav"):
        lazy[3]
    np.testing.assert_array_equal(
        lazy[:3], AudioLoader(duration=0.5).transform(wavs[:3])
    )


def _ours(caught):
    return [w for w in caught if issubclass(w.category, AudioLoadWarning)]


def test_on_error_warn_gives_one_warning_per_object(
    wavs, corrupt, tmp_path, small_chunks
):
    # bad files in the first and the last of three chunks
    missing = tmp_path / "missing.wav"
    paths = [wavs[0], corrupt, wavs[1], wavs[2], missing]
    loader = AudioLoader(duration=0.5, lazy=True, on_error="warn")
    mel = MelSpectrogram(n_mels=40, **SMALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        eager = AudioLoader(duration=0.5, on_error="warn").transform(paths)
        expected = mel.transform(eager)
    [eager_warning] = _ours(caught)
    assert eager_warning.filename == __file__

    lazy = loader.transform(paths)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = mel.transform(lazy)
    [warning] = _ours(caught)
    assert warning.filename == __file__  # points at the transform call
    assert str(warning.message) == str(eager_warning.message)
    assert "replaced 2 of 5 file(s) by zeros" in str(warning.message)
    assert [p for p, _ in warning.message.bad_files] == [str(corrupt), str(missing)]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-5)

    # later passes over the same object do not repeat the warning ...
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.testing.assert_array_equal(np.asarray(lazy), eager)
        ZeroCrossingRate(frame_length=512, hop_length=256).transform(lazy)
    assert _ours(caught) == []
    # ... a new transform call (a new object) warns again, a FeatureUnion once
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        union = make_classic_features(n_mfcc=13, n_mels=40, **SMALL)
        union.fit_transform(loader.transform(paths))
    assert len(_ours(caught)) == 1
    # indexing warns about the bad files it read
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh = loader.transform(paths)
        np.testing.assert_array_equal(fresh[[1, 2]], eager[[1, 2]])
        fresh[1]
    [warning] = _ours(caught)
    assert warning.filename == __file__
    assert "replaced 1 of 2 file(s)" in str(warning.message)


# --------------------------------------------------------- pickle and clone


def test_pickle_and_clone(wavs):
    loader = AudioLoader(duration=0.5, lazy=True, on_error="warn")
    assert clone(loader).get_params()["lazy"] is True
    lazy = loader.transform(wavs)
    blob = pickle.dumps(lazy)
    assert len(blob) < lazy.nbytes / 10  # paths and settings, not samples
    restored = pickle.loads(blob)
    assert isinstance(restored, LazyWaveforms) and restored.shape == lazy.shape
    np.testing.assert_array_equal(np.asarray(restored), np.asarray(lazy))


def test_fitted_lazy_pipeline_pickles_and_predicts_like_the_eager_one(write_wav):
    paths, y = [], []
    for i in range(8):
        freq = 200.0 if i % 2 else 1500.0
        paths.append(write_wav(f"tone{i}.wav", seconds=0.4 + 0.05 * i, freq=freq))
        y.append("low" if i % 2 else "high")
    pipe = make_pipeline(
        AudioLoader(duration=0.5, lazy=True),
        MelSpectrogram(n_mels=40, **SMALL),
        TimePooling(),
        StandardScaler(),
        LogisticRegression(),
    ).fit(paths, y)
    restored = pickle.loads(pickle.dumps(pipe))
    eager = clone(pipe).set_params(audioloader__lazy=False).fit(paths, y)
    assert restored.predict(paths).tolist() == y
    np.testing.assert_allclose(
        restored.predict_proba(paths), eager.predict_proba(paths), rtol=1e-5
    )


def test_sersk_pipelines_load_lazily_when_deep():
    from sersk.pipelines import make_crnn_pipeline, make_svm_pipeline

    deep = make_crnn_pipeline(duration=3.0, trim_db=None)
    assert deep.named_steps["audioloader"].lazy is True
    # trimming silence needs each whole clip: the default deep front reads eagerly
    assert make_crnn_pipeline().named_steps["audioloader"].lazy is False
    # the classic FeatureUnion would read every file once per branch
    assert make_svm_pipeline(duration=3.0).named_steps["audioloader"].lazy is False


# ----------------------------------------------------------------- RAVDESS


def test_ravdess_lazy_equals_eager(ravdess_root, small_chunks):
    from sersk.pipelines import make_crnn_pipeline

    # RAVDESS clips open with about 1 s of digital silence: skip it
    paths = sorted(ravdess_root.glob("Actor_0[12]/*.wav"))[::12][:9]
    deep = make_crnn_pipeline(duration=0.5, trim_db=None, n_mels=128)
    lazy_front = deep[:-2].set_params(audioloader__offset=1.0)  # loader -> mel
    eager_front = clone(lazy_front).set_params(audioloader__lazy=False)
    out = lazy_front.fit_transform(paths)
    assert out.shape[:2] == (9, 128) and out.dtype == np.float32
    np.testing.assert_allclose(out, eager_front.fit_transform(paths), atol=1e-5)
    lazy, eager = _lazy_and_eager(paths, offset=1.0)
    classic = ClassicFeatures(device="cpu", **SMALL)
    np.testing.assert_allclose(
        classic.transform(lazy), classic.transform(eager), rtol=1e-6, atol=1e-5
    )


# ------------------------------------------------------------------ memory


def _traced_peak(func):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = func()
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_lazy_pipeline_never_holds_all_waveforms(write_wav, monkeypatch):
    """Traced (numpy) peak: lazy < the waveform array < eager."""
    n_clips, seconds = 160, 1.0
    monkeypatch.setattr(_lazy, "LAZY_CHUNK_BYTES", 2 * 4 * SR)  # 2 clips/chunk
    paths = [
        write_wav(f"m{i}.wav", seconds=seconds, freq=200.0 + 10 * i)
        for i in range(n_clips)
    ]
    wave_bytes = n_clips * int(SR * seconds) * 4
    mel = MelSpectrogram(n_mels=16, n_fft=256, hop_length=128, backend="librosa")
    mel.transform(AudioLoader(duration=seconds).transform(paths[:2]))  # warm caches

    def run(lazy):
        loader = AudioLoader(duration=seconds, lazy=lazy)
        return make_pipeline(loader, clone(mel)).transform(paths)

    out_lazy, peak_lazy = _traced_peak(lambda: run(True))
    out_eager, peak_eager = _traced_peak(lambda: run(False))
    # chunks of other sizes may take other FFT / BLAS code paths (dB units)
    np.testing.assert_allclose(out_lazy, out_eager, rtol=0, atol=1e-3)
    assert peak_eager > wave_bytes
    assert peak_lazy < 0.5 * wave_bytes
    assert peak_lazy < peak_eager / 2


@pytest.mark.slow  # trains a (tiny) CNN: ~5 s on 2 busy cores
def test_deep_pipeline_from_paths_fits_and_predicts_like_the_eager_one(write_wav):
    from sersk.pipelines import make_cnn_pipeline

    paths = [
        write_wav(f"d{i}.wav", seconds=0.5, freq=200.0 if i % 2 else 1500.0)
        for i in range(8)
    ]
    y = ["low" if i % 2 else "high" for i in range(8)]
    pipe = make_cnn_pipeline(duration=0.5, trim_db=None, max_epochs=1, verbose=0)
    pipe.fit(paths, y)
    assert pipe.named_steps["audioloader"].lazy is True
    proba = pipe.predict_proba(paths)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_allclose(restored.predict_proba(paths), proba, rtol=1e-5)
    eager = pipe.set_params(audioloader__lazy=False)
    np.testing.assert_allclose(eager.predict_proba(paths), proba, rtol=1e-5)
