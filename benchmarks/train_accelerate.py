"""Train CRNNClassifier on RAVDESS with Hugging Face Accelerate on several processes.

Every process reads the clips and computes their log-mel spectrograms (cheap
next to training; for a large corpus compute them once with ``sersk features``
and load the ``.npz``), then trains its share of every epoch's batches; the
gradients are averaged across the processes (PyTorch DDP). Speakers
``--test-speakers`` are held out for a test score; the validation part of
training holds out whole speakers too. The main process saves the model with
``sersk.save_model``; it loads with ``sersk.load_model`` as a plain
``CRNNClassifier`` on any machine.

Two CPU processes (gloo; ``--multi_gpu`` asks accelerate for its torchrun
launcher, which starts the processes, and the script's ``--cpu`` makes them
CPU processes: ``accelerate launch --cpu`` itself starts one process unless
given an MPI host file)::

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \\
        --mixed_precision no --dynamo_backend no \\
        benchmarks/train_accelerate.py --cpu --root /path/to/ravdess \\
        --out crnn-ravdess.sersk

Every GPU of one machine, bf16::

    accelerate launch --multi_gpu --num_processes 4 --mixed_precision bf16 \\
        benchmarks/train_accelerate.py --root /path/to/ravdess --out crnn.sersk

Run alone (``python benchmarks/train_accelerate.py ...``) it trains in one
process, for comparison. The last line printed (main process) is a JSON
record: processes, device, clips, epochs, fit seconds, the test UAR.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="RAVDESS folder (Actor_NN/*.wav)")
    p.add_argument("--out", required=True, help="model file written by save_model")
    p.add_argument("--speakers", type=int, default=24, help="actors 1..N used")
    p.add_argument(
        "--clips-per-speaker",
        type=int,
        default=None,
        help="keep the first K clips of each actor (sorted by name); all by default",
    )
    p.add_argument("--test-speakers", type=int, default=4, help="last actors held out")
    p.add_argument("--duration", type=float, default=3.0, help="seconds per clip")
    p.add_argument(
        "--native-lengths",
        action="store_true",
        help="keep every clip's own length (ragged batches, padded per batch)",
    )
    p.add_argument("--max-epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32, help="clips per process")
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    p.add_argument(
        "--small",
        action="store_true",
        help="a small network (conv 4/8 channels, LSTM 8 units), for tests",
    )
    p.add_argument(
        "--cpu",
        action="store_true",
        help="train on CPU processes (gloo) even where GPUs are available",
    )
    p.add_argument(
        "--save-test-proba",
        default=None,
        help="also save the test clips' probabilities (.npy) computed by the run",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=1)
    return p.parse_args(argv)


def load_clips(args):
    from sersk.datasets import load_ravdess

    bunch = load_ravdess(root=args.root, speakers=list(range(1, args.speakers + 1)))
    paths, labels, groups = bunch.data, bunch.target, bunch.groups
    if args.clips_per_speaker is not None:
        # per actor, one clip of each emotion in turn, so that all are kept
        keep = []
        for g in np.unique(groups):
            idx = np.flatnonzero(groups == g)
            turn = np.zeros(len(idx), dtype=int)
            for e in np.unique(labels[idx]):
                turn[labels[idx] == e] = np.arange(np.sum(labels[idx] == e))
            order = np.lexsort((labels[idx], turn))
            keep.append(idx[order][: args.clips_per_speaker])
        keep = np.sort(np.concatenate(keep))
        paths, labels, groups = paths[keep], labels[keep], groups[keep]
    return list(paths), np.asarray(labels, dtype=str), np.asarray(groups, dtype=str)


def log_mel(paths, args):
    """Log-mel spectrograms: one array, or one per clip with --native-lengths."""
    from sklearn.pipeline import make_pipeline

    from sersk.features import AudioLoader, MelSpectrogram

    if args.native_lengths:
        loader = AudioLoader()
    else:
        loader = AudioLoader(duration=args.duration, lazy=True)
    return make_pipeline(loader, MelSpectrogram()).transform(paths)


def main(argv=None):
    args = parse_args(argv)
    import torch
    from accelerate import Accelerator
    from sklearn.metrics import balanced_accuracy_score

    import sersk
    from sersk.models import AcceleratedCRNNClassifier

    accelerator = Accelerator(cpu=args.cpu)
    paths, labels, groups = load_clips(args)
    frames = log_mel(paths, args)
    speakers = np.unique(groups)
    test = np.isin(groups, speakers[len(speakers) - args.test_speakers :])
    if args.test_speakers == 0:
        test[:] = False

    module = (
        {"module__conv_channels": (4, 8), "module__lstm_units": (8,)}
        if args.small
        else {}
    )
    clf = AcceleratedCRNNClassifier(
        accelerator=accelerator,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        precision=args.precision,
        random_state=args.seed,
        verbose=args.verbose,
        **module,
    )
    accelerator.wait_for_everyone()
    start = time.perf_counter()
    clf.fit(frames[~test], labels[~test], groups=groups[~test])
    fit_s = time.perf_counter() - start
    # every process predicts together (the predictions are gathered)
    uar = proba = None
    if test.any():
        proba = clf.predict_proba(frames[test])
        y_pred = clf.classes_[proba.argmax(axis=1)]
        uar = float(balanced_accuracy_score(labels[test], y_pred))
    if accelerator.is_main_process:
        sersk.save_model(clf, args.out)
        if args.save_test_proba and proba is not None:
            np.save(args.save_test_proba, proba)
        record = {
            "processes": accelerator.num_processes,
            "device": str(accelerator.device),
            "precision": clf.precision_,
            "torch_threads": torch.get_num_threads(),
            "train_clips": int((~test).sum()),
            "test_clips": int(test.sum()),
            "epochs": len(clf.history),
            "fit_s": round(fit_s, 2),
            "train_loss": round(float(clf.history[-1, "train_loss"]), 4),
            "test_uar": None if uar is None else round(uar, 4),
            "out": args.out,
        }
        print(json.dumps(record))
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
