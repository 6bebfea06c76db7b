"""Peak memory of AudioLoader -> MelSpectrogram over N clips (issue 5, "Bounded memory").

Each configuration runs in a fresh subprocess. After the imports and a
warm-up on two clips (filter banks, FFT plans, torch start-up), the peak RSS
(``VmHWM``) is reset through ``/proc/self/clear_refs`` and the current RSS
is the baseline; the figure reported is ``peak - baseline``, in MiB and as a
multiple of the output array (float32 ``(N, 128, n_frames)`` log-mel, or the
pooled vectors for ``classic``). Configurations:

- ``pipeline-<backend>``: ``make_pipeline(AudioLoader(duration=4.0),
  MelSpectrogram(backend=...))`` on N file paths. The waveforms of all N
  clips are held by design (AudioLoader's output is the next step's input:
  4 s at 16 kHz is 4x the log-mel of a clip), so the figure also shows
  ``peak / (waveforms + output)``;
- ``pipeline-lazy-<backend>``: the same pipeline with
  ``AudioLoader(duration=4.0, lazy=True)``: the loader returns a
  ``LazyWaveforms`` and MelSpectrogram streams it (about 4 MiB of waveforms
  per chunk into a preallocated output), so only the output and one chunk
  live (issue 5's target: <= ~2x the output);
- ``step-<backend>``: ``MelSpectrogram(backend=...).transform(X)`` on waveforms
  already in memory (allocated before the reset): the transformer's own
  working memory, which the chunked STFT should keep near 1x the output;
- ``classic``: ``ClassicFeatures`` (shared STFT, pooled) on waveforms in
  memory: the frame-level features of a chunk are pooled and dropped.

Usage (RAVDESS files when present, else synthetic WAVs in a temporary folder)::

    nice -n 10 python benchmarks/bench_memory.py --n-clips 600

Measured on the shared 2-core machine (600 RAVDESS clips x 4 s, output 36.9
MiB, waveforms 146.5 MiB), peak / output: pipeline-librosa 5.34,
pipeline-torch 5.57, pipeline-lazy-librosa 1.49, pipeline-lazy-torch 1.80,
step-librosa 1.38, step-torch 1.58, classic 0.9 MiB of
output for 36.8 MiB of peak (one chunk of frames).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = [
    "pipeline-librosa",
    "pipeline-torch",
    "pipeline-lazy-librosa",
    "pipeline-lazy-torch",
    "step-librosa",
    "step-torch",
    "classic",
]
MiB = 2**20


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def run_one(config, paths, duration):
    """Body of one subprocess: prints a JSON line with the measurements."""
    import numpy as np

    from sersk.features import AudioLoader, ClassicFeatures, MelSpectrogram

    backend = config.split("-")[-1]
    loader = AudioLoader(sr=16000, duration=duration)
    warm = loader.transform(paths[:2])
    MelSpectrogram(backend="librosa").transform(warm)
    MelSpectrogram(backend="torch", device="cpu").transform(warm)
    ClassicFeatures(device="cpu").transform(warm)
    lazy = AudioLoader(sr=16000, duration=duration, lazy=True)
    MelSpectrogram(backend="librosa").transform(lazy.transform(paths[:2]))
    MelSpectrogram(backend="torch", device="cpu").transform(lazy.transform(paths[:2]))
    X = None
    if config.startswith(("step", "classic")):
        X = loader.transform(paths)
    wave_bytes = len(paths) * int(round(16000 * duration)) * 4
    _reset_peak()
    base = _status_kib("VmRSS")
    if config.startswith("pipeline"):
        from sklearn.pipeline import make_pipeline

        front = lazy if "-lazy-" in config else loader
        pipe = make_pipeline(front, MelSpectrogram(backend=backend, device="cpu"))
        out = pipe.transform(paths)
    elif config.startswith("step"):
        out = MelSpectrogram(backend=backend, device="cpu").transform(X)
    else:
        out = ClassicFeatures(device="cpu").transform(X)
    peak = _status_kib("VmHWM")
    out = np.asarray(out)
    print(
        json.dumps(
            {
                "config": config,
                "n_clips": len(paths),
                "out_bytes": int(out.nbytes),
                "wave_bytes": wave_bytes,
                "peak_bytes": (peak - base) * 1024,
            }
        )
    )


def _paths(n_clips, duration, tmp):
    root = Path(os.environ.get("SERSK_RAVDESS", "/work/shared/data/ravdess"))
    files = sorted(root.glob("Actor_*/*.wav"))
    if len(files) >= n_clips:
        return [str(p) for p in files[:n_clips]], "RAVDESS"
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    out = []
    for i in range(n_clips):
        path = Path(tmp) / f"clip{i:04d}.wav"
        y = 0.1 * rng.normal(size=int(16000 * duration * 0.9))
        sf.write(path, y.astype(np.float32), 16000, subtype="PCM_16")
        out.append(str(path))
    return out, "synthetic WAVs"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=600)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--configs", nargs="*", default=CONFIGS, choices=CONFIGS)
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_paths", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        paths = Path(args._paths).read_text().split("\n")
        run_one(args._child, paths, args.duration)
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths, source = _paths(args.n_clips, args.duration, tmp)
        listing = Path(tmp) / "paths.txt"
        listing.write_text("\n".join(paths))
        print(
            f"# peak memory over the baseline, {len(paths)} clips x {args.duration:g} s "
            f"({source}); each row in a fresh subprocess"
        )
        print(
            f"{'config':<22}{'output MiB':>11}{'waves MiB':>10}{'peak MiB':>10}"
            f"{'peak/output':>13}{'peak/(waves+out)':>18}"
        )
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        for config in args.configs:
            res = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--_child",
                    config,
                    "--_paths",
                    str(listing),
                    "--duration",
                    str(args.duration),
                ],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            r = json.loads(res.stdout.strip().splitlines()[-1])
            out, waves, peak = r["out_bytes"], r["wave_bytes"], r["peak_bytes"]
            # the eager pipeline holds all waveforms by design; the lazy one not
            held = waves if config in ("pipeline-librosa", "pipeline-torch") else 0
            print(
                f"{config:<22}{out / MiB:>11.1f}{waves / MiB:>10.1f}{peak / MiB:>10.1f}"
                f"{peak / out:>13.2f}{peak / (held + out):>18.2f}"
            )


if __name__ == "__main__":
    main()
