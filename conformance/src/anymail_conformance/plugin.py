"""The conformance suite's pytest plugin (registered through the ``pytest11`` entry
point, so installing anymail-conformance is enough).

It parametrizes the suite's tests over every installed ESP that has a profile
(``esp``, ``signed_esp``, ``esp_fixture``), gives ESP packages' own
:class:`~anymail_conformance.fixtures.WebhookFixtureTests` their ``webhook_fixture``
parameters, provides the ``api`` fixture (the ESP's backend pointed at its fake
server), and prints at the end what was proved for each ESP.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "api",
    "proved",
    "pytest_collection_modifyitems",
    "pytest_generate_tests",
    "pytest_terminal_summary",
]

#: {esp id: {"feature:tags", "event:bounced", ...}} proved in this session
PROVED: dict[str, set[str]] = defaultdict(set)

_SUITE_DIR = Path(__file__).resolve().parent


def proved(esp_id: str, item: str) -> None:
    PROVED[esp_id].add(item)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    from anymail_conformance.fixtures import load_fixtures
    from anymail_conformance.profiles import esps_under_test, load_profile

    names = metafunc.fixturenames
    if "webhook_fixture" in names:
        esp_id = getattr(metafunc.cls, "esp_id", None)
        if esp_id is None:
            raise pytest.UsageError(
                f"{metafunc.cls.__name__ if metafunc.cls else metafunc.function.__name__} "
                "must set esp_id to use webhook_fixture"
            )
        fixtures = load_fixtures(load_profile(esp_id))
        metafunc.parametrize("webhook_fixture", fixtures, ids=[f.name for f in fixtures])
        return
    if not {"esp", "current_esp", "signed_esp", "esp_fixture"} & set(names):
        return
    esps = esps_under_test()
    if "current_esp" in names:
        # a renamed ESP's compatibility package (SendinBlue) is its successor's code
        current = [e for e in esps if not e.esp.superseded_by]
        metafunc.parametrize("current_esp", current, ids=[e.id for e in current])
    elif "esp" in names:
        metafunc.parametrize("esp", esps, ids=[e.id for e in esps])
    elif "signed_esp" in names:
        signed = [e for e in esps if e.profile.signs_webhooks]
        metafunc.parametrize("signed_esp", signed, ids=[e.id for e in signed])
    elif "esp_fixture" in names:
        pairs = [(e, f) for e in esps for f in load_fixtures(e.profile)]
        metafunc.parametrize("esp_fixture", pairs, ids=[f"{e.id}-{f.name}" for e, f in pairs])


@pytest.fixture
def api(esp: Any, settings: Any) -> Any:
    """The ESP's backend pointed at its fake API server: yields the server."""
    from django.core import mail

    from anymail.testing import use_backend

    profile = esp.profile
    with profile.server() as server:
        settings.ANYMAIL = profile.backend_settings(server)
        use_backend(settings, esp.esp.backend)
        mail.outbox = []
        yield server


def pytest_terminal_summary(terminalreporter: Any, exitstatus: Any, config: Any) -> None:
    if not PROVED:
        return
    from anymail.features import FEATURE_SPECS
    from anymail_conformance.profiles import esps_under_test

    terminalreporter.section("Anymail conformance: what was proved")
    guarantees = ("retry-answer", "duplicates", "partial-batch", "event-ids", "background")
    for under_test in esps_under_test():
        items = PROVED.get(under_test.id, set())
        if not items:
            continue  # not run in this session (pytest -k another ESP)
        features = [name for name in FEATURE_SPECS if f"feature:{name}" in items]
        missing_features = [name for name in FEATURE_SPECS if f"feature:{name}" not in items]
        declared_events = sorted(under_test.esp.event_types)
        events = [e for e in declared_events if f"event:{e}" in items]
        missing_events = [e for e in declared_events if f"event:{e}" not in items]
        terminalreporter.write_line(
            f"{under_test.esp.name}: {len(features)}/{len(FEATURE_SPECS)} declared feature cells "
            f"proved; {len(events)}/{len(declared_events)} declared event types proved by fixtures"
        )
        held = [g for g in guarantees if f"webhook:{g}" in items]
        terminalreporter.write_line(
            f"  webhook guarantees proved: {', '.join(held) or 'none'} "
            f"({len(held)}/{len(guarantees)}; retry answer {under_test.esp.webhook_retry_status})"
        )
        if missing_features:
            terminalreporter.write_line(f"  unproved features: {', '.join(missing_features)}")
        if missing_events:
            terminalreporter.write_line(f"  unproved event types: {', '.join(missing_events)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With no ESP installed (anymail-base alone), the suite's per-ESP tests have
    nothing to run against: deselect them rather than report them as skipped."""
    empty = [
        item
        for item in items
        if Path(item.path).resolve().parent == _SUITE_DIR
        and any(
            mark.name == "skip" and "empty parameter set" in str(mark.kwargs.get("reason", ""))
            for mark in item.iter_markers()
        )
    ]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]
