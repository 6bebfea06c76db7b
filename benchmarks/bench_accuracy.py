"""Accuracy of the baselines on RAVDESS under two evaluation protocols.

Protocols: random stratified 5-fold (speakers on both sides, what most SER
projects report) and speaker-independent GroupKFold(5) by actor. Label sets:
the 8 RAVDESS emotions and six (neutral, happy, sad, angry, fear, disgust).
Metrics: accuracy and UAR (unweighted average recall = balanced accuracy),
mean ± std over folds, plus wall time. The table is written to
``docs/results.md``.

Frame-level features are computed once per clip with librosa (the same
computations and defaults as ``sersk.features``: n_fft=2048, hop_length=512,
16 kHz) and cached with joblib.Memory, so the protocols, label sets and
variants reuse them. The cache of a run lives in ``<--cache>/sersk-<hash>``,
named by a hash of sersk's sources: rows and features computed by another
version of sersk are never reused.

Usage::

    nice -n 10 python benchmarks/bench_accuracy.py                 # everything
    nice -n 10 python benchmarks/bench_accuracy.py --models svm rf # classic rows
    nice -n 10 python benchmarks/bench_accuracy.py --models svm --experiments
    python benchmarks/bench_accuracy.py --models cnn crnn --epochs 20
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from joblib import Memory, Parallel, delayed  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    GroupKFold,
    StratifiedKFold,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from sersk.evaluation import (  # noqa: E402
    LeakageWarning,
    evaluate,
    markdown_table,
    standardize_by_speaker,
)
from sersk.features import SpeakerStandardizer  # noqa: E402
from sersk.pipelines import make_svm_pipeline  # noqa: E402

SR = 16000
N_FFT = 2048
HOP = 512
SIX = ("neutral", "happy", "sad", "angry", "fear", "disgust")
# rows of the stacked frame-level matrix of one clip
BLOCKS = {"mfcc": 40, "chroma": 12, "mel": 128, "contrast": 7, "zcr": 1, "rms": 1}


def sersk_source_hash():
    """Short hash of sersk's Python sources, naming the cache folder of a run.

    joblib.Memory only notices changes to the memoised functions themselves;
    rows computed by an older sersk (another model or feature code) must not
    be reused, so every sersk version gets a cache of its own.
    """
    digest = hashlib.sha256()
    for path in sorted((ROOT / "sersk").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ravdess_index(root):
    """Paths, labels (canonical vocabulary) and actor numbers of RAVDESS speech."""
    from sersk.datasets import load_ravdess

    try:
        ds = load_ravdess(root=root)
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from None
    actors = ds.frame["speaker"].astype(int).to_numpy()
    return [str(p) for p in ds.data], np.asarray(ds.target), actors


def _clip_frames(path):
    import librosa

    from sersk.io import load_audio

    y, _ = load_audio(path, sr=SR)
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = librosa.feature.melspectrogram(S=S, sr=SR, n_mels=128)
    log_mel = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=40)
    chroma = librosa.feature.chroma_stft(S=S, sr=SR)
    contrast = librosa.feature.spectral_contrast(S=np.sqrt(S), sr=SR)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)
    rms = librosa.feature.rms(S=np.sqrt(S), frame_length=N_FFT, hop_length=HOP)
    # the classic recipe pools the (power) mel spectrogram, not its dB values
    frames = np.vstack([mfcc, chroma, mel, contrast, zcr, rms]).astype(np.float32)
    return frames, log_mel.astype(np.float32)


def extract_frames(paths, n_jobs=1):
    out = Parallel(n_jobs=n_jobs)(delayed(_clip_frames)(p) for p in paths)
    return [o[0] for o in out], [o[1] for o in out]


SIX_STATS = ("mean", "std", "min", "max", "skew", "kurtosis")


def load_waveforms(paths, trim_db=None, n_jobs=1):
    from sersk.features import AudioLoader

    loader = AudioLoader(sr=SR, duration=None, trim_db=trim_db, n_jobs=n_jobs)
    return loader.transform(paths)


def voiced_prosody(P):
    """Prosody frames pooled over voiced frames: F0 in semitones, jitter,
    shimmer, HNR (mean, std, min, max), the voiced fraction and loudness
    (mean, std, max) over all frames."""
    out = []
    for p in P:
        voiced = p[0] > 0
        rows = p[[0, 2, 3, 4]][:, voiced] if voiced.sum() > 1 else np.zeros((4, 2))
        rows = rows.astype(np.float64)
        rows[0] = 12 * np.log2(np.maximum(rows[0], 1.0) / 100.0)
        stats = [rows.mean(1), rows.std(1), rows.min(1), rows.max(1)]
        loud = [voiced.mean(), p[5].mean(), p[5].std(), p[5].max()]
        out.append(np.concatenate([*stats, loud]))
    return np.asarray(out)


def sersk_features(waves, variant):
    """Pooled features computed by sersk's own transformers (stateless).

    sersk      : the features of make_svm_pipeline() (silence trimmed, six
                 statistics, MFCC deltas): computed from the file paths
    sersk-voice : those of make_svm_pipeline(voice=True): the same with the
                 voice functionals last
    sersk-0.1  : make_classic_features(), the features of the first release's
                 make_svm_pipeline() (mean and std)
    sersk-rich : make_classic_features with six statistics each, MFCC with
                 deltas and delta-deltas (on the waveforms given)
    prosody    : sersk.features.Prosody pooled over voiced frames
    egemaps    : sersk.features.OpenSmile() functionals (eGeMAPSv02)
    """
    from sklearn.pipeline import make_pipeline as mp

    from sersk.features import (
        MFCC,
        OpenSmile,
        Prosody,
        TimePooling,
        make_classic_features,
    )
    from sersk.pipelines import make_svm_pipeline

    if variant in ("sersk", "sersk-voice"):
        pipe = make_svm_pipeline(voice=variant == "sersk-voice")
        front = pipe[: _step_index(pipe, "features") + 1]
        return np.asarray(front.fit_transform(waves), np.float64)
    if variant == "prosody":
        return voiced_prosody(Prosody(sr=SR).fit_transform(waves))
    if variant == "egemaps":
        return np.asarray(OpenSmile(sr=SR).fit_transform(waves), dtype=np.float64)
    if variant == "sersk-0.1":
        union = make_classic_features(SR)
    elif variant == "sersk-rich":
        union = make_classic_features(SR, stats=SIX_STATS)
        union.set_params(mfcc=mp(MFCC(sr=SR, deltas=2), TimePooling(stats=SIX_STATS)))
    else:
        raise ValueError(variant)
    return np.asarray(union.fit_transform(waves), dtype=np.float64)


def _skew_kurt(F):
    mu = F.mean(axis=1, keepdims=True)
    sd = F.std(axis=1, keepdims=True)
    z = (F - mu) / np.maximum(sd, 1e-8)
    return (z**3).mean(axis=1), (z**4).mean(axis=1) - 3.0


def pool(frames_list, variant):
    """Clip-level feature vectors of one feature variant.

    classic : mean + std of MFCC-40, chroma, mel, contrast, ZCR, RMS (378 dims)
    rich    : classic blocks with the mel block in dB, plus MFCC deltas and
              delta-deltas; mean, std, min, max, skew, kurtosis per row
    """
    import librosa

    rows = []
    for F in frames_list:
        if variant == "classic":
            rows.append(np.concatenate([F.mean(axis=1), F.std(axis=1)]))
            continue
        mfcc = F[:40]
        d1 = librosa.feature.delta(mfcc, width=9, order=1, mode="nearest")
        d2 = librosa.feature.delta(mfcc, width=9, order=2, mode="nearest")
        mel = F[52:180]
        mel_db = 10.0 * np.log10(np.maximum(mel, 1e-10) / max(mel.max(), 1e-10))
        G = np.vstack([mfcc, d1, d2, F[40:52], mel_db, F[180:]])
        skew, kurt = _skew_kurt(G)
        stats = [G.mean(axis=1), G.std(axis=1), G.min(axis=1), G.max(axis=1)]
        rows.append(np.concatenate([*stats, skew, kurt]))
    return np.asarray(rows, dtype=np.float64)


def deep_frames(paths, n_mels, n_fft, hop_length, duration, trim_db=None, n_jobs=1):
    """Log-mel input of the deep rows, computed by sersk's own transformers.

    The front of ``make_crnn_pipeline(duration=..., n_mels=..., hop_length=...)``:
    ``AudioLoader(duration, trim_db)`` (silence cut if ``trim_db``, then
    zero-padded or trimmed at the end) and ``MelSpectrogram`` in dB.
    Stateless, so it is computed once and cached; the per-clip
    standardisation stays inside the cross-validated pipeline.
    """
    from sersk.features import AudioLoader, MelSpectrogram

    loader = AudioLoader(sr=SR, duration=duration, trim_db=trim_db, n_jobs=n_jobs)
    waves = loader.transform(paths)
    mel = MelSpectrogram(sr=SR, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    return mel.transform(waves)


def speed_copies(paths, variant):
    """Features of the speed-perturbed copies of every clip that
    make_svm_pipeline() (``voice=True`` for sersk-voice) trains on besides the
    clips: one array per speed factor, computed as its fit computes them."""
    from sersk._augmented_pipeline import perturbed_copies

    pipe = make_svm_pipeline(voice=variant == "sersk-voice")
    front = pipe[: _step_index(pipe, "features") + 1]
    return [
        np.asarray(front.fit_transform(waves), np.float64)
        for waves in perturbed_copies(pipe, paths)
    ]


def _step_index(pipe, name):
    return [n for n, _ in pipe.steps].index(name)


def _voice_last(variant):
    """Whether a feature variant ends with make_svm_pipeline's voice functionals."""
    return variant.split(" + ")[-1] == "sersk-voice"


# (features, model, speaker adaptation) of the --experiments rows
EXPERIMENTS = [
    ("classic", "svm", False),
    ("rich", "svm", False),
    ("sersk-0.1", "svm", False),
    ("sersk-rich", "svm", False),
    ("sersk", "svm-noaug", False),
    ("sersk", "svm", False),
    ("sersk", "logreg", False),
    ("sersk-voice", "svm-noaug", False),
    ("sersk-voice", "svm", False),
    ("sersk-voice", "logreg", False),
    ("sersk", "svm_tuned", False),
    ("prosody + sersk", "svm", False),
    ("prosody + sersk", "logreg", False),
    ("egemaps + sersk", "svm", False),
    ("egemaps + sersk", "logreg", False),
    ("sersk-0.1", "svm", True),
    ("sersk", "svm-noaug", True),
    ("sersk", "svm", True),
    ("sersk", "logreg", True),
    ("sersk-voice", "svm-noaug", True),
    ("sersk-voice", "svm", True),
    ("sersk-voice", "logreg", True),
    ("prosody + sersk", "logreg", True),
    ("egemaps + sersk", "svm", True),
    ("egemaps + sersk", "logreg", True),
]


def make_estimator(name, args, n_features, n_groups=24, voice_last=False):
    if name == "svm-noaug":
        name = "svm"  # the same classifier; its rows get no perturbed copies
    if name == "svm" and voice_last:
        # make_svm_pipeline's own steps after its features: scaler, voice
        # weight, SVC
        pipe = make_svm_pipeline(C=args.C, voice=True)
        return pipe[_step_index(pipe, "standardscaler") :]
    if name == "svm":
        svc = SVC(C=args.C, gamma="scale", class_weight="balanced")
        return make_pipeline(StandardScaler(), svc)
    if name == "svm_tuned":
        grid = {
            "svc__C": [1.0, 10.0, 100.0],
            "svc__gamma": [f / n_features for f in (0.5, 1.0, 2.0)],
        }
        return GridSearchCV(
            make_pipeline(StandardScaler(), SVC(class_weight="balanced")),
            grid,
            cv=GroupKFold(min(3, n_groups - -(-n_groups // args.folds))),
            scoring="balanced_accuracy",
            n_jobs=args.n_jobs,
        )
    if name == "logreg":
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=args.logreg_C, max_iter=5000)
        )
    if name == "rf":
        return RandomForestClassifier(
            n_estimators=args.trees, n_jobs=args.n_jobs, random_state=0
        )
    if name in ("cnn", "crnn"):
        return make_deep_estimator(name, args)
    raise ValueError(name)


def make_deep_estimator(name, args, precision=None, speaker_norm=False):
    """ClipStandardizer + deep classifier (just the classifier on frames that
    were already standardised per speaker)."""
    from sersk.features import ClipStandardizer
    from sersk.models import CNNClassifier, CRNNClassifier

    cls = CNNClassifier if name == "cnn" else CRNNClassifier
    clf = cls(
        max_epochs=args.cnn_epochs if name == "cnn" else args.epochs,
        patience=args.patience,
        precision=precision or args.precision,
        class_weight="balanced",
        random_state=0,
    )
    return clf if speaker_norm else make_pipeline(ClipStandardizer(), clf)


def _cv(est, X, y, groups, cv, fit_params, n_jobs=None):
    start = time.perf_counter()
    with warnings.catch_warnings():
        # the random protocol leaks speakers on purpose: that is the comparison
        warnings.simplefilter("ignore", LeakageWarning)
        res = evaluate(
            est, X, y, groups=groups, cv=cv, fit_params=fit_params, n_jobs=n_jobs
        )
    return res, time.perf_counter() - start


def cross_validate_row(est, X, y, groups, cv, fit_params, cache, n_jobs=None):
    """evaluate() one row, memoised on (estimator, data, folds) in ``cache``."""
    cached = Memory(cache, verbose=0).cache(_cv, ignore=["n_jobs"])
    return cached(est, X, y, groups, cv, fit_params, n_jobs=n_jobs)


def run_row(
    model, protocol, label_set, X, y, actors, args, variant="classic", est=None
):
    keep = np.isin(y, SIX) if label_set == "6 emotions" else np.ones(len(y), bool)
    Xs, ys, gs = X[keep], y[keep], actors[keep]
    if protocol == "random":
        cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    else:
        cv = GroupKFold(args.folds)
    if est is None:
        est = make_estimator(
            model,
            args,
            Xs.shape[1] if Xs.ndim == 2 else 0,
            np.unique(gs).size,
            voice_last=_voice_last(variant),
        )
    # inner speaker-independent splits: the grid search's folds, and the deep
    # models' early-stopping validation part (whole training speakers)
    n_jobs = None
    if model in ("cnn", "crnn"):
        step = est.steps[-1][0] + "__" if hasattr(est, "steps") else ""
        fit_params = {step + "groups": gs}
        # folds in parallel, one torch thread each (joblib limits the threads
        # of its workers): better use of 2 cores than 2 threads per fit
        n_jobs = args.deep_n_jobs
    else:
        fit_params = {"groups": gs} if model == "svm_tuned" else None
    res, wall = cross_validate_row(est, Xs, ys, gs, cv, fit_params, args.cache, n_jobs)
    row = {
        "model": model,
        "features": variant,
        "protocol": "random stratified"
        if protocol == "random"
        else "speaker-independent",
        "classes": label_set,
        "accuracy": res.format_metric("accuracy"),
        "UAR": res.format_metric("uar"),
        "macro F1": res.format_metric("macro_f1"),
        "wall time (s)": f"{wall:.1f}",
    }
    print(" | ".join(str(v) for v in row.values()), flush=True)
    row["_fold_uar"] = res.folds["uar"].astype(float).tolist()  # not a column
    return row, res


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "root", nargs="?", default=str(ROOT.parent / "shared" / "data" / "ravdess")
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["svm", "rf", "cnn", "crnn"],
        choices=["svm", "svm_tuned", "logreg", "rf", "cnn", "crnn"],
    )
    parser.add_argument(
        "--protocols",
        nargs="+",
        default=["random", "speaker"],
        choices=["random", "speaker"],
    )
    parser.add_argument(
        "--label-sets", nargs="+", default=["8", "6"], choices=["8", "6"]
    )
    parser.add_argument(
        "--features",
        default="sersk",
        choices=["sersk", "sersk-0.1", "sersk-rich", "classic", "rich"],
        help="pooled features of the svm/rf rows (see pool and sersk_features)",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20, help="CRNN epochs (max)")
    parser.add_argument("--cnn-epochs", type=int, default=12, help="CNN epochs (max)")
    parser.add_argument(
        "--patience", type=int, default=6, help="early stopping of the deep models"
    )
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--n-mels", type=int, default=64, help="deep models input")
    parser.add_argument(
        "--trim-db",
        type=float,
        default=30.0,
        help="AudioLoader(trim_db=...) of the '+ trim' experiment rows",
    )
    parser.add_argument("--hop-length", type=int, default=512)
    parser.add_argument("--duration", type=float, default=3.0, help="deep input (s)")
    parser.add_argument(
        "--deep-n-jobs", type=int, default=2, help="deep folds run in parallel"
    )
    parser.add_argument("--C", type=float, default=10.0)
    parser.add_argument("--logreg-C", type=float, default=0.01)
    parser.add_argument("--trees", type=int, default=300, help="random forest size")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument(
        "--cache",
        default="/tmp/sersk_bench_accuracy_cache",
        help="joblib.Memory folder (a subfolder per version of sersk's sources)",
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "results.md"))
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="also run the SVM improvement variants (speaker-independent, 8 classes)",
    )
    parser.add_argument(
        "--deep-experiments",
        action="store_true",
        help="also run CRNN in fp32 (bf16 parity) and with per-speaker "
        "normalisation (speaker-independent, 8 classes)",
    )
    args = parser.parse_args(argv)

    paths, y, actors = ravdess_index(args.root)
    args.code = sersk_source_hash()
    args.cache = str(Path(args.cache) / f"sersk-{args.code}")
    print(f"cache: {args.cache}", flush=True)
    memory = Memory(args.cache, verbose=0)
    timings_file = Path(args.cache) / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}

    def timed(key, func, *a, **kw):
        """Run a memoised step; remember how long its first computation took."""
        cached = memory.cache(func, ignore=["n_jobs"] if "n_jobs" in kw else None)
        start = time.perf_counter()
        out = cached(*a, **kw)
        seconds = time.perf_counter() - start
        if key is None:
            return out
        # timings.json lives next to the cache: the first run records the cost
        if key not in timings:
            timings[key] = seconds
            timings_file.parent.mkdir(parents=True, exist_ok=True)
            timings_file.write_text(json.dumps(timings))
        print(f"{key}: {timings[key]:.1f} s (now {seconds:.1f} s)", flush=True)
        return out

    frames, log_mels = timed(
        "librosa frame features", extract_frames, paths, n_jobs=args.n_jobs
    )
    print(f"{len(paths)} clips, {len(set(actors))} actors", flush=True)
    label_sets = {"8": "8 emotions", "6": "6 emotions"}
    pooled = {}
    waves = {}  # trim_db -> waveforms

    def features(variant):
        if variant not in pooled and " + " in variant and "trim" not in variant:
            # "prosody + sersk": another set beside the default features, of
            # the clips trimmed as the default pipeline trims them (the
            # default's voice functionals stay the last columns)
            parts = [features(variant.split(" + ")[-1])]
            trim_db = make_svm_pipeline().named_steps["audioloader"].trim_db
            for extra in variant.split(" + ")[:-1]:
                if trim_db not in waves:
                    waves[trim_db] = timed(
                        None, load_waveforms, paths, trim_db, n_jobs=args.n_jobs
                    )
                parts.append(
                    timed(f"{extra} features", sersk_features, waves[trim_db], extra)
                )
            pooled[variant] = np.hstack(parts[1:] + parts[:1])
        if variant not in pooled:
            if variant in ("sersk", "sersk-voice"):
                pooled[variant] = timed(
                    f"{variant} features (make_svm_pipeline, from the files)",
                    sersk_features,
                    paths,
                    variant,
                )
            elif variant.startswith("sersk"):
                base, _, trim = variant.partition(" + ")
                trim_db = args.trim_db if trim else None
                if trim_db not in waves:
                    waves[trim_db] = timed(
                        None,  # timed together with the first features
                        load_waveforms,
                        paths,
                        trim_db,
                        n_jobs=args.n_jobs,
                    )
                pooled[variant] = timed(
                    f"{variant} features", sersk_features, waves[trim_db], base
                )
            else:
                pooled[variant] = pool(frames, variant)
        return pooled[variant]

    deep = {}  # trim_db -> log-mel frames

    def deep_input(trim_db=None):
        if trim_db not in deep:
            deep[trim_db] = timed(
                f"sersk log-mel {args.n_mels} ({args.duration:g} s)"
                + (f", trim {trim_db:g} dB" if trim_db else ""),
                deep_frames,
                paths,
                args.n_mels,
                1024,
                args.hop_length,
                args.duration,
                trim_db,
                n_jobs=args.n_jobs,
            )
        return deep[trim_db]

    copies = {}  # variant -> features of the speed-perturbed copies

    def row_input(model, variant, X, est=None):
        """X and estimator of a row: the svm of make_svm_pipeline() also
        trains on the speed-perturbed copies of the training clips."""
        if model != "svm" or variant not in ("sersk", "sersk-voice"):
            return X, est
        from sersk._augmented_pipeline import _RowsWithCopies

        if variant not in copies:
            copies[variant] = timed(
                f"{variant} features of the speed-perturbed copies",
                speed_copies,
                paths,
                variant,
            )
        if est is None:
            est = make_estimator(
                model,
                args,
                X.shape[1],
                np.unique(actors).size,
                voice_last=_voice_last(variant),
            )
        rows = _RowsWithCopies.index(len(X))
        return rows, _RowsWithCopies(est, X, copies[variant])

    rows = []
    for model in args.models:
        if model in ("cnn", "crnn"):
            X = deep_input()
            variant = f"log-mel {X.shape[1]}x{X.shape[2]}"
        else:
            X, variant = features(args.features), args.features
        X, est = row_input(model, variant, X)
        for label_key in args.label_sets:
            for protocol in args.protocols:
                row, _ = run_row(
                    model,
                    protocol,
                    label_sets[label_key],
                    X,
                    y,
                    actors,
                    args,
                    variant,
                    est,
                )
                rows.append(row)
                write_page(args, rows, [], timings, len(paths), len(set(actors)))

    experiments = []
    if args.experiments:
        for variant, model, speaker_norm in EXPERIMENTS:
            if "egemaps" in variant and importlib.util.find_spec("opensmile") is None:
                print(f"skipped {variant}: pip install 'sersk[opensmile]'")
                continue
            X = features(variant)
            name, est = variant, None
            if speaker_norm:
                # the test actors are standardised with their own unlabelled
                # clips inside each fold (evaluate routes the speakers)
                base = make_estimator(
                    model,
                    args,
                    X.shape[1],
                    np.unique(actors).size,
                    voice_last=_voice_last(variant),
                )
                est = make_pipeline(SpeakerStandardizer(), base)
                name += " + SpeakerStandardizer"
            X, est = row_input(model, variant, X, est)
            row, _ = run_row(
                model, "speaker", "8 emotions", X, y, actors, args, name, est
            )
            experiments.append(row)
            write_page(args, rows, experiments, timings, len(paths), len(set(actors)))
    if args.deep_experiments:
        for model, precision, speaker_norm, trim in DEEP_EXPERIMENTS:
            Xe = deep_input(args.trim_db if trim else None)
            label = f"log-mel {Xe.shape[1]}x{Xe.shape[2]}" + (" + trim" if trim else "")
            if speaker_norm:
                Xe = standardize_by_speaker(Xe, actors)
                label += " + per-speaker norm"
            est = make_deep_estimator(model, args, precision, speaker_norm)
            row, _ = run_row(
                model, "speaker", "8 emotions", Xe, y, actors, args, label, est
            )
            row["model"] = f"{model} {precision}"
            experiments.append(row)
            write_page(args, rows, experiments, timings, len(paths), len(set(actors)))
    write_page(args, rows, experiments, timings, len(paths), len(set(actors)))
    print(f"wrote {args.output}")


# (model, precision, per-speaker normalisation, silence trimming) of the
# --deep-experiments rows
DEEP_EXPERIMENTS = [
    ("crnn", "fp32", False, False),
    ("crnn", "bf16", True, False),
    ("crnn", "bf16", False, True),
    ("crnn", "bf16", True, True),
]


def _uar(row):
    return float(row["UAR"].split(" ± ")[0])


def targets_section(rows, experiments):
    """Compare the measured UARs with the targets of the issue (8 emotions)."""
    si = [
        r
        for r in rows + experiments
        if r["classes"] == "8 emotions" and r["protocol"] == "speaker-independent"
    ]
    if not si:
        return []
    lines = ["## Against the targets (8 emotions, speaker-independent)", ""]
    default = [r for r in si if r["model"] == "svm" and r["features"] == "sersk"]
    if default:
        gap = _uar(default[0]) - 0.55
        verdict = "meets" if gap >= 0 else f"misses by {-gap:.3f}"
        lines.append(
            "- Default `make_svm_pipeline()` (svm on sersk features, BSD "
            f"dependencies only): UAR {default[0]['UAR']} ({verdict} the 0.55 "
            "target). Rows with egemaps need the optional `opensmile` extra "
            "(audEERING's research licence), so they cannot be a default."
        )
    families = (
        ("classic", ("svm", "svm_tuned", "logreg"), (0.55, 0.65)),
        ("deep", ("cnn", "crnn"), (0.50, 0.65)),
    )
    for family, models, targets in families:
        for (title, transductive), target in zip(
            (
                ("without speaker adaptation", False),
                ("with speaker adaptation (per-speaker statistics)", True),
            ),
            targets,
            strict=True,
        ):
            group = [
                r
                for r in si
                if r["model"].split()[0] in models
                and any(k in r["features"] for k in ("per-speaker", "Speaker"))
                == transductive
            ]
            if not group:
                continue
            best = max(group, key=_uar)
            gap = _uar(best) - target
            verdict = "meets" if gap >= 0 else f"misses by {-gap:.3f}"
            lines.append(
                f"- Best {family} model {title}: {best['model']} on "
                f"{best['features']} features, UAR {best['UAR']} "
                f"({verdict} the {target:.2f} target)."
            )
    lines += _parity_lines(si)
    lines += _speed_perturbation_lines(si)
    for model in ("svm", "rf", "cnn", "crnn"):
        pair = {
            r["protocol"]: _uar(r)
            for r in rows
            if r["model"] == model and r["classes"] == "8 emotions"
        }
        if len(pair) == 2:
            gap = pair["random stratified"] - pair["speaker-independent"]
            lines.append(
                f"- {model}: random-split UAR {pair['random stratified']:.3f} versus "
                f"speaker-independent {pair['speaker-independent']:.3f}, "
                + (
                    f"a gap of {gap:.3f} that a random split hides."
                    if gap > 0
                    else f"no gap ({gap:+.3f}): the model is too weakly trained "
                    "here for the protocol to matter."
                )
            )
    return lines + [""]


def _table(rows):
    import pandas as pd

    return pd.DataFrame([{k: v for k, v in r.items() if k[0] != "_"} for r in rows])


def _speed_perturbation_lines(si):
    """The default SVM (speed perturbation) against the same SVM without the
    copies, fold by fold (the folds are the same, so the difference is paired)."""
    plain = {r["features"]: r for r in si if r["model"] == "svm-noaug"}
    lines, seen = [], set()
    for row in si:
        other = plain.get(row["features"])
        if row["model"] != "svm" or other is None or row["features"] in seen:
            continue
        seen.add(row["features"])
        diff = np.subtract(row["_fold_uar"], other["_fold_uar"])
        lines.append(
            f"- Speed perturbation (svm, {row['features']}): UAR {_uar(row):.3f} "
            f"versus {_uar(other):.3f} without the copies; per fold "
            + ", ".join(f"{d:+.3f}" for d in diff)
            + f" ({int((diff > 0).sum())} of {diff.size} folds better, "
            f"{int((diff < 0).sum())} worse)."
        )
    return lines


def _parity_lines(si):
    """bf16 against fp32: the CRNN row and its fp32 experiment, fold by fold."""
    base = {r["features"]: r for r in si if r["model"] == "crnn"}
    lines = []
    for fp32 in (r for r in si if r["model"] == "crnn fp32"):
        bf16 = base.get(fp32["features"])
        if bf16 is None:
            continue
        diff = np.subtract(bf16["_fold_uar"], fp32["_fold_uar"])
        lines.append(
            f"- bf16 parity (CRNN, {fp32['features']}, same folds and seeds): "
            f"UAR {_uar(bf16):.3f} in bf16 versus {_uar(fp32):.3f} in fp32, "
            f"bf16 {_uar(bf16) - _uar(fp32):+.3f}; per fold bf16 - fp32 = "
            + ", ".join(f"{d:+.3f}" for d in diff)
            + f" (fold std of the bf16 row {np.std(bf16['_fold_uar']):.3f})."
        )
    return lines


def _deep_study(page_hash):
    """The sections of bench_deep_recipes.py's saved runs (study, rerun)."""
    spec = importlib.util.spec_from_file_location(
        "bench_deep_recipes", ROOT / "benchmarks" / "bench_deep_recipes.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return (
        module.page_section(page_hash)
        + module.landed_section(page_hash)
        + module.landed_section(page_hash, module.GPU_LANDED)
        + [
            line
            for folder in module.EARLIER_LANDED
            for line in module.landed_section(page_hash, folder)
        ]
    )


def write_page(args, rows, experiments, timings, n_clips, n_actors):
    out = Path(args.output)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Results: RAVDESS, random split versus speaker-independent",
        "",
        f"Generated by `benchmarks/bench_accuracy.py` on {stamp} "
        f"({platform.machine()}, Python {platform.python_version()}); "
        f"{n_clips} RAVDESS speech clips ({n_actors} actors, 16 kHz), "
        f"{args.folds} folds, sersk sources {args.code} (sha256 prefix of "
        "`sersk/**/*.py`, which also names the run's cache). "
        "Scores are mean ± std over folds; UAR is the unweighted average recall "
        "(balanced accuracy). **Random stratified** folds put every actor in both "
        "training and test data; **speaker-independent** folds (GroupKFold by actor) "
        "never do, which is what a new user's voice looks like.",
        "",
        "Feature computation (first run; later runs and rows reuse a "
        "joblib.Memory cache; the first sersk figure includes reading the audio "
        "with AudioLoader): "
        + "; ".join(f"{k} {v:.0f} s" for k, v in timings.items())
        + ". "
        "Wall time is the cross-validation of one row (shared 2-core machine, "
        "run under `nice`, so times are indicative only).",
        "",
        "Features of the SVM and random-forest rows: **sersk** is the feature "
        "step of `sersk.pipelines.make_svm_pipeline()` on the file paths: "
        "`AudioLoader(trim_db=30)` (leading and trailing silence cut), MFCC-40 "
        "with deltas and delta-deltas, chroma, log-mel-128, spectral contrast, "
        "ZCR and RMS, each with mean, std, min, max, skewness and kurtosis over "
        "time (1,614 values). "
        "**classic** is the reference recipe of the issue computed with librosa "
        "directly (MFCC, chroma, power mel, contrast, ZCR, RMS; mean and std). "
        f"SVM: StandardScaler + RBF SVC(C={args.C:g}, gamma='scale', "
        "class_weight='balanced'), the classifier of `make_svm_pipeline()`, "
        "trained (as that pipeline is) on the training clips and their "
        "speed-perturbed copies (x0.9, x1.1), tested on the clips alone; RF: "
        f"RandomForestClassifier({args.trees} trees) on the same features. "
        "Deep rows (if any): sersk `AudioLoader(duration="
        f"{args.duration:g})` + `MelSpectrogram(n_mels={args.n_mels}, n_fft=1024, "
        f"hop_length={args.hop_length})` (computed once), then in each fold "
        "`ClipStandardizer` + the classifier with its defaults except "
        f"`max_epochs` (CRNN {args.epochs}, CNN {args.cnn_epochs}, chosen so the "
        f"whole run fits in about an hour on 2 CPU cores), `patience={args.patience}`, "
        f"`precision='{args.precision}'` and `class_weight='balanced'`; early "
        "stopping uses whole training actors held out (`SpeakerValidSplit`), "
        f"{args.deep_n_jobs} folds run in parallel with one torch thread each.",
        "",
    ]
    if rows:
        lines += [markdown_table(_table(rows), index=False), ""]
    if experiments:
        lines += [
            "## Improving the models (speaker-independent, 8 emotions)",
            "",
            "**sersk-0.1**: `make_classic_features()`, the features of the first "
            "release's `make_svm_pipeline()` (mean and std, 378 values). "
            "**sersk-rich**: `make_classic_features(stats=(mean, std, min, max, skew, "
            "kurtosis))` with the MFCC piece replaced by `MFCC(deltas=2)` (MFCC-40, "
            "deltas, delta-deltas), without trimming. **rich**: the same computed "
            "with librosa directly. **sersk-voice**: the features of "
            "`make_svm_pipeline(voice=True)`: the sersk features, then the 65 clip "
            "functionals of `sersk.features.VoiceFunctionals` (pitch, loudness, "
            "jitter, shimmer, HNR, formants, spectral balance, rhythm; BSD), "
            "and its **svm** is that pipeline's own steps (StandardScaler, the "
            "voice block scaled by sqrt(1614 / 65), SVC). **svm** on sersk and "
            "sersk-voice features is the default recipe: it trains on the "
            "training clips and on their speed-perturbed copies (x0.9, x1.1; "
            "`AugmentedPipeline`), as `make_svm_pipeline()` does; "
            "**svm-noaug** is the same without the copies. "
            "**prosody +**: `sersk.features.Prosody` pooled "
            "over voiced frames (F0 in semitones, jitter, shimmer, HNR: mean, std, "
            "min, max; voiced fraction; loudness mean, std, max; 20 values) beside "
            "the sersk features. **egemaps +**: the 88 eGeMAPSv02 functionals of "
            "`sersk.features.OpenSmile` (the optional `opensmile` extra, "
            "audEERING's research licence) beside the sersk features. "
            "**logreg**: StandardScaler + LogisticRegression(C="
            f"{args.logreg_C:g}) (strong L2 regularisation). "
            "**svm_tuned**: C in {1, 10, 100} and gamma in {0.5, 1, 2} / "
            "n_features chosen by an inner GroupKFold(3) over the training actors "
            "(nested speaker-independent CV, scored by UAR). **+ SpeakerStandardizer**: "
            "`sersk.features.SpeakerStandardizer` first in the pipeline: in each "
            "fold the training actors are standardised by their own statistics and "
            "each test actor by the statistics of their own unlabelled test clips "
            "(speaker adaptation: it needs a few clips of every new speaker; never "
            "a default). **+ trim**: leading and "
            "trailing silence cut by `AudioLoader(trim_db="
            f"{args.trim_db:g})` before the features (the speech of a RAVDESS "
            "clip lasts about 1.8 s of its 3.5 s). Deep rows here (if any): "
            "**crnn fp32** is the CRNN row above trained and evaluated in fp32 on the "
            "same folds (bf16 parity); **+ per-speaker norm** standardises every mel "
            "band per actor over all its frames instead of per clip.",
            "",
            markdown_table(_table(experiments), index=False),
            "",
        ]
    out.parent.mkdir(parents=True, exist_ok=True)
    lines += targets_section(rows, experiments)
    lines += [""] + _deep_study(args.code)
    out.write_text("\n".join(lines).rstrip() + "\n")


if __name__ == "__main__":
    main()
