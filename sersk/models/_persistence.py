"""Saving and loading deep classifiers: :func:`sersk.save_model` / :func:`sersk.load_model`.

Kept so that ``from sersk.models import save_model, load_model`` works; the
one implementation (and the file format) lives in :mod:`sersk._persistence`.
"""

from __future__ import annotations

from .._persistence import load_model, save_model

__all__ = ["load_model", "save_model"]
