"""Speech segmentation and emotion timelines of long recordings.

:class:`SpeechSegmenter` finds the speech in a recording (voice activity
detection with the Silero VAD network; ``pip install 'sersk[vad]'``);
:func:`predict_timeline` gives the emotion of every speech segment, or of
fixed windows, as a DataFrame; :class:`StreamingPredictor` does the same on
audio pushed in chunks (a microphone, a network stream) with bounded memory;
:func:`plot_timeline` draws a timeline (matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

from ._plot import plot_timeline
from ._segmenter import SpeechSegmenter
from ._streaming import StreamingPredictor
from ._timeline import predict_timeline

__all__ = [
    "SpeechSegmenter",
    "StreamingPredictor",
    "plot_timeline",
    "predict_timeline",
]
