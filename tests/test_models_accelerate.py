"""sersk's deep classifiers under Hugging Face Accelerate (skorch's AccelerateMixin).

The fast tests train in one process with a real ``accelerate.Accelerator`` on
the CPU and compare with the same classifier trained without it; the slow test
launches ``accelerate launch`` with 2 CPU processes (gloo) on real RAVDESS
clips and loads the model the run saved.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("accelerate")

from accelerate import Accelerator
from accelerate.state import AcceleratorState
from skorch.callbacks import Callback

import sersk
from sersk.models import (
    AcceleratedCNNClassifier,
    AcceleratedCRNNClassifier,
    AcceleratedRNNClassifier,
    AccelerateMixin,
    CNNClassifier,
    CRNNClassifier,
)

SMALL = {"module__conv_channels": (4,), "module__lstm_units": (8,)}
# one process, same seed: the same computation as without Accelerate, up to
# the order of floating-point operations
RTOL, ATOL = 1e-5, 1e-6
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_accelerator_state():
    """Every test builds its own Accelerator (its state is process-wide)."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def _data(n_speakers=8, per_speaker=6, n_mels=16, n_frames=24, ragged=False):
    rng = np.random.default_rng(0)
    labels = np.array(["angry", "calm", "sad"])
    n = n_speakers * per_speaker
    y = labels[np.arange(n) % 3]
    y[:4] = "angry"  # unbalanced classes: the balanced class weights differ
    groups = np.repeat([f"spk{i}" for i in range(n_speakers)], per_speaker)
    X = rng.normal(size=(n, n_mels, n_frames)).astype(np.float32)
    X[y == "angry", :4] += 1.5
    X[y == "sad", -4:] += 1.5
    if ragged:
        lengths = rng.integers(n_frames // 2, n_frames + 1, size=n)
        return [x[:, :k].copy() for x, k in zip(X, lengths, strict=True)], y, groups
    return X, y, groups


def _assert_same_training(a, b):
    for key in ("train_loss", "valid_loss", "valid_acc"):
        np.testing.assert_allclose(
            a.history[:, key], b.history[:, key], rtol=RTOL, atol=ATOL, err_msg=key
        )


@pytest.mark.parametrize("ragged", [False, True], ids=["fixed", "ragged"])
def test_one_process_trains_as_without_accelerate(ragged):
    """Speaker split, class weights, augmentation, mixup, ragged batches."""
    X, y, groups = _data(ragged=ragged)
    kw = dict(
        max_epochs=3,
        batch_size=8,
        random_state=0,
        precision="fp32",
        noise_std=0.1,
        **SMALL,
    )
    plain = CRNNClassifier(device="cpu", **kw).fit(X, y, groups=groups)
    acc = AcceleratedCRNNClassifier(accelerator=Accelerator(cpu=True), **kw)
    acc.fit(X, y, groups=groups)

    assert acc.device == Accelerator(cpu=True).device
    _assert_same_training(plain, acc)
    np.testing.assert_allclose(acc.class_weight_, plain.class_weight_, rtol=0, atol=0)
    assert acc.class_weight_[0] < acc.class_weight_[1]  # "angry" is frequent
    np.testing.assert_allclose(
        acc.predict_proba(X), plain.predict_proba(X), rtol=RTOL, atol=ATOL
    )
    np.testing.assert_array_equal(acc.predict(X), plain.predict(X))
    # the network is unwrapped after fit: a plain CRNN module
    assert type(acc.module_) is type(plain.module_)


def test_checkpoint_averaging_under_accelerate_as_without():
    """The averaged weights and batch-norm statistics."""
    X, y, groups = _data(ragged=True)
    kw = dict(
        max_epochs=3,
        average_epochs=2,
        batch_size=8,
        random_state=0,
        precision="fp32",
        **SMALL,
    )
    plain = CRNNClassifier(device="cpu", **kw).fit(X, y, groups=groups)
    acc = AcceleratedCRNNClassifier(accelerator=Accelerator(cpu=True), **kw)
    acc.fit(X, y, groups=groups)
    assert acc.averaged_epochs_ == plain.averaged_epochs_ == 2
    np.testing.assert_allclose(
        acc.module_.input_norm.norm.running_var.numpy(),
        plain.module_.input_norm.norm.running_var.numpy(),
        rtol=RTOL,
        atol=ATOL,
    )
    np.testing.assert_allclose(
        acc.predict_proba(X), plain.predict_proba(X), rtol=RTOL, atol=ATOL
    )


def test_one_process_speaker_split_holds_out_whole_speakers():
    X, y, groups = _data()
    acc = AcceleratedCRNNClassifier(
        accelerator=Accelerator(cpu=True), max_epochs=1, random_state=0, **SMALL
    )
    seen = {}

    class Record(Callback):
        def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kw):
            seen["train"] = set(groups[dataset_train.indices])
            seen["valid"] = set(groups[dataset_valid.indices])

    acc.set_params(callbacks=[("record", Record())])
    acc.fit(X, y, groups=groups)
    assert seen["valid"] and seen["train"]
    assert not seen["train"] & seen["valid"]


def test_save_load_gives_the_plain_classifier(tmp_path):
    X, y, groups = _data()
    acc = AcceleratedCRNNClassifier(
        accelerator=Accelerator(cpu=True), max_epochs=2, random_state=0, **SMALL
    ).fit(X, y, groups=groups)
    path = tmp_path / "acc.sersk"
    with _no_warnings():
        sersk.save_model(acc, path)
    loaded = sersk.load_model(path)
    assert type(loaded) is CRNNClassifier
    np.testing.assert_array_equal(loaded.classes_, acc.classes_)
    np.testing.assert_allclose(
        loaded.predict_proba(X), acc.predict_proba(X), rtol=RTOL, atol=ATOL
    )
    params = loaded.get_params()
    assert params["module__conv_channels"] == [4] or params[
        "module__conv_channels"
    ] == (4,)
    assert "accelerator" not in params


def test_save_model_refuses_other_subclasses(tmp_path):
    class MyAccelerated(AccelerateMixin, CNNClassifier):
        pass

    X, y, _ = _data()
    net = MyAccelerated(
        accelerator=Accelerator(cpu=True),
        max_epochs=1,
        train_split=None,
        module__conv_channels=(4,),
        module__dense_units=(8,),
    ).fit(X, y)
    assert net.predict(X[:2]).shape == (2,)
    with pytest.raises(TypeError, match="MyAccelerated"):
        sersk.save_model(net, tmp_path / "x.sersk")


def test_bf16_precision_under_accelerate():
    X, y, _ = _data(n_speakers=4)
    kw = dict(max_epochs=2, train_split=None, random_state=0, **SMALL)
    plain = CRNNClassifier(device="cpu", precision="bf16", **kw).fit(X, y)
    acc = AcceleratedCRNNClassifier(
        accelerator=Accelerator(cpu=True), precision="bf16", **kw
    ).fit(X, y)
    assert acc.precision_ == "bf16"
    # the same bf16 autocast: bf16 rounding differs with the order of ops
    np.testing.assert_allclose(
        acc.history[:, "train_loss"], plain.history[:, "train_loss"], rtol=2e-2
    )
    assert next(acc.module_.parameters()).dtype.is_floating_point
    proba = acc.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_accelerator_mixed_precision_sets_precision():
    X, y, _ = _data(n_speakers=4)
    accelerator = Accelerator(cpu=True, mixed_precision="bf16")
    acc = AcceleratedRNNClassifier(
        accelerator=accelerator,
        max_epochs=1,
        train_split=None,
        module__hidden_size=8,
        module__num_layers=1,
    ).fit(X, y)
    assert acc.precision_ == "bf16"
    acc.set_params(precision="fp32")
    with pytest.raises(ValueError, match=r"precision='fp32'.*'bf16'"):
        acc.fit(X, y)


def test_device_must_be_left_to_the_accelerator():
    X, y, _ = _data(n_speakers=4)
    acc = AcceleratedCRNNClassifier(
        accelerator=Accelerator(cpu=True), device="cpu", max_epochs=1, **SMALL
    )
    with pytest.raises(ValueError, match="device='cpu'.*device=None"):
        acc.fit(X, y)


def test_accelerator_must_be_an_accelerator():
    X, y, _ = _data(n_speakers=4)
    with pytest.raises(TypeError, match=r"accelerator; got None.*Accelerator\(\)"):
        AcceleratedCRNNClassifier(accelerator=None, max_epochs=1).fit(X, y)


def test_warm_start_and_partial_fit_continue_training():
    X, y, groups = _data()
    acc = AcceleratedRNNClassifier(
        accelerator=Accelerator(cpu=True),
        max_epochs=2,
        random_state=0,
        module__hidden_size=8,
        module__num_layers=1,
    ).fit(X, y, groups=groups)
    acc.partial_fit(X, y, groups=groups)
    assert len(acc.history) == 4
    acc.set_params(warm_start=True).fit(X, y, groups=groups)
    assert len(acc.history) == 6
    assert acc._wrapped_with_accelerator is False  # unwrapped after every fit
    assert acc.predict(X).shape == (len(y),)


def test_verbose_zero_prints_nothing_and_verbose_one_prints_the_table(capsys):
    X, y, _ = _data(n_speakers=4)
    kw = dict(max_epochs=2, train_split=None, **SMALL)
    AcceleratedCRNNClassifier(accelerator=Accelerator(cpu=True), **kw).fit(X, y)
    assert capsys.readouterr().out == ""
    AcceleratedCRNNClassifier(accelerator=Accelerator(cpu=True), verbose=1, **kw).fit(
        X, y
    )
    assert "train_loss" in capsys.readouterr().out


def test_clone_keeps_the_accelerator_and_the_settings():
    from sklearn.base import clone

    accelerator = Accelerator(cpu=True)
    acc = AcceleratedCNNClassifier(accelerator=accelerator, max_epochs=3, lr=0.01)
    twin = clone(acc)
    assert type(twin) is AcceleratedCNNClassifier
    assert twin.max_epochs == 3 and twin.lr == 0.01
    assert twin.get_params()["accelerator"] is not None
    assert "_wrapped_with_accelerator" not in twin.get_params()


@contextlib.contextmanager
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.slow
@pytest.mark.parametrize("native_lengths", [False, True], ids=["fixed", "ragged"])
def test_accelerate_launch_two_cpu_processes_on_ravdess(
    ravdess_root, tmp_path, native_lengths
):
    """The documented script, 2 CPU processes (gloo), real RAVDESS clips.

    Clips cut to 2 s, or of their own lengths (ragged batches padded per
    batch); the speaker-grouped validation split, balanced class weights and
    the default augmentation are on.
    """
    extra = ["--native-lengths"] if native_lengths else []
    model = tmp_path / "crnn.sersk"
    proba_file = tmp_path / "proba.npy"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()),
        str(REPO / "benchmarks" / "train_accelerate.py"),
        "--cpu", "--root", str(ravdess_root), "--out", str(model),
        "--speakers", "6", "--clips-per-speaker", "8", "--test-speakers", "2",
        "--duration", "2", "--max-epochs", "3", "--batch-size", "4",
        "--small", "--verbose", "0", "--save-test-proba", str(proba_file),
        *extra,
    ]  # fmt: skip
    run = subprocess.run(
        cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    records = [json.loads(line) for line in run.stdout.splitlines() if line[:1] == "{"]
    assert len(records) == 1, run.stdout  # printed by the main process only
    record = records[0]
    assert record["processes"] == 2
    assert record["train_clips"] == 32 and record["test_clips"] == 16
    assert record["epochs"] == 3

    loaded = sersk.load_model(model)
    assert type(loaded) is CRNNClassifier
    # the first 8 clips of each actor cover all eight RAVDESS emotions
    assert loaded.classes_.tolist() == sorted(
        ["angry", "calm", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    )
    script = _script()
    args = script.parse_args(
        ["--root", str(ravdess_root), "--out", "-", "--speakers", "6"]
        + ["--clips-per-speaker", "8", "--duration", "2", *extra]
    )
    paths, labels, groups = script.load_clips(args)
    test = np.isin(groups, np.unique(groups)[-2:])
    frames = script.log_mel([p for p, t in zip(paths, test, strict=True) if t], args)
    if native_lengths:  # clips of different lengths
        assert len({f.shape[1] for f in frames}) > 1
    proba = loaded.predict_proba(frames)
    # the probabilities the 2 processes gathered, in the clips' order, are
    # those of the saved model
    np.testing.assert_allclose(proba, np.load(proba_file), rtol=1e-4, atol=1e-5)
    assert set(loaded.predict(frames)) <= set(loaded.classes_)


def _script():
    """The launched script, imported (its helpers select the same clips)."""
    path = REPO / "benchmarks" / "train_accelerate.py"
    spec = importlib.util.spec_from_file_location("train_accelerate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
