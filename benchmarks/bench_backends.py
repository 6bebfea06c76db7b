"""librosa vs torch backend of each feature transformer, and the classic vector.

The measurements behind ``backend="auto"`` (issue 5): for each transformer,
``backend="librosa"`` and ``backend="torch"`` (``device="cpu"``, or
``--device cuda``) on the same synthetic batch in the same run, medians of
``--repeats`` runs, with the largest difference between the two backends.
Then the classic six-feature vector: the FeatureUnion of librosa-backend
transformers, the FeatureUnion with ``backend="auto"`` and
:class:`~sersk.features.ClassicFeatures` (one shared STFT).

BLAS is limited to ``--blas-threads`` threads (default: no limit, what a
user gets). Run it under ``nice`` on a shared machine::

    nice -n 10 python benchmarks/bench_backends.py --n-clips 200 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np


def synthetic_clips(n_clips, duration, sr=16000, seed=0):
    """Harmonic tones with vibrato and an envelope, plus a noise floor."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    X = np.empty((n_clips, n), dtype=np.float32)
    for i in range(n_clips):
        f0 = rng.uniform(90, 300) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        y = sum(np.sin(k * phase) / k for k in range(1, 9))
        env = 0.5 * (1 - np.cos(2 * np.pi * t / duration))
        X[i] = rng.uniform(0.05, 0.3) * env * y + 0.005 * rng.normal(size=n)
    return X


def timed(fn, repeats):
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls), statistics.median(cpus), out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=200)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--blas-threads", type=int, default=None)
    args = parser.parse_args(argv)

    from sklearn.base import clone

    from sersk.features import (
        MFCC,
        RMS,
        Chroma,
        ClassicFeatures,
        MelSpectrogram,
        SpectralContrast,
        ZeroCrossingRate,
        make_classic_features,
    )
    from sersk.features._compute import resolve_backend

    limits = contextlib.nullcontext()
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=args.blas_threads)
    X = synthetic_clips(args.n_clips, args.duration)
    print(
        f"# {args.n_clips} clips x {args.duration:g} s, torch on {args.device}, "
        f"medians of {args.repeats} runs (wall s / CPU s)"
    )
    with limits:
        for est in [
            MelSpectrogram(),
            MFCC(),
            Chroma(),
            Chroma(tuning=None),
            SpectralContrast(),
            ZeroCrossingRate(),
            RMS(),
        ]:
            lib = clone(est).set_params(backend="librosa")
            tor = clone(est).set_params(backend="torch", device=args.device)
            w_l, c_l, out_l = timed(lambda e=lib: e.transform(X), args.repeats)
            w_t, c_t, out_t = timed(lambda e=tor: e.transform(X), args.repeats)
            name = type(est).__name__ + (
                "(tuning=None)" if getattr(est, "tuning", 0.0) is None else ""
            )
            print(
                f"{name:<22} librosa {w_l:6.2f} / {c_l:6.2f}  torch {w_t:6.2f} / "
                f"{c_t:6.2f}  speed-up wall x{w_l / w_t:5.2f}  "
                f"max|diff| {float(np.abs(out_l - out_t).max()):.1e}  "
                f"auto -> {resolve_backend(est)[0]}"
            )
        union_l = make_classic_features(backend="librosa")
        union_a = make_classic_features(device=args.device)
        shared = ClassicFeatures(device=args.device)
        w_l, _, ref = timed(lambda: union_l.fit_transform(X), args.repeats)
        w_a, _, out_a = timed(lambda: union_a.fit_transform(X), args.repeats)
        w_s, _, out_s = timed(lambda: shared.fit_transform(X), args.repeats)
        n = args.n_clips
        print(
            f"classic vector (ms/clip): FeatureUnion librosa {1e3 * w_l / n:.2f}, "
            f"FeatureUnion auto {1e3 * w_a / n:.2f}, ClassicFeatures {1e3 * w_s / n:.2f} "
            f"(x{w_l / w_s:.2f} vs librosa union, x{w_a / w_s:.2f} vs auto union); "
            f"max|diff| vs librosa union: auto {float(np.abs(out_a - ref).max()):.1e}, "
            f"shared {float(np.abs(out_s - ref).max()):.1e}"
        )


if __name__ == "__main__":
    main()
