"""sersk.save_model / sersk.load_model: round trips, hostile files, versions, writes.

Every file here is a real model file written to ``tmp_path``; hostile files
are real zip archives whose members hold real pickle payloads.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import sersk
from sersk import ModelFileError, ModelVersionWarning, load_model, save_model
from sersk.pipelines import (
    make_crnn_pipeline,
    make_random_forest_pipeline,
    make_svm_pipeline,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
MEMBERS = ("sersk.json", "estimator.skops", "network.json", "network.pt")
TINY_CRNN = dict(
    module__conv_channels=(4,),
    module__lstm_units=(4,),
    module__attention_units=4,
    module__dense_units=(4,),
)


@pytest.fixture(scope="module")
def clips():
    from sersk.datasets import make_emotional_speech

    X, y, _ = make_emotional_speech(
        12,
        duration=0.5,
        n_speakers=2,
        emotions=("neutral", "angry", "sad"),
        random_state=0,
    )
    return np.asarray(X, dtype=np.float32), np.asarray(y)


@pytest.fixture(scope="module")
def svm(clips):
    X, y = clips
    pipe = make_svm_pipeline(duration=0.5, probability=True, n_mfcc=13, n_mels=40)
    return pipe.fit(X, y)


@pytest.fixture(scope="module")
def crnn(clips):
    import torch

    torch.manual_seed(0)
    X, y = clips
    pipe = make_crnn_pipeline(
        duration=0.5,
        n_mels=32,
        max_epochs=1,
        batch_size=6,
        device="cpu",
        train_split=None,
        random_state=0,
        **TINY_CRNN,
    )
    return pipe.fit(X, y)


# --- round trips ---------------------------------------------------------------


def test_svm_pipeline_round_trip(svm, clips, tmp_path):
    X, _ = clips
    path = save_model(svm, tmp_path / "svm.sersk")
    assert path == tmp_path / "svm.sersk"
    loaded = load_model(path)
    assert [name for name, _ in loaded.steps] == [name for name, _ in svm.steps]
    np.testing.assert_array_equal(loaded.predict(X), svm.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), svm.predict_proba(X))
    assert loaded.get_params()["audioloader__duration"] == 0.5
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["estimator.skops", "sersk.json"]
        meta = json.loads(zf.read("sersk.json"))
    assert meta["format_version"] == 2 and meta["kind"] == "classic"
    assert meta["classes"] == ["angry", "neutral", "sad"]


def test_random_forest_pipeline_round_trip(clips, tmp_path):
    X, y = clips
    rf = make_random_forest_pipeline(
        duration=0.5, n_estimators=5, random_state=0, n_mfcc=13, n_mels=40
    ).fit(X, y)
    loaded = load_model(save_model(rf, tmp_path / "rf.sersk"))
    np.testing.assert_array_equal(loaded.predict(X), rf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), rf.predict_proba(X))


def test_deep_pipeline_round_trip(crnn, clips, tmp_path):
    import torch

    X, _ = clips
    path = save_model(crnn, tmp_path / "crnn.sersk", metadata={"corpus": "synthetic"})
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(MEMBERS)
        meta = json.loads(zf.read("sersk.json"))
        state = torch.load(
            io.BytesIO(zf.read("network.pt")), weights_only=True
        )  # tensors only
    assert meta["kind"] == "deep" and meta["metadata"] == {"corpus": "synthetic"}
    assert meta["torch_version"] == torch.__version__
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loaded = load_model(path, device="cpu")
    assert [name for name, _ in loaded.steps] == [name for name, _ in crnn.steps]
    assert list(np.atleast_1d(loaded[-1].module__conv_channels)) == [4]
    # same weights, same inputs: equal up to float summation order
    np.testing.assert_allclose(
        loaded.predict_proba(X), crnn.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(loaded.predict(X), crnn.predict(X))


def test_bare_network_round_trip_and_models_alias(crnn, clips, tmp_path):
    from sersk import models

    assert models.save_model is save_model and models.load_model is load_model
    net = crnn[-1]
    F = crnn[:-1].transform(clips[0])
    loaded = load_model(save_model(net, tmp_path / "net.sersk"), device="cpu")
    assert type(loaded) is type(net)
    np.testing.assert_allclose(
        loaded.predict_proba(F), net.predict_proba(F), rtol=1e-5, atol=1e-6
    )
    assert loaded.classes_.tolist() == net.classes_.tolist()


def test_save_refuses_what_it_cannot_store_safely(clips, tmp_path):
    from sklearn.exceptions import NotFittedError
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = clips
    with pytest.raises(NotFittedError):
        save_model(make_svm_pipeline(), tmp_path / "m.sersk")
    odd = make_pipeline(FunctionTransformer(np.abs), _Custom()).fit(X, y)
    with pytest.raises(TypeError, match=r"load_model would refuse.*_Custom"):
        save_model(odd, tmp_path / "m.sersk")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="does not exist. Create it first"):
        save_model(make_svm_pipeline(), tmp_path / "no" / "m.sersk")


# --- writes: temporary file + rename ---------------------------------------------


class _Custom(ClassifierMixin, BaseEstimator):
    """A classifier of the test module: not on the allowlist of load_model."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.repeat(self.classes_[:1], len(X))


def test_failed_save_keeps_the_previous_file_and_leaves_nothing(svm, clips, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = clips
    path = save_model(svm, tmp_path / "model.sersk")
    before = path.read_bytes()
    # fails while the archive is being written (after sersk.json)
    odd = make_pipeline(StandardScaler(), _Custom()).fit(np.ones((4, 3)), [0, 1] * 2)
    with pytest.raises(TypeError, match="_Custom"):
        save_model(odd, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.sersk"]
    # a folder where the file should go: clear error, nothing written
    (tmp_path / "folder.sersk").mkdir()
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        save_model(svm, tmp_path / "folder.sersk")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.sersk", "model.sersk"]
    # a successful save replaces the file and leaves no temporary file
    save_model(svm, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.sersk", "model.sersk"]
    np.testing.assert_array_equal(load_model(path).predict(X), svm.predict(X))


# --- hostile files ---------------------------------------------------------------


class _Payload:
    """Unpickling this creates the folder ``marker`` (a stand-in for any code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _payloads(marker):
    """Pickle payloads in the shapes a model member could take."""
    import torch

    raw = pickle.dumps(_Payload(marker))
    buf = io.BytesIO()
    torch.save({"w": _Payload(marker)}, buf)  # a torch archive with a pickle inside
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as zf:  # a skops-like archive
        zf.writestr("schema.json", json.dumps({"__class__": "x"}))
        zf.writestr("data.pkl", raw)
    return {"pickle": raw, "torch": buf.getvalue(), "zip": nested.getvalue()}


def _write_archive(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_payloads_are_live(tmp_path):
    # the check below is meaningful only if these payloads do run code
    marker = tmp_path / "control"
    pickle.loads(_payloads(marker)["pickle"])
    assert marker.is_dir()


@pytest.mark.parametrize("shape", ["pickle", "torch", "zip"])
def test_malicious_members_are_refused_without_running_code(svm, crnn, tmp_path, shape):
    """A pickle payload under every member name, with metadata claiming any kind."""
    import soundfile as sf

    marker = tmp_path / "pwned"
    payload = _payloads(marker)[shape]
    good = {}
    for model, name in ((svm, "classic"), (crnn, "deep")):
        with zipfile.ZipFile(save_model(model, tmp_path / f"{name}.sersk")) as zf:
            good[name] = {n: zf.read(n) for n in zf.namelist()}
    files = []
    for kind in ("classic", "deep", "network", "joblib"):
        # files of the claimed kind (all four members for "joblib")
        members = dict(good["classic" if kind == "classic" else "deep"])
        if kind == "network":
            del members["estimator.skops"]
        meta = json.loads(members["sersk.json"])
        if kind == "joblib":  # the format of sersk 0.1
            meta.update(storage="joblib", format_version=1)
        else:
            meta.update(kind=kind)
        for member in MEMBERS:
            evil = dict(members, **{"sersk.json": json.dumps(meta)})
            evil[member] = payload
            path = _write_archive(tmp_path / f"evil-{kind}-{member}.sersk", evil)
            files.append(path)
            with pytest.raises(ModelFileError) as info:
                load_model(path)
            message = str(info.value)
            assert str(path) in message
            assert any(
                word in message for word in ("corrupt", "crafted", "cannot be read")
            ), message
            assert not marker.exists()
    # a metadata file that lies about the kind, with intact members of another
    lying = dict(good["classic"])
    meta = json.loads(lying["sersk.json"])
    meta["kind"] = "network"
    lying["sersk.json"] = json.dumps(meta)
    lying["network.json"] = good["deep"]["network.json"]
    lying["network.pt"] = payload
    del lying["estimator.skops"]
    files.append(_write_archive(tmp_path / "lying.sersk", lying))
    with pytest.raises(ModelFileError, match="corrupt or crafted"):
        load_model(files[-1])
    assert not marker.exists()

    # the same files through the real command line
    wav = tmp_path / "a.wav"
    sf.write(wav, np.full(8000, 0.01, dtype=np.float32), 16000)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "sersk", "predict", files[-1], wav],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("sersk predict: error: "), proc.stderr
    assert str(files[-1]) in proc.stderr
    code = (
        "import sys\n"
        "from sersk.cli import main\n"
        "wav, *files = sys.argv[1:]\n"
        "for f in files:\n"
        "    print(main(['predict', f, wav]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, wav, *files[:-1]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.stdout.split() == ["1"] * (len(files) - 1), proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == len(files) - 1, proc.stderr
    assert all(line.startswith("sersk predict: error: ") for line in errors)
    assert not marker.exists()


def test_untrusted_types_in_the_skops_part_are_refused(svm, tmp_path):
    import skops.io as sio

    marker = tmp_path / "pwned"
    with zipfile.ZipFile(save_model(svm, tmp_path / "svm.sersk")) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["estimator.skops"] = sio.dumps(_Payload(marker))
    path = _write_archive(tmp_path / "evil.sersk", members)
    with pytest.raises(ModelFileError, match=r"holds types that sersk does not load"):
        load_model(path)
    assert not marker.exists()


def _edit_skops(data, edit):
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "schema.json":
                schema = json.loads(content)
                edit(schema)
                content = json.dumps(schema)
            dst.writestr(info.filename, content)
    return out.getvalue()


def _find(schema, cls):
    if isinstance(schema, dict):
        if schema.get("__class__") == cls:
            return schema
        values = schema.values()
    elif isinstance(schema, list):
        values = schema
    else:
        return None
    for value in values:
        found = _find(value, cls)
        if found is not None:
            return found
    return None


def test_absurd_stored_parameters_are_refused(svm, crnn, tmp_path):
    with zipfile.ZipFile(save_model(svm, tmp_path / "svm.sersk")) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}

    def negative_duration(schema):
        loader = _find(schema, "AudioLoader")
        loader["content"]["content"]["duration"]["content"] = "-1.0"

    members["estimator.skops"] = _edit_skops(
        members["estimator.skops"], negative_duration
    )
    path = _write_archive(tmp_path / "bad.sersk", members)
    with pytest.raises(ModelFileError, match=r"stored AudioLoader has invalid param"):
        load_model(path)

    with zipfile.ZipFile(save_model(crnn, tmp_path / "crnn.sersk")) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    for change, message in [
        ({"lr": -1.0}, "invalid parameters"),
        ({"optimizer": "os.system"}, "unknown optimizer 'os.system'"),
        ({"criterion": "torch.nn.Linear2"}, "unknown criterion"),
        ({"iterator_train__num_workers": 512}, "are never stored"),
    ]:
        config = json.loads(members["network.json"])
        config["params"].update(change)
        bad = dict(members, **{"network.json": json.dumps(config)})
        with pytest.raises(ModelFileError, match=message):
            load_model(_write_archive(tmp_path / "bad.sersk", bad))
    config = json.loads(members["network.json"])
    config["params"]["module__conv_channels"] = [8]  # weights of another network
    bad = dict(members, **{"network.json": json.dumps(config)})
    with pytest.raises(ModelFileError, match="weights do not fit the network"):
        load_model(_write_archive(tmp_path / "bad.sersk", bad))


def test_inflated_members_are_refused_before_reading(svm, tmp_path):
    with zipfile.ZipFile(save_model(svm, tmp_path / "svm.sersk")) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["sersk.json"])
    meta["metadata"] = " " * (2 << 20)  # a 2 MiB sersk.json (limit 1 MiB)
    path = _write_archive(
        tmp_path / "big-json.sersk", dict(members, **{"sersk.json": json.dumps(meta)})
    )
    # the 2 MiB member compresses to almost nothing: the file is the model's size
    original = (tmp_path / "svm.sersk").stat().st_size
    assert path.stat().st_size < original + 50_000 < (2 << 20)
    with pytest.raises(ModelFileError, match=r"'sersk.json' .* would expand to"):
        load_model(path)
    # a binary member that expands far beyond what model data compresses to
    zeros = b"\0" * (32 << 20)
    path = _write_archive(
        tmp_path / "bomb.sersk", dict(members, **{"estimator.skops": zeros})
    )
    with pytest.raises(ModelFileError, match=r"'estimator.skops' .*compression"):
        load_model(path)
    # the same inside the nested skops archive
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("schema.json", "{}")
        zf.writestr("big.npy", zeros)
    path = _write_archive(
        tmp_path / "nested.sersk",
        dict(members, **{"estimator.skops": nested.getvalue()}),
    )
    with pytest.raises(ModelFileError, match=r"'big.npy' of the member"):
        load_model(path)


# --- version policy --------------------------------------------------------------


def _rewrite_meta(path, **changes):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["sersk.json"])
    meta.update(changes)
    members["sersk.json"] = json.dumps(meta)
    return _write_archive(path, members)


def test_newer_format_is_refused(svm, tmp_path):
    path = _rewrite_meta(
        save_model(svm, tmp_path / "m.sersk"), format_version=3, sersk_version="9.0"
    )
    with pytest.raises(
        ModelFileError, match=r"format 3, written by sersk 9.0.*Upgrade sersk"
    ):
        load_model(path)


def test_older_release_of_the_same_format_loads(svm, clips, tmp_path):
    X, _ = clips
    path = _rewrite_meta(save_model(svm, tmp_path / "m.sersk"), sersk_version="0.0.1")
    np.testing.assert_array_equal(load_model(path).predict(X), svm.predict(X))


def test_other_library_versions_warn_and_load(svm, crnn, clips, tmp_path):
    X, _ = clips
    path = _rewrite_meta(save_model(svm, tmp_path / "m.sersk"), sklearn_version="1.0.0")
    with pytest.warns(ModelVersionWarning, match="saved with scikit-learn 1.0.0"):
        loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), svm.predict(X))
    assert issubclass(ModelVersionWarning, UserWarning)
    path = _rewrite_meta(save_model(crnn, tmp_path / "d.sersk"), torch_version="1.0")
    with pytest.warns(ModelVersionWarning, match="saved with torch 1.0"):
        load_model(path, device="cpu")


def test_files_of_the_unsafe_format_1_get_a_clear_error(tmp_path):
    old = _write_archive(
        tmp_path / "old.sersk",
        {
            "sersk.json": json.dumps(
                {
                    "format": "sersk-model",
                    "format_version": 1,
                    "sersk_version": "0.1.0",
                    "storage": "joblib",
                }
            ),
            "pipeline.joblib": pickle.dumps({"not": "read"}),
        },
    )
    with pytest.raises(
        ModelFileError, match=r"written by sersk 0.1.0 \(< 0.2\).*joblib.*Retrain"
    ):
        load_model(old)
    import torch

    legacy = tmp_path / "crnn.pt"  # what sersk.models.save_model wrote in 0.1
    torch.save({"config": "{}", "state_dict": {}}, legacy)
    with pytest.raises(ModelFileError, match=r"sersk.models.save_model of sersk 0.1"):
        load_model(legacy)


def test_foreign_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing.sersk")
    (tmp_path / "text.sersk").write_text("hello")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(tmp_path / "text.sersk")
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.sersk")
        with pytest.raises(ModelFileError, match="not a regular file"):
            load_model(tmp_path / "pipe.sersk")
    other = _write_archive(tmp_path / "other.zip", {"readme.txt": b"hi"})
    with pytest.raises(ModelFileError, match="no sersk.json"):
        load_model(other)
    assert issubclass(ModelFileError, ValueError)


def _model_files():
    """tests/data/make_model_files.py, which names the committed files."""
    spec = importlib.util.spec_from_file_location(
        "make_model_files", DATA / "make_model_files.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_file_of_an_earlier_release_loads_and_predicts():
    """tests/data/svm-format2.sersk was written once by tests/data/make_model_files.py."""
    module = _model_files()
    with zipfile.ZipFile(module.SVM_FILE) as zf:
        meta = json.loads(zf.read("sersk.json"))
    assert meta["format_version"] == 2
    pipe = load_model(module.SVM_FILE)
    X, y = module.tones()
    assert pipe.predict(X).tolist() == meta["metadata"]["expected"] == y.tolist()


@pytest.mark.parametrize(
    "kind, key, then, now",
    [
        ("cnn", "module__freq_pooling", "mean", "flatten"),
        ("crnn", "module__conv_summary", False, True),
    ],
)
def test_deep_file_of_the_release_before_an_option_loads_as_it_was_trained(
    kind, key, then, now, tmp_path
):
    """tests/data/cnn-meanpool.sersk and crnn-attention-only.sersk were
    written by releases before ``freq_pooling`` (the CNN averaged over
    frequency) and ``conv_summary`` (the CRNN's head saw the LSTM only)."""
    module = _model_files()
    path = module.DEEP[kind][0]
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("sersk.json"))
        params = json.loads(zf.read("network.json"))["params"]
    assert key not in params
    pipe = load_model(path, device="cpu")
    assert pipe[-1].get_params()[key] == then
    X, _ = module.tones()
    assert pipe.classes_.tolist() == meta["metadata"]["classes"]
    # float32 on another CPU's kernels: equal up to summation order
    np.testing.assert_allclose(
        pipe.predict_proba(X), meta["metadata"]["expected_proba"], atol=1e-4
    )
    # and the same file under today's default is a network it does not fit
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["network.json"])
    config["params"][key] = now
    members["network.json"] = json.dumps(config)
    edited = _write_archive(tmp_path / "today.sersk", members)
    with pytest.raises(ModelFileError, match="weights do not fit the network"):
        load_model(edited, device="cpu")


def test_import_sersk_stays_light():
    code = (
        "import sys, sersk\n"
        "assert callable(sersk.save_model) and callable(sersk.load_model)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'skops' not in sys.modules, 'skops imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 0, proc.stderr
    assert sersk.__all__.count("save_model") == 1
