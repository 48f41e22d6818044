"""Sphinx configuration of fastmlp's documentation site.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` (the ``[docs]``
extra installs what it needs); the gallery's examples run during the build.
"""

import os
import re
import warnings

import fastmlp

project = "fastmlp"
author = "The fastmlp developers"
copyright = "2026, The fastmlp developers"
release = version = fastmlp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "auto_examples/*.codeobj.json"]
templates_path = ["_templates"]

# The pages' Markdown: "#anchor" links to headings of the same page, fenced code
# with a language, and no MathJax (the site loads nothing from other hosts).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# One API page per public name, from its numpydoc docstring.
autosummary_generate = True
autodoc_default_options = {"inherited-members": True}
numpydoc_show_class_members = True
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

html_theme = "pydata_sphinx_theme"
html_title = f"fastmlp {release}"
html_static_path = ["_static"]
html_logo = "_static/logo.svg"
html_favicon = "_static/logo.svg"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False

# The examples run as the site is built (every one, on every build); their
# figures are drawn by matplotlib without a screen.
os.environ.setdefault("MPLBACKEND", "Agg")
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    # "Gallery examples using X" on each API page (the minigallery directive)
    "backreferences_dir": "api/generated/backreferences",
    "doc_module": ("fastmlp",),
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "plot_gallery": "True",
}

# Matplotlib's "non-interactive backend" notice for plt.show() under Agg.
warnings.filterwarnings("ignore", message=".*non-interactive.*", category=UserWarning)


# Methods inherited from scikit-learn (score, get_params, the metadata-routing
# set_*_request) carry cross-references into scikit-learn's own user guide and
# glossary, which this site does not have: they become links to scikit-learn's
# site, or plain text.
_SKLEARN_DOCS = "https://scikit-learn.org/stable/"
_SKLEARN_PAGES = {"metadata_routing": "metadata_routing.html",
                  "accuracy_score": "modules/model_evaluation.html#accuracy-score",
                  "r2_score": "modules/model_evaluation.html#r2-score"}
_REF = re.compile(r":ref:`(?:([^`<]*?)\s*<)?([^`>]+)>?`")
_TERM = re.compile(r":term:`(?:([^`<]*?)\s*<)?([^`>]+)>?`")


def _link_sklearn_refs(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", "") or ""
    if not module.startswith("sklearn"):
        return

    def ref(match):
        text, label = match.group(1) or match.group(2), match.group(2)
        page = _SKLEARN_PAGES.get(label)
        return f"`{text} <{_SKLEARN_DOCS}{page}>`__" if page else text

    def term(match):
        return match.group(1) or match.group(2)

    lines[:] = [_TERM.sub(term, _REF.sub(ref, line)) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _link_sklearn_refs)
