"""Memory of StreamingPredictor over a long stream (issue 17, item 2).

A synthetic conversation of ``--minutes`` minutes (clips of
``make_emotional_speech`` with pauses of 0.2-2 s, and runs of six clips
without a pause, longer than ``max_duration``, which are split; quiet noise
throughout) is generated block by block at ``--sr`` and pushed into a
:class:`~sersk.segmentation.StreamingPredictor` in chunks of random sizes
(10-500 ms), as a microphone would deliver it. Nothing of the stream is kept
by this script. After every ``--every`` minutes it prints the Python memory
in use and its peak (tracemalloc: numpy buffers included, torch's own
allocator not), the resident set size (RSS, from /proc; all of it), the
audio held by the predictor and the predictions so far.

Flat columns mean bounded memory. Run it under ``nice`` on a shared machine::

    nice -n 10 python benchmarks/bench_streaming.py --minutes 30
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import numpy as np


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--sr", type=int, default=44100, help="rate of the stream")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sersk.datasets import make_emotional_speech
    from sersk.features import MFCC, AudioLoader, TimePooling
    from sersk.io import resample
    from sersk.segmentation import SpeechSegmenter, StreamingPredictor

    torch.set_num_threads(1)
    emotions = ("neutral", "happy", "sad", "angry")
    X, y, _ = make_emotional_speech(
        120, emotions=emotions, n_speakers=6, duration=2.0, random_state=args.seed
    )
    model = make_pipeline(
        AudioLoader(sr=16000),
        MFCC(n_mfcc=20),
        TimePooling(),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    ).fit(X, y)
    clips = [resample(x, orig_sr=16000, target_sr=args.sr) for x in X[:40]]
    seg = SpeechSegmenter(max_duration=10.0)
    stream = StreamingPredictor(model, sr=args.sr, segmenter=seg)
    rng = np.random.default_rng(args.seed)

    def pieces():
        k = 0
        while True:
            yield clips[int(rng.integers(len(clips)))]
            if k % 10 < 5:  # then six clips in a row: about 12 s of speech
                gap = int(rng.uniform(0.2, 2.0) * args.sr)
                yield np.zeros(gap, dtype=np.float32)
            k += 1

    source = pieces()
    pending = np.zeros(0, dtype=np.float32)
    total = int(args.minutes * 60 * args.sr)
    report_every = int(args.every * 60 * args.sr)
    pushed = n_pred = held_max = 0
    next_report = report_every
    print(
        f"{args.minutes:g} min at {args.sr} Hz, chunks of 10-500 ms, "
        f"max_duration={seg.max_duration:g} s\n"
    )
    print("| minutes | predictions | audio held (s), max | Python in use (MB) "
          "| Python peak (MB) | RSS (MB) | wall (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    while pushed < total:
        n = int(rng.uniform(0.01, 0.5) * args.sr)
        while len(pending) < n:
            pending = np.concatenate([pending, next(source)])
        chunk = pending[:n] + (3e-4 * rng.standard_normal(n)).astype(np.float32)
        pending = pending[n:]
        n_pred += len(stream.push(chunk))
        held_max = max(held_max, len(stream._buf) / stream._msr)
        pushed += n
        if pushed >= next_report:
            gc.collect()
            now, peak = tracemalloc.get_traced_memory()
            print(
                f"| {pushed / args.sr / 60:5.1f} | {n_pred} | {held_max:.1f} | "
                f"{now / 2**20:.2f} | {peak / 2**20:.2f} | {rss_mb():.0f} | "
                f"{time.perf_counter() - t0:.0f} |",
                flush=True,
            )
            next_report += report_every
    n_pred += len(stream.flush())
    tracemalloc.stop()
    wall = time.perf_counter() - t0
    print(
        f"\n{n_pred} predictions; {args.minutes * 60 / wall:.0f} s of audio per "
        "second of wall time (resampling, VAD and model together, one thread)"
    )


if __name__ == "__main__":
    main()
