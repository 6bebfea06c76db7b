"""
A real corpus: RAVDESS
======================

This example runs on the RAVDESS speech corpus (1,440 files, 24 actors, 8
emotions) when it is available locally, and otherwise explains how to get it.
It looks for ``$SERSK_DATA/ravdess`` (see
:func:`~sersk.datasets.get_data_home`); to get the corpus run
``sersk.datasets.fetch_ravdess()`` (about 200 MB from Zenodo, record 1188976)
or download ``Audio_Speech_Actors_01-24.zip`` by hand and unzip it there, so
that ``ravdess/Actor_01/03-01-01-01-01-01-01.wav`` exists.

With the corpus, it cross-validates the classic SVM baseline by actor on
eight actors (to stay fast), and prints the report. The full benchmark is on
the :doc:`/benchmarks` page.
"""

# %%
import os
from pathlib import Path

from sersk.datasets import get_data_home

root = Path(get_data_home()) / "ravdess"
available = bool(os.environ.get("SERSK_DATA")) and (root / "Actor_01").is_dir()
if not available:
    print(
        f"RAVDESS not found at {root}.\n"
        "Set SERSK_DATA to the folder that holds ravdess/, or run\n"
        "    from sersk.datasets import fetch_ravdess; fetch_ravdess()\n"
        "to download it (CC BY-NC-SA 4.0), then run this example again."
    )

# %%
# Load eight actors (four female, four male) and evaluate the SVM baseline
# with ``GroupKFold(4)`` by actor: every fold tests on two unseen actors.
if available:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from sersk.datasets import load_ravdess
    from sersk.evaluation import evaluate
    from sersk.features import AudioLoader, make_classic_features

    ds = load_ravdess(root=root, speakers=list(range(1, 9)))
    print(ds.frame.groupby("emotion").size())
    pipe = make_pipeline(
        AudioLoader(sr=16000, duration=3.0, n_jobs=2),
        make_classic_features(sr=16000),
        StandardScaler(),
        SVC(C=10),
    )
    result = evaluate(pipe, ds.data, ds.target, groups=ds.groups, cv=4)
    print(result.to_markdown(title="SVM on 8 RAVDESS actors"))
    result.plot_confusion_matrix()
