"""Training/inference speed of sersk's CRNN on CPU (issue 5, item 4 and targets).

Three parts, each printing one line per figure (medians of ``--repeats`` runs
after one warm-up, all configurations timed round-robin so that load changes
from other jobs hit them alike; ratios always come from the same run):

1. ``overhead`` lines: samples/s of ``CRNNClassifier(train_split=None,
   patience=None).fit`` (skorch loop) against a hand-written torch loop with
   the same CRNN module, data (random 128 x 94 log-mel-like float32), AdamW
   (lr 1e-3, weight decay 1e-4), batch size, epochs, precision, channels_last
   and flush-denormal setting. Target: overhead <= 5 %. Printed by the
   ``speed`` part (from the same timings) and by the ``overhead`` part alone.
2. ``speed`` lines: CRNN training and inference samples/s on CPU for fp32
   contiguous, fp32 + channels_last, bf16 contiguous, bf16 + channels_last
   (raw torch loops over the plain model, whose conv blocks run conv, batch
   norm, max-pool, ReLU one by one; inference under ``torch.inference_mode``),
   plus sersk's two modes (``precision="fp32"`` and ``"bf16"``, which switches
   channels_last on) through ``fit`` and ``predict_proba``; sersk's eval mode
   folds each batch norm into its conv and pools by strided maxima. For each
   thread count in ``--threads``. Ratios are against raw fp32 contiguous
   (the plain model in plain fp32 torch), in wall time and in process CPU
   time.
3. ``e2e`` lines: warm latency (median of 20) of ``pipe.predict([wav_path])``
   on one 4 s WAV file with AudioLoader(duration=4.0) -> MelSpectrogram ->
   ClipStandardizer -> CRNNClassifier, fitted for 1 epoch on 12
   ``make_emotional_speech`` clips written to WAV; librosa and torch feature
   backends.

Command (``all`` = ``speed`` + ``e2e``)::

    nice -n 10 python benchmarks/bench_training.py all --threads 1 2 \
        --n-train 64 --n-infer 64 --repeats 5

Caveat: measured on the shared 2-core VM while other engineers' jobs ran
(load average 3-5). With 2 torch threads, a competing process makes the
OpenMP threads wait for each other (spinning, so CPU time grows with wall
time); 1-thread figures are the more reliable ones.

Measured 2026-11-22 02:46-02:50 UTC with that command, on the shared 2-core
Xeon VM (AMX/AVX512-BF16) when it was fairly quiet (load average 0.6-2.4;
an earlier run under load 3-5 gave the same 1-thread ratios within ~10 % but
2-thread figures that swung 6x between configurations). Repeated runs moved
the overhead figures by about +-10 %, so the overhead is within the noise
(separate ``overhead --threads 2 --repeats 3`` run: fp32 +3.6 %, bf16 +4.3 %)::

    # torch 2.13.0+cpu, input 128 x 94, batch 32, 64 training clips/epoch, 64 inference clips, median of 5 after 1 warm-up
    speed raw   fp32 channels_last=False threads=1  train   39.9 samples/s (1.00x wall, 1.00x CPU)  infer   119.7 samples/s (1.00x wall, 1.00x CPU) [inference_mode]
    speed raw   fp32 channels_last=True  threads=1  train   51.9 samples/s (1.30x wall, 1.30x CPU)  infer   259.0 samples/s (2.16x wall, 2.16x CPU) [inference_mode]
    speed raw   bf16 channels_last=False threads=1  train   62.0 samples/s (1.55x wall, 1.56x CPU)  infer   152.2 samples/s (1.27x wall, 1.27x CPU) [inference_mode]
    speed raw   bf16 channels_last=True  threads=1  train   88.8 samples/s (2.22x wall, 2.22x CPU)  infer   523.9 samples/s (4.38x wall, 4.38x CPU) [inference_mode]
    speed sersk fp32 channels_last=False threads=1  train   40.7 samples/s (1.02x wall, 1.02x CPU)  infer   120.7 samples/s (1.01x wall, 1.01x CPU) [predict_proba]
    speed sersk bf16 channels_last=True  threads=1  train  100.2 samples/s (2.51x wall, 2.51x CPU)  infer   486.2 samples/s (4.06x wall, 4.06x CPU) [predict_proba]
    overhead  fp32 channels_last=False threads=1  raw torch   39.9 samples/s  sersk fit   40.7 samples/s  overhead  -1.9 % wall,  -2.0 % CPU time
    overhead  bf16 channels_last=True  threads=1  raw torch   88.8 samples/s  sersk fit  100.2 samples/s  overhead -11.3 % wall, -11.3 % CPU time
    e2e   predict(1 x 4 s WAV) backend=librosa fp32 threads=1  median   22.8 ms (min   16.1 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=librosa bf16 threads=1  median   16.3 ms (min   15.6 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=torch   fp32 threads=1  median   14.4 ms (min   14.2 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=torch   bf16 threads=1  median   10.1 ms (min    9.8 ms, 20 warm calls)
    speed raw   fp32 channels_last=False threads=2  train   64.0 samples/s (1.00x wall, 1.00x CPU)  infer   152.6 samples/s (1.00x wall, 1.00x CPU) [inference_mode]
    speed raw   fp32 channels_last=True  threads=2  train   79.7 samples/s (1.25x wall, 1.26x CPU)  infer   319.3 samples/s (2.09x wall, 2.06x CPU) [inference_mode]
    speed raw   bf16 channels_last=False threads=2  train   93.9 samples/s (1.47x wall, 1.51x CPU)  infer   199.4 samples/s (1.31x wall, 1.30x CPU) [inference_mode]
    speed raw   bf16 channels_last=True  threads=2  train  140.4 samples/s (2.19x wall, 2.31x CPU)  infer   562.2 samples/s (3.68x wall, 3.68x CPU) [inference_mode]
    speed sersk fp32 channels_last=False threads=2  train   62.0 samples/s (0.97x wall, 0.97x CPU)  infer   148.5 samples/s (0.97x wall, 0.99x CPU) [predict_proba]
    speed sersk bf16 channels_last=True  threads=2  train  125.2 samples/s (1.96x wall, 2.14x CPU)  infer   503.9 samples/s (3.30x wall, 3.31x CPU) [predict_proba]
    overhead  fp32 channels_last=False threads=2  raw torch   64.0 samples/s  sersk fit   62.0 samples/s  overhead  +3.3 % wall,  +3.1 % CPU time
    overhead  bf16 channels_last=True  threads=2  raw torch  140.4 samples/s  sersk fit  125.2 samples/s  overhead +12.2 % wall,  +7.8 % CPU time
    e2e   predict(1 x 4 s WAV) backend=librosa fp32 threads=2  median   38.7 ms (min   34.5 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=librosa bf16 threads=2  median   28.8 ms (min   20.3 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=torch   fp32 threads=2  median   15.3 ms (min   14.7 ms, 20 warm calls)
    e2e   predict(1 x 4 s WAV) backend=torch   bf16 threads=2  median   13.6 ms (min   12.1 ms, 20 warm calls)
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


def make_module(n_mels, n_classes, channels_last, seed=0):
    torch.manual_seed(seed)
    module = CRNN(n_coeffs=n_mels, n_classes=n_classes)
    # the raw loops time the plain model: its conv blocks run conv, batch
    # norm, max-pool, ReLU one by one at inference too (sersk's eval mode
    # folds the batch norm into the conv and pools by strided maxima)
    for block in module.conv:
        block.fused = False
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
    configurations. Returns ``{name: (median wall s, median CPU s)}``; CPU
    time (``time.process_time``) is less sensitive to other jobs than wall time.
    """
    for fn in fns.values():
        fn()  # warm-up (allocations, oneDNN primitives)
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {
        name: (float(np.median(wall[name])), float(np.median(cpu[name])))
        for name in fns
    }


def raw_trainer(X, y, args, precision, channels_last):
    module = make_module(X.shape[1], 8, channels_last)
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


def part_overhead(args):
    X, y = make_data(args.n_train, args.n_mels, args.n_frames)
    threads = torch.get_num_threads()
    for precision in args.precision:
        cl = precision == "bf16"
        raw_epoch, _ = raw_trainer(X, y, args, precision, cl)
        clf = sersk_clf(precision, args)
        res = interleaved(
            {"raw": raw_epoch, "sersk": lambda clf=clf: clf.fit(X, y)}, args.repeats
        )
        (rw, rc), (sw, sc) = rate(len(X), res["raw"]), rate(len(X), res["sersk"])
        print(
            f"overhead  {precision:4s} channels_last={cl!s:5s} threads={threads}"
            f"  raw torch {rw:6.1f} samples/s  sersk fit {sw:6.1f} samples/s"
            f"  overhead {100 * (rw / sw - 1):+5.1f} % wall,"
            f" {100 * (rc / sc - 1):+5.1f} % CPU time",
            flush=True,
        )


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
        name = f"sersk {precision} channels_last={precision == 'bf16'!s:5s}"
        clf = sersk_clf(precision, args)
        train_fns[name] = lambda clf=clf: clf.fit(X, y)
        infer_fns[name] = lambda clf=clf: clf.predict_proba(Xi)
    train = interleaved(train_fns, args.repeats)
    infer = interleaved(infer_fns, args.repeats)
    base = "raw   fp32 channels_last=False"
    bt, bi = rate(len(X), train[base]), rate(len(Xi), infer[base])
    for name in train_fns:
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
        raw = f"raw   {precision} channels_last={cl!s:5s}"
        sk = f"sersk {precision} channels_last={cl!s:5s}"
        (rw, rc), (sw, sc) = rate(len(X), train[raw]), rate(len(X), train[sk])
        print(
            f"overhead  {precision:4s} channels_last={cl!s:5s} threads={threads}"
            f"  raw torch {rw:6.1f} samples/s  sersk fit {sw:6.1f} samples/s"
            f"  overhead {100 * (rw / sw - 1):+5.1f} % wall,"
            f" {100 * (rc / sc - 1):+5.1f} % CPU time",
            flush=True,
        )


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
