"""Benchmark of the shared-STFT feature engine and the torch backend (issue 5).

Prints, for synthetic clips (harmonic tones with vibrato + noise, generated
here with numpy; 600 clips x 3 s at 16 kHz by default):

1. the classic six-feature vector (MFCC-40, chroma, log-mel 128, spectral
   contrast, ZCR, RMS; mean + std over time): the per-feature, per-clip
   librosa loop vs :class:`sersk.features.ClassicFeatures` (one STFT per
   chunk, filter banks cached, torch kernels), and the largest differences;
2. log-mel 128 + MFCC-40 of the batch: per-clip librosa calls vs the torch
   batch (``ClassicFeatures(features=("mel", "mfcc"), stats=None)``: one
   STFT), and the largest dB difference;
3. peak memory (in a fresh subprocess: the peak RSS ``VmHWM``, reset through
   ``/proc/self/clear_refs`` just before the call, minus the RSS then) of
   waveforms -> log-mel, of files -> log-mel streamed in chunks
   (``AudioLoader(lazy=True) -> MelSpectrogram``), and of
   ``AudioLoader -> MelSpectrogram`` (whole batch), against the output size.

Ratios are measured in the same run; times are medians of ``--repeats`` runs.
The machine may be shared: run it under ``nice`` and read ratios, not absolutes.

Usage::

    nice -n 10 python benchmarks/bench_feature_engine.py            # 600 clips, 5 repeats
    python benchmarks/bench_feature_engine.py --n-clips 60 --repeats 3
    python benchmarks/bench_feature_engine.py --device cuda          # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SR = 16000
DEFAULT_RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"


def make_clips(n_clips, seconds, seed=0):
    """Synthetic voiced clips: harmonics of a gliding f0 with vibrato, AM and noise."""
    rng = np.random.default_rng(seed)
    n = int(round(SR * seconds))
    t = np.arange(n, dtype=np.float64) / SR
    X = np.empty((n_clips, n), dtype=np.float32)
    for i in range(n_clips):
        f0 = rng.uniform(90, 320) * (
            1 + 0.1 * np.sin(2 * np.pi * rng.uniform(3, 7) * t)
        )
        phase = 2 * np.pi * np.cumsum(f0) / SR
        y = sum(np.sin(k * phase) * rng.uniform(0.2, 1.0) / k for k in range(1, 9))
        env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2
        y = 0.1 * y * env + 0.01 * rng.normal(size=n)
        X[i] = y
    return X


def timed(func, X, repeats):
    """Median wall and CPU seconds of ``repeats`` calls ``func(X)``, and the result.

    One warm-up call on the first 8 clips first (imports, filter banks, FFT plans).
    """
    func(X[:8])
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = func(X)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


# ---------------------------------------------------------------------------
# 1. classic six-feature vector
# ---------------------------------------------------------------------------
def classic_librosa_loop(X):
    import librosa

    rows = []
    for y in X:
        feats = [
            librosa.feature.mfcc(y=y, sr=SR, n_mfcc=40),
            librosa.feature.chroma_stft(y=y, sr=SR),
            librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=128)),
            librosa.feature.spectral_contrast(y=y, sr=SR),
            librosa.feature.zero_crossing_rate(y),
            librosa.feature.rms(y=y),
        ]
        rows.append(
            np.concatenate([np.concatenate([f.mean(-1), f.std(-1)]) for f in feats])
        )
    return np.stack(rows).astype(np.float32)


#: The features of the librosa loop, in its order.
FEATURES = ("mfcc", "chroma", "mel", "contrast", "zcr", "rms")


def classic_engine(X, device, n_jobs=None, tuning=None):
    from sersk.features import ClassicFeatures

    est = ClassicFeatures(
        features=FEATURES, tuning=tuning, device=device, n_jobs=n_jobs
    )
    return est.fit_transform(X)


def bench_classic(X, repeats, device, n_jobs):
    from sersk.features import ClassicFeatures

    names = ClassicFeatures(features=FEATURES).get_feature_names_out()
    sizes = {f: sum(n.startswith(f + "__") for n in names) // 2 for f in FEATURES}
    n = X.shape[0]
    w_ref, c_ref, ref = timed(classic_librosa_loop, X, repeats)
    w_eng, c_eng, got = timed(lambda A: classic_engine(A, device), X, repeats)
    print(
        f"[classic six-feature vector] {n} clips x {X.shape[1] / SR:g} s, "
        f"{ref.shape[1]} values per clip, medians of {repeats}"
    )
    print(
        f"  librosa per-feature loop : {1e3 * w_ref / n:7.2f} ms/clip wall "
        f"({1e3 * c_ref / n:6.2f} ms/clip CPU)"
    )
    print(
        f"  engine (one STFT, torch) : {1e3 * w_eng / n:7.2f} ms/clip wall "
        f"({1e3 * c_eng / n:6.2f} ms/clip CPU)   speed-up x{w_ref / w_eng:.1f} "
        f"(target >= 5)"
    )
    if n_jobs not in (None, 1):
        w_par, _, got_par = timed(
            lambda A: classic_engine(A, device, n_jobs), X, repeats
        )
        print(
            f"  engine n_jobs={n_jobs:<2d}          : {1e3 * w_par / n:7.2f} ms/clip wall"
            f"   speed-up x{w_ref / w_par:.1f}; max |diff| vs n_jobs=None "
            f"{np.abs(got_par - got).max():.2e}"
        )
    w_fix, _, _ = timed(lambda A: classic_engine(A, device, tuning=0.0), X, repeats)
    print(
        f"  engine, tuning=0.0 fixed : {1e3 * w_fix / n:7.2f} ms/clip wall"
        f"   speed-up x{w_ref / w_fix:.1f} (skips per-clip tuning; not librosa's default)"
    )
    start = 0
    diffs = []
    for f in FEATURES:
        width = 2 * sizes[f]
        d = np.abs(got[:, start : start + width] - ref[:, start : start + width]).max()
        diffs.append(f"{f} {d:.1e}")
        start += width
    print("  max |engine - librosa| per feature (mean/std values): " + ", ".join(diffs))
    return w_ref / w_eng


# ---------------------------------------------------------------------------
# 2. log-mel 128 + MFCC 40
# ---------------------------------------------------------------------------
def logmel_mfcc_librosa(X, share_mel):
    import librosa

    mels, mfccs = [], []
    for y in X:
        S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=128))
        if share_mel:
            M = librosa.feature.mfcc(S=S, n_mfcc=40)
        else:
            M = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=40, n_mels=128)
        mels.append(S)
        mfccs.append(M)
    return np.stack(mels), np.stack(mfccs)


def logmel_mfcc_torch(X, device):
    from sersk.features import ClassicFeatures

    est = ClassicFeatures(features=("mel", "mfcc"), stats=None, device=device)
    F = est.fit_transform(X)
    return F[:, :128], F[:, 128:]


def bench_logmel(X, repeats, device):
    n = X.shape[0]
    audio_s = n * X.shape[1] / SR
    w_ref, c_ref, (mel_ref, mfcc_ref) = timed(
        lambda A: logmel_mfcc_librosa(A, False), X, repeats
    )
    w_sh, _, _ = timed(lambda A: logmel_mfcc_librosa(A, True), X, repeats)
    w_t, c_t, (mel_t, mfcc_t) = timed(
        lambda A: logmel_mfcc_torch(A, device), X, repeats
    )
    print(
        f"[log-mel 128 + MFCC-40] {n} clips, n_fft 2048, hop 512, medians of {repeats}"
    )
    print(
        f"  librosa per clip (2 calls)       : {1e3 * w_ref / n:6.2f} ms/clip wall "
        f"({1e3 * c_ref / n:5.2f} CPU)"
    )
    print(f"  librosa per clip (mfcc from S)   : {1e3 * w_sh / n:6.2f} ms/clip wall")
    print(
        f"  torch batch, one STFT ({device:4s})   : {1e3 * w_t / n:6.2f} ms/clip wall "
        f"({1e3 * c_t / n:5.2f} CPU), {audio_s / w_t:,.0f}x real time"
    )
    print(
        f"  speed-up x{w_ref / w_t:.1f} vs 2 calls (target >= 7), x{w_sh / w_t:.1f} vs "
        f"mfcc-from-S; max |log-mel diff| {np.abs(mel_t - mel_ref).max():.2e} dB "
        f"(target <= 2e-3), max |MFCC diff| {np.abs(mfcc_t - mfcc_ref).max():.2e}"
    )
    return w_ref / w_t


# ---------------------------------------------------------------------------
# 3. memory, in fresh subprocesses
# ---------------------------------------------------------------------------
_MEM_CHILD = r"""
import json, resource, sys, numpy as np
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench_dir!r})
mode, n, device = {mode!r}, {n}, {device!r}
from sersk.features import AudioLoader, MelSpectrogram
def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
def rss_now():
    return _status("VmRSS")
def reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
def peak():
    return _status("VmHWM")
# warm up torch, the allocator and the filter banks on a tiny batch
mel = MelSpectrogram(sr=16000, backend="torch", device=device)
mel.transform(np.zeros((2, 48000), np.float32))
if mode == "waveforms":
    from bench_feature_engine import make_clips
    X = np.concatenate([make_clips(50, 3.0, seed=s) for s in range(n // 50)])
    reset_peak(); before = rss_now()
    out = mel.transform(X)
    input_bytes = X.nbytes
elif mode == "files":
    from pathlib import Path
    paths = sorted(Path({ravdess!r}).glob("Actor_*/*.wav"))[:n]
    reset_peak(); before = rss_now()
    lazy = AudioLoader(sr=16000, duration=3.0, lazy=True).fit_transform(paths)
    out = mel.transform(lazy)
    input_bytes = 0
elif mode == "audioloader":
    from pathlib import Path
    paths = [str(p) for p in sorted(Path({ravdess!r}).glob("Actor_*/*.wav"))[:n]]
    reset_peak(); before = rss_now()
    X = AudioLoader(sr=16000, duration=3.0).fit_transform(paths)
    out = MelSpectrogram(sr=16000).fit_transform(X)
    input_bytes = X.nbytes
print(json.dumps({{"extra": peak() - before, "out": out.nbytes, "input": input_bytes,
                  "shape": list(out.shape)}}))
"""


def measure_memory(mode, n, device, ravdess):
    code = _MEM_CHILD.format(
        root=str(ROOT),
        bench_dir=str(Path(__file__).resolve().parent),
        mode=mode,
        n=n,
        device=device,
        ravdess=str(ravdess),
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if res.returncode != 0:
        return None, res.stderr.strip().splitlines()[-1] if res.stderr else "failed"
    return json.loads(res.stdout.strip().splitlines()[-1]), None


def bench_memory(n, device, ravdess):
    mb = 2**20
    print(
        f"[peak memory] extra peak RSS over the state before the call, {n} clips x 3 s"
    )
    r, err = measure_memory("waveforms", n, device, ravdess)
    if r:
        print(
            f"  waveforms in memory -> log-mel (torch, chunked): output {r['out'] / mb:.1f} MiB "
            f"{tuple(r['shape'])}, waveforms {r['input'] / mb:.1f} MiB, extra peak "
            f"{r['extra'] / mb:.1f} MiB = {r['extra'] / r['out']:.2f}x the output"
        )
    else:
        print(f"  waveforms -> log-mel: failed ({err})")
    if not (Path(ravdess) / "Actor_01").is_dir():
        print(f"  files -> log-mel: skipped, no RAVDESS at {ravdess}")
        return
    r, err = measure_memory("files", n, device, ravdess)
    if r:
        print(
            f"  RAVDESS files -> log-mel, streamed (AudioLoader(lazy=True), 4 MiB chunks): "
            f"output {r['out'] / mb:.1f} MiB, extra peak {r['extra'] / mb:.1f} MiB = "
            f"{r['extra'] / r['out']:.2f}x the output"
        )
    else:
        print(f"  files -> log-mel streamed: failed ({err})")
    r, err = measure_memory("audioloader", n, device, ravdess)
    if r:
        print(
            f"  RAVDESS files -> AudioLoader -> MelSpectrogram (whole batch): output "
            f"{r['out'] / mb:.1f} MiB, waveforms {r['input'] / mb:.1f} MiB, extra peak "
            f"{r['extra'] / mb:.1f} MiB = {r['extra'] / r['out']:.2f}x the output"
        )
    else:
        print(f"  AudioLoader -> MelSpectrogram: not measured ({err})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument(
        "--n-jobs", type=int, default=2, help="also time the engine with n_jobs"
    )
    parser.add_argument("--memory-clips", type=int, default=600)
    parser.add_argument("--ravdess", default=str(DEFAULT_RAVDESS))
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["classic", "logmel", "memory"]
    )
    args = parser.parse_args(argv)

    import torch

    warnings.filterwarnings("ignore", message="Trying to estimate tuning")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, device {args.device}"
    )
    X = make_clips(args.n_clips, args.seconds)
    if "classic" not in args.skip:
        bench_classic(X, args.repeats, args.device, args.n_jobs)
    if "logmel" not in args.skip:
        bench_logmel(X, args.repeats, args.device)
    if "memory" not in args.skip:
        bench_memory(
            args.memory_clips - args.memory_clips % 50 or 50, args.device, args.ravdess
        )


if __name__ == "__main__":
    main()
