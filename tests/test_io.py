import sys
import warnings

import numpy as np
import pytest
import soundfile as sf

from sersk.exceptions import AudioAmplitudeWarning, AudioReadError, InvalidAudioError
from sersk.io import load_audio, pcm_to_float, resample


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


# ------------------------------------------------------------ integer PCM
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_32"])
def test_pcm_to_float_matches_soundfile(write_wav, subtype):
    """scipy.io.wavfile.read returns the raw integers (uint8, int16, int32);
    pcm_to_float scales them as soundfile/libsndfile do for load_audio."""
    from scipy.io import wavfile

    t = np.arange(4000) / 8000
    path = write_wav(
        "pcm.wav", y=0.7 * np.sin(2 * np.pi * 300 * t), sr=8000, subtype=subtype
    )
    _, raw = wavfile.read(path)
    assert raw.dtype.kind in "iu"
    expected, _ = load_audio(path)
    # both divide by a power of two: at most one float32 rounding apart
    np.testing.assert_allclose(pcm_to_float(raw), expected, rtol=0, atol=2**-23)
    assert pcm_to_float(raw).dtype == np.float32


def test_pcm_to_float_full_scale_and_floats():
    np.testing.assert_array_equal(  # exact: powers of two
        pcm_to_float(np.array([-32768, 16384, 0], dtype=np.int16)), [-1.0, 0.5, 0.0]
    )
    np.testing.assert_array_equal(
        pcm_to_float(np.array([-(2**31), 2**30], dtype=np.int32)), [-1.0, 0.5]
    )
    np.testing.assert_array_equal(
        pcm_to_float(np.array([-128, 64], np.int8)), [-1, 0.5]
    )
    x = np.array([0.25, -1.0])
    assert pcm_to_float(x).dtype == np.float32
    np.testing.assert_array_equal(pcm_to_float(x), x)


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.uint32])
def test_pcm_to_float_refuses_integers_of_unknown_scale(dtype):
    with pytest.raises(
        InvalidAudioError,
        match=rf"y has dtype {np.dtype(dtype)}, which is not a PCM sample format.*"
        r"y.astype\(np.int16\)",
    ):
        pcm_to_float(np.zeros(10, dtype=dtype))
    with pytest.raises(InvalidAudioError, match="not a PCM sample format"):
        resample(np.zeros(10, dtype=dtype), orig_sr=16000, target_sr=8000)


def test_pcm_to_float_refuses_non_numbers():
    with pytest.raises(TypeError, match="integer PCM or float samples; got dtype <U1"):
        pcm_to_float(np.array(["a", "b"]))


def test_resample_scales_integer_pcm():
    # the int16 samples of a 16 kHz tone, as scipy.io.wavfile.read returns them
    t = np.arange(16000) / 16000
    y = 0.5 * np.sin(2 * np.pi * 440 * t)
    pcm = np.round(y * 32767).astype(np.int16)
    out = resample(pcm, orig_sr=16000, target_sr=8000)
    ref = resample(pcm / 32768.0, orig_sr=16000, target_sr=8000)
    assert out.dtype == np.float32 and np.abs(out).max() < 0.6
    # float32 vs float64 input of the same resampler
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)
    same = resample(pcm, orig_sr=16000, target_sr=16000)
    np.testing.assert_allclose(same, pcm / 32768.0, rtol=0, atol=2**-24)


def test_unscaled_pcm_cast_to_float_warns():
    pcm = np.tile([0, 16384, -12000, 300], 250).astype(np.int16)
    with pytest.warns(
        AudioAmplitudeWarning,
        match=r"y has a peak amplitude of 16384, far outside \[-1, 1\].*pcm_to_float",
    ) as record:
        resample(pcm.astype(np.float32), orig_sr=16000, target_sr=8000)
    assert record[0].filename == __file__  # points at the caller
    with pytest.warns(AudioAmplitudeWarning) as record:
        pcm_to_float(pcm.astype(np.float64))
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioAmplitudeWarning)
        pcm_to_float(np.array([1.5, -2.0]))  # hot, but not in the wrong units


def test_load_audio_warns_on_float_file_in_pcm_units(write_wav):
    path = write_wav("loud.wav", y=np.full(800, 3000.0), sr=8000, subtype="FLOAT")
    with pytest.warns(
        AudioAmplitudeWarning, match=r"loud.wav' has a peak amplitude of 3000"
    ) as record:
        y, _ = load_audio(path)
    assert record[0].filename == __file__
    np.testing.assert_array_equal(y, 3000.0)  # exact: float32 stored and read back


def test_load_audio_refuses_named_pipes_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)
    # opening a FIFO for reading would block until a writer appears
    with pytest.raises(AudioReadError, match="not a regular file"):
        load_audio(fifo)


def test_load_audio_refuses_absurd_sampling_rates(tmp_path):
    import soundfile as sf

    path = tmp_path / "one_hz.wav"
    sf.write(path, np.zeros(20000, dtype=np.int16), 1, subtype="PCM_16")
    with pytest.raises(InvalidAudioError, match="declares a sampling rate of 1 Hz"):
        load_audio(path, sr=16000)


def test_load_audio_warns_when_upsampling(write_wav):
    from sersk.exceptions import LowSampleRateWarning

    path = write_wav("narrow.wav", sr=8000, seconds=0.5)
    with pytest.warns(LowSampleRateWarning, match="8000 Hz and is upsampled to 16000"):
        y, sr = load_audio(path, sr=16000)
    assert sr == 16000 and y.shape == (8000,)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LowSampleRateWarning)
        load_audio(write_wav("wide.wav", sr=22050, seconds=0.2), sr=16000)
