"""The Amazon SES email backend on the SES API v1 ("ses"): the backend of
anymail-amazon-ses 0.1 and django-anymail, kept for sites whose IAM policies allow
only the v1 actions (``ses:SendRawEmail``, ``ses:SendBulkTemplatedEmail``) or whose
``esp_extra`` uses v1 parameters::

    EMAIL_BACKEND = "anymail.backends.amazon_sesv1.EmailBackend"

Ordinary messages go out through SES ``SendRawEmail`` as the MIME message Django
builds; messages with a ``template_id`` use ``SendBulkTemplatedEmail``. The settings,
the boto3 client, the MIME message and the template limits are the SES v2 backend's
(:mod:`anymail.backends.amazon_ses`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from anymail.backends.amazon_ses import (
    AmazonSESBaseBackend,
    AmazonSESRawPayload,
    AmazonSESTemplatePayload,
    _joined_tags,
)
from anymail.esps.amazon_ses import ESP
from anymail.message import AnymailRecipientStatus

__all__ = [
    "AmazonSESSendBulkTemplatedEmailPayload",
    "AmazonSESSendRawEmailPayload",
    "EmailBackend",
]


class AmazonSESV1PayloadMixin:
    """Message Tags and esp_extra on the v1 calls: the tags go in the call's list
    (SendRawEmail ``Tags``, SendBulkTemplatedEmail ``DefaultTags``), esp_extra is
    merged into the call's parameters."""

    #: the API call's list of SES Message Tags
    tags_param: ClassVar[str] = "Tags"
    params: dict[str, Any]

    def add_message_tags(self, tags: list[dict[str, str]]) -> None:
        self.params.setdefault(self.tags_param, []).extend(tags)

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        extra = dict(extra)
        tags = self.tags_param
        if tags != "Tags" and "Tags" in extra:
            # The docs show esp_extra "Tags" (SendRawEmail's name), and a SEND_DEFAULTS
            # esp_extra applies to template sends too: SendBulkTemplatedEmail calls
            # them DefaultTags (and refuses a "Tags" parameter).
            extra[tags] = _joined_tags(extra.pop("Tags"), extra.get(tags))
        if tags in extra and tags in self.params:
            extra[tags] = _joined_tags(self.params[tags], extra[tags])
        self.params.update(extra)


class AmazonSESSendRawEmailPayload(AmazonSESV1PayloadMixin, AmazonSESRawPayload):
    """SendRawEmail: Django's MIME message, to the ``Destinations``."""

    api_name = "SendRawEmail"
    # Source is the sending identity, and where SES forwards bounces and complaints
    from_param = "Source"
    envelope_sender_param = "Source"

    def call_api(self, client: Any) -> Any:
        params = {
            **self.params,
            "Destinations": [email.idna_addr_spec for email in self.data.all_recipients],
            "RawMessage": {"Data": self.build_raw_message()},
        }
        return client.send_raw_email(**params)


class AmazonSESSendBulkTemplatedEmailPayload(AmazonSESV1PayloadMixin, AmazonSESTemplatePayload):
    """SendBulkTemplatedEmail: one Destination per "to" with merge_data (a batch
    send), otherwise one Destination holding every recipient."""

    api_name = "SendBulkTemplatedEmail"
    from_param = "Source"
    # The template's From is Source; the envelope sender is its ReturnPath.
    envelope_sender_param = "ReturnPath"
    # SendBulkTemplatedEmail has no "Tags": its DefaultTags apply to every Destination,
    # as Anymail's tag applies to the whole message.
    tags_param = "DefaultTags"

    def set_template_id(self, template_id: str) -> None:
        self.params["Template"] = template_id

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.params["DefaultTemplateData"] = self.serialize_json(
            merge_global_data, "merge_global_data"
        )

    def build_destinations(self) -> list[dict[str, Any]]:
        if self.merge_data is None:
            return [{"Destination": self.one_destination()}]
        destinations = []
        for to in self.batch_recipients():
            data = self.merge_data.get(to.addr_spec, {})
            destinations.append(
                {
                    "Destination": self.destination([to]),
                    "ReplacementTemplateData": self.serialize_json(
                        data, f"merge_data[{to.addr_spec!r}]"
                    ),
                }
            )
            self.destination_recipients.append([to])
        return destinations

    def finish(self) -> None:
        self.params.setdefault("DefaultTemplateData", "{}")  # required by SES
        self.params["Destinations"] = self.build_destinations()

    def call_api(self, client: Any) -> Any:
        return client.send_bulk_templated_email(**self.params)

    def parse_recipient_status(self, response: Any) -> dict[str, AnymailRecipientStatus]:
        statuses: dict[str, AnymailRecipientStatus] = {}
        results = response["Status"]
        for recipients, result in zip(self.destination_recipients, results, strict=True):
            # (SES always says "Success"; moto leaves Status out when it accepted.)
            if result.get("Status", "Success" if result.get("MessageId") else None) == "Success":
                status = AnymailRecipientStatus(message_id=result.get("MessageId"), status="queued")
            elif result.get("Status") == "MessageRejected":
                status = AnymailRecipientStatus(
                    message_id=result.get("MessageId"), status="rejected"
                )
            else:
                # MailFromDomainNotVerified, AccountDailyQuotaExceeded, ...
                status = AnymailRecipientStatus(message_id=result.get("MessageId"), status="failed")
            for email in recipients:
                statuses[email.addr_spec] = status
        return statuses


class EmailBackend(AmazonSESBaseBackend):
    """Amazon SES email backend (boto3, SES API v1)."""

    esp = ESP
    service_name = "ses"
    #: ordinary messages; build_message_payload picks the templated payload for a template_id
    payload_class = AmazonSESSendRawEmailPayload
    raw_payload_class = AmazonSESSendRawEmailPayload
    template_payload_class = AmazonSESSendBulkTemplatedEmailPayload
