"""fsspec URLs as audio paths: load_audio, AudioLoader, the feature steps, Dask.

``memory://`` files hold the bytes of real RAVDESS recordings (and a FLAC file
written with soundfile); every value read through a URL is compared with the
same file read from its local path.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import soundfile as sf

from sersk.exceptions import AudioLoadWarning
from sersk.features import AudioLoader, MelSpectrogram, make_classic_features
from sersk.io import load_audio

fsspec = pytest.importorskip("fsspec")

REPO = Path(__file__).resolve().parents[1]
# the same waveforms; float32 spectra of one-thread workers against this
# process's threaded FFT/BLAS: equal up to float32 rounding
RTOL, ATOL = 1e-4, 1e-4


@pytest.fixture
def clips(ravdess_root, tmp_path):
    """Four RAVDESS files and a 22.05 kHz FLAC: local paths and memory:// URLs."""
    local = sorted((ravdess_root / "Actor_01").glob("*.wav"))[:4]
    t = np.arange(int(22050 * 1.3)) / 22050
    flac = tmp_path / "tone.flac"
    sf.write(flac, 0.3 * np.sin(2 * np.pi * 330 * t), 22050)
    local.append(flac)
    memory = fsspec.filesystem("memory")
    root = f"/sersk-test-{uuid.uuid4().hex}"
    urls = []
    for path in local:
        memory.pipe(f"{root}/{path.name}", path.read_bytes())
        urls.append(f"memory://{root}/{path.name}")
    yield [str(p) for p in local], urls
    memory.rm(root, recursive=True)


def test_load_audio_url_equals_local_file(clips):
    local, urls = clips
    for path, url in zip(local, urls, strict=True):
        for kwargs in ({}, {"sr": 16000, "offset": 0.25, "duration": 1.0}):
            y_local, sr_local = load_audio(path, **kwargs)
            y_url, sr_url = load_audio(url, **kwargs)
            assert sr_url == sr_local
            np.testing.assert_array_equal(y_url, y_local)
    # the 22.05 kHz file is resampled like the local one
    assert load_audio(urls[-1], sr=16000)[0].shape == (int(1.3 * 16000),)
    # file:// URLs (read by fsspec's local filesystem) too
    np.testing.assert_array_equal(
        load_audio(Path(local[0]).as_uri())[0], load_audio(local[0])[0]
    )


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_audio_loader_and_features_from_urls_equal_local(clips, n_jobs):
    local, urls = clips
    for kwargs in ({"duration": 2.0}, {"duration": None}):
        # the loader reads in threads: they share this process's memory://
        a = AudioLoader(n_jobs=n_jobs, **kwargs).transform(local)
        b = AudioLoader(n_jobs=n_jobs, **kwargs).transform(urls)
        for ya, yb in zip(a, b, strict=True):
            np.testing.assert_array_equal(yb, ya)
    # memory:// files live in this process: the feature steps, whose workers
    # are processes by default, run them in threads here
    with joblib.parallel_config(backend="threading"):
        _check_feature_steps(local, urls, n_jobs)


def test_file_urls_in_worker_processes_equal_local(clips):
    """Process workers (loky) read ``file://`` URLs themselves."""
    local, _ = clips
    _check_feature_steps(local, [Path(p).as_uri() for p in local], n_jobs=2)


def _check_feature_steps(local, urls, n_jobs):
    # a lazy batch streamed by a feature step, and a feature step given URLs
    lazy = AudioLoader(duration=2.0, lazy=True).transform(urls)
    ref = MelSpectrogram().transform(AudioLoader(duration=2.0).transform(local))
    np.testing.assert_allclose(
        MelSpectrogram(n_jobs=n_jobs).transform(lazy), ref, rtol=RTOL, atol=ATOL
    )
    S_url = MelSpectrogram(n_jobs=n_jobs).transform(urls)
    S_local = MelSpectrogram(n_jobs=n_jobs).transform(local)
    for sa, sb in zip(S_local, S_url, strict=True):
        np.testing.assert_allclose(sb, sa, rtol=RTOL, atol=ATOL)
    classic = make_classic_features(shared_stft=True, n_jobs=n_jobs)
    np.testing.assert_allclose(
        classic.transform(lazy),
        make_classic_features(shared_stft=True).transform(
            AudioLoader(duration=2.0, lazy=True).transform(local)
        ),
        rtol=RTOL,
        atol=ATOL,
    )


def test_url_errors_name_the_url(clips):
    _, urls = clips
    folder = urls[0].rsplit("/", 1)[0]
    with pytest.raises(FileNotFoundError, match="memory://.*/missing.wav"):
        load_audio(folder + "/missing.wav")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_audio(folder)
    with pytest.raises(ValueError, match="nosuchproto://x.wav.*protocol"):
        load_audio("nosuchproto://x.wav")
    # on_error="warn" turns a missing URL into zeros with one warning naming it
    with pytest.warns(AudioLoadWarning, match="missing.wav"):
        X = AudioLoader(duration=1.0, on_error="warn").transform(
            [urls[0], folder + "/missing.wav"]
        )
    assert np.any(X[0]) and not np.any(X[1])


def test_missing_protocol_package_is_named():
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed: s3:// URLs are readable here")
    with pytest.raises(ModuleNotFoundError, match="s3://.*s3fs"):
        load_audio("s3://bucket/clip.wav")


def test_url_without_fsspec_says_pip_install_fsspec(tmp_path):
    """A Python where ``import fsspec`` fails (its sys.modules entry is None)."""
    wav = tmp_path / "tone.wav"
    sf.write(wav, 0.3 * np.sin(np.arange(8000) / 10.0), 16000)
    code = f"""
import sys
sys.modules["fsspec"] = None
from sersk.io import load_audio
from sersk.features import AudioLoader
y, sr = load_audio({str(wav)!r})  # local paths need no fsspec
assert y.shape == (8000,) and sr == 16000
for call in (lambda: load_audio("memory://a.wav"),
             lambda: AudioLoader(on_error="warn").transform(["s3://b/a.wav"])):
    try:
        call()
    except ModuleNotFoundError as exc:
        print("ERROR:", exc)
    else:
        raise SystemExit("no error")
"""
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 2
    assert "'memory://a.wav' is a URL" in errors[0]
    assert "pip install fsspec" in errors[0] and "s3fs" in errors[0]
    # a missing dependency is never turned into zeros by on_error="warn"
    assert "'s3://b/a.wav' is a URL" in errors[1]


def test_local_paths_do_not_import_fsspec(tmp_path):
    wav = tmp_path / "tone.wav"
    sf.write(wav, 0.3 * np.sin(np.arange(8000) / 10.0), 16000)
    code = (
        "import sys\nfrom sersk.io import load_audio\n"
        f"load_audio({str(wav)!r})\nprint('fsspec' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


@pytest.mark.slow
def test_file_urls_on_a_dask_cluster_equal_local(clips):
    """Workers read ``file://`` URLs themselves.

    ``memory://`` files live in the memory of the process that wrote them, so
    worker processes cannot see them; ``file://`` URLs (any protocol every
    worker can reach, such as ``s3://``) go through the same fsspec code.
    """
    pytest.importorskip("distributed")
    import joblib
    from dask.distributed import Client, LocalCluster

    local, _ = clips
    urls = [Path(p).as_uri() for p in local]
    ref = MelSpectrogram().transform(AudioLoader(duration=2.0).transform(local))
    with (
        warnings.catch_warnings(),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        with joblib.parallel_config(backend="dask"):
            lazy = AudioLoader(duration=2.0, lazy=True).transform(urls)
            S = MelSpectrogram(n_jobs=2).transform(lazy)
        assert len(client.scheduler_info()["workers"]) == 2
    # float32 spectra of one-thread workers against this process's threads
    np.testing.assert_allclose(S, ref, rtol=1e-4, atol=1e-4)
