"""Training helpers: speaker-grouped validation split, augmentation, precision."""

from __future__ import annotations

import collections
import contextlib
import functools
import warnings

import numpy as np
import torch
from sklearn.model_selection import (
    GroupShuffleSplit,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)
from skorch.callbacks import Callback
from torch.utils.data import Dataset, Subset

__all__ = ["SpeakerValidSplit", "native_bf16"]


class RaggedFrames(Dataset):
    """Variable-length clips as a torch dataset, padded per batch.

    Items are ``(frames, label)`` with ``frames`` of shape
    ``(n_coeffs, n_frames_i)``; :func:`pad_collate` pads a batch at the end
    to its longest clip and passes the valid lengths on, so that each batch
    costs only as much as its longest clip.
    """

    def __init__(self, X, y=None):
        self.X = X
        self.y = y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], (0 if self.y is None else self.y[i])


def pad_collate(batch):
    """Pad a batch of RaggedFrames items: ``({"X", "lengths"}, y)`` tensors."""
    frames, labels = zip(*batch, strict=True)
    lengths = torch.tensor([f.shape[-1] for f in frames], dtype=torch.int64)
    X = torch.zeros(len(frames), frames[0].shape[0], int(lengths.max()))
    for i, f in enumerate(frames):
        X[i, :, : f.shape[-1]] = torch.from_numpy(f)
    return {"X": X, "lengths": lengths}, torch.as_tensor(np.asarray(labels))


def is_ragged(dataset):
    """Whether a (possibly Subset-wrapped) dataset holds RaggedFrames."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return isinstance(dataset, RaggedFrames)


class SpeakerValidSplit:
    """Hold out a validation part (scores, early stopping), by speaker when known.

    Called by the deep classifiers as ``split(dataset, y, groups=None)``.

    * With ``groups`` (speaker ids): whole speakers go to the validation part,
      stratified by label as far as the speakers allow
      (:class:`~sklearn.model_selection.StratifiedGroupKFold` with
      ``round(1 / valid_size)`` folds, first fold; falls back to
      :class:`~sklearn.model_selection.GroupShuffleSplit` when a class has
      fewer clips than folds).
    * Without groups: a stratified random split
      (:class:`~sklearn.model_selection.StratifiedShuffleSplit`; plain
      :class:`~sklearn.model_selection.ShuffleSplit` when some class has a
      single clip or the validation part is smaller than the number of classes).

    Parameters
    ----------
    valid_size : float, default=0.2
        Fraction of clips (or speakers) held out, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seed of the split. When None, the classifier's ``random_state`` is used.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.models import SpeakerValidSplit
    >>> y = np.array([0, 1] * 10)
    >>> groups = np.repeat(np.arange(10), 2)
    >>> train, valid = SpeakerValidSplit(0.2, random_state=0)(np.zeros((20, 1)), y, groups)
    >>> sorted(set(groups[valid.indices]) & set(groups[train.indices]))
    []
    """

    def __init__(self, valid_size=0.2, random_state=None):
        self.valid_size = valid_size
        self.random_state = random_state

    def __repr__(self):
        return (
            f"{type(self).__name__}(valid_size={self.valid_size!r}, "
            f"random_state={self.random_state!r})"
        )

    def indices(self, y, groups=None, random_state=None):
        """Return ``(train_idx, valid_idx)`` for labels ``y`` and optional groups."""
        if not 0.0 < float(self.valid_size) < 1.0:
            raise ValueError(
                f"valid_size of SpeakerValidSplit must be in (0, 1); got {self.valid_size!r}."
            )
        rs = self.random_state if self.random_state is not None else random_state
        y = np.asarray(y)
        n = len(y)
        idx = np.arange(n)
        if groups is not None:
            groups = np.asarray(groups)
            if len(groups) != n:
                raise ValueError(
                    f"groups has {len(groups)} entries but there are {n} clips; "
                    "pass one speaker id per clip."
                )
            n_groups = len(np.unique(groups))
            if n_groups < 2:
                raise ValueError(
                    f"The validation split needs at least 2 speakers in groups; got "
                    f"{n_groups}. Pass train_split=None to train without validation."
                )
            n_splits = min(max(2, round(1.0 / float(self.valid_size))), n_groups)
            _, counts = np.unique(y, return_counts=True)
            if counts.min() >= n_splits:
                cv = StratifiedGroupKFold(
                    n_splits=n_splits, shuffle=True, random_state=rs
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    return next(cv.split(idx, y, groups))
            cv = GroupShuffleSplit(
                n_splits=1, test_size=self.valid_size, random_state=rs
            )
            return next(cv.split(idx, y, groups))
        _, counts = np.unique(y, return_counts=True)
        n_valid = int(np.ceil(self.valid_size * n))
        if counts.min() >= 2 and len(counts) <= n_valid <= n - len(counts):
            cv = StratifiedShuffleSplit(
                n_splits=1, test_size=self.valid_size, random_state=rs
            )
        else:
            cv = ShuffleSplit(n_splits=1, test_size=self.valid_size, random_state=rs)
        return next(cv.split(idx, y))

    def __call__(self, dataset, y=None, groups=None, random_state=None):
        """Split a skorch dataset (or array) into train and validation subsets."""
        if y is None:
            raise ValueError("SpeakerValidSplit needs the labels y.")
        train_idx, valid_idx = self.indices(y, groups, random_state)
        return Subset(dataset, train_idx), Subset(dataset, valid_idx)


def augment_batch(
    X,
    *,
    freq_mask=0,
    time_mask=0,
    n_masks=1,
    noise_std=0.0,
    freq_warp=0.0,
    time_stretch=0.0,
    lengths=None,
):
    """Augment a training batch ``X`` of shape (N, C, T); ``(X, lengths)`` back.

    * ``freq_warp`` / ``time_stretch``: each clip's coefficient axis / time
      axis is resampled (linear interpolation) by a factor drawn uniformly
      from ``[1 - w, 1 + w]``; a stretched clip's valid length changes with
      it (at most ``T``), so ``lengths`` comes back updated (and is created
      when a time stretch is applied to a batch without lengths).
    * SpecAugment masks: bands of up to ``freq_mask`` coefficients and
      ``time_mask`` frames, ``n_masks`` of each, set to each clip's mean.
    * ``noise_std``: Gaussian noise of that many times each clip's standard
      deviation.
    """
    if freq_warp or time_stretch:
        X, lengths = _warp(X, lengths, float(freq_warp), float(time_stretch))
    if not (freq_mask or time_mask or noise_std):
        return X, lengths
    X = X.clone()
    n, n_coeffs, n_frames = X.shape
    mean = X.mean(dim=(1, 2), keepdim=True)
    device = X.device
    for size, axis, extent in ((freq_mask, 1, n_coeffs), (time_mask, 2, n_frames)):
        if not size:
            continue
        size = min(int(size), extent)
        steps = torch.arange(extent, device=device)
        for _ in range(int(n_masks)):
            width = torch.randint(0, size + 1, (n,), device=device)
            if axis == 2 and lengths is not None:
                limit = lengths.to(device).clamp(min=1, max=n_frames)
            else:
                limit = torch.full((n,), extent, device=device)
            start = (
                torch.rand(n, device=device) * (limit - width + 1).clamp(min=1)
            ).long()
            band = (steps[None] >= start[:, None]) & (
                steps[None] < (start + width)[:, None]
            )
            band = band[:, :, None] if axis == 1 else band[:, None, :]
            X = torch.where(band, mean.expand_as(X), X)
    if noise_std:
        std = X.std(dim=(1, 2), keepdim=True)
        X = X + float(noise_std) * std * torch.randn_like(X)
    return X, lengths


def _warp(X, lengths, freq_warp, time_stretch):
    """Per-clip linear resampling of the coefficient and time axes."""
    n, n_coeffs, n_frames = X.shape
    device = X.device
    if lengths is None:
        lengths = torch.full((n,), n_frames, device=device, dtype=torch.int64)
    lengths = lengths.to(device)

    def factors(width):
        return 1.0 + width * (2.0 * torch.rand(n, device=device) - 1.0)

    # output index i reads input index i / factor (align_corners coordinates)
    f_warp = factors(freq_warp) if freq_warp else torch.ones(n, device=device)
    rate = factors(time_stretch) if time_stretch else torch.ones(n, device=device)
    coeff = torch.arange(n_coeffs, device=device, dtype=torch.float32)
    frame = torch.arange(n_frames, device=device, dtype=torch.float32)
    src_c = coeff[None] / f_warp[:, None]  # (N, C)
    src_t = frame[None] * rate[:, None]  # (N, T)
    grid_y = 2.0 * src_c / max(1, n_coeffs - 1) - 1.0
    grid_x = 2.0 * src_t / max(1, n_frames - 1) - 1.0
    grid = torch.stack(
        (
            grid_x[:, None, :].expand(n, n_coeffs, n_frames),
            grid_y[:, :, None].expand(n, n_coeffs, n_frames),
        ),
        dim=-1,
    )
    out = (
        torch.nn.functional.grid_sample(
            X.float().unsqueeze(1),
            grid,
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        )
        .squeeze(1)
        .to(X.dtype)
    )
    if time_stretch:
        # the last output frame m - 1 reads input (m - 1) * rate <= L - 1
        lengths = torch.floor((lengths.float() - 1) / rate).long() + 1
        lengths = lengths.clamp(min=1, max=n_frames)
    return out, lengths


class CheckpointAveraging(Callback):
    """Average the network of the last ``n_epochs`` epochs at the end of training.

    After every epoch the network's state is kept (the last ``n_epochs`` of
    them); when training ends, the network gets their mean: the mean of the
    weights, and the mean of the batch-norm running statistics. This is
    checkpoint averaging, stochastic weight averaging over the tail of the
    learning-rate schedule (Izmailov et al. 2018): the mean of several nearby
    solutions tends to lie in a flatter region of the loss.

    The batch-norm statistics are averaged as well, not estimated again on
    clean clips as SWA's ``update_bn`` does: the running statistics were
    gathered on the augmented, mixed training batches that the next layers
    learned to expect; statistics estimated again on clean clips scored
    worse on unseen speakers (:doc:`/benchmarks`).

    Fewer epochs than ``n_epochs`` (a short or interrupted fit) are averaged
    as they are; ``averaged_epochs_`` of the classifier tells how many were.
    """

    def __init__(self, n_epochs):
        self.n_epochs = n_epochs

    def initialize(self):
        self.states_ = collections.deque(maxlen=int(self.n_epochs))
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.states_ = collections.deque(maxlen=int(self.n_epochs))

    def on_epoch_end(self, net, **kwargs):
        self.states_.append(_averaged_state(_bare_module(net.module_)))

    def __getstate__(self):
        # the kept networks exist only while training: a fit that ended with
        # an error (no on_train_end) must not pickle them with the model
        state = self.__dict__.copy()
        state.pop("states_", None)
        return state

    def on_train_end(self, net, X=None, y=None, **kwargs):
        states = self.states_
        self.states_ = collections.deque(maxlen=int(self.n_epochs))
        net.averaged_epochs_ = len(states)
        if states:
            average_states(_bare_module(net.module_), list(states))


def _averaged_state(module):
    """Copies of the floating-point tensors of ``module``'s state (weights,
    batch-norm statistics), by name; counters such as ``num_batches_tracked``
    are left out."""
    return {
        name: value.detach().clone()
        for name, value in module.state_dict().items()
        if value.is_floating_point()
    }


def average_states(module, states):
    """Set ``module``'s floating-point state to the mean of ``states``."""
    own = module.state_dict()
    with torch.no_grad():
        for name in states[0]:
            mean = torch.stack([s[name].float() for s in states]).mean(0)
            own[name].copy_(mean.to(own[name].dtype))


def _bare_module(module):
    """The network inside a DistributedDataParallel wrapper (Accelerate)."""
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.module
    return module


@contextlib.contextmanager
def training_context(device_type):
    """Flush denormals to zero while training on CPU (restored afterwards).

    Denormal floats appear in LSTM/conv weights and gradients late in
    training and take slow paths in CPU kernels; flushing them to zero leaves
    the losses unchanged (figures in the docs' benchmarks page).
    """
    if device_type != "cpu":
        yield
        return
    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)


@functools.cache
def native_bf16(device_type="cpu"):
    """Whether ``device_type`` ("cpu" or "cuda") computes bfloat16 natively.

    CUDA: a GPU of compute capability 8.0 (Ampere) or newer. CPU: the
    ``avx512_bf16`` or ``amx_bf16`` instructions, read from ``/proc/cpuinfo``
    (other systems answer False). Elsewhere bfloat16 is emulated and slower
    than float32, which is why ``precision="auto"`` then keeps float32.

    Examples
    --------
    >>> from sersk.models import native_bf16
    >>> native_bf16("cpu") in (True, False)
    True
    """
    if device_type == "cuda":
        return bool(
            torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8
        )
    if device_type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def autocast(device_type, precision):
    """Autocast context for ``precision`` ("fp32" does nothing)."""
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
