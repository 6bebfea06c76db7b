"""``sersk train``: fit a model on a corpus and save it."""

from __future__ import annotations

import time

from ._common import check_interrupted, check_out_path, log, transform_in_chunks
from ._data import load_data
from ._model import (
    build_pipeline,
    model_duration,
    split_pipeline,
    with_perturbed_copies,
)
from ._parser import DEEP_MODELS


def fit_head(head, F, y, groups, deep):
    """Fit the learned part; deep models get the speakers for their valid split."""
    if deep:
        try:
            return head.fit(F, y, groups=groups)
        except TypeError as exc:
            if "groups" not in str(exc):
                raise
    return head.fit(F, y)


def run(args):
    import numpy as np

    from .._persistence import save_model

    out = check_out_path(args.out)
    t0 = time.perf_counter()
    pipeline = build_pipeline(args)
    loader, front, head = split_pipeline(pipeline)
    X, y, groups, desc, source = load_data(args, loader, with_source=True)
    log(args, f"Loaded {desc}.")
    F = transform_in_chunks(front, X, quiet=args.quiet)
    head, F = with_perturbed_copies(pipeline, head, source, F, quiet=args.quiet)
    log(args, f"Training {args.model} on {len(F)} clips ...")
    fit_head(head, F, y, groups, args.model in DEEP_MODELS)
    check_interrupted()  # skorch stops at Ctrl-C without raising
    classes = [str(c) for c in pipeline.classes_]
    metadata = {
        "model": args.model,
        "corpus": args.corpus,
        "emotions": list(args.emotions) if args.emotions else None,
        "sr": int(loader.sr),
        "duration": model_duration(args),
        "n_train": int(len(y)),
        "n_speakers": None if groups is None else int(np.unique(groups).size),
    }
    save_model(pipeline, out, metadata=metadata)
    print(
        f"Saved {args.model} trained on {desc} ({len(classes)} classes: "
        f"{', '.join(classes)}) to {out} in {time.perf_counter() - t0:.0f} s."
    )
