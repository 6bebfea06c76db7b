"""Audio input/output: reading files into float32 waveforms."""

from ._audio import load_audio, resample

__all__ = ["load_audio", "resample"]
