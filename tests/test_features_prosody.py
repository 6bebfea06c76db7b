"""Prosody on synthetic signals with known F0, jitter, shimmer and noise level."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sersk.features._loader import AudioLoader
from sersk.features._pooling import TimePooling
from sersk.features._prosody import Prosody
from sersk.features._temporal import RMS

SR = 16000
ROWS = {name: i for i, name in enumerate(Prosody().get_feature_names_out())}


def harmonic(f0, seconds=1.0, sr=SR, top=6000.0):
    """Harmonics of ``f0`` (amplitudes 1/h) up to ``top`` Hz, peak about 0.2.

    ``f0`` may be an array (one value per sample) for a glide.
    """
    n = int(sr * seconds)
    f0 = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(
        np.where(h * f0 < top, np.sin(h * phase) / h, 0.0)
        for h in range(1, int(top / f0.min()) + 1)
    )
    return (0.1 * y).astype(np.float32)


def pulse_train(f0=150.0, jitter=0.0, shimmer=0.0, seconds=1.5, seed=0):
    """Vowel-like pulses (600 Hz resonance, 200 Hz bandwidth) with known perturbation.

    Periods and amplitudes are ``1 + sigma * N(0, 1)`` times their mean, with
    ``sigma = value * sqrt(pi) / 2`` so that the expected *local* perturbation
    (mean absolute difference of consecutive values over their mean) equals
    ``jitter`` and ``shimmer``.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    y = np.zeros_like(t)
    onset = 0.01
    while onset < seconds:
        amp = 1 + shimmer * np.sqrt(np.pi) / 2 * rng.normal()
        after = t >= onset
        dt = t[after] - onset
        y[after] += amp * np.exp(-np.pi * 200 * dt) * np.sin(2 * np.pi * 600 * dt)
        onset += (1 + jitter * np.sqrt(np.pi) / 2 * rng.normal()) / f0
    return (0.1 * y).astype(np.float32)


def voiced(P, row):
    """Values of ``row`` over the voiced frames of one clip ``(6, n_frames)``."""
    return P[ROWS[row]][P[ROWS["f0"]] > 0]


def test_output_shape_names_and_dtype():
    X = np.stack([harmonic(150.0), harmonic(220.0)])
    est = Prosody()
    P = est.fit_transform(X)
    assert P.shape == (2, 6, 1 + SR // 512) and P.dtype == np.float32
    assert est.get_feature_names_out().tolist() == [
        "f0",
        "voicing",
        "jitter",
        "shimmer",
        "hnr",
        "loudness",
    ]
    # frames line up with the other transformers at the same hop
    assert P.shape[-1] == RMS(hop_length=512).fit_transform(X).shape[-1]


@pytest.mark.parametrize("f0", [100.0, 150.0, 220.0, 400.0])
def test_f0_of_harmonic_tones_within_half_a_percent(f0):
    P = Prosody().fit_transform(harmonic(f0)[np.newaxis])[0]
    inner = P[:, 1:-1]  # the edge frames are half zero padding
    assert (inner[ROWS["f0"]] > 0).all()
    np.testing.assert_allclose(inner[ROWS["f0"]], f0, rtol=5e-3)
    assert (inner[ROWS["voicing"]] > 0.99).all()
    # clean periodic tone: near-zero perturbation, HNR near its 40 dB cap
    assert voiced(P, "jitter").mean() < 2e-3
    assert voiced(P, "shimmer").mean() < 1e-2
    assert np.median(voiced(P, "hnr")) > 35


def test_f0_follows_a_glide():
    seconds = 2.0
    track = np.linspace(120.0, 260.0, int(SR * seconds))
    P = Prosody(hop_length=256).fit_transform(harmonic(track, seconds)[np.newaxis])[0]
    centres = np.arange(P.shape[1]) * 256
    inner = slice(2, -2)
    np.testing.assert_allclose(P[ROWS["f0"], inner], track[centres[inner]], rtol=1.5e-2)


def test_jitter_is_measured_and_ordered():
    est = {
        j: voiced(Prosody().fit_transform(pulse_train(jitter=j)[None])[0], "jitter")
        for j in (0.0, 0.01, 0.03)
    }
    means = {j: v.mean() for j, v in est.items()}
    assert means[0.0] < 2e-3
    assert means[0.0] < means[0.01] < means[0.03]
    # stated tolerance: within 20 % of the local jitter of the generator
    np.testing.assert_allclose(means[0.01], 0.01, rtol=0.2)
    np.testing.assert_allclose(means[0.03], 0.03, rtol=0.2)


def test_shimmer_is_measured_and_ordered():
    means = {
        s: voiced(
            Prosody().fit_transform(pulse_train(shimmer=s)[None])[0], "shimmer"
        ).mean()
        for s in (0.0, 0.03, 0.08)
    }
    assert means[0.0] < 2e-3 < means[0.03] < means[0.08]
    np.testing.assert_allclose(means[0.03], 0.03, rtol=0.2)
    np.testing.assert_allclose(means[0.08], 0.08, rtol=0.2)
    # amplitude perturbation alone leaves the periods (jitter) near zero
    P = Prosody().fit_transform(pulse_train(shimmer=0.08)[None])[0]
    assert voiced(P, "jitter").mean() < 2e-3


def test_hnr_follows_the_snr_of_added_white_noise():
    rng = np.random.default_rng(0)
    y = harmonic(150.0, seconds=2.0).astype(np.float64)
    medians = []
    for snr in (25.0, 15.0, 5.0):
        noise = rng.normal(size=y.size)
        noise *= np.sqrt(np.mean(y**2) / np.mean(noise**2) / 10 ** (snr / 10))
        P = Prosody().fit_transform((y + noise)[np.newaxis])[0]
        hnr = voiced(P, "hnr")
        assert hnr.size > 0.9 * P.shape[1]
        medians.append(np.median(hnr))
        # HNR estimates the SNR of white noise added to a periodic signal
        assert abs(medians[-1] - snr) < 2.0, (snr, medians[-1])
    assert medians[0] > medians[1] > medians[2]


def test_silence_and_noise_are_unvoiced_and_finite():
    rng = np.random.default_rng(0)
    X = np.stack(
        [
            np.zeros(8000, dtype=np.float32),
            (0.1 * rng.normal(size=8000)).astype(np.float32),
        ]
    )
    P = Prosody().fit_transform(X)
    assert np.isfinite(P).all()
    silent, noise = P
    np.testing.assert_array_equal(silent[:5], 0.0)  # unvoiced, zero voicing
    np.testing.assert_array_equal(silent[ROWS["loudness"]], -100.0)
    assert (noise[ROWS["f0"]] > 0).mean() < 0.1
    assert noise[ROWS["voicing"]].max() < 0.45
    np.testing.assert_allclose(noise[ROWS["loudness"], 1:-1], -20.0, atol=1.0)


def test_silence_gate_is_relative_to_the_clip():
    tone = harmonic(150.0)
    quiet = np.concatenate([tone, 1e-3 * tone])  # 60 dB quieter second half
    P = Prosody().fit_transform(quiet[np.newaxis])[0]
    n = P.shape[1]
    assert (P[ROWS["f0"], 2 : n // 2 - 2] > 0).all()
    assert (P[ROWS["f0"], n // 2 + 2 :] == 0).all()
    P_ungated = Prosody(silence_db=None).fit_transform(quiet[np.newaxis])[0]
    assert (P_ungated[ROWS["f0"], n // 2 + 2 : -2] > 0).all()


def test_clip_shorter_than_a_frame_and_ragged_batches():
    short = harmonic(200.0, seconds=0.02)  # 320 samples < frame_length
    P = Prosody().fit_transform(short[np.newaxis])
    assert P.shape == (1, 6, 1) and np.isfinite(P).all()
    clips = [harmonic(150.0, 0.5), harmonic(220.0, 0.3), short]
    out = Prosody().fit_transform(clips)
    assert out.dtype == object and [o.shape for o in out] == [
        (6, 1 + 8000 // 512),
        (6, 1 + 4800 // 512),
        (6, 1),
    ]
    # each clip is computed on its own: equal to the single-clip call
    for clip, o in zip(clips, out, strict=True):
        np.testing.assert_allclose(
            o, Prosody().fit_transform(clip[np.newaxis])[0], rtol=1e-6, atol=1e-6
        )


def test_batch_chunks_and_jobs_do_not_change_values():
    X = np.stack([pulse_train(f0=f, jitter=0.01, seconds=0.5) for f in (110, 180, 250)])
    ref = Prosody().fit_transform(X)
    np.testing.assert_allclose(Prosody(n_jobs=2).fit_transform(X), ref, atol=1e-6)
    for i in range(3):
        np.testing.assert_allclose(
            Prosody().fit_transform(X[i : i + 1])[0], ref[i], rtol=1e-6, atol=1e-6
        )


def test_frame_blocks_do_not_change_values(monkeypatch):
    import sersk.features._prosody as prosody

    X = np.stack([pulse_train(f0=130.0, jitter=0.01, seconds=0.6), np.zeros(9600)])
    ref = Prosody(hop_length=160).fit_transform(X)
    monkeypatch.setattr(prosody, "_BLOCK", 7)  # many blocks, one ending mid-clip
    np.testing.assert_array_equal(Prosody(hop_length=160).fit_transform(X), ref)


def test_file_paths_pipeline_pickle(write_wav):
    paths = [
        write_wav("a.wav", y=harmonic(150.0, 0.5)),
        write_wav("b.wav", y=harmonic(220.0, 0.5)),
    ]
    est = Prosody()
    # files keep their own lengths: an object array of (6, n_frames) arrays
    from_files = np.stack(est.fit_transform([str(p) for p in paths]))
    assert from_files.shape == (2, 6, 16)
    np.testing.assert_allclose(
        np.median(from_files[:, 0, 2:-2], axis=1), [150, 220], rtol=5e-3
    )
    pooled = make_pipeline(Prosody(), TimePooling(stats=("mean", "max"))).fit(paths)
    assert pooled.transform(paths).shape == (2, 12)
    assert pooled.get_feature_names_out()[:2].tolist() == ["f0_mean", "voicing_mean"]
    lazy = AudioLoader(duration=0.5, lazy=True).transform(paths)
    np.testing.assert_allclose(est.fit_transform(lazy), from_files, atol=1e-6)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(np.stack(restored.transform(paths)), from_files)
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(fmin=300.0, fmax=200.0), ValueError, "needs fmin < fmax; got fmin=300.0"),
        (dict(fmin=200.0, fmax=200.0), ValueError, "needs fmin < fmax"),
        (dict(fmax=9000.0), ValueError, "'fmax' parameter of Prosody is 9000.0 Hz"),
        (dict(fmin=0.0), InvalidParameterError, "'fmin' parameter of Prosody must be"),
        (dict(frame_length=256), ValueError, "needs at least .* = 544 samples"),
        (
            dict(sr=44100),
            ValueError,
            "frame_length.*Raise frame_length \\(e.g. 2048\\)",
        ),
        (dict(voicing_threshold=1.5), InvalidParameterError, "'voicing_threshold'"),
        (dict(silence_db=-1.0), InvalidParameterError, "'silence_db' parameter"),
    ],
)
def test_bad_parameters(params, error, match):
    X = harmonic(150.0, 0.1)[np.newaxis]
    with pytest.raises(error, match=match):
        Prosody(**params).fit(X)
    with pytest.raises(error, match=match):
        Prosody(**params).transform(X)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="NaN/Inf"):
        Prosody().fit_transform(np.full((1, 1000), np.nan))
    with pytest.raises(ValueError, match="Reshape your data"):
        Prosody().fit_transform(np.zeros(1000))


def test_real_ravdess_male_f0_below_female(ravdess_root):
    paths, actors = [], []
    for actor in range(1, 9):
        files = sorted((ravdess_root / f"Actor_{actor:02d}").glob("*.wav"))[:2]
        paths += files
        actors += [actor] * len(files)
    P = Prosody().fit_transform(AudioLoader(trim_db=30).transform(paths))
    med = np.array([np.median(voiced(p, "f0")) for p in P])
    actors = np.array(actors)
    assert np.isfinite(np.concatenate([p.ravel() for p in P])).all()
    male, female = med[actors % 2 == 1], med[actors % 2 == 0]
    assert male.mean() < female.mean() - 40
    assert ((male > 70) & (male < 200)).all() and (
        (female > 130) & (female < 330)
    ).all()
    # speech is voiced in a good part of its frames after the silence trim
    assert all((p[ROWS["f0"]] > 0).mean() > 0.2 for p in P)
