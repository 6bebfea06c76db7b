"""Corpus loaders, label harmonisation and synthetic emotional speech.

Loaders return a :class:`~sklearn.utils.Bunch` of file paths, emotion labels,
speaker groups and a metadata DataFrame; audio is read later by
:class:`~sersk.features.AudioLoader`, so splitting and grid search stay cheap.
"""

# --- corpus loaders (owned by the datasets work) ---

# --- synthetic speech (owned by the synthetic-speech work) ---

__all__: list[str] = []
