"""Sphinx configuration for the sersk documentation.

Build with warnings as errors (the gallery in ``examples/`` is executed)::

    sphinx-build -W -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import sersk

project = "sersk"
author = "The sersk developers"
copyright = "2026, The sersk developers"
version = sersk.__version__
release = sersk.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc ------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
# Cross-reference types written in docstrings ("ndarray of shape ...") loosely:
# numpydoc_xref_param_type would turn every word into a link target that may not
# exist, which -W turns into errors.
numpydoc_xref_param_type = False

# -- intersphinx (no network in CI: only used when the inventories are cached) --
intersphinx_mapping = {}
if os.environ.get("SERSK_DOCS_INTERSPHINX"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
        "librosa": ("https://librosa.org/doc/latest", None),
    }
# Without intersphinx, references into other projects' docs cannot resolve;
# keep them as plain text instead of failing the -W build.
nitpicky = False

# -- sphinx-gallery --------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "show_memory": False,
    "reference_url": {"sersk": None},
    "doc_module": ("sersk",),
}

# Deep-model examples train on the CPU; keep torch to the two available cores.
os.environ.setdefault("OMP_NUM_THREADS", "2")
warnings.filterwarnings("ignore", category=UserWarning, message=".*non-interactive.*")
warnings.filterwarnings(
    "ignore", category=UserWarning, message="Matplotlib is currently using agg"
)

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sersk {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False
