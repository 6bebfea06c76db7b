"""Pickle-free saving and loading of the deep classifiers (sersk.models.save_model
is sersk.save_model; tests/test_persistence.py covers pipelines and hostile files)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from sersk.models import (
    CNNClassifier,
    CNNLSTMClassifier,
    CRNNClassifier,
    RNNClassifier,
    SpeakerValidSplit,
    load_model,
    save_model,
)

TINY = {
    CRNNClassifier: dict(module__conv_channels=(4,), module__lstm_units=(5,)),
    CNNClassifier: dict(module__conv_channels=(4, 6), module__dense_units=(6,)),
    CNNLSTMClassifier: dict(module__conv_channels=(6,), module__lstm_units=(5,)),
    RNNClassifier: dict(
        module__hidden_size=5, module__num_layers=1, module__cell="gru"
    ),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(18, 8, 12)).astype(np.float32)
    y = np.tile(np.array(["happy", "neutral", "sad"]), 6)
    return X, y


@pytest.mark.parametrize("cls", list(TINY), ids=lambda c: c.__name__)
def test_round_trip(cls, data, tmp_path):
    X, y = data
    clf = cls(
        max_epochs=2,
        random_state=0,
        class_weight="balanced",
        train_split=SpeakerValidSplit(0.3, random_state=1),
        lr=0.003,
        **TINY[cls],
    ).fit(X, y)
    path = save_model(clf, tmp_path / "model.sersk")
    loaded = load_model(path)
    assert type(loaded) is cls
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.classes_.tolist() == clf.classes_.tolist()
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert loaded.lr == 0.003 and loaded.optimizer is torch.optim.AdamW
    assert loaded.train_split.valid_size == 0.3
    for key, value in TINY[cls].items():
        assert tuple(np.atleast_1d(getattr(loaded, key))) == tuple(np.atleast_1d(value))
    np.testing.assert_allclose(loaded.class_weight_, clf.class_weight_)
    # the loaded model can be trained again
    loaded.set_params(max_epochs=1).fit(X, y)


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_file_is_json_and_tensors(data, tmp_path):
    X, y = data
    clf = RNNClassifier(max_epochs=1, random_state=0, **TINY[RNNClassifier]).fit(X, y)
    path = save_model(clf, tmp_path / "m.sersk")
    members = _members(path)
    assert sorted(members) == ["network.json", "network.pt", "sersk.json"]
    assert json.loads(members["sersk.json"])["kind"] == "network"
    config = json.loads(members["network.json"])
    assert config["estimator"] == "RNNClassifier"
    assert config["classes"] == ["happy", "neutral", "sad"]
    assert config["n_features_in"] == 8
    assert config["params"]["module__cell"] == "gru"
    # sizes left at their defaults are stored too: a later sersk with other
    # defaults rebuilds the same network
    assert config["params"]["module__bidirectional"] is True
    assert config["params"]["module__dense_units"] == [64]
    state = torch.load(io.BytesIO(members["network.pt"]), weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_default_sizes_survive_a_change_of_defaults(data, tmp_path, monkeypatch):
    X, y = data
    clf = CRNNClassifier(max_epochs=1, random_state=0, train_split=None).fit(X, y)
    path = save_model(clf, tmp_path / "m.sersk")
    # a later release with wider default convolutions loads the same network
    from sersk.models import _modules

    init = _modules.CRNN.__init__
    kwdefaults = dict(init.__kwdefaults__, conv_channels=(8, 8, 8))
    monkeypatch.setattr(init, "__kwdefaults__", kwdefaults)
    assert _modules.CRNN(n_coeffs=8).conv[0][0].out_channels == 8
    loaded = load_model(path)
    assert [b[0].out_channels for b in loaded.module_.conv] == [16, 32, 64]
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_integer_labels_round_trip(data, tmp_path):
    X, _ = data
    y = np.arange(18) % 3
    clf = RNNClassifier(max_epochs=1, random_state=0, **TINY[RNNClassifier]).fit(X, y)
    loaded = load_model(save_model(clf, tmp_path / "m.sersk"))
    assert loaded.predict(X).dtype == clf.predict(X).dtype
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_refuses_newer_format(data, tmp_path):
    X, y = data
    clf = RNNClassifier(max_epochs=1, **TINY[RNNClassifier]).fit(X, y)
    members = _members(save_model(clf, tmp_path / "m.sersk"))
    meta = json.loads(members["sersk.json"])
    meta.update(format_version=99, sersk_version="9.0")
    members["sersk.json"] = json.dumps(meta)
    path = _write(tmp_path / "m.sersk", members)
    with pytest.raises(ValueError, match=r"format 99, written by sersk 9.0"):
        load_model(path)


def test_refuses_foreign_files(tmp_path, data):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="sersk.models.save_model of sersk 0.1"):
        load_model(path)
    bad = tmp_path / "text.pt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a sersk model file"):
        load_model(bad)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")
    X, y = data
    clf = RNNClassifier(max_epochs=1, **TINY[RNNClassifier]).fit(X, y)
    members = _members(save_model(clf, tmp_path / "m.sersk"))
    config = json.loads(members["network.json"])
    config["params"]["optimizer"] = "os.system"
    members["network.json"] = json.dumps(config)
    with pytest.raises(ValueError, match="unknown optimizer 'os.system'"):
        load_model(_write(tmp_path / "m.sersk", members))


def test_save_errors(data, tmp_path):
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(NotFittedError):
        save_model(LogisticRegression(), tmp_path / "x.sersk")
    with pytest.raises(NotFittedError):
        save_model(RNNClassifier(), tmp_path / "x.sersk")
    X, y = data
    clf = RNNClassifier(max_epochs=1, **TINY[RNNClassifier]).fit(X, y)
    clf.set_params(module=type(clf.module_))
    with pytest.raises(TypeError, match="built-in network only"):
        save_model(clf, tmp_path / "x.sersk")
    assert list(tmp_path.iterdir()) == []


def test_unstorable_params_warn(data, tmp_path):
    X, y = data
    clf = RNNClassifier(
        max_epochs=1, iterator_train__collate_fn=None, **TINY[RNNClassifier]
    ).fit(X, y)
    clf.set_params(train_split=lambda ds, y=None, groups=None: (ds, None))
    with pytest.warns(
        UserWarning, match=r"does not store the parameters \['train_split'\]"
    ):
        save_model(clf, tmp_path / "m.sersk")


@pytest.mark.gpu
def test_gpu_model_loads_on_cpu(data, tmp_path):
    X, y = data
    clf = CRNNClassifier(max_epochs=1, device="cuda", **TINY[CRNNClassifier]).fit(X, y)
    path = save_model(clf, tmp_path / "m.sersk")
    loaded = load_model(path, device="cpu")
    assert not next(loaded.module_.parameters()).is_cuda
    # cuDNN runs the GPU's convolutions in TF32 (10-bit mantissa) by default, the
    # CPU in fp32: about 3 significant digits agree (2.5e-4 seen on an H200)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=2e-3)
