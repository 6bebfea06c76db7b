"""The web app of ``sersk serve``: a real uvicorn server on loopback, real HTTP."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip(
    "starlette", reason="needs the serve extra: pip install 'sersk[serve]'"
)
pytest.importorskip(
    "uvicorn", reason="needs the serve extra: pip install 'sersk[serve]'"
)
pytest.importorskip("python_multipart", reason="needs pip install 'sersk[serve]'")
pytest.importorskip(
    "silero_vad", reason="needs the vad extra: pip install 'sersk[vad]'"
)

from _serve_helpers import post_file, request, running_server

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
MAX_BYTES = 300_000
MAX_SECONDS = 5.0


def _wav_bytes(y, sr=SR, subtype="PCM_16"):
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _speech(seconds_each=1.0, n=2, seed=1):
    """Synthetic utterances separated by half a second of silence."""
    from sersk.datasets import make_emotional_speech

    X, _, _ = make_emotional_speech(
        n_samples=4,
        emotions=("angry", "sad"),
        n_speakers=2,
        duration=seconds_each,
        random_state=seed,
    )
    gap = np.zeros(SR // 2, dtype=np.float32)
    parts = [gap]
    for x in X[:n]:
        parts += [x, gap]
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A small real model (MFCC statistics + random forest) on synthetic speech."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from sersk import save_model
    from sersk.datasets import make_emotional_speech
    from sersk.features import MFCC, AudioLoader, TimePooling

    X, y, groups = make_emotional_speech(
        n_samples=24,
        emotions=("neutral", "happy", "sad", "angry"),
        n_speakers=3,
        duration=1.0,
        random_state=0,
    )
    pipe = make_pipeline(
        AudioLoader(sr=SR),
        MFCC(n_mfcc=13, n_mels=40),
        TimePooling(),
        RandomForestClassifier(n_estimators=20, random_state=0),
    ).fit(X, y)
    path = tmp_path_factory.mktemp("serve_model") / "tiny.sersk"
    save_model(
        pipe, path, metadata={"model": "rf", "corpus": "synthetic", "n_train": 24}
    )
    return path


@pytest.fixture(scope="module")
def server(model_path):
    from sersk.serve import create_app

    app = create_app(model_path, max_bytes=MAX_BYTES, max_seconds=MAX_SECONDS)
    with running_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def speech():
    return _speech()


def _check_alive(url):
    status, info, _ = request(url, "GET", "/api/model")
    assert status == 200, f"the server stopped answering: {status} {info}"


# --- the page and /api/model -------------------------------------------------


def test_page_is_one_self_contained_document(server):
    status, html, headers = request(server, "GET", "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    for element in ('id="file"', 'id="record"', 'id="timeline"', 'id="spectrogram"'):
        assert element in html
    # nothing fetched from elsewhere: no CDN script, style sheet or font
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html


def test_model_info_tells_labels_rate_and_training(server, model_path):
    from sersk import load_model

    status, info, _ = request(server, "GET", "/api/model")
    assert status == 200
    model = load_model(model_path)
    assert info["classes"] == [str(c) for c in model.classes_]
    assert info["sr"] == SR
    assert info["segments"] == "vad"
    assert info["steps"] == [
        "audioloader",
        "mfcc",
        "timepooling",
        "randomforestclassifier",
    ]
    assert info["training"] == {"model": "rf", "corpus": "synthetic", "n_train": 24}
    assert info["file"]["name"] == "tiny.sersk"
    assert info["file"]["kind"] == "classic"
    assert info["limits"] == {"max_bytes": MAX_BYTES, "max_seconds": MAX_SECONDS}


# --- predictions ----------------------------------------------------------------


def test_predict_returns_the_library_timeline(server, model_path, speech):
    from sersk import load_model
    from sersk.segmentation import predict_timeline

    status, out, headers = post_file(server, _wav_bytes(speech), "speech.wav")
    assert status == 200, out
    assert headers["content-type"] == "application/json"
    model = load_model(model_path)
    classes = [str(c) for c in model.classes_]
    y = sf.read(io.BytesIO(_wav_bytes(speech)), dtype="float32")[0]
    expected = predict_timeline(model, y, sr=SR, segments="vad")
    assert len(expected) >= 1, "the synthetic speech should hold speech segments"
    assert [s["label"] for s in out["timeline"]] == expected["label"].tolist()
    np.testing.assert_allclose(
        [[s["start"], s["end"]] for s in out["timeline"]],
        expected[["start", "end"]].to_numpy(),
        atol=1e-3,
    )
    for seg, (_, row) in zip(out["timeline"], expected.iterrows(), strict=True):
        assert list(seg["probabilities"]) == classes
        np.testing.assert_allclose(
            [seg["probabilities"][c] for c in classes], row[classes].to_numpy(float)
        )
    clip = np.empty(1, dtype=object)
    clip[0] = y
    whole = model.predict_proba(clip)[0]
    np.testing.assert_allclose([out["probabilities"][c] for c in classes], whole)
    assert out["label"] == classes[int(np.argmax(whole))]
    assert out["duration"] == pytest.approx(len(speech) / SR, abs=1e-3)
    assert out["sr"] == SR and out["file_sr"] == SR and out["classes"] == classes
    spec = out["spectrogram"]
    levels = np.frombuffer(base64.b64decode(spec["data"]), dtype=np.uint8)
    assert levels.size == spec["n_mels"] * spec["n_frames"]
    assert spec["n_mels"] == 64 and 1 <= spec["n_frames"] <= 480
    assert spec["n_frames"] * spec["frame_seconds"] == pytest.approx(
        out["duration"], abs=2 * spec["frame_seconds"]
    )
    assert levels.max() == 255, "the loudest cell is 0 dB below the peak"


def test_raw_body_gives_the_same_answer_as_a_form(server, speech):
    data = _wav_bytes(speech)
    _, form, _ = post_file(server, data)
    status, raw, _ = request(
        server,
        "POST",
        "/api/predict?spectrogram=false",
        body=data,
        headers={"Content-Type": "audio/wav"},
    )
    assert status == 200, raw
    assert "spectrogram" not in raw
    assert raw["timeline"] == form["timeline"]
    assert raw["probabilities"] == form["probabilities"]


def test_stereo_file_at_another_rate_is_mixed_and_resampled(server, speech):
    from sersk.io import resample

    y = resample(speech, orig_sr=SR, target_sr=11025)
    stereo = np.stack([y, 0.5 * y], axis=1)
    status, out, _ = post_file(server, _wav_bytes(stereo, sr=11025), "stereo.wav")
    assert status == 200, out
    assert out["file_sr"] == 11025 and out["sr"] == SR
    assert out["duration"] == pytest.approx(len(speech) / SR, abs=2e-3)
    assert len(out["timeline"]) >= 1


def test_fixed_windows(model_path, speech):
    from sersk import load_model
    from sersk.segmentation import predict_timeline
    from sersk.serve import create_app

    app = create_app(model_path, segments=1.0, hop=0.5)
    with running_server(app) as url:
        status, out, _ = post_file(url, _wav_bytes(speech))
        _, info, _ = request(url, "GET", "/api/model")
    assert status == 200, out
    assert info["segments"] == 1.0 and info["hop"] == 0.5
    y = sf.read(io.BytesIO(_wav_bytes(speech)), dtype="float32")[0]
    expected = predict_timeline(load_model(model_path), y, sr=SR, segments=1.0, hop=0.5)
    assert [s["start"] for s in out["timeline"]] == expected["start"].tolist()
    assert [s["label"] for s in out["timeline"]] == expected["label"].tolist()
    assert out["timeline"][1]["start"] == 0.5


def test_silence_gives_an_empty_timeline(server):
    quiet = np.zeros(SR, dtype=np.float32)
    quiet[::100] = 1e-4  # not pure digital zeros, but no speech
    status, out, _ = post_file(server, _wav_bytes(quiet, subtype="FLOAT"))
    assert status == 200, out
    assert out["timeline"] == []
    assert set(out["probabilities"]) == set(out["classes"])


# --- bad input: a 4xx answer, and the server keeps serving ------------------------


def _header_only_wav():
    return _wav_bytes(np.zeros(0, dtype=np.float32))


def _nan_wav():
    y = np.full(SR, 0.1, dtype=np.float32)
    y[100] = np.nan
    return _wav_bytes(y, subtype="FLOAT")


BAD_UPLOADS = [
    ("text", lambda: b"this is not audio\n" * 50, 415, "not an audio file"),
    ("png", lambda: b"\x89PNG\r\n\x1a\n" + bytes(200), 415, "not an audio file"),
    ("empty", lambda: b"", 400, "is empty"),
    ("header only", _header_only_wav, 400, "holds no audio samples"),
    (
        "too long",
        lambda: _wav_bytes(np.zeros(6 * 8000, dtype=np.float32) + 0.01, sr=8000),
        413,
        "longer than this server's limit of 5 s",
    ),
    ("too large", lambda: bytes(MAX_BYTES + 1), 413, "too large"),
    ("nan", _nan_wav, 422, "NaN/Inf"),
]


@pytest.mark.parametrize(
    "make, status, message",
    [case[1:] for case in BAD_UPLOADS],
    ids=[case[0] for case in BAD_UPLOADS],
)
def test_bad_upload_is_answered_and_the_server_keeps_serving(
    server, make, status, message, speech
):
    got, body, headers = post_file(server, make(), "upload.bin")
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert body["status"] == status
    assert message in body["error"], body["error"]
    _check_alive(server)
    ok, out, _ = post_file(server, _wav_bytes(speech))
    assert ok == 200, out


def test_form_without_file_and_bad_routes(server):
    from _serve_helpers import multipart

    body, ctype = multipart(b"x", field="audio")
    status, out, _ = request(
        server, "POST", "/api/predict", body=body, headers={"Content-Type": ctype}
    )
    assert status == 400 and "field 'file'" in out["error"]
    status, out, _ = request(server, "GET", "/api/predict")
    assert status == 405 and "/api/predict" in out["error"]
    status, out, _ = request(server, "GET", "/nothing-here")
    assert status == 404 and "/nothing-here" in out["error"]
    status, out, _ = request(server, "POST", "/api/predict?spectrogram=maybe", body=b"")
    assert status == 400 and "'maybe'" in out["error"]
    _check_alive(server)


def _raw_http(url, head, chunks=()):
    """Send a request head and body chunks on a socket; return the response."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            data += more
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def test_declared_body_over_the_limit_is_refused_before_it_is_sent(server):
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: audio/wav\r\nContent-Length: 1000000000\r\n\r\n"
    )
    status, body = _raw_http(server, head)  # not one byte of the body sent
    assert status == 413
    assert "1000000000 bytes" in body["error"] and str(MAX_BYTES) in body["error"]
    _check_alive(server)


@pytest.mark.parametrize("form", [False, True], ids=["raw", "multipart"])
def test_streamed_body_is_cut_off_at_the_limit(server, form):
    from _serve_helpers import multipart

    # chunked: the size is unknown until the body has been read; the
    # multipart body is allowed room for its boundaries (64 KiB)
    limit = MAX_BYTES + (64 * 1024 if form else 0)
    block = 32 * 1024
    body = bytes(limit + block)
    ctype = "audio/wav"
    if form:
        body, ctype = multipart(body)
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % ctype.encode()
    )
    # send only what the server reads before it refuses (no reset of unread data)
    cut = (limit // block + 1) * block
    chunks = [
        b"%x\r\n" % block + body[i : i + block] + b"\r\n" for i in range(0, cut, block)
    ]
    status, answer = _raw_http(server, head, chunks)
    assert status == 413
    assert f"more than {MAX_BYTES} bytes" in answer["error"]
    _check_alive(server)


# --- concurrency ---------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_load_all_succeed(server):
    """200 requests from 8 threads, each on its own keep-alive connection."""
    import http.client

    data = _wav_bytes(_speech(seconds_each=0.6, n=1))
    port = int(server.rsplit(":", 1)[1])
    results, errors = [], []
    lock = threading.Lock()

    def client(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for _ in range(n):
                status, out, _ = post_file(server, data, conn=conn)
                with lock:
                    results.append((status, json.dumps(out["timeline"])))
        except Exception as exc:  # reported below with the others
            with lock:
                errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(25,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(results) == 200
    assert {status for status, _ in results} == {200}
    # the same audio gives the same timeline whichever worker ran it
    assert len({timeline for _, timeline in results}) == 1
    _check_alive(server)


# --- create_app's own checks -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_bytes": 0}, "'max_bytes' parameter of create_app must be an int >= 1"),
        ({"max_seconds": -1.0}, "'max_seconds' parameter of create_app must be"),
        ({"segments": "words"}, "'segments' parameter of create_app must be 'vad'"),
        ({"segments": "vad", "hop": 0.5}, "'hop' parameter of create_app applies"),
        ({"segments": 0.0}, "'segments' parameter of create_app must be a float > 0"),
        ({"workers": 0}, "'workers' parameter of create_app must be an int >= 1"),
        (
            {"segments": 2.0, "segmenter": object()},
            "'segmenter' parameter of create_app applies to segments='vad'",
        ),
    ],
)
def test_create_app_rejects_bad_settings(model_path, kwargs, match):
    from sersk.serve import create_app

    with pytest.raises(ValueError, match=re.escape(match)):
        create_app(model_path, **kwargs)


def test_create_app_needs_a_sersk_pipeline_with_probabilities(tmp_path):
    from sklearn.datasets import make_classification
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    import sersk
    from sersk.features import MFCC, AudioLoader, TimePooling
    from sersk.serve import create_app

    needs = (
        "create_app needs a fitted sersk pipeline whose first step is "
        "sersk.features.AudioLoader"
    )
    X, y = make_classification(n_samples=20, random_state=0)
    with pytest.raises(TypeError, match=needs) as info:
        create_app(SVC().fit(X, y))
    assert "the model given is a SVC." in str(info.value)
    # a saved model is named by its path
    path = tmp_path / "plain.sersk"
    sersk.save_model(make_pipeline(StandardScaler(), SVC()).fit(X, y), path)
    with pytest.raises(TypeError, match=needs) as info:
        create_app(path)
    assert f"{str(path)!r} is a Pipeline whose first step is a StandardScaler." in (
        str(info.value)
    )
    rng = np.random.default_rng(0)
    waves = rng.normal(size=(6, 4000)).astype(np.float32)
    pipe = make_pipeline(
        AudioLoader(sr=SR), MFCC(n_mfcc=13, n_mels=40), TimePooling(), SVC()
    )
    pipe.fit(waves, ["a", "b"] * 3)
    with pytest.raises(TypeError, match="probability=True"):
        create_app(pipe)


# --- the sersk serve command ----------------------------------------------------------


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def test_cli_serve_starts_answers_and_stops_on_ctrl_c(model_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sersk",
            "serve",
            str(model_path),
            "--port",
            "0",
            "--segments",
            "1.5",
            "--workers",
            "2",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:(\d+)/) \(2 worker", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        status, info, _ = request(match.group(1).rstrip("/"), "GET", "/api/model")
        assert status == 200 and info["segments"] == 1.5
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    assert rc == 0, stderr
    assert "sersk serve: stopped" in stderr


def _sersk_serve(*args):
    """Run ``sersk serve ARGS`` to its end."""
    return subprocess.run(
        [sys.executable, "-m", "sersk", "serve", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )


def test_cli_serve_errors(model_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = _sersk_serve(model_path, "--port", port)
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "choose another --port" in out.stderr
    out = _sersk_serve(model_path, "--segments", "soon")
    assert out.returncode == 2
    assert "expected 'vad' or a positive number of seconds, got 'soon'" in out.stderr
    out = _sersk_serve(model_path, "--port", "70000")
    assert out.returncode == 1
    assert "--port must be 0 to 65535 (0: any free port); got 70000" in out.stderr


def test_cli_serve_refuses_a_model_it_cannot_serve(tmp_path):
    from sklearn.datasets import make_classification
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    import sersk

    X, y = make_classification(n_samples=20, random_state=0)
    path = tmp_path / "plain.sersk"
    sersk.save_model(make_pipeline(StandardScaler(), SVC()).fit(X, y), path)
    out = _sersk_serve(path, "--port", "0")
    # one line naming the file and the fix, no traceback
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith(
        "sersk serve: error: sersk serve needs a fitted sersk pipeline whose first "
        "step is sersk.features.AudioLoader"
    )
    assert f"{str(path)!r} is a Pipeline whose first step is a StandardScaler" in (
        out.stderr
    )
    assert "put an AudioLoader(sr=...) first" in out.stderr


def _python_without(module, code):
    """Run ``code`` in a Python where ``module`` cannot be imported (None in
    sys.modules blocks it)."""
    return subprocess.run(
        [sys.executable, "-c", f"import sys\nsys.modules[{module!r}] = None\n{code}"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )


def test_cli_serve_without_the_extra_names_it(model_path):
    main = "from sersk.cli import main\nsys.exit(main({}))"
    out = _python_without("starlette", main.format(["serve", str(model_path)]))
    assert out.returncode == 1
    assert "pip install 'sersk[serve]'" in out.stderr
    assert "(starlette)" in out.stderr
    # the default segmentation without the VAD: named at start, not per request
    out = _python_without(
        "silero_vad", main.format(["serve", str(model_path), "--port", "0"])
    )
    assert out.returncode == 1
    assert "sersk serve: error:" in out.stderr
    assert "pip install 'sersk[vad]'" in out.stderr
    # sersk itself imports without it
    out = _python_without("starlette", "import sersk, sersk.serve\nprint('ok')")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.slow
def test_deep_model_served_concurrently(tmp_path, speech):
    """A CRNN pipeline (torch) answers concurrent requests identically."""
    import http.client

    from sersk import save_model
    from sersk.datasets import make_emotional_speech
    from sersk.pipelines import make_crnn_pipeline
    from sersk.serve import create_app

    X, y, _ = make_emotional_speech(
        24, emotions=("happy", "sad"), n_speakers=3, duration=1.0, random_state=0
    )
    pipe = make_crnn_pipeline(
        from_waveforms=True,
        max_epochs=1,
        random_state=0,
        device="cpu",
        train_split=None,
        module__conv_channels=(4,),
        module__lstm_units=(8,),
        verbose=0,
    ).fit(X, y)
    path = save_model(pipe, tmp_path / "crnn.sersk")
    data = _wav_bytes(speech)
    results = []
    lock = threading.Lock()
    with running_server(create_app(path, workers=2)) as url:
        port = int(url.rsplit(":", 1)[1])

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                for _ in range(5):
                    status, out, _ = post_file(url, data, conn=conn)
                    with lock:
                        results.append((status, json.dumps(out.get("timeline", out))))
            finally:
                conn.close()

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    assert len(results) == 20
    assert {status for status, _ in results} == {200}, results[0]
    assert len({timeline for _, timeline in results}) == 1
    assert json.loads(results[0][1]), "the synthetic speech should hold segments"
