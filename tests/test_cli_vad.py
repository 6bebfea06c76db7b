"""``sersk predict --segments vad`` and ``sersk listen``, run for real.

Real WAV files, a real saved model, ``python -m sersk`` in a subprocess; the
microphone paths are tested as this machine is (no input device; PortAudio
or sounddevice present or not), and the live path with PCM piped in.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("silero_vad")

import sersk
from sersk.io import load_audio, resample
from sersk.segmentation import predict_timeline

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
FILES = (
    "Actor_11/03-01-02-01-01-01-11.wav",
    "Actor_12/03-01-05-02-02-02-12.wav",
    "Actor_13/03-01-04-01-01-02-13.wav",
)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(OMP_NUM_THREADS="1", TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    return env


def run_sersk(*args, stdin=None, check_rc=None):
    proc = subprocess.run(
        [sys.executable, "-m", "sersk", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=_env(),
        timeout=300,
    )
    proc.stdout, proc.stderr = proc.stdout.decode(), proc.stderr.decode()
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sersk.datasets import make_emotional_speech
    from sersk.features import MFCC, AudioLoader, TimePooling

    X, y, _ = make_emotional_speech(
        30, emotions=("neutral", "angry", "sad"), duration=0.5, n_speakers=3,
        random_state=0,
    )  # fmt: skip
    model = make_pipeline(
        AudioLoader(sr=SR, duration=0.5),
        MFCC(n_mfcc=13),
        TimePooling(),
        StandardScaler(),
        LogisticRegression(),
    ).fit(X, y)
    path = tmp_path_factory.mktemp("models") / "mfcc.sersk"
    sersk.save_model(model, path)
    return path


@pytest.fixture(scope="module")
def talk(ravdess_root):
    """Three RAVDESS files back to back with pauses: a waveform at 16 kHz."""
    gap = np.zeros(int(0.8 * SR), dtype=np.float32)
    parts = []
    for name in FILES:
        parts += [load_audio(ravdess_root / name, sr=SR)[0], gap]
    return np.concatenate(parts)


@pytest.fixture
def talk_wav(talk, tmp_path):
    """The recording as a 16-bit WAV at 44.1 kHz (resampled on reading)."""
    path = tmp_path / "talk.wav"
    sf.write(path, resample(talk, orig_sr=SR, target_sr=44100), 44100, "PCM_16")
    return path


# --- sersk predict --segments vad ----------------------------------------------


def test_predict_vad_csv_equals_predict_timeline(model_path, talk_wav):
    proc = run_sersk(
        "predict", model_path, talk_wav, "--segments", "vad", "--format", "csv",
        check_rc=0,
    )  # fmt: skip
    import pandas as pd

    rows = pd.read_csv(io.StringIO(proc.stdout))
    model = sersk.load_model(model_path)
    classes = [str(c) for c in model.classes_]
    assert list(rows.columns) == ["file", "start", "end", "label", *classes]
    expected = predict_timeline(model, talk_wav)
    assert len(rows) == len(expected) >= 3
    assert list(rows["label"]) == list(expected["label"])
    np.testing.assert_allclose(
        rows[["start", "end"]].to_numpy(), expected[["start", "end"]], atol=1e-3
    )
    np.testing.assert_allclose(rows[classes], expected[classes], atol=1e-4)
    assert set(rows["file"]) == {str(talk_wav)}


@pytest.mark.slow
def test_predict_vad_json_and_table(model_path, talk_wav, tmp_path):
    quiet = tmp_path / "quiet.wav"
    noise = 1e-3 * np.random.default_rng(0).standard_normal(2 * SR)
    sf.write(quiet, noise, SR, "PCM_16")
    proc = run_sersk(
        "predict", model_path, talk_wav, "--segments", "vad", "--format", "json",
        check_rc=0,
    )  # fmt: skip
    records = json.loads(proc.stdout)
    assert len(records) >= 3
    assert set(records[0]) == {"file", "start", "end", "label", "probabilities"}
    assert all(r["start"] < r["end"] for r in records)
    proc = run_sersk(
        "predict", model_path, talk_wav, quiet, "--segments", "vad", check_rc=0
    )
    assert f"{quiet}: no speech found" in proc.stdout
    timeline = proc.stdout.split(f"{talk_wav}: ")[-1].splitlines()[0]
    assert timeline.count("|") == len(records) - 1
    assert records[0]["label"] in timeline


def test_predict_vad_usage_errors(model_path, talk_wav):
    proc = run_sersk(
        "predict", model_path, talk_wav, "--segments", "vad", "--hop", "1",
        check_rc=1,
    )  # fmt: skip
    assert "--hop 1 applies to windows" in proc.stderr
    proc = run_sersk("predict", model_path, talk_wav, "--segments", "speech")
    assert proc.returncode == 2
    assert "expected 'vad' or a positive number of seconds" in proc.stderr


def test_predict_vad_without_the_extra_names_it(model_path, talk_wav):
    code = (
        "import sys; sys.modules['silero_vad'] = None\n"
        "from sersk.cli import main\n"
        f"sys.exit(main(['predict', {str(model_path)!r}, {str(talk_wav)!r}, "
        "'--segments', 'vad']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env()
    )
    assert proc.returncode == 1
    assert "pip install 'sersk[vad]'" in proc.stderr


# --- sersk listen -----------------------------------------------------------------


def _microphone_state():
    """What this machine offers: 'no sounddevice', 'no portaudio', 'no input'
    or 'input' (a default input device)."""
    try:
        import sounddevice as sd
    except ImportError:
        return "no sounddevice"
    except OSError:
        return "no portaudio"
    try:
        info = sd.query_devices(kind="input")
    except (ValueError, sd.PortAudioError):
        return "no input"
    return "input" if info["max_input_channels"] > 0 else "no input"


def test_listen_without_a_microphone_says_so(model_path):
    state = _microphone_state()
    if state == "input":
        pytest.skip("this machine has a microphone")
    proc = run_sersk("listen", model_path, "--seconds", "1")
    assert proc.returncode == 1, proc.stderr
    expected = {
        "no sounddevice": "pip install 'sersk[listen]'",
        "no portaudio": "Install the PortAudio library",
        "no input": "no microphone: the default input device is not available",
    }[state]
    assert expected in proc.stderr
    assert "--stdin" in proc.stderr  # and the way around it
    assert proc.stdout == ""


def test_listen_without_sounddevice_names_the_extra(model_path):
    code = (
        "import sys; sys.modules['sounddevice'] = None\n"
        "from sersk.cli import main\n"
        f"sys.exit(main(['listen', {str(model_path)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env()
    )
    assert proc.returncode == 1
    assert "needs the sounddevice package" in proc.stderr
    assert "pip install 'sersk[listen]'" in proc.stderr


def test_listen_to_an_unknown_device(model_path):
    if _microphone_state() in ("no sounddevice", "no portaudio"):
        pytest.skip("sounddevice cannot run here")
    proc = run_sersk("listen", model_path, "--device", "no-such-mic-4711")
    assert proc.returncode == 1
    assert "no microphone: 'no-such-mic-4711' is not available" in proc.stderr


def _pcm(y):
    return (np.clip(y, -1, 1) * 32767).astype("<i2").tobytes()


def test_listen_to_pcm_on_stdin_prints_the_offline_timeline(model_path, talk):
    at_8k = resample(talk, orig_sr=SR, target_sr=8000)
    pcm = _pcm(at_8k)
    proc = run_sersk(
        "listen", model_path, "--stdin", "--sr", "8000", stdin=pcm, check_rc=0
    )
    lines = proc.stdout.splitlines()
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    expected = predict_timeline(sersk.load_model(model_path), samples, sr=8000)
    assert len(lines) == len(expected) >= 3
    for line, row in zip(lines, expected.to_dict("records"), strict=True):
        start, _, end, _, label = line.split()[:5]
        assert (float(start), float(end)) == pytest.approx(
            (row["start"], row["end"]), abs=0.006
        )
        assert label == row["label"]
    assert "listening to standard input at 8000 Hz" in proc.stderr


@pytest.mark.slow
def test_listen_stops_after_seconds_and_windows(model_path, talk):
    proc = run_sersk(
        "listen", model_path, "--stdin", "--sr", "16000", "--segments", "1",
        "--seconds", "3.5", "-q", stdin=_pcm(talk), check_rc=0,
    )  # fmt: skip
    starts = [float(line.split()[0]) for line in proc.stdout.splitlines()]
    # windows 0-1, 1-2, 2-3 and the last half window 3-3.5
    assert starts == [0.0, 1.0, 2.0, 3.0]
    assert proc.stderr == ""


def test_listen_usage_errors(model_path):
    proc = run_sersk("listen", model_path, "--stdin", stdin=b"")
    assert proc.returncode == 1
    assert "--stdin needs the rate" in proc.stderr
    proc = run_sersk("listen", model_path, "--stdin", "--sr", "16000", "--hop", "1")
    assert proc.returncode == 1
    assert "--hop 1 applies to windows" in proc.stderr


def _wait_until_idle(pid, quiet=0.5, limit=60.0):
    """Wait until a process uses no CPU for ``quiet`` seconds (Linux /proc)."""
    import time

    def cpu():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    last, since, end = cpu(), time.monotonic(), time.monotonic() + limit
    while time.monotonic() < end:
        time.sleep(0.1)
        now = cpu()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError(f"process {pid} kept computing for {limit} s")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_listen_ctrl_c_labels_the_open_segment_and_exits_130(model_path, talk):
    """Ctrl-C while speech goes on: the segment in progress is printed, then
    the command exits with status 130."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sersk", "listen", str(model_path), "--stdin",
         "--sr", str(SR)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_env(),
    )  # fmt: skip
    try:
        # the first file and its pause, then the second file's start: speech
        # in progress when the signal comes
        proc.stdin.write(_pcm(talk[: int(6.0 * SR)]))
        proc.stdin.flush()
        line = proc.stdout.readline().decode()  # the first segment is out
        assert line.strip(), proc.stderr.read().decode()
        _wait_until_idle(proc.pid)  # all 6 s read: blocked on the pipe
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode()
    later = stdout.decode().splitlines()
    assert len(later) == 1  # the segment cut short by Ctrl-C
    assert float(later[0].split()[2]) <= 6.0 + 1e-9


def _write_talk(path, talk, minutes):
    """``minutes`` of the recording repeated, written in pieces (the test's
    own memory stays small)."""
    with sf.SoundFile(path, "w", SR, 1, "PCM_16") as f:
        left = int(minutes * 60 * SR)
        while left > 0:
            piece = talk[:left]
            f.write(piece)
            left -= len(piece)
    return path


@pytest.mark.slow
def test_predict_vad_memory_does_not_grow_with_the_file(model_path, talk, tmp_path):
    """``--segments vad`` streams the file: the traced peak of an 8-minute file
    is that of a 2-minute one, not four times it."""
    import gc
    import tracemalloc

    from sersk.cli import main

    short = _write_talk(tmp_path / "short.wav", talk, 2)
    long = _write_talk(tmp_path / "long.wav", talk, 8)
    out = tmp_path / "rows.csv"
    peaks = {}
    for name, path in [("warm-up", short), ("short", short), ("long", long)]:
        gc.collect()
        tracemalloc.start()
        try:
            rc = main(["predict", str(model_path), str(path), "--segments", "vad",
                       "--format", "csv", "--output", str(out), "-q"])  # fmt: skip
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert rc == 0
    n_rows = out.read_text().count("\n") - 1
    assert n_rows > 8 * 60 / 6  # about one sentence per 4.7 s of the talk
    # decoding 8 minutes whole would take 30 MB of float32 alone
    assert peaks["long"] < peaks["short"] + 4 * 2**20, peaks
