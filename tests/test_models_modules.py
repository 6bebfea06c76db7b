"""The torch modules behind the classifiers."""

from __future__ import annotations

import copy

import pytest
import torch

from sersk.models import CNN, CNNLSTM, CRNN, RNN, AttentionPooling
from sersk.models._modules import _dropout_masked, _max_pool_ceil

SMALL = {
    CRNN: dict(conv_channels=(4, 4), lstm_units=(6, 4), dense_units=(5,)),
    CNN: dict(conv_channels=(4, 4, 4, 4), dense_units=(6, 5)),
    CNNLSTM: dict(conv_channels=(4, 6), lstm_units=(5,), bidirectional=True),
    RNN: dict(hidden_size=5, cell="gru"),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("cls", list(SMALL), ids=lambda c: c.__name__)
@pytest.mark.parametrize("shape", [(3, 16, 20), (2, 5, 3), (2, 1, 1)])
def test_any_input_size(cls, shape):
    module = cls(n_coeffs=shape[1], n_classes=4, **SMALL[cls]).eval()
    out = module(torch.randn(*shape))
    assert out.shape == (shape[0], 4) and out.dtype == torch.float32
    lengths = torch.full((shape[0],), shape[2])
    torch.testing.assert_close(module(torch.randn(*shape), lengths).shape, out.shape)


def test_default_sizes_are_the_studied_recipe():
    # sizes chosen by benchmarks/bench_deep_recipes.py (docs/results.md)
    crnn = CRNN(n_coeffs=64, n_classes=8)
    # the head: 2 x 64 LSTM outputs beside 64 channels at 64 / 2**3 = 8 rows
    assert crnn.conv_summary and crnn.head[0].in_features == 128 + 64 * 8
    assert isinstance(crnn.head[1], torch.nn.BatchNorm1d)
    old = CRNN(n_coeffs=64, n_classes=8, conv_summary=False)
    assert old.head[0].in_features == 128
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in old.head)
    assert [m.hidden_size for m in crnn.lstms] == [64]
    assert all(m.bidirectional for m in crnn.lstms)
    assert [b[0].out_channels for b in crnn.conv] == [16, 32, 64]
    assert crnn.conv[0][4].p == 0.3
    cnn = CNN(n_coeffs=64, n_classes=8)
    assert [b[0].out_channels for b in cnn.conv] == [16, 32, 64, 128]
    assert cnn.conv[0][0].kernel_size == (3, 3) and cnn.conv[0][4].p == 0.2
    linears = [m for m in cnn.head if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [128, 8]
    # the head sees 128 channels at each of the 64 / 2**4 = 4 frequency rows
    assert linears[0].in_features == 128 * 4 and cnn.freq_pooling == "flatten"
    rnn = RNN(n_coeffs=40, n_classes=8, cell="gru", bidirectional=False)
    assert isinstance(rnn.rnn, torch.nn.GRU) and not rnn.rnn.bidirectional


@pytest.mark.parametrize("pooling", ["attention", "mean", "last"])
@pytest.mark.parametrize("cls", [RNN, CNNLSTM], ids=["RNN", "CNNLSTM"])
def test_padding_is_ignored_with_lengths(cls, pooling):
    torch.manual_seed(0)
    kwargs = dict(SMALL[cls], pooling=pooling)
    module = cls(n_coeffs=6, n_classes=3, **kwargs).eval()
    X = torch.randn(4, 6, 12)
    lengths = torch.tensor([12, 8, 5, 2])
    padded = torch.cat([X, torch.full((4, 6, 7), 50.0)], dim=2)
    with torch.no_grad():
        ref = torch.stack(
            [module(X[i : i + 1, :, : int(n)])[0] for i, n in enumerate(lengths)]
        )
        got = module(padded, lengths)
        wrong = module(padded)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(wrong, ref, atol=1e-3)


def test_crnn_attention_ignores_padding_columns():
    torch.manual_seed(0)
    module = CRNN(n_coeffs=8, n_classes=3, conv_channels=(4,), lstm_units=(5,)).eval()
    X = torch.randn(2, 8, 16)
    lengths = torch.tensor([16, 8])
    padded = X.clone()
    padded[1, :, 8:] = 40.0  # everything after the valid frames
    with torch.no_grad():
        a, b = module(X, lengths), module(padded, lengths)
        c = module(padded)
    # other values in the masked columns may change how the kernels block
    # their sums (the same tolerance as test_padding_is_ignored_with_lengths)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(a[1], c[1], atol=1e-4)


def test_attention_pooling_weights():
    pool = AttentionPooling(3, units=4)
    h = torch.randn(2, 5, 3)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    out = pool(h, mask)
    assert out.shape == (2, 3)
    # masked softmax over 5 steps vs plain softmax over 2: other reduction
    # lengths, so agreement up to float32 rounding of O(1) values
    torch.testing.assert_close(pool(h[1:, :2]), out[1:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (RNN, {"cell": "rnn"}, "cell must be 'lstm' or 'gru'"),
        (RNN, {"pooling": "max"}, "pooling must be"),
        (CRNN, {"lstm_units": (4, 0)}, "lstm_units must be >= 1"),
        (CNN, {"conv_dropout": 1.0}, r"conv_dropout must be a float in \[0, 1\)"),
        (CRNN, {"conv_summary": "yes"}, "conv_summary must be True or False"),
        (
            CNN,
            {"freq_pooling": "max"},
            "freq_pooling must be 'flatten' or 'mean'; got 'max'",
        ),
        (CNNLSTM, {"kernel_size": 0}, "kernel_size must be an int >= 1"),
    ],
)
def test_bad_module_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(n_coeffs=8, n_classes=2, **kwargs)


def test_bf16_autocast_forward_backward():
    module = CRNN(n_coeffs=8, n_classes=3, conv_channels=(4,), lstm_units=(5,))
    module.channels_last = True
    module = module.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(torch.randn(4, 8, 10), torch.tensor([10, 9, 3, 1]))
    assert out.dtype == torch.float32
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    "cls, extra",
    [
        (CRNN, {}),
        (CRNN, {"conv_summary": False}),
        (CNN, {}),
        (CNN, {"freq_pooling": "mean"}),
    ],
    ids=["CRNN", "CRNN-lstm-only", "CNN", "CNN-freq-mean"],
)
def test_conv_nets_padding_exact_in_eval(cls, extra):
    torch.manual_seed(0)
    module = cls(n_coeffs=8, n_classes=3, **SMALL[cls], **extra).eval()
    X = torch.randn(3, 8, 13)
    lengths = torch.tensor([13, 7, 4])
    padded = torch.cat([X, torch.full((3, 8, 5), -30.0)], dim=2)
    with torch.no_grad():
        ref = torch.stack(
            [module(X[i : i + 1, :, : int(n)])[0] for i, n in enumerate(lengths)]
        )
        got = module(padded, lengths)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("n_coeffs, rows", [(64, 4), (128, 8), (40, 3), (5, 1)])
def test_cnn_head_width_follows_the_frequency_rows(n_coeffs, rows):
    # ceil-mode pooling: 40 -> 20 -> 10 -> 5 -> 3 rows; 5 -> 3 -> 2 -> 1 -> 1
    flat = CNN(n_coeffs=n_coeffs, n_classes=3, conv_channels=(4, 4, 4, 6))
    mean = CNN(
        n_coeffs=n_coeffs, n_classes=3, conv_channels=(4, 4, 4, 6), freq_pooling="mean"
    )
    assert flat.head[0].in_features == 6 * rows
    assert mean.head[0].in_features == 6
    X = torch.randn(2, n_coeffs, 9)
    assert flat.eval()(X).shape == mean.eval()(X).shape == (2, 3)


def test_cnn_flatten_head_tells_where_in_the_spectrum():
    # The same time-frequency pattern in the low or the high bands (away from
    # the borders of the convolutions): after global average pooling the two
    # give the same head input; flattened, the energy sits in other features.
    torch.manual_seed(0)
    X = torch.zeros(2, 48, 16)
    X[0, 8:16] = torch.randn(8, 16)
    X[1, 28:36] = X[0, 8:16]  # 20 rows up: a multiple of the 2 x 2 pooling grid
    feats = {}
    for pooling in ("flatten", "mean"):
        module = CNN(
            n_coeffs=48,
            n_classes=3,
            conv_channels=(4, 4),
            freq_pooling=pooling,
            input_norm=False,
        ).eval()
        captured = []
        module.head.register_forward_pre_hook(
            lambda m, a, out=captured: out.append(a[0])
        )
        with torch.no_grad():
            module(X)
        feats[pooling] = captured[0]
    torch.testing.assert_close(feats["mean"][0], feats["mean"][1])
    assert not torch.allclose(feats["flatten"][0], feats["flatten"][1], atol=1e-3)


@pytest.mark.parametrize("dim", [2, 1], ids=["conv2d-CRNN-CNN", "conv1d-CNNLSTM"])
def test_pool_before_relu_equals_the_old_block_order(dim):
    # The conv blocks run conv, BN, max-pool, ReLU, dropout; the usual order is
    # conv, BN, ReLU, max-pool, dropout. Both are monotone, so they commute.
    torch.manual_seed(0)
    if dim == 2:
        block = CRNN(n_coeffs=9, n_classes=3, conv_channels=(5,), pool_size=2).conv[0]
        x = torch.randn(3, 1, 9, 11)  # odd sizes: partial ceil_mode windows
    else:
        net = CNNLSTM(n_coeffs=6, n_classes=3, conv_channels=(5,), pool_size=3)
        block = net.conv[0]
        x = torch.randn(3, 6, 11)
    conv, norm, pool, act, drop = block
    assert isinstance(pool, (torch.nn.MaxPool1d, torch.nn.MaxPool2d))
    assert isinstance(act, torch.nn.ReLU)
    with torch.no_grad():  # non-trivial BN statistics: pre-activations of both signs
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.normal_()
        norm.bias.normal_()
    old = torch.nn.Sequential(
        conv, norm, torch.nn.ReLU(), type(pool)(pool.kernel_size, ceil_mode=True), drop
    )
    block.train(False)
    old.train(False)
    with torch.no_grad():
        pre = pool(norm(conv(x)))
        got, want = block(x), old(x)
    assert x.dtype == got.dtype == torch.float32
    assert (pre < 0).any() and (pre > 0).any()  # the ReLU has work to do after pooling
    # eval mode folds the batch norm into the conv: equal up to float rounding
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # Exact: the same conv and BN calls on the same input, then max and ReLU,
    # which pick values without rounding, in either order.
    with torch.no_grad():
        torch.testing.assert_close(drop(act(pre)), want, rtol=0, atol=0)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (2, 3, 9, 11), (1, 4, 5, 7)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_strided_max_pool_equals_max_pool2d_ceil(k, shape, channels_last):
    x = torch.randn(*shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    want = torch.nn.functional.max_pool2d(x, k, ceil_mode=True)
    got = _max_pool_ceil(x, k)
    assert got.shape == want.shape
    # exact: a maximum selects one of its inputs, there is no rounding
    torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize(
    "cls, n_coeffs, channels_last",
    [
        (CRNN, 16, False),
        (CRNN, 16, True),
        (CNN, 16, False),
        (CNN, 16, True),
        (CNNLSTM, 12, False),  # 1-D maps: no channels_last
    ],
    ids=["crnn", "crnn-channels_last", "cnn", "cnn-channels_last", "cnnlstm"],
)
def test_fused_eval_blocks_match_layer_by_layer(cls, n_coeffs, channels_last):
    """Eval mode folds BN into the conv (and pools by strided maxima): the
    network's outputs equal those of the same weights run layer by layer, with
    and without lengths and under bf16 autocast; state_dict keys are unchanged;
    training mode runs the very same layers (only the dropout masks are drawn
    differently, see test_conv_block_training_dropout)."""
    torch.manual_seed(0)
    kwargs = SMALL.get(cls, {})
    net = cls(n_coeffs=n_coeffs, n_classes=4, **kwargs)
    with torch.no_grad():  # fit the BN statistics to some data
        net.train()
        for _ in range(3):
            net(torch.randn(8, n_coeffs, 23) * 2 + 1)
    ref = copy.deepcopy(net)
    for block in ref.conv:
        assert block.fused
        block.fused = False  # conv, BN, max-pool, ReLU one by one
        # the keys of a plain Sequential of the same layers (old checkpoints)
        assert list(block.state_dict()) == list(
            torch.nn.Sequential(*block).state_dict()
        )
    if channels_last:
        for m in (net, ref):
            m.channels_last = True
            m.to(memory_format=torch.channels_last)
    net.eval(), ref.eval()
    X = torch.randn(5, n_coeffs, 23)
    lengths = torch.tensor([23, 17, 9, 23, 4])
    with torch.inference_mode():
        for lens in (None, lengths):
            torch.testing.assert_close(net(X, lens), ref(X, lens), rtol=1e-4, atol=1e-5)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got, want = net(X, lens), ref(X, lens)
            # bf16 rounds the folded weights instead of the conv output
            torch.testing.assert_close(got, want, rtol=0.05, atol=0.02)
    net.train(), ref.train()
    for block in (*net.conv, *ref.conv):
        block[4].p = 0.0
    torch.manual_seed(1)
    a = net(X)
    torch.manual_seed(1)
    b = ref(X)
    # exact: in training both run conv, BN, max-pool, ReLU, dropout(p=0) as
    # the same torch calls on the same weights and input
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def _binomial_tolerance(p, n):
    return 6 * (p * (1 - p) / n) ** 0.5  # six standard deviations


@pytest.mark.parametrize("p", [0.2, 0.3, 0.5])
@pytest.mark.parametrize(
    "shape, channels_last, dtype",
    [
        ((16, 32, 40, 47), True, torch.bfloat16),
        ((16, 32, 40, 47), False, torch.float32),
        ((64, 64, 301), False, torch.float32),  # conv1d maps; odd size
    ],
    ids=["2d-channels_last-bf16", "2d-fp32", "1d-fp32"],
)
def test_dropout_masked_is_element_wise_dropout(p, shape, channels_last, dtype):
    """The cheap masks are Bernoulli draws like F.dropout's: the right drop
    rate at every position of the 16-bit packing, no correlation between
    neighbours, kept values scaled to keep the mean, gradient through the
    same mask, layout and dtype of the input kept."""
    torch.manual_seed(0)
    x = torch.ones(shape, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y = _dropout_masked(x, p)
    assert y.dtype == dtype and y.shape == x.shape
    if channels_last:
        assert y.is_contiguous(memory_format=torch.channels_last)
    n_drop = round(p * 65536)
    scale = torch.tensor(65536 / (65536 - n_drop), dtype=dtype)
    kept = y.detach() != 0
    # the kernel's 1 * scale and torch.tensor(scale) may round the scale to
    # bfloat16 through float32 or not: allow one rounding step of the dtype
    eps = dict(rtol=torch.finfo(dtype).eps, atol=0)
    torch.testing.assert_close(y.detach()[kept], scale.expand(int(kept.sum())), **eps)
    dropped = (~kept).float()
    tol = _binomial_tolerance(p, x.numel())
    assert abs(dropped.mean().item() - p) < tol
    # each 64-bit draw feeds 4 consecutive elements in memory: every one of
    # the four 16-bit lanes must drop at rate p
    flat = dropped.permute(0, 2, 3, 1) if channels_last else dropped
    lanes = flat.reshape(-1)[: x.numel() // 4 * 4].view(-1, 4).mean(0)
    assert (lanes - p).abs().max().item() < 2 * tol
    # neighbours along every axis are independent
    for dim in range(x.dim()):
        a = dropped.narrow(dim, 0, x.shape[dim] - 1).reshape(-1)
        b = dropped.narrow(dim, 1, x.shape[dim] - 1).reshape(-1)
        corr = torch.corrcoef(torch.stack([a, b]))[0, 1].item()
        assert abs(corr) < 6 / a.numel() ** 0.5, (dim, corr)
    y.sum().backward()
    # d(x * mask * scale)/dx on ones: mask * scale, multiplied in another order
    torch.testing.assert_close(x.grad, y.detach(), **eps)


def test_dropout_masked_reproducible_and_layouts():
    x = torch.randn(4, 8, 10, 12)
    torch.manual_seed(3)
    a = _dropout_masked(x, 0.3)
    torch.manual_seed(3)
    b = _dropout_masked(x, 0.3)
    torch.manual_seed(4)
    c = _dropout_masked(x, 0.3)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert _dropout_masked(x, 1e-7) is x  # rounds to no drop at all
    assert (
        _dropout_masked(x.transpose(1, 2), 0.3) is None
    )  # not dense: caller falls back


@pytest.mark.parametrize("cls", [CRNN, CNN, CNNLSTM], ids=lambda c: c.__name__)
def test_conv_block_training_dropout(cls):
    """In training the conv blocks drop with the cheap masks on CPU (fused) or
    with nn.Dropout (fused=False), at the block's rate; eval mode never drops."""
    torch.manual_seed(0)
    net = cls(n_coeffs=16, n_classes=4, **SMALL[cls])
    block = net.conv[0]
    x = torch.randn(64, *((1, 16, 40) if cls is not CNNLSTM else (16, 40)))
    p = block[4].p
    assert p > 0
    with torch.no_grad():
        block.train()
        pre = block[3](block[2](block[1](block[0](x))))
        torch.manual_seed(1)
        fast = block(x)
        block.fused = False
        torch.manual_seed(1)
        plain = block(x)
        torch.manual_seed(1)
        # exact: the same layer calls, then the same dropout draw (same seed)
        assert torch.equal(plain, torch.nn.functional.dropout(pre, p, training=True))
        block.fused = True
        block.eval()
        no_drop = block[3](block[2](block[1](block[0](x))))
        torch.testing.assert_close(block(x), no_drop, rtol=1e-4, atol=1e-5)
    on = pre > 0
    for out in (fast, plain):
        zeroed = (out[on] == 0).float().mean().item()
        assert abs(zeroed - p) < _binomial_tolerance(p, int(on.sum()))
        torch.testing.assert_close(
            out[on & (out != 0)], (pre / (1 - p))[on & (out != 0)], rtol=1e-5, atol=1e-6
        )
    assert not torch.equal(fast, plain)  # a different draw of the same law
