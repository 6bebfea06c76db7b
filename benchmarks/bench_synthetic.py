"""Generation speed and difficulty of ``make_emotional_speech`` (issue 2, item 7).

1. Time to generate ``--n-samples`` clips of ``--duration`` s at 16 kHz
   (median over ``--repeats``; wall time ``time.perf_counter`` and CPU time
   ``time.process_time``).
2. Difficulty: librosa MFCC-40 mean+std per clip -> StandardScaler -> SVC,
   scored by speaker-independent 5-fold CV (GroupKFold by speaker) and by a
   random stratified 5-fold split, for each seed in ``--seeds``. The generator
   is meant to be learnable but not trivial: clearly above chance (1/6 for
   the six default emotions) and clearly below 100 % speaker-independently.

Run it under ``nice`` on a shared machine::

    nice -n 10 python benchmarks/bench_synthetic.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import statistics
import time

import librosa
import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.datasets import make_emotional_speech


def mfcc_stats(X, sr):
    mfcc = librosa.feature.mfcc(y=X, sr=sr, n_mfcc=40)
    return np.concatenate([mfcc.mean(axis=-1), mfcc.std(axis=-1)], axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=600)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--n-speakers", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args(argv)
    sr = 16000
    kwargs = dict(n_speakers=args.n_speakers, duration=args.duration, sr=sr)

    walls, cpus = [], []
    for r in range(args.repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        make_emotional_speech(args.n_samples, random_state=r, **kwargs)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    audio_s = args.n_samples * args.duration
    print(
        f"generation: {args.n_samples} x {args.duration:g} s clips: "
        f"wall {statistics.median(walls):.2f} s, CPU {statistics.median(cpus):.2f} s "
        f"({audio_s / statistics.median(cpus):.0f} s of audio per CPU-second)"
    )

    speaker_scores, random_scores = [], []
    for seed in args.seeds:
        X, y, groups = make_emotional_speech(
            args.n_samples, random_state=seed, **kwargs
        )
        features = mfcc_stats(X, sr)
        clf = make_pipeline(StandardScaler(), SVC())
        speaker = cross_val_score(
            clf, features, y, groups=groups, cv=GroupKFold(n_splits=5)
        ).mean()
        shuffled = cross_val_score(
            clf,
            features,
            y,
            cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0),
        ).mean()
        speaker_scores.append(speaker)
        random_scores.append(shuffled)
        print(
            f"seed {seed}: accuracy speaker-independent (GroupKFold 5) "
            f"{speaker:.3f}, random split (StratifiedKFold 5) {shuffled:.3f}"
        )
    n_classes = len(np.unique(y))
    print(
        f"mean over {len(args.seeds)} seeds: speaker-independent "
        f"{np.mean(speaker_scores):.3f} (min {min(speaker_scores):.3f}, max "
        f"{max(speaker_scores):.3f}), random split {np.mean(random_scores):.3f}; "
        f"chance {1 / n_classes:.3f}"
    )


if __name__ == "__main__":
    main()
