"""Training helpers: speaker-grouped validation split, augmentation, precision."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
from sklearn.model_selection import (
    GroupShuffleSplit,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)
from torch.utils.data import Subset

__all__ = ["SpeakerValidSplit"]


class SpeakerValidSplit:
    """Hold out a validation part for early stopping, by speaker when known.

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
    X, *, freq_mask=0, time_mask=0, n_masks=1, noise_std=0.0, lengths=None
):
    """SpecAugment-style masking and additive noise on a batch (N, C, T) tensor.

    Masked bands are set to each clip's mean; the noise standard deviation is
    ``noise_std`` times each clip's standard deviation.
    """
    if not (freq_mask or time_mask or noise_std):
        return X
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
    return X


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


def autocast(device_type, precision):
    """Autocast context for ``precision`` ("fp32" does nothing)."""
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
