"""Every conformance fixture, posted through the real URLconf and compared, with
the suite's own fixture test case (so the package's tests prove it on their own)."""

import pytest

from anymail_conformance import WebhookFixtureTests


@pytest.mark.usefixtures("sns_signer")
class TestAmazonSESFixtures(WebhookFixtureTests):
    esp_id = "amazon_ses"
