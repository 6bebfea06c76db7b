"""PyTorch modules behind sersk's deep classifiers.

Every module takes a batch of frame-level features ``X`` of shape
``(batch, n_coeffs, n_frames)`` (float32) and an optional ``lengths`` tensor of
shape ``(batch,)`` holding the number of valid (non-padded) frames of each
clip, and returns unnormalised class scores (logits) of shape
``(batch, n_classes)``. ``n_coeffs`` and ``n_classes`` are filled in from the
data by the classifiers at ``fit``; every other size is a keyword argument that
the classifiers expose as ``module__<name>``.

Padding
-------
Clips of different lengths are padded at the end to a common ``n_frames``.
When ``lengths`` is given:

* recurrent layers run on packed sequences, so padded frames never enter the
  forward or the backward direction of an LSTM/GRU;
* attention pooling gives padded frames zero weight, mean pooling averages only
  valid frames and ``pooling="last"`` takes the last valid frame;
* in the conv layers, padded frames are set to zero at the input of every
  convolution (the zero padding an unpadded clip sees at its border) and
  before every max-pool (which comes before the ReLU, see ``_run_conv``), and the number of valid frames is divided by each
  time pooling step (rounding up, as the ``ceil_mode`` pooling does); the final
  pooling over time ignores the padded columns.

In eval mode (predict) the output for a padded clip with its ``lengths`` then
equals the output for the unpadded clip. During training, the input
normalisation takes its batch statistics from the valid frames only; the
batch normalisations inside the conv blocks still include the (zeroed)
padded positions.

Without ``lengths`` every frame counts as valid.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["CNN", "CNNLSTM", "CRNN", "RNN", "AttentionPooling"]


def _as_tuple(value, name):
    if isinstance(value, int):
        value = (value,)
    value = tuple(int(v) for v in value)
    if any(v < 1 for v in value):
        raise ValueError(f"All entries of {name} must be >= 1; got {value}.")
    return value


def _check_positive(value, name):
    if int(value) < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    return int(value)


def _check_dropout(value, name):
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1); got {value!r}.")
    return float(value)


def _pooled_lengths(lengths, pool_size, n_times):
    """Valid lengths after ``n_times`` ceil-mode poolings of ``pool_size``."""
    if lengths is None:
        return None
    for _ in range(n_times):
        lengths = torch.div(lengths + pool_size - 1, pool_size, rounding_mode="floor")
    return lengths.clamp(min=1)


def _pooled_size(n, pool_size, n_pools):
    """Size of an axis of ``n`` after ``n_pools`` ceil-mode max-pools."""
    for _ in range(n_pools):
        n = math.ceil(n / pool_size)
    return n


def _time_mask(lengths, n_frames):
    """Boolean mask (batch, n_frames), True on valid frames; None without lengths."""
    if lengths is None:
        return None
    steps = torch.arange(n_frames, device=lengths.device)
    return steps.unsqueeze(0) < lengths.clamp(min=1, max=n_frames).unsqueeze(1)


def _max_pool_ceil(x, k):
    """2-D ``max_pool2d(x, k, ceil_mode=True)`` as maxima of strided views.

    Same values; about twice as fast as the pooling kernel on CPU for
    channels_last bf16 feature maps, where it dominated inference time.
    """
    for dim in (-2, -1):
        extra = -x.size(dim) % k
        if extra:
            pad = [0, extra] if dim == -1 else [0, 0, 0, extra]
            x = F.pad(x, pad, value=float("-inf"))
        views = (x[..., i::k, :] if dim == -2 else x[..., i::k] for i in range(k))
        x = functools.reduce(torch.maximum, views)
    return x


_MASK_LEVELS = 1 << 16


def _dropout_masked(x, p):
    """Element-wise dropout for a dense CPU tensor, with cheaper random draws.

    The same regulariser as :func:`torch.nn.functional.dropout` (every element
    kept independently, kept elements scaled so that the expectation is
    unchanged), but each 64-bit draw of torch's generator gives four 16-bit
    uniforms instead of one draw per element, because on CPU the Bernoulli
    sampling of ``F.dropout`` is a sizeable part of a conv-net training step
    (figures in :doc:`/benchmarks`). The drop probability
    is rounded to a multiple of ``1 / 65536`` (at most 7.6e-6 away) and the
    scale is the inverse of the resulting keep probability. Reproducible
    under :func:`torch.manual_seed`. Returns None for tensors that are neither
    contiguous nor channels_last (the caller then uses ``F.dropout``).
    """
    if x.is_contiguous():
        shape, order = x.shape, None
    elif x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        n, c, h, w = x.shape
        shape, order = (n, h, w, c), (0, 3, 1, 2)
    else:
        return None
    n_drop = round(p * _MASK_LEVELS)
    if n_drop == 0:
        return x
    draws = torch.empty((x.numel() + 3) // 4, dtype=torch.int64)
    draws.random_(-(1 << 63), None)  # full 64-bit range: four uniform int16
    uniform = draws.view(torch.int16)[: x.numel()].view(shape)
    keep = uniform >= n_drop - _MASK_LEVELS // 2
    if order is not None:
        keep = keep.permute(order)
    return x * keep * (_MASK_LEVELS / (_MASK_LEVELS - n_drop))


class _ConvBlock(nn.Sequential):
    """Conv, BatchNorm, MaxPool (ceil mode), ReLU, Dropout.

    In training mode the layers run one after the other; on CPU the dropout
    masks come from :func:`_dropout_masked` (the same element-wise dropout
    with a quarter of the random draws). In eval mode the
    batch norm is folded into the convolution weights
    (:func:`torch.nn.utils.fusion.fuse_conv_bn_weights`, recomputed at every
    call from the current parameters, so nothing goes stale) and, for 2-D maps
    on CPU, the pooling runs as strided maxima: inference skips a whole pass
    over the largest feature maps and gives the same outputs up to float
    rounding. Setting ``fused = False`` on a block runs its plain layers one
    by one in both modes (a reference for tests and benchmarks). A ``Sequential``
    of the same layers, so state_dict keys are those of plain blocks.
    """

    fused = True

    def conv_norm(self, x):
        conv, norm = self[0], self[1]
        if self.training or not self.fused or not norm.track_running_stats:
            return norm(conv(x))
        weight, bias = fuse_conv_bn_weights(
            conv.weight,
            conv.bias,
            norm.running_mean,
            norm.running_var,
            norm.eps,
            norm.weight,
            norm.bias,
        )
        conv_fn = F.conv2d if isinstance(conv, nn.Conv2d) else F.conv1d
        return conv_fn(
            x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups
        )

    def pool_act(self, x):
        pool, act, drop = self[2], self[3], self[4]
        on_cpu = self.fused and x.device.type == "cpu"
        if self.training:
            x = act(pool(x))
            if on_cpu and drop.p > 0 and not drop.inplace:
                out = _dropout_masked(x, drop.p)
                if out is not None:
                    return out
            return drop(x)
        if not on_cpu or x.dim() != 4:
            return drop(act(pool(x)))
        return torch.relu_(_max_pool_ceil(x, pool.kernel_size))

    def forward(self, x):
        return self.pool_act(self.conv_norm(x))


def _run_conv(blocks, x, lengths, pool_size):
    """Run conv blocks (conv, BN, max-pool, ReLU, dropout) over x (N, C, [F,] T).

    With ``lengths``, padded frames are zeroed at the input of every
    convolution and before every pooling: valid outputs then equal those of
    the unpadded clip in eval mode. The convolutions zero-pad at the borders;
    a zeroed padded frame can win a max-pool window whose valid entries are
    all negative, but the ReLU after the pool maps both that 0 and the
    negative maximum of the unpadded clip to 0, since
    ``relu(max(v, 0)) == relu(max(v))``. Returns the output and the pooled
    lengths.
    """
    if lengths is None:
        return blocks(x), None
    for block in blocks:
        shape = (x.size(0),) + (1,) * (x.dim() - 2) + (x.size(-1),)
        mask = _time_mask(lengths, x.size(-1)).view(shape)
        y = block.conv_norm(x * mask.to(x.dtype))
        # the mask in the output's dtype, so bf16 maps stay bf16 under autocast
        x = block.pool_act(y * mask.to(y.dtype))
        lengths = _pooled_lengths(lengths, pool_size, 1)
    return x, lengths


def _run_rnn(rnn, h, lengths):
    """Run a batch_first RNN on (batch, time, features), packing padded batches.

    A batch whose clips all fill the time axis runs unpacked (the same
    result): packing buys nothing there, and oneDNN's bfloat16 LSTM on CPUs
    without native bfloat16 refuses such packed batches.
    """
    if lengths is None:
        return rnn(h)[0]
    lengths = lengths.clamp(min=1, max=h.size(1)).to("cpu", torch.int64)
    if bool((lengths == h.size(1)).all()):
        return rnn(h)[0]
    packed = pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=h.size(1))
    return out


def _pooled_head(
    in_features, pooling, attention_units, dense_units, dense_dropout, n_classes
):
    """Attention scorer (or None for other poolings) and the dense head."""
    attention = (
        AttentionPooling(
            in_features, _check_positive(attention_units, "attention_units")
        )
        if pooling == "attention"
        else None
    )
    head = _dense_head(
        in_features,
        dense_units,
        _check_dropout(dense_dropout, "dense_dropout"),
        _check_positive(n_classes, "n_classes"),
    )
    return attention, head


def _dense_head(in_features, units, dropout, n_classes, batch_norm=False):
    layers = []
    for n_units in units:
        layers.append(nn.Linear(in_features, n_units))
        if batch_norm:
            layers.append(nn.BatchNorm1d(n_units))
        layers += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
        in_features = n_units
    layers.append(nn.Linear(in_features, n_classes))
    return nn.Sequential(*layers)


class AttentionPooling(nn.Module):
    """Additive attention pooling over time that ignores padded frames.

    ``score_t = v^T tanh(W h_t)``; the weights are a softmax of the scores over
    the valid frames and the output is the weighted sum of ``h_t``.

    Parameters
    ----------
    in_features : int
        Size of each time step.
    units : int, default=64
        Size of the hidden projection ``W``.
    """

    def __init__(self, in_features, units=64):
        super().__init__()
        self.proj = nn.Linear(in_features, units)
        self.score = nn.Linear(units, 1, bias=False)

    def forward(self, h, mask=None):
        """Pool ``h`` of shape (batch, time, features) to (batch, features)."""
        scores = self.score(torch.tanh(self.proj(h))).squeeze(-1).float()
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights.unsqueeze(1).to(h.dtype), h).squeeze(1)


def _pool_time(h, mask, pooling, attention=None):
    """Pool (batch, time, features) over time with one of attention/mean/last."""
    if pooling == "attention":
        return attention(h, mask)
    if pooling == "mean":
        if mask is None:
            return h.mean(dim=1)
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
    # last valid step
    if mask is None:
        return h[:, -1]
    last = mask.sum(dim=1).clamp(min=1) - 1
    return h[torch.arange(h.size(0), device=h.device), last]


class _InputNorm(nn.Module):
    """Batch normalisation of each coefficient over clips and valid frames.

    In training with ``lengths``, the batch statistics (and the running
    statistics they update) come from the valid frames only, so the zeros
    that pad a batch of variable-length clips do not shift them.
    """

    def __init__(self, n_coeffs, enabled=True):
        super().__init__()
        self.norm = nn.BatchNorm1d(n_coeffs) if enabled else nn.Identity()

    def forward(self, X, lengths=None):
        norm = self.norm
        if lengths is None or not self.training or isinstance(norm, nn.Identity):
            return norm(X)
        mask = _time_mask(lengths, X.size(-1)).unsqueeze(1).to(X.dtype)
        count = mask.sum() * 1.0
        mean = (X * mask).sum(dim=(0, 2)) / count
        var = (((X - mean[:, None]) * mask) ** 2).sum(dim=(0, 2)) / count
        with torch.no_grad():
            m = norm.momentum
            unbiased = var * count / (count - 1).clamp(min=1)
            norm.running_mean.mul_(1 - m).add_(
                m * mean.detach().to(norm.running_mean.dtype)
            )
            norm.running_var.mul_(1 - m).add_(
                m * unbiased.detach().to(norm.running_var.dtype)
            )
            norm.num_batches_tracked.add_(1)
        scale = norm.weight / torch.sqrt(var + norm.eps)
        return (X - mean[:, None]) * scale[:, None] + norm.bias[:, None]


class _ConvNetMixin:
    """Shared helpers of the 2-D conv nets (channels_last handling)."""

    channels_last = False

    def _image(self, X):
        x = X.unsqueeze(1)  # (batch, 1, n_coeffs, n_frames)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def _conv2d_block(in_ch, out_ch, kernel_size, pool_size, dropout):
    """Conv2d, BatchNorm2d, MaxPool2d, ReLU, Dropout.

    Max-pool and ReLU commute (both are monotone), so pooling first gives the
    same output as the usual conv-BN-ReLU-pool order while the ReLU runs on
    ``pool_size**2`` times fewer elements. Neither has parameters, so
    state_dict keys are those of the old order.
    """
    return _ConvBlock(
        nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.MaxPool2d(pool_size, ceil_mode=True),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
    )


def _conv2d_stack(conv_channels, kernel_size, pool_size, dropout):
    """Sequential of 2-D conv blocks from 1 input channel to ``conv_channels``."""
    kernel_size = _check_positive(kernel_size, "kernel_size")
    dropout = _check_dropout(dropout, "conv_dropout")
    in_channels = (1, *conv_channels)[:-1]
    return nn.Sequential(
        *(
            _conv2d_block(i, o, kernel_size, pool_size, dropout)
            for i, o in zip(in_channels, conv_channels, strict=True)
        )
    )


class CRNN(_ConvNetMixin, nn.Module):
    """Convolutional recurrent network with attention pooling over time.

    Conv2D blocks (conv, batch norm, max-pool, ReLU, dropout) over the
    (coefficient, frame) plane, then a stack of bidirectional LSTM layers over
    the pooled frames, attention pooling over time and dense layers.

    By default (``conv_summary=True``) the head also sees the conv feature
    maps themselves, each channel at each frequency row averaged over the
    valid frames (the input of :class:`CNN`'s head), beside the LSTM's
    attention-pooled output, and it batch-normalises its hidden layers as the
    CNN's does. The LSTM then adds how the frames follow each other to what
    the spectrum holds on average, instead of being the only path to the
    head; in the speaker-independent RAVDESS study (``docs/results.md``) this
    scored higher on unseen speakers. ``conv_summary=False`` is the network
    of earlier versions (attention output only, no batch norm in the head).

    Parameters
    ----------
    n_coeffs : int, default=128
        Number of input coefficients (e.g. mel bands); set from the data.
    n_classes : int, default=8
        Number of classes; set from the data.
    conv_channels : tuple of int, default=(16, 32, 64)
        Output channels of each conv block.
    kernel_size : int, default=3
        Square kernel size of the convolutions.
    pool_size : int, default=2
        Max-pool size (both axes) of each conv block.
    conv_dropout : float, default=0.3
        Dropout after each conv block.
    lstm_units : tuple of int, default=(64,)
        Hidden size (per direction) of each bidirectional LSTM layer.
    attention_units : int, default=64
        Hidden size of the attention scorer.
    dense_units : tuple of int, default=(64,)
        Hidden dense layers before the output layer.
    dense_dropout : float, default=0.3
        Dropout after each hidden dense layer.
    input_norm : bool, default=True
        Batch-normalise each coefficient at the input.
    conv_summary : bool, default=True
        Give the head the conv maps averaged over the valid frames as well
        (``channels * ceil(n_coeffs / pool_size**n_blocks)`` more inputs),
        with batch norm after each hidden dense layer.
    """

    def __init__(
        self,
        n_coeffs=128,
        n_classes=8,
        *,
        conv_channels=(16, 32, 64),
        kernel_size=3,
        pool_size=2,
        conv_dropout=0.3,
        lstm_units=(64,),
        attention_units=64,
        dense_units=(64,),
        dense_dropout=0.3,
        input_norm=True,
        conv_summary=True,
    ):
        super().__init__()
        n_coeffs = _check_positive(n_coeffs, "n_coeffs")
        conv_channels = _as_tuple(conv_channels, "conv_channels")
        lstm_units = _as_tuple(lstm_units, "lstm_units")
        if not isinstance(conv_summary, bool):
            raise ValueError(
                f"conv_summary must be True or False; got {conv_summary!r}"
            )
        self.conv_summary = conv_summary
        dense_units = _as_tuple(dense_units, "dense_units") if dense_units else ()
        self.pool_size = _check_positive(pool_size, "pool_size")
        self.n_pools = len(conv_channels)
        self.input_norm = _InputNorm(n_coeffs, input_norm)
        self.conv = _conv2d_stack(
            conv_channels, kernel_size, self.pool_size, conv_dropout
        )
        in_ch = conv_channels[-1] if conv_channels else 1
        in_features = in_ch * _pooled_size(n_coeffs, self.pool_size, self.n_pools)
        conv_features = in_features if conv_summary else 0
        self.lstms = nn.ModuleList()
        for units in lstm_units:
            self.lstms.append(
                nn.LSTM(in_features, units, batch_first=True, bidirectional=True)
            )
            in_features = 2 * units
        self.attention = AttentionPooling(
            in_features, _check_positive(attention_units, "attention_units")
        )
        self.head = _dense_head(
            in_features + conv_features,
            dense_units,
            _check_dropout(dense_dropout, "dense_dropout"),
            _check_positive(n_classes, "n_classes"),
            batch_norm=conv_summary,
        )

    def forward(self, X, lengths=None):
        x = self._image(self.input_norm(X, lengths))
        x, lengths = _run_conv(self.conv, x, lengths, self.pool_size)
        n, c, f, t = x.shape  # (N, C, F', T')
        h = x.permute(0, 3, 1, 2).reshape(n, t, c * f)
        mask = _time_mask(lengths, t)
        conv_mean = _pool_time(h, mask, "mean") if self.conv_summary else None
        for lstm in self.lstms:
            h = _run_rnn(lstm, h, lengths)
        pooled = self.attention(h, mask)
        if conv_mean is not None:
            pooled = torch.cat([pooled, conv_mean], dim=1)
        return self.head(pooled).float()


class CNN(_ConvNetMixin, nn.Module):
    """Four-block 2-D CNN over the (coefficient, frame) plane.

    Conv2D blocks (3x3 conv, batch norm, 2x2 max-pool, ReLU, dropout), an
    average over the valid time positions, then dense layers with batch norm.
    Any clip length works.

    By default (``freq_pooling="flatten"``) the channels at each remaining
    frequency position are kept apart: the head sees *where* in the spectrum
    the energy lies (pitch and formant height, the main arousal cues), as the
    CRNN does by flattening frequency into its LSTM. ``"mean"`` averages over
    frequency too (global average pooling), so the head gets only which
    patterns occur, and the number of coefficients no longer sizes the head.
    In the speaker-independent RAVDESS study (``docs/results.md``), flattening
    scored higher on 5 of 5 folds.

    Parameters
    ----------
    n_coeffs : int, default=128
        Number of input coefficients; set from the data.
    n_classes : int, default=8
        Number of classes; set from the data.
    conv_channels : tuple of int, default=(16, 32, 64, 128)
        Output channels of each conv block.
    kernel_size : int, default=3
        Square kernel size.
    pool_size : int, default=2
        Max-pool size of each block.
    conv_dropout : float, default=0.2
        Dropout after each conv block.
    dense_units : tuple of int, default=(128,)
        Hidden dense layers (each Linear, BatchNorm, ReLU, Dropout).
    dense_dropout : float, default=0.3
        Dropout of the dense layers.
    input_norm : bool, default=True
        Batch-normalise each coefficient at the input.
    freq_pooling : {"flatten", "mean"}, default="flatten"
        How the last feature maps are reduced over frequency before the
        average over time: ``"flatten"`` keeps each (channel, frequency
        position) as its own feature (``channels * ceil(n_coeffs /
        pool_size**n_blocks)`` inputs to the head); ``"mean"`` averages over
        frequency (``channels`` inputs).
    """

    def __init__(
        self,
        n_coeffs=128,
        n_classes=8,
        *,
        conv_channels=(16, 32, 64, 128),
        kernel_size=3,
        pool_size=2,
        conv_dropout=0.2,
        dense_units=(128,),
        dense_dropout=0.3,
        input_norm=True,
        freq_pooling="flatten",
    ):
        super().__init__()
        n_coeffs = _check_positive(n_coeffs, "n_coeffs")
        conv_channels = _as_tuple(conv_channels, "conv_channels")
        dense_units = _as_tuple(dense_units, "dense_units") if dense_units else ()
        if freq_pooling not in ("flatten", "mean"):
            raise ValueError(
                f"freq_pooling must be 'flatten' or 'mean'; got {freq_pooling!r}"
            )
        self.freq_pooling = freq_pooling
        self.pool_size = _check_positive(pool_size, "pool_size")
        self.n_pools = len(conv_channels)
        self.input_norm = _InputNorm(n_coeffs, input_norm)
        self.conv = _conv2d_stack(
            conv_channels, kernel_size, self.pool_size, conv_dropout
        )
        in_features = conv_channels[-1] if conv_channels else 1
        if freq_pooling == "flatten":
            in_features *= _pooled_size(n_coeffs, self.pool_size, self.n_pools)
        self.head = _dense_head(
            in_features,
            dense_units,
            _check_dropout(dense_dropout, "dense_dropout"),
            _check_positive(n_classes, "n_classes"),
            batch_norm=True,
        )

    def forward(self, X, lengths=None):
        x = self._image(self.input_norm(X, lengths))
        x, lengths = _run_conv(self.conv, x, lengths, self.pool_size)
        n, c, f, t = x.shape
        if self.freq_pooling == "flatten":
            x = x.reshape(n, c * f, t).transpose(1, 2)  # (N, T', C*F')
        else:
            x = x.mean(dim=2).transpose(1, 2)  # (N, T', C)
        pooled = _pool_time(x, _time_mask(lengths, x.size(1)), "mean")
        return self.head(pooled).float()


class CNNLSTM(nn.Module):
    """1-D convolutions over time (coefficients as channels), then LSTM layers.

    Parameters
    ----------
    n_coeffs : int, default=40
        Number of input coefficients (e.g. MFCCs); set from the data.
    n_classes : int, default=8
        Number of classes; set from the data.
    conv_channels : tuple of int, default=(64, 128)
        Output channels of each Conv1D block (conv, batch norm, max-pool
        over time, ReLU, dropout).
    kernel_size : int, default=5
        Kernel size over time.
    pool_size : int, default=2
        Max-pool size over time of each block.
    conv_dropout : float, default=0.2
        Dropout after each conv block.
    lstm_units : tuple of int, default=(128,)
        Hidden size of each LSTM layer.
    bidirectional : bool, default=False
        Bidirectional LSTM layers.
    pooling : {"attention", "mean", "last"}, default="attention"
        Pooling over time of the last LSTM outputs.
    attention_units : int, default=64
        Hidden size of the attention scorer.
    dense_units : tuple of int, default=(64,)
        Hidden dense layers.
    dense_dropout : float, default=0.3
        Dropout of the dense layers.
    input_norm : bool, default=True
        Batch-normalise each coefficient at the input.
    """

    def __init__(
        self,
        n_coeffs=40,
        n_classes=8,
        *,
        conv_channels=(64, 128),
        kernel_size=5,
        pool_size=2,
        conv_dropout=0.2,
        lstm_units=(128,),
        bidirectional=False,
        pooling="attention",
        attention_units=64,
        dense_units=(64,),
        dense_dropout=0.3,
        input_norm=True,
    ):
        super().__init__()
        n_coeffs = _check_positive(n_coeffs, "n_coeffs")
        conv_channels = _as_tuple(conv_channels, "conv_channels")
        lstm_units = _as_tuple(lstm_units, "lstm_units")
        dense_units = _as_tuple(dense_units, "dense_units") if dense_units else ()
        if pooling not in ("attention", "mean", "last"):
            raise ValueError(
                f"pooling must be 'attention', 'mean' or 'last'; got {pooling!r}."
            )
        self.pooling = pooling
        self.pool_size = _check_positive(pool_size, "pool_size")
        self.n_pools = len(conv_channels)
        kernel_size = _check_positive(kernel_size, "kernel_size")
        conv_dropout = _check_dropout(conv_dropout, "conv_dropout")
        self.input_norm = _InputNorm(n_coeffs, input_norm)
        blocks, in_ch = [], n_coeffs
        for out_ch in conv_channels:
            blocks.append(
                _ConvBlock(
                    nn.Conv1d(
                        in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False
                    ),
                    nn.BatchNorm1d(out_ch),
                    # Pool before ReLU: same output, fewer ReLU elements.
                    nn.MaxPool1d(self.pool_size, ceil_mode=True),
                    nn.ReLU(inplace=True),
                    nn.Dropout(conv_dropout),
                )
            )
            in_ch = out_ch
        self.conv = nn.Sequential(*blocks)
        n_dir = 2 if bidirectional else 1
        self.lstms = nn.ModuleList()
        in_features = in_ch
        for units in lstm_units:
            self.lstms.append(
                nn.LSTM(
                    in_features, units, batch_first=True, bidirectional=bidirectional
                )
            )
            in_features = n_dir * units
        self.attention, self.head = _pooled_head(
            in_features, pooling, attention_units, dense_units, dense_dropout, n_classes
        )

    def forward(self, X, lengths=None):
        h, lengths = _run_conv(
            self.conv, self.input_norm(X, lengths), lengths, self.pool_size
        )
        h = h.transpose(1, 2)  # (N, T', C)
        for lstm in self.lstms:
            h = _run_rnn(lstm, h, lengths)
        pooled = _pool_time(
            h, _time_mask(lengths, h.size(1)), self.pooling, self.attention
        )
        return self.head(pooled).float()


class RNN(nn.Module):
    """LSTM or GRU over the frame sequence (e.g. MFCC frames).

    Parameters
    ----------
    n_coeffs : int, default=40
        Number of input coefficients per frame; set from the data.
    n_classes : int, default=8
        Number of classes; set from the data.
    cell : {"lstm", "gru"}, default="lstm"
        Recurrent cell.
    hidden_size : int, default=128
        Hidden size per direction.
    num_layers : int, default=2
        Number of stacked recurrent layers.
    bidirectional : bool, default=True
        Bidirectional layers.
    dropout : float, default=0.2
        Dropout between recurrent layers (when ``num_layers > 1``).
    pooling : {"attention", "mean", "last"}, default="attention"
        Pooling over time of the last layer's outputs.
    attention_units : int, default=64
        Hidden size of the attention scorer.
    dense_units : tuple of int, default=(64,)
        Hidden dense layers.
    dense_dropout : float, default=0.3
        Dropout of the dense layers.
    input_norm : bool, default=True
        Batch-normalise each coefficient at the input.
    """

    def __init__(
        self,
        n_coeffs=40,
        n_classes=8,
        *,
        cell="lstm",
        hidden_size=128,
        num_layers=2,
        bidirectional=True,
        dropout=0.2,
        pooling="attention",
        attention_units=64,
        dense_units=(64,),
        dense_dropout=0.3,
        input_norm=True,
    ):
        super().__init__()
        n_coeffs = _check_positive(n_coeffs, "n_coeffs")
        dense_units = _as_tuple(dense_units, "dense_units") if dense_units else ()
        cells = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in cells:
            raise ValueError(f"cell must be 'lstm' or 'gru'; got {cell!r}.")
        if pooling not in ("attention", "mean", "last"):
            raise ValueError(
                f"pooling must be 'attention', 'mean' or 'last'; got {pooling!r}."
            )
        self.pooling = pooling
        num_layers = _check_positive(num_layers, "num_layers")
        self.input_norm = _InputNorm(n_coeffs, input_norm)
        self.rnn = cells[cell](
            n_coeffs,
            _check_positive(hidden_size, "hidden_size"),
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=_check_dropout(dropout, "dropout") if num_layers > 1 else 0.0,
        )
        out_features = hidden_size * (2 if bidirectional else 1)
        self.attention, self.head = _pooled_head(
            out_features,
            pooling,
            attention_units,
            dense_units,
            dense_dropout,
            n_classes,
        )

    def forward(self, X, lengths=None):
        h = self.input_norm(X, lengths).transpose(1, 2)  # (N, T, C)
        h = _run_rnn(self.rnn, h, lengths)
        pooled = _pool_time(
            h, _time_mask(lengths, h.size(1)), self.pooling, self.attention
        )
        return self.head(pooled).float()
