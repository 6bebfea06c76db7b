"""Downloads against a real HTTP server on 127.0.0.1 serving archives built here."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import threading
import urllib.request
import zipfile

import pytest

from sersk.datasets import (
    ARCHIVES,
    RemoteArchive,
    download_archive,
    fetch_emodb,
    fetch_ravdess,
    load_ravdess,
)
from sersk.exceptions import DatasetNotFoundError

RAVDESS_NAMES = [
    "Actor_01/03-01-01-01-01-01-01.wav",
    "Actor_01/03-01-05-02-01-01-01.wav",
    "Actor_02/03-01-03-01-02-02-02.wav",
]


def _zip_bytes(wav_bytes, names):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            zf.writestr(name, wav_bytes)
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    requests: list = []

    def do_GET(self):
        type(self).requests.append(self.path)
        path = self.path.split("?")[0]
        body = type(self).files.get(path.removeprefix("/truncated"))
        if body is None:
            self.send_error(404, "no such file")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if path.startswith("/truncated"):
            self.wfile.write(body[: len(body) // 2])  # then hang up
            self.close_connection = True
        else:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(write_wav):
    """A threaded HTTP server on 127.0.0.1 serving zips built from real WAVs."""
    wav = write_wav("tone.wav", seconds=0.05).read_bytes()
    files = {
        "/ravdess.zip": _zip_bytes(wav, RAVDESS_NAMES),
        "/emodb.zip": _zip_bytes(wav, ["wav/03a01Fa.wav", "wav/08a02Wb.wav"]),
        "/garbage.zip": b"this is not a zip archive" * 40,
        "/evil.zip": _zip_bytes(wav, ["../evil.wav"]),
    }
    handler = type("Handler", (_Handler,), {"files": files, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, files, handler.requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _md5(data):
    return "md5:" + hashlib.md5(data).hexdigest()


def _closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/ravdess.zip"


def _leftovers(folder):
    return sorted(p for p in os.listdir(folder) if p.startswith("."))


def test_download_archive_verifies_and_extracts(server, tmp_path):
    base, files, requests = server
    target = tmp_path / "home" / "corpus"
    sha = "sha256:" + hashlib.sha256(files["/ravdess.zip"]).hexdigest()
    out = download_archive(
        base + "/ravdess.zip", target, checksum=sha.upper(), progress=False
    )
    assert out == target
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*.wav")) == sorted(
        RAVDESS_NAMES
    )
    assert _leftovers(target.parent) == []
    # an existing target is not downloaded again
    download_archive(base + "/ravdess.zip", target, progress=False)
    assert requests == ["/ravdess.zip"]


def test_fetch_ravdess_downloads_once_then_loads(server, tmp_path, monkeypatch):
    base, files, requests = server
    monkeypatch.setitem(
        ARCHIVES,
        "ravdess_speech",
        RemoteArchive(
            url=base + "/ravdess.zip?download=1",
            folder="Audio_Speech_Actors_01-24",
            checksum=_md5(files["/ravdess.zip"]),
        ),
    )
    ds = fetch_ravdess(data_home=tmp_path, progress=False)
    assert len(ds.data) == 3 and set(ds.groups) == {"ravdess_01", "ravdess_02"}
    root = tmp_path / "ravdess" / "Audio_Speech_Actors_01-24"
    assert all(p.startswith(str(root)) for p in ds.data)
    assert _leftovers(tmp_path / "ravdess") == []
    again = fetch_ravdess(data_home=tmp_path, emotions=["angry"], progress=False)
    assert list(again.target) == ["angry"]
    assert len(requests) == 1
    # the plain loader finds it under data_home too, without downloading
    assert len(load_ravdess(data_home=tmp_path).data) == 3
    with pytest.raises(DatasetNotFoundError, match="not found"):
        fetch_ravdess(data_home=tmp_path / "other", download_if_missing=False)


def test_load_ravdess_download_if_missing_into_root(server, tmp_path, monkeypatch):
    base, files, _ = server
    monkeypatch.setitem(
        ARCHIVES,
        "ravdess_speech",
        RemoteArchive(url=base + "/ravdess.zip", folder="speech", checksum=None),
    )
    with pytest.raises(DatasetNotFoundError):
        load_ravdess(root=tmp_path / "r")
    ds = load_ravdess(root=tmp_path / "r", download_if_missing=True)
    assert len(ds.data) == 3 and (tmp_path / "r" / "speech").is_dir()


def test_checksum_mismatch_leaves_nothing(server, tmp_path, monkeypatch):
    base, _, _ = server
    monkeypatch.setitem(
        ARCHIVES,
        "ravdess_speech",
        RemoteArchive(
            url=base + "/ravdess.zip", folder="speech", checksum="md5:" + "0" * 32
        ),
    )
    with pytest.raises(OSError, match="Checksum mismatch.*expected md5 0000"):
        fetch_ravdess(data_home=tmp_path, progress=False)
    assert os.listdir(tmp_path / "ravdess") == []
    # nothing half-installed that a later call would load silently
    with pytest.raises(DatasetNotFoundError):
        load_ravdess(data_home=tmp_path)


def test_interrupted_download_leaves_nothing(server, tmp_path):
    base, _, requests = server
    tmp_path = tmp_path / "dl"
    target = tmp_path / "corpus"
    with pytest.raises(OSError, match="incomplete download") as info:
        download_archive(
            base + "/truncated/ravdess.zip",
            target,
            progress=False,
            n_retries=1,
            delay=0,
        )
    assert not isinstance(info.value, DatasetNotFoundError)
    assert not target.exists() and os.listdir(tmp_path) == []
    assert len(requests) == 2  # retried once


def test_corrupt_and_unsafe_archives_are_rejected(server, tmp_path):
    base, _, _ = server
    tmp_path = tmp_path / "dl"
    with pytest.raises(OSError, match="not a valid zip"):
        download_archive(base + "/garbage.zip", tmp_path / "a", progress=False)
    with pytest.raises(OSError, match="outside"):
        download_archive(base + "/evil.zip", tmp_path / "b", progress=False)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="md5:<hex>"):
        download_archive(base + "/ravdess.zip", tmp_path / "c", checksum="abc")


def test_offline_error_gives_manual_instructions(tmp_path, monkeypatch):
    monkeypatch.setitem(
        ARCHIVES,
        "ravdess_speech",
        RemoteArchive(
            url=_closed_port_url(),
            folder="Audio_Speech_Actors_01-24",
            page="https://zenodo.org/records/1188976",
        ),
    )
    with pytest.raises(DatasetNotFoundError) as info:
        fetch_ravdess(data_home=tmp_path, n_retries=1, delay=0, progress=False)
    msg = str(info.value)
    assert "Could not download" in msg and "internet connection" in msg
    assert "zenodo.org/records/1188976" in msg
    assert str(tmp_path / "ravdess" / "Audio_Speech_Actors_01-24") in msg
    assert os.listdir(tmp_path / "ravdess") == []


def test_http_error_is_not_retried(server, tmp_path):
    base, _, requests = server
    with pytest.raises(DatasetNotFoundError, match="404"):
        download_archive(base + "/nope.zip", tmp_path / "x", progress=False, delay=0)
    assert requests == ["/nope.zip"]


def test_fetch_emodb(server, tmp_path, monkeypatch):
    base, _, _ = server
    monkeypatch.setitem(
        ARCHIVES, "emodb", RemoteArchive(url=base + "/emodb.zip", folder="download")
    )
    ds = fetch_emodb(data_home=tmp_path, progress=False)
    assert sorted(ds.target) == ["angry", "happy"]
    assert (tmp_path / "emodb" / "download" / "wav").is_dir()


def test_fetch_params_are_validated(tmp_path):
    with pytest.raises(ValueError, match="'vocal_channel' parameter of fetch_ravdess"):
        fetch_ravdess(data_home=tmp_path, vocal_channel="video")


@pytest.mark.network
def test_real_ravdess_url_answers_with_the_expected_size():
    archive = ARCHIVES["ravdess_speech"]
    req = urllib.request.Request(
        archive.url, method="HEAD", headers={"User-Agent": "sersk"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == 208_468_073


@pytest.mark.network
def test_real_emodb_url_answers():
    req = urllib.request.Request(
        ARCHIVES["emodb"].url, method="HEAD", headers={"User-Agent": "sersk"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def test_vocal_channel_all_downloads_only_the_missing_archive(
    server, tmp_path, monkeypatch, write_wav
):
    base, files, requests = server
    wav = write_wav("song.wav", seconds=0.05).read_bytes()
    files["/song.zip"] = _zip_bytes(wav, ["Actor_01/03-02-03-01-01-01-01.wav"])
    for channel, url in (("speech", "/ravdess.zip"), ("song", "/song.zip")):
        monkeypatch.setitem(
            ARCHIVES,
            f"ravdess_{channel}",
            RemoteArchive(url=base + url, folder=f"{channel}_archive"),
        )
    root = tmp_path / "ravdess"
    (root / "Actor_01").mkdir(parents=True)  # speech already there, unpacked by hand
    (root / "Actor_01" / "03-01-01-01-01-01-01.wav").write_bytes(wav)
    ds = load_ravdess(root=root, vocal_channel="all", download_if_missing=True)
    assert requests == ["/song.zip"]
    assert ds.frame.vocal_channel.value_counts().to_dict() == {"speech": 1, "song": 1}
