"""The ``sersk`` command, run for real with ``python -m sersk`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

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
    assert "pickle" in out.stdout  # the trust caveat of model files
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
    cases = [
        f"predict {missing} a.wav",
        f"train --corpus ravdess --root {tmp_path / 'nope'} --out {tmp_path / 'm.sersk'}",
        f"features --corpus synthetic --out {tmp_path / 'f.parquet'}",
        f"features --corpus synthetic --out {tmp_path / 'f.xlsx'}",
        f"features --corpus synthetic --kind logmel --out {tmp_path / 'f.csv'}",
        f"train --corpus synthetic --out {tmp_path / 'no' / 'dir' / 'm.sersk'}",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, *cases], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["rc", "1"] * len(cases)
    err = out.stderr
    assert f"model file {str(missing)!r} does not exist" in err
    assert "does not exist. Point --root at the folder" in err
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert "pip install pyarrow" in err
    assert "the extension must be one of .csv, .npz, .parquet" in err
    assert "use --out FILE.npz" in err
    assert "output folder" in err and "does not exist" in err


def _fake_model(path, **meta):
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
    old = _fake_model(tmp_path / "old.sersk", sersk_version="0.0.3")
    proc = run_sersk("predict", old, wav, check_rc=1)
    assert "was written by sersk 0.0.3, which is incompatible" in proc.stderr
    assert "Retrain it" in proc.stderr

    newer = _fake_model(tmp_path / "newer.sersk", format_version=99)
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
    assert "uses model file format 99" in out.stderr
    assert "Upgrade sersk" in out.stderr
    assert "is not a sersk model file" in out.stderr
    assert "is a folder, not a sersk model file" in out.stderr
