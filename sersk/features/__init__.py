"""Transformers from file paths to waveforms to frame-level and pooled features.

Data flow::

    paths --AudioLoader--> waveforms (n_clips, n_samples) float32
          --MelSpectrogram / MFCC / Chroma / SpectralContrast / ZeroCrossingRate / RMS-->
          frames (n_clips, n_coeffs, n_frames) float32
          --TimePooling--> (n_clips, n_coeffs * n_stats)   (classic models)
          --ClipStandardizer--> standardised frames         (deep models)

Several pooled features at once: :func:`make_classic_features` (a
FeatureUnion of feature + TimePooling pieces) or :class:`ClassicFeatures`
(the same vector from one shared STFT, ``make_classic_features(shared_stft=True)``).
Spectral transformers take ``backend="auto"|"librosa"|"torch"`` and
``device="auto"|"cpu"|"cuda"``; torch is imported only when used.

``AudioLoader(duration=..., lazy=True)`` returns a :class:`LazyWaveforms`
(files read only when needed); the feature transformers stream it chunk by
chunk, so the waveforms of a corpus are never all in memory.

Every transformer is stateless (``fit`` only validates) and computes a whole
batch at once. Clips of different lengths (``AudioLoader(duration=None)``)
travel as 1-D object arrays of per-clip arrays. Frames are centred, as in
librosa: a clip of ``n`` samples gives ``1 + n // hop_length`` frames, and
clips shorter than the window are zero-padded rather than rejected.
"""

from ._embedding import SpeechEmbedding
from ._lazy import LazyWaveforms
from ._loader import AudioLoader
from ._normalize import ClipStandardizer
from ._opensmile import OpenSmile
from ._pooling import TimePooling
from ._presets import ClassicFeatures, make_classic_features
from ._prosody import Prosody
from ._speaker import SpeakerStandardizer
from ._spectral import MFCC, Chroma, MelSpectrogram, SpectralContrast
from ._temporal import RMS, ZeroCrossingRate
from ._voice import VoiceFunctionals

__all__ = [
    "AudioLoader",
    "Chroma",
    "ClassicFeatures",
    "ClipStandardizer",
    "LazyWaveforms",
    "MFCC",
    "MelSpectrogram",
    "OpenSmile",
    "Prosody",
    "RMS",
    "SpeakerStandardizer",
    "SpectralContrast",
    "SpeechEmbedding",
    "TimePooling",
    "VoiceFunctionals",
    "ZeroCrossingRate",
    "make_classic_features",
]
