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
median of ``--repeats`` runs after a warm-up on one batch (16 clips for tiny,
``--base-clips`` 4 for base). On a shared machine several threads can be far
slower than one (every small operation waits for a thread that another
process holds), so both are printed. On a CPU without native bfloat16 (AVX2
only) torch runs bf16 convolutions on a slow fallback (a 3-s clip through the
base model took 15 s instead of 0.8 s), so bf16 is timed there for the tiny
model only, unless ``--force-bf16``. bf16 gains only on hardware with native bfloat16 (AMX, AVX512-BF16,
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

from bench_backends import synthetic_clips


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


def timed(fn, warmup, repeats):
    warmup()  # first-call allocations, oneDNN kernel selection
    walls = []
    for _ in range(repeats):
        w0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls)


def native_bf16():
    """Whether this CPU has bfloat16 kernels (AVX512-BF16 or AMX) for oneDNN."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - other torch builds
        return "AVX512" in torch.backends.cpu.get_cpu_capability()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "base"])
    parser.add_argument("--n-clips", type=int, default=16)
    parser.add_argument(
        "--base-clips",
        type=int,
        default=4,
        help="clips for the base-sized model (a forward pass takes about a second)",
    )
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--force-bf16",
        action="store_true",
        help="time bf16 with the base model on CPUs without native bfloat16 too",
    )
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
    slow_bf16 = args.device == "cpu" and not native_bf16()
    device = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"native bf16: {not slow_bf16}"
    )
    print(
        f"SpeechEmbedding throughput on {args.duration:g}-s clips at 16 kHz "
        f"(layers=-1, pooling='mean'), device={args.device} ({device}); "
        f"median of {args.repeats} runs after a warm-up, torch {torch.__version__}"
    )
    print(
        f"{'model':<24} {'clips':>5} {'threads':>7} {'batch':>5} {'precision':>9} "
        f"{'clips/s':>8} {'x real time':>11}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / size
            n_params = save_encoder(path, size)
            label = f"{size} ({n_params / 1e6:.2g} M params)"
            n_clips = args.n_clips if size == "tiny" else args.base_clips
            X = synthetic_clips(n_clips, args.duration)
            for n_threads in threads:
                torch.set_num_threads(n_threads)
                for batch_size in args.batch_sizes:
                    for precision in args.precisions:
                        if (
                            precision == "bf16"
                            and size != "tiny"
                            and slow_bf16
                            and not args.force_bf16
                        ):
                            print(
                                f"{label:<24} {n_clips:>5} {n_threads:>7} "
                                f"{batch_size:>5} {precision:>9}  skipped: no native "
                                "bf16 (convolutions fall back to a slow path; "
                                "--force-bf16 times it)"
                            )
                            continue
                        est = SpeechEmbedding(
                            str(path),
                            batch_size=batch_size,
                            precision=precision,
                            device=args.device,
                        ).fit(X[:1])
                        wall = timed(
                            lambda est=est, X=X: est.transform(X),
                            lambda est=est, X=X, b=batch_size: est.transform(X[:b]),
                            args.repeats,
                        )
                        rate = n_clips / wall
                        print(
                            f"{label:<24} {n_clips:>5} {n_threads:>7} {batch_size:>5} "
                            f"{precision:>9} {rate:>8.1f} {rate * args.duration:>11.1f}",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
