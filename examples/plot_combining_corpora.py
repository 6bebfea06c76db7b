"""
Combining corpora
=================

Real projects train on several corpora at once: more speakers, more
recording conditions. :func:`~sersk.datasets.load_corpora` loads them with
harmonised labels (every corpus' emotion codes mapped to
:data:`sersk.datasets.EMOTIONS`) and speaker ids that never collide.

To run anywhere, this example writes two small *synthetic* corpora to a
temporary folder using the file-naming schemes of RAVDESS
(``Actor_NN/03-01-EE-II-SS-RR-AA.wav``) and CREMA-D
(``1001_DFA_ANG_XX.wav``), recorded at different sampling rates and noise
levels. With the real corpora, only the ``roots`` change.
"""

# %%
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from sersk.datasets import make_emotional_speech

emotions = ("neutral", "happy", "sad", "angry")
workdir = Path(tempfile.mkdtemp(prefix="sersk-corpora-"))

# RAVDESS-style: 6 actors at 16 kHz, quiet.
ravdess_codes = {"neutral": 1, "happy": 3, "sad": 4, "angry": 5}
X, y, g = make_emotional_speech(
    96, emotions=emotions, n_speakers=6, duration=1.5, noise_level=0.02, random_state=4
)
counters = {}
for clip, label, spk in zip(X, y, g, strict=True):
    actor = int(spk.split("_")[1])
    # statement (01/02) x repetition (01/02) tell the takes apart; normal intensity
    k = counters[actor, label] = counters.get((actor, label), -1) + 1
    if k >= 4:
        continue
    folder = workdir / "ravdess" / f"Actor_{actor:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    code = ravdess_codes[label]
    name = f"03-01-{code:02d}-01-{k // 2 + 1:02d}-{k % 2 + 1:02d}-{actor:02d}.wav"
    sf.write(folder / name, clip, 16000)

# CREMA-D-style: 6 other speakers at 22.05 kHz, noisier.
crema_codes = {"neutral": "NEU", "happy": "HAP", "sad": "SAD", "angry": "ANG"}
sentences = ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS"]
X, y, g = make_emotional_speech(
    96,
    emotions=emotions,
    n_speakers=6,
    sr=22050,
    duration=1.5,
    noise_level=0.08,
    random_state=5,
)
(workdir / "crema_d").mkdir()
counters = {}
for clip, label, spk in zip(X, y, g, strict=True):
    actor = 1000 + int(spk.split("_")[1])
    k = counters[actor, label] = counters.get((actor, label), -1) + 1
    if k >= len(sentences):
        continue
    name = f"{actor}_{sentences[k]}_{crema_codes[label]}_XX.wav"
    sf.write(workdir / "crema_d" / name, clip, 22050)

print(sorted(p.name for p in (workdir / "ravdess").glob("*/*.wav"))[:3])
print(sorted(p.name for p in (workdir / "crema_d").glob("*.wav"))[:3])

# %%
# Load both with harmonised labels
# --------------------------------
from sersk.datasets import load_corpora

ds = load_corpora(
    ["ravdess", "crema_d"],
    roots={"ravdess": workdir / "ravdess", "crema_d": workdir / "crema_d"},
    emotions=list(emotions),
)
print(ds.frame.groupby(["corpus", "emotion"]).size().unstack())
print(np.unique(ds.groups))

# %%
# Within-corpus, cross-corpus and pooled
# --------------------------------------
# ``AudioLoader`` resamples both corpora to 16 kHz. Features are computed
# once; every protocol below is speaker-independent.
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.evaluation import evaluate
from sersk.features import AudioLoader, make_classic_features

F = make_pipeline(
    AudioLoader(sr=16000, duration=1.5), make_classic_features(sr=16000)
).transform(ds.data)
corpus = ds.frame["corpus"].to_numpy()
head = make_pipeline(StandardScaler(), SVC(C=10))

pooled = evaluate(head, F, ds.target, groups=ds.groups, cv=4)
print(f"pooled, GroupKFold(4) by speaker: UAR {pooled.format_metric()}")
for train_on, test_on in (("ravdess", "crema_d"), ("crema_d", "ravdess")):
    tr, te = corpus == train_on, corpus == test_on
    score = head.fit(F[tr], ds.target[tr]).score(F[te], ds.target[te])
    print(f"train on {train_on}, test on {test_on}: accuracy {score:.3f}")

# %%
# Cross-corpus accuracy is usually the lowest: a model also learns the
# recording conditions of its corpus. Pooling corpora, as ``load_corpora``
# makes easy, is the simplest remedy.
import shutil

shutil.rmtree(workdir)
