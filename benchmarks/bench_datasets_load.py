"""Time of ``load_ravdess`` on the real corpus (issue 3, "Done when").

No audio is decoded: the loader walks the folder and parses 1,440 file
names. Prints the best and median of ``--repeats`` runs::

    nice -n 10 python benchmarks/bench_datasets_load.py --root ../shared/data/ravdess
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from sersk.datasets import load_ravdess


def main():
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(default))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ds = load_ravdess(root=args.root)
        times.append(time.perf_counter() - start)
    print(
        f"load_ravdess(root={args.root!r}): {len(ds.data)} files, "
        f"{len(set(ds.groups))} speakers; best of {args.repeats}: "
        f"{min(times) * 1e3:.1f} ms, median {statistics.median(times) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
