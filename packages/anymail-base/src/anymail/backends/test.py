"""Anymail's test backend: processes messages as a generic ESP would, then
collects them in ``django.core.mail.outbox`` instead of sending them.

Each sent message gets ``anymail_status`` and ``anymail_send_params`` (the params
that would be sent, send defaults included; also available under django-anymail's
older name ``anymail_test_params``).

Settings (or ``get_connection`` keywords):

- ``TEST_RECIPIENT_STATUS`` / ``recipient_status``: the status every recipient
  gets ("sent" by default), or a dict of {addr_spec: status}.
- ``TEST_FEATURES`` / ``features``: a FeatureSupport declaration to enforce,
  for testing how code behaves with a more limited ESP (default: all supported).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from django.core import mail
from django.core.mail import EmailMessage

from anymail.backends.base import AnymailBaseBackend, BasePayload
from anymail.exceptions import AnymailConfigurationError
from anymail.features import FeatureSupport
from anymail.message import ANYMAIL_STATUSES, AnymailRecipientStatus
from anymail.settings import get_anymail_setting

__all__ = ["EmailBackend", "TestPayload"]

_message_ids = itertools.count(1)


class EmailBackend(AnymailBaseBackend):
    """An Anymail backend for tests: nothing leaves the process."""

    esp_name = "Test"
    esp_id = "test"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.recipient_status = get_anymail_setting(
            "recipient_status", esp_name=self.esp_id, kwargs=kwargs, default="sent"
        )
        if isinstance(self.recipient_status, str):
            statuses = {self.recipient_status}
        elif isinstance(self.recipient_status, Mapping):
            statuses = set(self.recipient_status.values())
        else:
            statuses = {None}
        if not statuses <= ANYMAIL_STATUSES:
            raise AnymailConfigurationError(
                f"TEST_RECIPIENT_STATUS must be one of {sorted(ANYMAIL_STATUSES)} "
                f"(or a dict of them); got {self.recipient_status!r}."
            )
        features = get_anymail_setting(
            "features", esp_name=self.esp_id, kwargs=kwargs, default=None
        )
        if features is not None:
            if not isinstance(features, FeatureSupport):
                raise AnymailConfigurationError(
                    "TEST_FEATURES must be an anymail.features.FeatureSupport."
                )
            self.features = features  # type: ignore[misc]
        super().__init__(*args, **kwargs)
        if not hasattr(mail, "outbox"):
            mail.outbox = []  # type: ignore[attr-defined]

    def build_message_payload(
        self, message: EmailMessage, defaults: Mapping[str, Any]
    ) -> TestPayload:
        return TestPayload(message, defaults, self)

    def post_to_esp(self, payload: BasePayload, message: EmailMessage) -> dict[str, Any]:
        assert isinstance(payload, TestPayload)
        params = payload.get_params()
        message.anymail_send_params = params  # type: ignore[attr-defined]
        message.anymail_test_params = params  # type: ignore[attr-defined]
        self.deliver(message)
        return {"message_id": f"<{next(_message_ids)}@test.anymail.invalid>", "params": params}

    def deliver(self, message: EmailMessage) -> None:
        mail.outbox.append(message)  # type: ignore[attr-defined]

    def parse_recipient_status(
        self, response: Any, payload: BasePayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        message_id = response["message_id"]
        result = {}
        for address in payload.data.all_recipients:
            if isinstance(self.recipient_status, Mapping):
                status = self.recipient_status.get(address.addr_spec, "sent")
            else:
                status = self.recipient_status
            result[address.addr_spec] = AnymailRecipientStatus(message_id=message_id, status=status)
        return result


class TestPayload(BasePayload):
    """Keeps the normalized data; every feature is "sent" by recording it."""

    __test__ = False  # not a pytest test class

    def build(self, data: Any) -> None:
        # Nothing to translate: the normalized data is the payload.
        pass

    def get_params(self) -> dict[str, Any]:
        return self.data.as_send_params()
