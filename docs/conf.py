"""Sphinx configuration for Anymail's documentation site (``hatch run docs:build``).

Some pages are generated here, from the installed packages, each time the site is
built (into ``docs/esps/`` and ``docs/reference/``, which git ignores): the feature matrix and the
settings reference (from each ESP's declaration), one page per ESP (its package
README) and "The conformance suite" (its README). So they can't drift from the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import django
from django.conf import settings

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
SOURCE_URL = "https://github.com/anymail/anymail/tree/main"

sys.path.insert(0, str(DOCS))

# autodoc imports Anymail's modules, and some of them read Django settings.
if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "anymail"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
    )
    django.setup()

from generate import generate_all  # noqa: E402

generate_all(DOCS, SOURCE_URL)

project = "Anymail"
author = "Anymail contributors"
copyright = "Anymail contributors"
release = re.search(
    r'^version = "([^"]+)"',
    (REPO / "packages" / "anymail-base" / "pyproject.toml").read_text(),
    re.MULTILINE,
).group(1)  # type: ignore[union-attr]

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
# architecture.md is also read on GitHub: the site shows the generated copy, whose
# links to the rest of the repository are absolute.
exclude_patterns = ["_build", "architecture.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# Package READMEs are written for GitHub, whose pages may skip heading levels.
suppress_warnings = ["myst.header"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "alabaster"
html_title = "Anymail"
html_static_path = ["_static"]
# wide tables scroll within the content column (the feature matrix has a column per ESP)
html_css_files = ["anymail.css"]
html_theme_options = {"page_width": "1180px", "sidebar_width": "230px"}

# Docstrings name setting prefixes such as ANYMAIL_, which reStructuredText would read
# as a link to a target called "ANYMAIL": show them as literals instead.
_PREFIX = re.compile(r"(?<![`\w])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_)(?![`\w])")


def _literal_prefixes(app, what, name, obj, options, lines):  # type: ignore[no-untyped-def]
    lines[:] = [_PREFIX.sub(r"``\1``", line) for line in lines]


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("autodoc-process-docstring", _literal_prefixes)
