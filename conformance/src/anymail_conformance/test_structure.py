"""Every ESP package is written the same way (the "Adding an ESP" guide's layout), and
says each fact once: the settings it declares are the settings its code reads.

- layout: ``anymail/esps/<id>.py``, ``backends/<id>.py``, ``webhooks/<id>.py`` and
  ``conformance/<id>/`` holding ``profile.py``, ``fixtures/`` (and an optional
  ``api/`` of published API specifications);
- every fixture records its ``source`` as an object: when it was read (``read``) and
  where (``page``, ``pages`` or ``repository``);
- webhook modules put their converters (pure functions from payload to events:
  ``tracking_events``, ``inbound_events`` and their helpers) before the views, and
  no converter takes the request;
- no ESP package defines a module-level function under a name that two other ESP
  packages also define (shared logic belongs in anymail-base);
- the settings an ESP declares (``EspDescription.all_settings``) are exactly the
  ``<ID>_*`` settings its backend and webhook views read.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from anymail.settings import record_setting_reads
from anymail_conformance.cases import base_message
from anymail_conformance.fixtures import webhook_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def esp(current_esp: Any) -> Any:
    """The suite's fixtures that take ``esp`` (``api``) get the ESP under check."""
    return current_esp


#: the names of the converter interface every webhook module implements
CONVERTERS = ("tracking_events", "inbound_events")
#: what conformance/<id>/ may hold
CONFORMANCE_ENTRIES = {"profile.py", "fixtures", "api", "__init__.py", "__pycache__"}


def module_path(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin) if spec is not None and spec.origin else None


def esp_modules(esp_id: str) -> Iterator[Path]:
    """The ESP package's modules (description, backend, webhooks, profile)."""
    for module in (
        f"anymail.esps.{esp_id}",
        f"anymail.backends.{esp_id}",
        f"anymail.webhooks.{esp_id}",
        f"anymail.conformance.{esp_id}.profile",
    ):
        path = module_path(module)
        if path is not None:
            yield path


def top_level_functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_package_layout(current_esp):
    esp = current_esp
    esp_id = esp.id
    description = module_path(f"anymail.esps.{esp_id}")
    assert description is not None, f"anymail/esps/{esp_id}.py is missing"
    root = description.parent.parent  # .../anymail
    assert (root / "backends" / f"{esp_id}.py").is_file(), f"anymail/backends/{esp_id}.py"
    if esp.esp.webhooks:
        assert (root / "webhooks" / f"{esp_id}.py").is_file(), f"anymail/webhooks/{esp_id}.py"
    conformance = root / "conformance" / esp_id
    assert (conformance / "profile.py").is_file(), f"anymail/conformance/{esp_id}/profile.py"
    assert (conformance / "fixtures").is_dir(), f"anymail/conformance/{esp_id}/fixtures/"
    extra = sorted(entry.name for entry in conformance.iterdir())
    unexpected = [name for name in extra if name not in CONFORMANCE_ENTRIES]
    assert not unexpected, (
        f"anymail/conformance/{esp_id}/ holds {unexpected}: webhook fixtures go in fixtures/, "
        "published API specifications in api/"
    )


def test_fixture_sources_are_objects(current_esp):
    esp = current_esp
    bad = []
    for path in sorted((esp.profile.fixtures_dir).glob("*.json")):
        source = json.loads(path.read_text(encoding="utf-8")).get("source")
        if not (
            isinstance(source, dict)
            and isinstance(source.get("read"), str)
            and any(key in source for key in ("page", "pages", "repository"))
        ):
            bad.append(path.name)
    assert not bad, (
        f"{esp.id} fixtures whose source isn't an object with read and page/pages/repository "
        f"(where and when the published sample was read): {bad}"
    )


def test_webhook_converters_come_before_the_views_and_take_no_request(current_esp):
    esp = current_esp
    path = module_path(f"anymail.webhooks.{esp.id}")
    if not esp.esp.webhooks:
        # no routes: the package ships no webhook module for nothing to serve
        assert path is None, f"anymail.webhooks.{esp.id} exists but the ESP declares no webhooks"
        return
    assert path is not None, f"{esp.id} declares webhooks but has no anymail.webhooks.{esp.id}"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    first_view = next(
        (
            index
            for index, node in enumerate(tree.body)
            if isinstance(node, ast.ClassDef) and node.name.endswith("View")
        ),
        len(tree.body),
    )
    functions = {
        node.name: (index, node)
        for index, node in enumerate(tree.body)
        if isinstance(node, ast.FunctionDef)
    }
    wanted = [
        name for name, on in zip(CONVERTERS, (esp.esp.tracking, esp.esp.inbound), strict=True) if on
    ]
    missing = [name for name in wanted if name not in functions]
    assert not missing, f"anymail.webhooks.{esp.id} must define the converters {missing}"
    after = [name for name, (index, _) in functions.items() if index > first_view]
    assert not after, (
        f"anymail.webhooks.{esp.id}: converters and their helpers go before the views "
        f"(found after them: {after})"
    )
    taking_request = [
        name
        for name, (_, node) in functions.items()
        if any(arg.arg == "request" for arg in [*node.args.args, *node.args.kwonlyargs])
    ]
    assert not taking_request, (
        f"anymail.webhooks.{esp.id}: converters are pure functions of the payload; "
        f"these take the request: {taking_request}"
    )


@cache
def _functions_by_package() -> dict[str, set[str]]:
    from anymail.registry import installed_esps

    return {
        esp_id: {node.name for path in esp_modules(esp_id) for node in top_level_functions(path)}
        for esp_id, description in installed_esps().items()
        if not description.superseded_by
    }


def test_no_function_copied_between_esp_packages(current_esp):
    esp = current_esp
    by_package = _functions_by_package()
    mine = by_package.get(esp.id, set())
    shared = {
        name: sorted(
            other for other, names in by_package.items() if other != esp.id and name in names
        )
        for name in mine - set(CONVERTERS)
    }
    copied = {name: others for name, others in shared.items() if len(others) >= 2}
    assert not copied, (
        f"{esp.id} defines functions that two or more other ESP packages define too: {copied}. "
        "Logic shared by ESPs belongs in anymail-base (or the conformance suite), once."
    )


def test_declared_settings_are_the_settings_read(current_esp, api, settings):
    """Construct the backend, send a message and construct every webhook view, noting
    every setting read: each ``<ID>_*`` one must be declared, and each declared one
    read."""
    esp = current_esp
    description = esp.esp
    prefix = description.id.upper() + "_"
    profile = esp.profile
    with record_setting_reads() as reads:
        description.load_backend()()
        base_message(profile).send()
        settings.ANYMAIL = {**settings.ANYMAIL, **webhook_settings(profile)}
        for route in description.webhooks:
            description.load_view(route)()
    read = {name for name in reads if name.startswith(prefix)}
    declared = set(description.all_settings)
    assert not read - declared, (
        f"{description.id} reads settings its description doesn't declare: "
        f"{sorted(read - declared)} (add them to EspDescription.settings)"
    )
    assert not declared - read, (
        f"{description.id} declares settings its code never read here: "
        f"{sorted(declared - read)} (read them, or drop them from EspDescription.settings)"
    )
