"""The ``sersk`` command, run for real with ``python -m sersk`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_sersk(*args, cwd=None, check_rc=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["TQDM_DISABLE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "sersk", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=300,
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.stdout, proc.stderr)
    return proc


# --- usage and errors that stop before any work ------------------------------


def test_help_of_every_command():
    proc = run_sersk("--help", check_rc=0)
    for command in ("demo", "train", "evaluate", "predict", "features"):
        assert command in proc.stdout
    # --help of each subcommand, in one process to keep the test fast.
    code = (
        "import sys\n"
        "from sersk.cli import main\n"
        "for cmd in ['demo', 'train', 'evaluate', 'predict', 'features']:\n"
        "    try:\n"
        "        main([cmd, '--help'])\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (cmd, exc.code)\n"
        "    print('=== end', cmd)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "--segments SECONDS" in out.stdout
    assert "--cv {speaker,random}" in out.stdout
    assert "never runs pickle" in out.stdout  # model files are safe to load
    assert out.stdout.count("=== end") == 5


def test_version():
    import sersk

    proc = run_sersk("--version", check_rc=0)
    assert proc.stdout.strip() == f"sersk {sersk.__version__}"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["train", "--corpus", "nosuchcorpus", "--out", "m.sersk"],
            "invalid choice: 'nosuchcorpus'",
        ),
        (
            ["evaluate", "--corpus", "synthetic", "--model", "transformer"],
            "invalid choice: 'transformer'",
        ),
        (["train", "--corpus", "synthetic"], "the following arguments are required"),
        (["demo", "--duration", "-1"], "expected a positive number"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2(args, message):
    proc = run_sersk(*args, check_rc=2)
    assert message in proc.stderr


def test_missing_inputs_and_bad_outputs(tmp_path):
    code = (
        "import sys\n"
        "from sersk.cli import main\n"
        "cases = sys.argv[1:]\n"
        "import shlex\n"
        "for case in cases:\n"
        "    print('rc', main(shlex.split(case)), flush=True)\n"
    )
    missing = tmp_path / "nothing.sersk"
    try:
        import pyarrow  # noqa: F401

        has_pyarrow = True
    except ImportError:
        has_pyarrow = False
    cases = [
        f"predict {missing} a.wav",
        f"train --corpus ravdess --root {tmp_path / 'nope'} --out {tmp_path / 'm.sersk'}",
        f"features --corpus synthetic --out {tmp_path / 'f.xlsx'}",
        f"features --corpus synthetic --kind logmel --out {tmp_path / 'f.csv'}",
        f"train --corpus synthetic --out {tmp_path / 'no' / 'dir' / 'm.sersk'}",
    ]
    if not has_pyarrow:  # with pyarrow installed, .parquet works
        cases.append(f"features --corpus synthetic --out {tmp_path / 'f.parquet'}")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, *cases], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["rc", "1"] * len(cases)
    err = out.stderr
    assert f"model file {str(missing)!r} does not exist" in err
    assert "does not exist. Point --root at the folder" in err
    if not has_pyarrow:
        assert "pip install pyarrow" in err
    assert "the extension must be one of .csv, .npz, .parquet" in err
    assert "use --out FILE.npz" in err
    assert "output folder" in err and "does not exist" in err


def _fake_model(path, **meta):
    # the metadata of a model file of sersk 0.1 (format 1, joblib)
    base = {
        "format": "sersk-model",
        "format_version": 1,
        "sersk_version": "0.1.0",
        "storage": "joblib",
    }
    base.update(meta)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("sersk.json", json.dumps(base))
    return path


def test_predict_refuses_incompatible_or_corrupt_model_files(tmp_path, write_wav):
    wav = write_wav("a.wav")
    old = _fake_model(tmp_path / "old.sersk", sersk_version="0.1.0")
    proc = run_sersk("predict", old, wav, check_rc=1)
    assert "was written by sersk 0.1.0 (< 0.2) in the model format 1" in proc.stderr
    assert "cannot be read safely. Retrain the model" in proc.stderr

    newer = _fake_model(
        tmp_path / "newer.sersk", format_version=99, storage=None, kind="classic"
    )
    corrupt = tmp_path / "corrupt.sersk"
    corrupt.write_bytes(b"not a zip file at all")
    code = (
        "import sys\nfrom sersk.cli import main\n"
        f"print(main(['predict', {str(newer)!r}, {str(wav)!r}]))\n"
        f"print(main(['predict', {str(corrupt)!r}, {str(wav)!r}]))\n"
        f"print(main(['predict', {str(tmp_path)!r}, {str(wav)!r}]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert out.stdout.split() == ["1", "1", "1"], out.stderr
    assert "uses the model file format 99" in out.stderr
    assert "Upgrade sersk" in out.stderr
    assert "is not a sersk model file" in out.stderr
    assert "is a folder, not a sersk model file" in out.stderr


def test_predict_and_listen_refuse_a_model_without_an_audio_loader(tmp_path, write_wav):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import sersk

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)), ["a", "b"] * 10
    model = tmp_path / "plain.sersk"
    sersk.save_model(
        make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), model
    )
    wav = write_wav("a.wav")
    code = (
        "import sys\nfrom sersk.cli import main\n"
        f"print(main(['predict', {str(model)!r}, {str(wav)!r}]))\n"
        f"print(main(['listen', {str(model)!r}, '--stdin', '--sr', '16000', "
        "'--segments', '1']))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], input="", capture_output=True, text=True, env=env
    )
    assert out.stdout.split() == ["1", "1"], out.stderr
    errors = out.stderr.splitlines()
    assert len(errors) == 2, out.stderr
    for command, line in zip(("predict", "listen"), errors, strict=True):
        assert line.startswith(
            f"sersk {command}: error: sersk {command} needs a fitted sersk pipeline "
            "whose first step is sersk.features.AudioLoader"
        )
        assert f"{str(model)!r} is a Pipeline whose first step is a StandardScaler" in (
            line
        )


# --- the real jobs, on tiny synthetic data ------------------------------------

TINY = ["--corpus", "synthetic", "--n-samples", "36", "--n-speakers", "3"]
TINY += ["--duration", "0.5", "--emotions", "neutral", "angry", "sad", "-q"]


@pytest.fixture(scope="module")
def svm_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "svm.sersk"
    proc = run_sersk("train", *TINY, "--model", "svm", "--out", out, check_rc=0)
    assert "Saved svm trained on synthetic speech" in proc.stdout
    return out


def test_train_writes_a_model_file_with_metadata(svm_model):
    with zipfile.ZipFile(svm_model) as zf:
        meta = json.loads(zf.read("sersk.json"))
        assert sorted(zf.namelist()) == ["estimator.skops", "sersk.json"]
    assert meta["format"] == "sersk-model" and meta["kind"] == "classic"
    assert meta["classes"] == ["angry", "neutral", "sad"]
    info = meta["metadata"]
    assert info["model"] == "svm" and info["corpus"] == "synthetic"
    assert info["sr"] == 16000 and info["duration"] == 0.5
    assert info["n_train"] == 36 and info["n_speakers"] == 3


def test_predict_files_folders_formats_and_segments(svm_model, tmp_path):
    from sersk.datasets import make_emotional_speech

    X, y, _ = make_emotional_speech(
        6,
        emotions=("neutral", "angry", "sad"),
        duration=0.5,
        n_speakers=2,
        random_state=1,
    )
    import soundfile as sf

    folder = tmp_path / "clips"
    folder.mkdir()
    for i, clip in enumerate(X):
        sf.write(folder / f"clip{i}.wav", clip, 16000)
    (folder / "notes.txt").write_text("not audio")
    long_path = tmp_path / "long.wav"
    sf.write(long_path, X.reshape(-1), 16000)  # 3 s

    proc = run_sersk("predict", svm_model, folder, "--format", "json", "-q", check_rc=0)
    records = json.loads(proc.stdout)
    assert [Path(r["file"]).name for r in records] == [f"clip{i}.wav" for i in range(6)]
    for r in records:
        probs = r["probabilities"]
        assert set(probs) == {"angry", "neutral", "sad"}
        assert abs(sum(probs.values()) - 1) < 1e-6
        assert r["label"] == max(probs, key=probs.get)

    code = (
        "from sersk.cli import main\n"
        f"main(['predict', {str(svm_model)!r}, {str(long_path)!r}, '--segments', "
        "'1', '--hop', '0.5', '--format', 'csv', '-q'])\n"
        "print('=== table')\n"
        f"main(['predict', {str(svm_model)!r}, {str(long_path)!r}, '--segments', "
        "'1', '-q'])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    csv_text, table = out.stdout.split("=== table")
    lines = csv_text.strip().splitlines()
    assert lines[0] == "file,start,end,label,angry,neutral,sad"
    starts = [float(line.split(",")[1]) for line in lines[1:]]
    assert starts == [0.0, 0.5, 1.0, 1.5, 2.0]  # 1 s windows every 0.5 s over 3 s
    assert f"{long_path}: 0-1s " in table and "| 2-3s " in table


def test_features_npz_and_csv(tmp_path):
    npz, csv = tmp_path / "f.npz", tmp_path / "f.csv"
    code = (
        "from sersk.cli import main\n"
        f"args = {TINY!r}\n"
        f"assert main(['features', *args, '--out', {str(npz)!r}]) == 0\n"
        f"assert main(['features', *args, '--out', {str(csv)!r}]) == 0\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    data = np.load(npz)
    assert data["X"].shape[0] == 36 and data["X"].dtype == np.float32
    assert data["X"].shape[1] == data["feature_names"].size
    assert set(data["y"]) == {"angry", "neutral", "sad"}
    assert np.unique(data["groups"]).size == 3
    import pandas as pd

    frame = pd.read_csv(csv)
    assert list(frame.columns[:2]) == ["label", "speaker"]
    np.testing.assert_allclose(
        frame.iloc[:, 2:].to_numpy(), data["X"], rtol=1e-4, atol=1e-4
    )


def test_evaluate_report_and_plots(tmp_path):
    report, plots = tmp_path / "report.md", tmp_path / "plots"
    proc = run_sersk(
        "evaluate", *TINY, "--model", "rf", "--folds", "3",
        "--report", report, "--plots", plots, check_rc=0,
    )  # fmt: skip
    text = report.read_text()
    assert "speaker-independent 3-fold CV" in text
    assert "GroupKFold(n_splits=3)" in text
    assert text.strip() == proc.stdout.strip()
    for name in ("confusion_matrix.png", "per_class_f1.png"):
        assert (plots / name).read_bytes()[:4] == b"\x89PNG"


def test_deep_model_round_trip_without_pickle(tmp_path, write_wav):
    out = tmp_path / "crnn.sersk"
    tiny_net = ["--epochs", "1", "--batch-size", "8", "--device", "cpu"]
    for name, value in [
        ("conv_channels", "4,4"),
        ("lstm_units", "4"),
        ("attention_units", "4"),
        ("dense_units", "4"),
    ]:
        tiny_net += ["--module-param", f"{name}={value}"]
    run_sersk("train", *TINY, "--model", "crnn", *tiny_net, "--out", out, check_rc=0)
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        meta = json.loads(zf.read("sersk.json"))
        config = json.loads(zf.read("network.json"))
    assert meta["kind"] == "deep" and meta["metadata"]["model"] == "crnn"
    assert sorted(names) == [
        "estimator.skops", "network.json", "network.pt", "sersk.json"
    ]  # fmt: skip
    assert config["estimator"] == "CRNNClassifier"
    assert config["step"] == "crnnclassifier"
    from sersk import load_model

    pipe = load_model(out)
    assert [name for name, _ in pipe.steps] == [
        "audioloader", "melspectrogram", "clipstandardizer", "crnnclassifier"
    ]  # fmt: skip
    wav = write_wav("tone.wav", sr=22050, seconds=0.7)
    proc = run_sersk("predict", out, wav, "--format", "json", "-q", check_rc=0)
    (record,) = json.loads(proc.stdout)
    assert set(record["probabilities"]) == {"angry", "neutral", "sad"}
    assert abs(sum(record["probabilities"].values()) - 1) < 1e-5


def test_ctrl_c_during_training_writes_nothing_and_exits_130(tmp_path):
    import signal

    out = tmp_path / "crnn.sersk"
    tiny_net = ["--epochs", "500", "--batch-size", "8", "--device", "cpu"]
    tiny_net += ["--module-param", "conv_channels=4", "--module-param", "lstm_units=4"]
    args = [a for a in TINY if a != "-q"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.update(OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sersk", "train", *args, "--model", "crnn",
         *tiny_net, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        seen = []
        for line in proc.stdout:  # skorch prints one row per epoch
            seen.append(line)
            if line.strip()[:1].isdigit():  # an epoch is done: training runs
                proc.send_signal(signal.SIGINT)
                break
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, ("".join(seen) + stdout, stderr)
    assert "interrupted, nothing written" in stderr
    assert "Saved" not in stdout
    assert list(tmp_path.iterdir()) == []
