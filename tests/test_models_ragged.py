"""Variable-length clips in the deep classifiers, the training recipe, fusion.

Covers the list-of-clips input (padded per batch, lengths to the network),
the masked input normalisation, ``augment_batch``'s warps, the cosine
schedule, mixup, ``precision_`` and the late-fusion pipeline on real RAVDESS
audio (skipped when the corpus is absent).
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
import torch
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback

from sersk.datasets import load_ravdess
from sersk.features import MelSpectrogram
from sersk.models import (
    CNNClassifier,
    CNNLSTMClassifier,
    CRNNClassifier,
    RNNClassifier,
    SpeakerValidSplit,
    native_bf16,
)
from sersk.models._modules import _InputNorm
from sersk.models._training import augment_batch
from sersk.pipelines import make_crnn_pipeline, make_fusion_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {
    CRNNClassifier: dict(
        module__conv_channels=(4, 4),
        module__lstm_units=(6,),
        module__attention_units=4,
        module__dense_units=(6,),
    ),
    CNNClassifier: dict(module__conv_channels=(4, 6), module__dense_units=(6,)),
    CNNLSTMClassifier: dict(
        module__conv_channels=(6,),
        module__lstm_units=(6,),
        module__attention_units=4,
        module__dense_units=(6,),
    ),
    RNNClassifier: dict(
        module__hidden_size=6,
        module__num_layers=1,
        module__attention_units=4,
        module__dense_units=(6,),
    ),
}
ALL = list(TINY)
IDS = [c.__name__ for c in ALL]
CONV_2D = [CRNNClassifier, CNNClassifier]
LABELS = np.array(["angry", "calm", "sad"])
N_COEFFS = 8
# every augmentation and mixup off: training is then a plain function of the seed
NO_AUGMENT = dict(freq_mask=0, time_mask=0, freq_warp=0.0, time_stretch=0.0, mixup=0)


def tiny(cls, **kwargs):
    params = dict(max_epochs=2, batch_size=8, random_state=0, device="cpu", **TINY[cls])
    params.update(kwargs)
    return cls(**params)


def ragged(n=18, low=5, high=30, seed=0):
    """``n`` clips of 8 coefficients and ``low``..``high`` frames, 3 emotions."""
    rng = np.random.default_rng(seed)
    y = np.tile(LABELS, n // 3 + 1)[:n]
    lengths = rng.integers(low, high + 1, size=n)
    lengths[0], lengths[1] = low, high  # both extremes present
    X = []
    for label, n_frames in zip(y, lengths, strict=True):
        clip = rng.normal(size=(N_COEFFS, n_frames)).astype(np.float32)
        clip[:3] += 2.0 * (label == "angry")  # learnable signal
        clip[5:] -= 2.0 * (label == "sad")
        X.append(clip)
    return X, y


# ----------------------------------------------------------------- fit/predict
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_ragged_fit_predict_proba(cls):
    X, y = ragged()
    assert len({x.shape[1] for x in X}) > 2  # really ragged
    clf = tiny(cls).fit(X, y)
    assert clf.n_frames_in_ == 30 == max(x.shape[1] for x in X)
    assert clf.n_features_in_ == N_COEFFS
    np.testing.assert_array_equal(clf.classes_, LABELS)
    assert np.isfinite(clf.history[:, "train_loss"]).all()

    X_new, _ = ragged(n=7, low=3, high=45, seed=1)  # longer than any fit clip
    proba = clf.predict_proba(X_new)
    assert proba.shape == (7, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    pred = clf.predict(X_new)
    np.testing.assert_array_equal(pred, LABELS[proba.argmax(axis=1)])

    # a 1-D object array (what MelSpectrogram returns for paths) is the same input
    obj = np.empty(len(X_new), dtype=object)
    obj[:] = X_new
    np.testing.assert_array_equal(clf.predict_proba(obj), proba)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_padding_is_ignored_at_predict(cls):
    # fp32 on purpose: under bf16 autocast the rounding differs between the
    # padded batch and the lone clip by far more than the tolerance below.
    X, y = ragged()
    clf = tiny(cls, precision="fp32").fit(X, y)
    short = X[0]  # 5 frames, the shortest clip
    longer = [X[1], X[4], short, X[1][:, :17]]  # padded to X[1]: 30 frames
    alone = clf.predict_proba([short])  # one clip: stacked, no padding at all
    batch = clf.predict_proba(longer)  # padded to 30 frames
    # 1e-5: same maths on the valid frames, but the padded batch sums in
    # another order (other conv/GEMM shapes), so float32 rounding differs a bit.
    np.testing.assert_allclose(batch[2], alone[0], rtol=0, atol=1e-5)
    cut = clf.predict_proba([X[1][:, :17]])
    np.testing.assert_allclose(batch[3], cut[0], rtol=0, atol=1e-5)
    # the check can fail: the padded clip without lengths differs
    padded = np.zeros((1, N_COEFFS, 30), np.float32)
    padded[0, :, :5] = short
    assert np.abs(clf.predict_proba(padded)[0] - alone[0]).max() > 1e-4


@pytest.mark.parametrize(
    "cls", [CRNNClassifier, RNNClassifier], ids=lambda c: c.__name__
)
def test_equal_length_list_is_the_stacked_array(cls):
    rng = np.random.default_rng(3)
    X3 = rng.normal(size=(12, N_COEFFS, 14)).astype(np.float32)
    y = np.tile(LABELS, 4)
    X3[y == "angry", :3] += 2.0
    as_list = list(X3)
    a = tiny(cls, train_split=None).fit(X3, y)
    b = tiny(cls, train_split=None).fit(as_list, y)
    assert a.n_frames_in_ == b.n_frames_in_ == 14
    np.testing.assert_array_equal(
        a.history[:, "train_loss"], b.history[:, "train_loss"]
    )
    np.testing.assert_array_equal(a.predict_proba(as_list), a.predict_proba(X3))
    np.testing.assert_array_equal(b.predict_proba(X3), a.predict_proba(X3))
    np.testing.assert_array_equal(b.predict(as_list), a.predict(X3))


@pytest.mark.parametrize("cls", CONV_2D, ids=lambda c: c.__name__)
def test_one_frame_clips(cls):
    # The time (and coefficient) poolings use ceil_mode and the valid lengths
    # are divided rounding up, so a clip of 1 frame stays 1 frame after every
    # pooling: there is no minimum clip length, even with two conv blocks.
    X, y = ragged(n=12)
    X[2] = X[2][:, :1]
    X[5] = X[5][:, :1]
    clf = tiny(cls, precision="fp32").fit(X, y)
    assert np.isfinite(clf.history[:, "train_loss"]).all()
    one = X[2]
    alone = clf.predict_proba([one])
    assert alone.shape == (1, 3)
    np.testing.assert_allclose(alone.sum(), 1.0, atol=1e-6)
    # the same 1-frame clip padded in a batch with a long one
    batch = clf.predict_proba([X[1], one])
    np.testing.assert_allclose(batch[1], alone[0], rtol=0, atol=1e-5)
    # a batch of 1-frame clips only (stacked to (n, 8, 1))
    many = clf.predict_proba([X[2], X[5]])
    assert many.shape == (2, 3) and np.isfinite(many).all()


# ------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def fitted_rnn():
    X, y = ragged(n=9)
    return tiny(RNNClassifier, max_epochs=1, train_split=None).fit(X, y)


def test_bad_ragged_input_is_refused(fitted_rnn):
    X, y = ragged(n=6)
    clf = tiny(CRNNClassifier)
    with pytest.raises(ValueError, match="is empty: got 0 clips"):
        clf.fit([], [])
    mixed = [X[0], X[1][None]]  # a 2-D clip and a 3-D batch
    with pytest.raises(ValueError, match=r"clip 1 has shape \(1, 8, .*not a mix"):
        clf.fit(mixed, y[:2])
    bad = [x.copy() for x in X]
    bad[3][2, 4] = np.nan
    bad[3][0, 2] = np.inf
    with pytest.raises(
        ValueError, match=r"clip 3 contains NaN/Inf values \(frames \[2, 4\]"
    ):
        clf.fit(bad, y)
    other = list(X)
    other[4] = other[4][:5]
    with pytest.raises(
        ValueError, match="clip 4 has 5 coefficients per frame but clip 0 has 8"
    ):
        clf.fit(other, y)
    with pytest.raises(ValueError, match="lengths is only for clips padded"):
        clf.fit(X, y, lengths=[x.shape[1] for x in X])
    assert not hasattr(clf, "module_")  # nothing was trained

    # at predict time
    with pytest.raises(ValueError, match="is empty: got 0 clips"):
        fitted_rnn.predict([])
    with pytest.raises(ValueError, match="clip 1 contains NaN/Inf"):
        fitted_rnn.predict_proba([X[0], np.full((N_COEFFS, 3), np.nan)])
    fewer = [x[:6] for x in X]
    with pytest.raises(
        ValueError,
        match="X has 6 coefficients per frame, but RNNClassifier was fitted with 8",
    ):
        fitted_rnn.predict(fewer)
    with pytest.raises(ValueError, match="lengths is only for clips padded"):
        fitted_rnn.predict_proba(X, lengths=[x.shape[1] for x in X])


# -------------------------------------------------------------- input norm
def _padded(lengths, pad_value, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(len(lengths), 4, max(lengths), generator=g) * 3.0 + 1.5
    for i, n in enumerate(lengths):
        X[i, :, n:] = pad_value
    return X


def test_input_norm_training_statistics_use_valid_frames_only():
    lengths = [10, 6, 3]
    lens = torch.tensor(lengths)
    X = _padded(lengths, 0.0)
    norm = _InputNorm(4).train()
    ref = torch.nn.BatchNorm1d(4).train()
    with torch.no_grad():  # non-trivial affine parameters, the same in both
        for bn in (norm.norm, ref):
            bn.weight.copy_(torch.tensor([0.5, 1.0, 2.0, -1.0]))
            bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    out = norm(X, lens)
    valid = torch.cat([X[i, :, :n] for i, n in enumerate(lengths)], dim=1)  # (4, 19)
    expected = ref(valid.T)  # (19, 4): BatchNorm1d over the 19 valid frames
    got = torch.cat([out[i, :, :n] for i, n in enumerate(lengths)], dim=1).T
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        norm.norm.running_mean, ref.running_mean, rtol=0, atol=1e-6
    )
    torch.testing.assert_close(
        norm.norm.running_var, ref.running_var, rtol=0, atol=1e-5
    )
    assert int(norm.norm.num_batches_tracked) == 1
    # a plain BatchNorm1d over the padded batch would see the zeros
    plain = torch.nn.BatchNorm1d(4).train()
    plain(X)
    assert (plain.running_mean - ref.running_mean).abs().max() > 1e-2

    # huge padding values change neither the valid outputs nor the statistics
    other = _InputNorm(4).train()
    other.load_state_dict(_InputNorm(4).state_dict())
    with torch.no_grad():
        other.norm.weight.copy_(norm.norm.weight)
        other.norm.bias.copy_(norm.norm.bias)
    out_huge = other(_padded(lengths, 1e30), lens)
    for i, n in enumerate(lengths):
        torch.testing.assert_close(out_huge[i, :, :n], out[i, :, :n], rtol=0, atol=1e-6)
    torch.testing.assert_close(other.norm.running_mean, norm.norm.running_mean)
    torch.testing.assert_close(other.norm.running_var, norm.norm.running_var)

    # eval mode normalises with the running statistics, padding or not
    norm.eval()
    ref.eval()
    torch.testing.assert_close(norm(X, lens), ref(X), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- augmentation
def test_augment_batch_without_warps_passes_through():
    X = torch.randn(3, 8, 20)
    out, lengths = augment_batch(X)
    assert out is X and lengths is None
    given = torch.tensor([20, 7, 1])
    out, lengths = augment_batch(X, lengths=given)
    assert out is X and lengths is given


def test_augment_batch_freq_warp_keeps_shape_and_lengths():
    torch.manual_seed(0)
    X = torch.randn(4, 8, 20)
    given = torch.tensor([20, 12, 5, 1])
    out, lengths = augment_batch(X, freq_warp=0.3, lengths=given)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert not torch.equal(out, X)
    torch.testing.assert_close(lengths, given)
    out, lengths = augment_batch(X, freq_warp=0.3)
    assert out.shape == X.shape
    assert lengths is None or bool((lengths == 20).all())


def test_augment_batch_time_stretch_updates_lengths():
    torch.manual_seed(0)
    n, T = 6, 40
    # a ramp over time: frame t holds the value t, so the output at frame j
    # tells which input position it was read from (j * rate)
    X = torch.arange(T, dtype=torch.float32).expand(n, 3, T).clone()
    given = torch.tensor([40, 40, 30, 17, 5, 1])
    out, lengths = augment_batch(X, time_stretch=0.4, freq_warp=0.2, lengths=given)
    assert out.shape == X.shape
    assert lengths.shape == (n,) and lengths.dtype == torch.int64
    assert int(lengths.min()) >= 1 and int(lengths.max()) <= T
    assert not torch.equal(lengths, given)
    rate = out[:, 0, 1] - out[:, 0, 0]
    assert float(rate.min()) >= 0.6 - 1e-4 and float(rate.max()) <= 1.4 + 1e-4
    assert float((rate - 1).abs().max()) > 0.05  # some clip really stretched
    expected = (torch.floor((given - 1) / rate).long() + 1).clamp(1, T)
    # floor of a ratio of floats: allow one frame of rounding
    assert int((lengths - expected).abs().max()) <= 1
    # every new valid frame reads old valid frames only
    for i in range(n):
        m = int(lengths[i])
        src = out[i, 0, :m].numpy()
        assert src.max(initial=0.0) <= float(given[i] - 1) + 1e-3

    # without lengths a time stretch creates them
    out, lengths = augment_batch(X, time_stretch=0.4)
    assert lengths is not None and lengths.shape == (n,)
    assert int(lengths.min()) >= 1 and int(lengths.max()) <= T
    assert bool((lengths != T).any())


def test_time_stretch_valid_frames_read_only_valid_frames():
    torch.manual_seed(0)
    T = 40
    X = torch.arange(T, dtype=torch.float32).expand(6, 3, T).clone()
    given = torch.tensor([40, 40, 30, 17, 5, 1])
    out, lengths = augment_batch(X, time_stretch=0.4, lengths=given)
    for i in range(len(given)):
        src = out[i, 0, : int(lengths[i])]  # input positions read (ramp values)
        assert float(src.max()) <= float(given[i] - 1) + 1e-3, (i, lengths[i])


# ------------------------------------------------------------------ schedules
class LRProbe(Callback):
    """Record the optimizer's lr at each training batch (after the scheduler)."""

    def on_train_begin(self, net, **kwargs):
        self.lrs_ = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.lrs_.append(net.optimizer_.param_groups[0]["lr"])


def test_warmup_cosine_schedule_per_batch():
    X, y = ragged(n=20, high=12)
    lr = 0.01
    clf = tiny(
        RNNClassifier,
        lr=lr,
        max_epochs=10,
        batch_size=2,
        train_split=None,
        callbacks=[("probe", LRProbe())],
        **NO_AUGMENT,
    ).fit(X, y)
    lrs = np.array(dict(clf.callbacks_)["probe"].lrs_)
    assert len(lrs) == 10 * 10  # 10 batches per epoch, 10 epochs
    warm = 5  # 5 % of 100 steps
    # the probe runs after the scheduler: the first batch already has lr / warm
    np.testing.assert_allclose(lrs[:warm], lr * np.arange(1, warm + 1) / warm)
    assert np.all(np.diff(lrs[:warm]) > 0)
    assert lrs.max() == pytest.approx(lr) and lrs.argmax() == warm - 1
    assert np.all(np.diff(lrs[warm - 1 :]) <= 1e-12)  # cosine decay afterwards
    assert lrs[len(lrs) // 2] == pytest.approx(lr * 0.5 * (1 + np.cos(np.pi * 45 / 95)))
    assert lrs[-1] < 0.05 * lr


def test_warmup_cosine_counts_the_last_partial_batch():
    X, y = ragged(n=20, high=12)
    clf = tiny(
        RNNClassifier,
        lr=0.01,
        max_epochs=4,
        batch_size=8,
        train_split=None,
        callbacks=[("probe", LRProbe())],
        **NO_AUGMENT,
    ).fit(X, y)
    lrs = np.array(dict(clf.callbacks_)["probe"].lrs_)
    assert len(lrs) == 4 * 3
    assert np.all(lrs > 0), lrs  # lr 0 only after the last batch


def test_plateau_schedule_keeps_lr_at_first():
    X, y = ragged(n=12, high=12)
    clf = tiny(
        RNNClassifier,
        lr=0.02,
        max_epochs=3,
        batch_size=4,
        lr_schedule="plateau",
        train_split=None,
        callbacks=[("probe", LRProbe())],
        **NO_AUGMENT,
    ).fit(X, y)
    lrs = dict(clf.callbacks_)["probe"].lrs_
    assert len(lrs) == 3 * 3
    assert lrs == [0.02] * 9


# ---------------------------------------------------------------------- mixup
def test_mixup_trains_and_changes_losses_fit_is_reproducible():
    X, y = ragged(n=12)
    kwargs = dict(max_epochs=3, train_split=None, **NO_AUGMENT)
    plain_a = tiny(CRNNClassifier, **kwargs).fit(X, y)
    plain_b = tiny(CRNNClassifier, **kwargs).fit(X, y)
    np.testing.assert_array_equal(plain_a.predict_proba(X), plain_b.predict_proba(X))
    np.testing.assert_array_equal(
        plain_a.history[:, "train_loss"], plain_b.history[:, "train_loss"]
    )
    mixed = tiny(CRNNClassifier, **{**kwargs, "mixup": 0.4}).fit(X, y)
    losses = np.array(mixed.history[:, "train_loss"])
    assert losses.shape == (3,) and np.isfinite(losses).all()
    assert not np.allclose(losses, plain_a.history[:, "train_loss"])
    proba = mixed.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # with the other augmentations on as well (the default recipe)
    full = tiny(CRNNClassifier, max_epochs=1, mixup=0.4).fit(X, y)
    assert np.isfinite(full.history[:, "train_loss"]).all()


# ------------------------------------------------------------------- precision
def test_precision_auto_explicit_and_invalid():
    auto = tiny(CRNNClassifier)
    assert auto.precision == "auto"
    assert auto.precision_ == ("bf16" if native_bf16("cpu") else "fp32")
    assert tiny(CRNNClassifier, precision="fp32").precision_ == "fp32"
    assert tiny(CRNNClassifier, precision="bf16").precision_ == "bf16"
    X, y = ragged(n=6)
    with pytest.raises(InvalidParameterError, match="'precision' parameter"):
        tiny(CRNNClassifier, precision="fp16").fit(X, y)
    assert issubclass(InvalidParameterError, ValueError)
    # bf16 on ragged clips runs on CPU too (emulated where not native)
    clf = tiny(CRNNClassifier, precision="bf16", max_epochs=1, train_split=None)
    proba = clf.fit(X, y).predict_proba(X)
    assert clf.precision_ == "bf16"
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)


# ------------------------------------------------------------ real RAVDESS
@pytest.fixture(scope="module")
def ravdess_small(ravdess_root):
    """16 training clips (actors 1-4, angry/calm) and 4 test clips (actors 5-6)."""
    ds = load_ravdess(root=ravdess_root, emotions=["angry", "calm"])
    frame = ds.frame.reset_index(drop=True)
    picks = {"train": [], "test": []}
    for actor, part, per in [
        (1, "train", 2),
        (2, "train", 2),
        (3, "train", 2),
        (4, "train", 2),
        (5, "test", 1),
        (6, "test", 1),
    ]:
        for emotion in ("angry", "calm"):
            rows = frame.index[
                (frame.group == f"ravdess_{actor:02d}") & (frame.emotion == emotion)
            ]
            picks[part].extend(rows[:per].tolist())
    tr, te = np.array(picks["train"]), np.array(picks["test"])
    assert len(tr) == 16 and len(te) == 4
    return ds.data[tr], ds.target[tr], ds.groups[tr], ds.data[te], ds.target[te]


CRNN_SMALL = dict(
    module__conv_channels=(4,),
    module__lstm_units=(4,),
    module__attention_units=4,
    module__dense_units=(4,),
)


def test_real_ravdess_ragged_crnn_pipelines(ravdess_small):
    X, y, groups, X_test, y_test = ravdess_small
    mel = MelSpectrogram()
    frames = mel.fit_transform(X)
    assert len({f.shape[1] for f in frames}) > 1  # the real clips differ in length
    pipe = make_pipeline(
        MelSpectrogram(),
        CRNNClassifier(max_epochs=1, batch_size=8, random_state=0, **CRNN_SMALL),
    )
    pipe.fit(X, y, crnnclassifier__groups=groups)
    clf = pipe[-1]
    assert clf.n_frames_in_ == max(f.shape[1] for f in frames)
    np.testing.assert_array_equal(clf.classes_, ["angry", "calm"])
    assert "valid_loss" in clf.history[-1]
    pred = pipe.predict(X_test)
    assert pred.shape == (4,) and set(pred) <= {"angry", "calm"}
    assert pipe.predict_proba(X_test).shape == (4, 2)

    factory = make_crnn_pipeline(
        max_epochs=1, batch_size=8, random_state=0, **CRNN_SMALL
    )
    assert factory[0].duration is None and factory[0].trim_db == 30
    factory.fit(X, y, crnnclassifier__groups=groups)
    trimmed = factory[:-1].transform(X)
    assert trimmed[0].shape[0] == 128  # the CRNN factory's n_mels
    assert factory[-1].n_frames_in_ == max(f.shape[1] for f in trimmed)
    # the factory's loader cuts the silence: the same mel settings on the
    # untrimmed files give longer clips
    untrimmed = factory.named_steps["melspectrogram"].transform(X)
    n_trim = np.array([f.shape[1] for f in trimmed])
    n_full = np.array([f.shape[1] for f in untrimmed])
    assert np.all(n_trim <= n_full) and n_trim.sum() < n_full.sum()
    proba = factory.predict_proba(X_test)
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert set(factory.predict(X_test)) <= {"angry", "calm"}


def _fusion(**kwargs):
    return make_fusion_pipeline(
        max_epochs=1, batch_size=8, random_state=0, **CRNN_SMALL, **kwargs
    )


def test_real_ravdess_fusion_is_mean_of_members(ravdess_small):
    X, y, _, X_test, _ = ravdess_small
    fusion = _fusion().fit(X, y)
    np.testing.assert_array_equal(fusion.classes_, ["angry", "calm"])
    svm, crnn = fusion.named_estimators_["svm"], fusion.named_estimators_["crnn"]
    # VotingClassifier fits its members on the encoded labels
    np.testing.assert_array_equal(svm.classes_, [0, 1])
    np.testing.assert_array_equal(crnn.classes_, [0, 1])
    proba = fusion.predict_proba(X_test)
    members = (svm.predict_proba(X_test) + crnn.predict_proba(X_test)) / 2
    np.testing.assert_allclose(proba, members, rtol=0, atol=1e-6)
    assert proba.shape == (4, 2)
    np.testing.assert_array_equal(
        fusion.predict(X_test), fusion.classes_[members.argmax(axis=1)]
    )


class RecordingSplit:
    """A train_split that records the speaker ids it is given."""

    def __call__(self, dataset, y=None, groups=None, **kwargs):
        self.groups_ = None if groups is None else np.asarray(groups)
        train, valid = SpeakerValidSplit(0.25, random_state=0)(dataset, y, groups)
        self.train_idx_, self.valid_idx_ = train.indices, valid.indices
        return train, valid


def test_real_ravdess_fusion_routes_groups(ravdess_small):
    X, y, groups, X_test, _ = ravdess_small
    with sklearn.config_context(enable_metadata_routing=True):
        fusion = _fusion(train_split=RecordingSplit())
        fusion.named_estimators["crnn"][-1].set_fit_request(groups=True)
        fusion.fit(X, y, groups=groups)
        split = fusion.named_estimators_["crnn"][-1].train_split
        assert split.groups_ is not None  # the speaker ids reached the CRNN
        np.testing.assert_array_equal(split.groups_, groups)
        held_out = set(groups[split.valid_idx_])
        assert held_out and held_out.isdisjoint(groups[split.train_idx_])
        assert len(split.train_idx_) + len(split.valid_idx_) == len(X)
        assert "valid_loss" in fusion.named_estimators_["crnn"][-1].history[-1]
        assert fusion.predict_proba(X_test).shape == (4, 2)

        # not requested: routing refuses groups rather than dropping them
        unrequested = _fusion(train_split=RecordingSplit())
        with pytest.raises(ValueError, match=r"\[groups\] are passed but are not"):
            unrequested.fit(X, y, groups=groups)
