"""``sersk features``: extract the features of a corpus and save them."""

from __future__ import annotations

import contextlib

from ._common import CLIError, atomic_output, check_out_path, log, transform_in_chunks
from ._data import load_data
from ._model import default_duration

#: Seconds to wait for the Dask scheduler of ``--scheduler`` to answer.
SCHEDULER_TIMEOUT = 10


@contextlib.contextmanager
def on_cluster(args):
    """A ``dask.distributed.Client`` to ``args.scheduler`` (``None`` without it).

    Inside, joblib's ``dask`` backend is active, so the ``n_jobs`` of
    :func:`~sersk.evaluation.evaluate` sends the folds to the cluster.
    """
    address = getattr(args, "scheduler", None)
    if address is None:
        yield None
        return
    try:
        import joblib
        from dask.distributed import Client
    except ImportError:
        raise CLIError(
            "--scheduler needs Dask's distributed scheduler, which is not "
            "installed: run pip install 'sersk[distributed]' (or "
            "'dask[distributed]'), or leave out --scheduler"
        ) from None
    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(
            f"cannot reach the Dask scheduler at {address!r} within "
            f"{SCHEDULER_TIMEOUT} s ({type(exc).__name__}: {exc}). Start one "
            "with 'dask scheduler' and workers with 'dask worker ADDRESS', and "
            "pass the address it prints (tcp://HOST:8786)"
        ) from None
    try:
        n_threads = sum(client.nthreads().values())
        if n_threads == 0:
            raise CLIError(
                f"the Dask scheduler at {address!r} has no workers: start some "
                f"with 'dask worker {address}'"
            )
        log(args, f"Running on the Dask cluster at {address} ({n_threads} threads).")
        with joblib.parallel_config(backend="dask"):
            yield client
    finally:
        client.close()


def _slices(X, size):
    """Consecutive pieces of ``X``; a ``LazyWaveforms`` stays lazy (its paths)."""
    lazy = getattr(X, "_sersk_lazy_waveforms", False)
    if lazy:
        from sklearn.base import clone

        loader = clone(X.loader).set_params(verbose=False, n_jobs=None)
    for start in range(0, len(X), size):
        rows = slice(start, min(len(X), start + size))
        yield rows, (X.__class__(X.paths[rows], loader) if lazy else X[rows])


def _transform(front, chunk):
    import numpy as np

    return np.asarray(front.transform(chunk))


def transform_on_cluster(client, front, X, *, quiet, desc="features"):
    """``front.transform(X)`` as one Dask task per block of clips, in order.

    The blocks of a corpus on disk are ``LazyWaveforms`` of their paths: the
    workers read the files, and only paths, settings and features travel. A
    block lost with its worker is recomputed by Dask; the result is the same
    as :func:`~sersk.cli._common.transform_in_chunks` in this process.
    """
    import sys

    import numpy as np
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    from ..features._compute import LAZY_BLOCK_CLIPS

    rows_of, futures = {}, []
    for rows, chunk in _slices(X, LAZY_BLOCK_CLIPS):
        future = client.submit(_transform, front, chunk, pure=False)
        rows_of[future.key] = rows
        futures.append(future)
    out = None
    with tqdm(
        total=len(X), desc=desc, unit="clip", disable=quiet, file=sys.stderr
    ) as bar:
        for future, F in as_completed(futures, with_results=True):
            rows = rows_of[future.key]
            if out is None:
                out = np.empty((len(X), *F.shape[1:]), dtype=F.dtype)
            out[rows] = F
            bar.update(rows.stop - rows.start)
            future.release()
    return out


def features_of(client, front, X, *, quiet):
    """The front end's features of ``X``: on the cluster, or in this process."""
    if client is None:
        return transform_in_chunks(front, X, quiet=quiet)
    return transform_on_cluster(client, front, X, quiet=quiet)


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
    with on_cluster(args) as client:
        X, y, groups, desc = load_data(args, loader)
        log(args, f"Loaded {desc}.")
        F = features_of(client, front, X, quiet=args.quiet)
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
