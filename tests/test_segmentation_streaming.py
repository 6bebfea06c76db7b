"""StreamingPredictor: audio in chunks gives the offline timeline, in bounded memory.

A real recording (RAVDESS sentences joined by pauses and noise) streamed in
chunks of random sizes, at its own rate and at others; a real trained model.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

pytest.importorskip("silero_vad")

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sersk.features import MFCC, RMS, AudioLoader, TimePooling
from sersk.io import load_audio, resample
from sersk.segmentation import SpeechSegmenter, StreamingPredictor, predict_timeline

SR = 16000
FILES = (
    "Actor_05/03-01-02-01-01-01-05.wav",
    "Actor_06/03-01-05-02-02-02-06.wav",
    "Actor_07/03-01-06-01-01-02-07.wav",
    "Actor_08/03-01-03-02-02-01-08.wav",
    "Actor_09/03-01-04-02-01-01-09.wav",
    "Actor_10/03-01-07-01-02-02-10.wav",
)


def _train_data():
    from sersk.datasets import make_emotional_speech

    X, y, _ = make_emotional_speech(
        30, emotions=("neutral", "angry", "sad"), duration=0.5, n_speakers=3,
        random_state=0,
    )  # fmt: skip
    return X, y


@pytest.fixture(scope="module")
def model():
    X, y = _train_data()
    return make_pipeline(
        AudioLoader(sr=SR, duration=0.5),
        MFCC(n_mfcc=13),
        TimePooling(),
        StandardScaler(),
        LogisticRegression(),
    ).fit(X, y)


@pytest.fixture(scope="module")
def recording(ravdess_root):
    """Six whole RAVDESS files (with their own silences) and pauses of 0.2 to
    1.5 s between them, over quiet noise: about 25 s at 16 kHz."""
    rng = np.random.default_rng(3)
    pieces = []
    for name in FILES:
        pieces.append(load_audio(ravdess_root / name, sr=SR)[0])
        pieces.append(np.zeros(int(rng.uniform(0.2, 1.5) * SR), dtype=np.float32))
    y = np.concatenate(pieces)
    return (y + 2e-3 * rng.standard_normal(len(y))).astype(np.float32)


def _stream(predictor, y, rng, low=1, high=20000):
    out, i = [], 0
    while i < len(y):
        k = int(rng.integers(low, high))
        out += predictor.push(y[i : i + k])
        i += k
    return out + predictor.flush()


def _check_same(streamed, offline, classes):
    assert len(streamed) == len(offline)
    assert [p["label"] for p in streamed] == list(offline["label"])
    bounds = np.array([[p["start"], p["end"]] for p in streamed]).reshape(-1, 2)
    np.testing.assert_allclose(bounds, offline[["start", "end"]].to_numpy())
    proba = np.array([[p["probabilities"][c] for c in classes] for p in streamed])
    np.testing.assert_allclose(
        proba.reshape(-1, len(classes)), offline[classes].to_numpy(), atol=1e-5
    )


@pytest.mark.parametrize("rate", [SR, 22050, 44100])
def test_streamed_vad_equals_offline(model, recording, rate):
    y = recording if rate == SR else resample(recording, orig_sr=SR, target_sr=rate)
    # max_duration short enough that some sentences are split while streaming
    seg = SpeechSegmenter(max_duration=2.0)
    offline = predict_timeline(model, y, sr=rate, segmenter=seg)
    assert len(offline) >= 6
    streamed = _stream(
        StreamingPredictor(model, sr=rate, segmenter=seg),
        y,
        np.random.default_rng(rate),
    )
    _check_same(streamed, offline, list(model.classes_))


@pytest.mark.parametrize(("seconds", "hop"), [(1.0, None), (1.5, 0.4), (0.5, 0.8)])
def test_streamed_windows_equal_offline(model, recording, seconds, hop):
    y = resample(recording[: 12 * SR], orig_sr=SR, target_sr=22050)
    offline = predict_timeline(model, y, sr=22050, segments=seconds, hop=hop)
    streamed = _stream(
        StreamingPredictor(model, sr=22050, segments=seconds, hop=hop),
        y,
        np.random.default_rng(7),
    )
    _check_same(streamed, offline, list(model.classes_))


def test_tiny_and_huge_chunks_and_pcm(model, recording):
    y = recording[: 10 * SR]
    offline = predict_timeline(model, y, sr=SR)
    tiny = _stream(StreamingPredictor(model, sr=SR), y, np.random.default_rng(0), 1, 40)
    whole = StreamingPredictor(model, sr=SR)
    at_once = whole.push(y) + whole.flush()
    pcm = np.round(np.clip(y, -1, 1) * 32767).astype(np.int16)
    from_pcm = _stream(StreamingPredictor(model, sr=SR), pcm, np.random.default_rng(1))
    classes = list(model.classes_)
    _check_same(tiny, offline, classes)
    _check_same(at_once, offline, classes)
    assert [p["label"] for p in from_pcm] == list(offline["label"])


def test_predictions_come_while_streaming(model, recording):
    """A segment is returned by push soon after it ends, not at flush."""
    seg = SpeechSegmenter()
    offline = predict_timeline(model, recording, sr=SR, segmenter=seg)
    stream = StreamingPredictor(model, sr=SR, segmenter=seg)
    delays, step = [], SR // 10
    for i in range(0, len(recording), step):
        now = (i + step) / SR
        delays += [now - p["end"] for p in stream.push(recording[i : i + step])]
    delays += [np.inf] * len(stream.flush())
    assert len(delays) == len(offline)
    # all but the last come within the pause that closes them (plus a block)
    wait = seg.min_silence_duration + 2 * seg.padding + 0.1 + 0.033
    assert max(delays[:-1]) <= wait + 1e-9


def test_memory_is_bounded(recording):
    """Three blocks of 20 s streamed: the audio held never exceeds the
    longest segment, and the memory in use after each block does not grow
    (``benchmarks/bench_streaming.py`` runs 30 minutes)."""
    X, y = _train_data()
    cheap = make_pipeline(
        AudioLoader(sr=SR), RMS(), TimePooling(), StandardScaler(), LogisticRegression()
    ).fit(X, y)
    seg = SpeechSegmenter(max_duration=4.0)
    stream = StreamingPredictor(cheap, sr=SR, segmenter=seg)
    # speech, pauses and a stretch of 20 s without a pause (split by max_duration)
    talk = np.concatenate([recording, np.tile(recording[SR : 3 * SR], 10)])
    rng = np.random.default_rng(0)
    n_rows, held, in_use, pushed = 0, [], [], 0
    gc.collect()
    tracemalloc.start()
    try:
        for _block in range(3):
            done = 0
            while done < 20 * SR:
                k = int(rng.integers(SR // 50, SR // 2))
                a = (done % len(talk)) if done % len(talk) + k <= len(talk) else 0
                n_rows += len(stream.push(talk[a : a + k]))
                pushed += len(talk[a : a + k])
                held.append(len(stream._buf))
                done += k
            gc.collect()
            in_use.append(tracemalloc.get_traced_memory()[0])
        n_rows += len(stream.flush())
    finally:
        tracemalloc.stop()
    assert n_rows > 10  # it did predict along the way
    assert max(held) <= (seg.max_duration + 1.0) * SR
    # nothing accumulates per block (a few kB of noise allowed)
    assert in_use[2] - in_use[0] < 200_000
    assert stream.duration_ == pushed / SR


@pytest.mark.parametrize(
    ("chunk", "error", "match"),
    [
        (np.zeros((100, 2)), ValueError, r"mono chunk .* chunk.mean\(axis=1\)"),
        (np.array([0.0, np.inf]), ValueError, r"NaN/Inf .* np.nan_to_num"),
        (np.array(["x"]), TypeError, "numeric"),
    ],
)
def test_bad_chunks_are_refused(model, chunk, error, match):
    stream = StreamingPredictor(model, sr=SR)
    with pytest.raises(error, match=match):
        stream.push(chunk)


def test_stereo_column_and_empty_chunks_are_fine(model):
    stream = StreamingPredictor(model, sr=SR)
    assert stream.push(np.zeros((SR, 1), dtype=np.float32)) == []
    assert stream.push(np.zeros(0, dtype=np.float32)) == []
    assert stream.duration_ == 1.0


def test_push_after_flush_is_refused(model):
    stream = StreamingPredictor(model, sr=SR)
    stream.push(np.zeros(SR, dtype=np.float32))
    assert stream.flush() == []
    assert stream.flush() == []
    with pytest.raises(ValueError, match="flushed; create a new one"):
        stream.push(np.zeros(10, dtype=np.float32))


class _FixedSegments:
    """A segmenter without a streaming mode: fine offline, refused here."""

    def segment(self, audio, *, sr=None):
        return np.array([[0.0, 0.5]])


def test_offline_takes_any_segmenter(model):
    timeline = predict_timeline(
        model, np.zeros(SR, np.float32), sr=SR, segmenter=_FixedSegments()
    )
    assert timeline[["start", "end"]].to_numpy().tolist() == [[0.0, 0.5]]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sr": None}, ValueError, "pass sr="),
        ({"sr": 100}, ValueError, r"'sr' parameter of StreamingPredictor"),
        ({"sr": SR, "segments": "words"}, ValueError, "'segments' parameter"),
        ({"sr": SR, "segmenter": _FixedSegments()}, TypeError, "a SpeechSegmenter"),
        ({"sr": SR, "segments": 1.0, "hop": -1}, ValueError, "'hop' parameter"),
    ],
)
def test_bad_settings_are_refused(model, kwargs, error, match):
    stream = StreamingPredictor(model, **kwargs)  # stored, checked on first use
    with pytest.raises(error, match=match):
        stream.push(np.zeros(10, dtype=np.float32))


def test_a_model_without_an_audio_loader_is_refused(model):
    stream = StreamingPredictor(model[1:], sr=SR)
    needs = "StreamingPredictor needs a fitted sersk pipeline whose first step"
    with pytest.raises(TypeError, match=needs) as info:
        stream.push(np.zeros(10, dtype=np.float32))
    assert "the model given is a Pipeline whose first step is a" in str(info.value)
