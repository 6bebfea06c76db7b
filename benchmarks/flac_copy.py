"""Copy a folder of WAV files to lossless FLAC, keeping the folder layout.

The RAVDESS speech copy (1440 clips, 166 MB of 16-bit WAV) shrinks to about
53 MB as FLAC: small enough to carry to a GPU machine beside the repository,
where ``bench_deep_recipes.py --root`` reads it as it reads the WAV files
(``load_ravdess`` accepts any audio extension). Each copy is read back and
compared sample by sample with its source, so the study runs on exactly the
same audio.

Usage::

    python benchmarks/flac_copy.py ../shared/data/ravdess .devdata/ravdess
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf


def flac_copy(src, dst):
    """Write every ``*.wav`` below ``src`` as FLAC below ``dst``; return the count."""
    src, dst = Path(src), Path(dst)
    wavs = sorted(src.rglob("*.wav"))
    if not wavs:
        raise SystemExit(f"no .wav files below {src}")
    for wav in wavs:
        info = sf.info(wav)
        if info.subtype not in ("PCM_16", "PCM_24"):
            raise SystemExit(
                f"{wav} is {info.subtype}; FLAC holds 16- or 24-bit PCM losslessly"
            )
        data, sr = sf.read(wav, dtype="int32", always_2d=True)
        out = dst / wav.relative_to(src).with_suffix(".flac")
        if out.exists():
            raise SystemExit(f"{out} exists; choose an empty destination")
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, data, sr, format="FLAC", subtype=info.subtype)
        back, _ = sf.read(out, dtype="int32", always_2d=True)
        if not np.array_equal(back, data):
            raise SystemExit(f"{out} does not read back as {wav}")
    return len(wavs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="folder of WAV files (searched recursively)")
    parser.add_argument("dst", help="destination folder (created)")
    args = parser.parse_args(argv)
    try:
        n = flac_copy(args.src, args.dst)
    except KeyboardInterrupt:
        print(f"interrupted; {args.dst} holds part of the copy", flush=True)
        raise SystemExit(130) from None
    size = sum(p.stat().st_size for p in Path(args.dst).rglob("*.flac"))
    print(f"{n} files, {size / 1e6:.1f} MB of FLAC in {args.dst}")


if __name__ == "__main__":
    main()
