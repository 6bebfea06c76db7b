"""SpeechEmbedding: frozen hidden states of a pretrained audio encoder.

The encoders come from Hugging Face ``transformers`` (an optional dependency,
``pip install "sersk[embeddings]"``): the wav2vec2 family (wav2vec2, HuBERT,
WavLM, data2vec-audio and the other models whose forward takes raw
``input_values``) and the Whisper encoder (log-mel ``input_features``).
Neither torch nor transformers is imported until a model is loaded.

How a clip becomes frames, in order (the model side and the windows are in
``_embedding_encoder.py``):

1. every clip is resampled to the model's rate and, where the model's
   feature extractor asks for it (``do_normalize``), standardised as a whole;
2. it is cut into *windows* of at most ``max_chunk_s`` seconds (Whisper: at
   most its fixed 30-s input) on the model's frame grid; consecutive windows
   overlap by a sixth of a window on each side and only the middle frames of
   each are kept, so every frame keeps some context (the scheme of the
   ``transformers`` speech-recognition pipeline, ``stride_length_s``);
3. windows of all clips, sorted by length, go through the model
   ``batch_size`` at a time: padded with an attention mask, or only
   windows of equal length together for the models for which padding would
   change the result (first layer normalising over time,
   ``feat_extract_norm="group"``; positional embedding of several conv
   layers, as data2vec-audio);
4. the kept frames of the selected layers are written into the clip's frames
   (``pooling=None``) or summed in float64 for the mean and std.
"""

from __future__ import annotations

import os

import numpy as np

from ..utils._sklearn_compat import (
    Integral,
    Interval,
    Real,
    StrOptions,
    _fit_context,
)
from ._base import _StatelessTransformer, check_waveforms, ragged_array
from ._embedding_encoder import _Encoder, _import_transformers, _normalize, _windows

__all__ = ["SpeechEmbedding"]

#: Clips read, resampled and embedded at a time (bounds the waveforms held).
_BLOCK_CLIPS = 256


class SpeechEmbedding(_StatelessTransformer):
    """Frozen embeddings from a pretrained audio encoder (wav2vec2, WavLM, Whisper, ...).

    The hidden states of a self-supervised or speech-recognition encoder,
    loaded with Hugging Face ``transformers`` and never trained here, pooled
    over time into one vector per clip (for a linear model or an SVM) or
    kept frame by frame (for :class:`TimePooling` or the deep classifiers).
    Pretrained representations carry across speakers far better than
    spectral statistics; see the user guide page *Pretrained speech
    embeddings* for which model and layer to pick and what accuracy to
    expect.

    Needs the optional dependency ``transformers``
    (``pip install "sersk[embeddings]"``); without it, constructing the
    estimator works and ``fit``/``transform`` raise an ``ImportError`` that
    says so.

    Parameters
    ----------
    model : str or os.PathLike
        A local directory written by ``save_pretrained`` (``config.json``,
        the weights and ``preprocessor_config.json``), or a hub id such as
        ``"facebook/wav2vec2-base"``, ``"microsoft/wavlm-base-plus"`` or
        ``"openai/whisper-small"`` (only its encoder is used). Hub ids are
        looked up in the local Hugging Face cache only, unless the
        environment variable ``SERSK_ALLOW_DOWNLOADS=1`` lets
        ``transformers`` download them; a model that is not available
        raises an ``OSError`` saying how to point ``model`` at a directory.
        Supported: every encoder whose forward takes raw ``input_values``
        (wav2vec2, HuBERT, WavLM, data2vec-audio, ...) and Whisper.
    layers : int, list of int or "all", default=-1
        Which hidden states to use, as indices into the tuple that
        ``output_hidden_states=True`` returns: ``0`` is the input of the
        first transformer layer, ``i`` the output of layer ``i``, ``-1`` the
        last (0 to 12 for base models, 0 to 24 for large ones). Several
        layers are concatenated along the coefficient axis, layer by layer.
    pooling : {"mean", "mean+std"} or None, default="mean"
        ``"mean"``: the mean of every coefficient over the clip's frames,
        ``(n_clips, n_layers * hidden_size)``; ``"mean+std"`` adds the
        standard deviations after all the means (stat-major, as
        :class:`TimePooling`); ``None`` keeps the frames:
        ``(n_clips, n_layers * hidden_size, n_frames)``, or a 1-D object
        array of ``(n_layers * hidden_size, n_frames_i)`` arrays when the
        clips differ in length.
    sr : int, default=16000
        Sampling rate of waveform arrays given to ``fit``/``transform``;
        they are resampled to the model's rate (the ``sampling_rate`` of
        its feature extractor, 16 kHz for all the models above). File paths
        are read directly at the model's rate.
    max_chunk_s : float, default=30.0
        Longest audio, in seconds, that goes through the model at once.
        Longer clips are cut into overlapping windows whose frames are
        joined (see Notes), so a 10-minute file needs the memory of a
        ``max_chunk_s`` one. Whisper's input is at most 30 s whatever this
        is.
    batch_size : int, default=8
        Windows per forward pass. Models whose first layer normalises over
        time (``feat_extract_norm="group"``: wav2vec2-base, HuBERT-base,
        WavLM-base/base-plus) or whose positional embedding has several
        convolution layers (data2vec-audio) only batch windows of equal
        length, because zero padding would change their output even with an
        attention mask; give them clips of one length
        (``AudioLoader(duration=...)``) to batch them.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the model runs; ``"auto"`` picks CUDA when available,
        ``"cuda"`` without a GPU raises a ``ValueError``.
    precision : {"auto", "fp32", "bf16"}, default="auto"
        ``"bf16"`` runs the model under bfloat16 autocast (2 to 3
        significant digits; faster on GPUs and on CPUs with AMX or
        AVX512-BF16, but many times slower on CPUs without native bfloat16,
        whose convolutions fall back to a slow path), ``"fp32"`` in float32;
        ``"auto"`` is bf16 on a CUDA GPU that supports it, else fp32. The
        output is float32 either way.

    See Also
    --------
    TimePooling : Pool the frames of ``pooling=None`` with more statistics.
    sersk.pipelines.make_embedding_pipeline : Embedding, scaler and classifier.

    Notes
    -----
    **Variable lengths.** Clips are padded per batch with an attention mask
    and pooled over their own valid frames only, so a clip's embedding does
    not depend on what it is batched with (up to float rounding). Whisper
    pads every window to its 30-s input by design; its output frames past
    the clip's end (``ceil(n_samples / 320)`` at 16 kHz) are dropped.

    **Short clips.** A wav2vec2-style encoder needs at least one frame of
    audio (400 samples, 25 ms, for the usual convolutional front end); a
    shorter clip raises a ``ValueError`` naming the clip and the minimum.

    **Long clips.** A clip longer than ``max_chunk_s`` is cut into windows
    of at most ``max_chunk_s`` seconds that start on the model's frame grid
    and overlap by a sixth of a window on each side; each window
    contributes its middle frames. The frame count and timing are those of
    the unchunked clip. Values equal the unchunked ones (within float
    tolerance) only for what is computed locally in time: the frames of
    layer 0 of an encoder whose convolutions use layer normalisation, when
    the context covers the positional convolution. Transformer layers attend
    to the whole window, so deeper layers of chunked clips differ from an
    unchunked pass (which, for long audio, is neither affordable nor what
    the model was trained on).

    **State.** The estimator learns nothing (``fit`` only validates and
    loads the model). The loaded model is cached on the instance and left
    out of pickles and clones, which store ``model`` (a path or hub id);
    a copy loads the weights again from there when first used.

    Examples
    --------
    >>> from sersk.features import SpeechEmbedding
    >>> emb = SpeechEmbedding("facebook/wav2vec2-base", layers=[6, 12])
    >>> emb.get_params()["layers"]
    [6, 12]
    >>> X = emb.fit_transform(paths)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (n_clips, 1536)
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike],
        "layers": [Integral, list, tuple, StrOptions({"all"})],
        "pooling": [StrOptions({"mean", "mean+std"}), None],
        "sr": [Interval(Integral, 1, None, closed="left")],
        "max_chunk_s": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "precision": [StrOptions({"auto", "fp32", "bf16"})],
    }

    def __init__(
        self,
        model,
        *,
        layers=-1,
        pooling="mean",
        sr=16000,
        max_chunk_s=30.0,
        batch_size=8,
        device="auto",
        precision="auto",
    ):
        self.model = model
        self.layers = layers
        self.pooling = pooling
        self.sr = sr
        self.max_chunk_s = max_chunk_s
        self.batch_size = batch_size
        self.device = device
        self.precision = precision

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_encoder_cache", None)  # the weights reload from `model`
        return state

    # -- model ---------------------------------------------------------------
    def _encoder(self):
        """The loaded model, cached per ``(model, device, precision)``."""
        _import_transformers()
        import torch

        from ._compute import resolve_device

        device = resolve_device(self.device, "SpeechEmbedding")
        precision = self.precision
        if precision == "auto":
            precision = (
                "bf16"
                if device == "cuda" and torch.cuda.is_bf16_supported()
                else "fp32"
            )
        key = (os.fspath(self.model), device, precision)
        cache = getattr(self, "_encoder_cache", None)
        if cache is None or cache[0] != key:
            self._encoder_cache = (
                key,
                _Encoder(self.model, device=device, precision=precision),
            )
        return self._encoder_cache[1]

    def _layer_indices(self, enc):
        n = enc.n_hidden_states
        if isinstance(self.layers, str):  # "all" (the only string allowed)
            return list(range(n))
        given = [self.layers] if isinstance(self.layers, Integral) else self.layers
        start = "The 'layers' parameter of SpeechEmbedding"
        if len(given) == 0:
            raise ValueError(f"{start} must name at least one layer. Got [] instead.")
        out = []
        for layer in given:
            if isinstance(layer, (bool, np.bool_)) or not isinstance(
                layer, (Integral, np.integer)
            ):
                raise ValueError(
                    f"{start} must hold ints (hidden-state indices). Got {layer!r} "
                    "instead."
                )
            if not -n <= layer < n:
                raise ValueError(
                    f"{start} got index {layer}, but {self.model!r} has {n} hidden "
                    f"states (0: the input of the first transformer layer, {n - 1}: "
                    f"the last layer); use indices in [{-n}, {n - 1}] or 'all'."
                )
            out.append(int(layer) % n)
        if len(set(out)) != len(out):
            raise ValueError(
                f"{start} names a hidden state twice: {list(given)} are indices "
                f"{out} of {n}."
            )
        return out

    def _window_samples(self, enc):
        window = max(1, int(round(self.max_chunk_s * enc.sr)))
        if enc.window is not None:
            window = min(window, enc.window)
        need = enc.min_samples + enc.stride
        if window < need:
            raise ValueError(
                f"The 'max_chunk_s' parameter of SpeechEmbedding is {self.max_chunk_s}, "
                f"shorter than two frames of this model ({need} samples = "
                f"{need / enc.sr:.4g} s at {enc.sr} Hz). Use max_chunk_s >= 1."
            )
        return window

    def _prepare(self):
        """Validate the parameters against the model: ``(encoder, layers, window)``."""
        enc = self._encoder()
        return enc, self._layer_indices(enc), self._window_samples(enc)

    # -- input -----------------------------------------------------------------
    def _blocks(self, X, enc):
        """Yield ``(offset, clips)``: lists of 1-D float32 waveforms at the model's rate."""
        from ._loader import AudioLoader, as_paths

        name = "SpeechEmbedding"
        paths = as_paths(X, name)
        if paths is not None:
            loader = AudioLoader(sr=enc.sr)
            for start in range(0, len(paths), _BLOCK_CLIPS):
                waves = loader.transform(paths[start : start + _BLOCK_CLIPS])
                batch = check_waveforms(waves, estimator_name=name)
                yield start, self._clips(batch, rate=enc.sr, enc=enc)
            return
        batch = check_waveforms(X, estimator_name=name, allow_lazy=True)
        if batch.lazy is not None:
            for sl, chunk in batch.lazy.iter_chunks():
                part = check_waveforms(chunk, estimator_name=name)
                yield sl.start, self._clips(part, rate=self.sr, enc=enc)
            return
        rows = batch.ragged if batch.ragged is not None else list(batch.fixed)
        for start in range(0, len(rows), _BLOCK_CLIPS):
            yield (
                start,
                self._clips(rows[start : start + _BLOCK_CLIPS], rate=self.sr, enc=enc),
            )

    @staticmethod
    def _clips(batch, *, rate, enc):
        from ..io import resample

        if not isinstance(batch, list):
            batch = batch.ragged if batch.ragged is not None else list(batch.fixed)
        if rate != enc.sr:
            batch = [resample(y, orig_sr=rate, target_sr=enc.sr) for y in batch]
        return batch

    def _check_lengths(self, lengths, enc, offset=0):
        short = np.flatnonzero(np.asarray(lengths) < enc.min_samples)
        if short.size:
            i = int(short[0])
            need = (
                f"{enc.min_samples} samples ({enc.min_samples / enc.sr * 1000:.3g} ms)"
            )
            if self.sr != enc.sr:
                at_sr = int(np.ceil(enc.min_samples * self.sr / enc.sr))
                need += f" at the model's {enc.sr} Hz ({at_sr} samples at sr={self.sr})"
            raise ValueError(
                f"SpeechEmbedding: clip {offset + i} has {int(lengths[i])} samples at "
                f"{enc.sr} Hz, fewer than the {need} that the {enc.model_type} "
                f"encoder needs for one frame; {short.size} clip(s) are that short. "
                "Drop them, or pad every clip to a fixed length with "
                "AudioLoader(duration=...)."
            )

    # -- public API ------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the model and check the parameters and the input; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), list of arrays or list of paths
            Waveforms at ``sr`` (2-D, or a list / 1-D object array of 1-D
            clips of any length) or audio file paths. Paths are not read
            here (``transform`` reads them).
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : SpeechEmbedding
            The transformer.
        """
        from ._loader import as_paths

        enc, _, _ = self._prepare()
        if as_paths(X, "SpeechEmbedding") is None:
            batch = check_waveforms(
                X, estimator_name="SpeechEmbedding", allow_lazy=True
            )
            if batch.lazy is not None:  # not read here either
                lengths = np.full(batch.n_clips, batch.lazy.n_samples)
            elif batch.ragged is not None:
                lengths = np.array([len(x) for x in batch.ragged])
            else:
                lengths = np.full(batch.n_clips, batch.fixed.shape[1])
            if self.sr != enc.sr:
                lengths = np.ceil(lengths * enc.sr / self.sr).astype(np.int64)
            self._check_lengths(lengths, enc)
        return self

    def transform(self, X):
        """Embed a batch of clips (``fit`` is not needed).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), list of arrays or list of paths
            Waveforms at ``sr`` (2-D, or a list / 1-D object array of 1-D
            clips of any length, or :class:`LazyWaveforms`) or audio file
            paths.

        Returns
        -------
        X_emb : ndarray
            float32 of shape ``(n_clips, n_layers * hidden_size * n_stats)``
            with pooling; without, ``(n_clips, n_layers * hidden_size,
            n_frames)`` or a 1-D object array of per-clip frames.
        """
        self._validate_params()
        enc, layers, window = self._prepare()
        parts = []
        for offset, clips in self._blocks(X, enc):
            lengths = np.array([len(c) for c in clips])
            self._check_lengths(lengths, enc, offset)
            parts.extend(self._embed(enc, clips, layers, window))
        if self.pooling is not None:
            return np.stack(parts).astype(np.float32, copy=False)
        if len({p.shape for p in parts}) == 1:
            return np.stack(parts)
        return ragged_array(parts)

    def _embed(self, enc, clips, layers, window):
        """Embeddings of a list of clips at the model's rate (see the module notes)."""
        import torch

        if enc.normalize:
            clips = [_normalize(c) for c in clips]
        n_frames = enc.n_frames([len(c) for c in clips])
        units = [
            (i, *w)
            for i, (c, f) in enumerate(zip(clips, n_frames, strict=True))
            for w in _windows(
                len(c),
                int(f),
                min_samples=enc.min_samples,
                stride=enc.stride,
                window=window,
            )
        ]
        units.sort(key=lambda u: u[2] - u[1], reverse=True)
        n_coefs = len(layers) * enc.hidden_size
        if self.pooling is None:
            out = [np.empty((n_coefs, int(f)), np.float32) for f in n_frames]
        else:
            total = torch.zeros((len(clips), n_coefs), dtype=torch.float64)
            squares = torch.zeros_like(total)
        for batch in self._batches(units, enc):
            hidden = enc.forward([clips[i][a:b] for i, a, b, *_ in batch])
            sel = torch.cat([hidden[j] for j in layers], dim=-1)
            for row, (i, _, _, k0, k1, frame) in enumerate(batch):
                h = sel[row, k0:k1]
                if self.pooling is None:
                    out[i][:, frame : frame + k1 - k0] = h.float().T.cpu().numpy()
                else:
                    h = h.double()
                    total[i] += h.sum(0).cpu()
                    squares[i] += (h * h).sum(0).cpu()
        if self.pooling is None:
            return out
        count = torch.as_tensor(n_frames, dtype=torch.float64)[:, None]
        mean = total / count
        stats = [mean]
        if self.pooling == "mean+std":
            stats.append((squares / count - mean * mean).clamp_min(0).sqrt())
        return list(torch.cat(stats, dim=1).float().numpy())

    def _batches(self, units, enc):
        """Consecutive units, ``batch_size`` at a time; equal lengths only when unmasked."""
        batch = []
        for unit in units:
            length = unit[2] - unit[1]
            if batch and (
                len(batch) == self.batch_size
                or (not enc.masked and length != batch[0][2] - batch[0][1])
            ):
                yield batch
                batch = []
            batch.append(unit)
        if batch:
            yield batch

    def get_feature_names_out(self, input_features=None):
        """Names of the output coefficients: ``l<layer>_d<dim>[_<stat>]``.

        Loads the model's configuration (to know the hidden size).

        Parameters
        ----------
        input_features : None
            Ignored; present for API consistency.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``l6_d0_mean, ..., l6_d767_std`` with pooling, the coefficient
            names ``l6_d0, ...`` (axis 1 of the frames) without.
        """
        self._validate_params()
        enc, layers, _ = self._prepare()
        coefs = [f"l{j}_d{d}" for j in layers for d in range(enc.hidden_size)]
        if self.pooling is None:
            return np.asarray(coefs, dtype=object)
        stats = ["mean"] if self.pooling == "mean" else ["mean", "std"]
        return np.asarray([f"{c}_{s}" for s in stats for c in coefs], dtype=object)
