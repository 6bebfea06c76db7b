"""Speed of sersk's feature transformers and AudioLoader (issue 2, "Speed").

1. Log-mel (n_fft 2048, hop 512, 128 mels, power_to_db) and MFCC-40 on
   ``--n-clips`` synthetic clips of ``--duration`` s at 16 kHz: the batched
   transformers against the naive per-clip librosa loop, in the same run.
   Prints the ratio (naive time / transformer time; > 1 means the
   transformer is faster) and seconds of audio processed per CPU-second.
2. AudioLoader throughput on real RAVDESS files (16 kHz -> 22.05 kHz
   resampling) with n_jobs=1 and n_jobs=2.

Times are medians over ``--repeats`` runs; CPU time is ``time.process_time``
(all threads of this process), wall time ``time.perf_counter``. BLAS is
limited to ``--blas-threads`` threads (default 1) for a like-for-like
comparison. Run it under ``nice`` on a shared machine::

    nice -n 10 python benchmarks/bench_features.py --n-clips 600 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np


def synthetic_clips(n_clips, duration, sr, seed=0):
    """Harmonic tones with vibrato and an amplitude envelope, plus noise."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    X = np.empty((n_clips, n), dtype=np.float32)
    for i in range(n_clips):
        f0 = rng.uniform(90, 300) * (
            1 + 0.03 * np.sin(2 * np.pi * rng.uniform(3, 7) * t)
        )
        phase = 2 * np.pi * np.cumsum(f0) / sr
        y = sum(np.sin(k * phase) / k for k in range(1, 9))
        env = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t / duration, 1)))
        y = rng.uniform(0.05, 0.3) * env * y + 0.005 * rng.normal(size=n)
        X[i] = y
    return X


def timed(fn, repeats):
    cpu, wall = [], []
    out = None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall), out


def bench_features(args):
    import librosa

    from sersk.features import MFCC, MelSpectrogram

    sr = 16000
    X = synthetic_clips(args.n_clips, args.duration, sr)
    audio_s = args.n_clips * args.duration
    print(
        f"# features: {args.n_clips} clips x {args.duration} s at {sr} Hz "
        f"({audio_s:.0f} s of audio), median of {args.repeats} runs"
    )

    def naive_logmel():
        return [
            librosa.power_to_db(
                librosa.feature.melspectrogram(
                    y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128
                )
            )
            for y in X
        ]

    def naive_mfcc():
        return [
            librosa.feature.mfcc(
                y=y, sr=sr, n_mfcc=40, n_fft=2048, hop_length=512, n_mels=128
            )
            for y in X
        ]

    mel = MelSpectrogram(sr=sr, n_fft=2048, hop_length=512, n_mels=128)
    mfcc = MFCC(sr=sr, n_mfcc=40, n_fft=2048, hop_length=512, n_mels=128)
    cases = [
        ("log-mel", naive_logmel, lambda: mel.transform(X)),
        ("MFCC-40", naive_mfcc, lambda: mfcc.transform(X)),
    ]
    # warm up caches (filter banks, FFT plans, librosa's numba/JIT paths)
    mel.transform(X[:2])
    mfcc.transform(X[:2])
    librosa.feature.mfcc(y=X[0], sr=sr, n_mfcc=40)
    for name, naive, ours in cases:
        c_n, w_n, ref = timed(naive, args.repeats)
        c_o, w_o, out = timed(ours, args.repeats)
        err = float(np.max(np.abs(out - np.stack(ref))))
        print(
            f"{name:8s} naive loop: cpu {c_n:7.2f} s  wall {w_n:7.2f} s  "
            f"({audio_s / c_n:8.0f} audio-s/CPU-s)"
        )
        print(
            f"{name:8s} sersk     : cpu {c_o:7.2f} s  wall {w_o:7.2f} s  "
            f"({audio_s / c_o:8.0f} audio-s/CPU-s)  speed-up cpu x{c_n / c_o:.2f} "
            f"wall x{w_n / w_o:.2f}  max|diff| {err:.2e}"
        )


def bench_loader(args):
    from sersk.features import AudioLoader

    root = Path(args.ravdess)
    paths = sorted(root.glob("Actor_*/*.wav"))[: args.n_files]
    if not paths:
        print(f"# loader: no RAVDESS files under {root}; skipped")
        return
    import soundfile as sf

    audio_s = sum(sf.info(p).duration for p in paths)
    print(
        f"# AudioLoader: {len(paths)} RAVDESS files ({audio_s:.0f} s of audio), "
        f"16 kHz -> 22050 Hz, duration=None, median of {args.repeats} runs"
    )
    AudioLoader(sr=22050).transform(paths[:2])  # warm-up
    for n_jobs in (1, 2):
        loader = AudioLoader(sr=22050, n_jobs=n_jobs)
        c, w, _ = timed(lambda loader=loader: loader.transform(paths), args.repeats)
        print(
            f"AudioLoader n_jobs={n_jobs}: cpu {c:6.2f} s  wall {w:6.2f} s  "
            f"{len(paths) / w:7.1f} files/s  {audio_s / w:7.0f} audio-s/wall-s  "
            f"{audio_s / c:7.0f} audio-s/CPU-s"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "ravdess",
        nargs="?",
        default=os.environ.get(
            "SERSK_RAVDESS",
            str(Path(__file__).resolve().parents[2] / "shared/data/ravdess"),
        ),
        help="RAVDESS root (folder holding Actor_01 ...)",
    )
    parser.add_argument("--n-clips", type=int, default=600)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--n-files", type=int, default=480, help="RAVDESS files to load"
    )
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--skip-features", action="store_true")
    parser.add_argument("--skip-loader", action="store_true")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.blas_threads):
        if not args.skip_features:
            bench_features(args)
        if not args.skip_loader:
            bench_loader(args)


if __name__ == "__main__":
    main()
