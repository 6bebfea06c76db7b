"""make_embedding_pipeline: frozen speech embeddings, scaling and a linear head.

Kept apart from :mod:`sersk.pipelines` so that the optional ``transformers``
dependency stays out of it; ``sersk.pipelines`` re-exports the factory.
Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

__all__ = ["make_embedding_pipeline"]

_CLASSIFIERS = ("logreg", "svm")


def make_embedding_pipeline(
    model,
    *,
    classifier="logreg",
    layers=-1,
    pooling="mean+std",
    C=1.0,
    sr=16000,
    max_chunk_s=30.0,
    batch_size=8,
    device="auto",
    precision="auto",
    memory=None,
    random_state=None,
):
    """Pretrained speech embeddings, standard scaling and a classifier.

    The recipe of the frozen-encoder baselines (EmoBox, audEERING's wav2vec2
    how-to): pool the hidden states of a pretrained encoder over each clip
    (:class:`~sersk.features.SpeechEmbedding`), scale them, and fit a
    class-balanced logistic regression or RBF SVM on top. The encoder is
    never trained.

    Parameters
    ----------
    model : str or os.PathLike
        Local directory or hub id of the encoder (see
        :class:`~sersk.features.SpeechEmbedding`), e.g.
        ``"microsoft/wavlm-base-plus"``.
    classifier : {"logreg", "svm"}, default="logreg"
        ``LogisticRegression(max_iter=1000, class_weight="balanced")`` or
        ``SVC(kernel="rbf", class_weight="balanced")``.
    layers : int, list of int or "all", default=-1
        Hidden states to pool (see :class:`~sersk.features.SpeechEmbedding`;
        middle layers often beat the last one for wav2vec2 and WavLM).
    pooling : {"mean", "mean+std"}, default="mean+std"
        Statistics over each clip's frames.
    C : float, default=1.0
        Inverse regularisation strength of the classifier.
    sr : int, default=16000
        Sampling rate of waveform arrays (file paths are read at the model's
        rate).
    max_chunk_s : float, default=30.0
        Longest audio that goes through the encoder at once.
    batch_size : int, default=8
        Windows per forward pass.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the encoder runs.
    precision : {"auto", "fp32", "bf16"}, default="auto"
        Arithmetic of the encoder (bf16 on a CUDA GPU with ``"auto"``).
    memory : str, joblib.Memory or None, default=None
        Passed to :class:`~sklearn.pipeline.Pipeline`: caches the fitted
        embedding step, so a grid search over the classifier's parameters
        embeds each training set once.
    random_state : int, RandomState or None, default=None
        Seed of the classifier.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``embedding``, ``scaler`` and ``clf``; it accepts file paths or
        waveforms.

    See Also
    --------
    sersk.features.SpeechEmbedding : The embedding step.
    sersk.evaluation.evaluate : Speaker-independent cross-validation.

    Examples
    --------
    >>> from sersk.pipelines import make_embedding_pipeline
    >>> pipe = make_embedding_pipeline("microsoft/wavlm-base-plus", layers=6)
    >>> [name for name, _ in pipe.steps]
    ['embedding', 'scaler', 'clf']
    """
    from .features._embedding import SpeechEmbedding

    if classifier == "logreg":
        clf = LogisticRegression(
            C=C, max_iter=1000, class_weight="balanced", random_state=random_state
        )
    elif classifier == "svm":
        clf = SVC(kernel="rbf", C=C, class_weight="balanced", random_state=random_state)
    else:
        raise ValueError(
            "The 'classifier' parameter of make_embedding_pipeline must be 'logreg' "
            f"or 'svm'. Got {classifier!r} instead."
        )
    embedding = SpeechEmbedding(
        model,
        layers=layers,
        pooling=pooling,
        sr=sr,
        max_chunk_s=max_chunk_s,
        batch_size=batch_size,
        device=device,
        precision=precision,
    )
    return Pipeline(
        [("embedding", embedding), ("scaler", StandardScaler()), ("clf", clf)],
        memory=memory,
    )
