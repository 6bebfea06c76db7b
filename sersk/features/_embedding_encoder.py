"""The encoder side of SpeechEmbedding: loading a transformers model and windowing.

Holds what :class:`~sersk.features.SpeechEmbedding` needs from the model:
where it comes from (local directory or cache, never the network unless
``SERSK_ALLOW_DOWNLOADS=1``), its sampling rate, frame grid, hidden sizes,
whether it can be padded with an attention mask, and one forward pass.
torch and transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

__all__ = []

#: Environment variable that lets ``SpeechEmbedding`` download from the hub.
ALLOW_DOWNLOADS_ENV = "SERSK_ALLOW_DOWNLOADS"

_INSTALL_HINT = (
    "SpeechEmbedding needs the optional dependency 'transformers', which is not "
    'installed. Install it with: pip install "sersk[embeddings]" (or pip install '
    '"transformers>=4.40").'
)

#: Fraction of a window used as context on each side when a clip is chunked.
_CONTEXT_FRACTION = 6


def _import_transformers():
    """``transformers`` (and torch), or an ImportError that says how to install it."""
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return transformers


def _downloads_allowed():
    return os.environ.get(ALLOW_DOWNLOADS_ENV, "").strip().lower() in {
        "1",
        "true",
        "yes",
    }


def _not_found_message(model, reason):
    return (
        f"SpeechEmbedding could not load the model {model!r}: {reason} sersk never "
        "downloads by default (no network access at fit or transform time). Point "
        "'model' at a local directory that holds config.json, the weights and "
        "preprocessor_config.json, e.g. one written by "
        "huggingface_hub.snapshot_download('facebook/wav2vec2-base') or by "
        "model.save_pretrained(path) together with "
        "AutoFeatureExtractor.from_pretrained(...).save_pretrained(path); or set "
        f"the environment variable {ALLOW_DOWNLOADS_ENV}=1 to let transformers "
        "download hub models into its cache."
    )


@contextlib.contextmanager
def _quiet_transformers(transformers):
    """No progress bars or load reports (e.g. unused pre-training heads)."""
    logging = transformers.utils.logging
    verbosity = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _resolve_source(model):
    """``(source, local_files_only)`` for ``from_pretrained``, with clear errors."""
    source = os.path.expanduser(os.fspath(model))
    if os.path.isdir(source):
        if not os.path.isfile(os.path.join(source, "config.json")):
            raise OSError(
                _not_found_message(
                    model, f"the directory {source!r} holds no config.json."
                )
            )
        return source, True
    if os.path.exists(source):
        raise OSError(
            _not_found_message(
                model, f"{source!r} is a file; 'model' must be a directory or a hub id."
            )
        )
    looks_like_path = (
        isinstance(model, os.PathLike)
        or os.path.isabs(source)
        or source.startswith((".", "~"))
        or source.count("/") > 1
        or os.sep != "/"
        and os.sep in source
    )
    if looks_like_path:
        raise OSError(_not_found_message(model, f"no directory {source!r}."))
    return source, not _downloads_allowed()


class _Encoder:
    """A loaded encoder and the facts about it that the engine needs.

    ``kind`` is ``"wav"`` (raw ``input_values``: wav2vec2, HuBERT, WavLM,
    data2vec-audio, ...) or ``"whisper"`` (log-mel ``input_features``).
    """

    def __init__(self, model, *, device, precision):
        transformers = _import_transformers()
        import torch

        source, local_only = _resolve_source(model)
        with _quiet_transformers(transformers):
            try:
                config = transformers.AutoConfig.from_pretrained(
                    source, local_files_only=local_only
                )
            except OSError as exc:
                reason = (
                    "it is not in the local Hugging Face cache."
                    if local_only
                    else f"{exc}"
                )
                raise OSError(_not_found_message(model, reason)) from exc
            except ValueError as exc:
                raise ValueError(
                    f"SpeechEmbedding could not read the config of {model!r}: {exc}"
                ) from exc
            model_type = getattr(config, "model_type", "?")
            if model_type == "whisper":
                self.kind = "whisper"
            elif hasattr(config, "conv_kernel") and hasattr(config, "hidden_size"):
                self.kind = "wav"
            else:
                raise ValueError(
                    f"The 'model' parameter of SpeechEmbedding is a {model_type!r} "
                    f"model ({model!r}), not an audio encoder that it supports. Use "
                    "a wav2vec2-style encoder (wav2vec2, HuBERT, WavLM, "
                    "data2vec-audio, ...) or a Whisper model, e.g. "
                    "'facebook/wav2vec2-base', "
                    "'microsoft/wavlm-base-plus' or 'openai/whisper-small'."
                )
            try:
                net = transformers.AutoModel.from_pretrained(
                    source, local_files_only=local_only
                )
            except OSError as exc:
                raise OSError(_not_found_message(model, f"{exc}")) from exc
            try:
                fe = transformers.AutoFeatureExtractor.from_pretrained(
                    source, local_files_only=local_only
                )
            except (OSError, ValueError):
                fe = None
        if self.kind == "whisper":
            net = net.get_encoder()  # the decoder is dropped with the full model
            if fe is None:
                fe = transformers.WhisperFeatureExtractor(
                    feature_size=config.num_mel_bins
                )
                self._warn_default_fe(model, "a WhisperFeatureExtractor(30-s windows)")
            self.sr = int(fe.sampling_rate)
            self.hop = int(fe.hop_length)
            self.window = int(fe.n_samples)
            self.n_hidden_states = config.encoder_layers + 1
            self.hidden_size = config.d_model
            self.masked = True  # every window is padded to the full input anyway
            self.normalize = False
        else:
            if getattr(net, "main_input_name", "input_values") != "input_values":
                raise ValueError(
                    f"SpeechEmbedding cannot feed the {model_type!r} model "
                    f"({model!r}): it takes {net.main_input_name!r}, not raw "
                    "'input_values'."
                )
            if fe is None:
                norm = getattr(config, "feat_extract_norm", "layer") == "layer"
                fe_sr, self.normalize = 16000, norm
                self._warn_default_fe(
                    model, f"16000 Hz input, do_normalize={self.normalize}"
                )
            else:
                fe_sr = fe.sampling_rate
                self.normalize = bool(getattr(fe, "do_normalize", False))
            self.sr = int(fe_sr)
            self.window = None
            self.n_hidden_states = config.num_hidden_layers + 1
            self.hidden_size = config.hidden_size
            # Padding changes the output, with or without an attention mask,
            # of (a) GroupNorm over time in the first conv layer (wav2vec2-,
            # HuBERT-, WavLM-base) and (b) a positional embedding of several
            # conv layers (data2vec-audio: padded frames are zeroed before the
            # first one only, so the next ones see non-zero padding: the last
            # frames change, then every frame through attention). Such models
            # batch only windows of equal length.
            # (data2vec-audio's config calls its number of positional conv
            # layers num_conv_pos_embeddings, next to conv_pos_kernel_size;
            # in wav2vec2's, num_conv_pos_embeddings is the kernel size.)
            stacked_pos_conv = (
                hasattr(config, "conv_pos_kernel_size")
                and getattr(config, "num_conv_pos_embeddings", 1) > 1
            )
            self.masked = (
                getattr(config, "feat_extract_norm", "layer") != "group"
                and not stacked_pos_conv
            )
        self.model_type = model_type
        self.fe = fe
        self.device = torch.device(device)
        self.bf16 = precision == "bf16"
        self.net = net.eval().requires_grad_(False).to(self.device)
        self.min_samples = self._first_length(1)
        self.stride = self._first_length(2) - self.min_samples

    @staticmethod
    def _warn_default_fe(model, what):
        warnings.warn(
            f"SpeechEmbedding found no preprocessor_config.json for {model!r}; "
            f"assuming {what}. Save the model's feature extractor next to its "
            "weights (AutoFeatureExtractor.from_pretrained(...).save_pretrained(path)).",
            UserWarning,
            stacklevel=4,
        )

    def n_frames(self, n_samples):
        """Output frames of clips of ``n_samples`` samples (array in, array out)."""
        import torch

        n = np.asarray(n_samples, dtype=np.int64)
        if self.kind == "whisper":
            mel = -(-n // self.hop)  # the feature extractor's valid mel frames
            lengths = torch.as_tensor(np.maximum(mel, 1))
            out = self.net._get_feat_extract_output_lengths(lengths).numpy()
            return np.where(n > 0, out, 0).astype(np.int64)
        f = self.net._get_feat_extract_output_lengths
        lengths = torch.as_tensor(n)
        try:  # the adapter (when configured) runs after the hidden states
            out = f(lengths, add_adapter=False)
        except TypeError:
            out = f(lengths)
        return np.maximum(np.asarray(out, dtype=np.int64), 0)

    def _first_length(self, frames):
        """The fewest samples that give ``frames`` output frames."""
        hi = 1
        while self.n_frames(hi) < frames:
            hi *= 2
            if hi > 2**26:  # pragma: no cover - no real encoder
                raise ValueError("SpeechEmbedding: cannot find the model's frame rate.")
        lo = hi // 2 + 1 if hi > 1 else 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.n_frames(mid) >= frames:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def forward(self, clips):
        """Hidden states ``(len(clips), n_frames, hidden_size)`` of each layer."""
        import torch

        if self.kind == "whisper":
            # one clip at a time: each is padded to the full window on its own,
            # whatever else is in the batch
            feats = np.concatenate(
                [
                    self.fe(c, sampling_rate=self.sr, return_tensors="np")[
                        "input_features"
                    ]
                    for c in clips
                ]
            )
            kwargs = {"input_features": torch.from_numpy(feats)}
        else:
            lengths = [len(c) for c in clips]
            x = np.zeros((len(clips), max(lengths)), np.float32)
            mask = np.zeros(x.shape, np.int64)
            for i, c in enumerate(clips):
                x[i, : len(c)] = c
                mask[i, : len(c)] = 1
            kwargs = {"input_values": torch.from_numpy(x)}
            if self.masked:
                kwargs["attention_mask"] = torch.from_numpy(mask)
        kwargs = {k: v.to(self.device) for k, v in kwargs.items()}
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
            if self.bf16
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast, warnings.catch_warnings():
            # WavLM's attention hands torch a float bias and a bool mask
            warnings.filterwarnings(
                "ignore", message="Support for mismatched key_padding_mask"
            )
            out = self.net(**kwargs, output_hidden_states=True)
        return out.hidden_states


def _windows(n_samples, n_frames, *, min_samples, stride, window):
    """Cut a clip into overlapping windows on the model's frame grid.

    Yields ``(start, stop, keep_start, keep_stop, frame)``: the samples
    ``[start, stop)`` go through the model and its output frames
    ``[keep_start, keep_stop)`` become the clip's frames from ``frame`` on.
    Windows start on multiples of ``stride`` samples, so their frames fall on
    the clip's own frame grid; each window holds at most ``window`` samples,
    of which a sixth on each side is context whose frames are dropped.
    """
    if window is None or n_samples <= window:
        yield 0, n_samples, 0, n_frames, 0
        return
    width = (window - min_samples) // stride + 1  # frames per window
    context = width // _CONTEXT_FRACTION
    k0 = 0
    while k0 < n_frames:
        c0 = max(0, k0 - context)
        c1 = min(n_frames, c0 + width)
        last = c1 == n_frames
        k1 = n_frames if last else c1 - context
        start = c0 * stride
        stop = (
            min(n_samples, start + window) if last else (c1 - 1) * stride + min_samples
        )
        yield start, stop, k0 - c0, k1 - c0, k0
        k0 = k1


def _normalize(y):
    """Zero mean and unit variance, as ``Wav2Vec2FeatureExtractor(do_normalize=True)``."""
    y = np.asarray(y, dtype=np.float32)
    return ((y - y.mean()) / np.sqrt(y.var() + 1e-7)).astype(np.float32)
