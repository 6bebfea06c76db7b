"""``sersk features``: extract the features of a corpus and save them."""

from __future__ import annotations

from ._common import CLIError, atomic_output, check_out_path, log, transform_in_chunks
from ._data import load_data
from ._model import default_duration


def run(args):
    import numpy as np

    from .. import pipelines

    out = check_out_path(args.out, {".npz", ".csv", ".parquet"})
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CLIError(
                "writing .parquet needs pyarrow, which is not installed: run "
                "'pip install pyarrow', or use --out FILE.npz / FILE.csv"
            ) from None
    if suffix in (".csv", ".parquet") and args.kind != "classic":
        raise CLIError(
            f"--kind {args.kind} gives 3-D arrays (clips x mels x frames), which "
            f"a {suffix} table cannot hold: use --out FILE.npz"
        )
    # the features of the models: classic ones of the svm / rf pipelines, the
    # log-mel frames of the deep pipelines
    factory = (
        pipelines.make_svm_pipeline
        if args.kind == "classic"
        else pipelines.make_crnn_pipeline
    )
    pipeline = factory(sr=args.sr, duration=default_duration(args), n_jobs=args.n_jobs)
    loader, front = pipeline.steps[0][1], pipeline.steps[1][1]
    X, y, groups, desc = load_data(args, loader)
    log(args, f"Loaded {desc}.")
    F = transform_in_chunks(front, X, quiet=args.quiet)
    if args.kind == "classic":
        try:
            names = [str(n) for n in front.get_feature_names_out()]
        except (AttributeError, ValueError):
            names = [f"x{i}" for i in range(F.shape[1])]
    else:
        names = [f"mel{i}" for i in range(F.shape[1])]
    with atomic_output(out) as fh:
        if suffix == ".npz":
            np.savez_compressed(
                fh,
                X=F.astype(np.float32),
                y=np.asarray(y, dtype=str),
                groups=np.asarray(
                    groups if groups is not None else [""] * len(y), dtype=str
                ),
                feature_names=np.asarray(names, dtype=str),
                sr=np.int64(args.sr),
            )
        else:
            import pandas as pd

            frame = pd.DataFrame(F, columns=names)
            if groups is not None:
                frame.insert(0, "speaker", np.asarray(groups, dtype=str))
            frame.insert(0, "label", np.asarray(y, dtype=str))
            if suffix == ".csv":
                frame.to_csv(fh, index=False)
            else:
                frame.to_parquet(fh, index=False)
    print(f"Saved {args.kind} features of shape {F.shape} ({desc}) to {out}.")
