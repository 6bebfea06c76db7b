"""sersk without the ``distributed`` and ``ray`` extras installed.

A Python in which importing dask, distributed, dask_jobqueue, fsspec,
accelerate and ray fails (their ``sys.modules`` entries set to None) imports
sersk, reads local audio, extracts features and trains a deep classifier.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
EXTRAS = ("dask", "distributed", "dask_jobqueue", "fsspec", "accelerate", "ray")


def test_sersk_works_without_the_distributed_extras(tmp_path):
    wav = tmp_path / "tone.wav"
    sf.write(wav, 0.3 * np.sin(np.arange(16000) / 8.0), 16000)
    code = f"""
import sys
for name in {EXTRAS!r}:
    sys.modules[name] = None
import numpy as np
import sersk
from sersk.features import AudioLoader, MelSpectrogram
from sersk.models import AcceleratedCRNNClassifier, CRNNClassifier
X = MelSpectrogram(n_mels=16).transform(AudioLoader(duration=1.0).transform(
    [{str(wav)!r}] * 6))
y = np.array(["a", "b"] * 3)
X[y == "a"] += 1.0
clf = CRNNClassifier(max_epochs=1, train_split=None, module__conv_channels=(4,),
                     module__lstm_units=(8,)).fit(X, y)
print(clf.classes_.tolist(), AcceleratedCRNNClassifier.__name__)
print(sorted(name for name in {EXTRAS!r} if sys.modules.get(name) is not None))
"""
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[-2] == "['a', 'b'] AcceleratedCRNNClassifier"
    assert lines[-1] == "[]"  # none of them was imported after all
