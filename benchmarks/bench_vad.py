"""Voice activity detection: Silero VAD against webrtcvad (issue 17, item 1).

Precision and recall of speech *frames* (10 ms) and speed, for

- ``silero``: sersk's :class:`~sersk.segmentation.SpeechSegmenter` (the Silero
  network rebuilt in torch from the wheel's safetensors weights), frame
  decisions (probability >= 0.5) and the segments after its clean-up
  (``min_speech_duration=0.25``, ``min_silence_duration=0.3``, padding 0 and
  the default 0.1 s);
- ``silero-jit``: the same network as the silero-vad package runs it
  (TorchScript, its ``get_speech_timestamps`` with the same durations), with
  ``--jit``: a check that sersk's rebuild is not worse than the original;
- ``webrtc-A``: webrtcvad (``webrtcvad-wheels``) at aggressiveness A = 0..3 on
  30 ms frames, raw and after the same clean-up (min durations, padding) as
  sersk applies.

Two test sets:

(a) RAVDESS files (``--ravdess``, default ``../shared/data/ravdess``; every
    ``--every``-th file). Each file holds one sentence between leading and
    trailing room noise. Reference: one interval per file, the longest run
    of 10 ms frames within 35 dB of the file's loudest frame once runs less
    than 0.3 s apart are joined. Limits: a reference by energy, not by hand;
    a loud breath or lip noise right next to the sentence counts as speech,
    weak fricative onsets or releases more than 35 dB down as silence (tens
    of ms), and pauses inside the sentence count as speech (a segment-level
    reference, as the segments of a VAD are).
(b) Synthetic recordings with exact truth: RAVDESS sentences cut to their
    reference interval, joined by gaps of known length (0.3-2.0 s, uniform)
    of silence, with white noise at a known SNR (to the speech's RMS) over
    the whole recording: SNR inf (digital silence in the gaps), 20, 10 and
    5 dB. ``--n-synthetic`` recordings of ``--per-recording`` sentences each.

Speed: seconds of audio processed per second on one thread
(``torch.set_num_threads(1)``): in the tables, over the files of each set
(per-file overheads included, noisy on a shared machine); (c) the best of
three runs over one 5-minute recording.

Run it under ``nice`` on a shared machine::

    nice -n 10 python benchmarks/bench_vad.py --every 4 --jit
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import numpy as np

RATE = 16000
RES = 0.01  # seconds per evaluation frame


def energy_reference(y, sr=RATE, top_db=35.0, bridge=0.3):
    """``(start, end)`` seconds of the sentence in one RAVDESS file.

    10 ms frames within ``top_db`` of the file's loudest frame are loud;
    loud runs closer than ``bridge`` seconds are joined, and the longest
    run is the sentence.
    """
    hop = int(sr * RES)
    n = len(y) // hop
    frames = y[: n * hop].reshape(n, hop).astype(np.float64)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    runs = frames_to_intervals(db > db.max() - top_db, RES)
    if not runs:
        return None
    joined = [list(runs[0])]
    for a, b in runs[1:]:
        if a - joined[-1][1] < bridge:
            joined[-1][1] = b
        else:
            joined.append([a, b])
    a, b = max(joined, key=lambda r: r[1] - r[0])
    return a, b


def mask(intervals, duration):
    """Boolean speech mask on the 10 ms grid (frame centres inside an interval)."""
    n = int(round(duration / RES))
    centres = (np.arange(n) + 0.5) * RES
    m = np.zeros(n, dtype=bool)
    for a, b in intervals:
        m |= (centres >= a) & (centres < b)
    return m


def frames_to_intervals(flags, step):
    """Runs of True frames (each ``step`` seconds) as intervals."""
    flags = np.asarray(flags, dtype=bool)
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(a * step, b * step) for a, b in zip(starts, ends, strict=True)]


def clean_up(intervals, duration, min_speech=0.25, min_silence=0.3, pad=0.0):
    """The clean-up SpeechSegmenter applies, for webrtcvad's raw frames."""
    merged = []
    for a, b in intervals:
        if merged and a - merged[-1][1] < min_silence:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    kept = [(a, b) for a, b in merged if b - a >= min_speech]
    out = []
    for i, (a, b) in enumerate(kept):
        lo = max(0.0, a - pad)
        hi = min(duration, b + pad)
        if i:
            lo = max(lo, (a + kept[i - 1][1]) / 2)
        if i + 1 < len(kept):
            hi = min(hi, (b + kept[i + 1][0]) / 2)
        out.append((lo, hi))
    return out


class Scores:
    def __init__(self):
        self.tp = self.fp = self.fn = 0
        self.seconds = 0.0
        self.audio = 0.0

    def add(self, pred, truth):
        self.tp += int(np.sum(pred & truth))
        self.fp += int(np.sum(pred & ~truth))
        self.fn += int(np.sum(~pred & truth))

    def row(self, name):
        p = self.tp / max(1, self.tp + self.fp)
        r = self.tp / max(1, self.tp + self.fn)
        f = 2 * p * r / max(1e-12, p + r)
        speed = self.audio / self.seconds if self.seconds else float("nan")
        return f"| {name:<28s} | {p:.3f} | {r:.3f} | {f:.3f} | {speed:8.0f} |"


def detectors(use_jit):
    """name -> function(y16k) returning (raw intervals, cleaned intervals)."""
    import webrtcvad

    from sersk.segmentation import SpeechSegmenter

    out = {}
    seg0 = SpeechSegmenter(padding=0.0)
    seg1 = SpeechSegmenter()

    def silero(y):
        t0 = time.perf_counter()
        padded = seg1.segment(y, sr=RATE).tolist()
        dt = time.perf_counter() - t0
        probs = seg0.speech_probabilities(y, sr=RATE)
        raw = frames_to_intervals(probs >= 0.5, 512 / RATE)
        res = {
            "frames": raw,
            "segments, pad 0": seg0.segment(y, sr=RATE).tolist(),
            "segments, pad 0.1": padded,
        }
        return res, dt

    out["silero (sersk)"] = silero

    if use_jit:
        import torch
        from silero_vad import get_speech_timestamps, load_silero_vad

        jit = load_silero_vad()

        def silero_jit(y):
            t = torch.from_numpy(y)
            res, dt = {}, 0.0
            for pad in (100, 0):
                t0 = time.perf_counter()
                ts = get_speech_timestamps(
                    t,
                    jit,
                    sampling_rate=RATE,
                    min_speech_duration_ms=250,
                    min_silence_duration_ms=300,
                    speech_pad_ms=pad,
                    return_seconds=False,
                )
                dt = dt or time.perf_counter() - t0
                res[f"segments, pad {pad / 1000:g}"] = [
                    (d["start"] / RATE, d["end"] / RATE) for d in ts
                ]
            return res, dt

        out["silero-jit (package)"] = silero_jit

    for level in range(4):
        vad = webrtcvad.Vad(level)
        step = 0.03

        def webrtc(y, vad=vad, step=step):
            t0 = time.perf_counter()
            n = int(RATE * step)
            pcm = (np.clip(y, -1, 1) * 32767).astype("<i2")
            k = len(pcm) // n
            flags = [
                vad.is_speech(pcm[i * n : (i + 1) * n].tobytes(), RATE)
                for i in range(k)
            ]
            raw = frames_to_intervals(flags, step)
            dur = len(y) / RATE
            padded = clean_up(raw, dur, pad=0.1)
            dt = time.perf_counter() - t0
            res = {
                "frames": raw,
                "segments, pad 0": clean_up(raw, dur),
                "segments, pad 0.1": padded,
            }
            return res, dt

        out[f"webrtc-{level}"] = webrtc
    return out


def synthetic(clips, rng, per_recording, snr_db):
    """A recording of ``per_recording`` sentences with known gaps, and its truth."""
    pieces, truth, t = [], [], 0.0
    for k in range(per_recording):
        gap = np.zeros(int(rng.uniform(0.3, 2.0) * RATE), dtype=np.float32)
        pieces.append(gap)
        t += len(gap) / RATE
        y = clips[int(rng.integers(len(clips)))]
        pieces.append(y)
        truth.append((t, t + len(y) / RATE))
        t += len(y) / RATE
        if k == per_recording - 1:
            tail = np.zeros(int(rng.uniform(0.3, 2.0) * RATE), dtype=np.float32)
            pieces.append(tail)
            t += len(tail) / RATE
    rec = np.concatenate(pieces)
    if np.isfinite(snr_db):
        speech = np.concatenate([p for i, p in enumerate(pieces) if i % 2 == 1])
        level = np.sqrt(np.mean(speech.astype(np.float64) ** 2))
        sigma = level / 10 ** (snr_db / 20)
        rec = rec + (sigma * rng.standard_normal(len(rec))).astype(np.float32)
    return rec.astype(np.float32), truth


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument(
        "--ravdess", default=os.path.join(here, "..", "..", "shared", "data", "ravdess")
    )
    parser.add_argument("--every", type=int, default=4, help="use every N-th file")
    parser.add_argument(
        "--jit", action="store_true", help="also the package's TorchScript model"
    )
    parser.add_argument("--n-synthetic", type=int, default=20)
    parser.add_argument("--per-recording", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--speed-only", action="store_true", help="only the speed measurement (c)"
    )
    args = parser.parse_args(argv)

    import torch

    from sersk.io import load_audio

    torch.set_num_threads(1)
    files = sorted(glob.glob(os.path.join(args.ravdess, "Actor_*", "*.wav")))[
        :: args.every
    ]
    print(f"RAVDESS: {len(files)} files (every {args.every}-th) from {args.ravdess}")
    audio, refs = [], []
    for f in files:
        y, _ = load_audio(f, sr=RATE)
        ref = energy_reference(y)
        if ref is not None:
            audio.append(y)
            refs.append(ref)
    total = sum(len(y) for y in audio) / RATE
    speech = sum(b - a for a, b in refs)
    print(
        f"{total / 60:.1f} min of audio, {100 * speech / total:.0f} % speech by the reference"
    )

    dets = detectors(args.jit)
    if args.speed_only:
        return speed(dets, audio)
    header = "| detector, output | precision | recall | F1 | audio s per s (default output) |\n|---|---|---|---|---|"

    # (a) RAVDESS against the energy reference; speed over these files
    print("\n(a) RAVDESS files, energy reference\n")
    print(header)
    for name, fn in dets.items():
        scores = {}
        for y, ref in zip(audio, refs, strict=True):
            res, dt = fn(y)
            dur = len(y) / RATE
            truth = mask([ref], dur)
            for kind, iv in res.items():
                s = scores.setdefault(kind, Scores())
                s.add(mask(iv, dur), truth)
                s.seconds += dt
                s.audio += dur
        for kind, s in scores.items():
            print(s.row(f"{name}, {kind}"))

    # (b) synthetic recordings with known gaps
    clips = [
        y[int(a * RATE) : int(b * RATE)] for y, (a, b) in zip(audio, refs, strict=True)
    ]
    for snr in (np.inf, 20.0, 10.0, 5.0):
        rng = np.random.default_rng(args.seed)
        recs = [
            synthetic(clips, rng, args.per_recording, snr)
            for _ in range(args.n_synthetic)
        ]
        minutes = sum(len(r) for r, _ in recs) / RATE / 60
        print(
            f"\n(b) synthetic, SNR {snr:g} dB: {args.n_synthetic} recordings, "
            f"{minutes:.1f} min, exact truth\n"
        )
        print(header)
        for name, fn in dets.items():
            scores = {}
            for rec, truth_iv in recs:
                res, dt = fn(rec)
                dur = len(rec) / RATE
                truth = mask(truth_iv, dur)
                for kind, iv in res.items():
                    s = scores.setdefault(kind, Scores())
                    s.add(mask(iv, dur), truth)
                    s.seconds += dt
                    s.audio += dur
            for kind, s in scores.items():
                print(s.row(f"{name}, {kind}"))
    speed(dets, audio)


def speed(dets, audio, minutes=5.0, repeats=3):
    """(c) Best of ``repeats`` runs over the same ``minutes`` of RAVDESS audio
    (files joined), the default output of each detector."""
    y = np.concatenate(audio)[: int(minutes * 60 * RATE)]
    print(
        f"\n(c) speed: {len(y) / RATE / 60:.1f} min of RAVDESS audio in one "
        f"recording, best of {repeats} runs, one thread\n"
    )
    print("| detector | audio s per s | s per hour of audio |\n|---|---|---|")
    for name, fn in dets.items():
        best = min(fn(y)[1] for _ in range(repeats))
        rate = len(y) / RATE / best
        print(f"| {name} | {rate:.0f} | {3600 / rate:.1f} |")


if __name__ == "__main__":
    main()
