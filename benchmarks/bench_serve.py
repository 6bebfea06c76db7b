"""Latency of ``sersk serve`` under a bounded concurrent load (issue 17).

Starts the web app of ``sersk serve`` (:func:`sersk.serve.create_app` on
uvicorn, in this process, on a free loopback port) around a model, then sends
``--requests`` ``POST /api/predict`` requests (multipart uploads of one WAV
file) from ``--threads`` client threads, each on its own keep-alive
connection, and prints the latency percentiles (p50, p95, max), the
throughput and the number of failed requests.

The model is a model file given with ``--model``, or else an SVM on classic
features trained here on 16 RAVDESS files (2 actors, 4 emotions; the same
recipe as the browser test). The uploaded file is ``--file``, or else one
RAVDESS sentence (about 3.5 s, 110 KB). The timeline uses the server's
default segmentation (``--segments vad``) unless told otherwise. The client
threads run in the same process as the server and share its cores: on a
small machine the numbers include that contention. Run it under ``nice`` on
a shared machine and read it as an order of magnitude.

Usage::

    nice -n 5 python benchmarks/bench_serve.py
    python benchmarks/bench_serve.py --requests 200 --threads 8 --workers 2
    python benchmarks/bench_serve.py --model ravdess-svm.sersk --file talk.wav
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

DEFAULT_RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
EMOTIONS = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry"}


def train_model(root, folder):
    from sersk import save_model
    from sersk.pipelines import make_svm_pipeline

    files, labels = [], []
    for actor in ("01", "02"):
        for code, emotion in EMOTIONS.items():
            for sentence in ("01", "02"):
                name = f"03-01-{code}-01-{sentence}-01-{actor}.wav"
                files.append(str(root / f"Actor_{actor}" / name))
                labels.append(emotion)
    pipe = make_svm_pipeline(probability=True, n_mfcc=20, n_mels=64, random_state=0)
    pipe.fit(files, labels)
    path = Path(folder) / "bench-svm.sersk"
    save_model(pipe, path, metadata={"model": "svm", "corpus": "ravdess"})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_RAVDESS)
    ap.add_argument("--model", type=Path, help="model file (default: train one)")
    ap.add_argument("--file", type=Path, help="audio file to upload")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--workers", type=int, default=None, help="create_app workers")
    ap.add_argument("--segments", default="vad", help="'vad' or seconds")
    ap.add_argument(
        "--no-spectrogram", action="store_true", help="ask for no spectrogram"
    )
    args = ap.parse_args()

    from _serve_helpers import multipart, running_server
    from threadpoolctl import threadpool_limits

    from sersk.serve import create_app

    tmp = tempfile.mkdtemp(prefix="bench_serve_")
    t0 = time.perf_counter()
    model = args.model or train_model(args.root, tmp)
    trained = time.perf_counter() - t0
    audio = args.file or (args.root / "Actor_03" / "03-01-05-02-01-01-03.wav")
    data = audio.read_bytes()
    segments = args.segments if args.segments == "vad" else float(args.segments)
    workers = args.workers or min(4, os.cpu_count() or 1)
    # as sersk serve does: the cores shared between the workers
    per_worker = max(1, (os.cpu_count() or 1) // workers)
    threadpool_limits(limits=per_worker)
    import torch

    torch.set_num_threads(per_worker)
    app = create_app(model, segments=segments, workers=workers)
    body, ctype = multipart(data, audio.name)
    path = "/api/predict" + ("?spectrogram=false" if args.no_spectrogram else "")

    latencies, failures = [], []
    lock = threading.Lock()
    counts = [args.requests // args.threads] * args.threads
    for i in range(args.requests % args.threads):
        counts[i] += 1

    def client(port, n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        try:
            for _ in range(n):
                t = time.perf_counter()
                try:
                    conn.request(
                        "POST", path, body=body, headers={"Content-Type": ctype}
                    )
                    resp = conn.getresponse()
                    payload = resp.read()
                    ok = resp.status == 200 and "timeline" in json.loads(payload)
                except Exception as exc:  # counted, then a fresh connection
                    ok = False
                    payload = repr(exc).encode()
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if not ok:
                        failures.append(payload[:200])
        finally:
            conn.close()

    with running_server(app) as url:
        port = int(url.rsplit(":", 1)[1])
        client(port, 3)  # warm-up: imports, the VAD network, caches
        latencies.clear()
        failures.clear()
        threads = [threading.Thread(target=client, args=(port, n)) for n in counts if n]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0

    lat = np.array(latencies) * 1000
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"
    )
    print(
        f"model: {model.name}"
        + (f" (trained here in {trained:.1f} s)" if not args.model else "")
    )
    print(
        f"upload: {audio.name} ({len(data) / 1000:.0f} KB), segments={segments!r}, "
        f"spectrogram={'no' if args.no_spectrogram else 'yes'}"
    )
    print(
        f"server: {workers} worker thread(s) x {per_worker} BLAS/torch thread(s); "
        f"clients: {args.threads} threads, {args.requests} requests on loopback"
    )
    print(
        f"latency ms: p50 {np.percentile(lat, 50):.0f}  p95 {np.percentile(lat, 95):.0f}  "
        f"max {lat.max():.0f}  mean {lat.mean():.0f}"
    )
    print(f"throughput: {len(lat) / wall:.1f} requests/s over {wall:.1f} s")
    print(f"failed: {len(failures)} of {len(lat)}")
    for f in failures[:5]:
        print("  ", f)
    return 1 if failures or len(lat) != args.requests else 0


if __name__ == "__main__":
    sys.exit(main())
