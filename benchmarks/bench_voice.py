"""Speed of VoiceFunctionals against the default SVM feature step.

Clips per second on RAVDESS files (``--n-clips`` of them, evenly spread over
the corpus, file paths in) for

- ``default``: ``make_svm_pipeline()[:-2]``, the feature step of sersk's
  default SVM recipe (loading with silence trimming, the classic features
  and their statistics, standard scaling);
- ``voice``: ``VoiceFunctionals()`` on the same paths (loading included);
- ``voice: prosody`` and ``voice: functionals``: the two parts of ``voice``
  on waveforms already in memory (Prosody's kernel at ``hop_length=160``,
  then everything else), to show where the time goes.

Best of ``--repeats`` runs, one thread each (BLAS/OpenMP via threadpoolctl,
``torch.set_num_threads``) unless ``--threads`` says otherwise. Run it under
``nice`` on a shared machine::

    nice -n 5 python benchmarks/bench_voice.py --n-clips 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ravdess",
        default=str(Path(__file__).resolve().parents[2] / "shared/data/ravdess"),
    )
    parser.add_argument("--n-clips", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    from sersk.features import AudioLoader, VoiceFunctionals
    from sersk.features._prosody import prosody_frames
    from sersk.features._voice import _sizes, voice_functionals
    from sersk.pipelines import make_svm_pipeline

    paths = sorted(str(p) for p in Path(args.ravdess).glob("Actor_*/*.wav"))
    if not paths:
        raise SystemExit(f"No RAVDESS files under {args.ravdess}; pass --ravdess.")
    paths = [paths[i] for i in np.linspace(0, len(paths) - 1, args.n_clips).astype(int)]
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        waves = AudioLoader(sr=16000).transform(paths)
        seconds = sum(len(y) for y in waves) / 16000
        default, voice = make_svm_pipeline()[:-2], VoiceFunctionals()
        default.fit_transform(paths[:4])  # imports, caches
        voice.fit_transform(paths[:4])
        sz = _sizes(16000, 60.0, 500.0)

        def prosody_only():
            for y in waves:
                prosody_frames(
                    y[None], 16000, sz["prosody"], 160, 60.0, 500.0, 0.45, 40.0
                )

        rows = [
            ("default", best_of(lambda: default.fit_transform(paths), args.repeats)),
            ("voice", best_of(lambda: voice.fit_transform(paths), args.repeats)),
            ("voice: prosody", best_of(prosody_only, args.repeats)),
        ]
        full = best_of(
            lambda: [
                voice_functionals(y[None], 16000, 160, 60.0, 500.0, 0.45, 40.0)
                for y in waves
            ],
            args.repeats,
        )
        rows.append(("voice: functionals", full - rows[2][1]))
    n = len(paths)
    print(f"{n} RAVDESS clips, {seconds:.0f} s of audio, {args.threads} thread(s)")
    print(f"{'step':<22}{'seconds':>9}{'clips/s':>9}{'x realtime':>12}")
    for name, t in rows:
        print(f"{name:<22}{t:9.2f}{n / t:9.1f}{seconds / t:12.0f}")


if __name__ == "__main__":
    main()
