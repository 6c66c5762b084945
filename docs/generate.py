"""The pages generated from the installed packages at each build (see conf.py)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from anymail.matrix import render_matrix
from anymail.registry import EspDescription, current_esps

_RELATIVE_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s]+)\)")


def absolute_links(
    text: str, source: Path, repo: Path, source_url: str, page: Path | None = None
) -> str:
    """A README's links to other files of the repository, as links to the repository
    (the page no longer sits beside them). With ``page`` (where the generated page
    goes), a link to another page of the site (a docs/ Markdown file) stays a link
    within the site."""
    docs = repo / "docs"

    def replace(match: re.Match[str]) -> str:
        target, _, anchor = match.group(1).partition("#")
        resolved = Path(os.path.normpath(source.parent / target))
        suffix = "#" + anchor if anchor else ""
        if page is not None and resolved.suffix == ".md" and resolved.is_relative_to(docs):
            return f"]({Path(os.path.relpath(resolved, page.parent)).as_posix()}{suffix})"
        return f"]({source_url}/{resolved.relative_to(repo).as_posix()}{suffix})"

    return _RELATIVE_LINK.sub(replace, text)


def option_name(esp: EspDescription, setting: str) -> str:
    """The setting as a MAILERS OPTIONS key / get_connection() keyword."""
    prefix = esp.id.upper() + "_"
    return setting.removeprefix(prefix).lower() if setting.startswith(prefix) else "-"


def settings_reference(esps: list[EspDescription]) -> str:
    lines = [
        "# Settings reference",
        "",
        "Generated from each installed ESP package's declaration "
        "(`EspDescription.settings`). Every setting can go in the `ANYMAIL` dict "
        '(`ANYMAIL = {"MAILGUN_API_KEY": ...}`) or stand alone with the `ANYMAIL_` '
        "prefix (`ANYMAIL_MAILGUN_API_KEY`). A backend setting can also be an option of "
        "the backend: a `MAILERS` alias's `OPTIONS` key on Django 6.1+, or a "
        "`get_connection()` keyword before that, named as in the last column; an option "
        "takes precedence over the `ANYMAIL` dict. Webhook settings are read from "
        "`ANYMAIL` only. The settings every ESP shares are in [the settings "
        "guide](../guides/settings.md).",
        "",
    ]
    for esp in esps:
        lines += [
            f"## {esp.name}",
            "",
            f"Package `{esp.distribution}`; see [its page](../esps/{esp.id}.md).",
            "",
        ]
        if not esp.settings:
            lines += ["It declares no settings of its own.", ""]
            continue
        lines += ["| `ANYMAIL` key | stand-alone setting | option |", "|---|---|---|"]
        for setting in esp.settings:
            option = option_name(esp, setting)
            option_cell = f"`{option}`" if option != "-" else "-"
            lines.append(f"| `{setting}` | `ANYMAIL_{setting}` | {option_cell} |")
        lines.append("")
    return "\n".join(lines)


def feature_matrix(esps: list[EspDescription]) -> str:
    return "\n".join(
        [
            "# Feature matrix",
            "",
            "What each installed ESP supports, generated from its package's declaration "
            "(the same table `manage.py anymail_features` prints). The conformance suite "
            "proves every cell against the ESP's API.",
            "",
            "- **Yes**: sent as given. **No**: the ESP can't; Anymail raises "
            "`AnymailUnsupportedFeature` unless `IGNORE_UNSUPPORTED_FEATURES` is set.",
            "- **Max 1**: one value only (more raise the same error). **Domain only**: "
            "the ESP uses just the domain. **(emulated)**: Anymail provides it on top "
            "of what the ESP has.",
            "",
            render_matrix(esps),
            "",
        ]
    )


def write(path: Path, text: str) -> None:
    """Write only when changed, so Sphinx rebuilds only what changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate_all(docs: Path, source_url: str) -> None:
    """Write docs/esps/ (one page per ESP, and their index) and docs/reference/
    (the feature matrix, the settings reference, and copies of the architecture page
    and the conformance suite's README)."""
    repo = docs.parent
    esps = list(current_esps().values())
    shutil.rmtree(docs / "esps", ignore_errors=True)  # no page for an uninstalled ESP
    out = docs / "reference"
    generated = {
        "features.md": feature_matrix(esps),
        "settings.md": settings_reference(esps),
    }
    index = [
        "# Supported ESPs",
        "",
        "One package per ESP; install only the one you use. Each page is the package's README.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
    ]
    for esp in esps:
        readme = repo / "packages" / esp.distribution / "README.md"
        if not readme.exists():  # installed from elsewhere: nothing to show
            continue
        text = absolute_links(readme.read_text(encoding="utf-8"), readme, repo, source_url)
        write(docs / "esps" / f"{esp.id}.md", text)
        index.append(esp.id)
    index += ["```", ""]
    write(docs / "esps" / "index.md", "\n".join(index))
    architecture = repo / "docs" / "architecture.md"
    generated["architecture.md"] = absolute_links(
        architecture.read_text(encoding="utf-8"),
        architecture,
        repo,
        source_url,
        out / "architecture.md",
    )
    conformance = repo / "conformance" / "README.md"
    suite = absolute_links(
        conformance.read_text(encoding="utf-8"),
        conformance,
        repo,
        source_url,
        out / "conformance.md",
    )
    # The README's title is the distribution's name; the site calls the page by its job.
    generated["conformance.md"] = re.sub(r"\A# .*", "# The conformance suite", suite, count=1)
    for name, text in generated.items():
        write(out / name, text)
    # A page generated by an earlier version of this script (and still in a checkout,
    # which git ignores) would be a page in no toctree: a warning, so a failed build.
    for stale in out.glob("*.md"):
        if stale.name not in generated:
            stale.unlink()
