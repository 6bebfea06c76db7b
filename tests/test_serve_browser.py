"""The page of ``sersk serve`` in a real headless Chromium (Selenium).

Needs Debian's ``chromium`` and ``chromium-driver`` packages (``.ci/run``
installs them) and ``pip install 'sersk[serve]' selenium``. Without them the
tests are skipped, unless ``SERSK_REQUIRE_BROWSER=1`` (set by ``.ci/run``)
turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SERSK_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SERSK_CHROMEDRIVER", "/usr/bin/chromedriver")
# RAVDESS files the model is trained on (2 actors, 4 emotions, 2 sentences)
# and the one uploaded (another actor)
EMOTIONS = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry"}
UPLOAD = "Actor_03/03-01-05-02-01-01-03.wav"

pytestmark = pytest.mark.slow


def _missing(what):
    if os.environ.get("SERSK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SERSK_REQUIRE_BROWSER=1 but {what}")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    for module in (
        "selenium",
        "starlette",
        "uvicorn",
        "python_multipart",
        "silero_vad",
    ):
        try:
            __import__(module)
        except ImportError:
            _missing(f"{module} is not installed (pip install 'sersk[serve]' selenium)")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            _missing(f"{exe} is missing (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
        # a fake microphone (a beeping tone) that needs no permission prompt
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
    ):
        options.add_argument(flag)
    # the system's chromedriver, never one downloaded by Selenium Manager
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def model_path(ravdess_root, tmp_path_factory):
    """An SVM on classic features of 16 RAVDESS files (silence trimmed)."""
    from sersk import save_model
    from sersk.pipelines import make_svm_pipeline

    files, labels = [], []
    for actor in ("01", "02"):
        for code, emotion in EMOTIONS.items():
            for sentence in ("01", "02"):
                name = f"03-01-{code}-01-{sentence}-01-{actor}.wav"
                files.append(str(ravdess_root / f"Actor_{actor}" / name))
                labels.append(emotion)
    pipe = make_svm_pipeline(probability=True, n_mfcc=20, n_mels=64, random_state=0)
    pipe.fit(files, labels)
    path = tmp_path_factory.mktemp("browser_model") / "ravdess-svm.sersk"
    save_model(
        pipe, path, metadata={"model": "svm", "corpus": "ravdess", "n_train": 16}
    )
    return path


@pytest.fixture(scope="module")
def server_url(model_path):
    """A server started here, with the default segmentation (VAD)."""
    from _serve_helpers import running_server

    from sersk.serve import create_app

    with running_server(create_app(model_path)) as url:
        yield url


@pytest.fixture
def page(browser, server_url):
    """The page of that server, freshly loaded."""
    browser.get(server_url + "/")
    return browser


def _wait_for_result(driver, timeout=120):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    timeline = driver.find_element(By.ID, "timeline")
    WebDriverWait(driver, timeout).until(
        lambda d: timeline.get_attribute("data-state") in ("done", "error")
    )
    return timeline.get_attribute("data-state")


def _artifact_dir(tmp_path):
    folder = os.environ.get("SERSK_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path


def _sersk_predict(model_path, audio):
    """``sersk predict MODEL FILE --segments vad --format json``, run for real."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sersk",
            "predict",
            str(model_path),
            str(audio),
            "--segments",
            "vad",
            "--format",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return [(r["start"], r["end"], r["label"]) for r in json.loads(out.stdout)]


def _upload(page, audio):
    """Upload ``audio`` on the page; the segments it shows, and their elements."""
    from selenium.webdriver.common.by import By

    page.find_element(By.ID, "file").send_keys(str(audio))
    state = _wait_for_result(page)
    assert state == "done", page.find_element(By.ID, "error").text
    segments = page.find_elements(By.CSS_SELECTOR, "#timeline .segment")
    assert page.find_element(By.ID, "timeline").get_attribute("data-count") == str(
        len(segments)
    )
    shown = [
        (
            float(s.get_attribute("data-start")),
            float(s.get_attribute("data-end")),
            s.get_attribute("data-label"),
        )
        for s in segments
    ]
    return shown, segments


def _assert_same_timeline(shown, expected):
    assert [label for _, _, label in shown] == [label for _, _, label in expected]
    for (a, b, _), (ea, eb, _) in zip(shown, expected, strict=True):
        assert abs(a - ea) <= 0.002 and abs(b - eb) <= 0.002, (shown, expected)


def test_upload_shows_the_timeline_of_sersk_predict(page, model_path, ravdess_root):
    from selenium.webdriver.common.by import By

    audio = ravdess_root / UPLOAD
    shown, segments = _upload(page, audio)
    assert shown, "the page shows no segment of a RAVDESS sentence"
    _assert_same_timeline(shown, _sersk_predict(model_path, audio))

    # hover text, whole-recording probabilities, spectrogram
    title = segments[0].get_attribute("title")
    assert shown[0][2] in title and "%" in title
    rows = page.find_elements(By.CSS_SELECTOR, "#overall .prob-row")
    probs = {
        r.get_attribute("data-label"): float(r.get_attribute("data-probability"))
        for r in rows
    }
    assert set(probs) == set(EMOTIONS.values())
    assert abs(sum(probs.values()) - 1) < 1e-6
    assert page.find_element(By.ID, "overall-label").text == max(probs, key=probs.get)
    canvas = page.find_element(By.ID, "spectrogram")
    assert int(canvas.get_attribute("width")) > 10
    assert int(canvas.get_attribute("height")) == 64
    lit = page.execute_script(
        "const c = document.getElementById('spectrogram');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let lit = 0; for (let i = 0; i < d.length; i += 4) lit += d[i + 1] > 150;"
        "return lit;"
    )
    assert lit > 0, "the spectrogram canvas is blank"


def test_conversation_of_several_sentences(page, model_path, ravdess_root, tmp_path):
    """Four RAVDESS sentences of one actor in a row: one segment each."""
    import numpy as np
    import soundfile as sf

    parts = []
    for code in ("05", "04", "03", "01"):
        y, sr = sf.read(ravdess_root / f"Actor_03/03-01-{code}-01-02-01-03.wav")
        parts.append(y)
    audio = tmp_path / "conversation.wav"
    sf.write(audio, np.concatenate(parts), sr, subtype="PCM_16")
    shown, _ = _upload(page, audio)
    assert len(shown) >= 3, shown
    _assert_same_timeline(shown, _sersk_predict(model_path, audio))

    shot = _artifact_dir(tmp_path) / "serve.png"
    assert page.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_page_shows_the_error_of_a_non_audio_file(page, tmp_path):
    from selenium.webdriver.common.by import By

    bad = tmp_path / "notes.txt"
    bad.write_text("not audio\n" * 20)
    page.find_element(By.ID, "file").send_keys(str(bad))
    assert _wait_for_result(page) == "error"
    error = page.find_element(By.ID, "error")
    assert error.is_displayed()
    assert error.text.startswith("415: notes.txt is not an audio file")


def test_file_over_the_limit_is_refused_before_it_is_sent(
    browser, model_path, ravdess_root
):
    from _serve_helpers import running_server
    from selenium.webdriver.common.by import By

    from sersk.serve import create_app

    with running_server(create_app(model_path, max_bytes=50_000)) as url:
        browser.get(url + "/")
        browser.find_element(By.ID, "file").send_keys(str(ravdess_root / UPLOAD))
        assert _wait_for_result(browser) == "error"
        error = browser.find_element(By.ID, "error").text
    assert error.startswith("413: 03-01-05-02-01-01-03.wav is too large"), error
    assert "at most 50000 bytes" in error


def test_recording_from_the_microphone_is_analysed(page):
    import time

    from selenium.webdriver.common.by import By

    record = page.find_element(By.ID, "record")
    record.click()
    time.sleep(1.5)  # Chromium's fake microphone plays a beep meanwhile
    assert "Stop" in record.text, page.find_element(By.ID, "error").text
    record.click()
    assert _wait_for_result(page) == "done", page.find_element(By.ID, "error").text
    duration = float(page.find_element(By.ID, "duration").text.split()[0])
    assert 1.0 <= duration <= 10.0
    assert page.find_element(By.ID, "status").text.startswith("recording.wav:")
