"""Audio input/output: reading files into float32 waveforms."""

from ._audio import load_audio, pcm_to_float, resample

__all__ = ["load_audio", "pcm_to_float", "resample"]
