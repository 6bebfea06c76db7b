"""``sersk demo``: speaker-independent evaluation on synthetic speech."""

from __future__ import annotations

import time
import warnings

from ._common import (
    CLIError,
    check_interrupted,
    check_out_path,
    emit,
    log,
    transform_in_chunks,
)
from ._model import build_pipeline, split_pipeline, with_perturbed_copies


def run(args):
    import numpy as np
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from ..datasets import make_emotional_speech
    from ..evaluation import LeakageWarning, evaluate

    report = check_out_path(args.report) if args.report else None
    t0 = time.perf_counter()
    pipeline = build_pipeline(args)
    loader, front, head = split_pipeline(pipeline)
    X, y, groups = make_emotional_speech(
        args.n_samples,
        sr=loader.sr,
        duration=args.duration,
        n_speakers=args.n_speakers,
        random_state=args.random_state,
    )
    classes = np.unique(y)
    n_speakers = np.unique(groups).size
    if args.folds > n_speakers:
        raise CLIError(
            f"--folds {args.folds} needs at least as many speakers; "
            f"--n-speakers is {n_speakers}"
        )
    log(
        args,
        f"Synthesised {len(y)} clips of {args.duration:g} s: {n_speakers} speakers, "
        f"{classes.size} emotions ({', '.join(classes)}).",
    )
    F = transform_in_chunks(front, loader.transform(X), quiet=args.quiet)
    log(args, f"Features: {F.shape[1:]} per clip. Cross-validating {args.model} ...")
    head, F = with_perturbed_copies(pipeline, head, X, F, quiet=args.quiet)
    result = evaluate(head, F, y, groups=groups, cv=args.folds)
    check_interrupted()
    title = (
        f"sersk demo: {args.model} on synthetic speech, speaker-independent "
        f"{args.folds}-fold CV"
    )
    text = result.to_markdown(title=title)
    chance = 1.0 / classes.size
    lines = [
        "",
        f"Speaker-independent (GroupKFold by speaker): accuracy "
        f"{result.format_metric('accuracy')}, UAR {result.format_metric('uar')} "
        f"(chance {chance:.3f}).",
    ]
    if args.model == "crnn" and not args.no_random_split:
        lines.append(
            "(The random-split comparison is skipped for crnn to keep the demo "
            "short; run 'sersk demo' for it.)"
        )
    elif not args.no_random_split:
        cv = StratifiedKFold(args.folds, shuffle=True, random_state=args.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LeakageWarning)
            leaky = evaluate(clone(head), F, y, groups=groups, cv=cv)
        check_interrupted()
        gap = leaky.mean("uar") - result.mean("uar")
        lines.append(
            f"Random split (speakers in train and test): UAR "
            f"{leaky.format_metric('uar')}, {100 * gap:+.1f} points: a random "
            "split measures how well the model knows these speakers, not new ones."
        )
    lines.append(f"Done in {time.perf_counter() - t0:.0f} s.")
    text = text + "\n".join(lines)
    emit(text)
    if report is not None:
        emit(text, report)
