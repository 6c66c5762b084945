"""Fuzzing every ESP's webhooks: each fixture's request, mutated and then re-signed
(where the ESP signs) so it reaches the parser, must get a 2xx or a 4xx, never a 5xx;
a 4xx sends no signal; and every signalled event has its documented field types.

The budget is small by default, so ``hatch run test:all`` stays quick; for a long run:

    ANYMAIL_FUZZ_EXAMPLES=10000 hatch run conformance -k fuzz
"""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from anymail.events import AnymailInboundEvent, AnymailTrackingEvent
from anymail.features import EventType, RejectReason
from anymail_conformance.fixtures import load_fixtures, post_fixture, webhook_settings
from anymail_conformance.profile import WebhookRequest

# Signed webhooks' tokens go to the default replay store: the test database.
pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("ANYMAIL_FUZZ_EXAMPLES", "30"))

#: JSON values of every type, including the awkward ones
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([10**400, -(10**400), 0, -1, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "a\udfffb", "", " ", "nan", "inf", "1e400", "\x00", "é" * 50]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
DEEP = "[" * 5000 + "]" * 5000


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON document (strings holding JSON count as documents)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    elif isinstance(value, str) and value[:1] in ("{", "["):
        try:
            nested = json.loads(value)
        except ValueError:
            return found
        found += paths(nested, (*prefix, ("json",)))
    return found


def replace(document: Any, path: tuple, new: Any, delete: bool = False) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced (or deleted)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if head == ("json",):
        return json.dumps(replace(json.loads(document), rest, new, delete), allow_nan=True)
    if isinstance(document, (dict, list)):
        document = copy.copy(document)
        if delete and not rest:
            del document[head]
        else:
            document[head] = replace(document[head], rest, new, delete)
    return document


@st.composite
def mutations(draw: Any, request: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """A mutated fixture request, and optionally raw bytes to post instead of its body."""
    kind = draw(st.sampled_from(["value", "value", "value", "delete", "deep", "raw"]))
    body_key = next((k for k in ("json", "form", "multipart") if k in request), None)
    if kind == "raw" or body_key is None:
        raw = draw(
            st.sampled_from(
                [b"", b"\xff\xfe\xfd", b"{", b"[]", b"null", DEEP.encode(), b'"\xed\xa0\x80"']
            )
            | st.binary(max_size=64)
        )
        return request, raw
    document = request[body_key]
    if kind == "deep":
        new_value: Any = json.loads("[" * 900 + "]" * 900)
    else:
        new_value = draw(JSON_VALUES)
    candidates = [p for p in paths(document) if p]
    assume(candidates)
    path = draw(st.sampled_from(candidates))
    if body_key != "json":
        # form fields are strings: replace with a str (JSON text of the value), or drop
        new_value = new_value if isinstance(new_value, str) else json.dumps(new_value)
    try:
        mutated = replace(document, path, new_value, delete=(kind == "delete"))
    except (KeyError, IndexError, TypeError, ValueError):
        assume(False)
    return {**request, body_key: mutated}, None


def assert_documented_types(event: Any) -> None:
    assert event.event_type in {e.value for e in EventType}
    assert event.timestamp is None or (
        isinstance(event.timestamp, datetime) and event.timestamp.utcoffset() is not None
    )
    assert event.event_id is None or isinstance(event.event_id, str)
    if isinstance(event, AnymailTrackingEvent):
        for name in (
            "message_id",
            "recipient",
            "description",
            "mta_response",
            "click_url",
            "user_agent",
        ):
            value = getattr(event, name)
            assert value is None or isinstance(value, str), (name, value)
        assert event.reject_reason is None or event.reject_reason in {r.value for r in RejectReason}
        assert isinstance(event.metadata, dict)
        assert all(isinstance(k, str) for k in event.metadata)
        assert isinstance(event.tags, list)
        assert all(isinstance(t, str) for t in event.tags)
    else:
        assert isinstance(event, AnymailInboundEvent)


def _routes_fixtures(esp: Any) -> list[Any]:
    """One fixture per webhook route (the first that the ESP accepts)."""
    chosen: dict[str, Any] = {}
    for fixture in load_fixtures(esp.profile):
        if fixture.expected_status == 200 and "method" not in fixture.data["request"]:
            chosen.setdefault(fixture.webhook, fixture)
    return list(chosen.values())


def test_fuzzed_webhooks_never_answer_5xx(esp, settings: Any) -> None:
    from django.test import Client

    profile = esp.profile
    settings.ANYMAIL = webhook_settings(profile)
    client = Client(raise_request_exception=False)
    fixtures = _routes_fixtures(esp)
    assert fixtures, f"{esp.id} has no fixture to fuzz"

    @settings_for_fuzzing
    @given(data=st.data())
    def fuzz(data: Any) -> None:
        fixture = data.draw(st.sampled_from(fixtures))
        request, raw = data.draw(mutations(fixture.data["request"]))
        try:
            prepared = profile.prepare_webhook(request)
        except Exception:  # the profile can't sign this shape: nothing to learn from it
            assume(False)
        if raw is not None:
            prepared = WebhookRequest(raw, prepared.content_type, prepared.headers)
        response, signals = post_fixture(
            profile, {**fixture.data, "request": request}, request=prepared, client=client
        )
        assert response.status_code < 500, (fixture.name, request, response.content[:300])
        if response.status_code >= 400:
            assert signals == [], fixture.name
        for signal in signals:
            assert_documented_types(signal.event)

    fuzz()


settings_for_fuzzing = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: Any) -> None:
    """Malformed payloads are logged at WARNING: expected here, by the hundred."""
    import logging

    caplog.set_level(logging.CRITICAL, logger="anymail")
    caplog.set_level(logging.CRITICAL, logger="django.request")
