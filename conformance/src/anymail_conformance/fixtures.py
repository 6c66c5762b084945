"""Webhook fixtures: loading them, posting them, and comparing the events they produce.

A fixture is a JSON file in the profile's ``fixtures_dir``: the raw request as the
ESP sends it and the normalized events it must produce (see the README's "fixture
format"). This module is the one loader and the one comparator; the suite's
``test_webhooks.py`` and every ESP package's own tests use them, the latter through
:class:`WebhookFixtureTests`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from anymail.testing import CapturedSignal, SignalCapture, basic_auth_header
from anymail_conformance.profile import Profile, WebhookRequest

__all__ = [
    "SECRET",
    "Fixture",
    "WebhookFixtureTests",
    "assert_events_match",
    "load_fixtures",
    "post_fixture",
]

#: the WEBHOOK_SECRET fixtures are posted with
SECRET = "conformance:webhook-secret"

_REQUIRED_KEYS = ("webhook", "request", "expected_events")


@dataclass(frozen=True)
class Fixture:
    name: str
    path: Path
    data: dict[str, Any]

    @property
    def webhook(self) -> str:
        """The route name (``tracking_webhook``, ``inbound_webhook``, ...)."""
        return str(self.data["webhook"])

    @property
    def expected_status(self) -> int:
        return int(self.data.get("expected_status", 200))

    @property
    def expected_events(self) -> list[dict[str, Any]]:
        return list(self.data["expected_events"])


def load_fixtures(profile: Profile) -> list[Fixture]:
    """Every fixture of the profile, sorted by file name."""
    fixtures = []
    for path in sorted(profile.fixtures_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        missing = [key for key in _REQUIRED_KEYS if key not in data]
        if missing:
            raise ValueError(f"Fixture {path} has no {', '.join(map(repr, missing))}")
        fixtures.append(Fixture(path.stem, path, data))
    return fixtures


def webhook_settings(profile: Profile, secret: str | list[str] = SECRET) -> dict[str, Any]:
    """The ANYMAIL settings to post fixtures with."""
    return {"WEBHOOK_SECRET": secret, **profile.webhook_settings()}


def post_fixture(
    profile: Profile,
    fixture: Fixture | dict[str, Any],
    *,
    request: WebhookRequest | None = None,
    credentials: str | None = SECRET,
    client: Any = None,
) -> tuple[Any, list[CapturedSignal]]:
    """Post a fixture (prepared, i.e. re-signed, by the profile) through the real
    URL configuration; return the response and the signals it sent."""
    from django.test import Client
    from django.urls import reverse

    data = fixture.data if isinstance(fixture, Fixture) else fixture
    request = request or profile.prepare_webhook(data["request"])
    headers = dict(request.headers)
    if credentials:
        headers["Authorization"] = basic_auth_header(credentials)
    url = reverse(f"anymail:{profile.esp_id}_{data['webhook']}")
    client = client or Client()
    with SignalCapture() as capture:
        if str(data["request"].get("method", "POST")).upper() == "HEAD":
            response = client.head(url, headers=headers)
        else:
            # (generic() posts the bytes as they are, whatever charset the type names)
            response = client.generic(
                "POST", url, data=request.body, content_type=request.content_type, headers=headers
            )
    return response, capture.signals


def assert_events_match(expected_events: list[dict[str, Any]], events: list[Any]) -> None:
    """Each event has the expected attributes (only those the fixture lists)."""
    assert len(events) == len(expected_events), (
        f"{len(events)} events, expected {len(expected_events)}: {events!r}"
    )
    for index, (expected, event) in enumerate(zip(expected_events, events, strict=True)):
        if getattr(event, "timestamp", None) is not None:
            assert event.timestamp.utcoffset() is not None, "timestamps must be aware"
        for key, value in expected.items():
            if key == "message":
                _compare_message(value, event.message, index)
                continue
            actual = getattr(event, key)
            if key == "timestamp" and value is not None:
                assert actual is not None, (index, key)
                assert actual == datetime.fromisoformat(value), (index, key, actual, value)
            else:
                assert actual == value, (index, key, actual, value)


def _compare_message(expected: dict[str, Any], message: Any, index: int) -> None:
    for key, value in expected.items():
        actual = getattr(message, key)
        if key == "from_email":
            actual = str(actual) if actual is not None else None
        elif key in ("to", "cc"):
            actual = [str(address) for address in actual]
        elif key == "attachments":
            actual = [
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "size": len(part.get_content_bytes()),
                }
                for part in actual
            ]
            if len(actual) == len(value):  # compare only the keys the fixture gives
                actual = [
                    {k: item[k] for k in want} for item, want in zip(actual, value, strict=True)
                ]
        elif key == "inline_attachments":
            actual = {
                cid: {
                    "content_type": part.get_content_type(),
                    "size": len(part.get_content_bytes()),
                }
                for cid, part in actual.items()
            }
        elif key == "date" and value is not None:
            value = datetime.fromisoformat(value)
        elif key in ("text", "html") and isinstance(actual, str) and isinstance(value, str):
            actual, value = actual.replace("\r\n", "\n"), value.replace("\r\n", "\n")
        assert actual == value, (index, f"message.{key}", actual, value)


class WebhookFixtureTests:
    """Every fixture of one ESP, posted through the real URLs and compared.

    An ESP package's tests reuse it instead of copying it::

        from anymail_conformance import WebhookFixtureTests

        class TestMailgunFixtures(WebhookFixtureTests):
            esp_id = "mailgun"

    The plugin parametrizes ``webhook_fixture`` with that ESP's fixtures.
    """

    esp_id: ClassVar[str]

    def test_fixture(self, webhook_fixture: Fixture, settings: Any) -> None:
        from anymail_conformance.profiles import load_profile

        profile = load_profile(self.esp_id)
        settings.ANYMAIL = webhook_settings(profile)
        response, signals = post_fixture(profile, webhook_fixture)
        assert response.status_code == webhook_fixture.expected_status, response.content
        for signal in signals:
            assert signal.esp_name == profile.esp.name
            assert isinstance(signal.sender, type)
        assert_events_match(webhook_fixture.expected_events, [s.event for s in signals])
