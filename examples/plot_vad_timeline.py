"""
Emotions per utterance: voice activity detection and an emotion timeline
========================================================================

A long recording is mostly pauses, breaths and silence. Instead of sliding a
window over all of it, find the speech first (voice activity detection, VAD)
and predict one emotion per speech segment:
:func:`sersk.segmentation.predict_timeline` does both. The command line does
the same with ``sersk predict MODEL FILE --segments vad``, and
:class:`sersk.segmentation.StreamingPredictor` does it live, on audio that
arrives in chunks. The VAD needs ``pip install 'sersk[vad]'``.

Everything here is synthetic, so the example runs anywhere in seconds: a
conversation of one held-out speaker, built from sersk's synthetic emotional
speech with pauses of known length.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sersk.datasets import make_emotional_speech
from sersk.features import AudioLoader, make_classic_features
from sersk.segmentation import (
    SpeechSegmenter,
    StreamingPredictor,
    plot_timeline,
    predict_timeline,
)

sr = 16000
emotions = ("neutral", "happy", "sad", "angry")
X, y, groups = make_emotional_speech(
    n_samples=240, emotions=emotions, n_speakers=8, duration=2.0, random_state=3
)
# Speaker synth_02 is kept out of training: the conversation is theirs.
train = groups != "synth_02"
# The model must start with an AudioLoader (as every model of sersk train
# does): it tells predict_timeline the sampling rate the model expects.
model = make_pipeline(
    AudioLoader(sr=sr),
    make_classic_features(sr=sr),
    StandardScaler(),
    CalibratedClassifierCV(SVC(C=10), cv=3, ensemble=False),
)
model.fit(X[train], y[train])

# %%
# A conversation of about 40 seconds: utterances of the held-out speaker in
# four emotional episodes, with pauses of 0.5 to 2 s between them and
# quiet room noise throughout. The true extent of every utterance is known.
rng = np.random.default_rng(0)
held_out = np.flatnonzero(~train)
script = ["neutral"] * 4 + ["happy"] * 4 + ["angry"] * 4 + ["sad"] * 4
pieces, truth, t = [], [], 0.0
for emotion in script:
    pause = np.zeros(int(rng.uniform(0.5, 2.0) * sr), dtype=np.float32)
    clip = X[rng.choice(held_out[y[held_out] == emotion])]
    pieces += [pause, clip]
    truth.append((t + len(pause) / sr, t + (len(pause) + len(clip)) / sr, emotion))
    t += (len(pause) + len(clip)) / sr
pieces.append(np.zeros(sr, dtype=np.float32))
recording = np.concatenate(pieces)
# room noise at the level of the generator's own background noise
recording += (3e-4 * rng.standard_normal(len(recording))).astype(np.float32)
print(f"{len(recording) / sr:.1f} s of audio, {len(script)} utterances")

# %%
# Speech segments
# ---------------
# :class:`~sersk.segmentation.SpeechSegmenter` returns the start and end (in
# seconds) of every run of speech. Pauses shorter than
# ``min_silence_duration`` stay inside a segment, bursts shorter than
# ``min_speech_duration`` are dropped, each segment gets ``padding`` seconds
# on both sides and segments longer than ``max_duration`` are split.
segmenter = SpeechSegmenter(min_silence_duration=0.3, padding=0.1, max_duration=8.0)
segments = segmenter.segment(recording, sr=sr)
print(f"{len(segments)} speech segments found")
for (a, b), (ta, tb, _) in list(zip(segments, truth, strict=False))[:4]:
    print(f"  found {a:5.2f}-{b:5.2f} s   true {ta:5.2f}-{tb:5.2f} s")

# %%
# One emotion per segment
# -----------------------
# :func:`~sersk.segmentation.predict_timeline` classifies every segment at
# its own length and returns a DataFrame: start, end, label and the
# probability of every class.
timeline = predict_timeline(model, recording, sr=sr, segmenter=segmenter)
print(timeline.round(2).head(8).to_string(index=False))

# %%
# How many segments got the emotion of the utterance they cover:
centres = (timeline["start"] + timeline["end"]) / 2
true_label = [next((e for a, b, e in truth if a <= c < b), "silence") for c in centres]
print(f"{np.mean(timeline['label'] == true_label):.0%} of the segments are right")
# for comparison, the same model on this speaker's whole clips (each clip
# alone, as in speaker-independent evaluation)
clip_accuracy = np.mean(model.predict(X[~train]) == y[~train])
print(f"{clip_accuracy:.0%} of this speaker's clips are right")

# %%
# The timeline: each segment drawn in the colour of its label, as high as the
# label's probability, over the waveform; the true episodes are marked on
# top.
fig, ax = plt.subplots(figsize=(10, 3.2))
colors = {e: f"C{k}" for k, e in enumerate(emotions)}
plot_timeline(timeline, y=recording, sr=sr, ax=ax, colors=colors)
for a, b, e in truth:
    ax.plot([a, b], [1.1, 1.1], color=colors[e], lw=4, solid_capstyle="butt")
ax.set_ylim(0, 1.2)
ax.set_title("predicted emotion per speech segment (bars on top: the truth)")
fig.tight_layout()
plt.show()

# %%
# Live: the same predictions from chunks
# --------------------------------------
# :class:`~sersk.segmentation.StreamingPredictor` takes the audio in chunks of
# any size (here random sizes, as a microphone or a network stream delivers
# them) and returns each segment's prediction as soon as the pause after it
# is long enough. It keeps only the audio of the segment in progress, and
# its predictions are those of ``predict_timeline`` on the whole recording.
# ``sersk listen MODEL`` runs it on a microphone.
stream = StreamingPredictor(model, sr=sr, segmenter=segmenter)
live, i = [], 0
while i < len(recording):
    n = int(rng.integers(800, 8000))
    live += stream.push(recording[i : i + n])
    i += n
live += stream.flush()
print([p["label"] for p in live] == list(timeline["label"]))
