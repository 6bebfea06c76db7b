"""skorch-based deep classifiers with scikit-learn semantics.

All four classifiers share :class:`BaseDeepClassifier`, a subclass of
:class:`skorch.NeuralNetClassifier` that adds what scikit-learn users expect
(any labels in and out, ``classes_``, validation of parameters and inputs,
reproducible ``random_state``) and what speech emotion recognition needs
(validation split grouped by speaker, class weights, SpecAugment, padding-aware
pooling, bf16 autocast).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    LRScheduler,
    PassthroughScoring,
    PrintLog,
)
from skorch.dataset import unpack_data
from skorch.utils import is_dataset, to_tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.lr_scheduler import ReduceLROnPlateau

from ..exceptions import TrainingInterruptedWarning
from ..utils._sklearn_compat import (
    Integral,
    Interval,
    Options,
    Real,
    StrOptions,
    _fit_context,
    check_is_fitted,
)
from ..utils._validation import check_frames, check_labels
from ._modules import CNN, CNNLSTM, CRNN, RNN, _ConvNetMixin
from ._training import (
    CheckpointAveraging,
    RaggedFrames,
    SpeakerValidSplit,
    augment_batch,
    autocast,
    is_ragged,
    native_bf16,
    pad_collate,
    training_context,
)

__all__ = [
    "BaseDeepClassifier",
    "CNNClassifier",
    "CNNLSTMClassifier",
    "CRNNClassifier",
    "RNNClassifier",
]


# stateless, so sharing one default instance is safe
_DEFAULT_SPLIT = SpeakerValidSplit(0.2)


def _resolve_device(device):
    if device is None or (isinstance(device, str) and device == "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _stopped_by_early_stopping(exc):
    """Whether a KeyboardInterrupt is skorch's EarlyStopping ending training.

    skorch's ``EarlyStopping`` stops the epoch loop by raising
    KeyboardInterrupt once ``misses_`` reaches ``patience``; that is a normal
    end of training, not an interruption by the user.
    """
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    owner = tb.tb_frame.f_locals.get("self")
    return isinstance(owner, EarlyStopping) and owner.misses_ >= owner.patience


class WarmupCosine(Callback):
    """Learning rate: linear warm-up, then cosine decay to zero, per batch.

    The schedule spans ``max_epochs`` epochs of the training part (early
    stopping may end training before it reaches zero); the warm-up takes
    ``warmup`` of it (a fraction).
    """

    def __init__(self, warmup=0.05):
        self.warmup = warmup

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.step_ = 0
        self.steps_per_epoch_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.steps_per_epoch_ is None:
            # the batches of this process: a data loader shared out among
            # several processes (Accelerate) gives each of them fewer
            self.steps_per_epoch_ = max(
                1, len(net.get_iterator(dataset_train, training=True))
            )

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        total = max(1, self.steps_per_epoch_ * net.max_epochs)
        warm = max(1, int(self.warmup * total))
        t = self.step_
        if t < warm:
            scale = (t + 1) / warm
        else:
            scale = 0.5 * (
                1 + np.cos(np.pi * min(1.0, (t - warm) / max(1, total - warm)))
            )
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr * scale
        self.step_ += 1


def _valid_accuracy(net, X, y):
    """Accuracy on the validation part, in encoded label space (valid_acc)."""
    y_pred = NeuralNetClassifier.predict_proba(net, X).argmax(axis=1)
    return float(np.mean(y_pred == np.asarray(y)))


_COMMON_DOC = """
    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network; None uses :class:`sersk.models.{module}`. ``n_coeffs`` and ``n_classes`` are inferred from the data
        at ``fit``; every other size is set with ``module__<name>`` keyword
        arguments (see :class:`sersk.models.{module}`), which
        :class:`~sklearn.model_selection.GridSearchCV` can tune.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Loss on the logits returned by the module;
        ``criterion__label_smoothing`` defaults to 0.1.
    optimizer : torch optimizer class, default=torch.optim.AdamW
        Optimizer; its arguments are set with ``optimizer__<name>``.
        ``optimizer__weight_decay`` defaults to 1e-2.
    lr : float, default=1e-3
        Learning rate.
    max_epochs : int, default=60
        Number of epochs (early stopping, with a ``patience``, may end
        training sooner).
    batch_size : int, default=32
        Mini-batch size (-1: the whole data set).
    train_split : callable or None, default=SpeakerValidSplit(0.2)
        Hold-out split for the validation scores (``valid_loss``,
        ``valid_acc`` in ``history``) and early stopping, called as
        ``train_split(dataset, y, groups=groups)``. The default holds out 20 %
        of the speakers when ``fit(X, y, groups=speakers)`` is given (stratified
        by label), else 20 % of the clips stratified by label. ``None`` trains
        on all data without validation (no early stopping).
    callbacks : list of (name, callback) or None, default=None
        Extra skorch callbacks, added to the defaults: ``train_loss``,
        ``valid_loss`` and ``valid_acc`` (when validating), ``lr_scheduler``
        (see ``lr_schedule``; for "plateau" ReduceLROnPlateau, factor 0.5,
        patience ``max(1, patience // 2)`` (5 epochs when ``patience`` is
        None), on ``valid_loss``, or ``train_loss`` without validation),
        ``early_stopping`` (on ``valid_loss`` with ``patience``, restoring the
        best weights at the end) and ``print_log``. Disable one with
        ``callbacks__<name>=None``.
    patience : int or None, default=None
        Epochs without improvement of ``valid_loss`` before training stops
        (the weights of the best epoch are then restored). None trains all
        ``max_epochs``, to the end of the learning-rate schedule: under the
        default augmentation the loss of a few held-out speakers is too noisy
        to stop on (measurements in :doc:`/benchmarks`).
    lr_schedule : {{"plateau", "cosine"}}, default="cosine"
        "plateau" halves the learning rate when the monitored loss stalls
        (ReduceLROnPlateau); "cosine" warms up linearly over the first 5 %
        of ``max_epochs`` and then decays it along a cosine to zero, per
        batch.
    class_weight : "balanced", dict or None, default="balanced"
        Weights of the classes in the loss. "balanced" uses
        ``n_clips / (n_classes * count(class))``.
    precision : {{"auto", "fp32", "bf16"}}, default="auto"
        "bf16" runs forward passes under bfloat16 autocast (the loss stays in
        float32); conv nets then also use the channels_last memory format.
        Pays off on CPUs with native bfloat16 (AMX, AVX512-BF16) and on CUDA
        GPUs of compute capability 8.0 or newer; see :doc:`/user_guide/gpu`
        for speeds. "auto" picks "bf16" on such hardware and "fp32"
        elsewhere; ``precision_`` tells which one is used.
    freq_mask, time_mask : int, default=8, 20
        SpecAugment: maximum width (in coefficients / frames) of each random
        mask over the coefficient / time axis, applied to training batches
        only (never at predict time). Masked values are set to the clip mean.
    n_masks : int, default=2
        Number of masks of each kind per clip.
    noise_std : float, default=0.0
        Additive Gaussian noise on the training batches, in units of each
        clip's feature standard deviation.
    freq_warp : float, default=0.1
        Random warp of the coefficient axis of each training clip by a
        factor drawn from ``[1 - freq_warp, 1 + freq_warp]`` (linear
        interpolation). On mel spectrograms this mimics another vocal tract
        length or pitch (VTLP), so the network sees more speakers than the
        training part holds.
    time_stretch : float, default=0.15
        Random change of speaking rate of each training clip: the time axis
        is resampled by a factor from ``[1 - time_stretch, 1 + time_stretch]``.
    mixup : float, default=0.2
        mixup's Beta(mixup, mixup) parameter: each training batch is mixed
        with a shuffled copy of itself and the loss is mixed alike. 0 turns
        it off.
    bn_momentum : float or None, default=None
        Momentum of the running statistics of every batch normalisation of
        the network (torch's convention: the weight of the newest batch, in
        (0, 1]). Smaller values average over more batches, which steadies
        the statistics used at predict time when batches are small or
        varied. None leaves the network's own (0.1 in sersk's networks).
    average_epochs : int or None, default=None
        Checkpoint averaging (stochastic weight averaging over the tail of
        the learning-rate schedule): the final network is the mean of the
        networks after each of the last ``average_epochs`` epochs, weights
        and batch-norm running statistics alike.
        ``averaged_epochs_`` tells how many epochs were averaged.
        Cannot be combined with ``patience``, which also chooses the final
        weights (nor with an ``EarlyStopping(load_best=True)`` of your own
        in ``callbacks``, which would replace the average). None keeps the
        last epoch's weights.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, the validation split and
        augmentation. With an int, two fits on CPU give identical models.
    warm_start : bool, default=False
        Continue training the current weights on the next ``fit``.
    verbose : int, default=0
        1 prints a table line per epoch (losses, accuracy, time).
    device : {{"auto", "cpu", "cuda"}} or torch.device, default="auto"
        "auto" uses CUDA when available, else CPU. On CUDA, batches are loaded
        from pinned memory.
    **kwargs
        Further skorch arguments: ``module__*``, ``optimizer__*``,
        ``iterator_train__*``, ``iterator_valid__*``, ``criterion__*``,
        ``callbacks__*``, ``dataset``, ``classes`` (fixed list of labels).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen at ``fit`` (or the ``classes`` argument), in the order of
        the columns of :meth:`predict_proba`.
    n_classes_ : int
        Number of classes.
    n_features_in_ : int
        Number of coefficients per frame (``X.shape[1]``) seen at ``fit``.
    n_frames_in_ : int
        Number of frames per clip seen at ``fit``, the longest clip's for
        variable-length clips (any length is accepted at predict time).
    class_weight_ : ndarray of shape (n_classes,) or None
        Class weights used in the loss.
    averaged_epochs_ : int
        With ``average_epochs``: the number of epochs whose weights were
        averaged (fewer than ``average_epochs`` when training ran fewer).
    module_ : torch.nn.Module
        The trained network.
    history : skorch.History
        Per-epoch and per-batch records (``history[:, "valid_loss"]``). After
        an interrupted fit the last epoch's row holds ``interrupted=True``.
    interrupted_ : bool
        True when the last call to ``fit`` or ``partial_fit`` was stopped by
        KeyboardInterrupt (Ctrl-C): the model then holds the weights reached so
        far, and a :class:`~sersk.exceptions.TrainingInterruptedWarning` was
        emitted.

    Notes
    -----
    **Input.** ``X`` is a float array of shape ``(n_clips, n_coeffs, n_frames)``
    or, for clips of different lengths, a list (or 1-D object array) of
    ``(n_coeffs, n_frames_i)`` arrays, such as
    :class:`~sersk.features.MelSpectrogram` output for file paths. The
    modules start with a batch normalisation of every coefficient, so raw
    log-mel values in dB are fine.

    **Speakers.** ``fit(X, y, groups=speakers)`` keeps whole speakers out of the
    validation part. In a :class:`~sklearn.pipeline.Pipeline`
    use ``pipe.fit(X, y, {step}__groups=speakers)`` (the step name of
    :func:`~sklearn.pipeline.make_pipeline` is the lower-cased class name).
    With metadata routing enabled, call ``clf.set_fit_request(groups=True)``
    and pass ``groups=speakers``.

    **Variable-length clips.** Pass them as a list of 2-D arrays: every
    batch is padded at the end to its longest clip and the valid lengths go
    to the network, whose recurrent layers then run on packed sequences,
    whose input normalisation and pooling over time ignore the padded frames
    (see :mod:`sersk.models._modules` for what the conv layers still see).
    Any clip of at least one frame works: the poolings round up. Clips
    already padded into one 3-D array can pass the number of valid frames
    per clip as ``lengths`` to ``fit``, ``predict`` and ``predict_proba``
    instead; without ``lengths`` padded frames count as signal.

    **Augmentation.** ``freq_mask``, ``time_mask``, ``noise_std``,
    ``freq_warp``, ``time_stretch`` and ``mixup`` act on the feature batches
    during training only, on the device that trains, and never at predict
    time. Waveform-level augmentation happens before feature extraction, by
    adding transformed copies of the training waveforms with their labels and
    speaker ids (e.g. ``librosa.effects.pitch_shift``); add them to the
    training folds only, never to test data.

    **Speed.** CPU training runs with ``torch.set_flush_denormal(True)``
    (restored to False afterwards): denormal floats that appear late in
    training otherwise take slow paths in the CPU kernels (see
    :doc:`/user_guide/gpu`).

    **Interrupting.** Ctrl-C (KeyboardInterrupt) during training ends the
    epoch loop and returns the model trained so far, as in skorch, which
    suits notebooks. sersk records it: ``interrupted_`` becomes True, the
    last row of ``history`` gets ``interrupted=True`` and a
    :class:`~sersk.exceptions.TrainingInterruptedWarning` names the epoch
    reached. Scripts that must not keep a cut-short model check
    ``interrupted_`` or turn the warning into an error with
    :func:`warnings.simplefilter`. Early stopping (skorch's
    ``EarlyStopping``, which also raises KeyboardInterrupt) is a normal end
    of training; any other callback that raises KeyboardInterrupt counts as
    an interruption. With ``average_epochs``, the model trained so far is
    the average of the epochs completed before the interruption.

    **Batch normalisation.** The conv nets normalise with batch statistics
    while training, which needs at least 2 clips per training batch: a
    training part of a single clip or ``batch_size=1`` is refused with a
    ValueError that says what to change.

    **Saving.** Fitted estimators (and pipelines holding them) can be pickled
    or dumped with joblib; a model fitted on a GPU loads on a CPU-only machine.
    :func:`sersk.models.save_model` writes a pickle-free file (JSON
    configuration and tensors) for sharing.
"""


class BaseDeepClassifier(NeuralNetClassifier):
    """Base class of sersk's deep classifiers (use one of the subclasses)."""

    _default_module = None

    _parameter_constraints: dict = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(int, {-1})],
        "train_split": [callable, None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "precision": [StrOptions({"auto", "fp32", "bf16"})],
        "freq_mask": [Interval(Integral, 0, None, closed="left")],
        "time_mask": [Interval(Integral, 0, None, closed="left")],
        "n_masks": [Interval(Integral, 1, None, closed="left")],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "freq_warp": [Interval(Real, 0, 1, closed="left")],
        "time_stretch": [Interval(Real, 0, 1, closed="left")],
        "mixup": [Interval(Real, 0, None, closed="left")],
        "bn_momentum": [Interval(Real, 0, 1, closed="right"), None],
        "average_epochs": [Interval(Integral, 2, None, closed="left"), None],
        "lr_schedule": [StrOptions({"plateau", "cosine"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "device": [str, torch.device, None],
    }

    def __init__(
        self,
        module=None,
        *,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        max_epochs=60,
        batch_size=32,
        train_split=_DEFAULT_SPLIT,
        callbacks=None,
        patience=None,
        class_weight="balanced",
        precision="auto",
        freq_mask=8,
        time_mask=20,
        n_masks=2,
        noise_std=0.0,
        freq_warp=0.1,
        time_stretch=0.15,
        mixup=0.2,
        bn_momentum=None,
        average_epochs=None,
        lr_schedule="cosine",
        random_state=None,
        warm_start=False,
        verbose=0,
        device="auto",
        **kwargs,
    ):
        kwargs.setdefault("optimizer__weight_decay", 1e-2)
        if criterion is torch.nn.CrossEntropyLoss:
            kwargs.setdefault("criterion__label_smoothing", 0.1)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.patience = patience
        self.class_weight = class_weight
        self.precision = precision
        self.freq_mask = freq_mask
        self.time_mask = time_mask
        self.n_masks = n_masks
        self.noise_std = noise_std
        self.freq_warp = freq_warp
        self.time_stretch = time_stretch
        self.mixup = mixup
        self.bn_momentum = bn_momentum
        self.average_epochs = average_epochs
        self.lr_schedule = lr_schedule
        self.random_state = random_state

    # ------------------------------------------------------------------ device
    @property
    def device(self):
        """The torch device in use ("auto" resolved to "cuda" or "cpu")."""
        return _resolve_device(self.__dict__.get("device", "auto"))

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        # skorch bookkeeping, not a parameter (recomputed from the kwargs by
        # __init__; passing it on breaks set_params checks)
        params.pop("_params_to_validate", None)
        if "device" in params:
            params["device"] = self.__dict__.get("device", "auto")
        return params

    def __setstate__(self, state):
        raw = state.get("device")
        if raw is None or raw == "auto":
            state["device"] = _resolve_device(raw)
        super().__setstate__(state)
        if raw is None or raw == "auto":
            self.__dict__["device"] = raw

    # ------------------------------------------------------------------- tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.classifier_tags.poor_score = True
        return tags

    def __sklearn_is_fitted__(self):
        return bool(self.__dict__.get("initialized_")) and hasattr(
            self, "n_features_in_"
        )

    @property
    def classes_(self):
        try:
            return self.__dict__["classes_inferred_"]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_' before fit."
            ) from None

    # -------------------------------------------------------------- callbacks
    @property
    def _default_callbacks(self):
        has_valid = self.train_split is not None
        patience = self.__dict__.get("patience")
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ]
        if has_valid:
            callbacks += [
                ("valid_loss", PassthroughScoring(name="valid_loss")),
                (
                    "valid_acc",
                    EpochScoring(
                        _valid_accuracy, name="valid_acc", lower_is_better=False
                    ),
                ),
            ]
        if self.__dict__.get("lr_schedule", "cosine") == "cosine":
            callbacks.append(("lr_scheduler", WarmupCosine()))
        else:
            callbacks.append(
                (
                    "lr_scheduler",
                    LRScheduler(
                        policy=ReduceLROnPlateau,
                        monitor="valid_loss" if has_valid else "train_loss",
                        patience=max(1, (patience or 10) // 2),
                        factor=0.5,
                    ),
                )
            )
        if patience is not None:
            if has_valid:
                callbacks.append(
                    (
                        "early_stopping",
                        EarlyStopping(
                            monitor="valid_loss", patience=patience, load_best=True
                        ),
                    )
                )
        average = self.__dict__.get("average_epochs")
        if average is not None:
            callbacks.append(("weight_averaging", CheckpointAveraging(average)))
        callbacks.append(("print_log", PrintLog()))
        return callbacks

    # ------------------------------------------------------------ validation
    def _validate_params(self):
        # sklearn's declarative constraints for sersk's parameters, then
        # skorch's check of the prefixed keyword arguments (module__* ...).
        from sklearn.base import BaseEstimator

        BaseEstimator._validate_params(self)
        if self.average_epochs is not None and self.patience is not None:
            raise ValueError(
                f"average_epochs={self.average_epochs!r} and patience="
                f"{self.patience!r} both choose the final weights of "
                f"{type(self).__name__}: averaging the last epochs or restoring "
                "the best one. Set one of them to None."
            )
        if "module_" in self.__dict__:  # skorch knows its prefixes once initialized
            NeuralNet._validate_params(self)

    def check_data(self, X, y=None):
        # Labels are checked and encoded in fit; skorch's version would
        # overwrite classes_ with the encoded labels.
        pass

    def _check_lengths(self, lengths, X):
        if lengths is None:
            return None
        if isinstance(X, list):
            raise ValueError(
                "lengths is only for clips padded into one 3-D array; a list of "
                "variable-length clips carries its own lengths. Drop lengths=."
            )
        lengths = np.asarray(lengths)
        if lengths.ndim != 1 or len(lengths) != len(X):
            raise ValueError(
                f"lengths must hold one frame count per clip: shape ({len(X)},); "
                f"got shape {lengths.shape}."
            )
        if not np.issubdtype(lengths.dtype, np.integer):
            if not np.all(np.isfinite(lengths)) or np.any(lengths != np.round(lengths)):
                raise ValueError("lengths must be whole numbers of frames.")
        lengths = lengths.astype(np.int64)
        if lengths.min() < 1 or lengths.max() > X.shape[2]:
            raise ValueError(
                f"lengths must be in [1, n_frames={X.shape[2]}]; got values in "
                f"[{lengths.min()}, {lengths.max()}]."
            )
        return lengths

    def _prepare_fit(self, X, y, lengths, *, reset, classes=None):
        name = type(self).__name__
        X = check_frames(X, estimator_name=name, allow_ragged=True)
        if y is None:
            raise ValueError(f"{name} requires y (one label per clip); got None.")
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_labels(y)
        check_classification_targets(y)
        if reset:
            if classes is None:
                classes = self.__dict__.get("classes")
            if classes is not None and len(classes):
                classes = np.asarray(classes)
                if len(np.unique(classes)) != len(classes):
                    raise ValueError(f"classes has duplicate labels: {classes!r}.")
            else:
                classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(
                    f"{name} needs at least 2 classes in y to train; got 1 class: "
                    f"{classes.tolist()!r}. Check the labels (or the split: a fold "
                    "may hold a single emotion)."
                )
            self.classes_inferred_ = classes
            self.n_classes_ = len(classes)
            self.n_features_in_ = _n_coeffs(X)
            self.n_frames_in_ = _n_frames(X)
        else:
            self._check_n_coeffs(X)
        index = {label: i for i, label in enumerate(self.classes_inferred_.tolist())}
        try:
            y_enc = np.fromiter(
                (index[label] for label in y.tolist()), np.int64, len(y)
            )
        except KeyError as exc:
            raise ValueError(
                f"y contains the label {exc.args[0]!r}, which is not among the "
                f"classes {self.classes_inferred_.tolist()!r} of {name}. Refit "
                "(warm_start=False) or pass classes=[...] listing every label."
            ) from None
        self.class_weight_ = self._class_weights(y_enc)
        return self._as_input(X, lengths), y_enc

    def _as_input(self, X, lengths):
        lengths = self._check_lengths(lengths, X)
        if isinstance(X, list):
            return RaggedFrames(X)
        return X if lengths is None else {"X": X, "lengths": lengths}

    def _check_n_coeffs(self, X):
        if _n_coeffs(X) != self.n_features_in_:
            raise ValueError(
                f"X has {_n_coeffs(X)} coefficients per frame, but "
                f"{type(self).__name__} was fitted with {self.n_features_in_} "
                "(X.shape[1]). Use the same feature settings as at fit."
            )

    def _class_weights(self, y_enc):
        cw = self.class_weight
        k = self.n_classes_
        if cw is None:
            return None
        if isinstance(cw, str):  # "balanced"
            counts = np.bincount(y_enc, minlength=k).astype(np.float64)
            weights = np.where(
                counts > 0, len(y_enc) / (k * np.maximum(counts, 1)), 0.0
            )
        else:
            unknown = set(cw) - set(self.classes_inferred_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight has labels {sorted(unknown, key=str)!r} that are "
                    f"not among the classes {self.classes_inferred_.tolist()!r}."
                )
            weights = np.array(
                [float(cw.get(c, 1.0)) for c in self.classes_inferred_.tolist()]
            )
        return weights.astype(np.float32)

    def _prepare_predict(self, X, lengths=None):
        check_is_fitted(self, ["n_features_in_", "module_"])
        if is_dataset(X):
            return X
        X = check_frames(X, estimator_name=type(self).__name__, allow_ragged=True)
        self._check_n_coeffs(X)
        return self._as_input(X, lengths)

    # ----------------------------------------------------------------- fitting
    def _seed(self):
        if self.random_state is None:
            return None
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    @contextlib.contextmanager
    def _fit_environment(self, groups):
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"{type(self).__name__} was given device={self.device!r} but CUDA is "
                "not available on this machine; use device='auto' (CUDA when "
                "available, else CPU) or device='cpu'."
            )
        seed = self._seed()
        devices = []
        if device.type == "cuda" and torch.cuda.is_available():
            devices = [device.index if device.index is not None else 0]
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.__dict__["_split_seed_"] = seed
            self.__dict__["_fit_groups_"] = groups
            # set again by checkpoint averaging, if this fit averages
            self.__dict__.pop("averaged_epochs_", None)
            try:
                with training_context(device.type):
                    yield
            finally:
                self.__dict__.pop("_fit_groups_", None)
                self.__dict__.pop("_split_seed_", None)
                self.__dict__.pop("_split_sizes_", None)

    def _check_groups(self, groups, n):
        if groups is None:
            return None
        groups = column_or_1d(groups)
        if len(groups) != n:
            raise ValueError(
                f"groups has {len(groups)} entries but X has {n} clips; pass one "
                "speaker id per clip."
            )
        return groups

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None, lengths=None, **fit_params):
        """Train the network on frame-level features.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_coeffs, n_frames)
            Features, e.g. log-mel spectrograms.
        y : array-like of shape (n_clips,)
            Labels of any type (e.g. emotion names).
        groups : array-like of shape (n_clips,), default=None
            Speaker ids; the validation part then holds whole
            speakers only.
        lengths : array-like of int of shape (n_clips,), default=None
            Valid frames per clip when clips are padded at the end.
        **fit_params : dict
            Passed on to the module's ``forward`` (skorch semantics).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        reset = not (self.warm_start and self.__sklearn_is_fitted__())
        X_in, y_enc = self._prepare_fit(X, y, lengths, reset=reset)
        groups = self._check_groups(groups, len(y_enc))
        with self._fit_environment(groups):
            if reset:
                self.initialize()
            self.interrupted_ = False
            NeuralNet.partial_fit(
                self, X_in, y_enc, _routing_method="fit", **fit_params
            )
        self._warn_if_interrupted("fit")
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y, classes=None, groups=None, lengths=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_coeffs, n_frames)
            Features.
        y : array-like of shape (n_clips,)
            Labels.
        classes : array-like of shape (n_classes,), default=None
            All labels, needed on the first call when ``y`` lacks some.
        groups : array-like of shape (n_clips,), default=None
            Speaker ids for the validation split.
        lengths : array-like of int of shape (n_clips,), default=None
            Valid frames per clip.
        **fit_params : dict
            Passed on to the module's ``forward``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        reset = not self.__sklearn_is_fitted__()
        X_in, y_enc = self._prepare_fit(X, y, lengths, reset=reset, classes=classes)
        groups = self._check_groups(groups, len(y_enc))
        with self._fit_environment(groups):
            if reset:
                self.initialize()
            self.interrupted_ = False
            NeuralNet.partial_fit(self, X_in, y_enc, **fit_params)
        self._warn_if_interrupted("partial_fit")
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # skorch's partial_fit swallows a KeyboardInterrupt raised in here (and
        # then runs on_train_end, e.g. early stopping's restore of the best
        # weights); record where it happened before handing it on.
        n_before = len(self.history)
        self.__dict__["_interrupt_"] = None
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            if _stopped_by_early_stopping(exc):
                raise
            self.interrupted_ = True
            epoch = len(self.history) - n_before
            if epoch:
                self.history.record("interrupted", True)
            max_epochs = epochs if epochs is not None else self.max_epochs
            self.__dict__["_interrupt_"] = (epoch, max_epochs)
            raise
        except ValueError as exc:
            if "Expected more than 1 value per channel when training" in str(exc):
                raise ValueError(self._single_clip_batch_message()) from exc
            raise

    def _single_clip_batch_message(self):
        name = type(self).__name__
        n_train, n_valid = self.__dict__.get("_split_sizes_", (None, None))
        batch_size = self.get_params_for("iterator_train").get(
            "batch_size", self.batch_size
        )
        head = (
            f"{name} cannot train on a batch of a single clip: its batch "
            "normalisation needs at least 2 clips per training batch."
        )
        if n_train is not None and n_train < 2:
            held = (
                f" after the validation split held out {n_valid} clip(s)"
                if n_valid
                else ""
            )
            fix = "Fit on more clips" + (
                ", or pass train_split=None to train on all of them without "
                "early stopping."
                if n_valid
                else "."
            )
            return f"{head} The training part holds {n_train} clip(s){held}. {fix}"
        if batch_size == 1:
            return f"{head} Got batch_size=1; use batch_size=2 or more."
        return (
            f"{head} A training batch of one clip was drawn (batch_size="
            f"{batch_size}, {n_train} training clips); use a batch size that "
            "does not leave one clip over, or drop_last=True through "
            "iterator_train__drop_last."
        )

    def _warn_if_interrupted(self, method):
        info = self.__dict__.pop("_interrupt_", None)
        if not self.interrupted_ or info is None:
            return
        epoch, max_epochs = info
        where = (
            f"in epoch {epoch} of max_epochs={max_epochs}"
            if epoch
            else f"before the first of max_epochs={max_epochs} epochs"
        )
        warnings.warn(
            TrainingInterruptedWarning(
                f"{type(self).__name__}.{method} was interrupted (KeyboardInterrupt) "
                f"{where}; the model holds the weights trained so far. "
                "interrupted_ is True and the last row of history has "
                "interrupted=True; fit again to train fully.",
                epoch=epoch,
                max_epochs=max_epochs,
            ),
            stacklevel=4,  # the caller of fit (through sklearn's _fit_context)
        )

    def get_dataset(self, X, y=None):
        if isinstance(X, RaggedFrames):
            return RaggedFrames(X.X, y)
        return super().get_dataset(X, y)

    def get_split_datasets(self, X, y=None, **fit_params):
        train, valid = self._split_datasets(X, y, **fit_params)
        # sizes for the error message about single-clip batches
        self.__dict__["_split_sizes_"] = (
            len(train),
            0 if valid is None else len(valid),
        )
        return train, valid

    def _split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        if not self.train_split:
            return dataset, None
        groups = self.__dict__.get("_fit_groups_")
        if isinstance(self.train_split, SpeakerValidSplit):
            return self.train_split(
                dataset,
                y,
                groups=groups,
                random_state=self.__dict__.get("_split_seed_"),
            )
        if groups is not None:
            return self.train_split(dataset, y, groups=groups, **fit_params)
        return self.train_split(dataset, y, **fit_params)

    @property
    def precision_(self):
        """The precision used on the current device: "fp32" or "bf16".

        ``precision`` itself, or for "auto" "bf16" where the device runs
        bfloat16 natively (:func:`sersk.models.native_bf16`), else "fp32".
        """
        precision = self.__dict__.get("precision", "auto")
        if precision != "auto":
            return precision
        return "bf16" if native_bf16(torch.device(self.device).type) else "fp32"

    def _use_channels_last(self):
        return self.precision_ == "bf16" or torch.device(self.device).type == "cuda"

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        if "n_features_in_" in self.__dict__:
            kwargs["n_coeffs"] = self.n_features_in_
            kwargs["n_classes"] = self.n_classes_
        module_cls = self.module if self.module is not None else self._default_module
        module = self.initialized_instance(module_cls, kwargs)
        if self.bn_momentum is not None:
            for norm in module.modules():
                if isinstance(norm, _BatchNorm):
                    norm.momentum = float(self.bn_momentum)
        if isinstance(module, _ConvNetMixin):
            module.channels_last = self._use_channels_last()
            if module.channels_last:
                module = module.to(memory_format=torch.channels_last)
        self.module_ = module
        return self

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        weights = self.__dict__.get("class_weight_")
        if weights is not None and "weight" not in kwargs:
            kwargs["weight"] = torch.as_tensor(weights, dtype=torch.float32)
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def get_iterator(self, dataset, training=False):
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        iterator = self.iterator_train if training else self.iterator_valid
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        if training:
            kwargs.setdefault("shuffle", True)
            # batch norm cannot train on a final batch of a single clip
            n = len(dataset)
            if n > 1 and n % kwargs["batch_size"] == 1:
                kwargs.setdefault("drop_last", True)
        if torch.device(self.device).type == "cuda":
            kwargs.setdefault("pin_memory", True)
        if is_ragged(dataset):
            kwargs.setdefault("collate_fn", pad_collate)
        return iterator(dataset, **kwargs)

    def _augments(self):
        return bool(
            self.freq_mask
            or self.time_mask
            or self.noise_std
            or self.freq_warp
            or self.time_stretch
        )

    def _backward(self, loss):
        """Back-propagate the training loss (a subclass may delegate it)."""
        loss.backward()

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        if not (self._augments() or self.mixup):
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            self._backward(loss)
            return {"loss": loss, "y_pred": y_pred}
        Xi = to_tensor(Xi, device=self.device)
        X, lengths = (
            (Xi["X"], Xi.get("lengths")) if isinstance(Xi, dict) else (Xi, None)
        )
        if self._augments():
            X, lengths = self._augment(X, lengths)
        mix = None
        if self.mixup:
            a = torch.tensor(float(self.mixup))
            lam = float(torch.distributions.Beta(a, a).sample())
            perm = torch.randperm(X.shape[0], device=X.device)
            X = lam * X + (1.0 - lam) * X[perm]
            if lengths is not None:
                lengths = torch.maximum(lengths, lengths[perm.to(lengths.device)])
            mix = (lam, perm)
        if lengths is None:
            Xi = X
        else:
            Xi = {**(Xi if isinstance(Xi, dict) else {}), "X": X, "lengths": lengths}
        y_pred = self.infer(Xi, **fit_params)
        if mix is None:
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        else:
            lam, perm = mix
            yi = to_tensor(yi, device=self.device)
            loss = lam * self.get_loss(y_pred, yi, X=Xi, training=True) + (
                1.0 - lam
            ) * self.get_loss(y_pred, yi[perm.to(yi.device)], X=Xi, training=True)
        self._backward(loss)
        return {"loss": loss, "y_pred": y_pred}

    def _augment(self, X, lengths=None):
        return augment_batch(
            X,
            freq_mask=self.freq_mask,
            time_mask=self.time_mask,
            n_masks=self.n_masks,
            noise_std=self.noise_std,
            freq_warp=self.freq_warp,
            time_stretch=self.time_stretch,
            lengths=lengths,
        )

    def infer(self, x, **fit_params):
        with autocast(torch.device(self.device).type, self.precision_):
            out = super().infer(x, **fit_params)
        # Under bf16 autocast a module's last layer may return bfloat16 logits
        # (the built-in modules return float32); numpy has no bfloat16, so the
        # scoring and prediction paths need float32.
        if torch.is_tensor(out) and out.is_floating_point():
            return out.float()
        return out

    def get_loss(self, y_pred, y_true, *args, **kwargs):
        return super().get_loss(y_pred.float(), y_true, *args, **kwargs)

    # -------------------------------------------------------------- predicting
    def predict_proba(self, X, lengths=None):
        """Class probabilities (softmax of the logits).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_coeffs, n_frames)
            Features; ``n_frames`` may differ from the one seen at fit.
        lengths : array-like of int of shape (n_clips,), default=None
            Valid frames per clip.

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        X_in = self._prepare_predict(X, lengths)
        return NeuralNetClassifier.predict_proba(self, X_in).astype(np.float64)

    def predict(self, X, lengths=None):
        """Predicted labels (from ``classes_``).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_coeffs, n_frames)
            Features.
        lengths : array-like of int of shape (n_clips,), default=None
            Valid frames per clip.

        Returns
        -------
        y_pred : ndarray of shape (n_clips,)
            Labels.
        """
        proba = self.predict_proba(X, lengths)
        return self.classes_[proba.argmax(axis=1)]


def _n_coeffs(X):
    return X[0].shape[0] if isinstance(X, list) else X.shape[1]


def _n_frames(X):
    return max(x.shape[1] for x in X) if isinstance(X, list) else X.shape[2]


def _doc(cls, summary, module_name, example):
    step = cls.__name__.lower()
    cls.__doc__ = (
        summary
        + _COMMON_DOC.format(module=module_name, step=step)
        + "\n    See Also\n    --------\n"
        + "    sersk.models.save_model : Pickle-free saving.\n"
        + "    sersk.models.SpeakerValidSplit : The default validation split.\n"
        + "\n    Examples\n    --------\n"
        + example
    )
    return cls


_EXAMPLE = """    >>> import numpy as np
    >>> from sersk.models import {cls}
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(16, 8, 12)).astype("float32")
    >>> y = np.array(["angry", "calm"] * 8)
    >>> X[y == "angry"] += 1.0
    >>> clf = {cls}(max_epochs=2, train_split=None, random_state=0{extra})
    >>> clf = clf.fit(X, y)
    >>> clf.classes_
    array(['angry', 'calm'], dtype='<U5')
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> clf.predict(X[:3]).dtype.kind
    'U'
"""


class CRNNClassifier(BaseDeepClassifier):
    _default_module = CRNN


class CNNClassifier(BaseDeepClassifier):
    _default_module = CNN


class CNNLSTMClassifier(BaseDeepClassifier):
    _default_module = CNNLSTM


class RNNClassifier(BaseDeepClassifier):
    _default_module = RNN


_doc(
    CRNNClassifier,
    """Convolutional recurrent classifier (conv blocks, BiLSTM, attention).

    A CRNN for speech emotion recognition as a scikit-learn classifier:
    Conv2D blocks (16, 32 and 64 channels; batch norm, max-pool, ReLU,
    dropout 0.3), a bidirectional LSTM layer (64 units) and attention pooling
    over time that ignores padding; the head (a dense layer with batch norm,
    then a softmax over the classes) sees that pooled output beside the conv
    maps averaged over the valid frames. ``module__conv_summary=False`` gives
    the head the LSTM's output only, the network of earlier sersk versions.
    Trains on CUDA when available, else on CPU.
""",
    "CRNN",
    _EXAMPLE.format(
        cls="CRNNClassifier",
        extra=", module__conv_channels=(4,), module__lstm_units=(8,)",
    ),
)
_doc(
    CNNClassifier,
    """2-D CNN classifier over spectrogram-like features.

    Four Conv2D blocks (16, 32, 64, 128 channels, 3x3, batch norm, 2x2
    max-pool, ReLU, dropout 0.2); the channels at each remaining frequency
    position, averaged over the valid frames (any clip length works); a dense
    layer of 128 units with batch norm, ReLU and dropout 0.3.
    ``module__freq_pooling="mean"`` averages over frequency as well (global
    average pooling), the network of earlier sersk versions.
""",
    "CNN",
    _EXAMPLE.format(
        cls="CNNClassifier",
        extra=", module__conv_channels=(4, 8), module__dense_units=(8,)",
    ),
)
_doc(
    CNNLSTMClassifier,
    """CNN-LSTM classifier: 1-D convolutions over time, then LSTM layers.

    The coefficients (e.g. MFCCs) are the channels of Conv1D blocks over
    time; an LSTM stack and attention pooling follow.
""",
    "CNNLSTM",
    _EXAMPLE.format(
        cls="CNNLSTMClassifier",
        extra=", module__conv_channels=(8,), module__lstm_units=(8,)",
    ),
)
_doc(
    RNNClassifier,
    """Recurrent classifier (LSTM or GRU) over frame sequences such as MFCCs.

    ``module__cell="lstm"|"gru"``, ``module__bidirectional``,
    ``module__hidden_size``, ``module__num_layers`` and
    ``module__pooling="attention"|"mean"|"last"`` select the architecture.
""",
    "RNN",
    _EXAMPLE.format(
        cls="RNNClassifier", extra=", module__hidden_size=8, module__num_layers=1"
    ),
)
