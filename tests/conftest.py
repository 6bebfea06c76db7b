"""Shared fixtures: seeding, real WAV files in tmp dirs, the shared RAVDESS copy."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RAVDESS_ROOT = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess"
)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        has_cuda = False
    skip_gpu = pytest.mark.skip(
        reason="needs a CUDA device (torch.cuda.is_available() is False)"
    )
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seed Python, numpy and (when imported) torch before every test."""
    random.seed(0)
    np.random.seed(0)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)
    yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a test module of tiny networks: faster
    than several, and immune to CPU contention; restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def write_wav(tmp_path):
    """Factory writing a real WAV file and returning its path.

    ``write_wav(name, y=None, sr=16000, seconds=0.5, freq=220.0, subtype="PCM_16")``
    writes ``y`` (or a sine tone) to ``tmp_path / name``.
    """

    def _write(
        name="clip.wav", y=None, sr=16000, seconds=0.5, freq=220.0, subtype="PCM_16"
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if y is None:
            t = np.arange(int(sr * seconds)) / sr
            y = 0.3 * np.sin(2 * np.pi * freq * t)
        sf.write(path, np.asarray(y), sr, subtype=subtype)
        return path

    return _write


@pytest.fixture(scope="session")
def ravdess_root():
    """Root of the shared RAVDESS copy (``SERSK_RAVDESS`` overrides); skips when absent."""
    root = Path(os.environ.get("SERSK_RAVDESS", RAVDESS_ROOT))
    if not (root / "Actor_01").is_dir():
        pytest.skip(f"RAVDESS not found at {root}; set SERSK_RAVDESS to run this test")
    return root
