"""Downloads against a real HTTP server on 127.0.0.1 serving archives built here."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
import zlib
from pathlib import Path

import pytest

import sersk
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
    release: threading.Event

    def do_GET(self):
        type(self).requests.append(self.path)
        path = self.path.split("?")[0]
        prefix = next((p for p in ("/truncated", "/slow") if path.startswith(p)), "")
        body = type(self).files.get(path.removeprefix(prefix))
        if body is None:
            self.send_error(404, "no such file")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if prefix == "/truncated":
            self.wfile.write(body[: len(body) // 2])  # then hang up
            self.close_connection = True
        elif prefix == "/slow":  # half now, the rest once the test says so
            try:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                type(self).release.wait(60)
                self.wfile.write(body[len(body) // 2 :])
            except OSError:  # the client was killed
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
    release = threading.Event()
    handler = type(
        "Handler", (_Handler,), {"files": files, "requests": [], "release": release}
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, files, handler.requests
    release.set()
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


# -- issue 15 item 10: size cap, pinned checksums, stale partial files, empty
# -- target folder; item 15: the user's umask


def _bomb(n_bytes, name="Actor_01/03-01-01-01-01-01-01.wav"):
    """A small zip whose one member inflates to ``n_bytes`` zeros."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, bytes(n_bytes))
    return buf.getvalue()


def test_zip_bomb_is_refused_before_extracting(server, tmp_path):
    base, files, _ = server
    files["/bomb.zip"] = _bomb(8 << 20)  # about 8 KB expanding to 8 MiB
    assert len(files["/bomb.zip"]) < 100_000
    parent = tmp_path / "dl"
    # default limit: ten times the archive's size, at least 1 MiB
    with pytest.raises(ValueError) as info:
        download_archive(base + "/bomb.zip", parent / "a", progress=False)
    msg = str(info.value)
    assert "8,388,608 bytes" in msg and "limit of 1,048,576 bytes" in msg
    assert f"10 times the archive's {len(files['/bomb.zip']):,} bytes" in msg
    assert os.listdir(parent) == []  # no folder, no .part, no .extracting
    # an explicit limit, in both directions
    with pytest.raises(ValueError, match=r"limit of 1,000 bytes \(max_extracted"):
        download_archive(
            base + "/ravdess.zip",
            parent / "b",
            max_extracted_bytes=1000,
            progress=False,
        )
    assert os.listdir(parent) == []
    out = download_archive(
        base + "/bomb.zip", parent / "c", max_extracted_bytes=8 << 20, progress=False
    )
    assert sum(p.stat().st_size for p in out.rglob("*.wav")) == 8 << 20
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="max_extracted_bytes must be"):
            download_archive(
                base + "/ravdess.zip", parent / "d", max_extracted_bytes=bad
            )


def test_registry_size_limit_reaches_the_download(server, tmp_path, monkeypatch):
    base, files, _ = server
    files["/bomb.zip"] = _bomb(4 << 20, name="wav/03a01Fa.wav")
    monkeypatch.setitem(
        ARCHIVES,
        "emodb",
        RemoteArchive(
            url=base + "/bomb.zip", folder="download", max_extracted_bytes=1 << 20
        ),
    )
    with pytest.raises(ValueError, match="4,194,304 bytes.*limit of 1,048,576"):
        fetch_emodb(data_home=tmp_path, progress=False)
    assert os.listdir(tmp_path / "emodb") == []


def test_members_are_never_written_beyond_their_declared_size(server, tmp_path):
    """A member whose stream inflates beyond the size its headers declare."""
    base, files, _ = server
    data = bytearray(_bomb(1 << 20, name="a.bin"))
    # declare 10 bytes (and their CRC) in the local header and the central
    # directory, keeping the 1 MiB deflate stream
    crc = zlib.crc32(bytes(10))
    for signature, offset in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        at = data.index(signature) + offset
        data[at : at + 4] = struct.pack("<I", crc)
        data[at + 8 : at + 12] = struct.pack("<I", 10)
    files["/liar.zip"] = bytes(data)
    parent = tmp_path / "dl"
    try:
        out = download_archive(
            base + "/liar.zip", parent / "x", max_extracted_bytes=1000, progress=False
        )
    except (OSError, ValueError):
        assert os.listdir(parent) == []
    else:
        assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) <= 10


def test_every_archive_is_pinned_or_bounded():
    for name, archive in ARCHIVES.items():
        assert archive.max_extracted_bytes, name
        if name.startswith("ravdess"):
            assert archive.url.startswith("https://"), name
            algo, digest = archive.checksum.split(":")
            assert algo == "md5" and len(digest) == 32, name
    assert ARCHIVES["ravdess_song"].checksum == "md5:5411230427d67a21e18aa4d466e6d1b9"


def _age(path, seconds=3600):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_partial_files_are_removed_on_the_next_call(server, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    base, _, _ = server
    parent = tmp_path / "dl"
    parent.mkdir()
    stale_part = parent / ".corpus-abcd1234.part"
    stale_part.write_bytes(b"x" * 1000)
    stale_dir = parent / ".corpus-abcd1234.extracting"
    (stale_dir / "Actor_01").mkdir(parents=True)
    (stale_dir / "Actor_01" / "a.wav").write_bytes(b"half")
    orphan_dir = parent / ".corpus-zz99zz99.extracting"  # its .part is gone
    orphan_dir.mkdir()
    fresh = parent / ".corpus-fresh123.part"  # maybe just created: kept
    fresh.write_bytes(b"x")
    held = parent / ".corpus-held1234.part"  # a running download's: kept
    held.write_bytes(b"x")
    held_dir = parent / ".corpus-held1234.extracting"
    held_dir.mkdir()
    others = [parent / ".corpus-extra-abcd1234.part", parent / ".other-abcd1234.part"]
    for path in [stale_part, held, *others]:
        path.touch() if path.exists() else path.write_bytes(b"x")
        _age(path)
    with open(held, "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        download_archive(base + "/ravdess.zip", parent / "corpus", progress=False)
        assert _leftovers(parent) == sorted(
            p.name for p in [fresh, held, held_dir, *others]
        )
        # the target exists now; a later call still cleans up
        _age(fresh)
        download_archive(base + "/ravdess.zip", parent / "corpus", progress=False)
        assert _leftovers(parent) == sorted(p.name for p in [held, held_dir, *others])
    download_archive(base + "/ravdess.zip", parent / "corpus", progress=False)
    assert _leftovers(parent) == sorted(p.name for p in others)
    assert len(list((parent / "corpus").rglob("*.wav"))) == 3


def test_killed_download_leaves_a_part_that_the_next_call_removes(server, tmp_path):
    pytest.importorskip("fcntl")
    base, files, _ = server
    files["/big.zip"] = os.urandom(400_000)
    parent = tmp_path / "dl"
    target = parent / "corpus"
    code = (
        "import sys\n"
        "from sersk.datasets import download_archive\n"
        "download_archive(sys.argv[1], sys.argv[2], progress=False, n_retries=0)\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(sersk.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, base + "/slow/big.zip", str(target)], env=env
    )
    try:
        deadline = time.monotonic() + 60
        parts = []
        while not parts or parts[0].stat().st_size < 1 << 16:
            assert proc.poll() is None, "the download ended before it was killed"
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
            parts = list(parent.glob(".corpus-*.part")) if parent.is_dir() else []
        (part,) = parts
        # while the download runs, another call downloads beside it and
        # leaves its .part alone, however old
        _age(part)
        download_archive(base + "/ravdess.zip", target, progress=False)
        assert part.exists() and len(list(target.rglob("*.wav"))) == 3
        proc.kill()  # SIGKILL: no finally clause runs
        proc.wait(timeout=30)
        assert part.exists()
        _age(part)
        download_archive(base + "/ravdess.zip", target, progress=False)
        assert _leftovers(parent) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_empty_target_folder_does_not_block_fetch(server, tmp_path, monkeypatch):
    base, files, requests = server
    monkeypatch.setitem(
        ARCHIVES,
        "ravdess_speech",
        RemoteArchive(
            url=base + "/ravdess.zip",
            folder="Audio_Speech_Actors_01-24",
            checksum=_md5(files["/ravdess.zip"]),
        ),
    )
    folder = tmp_path / "ravdess" / "Audio_Speech_Actors_01-24"
    folder.mkdir(parents=True)  # made by hand, or an unzip that failed
    ds = fetch_ravdess(data_home=tmp_path, progress=False)
    assert len(ds.data) == 3 and all(p.startswith(str(folder)) for p in ds.data)
    assert len(load_ravdess(data_home=tmp_path, download_if_missing=True).data) == 3
    assert requests == ["/ravdess.zip"]  # a filled folder is not downloaded again
    assert _leftovers(tmp_path / "ravdess") == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_extracted_corpus_gets_the_users_umask(server, tmp_path, umask):
    base, _, _ = server
    old = os.umask(umask)
    try:
        out = download_archive(base + "/ravdess.zip", tmp_path / "c", progress=False)
    finally:
        os.umask(old)
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    wavs = list(out.rglob("*.wav"))
    assert len(folders) == 3 and len(wavs) == 3
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {
        oct(0o777 & ~umask)
    }
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in wavs} == {oct(0o666 & ~umask)}


class _EndlessHandler(http.server.BaseHTTPRequestHandler):
    """Sends zeros without a Content-Length until the client hangs up."""

    sent: list = []

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        if self.path == "/announced":
            self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        chunk = b"\0" * 65536
        try:
            for _ in range(1024):  # at most 64 MiB, far past the test's limit
                self.wfile.write(chunk)
                type(self).sent.append(len(chunk))
        except OSError:  # the client stopped reading
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_endless_download_is_stopped_at_its_limit(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EndlessHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        for path, match in (
            ("/endless", "sent more than"),
            ("/announced", "announces"),
        ):
            with pytest.raises(ValueError, match=match):
                download_archive(
                    base + path,
                    tmp_path / "corpus",
                    max_download_bytes=1 << 20,
                    progress=False,
                    n_retries=2,
                    delay=0,
                )
            assert _leftovers(tmp_path) == []  # no .part, no extraction folder
            assert not (tmp_path / "corpus").exists()
        # stopped at the limit: far less than the 64 MiB the server offers
        assert sum(_EndlessHandler.sent) < 32 << 20
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_registry_download_limits():
    for name, archive in ARCHIVES.items():
        assert archive.max_download_bytes is not None, name
        if archive.size is not None:
            assert archive.max_download_bytes >= archive.size, name
