"""Speech segmentation: SpeechSegmenter and predict_timeline.

Real speech (RAVDESS sentences cut to their extent, joined by silence or
noise gaps of known length: exact truth), real WAV files in tmp dirs, real
models.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("silero_vad")

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sersk.exceptions import InvalidAudioError
from sersk.features import MFCC, AudioLoader, TimePooling
from sersk.io import load_audio, resample
from sersk.segmentation import SpeechSegmenter, predict_timeline

SR = 16000
# boundaries of a segment (padding 0) against the true edges of a sentence:
# the network decides per 32 ms and lags onsets and offsets by a few frames
TOL = 0.3
# four sentences of four speakers (two female, two male), both statements
FILES = (
    "Actor_01/03-01-01-01-01-01-01.wav",
    "Actor_02/03-01-05-01-02-01-02.wav",
    "Actor_03/03-01-03-02-01-02-03.wav",
    "Actor_04/03-01-04-01-02-02-04.wav",
)


def _sentence_extent(y, top_db=35.0, bridge=0.3):
    """Start and end sample of the sentence of a RAVDESS file (by energy)."""
    hop = SR // 100
    n = len(y) // hop
    db = 10 * np.log10(np.mean(y[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(db > db.max() - top_db)
    runs = [[loud[0], loud[0] + 1]]
    for k in loud[1:]:
        if (k - runs[-1][1]) * hop < bridge * SR:
            runs[-1][1] = k + 1
        else:
            runs.append([k, k + 1])
    a, b = max(runs, key=lambda r: r[1] - r[0])
    return a * hop, b * hop


@pytest.fixture(scope="module")
def sentences(ravdess_root):
    out = []
    for name in FILES:
        y, _ = load_audio(ravdess_root / name, sr=SR)
        a, b = _sentence_extent(y)
        out.append(y[a:b])
    return out


def _recording(sentences, gaps, snr_db=None, seed=0):
    """Sentences after the given gaps (seconds), then a last gap; and the truth."""
    pieces, truth, t = [], [], 0
    for s, gap in zip(sentences, gaps, strict=False):
        pieces.append(np.zeros(round(gap * SR), dtype=np.float32))
        t += round(gap * SR)
        pieces.append(s)
        truth.append((t / SR, (t + len(s)) / SR))
        t += len(s)
    pieces.append(np.zeros(round(gaps[-1] * SR), dtype=np.float32))
    rec = np.concatenate(pieces)
    if snr_db is not None:
        level = np.sqrt(np.mean(np.concatenate(sentences) ** 2))
        noise = np.random.default_rng(seed).standard_normal(len(rec))
        rec = rec + (level / 10 ** (snr_db / 20) * noise).astype(np.float32)
    return rec.astype(np.float32), np.array(truth)


def _coverage(segments, truth, duration):
    """Frame precision and recall (10 ms) of segments against the truth."""
    grid = (np.arange(int(duration * 100)) + 0.5) / 100

    def mask(iv):
        m = np.zeros(len(grid), dtype=bool)
        for a, b in iv:
            m |= (grid >= a) & (grid < b)
        return m

    pred, true = mask(segments), mask(truth)
    return (pred & true).sum() / max(1, pred.sum()), (pred & true).sum() / true.sum()


# --- boundaries on recordings with known gaps --------------------------------


@pytest.mark.parametrize("snr_db", [None, 20.0])
def test_segments_match_known_gaps(sentences, snr_db):
    gaps = [0.8, 1.2, 0.9, 1.5, 1.0]
    rec, truth = _recording(sentences, gaps, snr_db)
    got = SpeechSegmenter(padding=0.0).segment(rec, sr=SR)
    assert got.shape == truth.shape
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, truth, atol=TOL)
    assert np.all(np.diff(got.ravel()) >= 0)  # in order, not overlapping


def test_segments_in_noise_at_10_db(sentences):
    """White noise at 10 dB SNR everywhere: the speech is still found and
    little noise is called speech."""
    gaps = [1.0, 1.2, 1.0, 1.4, 1.0]
    rec, truth = _recording(sentences, gaps, snr_db=10.0, seed=1)
    got = SpeechSegmenter(padding=0.0).segment(rec, sr=SR)
    precision, recall = _coverage(got, truth, len(rec) / SR)
    assert precision > 0.9
    assert recall > 0.8
    for a, b in truth:  # every sentence is met by a segment
        assert np.any((got[:, 0] < b) & (got[:, 1] > a))


def test_file_and_waveform_at_another_rate_agree(sentences, tmp_path):
    rec, _ = _recording(sentences[:2], [0.7, 1.0, 0.6])
    path = tmp_path / "two.wav"
    sf.write(path, resample(rec, orig_sr=SR, target_sr=44100), 44100, subtype="FLOAT")
    seg = SpeechSegmenter()
    from_file = seg.segment(path)
    from_wave = seg.segment(rec, sr=SR)
    assert from_file.shape == from_wave.shape == (2, 2)
    # the file is resampled back to 16 kHz: decisions may move by one frame
    np.testing.assert_allclose(from_file, from_wave, atol=0.07)


def test_silence_and_quiet_noise_have_no_speech():
    rng = np.random.default_rng(0)
    quiet = (1e-3 * rng.standard_normal(3 * SR)).astype(np.float32)
    got = SpeechSegmenter().segment(quiet, sr=SR)
    assert got.shape == (0, 2)


# --- parameters ---------------------------------------------------------------


def test_min_silence_duration_bridges_short_pauses(sentences):
    rec, truth = _recording(sentences[:2], [0.6, 0.5, 0.6])
    apart = SpeechSegmenter(padding=0.0, min_silence_duration=0.2).segment(rec, sr=SR)
    joined = SpeechSegmenter(padding=0.0, min_silence_duration=1.0).segment(rec, sr=SR)
    assert len(apart) == 2
    assert len(joined) == 1
    np.testing.assert_allclose(joined[0], [truth[0, 0], truth[1, 1]], atol=TOL)


def test_min_speech_duration_drops_short_segments(sentences):
    rec, truth = _recording(sentences[:3], [0.8, 0.8, 0.8, 0.8])
    lengths = truth[:, 1] - truth[:, 0]
    cut = float(np.sort(lengths)[1]) - 0.05  # between the shortest two... ends
    kept = SpeechSegmenter(padding=0.0, min_speech_duration=cut).segment(rec, sr=SR)
    n_long = int(np.sum(lengths > cut + TOL))
    assert n_long <= len(kept) < 3
    assert np.all(kept[:, 1] - kept[:, 0] >= cut - 1e-9)
    none = SpeechSegmenter(min_speech_duration=30.0).segment(rec, sr=SR)
    assert none.shape == (0, 2)


def test_padding_widens_segments_without_overlap(sentences):
    rec, _ = _recording(sentences[:3], [1.0, 2.0, 0.4, 0.05])
    plain = SpeechSegmenter(padding=0.0).segment(rec, sr=SR)
    padded = SpeechSegmenter(padding=0.3).segment(rec, sr=SR)
    assert len(plain) == len(padded) == 3
    # first segment: far from its neighbours, padded by exactly 0.3 s
    np.testing.assert_allclose(padded[0], plain[0] + [-0.3, 0.3], atol=1e-9)
    # the second and third are 0.4 s apart: they meet half-way
    assert padded[1, 1] <= padded[2, 0]
    assert padded[1, 1] - plain[1, 1] < 0.3
    np.testing.assert_allclose(
        padded[1, 1] - plain[1, 1], (plain[2, 0] - plain[1, 1]) / 2, atol=1e-4
    )
    # never past the end of the recording (the last gap is 0.05 s)
    assert padded[-1, 1] <= len(rec) / SR + 1e-9


def test_max_duration_splits_long_speech(sentences):
    # the four sentences with short pauses: one run of about 8 s
    rec, truth = _recording(sentences * 2, [0.5] + [0.15] * 7 + [0.5])
    whole = SpeechSegmenter(padding=0.0, max_duration=60.0).segment(rec, sr=SR)
    assert len(whole) == 1
    split = SpeechSegmenter(padding=0.1, max_duration=3.0).segment(rec, sr=SR)
    assert len(split) >= 4
    assert np.all(split[:, 1] - split[:, 0] <= 3.0 + 1e-9)
    assert np.all(split[1:, 0] >= split[:-1, 1])  # no overlap
    # the pieces still cover the speech
    _, recall = _coverage(split, whole, len(rec) / SR)
    assert recall > 0.95


# --- bad input ----------------------------------------------------------------


def test_waveform_without_sr_is_refused():
    with pytest.raises(ValueError, match=r"without its sampling rate: pass sr="):
        SpeechSegmenter().segment(np.zeros(SR, dtype=np.float32))
    with pytest.raises(ValueError, match=r"'sr' parameter .* at least 1000"):
        SpeechSegmenter().segment(np.zeros(SR, dtype=np.float32), sr=16.5)


@pytest.mark.parametrize(
    ("audio", "error", "match"),
    [
        (np.zeros((2, SR)), InvalidAudioError, r"shape \(n_samples,\).*mean\(axis=0\)"),
        (np.array([0.0, np.nan] * SR), InvalidAudioError, "NaN/Inf"),
        (np.zeros(0), InvalidAudioError, "empty"),
        (np.array(["a", "b"]), TypeError, "numeric"),
    ],
)
def test_bad_waveforms_are_refused(audio, error, match):
    with pytest.raises(error, match=match):
        SpeechSegmenter().segment(audio, sr=SR)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        SpeechSegmenter().segment(tmp_path / "nope.wav")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"threshold": 1.5}, r"'threshold' parameter of SpeechSegmenter"),
        ({"min_silence_duration": -1}, r"'min_silence_duration' parameter"),
        ({"padding": "a"}, r"'padding' parameter"),
        ({"max_duration": 0.0}, r"'max_duration' parameter"),
        ({"max_duration": 0.5, "padding": 0.3}, r"max_duration.*lower padding"),
    ],
)
def test_bad_parameters_are_refused_on_use(params, match):
    seg = SpeechSegmenter(**params)  # stored, not checked
    assert seg.get_params()[next(iter(params))] == next(iter(params.values()))
    with pytest.raises((InvalidParameterError, ValueError), match=match):
        seg.segment(np.zeros(SR, dtype=np.float32), sr=SR)


def test_missing_extra_names_it():
    """Without silero-vad the error says which extra to install."""
    code = (
        "import sys, numpy as np; sys.modules['silero_vad'] = None\n"
        "from sersk.segmentation import SpeechSegmenter\n"
        "try:\n"
        "    SpeechSegmenter().segment(np.zeros(16000), sr=16000)\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "ImportError:" in out
    assert "pip install 'sersk[vad]'" in out


# --- the network ----------------------------------------------------------------


def test_rebuilt_network_is_the_packaged_one(sentences):
    """The plain-torch layers with the weights of the package's TorchScript
    model give its probabilities: the architecture is the same (sersk itself
    reads only the safetensors weights)."""
    import torch
    from silero_vad import load_silero_vad

    from sersk.segmentation import _silero

    jit = load_silero_vad()
    sd = jit._model.state_dict()
    names = {
        "stft_conv.weight": "stft.forward_basis_buffer",
        "final_conv.weight": "decoder.decoder.2.weight",
        "final_conv.bias": "decoder.decoder.2.bias",
    }
    for k in range(4):
        for p in ("weight", "bias"):
            names[f"conv{k + 1}.{p}"] = f"encoder.{k}.reparam_conv.{p}"
    for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        names[f"lstm_cell.{p}"] = f"decoder.rnn.{p}"
    net = _silero._build()()
    net.load_state_dict({k: sd[v] for k, v in names.items()})
    net.eval()
    y = np.concatenate([np.zeros(8000, np.float32), sentences[0]])
    n = len(y) // 512 * 512
    jit.reset_states()
    ref = np.array(
        [jit(torch.from_numpy(y[i : i + 512]), SR).item() for i in range(0, n, 512)]
    )
    full = np.concatenate([np.zeros(64, np.float32), y[:n]])
    idx = np.arange(n // 512)[:, None] * 512 + np.arange(576)[None, :]
    with torch.inference_mode():
        ours, _ = net(torch.from_numpy(full[idx]))
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)
    # and the safetensors weights make the same decisions on this sentence
    probs = SpeechSegmenter().speech_probabilities(y, sr=SR)
    assert np.mean((probs[: len(ref)] >= 0.5) == (ref >= 0.5)) > 0.95


# --- predict_timeline -----------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    from sersk.datasets import make_emotional_speech

    X, y, _ = make_emotional_speech(
        30, emotions=("neutral", "angry", "sad"), duration=0.5, n_speakers=3,
        random_state=0,
    )  # fmt: skip
    return make_pipeline(
        AudioLoader(sr=SR, duration=0.5),
        MFCC(n_mfcc=13),
        TimePooling(),
        StandardScaler(),
        LogisticRegression(),
    ).fit(X, y)


def test_timeline_of_vad_segments(sentences, model, tmp_path):
    rec, truth = _recording(sentences[:3], [0.7, 1.0, 0.8, 0.6])
    path = tmp_path / "talk.wav"
    sf.write(path, rec, SR, subtype="FLOAT")
    timeline = predict_timeline(model, path)
    classes = [str(c) for c in model.classes_]
    assert list(timeline.columns) == ["start", "end", "label", *classes]
    assert len(timeline) == 3
    segments = SpeechSegmenter().segment(path)
    np.testing.assert_allclose(timeline[["start", "end"]].to_numpy(), segments)
    proba = timeline[classes].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(timeline["label"]) == [classes[k] for k in proba.argmax(axis=1)]
    # each segment is classified at its own length: the model's own answer
    a, b = round(segments[1, 0] * SR), round(segments[1, 1] * SR)
    import copy

    own = copy.deepcopy(model).set_params(audioloader__duration=None)
    np.testing.assert_allclose(
        proba[1], own.predict_proba(rec[None, a:b])[0], atol=1e-5
    )
    assert model[0].duration == 0.5  # the model itself is not changed


def test_timeline_of_a_waveform_at_another_rate(sentences, model):
    rec, _ = _recording(sentences[:2], [0.7, 1.0, 0.6])
    at_16k = predict_timeline(model, rec, sr=SR)
    at_22k = predict_timeline(
        model, resample(rec, orig_sr=SR, target_sr=22050), sr=22050
    )
    assert list(at_16k["label"]) == list(at_22k["label"])
    np.testing.assert_allclose(
        at_16k[["start", "end"]].to_numpy(), at_22k[["start", "end"]].to_numpy(),
        atol=0.07,
    )  # fmt: skip


def test_timeline_with_a_configured_segmenter(sentences, model):
    rec, _ = _recording(sentences[:2], [0.7, 0.5, 0.6])
    one = predict_timeline(
        model, rec, sr=SR, segmenter=SpeechSegmenter(min_silence_duration=1.0)
    )
    two = predict_timeline(model, rec, sr=SR)
    assert (len(one), len(two)) == (1, 2)


def test_timeline_without_speech_is_empty_with_the_columns(model):
    quiet = (1e-3 * np.random.default_rng(0).standard_normal(2 * SR)).astype("f4")
    timeline = predict_timeline(model, quiet, sr=SR)
    assert timeline.empty
    assert list(timeline.columns) == ["start", "end", "label", *model.classes_]


def test_timeline_of_fixed_windows(model):
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(int(3.6 * SR))).astype(np.float32)
    timeline = predict_timeline(model, y, sr=SR, segments=1.0, hop=0.5)
    # full windows every 0.5 s; the 0.1 s after the last one make no window
    np.testing.assert_allclose(timeline["start"], [0, 0.5, 1.0, 1.5, 2.0, 2.5])
    np.testing.assert_allclose(timeline["end"], [1, 1.5, 2.0, 2.5, 3.0, 3.5])
    # at least half a window left after the last full one: a shorter window
    longer = predict_timeline(model, y[: int(3.6 * SR)], sr=SR, segments=1.0)
    np.testing.assert_allclose(longer["end"], [1, 2, 3, 3.6])
    shorter = predict_timeline(model, y[: int(3.3 * SR)], sr=SR, segments=1.0)
    np.testing.assert_allclose(shorter["end"], [1, 2, 3])
    import copy

    own = copy.deepcopy(model).set_params(audioloader__duration=1.0)
    expected = own.predict_proba(
        np.stack([y[round(a * SR) : round(a * SR) + SR] for a in timeline["start"][:5]])
    )
    np.testing.assert_allclose(
        timeline[list(model.classes_)].to_numpy()[:5], expected, atol=1e-5
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"segments": "speech"}, ValueError, r"'segments' parameter .* 'vad' or"),
        ({"segments": -1.0}, ValueError, r"'segments' parameter"),
        ({"hop": 0.5}, ValueError, r"'hop' parameter .* segments='vad'"),
        ({"segments": 1.0, "hop": 0}, ValueError, r"'hop' parameter .* positive"),
        ({"segments": 1.0, "segmenter": SpeechSegmenter()}, ValueError, "segmenter"),
        ({"segmenter": object()}, TypeError, r"segment\(audio, sr=...\)"),
    ],
)
def test_timeline_bad_arguments(model, kwargs, error, match):
    with pytest.raises(error, match=match):
        predict_timeline(model, np.zeros(SR, dtype=np.float32), sr=SR, **kwargs)


def test_timeline_needs_a_pipeline_with_a_loader(model):
    needs = (
        "predict_timeline needs a fitted sersk pipeline whose first step is "
        "sersk.features.AudioLoader"
    )
    with pytest.raises(TypeError, match=needs) as info:
        predict_timeline(model[-1], np.zeros(SR, dtype=np.float32), sr=SR)
    assert "the model given is a LogisticRegression." in str(info.value)
    assert "put an AudioLoader(sr=...) first" in str(info.value)
    with pytest.raises(TypeError, match=needs) as info:
        predict_timeline(model[1:], np.zeros(SR, dtype=np.float32), sr=SR)
    assert "is a Pipeline whose first step is a MFCC." in str(info.value)
    with pytest.raises(ValueError, match="pass sr="):
        predict_timeline(model, np.zeros(SR, dtype=np.float32))


def test_plot_timeline_draws_one_span_per_segment(sentences, model):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sersk.segmentation import plot_timeline

    rec, _ = _recording(sentences[:3], [0.7, 1.0, 0.8, 0.6])
    timeline = predict_timeline(model, rec, sr=SR)
    fig, ax = plt.subplots()
    try:
        assert plot_timeline(timeline, y=rec, sr=SR, ax=ax) is ax
        spans = [c for c in ax.collections if len(c.get_paths())]
        assert len(spans) == len(timeline) == 3
        for span, row in zip(spans, timeline.to_dict("records"), strict=True):
            xy = span.get_paths()[0].vertices
            assert xy[:, 0].min() == pytest.approx(row["start"])
            assert xy[:, 0].max() == pytest.approx(row["end"])
            assert xy[:, 1].max() == pytest.approx(row[row["label"]])
        assert ax.get_xlim()[1] == pytest.approx(len(rec) / SR)
        with pytest.raises(ValueError, match="without sr"):
            plot_timeline(timeline, y=rec)
        with pytest.raises(ValueError, match=r"\['label'\] are missing"):
            plot_timeline(timeline.drop(columns="label"))
    finally:
        plt.close(fig)
