"""OpenSmile: real openSMILE computations where the package installs; the error without it."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sersk.features._opensmile import FEATURE_SETS, OpenSmile
from sersk.features._pooling import TimePooling

SR = 16000


def clips(n_clips=3, seconds=0.5, seed=0):
    """Vowel-ish test clips: a harmonic tone per clip plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    out = []
    for i in range(n_clips):
        f0 = 120.0 + 40.0 * i
        y = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 20))
        out.append(0.05 * y + 0.005 * rng.normal(size=t.size))
    return np.asarray(out, dtype=np.float32)


def test_without_the_package_import_works_and_fit_says_how_to_install():
    # a fresh interpreter where ``import opensmile`` fails, as when not installed
    code = textwrap.dedent(
        """
        import sys
        sys.modules["opensmile"] = None
        import numpy as np
        import sersk.features
        from sersk.features._opensmile import OpenSmile
        assert sys.modules["opensmile"] is None
        est = OpenSmile(feature_set="ComParE_2016")  # constructing works
        assert est.get_params()["feature_set"] == "ComParE_2016"
        for call in (est.fit, est.transform, est.fit_transform):
            try:
                call(np.zeros((1, 1600), dtype=np.float32))
            except ImportError as exc:
                assert 'pip install "sersk[opensmile]"' in str(exc), exc
            else:
                raise AssertionError("no ImportError")
        try:
            est.get_feature_names_out()
        except ImportError as exc:
            assert "sersk[opensmile]" in str(exc)
        else:
            raise AssertionError("no ImportError")
        print("ok")
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_import_sersk_features_does_not_import_opensmile():
    code = (
        "import sys, sersk.features, sersk.features._opensmile; "
        "print('opensmile' in sys.modules)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


def test_bad_parameters_need_no_package():
    with pytest.raises(InvalidParameterError, match="'feature_set' parameter of Op"):
        OpenSmile(feature_set="eGeMAPS").fit(clips(1))
    with pytest.raises(InvalidParameterError, match="'feature_level' parameter"):
        OpenSmile(feature_level="frames").fit(clips(1))
    with pytest.raises(InvalidParameterError, match="'sr' parameter of OpenSmile"):
        OpenSmile(sr=0).transform(clips(1))


# ---------------------------------------------------------------------------
# with the package
# ---------------------------------------------------------------------------
def _opensmile():
    return pytest.importorskip("opensmile", reason="opensmile is not installed")


def direct(feature_set, level, y):
    """``opensmile.Smile`` called directly: ``(n_features, n_frames)``."""
    opensmile = _opensmile()
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set],
        feature_level=opensmile.FeatureLevel[
            {"functionals": "Functionals", "lld": "LowLevelDescriptors"}[level]
        ],
    )
    return smile(y[np.newaxis], SR)[0]


@pytest.mark.parametrize(
    "feature_set, n_functionals, n_lld",
    [("eGeMAPSv02", 88, 25), ("ComParE_2016", 6373, 65)],
)
def test_functionals_and_llds_equal_opensmile_called_directly(
    feature_set, n_functionals, n_lld
):
    _opensmile()
    X = clips()
    est = OpenSmile(feature_set=feature_set)
    F = est.fit_transform(X)
    assert F.shape == (3, n_functionals) and F.dtype == np.float32
    assert np.isfinite(F).all()
    names = est.get_feature_names_out()
    assert names.shape == (n_functionals,) and len(set(names)) == n_functionals
    for i in range(3):
        np.testing.assert_allclose(
            F[i], direct(feature_set, "functionals", X[i])[:, 0], rtol=1e-6
        )
    lld = OpenSmile(feature_set=feature_set, feature_level="lld")
    L = lld.fit_transform(X)
    assert L.ndim == 3 and L.shape[:2] == (3, n_lld) and L.dtype == np.float32
    assert np.isfinite(L).all()
    np.testing.assert_allclose(L[1], direct(feature_set, "lld", X[1]), rtol=1e-6)
    assert lld.get_feature_names_out().shape == (n_lld,)


def test_egemaps_names_and_llds_pool_with_timepooling():
    _opensmile()
    X = clips()
    names = OpenSmile().fit(X).get_feature_names_out()
    assert names[0] == "F0semitoneFrom27.5Hz_sma3nz_amean"
    lld = OpenSmile(feature_level="lld")
    assert "Loudness_sma3" in lld.get_feature_names_out()
    pipe = make_pipeline(lld, TimePooling()).fit(X)
    pooled = pipe.transform(X)
    assert pooled.shape == (3, 50) and np.isfinite(pooled).all()
    assert pipe.get_feature_names_out()[0] == "Loudness_sma3_mean"
    # the F0 functional follows the F0 of the tones (120, 160, 200 Hz)
    f0_semitones = OpenSmile().fit_transform(X)[:, 0]
    assert np.all(np.diff(f0_semitones) > 3)


@pytest.mark.parametrize("feature_set", FEATURE_SETS)
def test_every_feature_set_runs(feature_set):
    _opensmile()
    X = clips(1, seconds=0.3)
    F = OpenSmile(feature_set=feature_set).fit_transform(X)
    est = OpenSmile(feature_set=feature_set)
    assert F.shape == (1, len(est.get_feature_names_out())) and np.isfinite(F).all()


def test_paths_ragged_and_short_clips(write_wav):
    _opensmile()
    X = clips(2)
    paths = [write_wav(f"c{i}.wav", y=x, subtype="FLOAT") for i, x in enumerate(X)]
    from_paths = OpenSmile().fit_transform(paths)
    np.testing.assert_allclose(from_paths, OpenSmile().fit_transform(X), rtol=1e-5)
    from sersk.features._loader import AudioLoader

    lazy = AudioLoader(duration=0.5, lazy=True).transform(paths)
    np.testing.assert_allclose(OpenSmile().fit_transform(lazy), from_paths, rtol=1e-6)
    ragged = [X[0], X[1, :4000]]
    F = OpenSmile().fit_transform(ragged)
    assert F.shape == (2, 88)
    L = OpenSmile(feature_level="lld").fit_transform(ragged)
    assert L.dtype == object and L[0].shape[0] == L[1].shape[0] == 25
    assert L[0].shape[1] > L[1].shape[1]
    # clips shorter than openSMILE's window are zero-padded to 0.1 s: defined output
    short = X[:, :100]
    S = OpenSmile().fit_transform(short)
    assert S.shape == (2, 88) and np.isfinite(S).all()
    padded = np.pad(short, ((0, 0), (0, 1500)))
    np.testing.assert_allclose(S, OpenSmile().fit_transform(padded), rtol=1e-6)


def test_out_of_range_samples_are_clipped_not_wrapped():
    _opensmile()
    X = clips(1)
    loud = 4 * X / np.abs(X).max()
    F = OpenSmile().fit_transform(loud)
    np.testing.assert_allclose(
        F, OpenSmile().fit_transform(np.clip(loud, -1, 32767 / 32768)), rtol=1e-6
    )


def test_stateless_clone_pickle_and_input_errors():
    _opensmile()
    X = clips(2)
    est = OpenSmile()
    out = est.transform(X)  # no fit needed
    np.testing.assert_array_equal(est.fit(X).transform(X), out)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X), out)
    assert clone(est).get_params() == est.get_params()
    with pytest.raises(ValueError, match="NaN/Inf"):
        est.transform(np.full((1, 1600), np.nan))
    with pytest.raises(ValueError, match="Reshape your data"):
        est.transform(np.zeros(1600))
