"""Corpus folders and files that cannot be read are reported, never skipped
without a word (issue 15 item 5).

Permissions do not bind root, so when the tests run as root the loader runs
in a child process as the unprivileged user ``nobody``; elsewhere it runs
in-process. Broken and looping links fail for every user and are tested
directly.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sersk.datasets import load_ravdess

ROOT = Path(__file__).resolve().parents[1]


def _ravdess_tree(base: Path, actors=(1, 2, 3), per_actor=4) -> Path:
    """A RAVDESS-like folder of real WAV files: Actor_XX/03-01-EE-01-01-01-XX.wav."""
    root = base / "ravdess"
    rng = np.random.default_rng(0)
    for actor in actors:
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for emotion in range(1, per_actor + 1):
            name = f"03-01-{emotion:02d}-01-01-01-{actor:02d}.wav"
            sf.write(folder / name, 0.1 * rng.standard_normal(1600), 16000)
    return root


def test_broken_link_is_reported_by_policy(tmp_path):
    root = _ravdess_tree(tmp_path)
    (root / "Actor_04").symlink_to(tmp_path / "moved-away")
    with pytest.raises(OSError, match=r"Actor_04 \(broken symbolic link\)"):
        load_ravdess(root=root)
    with pytest.warns(UserWarning, match="could not be read"):
        ds = load_ravdess(root=root, on_invalid="warn")
    assert len(ds.data) == 12
    ds = load_ravdess(root=root, on_invalid="skip")
    assert len(ds.data) == 12


def test_link_loop_is_reported(tmp_path):
    root = _ravdess_tree(tmp_path)
    (root / "loop").symlink_to(root / "loop")
    with pytest.raises(OSError, match="could not be read") as exc:
        load_ravdess(root=root)
    assert "loop (" in str(exc.value)
    # a link back to a folder already walked is no error: its files are loaded once
    (root / "loop").unlink()
    (root / "Actor_01" / "again").symlink_to(root)
    assert len(load_ravdess(root=root).data) == 12


@pytest.fixture
def shared_tree():
    """A tree any user can walk (pytest's tmp dirs are private to their owner)."""
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="sersk-unreadable-"))
    base.chmod(0o755)
    root = _ravdess_tree(base)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        yield root
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(base)


_CHILD = textwrap.dedent(
    """
    import os, sys, warnings
    sys.path.insert(0, {repo!r})
    from sersk.datasets import load_ravdess
    root, policy, warm = sys.argv[1:4]
    load_ravdess(root=warm)  # every lazy import done while still privileged
    if os.geteuid() == 0:  # drop to nobody: permissions bind from here on
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = load_ravdess(root=root, on_invalid=policy)
        except OSError as exc:
            print("ERROR", exc)
            sys.exit(3)
    print("LOADED", len(ds.data))
    for w in caught:
        print("WARNING", w.message)
    """
)


def _load_as_unprivileged(root, policy):
    """(returncode, output) of load_ravdess run by a user without privileges."""
    warm = _ravdess_tree(root.parent / f"warm-{policy}", actors=(1,), per_actor=1)
    code = _CHILD.format(repo=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root), policy, str(warm)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    shutil.rmtree(warm.parent)
    return proc.returncode, proc.stdout + proc.stderr


def test_unreadable_folder_and_file_are_reported(shared_tree):
    (shared_tree / "Actor_02").chmod(0o000)
    locked = shared_tree / "Actor_03" / "03-01-01-01-01-01-03.wav"
    locked.chmod(0o000)
    rc, out = _load_as_unprivileged(shared_tree, "raise")
    assert rc == 3, out
    assert "2 folder(s) or file(s)" in out and "permission denied" in out
    assert "Actor_02 (permission denied)" in out
    assert "03-01-01-01-01-01-03.wav (permission denied)" in out
    rc, out = _load_as_unprivileged(shared_tree, "warn")
    assert rc == 0, out
    # 4 of Actor_01, 3 of Actor_03: the rest is loaded, with a warning
    assert "LOADED 7" in out and "WARNING" in out and "could not be read" in out
    rc, out = _load_as_unprivileged(shared_tree, "skip")
    assert rc == 0 and "LOADED 7" in out and "WARNING" not in out, out
    # readable again: everything loads without a word
    (shared_tree / "Actor_02").chmod(0o755)
    locked.chmod(0o644)
    rc, out = _load_as_unprivileged(shared_tree, "raise")
    assert rc == 0 and "LOADED 12" in out and "WARNING" not in out, out


def test_cli_on_invalid_choice_reaches_the_loader(tmp_path, capsys):
    from sersk.cli import main

    root = _ravdess_tree(tmp_path)
    (root / "Actor_04").symlink_to(tmp_path / "moved-away")
    (root / "Actor_01" / "notes-01.wav").write_bytes(b"")  # a misnamed audio file
    out = tmp_path / "f.npz"
    argv = ["features", "--corpus", "ravdess", "--root", str(root), "--kind", "classic"]
    argv += ["-q", "--out", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "could not be read" in err and "on_invalid='warn'" in err
    assert not out.exists()
    with pytest.warns(UserWarning, match="could not be read"):
        assert main([*argv, "--on-invalid", "warn"]) == 0
    assert np.load(out)["X"].shape[0] == 12
    out.unlink()
    assert main([*argv, "--on-invalid", "skip"]) == 0
    assert np.load(out)["X"].shape[0] == 12


def test_cli_predict_on_a_folder_follows_on_invalid(tmp_path, capsys):
    from sersk.cli import main

    model = tmp_path / "m.sersk"
    argv = ["train", "--corpus", "synthetic", "--n-samples", "24", "--n-speakers"]
    argv += ["2", "--model", "svm", "--duration", "0.5", "-q", "--out", str(model)]
    assert main(argv) == 0
    folder = tmp_path / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a.wav", "c.wav"):
        sf.write(folder / name, 0.1 * rng.standard_normal(8000), 16000)
    (folder / "b.wav").write_bytes(b"RIFF, but not audio")  # undecodable
    sf.write(folder / "d.wav", np.zeros(0), 16000)  # no samples at all
    out = tmp_path / "p.csv"
    base = ["predict", str(model), str(folder), "--format", "csv", "-q"]
    assert main([*base, "--output", str(out)]) == 1
    assert "b.wav" in capsys.readouterr().err and not out.exists()
    assert main([*base, "--output", str(out), "--on-invalid", "warn"]) == 0
    err = capsys.readouterr().err
    assert "2 file(s) left out" in err and "b.wav" in err and "d.wav" in err
    rows = out.read_text().splitlines()[1:]
    assert [r.split(",")[0].rsplit("/", 1)[-1] for r in rows] == ["a.wav", "c.wav"]
    out.unlink()
    assert main([*base, "--output", str(out), "--on-invalid", "skip"]) == 0
    assert "left out" not in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 3
    # nothing readable at all: an error, no output
    (folder / "a.wav").unlink()
    (folder / "c.wav").unlink()
    out.unlink()
    assert main([*base, "--output", str(out), "--on-invalid", "skip"]) == 1
    assert "none of the 2 input file(s)" in capsys.readouterr().err
    assert not out.exists()
