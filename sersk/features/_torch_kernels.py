"""Feature math on torch tensors: the functions of ``_kernels`` for the torch backend.

Same names, arguments and results as :mod:`sersk.features._kernels`, on
float32 tensors of shape (b, ...), within these tolerances of the librosa
backend (tested in ``tests/test_features_kernels.py``):

============================  ==============================================
power spectrogram, mel        1e-4 relative to each clip's maximum
log-mel (dB)                  2e-3 dB absolute
MFCC                          2e-3 absolute, plus 1e-5 relative (liftered
                              coefficients reach thousands)
chroma                        1e-4 absolute (identical tuning estimates)
spectral contrast             5e-2 dB on speech and noisy signals (the valleys
                              are the smallest magnitudes, where float32 FFT
                              rounding differs most; on noiseless synthetic
                              tones both sides are rounding noise there)
ZCR                           exact
RMS                           1e-6
============================  ==============================================

On the CPU the STFT is ``scipy.fft.rfft`` (pocketfft, as librosa) of a
strided frame view with ``workers`` FFT threads, and the other ops run on one
torch thread (see :func:`context`): they are small elementwise ops and
reductions for which OpenMP threads cost more than they save on a shared
machine. On CUDA every op runs on the GPU except the sort and stencil steps
(chroma tuning, contrast bands), which run in numpy on the host.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch

from . import _kernels as np_kernels

name = "torch"
#: Torch device of the current :func:`context`; FFT threads of the CPU path.
device = "cpu"
_fft_workers = 1

n_frames = np_kernels.n_frames


@contextlib.contextmanager
def context(dev):
    """Inference mode on ``dev``; on CPU, the FFT on all threads and the rest on one."""
    global device, _fft_workers
    saved = device, _fft_workers, torch.get_num_threads()
    device = dev
    try:
        with torch.inference_mode():
            if dev.startswith("cpu"):
                _fft_workers = saved[2]
                torch.set_num_threads(1)
            yield
    finally:
        device, _fft_workers = saved[:2]
        torch.set_num_threads(saved[2])


_device_tables = {}


def _on_device(table, dev):
    """Device copy of a cached read-only table, kept as long as the table."""
    key = (id(table), dev)
    hit = _device_tables.get(key)
    if hit is None or hit[0] is not table:
        if len(_device_tables) > 512:
            _device_tables.clear()
        hit = _device_tables[key] = (table, torch.from_numpy(np.array(table)).to(dev))
    return hit[1]


def asarray(X):
    """Tensor of a numpy array on the current device (read-only input is copied)."""
    return torch.from_numpy(X if X.flags.writeable else X.copy()).to(device)


def to_numpy(S):
    return S.cpu().numpy()


def _host(S):
    return S.detach().cpu().numpy()


def power_stft(x, n_fft, hop_length):
    if x.device.type == "cpu":
        import scipy.fft

        y = np.pad(x.numpy(), ((0, 0), (n_fft // 2, n_fft // 2)))
        frames = np.lib.stride_tricks.sliding_window_view(y, n_fft, axis=-1)
        D = scipy.fft.rfft(
            frames[:, ::hop_length] * np_kernels.window_table(n_fft),
            axis=-1,
            workers=_fft_workers,
        )
        P = np.square(D.real)
        P += np.square(D.imag)
        return torch.from_numpy(np.ascontiguousarray(P.transpose(0, 2, 1)))
    window = _on_device(np_kernels.window_table(n_fft), str(x.device))
    D = torch.stft(
        torch.nn.functional.pad(x, (n_fft // 2, n_fft // 2)),
        n_fft,
        hop_length=hop_length,
        window=window,
        center=False,
        return_complex=True,
    )
    return torch.view_as_real(D).square().sum(-1)


def apply(table, S):
    if isinstance(table, list):  # one table per clip
        return torch.bmm(torch.stack([_on_device(t, str(S.device)) for t in table]), S)
    return torch.matmul(_on_device(table, str(S.device)), S)


def power(S, exponent):
    return S if exponent == 1.0 else S.pow(exponent)


def concat(parts):
    return torch.cat(parts, dim=1)


def power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0):
    dims = tuple(range(1, S.ndim))
    log_spec = 10.0 * torch.log10(torch.clamp(S, min=amin))
    if ref == "max":
        ref_value = torch.clamp(S.amax(dim=dims, keepdim=True), min=amin)
        log_spec = log_spec - 10.0 * torch.log10(ref_value)
    else:
        log_spec = log_spec - 10.0 * np.log10(max(amin, abs(ref)))
    if top_db is not None:
        log_spec = torch.maximum(
            log_spec, log_spec.amax(dim=dims, keepdim=True) - top_db
        )
    return log_spec


def normalize(S, norm):
    mag = S.abs().double()
    if norm == np.inf:
        length = mag.amax(dim=-2, keepdim=True)
    else:
        length = mag.pow(norm).sum(dim=-2, keepdim=True).pow(1.0 / norm)
    length = torch.where(length < np.finfo(np.float32).tiny, 1.0, length)
    return (S / length).to(S.dtype)


def _via_host(func):
    """A numpy kernel applied to the host copy of a tensor, returned on its device."""

    @functools.wraps(func)
    def wrapper(S, *args, **kwargs):
        out = np.ascontiguousarray(func(_host(S), *args, **kwargs), dtype=np.float32)
        return torch.from_numpy(out).to(S.device)

    return wrapper


contrast = _via_host(np_kernels.contrast)
delta = _via_host(np_kernels.delta)


def estimate_tuning(P, sr, n_fft, bins_per_octave=12):
    return np_kernels.estimate_tuning(_host(P), sr, n_fft, bins_per_octave)


def zcr(x, frame_length, hop_length):
    half = frame_length // 2
    x = torch.nn.functional.pad(x[:, None, :], (half, half), mode="replicate")[:, 0]
    neg = x < -1e-10  # the sign bit once |x| <= 1e-10 counts as zero
    cs = torch.cumsum((neg[:, 1:] != neg[:, :-1]).to(torch.int32), dim=1)
    cs = torch.nn.functional.pad(cs, (1, 0))
    starts = torch.arange(1 + (x.shape[1] - frame_length) // hop_length) * hop_length
    starts = starts.to(x.device)
    counts = cs[:, starts + frame_length - 1] - cs[:, starts]
    return (counts.to(torch.float32) / frame_length)[:, None, :]


def rms(x, frame_length, hop_length):
    x = torch.nn.functional.pad(x, (frame_length // 2, frame_length // 2))
    return x.unfold(1, frame_length, hop_length).square().mean(-1).sqrt()[:, None, :]


def pool(F, stats):
    out, ok = [], None
    for s in stats:
        if s in ("mean", "min", "max"):
            out.append({"mean": F.mean, "min": F.amin, "max": F.amax}[s](-1))
        elif s == "std":
            out.append(F.double().std(-1, correction=0).float())
        elif s == "median":  # the mean of the two middle values, as numpy
            srt, n = F.sort(-1)[0], F.shape[-1]
            out.append(0.5 * (srt[..., (n - 1) // 2] + srt[..., n // 2]))
        else:
            if ok is None:
                Fd = F.double()
                mu = Fd.mean(-1, keepdim=True)
                c = Fd - mu
                m2 = c.square().mean(-1)
                res = float(np.finfo(np.float32).resolution)
                ok = m2 > (res * mu[..., 0].abs()).square()
                m2 = torch.where(ok, m2, 1.0)
            if s == "skew":
                v = c.pow(3).mean(-1) / m2.pow(1.5)
            else:
                v = c.pow(4).mean(-1) / m2.square() - 3.0
            out.append(torch.where(ok, v, 0.0).float())
    return torch.cat(out, dim=-1)
