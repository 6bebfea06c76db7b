import sys

import numpy as np
import pytest
import soundfile as sf

from sersk.exceptions import AudioReadError, InvalidAudioError
from sersk.io import load_audio, resample


def test_import_sersk_does_not_import_torch():
    import subprocess

    code = "import sersk, sersk.io, sersk.utils, sys; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_load_audio_any_bit_depth(write_wav, subtype):
    sr = 16000
    t = np.arange(sr // 2) / sr
    y = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = write_wav("tone.wav", y=y, sr=sr, subtype=subtype)
    out, out_sr = load_audio(path)
    assert out_sr == sr
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, y, atol=1e-4)


@pytest.mark.parametrize("fmt,ext", [("FLAC", "flac"), ("OGG", "ogg")])
def test_load_audio_flac_ogg(tmp_path, fmt, ext):
    sr = 16000
    y = 0.3 * np.sin(2 * np.pi * 300 * np.arange(sr) / sr)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, y, sr, format=fmt)
    out, out_sr = load_audio(path)
    assert out_sr == sr
    assert abs(len(out) - sr) < 100
    # same dominant frequency after a lossy or lossless round trip
    spec = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spec) * sr / len(out) - 300) < 5


def test_load_audio_stereo_mixdown_and_multichannel(write_wav):
    sr = 8000
    left = np.full(800, 0.2)
    right = np.full(800, 0.6)
    path = write_wav(
        "stereo.wav", y=np.stack([left, right], axis=1), sr=sr, subtype="FLOAT"
    )
    mono, _ = load_audio(path)
    assert mono.shape == (800,)
    np.testing.assert_allclose(mono, 0.4, atol=1e-6)
    multi, _ = load_audio(path, mono=False)
    assert multi.shape == (2, 800)
    np.testing.assert_allclose(multi[1], 0.6, atol=1e-6)


def test_load_audio_resample_offset_duration(write_wav):
    path = write_wav("tone.wav", sr=16000, seconds=2.0)
    y, sr = load_audio(path, sr=22050, offset=0.5, duration=1.0)
    assert sr == 22050
    assert y.shape == (22050,)
    y2, _ = load_audio(path, sr=8000)
    assert y2.shape == (16000,)


def test_load_audio_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Audio file not found"):
        load_audio(tmp_path / "nope.wav")


def test_load_audio_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_audio(tmp_path)


def test_load_audio_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not a wav file")
    with pytest.raises(AudioReadError, match="Could not decode") as info:
        load_audio(path)
    assert isinstance(info.value, OSError)


def test_load_audio_empty(write_wav):
    path = write_wav("empty.wav", y=np.zeros(0))
    with pytest.raises(InvalidAudioError, match="empty"):
        load_audio(path)


def test_load_audio_nan(write_wav):
    y = np.zeros(100)
    y[10] = np.nan
    path = write_wav("nan.wav", y=y, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match="NaN/Inf"):
        load_audio(path)


def test_load_audio_offset_past_end(write_wav):
    path = write_wav("short.wav", seconds=0.5)
    with pytest.raises(InvalidAudioError, match="past the end"):
        load_audio(path, offset=3.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sr": 0}, "'sr' parameter"),
        ({"offset": -1.0}, "'offset' parameter"),
        ({"duration": 0}, "'duration'"),
    ],
)
def test_load_audio_bad_params(write_wav, kwargs, match):
    path = write_wav()
    with pytest.raises(ValueError, match=match):
        load_audio(path, **kwargs)


def test_load_audio_not_a_path():
    with pytest.raises(TypeError, match="expects a file path"):
        load_audio(12)


def test_resample_identity_and_batch():
    x = np.random.randn(2, 1600).astype(np.float32)
    assert resample(x, orig_sr=16000, target_sr=16000) is not None
    np.testing.assert_array_equal(resample(x, orig_sr=16000, target_sr=16000), x)
    assert resample(x, orig_sr=16000, target_sr=8000).shape == (2, 800)


def test_load_audio_real_ravdess(ravdess_root):
    path = next((ravdess_root / "Actor_01").glob("*.wav"))
    y, sr = load_audio(path)
    assert sr == 16000
    assert y.ndim == 1 and len(y) > sr  # every RAVDESS clip is longer than 1 s
    assert np.abs(y).max() <= 1.0
