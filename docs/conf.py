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
autodoc_default_options = {}
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


# -- the benchmark results page ---------------------------------------------------
# ``benchmarks/bench_accuracy.py`` writes ``docs/results.md`` (Markdown). Sphinx
# here has no Markdown parser, so the ``sersk-results`` directive converts the
# subset that page uses (headings, pipe tables, bullets, paragraphs, **bold**
# and `code`) to reStructuredText. A ``docs/results.rst`` is linked instead.
import re

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

DOCS = Path(__file__).resolve().parent
exclude_patterns.append("results.md")


def _md_inline(text):
    out = []
    for piece in re.split(r"(\*\*[^*]+\*\*|\*[^*\s][^*]*\*|`[^`]+`)", text):
        if piece.startswith("**") and piece.endswith("**") and len(piece) > 4:
            out.append(r"\ **" + _md_escape(piece[2:-2]) + r"**\ ")
        elif piece.startswith("*") and piece.endswith("*") and len(piece) > 2:
            out.append(r"\ *" + _md_escape(piece[1:-1]) + r"*\ ")
        elif piece.startswith("`") and piece.endswith("`") and len(piece) > 2:
            out.append(r"\ ``" + piece[1:-1].replace("``", "` `") + r"``\ ")
        else:
            out.append(_md_escape(piece))
    return "".join(out).strip() or r"\ "


def _md_escape(text):
    for char in "\\*`_|":
        text = text.replace(char, "\\" + char)
    return text


def _md_table(rows):
    def cells(line):
        line = line.strip()
        if line.startswith("|"):
            line = line[1:]
        if line.endswith("|") and not line.endswith("\\|"):
            line = line[:-1]
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]

    parsed = [cells(r) for r in rows if not re.fullmatch(r"[\s|:\-]+", r)]
    width = max(len(r) for r in parsed)
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in parsed:
        row = row + [""] * (width - len(row))
        for i, cell in enumerate(row):
            out.append(("   * - " if i == 0 else "     - ") + _md_inline(cell))
    return out + [""]


def markdown_to_rst(text):
    """Convert the simple Markdown of the results page to reStructuredText."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("|"):
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i])
                i += 1
            out += [""] + _md_table(block)
            continue
        if stripped.startswith("#"):
            out += ["", ".. rubric:: " + _md_inline(stripped.lstrip("#").strip()), ""]
        elif re.match(r"[-*+] ", stripped):
            out.append("- " + _md_inline(stripped[2:]))
        elif stripped.startswith("```"):
            i += 1
            block = []
            while i < len(lines) and not lines[i].strip().startswith("```"):
                block.append("   " + lines[i])
                i += 1
            out += ["", "::", ""] + block + [""]
        elif not stripped:
            out.append("")
        else:
            out.append(_md_inline(stripped))
        i += 1
    return "\n".join(out) + "\n"


class SerskResults(Directive):
    has_content = False

    def run(self):
        md = DOCS / "results.md"
        if (DOCS / "results.rst").exists():
            rst = ".. toctree::\n   :maxdepth: 1\n\n   results\n"
        elif md.exists():
            self.state.document.settings.record_dependencies.add(str(md))
            rst = markdown_to_rst(md.read_text(encoding="utf-8"))
        else:
            rst = (
                "No results yet: run ``benchmarks/bench_accuracy.py`` to write "
                "``docs/results.md``.\n"
            )
        node = nodes.container()
        self.state.nested_parse(StringList(rst.splitlines(), str(md)), 0, node)
        return node.children


_SKLEARN_REF = re.compile(r":ref:`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    """Methods that sersk classes inherit from scikit-learn (a Pipeline's
    predict, say) keep scikit-learn's docstrings, which link labels of its
    own user guide; without its inventory they cannot resolve, so they stay
    as plain text."""
    if not str(getattr(obj, "__module__", "") or "").startswith("sklearn"):
        return
    for i, line in enumerate(lines):
        lines[i] = _SKLEARN_REF.sub(
            lambda m: m.group(1).strip().replace("_", " ") or "the user guide", line
        )


def setup(app):
    app.add_directive("sersk-results", SerskResults)
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)
