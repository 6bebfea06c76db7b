"""The command line trains what sersk.pipelines builds (one recipe), and checks
its output paths before any work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from sersk import pipelines
from sersk.cli import build_parser
from sersk.cli._model import build_pipeline
from sersk.cli._parser import DEEP_MODELS, MODELS

ROOT = Path(__file__).resolve().parents[1]

FACTORY = {
    "svm": pipelines.make_svm_pipeline,
    "rf": pipelines.make_random_forest_pipeline,
    "crnn": pipelines.make_crnn_pipeline,
    "cnn": pipelines.make_cnn_pipeline,
    "cnn_lstm": pipelines.make_cnn_lstm_pipeline,
    "rnn": pipelines.make_rnn_pipeline,
}


def _describe(value):
    """Parameters as comparable data: estimators by type and own parameters."""
    if isinstance(value, BaseEstimator):
        return (
            type(value),
            {k: _describe(v) for k, v in value.get_params(deep=False).items()},
        )
    if isinstance(value, (list, tuple)):
        return type(value), [_describe(v) for v in value]
    if isinstance(value, dict):
        return {k: _describe(v) for k, v in value.items()}
    if isinstance(value, type):
        return ("class", value)
    return value


def assert_same_params(a, b):
    """Same estimator types and parameters, recursively (never by identity)."""
    assert _describe(a) == _describe(b)
    assert sorted(a.get_params()) == sorted(b.get_params())


def test_every_cli_model_has_a_factory():
    assert set(MODELS) == set(FACTORY)


@pytest.mark.parametrize("model", MODELS)
def test_cli_trains_the_pipeline_of_the_factory(model, tmp_path):
    argv = ["train", "--corpus", "ravdess", "--model", model, "--out", "m.sersk"]
    args = build_parser().parse_args(argv)
    # every model takes each clip at its own length by default, and the deep
    # ones train for the factory's own number of epochs
    expected = {"sr": 16000, "duration": None, "n_jobs": None, "random_state": 0}
    if model == "svm":
        expected["probability"] = True  # predict prints probabilities
    if model in DEEP_MODELS:
        expected.update(batch_size=32, device="auto", verbose=1)
    assert_same_params(build_pipeline(args), FACTORY[model](**expected))


@pytest.mark.parametrize("model", MODELS)
def test_cli_options_reach_the_factory(model):
    argv = ["train", "--corpus", "synthetic", "--model", model, "--out", "m.sersk"]
    argv += ["--sr", "22050", "--duration", "1.5", "--n-jobs", "2"]
    argv += ["--random-state", "7", "--epochs", "3", "--batch-size", "4"]
    argv += ["--device", "cpu", "-q"]
    argv += ["--module-param", "dense_units=8,"]
    args = build_parser().parse_args(argv)
    expected = {"sr": 22050, "duration": 1.5, "n_jobs": 2, "random_state": 7}
    if model == "svm":
        expected["probability"] = True
    if model in DEEP_MODELS:
        expected.update(max_epochs=3, batch_size=4, device="cpu", verbose=0)
        expected["module__dense_units"] = (8,)
    pipe = build_pipeline(args)
    assert_same_params(pipe, FACTORY[model](**expected))
    # and the recipe is the factory's, not the command line's own
    params = pipe.get_params()
    assert params["audioloader__sr"] == 22050
    assert params["audioloader__duration"] == 1.5
    if model == "rf":
        assert params["randomforestclassifier__n_estimators"] == 500
    if model in DEEP_MODELS:
        assert params["melspectrogram__n_mels"] == (128 if model == "crnn" else 64)
        assert params["melspectrogram__n_fft"] == 1024
        assert params["melspectrogram__hop_length"] == 256


def test_evaluate_and_demo_use_the_factories_too():
    args = build_parser().parse_args(
        ["evaluate", "--corpus", "tess", "--model", "svm", "--duration", "2"]
    )
    assert_same_params(
        build_pipeline(args),
        pipelines.make_svm_pipeline(duration=2.0, random_state=0, probability=False),
    )
    args = build_parser().parse_args(["demo", "--model", "crnn", "--epochs", "2"])
    small = {
        "module__conv_channels": (8, 16, 16),
        "module__lstm_units": (16,),
        "module__attention_units": 16,
        "module__dense_units": (16,),
    }
    expected = pipelines.make_crnn_pipeline(
        duration=2.0, random_state=0, max_epochs=2, device="auto", verbose=0, **small
    )
    assert_same_params(build_pipeline(args), expected)


def test_the_comparison_helper_sees_differences():
    a = pipelines.make_random_forest_pipeline(n_estimators=300)
    b = pipelines.make_random_forest_pipeline()
    with pytest.raises(AssertionError):
        assert_same_params(a, b)
    c = pipelines.make_random_forest_pipeline()
    assert_same_params(b, c)  # equal parameters, distinct objects


def test_saved_model_is_the_factory_pipeline(tmp_path):
    """`sersk train` writes the fitted factory pipeline (parameters intact)."""
    from sersk import load_model

    out = tmp_path / "rf.sersk"
    code = "import sys\nfrom sersk.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    argv = ["train", "--corpus", "synthetic", "--n-samples", "24"]
    argv += ["--n-speakers", "2", "--duration", "0.5", "--model", "rf", "-q"]
    argv += ["--emotions", "neutral", "angry", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = load_model(out)
    expected = pipelines.make_random_forest_pipeline(duration=0.5, random_state=0)
    assert_same_params(loaded, expected)
    assert list(loaded.classes_) == ["angry", "neutral"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rf.sersk"]


def _run_main(*cases):
    code = (
        "import shlex, sys\nfrom sersk.cli import main\n"
        "for case in sys.argv[1:]:\n"
        "    print('rc', main(shlex.split(case)), flush=True)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *cases],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )


def test_output_paths_are_checked_before_any_work(tmp_path):
    missing_root = tmp_path / "no-corpus"
    cases = [
        # the report folder is missing: refused before the corpus is looked at
        f"evaluate --corpus ravdess --root {missing_root} "
        f"--report {tmp_path / 'no' / 'r.md'}",
        f"evaluate --corpus ravdess --root {missing_root} --report {tmp_path / 'r.xlsx'}",
        f"evaluate --corpus ravdess --root {missing_root} "
        f"--plots {tmp_path / 'no' / 'plots'}",
        f"demo --report {tmp_path / 'no' / 'demo.md'}",
        f"train --corpus ravdess --root {missing_root} --out {tmp_path}",
        f"predict {tmp_path / 'm.sersk'} a.wav --output {tmp_path / 'no' / 'p.csv'}",
    ]
    proc = _run_main(*cases)
    assert proc.stdout.split() == ["rc", "1"] * len(cases), proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == len(cases), proc.stderr
    assert "does not exist. Point --root" not in proc.stderr
    assert "model file" not in proc.stderr  # predict stopped at --output
    assert "output folder" in lines[0]
    assert "the extension must be one of .markdown, .md, .txt" in lines[1]
    assert "cannot write plots" in lines[2]
    assert "output folder" in lines[3]
    assert "it is a folder" in lines[4]
    assert "output folder" in lines[5]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_features_out_is_replaced_without_leftovers(tmp_path):
    out = tmp_path / "f.npz"
    out.write_bytes(b"previous content")
    proc = _run_main(
        f"features --corpus synthetic --n-samples 12 --n-speakers 2 "
        f"--duration 0.5 --kind logmel -q --out {out}"
    )
    assert proc.stdout.split()[-2:] == ["rc", "0"], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npz"]
    data = np.load(out)
    # the log-mel frames of make_crnn_pipeline()
    assert data["X"].shape[:2] == (12, 128)


def test_bad_deep_options_are_refused_before_any_work(tmp_path):
    base = f"train --corpus ravdess --root {tmp_path / 'nope'} --out {tmp_path / 'm'}"
    proc = _run_main(
        f"{base} --model crnn --device gpu0",
        f"{base} --model crnn --module-param lstm_unitz=4",
        f"{base} --model rnn --module-param conv_channels=4",
    )
    assert proc.stdout.split() == ["rc", "1"] * 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "--device 'gpu0' is not a device: use auto, cpu, cuda or cuda:N" in lines[0]
    assert "--module-param lstm_unitz: not a parameter of CRNN" in lines[1]
    assert "lstm_units" in lines[1]
    assert "--module-param conv_channels: not a parameter of RNN" in lines[2]
    assert "Point --root" not in proc.stderr
