"""Ready-made baseline pipelines: classic features + SVM / random forest, deep models.

Every factory returns a plain, unfitted :class:`sklearn.pipeline.Pipeline`
that starts from **file paths** (an :class:`~sersk.features.AudioLoader`
step) or, with ``from_waveforms=True``, from 2-D float32 waveforms such as
:func:`sersk.datasets.make_emotional_speech` output. They can be cloned,
grid-searched (``set_params(svc__C=...)``), cross-validated with
:func:`sersk.evaluation.evaluate` and pickled like any scikit-learn pipeline.

Classic pipelines::

    AudioLoader -> make_classic_features (pooled ZCR, RMS, MFCC, chroma, mel,
    contrast) [+ VoiceFunctionals] -> StandardScaler [-> block weight]
    -> SVC | RandomForestClassifier

Deep pipelines::

    AudioLoader(trim_db) -> MelSpectrogram | MFCC -> ClipStandardizer ->
    CRNNClassifier | CNNClassifier | CNNLSTMClassifier | RNNClassifier

Late fusion (:func:`make_fusion_pipeline`): a soft-voting
:class:`~sklearn.ensemble.VotingClassifier` of the SVM pipeline and a deep
pipeline, both from the same file paths.

Importing this module does not import torch; the deep factories import
:mod:`sersk.models` (and so torch) when called.
"""

from __future__ import annotations

import textwrap

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier, VotingClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC

from ._augmented_pipeline import AugmentedPipeline, speed_perturb
from ._embedding_pipeline import make_embedding_pipeline

__all__ = [
    "AugmentedPipeline",
    "make_cnn_lstm_pipeline",
    "make_cnn_pipeline",
    "make_crnn_pipeline",
    "make_embedding_pipeline",
    "make_fusion_pipeline",
    "make_random_forest_pipeline",
    "make_rnn_pipeline",
    "make_svm_pipeline",
    "speed_perturb",
]


#: Statistics of the classic recipe of make_svm_pipeline (measured best).
RICH_STATS = ("mean", "std", "min", "max", "skew", "kurtosis")


def _front(sr, duration, from_waveforms, n_jobs, lazy=False, trim_db=None):
    # lazy=True (deep pipelines): the loader returns LazyWaveforms and the one
    # feature step streams them, so the corpus' waveforms are never all in
    # memory (same outputs). The classic pipelines keep lazy=False: their
    # FeatureUnion has six branches, each of which would re-read every file.
    # Waveforms pass through an AudioLoader too when silence is to be trimmed.
    if from_waveforms and trim_db is None:
        return []
    from .features import AudioLoader

    loader = AudioLoader(
        sr=sr,
        duration=duration,
        n_jobs=n_jobs,
        lazy=lazy and duration is not None and trim_db is None,
        trim_db=trim_db,
    )
    return [("audioloader", loader)]


def _classic_features(sr, n_mfcc, n_mels, stats, mfcc_deltas, voice=False):
    from .features import MFCC, TimePooling, VoiceFunctionals, make_classic_features

    union = make_classic_features(sr, n_mfcc=n_mfcc, n_mels=n_mels, stats=stats)
    if mfcc_deltas:
        mfcc = MFCC(sr=sr, n_mfcc=n_mfcc, n_mels=n_mels, deltas=mfcc_deltas)
        union.set_params(mfcc=make_pipeline(mfcc, TimePooling(stats=stats)))
    if voice:
        # last, so that _weigh_last_block finds it
        union.transformer_list.append(("voice", VoiceFunctionals(sr=sr)))
    return union


def _weigh_last_block(X, *, n_last):
    """Scale the last ``n_last`` (standardised) columns by ``sqrt(n_rest / n_last)``.

    After standard scaling every column adds the same expected amount to the
    squared distance of an RBF kernel, so a block of a few dozen voice
    functionals beside some 1,600 spectral statistics would barely move it.
    This weight gives the last block the same share of the distance as all
    the columns before it. It depends only on the number of columns, so the
    step is stateless.
    """
    import numpy as np

    X = np.array(X, dtype=np.float64, copy=True)
    n_rest = X.shape[1] - n_last
    if n_rest > 0:
        X[:, n_rest:] *= np.sqrt(n_rest / n_last)
    return X


def _voice_weight_step():
    from .features import VoiceFunctionals

    n_voice = len(VoiceFunctionals().get_feature_names_out())
    return (
        "voiceweight",
        FunctionTransformer(
            _weigh_last_block,
            kw_args={"n_last": n_voice},
            feature_names_out="one-to-one",
        ),
    )


def make_svm_pipeline(
    *,
    sr=16000,
    duration=None,
    trim_db=30.0,
    C=10.0,
    gamma="scale",
    class_weight="balanced",
    probability=False,
    n_mfcc=40,
    n_mels=128,
    stats=RICH_STATS,
    mfcc_deltas=2,
    voice=False,
    speed_factors=(0.9, 1.1),
    from_waveforms=False,
    memory=None,
    n_jobs=None,
    random_state=None,
):
    """Classic features, standard scaling and an RBF support vector machine.

    The baseline of most SER papers: per-clip statistics of MFCC, chroma,
    mel spectrogram, spectral contrast, zero-crossing rate and RMS
    (:func:`~sersk.features.make_classic_features`), optionally with clip
    functionals of pitch, loudness, voice quality, formants, spectral balance
    and rhythm (:class:`~sersk.features.VoiceFunctionals`), scaled, fed to
    ``SVC(kernel="rbf", C=C, gamma=gamma)``. The defaults are the best
    speaker-independent recipe measured by
    ``benchmarks/bench_classic_recipes.py`` (``docs/results.md``) at the
    default's feature cost: leading and trailing silence trimmed, six
    statistics, MFCC deltas and delta-deltas, balanced class weights, and
    training on speed-perturbed copies of the training clips as well
    (:class:`AugmentedPipeline`).

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate the audio is loaded at and the features assume.
    duration : float or None, default=None
        Pad or trim every clip to this many seconds; None keeps the native
        lengths (the statistics are pooled over each clip's own frames).
    trim_db : float or None, default=30.0
        Cut leading and trailing silence quieter than ``trim_db`` below the
        clip's peak before the features (``AudioLoader(trim_db=...)``), so
        the statistics describe the speech rather than the room; None keeps
        the clips whole. Waveform input (``from_waveforms=True``) is trimmed
        too.
    C : float, default=10.0
        SVM regularisation (larger: fit the training clips more closely).
    gamma : {"scale", "auto"} or float, default="scale"
        RBF kernel width; "scale" is ``1 / (n_features * X.var())``, i.e.
        ``1 / n_features`` after standard scaling.
    class_weight : dict, "balanced" or None, default="balanced"
        Class weights of the SVC; "balanced" weighs every emotion equally,
        which is what UAR scores.
    probability : bool, default=False
        Wrap the SVC in ``CalibratedClassifierCV(method="sigmoid", cv=3)`` so the
        pipeline has ``predict_proba`` (``SVC(probability=True)`` is deprecated
        in scikit-learn 1.9). The calibration folds are not split by speaker.
    n_mfcc : int, default=40
        Number of MFCCs.
    n_mels : int, default=128
        Mel bands.
    stats : tuple of str, default=("mean", "std", "min", "max", "skew", "kurtosis")
        Statistics pooled over time (see :class:`~sersk.features.TimePooling`).
    mfcc_deltas : {0, 1, 2}, default=2
        Append the MFCC deltas (1) or deltas and delta-deltas (2) to the MFCC
        piece.
    voice : bool, default=False
        Append :class:`~sersk.features.VoiceFunctionals` (branch ``voice`` of
        the ``features`` union) and, after the scaler, a ``voiceweight`` step
        that scales those standardised columns by ``sqrt(n_spectral /
        n_voice)``, so that the few voice functionals weigh as much in the
        RBF kernel's distance as the many spectral statistics together.
        Off by default because the functionals cost several times the
        spectral features (``benchmarks/bench_voice.py``); the results page
        gives what they add, with and without speaker adaptation.
    speed_factors : tuple of float or None, default=(0.9, 1.1)
        Fit also on copies of every training clip played this many times
        faster (speed perturbation: new versions of the training voices);
        prediction is unchanged. None fits on the clips alone. Fitting
        computes the features of ``1 + len(speed_factors)`` times the
        training clips.
    from_waveforms : bool, default=False
        Start from 2-D float32 waveforms ``(n_clips, n_samples)`` instead of
        file paths (no AudioLoader step).
    memory : str, joblib.Memory or None, default=None
        Passed to :class:`~sklearn.pipeline.Pipeline` to cache the fitted
        transformers (features are then computed once per training set).
    n_jobs : int or None, default=None
        Files read in parallel by the AudioLoader, and clips processed in
        parallel by the voice functionals.
    random_state : int, RandomState or None, default=None
        Seed of the SVC (``SVC(random_state=...)``); the RBF SVM itself is
        deterministic, so this only matters to SVC features that draw random
        numbers. Accepted so that every factory takes the same options.

    Returns
    -------
    pipeline : AugmentedPipeline
        A :class:`~sklearn.pipeline.Pipeline` (whose ``fit`` adds the
        perturbed copies) of the steps ``audioloader`` (unless
        ``from_waveforms`` without ``trim_db``), ``features``,
        ``standardscaler``, ``voiceweight``
        (with ``voice=True``) and ``svc`` (or ``calibratedclassifiercv``).

    See Also
    --------
    make_random_forest_pipeline : The same features with a random forest.
    sersk.evaluation.evaluate : Speaker-independent cross-validation.

    Notes
    -----
    Insert :class:`~sersk.features.SpeakerStandardizer` after the features
    (before ``standardscaler``) for speaker adaptation (it needs a few unlabelled clips of every new
    speaker; see the evaluation guide). The speaker-independent scores of
    this recipe and its variants are in ``docs/results.md``.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.pipelines import make_svm_pipeline
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(4000) / 16000
    >>> X = np.stack([np.sin(2 * np.pi * f * t) + 0.01 * rng.normal(size=t.size)
    ...               for f in [200, 210, 220, 1000, 1100, 1200]]).astype(np.float32)
    >>> y = ["low"] * 3 + ["high"] * 3
    >>> pipe = make_svm_pipeline(from_waveforms=True, n_mfcc=13, n_mels=40)
    >>> [name for name, _ in pipe.steps]
    ['audioloader', 'features', 'standardscaler', 'svc']
    >>> pipe.fit(X, y).predict(X[[0, 5]]).tolist()
    ['low', 'high']
    """
    svc = SVC(
        kernel="rbf",
        C=C,
        gamma=gamma,
        class_weight=class_weight,
        random_state=random_state,
    )
    if probability:
        clf = ("calibratedclassifiercv", CalibratedClassifierCV(svc, cv=3))
    else:
        clf = ("svc", svc)
    steps = [
        *_front(sr, duration, from_waveforms, n_jobs, trim_db=trim_db),
        (
            "features",
            _classic_features(sr, n_mfcc, n_mels, stats, mfcc_deltas, voice=voice),
        ),
        ("standardscaler", StandardScaler()),
        *([_voice_weight_step()] if voice else []),
        clf,
    ]
    pipe = AugmentedPipeline(steps, speed_factors=speed_factors, memory=memory)
    if voice and n_jobs is not None:
        pipe.set_params(features__voice__n_jobs=n_jobs)
    return pipe


def make_random_forest_pipeline(
    *,
    sr=16000,
    duration=None,
    n_estimators=500,
    max_features="sqrt",
    min_samples_leaf=1,
    class_weight=None,
    n_mfcc=40,
    n_mels=128,
    stats=("mean", "std"),
    mfcc_deltas=0,
    from_waveforms=False,
    memory=None,
    n_jobs=None,
    random_state=None,
):
    """Classic features and a random forest.

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate the audio is loaded at and the features assume.
    duration : float or None, default=None
        Pad or trim every clip to this many seconds; None keeps native lengths.
    n_estimators : int, default=500
        Number of trees.
    max_features : {"sqrt", "log2"}, int, float or None, default="sqrt"
        Features considered at each split.
    min_samples_leaf : int, default=1
        Minimum number of clips in a leaf.
    class_weight : dict, "balanced", "balanced_subsample" or None, default=None
        Class weights of the forest.
    n_mfcc : int, default=40
        Number of MFCCs.
    n_mels : int, default=128
        Mel bands.
    stats : tuple of str, default=("mean", "std")
        Statistics pooled over time.
    mfcc_deltas : {0, 1, 2}, default=0
        Append MFCC deltas (1) or deltas and delta-deltas (2).
    from_waveforms : bool, default=False
        Start from 2-D float32 waveforms instead of file paths.
    memory : str, joblib.Memory or None, default=None
        Transformer cache of the Pipeline.
    n_jobs : int or None, default=None
        Parallel jobs of the AudioLoader and of the forest.
    random_state : int, RandomState or None, default=None
        Seed of the forest.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``audioloader`` (unless ``from_waveforms``), ``features`` and
        ``randomforestclassifier``. No scaling: trees do not need it.

    See Also
    --------
    make_svm_pipeline : The same features with an RBF SVM.

    Examples
    --------
    >>> from sersk.pipelines import make_random_forest_pipeline
    >>> pipe = make_random_forest_pipeline(n_estimators=50, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['audioloader', 'features', 'randomforestclassifier']
    """
    forest = RandomForestClassifier(
        n_estimators=n_estimators,
        max_features=max_features,
        min_samples_leaf=min_samples_leaf,
        class_weight=class_weight,
        n_jobs=n_jobs,
        random_state=random_state,
    )
    steps = [
        *_front(sr, duration, from_waveforms, n_jobs),
        ("features", _classic_features(sr, n_mfcc, n_mels, stats, mfcc_deltas)),
        ("randomforestclassifier", forest),
    ]
    return Pipeline(steps, memory=memory)


_DEEP_DOC = """Log-mel (or MFCC) frames, per-clip standardisation and a {model}.

    {summary}

    Parameters
    ----------
    sr : int, default=16000
        Sampling rate the audio is loaded at and the features assume.
    duration : float or None, default=None
        None keeps every clip at its own length (the network pads each batch
        to its longest clip and ignores the padding); a number pads (zeros at
        the end) or cuts every clip to that many seconds.
    trim_db : float or None, default=30
        Leading and trailing silence quieter than this many dB below the
        clip's peak is cut before the features (``AudioLoader(trim_db=...)``);
        None keeps it.
    features : {{"mel", "mfcc"}}, default="mel"
        Input frames: ``MelSpectrogram(n_mels=n_mels)`` in dB or
        ``MFCC(n_mfcc=n_mfcc)``.
    n_mels : int, default={n_mels}
        Mel bands.{n_mels_note}
    n_mfcc : int, default=40
        MFCCs (``features="mfcc"``).
    n_fft : int, default=1024
        FFT size.
    hop_length : int, default=256
        Samples between frames (16 ms at 16 kHz).
    max_epochs : int, default=60
        Training epochs (the length of the cosine learning-rate schedule; a
        ``patience`` adds early stopping on held-out training speakers).
    lr : float, default=1e-3
        Learning rate of AdamW.
    batch_size : int, default=32
        Mini-batch size.
    from_waveforms : bool, default=False
        Start from 2-D float32 waveforms instead of file paths.
    memory : str, joblib.Memory or None, default=None
        Transformer cache of the Pipeline.
    n_jobs : int or None, default=None
        Files read in parallel by the AudioLoader.
    random_state : int or None, default=None
        Seed of the network's initialisation and training.
    **kwargs
        Further parameters of :class:`~sersk.models.{cls}` (e.g.
        ``device="cuda"``, ``mixup=0.0``, ``module__...``).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``audioloader`` (unless ``from_waveforms``), ``melspectrogram``
        or ``mfcc``, ``clipstandardizer`` and ``{step}``.

    See Also
    --------
    sersk.models.{cls} : The classifier.
    make_svm_pipeline : The classic baseline.

    Examples
    --------
    >>> from sersk.pipelines import {func}
    >>> pipe = {func}(max_epochs=5)
    >>> [name for name, _ in pipe.steps]
    ['audioloader', '{first}', 'clipstandardizer', '{step}']
    """


def _make_deep(
    cls_name,
    *,
    sr,
    duration,
    trim_db,
    features,
    n_mels,
    n_mfcc,
    n_fft,
    hop_length,
    max_epochs,
    lr,
    batch_size,
    from_waveforms,
    memory,
    n_jobs,
    random_state,
    kwargs,
):
    from . import models
    from .features import MFCC, ClipStandardizer, MelSpectrogram

    if features == "mel":
        frames = (
            "melspectrogram",
            MelSpectrogram(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels),
        )
    elif features == "mfcc":
        frames = (
            "mfcc",
            MFCC(
                sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
            ),
        )
    else:
        raise ValueError(
            f"The 'features' parameter of make_{cls_name[:-10].lower()}_pipeline must "
            f"be 'mel' or 'mfcc'. Got {features!r} instead."
        )
    clf = getattr(models, cls_name)(
        max_epochs=max_epochs,
        lr=lr,
        batch_size=batch_size,
        random_state=random_state,
        **kwargs,
    )
    steps = [
        *_front(sr, duration, from_waveforms, n_jobs, lazy=True, trim_db=trim_db),
        frames,
        ("clipstandardizer", ClipStandardizer()),
        (cls_name.lower(), clf),
    ]
    return Pipeline(steps, memory=memory)


def _deep_factory(
    cls_name,
    func_name,
    model,
    summary,
    default_features="mel",
    default_n_mels=64,
    n_mels_note="",
):
    def factory(
        *,
        sr=16000,
        duration=None,
        trim_db=30,
        features=default_features,
        n_mels=default_n_mels,
        n_mfcc=40,
        n_fft=1024,
        hop_length=256,
        max_epochs=60,
        lr=1e-3,
        batch_size=32,
        from_waveforms=False,
        memory=None,
        n_jobs=None,
        random_state=None,
        **kwargs,
    ):
        return _make_deep(
            cls_name,
            sr=sr,
            duration=duration,
            trim_db=trim_db,
            features=features,
            n_mels=n_mels,
            n_mfcc=n_mfcc,
            n_fft=n_fft,
            hop_length=hop_length,
            max_epochs=max_epochs,
            lr=lr,
            batch_size=batch_size,
            from_waveforms=from_waveforms,
            memory=memory,
            n_jobs=n_jobs,
            random_state=random_state,
            kwargs=kwargs,
        )

    factory.__name__ = factory.__qualname__ = func_name
    factory.__module__ = __name__
    factory.__doc__ = _DEEP_DOC.format(
        model=model,
        summary=summary,
        cls=cls_name,
        func=func_name,
        step=cls_name.lower(),
        features=default_features,
        first="melspectrogram" if default_features == "mel" else "mfcc",
        n_mels=default_n_mels,
        n_mels_note="".join(
            "\n        " + line for line in textwrap.wrap(n_mels_note, 70)
        ),
    )
    return factory


make_crnn_pipeline = _deep_factory(
    "CRNNClassifier",
    "make_crnn_pipeline",
    "convolutional recurrent network",
    "Convolution blocks over the spectrogram, a bidirectional LSTM over time "
    "and attention pooling (:class:`~sersk.models.CRNNClassifier`).",
    default_n_mels=128,
    n_mels_note="128 bands recognised unseen speakers better than 64 in the "
    "recipe study (:doc:`/benchmarks`), at a higher training cost; "
    "``n_mels=64`` is the cheaper choice.",
)
make_cnn_pipeline = _deep_factory(
    "CNNClassifier",
    "make_cnn_pipeline",
    "convolutional network",
    "A 2-D CNN over the spectrogram whose head sees the frequency position "
    "of its last feature maps, averaged over time "
    "(:class:`~sersk.models.CNNClassifier`).",
)
make_cnn_lstm_pipeline = _deep_factory(
    "CNNLSTMClassifier",
    "make_cnn_lstm_pipeline",
    "CNN-LSTM",
    "A CNN front end followed by an LSTM over time "
    "(:class:`~sersk.models.CNNLSTMClassifier`).",
)
make_rnn_pipeline = _deep_factory(
    "RNNClassifier",
    "make_rnn_pipeline",
    "recurrent network",
    "A (bidirectional) recurrent network over the spectrogram's frames "
    "(:class:`~sersk.models.RNNClassifier`).",
)


_DEEP_FACTORIES = {
    "crnn": make_crnn_pipeline,
    "cnn": make_cnn_pipeline,
    "cnn_lstm": make_cnn_lstm_pipeline,
    "rnn": make_rnn_pipeline,
}


def make_fusion_pipeline(
    deep="crnn", *, weights=None, svm=None, n_jobs=None, **deep_kwargs
):
    """Late fusion of the SVM on classic features and a deep model on log-mel.

    A :class:`~sklearn.ensemble.VotingClassifier` with ``voting="soft"``:
    each member is fitted on the same clips (file paths) and its class
    probabilities are averaged (weighted by ``weights``). The two models err
    on different clips, which is why the mean of their probabilities beats
    either (figures in :doc:`/benchmarks`). Nothing is fitted on the members'
    predictions, so no inner folds are needed.

    Parameters
    ----------
    deep : {"crnn", "cnn", "cnn_lstm", "rnn"} or estimator, default="crnn"
        The deep member: the name of a factory of this module (called with
        ``deep_kwargs``) or a ready estimator with ``predict_proba``.
    weights : array-like of shape (2,) or None, default=None
        Weights of the SVM's and the deep model's probabilities; None weighs
        them equally.
    svm : estimator or None, default=None
        The classic member; None uses ``make_svm_pipeline(probability=True)``.
    n_jobs : int or None, default=None
        Files read in parallel by each member's loader.
    **deep_kwargs
        Parameters of the deep factory (e.g. ``max_epochs=30``,
        ``random_state=0``).

    Returns
    -------
    fusion : sklearn.ensemble.VotingClassifier
        Members ``"svm"`` and ``deep``'s name (``"deep"`` for an estimator).

    Notes
    -----
    The deep member's validation part holds out whole speakers only when it
    receives the speaker ids: enable metadata routing
    (``sklearn.set_config(enable_metadata_routing=True)``), request them with
    ``fusion.named_estimators["crnn"][-1].set_fit_request(groups=True)`` and
    call ``fusion.fit(X, y, groups=speakers)``; otherwise it holds out random
    clips.

    Examples
    --------
    >>> from sersk.pipelines import make_fusion_pipeline
    >>> fusion = make_fusion_pipeline(max_epochs=5)
    >>> [name for name, _ in fusion.estimators]
    ['svm', 'crnn']
    >>> fusion.voting
    'soft'
    """
    if svm is None:
        svm = make_svm_pipeline(probability=True, n_jobs=n_jobs)
    if isinstance(deep, str):
        if deep not in _DEEP_FACTORIES:
            raise ValueError(
                f"deep must be one of {sorted(_DEEP_FACTORIES)} or an estimator; "
                f"got {deep!r}."
            )
        name, deep = deep, _DEEP_FACTORIES[deep](n_jobs=n_jobs, **deep_kwargs)
    else:
        if deep_kwargs:
            raise ValueError(
                "Factory parameters "
                f"{sorted(deep_kwargs)} apply only when deep names a factory; set "
                "them on the estimator passed as deep instead."
            )
        name = "deep"
    return VotingClassifier(
        [("svm", svm), (name, deep)], voting="soft", weights=weights
    )
