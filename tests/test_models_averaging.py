"""Checkpoint averaging (``average_epochs``) and ``bn_momentum`` of the deep classifiers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback
from torch.nn.modules.batchnorm import _BatchNorm

from sersk.models import (
    CNNClassifier,
    CRNNClassifier,
    RNNClassifier,
    load_model,
    save_model,
)
from sersk.models._training import recompute_batch_norm

SMALL = dict(
    module__conv_channels=(4, 6),
    module__lstm_units=(6,),
    module__attention_units=4,
    module__dense_units=(6,),
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data():
    """24 clips x 8 coefficients x 16 frames, 3 emotions, 6 speakers."""
    rng = np.random.default_rng(0)
    y = np.tile(["angry", "calm", "sad"], 8)
    X = rng.normal(loc=3.0, scale=2.0, size=(24, 8, 16)).astype(np.float32)
    X[:, :3] += (y == "angry")[:, None, None] * 2.0
    return X, y, np.repeat(np.arange(6), 4)


class _EpochWeights(Callback):
    """Keeps the parameters after every epoch (before any averaging)."""

    def on_train_begin(self, net, **kwargs):
        self.seen_ = []

    def on_epoch_end(self, net, **kwargs):
        self.seen_.append([p.detach().clone() for p in net.module_.parameters()])


def _norms(module):
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def test_final_weights_are_the_mean_of_the_last_epochs(data):
    X, y, _ = data
    spy = _EpochWeights()
    clf = CRNNClassifier(
        max_epochs=5,
        average_epochs=3,
        batch_size=8,
        train_split=None,
        random_state=0,
        callbacks=[("spy", spy)],
        **SMALL,
    ).fit(X, y)
    assert clf.averaged_epochs_ == 3
    assert len(spy.seen_) == 5
    final = list(clf.module_.parameters())
    for i, p in enumerate(final):
        expected = torch.stack([s[i] for s in spy.seen_[-3:]]).mean(0)
        torch.testing.assert_close(p.detach(), expected, rtol=1e-6, atol=1e-7)
    # not the last epoch's weights: averaging changed them
    assert any(
        not torch.allclose(p, q) for p, q in zip(final, spy.seen_[-1], strict=True)
    )
    # the kept weights are dropped after fit (nothing extra is pickled)
    assert len(dict(clf.callbacks_)["weight_averaging"].states_) == 0


def test_batch_norm_statistics_are_estimated_again(data):
    X, y, _ = data
    clf = CRNNClassifier(
        max_epochs=2,
        average_epochs=2,
        batch_size=len(X),  # one batch: the statistics are those of all of X
        train_split=None,
        random_state=0,
        precision="fp32",
        **SMALL,
    ).fit(X, y)
    norm = clf.module_.input_norm.norm
    np.testing.assert_allclose(
        norm.running_mean.numpy(), X.mean(axis=(0, 2)), rtol=1e-5, atol=1e-5
    )
    n = X.shape[0] * X.shape[2]
    np.testing.assert_allclose(
        norm.running_var.numpy(), X.var(axis=(0, 2)) * n / (n - 1), rtol=1e-4
    )
    norms = _norms(clf.module_)
    assert len(norms) == 3  # input, two conv blocks
    # every norm, the conv blocks' included, was estimated in that one pass
    assert all(int(m.num_batches_tracked) == 1 for m in norms)
    assert all(m.momentum == 0.1 for m in norms)  # restored afterwards
    # dropout stays off in the pass: a second pass gives the same statistics
    before = [m.running_var.clone() for m in norms]
    recompute_batch_norm(clf, clf.module_, X)
    for m, b in zip(norms, before, strict=True):
        torch.testing.assert_close(m.running_var, b, rtol=1e-6, atol=1e-7)


def test_batch_norm_pass_ignores_the_padding_of_ragged_clips(data):
    X, y, _ = data
    rng = np.random.default_rng(1)
    clips = [x[:, : rng.integers(4, 17)].copy() for x in X]
    clf = RNNClassifier(
        max_epochs=2,
        average_epochs=2,
        batch_size=len(clips),
        train_split=None,
        random_state=0,
        module__hidden_size=6,
        module__num_layers=1,
    ).fit(clips, y)
    frames = np.concatenate(clips, axis=1)
    np.testing.assert_allclose(
        clf.module_.input_norm.norm.running_mean.numpy(),
        frames.mean(axis=1),
        rtol=1e-5,
        atol=1e-5,
    )


def test_short_fit_averages_the_epochs_it_ran(data):
    X, y, _ = data
    clf = CNNClassifier(
        max_epochs=2,
        average_epochs=10,
        batch_size=8,
        random_state=0,
        module__conv_channels=(4,),
        module__dense_units=(6,),
    ).fit(X, y, groups=data[2])
    assert clf.averaged_epochs_ == 2
    assert clf.predict(X).shape == (24,)


def test_bn_momentum_reaches_every_batch_norm(data):
    X, y, _ = data
    clf = CRNNClassifier(
        max_epochs=1, bn_momentum=0.01, batch_size=8, random_state=0, **SMALL
    ).fit(X, y)
    assert [m.momentum for m in _norms(clf.module_)] == [0.01] * 3
    # a smaller momentum moves the running statistics less from their start
    ref = CRNNClassifier(max_epochs=1, batch_size=8, random_state=0, **SMALL).fit(X, y)
    slow = clf.module_.input_norm.norm.running_mean.abs().mean()
    fast = ref.module_.input_norm.norm.running_mean.abs().mean()
    assert slow < fast


@pytest.mark.parametrize(
    "params, error, match",
    [
        (
            dict(average_epochs=5, patience=3),
            ValueError,
            "average_epochs=5 and patience=3 both choose the final weights",
        ),
        (dict(average_epochs=1), InvalidParameterError, "'average_epochs' parameter"),
        (dict(bn_momentum=0.0), InvalidParameterError, "'bn_momentum' parameter"),
        (dict(bn_momentum=1.5), InvalidParameterError, "'bn_momentum' parameter"),
    ],
)
def test_bad_settings_are_refused(params, error, match, data):
    X, y, _ = data
    with pytest.raises(error, match=match):
        CRNNClassifier(max_epochs=1, **params, **SMALL).fit(X, y)


def test_saved_model_keeps_the_settings(data, tmp_path):
    X, y, _ = data
    clf = CRNNClassifier(
        max_epochs=2,
        average_epochs=2,
        bn_momentum=0.05,
        batch_size=8,
        random_state=0,
        **SMALL,
    ).fit(X, y)
    save_model(clf, tmp_path / "m.sersk")
    loaded = load_model(tmp_path / "m.sersk")
    assert (loaded.average_epochs, loaded.bn_momentum) == (2, 0.05)
    np.testing.assert_allclose(
        loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5, atol=1e-6
    )
