"""The deep classifiers trained by Hugging Face Accelerate (several processes, DDP).

skorch's :class:`skorch.hf.AccelerateMixin` hands the module, criterion,
optimizer and data loaders to an :class:`accelerate.Accelerator`. sersk's
classifiers have their own training step (augmentation, mixup, bf16
autocast), device handling and callbacks, so the mixin is adapted here: the
training step keeps sersk's augmentation and back-propagates through the
accelerator, and every number recorded in ``history`` (losses, validation
accuracy) is the same on every process, so that callbacks that act on it
(early stopping, learning-rate schedules) decide alike everywhere.
"""

from __future__ import annotations

import contextlib

import torch
from skorch.callbacks import LRScheduler
from skorch.dataset import unpack_data
from skorch.hf import AccelerateMixin as _SkorchAccelerateMixin

from ._classifiers import (
    BaseDeepClassifier,
    CNNClassifier,
    CNNLSTMClassifier,
    CRNNClassifier,
    RNNClassifier,
)

__all__ = [
    "AccelerateMixin",
    "AcceleratedCNNClassifier",
    "AcceleratedCNNLSTMClassifier",
    "AcceleratedCRNNClassifier",
    "AcceleratedRNNClassifier",
]


def _silent(text):
    """The epoch table's printer on every process but the main one."""


class AccelerateMixin(_SkorchAccelerateMixin):
    """Train a sersk deep classifier with Hugging Face Accelerate.

    :class:`skorch.hf.AccelerateMixin` adapted to sersk's classifiers; put it
    first among the bases, before the classifier, as with skorch's mixin::

        class AcceleratedCRNNClassifier(AccelerateMixin, CRNNClassifier):
            pass

    The ready-made classes :class:`AcceleratedCRNNClassifier`,
    :class:`AcceleratedCNNClassifier`, :class:`AcceleratedCNNLSTMClassifier`
    and :class:`AcceleratedRNNClassifier` are built this way.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        The accelerator; under ``accelerate launch`` (or ``torchrun``) it
        runs one process per device and averages the gradients across them
        (PyTorch DDP).
    device : None, default=None
        Leave it None: the accelerator places the network and the batches on
        its device (``accelerator.device``, which ``device`` then returns).
    unwrap_after_train : bool, default=True
        Unwrap the network from the accelerator's DDP wrapper at the end of
        ``fit`` (needed to save it with :func:`sersk.save_model`); the next
        ``fit`` or ``partial_fit`` wraps it again.
    **kwargs
        Every parameter of the classifier.

    Notes
    -----
    What stays as without Accelerate:

    - **The validation split** (speakers held out when ``groups`` is given)
      is computed from the whole data on every process, with the same seed,
      so every process holds out the same clips. The training part is then
      shared out among the processes: each epoch, each process trains on
      ``1 / num_processes`` of the batches (a batch of ``batch_size`` clips
      per process, so ``batch_size * num_processes`` clips per optimizer
      step).
    - **Class weights, augmentation, mixup, ragged clips** padded per batch:
      as without Accelerate, inside each process. With ``random_state`` set,
      the processes start from the same weights and draw different
      augmentations (a seed per process).
    - **Scores.** ``train_loss`` is the mean over the processes of their
      batch losses; ``valid_loss`` and ``valid_acc`` are computed on the
      predictions gathered from all processes, so ``history`` is the same
      on every process and early stopping stops all of them in the same
      epoch. (Callbacks' ``on_batch_end`` of a validation batch receive
      ``batch=(X, y)`` with this process's ``X`` and the gathered ``y``.)
    - **Precision.** ``precision="bf16"`` runs the forward passes under
      bfloat16 autocast as without Accelerate;
      ``Accelerator(mixed_precision="bf16")`` does the same through the
      accelerator (``precision_`` then reports "bf16"). An explicit
      ``precision`` that contradicts the accelerator's mixed precision is
      refused.
    - **Predicting** in several processes: every process must call
      ``predict`` together (the predictions are gathered from all of them,
      and every process gets all of them).

    Saving: :func:`sersk.save_model` stores an accelerated classifier as the
    plain classifier it is built on (``AcceleratedCRNNClassifier`` as
    ``CRNNClassifier``), which :func:`sersk.load_model` loads on any machine
    without Accelerate; call it on the main process only
    (``if accelerator.is_main_process``). A pickle of an accelerated
    classifier holds its accelerator, and needs accelerate to load.
    """

    _extra_constraints: dict = {
        "accelerator": "no_validation",
        "unwrap_after_train": ["boolean"],
        "device": [None],
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        constraints = getattr(cls, "_parameter_constraints", None)
        if constraints is not None:
            cls._parameter_constraints = {**constraints, **cls._extra_constraints}

    # ------------------------------------------------------------------ device
    @property
    def device(self):
        """The accelerator's device when ``device`` is None (as it should be)."""
        raw = self.__dict__.get("device")
        if raw is None:
            accelerator = self.__dict__.get("accelerator")
            return None if accelerator is None else accelerator.device
        return raw

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def _check_accelerator(self):
        if not all(hasattr(self.accelerator, name) for name in ("prepare", "backward")):
            plain = next(
                c for c in type(self).__mro__ if not issubclass(c, AccelerateMixin)
            )
            raise TypeError(
                f"{type(self).__name__} needs an accelerate.Accelerator as "
                f"accelerator; got {self.accelerator!r}. Pass "
                "accelerator=accelerate.Accelerator() (pip install accelerate), "
                f"or use {plain.__name__} to train without it."
            )

    def _validate_params(self):
        self._check_accelerator()
        name = type(self).__name__
        raw = self.__dict__.get("device")
        if self.accelerator.device_placement and raw is not None:
            raise ValueError(
                f"{name} was given device={raw!r}, but the accelerator places the "
                "network and the batches itself (device_placement=True); use "
                "device=None (accelerator.device is used)."
            )
        mixed = self._accelerator_precision()
        if mixed is not None and self.precision not in ("auto", mixed):
            raise ValueError(
                f"{name} was given precision={self.precision!r}, but the "
                f"accelerator computes in mixed precision {mixed!r}. Use "
                f"precision='auto' (or {mixed!r}), or "
                "Accelerator(mixed_precision='no')."
            )
        BaseDeepClassifier._validate_params(self)

    def _accelerator_precision(self):
        mixed = str(getattr(self.accelerator, "mixed_precision", "no"))
        return None if mixed == "no" else mixed

    @property
    def precision_(self):
        """The precision used: the accelerator's mixed precision, if any.

        Else as without Accelerate: "bf16" or "fp32".
        """
        mixed = self._accelerator_precision()
        if mixed is not None:
            return mixed
        return BaseDeepClassifier.precision_.fget(self)

    # ---------------------------------------------------------------- training
    def _initialize_callbacks(self):
        if self.callbacks__print_log__sink == "auto":
            # the epoch table once (on the main process), and only when
            # verbose, as without Accelerate
            main = self.accelerator.is_main_process
            self.callbacks__print_log__sink = print if main else _silent
        super()._initialize_callbacks()
        if not self.accelerator.is_main_process:
            # early stopping's messages too, once
            for _, callback in self.callbacks_:
                if getattr(callback, "sink", None) is print:
                    callback.sink = _silent
        return self

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params.pop("_wrapped_with_accelerator", None)  # state, not a parameter
        return params

    def _prepare_module(self, module):
        if any(p.requires_grad for p in module.parameters()):
            return self.accelerator.prepare(module)
        # a criterion without parameters (class weights are a buffer): DDP
        # refuses to wrap it, and only its device matters
        if self.accelerator.device_placement:
            module = module.to(self.accelerator.device)
        return module

    def _initialize_accelerator(self):
        # skorch's version, except that a module without trainable
        # parameters is not handed to DDP
        if self._wrapped_with_accelerator:
            return self
        for kind, names in (("criterion", self._criteria), ("module", self._modules)):
            with self._current_init_context(kind):
                for name in names:
                    module = getattr(self, name + "_")
                    if isinstance(module, torch.nn.Module):
                        setattr(self, name + "_", self._prepare_module(module))
        with self._current_init_context("optimizer"):
            for name in self._optimizers:
                optimizer = getattr(self, name + "_")
                if isinstance(optimizer, torch.optim.Optimizer):
                    setattr(self, name + "_", self.accelerator.prepare(optimizer))
        for _, callback in self.callbacks_:
            if isinstance(callback, LRScheduler):
                callback.policy_ = self.accelerator.prepare(callback.policy_)
        self._wrapped_with_accelerator = True
        return self

    def initialize(self):
        # new modules, criterion and optimizer: all to be prepared
        self._wrapped_with_accelerator = False
        return super().initialize()

    @contextlib.contextmanager
    def _fit_environment(self, groups):
        self._check_accelerator()
        with super()._fit_environment(groups):
            try:
                yield
            finally:
                self.accelerator.wait_for_everyone()
                if self.unwrap_after_train:
                    self._unwrap_accelerator()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        if not self._wrapped_with_accelerator:
            # training again after an unwrapped fit (warm_start, partial_fit):
            # wrap the network again so that the gradients are averaged; the
            # optimizer, prepared before, holds the same parameter tensors
            for name in self._modules + self._criteria:
                module = getattr(self, name + "_")
                if isinstance(module, torch.nn.Module):
                    setattr(self, name + "_", self._prepare_module(module))
            self._wrapped_with_accelerator = True
        seed = self.__dict__.get("_split_seed_")
        if seed is not None and self.accelerator.num_processes > 1:
            # same initial weights everywhere (seeded before), different
            # augmentation on each process; the accelerator synchronises the
            # shuffling of the batches itself
            torch.manual_seed(seed + 1 + self.accelerator.process_index)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # skorch's mixin unwraps here, before the callbacks' on_train_end
        # (early stopping restores the best weights of the wrapped network
        # then); sersk unwraps at the end of fit instead
        self.accelerator.wait_for_everyone()
        return BaseDeepClassifier.on_train_end(self, net, X=X, y=y, **kwargs)

    def train_step_single(self, batch, **fit_params):
        with self.accelerator.autocast():
            return BaseDeepClassifier.train_step_single(self, batch, **fit_params)

    def _backward(self, loss):
        self.accelerator.backward(loss)

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        if self.accelerator.num_processes > 1:
            loss = self.accelerator.reduce(step["loss"].detach(), reduction="mean")
            step = {**step, "loss": loss}
        return step

    def validation_step(self, batch, **fit_params):
        if self.accelerator.num_processes == 1:
            return super().validation_step(batch, **fit_params)
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            yi = torch.as_tensor(yi, device=y_pred.device)
            y_pred, y_all = self.accelerator.gather_for_metrics((y_pred, yi))
            loss = self.get_loss(y_pred, y_all, X=Xi, training=False)
        return {"loss": loss, "y_pred": y_pred, "_gathered_batch": (Xi, y_all)}

    def notify(self, method_name, **cb_kwargs):
        gathered = cb_kwargs.pop("_gathered_batch", None)
        if gathered is not None and method_name == "on_batch_end":
            # the scores weigh this batch by the clips of all processes
            cb_kwargs["batch"] = gathered
            self.history.record_batch("valid_batch_size", len(gathered[1]))
        return super().notify(method_name, **cb_kwargs)


def _accelerated(base):
    cls = type(
        f"Accelerated{base.__name__}",
        (AccelerateMixin, base),
        {"__module__": __name__, "_save_as": base},
    )
    cls.__doc__ = f"""{base.__name__} trained with Hugging Face Accelerate.

    ``class Accelerated{base.__name__}(AccelerateMixin, {base.__name__})``:
    every parameter of :class:`sersk.models.{base.__name__}`, plus
    ``accelerator`` (an :class:`accelerate.Accelerator`, required) and
    ``unwrap_after_train``; leave ``device`` None. Launch the training
    script with ``accelerate launch`` to train on several processes (one per
    GPU, or CPU processes with ``--cpu``); see :class:`AccelerateMixin` for
    what each process does and :doc:`/user_guide/scaling` for a script.

    See Also
    --------
    sersk.models.{base.__name__} : The same classifier without Accelerate.
    sersk.save_model : Stores it as a plain {base.__name__}.

    Examples
    --------
    >>> import numpy as np
    >>> from accelerate import Accelerator
    >>> from sersk.models import Accelerated{base.__name__}
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(16, 8, 12)).astype("float32")
    >>> y = np.array(["angry", "calm"] * 8)
    >>> clf = Accelerated{base.__name__}(
    ...     accelerator=Accelerator(cpu=True), max_epochs=2, train_split=None,
    ...     random_state=0{_EXTRA[base.__name__]})
    >>> clf.fit(X, y).predict(X[:3]).shape
    (3,)
    """
    return cls


_EXTRA = {
    "CRNNClassifier": ", module__conv_channels=(4,), module__lstm_units=(8,)",
    "CNNClassifier": ", module__conv_channels=(4, 8), module__dense_units=(8,)",
    "CNNLSTMClassifier": ", module__conv_channels=(8,), module__lstm_units=(8,)",
    "RNNClassifier": ", module__hidden_size=8, module__num_layers=1",
}

AcceleratedCRNNClassifier = _accelerated(CRNNClassifier)
AcceleratedCNNClassifier = _accelerated(CNNClassifier)
AcceleratedCNNLSTMClassifier = _accelerated(CNNLSTMClassifier)
AcceleratedRNNClassifier = _accelerated(RNNClassifier)
