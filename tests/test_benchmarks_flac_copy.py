"""benchmarks/flac_copy.py: a lossless FLAC copy that load_ravdess reads as the WAVs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sersk.datasets import load_ravdess

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "flac_copy.py"
spec = importlib.util.spec_from_file_location("flac_copy", SCRIPT)
flac_copy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(flac_copy)


def _ravdess_wavs(root):
    rng = np.random.default_rng(0)
    for actor in (1, 2):
        for emotion in range(1, 9):
            name = f"03-01-{emotion:02d}-01-01-01-{actor:02d}.wav"
            path = root / f"Actor_{actor:02d}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            clip = rng.normal(0, 0.1, 4000 + 500 * emotion).clip(-1, 1)
            sf.write(path, clip, 16000, subtype="PCM_16")
    return root


def test_copy_is_lossless_and_loads_as_the_wavs(tmp_path):
    src = _ravdess_wavs(tmp_path / "wav")
    dst = tmp_path / "flac"
    assert flac_copy.flac_copy(src, dst) == 16
    wav, flac = load_ravdess(root=src), load_ravdess(root=dst)
    assert all(p.endswith(".flac") for p in flac.data)
    np.testing.assert_array_equal(flac.target, wav.target)
    np.testing.assert_array_equal(flac.groups, wav.groups)
    for a, b in zip(wav.data, flac.data, strict=True):
        # exact: FLAC stores the 16-bit samples themselves
        np.testing.assert_array_equal(sf.read(b)[0], sf.read(a)[0])
    assert sum(p.stat().st_size for p in dst.rglob("*")) < sum(
        p.stat().st_size for p in src.rglob("*")
    )


def test_refuses_to_overwrite_and_lossy_sources(tmp_path):
    src = _ravdess_wavs(tmp_path / "wav")
    dst = tmp_path / "flac"
    flac_copy.flac_copy(src, dst)
    before = sorted((p, p.stat().st_mtime_ns) for p in dst.rglob("*.flac"))
    with pytest.raises(SystemExit, match="exists; choose an empty destination"):
        flac_copy.flac_copy(src, dst)
    assert sorted((p, p.stat().st_mtime_ns) for p in dst.rglob("*.flac")) == before
    floats = tmp_path / "float"
    floats.mkdir()
    sf.write(floats / "a.wav", np.zeros(800), 16000, subtype="FLOAT")
    with pytest.raises(SystemExit, match="FLOAT; FLAC holds 16- or 24-bit PCM"):
        flac_copy.flac_copy(floats, tmp_path / "out")
    with pytest.raises(SystemExit, match="no .wav files below"):
        flac_copy.flac_copy(tmp_path / "out", tmp_path / "out2")
