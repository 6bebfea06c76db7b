"""Behaviour of the deep classifiers on tiny data (CPU, or CUDA when present)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback

from sersk.exceptions import TrainingInterruptedWarning
from sersk.models import (
    CNNClassifier,
    CNNLSTMClassifier,
    CRNNClassifier,
    RNNClassifier,
    SpeakerValidSplit,
)
from sersk.models._training import augment_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {
    CRNNClassifier: dict(
        module__conv_channels=(4,),
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
LABELS = np.array(["angry", "calm", "sad"])


def tiny(cls=RNNClassifier, **kwargs):
    params = dict(max_epochs=2, batch_size=8, random_state=0, **TINY[cls])
    params.update(kwargs)
    return cls(**params)


@pytest.fixture
def data():
    """24 clips x 8 coefficients x 16 frames, 3 emotions, 6 speakers."""
    rng = np.random.default_rng(0)
    y = np.tile(LABELS, 8)
    X = rng.normal(size=(24, 8, 16)).astype(np.float32)
    X[:, :3] += (y == "angry")[:, None, None] * 2.0  # learnable signal
    X[:, 5:] -= (y == "sad")[:, None, None] * 2.0
    groups = np.repeat(np.arange(6), 4)
    return X, y, groups


# ------------------------------------------------------------ labels / API
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_string_labels_in_and_out(cls, data):
    X, y, groups = data
    clf = tiny(cls).fit(X, y, groups=groups)
    assert list(clf.classes_) == ["angry", "calm", "sad"]
    assert clf.n_classes_ == 3 and clf.n_features_in_ == 8 and clf.n_frames_in_ == 16
    proba = clf.predict_proba(X)
    assert proba.shape == (24, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    pred = clf.predict(X)
    assert set(pred) <= set(LABELS)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) == pytest.approx(np.mean(pred == y))
    # module sizes inferred from the data
    assert clf.module_.head[-1].out_features == 3


def test_integer_and_object_labels(data):
    X, y, _ = data
    y_int = np.searchsorted(LABELS, y) * 10 + 5  # 5, 15, 25
    clf = tiny().fit(X, y_int)
    assert clf.classes_.tolist() == [5, 15, 25]
    assert set(clf.predict(X)) <= {5, 15, 25}
    clf = tiny().fit(X, y.astype(object).tolist())  # list of str
    assert set(clf.predict(X)) <= set(LABELS)


def test_learns_separable_data(data):
    X, y, _ = data
    clf = tiny(max_epochs=40, train_split=None, lr=1e-2).fit(X, y)
    assert clf.score(X, y) >= 0.9


def test_classes_param_allows_unseen_label(data):
    X, y, _ = data
    clf = tiny(classes=["angry", "calm", "happy", "sad"]).fit(X, y)
    assert clf.classes_.tolist() == ["angry", "calm", "happy", "sad"]
    assert clf.predict_proba(X).shape == (24, 4)


def test_clone_get_set_params():
    clf = tiny(CRNNClassifier, lr=0.01)
    params = clf.get_params()
    assert params["lr"] == 0.01 and params["device"] == "auto"
    assert params["module__lstm_units"] == (6,)
    assert params["optimizer"] is torch.optim.AdamW
    assert params["optimizer__weight_decay"] == 1e-2
    assert params["criterion__label_smoothing"] == 0.1
    assert params["patience"] is None  # trains the whole schedule
    c = clone(clf)
    assert c.get_params(deep=False).keys() == clf.get_params(deep=False).keys()
    c.set_params(module__lstm_units=(3, 2), max_epochs=1)
    assert c.module__lstm_units == (3, 2) and clf.module__lstm_units == (6,)


def test_fit_does_not_change_params(data):
    X, y, groups = data
    clf = tiny()
    before = {k: joblib.hash(v) for k, v in clf.get_params(deep=False).items()}
    clf.fit(X, y, groups=groups)
    after = {k: joblib.hash(v) for k, v in clf.get_params(deep=False).items()}
    assert before == after
    assert clf.get_params()["device"] == "auto"
    assert clf.device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_defaults():
    clf = CRNNClassifier()
    assert clf.optimizer is torch.optim.AdamW and clf.lr == 1e-3
    assert clf.optimizer__weight_decay == 1e-2
    assert clf.criterion is torch.nn.CrossEntropyLoss
    assert clf.criterion__label_smoothing == 0.1
    assert clf.precision == "auto" and clf.precision_ in ("fp32", "bf16")
    assert clf.lr_schedule == "cosine" and clf.class_weight == "balanced"
    assert (clf.freq_mask, clf.time_mask, clf.n_masks) == (8, 20, 2)
    assert (clf.freq_warp, clf.time_stretch, clf.mixup) == (0.1, 0.15, 0.2)
    # label smoothing is a CrossEntropyLoss argument: not imposed on others
    nll = CRNNClassifier(criterion=torch.nn.NLLLoss)
    assert "criterion__label_smoothing" not in nll.get_params()
    assert isinstance(clf.train_split, SpeakerValidSplit)
    names = [name for name, _ in clf.get_default_callbacks()]
    assert {"lr_scheduler", "valid_loss", "valid_acc"} <= set(names)
    assert "early_stopping" not in names  # patience=None: the whole schedule
    names = [name for name, _ in CRNNClassifier(patience=5).get_default_callbacks()]
    assert "early_stopping" in names
    no_valid = CRNNClassifier(train_split=None).get_default_callbacks()
    assert "early_stopping" not in dict(no_valid) and "valid_loss" not in dict(no_valid)


def test_optimizer_gets_weight_decay_and_lr(data):
    X, y, _ = data
    clf = tiny(lr=0.005, max_epochs=1, train_split=None, lr_schedule="plateau")
    clf.fit(X, y)
    assert isinstance(clf.optimizer_, torch.optim.AdamW)
    group = clf.optimizer_.param_groups[0]
    assert group["weight_decay"] == 1e-2 and group["lr"] == 0.005
    clf = tiny(optimizer=torch.optim.SGD, optimizer__momentum=0.9, max_epochs=1)
    clf.fit(X, y)
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.9


def test_predict_before_fit_raises(data):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        tiny().predict(data[0])
    with pytest.raises(AttributeError, match="before fit"):
        _ = tiny().classes_


# --------------------------------------------------------------- sklearn glue
def test_pickle_and_joblib_of_fitted_pipeline(tmp_path, data):
    X, y, groups = data
    pipe = make_pipeline(tiny(CRNNClassifier))
    pipe.fit(X, y, crnnclassifier__groups=groups)
    expected = pipe.predict_proba(X)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_allclose(restored.predict_proba(X), expected, rtol=1e-5)
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)
    loaded = joblib.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-5)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    assert loaded[-1].get_params()["device"] == "auto"


def test_cross_val_score_speaker_independent(data):
    X, y, groups = data
    scores = cross_val_score(
        tiny(max_epochs=1), X, y, groups=groups, cv=GroupKFold(n_splits=3)
    )
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def _frames(X, n_keep=8):
    """A real feature step: keep the first n_keep coefficients (X is 3-D)."""
    return np.asarray(X)[:, :n_keep, :]


def test_grid_search_over_module_and_feature_params(data):
    from sklearn.preprocessing import FunctionTransformer

    X, y, groups = data
    pipe = make_pipeline(
        FunctionTransformer(_frames), tiny(max_epochs=1, train_split=None)
    )
    grid = GridSearchCV(
        pipe,
        {
            "rnnclassifier__module__hidden_size": [3, 5],
            "functiontransformer__kw_args": [{"n_keep": 4}, {"n_keep": 8}],
        },
        cv=GroupKFold(n_splits=2),
    )
    grid.fit(X, y, groups=groups)
    assert len(grid.cv_results_["params"]) == 4
    best = grid.best_estimator_
    n_keep = grid.best_params_["functiontransformer__kw_args"]["n_keep"]
    assert best[-1].n_features_in_ == n_keep
    assert (
        best[-1].module_.rnn.hidden_size
        == grid.best_params_["rnnclassifier__module__hidden_size"]
    )
    assert best.predict(X).shape == (24,)


def test_grid_search_with_mel_spectrogram(write_wav):
    features = pytest.importorskip("sersk.features")
    if not hasattr(features, "MelSpectrogram"):
        pytest.skip("sersk.features.MelSpectrogram not available yet")
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(int(0.25 * sr)) / sr
    waves, y = [], []
    for i in range(12):
        f0 = 200.0 if i % 2 else 600.0
        waves.append(0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.normal(size=t.size))
        y.append("low" if i % 2 else "high")
    W = np.asarray(waves, dtype=np.float32)
    pipe = make_pipeline(
        features.MelSpectrogram(sr=sr), tiny(max_epochs=1, train_split=None)
    )
    grid = GridSearchCV(
        pipe,
        {
            "melspectrogram__n_mels": [8, 16],
            "rnnclassifier__module__hidden_size": [3, 4],
        },
        cv=2,
    )
    grid.fit(W, np.array(y))
    assert (
        grid.best_estimator_[-1].n_features_in_
        == grid.best_params_["melspectrogram__n_mels"]
    )


# ------------------------------------------------------- speakers / splits
def test_validation_split_holds_whole_speakers(data):
    X, y, groups = data
    split = SpeakerValidSplit(0.34, random_state=0)
    train, valid = split(X, y, groups=groups)
    g_train, g_valid = set(groups[train.indices]), set(groups[valid.indices])
    assert g_train and g_valid and not (g_train & g_valid)
    # stratified: every emotion in the validation part
    assert set(y[valid.indices]) == set(LABELS)


def test_fit_with_groups_uses_speaker_split(data):
    X, y, groups = data
    seen = {}

    class RecordingSplit(SpeakerValidSplit):
        def __call__(self, dataset, y=None, groups=None, random_state=None):
            train, valid = super().__call__(dataset, y, groups, random_state)
            seen["groups"] = groups
            seen["train"], seen["valid"] = train.indices, valid.indices
            return train, valid

    pipe = make_pipeline(tiny(train_split=RecordingSplit(0.34)))
    pipe.fit(X, y, rnnclassifier__groups=groups)
    assert seen["groups"] is not None
    assert not set(groups[seen["train"]]) & set(groups[seen["valid"]])
    assert pipe[-1].history[-1, "valid_acc"] >= 0


def test_metadata_routing_groups(data):
    import sklearn

    X, y, groups = data
    with sklearn.config_context(enable_metadata_routing=True):
        clf = tiny(max_epochs=1).set_fit_request(groups=True)
        pipe = make_pipeline(clf)
        pipe.fit(X, y, groups=groups)
        assert pipe.predict(X).shape == (24,)


def test_split_falls_back_without_groups(data):
    X, y, _ = data
    train, valid = SpeakerValidSplit(0.25, random_state=0)(X, y)
    assert len(valid.indices) == 6 and set(y[valid.indices]) == set(LABELS)
    with pytest.raises(ValueError, match="at least 2 speakers"):
        SpeakerValidSplit()(X, y, groups=np.zeros(24))
    with pytest.raises(ValueError, match="one speaker id per clip"):
        tiny().fit(X, y, groups=np.zeros(5))


def test_train_split_none_has_no_validation(data):
    X, y, _ = data
    clf = tiny(train_split=None).fit(X, y)
    assert "valid_loss" not in clf.history[-1]
    assert len(clf.history) == 2


def test_early_stopping_stops_and_restores_best(data, capsys):
    X, y, groups = data
    clf = tiny(max_epochs=30, patience=2, lr=0.05, verbose=1).fit(X, y, groups=groups)
    n_epochs = len(clf.history)
    out = capsys.readouterr().out
    assert "valid_loss" in out  # per-epoch table
    if n_epochs < 30:
        assert "Stopping since valid_loss has not improved" in out
    losses = clf.history[:, "valid_loss"]
    es = dict(clf.callbacks_)["early_stopping"]
    assert losses[es.best_epoch_ - 1] == pytest.approx(min(losses))


def test_verbose_zero_is_silent(data, capsys):
    X, y, _ = data
    tiny().fit(X, y)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------- reproducibility
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_random_state_reproducible(cls, data):
    X, y, groups = data
    # Exact: the same seed, code and machine. The promise is for CPU: CUDA
    # kernels (cuDNN backward passes) are not bitwise deterministic by default.
    params = dict(freq_mask=2, time_mask=3, noise_std=0.1, device="cpu")
    a = tiny(cls, **params).fit(X, y, groups=groups)
    b = tiny(cls, **params).fit(X, y, groups=groups)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.history[:, "train_loss"] == b.history[:, "train_loss"]


def test_random_state_changes_model(data):
    X, y, _ = data
    a = tiny(random_state=0).fit(X, y)
    b = tiny(random_state=1).fit(X, y)
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X))


def test_random_state_does_not_touch_global_rng(data):
    X, y, _ = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny().fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


# ---------------------------------------------------------- class weights
def test_class_weight_balanced(data):
    X, y, _ = data
    y_imb = y.copy()
    y_imb[:6] = "angry"  # angry 10, calm 6, sad 8 -> weights differ
    clf = tiny(class_weight="balanced", max_epochs=1).fit(X, y_imb)
    counts = np.array([np.sum(y_imb == c) for c in clf.classes_])
    np.testing.assert_allclose(clf.class_weight_, 24 / (3 * counts), rtol=1e-6)
    np.testing.assert_allclose(
        clf.criterion_.weight.cpu().numpy(), clf.class_weight_, rtol=1e-6
    )
    clf = tiny(class_weight={"sad": 3.0}, max_epochs=1).fit(X, y)
    np.testing.assert_allclose(clf.class_weight_, [1.0, 1.0, 3.0])
    with pytest.raises(ValueError, match="not among the classes"):
        tiny(class_weight={"happy": 2.0}).fit(X, y)
    assert tiny(class_weight=None).fit(X, y).criterion_.weight is None


# ----------------------------------------------------------- augmentation
def test_augment_batch_masks_and_noise():
    torch.manual_seed(0)
    X = torch.arange(2 * 6 * 10, dtype=torch.float32).reshape(2, 6, 10)
    out, _ = augment_batch(X, freq_mask=6, time_mask=0, n_masks=3)
    assert out.shape == X.shape and not torch.equal(out, X)
    # exact: integer-valued float32 data, so every mean (sum < 2**24, / 60)
    # is exact whatever order the reduction takes
    means = X.mean(dim=(1, 2))
    changed = out != X
    for i in range(2):  # masked cells hold the clip mean
        assert torch.all(out[i][changed[i]] == means[i])
        # frequency masks cover whole rows
        rows = changed[i].any(dim=1)
        assert torch.all(changed[i][rows] | (X[i][rows] == means[i]))
    assert torch.equal(augment_batch(X)[0], X)  # nothing requested: unchanged
    noisy, _ = augment_batch(X, noise_std=0.5)
    assert not torch.equal(noisy, X)
    assert (noisy - X).std().item() == pytest.approx(0.5 * X[0].std().item(), rel=0.3)


def test_augmentation_only_at_training(data):
    X, y, _ = data
    calls = []

    class Spy(RNNClassifier):
        def _augment(self, X, lengths=None):
            calls.append(tuple(X.shape))
            return super()._augment(X, lengths)

    params = dict(max_epochs=2, batch_size=8, random_state=0, train_split=None)
    params.update(TINY[RNNClassifier])
    clf = Spy(time_mask=4, freq_mask=2, noise_std=0.2, **params).fit(X, y)
    assert len(calls) == 2 * 3  # every training batch, every epoch
    calls.clear()
    p1, p2 = clf.predict_proba(X), clf.predict_proba(X)
    assert calls == []  # never at predict time
    # augmentation would move the probabilities by far more than 1e-6; the
    # tolerance only allows for GPU kernels that are not bitwise deterministic
    np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-6)
    # the augmented model differs from the plain one trained the same way
    plain = RNNClassifier(**params).fit(X, y)
    assert not np.allclose(plain.predict_proba(X), p1)


# ---------------------------------------------------- variable-length clips
def test_lengths_make_padding_irrelevant(data):
    X, y, _ = data
    clf = tiny(max_epochs=1, module__bidirectional=True).fit(X, y)
    lengths = np.full(len(X), 10)
    ref = clf.predict_proba(X[:, :, :10])
    padded = X.copy()
    padded[:, :, 10:] = 123.0  # garbage in the padding
    np.testing.assert_allclose(
        clf.predict_proba(padded, lengths=lengths), ref, atol=1e-5
    )
    assert not np.allclose(clf.predict_proba(padded), ref, atol=1e-3)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_fit_and_predict_with_lengths(cls, data):
    X, y, groups = data
    lengths = np.random.default_rng(0).integers(4, 17, size=len(X))
    clf = tiny(cls, time_mask=3).fit(X, y, groups=groups, lengths=lengths)
    assert clf.predict(X, lengths=lengths).shape == (24,)
    # other clip lengths are accepted at predict time
    assert clf.predict_proba(X[:, :, :9]).shape == (24, 3)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, n_frames=16\]"):
        clf.predict(X, lengths=np.full(24, 17))
    with pytest.raises(ValueError, match="one frame count per clip"):
        clf.predict(X, lengths=np.full(3, 5))


# ------------------------------------------------------------- bad input
def test_2d_input_raises(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="must be a 3-D array.*MelSpectrogram"):
        tiny().fit(X[:, :, 0], y)
    clf = tiny(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="must be a 3-D array"):
        clf.predict(X[:, :, 0])


def test_nan_input_raises(data):
    X, y, _ = data
    X = X.copy()
    X[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN/Inf value\(s\) \(clips \[3\]"):
        tiny().fit(X, y)


def test_single_class_raises(data):
    X, _, _ = data
    with pytest.raises(ValueError, match="at least 2 classes.*'calm'"):
        tiny().fit(X, np.array(["calm"] * len(X)))


def test_other_bad_inputs(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="Unknown label type"):
        tiny().fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        tiny().fit(X, y[:5])
    clf = tiny(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 coefficients.*fitted with 8"):
        clf.predict(X[:, :4])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lr": 0}, "The 'lr' parameter of RNNClassifier must be a float in the range"),
        ({"max_epochs": -1}, "'max_epochs' parameter of RNNClassifier must be an int"),
        ({"precision": "fp16"}, "'precision' parameter of RNNClassifier must be a str"),
        ({"class_weight": "auto"}, "'class_weight' parameter"),
        ({"noise_std": -0.1}, "'noise_std' parameter"),
        ({"patience": 0}, "'patience' parameter"),
        ({"module__hidden_sise": 3}, "unexpected keyword argument 'hidden_sise'"),
    ],
)
def test_bad_params_raise_at_fit(params, match, data):
    X, y, _ = data
    clf = tiny(**params)  # __init__ only stores
    with pytest.raises((InvalidParameterError, ValueError, TypeError), match=match):
        clf.fit(X, y)


def test_bad_module_params_raise():
    X = np.zeros((4, 3, 5), np.float32)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="cell must be 'lstm' or 'gru'"):
        tiny(module__cell="rnn").fit(X, y)


# --------------------------------------------------------- warm start etc
def test_warm_start_continues_training(data):
    X, y, _ = data
    clf = tiny(warm_start=True, train_split=None, max_epochs=2).fit(X, y)
    weights = clf.module_.head[-1].weight.detach().clone()
    clf.fit(X, y)
    assert len(clf.history) == 4
    assert not torch.equal(weights, clf.module_.head[-1].weight)
    with pytest.raises(ValueError, match="'happy', which is not among the classes"):
        clf.fit(X, np.where(y == "sad", "happy", y))
    cold = tiny(train_split=None, max_epochs=2).fit(X, y).fit(X, y)
    assert len(cold.history) == 2


def test_partial_fit(data):
    X, y, _ = data
    clf = tiny(train_split=None, max_epochs=1)
    clf.partial_fit(X[:12], y[:12], classes=LABELS)
    clf.partial_fit(X[12:], y[12:])
    assert len(clf.history) == 2 and clf.classes_.tolist() == LABELS.tolist()


@pytest.mark.parametrize("cls", [CRNNClassifier, CNNClassifier], ids=["CRNN", "CNN"])
def test_bf16_precision_trains_with_channels_last(cls, data):
    X, y, _ = data
    clf = tiny(cls, precision="bf16", max_epochs=2).fit(X, y)
    assert clf.module_.channels_last
    conv = clf.module_.conv[0][0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64 and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert np.isfinite(clf.history[:, "train_loss"]).all()
    fp32 = tiny(cls, precision="fp32", max_epochs=1).fit(X, y)
    assert not fp32.module_.channels_last


def test_flush_denormal_during_cpu_training_only(data):
    from skorch.callbacks import Callback

    X, y, _ = data
    seen = []

    class Probe(Callback):
        def on_epoch_begin(self, net, **kwargs):
            seen.append(torch.tensor([1e-40], dtype=torch.float32).item())

    tiny(max_epochs=1, callbacks=[("probe", Probe())]).fit(X, y)
    assert seen == [0.0]  # denormals flushed while training
    tiny_value = torch.tensor([1e-40], dtype=torch.float32)
    assert tiny_value.item() != 0.0  # denormals back to normal after fit


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_requested_without_cuda_raises(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="device='cuda' but CUDA is not available"):
        tiny(device="cuda").fit(X, y)


def test_import_models_does_not_import_torch():
    code = (
        "import sys, sersk.models as m; assert 'torch' not in sys.modules, 'torch'; "
        "assert 'CRNNClassifier' in dir(m); m.CRNNClassifier; "
        "assert 'torch' in sys.modules; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "ok"


@pytest.mark.gpu
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_cuda_training_and_cpu_reload(cls, data, tmp_path):
    X, y, groups = data
    clf = tiny(cls, device="cuda", precision="bf16").fit(X, y, groups=groups)
    assert next(clf.module_.parameters()).is_cuda
    proba = clf.predict_proba(X)
    path = tmp_path / "gpu.pkl"
    joblib.dump(clf, path)
    loaded = joblib.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-4)
    auto = tiny(cls).fit(X, y)  # device="auto" picks CUDA
    assert next(auto.module_.parameters()).is_cuda
    it = auto.get_iterator(auto.get_dataset(X, np.zeros(len(X))), training=True)
    assert it.pin_memory


# ------------------------------------------------------ interrupted training
class _CtrlCAt(Callback):
    """Raise KeyboardInterrupt, as Ctrl-C does, at the end of a given epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_keyboard_interrupt_is_recorded_and_warned(cls, data):
    X, y, groups = data
    clf = tiny(cls, max_epochs=5, callbacks=[("ctrl_c", _CtrlCAt(2))])
    with pytest.warns(
        TrainingInterruptedWarning,
        match=rf"{cls.__name__}.fit was interrupted \(KeyboardInterrupt\) in "
        r"epoch 2 of max_epochs=5",
    ) as record:
        assert clf.fit(X, y, groups=groups) is clf  # skorch's notebook behaviour
    (warning,) = [w.message for w in record if w.category is TrainingInterruptedWarning]
    assert (warning.epoch, warning.max_epochs) == (2, 5)
    assert clf.interrupted_ is True
    assert len(clf.history) == 2
    assert clf.history[-1, "interrupted"] is True
    assert "interrupted" not in clf.history[0]
    assert clf.predict(X).shape == (len(X),)  # the weights trained so far
    # a later fit without Ctrl-C clears the flag and warns nothing
    clf.set_params(callbacks=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingInterruptedWarning)
        clf.fit(X, y, groups=groups)
    assert clf.interrupted_ is False
    assert "interrupted" not in clf.history[-1]


def test_early_stopping_is_not_an_interruption(data):
    # skorch's EarlyStopping also ends training with KeyboardInterrupt; a
    # threshold no epoch can reach makes it stop after `patience` epochs
    X, y, groups = data
    clf = tiny(max_epochs=30, patience=2, callbacks__early_stopping__threshold=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingInterruptedWarning)
        clf.fit(X, y, groups=groups)
    assert len(clf.history) < 30  # stopped early (after patience misses)
    assert clf.interrupted_ is False
    assert "interrupted" not in clf.history[-1]


def test_keyboard_interrupt_as_an_error_for_scripts(data):
    # what a script (the sersk command) does to refuse a cut-short model
    X, y, _ = data
    pipe = make_pipeline(tiny(max_epochs=3, callbacks=[("ctrl_c", _CtrlCAt(2))]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingInterruptedWarning)
        with pytest.raises(TrainingInterruptedWarning, match="epoch 2 of") as exc:
            pipe.fit(X, y)
    assert pipe[-1].interrupted_ is True
    restored = pickle.loads(pickle.dumps(exc.value))  # e.g. from a joblib worker
    assert (restored.epoch, restored.max_epochs) == (2, 3)
    assert str(restored) == str(exc.value)


def test_keyboard_interrupt_in_partial_fit_counts_this_call(data):
    X, y, _ = data
    clf = tiny(max_epochs=2).fit(X, y)
    clf.set_params(callbacks=[("ctrl_c", _CtrlCAt(3))])
    clf.initialize_callbacks()  # skorch re-creates callbacks_ in fit, not here
    with pytest.warns(
        TrainingInterruptedWarning,
        match=r"RNNClassifier.partial_fit was interrupted .* epoch 1 of max_epochs=2",
    ):
        clf.partial_fit(X, y)
    assert clf.interrupted_ is True and len(clf.history) == 3
    assert clf.history[-1, "interrupted"] is True
    assert "interrupted" not in clf.history[1]


# ------------------------------------------------------------ clear errors
@pytest.mark.parametrize("missing", [None, np.nan])
def test_missing_labels_are_named(data, missing):
    X, y, _ = data
    y = y.astype(object)
    y[5] = missing
    with pytest.raises(
        ValueError,
        match=r"Input y contains NaN or None: 1 missing label\(s\) at position\(s\) \[5\]."
        " Every clip needs a label",
    ):
        tiny().fit(X, y)


def test_mixed_label_types_are_named(data):
    X, y, _ = data
    y = y.astype(object)
    y[4] = 3
    with pytest.raises(
        ValueError, match=r"y mixes strings and other label types \(int, str\)"
    ):
        tiny().fit(X, y)


def test_batch_norm_on_a_single_training_clip_is_explained(data):
    X, y, _ = data
    # 2 clips: the default validation split keeps 1 for early stopping
    with pytest.raises(
        ValueError,
        match=r"CNNClassifier cannot train on a batch of a single clip: its batch "
        r"normalisation needs at least 2 clips per training batch. The training "
        r"part holds 1 clip\(s\) after the validation split held out 1 clip\(s\)"
        r".*train_split=None",
    ) as exc:
        tiny(CNNClassifier).fit(X[:2], y[:2])
    assert "Expected more than 1 value per channel" in str(exc.value.__cause__)
    with pytest.raises(ValueError, match=r"Got batch_size=1; use batch_size=2"):
        tiny(CNNClassifier, batch_size=1, train_split=None).fit(X[:4], y[:4])
    # without a validation part, 2 clips make one batch of 2: that trains
    tiny(CNNClassifier, train_split=None, max_epochs=1).fit(X[:2], y[:2])
