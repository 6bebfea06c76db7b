"""Corpus loaders, label harmonisation and synthetic emotional speech.

Loaders return a :class:`~sklearn.utils.Bunch` of file paths, emotion labels,
speaker groups and a metadata DataFrame; audio is read later by
:class:`~sersk.features.AudioLoader`, so splitting and grid search stay cheap.
"""

# --- corpus loaders (owned by the datasets work) ---
from ._base import AUDIO_EXTENSIONS, EMOTIONS, get_data_home, harmonize_label
from ._combined import CORPORA, load_corpora
from ._crema_d import load_crema_d
from ._download import ARCHIVES, RemoteArchive, download_archive
from ._emodb import fetch_emodb, load_emodb
from ._folder import load_folder
from ._ravdess import fetch_ravdess, load_ravdess
from ._savee import load_savee
from ._tess import load_tess

__all__ = [
    "ARCHIVES",
    "AUDIO_EXTENSIONS",
    "CORPORA",
    "EMOTIONS",
    "RemoteArchive",
    "download_archive",
    "fetch_emodb",
    "fetch_ravdess",
    "get_data_home",
    "harmonize_label",
    "load_corpora",
    "load_crema_d",
    "load_emodb",
    "load_folder",
    "load_ravdess",
    "load_savee",
    "load_tess",
]

# --- synthetic speech (owned by the synthetic-speech work) ---
from ._synthetic import make_emotional_speech

__all__ += ["make_emotional_speech"]
