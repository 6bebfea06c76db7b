"""Checkpoint averaging (``average_epochs``) and ``bn_momentum`` of the deep classifiers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback
from torch.nn.modules.batchnorm import _BatchNorm

from sersk.models import (
    CNNClassifier,
    CRNNClassifier,
    load_model,
    save_model,
)

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


class _EpochStates(Callback):
    """Keeps the network's state after every epoch (before any averaging)."""

    def on_train_begin(self, net, **kwargs):
        self.seen_ = []

    def on_epoch_end(self, net, **kwargs):
        self.seen_.append(
            {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        )


def _norms(module):
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


@pytest.mark.parametrize("ragged", [False, True], ids=["fixed", "ragged"])
def test_final_network_is_the_mean_of_the_last_epochs(data, ragged):
    X, y, _ = data
    if ragged:
        rng = np.random.default_rng(1)
        X = [x[:, : rng.integers(4, 17)].copy() for x in X]
    spy = _EpochStates()
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
    final = clf.module_.state_dict()
    averaged = 0
    for name, value in final.items():
        if not value.is_floating_point():
            # counters: those of the last epoch
            assert torch.equal(value, spy.seen_[-1][name]), name
            continue
        expected = torch.stack([s[name] for s in spy.seen_[-3:]]).mean(0)
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
        averaged += 1
    # the batch-norm statistics are averaged too
    assert any(name.endswith("running_var") for name in final)
    assert averaged == sum(v.is_floating_point() for v in final.values())
    # not the last epoch's network: averaging changed it
    assert any(
        not torch.allclose(value, spy.seen_[-1][name])
        for name, value in final.items()
        if value.is_floating_point()
    )
    # the kept states are dropped after fit (nothing extra is pickled)
    assert len(dict(clf.callbacks_)["weight_averaging"].states_) == 0


def test_averaging_changes_only_the_end_of_training(data):
    """Same seed: the same training path, and a different final network."""
    X, y, groups = data
    kw = dict(max_epochs=4, batch_size=8, random_state=0, **SMALL)
    plain = CRNNClassifier(**kw).fit(X, y, groups=groups)
    averaged = CRNNClassifier(average_epochs=2, **kw).fit(X, y, groups=groups)
    np.testing.assert_allclose(
        averaged.history[:, "train_loss"], plain.history[:, "train_loss"], rtol=1e-6
    )
    assert not np.allclose(averaged.predict_proba(X), plain.predict_proba(X))


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


def test_refit_without_averaging_forgets_averaged_epochs(data):
    X, y, _ = data
    clf = CRNNClassifier(max_epochs=2, average_epochs=2, batch_size=8, **SMALL)
    clf.fit(X, y)
    assert clf.averaged_epochs_ == 2
    clf.set_params(average_epochs=None).fit(X, y)
    assert not hasattr(clf, "averaged_epochs_")


def test_kept_states_are_never_pickled(data):
    X, y, _ = data
    clf = CRNNClassifier(max_epochs=1, average_epochs=2, batch_size=8, **SMALL)
    clf.fit(X, y)
    callback = dict(clf.callbacks_)["weight_averaging"]
    callback.on_epoch_end(clf)  # as if a fit had stopped with an error
    assert len(callback.states_) == 1
    restored = pickle.loads(pickle.dumps(clf))
    assert not hasattr(dict(restored.callbacks_)["weight_averaging"], "states_")
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X))


def test_bn_momentum_none_leaves_the_network_as_built(data):
    X, y, _ = data

    class Net(torch.nn.Module):
        def __init__(self, n_coeffs=8, n_classes=3):
            super().__init__()
            self.norm = torch.nn.BatchNorm1d(n_coeffs, momentum=None)
            self.out = torch.nn.Linear(n_coeffs, n_classes)

        def forward(self, X, lengths=None):
            return self.out(self.norm(X).mean(-1))

    clf = CRNNClassifier(module=Net, max_epochs=1, batch_size=8)
    assert clf.fit(X, y).module_.norm.momentum is None
    clf = CRNNClassifier(module=Net, max_epochs=1, bn_momentum=0.2, batch_size=8)
    assert clf.fit(X, y).module_.norm.momentum == 0.2
    default = CRNNClassifier(max_epochs=1, batch_size=8, **SMALL).fit(X, y)
    # the input, the two conv blocks and the head's dense layer
    assert [m.momentum for m in _norms(default.module_)] == [0.1] * 4


def test_custom_module_predicts_under_bf16(data):
    X, y, _ = data

    class Net(torch.nn.Module):
        def __init__(self, n_coeffs=8, n_classes=3):
            super().__init__()
            self.out = torch.nn.Linear(n_coeffs, n_classes)

        def forward(self, X, lengths=None):
            return self.out(X.mean(-1))

    # bf16 forced, so the test runs the same path on every CPU; the fit's
    # validation scoring goes through the same inference path as predict
    clf = CRNNClassifier(module=Net, max_epochs=1, batch_size=8, precision="bf16")
    proba = clf.fit(X, y).predict_proba(X)
    assert clf.precision_ == "bf16"
    assert proba.dtype == np.float64 and np.allclose(proba.sum(1), 1, atol=1e-6)
    assert np.isfinite(clf.history[-1, "valid_loss"])


def test_bn_momentum_reaches_every_batch_norm(data):
    X, y, _ = data
    clf = CRNNClassifier(
        max_epochs=1, bn_momentum=0.01, batch_size=8, random_state=0, **SMALL
    ).fit(X, y)
    assert [m.momentum for m in _norms(clf.module_)] == [0.01] * 4
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


def test_averaging_reaches_the_network_inside_a_ddp_wrapper(tmp_path):
    """Under Accelerate with several processes the network is wrapped in
    DistributedDataParallel while it trains; averaging works on the network."""
    import torch.distributed as dist

    from sersk.models._training import CheckpointAveraging, _bare_module

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
        wrapped = torch.nn.parallel.DistributedDataParallel(net)
        assert _bare_module(wrapped) is net

        class Holder:  # what the callback reads of a classifier
            module_ = wrapped

        holder = Holder()
        callback = CheckpointAveraging(2).initialize()
        callback.on_train_begin(holder)
        for value in (1.0, 3.0):
            with torch.no_grad():
                net[0].weight.fill_(value)
                net[1].running_mean.fill_(value)
            callback.on_epoch_end(holder)
        callback.on_train_end(holder)
        assert holder.averaged_epochs_ == 2
        assert torch.all(net[0].weight == 2.0)
        assert torch.all(net[1].running_mean == 2.0)
    finally:
        dist.destroy_process_group()
