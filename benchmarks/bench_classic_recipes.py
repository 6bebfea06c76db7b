"""Classic recipes on RAVDESS, speaker-independent: features x classifier x speaker adaptation.

The study behind the defaults of :func:`sersk.pipelines.make_svm_pipeline`
and the speaker-adapted recipe: every row is a full speaker-independent
``GroupKFold(5)`` by actor over the 1,440 RAVDESS speech clips, 8 emotions,
scored by UAR (balanced accuracy), mean ± std over the folds. Features are
computed once per feature set (joblib.Memory, named by a hash of sersk's
sources) and reused by every classifier.

- **inductive** rows standardise features with the training set only
  (``StandardScaler``), as for any new speaker;
- **speaker-adapted** rows put :class:`sersk.features.SpeakerStandardizer`
  first: each test actor is standardised with the statistics of their own
  unlabelled test clips (speaker adaptation; report as such).

Usage::

    nice -n 10 python benchmarks/bench_classic_recipes.py
    python benchmarks/bench_classic_recipes.py --features rich rich_trim --quick
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_accuracy import voiced_prosody  # noqa: E402
from joblib import Memory  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from sersk.datasets import load_ravdess  # noqa: E402
from sersk.evaluation import evaluate  # noqa: E402
from sersk.features import (  # noqa: E402
    MFCC,
    AudioLoader,
    ClassicFeatures,
    OpenSmile,
    Prosody,
    SpeakerStandardizer,
    TimePooling,
    VoiceFunctionals,
)

RICH_STATS = ("mean", "std", "min", "max", "skew", "kurtosis")


def _sources_hash():
    d = hashlib.sha256()
    for p in sorted((ROOT / "sersk").rglob("*.py")):
        d.update(p.relative_to(ROOT).as_posix().encode())
        d.update(p.read_bytes())
    return d.hexdigest()[:12]


def compute_features(name, paths):
    """The feature matrix of one feature set (cached by the caller)."""
    parts = name.split("+")
    if len(parts) > 1:
        return np.hstack([compute_features(part, paths) for part in parts])
    trim = 30 if name.endswith("_trim") else None
    waves = AudioLoader(sr=16000, trim_db=trim, n_jobs=2).fit_transform(paths)
    base = name.removesuffix("_trim")
    if base == "prosody":
        return voiced_prosody(Prosody().fit_transform(waves))
    if base == "egemaps":
        return OpenSmile().fit_transform(waves)
    if base == "voice":
        return VoiceFunctionals(n_jobs=2).fit_transform(waves)
    if base == "classic":
        return ClassicFeatures().fit_transform(waves)
    stats = RICH_STATS
    parts = [
        ClassicFeatures(
            features=("zcr", "rms", "chroma", "mel", "contrast"), stats=stats
        ),
        make_pipeline(MFCC(deltas=2), TimePooling(stats=stats)),
    ]
    if base == "rich_median":
        parts = [
            ClassicFeatures(
                features=("zcr", "rms", "chroma", "mel", "contrast"),
                stats=(*stats, "median"),
            ),
            make_pipeline(MFCC(deltas=2), TimePooling(stats=(*stats, "median"))),
        ]
    return np.hstack([p.fit_transform(waves) for p in parts])


CLASSIFIERS = {
    "svm_c10": lambda: SVC(C=10, gamma="scale", class_weight="balanced"),
    "svm_c3": lambda: SVC(C=3, gamma="scale", class_weight="balanced"),
    "svm_c30": lambda: SVC(C=30, gamma="scale", class_weight="balanced"),
    "logreg_c0.01": lambda: LogisticRegression(C=0.01, max_iter=3000),
    "logreg_c0.003": lambda: LogisticRegression(C=0.003, max_iter=3000),
    "logreg_c0.03": lambda: LogisticRegression(C=0.03, max_iter=3000),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(ROOT.parent / "shared/data/ravdess"))
    parser.add_argument("--cache", default=str(Path.home() / ".cache/sersk-bench"))
    parser.add_argument(
        "--features",
        nargs="*",
        default=[
            "classic",
            "rich_trim",
            "rich_trim+prosody_trim",
            "rich_trim+egemaps_trim",
            "rich_trim+prosody_trim+egemaps_trim",
            "rich_trim+voice_trim",
        ],
    )
    parser.add_argument(
        "--classifiers", nargs="*", default=["svm_c3", "svm_c10", "logreg_c0.01"]
    )
    parser.add_argument("--adaptation", nargs="*", default=["inductive", "speaker"])
    parser.add_argument(
        "--reuse-features",
        action="store_true",
        help="exploration only: reuse cached features across sersk versions",
    )
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore", category=UserWarning)
    key = "any" if args.reuse_features else _sources_hash()
    memory = Memory(Path(args.cache) / f"sersk-{key}", verbose=0)
    ds = load_ravdess(root=args.root)
    paths, y, groups = np.asarray(ds.data), np.asarray(ds.target), np.asarray(ds.groups)
    print(
        f"# {len(y)} clips, {np.unique(groups).size} actors, sources {_sources_hash()}"
    )
    print("| features | classifier | adaptation | UAR | accuracy | wall (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for feat in args.features:
        t0 = time.perf_counter()
        X = memory.cache(compute_features)(feat, list(paths))
        print(f"<!-- {feat}: {X.shape[1]} values, {time.perf_counter() - t0:.0f} s -->")
        for clf in args.classifiers:
            for adapt in args.adaptation:
                first = (
                    SpeakerStandardizer() if adapt == "speaker" else StandardScaler()
                )
                steps = [first, StandardScaler()] if adapt == "speaker" else [first]
                pipe = make_pipeline(*steps, CLASSIFIERS[clf]())
                t0 = time.perf_counter()
                res = evaluate(pipe, X, y, groups=groups, cv=5)
                print(
                    f"| {feat} | {clf} | {adapt} | {res.format_metric('uar')} | "
                    f"{res.format_metric('accuracy')} | {time.perf_counter() - t0:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
