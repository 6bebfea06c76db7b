"""sersk on a Dask cluster (issue 16): feature extraction, cross-validation,
grid search and the CLI's ``--scheduler``, against the same work in one process.

Every test runs on a real ``dask.distributed.LocalCluster`` of two worker
processes listening on 127.0.0.1, started here and closed at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

import joblib
import soundfile as sf
from dask.distributed import Client, LocalCluster

from sersk.cli import main
from sersk.features import AudioLoader, MelSpectrogram, make_classic_features

SR = 16000
EMOTIONS = ("angry", "happy", "neutral", "sad")

# float32 spectra computed with one FFT/BLAS thread per worker against the
# threaded computation of the test process: equal up to float32 rounding
RTOL, ATOL = 1e-4, 1e-4


def _cluster():
    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )


@pytest.fixture(scope="module")
def cluster():
    with _cluster() as cl:
        yield cl


def _write_corpus(root, n_per_emotion, seconds=1.0):
    """A folder corpus ``root/<emotion>/spk<k>_<i>.wav`` of different noisy tones."""
    rng = np.random.default_rng(0)
    t = np.arange(int(SR * seconds)) / SR
    files = []
    for e, emotion in enumerate(EMOTIONS):
        (root / emotion).mkdir(parents=True)
        for i in range(n_per_emotion):
            f0 = 120 + 40 * e + 7 * i
            y = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(t.size)
            path = root / emotion / f"spk{i % 4}_{i:03d}.wav"
            sf.write(path, y.astype(np.float32), SR)
            files.append(path)
    return files


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _only_workers_see(cluster, corpus, tmp_path, monkeypatch):
    """Workers work in ``corpus``; this process elsewhere (relative paths).

    Paths relative to ``corpus`` then exist only for the workers: if this
    process read a file (to send its waveform), it would fail, so a success
    shows that the workers read the files and only paths were sent.
    """
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with Client(cluster) as client:
        cwd = client.run(os.getcwd)
        client.run(os.chdir, str(corpus))
        try:
            with joblib.parallel_config(backend="dask"):
                yield client
        finally:
            for addr, d in cwd.items():
                client.run(os.chdir, d, workers=[addr])


def test_features_on_cluster_equal_local_and_workers_read_the_files(
    cluster, tmp_path, monkeypatch
):
    corpus = tmp_path / "corpus"
    files = _write_corpus(corpus, 6)
    rel = [str(p.relative_to(corpus)) for p in files]
    waves_ref = AudioLoader(duration=1.0).transform([str(p) for p in files])
    mel_ref = MelSpectrogram().transform(waves_ref)

    with _only_workers_see(cluster, corpus, tmp_path, monkeypatch):
        waves = AudioLoader(duration=1.0, n_jobs=2).transform(rel)
        lazy = AudioLoader(duration=1.0, lazy=True).transform(rel)
        mel = MelSpectrogram(n_jobs=2).transform(lazy)
    # the check can fail: here, without the workers, the files are not found
    assert not any(Path(p).exists() for p in rel)
    with pytest.raises(Exception, match="spk0_000"):
        AudioLoader(duration=1.0).transform(rel)
    with pytest.raises(Exception, match="spk0_000"):
        MelSpectrogram(n_jobs=2).transform(lazy)

    # the loader's output is the decoded files themselves: exactly equal
    np.testing.assert_array_equal(waves, waves_ref)
    assert mel.shape == mel_ref.shape == (24, 128, 32)
    np.testing.assert_allclose(mel, mel_ref, rtol=RTOL, atol=ATOL)
    # same order: each clip's row is its own (clips differ from each other)
    assert not np.allclose(mel[0], mel[1], rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_classic_features_on_cluster_equal_local(cluster, tmp_path, monkeypatch):
    from sersk.pipelines import make_svm_pipeline

    corpus = tmp_path / "corpus"
    files = _write_corpus(corpus, 6)
    rel = [str(p.relative_to(corpus)) for p in files]
    waves_ref = AudioLoader(duration=1.0).transform([str(p) for p in files])
    classic_ref = make_classic_features().transform(waves_ref)
    shared_ref = make_classic_features(shared_stft=True).transform(waves_ref)
    svm_front = make_svm_pipeline(duration=1.0)[:-2]
    svm_ref = svm_front.transform([str(p) for p in files])

    with _only_workers_see(cluster, corpus, tmp_path, monkeypatch):
        lazy = AudioLoader(duration=1.0, lazy=True).transform(rel)
        classic = make_classic_features(n_jobs=2).transform(lazy)
        shared = make_classic_features(shared_stft=True, n_jobs=2).transform(lazy)
        # the svm pipeline's loader (n_jobs=2) reads the files on the workers
        svm = make_svm_pipeline(duration=1.0, n_jobs=2)[:-2].transform(rel)

    assert classic.shape == classic_ref.shape == (24, 378)
    np.testing.assert_allclose(classic, classic_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(shared, shared_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(svm, svm_ref, rtol=RTOL, atol=ATOL)


def test_lazy_blocks_run_on_both_workers(cluster, tmp_path):
    files = [str(p) for p in _write_corpus(tmp_path / "corpus", 40, seconds=0.5)]
    lazy = AudioLoader(duration=0.5, lazy=True).transform(files)
    with Client(cluster) as client:
        before = client.run(_n_tasks_executed)
        with joblib.parallel_config(backend="dask"):
            mel = MelSpectrogram(n_jobs=-1).transform(lazy)
        after = client.run(_n_tasks_executed)
    np.testing.assert_allclose(
        mel, MelSpectrogram().transform(np.asarray(lazy)), rtol=RTOL, atol=ATOL
    )
    # 160 clips are three blocks of paths at least: both workers got some
    ran = {addr: after[addr] - before[addr] for addr in after}
    assert len(ran) == 2 and all(n >= 1 for n in ran.values()), ran


def _n_tasks_executed(dask_worker):
    return dask_worker.state.executed_count


def _speech(n=48):
    from sersk.datasets import make_emotional_speech

    X, y, groups = make_emotional_speech(
        n, sr=SR, duration=1.0, n_speakers=4, random_state=0
    )
    return np.asarray(X, dtype=np.float32), np.asarray(y), np.asarray(groups)


def test_evaluate_and_grid_search_on_cluster_equal_local(cluster):
    from sklearn.model_selection import GridSearchCV, GroupKFold

    from sersk.evaluation import evaluate
    from sersk.pipelines import make_svm_pipeline

    X, y, groups = _speech()
    pipe = make_svm_pipeline(sr=SR, duration=1.0, from_waveforms=True)
    local = evaluate(pipe, X, y, groups=groups, cv=2)
    grid = {"svc__C": [0.1, 10.0]}
    gs_local = GridSearchCV(pipe, grid, cv=GroupKFold(2)).fit(X, y, groups=groups)
    with Client(cluster) as client:
        before = client.run(_n_tasks_executed)
        with joblib.parallel_config(backend="dask"):
            remote = evaluate(pipe, X, y, groups=groups, cv=2, n_jobs=2)
            gs = GridSearchCV(pipe, grid, cv=GroupKFold(2), n_jobs=2)
            gs.fit(X, y, groups=groups)
        after = client.run(_n_tasks_executed)
    assert sum(after.values()) > sum(before.values())  # the folds were tasks

    cols = ["fold", "n_train", "n_test", "accuracy", "uar", "macro_f1"]
    np.testing.assert_allclose(
        remote.folds[cols[1:]].to_numpy(float), local.folds[cols[1:]].to_numpy(float)
    )
    assert list(remote.folds["test_speakers"]) == list(local.folds["test_speakers"])
    np.testing.assert_array_equal(remote.y_pred, local.y_pred)
    # speaker-independent folds: no speaker in training and test data
    assert remote.leaking_folds == []
    tested = [set(s.split(",")) for s in remote.folds["test_speakers"]]
    assert tested[0] and tested[1] and not tested[0] & tested[1]

    np.testing.assert_allclose(
        gs.cv_results_["mean_test_score"], gs_local.cv_results_["mean_test_score"]
    )
    for k in range(2):
        key = f"split{k}_test_score"
        np.testing.assert_allclose(gs.cv_results_[key], gs_local.cv_results_[key])
    assert gs.best_params_ == gs_local.best_params_
    for train, test in GroupKFold(2).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])


def _cli(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_features_scheduler_folder_corpus(cluster, tmp_path, capsys):
    # the workers read the corpus' files (lazy slices of paths are sent)
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, 6)
    data = ["--corpus", "folder", "--root", str(corpus), "-q"]
    data += ["--speaker-pattern", r"^(spk\d)_"]
    sched = ["--scheduler", cluster.scheduler_address]

    for kind in ("classic", "logmel"):
        a, b = tmp_path / f"{kind}_a.npz", tmp_path / f"{kind}_b.npz"
        feat = ["features", *data, "--kind", kind, "--duration", "1"]
        assert _cli([*feat, "--out", str(a)], capsys)[0] == 0
        assert _cli([*feat, "--out", str(b), *sched], capsys)[0] == 0
        with np.load(a) as fa, np.load(b) as fb:
            assert fa["X"].shape[0] == 24
            np.testing.assert_allclose(fb["X"], fa["X"], rtol=RTOL, atol=ATOL)
            for key in ("y", "groups", "feature_names"):
                np.testing.assert_array_equal(fb[key], fa[key])


def test_cli_scheduler_gives_the_same_output(cluster, tmp_path, capsys):
    sched = ["--scheduler", cluster.scheduler_address]
    syn = ["--corpus", "synthetic", "--n-samples", "32", "--n-speakers", "4", "-q"]
    a, b = tmp_path / "syn_a.npz", tmp_path / "syn_b.npz"
    assert _cli(["features", *syn, "--out", str(a)], capsys)[0] == 0
    assert _cli(["features", *syn, "--out", str(b), *sched], capsys)[0] == 0
    with np.load(a) as fa, np.load(b) as fb:
        np.testing.assert_allclose(fb["X"], fa["X"], rtol=RTOL, atol=ATOL)

    ev = ["evaluate", *syn, "--model", "svm", "--folds", "2"]
    rc, local, _ = _cli(ev, capsys)
    assert rc == 0
    rc, remote, _ = _cli([*ev, *sched], capsys)
    assert rc == 0
    assert "speaker-independent 2-fold CV" in remote
    assert _table_rows(remote) == _table_rows(local)


def _table_rows(report):
    """The report's lines, without the table columns of measured times."""
    lines, out, drop = report.splitlines(), [], set()
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            out.append(line)
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if set("".join(cells)) <= set("-: "):  # the separator under a header
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt.startswith("|") and set(nxt) <= set("|-: "):  # a header
            drop = {k for k, c in enumerate(cells) if "time" in c.lower()}
        if "time" not in cells[0].lower():  # summary rows fit_time, predict_time
            out.append([c for k, c in enumerate(cells) if k not in drop])
    return out


def test_cli_unreachable_scheduler(tmp_path, capsys):
    out = tmp_path / "f.npz"
    address = f"tcp://127.0.0.1:{_free_port()}"
    syn = ["--corpus", "synthetic", "--n-samples", "16", "-q", "--scheduler", address]
    rc, _, err = _cli(["features", *syn, "--out", str(out)], capsys)
    assert rc == 1
    assert "cannot reach the Dask scheduler" in err and address in err
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def _tasks_done(dask_scheduler):
    # tasks that finished (results in memory, or already handed back)
    return sum(
        tp.states.get("memory", 0)
        + tp.states.get("released", 0)
        + tp.states.get("forgotten", 0)
        for tp in dask_scheduler.task_prefixes.values()
    )


@pytest.mark.slow
def test_killed_worker_during_cli_features(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, 60, seconds=2.0)
    out = tmp_path / "feat.npz"
    ref = tmp_path / "ref.npz"
    data = ["--corpus", "folder", "--root", str(corpus), "-q", "--duration", "2"]
    assert _cli(["features", *data, "--out", str(ref)], capsys)[0] == 0

    with _cluster() as cluster, Client(cluster) as client:
        argv = [sys.executable, "-m", "sersk", "features", *data, "--out", str(out)]
        argv += ["--scheduler", cluster.scheduler_address]
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        # kill a worker once the extraction has really started
        deadline = time.monotonic() + 120
        while client.run_on_scheduler(_tasks_done) < 2:
            assert proc.poll() is None, "finished before a worker could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert proc.poll() is None
        assert not out.exists()  # nothing written while the work runs
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
        after = client.run(os.getpid)
    assert pids[victim] not in after.values()  # the worker did die
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".feat")]
    assert leftovers == []
    print("sersk features after the kill: exit", proc.returncode, err[-500:])
    if proc.returncode == 0:  # Dask recomputed the lost blocks
        with np.load(out) as fo, np.load(ref) as fr:
            np.testing.assert_allclose(fo["X"], fr["X"], rtol=RTOL, atol=ATOL)
            np.testing.assert_array_equal(fo["y"], fr["y"])
    else:  # or the command failed clearly, and wrote nothing
        assert proc.returncode == 1 and "sersk features: error" in err, err
        assert not out.exists()


@pytest.mark.slow
def test_killed_worker_during_feature_extraction(tmp_path):
    files = [str(p) for p in _write_corpus(tmp_path / "corpus", 60, seconds=2.0)]
    lazy = AudioLoader(duration=2.0, lazy=True).transform(files)
    ref = make_classic_features(shared_stft=True).transform(np.asarray(lazy))
    with _cluster() as cluster, Client(cluster) as client:
        result = {}

        def work():
            with joblib.parallel_config(backend="dask"):
                try:
                    result["X"] = make_classic_features(
                        shared_stft=True, n_jobs=-1
                    ).transform(lazy)
                except Exception as exc:  # reported below
                    result["error"] = exc

        thread = threading.Thread(target=work)
        thread.start()
        deadline = time.monotonic() + 120
        while client.run_on_scheduler(_tasks_done) < 2:
            assert thread.is_alive(), "finished before a worker could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(300)
        assert not thread.is_alive()
        assert pids[victim] not in client.run(os.getpid).values()
    print("after the kill:", result.get("error", "completed"))
    if "error" in result:
        assert "worker" in str(result["error"]).lower()
    else:
        np.testing.assert_allclose(result["X"], ref, rtol=RTOL, atol=ATOL)


def test_cli_scheduler_without_dask_installed(tmp_path):
    # a Python where dask cannot be imported (None in sys.modules makes
    # ``import dask`` raise ImportError), in a fresh process
    out = tmp_path / "f.npz"
    code = (
        "import sys; sys.modules['dask'] = sys.modules['distributed'] = None; "
        "from sersk.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = ["features", "--corpus", "synthetic", "--n-samples", "16", "-q"]
    argv += ["--out", str(out), "--scheduler", "tcp://127.0.0.1:8786"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1, proc.stderr
    assert "pip install 'sersk[distributed]'" in proc.stderr
    assert not out.exists()
