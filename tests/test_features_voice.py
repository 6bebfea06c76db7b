"""VoiceFunctionals on synthetic signals with known pitch, formants and timing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
from sklearn.utils._param_validation import InvalidParameterError

from sersk.features import VoiceFunctionals
from sersk.features._voice import harmonic_peaks, lpc_formants

SR = 16000
NAMES = VoiceFunctionals().get_feature_names_out().tolist()
COL = {name: i for i, name in enumerate(NAMES)}
#: functionals over voiced frames only: 0 when a clip has none
VOICED_ONLY = [
    n
    for n in NAMES
    if n.startswith(("f0st", "jitter", "shimmer", "hnr", "F", "B", "h1"))
    or "_v_" in n
    or n.startswith("vseg")
] + ["voiced_rate", "voiced_frac"]


def harmonic(f0, seconds=1.0, sr=SR, top=5000.0, amp=None):
    """Harmonics of ``f0`` (amplitudes 1/h) up to ``top`` Hz, peak about 0.2."""
    t = np.arange(int(sr * seconds)) / sr
    y = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, int(top / f0) + 1))
    if amp is not None:
        y = y * amp(t)
    return (0.1 * y).astype(np.float32)


def vowel(formants=(700, 1200, 2600), bandwidths=(80, 90, 120), f0=100.0, seconds=1.0):
    """A glottal pulse train filtered by a cascade of two-pole resonators."""
    n = int(SR * seconds)
    x = np.zeros(n)
    x[:: int(round(SR / f0))] = 1.0
    for f, b in zip(formants, bandwidths, strict=True):
        r, theta = np.exp(-np.pi * b / SR), 2 * np.pi * f / SR
        x = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def noise(seconds=1.0, seed=0):
    return (
        0.1 * np.random.default_rng(seed).standard_normal(int(SR * seconds))
    ).astype(np.float32)


def features(y, **params):
    F = VoiceFunctionals(**params).fit_transform(y[np.newaxis])[0]
    return dict(zip(NAMES, F, strict=True))


def test_shape_dtype_names():
    X = np.stack([harmonic(150.0, 0.5), noise(0.5)])
    F = VoiceFunctionals().fit_transform(X)
    assert F.shape == (2, 65) and F.dtype == np.float32
    assert len(NAMES) == len(set(NAMES)) == 65
    assert NAMES[:2] == ["f0st_mean", "f0st_std"] and NAMES[-1] == "leq"
    F64 = VoiceFunctionals().fit_transform(X.astype(np.float64))
    assert F64.dtype == np.float32
    np.testing.assert_allclose(F64, F, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("f0", [110.0, 220.0])
def test_steady_tone_pitch_in_semitones(f0):
    feats = features(harmonic(f0))
    st = 12 * np.log2(f0 / 27.5)
    for name in ("f0st_mean", "f0st_p20", "f0st_p50", "f0st_p80"):
        assert feats[name] == pytest.approx(st, abs=0.05), name
    assert feats["f0st_range"] < 0.05 and feats["f0st_std"] < 0.05
    assert feats["voiced_frac"] > 0.95
    assert feats["hnr_mean"] > 20


def test_vowel_formants():
    feats = features(vowel())
    for name, want in (("F1_mean", 700), ("F2_mean", 1200), ("F3_mean", 2600)):
        assert feats[name] == pytest.approx(want, rel=0.05), name
    for name in ("F1_std", "F2_std", "F3_std"):
        assert feats[name] < 50, name
    assert feats["f0st_mean"] == pytest.approx(12 * np.log2(100 / 27.5), abs=0.1)
    # H1-A3: the first harmonic stands above the harmonics near F3
    assert feats["h1a3_mean"] > 0


def test_spectral_balance_orders_low_and_high_pass_noise():
    y = noise(1.0).astype(np.float64)
    low = scipy.signal.sosfilt(scipy.signal.butter(8, 800, fs=SR, output="sos"), y)
    high = scipy.signal.sosfilt(
        scipy.signal.butter(8, 2500, "highpass", fs=SR, output="sos"), y
    )
    f_low, f_high = features(low.astype(np.float32)), features(high.astype(np.float32))
    assert f_low["voiced_frac"] < 0.2 and f_high["voiced_frac"] < 0.2
    assert f_low["alpha_uv_mean"] > f_high["alpha_uv_mean"] + 20
    assert f_low["hamm_uv_mean"] > f_high["hamm_uv_mean"] + 20
    assert f_low["slope500_1500_uv_mean"] < 0 < f_high["slope500_1500_uv_mean"]


@pytest.mark.parametrize("rising", [True, False])
def test_loudness_slopes_follow_the_envelope(rising):
    amp = (lambda t: 0.05 + t) if rising else (lambda t: 1.05 - t)
    feats = features(harmonic(200.0, 1.0, amp=amp))
    up, down = feats["loud_rise_mean"], feats["loud_fall_mean"]
    # every step follows the envelope but the one into the half-empty edge frame
    assert (up > 2 * down) if rising else (down > 2 * up)
    assert feats["loud_fall_std" if rising else "loud_rise_std"] == 0
    assert min(up, down) > 0


def test_voiced_segments_of_a_gated_tone():
    t = np.arange(2 * SR) / SR
    on = ((t >= 0.2) & (t < 0.5)) | ((t >= 0.8) & (t < 1.1)) | ((t >= 1.4) & (t < 1.7))
    y = harmonic(180.0, 2.0) * on
    feats = features(y.astype(np.float32))
    assert feats["voiced_rate"] == pytest.approx(3 / 2.0)
    # Prosody's 64 ms frames reach up to half a frame beyond each edge
    assert feats["vseg_mean"] == pytest.approx(0.3, abs=0.05)
    assert feats["vseg_std"] < 0.02
    # unvoiced runs: 0.2 s, 0.3 s, 0.3 s, 0.3 s
    assert feats["useg_mean"] == pytest.approx(0.275, abs=0.05)
    assert feats["voiced_frac"] == pytest.approx(3 * feats["vseg_mean"] / 2.0, abs=0.01)
    assert feats["loud_peaks_rate"] >= 1.0


@pytest.mark.parametrize(
    "y",
    [np.zeros(SR, np.float32), noise(1.0), np.zeros(7, np.float32), noise(0.004)],
    ids=["silence", "white-noise", "7-samples", "4-ms-noise"],
)
def test_no_voice_gives_finite_zeros(y):
    feats = features(y)
    assert all(np.isfinite(v) for v in feats.values())
    assert feats["voiced_frac"] < 0.05
    if feats["voiced_frac"] == 0:
        assert all(feats[n] == 0 for n in VOICED_ONLY), [
            n for n in VOICED_ONLY if feats[n] != 0
        ]
    if not y.any():
        assert feats["leq"] == pytest.approx(-120.0)
        assert feats["loud_mean"] == 0 and feats["alpha_uv_mean"] == 0


@pytest.mark.parametrize("sr", [8000, 22050])
def test_other_sampling_rates(sr):
    y = harmonic(200.0, 1.0, sr=sr, top=0.45 * sr)
    F = VoiceFunctionals(sr=sr, hop_length=sr // 100).fit_transform(y[np.newaxis])
    assert np.isfinite(F).all()
    assert F[0, COL["f0st_mean"]] == pytest.approx(12 * np.log2(200 / 27.5), abs=0.05)
    assert F[0, COL["voiced_frac"]] > 0.95


def test_paths_equal_waveforms(write_wav):
    ys = [harmonic(150.0, 0.6), vowel(seconds=0.6)]
    paths = [str(write_wav(f"c{i}.wav", y, subtype="FLOAT")) for i, y in enumerate(ys)]
    est = VoiceFunctionals()
    np.testing.assert_allclose(
        est.fit_transform(paths), est.fit_transform(np.stack(ys)), rtol=1e-5, atol=1e-5
    )


def test_ragged_equals_one_at_a_time_and_n_jobs():
    clips = [harmonic(150.0, 0.7), vowel(seconds=0.4), noise(0.3), harmonic(90.0, 0.4)]
    ragged = np.empty(len(clips), dtype=object)
    ragged[:] = clips
    est = VoiceFunctionals()
    F = est.fit_transform(ragged)
    one = np.concatenate([est.fit_transform(y[np.newaxis]) for y in clips])
    np.testing.assert_allclose(F, one, rtol=1e-5, atol=1e-5)
    same = np.stack([harmonic(150.0, 0.3), vowel(seconds=0.3), noise(0.3)])
    np.testing.assert_allclose(
        VoiceFunctionals(n_jobs=2).fit_transform(same),
        VoiceFunctionals().fit_transform(same),
        rtol=1e-5,
        atol=1e-5,
    )


def _reference_formants(frames, sr, order):
    """The per-frame loop: scipy's Toeplitz solver and np.roots, frame by frame."""
    out = np.full((len(frames), 6), np.nan)
    n = frames.shape[1]
    x = frames * np.hamming(n)
    x = np.concatenate([x[:, :1], x[:, 1:] - 0.97 * x[:, :-1]], axis=1)
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * n)) ** 2)[:, : order + 1]
    for i, r in enumerate(ac):
        if r[0] <= 1e-12:
            continue
        r = r.copy()
        r[0] *= 1.0 + 1e-6
        a = scipy.linalg.solve_toeplitz(r[:order], -r[1 : order + 1])
        roots = np.roots(np.concatenate([[1.0], a]))
        roots = roots[np.imag(roots) > 0]
        f = np.angle(roots) * sr / (2 * np.pi)
        bw = -np.log(np.abs(roots)) * sr / np.pi
        keep = (f > 90) & (f < 5000) & (bw < 600)
        f, bw = f[keep], bw[keep]
        o = np.argsort(f)[:3]
        out[i, : len(o)] = f[o]
        out[i, 3 : 3 + len(o)] = bw[o]
    return out


def test_batched_lpc_equals_per_frame_reference():
    rng = np.random.default_rng(0)
    y = np.concatenate([vowel(seconds=0.2), vowel((500, 1500, 2500), seconds=0.2)])
    starts = rng.integers(0, y.size - 400, 24)
    frames = np.stack([y[s : s + 400] for s in starts]).astype(np.float64)
    frames = np.concatenate([frames, rng.standard_normal((8, 400)), np.zeros((2, 400))])
    got = lpc_formants(frames, SR, 14)
    want = _reference_formants(frames, SR, 14)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[-2:]).all() and np.isfinite(got[:24, :3]).all()
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


def test_vectorised_harmonic_peaks_equal_masked_max():
    rng = np.random.default_rng(1)
    spec = rng.random((40, 2049))
    freqs = np.fft.rfftfreq(4096, 1 / SR)
    centre = rng.uniform(60, 3000, 40)
    centre[3] = np.nan
    half = centre / 4
    got = harmonic_peaks(spec, freqs, centre, half)
    for i in range(40):
        m = (freqs > centre[i] - half[i]) & (freqs < centre[i] + half[i])
        want = spec[i, m].max() if m.any() else np.nan
        np.testing.assert_equal(got[i], want)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"fmin": 300.0, "fmax": 200.0}, ValueError, "fmin < fmax"),
        ({"fmax": 5000.0, "sr": 8000}, ValueError, "Nyquist"),
        ({"sr": 4000}, InvalidParameterError, "'sr' parameter of VoiceFunctionals"),
        ({"hop_length": 0}, InvalidParameterError, "'hop_length' parameter"),
        ({"voicing_threshold": 1.5}, InvalidParameterError, "'voicing_threshold'"),
    ],
)
def test_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        VoiceFunctionals(**params).fit_transform(harmonic(150.0, 0.2)[np.newaxis])


def test_frame_blocks_do_not_change_values(monkeypatch):
    from sersk.features import _voice

    y = np.concatenate([harmonic(150.0, 0.3), noise(0.2), vowel(seconds=0.3)])
    whole = VoiceFunctionals().fit_transform(y[np.newaxis])
    monkeypatch.setattr(_voice, "_BLOCK", 7)  # many blocks, one ending mid-clip
    blocks = VoiceFunctionals().fit_transform(y[np.newaxis])
    np.testing.assert_allclose(blocks, whole, rtol=1e-6, atol=1e-6)


def test_lazy_input_equals_paths(write_wav):
    from sersk.features import AudioLoader

    ys = [harmonic(150.0, 0.5), vowel(seconds=0.5), noise(0.5)]
    paths = [str(write_wav(f"c{i}.wav", y, subtype="FLOAT")) for i, y in enumerate(ys)]
    lazy = AudioLoader(duration=0.5, lazy=True).transform(paths)
    est = VoiceFunctionals()
    np.testing.assert_allclose(
        est.fit_transform(lazy), est.fit_transform(paths), rtol=1e-5, atol=1e-5
    )
