"""Ray as joblib backend (``ray.util.joblib``): the same code as with Dask.

A local Ray (2 CPUs, no dashboard, loopback) is started for this module and
shut down at its end; the work under ``joblib.parallel_config(backend="ray")``
is compared with the same work in this process, on real RAVDESS files.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold

from sersk.datasets import load_ravdess
from sersk.features import AudioLoader, MelSpectrogram, make_classic_features
from sersk.pipelines import make_svm_pipeline

pytestmark = pytest.mark.slow

# float32 spectra of one-thread workers against this process's threads
RTOL, ATOL = 1e-4, 1e-4


@pytest.fixture(scope="module")
def ray_backend():
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    register_ray()
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def corpus(ravdess_root):
    bunch = load_ravdess(root=ravdess_root, speakers=[1, 2, 3, 4])
    keep = np.concatenate(
        [np.flatnonzero(bunch.groups == g)[::6] for g in np.unique(bunch.groups)]
    )
    return (
        [str(p) for p in bunch.data[keep]],
        np.asarray(bunch.target[keep], dtype=str),
        np.asarray(bunch.groups[keep], dtype=str),
    )


def _worker_pids():
    from joblib import Parallel, delayed

    return set(Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(8)))


def test_feature_extraction_on_ray_equals_local(ray_backend, corpus):
    paths, _, _ = corpus
    eager_ref = AudioLoader(duration=1.5).transform(paths)
    ragged_ref = AudioLoader().transform(paths)
    lazy = AudioLoader(duration=1.5, lazy=True).transform(paths)
    mel_ref = MelSpectrogram().transform(lazy)
    classic_ref = make_classic_features(shared_stft=True).transform(lazy)

    with joblib.parallel_config(backend="ray"):
        # the work goes to Ray's worker processes
        assert os.getpid() not in _worker_pids()
        # the eager loader (Ray's backend returns lists, not generators)
        eager = AudioLoader(duration=1.5, n_jobs=2).transform(paths)
        ragged = AudioLoader(n_jobs=2).transform(paths)
        # blocks of paths of a lazy batch, read by the workers
        mel = MelSpectrogram(n_jobs=2).transform(lazy)
        classic = make_classic_features(shared_stft=True, n_jobs=2).transform(lazy)

    np.testing.assert_array_equal(eager, eager_ref)
    for a, b in zip(ragged, ragged_ref, strict=True):
        np.testing.assert_array_equal(a, b)
    assert mel.shape == mel_ref.shape == (len(paths), 128, 47)
    np.testing.assert_allclose(mel, mel_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(classic, classic_ref, rtol=RTOL, atol=ATOL)
    assert not np.allclose(mel[0], mel[1], rtol=RTOL, atol=ATOL)  # same order


def test_grid_search_on_ray_equals_local(ray_backend, corpus):
    paths, y, groups = corpus
    X = np.asarray(paths, dtype=object)
    grid = {"svc__C": [0.3, 3.0]}

    def search():
        return GridSearchCV(
            make_svm_pipeline(duration=1.5), grid, cv=GroupKFold(2), n_jobs=2
        ).fit(X, y, groups=groups)

    local = search()
    with joblib.parallel_config(backend="ray"):
        remote = search()
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_allclose(
            remote.cv_results_[key], local.cv_results_[key], atol=1e-12
        )
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict(X[:5]), local.predict(X[:5]))
