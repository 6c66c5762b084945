"""SendinBlue's conformance profile: Brevo's (anymail.conformance.brevo), run
through Anymail 6.0's SendinBlue names, so the suite proves they still work: the
backend ``anymail.backends.sendinblue.EmailBackend`` with ``SENDINBLUE_*`` settings,
and the webhook ``/anymail/sendinblue/tracking/``, fed Brevo's own tracking fixtures.

Those names warn (AnymailDeprecationWarning, "SendinBlue is now Brevo: ...") by
design, and a test run that makes deprecation warnings errors, as this repository's
does, would fail on them. So while a suite test runs this profile, exactly those
warnings are ignored: the sending tests' fake server ignores them while it runs,
and ``webhook_settings()`` (which every webhook test calls first) adds the filter
to the test's own warning filters (pytest restores them after each test).
anymail-sendinblue's own tests prove each warning is given.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anymail.conformance.brevo.profile import API_KEY, BrevoProfile
from anymail.conformance.brevo.profile import PROFILE as BREVO_PROFILE
from anymail.exceptions import AnymailDeprecationWarning

__all__ = ["PROFILE", "SendinBlueProfile"]

#: How every deprecation warning about a SendinBlue name begins.
DEPRECATION_MESSAGE = "SendinBlue is now Brevo"


def ignore_renaming_warnings() -> None:
    """Ignore the deprecation warnings of the SendinBlue names (only those)."""
    warnings.filterwarnings(
        "ignore", message=DEPRECATION_MESSAGE, category=AnymailDeprecationWarning
    )


class TrackingFixtures(type(Path())):  # type: ignore[misc]
    """Brevo's fixtures directory, listing only its tracking webhook's fixtures:
    the SendinBlue names have no inbound URL."""

    routes = frozenset({"tracking_webhook"})

    def glob(self, pattern: str, *args: Any, **kwargs: Any) -> Iterator[Path]:
        for path in super().glob(pattern, *args, **kwargs):
            if json.loads(path.read_text(encoding="utf-8")).get("webhook") in self.routes:
                yield path


class SendinBlueProfile(BrevoProfile):
    esp_id = "sendinblue"

    @property
    def fixtures_dir(self) -> Path:
        return TrackingFixtures(BREVO_PROFILE.fixtures_dir)

    def backend_settings(self, server: Any) -> dict[str, Any]:
        # Anymail 6.0's setting names, which the backend still reads.
        return {"SENDINBLUE_API_KEY": API_KEY, "SENDINBLUE_API_URL": f"{server.url}/v3/"}

    @contextmanager
    def server(self) -> Iterator[Any]:
        with warnings.catch_warnings():
            ignore_renaming_warnings()
            with super().server() as server:
                yield server

    def webhook_settings(self) -> dict[str, Any]:
        ignore_renaming_warnings()
        return super().webhook_settings()


PROFILE = SendinBlueProfile()
