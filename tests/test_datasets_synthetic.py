"""Tests for sersk.datasets.make_emotional_speech (synthetic emotional speech)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.datasets import EMOTIONS, make_emotional_speech
from sersk.datasets._synthetic import _MAX_PEAK, _REFERENCE_RMS, SYNTHETIC_EMOTIONS
from sersk.utils import check_audio

SIX = ("neutral", "happy", "sad", "angry", "fear", "disgust")


@pytest.fixture(scope="module")
def speech():
    """6 emotions x 4 speakers x 3 clips of 1 s."""
    return make_emotional_speech(72, n_speakers=4, duration=1.0, random_state=0)


def _prosody(X, sr=16000):
    """Median F0 (Hz), level (dB) and alpha ratio (dB) of every clip.

    F0 (YIN) and the alpha ratio (energy 1-5 kHz over 50 Hz-1 kHz, a spectral
    tilt measure of eGeMAPS) are taken on the loud frames of each clip.
    """
    f0 = librosa.yin(X, fmin=60, fmax=800, sr=sr, frame_length=1024, hop_length=512)
    power = np.abs(librosa.stft(X, n_fft=1024, hop_length=512)) ** 2
    energy = power.sum(axis=-2)
    loud = energy > 0.2 * energy.max(axis=-1, keepdims=True)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=1024)
    low = power[:, (freqs >= 50) & (freqs < 1000)].sum(axis=-2)
    high = power[:, (freqs >= 1000) & (freqs < 5000)].sum(axis=-2)
    n = min(f0.shape[-1], loud.shape[-1])
    f0, loud, low, high = f0[:, :n], loud[:, :n], low[:, :n], high[:, :n]
    median_f0 = np.array([np.median(f0[i][loud[i]]) for i in range(len(X))])
    alpha = 10 * np.log10(
        np.array(
            [high[i][loud[i]].sum() / low[i][loud[i]].sum() for i in range(len(X))]
        )
    )
    level = 10 * np.log10(np.mean(X.astype(np.float64) ** 2, axis=1))
    return median_f0, level, alpha


def test_shapes_and_dtypes(speech):
    X, y, groups = speech
    assert X.shape == (72, 16000)
    assert X.dtype == np.float32
    assert y.shape == groups.shape == (72,)
    assert y.dtype.kind == "U" and groups.dtype.kind == "U"
    assert set(y) == set(SIX)
    assert set(groups) == {"synth_00", "synth_01", "synth_02", "synth_03"}


def test_waveforms_are_valid_non_silent_audio(speech):
    X, _, _ = speech
    assert np.isfinite(X).all()
    peaks = np.abs(X).max(axis=1)
    assert peaks.max() <= _MAX_PEAK + 1e-6
    assert peaks.min() > 0.01
    rms = np.sqrt(np.mean(X.astype(np.float64) ** 2, axis=1))
    assert (rms > 1e-3).all()
    for clip in X[:3]:
        check_audio(clip)  # sersk's own audio validation accepts the clips


def test_rows_are_shuffled(speech):
    _, y, _ = speech
    assert len(set(y[:12])) > 1


@pytest.mark.parametrize(
    ("n_samples", "n_speakers", "emotions"),
    [(62, 5, SIX), (60, 10, SIX), (27, 3, EMOTIONS), (11, 2, ("sad", "angry"))],
)
def test_balanced_and_every_speaker_speaks_every_emotion(
    n_samples, n_speakers, emotions
):
    _, y, groups = make_emotional_speech(
        n_samples,
        emotions=emotions,
        n_speakers=n_speakers,
        duration=0.2,
        random_state=1,
    )
    labels, counts = np.unique(y, return_counts=True)
    assert set(labels) == set(emotions)
    assert counts.sum() == n_samples
    assert counts.max() - counts.min() <= 1
    speakers = np.unique(groups)
    assert speakers.size == n_speakers
    table = np.array(
        [[np.sum((y == e) & (groups == s)) for s in speakers] for e in labels]
    )
    assert (table >= 1).all()
    # within a class the clips are spread evenly over the speakers
    assert (table.max(axis=1) - table.min(axis=1) <= 1).all()


def test_speaker_names_are_zero_padded():
    _, _, groups = make_emotional_speech(
        12, emotions=["sad"], n_speakers=12, duration=0.1, random_state=0
    )
    assert sorted(set(groups)) == [f"synth_{i:02d}" for i in range(12)]
    _, _, groups = make_emotional_speech(
        101, emotions=["sad"], n_speakers=101, duration=0.1, random_state=0
    )
    assert sorted(set(groups))[:2] == ["synth_000", "synth_001"]
    assert "synth_100" in groups


def test_deterministic_for_a_fixed_random_state():
    kwargs = dict(n_speakers=2, duration=0.3)
    X1, y1, g1 = make_emotional_speech(12, random_state=3, **kwargs)
    X2, y2, g2 = make_emotional_speech(12, random_state=3, **kwargs)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)
    X3, _, _ = make_emotional_speech(
        12, random_state=np.random.RandomState(3), **kwargs
    )
    np.testing.assert_array_equal(X1, X3)
    X4, _, _ = make_emotional_speech(12, random_state=4, **kwargs)
    assert not np.allclose(X1, X4)
    X5, _, _ = make_emotional_speech(12, random_state=None, **kwargs)
    X6, _, _ = make_emotional_speech(12, random_state=None, **kwargs)
    assert not np.allclose(X5, X6)


def test_noise_level_adds_noise_and_leaves_speech_unchanged():
    kwargs = dict(n_speakers=4, duration=1.0, random_state=2)
    clean, y0, _ = make_emotional_speech(24, noise_level=0.0, **kwargs)
    noisy, y1, _ = make_emotional_speech(24, noise_level=0.1, **kwargs)
    np.testing.assert_array_equal(y0, y1)
    # speech starts after a short silence, exactly zero without noise
    assert (clean[:, 0] == 0).all()
    assert (noisy[:, 0] != 0).any()
    # clips the peak limiter did not touch differ by the noise alone
    untouched = (np.abs(clean).max(1) < 0.9) & (np.abs(noisy).max(1) < 0.9)
    assert untouched.sum() >= 12
    residual = (noisy[untouched] - clean[untouched]).astype(np.float64)
    noise_rms = np.sqrt(np.mean(residual**2))
    assert noise_rms == pytest.approx(0.1 * _REFERENCE_RMS, rel=0.05)


def test_supports_the_canonical_vocabulary():
    assert set(SYNTHETIC_EMOTIONS) == set(EMOTIONS)
    X, y, _ = make_emotional_speech(
        18, emotions=EMOTIONS, n_speakers=2, duration=0.5, random_state=0
    )
    assert set(y) == set(EMOTIONS)
    assert np.isfinite(X).all()


@pytest.mark.parametrize("sr", [8000, 22050])
def test_other_sampling_rates(sr):
    X, _, _ = make_emotional_speech(
        6, sr=sr, duration=0.4, n_speakers=1, random_state=0
    )
    assert X.shape == (6, round(sr * 0.4))
    assert np.isfinite(X).all()
    assert (np.abs(X).max(axis=1) > 0.01).all()


def test_prosody_follows_the_emotion_profiles(speech):
    """Directions of Scherer (2003) / Juslin & Laukka (2003), measured.

    Checked on 12 seeds with margins well inside the thresholds below.
    """
    X, y, groups = speech
    f0, level, alpha = _prosody(X)

    def mean(values, emotion):
        return values[y == emotion].mean()

    # pitch: fear, anger and joy high; sadness low
    assert mean(f0, "fear") > 1.3 * mean(f0, "neutral")
    assert mean(f0, "angry") > 1.2 * mean(f0, "neutral")
    assert mean(f0, "happy") > 1.2 * mean(f0, "neutral")
    assert mean(f0, "neutral") > mean(f0, "sad")
    # loudness: anger loud, sadness soft
    assert mean(level, "angry") > mean(level, "neutral") + 3.0
    assert mean(level, "neutral") > mean(level, "sad") + 2.0
    # spectral tilt: anger flat (tense voice), sadness steep
    assert mean(alpha, "angry") > mean(alpha, "sad") + 1.0
    # speakers differ in base pitch (female and male voices)
    per_speaker = [np.median(f0[groups == s]) for s in np.unique(groups)]
    assert max(per_speaker) > 1.3 * min(per_speaker)


def test_learnable_but_not_trivial_with_speaker_independent_cv():
    """MFCC-40 mean+std -> StandardScaler -> SVC, GroupKFold by speaker.

    Measured over 10 seeds with this size: 0.51-0.63 (chance is 1/6).
    """
    X, y, groups = make_emotional_speech(
        240, n_speakers=8, duration=1.5, random_state=0
    )
    mfcc = librosa.feature.mfcc(y=X, sr=16000, n_mfcc=40)
    features = np.concatenate([mfcc.mean(axis=-1), mfcc.std(axis=-1)], axis=1)
    scores = cross_val_score(
        make_pipeline(StandardScaler(), SVC()),
        features,
        y,
        groups=groups,
        cv=GroupKFold(n_splits=4),
    )
    assert 2 / 6 < scores.mean() < 0.97


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"n_samples": 0},
            r"The 'n_samples' parameter of make_emotional_speech must be an int "
            r"in the range \[1, inf\)\. Got 0 instead",
        ),
        (
            {"emotions": ["happy", "joy"]},
            r"Unknown emotion\(s\) \['joy'\] in emotions\. make_emotional_speech "
            r"supports \['neutral', 'calm', 'happy'",
        ),
        ({"emotions": ["happy", 3]}, r"Unknown emotion\(s\) \[3\]"),
        ({"emotions": []}, "emotions is empty; pass at least one emotion name"),
        ({"emotions": ["sad", "happy", "sad"]}, r"\['sad'\] more than once"),
        (
            {"emotions": "happy"},
            "The 'emotions' parameter of make_emotional_speech must be an array-like",
        ),
        (
            {"n_samples": 59},
            r"n_samples=59 is too small for 6 emotions x 10 speakers.*at least 60\. "
            "Raise n_samples or lower n_speakers",
        ),
        ({"n_samples": 5, "n_speakers": 1}, "must be at least 6"),
        ({"n_speakers": 0}, r"The 'n_speakers' parameter .* range \[1, inf\)"),
        ({"sr": 4000}, r"The 'sr' parameter .* range \[8000, inf\)\. Got 4000"),
        ({"sr": 16000.5}, "The 'sr' parameter .* must be an int"),
        ({"duration": 0.0}, r"The 'duration' parameter .* range \[0\.1, inf\)"),
        ({"noise_level": -0.1}, r"The 'noise_level' parameter .* range \[0\.0, inf\)"),
        ({"random_state": "seed"}, "The 'random_state' parameter"),
    ],
)
def test_bad_parameters_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_emotional_speech(**kwargs)
