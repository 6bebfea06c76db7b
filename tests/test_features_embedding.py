"""SpeechEmbedding and make_embedding_pipeline on tiny random-weight encoders.

Every model is built from a small config (hidden size 16, 2 layers), written
with ``save_pretrained`` to a temporary directory and loaded through the public
``model`` parameter; nothing is downloaded.

Tolerances: two computation paths (batched vs one clip, chunked vs not, bf16
vs fp32) agree within stated tolerances, never bit for bit (STYLE.md 9).
Batching changes the blocking of float32 matrix products: ``BATCH_TOL``.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sersk._embedding_pipeline import make_embedding_pipeline
from sersk.features import AudioLoader, TimePooling
from sersk.features._embedding import SpeechEmbedding, _windows

try:
    import transformers  # noqa: F401

    HAS_TRANSFORMERS = True
except ImportError:  # pragma: no cover - the extra is installed in CI
    HAS_TRANSFORMERS = False

needs_transformers = pytest.mark.skipif(
    not HAS_TRANSFORMERS, reason='needs transformers (pip install "sersk[embeddings]")'
)

BATCH_TOL = dict(rtol=1e-4, atol=1e-5)
SR = 16000

# --------------------------------------------------------------------------
# Tiny random encoders


def _wav2vec2_kwargs(norm):
    return dict(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),  # 20 samples per frame
        conv_kernel=(10, 8),  # receptive field 10 + 7 * 5 = 45 samples
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm=norm,
        do_stable_layer_norm=norm == "layer",
    )


def save_tiny_encoder(path, kind):
    """Write a tiny random encoder of ``kind`` and its feature extractor to ``path``.

    Kinds: ``"wav2vec2"`` (GroupNorm front end, no attention mask, like
    wav2vec2-base), ``"wav2vec2-layer"`` (LayerNorm front end, masked, like
    wav2vec2-large-lv60), ``"wavlm"`` (LayerNorm, masked), ``"hubert"``
    (GroupNorm), ``"data2vec-audio"`` (LayerNorm convolutions, masked), ``"whisper"``
    (encoder window of 1 s instead of 30 s: 50 positions), ``"wav2vec2-k1"``
    (a 1-sample receptive field, for scikit-learn's checks whose "clips" are
    1 to 20 samples long) and ``"bert"`` (not an audio encoder).
    """
    import torch
    from transformers import (
        BertConfig,
        BertModel,
        Data2VecAudioConfig,
        Data2VecAudioModel,
        HubertConfig,
        HubertModel,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Model,
        WavLMConfig,
        WavLMModel,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperModel,
    )

    torch.manual_seed(0)
    path = Path(path)
    fe = None
    if kind in ("wav2vec2", "wav2vec2-layer"):
        norm = "group" if kind == "wav2vec2" else "layer"
        net = Wav2Vec2Model(Wav2Vec2Config(**_wav2vec2_kwargs(norm)))
        fe = Wav2Vec2FeatureExtractor(return_attention_mask=norm == "layer")
    elif kind == "wav2vec2-k1":
        kw = _wav2vec2_kwargs("layer")
        kw.update(conv_dim=(8,), conv_stride=(1,), conv_kernel=(1,))
        kw.update(num_conv_pos_embeddings=2)
        net = Wav2Vec2Model(Wav2Vec2Config(**kw))
        fe = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=False)
    elif kind == "hubert":
        net = HubertModel(HubertConfig(**_wav2vec2_kwargs("group")))
        fe = Wav2Vec2FeatureExtractor(do_normalize=False)
    elif kind == "data2vec-audio":
        kw = _wav2vec2_kwargs("layer")
        del kw["feat_extract_norm"], kw["do_stable_layer_norm"]
        net = Data2VecAudioModel(Data2VecAudioConfig(**kw, conv_pos_kernel_size=3))
        fe = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    elif kind == "wavlm":
        cfg = WavLMConfig(**_wav2vec2_kwargs("layer"), num_buckets=8)
        net = WavLMModel(cfg)
        fe = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    elif kind == "whisper":
        cfg = WhisperConfig(
            d_model=16,
            encoder_layers=2,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            num_mel_bins=16,
            max_source_positions=50,  # 100 mel frames: a 1-s window
            max_target_positions=16,
            vocab_size=8,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=3,
        )
        net = WhisperModel(cfg)
        fe = WhisperFeatureExtractor(feature_size=16, chunk_length=1)
    elif kind == "bert":
        cfg = BertConfig(
            vocab_size=8,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
        )
        net = BertModel(cfg)
    else:  # pragma: no cover - test helper misuse
        raise ValueError(kind)
    from transformers.utils import logging

    logging.disable_progress_bar()
    net.save_pretrained(path)
    if fe is not None:
        fe.save_pretrained(path)
    return path


#: Bump when save_tiny_encoder changes: names the shared directory of
#: stable_encoder_dir, so that no run reuses models of an older definition.
TINY_ENCODERS_VERSION = 1


def stable_encoder_dir(kind):
    """A tiny ``kind`` encoder at a path that is the same in every process.

    scikit-learn's checks are collected with the estimator's repr in their ids,
    so the model path must not change between processes (pytest-xdist workers
    compare their collections). The directory sits in the system temporary
    directory, named after this file's model version and the transformers
    version; a process that finds it complete reuses it, others write it to a
    private directory and rename it into place (atomic, so concurrent workers
    never see half a model). Used by ``tests/test_common.py`` too.
    """
    import transformers

    root = Path(tempfile.gettempdir()) / (
        f"sersk-test-encoders-v{TINY_ENCODERS_VERSION}-"
        f"transformers-{transformers.__version__}"
    )
    path = root / kind
    if not (path / "preprocessor_config.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=root))
        save_tiny_encoder(private / kind, kind)
        try:
            os.rename(private / kind, path)
        except OSError:  # another process was first: keep its copy
            pass
        shutil.rmtree(private, ignore_errors=True)
    return path


KINDS = ["wav2vec2", "wav2vec2-layer", "wavlm", "whisper"]
#: (hidden size, frames of a clip of n samples) of the tiny models
HIDDEN = 16


def n_frames(kind, n):
    if kind == "whisper":
        return -(-n // 320)
    return (n - 45) // 20 + 1


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """``model_dir(kind)``: a tiny encoder written to this session's tmp_path."""
    if not HAS_TRANSFORMERS:
        pytest.skip('needs transformers (pip install "sersk[embeddings]")')
    root, written = tmp_path_factory.mktemp("encoders"), {}

    def _get(kind):
        if kind not in written:
            written[kind] = save_tiny_encoder(root / kind, kind)
        return written[kind]

    return _get


def _clips(lengths, seed=0):
    rng = np.random.default_rng(seed)
    t = [np.arange(n) / SR for n in lengths]
    return [
        (0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * ti)).astype(np.float32)
        + 0.01 * rng.standard_normal(len(ti)).astype(np.float32)
        for ti in t
    ]


def _raw_hidden_states(path, kind, clip):
    """Hidden states of one clip straight from transformers: ``(n_layers, F, H)``."""
    import torch
    from transformers import AutoFeatureExtractor, AutoModel

    net = AutoModel.from_pretrained(path).eval()
    fe = AutoFeatureExtractor.from_pretrained(path)
    with torch.no_grad():
        if kind == "whisper":
            feats = fe(clip, sampling_rate=SR, return_tensors="pt")["input_features"]
            hs = net.get_encoder()(feats, output_hidden_states=True).hidden_states
            hs = [h[:, : n_frames(kind, len(clip))] for h in hs]
        else:
            x = fe(clip, sampling_rate=SR, return_tensors="pt")["input_values"]
            hs = net(x, output_hidden_states=True).hidden_states
    return np.stack([h[0].numpy() for h in hs])


# --------------------------------------------------------------------------
# Shapes, layers, pooling


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_of_every_pooling(model_dir, kind):
    path = model_dir(kind)
    X = np.stack(_clips([8000, 8000, 8000]))
    mean = SpeechEmbedding(path).fit_transform(X)
    assert mean.shape == (3, HIDDEN) and mean.dtype == np.float32
    both = SpeechEmbedding(path, layers=[0, 1], pooling="mean+std").transform(X)
    assert both.shape == (3, 2 * HIDDEN * 2) and both.dtype == np.float32
    frames = SpeechEmbedding(path, layers="all", pooling=None).transform(X)
    assert frames.shape == (3, 3 * HIDDEN, n_frames(kind, 8000))
    assert frames.dtype == np.float32 and np.isfinite(frames).all()
    ragged = SpeechEmbedding(path, pooling=None).transform(_clips([8000, 5000]))
    assert ragged.dtype == object
    assert [r.shape for r in ragged] == [
        (HIDDEN, n_frames(kind, 8000)),
        (HIDDEN, n_frames(kind, 5000)),
    ]


@pytest.mark.parametrize("kind", KINDS + ["hubert", "data2vec-audio"])
def test_layers_are_the_models_hidden_states(model_dir, kind):
    path = model_dir(kind)
    clip = _clips([6000])[0]
    raw = _raw_hidden_states(path, kind, clip)  # (3, F, H)
    emb = SpeechEmbedding(path, layers=[0, -1], pooling=None).transform([clip])[0]
    expected = np.concatenate([raw[0], raw[2]], axis=1).T
    np.testing.assert_allclose(emb, expected, rtol=1e-4, atol=1e-5)
    pooled = SpeechEmbedding(path, layers="all", pooling="mean+std").transform([clip])
    mean = raw.mean(axis=1).reshape(-1)
    std = raw.std(axis=1).reshape(-1)
    np.testing.assert_allclose(pooled[0], np.r_[mean, std], rtol=1e-4, atol=1e-5)
    one = SpeechEmbedding(path, layers=1).transform([clip])
    np.testing.assert_allclose(one[0], raw[1].mean(axis=0), rtol=1e-4, atol=1e-5)


def test_pooled_equals_time_pooling_of_the_frames(model_dir):
    path = model_dir("wavlm")
    X = _clips([4000, 7000, 5200])
    frames = SpeechEmbedding(path, layers=[0, 2], pooling=None).transform(X)
    pooled = SpeechEmbedding(path, layers=[0, 2], pooling="mean+std").transform(X)
    np.testing.assert_allclose(
        TimePooling(stats=("mean", "std")).transform(frames),
        pooled,
        rtol=1e-5,
        atol=1e-6,
    )


def test_feature_names(model_dir):
    path = model_dir("wav2vec2")
    names = SpeechEmbedding(path, layers=[0, 2], pooling="mean+std")
    out = names.get_feature_names_out()
    assert len(out) == 2 * 2 * HIDDEN
    assert list(out[:2]) == ["l0_d0_mean", "l0_d1_mean"]
    assert out[-1] == f"l2_d{HIDDEN - 1}_std"
    frames = SpeechEmbedding(path, layers=-1, pooling=None).get_feature_names_out()
    assert list(frames[:2]) == ["l2_d0", "l2_d1"]


# --------------------------------------------------------------------------
# Padding, chunking, resampling, inputs


@pytest.mark.parametrize("kind", KINDS + ["data2vec-audio"])
def test_padding_does_not_change_embeddings(model_dir, kind):
    """Clips batched with longer ones equal the clips alone.

    Masked models pad with an attention mask (wav2vec2-layer, WavLM); Whisper
    pads every clip to its window anyway; the GroupNorm wav2vec2 and
    data2vec-audio (several positional conv layers) batch only equal lengths.
    """
    path = model_dir(kind)
    X = _clips([3000, 9000, 5000, 9000, 4100])
    est = SpeechEmbedding(path, layers="all", pooling=None, batch_size=5)
    batched = est.transform(X)
    alone = [est.set_params(batch_size=1).transform([x])[0] for x in X]
    for b, a in zip(batched, alone, strict=True):
        np.testing.assert_allclose(b, a, **BATCH_TOL)


def test_group_norm_models_batch_equal_lengths_only(model_dir):
    path = model_dir("wav2vec2")
    est = SpeechEmbedding(path, batch_size=3)
    enc = est._encoder()
    assert not enc.masked
    units = [(i, 0, n, 0, 1, 0) for i, n in enumerate([50, 50, 50, 50, 40, 40, 30])]
    sizes = [[u[2] for u in b] for b in est._batches(units, enc)]
    assert sizes == [[50, 50, 50], [50], [40, 40], [30]]
    assert SpeechEmbedding(model_dir("wavlm"))._encoder().masked
    # the positional conv stack sees non-zero padding after its first layer
    assert not SpeechEmbedding(model_dir("data2vec-audio"))._encoder().masked


def test_windows_cover_every_frame_once():
    for n in [45, 64, 1000, 4000, 4019, 4020, 12345, 48000]:
        F = (n - 45) // 20 + 1
        kept, windows = [], list(_windows(n, F, min_samples=45, stride=20, window=1000))
        for start, stop, a, b, frame in windows:
            assert start % 20 == 0 and stop - start <= 1000
            n_out = (stop - start - 45) // 20 + 1
            assert 0 <= a < b <= n_out
            assert frame == start // 20 + a
            kept.extend(range(frame, frame + b - a))
        assert kept == list(range(F))
        if n > 1000:  # every interior boundary has context on both sides
            for start, stop, a, b, _ in windows[1:-1]:
                assert a > 0 and b < (stop - start - 45) // 20 + 1


def test_chunked_equals_unchunked_where_computed_locally(model_dir):
    """Layer 0 of a LayerNorm front end only sees a few frames around each frame.

    Its frames are local (convolutions, per-frame layer norms, a positional
    convolution of 4 frames), so the overlapping windows reproduce the
    unchunked frames. Transformer layers attend to their whole window: there
    the frame count and timing must agree, not the values.
    """
    path = model_dir("wav2vec2-layer")
    clip = _clips([48000])[0]  # 3 s, cut into windows of 0.25 s
    whole = SpeechEmbedding(path, layers=0, pooling=None, max_chunk_s=10.0)
    chunked = clone(whole).set_params(max_chunk_s=0.25)
    np.testing.assert_allclose(
        chunked.transform([clip])[0], whole.transform([clip])[0], rtol=1e-4, atol=1e-5
    )
    deep = chunked.set_params(layers=-1).transform([clip])[0]
    assert deep.shape == (HIDDEN, n_frames("wav2vec2-layer", 48000))
    assert np.isfinite(deep).all()


def test_whisper_long_clips_are_chunked_to_its_window(model_dir):
    path = model_dir("whisper")  # a 1-s window
    clip = _clips([40000])[0]  # 2.5 s
    frames = SpeechEmbedding(path, pooling=None).transform([clip])[0]
    assert frames.shape == (HIDDEN, n_frames("whisper", 40000))
    # the first window holds samples [0, 49 * 320 + 1): the same input as a
    # clip of that length, whose first 42 frames (50 minus 8 of context) it keeps
    head = SpeechEmbedding(path, pooling=None).transform([clip[: 49 * 320 + 1]])[0]
    np.testing.assert_allclose(frames[:, :42], head[:, :42], **BATCH_TOL)
    assert not np.allclose(frames[:, 42:50], head[:, 42:50], **BATCH_TOL)


def test_paths_and_resampled_waveforms(model_dir, write_wav):
    path = model_dir("wav2vec2-layer")
    clip = _clips([8000])[0]
    p16 = write_wav("a16.wav", y=clip, sr=16000, subtype="FLOAT")
    p8 = write_wav("a8.wav", y=clip[::2], sr=8000, subtype="FLOAT")
    est = SpeechEmbedding(path, pooling="mean+std")
    from_path = est.transform([str(p16), p8])
    np.testing.assert_allclose(from_path[0], est.transform([clip])[0], **BATCH_TOL)
    # 8 kHz waveforms are resampled as the loader resamples 8 kHz files
    at8 = est.set_params(sr=8000).transform([clip[::2]])
    np.testing.assert_allclose(at8[0], from_path[1], **BATCH_TOL)
    loaded = AudioLoader(sr=16000).transform([p8])
    np.testing.assert_allclose(
        est.set_params(sr=16000).transform(loaded)[0], from_path[1], **BATCH_TOL
    )


def test_lazy_waveforms_and_integer_pcm(model_dir, write_wav):
    path = model_dir("wavlm")
    clips = _clips([8000, 8000])
    paths = [write_wav(f"c{i}.wav", y=c, subtype="FLOAT") for i, c in enumerate(clips)]
    est = SpeechEmbedding(path)
    lazy = AudioLoader(duration=0.5, lazy=True).transform(paths)
    np.testing.assert_allclose(
        est.fit(lazy).transform(lazy), est.transform(clips), **BATCH_TOL
    )
    pcm = (np.stack(clips) * 32767).astype(np.int16)
    np.testing.assert_allclose(
        est.transform(pcm), est.transform(np.stack(clips)), rtol=1e-3, atol=1e-3
    )


def test_bf16_close_to_fp32(model_dir):
    path = model_dir("wavlm")
    X = np.stack(_clips([6000, 6000]))
    fp32 = SpeechEmbedding(path, precision="fp32", device="cpu").transform(X)
    bf16 = SpeechEmbedding(path, precision="bf16", device="cpu").transform(X)
    assert bf16.dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: about 2 significant digits here
    np.testing.assert_allclose(bf16, fp32, rtol=0.1, atol=0.1)
    assert not np.array_equal(bf16, fp32)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["wavlm", "whisper"])
def test_cuda_agrees_with_cpu(model_dir, kind):
    path = model_dir(kind)
    X = _clips([6000, 9000, 4000])
    cpu = SpeechEmbedding(path, pooling="mean+std", device="cpu").transform(X)
    gpu = SpeechEmbedding(path, pooling="mean+std", device="cuda", precision="fp32")
    # cuDNN may use TF32 for convolutions: about 3 significant digits
    np.testing.assert_allclose(gpu.transform(X), cpu, rtol=1e-2, atol=1e-3)
    auto = SpeechEmbedding(path, pooling="mean+std", device="auto")
    assert auto._encoder().device.type == "cuda"
    np.testing.assert_allclose(auto.transform(X), cpu, rtol=0.1, atol=0.1)


# --------------------------------------------------------------------------
# Persistence and model selection


def test_clone_and_pickle_reload_from_the_path(model_dir):
    path = model_dir("wav2vec2")
    X = np.stack(_clips([6000, 6000]))
    est = SpeechEmbedding(path, layers=[1, 2]).fit(X)
    out = est.transform(X)
    assert "_encoder_cache" in vars(est)
    blob = pickle.dumps(est)
    # weights: 2 layers of hidden size 16 are ~25 k floats, 100 kB; the pickle
    # holds the parameters only
    assert len(blob) < 2000
    restored = pickle.loads(blob)
    assert "_encoder_cache" not in vars(restored)
    np.testing.assert_array_equal(restored.transform(X), out)
    cloned = clone(est)
    assert "_encoder_cache" not in vars(cloned)
    assert cloned.get_params() == est.get_params()
    np.testing.assert_array_equal(cloned.transform(X), out)


def test_cache_follows_set_params(model_dir):
    est = SpeechEmbedding(model_dir("wav2vec2"))
    first = est._encoder()
    assert est._encoder() is first
    est.set_params(model=model_dir("whisper"))
    assert est._encoder().kind == "whisper"


def _toy_corpus(n_per_class=6):
    """Two classes told apart by pitch; 1/4-s clips."""
    rng = np.random.default_rng(0)
    t = np.arange(4000) / SR
    X, y = [], []
    for label, f0 in (("calm", 120.0), ("angry", 300.0)):
        for _ in range(n_per_class):
            f = f0 * rng.uniform(0.95, 1.05)
            X.append(0.3 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(4000))
            y.append(label)
    return np.asarray(X, np.float32), np.asarray(y)


def test_grid_search_over_layers(model_dir):
    X, y = _toy_corpus()
    pipe = Pipeline(
        [
            ("embedding", SpeechEmbedding(model_dir("wavlm"))),
            ("scaler", StandardScaler()),
            ("clf", LogisticRegression(max_iter=200)),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"embedding__layers": [0, -1, [1, 2]], "embedding__pooling": ["mean"]},
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    )
    search.fit(X, y)
    assert search.best_params_["embedding__layers"] in (0, -1, [1, 2])
    assert set(search.predict(X)) <= {"calm", "angry"}
    assert search.cv_results_["mean_test_score"].shape == (3,)


@pytest.mark.parametrize("classifier", ["logreg", "svm"])
def test_make_embedding_pipeline(model_dir, classifier):
    X, y = _toy_corpus()
    path = model_dir("wav2vec2-layer")
    pipe = make_embedding_pipeline(
        path, classifier=classifier, layers=[1, 2], batch_size=4, random_state=0
    )
    assert [name for name, _ in pipe.steps] == ["embedding", "scaler", "clf"]
    emb = pipe.named_steps["embedding"]
    assert isinstance(emb, SpeechEmbedding)
    assert emb.get_params()["layers"] == [1, 2]
    assert emb.pooling == "mean+std" and emb.batch_size == 4
    clf = pipe.named_steps["clf"]
    if classifier == "logreg":
        assert isinstance(clf, LogisticRegression)
        assert clf.max_iter == 1000 and clf.class_weight == "balanced"
    else:
        assert isinstance(clf, SVC) and clf.class_weight == "balanced"
    pipe.fit(X, y)
    assert pipe.score(X, y) >= 0.9  # pitch is easy even for random weights
    assert clone(pipe).get_params()["embedding__model"] == path


def test_make_embedding_pipeline_bad_classifier():
    with pytest.raises(ValueError, match="'classifier' .* 'logreg' or 'svm'.*'rf'"):
        make_embedding_pipeline("some/model", classifier="rf")


# --------------------------------------------------------------------------
# Bad input


def test_short_clip_names_the_minimum(model_dir):
    est = SpeechEmbedding(model_dir("wav2vec2"))
    X = _clips([4000, 30, 4000])
    with pytest.raises(
        ValueError, match=r"clip 1 has 30 samples .* fewer than the 45 samples"
    ):
        est.transform(X)
    with pytest.raises(ValueError, match=r"clip 1 has 30 samples"):
        est.fit(X)
    with pytest.raises(ValueError, match=r"\(23 samples at sr=8000\)"):
        est.set_params(sr=8000).fit([np.ones(10, np.float32)])
    # one Whisper frame is 320 samples, but any clip fills one (padded) frame
    out = SpeechEmbedding(model_dir("whisper")).transform([np.ones(30, np.float32)])
    assert out.shape == (1, HIDDEN) and np.isfinite(out).all()


def test_bad_layers(model_dir):
    X = np.stack(_clips([4000]))
    est = SpeechEmbedding(model_dir("wav2vec2"))
    with pytest.raises(ValueError, match=r"index 3, but .* has 3 hidden states"):
        est.set_params(layers=3).fit(X)
    with pytest.raises(ValueError, match=r"in \[-3, 2\]"):
        est.set_params(layers=[0, -4]).transform(X)
    with pytest.raises(ValueError, match="names a hidden state twice"):
        est.set_params(layers=[2, -1]).fit(X)
    with pytest.raises(ValueError, match="at least one layer"):
        est.set_params(layers=[]).fit(X)
    with pytest.raises(ValueError, match="must hold ints .* Got 'last'"):
        est.set_params(layers=[0, "last"]).fit(X)
    with pytest.raises(ValueError, match="must hold ints .* Got True"):
        est.set_params(layers=[True]).fit(X)
    with pytest.raises(InvalidParameterError, match="'layers' parameter"):
        est.set_params(layers="middle").fit(X)


def test_bad_parameters_and_arrays(model_dir):
    path = model_dir("wav2vec2")
    X = np.stack(_clips([4000, 4000]))
    with pytest.raises(InvalidParameterError, match="'pooling' parameter"):
        SpeechEmbedding(path, pooling="max").fit(X)
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter"):
        SpeechEmbedding(path, batch_size=0).transform(X)
    with pytest.raises(InvalidParameterError, match="'precision' parameter"):
        SpeechEmbedding(path, precision="fp16").fit(X)
    with pytest.raises(InvalidParameterError, match="'model' parameter"):
        SpeechEmbedding(3).fit(X)
    with pytest.raises(ValueError, match="'max_chunk_s' .* shorter than two frames"):
        SpeechEmbedding(path, max_chunk_s=0.001).fit(X)
    bad = X.copy()
    bad[1, 7] = np.nan
    with pytest.raises(ValueError, match=r"NaN/Inf value\(s\) \(in clip\(s\) \[1\]"):
        SpeechEmbedding(path).transform(bad)
    with pytest.raises(ValueError, match="expects 2-D waveforms"):
        SpeechEmbedding(path).fit(X[:, None, :])
    with pytest.raises(ValueError, match="got an empty list"):
        SpeechEmbedding(path).transform([])


@pytest.mark.skipif(
    "torch" in sys.modules and sys.modules["torch"].cuda.is_available(),
    reason="a CUDA device is present",
)
def test_cuda_without_gpu(model_dir):
    with pytest.raises(ValueError, match="'device' parameter .* is 'cuda'"):
        SpeechEmbedding(model_dir("wav2vec2"), device="cuda").fit(np.ones((1, 400)))


def test_models_that_cannot_be_loaded(model_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("SERSK_ALLOW_DOWNLOADS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # belt and braces: no network here
    X = np.ones((1, 4000), np.float32)
    with pytest.raises(OSError, match=r"not in the local Hugging Face cache.*"):
        SpeechEmbedding("sersk-tests/no-such-model").fit(X)
    with pytest.raises(OSError, match="SERSK_ALLOW_DOWNLOADS=1"):
        SpeechEmbedding("sersk-tests/no-such-model").transform(X)
    with pytest.raises(OSError, match="Point 'model' at a local directory"):
        SpeechEmbedding(tmp_path / "missing").fit(X)
    with pytest.raises(OSError, match="holds no config.json"):
        SpeechEmbedding(tmp_path).fit(X)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(OSError, match="is a file"):
        SpeechEmbedding(tmp_path / "weights.bin").fit(X)
    with pytest.raises(ValueError, match="'bert' model .* not an audio encoder"):
        SpeechEmbedding(model_dir("bert")).fit(X)


def test_downloads_only_when_allowed(monkeypatch):
    from sersk.features._embedding_encoder import _resolve_source

    monkeypatch.delenv("SERSK_ALLOW_DOWNLOADS", raising=False)
    assert _resolve_source("facebook/wav2vec2-base") == ("facebook/wav2vec2-base", True)
    monkeypatch.setenv("SERSK_ALLOW_DOWNLOADS", "1")
    assert _resolve_source("facebook/wav2vec2-base") == (
        "facebook/wav2vec2-base",
        False,
    )
    with pytest.raises(OSError, match="no directory"):  # a path is never a hub id
        _resolve_source("./models/wavlm")


def test_missing_feature_extractor_config_warns(model_dir, tmp_path):
    src = model_dir("wav2vec2-layer")
    dst = tmp_path / "nofe"
    shutil.copytree(src, dst)
    (dst / "preprocessor_config.json").unlink()
    X = np.stack(_clips([4000]))
    with pytest.warns(UserWarning, match="no preprocessor_config.json .* 16000 Hz"):
        out = SpeechEmbedding(dst).transform(X)
    np.testing.assert_allclose(out, SpeechEmbedding(src).transform(X), **BATCH_TOL)


# --------------------------------------------------------------------------
# Optional dependency


def _run_python(code):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_sersk_does_not_import_transformers_or_torch():
    res = _run_python(
        """
        import sys
        import sersk, sersk.features, sersk.features._embedding, sersk._embedding_pipeline
        from sersk.features._embedding import SpeechEmbedding
        SpeechEmbedding("facebook/wav2vec2-base").get_params()
        print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
        """
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_without_transformers_fit_says_how_to_install():
    res = _run_python(
        """
        import sys
        sys.modules["transformers"] = None  # as if it were not installed
        import numpy as np
        import sersk.features
        from sersk._embedding_pipeline import make_embedding_pipeline
        from sersk.features._embedding import SpeechEmbedding
        pipe = make_embedding_pipeline("facebook/wav2vec2-base")
        est = SpeechEmbedding("facebook/wav2vec2-base", layers=6)
        for call in (est.fit, est.transform, pipe.fit):
            try:
                call(np.zeros((2, 16000), np.float32), *([[0, 1]] if call == pipe.fit else []))
            except ImportError as exc:
                print("ImportError:", exc)
        """
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith("ImportError: SpeechEmbedding needs the optional")
        assert 'pip install "sersk[embeddings]"' in line


# --------------------------------------------------------------------------
# scikit-learn's estimator checks (also listed for tests/test_common.py)

_NO_N_FEATURES = (
    "stateless audio transformer: the number of samples per clip is not a fixed "
    "feature count (clips of any length are valid after fit), so n_features_in_ "
    "is neither set nor checked"
)
EXPECTED_FAILED_CHECKS = {
    "check_n_features_in": _NO_N_FEATURES,
    "check_n_features_in_after_fitting": _NO_N_FEATURES,
    "check_estimators_dtypes": "int64 waveforms are refused: not a PCM sample format",
}


def common_check_instance():
    """The instance scikit-learn's checks run on: a 1-sample receptive field."""
    return SpeechEmbedding(
        str(stable_encoder_dir("wav2vec2-k1")), pooling="mean+std", device="cpu"
    )


if HAS_TRANSFORMERS:

    @parametrize_with_checks(
        [common_check_instance()],
        expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
        xfail_strict=True,
    )
    def test_sklearn_compatible_estimator(estimator, check):
        check(estimator)
