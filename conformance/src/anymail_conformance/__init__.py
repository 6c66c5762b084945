"""The Anymail conformance suite: one set of tests that proves every installed
Anymail ESP package does what its feature declaration says.

For ESP packages, the public API is the profile (how to drive the ESP against a
fake server), the fake server, and the reusable webhook fixture test case. The
pytest plugin (``anymail_conformance.plugin``) is registered through an entry
point; run the suite with ``python -m anymail_conformance``.
"""

from anymail_conformance.fake_server import FakeESPServer, FakeResponse, FormField, RecordedRequest
from anymail_conformance.fixtures import Fixture, WebhookFixtureTests, load_fixtures, post_fixture
from anymail_conformance.profile import (
    SCENARIOS,
    Profile,
    SentAttachment,
    SentMessage,
    WebhookRequest,
    encode_fixture_request,
)

__all__ = [
    "SCENARIOS",
    "FakeESPServer",
    "FakeResponse",
    "Fixture",
    "FormField",
    "Profile",
    "RecordedRequest",
    "SentAttachment",
    "SentMessage",
    "WebhookFixtureTests",
    "WebhookRequest",
    "encode_fixture_request",
    "load_fixtures",
    "post_fixture",
]
