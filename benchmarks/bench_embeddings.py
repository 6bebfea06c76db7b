"""Throughput of SpeechEmbedding on random-weight wav2vec2 encoders (clips/s).

No pretrained weights are needed (nor downloaded): the encoders are built
from configs with random weights, which cost exactly what trained ones cost.

- ``tiny``: the wav2vec2 front end (7 conv layers, 320 samples per frame)
  with 32 channels, hidden size 32 and 2 transformer layers: the overhead of
  sersk's own work (validation, windows, pooling) around a negligible model;
- ``base``: ``Wav2Vec2Config()``, the architecture of facebook/wav2vec2-base
  (95 M parameters, hidden size 768, 12 layers): what a real embedding costs.

Each is timed on 3-s clips (mean pooling of the last layer) with batch sizes
1 and 8, in fp32 and bf16, with 1 torch thread and torch's default, as the
median of ``--repeats`` runs after a warm-up. On a shared machine several
threads can be far slower than one (every small operation waits for a
thread that another process holds), so both are printed. bf16 gains only on hardware with native bfloat16 (AMX, AVX512-BF16,
recent GPUs); elsewhere it may be slower. Run it under ``nice`` on a shared
machine::

    nice -n 10 python benchmarks/bench_embeddings.py
    python benchmarks/bench_embeddings.py --device cuda --n-clips 256
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_clips(n_clips, duration, sr=16000, seed=0):
    """Harmonic tones with vibrato plus a noise floor, float32."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    X = np.empty((n_clips, n), dtype=np.float32)
    for i in range(n_clips):
        f0 = rng.uniform(90, 300) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        y = sum(np.sin(k * phase) / k for k in range(1, 6))
        X[i] = 0.2 * y + 0.005 * rng.normal(size=n)
    return X


def save_encoder(path, size):
    """Write a random wav2vec2 encoder of ``size`` ("tiny" or "base") to ``path``."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model
    from transformers.utils import logging

    logging.disable_progress_bar()
    torch.manual_seed(0)
    if size == "tiny":
        config = Wav2Vec2Config(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(32,) * 7,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
        )
    else:
        config = Wav2Vec2Config()  # the facebook/wav2vec2-base architecture
    model = Wav2Vec2Model(config)
    model.save_pretrained(path)
    Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def timed(fn, repeats):
    fn()  # warm-up (first-call allocations, oneDNN kernel selection)
    walls = []
    for _ in range(repeats):
        w0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "base"])
    parser.add_argument("--n-clips", type=int, default=16)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="torch CPU threads to time (default: 1 and torch's default)",
    )
    args = parser.parse_args(argv)

    import torch

    from sersk.features._embedding import SpeechEmbedding

    threads = args.threads or sorted({1, torch.get_num_threads()})
    if args.device == "cuda":
        threads = [torch.get_num_threads()]
    X = synthetic_clips(args.n_clips, args.duration)
    device = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    print(
        f"SpeechEmbedding throughput: {args.n_clips} clips of {args.duration:g} s "
        f"at 16 kHz, layers=-1, pooling='mean', device={args.device} ({device}); "
        f"median of {args.repeats} runs, torch {torch.__version__}"
    )
    print(
        f"{'model':<26} {'threads':>7} {'batch':>5} {'precision':>9} {'clips/s':>9} "
        f"{'x real time':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / size
            n_params = save_encoder(path, size)
            label = f"{size} ({n_params / 1e6:.2g} M params)"
            for n_threads in threads:
                torch.set_num_threads(n_threads)
                for batch_size in args.batch_sizes:
                    for precision in args.precisions:
                        est = SpeechEmbedding(
                            str(path),
                            batch_size=batch_size,
                            precision=precision,
                            device=args.device,
                        ).fit(X[:1])
                        wall = timed(lambda est=est: est.transform(X), args.repeats)
                        rate = args.n_clips / wall
                        print(
                            f"{label:<26} {n_threads:>7} {batch_size:>5} "
                            f"{precision:>9} {rate:>9.1f} {rate * args.duration:>12.1f}",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
