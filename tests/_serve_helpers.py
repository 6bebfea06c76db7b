"""Helpers of the web app tests: a real uvicorn server in a thread, HTTP calls."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
import uuid
from urllib.parse import urlsplit


@contextlib.contextmanager
def running_server(app):
    """Run ``app`` with uvicorn on a free loopback port; yield its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the test server did not start within 30 s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive(), "the test server did not stop within 30 s"


def multipart(data, filename="clip.wav", field="file", ctype="audio/wav"):
    """A multipart/form-data body holding one file; returns (body, content type)."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {ctype}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + data + tail, f"multipart/form-data; boundary={boundary}"


def request(url, method="GET", path="/", body=None, headers=None, conn=None):
    """One HTTP request; returns (status, parsed JSON or text, headers)."""
    parts = urlsplit(url)
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        ctype = resp.getheader("content-type", "")
        content = json.loads(raw) if "json" in ctype else raw.decode("utf-8")
        return resp.status, content, dict(resp.getheaders())
    finally:
        if own:
            conn.close()


def post_file(url, data, filename="clip.wav", path="/api/predict", conn=None):
    body, ctype = multipart(data, filename)
    return request(
        url, "POST", path, body=body, headers={"Content-Type": ctype}, conn=conn
    )
