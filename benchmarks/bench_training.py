"""Training/inference speed of sersk's CRNN on CPU (issue 5, item 4 and targets).

Three parts, each printing one line per figure (medians of ``--repeats`` runs
after one warm-up, all configurations timed round-robin so that load changes
from other jobs hit them alike; ratios always come from the same run):

1. ``overhead`` lines: samples/s of ``CRNNClassifier(train_split=None,
   patience=None).fit`` (skorch loop) against a hand-written torch loop
   (``loop`` in the code) training the same sersk CRNN module, with the same
   data (random 128 x 94 log-mel-like float32), AdamW (lr 1e-3, weight decay
   1e-4), batch size, epochs, precision, channels_last and flush-denormal
   setting: only the training loop differs. Target: overhead <= 5 %. Printed
   by the ``speed`` part (from the same timings) and by the ``overhead`` part
   alone.
2. ``speed`` lines: CRNN training and inference samples/s on CPU for fp32
   contiguous, fp32 + channels_last, bf16 contiguous, bf16 + channels_last
   (``raw``: hand-written torch loops over the plain model, whose conv blocks
   run conv, batch norm, max-pool, ReLU, ``nn.Dropout`` one by one; inference
   under ``torch.inference_mode``), plus sersk's two modes
   (``precision="fp32"`` and ``"bf16"``, which switches channels_last on)
   through ``fit`` and ``predict_proba``. sersk's conv blocks draw their
   training dropout masks from 16-bit uniforms (four per 64-bit draw instead
   of one Bernoulli draw per element) and, in eval mode, fold each batch
   norm into its conv and pool by strided maxima. For each thread count in
   ``--threads``. Ratios are against raw fp32 contiguous (the plain model in
   plain fp32 torch), in wall time and in process CPU time.
3. ``e2e`` lines: warm latency (median of 20) of ``pipe.predict([wav_path])``
   on one 4 s WAV file with AudioLoader(duration=4.0) -> MelSpectrogram ->
   ClipStandardizer -> CRNNClassifier, fitted for 1 epoch on 12
   ``make_emotional_speech`` clips written to WAV; librosa and torch feature
   backends.

Command (``all`` = ``speed`` + ``e2e``)::

    nice -n 10 python benchmarks/bench_training.py all --threads 2 1 \
        --n-train 256 --n-infer 256 --repeats 7

Measured 2026-11-22 06:48-07:00 UTC with ``python
benchmarks/bench_training.py all --threads 2 1 --n-train 256 --n-infer 256
--repeats 7`` on the 2-core Xeon VM (AMX/AVX512-BF16), nothing else of ours
running (the host was slower than in earlier runs: plain fp32 training 48
samples/s on 2 threads against 67 at 06:06; ratios come from one run)::

    # torch 2.13.0+cpu, input 128 x 94, batch 32, 256 training clips/epoch, 256 inference clips, median of 7 after 1 warm-up
    speed raw   fp32 channels_last=False threads=2  train   48.0 samples/s (1.00x wall, 1.00x CPU)  infer   155.1 samples/s (1.00x wall, 1.00x CPU) [inference_mode]
    speed raw   fp32 channels_last=True  threads=2  train   67.6 samples/s (1.41x wall, 1.42x CPU)  infer   365.2 samples/s (2.35x wall, 2.28x CPU) [inference_mode]
    speed raw   bf16 channels_last=False threads=2  train   72.7 samples/s (1.51x wall, 1.58x CPU)  infer   179.7 samples/s (1.16x wall, 1.17x CPU) [inference_mode]
    speed raw   bf16 channels_last=True  threads=2  train  109.4 samples/s (2.28x wall, 2.38x CPU)  infer   675.6 samples/s (4.35x wall, 4.26x CPU) [inference_mode]
    speed sersk fp32 channels_last=False threads=2  train   58.1 samples/s (1.21x wall, 1.10x CPU)  infer   326.7 samples/s (2.11x wall, 2.05x CPU) [predict_proba]
    speed sersk bf16 channels_last=True  threads=2  train  133.7 samples/s (2.78x wall, 2.64x CPU)  infer   829.2 samples/s (5.34x wall, 5.15x CPU) [predict_proba]
    overhead  fp32 channels_last=False threads=2  raw torch   60.1 samples/s  sersk fit   58.1 samples/s  overhead  +3.6 % wall,  +4.1 % CPU time
    overhead  bf16 channels_last=True  threads=2  raw torch  128.6 samples/s  sersk fit  133.7 samples/s  overhead  -3.8 % wall,  -7.6 % CPU time
    speed raw   fp32 channels_last=False threads=1  train   33.2 samples/s (1.00x wall, 1.00x CPU)  infer    89.2 samples/s (1.00x wall, 1.00x CPU) [inference_mode]
    speed raw   fp32 channels_last=True  threads=1  train   47.5 samples/s (1.43x wall, 1.43x CPU)  infer   231.9 samples/s (2.60x wall, 2.60x CPU) [inference_mode]
    speed raw   bf16 channels_last=False threads=1  train   50.7 samples/s (1.53x wall, 1.53x CPU)  infer   106.5 samples/s (1.19x wall, 1.20x CPU) [inference_mode]
    speed raw   bf16 channels_last=True  threads=1  train   81.1 samples/s (2.45x wall, 2.44x CPU)  infer   440.8 samples/s (4.94x wall, 4.94x CPU) [inference_mode]
    speed sersk fp32 channels_last=False threads=1  train   33.7 samples/s (1.02x wall, 1.02x CPU)  infer   210.0 samples/s (2.35x wall, 2.35x CPU) [predict_proba]
    speed sersk bf16 channels_last=True  threads=1  train   90.1 samples/s (2.72x wall, 2.71x CPU)  infer   554.0 samples/s (6.21x wall, 6.21x CPU) [predict_proba]
    overhead  fp32 channels_last=False threads=1  raw torch   34.0 samples/s  sersk fit   33.7 samples/s  overhead  +0.8 % wall,  +0.8 % CPU time
    overhead  bf16 channels_last=True  threads=1  raw torch   91.4 samples/s  sersk fit   90.1 samples/s  overhead  +1.5 % wall,  +1.5 % CPU time
    e2e   predict(1 x 4 s WAV) backend=librosa fp32 threads=2  median   31.0 ms (min   23.5 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=librosa bf16 threads=2  median   29.4 ms (min   24.6 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=torch   fp32 threads=2  median   13.5 ms (min   13.1 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=torch   bf16 threads=2  median   13.1 ms (min   12.5 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=librosa fp32 threads=1  median   14.9 ms (min   13.3 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=librosa bf16 threads=1  median   16.9 ms (min   13.5 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=torch   fp32 threads=1  median   16.5 ms (min   12.3 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=torch   bf16 threads=1  median   11.9 ms (min   11.4 ms, 20 warm calls)

Before the cheaper dropout masks (06:06 UTC, quieter host, 64 clips, 5
repeats) sersk's bf16 training was x2.25 (2 threads) and x2.75 (1 thread):
``aten::bernoulli_`` (``F.dropout``'s masks) took 21 % of a bf16
channels_last training step in ``torch.profiler``. Earlier still (02:46 UTC,
before the eval-mode folding) bf16 inference was x4.06 (1 thread) and x3.30
(2 threads) through predict_proba.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from sersk.models import CRNNClassifier
from sersk.models._modules import CRNN
from sersk.models._training import autocast, training_context


def make_data(n, n_mels, n_frames, n_classes=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(-40, 15, size=(n, n_mels, n_frames)).astype(np.float32)
    y = np.arange(n) % n_classes
    return X, y


def make_module(n_mels, n_classes, channels_last, seed=0, plain=True):
    torch.manual_seed(seed)
    module = CRNN(n_coeffs=n_mels, n_classes=n_classes)
    # plain: the baseline model, whose conv blocks run conv, batch norm,
    # max-pool, ReLU, nn.Dropout one by one (sersk's blocks draw their
    # training dropout masks 16 bits at a time, and in eval mode fold the
    # batch norm into the conv and pool by strided maxima)
    for block in module.conv:
        block.fused = not plain
    module.channels_last = channels_last
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def raw_train_epoch(module, opt, crit, Xt, yt, batch_size, precision, gen):
    module.train()
    n = len(Xt)
    perm = torch.randperm(n, generator=gen)
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        if len(idx) < 2:
            continue
        opt.zero_grad(set_to_none=True)
        with autocast("cpu", precision):
            logits = module(Xt[idx])
        loss = crit(logits.float(), yt[idx])
        loss.backward()
        opt.step()


def raw_predict(module, Xt, batch_size, precision):
    module.eval()
    out = []
    with torch.inference_mode(), autocast("cpu", precision):
        for start in range(0, len(Xt), batch_size):
            out.append(torch.softmax(module(Xt[start : start + batch_size]), dim=1))
    return torch.cat(out).numpy()


def interleaved(fns, repeats):
    """Time each callable ``repeats`` times, round-robin, after one warm-up each.

    Round-robin order spreads load changes from other jobs over all
    configurations; the order rotates by one each round, so no configuration
    always runs right after the same other one (after an allocation-heavy one,
    say). Returns ``{name: (median wall s, median CPU s)}``; CPU
    time (``time.process_time``) is less sensitive to other jobs than wall time.
    """
    for fn in fns.values():
        fn()  # warm-up (allocations, oneDNN primitives)
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        # rotate the order each round: no configuration always follows the same one
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = fns[name]
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {
        name: (float(np.median(wall[name])), float(np.median(cpu[name])))
        for name in fns
    }


def raw_trainer(X, y, args, precision, channels_last, plain=True):
    module = make_module(X.shape[1], 8, channels_last, plain=plain)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=1e-4)
    crit = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).long()
    gen = torch.Generator().manual_seed(0)

    def epoch():
        with training_context("cpu"):
            raw_train_epoch(module, opt, crit, Xt, yt, args.batch_size, precision, gen)

    return epoch, module


def sersk_clf(precision, args):
    return CRNNClassifier(
        max_epochs=1,
        batch_size=args.batch_size,
        train_split=None,
        patience=None,
        warm_start=True,
        precision=precision,
        random_state=0,
        device="cpu",
    )


def rate(n, timing):
    wall, cpu = timing
    return n / wall, n / max(cpu, 1e-9)


def print_overhead(precision, channels_last, threads, n, loop, sersk):
    """One ``overhead`` line from the (wall, CPU) timings of both loops."""
    (rw, rc), (sw, sc) = rate(n, loop), rate(n, sersk)
    print(
        f"overhead  {precision:4s} channels_last={channels_last!s:5s} threads={threads}"
        f"  raw torch {rw:6.1f} samples/s  sersk fit {sw:6.1f} samples/s"
        f"  overhead {100 * (rw / sw - 1):+5.1f} % wall,"
        f" {100 * (rc / sc - 1):+5.1f} % CPU time",
        flush=True,
    )


def part_overhead(args):
    X, y = make_data(args.n_train, args.n_mels, args.n_frames)
    threads = torch.get_num_threads()
    for precision in args.precision:
        cl = precision == "bf16"
        # the same (sersk) module in a hand-written loop: only the loop differs
        raw_epoch, _ = raw_trainer(X, y, args, precision, cl, plain=False)
        clf = sersk_clf(precision, args)
        res = interleaved(
            {"raw": raw_epoch, "sersk": lambda clf=clf: clf.fit(X, y)}, args.repeats
        )
        print_overhead(precision, cl, threads, len(X), res["raw"], res["sersk"])


def part_speed(args):
    X, y = make_data(args.n_train, args.n_mels, args.n_frames)
    Xi = make_data(args.n_infer, args.n_mels, args.n_frames, seed=1)[0]
    Xit = torch.from_numpy(Xi)
    threads = torch.get_num_threads()
    train_fns, infer_fns = {}, {}
    for precision, cl in [
        ("fp32", False),
        ("fp32", True),
        ("bf16", False),
        ("bf16", True),
    ]:
        name = f"raw   {precision} channels_last={cl!s:5s}"
        epoch, module = raw_trainer(X, y, args, precision, cl)
        train_fns[name] = epoch
        infer_fns[name] = lambda m=module, p=precision: raw_predict(
            m, Xit, args.infer_batch_size, p
        )
    for precision in ("fp32", "bf16"):
        cl = precision == "bf16"
        name = f"sersk {precision} channels_last={cl!s:5s}"
        clf = sersk_clf(precision, args)
        train_fns[name] = lambda clf=clf: clf.fit(X, y)
        infer_fns[name] = lambda clf=clf: clf.predict_proba(Xi)
        # overhead reference: sersk's module trained by a hand-written loop
        epoch, _ = raw_trainer(X, y, args, precision, cl, plain=False)
        train_fns[f"loop  {precision} channels_last={cl!s:5s}"] = epoch
    train = interleaved(train_fns, args.repeats)
    infer = interleaved(infer_fns, args.repeats)
    base = "raw   fp32 channels_last=False"
    bt, bi = rate(len(X), train[base]), rate(len(Xi), infer[base])
    for name in infer_fns:
        tw, tc = rate(len(X), train[name])
        iw, ic = rate(len(Xi), infer[name])
        how = "predict_proba" if name.startswith("sersk") else "inference_mode"
        print(
            f"speed {name} threads={threads}"
            f"  train {tw:6.1f} samples/s ({tw / bt[0]:4.2f}x wall, {tc / bt[1]:4.2f}x CPU)"
            f"  infer {iw:7.1f} samples/s ({iw / bi[0]:4.2f}x wall, {ic / bi[1]:4.2f}x CPU)"
            f" [{how}]",
            flush=True,
        )
    # skorch/sersk overhead: the same configurations, measured interleaved
    for precision, cl in (("fp32", False), ("bf16", True)):
        raw = f"loop  {precision} channels_last={cl!s:5s}"
        sk = f"sersk {precision} channels_last={cl!s:5s}"
        print_overhead(precision, cl, threads, len(X), train[raw], train[sk])


def part_e2e(args):
    import soundfile as sf
    from sklearn.pipeline import make_pipeline

    from sersk.datasets import make_emotional_speech
    from sersk.features import AudioLoader, ClipStandardizer, MelSpectrogram

    data = make_emotional_speech(
        n_samples=12, duration=4.0, n_speakers=2, random_state=0
    )
    waves, labels = data[0], data[1]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, wave in enumerate(np.asarray(waves, dtype=np.float32)):
            path = Path(tmp) / f"clip{i:02d}.wav"
            sf.write(path, wave, 16000)
            paths.append(str(path))
        for backend in ("librosa", "torch"):
            for precision in args.precision:
                pipe = make_pipeline(
                    AudioLoader(duration=4.0),
                    MelSpectrogram(backend=backend),
                    ClipStandardizer(),
                    CRNNClassifier(
                        max_epochs=1,
                        train_split=None,
                        precision=precision,
                        random_state=0,
                        device="cpu",
                    ),
                )
                pipe.fit(paths, labels)
                one = [paths[0]]
                for _ in range(3):
                    pipe.predict(one)
                times = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    pipe.predict(one)
                    times.append(time.perf_counter() - t0)
                print(
                    f"e2e   predict(1 x 4 s WAV) backend={backend:7s} {precision:4s}"
                    f" threads={torch.get_num_threads()}"
                    f"  median {1000 * np.median(times):6.1f} ms"
                    f" (min {1000 * np.min(times):6.1f} ms, 20 warm calls)",
                    flush=True,
                )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["overhead", "speed", "e2e", "all"])
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument(
        "--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"]
    )
    parser.add_argument("--n-mels", type=int, default=128)
    parser.add_argument("--n-frames", type=int, default=94)
    parser.add_argument("--n-train", type=int, default=256)
    parser.add_argument("--n-infer", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--infer-batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="overhead: alternate raw/sersk measurements this many times",
    )
    args = parser.parse_args(argv)
    print(
        f"# torch {torch.__version__}, input {args.n_mels} x {args.n_frames}, "
        f"batch {args.batch_size}, {args.n_train} training clips/epoch, "
        f"{args.n_infer} inference clips, median of {args.repeats} after 1 warm-up",
        flush=True,
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        if args.part == "overhead":
            part_overhead(args)
        if args.part in ("speed", "all"):
            part_speed(args)
        if args.part in ("e2e", "all"):
            part_e2e(args)


if __name__ == "__main__":
    main()
