"""``sersk evaluate``: cross-validate a model on a corpus."""

from __future__ import annotations

import warnings
from pathlib import Path

from ._common import (
    CLIError,
    atomic_output,
    check_interrupted,
    check_out_path,
    emit,
    log,
)
from ._data import load_data
from ._features import features_of, on_cluster
from ._model import build_pipeline, split_pipeline, with_perturbed_copies

_REPORT_SUFFIXES = {".md", ".markdown", ".txt"}


def write_plots(result, folder):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(exist_ok=True)
    for name, plot in (
        ("confusion_matrix.png", result.plot_confusion_matrix),
        ("per_class_f1.png", result.plot_per_class_f1),
    ):
        ax = plot()
        fig = ax.figure if hasattr(ax, "figure") else plt.gcf()
        with atomic_output(folder / name) as fh:
            fig.savefig(fh, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)


def run(args):
    from sklearn.model_selection import StratifiedKFold

    from ..evaluation import LeakageWarning, evaluate

    # output paths are checked before the (long) cross-validation
    report = check_out_path(args.report, _REPORT_SUFFIXES) if args.report else None
    plots = Path(args.plots).expanduser() if args.plots else None
    if plots is not None and not (plots.is_dir() or plots.parent.is_dir()):
        raise CLIError(f"cannot write plots into {str(plots)!r}: no such folder")
    if plots is not None and plots.exists() and not plots.is_dir():
        raise CLIError(f"cannot write plots into {str(plots)!r}: it is a file")
    pipeline = build_pipeline(args)
    loader, front, head = split_pipeline(pipeline)
    with on_cluster(args) as client:
        X, y, groups, desc, source = load_data(args, loader, with_source=True)
        log(args, f"Loaded {desc}.")
        if args.cv == "speaker" and groups is None:
            raise CLIError(
                "the speakers of this corpus are unknown, so --cv speaker is "
                "impossible: pass --speaker-pattern REGEX (folder corpus), or "
                "--cv random for a speaker-dependent estimate"
            )
        F = features_of(client, front, X, quiet=args.quiet)
        head, F = with_perturbed_copies(pipeline, head, source, F, quiet=args.quiet)
        if args.cv == "speaker":
            cv = args.folds
            title = f"{args.model} on {desc}: speaker-independent {args.folds}-fold CV"
        else:
            cv = StratifiedKFold(
                args.folds, shuffle=True, random_state=args.random_state
            )
            title = f"{args.model} on {desc}: random stratified {args.folds}-fold CV"
        log(args, f"Cross-validating {args.model} ...")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LeakageWarning)
            # on a cluster the folds are its tasks; locally they run one by one
            result = evaluate(
                head,
                F,
                y,
                groups=groups,
                cv=cv,
                n_jobs=None if client is None else args.n_jobs or -1,
            )
    check_interrupted()  # skorch stops at Ctrl-C without raising
    text = result.to_markdown(title=title)
    emit(text)
    if report is not None:
        emit(text, report)
    if plots is not None:
        write_plots(result, plots)
        log(args, f"Plots written to {plots}.")
