"""The Silero VAD network in plain torch, with the weights of the silero-vad wheel.

The wheel ships the network as TorchScript (``.jit``, which runs code when
loaded), ONNX and a ``safetensors`` file of tensors. Only the tensors are read
here; the layers are rebuilt below, so no file sersk loads can run code.
"""

from __future__ import annotations

import threading

# samples per step of the network at 16 kHz, and samples of the previous
# step it sees as context
CHUNK = 512
CONTEXT = 64
RATE = 16000

_WEIGHTS = "silero_vad_16k.safetensors"


def _weights_path():
    from importlib import resources

    try:
        files = resources.files("silero_vad.data")
    except ImportError:
        raise ImportError(
            "Voice activity detection needs the silero-vad package: "
            "pip install 'sersk[vad]'"
        ) from None
    return files.joinpath(_WEIGHTS)


def _build():
    import torch
    from torch import nn

    class SileroVAD(nn.Module):
        """Speech probability of every chunk of 512 samples at 16 kHz."""

        def __init__(self):
            super().__init__()
            self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
            self.conv1 = nn.Conv1d(129, 128, kernel_size=3, padding=1)
            self.conv2 = nn.Conv1d(128, 64, kernel_size=3, stride=2, padding=1)
            self.conv3 = nn.Conv1d(64, 64, kernel_size=3, stride=2, padding=1)
            self.conv4 = nn.Conv1d(64, 128, kernel_size=3, padding=1)
            self.lstm_cell = nn.LSTMCell(128, 128)
            self.final_conv = nn.Conv1d(128, 1, 1)

        def encode(self, x):
            """``(n, CONTEXT + CHUNK)`` windows -> ``(n, 128)`` features."""
            x = nn.functional.pad(x, (0, 64), mode="reflect").unsqueeze(1)
            x = self.stft_conv(x)
            x = (x[:, :129] ** 2 + x[:, 129:] ** 2).sqrt()
            x = torch.relu(self.conv1(x))
            x = torch.relu(self.conv2(x))
            x = torch.relu(self.conv3(x))
            x = torch.relu(self.conv4(x))
            return x.squeeze(-1)

        def forward(self, windows, state=None):
            """Probabilities of consecutive windows ``(n, CONTEXT + CHUNK)``.

            The recurrent state runs over the windows in order; returns the
            probabilities ``(n,)`` and the state after the last window.
            """
            feats = self.encode(windows)
            # the LSTM cell step by step is an nn.LSTM of one layer over the
            # sequence of windows (same gates, same weights)
            lstm = self._lstm()
            h, c = (
                state
                if state is not None
                else (feats.new_zeros(1, 1, 128), feats.new_zeros(1, 1, 128))
            )
            out, (h, c) = lstm(feats.unsqueeze(1), (h, c))
            out = torch.relu(out[:, 0]).unsqueeze(-1)
            prob = torch.sigmoid(self.final_conv(out)).reshape(-1)
            return prob, (h, c)

        def _lstm(self):
            if not hasattr(self, "_seq"):
                seq = nn.LSTM(128, 128, batch_first=False)
                with torch.no_grad():
                    seq.weight_ih_l0.copy_(self.lstm_cell.weight_ih)
                    seq.weight_hh_l0.copy_(self.lstm_cell.weight_hh)
                    seq.bias_ih_l0.copy_(self.lstm_cell.bias_ih)
                    seq.bias_hh_l0.copy_(self.lstm_cell.bias_hh)
                seq.eval()
                object.__setattr__(self, "_seq", seq)
            return self._seq

    return SileroVAD


_MODEL = None
_LOCK = threading.Lock()


def load_network():
    """The network with the wheel's weights, built once per process."""
    global _MODEL
    with _LOCK:
        if _MODEL is not None:
            return _MODEL
        path = _weights_path()
        try:
            from safetensors.torch import load as load_tensors
        except ImportError:
            raise ImportError(
                "Voice activity detection needs the safetensors package: "
                "pip install 'sersk[vad]'"
            ) from None
        if not path.is_file():
            raise ImportError(
                f"The installed silero-vad has no {_WEIGHTS} (releases from "
                "6.2.1 on ship it): pip install --upgrade 'sersk[vad]'"
            )
        state = load_tensors(path.read_bytes())
        net = _build()()
        net.load_state_dict(state)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        net._lstm()  # built now, not by concurrent first calls
        _MODEL = net
    return _MODEL


def speech_probabilities(y, state=None, context=None):
    """Speech probability of every full chunk of ``y`` (16 kHz float32).

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Samples at 16 kHz; ``n_samples`` must be a multiple of ``CHUNK``.
    state : tuple or None
        The recurrent state after the previous call (``None`` at the start).
    context : ndarray of shape (CONTEXT,) or None
        The last samples before ``y`` (``None``: zeros, at the start).

    Returns
    -------
    probs : ndarray of shape (n_samples // CHUNK,)
    state : tuple
    context : ndarray of shape (CONTEXT,)
    """
    import numpy as np
    import torch

    net = load_network()
    n = len(y) // CHUNK
    if context is None:
        context = np.zeros(CONTEXT, dtype=np.float32)
    if n == 0:
        return np.zeros(0, dtype=np.float32), state, context
    full = np.concatenate([context, np.asarray(y[: n * CHUNK], dtype=np.float32)])
    idx = np.arange(n)[:, None] * CHUNK + np.arange(CONTEXT + CHUNK)[None, :]
    windows = torch.from_numpy(full[idx])
    with torch.inference_mode():
        prob, state = net(windows, state)
    return prob.numpy().astype(np.float32), state, full[-CONTEXT:].copy()
