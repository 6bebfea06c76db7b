"""Speed and RAVDESS accuracy of sersk's deep classifiers (issue 4, issue 5 item 4).

Speed: training samples/s and inference ms/clip on CPU for each model on
random log-mel-shaped inputs (128 x 126 frames = 4 s at 16 kHz, hop 512),
through the sersk estimators (skorch loop included), fp32 and bf16.

Accuracy: 5-fold speaker-independent CV on RAVDESS speech (GroupKFold by
actor, 8 emotions), accuracy and UAR (balanced accuracy). Each fitted model
also predicts its test fold in the other precision (same weights), which
isolates the numerical effect of bf16 inference from training randomness. Log-mels are
computed once with sersk.features (AudioLoader -> MelSpectrogram) and cached
in /tmp. Each fold trains with early stopping on a validation part made of
whole training speakers (``fit(..., groups=actors)``).

Examples
--------
python benchmarks/bench_models.py speed --models crnn cnn cnnlstm rnn
nice -n 10 python benchmarks/bench_models.py accuracy --models crnn --epochs 20
nice -n 10 python benchmarks/bench_models.py accuracy --models crnn --precision bf16

Measured 2026-11-22 on the shared 2-core Xeon (AMX/AVX512-BF16), load average
6-9 from other jobs, so absolute figures are pessimistic; ratios come from the
same run.

speed --threads 1 --n-train 64 --n-infer 64 --repeats 3 (128 x 126 log-mel):

  crnn     fp32  2.51M  train  12.4 samples/s  infer  23.93 ms/clip
  crnn     bf16  2.51M  train  29.8 samples/s  infer   5.73 ms/clip
  cnn      fp32  1.95M  train   4.0 samples/s  infer 100.04 ms/clip
  cnn      bf16  1.95M  train  15.9 samples/s  infer  14.54 ms/clip
  cnnlstm  fp32  0.23M  train 425.2 samples/s  infer   0.62 ms/clip
  cnnlstm  bf16  0.23M  train 666.3 samples/s  infer   0.38 ms/clip
  rnn      fp32  0.69M  train  87.0 samples/s  infer   2.73 ms/clip
  rnn      bf16  0.69M  train 181.1 samples/s  infer   1.05 ms/clip

accuracy --n-mels 64 --duration 3.0 --epochs 15 --patience 5 --threads 1
(5-fold GroupKFold by actor, 8 classes; 15 epochs is short: CRNN was still
improving on every fold):

  crnn     bf16  acc 0.447 +- 0.061  UAR 0.437 +- 0.060
  rnn      bf16  acc 0.363 +- 0.032  UAR 0.345 +- 0.031
  cnnlstm  bf16  acc 0.364 +- 0.045  UAR 0.355 +- 0.048
  cnnlstm  fp32  acc 0.341 +- 0.033  UAR 0.326 +- 0.033
  cnn      bf16  acc 0.354 +- 0.052  UAR 0.341 +- 0.046
           (run separately with --epochs 12 --patience 4: early stopping after
           6.4 epochs on average, 537 s for the 5 folds)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = {
    "crnn": "CRNNClassifier",
    "cnn": "CNNClassifier",
    "cnnlstm": "CNNLSTMClassifier",
    "rnn": "RNNClassifier",
}
RAVDESS = Path(
    os.environ.get(
        "SERSK_RAVDESS", Path(__file__).resolve().parents[2] / "shared/data/ravdess"
    )
)


def make_model(name, precision, **params):
    import sersk.models as m

    return getattr(m, MODELS[name])(precision=precision, **params)


def bench_speed(args):
    import torch

    rng = np.random.default_rng(0)
    n = args.n_train
    X = rng.normal(-40, 15, size=(n, args.n_mels, args.n_frames)).astype(np.float32)
    y = np.arange(n) % 8
    Xp = X[: args.n_infer]
    print(
        f"# speed: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"input {args.n_mels} x {args.n_frames}, batch {args.batch_size}, "
        f"{n} training clips/epoch, median of {args.repeats} epochs after 1 warm-up"
    )
    for name in args.models:
        for precision in args.precision:
            clf = make_model(
                name,
                precision,
                max_epochs=1,
                batch_size=args.batch_size,
                train_split=None,
                warm_start=True,
                random_state=0,
            )
            clf.fit(X, y)  # warm-up (allocations, oneDNN primitives)
            durations = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                clf.fit(X, y)
                durations.append(time.perf_counter() - t0)
            train_sps = n / np.median(durations)
            clf.predict_proba(Xp)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                clf.predict_proba(Xp)
                times.append(time.perf_counter() - t0)
            ms = 1000 * np.median(times) / len(Xp)
            n_params = sum(p.numel() for p in clf.module_.parameters())
            print(
                f"{name:8s} {precision:5s} params={n_params / 1e6:.2f}M  "
                f"train {train_sps:7.1f} samples/s   infer {ms:7.2f} ms/clip "
                f"({1000 / ms:7.1f} clips/s)",
                flush=True,
            )


def ravdess_features(args):
    cache = Path(args.cache_dir) / (
        f"sersk_ravdess_logmel_{args.n_mels}_{args.duration:g}s.npz"
    )
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return data["X"], data["y"], data["groups"]
    from sersk.datasets import load_ravdess

    try:
        ds = load_ravdess(root=RAVDESS)
    except FileNotFoundError as exc:
        raise SystemExit(f"{exc}\nSet SERSK_RAVDESS to the corpus root.") from None
    paths, y = list(ds.data), np.asarray(ds.target)
    groups = ds.frame["speaker"].astype(int).to_numpy()
    from sersk.features import AudioLoader, MelSpectrogram

    t0 = time.perf_counter()
    waves = AudioLoader(sr=16000, duration=args.duration).fit_transform(paths)
    X = MelSpectrogram(sr=16000, n_mels=args.n_mels).fit_transform(waves)
    X = np.asarray(X, dtype=np.float32)
    print(
        f"# computed log-mels {X.shape} in {time.perf_counter() - t0:.1f} s -> {cache}"
    )
    np.savez(cache, X=X, y=np.array(y), groups=np.array(groups))
    return X, np.array(y), np.array(groups)


def bench_accuracy(args):
    import torch
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import GroupKFold

    X, y, groups = ravdess_features(args)
    print(
        f"# accuracy: RAVDESS {X.shape[0]} clips, {len(np.unique(groups))} actors, "
        f"{len(np.unique(y))} classes, log-mel {X.shape[1]} x {X.shape[2]}, "
        f"{args.folds}-fold GroupKFold by actor, max_epochs={args.epochs}, "
        f"patience={args.patience}, batch {args.batch_size}, lr {args.lr}, "
        f"torch threads {torch.get_num_threads()}"
    )
    cv = GroupKFold(n_splits=args.folds)
    folds = list(cv.split(X, y, groups))[: args.max_folds or args.folds]
    for name in args.models:
        for precision in args.precision:
            accs, uars, epochs, secs = [], [], [], []
            cross = {"uar": [], "agree": []}  # the same weights, other precision
            other = "bf16" if precision == "fp32" else "fp32"
            for k, (tr, te) in enumerate(folds):
                clf = make_model(
                    name,
                    precision,
                    max_epochs=args.epochs,
                    patience=args.patience,
                    batch_size=args.batch_size,
                    lr=args.lr,
                    random_state=args.seed + k,
                    verbose=args.verbose,
                    freq_mask=args.freq_mask,
                    time_mask=args.time_mask,
                )
                t0 = time.perf_counter()
                clf.fit(X[tr], y[tr], groups=groups[tr])
                secs.append(time.perf_counter() - t0)
                pred = clf.predict(X[te])
                accs.append(accuracy_score(y[te], pred))
                uars.append(balanced_accuracy_score(y[te], pred))
                epochs.append(len(clf.history))
                # inference-only parity: predict the test fold in the other
                # precision with the same trained weights
                clf.set_params(precision=other)
                pred_other = clf.predict(X[te])
                clf.set_params(precision=precision)
                cross["uar"].append(balanced_accuracy_score(y[te], pred_other))
                cross["agree"].append(float(np.mean(pred_other == pred)))
                print(
                    f"{name:8s} {precision:5s} fold {k + 1}: acc {accs[-1]:.3f} "
                    f"UAR {uars[-1]:.3f} ({epochs[-1]} epochs, {secs[-1]:.0f} s); "
                    f"inferred in {other}: UAR {cross['uar'][-1]:.3f}, "
                    f"{100 * cross['agree'][-1]:.1f} % same predictions",
                    flush=True,
                )
            print(
                f"{name:8s} {precision:5s} MEAN over {len(folds)} folds: "
                f"acc {np.mean(accs):.3f} +- {np.std(accs):.3f}  "
                f"UAR {np.mean(uars):.3f} +- {np.std(uars):.3f}  "
                f"(epochs {np.mean(epochs):.1f}, {np.sum(secs):.0f} s total); "
                f"same weights inferred in {other}: UAR {np.mean(cross['uar']):.3f} "
                f"({np.mean(cross['uar']) - np.mean(uars):+.3f}), "
                f"{100 * np.mean(cross['agree']):.1f} % same predictions",
                flush=True,
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["speed", "accuracy"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument(
        "--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"]
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-mels", type=int, default=128)
    # speed
    parser.add_argument("--n-frames", type=int, default=126)
    parser.add_argument("--n-train", type=int, default=128)
    parser.add_argument("--n-infer", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    # accuracy
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--max-folds", type=int, default=None, help="run only the first k folds"
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--freq-mask", type=int, default=0)
    parser.add_argument("--time-mask", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--cache-dir", default="/tmp")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.part == "speed":
        bench_speed(args)
    else:
        bench_accuracy(args)


if __name__ == "__main__":
    main()
