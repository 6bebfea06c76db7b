"""AudioLoader: real WAV files in tmp_path, padding/trimming, errors and warnings."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sersk.exceptions import AudioLoadWarning, AudioReadError, InvalidAudioError
from sersk.features import AudioLoader
from sersk.io import load_audio

SR = 16000


def _ramp(n):
    """A distinctive float signal: sample i holds (i + 1) / (n + 1) * 0.5."""
    return (0.5 * np.arange(1, n + 1) / (n + 1)).astype(np.float32)


@pytest.fixture
def clips(write_wav):
    """Three real WAV files of 0.25, 0.5 and 0.75 s (float32 samples, exact)."""
    return [
        write_wav(f"c{i}.wav", y=_ramp(n), sr=SR, subtype="FLOAT")
        for i, n in enumerate([4000, 8000, 12000])
    ]


def test_fixed_duration_pads_and_trims_at_the_end(clips):
    X = AudioLoader(sr=SR, duration=0.5).fit_transform(clips)
    assert X.shape == (3, 8000) and X.dtype == np.float32
    np.testing.assert_array_equal(X[0, :4000], _ramp(4000))
    np.testing.assert_array_equal(X[0, 4000:], 0.0)
    np.testing.assert_array_equal(X[1], _ramp(8000))
    np.testing.assert_array_equal(X[2], _ramp(12000)[:8000])


def test_center_mode_pads_both_sides_and_keeps_the_middle(clips):
    X = AudioLoader(sr=SR, duration=0.5, pad_mode="center").transform(clips)
    np.testing.assert_array_equal(X[0, :2000], 0.0)
    np.testing.assert_array_equal(X[0, 2000:6000], _ramp(4000))
    np.testing.assert_array_equal(X[0, 6000:], 0.0)
    np.testing.assert_array_equal(X[2], _ramp(12000)[2000:10000])


def test_native_lengths_give_an_object_array(clips):
    X = AudioLoader(sr=SR).transform(clips)
    assert X.dtype == object and X.shape == (3,)
    assert [y.shape for y in X] == [(4000,), (8000,), (12000,)]
    assert all(y.dtype == np.float32 for y in X)
    np.testing.assert_array_equal(X[1], _ramp(8000))


@pytest.mark.parametrize(
    "wrap",
    [
        list,
        tuple,
        lambda p: [str(x) for x in p],
        lambda p: np.array([str(x) for x in p]),
        lambda p: np.array(p, dtype=object)[:, np.newaxis],
        lambda p: pd.Series([str(x) for x in p]),
        lambda p: pd.DataFrame({"path": [str(x) for x in p]}),
    ],
    ids=["paths", "tuple", "str", "ndarray", "column", "series", "dataframe"],
)
def test_accepts_common_containers_of_paths(clips, wrap):
    X = AudioLoader(sr=SR, duration=0.25).transform(wrap(clips))
    assert X.shape == (3, 4000)
    np.testing.assert_array_equal(X[2], _ramp(12000)[:4000])


def test_resamples_to_sr_and_matches_load_audio(write_wav):
    t = np.arange(22050) / 22050
    path = write_wav("tone.wav", y=0.3 * np.sin(2 * np.pi * 300 * t), sr=22050)
    y_ref, _ = load_audio(path, sr=SR)
    X = AudioLoader(sr=SR).transform([path])
    assert X[0].shape == (16000,)
    np.testing.assert_allclose(X[0], y_ref, atol=1e-6)
    Xd = AudioLoader(sr=SR, duration=1.0, pad_mode="center").transform([path])
    np.testing.assert_allclose(Xd[0], y_ref, atol=1e-6)


def test_offset_and_stereo(write_wav):
    left, right = _ramp(8000), -0.5 * _ramp(8000)
    path = write_wav(
        "st.wav", y=np.stack([left, right], axis=1), sr=SR, subtype="FLOAT"
    )
    mono = AudioLoader(sr=SR, offset=0.25).transform([path])[0]
    np.testing.assert_allclose(mono, ((left + right) / 2)[4000:], atol=1e-7)
    stereo = AudioLoader(sr=SR, duration=0.5, mono=False).transform([path, path])
    assert stereo.shape == (2, 2, 8000)
    np.testing.assert_array_equal(stereo[0, 1], right)


def test_parallel_and_progress_bar_give_the_same_result(clips, capsys):
    ref = AudioLoader(sr=SR, duration=0.5).transform(clips)
    par = AudioLoader(sr=SR, duration=0.5, n_jobs=2, verbose=True).transform(clips)
    np.testing.assert_array_equal(par, ref)
    assert "AudioLoader" in capsys.readouterr().err  # tqdm writes to stderr


def test_waveforms_pass_through(clips):
    rng = np.random.default_rng(0)
    X = rng.normal(scale=0.1, size=(4, 1000))
    out = AudioLoader().fit_transform(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, X.astype(np.float32))
    padded = AudioLoader(sr=1000, duration=1.5, pad_mode="center").transform(X)
    assert padded.shape == (4, 1500)
    np.testing.assert_array_equal(padded[:, 250:1250], X.astype(np.float32))
    ragged = AudioLoader(sr=SR).transform(clips)  # object array of waveforms
    again = AudioLoader(sr=SR).transform(ragged)
    assert again.dtype == object and all(
        np.array_equal(a, b) for a, b in zip(again, ragged, strict=True)
    )
    fixed = AudioLoader(sr=SR, duration=0.5).transform(ragged)
    np.testing.assert_array_equal(
        fixed, AudioLoader(sr=SR, duration=0.5).transform(clips)
    )


def test_stateless_clone_and_pickle(clips):
    loader = AudioLoader(sr=SR, duration=0.5)
    out = loader.transform(clips)  # no fit needed
    assert loader.fit(clips) is loader
    restored = pickle.loads(pickle.dumps(clone(loader)))
    np.testing.assert_array_equal(restored.transform(clips), out)
    assert list(loader.get_feature_names_out()[:2]) == ["sample0", "sample1"]
    assert list(AudioLoader().get_feature_names_out()) == ["waveform"]


# ----------------------------------------------------------------- bad files


@pytest.fixture
def bad_files(tmp_path, write_wav):
    """Every kind of unusable file, each with a substring of its error message."""
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF this is not really a wave file" * 10)
    empty = write_wav("empty.wav", y=np.zeros(0, dtype=np.float32))
    nan = write_wav("nan.wav", y=np.array([0.1, np.nan, 0.2] * 100), subtype="FLOAT")
    silent = write_wav("silent.wav", y=np.zeros(4000))
    folder = tmp_path / "a_folder"
    folder.mkdir()
    return {
        tmp_path / "missing.wav": (FileNotFoundError, "Audio file not found"),
        folder: (IsADirectoryError, "is a directory"),
        corrupt: (AudioReadError, "Could not decode"),
        empty: (InvalidAudioError, "empty"),
        nan: (InvalidAudioError, "NaN/Inf"),
        silent: (InvalidAudioError, "pure digital silence"),
    }


def test_raise_names_the_bad_file(clips, bad_files):
    for path, (exc_type, message) in bad_files.items():
        with pytest.raises(exc_type, match=message) as info:
            AudioLoader(sr=SR, duration=0.5).transform([clips[0], path, clips[1]])
        assert Path(path).name in str(info.value)


def test_raise_reports_the_first_bad_file_in_order(clips, bad_files):
    paths = list(bad_files)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        AudioLoader(n_jobs=2).transform([clips[0], paths[0], paths[2]])


@pytest.mark.parametrize("duration", [0.5, None])
def test_warn_replaces_bad_files_by_zeros_with_one_warning(clips, bad_files, duration):
    paths = [clips[0], *bad_files, clips[1]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = AudioLoader(sr=SR, duration=duration, on_error="warn").transform(paths)
    ours = [w for w in caught if issubclass(w.category, AudioLoadWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert f"replaced {len(bad_files)} of {len(paths)} file(s) by zeros" in message
    for path, (_, reason) in bad_files.items():
        assert str(path) in message and reason in message
    assert [p for p, _ in ours[0].message.bad_files] == [str(p) for p in bad_files]
    n = 8000 if duration else SR
    for row in X[1:-1]:
        np.testing.assert_array_equal(row, np.zeros(n, dtype=np.float32))
    np.testing.assert_array_equal(X[-1], _ramp(8000))
    assert X[0][:4000].tolist() == _ramp(4000).tolist()


def test_warn_mode_is_silent_when_all_files_are_good(clips):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AudioLoader(on_error="warn").transform(clips)


def test_bad_arrays_raise_even_in_warn_mode():
    X = np.ones((2, 100))
    X[1, 5] = np.nan
    with pytest.raises(
        InvalidAudioError, match=r"NaN/Inf value\(s\) \(in clip\(s\) \[1\]"
    ):
        AudioLoader(on_error="warn").transform(X)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "X, exc, match",
    [
        ("clip.wav", TypeError, "got a single path 'clip.wav'. Wrap it in a list"),
        ([], ValueError, "empty list of paths"),
        (["a.wav", 3.0], TypeError, "mix of paths and other values: item 1 is float"),
        (np.ones(10), ValueError, "got an array of shape \\(10,\\). Reshape your data"),
        (np.ones((2, 3, 4)), ValueError, "mix channels down to mono"),
        (np.ones((2, 0)), ValueError, "empty waveforms"),
        (np.ones((2, 5)) + 1j, ValueError, "Complex data not supported"),
        (np.array([["a.wav", "b.wav"]]), ValueError, "1-D array of paths; got shape"),
        (
            pd.DataFrame({"path": ["a.wav"], "label": ["sad"]}),
            ValueError,
            "DataFrame with 2 columns",
        ),
    ],
    ids=["str", "empty", "mixed", "1d", "3d", "0samples", "complex", "2dpaths", "df"],
)
def test_bad_input_messages(X, exc, match):
    with pytest.raises(exc, match=match):
        AudioLoader().fit(X)


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"sr": 0},
            "The 'sr' parameter of AudioLoader must be an int in the range \\[1, 768000\\]. Got 0 instead.",
        ),
        ({"duration": -1.0}, "The 'duration' parameter of AudioLoader must be"),
        (
            {"pad_mode": "left"},
            "The 'pad_mode' parameter of AudioLoader must be a str among",
        ),
        ({"on_error": "ignore"}, "The 'on_error' parameter of AudioLoader must be"),
        ({"offset": -0.5}, "The 'offset' parameter of AudioLoader must be"),
    ],
)
def test_bad_parameters(clips, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        AudioLoader(**params).transform(clips)


def test_duration_shorter_than_a_sample(clips):
    with pytest.raises(ValueError, match="less than one sample at sr=16000"):
        AudioLoader(duration=1e-6).fit(clips)


# ----------------------------------------------------------------- RAVDESS


def test_loads_real_ravdess_clips(ravdess_root):
    import librosa

    paths = sorted((ravdess_root / "Actor_01").glob("*.wav"))[:3]
    X = AudioLoader(sr=22050, duration=3.0).transform(paths)
    assert X.shape == (3, 66150) and np.abs(X).max() > 0.01
    y, native_sr = sf.read(paths[0], dtype="float32")
    ref = librosa.resample(y, orig_sr=native_sr, target_sr=22050, res_type="soxr_hq")
    ref = ref[:66150]
    np.testing.assert_allclose(X[0, : ref.size], ref, atol=1e-4)
    native = AudioLoader(sr=16000).transform(paths)
    assert [y.size for y in native] == [sf.info(p).frames for p in paths]


def _padded_tone(lead, tone, tail, sr=16000, seed=0):
    """Quiet noise (-60 dB), a 220 Hz tone, quiet noise: a clip with silences."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * tone)) / sr
    parts = [
        1e-3 * rng.normal(size=int(sr * lead)),
        0.5 * np.sin(2 * np.pi * 220 * t),
        1e-3 * rng.normal(size=int(sr * tail)),
    ]
    return np.concatenate(parts).astype(np.float32)


def test_trim_db_cuts_leading_and_trailing_silence(write_wav):
    y = _padded_tone(0.8, 1.0, 0.6)
    path = write_wav("padded.wav", y=y, subtype="FLOAT")
    (plain,) = AudioLoader().transform([path])
    (trimmed,) = AudioLoader(trim_db=30).transform([path])
    assert plain.shape == (y.size,)
    # the tone lasts 1 s; trim keeps it plus at most a frame (2048) each side
    assert 16000 <= trimmed.size <= 16000 + 2 * 2048
    assert np.abs(trimmed[:2560]).max() > 0.4  # starts within a frame of the onset
    # fixed duration: the tone is at the start, then zero padding
    X = AudioLoader(duration=1.5, trim_db=30).transform([path])
    assert X.shape == (1, 24000)
    assert np.abs(X[0, :4000]).max() > 0.4
    assert not np.any(X[0, trimmed.size :])
    # without trimming the first 0.8 s are the quiet lead-in
    X0 = AudioLoader(duration=1.5).transform([path])
    assert np.abs(X0[0, :12000]).max() < 0.01


def test_trim_db_applies_to_arrays_and_lazy_input_alike(write_wav):
    clips = [_padded_tone(0.5, 0.7, 0.3, seed=i) for i in range(3)]
    paths = [write_wav(f"c{i}.wav", y=c, subtype="FLOAT") for i, c in enumerate(clips)]
    loader = AudioLoader(duration=1.0, trim_db=25)
    from_files = loader.transform(paths)
    from_arrays = loader.transform(np.stack(clips))
    lazy = AudioLoader(duration=1.0, trim_db=25, lazy=True).transform(paths)
    np.testing.assert_allclose(from_files, from_arrays, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(lazy), from_files)
    ragged = AudioLoader(trim_db=25).transform(np.stack(clips))
    assert ragged.dtype == object and all(r.size < 14000 for r in ragged)


@pytest.mark.parametrize("bad", [0, -3.0, "30"])
def test_trim_db_rejects_bad_values(bad):
    with pytest.raises((ValueError, TypeError), match="trim_db"):
        AudioLoader(trim_db=bad).fit(["a.wav"])


def test_leading_silence_longer_than_duration_is_not_digital_silence(write_wav):
    """Only a file silent as a whole is refused, not one that speaks late."""
    speech = np.zeros(16000 * 2)
    speech[16000 + 100 :] = 0.3 * np.sin(np.arange(16000 - 100) / 5.0)  # after 1 s
    late = write_wav("late.wav", y=speech, sr=16000)
    silent = write_wav("silent.wav", y=np.zeros(32000), sr=16000)
    X = AudioLoader(duration=0.5).fit_transform([late])
    assert X.shape == (1, 8000) and not X.any()  # the first half second, as asked
    with pytest.raises(InvalidAudioError, match="pure digital silence"):
        AudioLoader(duration=0.5).fit_transform([silent])
