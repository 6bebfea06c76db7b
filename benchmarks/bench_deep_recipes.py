"""Training-recipe study of the deep classifiers on RAVDESS (issue 13).

Protocol: RAVDESS speech, speaker-independent GroupKFold(5) by actor, 8
emotions (and the 6-emotion protocol where a row says so), full-length clips,
early stopping on whole training actors held out (``SpeakerValidSplit``), UAR
(balanced accuracy) as mean +- std over the folds.

Every row is a sersk factory pipeline (``make_crnn_pipeline()`` etc.) with its
defaults except the row's one change, so the ``default`` rows measure exactly
what a user gets, and each other row shows what one ingredient of the recipe
is worth (leave one out) or what an alternative gives. The front of a
pipeline (loading, silence trim, log-mel, per-clip standardisation) has no
fitted state, so it runs once per distinct front over all clips; the
classifiers are trained per fold, several folds in parallel (one process
each, one torch thread each, all sharing the GPU when there is one).

Out-of-fold class probabilities of every row are saved, so seed ensembles
(mean of the probabilities of the ``default`` rows with seeds 0, 1, 2) and
late fusion with the SVM (``--svm-proba``, written by ``--svm-only``) are
scored on the same folds without retraining.

Usage::

    # the whole study (a CUDA GPU does it in minutes; jobs = parallel folds)
    python benchmarks/bench_deep_recipes.py --root RAVDESS --jobs 14 --out study
    # the SVM's out-of-fold probabilities for the fusion rows (CPU)
    python benchmarks/bench_deep_recipes.py --root RAVDESS --svm-only --out study
    # the table from the saved folds (fusion included when the SVM file exists)
    python benchmarks/bench_deep_recipes.py --summarize --out study
    # CPU minutes per fold of each default pipeline (first fold only)
    python benchmarks/bench_deep_recipes.py --root RAVDESS --rows default \
        --models crnn --first-fold-only --jobs 1 --out cpu
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import platform
import shlex
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from skorch.callbacks import Callback

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIX = ("neutral", "happy", "sad", "angry", "fear", "disgust")
OLD_CLASSIFIER = dict(  # the classifiers' defaults before this study
    max_epochs=30,
    lr_schedule="plateau",
    class_weight=None,
    freq_mask=0,
    time_mask=0,
    n_masks=1,
    freq_warp=0.0,
    time_stretch=0.0,
    mixup=0.0,
    optimizer__weight_decay=1e-4,
    criterion__label_smoothing=0.0,
)
OLD_FRONT = dict(duration=3.0, trim_db=None, n_mels=128)
OLD_MODULES = {
    "crnn": dict(module__conv_channels=(32, 64, 128), module__lstm_units=(128, 64)),
    "cnn": dict(
        module__conv_channels=(64, 128, 256, 512), module__dense_units=(512, 256)
    ),
}

# (name, model, front changes, classifier changes, classes, seed, group)
ROWS = [
    ("default", "crnn", {}, {}, 8, 0, "default"),
    ("default", "cnn", {}, {}, 8, 0, "default"),
    ("default", "cnn_lstm", {}, {}, 8, 0, "default"),
    ("default", "rnn", {}, {}, 8, 0, "default"),
    ("default, 6 emotions", "cnn", {}, {}, 6, 0, "default"),
    (
        "previous defaults",
        "crnn",
        OLD_FRONT,
        {**OLD_CLASSIFIER, **OLD_MODULES["crnn"]},
        8,
        0,
        "anchor",
    ),
    ("default, seed 1", "crnn", {}, {}, 8, 1, "seed"),
    ("default, seed 2", "crnn", {}, {}, 8, 2, "seed"),
    ("no SpecAugment", "crnn", {}, dict(freq_mask=0, time_mask=0), 8, 0, "ablation"),
    ("no mixup", "crnn", {}, dict(mixup=0.0), 8, 0, "ablation"),
    ("no frequency warp", "crnn", {}, dict(freq_warp=0.0), 8, 0, "ablation"),
    ("no time stretch", "crnn", {}, dict(time_stretch=0.0), 8, 0, "ablation"),
    (
        "no label smoothing",
        "crnn",
        {},
        dict(criterion__label_smoothing=0.0),
        8,
        0,
        "ablation",
    ),
    ("plateau schedule", "crnn", {}, dict(lr_schedule="plateau"), 8, 0, "ablation"),
    (
        "weight decay 1e-4",
        "crnn",
        {},
        dict(optimizer__weight_decay=1e-4),
        8,
        0,
        "ablation",
    ),
    ("no class weights", "crnn", {}, dict(class_weight=None), 8, 0, "ablation"),
    # the CRNN's default was 64 mel bands up to sources ca34714aa2d4
    ("64 mels", "crnn", dict(n_mels=64), {}, 8, 0, "ablation"),
    ("64 mels, seed 1", "crnn", dict(n_mels=64), {}, 8, 1, "ablation"),
    ("hop 512 (32 ms)", "crnn", dict(hop_length=512), {}, 8, 0, "ablation"),
    ("no silence trim", "crnn", dict(trim_db=None), {}, 8, 0, "ablation"),
    (
        "fixed 3 s, no trim",
        "crnn",
        dict(duration=3.0, trim_db=None),
        {},
        8,
        0,
        "ablation",
    ),
    ("wider (previous size)", "crnn", {}, OLD_MODULES["crnn"], 8, 0, "ablation"),
    ("30 epochs", "crnn", {}, dict(max_epochs=30), 8, 0, "ablation"),
    ("no early stopping", "crnn", {}, dict(patience=None), 8, 0, "ablation"),
    ("wider (previous size)", "cnn", {}, OLD_MODULES["cnn"], 8, 0, "ablation"),
    ("batch-norm momentum 0.01", "cnn", {}, dict(bn_momentum=0.01), 8, 0, "ablation"),
    ("no early stopping", "cnn", {}, dict(patience=None), 8, 0, "ablation"),
    ("no early stopping, 6 emotions", "cnn", {}, dict(patience=None), 6, 0, "ablation"),
    (
        "previous defaults",
        "cnn",
        OLD_FRONT,
        {**OLD_CLASSIFIER, **OLD_MODULES["cnn"]},
        8,
        0,
        "anchor",
    ),
]

# the CNN's head before it kept the frequency rows (its default up to sources
# 8caebb46cf0d; the same computation as that default)
ROWS += [
    (
        "global average pooling (previous head)",
        "cnn",
        {},
        dict(module__freq_pooling="mean"),
        8,
        0,
        "ablation",
    ),
]

# exploration: networks defined below and named by a row's "module" (a string,
# so that the run's meta.json stays JSON)
ROWS += [
    (
        "frequency-aware head (exploration)",
        "cnn",
        {},
        dict(module="freq_aware_cnn"),
        8,
        0,
        "ablation",
    ),
]


# the CRNN misses its target on sources 0987fece5a18 (0.477); two ways to
# give its head what the CNN's has (the second became CRNN(conv_summary=True))
ROWS += [
    (
        "four conv blocks (exploration)",
        "crnn",
        {},
        dict(module__conv_channels=(16, 32, 64, 128)),
        8,
        0,
        "ablation",
    ),
    (
        "conv maps beside the LSTM (exploration)",
        "crnn",
        {},
        dict(module="crnn_conv_skip"),
        8,
        0,
        "ablation",
    ),
]


def _wider_head(head, in_features):
    """``head``'s dense sizes and dropout again, with batch norm, on more inputs."""
    from sersk.models._modules import _dense_head

    units = tuple(m.out_features for m in head if hasattr(m, "out_features"))
    dropout = next(m.p for m in head if hasattr(m, "p"))
    return _dense_head(in_features, units[:-1], dropout, units[-1], batch_norm=True)


def _freq_aware_cnn():
    """sersk's CNN with a head that keeps the frequency axis.

    The exploration behind ``CNN(freq_pooling="flatten")``, sersk's default
    after sources 8caebb46cf0d; kept so that its run can be repeated. It builds
    the previous (frequency-averaging) head first and replaces it, so its
    initial weights differ from those of the sersk option.

    The CNN averages its last feature maps over frequency and time, so the
    head cannot tell a high voice from a low one except through the borders
    of the convolutions; the CRNN flattens frequency and channels into its
    LSTM instead. This variant flattens channels and frequency positions and
    averages over the valid frames only.
    """
    from sersk.models._modules import CNN, _pooled_size

    class FreqAwareCNN(CNN):
        def __init__(self, n_coeffs=128, n_classes=8, **kwargs):
            super().__init__(n_coeffs, n_classes, freq_pooling="mean", **kwargs)
            n_freq = _pooled_size(n_coeffs, self.pool_size, self.n_pools)
            channels = self.conv[-1][0].out_channels
            # the dense head again, with the CNN's own sizes, on the wider
            # input that CNN's forward feeds under "flatten"
            self.head = _wider_head(self.head, channels * n_freq)
            self.freq_pooling = "flatten"

    return FreqAwareCNN


def _crnn_conv_skip():
    """sersk's CRNN whose head also sees the conv maps averaged over time.

    The CNN's head (the channels at each frequency row, averaged over the
    valid frames) scored above the CRNN on the same folds; this variant gives
    the CRNN's head both summaries: the LSTM's attention-pooled output and
    that average of the conv maps, side by side, with batch norm in the head
    as in the CNN.

    The exploration behind ``CRNN(conv_summary=True)``, sersk's default after
    sources 0987fece5a18: the same forward pass, kept so that its run can be
    repeated (its initial weights differ from those of the sersk option).
    """
    from sersk.models._modules import CRNN

    class CRNNConvSkip(CRNN):
        def __init__(self, n_coeffs=128, n_classes=8, **kwargs):
            # the head of its run: built narrow first, then replaced by the
            # wider one that CRNN's forward feeds when conv_summary is on
            super().__init__(n_coeffs, n_classes, conv_summary=False, **kwargs)
            lstm_out = 2 * self.lstms[-1].hidden_size
            conv_out = self.lstms[0].input_size
            self.head = _wider_head(self.head, lstm_out + conv_out)
            self.conv_summary = True

    return CRNNConvSkip


EXPLORATION_MODULES = {
    "freq_aware_cnn": _freq_aware_cnn,
    "crnn_conv_skip": _crnn_conv_skip,
}


def _resolve_params(params):
    """A row's classifier parameters with a named exploration network built."""
    name = params.get("module")
    if isinstance(name, str):
        return {**params, "module": EXPLORATION_MODULES[name]()}
    return params


# rows fused with the SVM besides the "default" ones
FUSED = {"cnn | no early stopping", "cnn | no early stopping, 6 emotions"}

SEED_ANCHORS = [  # issue 13's measurements of the seed notebooks' recipes
    (
        "crnn",
        "seed recipe (128 mels, 4 s, up to 40 epochs)",
        "0.449 ± 0.039",
        "5 folds",
    ),
    ("cnn", "seed recipe", "0.431", "2 folds"),
]


def _factory(model):
    from sersk import pipelines

    return getattr(pipelines, f"make_{model}_pipeline")


def _front_params(front):
    return {k: v for k, v in sorted(front.items())}


def _front_key(model, front):
    # The CNN-LSTM and RNN fronts equal the 2-D nets' (all default to log-mel).
    return json.dumps(_front_params(front), sort_keys=True)


def _uar(y, pred):
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, pred))


# ---------------------------------------------------------------- workers
_FEATURES = {}


def _init_worker(feature_file, threads=1):
    import torch

    torch.set_num_threads(threads)
    warnings.simplefilter("ignore")
    with open(feature_file, "rb") as fh:
        _FEATURES.update(pickle.load(fh))


class _TailWeights(Callback):
    """skorch callback keeping the network's state after each of the last
    ``n`` epochs, as ``average_epochs`` does.

    It draws no random numbers, so training follows exactly the path it
    follows without it: the model at the end is the row's own, and the
    averages of its last epochs (what ``average_epochs=k`` gives) come from
    the same fit.
    """

    def __init__(self, n):
        self.n = n

    def initialize(self):
        self.states_ = collections.deque(maxlen=self.n)
        return self

    def on_epoch_end(self, net, **kwargs):
        from sersk.models._training import _averaged_state

        self.states_.append(_averaged_state(net.module_))


def _tail_average(clf, tail, k):
    """The fitted network averaged over its last ``k`` epochs."""
    import copy

    from sersk.models._training import average_states

    module = copy.deepcopy(clf.module_)
    average_states(module, list(tail.states_)[-k:])
    return module


def _run_fold(job):
    """Train one row on one fold; out-of-fold probabilities and timings back.

    A list of results: the row's own, then one per checkpoint average of
    its last ``job["tails"]`` epochs (from the same fit).
    """
    if job["start_by"] is not None and time.time() > job["start_by"]:
        return []  # queued to this worker before the budget ran out: skip
    import torch
    from sklearn.base import clone

    model, front, params, seed = job["model"], job["front"], job["params"], job["seed"]
    X_all = _FEATURES[job["front_key"]]
    pipe = _factory(model)(random_state=seed, **front, **_resolve_params(params))
    clf = clone(pipe.steps[-1][1])
    train, test = job["train"], job["test"]
    y = np.asarray(job["y"])
    Xtr = [X_all[i] for i in train]
    Xte = [X_all[i] for i in test]
    tails = job.get("tails") or ()
    tail = None
    if tails:
        tail = _TailWeights(max(tails))
        clf.set_params(callbacks=[("tail_weights", tail)])
    t0 = time.perf_counter()
    clf.fit(Xtr, y[train], groups=np.asarray(job["groups"])[train])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - t0

    def result(row, proba, seconds):
        pred = clf.classes_[proba.argmax(1)]
        return {
            "row": row,
            "fold": job["fold"],
            "test": [int(i) for i in test],
            "classes": clf.classes_.tolist(),
            "proba": proba.round(5).tolist(),
            "uar": _uar(y[test], pred),
            "accuracy": float(np.mean(pred == y[test])),
            "fit_s": seconds,
            "epochs": len(clf.history),
            "device": str(clf.device),
        }

    results = [result(job["row"], clf.predict_proba(Xte), fit_s)]
    if tails:
        tail = dict(clf.callbacks_)["tail_weights"]
    trained = clf.module_
    for k in tails:
        t1 = time.perf_counter()
        clf.module_ = _tail_average(clf, tail, k)
        seconds = fit_s + time.perf_counter() - t1
        results.append(
            result(_tail_row(job["row"], k), clf.predict_proba(Xte), seconds)
        )
        clf.module_ = trained
    return results


def _tail_row(row, k):
    return f"{row}, average of the last {k} epochs"


# ----------------------------------------------------------------- parent
def _load(root, max_clips):
    from sersk.datasets import load_ravdess

    ds = load_ravdess(root=root)
    paths = np.asarray(ds.data)
    y = np.asarray(ds.target)
    groups = np.asarray(ds.groups)
    if max_clips:
        idx = np.random.default_rng(0).permutation(len(y))[:max_clips]
        idx.sort()
        paths, y, groups = paths[idx], y[idx], groups[idx]
    return paths, y, groups


def _compute_fronts(rows, paths, n_jobs):
    from sklearn.pipeline import Pipeline

    fronts, seconds = {}, {}
    for _, model, front, _, _, _, _ in rows:
        key = _front_key(model, front)
        if key in fronts:
            continue
        pipe = _factory(model)(n_jobs=n_jobs, **front)
        t0 = time.perf_counter()
        frames = Pipeline(pipe.steps[:-1]).fit_transform(paths)
        seconds[key] = time.perf_counter() - t0
        fronts[key] = [np.ascontiguousarray(f, dtype=np.float32) for f in frames]
        print(f"front {key}: {seconds[key]:.1f} s", flush=True)
    return fronts, seconds


def _folds(y, groups, n_classes):
    from sklearn.model_selection import GroupKFold

    keep = np.flatnonzero(np.isin(y, SIX)) if n_classes == 6 else np.arange(len(y))
    cv = GroupKFold(n_splits=5)
    return [(keep[tr], keep[te]) for tr, te in cv.split(keep, y[keep], groups[keep])]


def run_study(args):
    paths, y, groups = _load(args.root, args.max_clips)
    rows = [r for r in ROWS if args.rows == "all" or r[6] == "default"]
    if args.models:
        rows = [r for r in rows if r[1] in args.models]
    selected = _parse_select(args.select)
    if selected:  # in the order asked for: the first rows start first
        by_name = {f"{r[1]} | {r[0]}": r for r in ROWS}
        rows = [by_name[name] for name in selected if name in by_name]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    fronts, front_s = _compute_fronts(rows, paths, args.front_jobs)
    feature_file = Path(tempfile.mkdtemp()) / "fronts.pkl"
    with open(feature_file, "wb") as fh:
        pickle.dump(fronts, fh, protocol=pickle.HIGHEST_PROTOCOL)
    # Wall-clock time after which no fold starts (also read in the workers:
    # the pool hands out a few folds ahead, and those cannot be cancelled).
    start_by = None
    if args.budget_s:
        start_by = time.time() + args.budget_s - (time.perf_counter() - t_start)
    jobs = []
    for name, model, front, params, n_classes, seed, _group in rows:
        if args.max_epochs:
            params = {**params, "max_epochs": args.max_epochs}
        wanted = selected.get(f"{model} | {name}") if selected else None
        for fold, (tr, te) in enumerate(_folds(y, groups, n_classes)):
            if args.first_fold_only and fold:
                continue
            if wanted is not None and fold not in wanted:
                continue
            jobs.append(
                {
                    "row": f"{model} | {name}",
                    "model": model,
                    "front": front,
                    "front_key": _front_key(model, front),
                    "params": params,
                    "seed": seed,
                    "fold": fold,
                    "train": tr.tolist(),
                    "test": te.tolist(),
                    "y": y.tolist(),
                    "groups": groups.tolist(),
                    "tails": _tails_for(params, args.tails),
                    "start_by": start_by,
                }
            )
    meta = {
        "rows": [
            {
                "row": f"{m} | {n}",
                "model": m,
                "name": n,
                "front": f,
                "params": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in p.items()
                },
                "classes": c,
                "seed": s,
                "group": g,
            }
            for n, m, f, p, c, s, g in rows
        ]
        + [
            {
                "row": _tail_row(f"{m} | {n}", k),
                "model": m,
                "name": f"{n}, average of the last {k} epochs",
                "front": f,
                "params": {
                    **{
                        kk: list(v) if isinstance(v, tuple) else v
                        for kk, v in p.items()
                    },
                    "average_epochs": k,
                },
                "classes": c,
                "seed": s,
                "group": "averaging",
            }
            for n, m, f, p, c, s, g in rows
            for k in _tails_for(p, args.tails)
        ],
        "y": y.tolist(),
        "groups": groups.tolist(),
        "front_seconds": front_s,
        "source": _source_hash(),
        "machine": _machine(),
        "jobs": args.jobs,
        "argv": sys.argv[1:],
        "max_epochs_override": args.max_epochs,
        "max_clips": args.max_clips,
    }
    (out / "meta.json").write_text(json.dumps(meta))
    results_file = out / "folds.jsonl"
    deadline = t_start + args.budget_s if args.budget_s else None
    n_done = 0
    ctx = get_context("spawn")
    try:
        with (
            ProcessPoolExecutor(
                args.jobs,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(str(feature_file), args.threads),
            ) as pool,
            open(results_file, "a") as fh,
        ):
            pending = {pool.submit(_run_fold, job) for job in jobs}
            while pending:
                timeout = (
                    None
                    if deadline is None
                    else max(1.0, deadline - time.perf_counter())
                )
                done, pending = wait(
                    pending, timeout=timeout, return_when="FIRST_COMPLETED"
                )
                for fut in done:
                    results = fut.result()
                    n_done += bool(results)
                    for res in results:
                        fh.write(json.dumps(res) + "\n")
                        fh.flush()
                        print(
                            f"[{time.perf_counter() - t_start:6.0f} s] {res['row']} "
                            f"fold {res['fold']}: UAR {res['uar']:.3f}, "
                            f"{res['epochs']} epochs, {res['fit_s']:.0f} s on "
                            f"{res['device']}",
                            flush=True,
                        )
                if deadline is not None and time.perf_counter() > deadline:
                    # Folds not started yet are dropped; those in flight are
                    # still collected above as they finish.
                    pending = {fut for fut in pending if not fut.cancel()}
                    print(
                        f"budget reached: {len(jobs) - n_done - len(pending)} "
                        f"folds not started, {len(pending)} running or queued",
                        flush=True,
                    )
                    deadline = None
    except KeyboardInterrupt:
        print("interrupted; completed folds are in", results_file, file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        feature_file.unlink(missing_ok=True)
    print(f"{n_done}/{len(jobs)} folds in {time.perf_counter() - t_start:.0f} s")
    summarize(out)


def _tails_for(params, tails):
    """Checkpoint averages to score beside a row: not when it stops early."""
    if params.get("patience") is not None or params.get("average_epochs"):
        return []
    return sorted(int(k) for k in tails or ())


def _parse_select(items):
    """``["cnn | default@0,4", ...]`` -> {row: set of folds or None (all)}."""
    selected = {}
    for item in items or ():
        row, _, folds = item.partition("@")
        selected[row.strip()] = {int(f) for f in folds.split(",")} if folds else None
    return selected


def run_svm(args):
    """Out-of-fold probabilities of make_svm_pipeline(probability=True).

    The features of the clips and of their speed-perturbed copies are
    computed once; each fold then fits the head on its clips and their
    copies, exactly as the pipeline's own ``fit`` does (``sersk evaluate``
    does the same).
    """
    from sklearn.base import clone

    from sersk.cli._model import split_pipeline, with_perturbed_copies
    from sersk.pipelines import make_svm_pipeline

    paths, y, groups = _load(args.root, args.max_clips)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = make_svm_pipeline(probability=True, n_jobs=args.front_jobs)
    loader, front, head = split_pipeline(pipe)
    t0 = time.perf_counter()
    F = front.fit_transform(loader.fit_transform(paths))
    head, rows = with_perturbed_copies(pipe, head, paths, F, quiet=True)
    print(f"svm features {time.perf_counter() - t0:.0f} s", flush=True)
    result = {}
    for n_classes in (8, 6):
        for fold, (tr, te) in enumerate(_folds(y, groups, n_classes)):
            clf = clone(head).fit(rows[tr], y[tr])
            classes = clf.classes_
            result[f"{n_classes}:{fold}"] = {
                "test": te.tolist(),
                "classes": classes.tolist(),
                "proba": clf.predict_proba(rows[te]).round(5).tolist(),
            }
    (out / "svm_proba.json").write_text(json.dumps(result))


def _source_hash():
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "sersk").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _machine():
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info["cpus"] = os.cpu_count()
    from sersk.models import native_bf16

    info["cpu_bf16"] = native_bf16("cpu")  # precision="auto" trains in bf16 there
    return info


def _fold_scores(folds, y):
    uars = [f["uar"] for f in folds]
    return float(np.mean(uars)), float(np.std(uars))


def _ensemble(fold_sets, y):
    """UAR per fold of the mean probabilities of several rows' folds."""
    scores = []
    for folds in zip(*fold_sets, strict=True):
        proba = np.mean([np.asarray(f["proba"]) for f in folds], axis=0)
        classes = np.asarray(folds[0]["classes"])
        test = np.asarray(folds[0]["test"])
        scores.append(_uar(y[test], classes[proba.argmax(1)]))
    return scores


def summarize(out, merge=(), write=True):
    """Table of the folds in ``out`` (and of the runs in ``merge``, same clips).

    ``write`` saves it as ``summary.md`` and ``summary.json`` in ``out`` and
    prints it.
    """
    out = Path(out)
    meta = json.loads((out / "meta.json").read_text())
    y = np.asarray(meta["y"])
    by_row = {}
    for folder in (out, *map(Path, merge)):
        extra = json.loads((folder / "meta.json").read_text())
        if extra["y"] != meta["y"] or extra["source"] != meta["source"]:
            raise SystemExit(f"{folder} ran on other clips or sources than {out}")
        known = {r["row"] for r in meta["rows"]}
        meta["rows"] += [r for r in extra["rows"] if r["row"] not in known]
        for line in (folder / "folds.jsonl").read_text().splitlines():
            res = json.loads(line)
            by_row.setdefault(res["row"], {})[res["fold"]] = res
    svm = None
    if (out / "svm_proba.json").exists():
        svm = json.loads((out / "svm_proba.json").read_text())
    lines = [
        "| model | recipe | classes | UAR | accuracy | epochs | fit s/fold | folds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    records = []
    for row in meta["rows"]:
        folds = [
            by_row.get(row["row"], {})[k] for k in sorted(by_row.get(row["row"], {}))
        ]
        if not folds:
            continue
        uar = [f["uar"] for f in folds]
        acc = [f["accuracy"] for f in folds]
        rec = {
            "model": row["model"],
            "recipe": row["name"],
            "classes": row["classes"],
            "uar": (float(np.mean(uar)), float(np.std(uar))),
            "accuracy": (float(np.mean(acc)), float(np.std(acc))),
            "epochs": float(np.mean([f["epochs"] for f in folds])),
            "fit_s": float(np.mean([f["fit_s"] for f in folds])),
            "n_folds": len(folds),
            "group": row["group"],
        }
        records.append(rec)
        lines.append(_line(rec))
    crnn = {r["name"]: r["row"] for r in meta["rows"] if r["model"] == "crnn"}
    seeds = [
        crnn[n] for n in ("default", "default, seed 1", "default, seed 2") if n in crnn
    ]
    seed_sets = [_complete(by_row.get(r, {})) for r in seeds]
    seed_sets = [f for f in seed_sets if f]
    if len(seed_sets) >= 2:
        scores = _ensemble(seed_sets, y)
        names = ", ".join(str(i) for i in range(len(seed_sets)))
        recipe = f"ensemble of seeds {names} (mean probabilities)"
        lines.append(_plain("crnn", recipe, 8, scores))
    if svm is not None:
        for row in meta["rows"]:
            if row["group"] != "default" and row["row"] not in FUSED:
                continue
            folds = _complete(by_row.get(row["row"], {}))
            if not folds:
                continue
            svm_folds = [svm.get(f"{row['classes']}:{f['fold']}") for f in folds]
            scores = []
            for f, s in zip(folds, svm_folds, strict=True):
                assert s["test"] == f["test"] and s["classes"] == f["classes"]
                proba = (np.asarray(f["proba"]) + np.asarray(s["proba"])) / 2
                scores.append(
                    _uar(
                        y[np.asarray(f["test"])],
                        np.asarray(f["classes"])[proba.argmax(1)],
                    )
                )
            lines.append(
                _plain(
                    f"svm + {row['model']}"
                    + ("" if row["group"] == "default" else f" ({row['name']})"),
                    "late fusion: mean of the probabilities",
                    row["classes"],
                    scores,
                )
            )
        for n_classes in (8, 6):
            keys = [k for k in svm if k.startswith(f"{n_classes}:")]
            scores = [
                _uar(
                    y[np.asarray(svm[k]["test"])],
                    np.asarray(svm[k]["classes"])[
                        np.asarray(svm[k]["proba"]).argmax(1)
                    ],
                )
                for k in sorted(keys)
            ]
            lines.append(
                _plain("svm", "make_svm_pipeline(probability=True)", n_classes, scores)
            )
    table = "\n".join(lines)
    if write:
        (out / "summary.md").write_text(table + "\n")
        (out / "summary.json").write_text(json.dumps(records, indent=1))
        print(table)
    return table


STUDY = ROOT / "benchmarks" / "results" / "deep_recipes"
CPU_RUN = ROOT / "benchmarks" / "results" / "deep_cpu"
LANDED = ROOT / "benchmarks" / "results" / "deep_landed"
GPU_LANDED = ROOT / "benchmarks" / "results" / "deep_gpu_landed"
# earlier CPU reruns, newest first: the sources before the CRNN's head saw
# the conv maps, before the CNN's head kept the frequency rows, and before the
# CRNN's default became 128 mels
EARLIER_LANDED = (
    ROOT / "benchmarks" / "results" / "deep_landed_0987fece5a18",
    ROOT / "benchmarks" / "results" / "deep_landed_8caebb46cf0d",
    ROOT / "benchmarks" / "results" / "deep_landed_ca34714aa2d4",
)


def _more_seeds(rows, by_row):
    """'one more seed' or 'N more seeds': the seed rows of a run that ran."""
    n = len({r["row"] for r in rows if r["group"] == "seed" and r["row"] in by_row})
    words = {1: "one more seed", 2: "two more seeds", 3: "three more seeds"}
    return words.get(n, f"{n} more seeds")


def _runs(folder):
    """``folder`` and its sub-folders that hold finished folds."""
    subs = sorted(p.parent for p in folder.glob("*/folds.jsonl"))
    return [f for f in (folder, *subs) if (f / "folds.jsonl").exists()]


def _folds_by_row(folder):
    by_row = {}
    for sub in _runs(folder):
        for line in (sub / "folds.jsonl").read_text().splitlines():
            res = json.loads(line)
            by_row.setdefault(res["row"], {})[res["fold"]] = res
    return by_row


# the first folds of an exploration run of averaging with the batch-norm
# statistics estimated again on clean clips (SWA's update_bn), stopped after
# two folds; its log lines are kept here
CLEAN_BN_LOG = ROOT / "benchmarks" / "results" / "deep_clean_bn_exploration.log"


def _clean_bn_line(log):
    import re

    uar = {}
    for line in Path(log).read_text().splitlines():
        m = re.search(r"\] (.+?) fold (\d+): UAR ([0-9.]+)", line)
        if m:
            uar.setdefault(int(m[2]), {})[m[1]] = m[3]
    parts = []
    for fold in sorted(uar):
        base = uar[fold].pop("crnn | default")
        tails = " / ".join(uar[fold][k] for k in sorted(uar[fold], key=_tail_k))
        parts.append(f"fold {fold}: default {base}, averaged {tails}")
    return (
        "Exploration, not a full run (2 folds of the default CRNN, sources "
        "47789963744c, log in `benchmarks/results/deep_clean_bn_exploration."
        "log`): averaging the last 5 / 10 / 20 epochs and then estimating the "
        "batch-norm statistics again on the clean training clips, as SWA's "
        "`update_bn` does, scored lower than the model it started from ("
        + "; ".join(parts)
        + "), so `average_epochs` averages the running statistics with the "
        "weights instead."
    )


def _tail_k(row):
    return int(row.rsplit("last ", 1)[1].split()[0])


def _paired_lines(rows, by_row):
    """Per-fold differences of the averaging and ablation rows from their base.

    Folds differ by 4-7 points from one another, far more than most recipe
    changes, so a change is judged on the same folds: its UAR minus that of the
    row it changes, fold by fold.
    """
    out = {"averaging": [], "ablation": []}
    for row in rows:
        if row["group"] not in out:
            continue
        if row["group"] == "averaging":
            base = row["row"].rsplit(", average of the last", 1)[0]
        else:  # the default of the same seed where that ran, else seed 0's
            base = f"{row['model']} | default"
            if f"{base}, seed {row['seed']}" in by_row:
                base = f"{base}, seed {row['seed']}"
        a, b = by_row.get(row["row"], {}), by_row.get(base, {})
        folds = sorted(set(a) & set(b))
        if not folds:
            continue
        diff = [round(a[f]["uar"] - b[f]["uar"], 3) + 0.0 for f in folds]
        better = sum(d > 0 for d in diff)
        worse = sum(d < 0 for d in diff)
        out[row["group"]].append(
            f"{row['row']} minus {base}, per fold: "
            + ", ".join(f"{d:+.3f}" for d in diff)
            + f" (mean {np.mean(diff):+.3f}; {better} of {len(diff)} folds "
            f"better, {worse} worse)"
        )
    lines = []
    if out["averaging"]:
        lines += [
            "Checkpoint averaging against the same fits without it (paired "
            "by fold): " + "; ".join(out["averaging"]) + ".",
            "",
        ]
    if out["ablation"]:
        lines += [
            "Ablations against the default row of the same model on the same "
            "folds (another fit, so a difference also holds the spread from "
            "one training run to another"
            + _seed_spread(by_row)
            + "): "
            + "; ".join(out["ablation"])
            + ".",
            "",
        ]
    return lines


SEEDS = ("crnn | default", "crnn | default, seed 1", "crnn | default, seed 2")


def _seed_spread(by_row):
    """How far seeds of the default CRNN lie apart per fold, at most.

    From the section's own folds when it trained several seeds, else from the
    GPU run on the same sources, else from the study.
    """
    found = None
    for where, folds_of in (
        ("in this run", lambda: by_row),
        ("in the GPU run", lambda: _folds_by_row(GPU_LANDED)),
        ("in the study above", lambda: _folds_by_row(STUDY)),
    ):
        rows = folds_of()
        seeds = [rows[r] for r in SEEDS if r in rows]
        folds = sorted(set.intersection(*(set(f) for f in seeds))) if seeds else []
        if len(seeds) >= 2 and folds:
            found = where, seeds, folds
            break
    if found is None:
        return ""
    where, seeds, folds = found
    spread = max(
        max(s[f]["uar"] for s in seeds) - min(s[f]["uar"] for s in seeds) for f in folds
    )
    return (
        f": {len(seeds)} seeds of the default CRNN {where} lie up to "
        f"{spread:.3f} apart on one fold"
    )


def landed_section(page_hash, folder=LANDED):
    """Markdown of the rerun of the default rows on the page's own sources."""
    folder = Path(folder)
    if not (folder / "folds.jsonl").exists():
        return []
    merge = _runs(folder)[1:]
    meta = json.loads((folder / "meta.json").read_text())
    table = summarize(folder, merge, write=False)
    by_row = _folds_by_row(folder)
    metas = [meta] + [json.loads((sub / "meta.json").read_text()) for sub in merge]
    rows = []
    for m in metas:
        known = {r["row"] for r in rows}
        rows += [r for r in m["rows"] if r["row"] not in known]
    machine = meta["machine"]
    device = machine.get("gpu") or f"{machine['cpus']} CPU cores"
    commands = [m["argv"] for m in metas]
    conditions = [m["conditions"] for m in metas if m.get("conditions")]
    same = meta["source"] == page_hash
    ran = {r["group"] for r in rows if r["row"] in by_row}
    lines = [
        "### The default rows "
        + ("and ablations " if "ablation" in ran else "")
        + "on "
        + ("this page's sources" if same else f"sources {meta['source']}")
        + f" ({'GPU' if machine.get('gpu') else 'CPU'})",
        "",
        "The `default` rows of the four deep pipelines"
        + (
            (", " if "ablation" in ran else " and ")
            + f"{_more_seeds(rows, by_row)} of the default CRNN"
            if "seed" in ran
            else ""
        )
        + (" and the ablations named below" if "ablation" in ran else "")
        + f", run again on sersk sources **{meta['source']}**"
        + (" (this page's)" if same else f" (not this page's {page_hash})")
        + f" on {device} (torch {machine['torch']}"
        + (
            f", {machine['cpus']} CPU cores; bf16 by `precision='auto'`"
            if machine.get("gpu")
            else "; bf16 by `precision='auto'`: this CPU has AVX512-BF16 or AMX"
            if machine.get("cpu_bf16")
            else "; float32: this CPU has no native bfloat16"
        )
        + f"), {meta['jobs']} folds at a time, each in its own process with "
        "one torch thread, so `fit s/fold` is the wall time of a fold that "
        "shares the machine with the others. Commands: "
        + "; ".join(
            "`python benchmarks/bench_deep_recipes.py " + shlex.join(a) + "`"
            for a in commands
        )
        + ". "
        + "".join(c + " " for c in conditions)
        + "The protocol and the recipe are those of the study above, with "
        "the defaults of these sources (no early stopping: 60 epochs). "
        + (
            "**average of the last k epochs** rows are checkpoint averaging "
            "(`average_epochs=k`) scored from the same fits: the callback that "
            "keeps the last weights draws no random numbers, so training is "
            "exactly the default row's, and the averaged network (mean weights "
            "and batch-norm statistics) is the one `average_epochs=k` gives. "
            if "averaging" in ran
            else ""
        )
        + (
            "The **ensemble** row averages the probabilities of the seeds' "
            "models (three fits, so three times the training cost). "
            if "seed" in ran
            else ""
        )
        + "**late fusion** averages the "
        "probabilities of the deep model and of `make_svm_pipeline("
        "probability=True)` (trained with its speed-perturbed copies) on the "
        "same folds, as `make_fusion_pipeline()` does."
        + (
            " Each **ablation** row is the default recipe with the change "
            "it names (a row of the study above), trained in the same way; "
            "a row that scores lower than the default says that the piece it "
            "removes helps."
            if "ablation" in ran
            else ""
        ),
        "",
        table,
        "",
    ]
    lines += _paired_lines(rows, by_row)
    if "averaging" in ran and CLEAN_BN_LOG.exists():
        lines += [_clean_bn_line(CLEAN_BN_LOG), ""]
    first = [
        (name, by_row[f"{name} | default"][0])
        for name in ("crnn", "cnn", "cnn_lstm", "rnn")
        if 0 in by_row.get(f"{name} | default", {})
    ]
    if first:
        lines += [
            "Training time per fold on this machine (fold 0 of each default "
            f"row, {meta['jobs']} folds at a time on {device}, in the conditions "
            "above): "
            + "; ".join(
                f"{name} {res['fit_s'] / 60:.1f} min ({res['epochs']} epochs)"
                for name, res in first
            )
            + ".",
            "",
        ]
    return lines


def page_section(page_hash, folder=STUDY, cpu_folder=CPU_RUN):
    """Markdown of the study for ``docs/results.md`` (empty without a study).

    The folds of ``folder`` and of its sub-folders (later runs on the same
    sources) are summarised; the section names the sources they ran on and
    says when those are not the page's.
    """
    folder = Path(folder)
    if not (folder / "meta.json").exists():
        return []
    merge = sorted(p.parent for p in folder.glob("*/meta.json"))
    meta = json.loads((folder / "meta.json").read_text())
    table = summarize(folder, merge, write=False)
    ran = {
        json.loads(line)["row"]
        for line in (folder / "folds.jsonl").read_text().splitlines()
    }
    for sub in merge:
        ran |= {
            json.loads(line)["row"]
            for line in (sub / "folds.jsonl").read_text().splitlines()
        }
    for later in (LANDED, GPU_LANDED, *EARLIER_LANDED):  # rows run since
        ran |= set(_folds_by_row(later))  # a partial row shows "k of 5" there
    not_run = [f"{m} | {n}" for n, m, *_ in ROWS if f"{m} | {n}" not in ran]
    machine = meta["machine"]
    device = machine.get("gpu", "CPU")
    same = meta["source"] == page_hash
    landed = LANDED / "meta.json"
    rerun = (LANDED / "folds.jsonl").exists() and json.loads(landed.read_text())[
        "source"
    ] == page_hash
    rerun_on = (
        ("a GPU" if json.loads(landed.read_text())["machine"].get("gpu") else "the CPU")
        if rerun
        else ""
    )
    gpu_meta = GPU_LANDED / "meta.json"
    if (
        rerun
        and gpu_meta.exists()
        and json.loads(gpu_meta.read_text())["source"] == page_hash
    ):
        rerun_on += (
            " and on "
            + json.loads(gpu_meta.read_text())["machine"]["gpu"]
            + " with more seeds and ablations"
        )
    lines = [
        "## Deep models: training-recipe study (speaker-independent)",
        "",
        f"Generated by `benchmarks/bench_deep_recipes.py` on one {device} "
        f"({machine['cpus']} CPU cores, torch {machine['torch']}; "
        f"{meta['jobs']} (the second run: 12) folds trained at once, each in its own process, so "
        "`fit s/fold` is the time of a fold sharing the GPU with the others), "
        f"sersk sources **{meta['source']}**"
        + (
            " (the sources of this page)."
            if same
            else f", not this page's {page_hash}: "
            + (
                "the default rows were run again on this page's sources on "
                f"{rerun_on} (the next sections); the other rows below were not. "
                if rerun
                else "the deep rows below were not rerun on these sources. "
            )
            + "The sources differ from those in the default of "
            "`patience` (None since, see the **no early stopping** rows), in "
            "the deep classifiers' training step (refactored so that "
            "Accelerate runs sersk's augmentation; a test checks that an "
            "accelerated classifier in one process trains as the plain one, to "
            "1e-5), in two options off or unchanged by default "
            "(`average_epochs`, `bn_momentum`) and in code the deep rows do not "
            "use. Rerunning them all takes a GPU: `python benchmarks/bench_deep_recipes.py --root RAVDESS --jobs "
            "14 --out benchmarks/results/deep_recipes` (about 10 minutes on an "
            "H200 for the default rows)."
        ),
        "",
        "Every row is a `sersk.pipelines.make_*_pipeline()` with its defaults of "
        "those sources except the row's one change: full-length clips with "
        "leading and trailing silence cut (`AudioLoader(trim_db=30)`), "
        "`MelSpectrogram(n_mels=64, n_fft=1024, hop_length=256)`, "
        "`ClipStandardizer`, then the classifier trained for 60 epochs with a "
        "cosine learning-rate schedule (5 % warm-up), SpecAugment (2 masks of up "
        "to 8 mel bands and 20 frames), a random frequency warp (±10 %) and "
        "time stretch (±15 %) of every training clip, mixup (Beta(0.2, 0.2)), "
        "label smoothing 0.1, AdamW with weight decay 1e-2 and balanced class "
        "weights; `precision='auto'` (bf16 on this GPU). Those sources still "
        "had early stopping by default (`patience=10` on the loss of whole "
        "training actors held out by `SpeakerValidSplit`); the **no early "
        "stopping** rows train all 60 epochs, which is the default since. "
        "GroupKFold(5) by actor, 8 emotions (6: neutral, happy, sad, angry, "
        "fear, disgust); UAR and accuracy are mean ± std over the folds. "
        "**previous defaults** is the recipe the factories had before "
        "(3 s clips padded or cut, 128 mels, 30 epochs, ReduceLROnPlateau, no "
        "augmentation, weight decay 1e-4, no class weights, wider networks). "
        "**ensemble** rows average the probabilities of the seeds' models; "
        "**late fusion** rows average the probabilities of the deep model and "
        "of `make_svm_pipeline(probability=True)` trained on the same folds "
        "(exactly what `make_fusion_pipeline()`'s soft voting computes).",
        "",
        table,
        "",
        "Seed-recipe anchors (issue 13, measured on the same folds by the seed "
        "notebooks' code): "
        + "; ".join(f"{m} {r}: UAR {v} ({n})" for m, r, v, n in SEED_ANCHORS)
        + ".",
        "",
    ]
    if not_run:
        lines += [
            "Defined in the script but not run yet, here or in the sections below "
            "(each needs a GPU, or about "
            "half an hour per row on a 2-core CPU, and is one `--select` away): "
            + "; ".join(f"`{r}`" for r in not_run)
            + ".",
            "",
        ]
    if (Path(cpu_folder) / "meta.json").exists():
        cpu = json.loads((Path(cpu_folder) / "summary.json").read_text())
        cpu_meta = json.loads((Path(cpu_folder) / "meta.json").read_text())
        lines += [
            "CPU training time per fold (the first fold of the same "
            f"protocol, {cpu_meta['machine']['cpus']} CPU cores, sources "
            f"{cpu_meta['source']}, one fold at a time with 2 torch threads, "
            + cpu_meta.get(
                "conditions",
                "under `nice` on a machine that other jobs shared (load average "
                "about 4 on 2 cores), so an upper bound rather than a "
                "measurement of an idle machine",
            )
            + "; `python benchmarks/bench_deep_recipes.py "
            + shlex.join(cpu_meta["argv"])
            + "`): "
            + "; ".join(
                f"{r['model']}"
                + ("" if r["recipe"] == "default" else f" ({r['recipe']})")
                + f" {r['fit_s'] / 60:.1f} min ({r['epochs']:.0f} epochs, "
                f"UAR {r['uar'][0]:.3f} on that fold)"
                for r in cpu
            )
            + "."
            + (" " + cpu_meta["remark"] if cpu_meta.get("remark") else ""),
            "",
        ]
    return lines


def _complete(by_fold):
    return [by_fold[k] for k in sorted(by_fold)] if len(by_fold) == 5 else []


def _line(rec):
    u, a = rec["uar"], rec["accuracy"]
    folds = "" if rec["n_folds"] == 5 else f"**{rec['n_folds']} of 5**"
    return (
        f"| {rec['model']} | {rec['recipe']} | {rec['classes']} | {u[0]:.3f} ± {u[1]:.3f} | "
        f"{a[0]:.3f} ± {a[1]:.3f} | {rec['epochs']:.0f} | {rec['fit_s']:.0f} | {folds or 5} |"
    )


def _plain(model, recipe, classes, scores):
    return (
        f"| {model} | {recipe} | {classes} | {np.mean(scores):.3f} ± {np.std(scores):.3f} "
        f"| | | | {len(scores)} |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="RAVDESS folder (Actor_01 ... Actor_24)")
    parser.add_argument("--out", default="deep-study", help="folder for the results")
    parser.add_argument("--rows", choices=["all", "default"], default="all")
    parser.add_argument(
        "--models", nargs="*", choices=["crnn", "cnn", "cnn_lstm", "rnn"]
    )
    parser.add_argument("--jobs", type=int, default=1, help="folds trained in parallel")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fold")
    parser.add_argument(
        "--front-jobs", type=int, default=None, help="files read in parallel"
    )
    parser.add_argument(
        "--budget-s", type=float, default=None, help="stop starting folds after this"
    )
    parser.add_argument("--first-fold-only", action="store_true")
    parser.add_argument(
        "--max-clips", type=int, default=None, help="smoke runs: a random subset"
    )
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="smoke runs: fewer epochs"
    )
    parser.add_argument(
        "--select", nargs="*", help='rows and folds: "cnn | default@0,4"'
    )
    parser.add_argument("--merge", nargs="*", default=(), help="more run folders")
    parser.add_argument(
        "--tails",
        nargs="*",
        type=int,
        default=(),
        help="also score the average of the last k epochs (average_epochs=k) "
        "of every row trained to its end, from the same fit",
    )
    parser.add_argument("--svm-only", action="store_true")
    parser.add_argument("--summarize", action="store_true")
    args = parser.parse_args(argv)
    if args.summarize:
        summarize(args.out, args.merge)
    elif args.svm_only:
        run_svm(args)
    else:
        if not args.root:
            parser.error("--root is required")
        run_study(args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
