"""How a webhook view authenticates a request before the ESP's own checks: HTTP basic
auth against ``WEBHOOK_SECRET`` (constant time, every allowed secret), and replay
protection for signed ESPs (a timestamp window; a signature token claimed with the
request's events). A mixin of :class:`~anymail.webhooks.base.AnymailBaseWebhookView`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.webhooks.replay import ReplayProtection
from anymail.webhooks.signing import basic_auth_credentials

__all__ = ["WebhookValidation"]


class WebhookValidation:
    """Basic auth and replay protection (``self`` is the view)."""

    esp_id: str
    esp_name: str
    basic_auth: list[str]
    replay_store: Any
    pending_tokens: list[str]

    def validate_basic_auth(self, request: HttpRequest) -> None:
        if not self.basic_auth:
            return
        credentials = self._request_credentials(request)
        # Compare against every allowed secret, with no early exit, in constant time.
        matched = False
        for secret in self.basic_auth:
            matched |= constant_time_compare(credentials, secret)
        if not matched:
            raise AnymailWebhookValidationFailure(
                f"Missing or invalid basic auth in Anymail {self.esp_name} webhook"
            )

    @staticmethod
    def _request_credentials(request: HttpRequest) -> str:
        return basic_auth_credentials(request)

    def replay_protection(self, tolerance: float | None) -> ReplayProtection:
        return ReplayProtection(self.esp_id, tolerance, self.replay_store)

    def check_replay(
        self, timestamp: float | datetime, token: str | None, tolerance: float | None
    ) -> None:
        """Refuse a request outside the timestamp window (400). Its token is claimed
        with its events, once they are read: a token already handled makes the request
        a duplicate (200, no second signal). Call from validate_esp after verifying the
        signature that covers them."""
        protection = self.replay_protection(tolerance)
        protection.check_timestamp(timestamp)
        if token:
            self.pending_tokens.append(protection.token_key(token))
            self.token_lifetime = max(
                getattr(self, "token_lifetime", 0.0), protection.token_lifetime
            )
