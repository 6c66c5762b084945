"""Every conformance fixture, posted through the real URLconf and compared (the
shared suite does the same; this proves the package on its own)."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from anymail.testing import SignalCapture

FIXTURES = sorted((Path(__file__).parent.parent / "conformance" / "fixtures").glob("*.json"))


def _normalize(value, expected):
    if isinstance(value, datetime):
        return value, datetime.fromisoformat(expected)
    return value, expected


@pytest.mark.parametrize("path", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_fixture(path, client, profile, sns_signer, webhook_secret):
    fixture = json.loads(path.read_text())
    request = profile.prepare_webhook(fixture["request"])
    headers = {"Authorization": "Basic dXNlcjpwYXNz", **request.headers}
    url = f"/anymail/amazon_ses/{fixture['webhook'].removesuffix('_webhook')}/"
    with SignalCapture() as capture:
        response = client.post(
            url, request.body, content_type=request.content_type, headers=headers
        )
    assert response.status_code == fixture["expected_status"]
    assert len(capture.events) == len(fixture["expected_events"])
    for event, expected in zip(capture.events, fixture["expected_events"], strict=True):
        for name, value in expected.items():
            if name == "message":
                for attr, expected_attr in value.items():
                    actual = getattr(event.message, attr)
                    if attr == "from_email":
                        actual = actual.address
                    assert actual == expected_attr, (path.stem, attr)
            else:
                actual, wanted = _normalize(getattr(event, name), value)
                assert actual == wanted, (path.stem, name)
        assert event.timestamp.utcoffset() is not None


def test_every_declared_event_type_has_a_fixture():
    from anymail.esps.amazon_ses import esp

    covered = set()
    for path in FIXTURES:
        for event in json.loads(path.read_text())["expected_events"]:
            covered.add(event["event_type"])
    assert {str(event_type) for event_type in esp.event_types} <= covered
    assert "inbound" in covered
