"""Fixtures for the conformance suite: one parametrized run per installed ESP that
has a profile, plus the report of what was proved for each."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.core import mail

from .profiles import esps_under_test, load_fixtures

#: {esp id: {"feature:tags", "event:bounced", ...}} proved in this session
PROVED: dict[str, set[str]] = defaultdict(set)


def proved(esp_id: str, item: str) -> None:
    PROVED[esp_id].add(item)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    esps = esps_under_test()
    if "esp" in metafunc.fixturenames:
        metafunc.parametrize("esp", esps, ids=[e.id for e in esps])
    elif "signed_esp" in metafunc.fixturenames:
        signed = [e for e in esps if e.profile.signs_webhooks]
        metafunc.parametrize("signed_esp", signed, ids=[e.id for e in signed])
    elif "esp_fixture" in metafunc.fixturenames:
        pairs = [(e, f) for e in esps for f in load_fixtures(e.profile)]
        metafunc.parametrize("esp_fixture", pairs, ids=[f"{e.id}-{f.name}" for e, f in pairs])


@pytest.fixture
def api(esp, settings):
    """The ESP's backend pointed at its fake API server: yields (esp, server)."""
    profile = esp.profile
    with profile.server() as server:
        settings.ANYMAIL = profile.backend_settings(server)
        settings.EMAIL_BACKEND = esp.esp.backend
        mail.outbox = []
        yield server


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not PROVED:
        return
    from anymail.features import Feature

    terminalreporter.section("Anymail conformance: what was proved")
    for under_test in esps_under_test():
        items = PROVED.get(under_test.id, set())
        features = [f.value for f in Feature if f"feature:{f.value}" in items]
        missing_features = [f.value for f in Feature if f"feature:{f.value}" not in items]
        declared_events = sorted(under_test.esp.event_types)
        events = [e for e in declared_events if f"event:{e}" in items]
        missing_events = [e for e in declared_events if f"event:{e}" not in items]
        terminalreporter.write_line(
            f"{under_test.esp.name}: {len(features)}/{len(Feature)} declared feature cells proved; "
            f"{len(events)}/{len(declared_events)} declared event types proved by fixtures"
        )
        if missing_features:
            terminalreporter.write_line(f"  unproved features: {', '.join(missing_features)}")
        if missing_events:
            terminalreporter.write_line(f"  unproved event types: {', '.join(missing_events)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With no ESP installed (anymail-base alone), the per-ESP tests have nothing to
    run against: deselect them rather than report them as skipped."""
    empty = [
        item
        for item in items
        if item.path.parent == __import__("pathlib").Path(__file__).parent
        and any(
            mark.name == "skip" and "empty parameter set" in str(mark.kwargs.get("reason", ""))
            for mark in item.iter_markers()
        )
    ]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]
