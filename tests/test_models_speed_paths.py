"""The fast inference path of the deep classifiers.

benchmarks/bench_training.py compares sersk's ``predict_proba`` with a raw
``torch.inference_mode`` forward; these tests pin down that both compute the
same thing and that sersk's predict path runs without autograd, in eval mode
and under the requested autocast precision.
"""

import numpy as np
import pytest
import torch

from sersk.models import CRNNClassifier

TINY = dict(
    module__conv_channels=(4,),
    module__lstm_units=(8,),
    module__attention_units=8,
    module__dense_units=(8,),
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(-40, 15, size=(24, 16, 20)).astype(np.float32)
    y = np.array(["angry", "calm", "sad"] * 8)
    return X, y


def _fit(precision, data, **params):
    X, y = data
    clf = CRNNClassifier(
        max_epochs=2,
        train_split=None,
        patience=None,
        precision=precision,
        random_state=0,
        device="cpu",
        **TINY,
        **params,
    )
    return clf.fit(X, y)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_predict_proba_runs_without_autograd_in_eval_mode(precision, data):
    clf = _fit(precision, data)
    seen = []

    def hook(module, args, output):
        seen.append(
            (
                torch.is_grad_enabled(),
                module.training,
                torch.is_autocast_enabled("cpu"),
                output.requires_grad,
            )
        )

    handle = clf.module_.register_forward_hook(hook)
    try:
        clf.predict_proba(data[0])
    finally:
        handle.remove()
    assert seen, "predict_proba never called the module"
    for grad, training, autocast_on, requires_grad in seen:
        assert not grad and not training and not requires_grad
        assert autocast_on == (precision == "bf16")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_predict_proba_matches_raw_inference_mode_forward(precision, data):
    clf = _fit(precision, data)
    X = data[0]
    module = clf.module_.eval()
    with torch.inference_mode():
        if precision == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = module(torch.from_numpy(X))
        else:
            logits = module(torch.from_numpy(X))
        expected = torch.softmax(logits.float(), dim=1).numpy()
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5)


def test_predict_proba_independent_of_inference_batch_size(data):
    # same seed -> identical weights; only the predict batch size differs
    X = data[0]
    whole = _fit("fp32", data, iterator_valid__batch_size=len(X)).predict_proba(X)
    batched = _fit("fp32", data, iterator_valid__batch_size=5).predict_proba(X)
    np.testing.assert_allclose(batched, whole, rtol=0, atol=1e-5)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, atol=1e-6)
