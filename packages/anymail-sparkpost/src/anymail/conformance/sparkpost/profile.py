"""SparkPost's conformance profile: a fake transmissions API on 127.0.0.1 that
python-sparkpost really talks to, read back from the JSON it posts, and fixtures
of SparkPost's published webhook samples."""

from __future__ import annotations

import base64
import itertools
from datetime import datetime
from typing import Any

from anymail.addresses import addr_spec_of
from anymail_conformance import FakeResponse, Profile, RecordedRequest, SentAttachment, SentMessage
from anymail_conformance.profile import address_list, formatted_address

API_KEY = "test-sparkpost-api-key"
#: the path python-sparkpost posts transmissions to, below SPARKPOST_API_URL
API_PATH = "/api/v1"


class SparkPostProfile(Profile):
    esp_id = "sparkpost"
    accepted_status = "queued"
    # SparkPost reports only how many recipients it rejected, not which: the suite's
    # partial_rejection scenario (some recipients "queued", some not) can't be read
    # from its answer. This package's own tests prove all-rejected raises
    # AnymailRecipientsRefused and a mix gives "unknown".
    reports_rejections = False
    from_email = "Sender <sender@example.com>"
    # python-sparkpost keyword arguments: transactional goes in options, description
    # at the top level (the 6.0 docs' own esp_extra example).
    esp_extra_example = {"transactional": True, "description": "Conformance check"}

    _ids = itertools.count(11668787484950529)

    def check_esp_extra(self, sent: SentMessage) -> None:
        assert sent.raw["options"]["transactional"] is True, sent.raw
        assert sent.raw["description"] == "Conformance check", sent.raw

    # ---------------------------------------------------------------- sending

    def backend_settings(self, server: Any) -> dict[str, Any]:
        return {"SPARKPOST_API_KEY": API_KEY, "SPARKPOST_API_URL": f"{server.url}{API_PATH}"}

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        """Answers as the transmissions reference shows them
        (https://developers.sparkpost.com/api/transmissions/)."""
        if scenario == "client_error":
            return FakeResponse.json(
                {
                    "errors": [
                        {
                            "description": "Unconfigured or unverified sending domain.",
                            "code": "7001",
                            "message": "Invalid domain",
                        }
                    ]
                },
                400,
            )
        if scenario == "server_error":
            return FakeResponse(503, "Service Unavailable", {"Content-Type": "text/plain"})
        if scenario == "malformed":
            return FakeResponse(200, "<html>Accepted?</html>", {"Content-Type": "text/html"})
        recipients = len(request.json().get("recipients") or [])
        rejected = {"partial_rejection": 1, "all_rejected": recipients}.get(scenario, 0)
        results: dict[str, Any] = {
            "total_rejected_recipients": rejected,
            "total_accepted_recipients": recipients - rejected,
            "id": str(next(self._ids)),
        }
        body: dict[str, Any] = {"results": results}
        if rejected:
            body["errors"] = [
                {"message": "transmission created, but with validation errors", "code": "2000"}
            ]
            results["rcpt_to_errors"] = [
                {
                    "message": "required field is missing",
                    "description": "address.email is required for each recipient",
                    "code": "1400",
                }
            ] * rejected
        return FakeResponse.json(body)

    def transmissions(self, server: Any) -> list[RecordedRequest]:
        return [
            request
            for request in getattr(server, "requests", ())
            if request.method == "POST" and request.path == f"{API_PATH}/transmissions"
        ]

    def request_count(self, server: Any) -> int:
        return len(self.transmissions(server))

    def sent_messages(self, server: Any) -> list[SentMessage]:
        return [self.read_message(request.json()) for request in self.transmissions(server)]

    def read_message(self, body: dict[str, Any]) -> SentMessage:
        """What the transmission asks SparkPost to send.

        Which recipients are To, Cc and Bcc: the Cc ones are in the CC header; each
        recipient's ``header_to`` is the To header it sees; a recipient shown in
        that header (or with no header_to) is a To recipient, and the rest are Bcc.
        (With a spoofed To header, the real To recipients look like Bcc ones: the
        transmission doesn't tell them apart, and SparkPost treats them alike.)
        """
        content = body.get("content") or {}
        options = body.get("options") or {}
        override = body.get("override") or {}
        headers = dict(content.get("headers") or {})
        cc_specs = {addr_spec_of(address) for address in address_list(headers.pop("CC", None))}
        header_tos = {
            r["address"]["header_to"]
            for r in body.get("recipients") or []
            if r["address"].get("header_to")
        }
        shown = address_list(header_tos.pop()) if len(header_tos) == 1 else []
        shown_by_spec = {addr_spec_of(address): address for address in shown}

        sent = SentMessage(raw=body)
        for recipient in body.get("recipients") or []:
            address = recipient["address"]
            email = address["email"]
            if email in cc_specs:
                sent.cc.append(email)
            elif "header_to" not in address:
                sent.to.append(transmission_address(address))
            elif email in shown_by_spec:
                sent.to.append(shown_by_spec[email])
            else:
                sent.bcc.append(email)
            if "metadata" in recipient:
                sent.merge_metadata = sent.merge_metadata or {}
                sent.merge_metadata[email] = recipient["metadata"]
            if "substitution_data" in recipient:
                sent.merge_data = sent.merge_data or {}
                sent.merge_data[email] = recipient["substitution_data"]
        if shown and {addr_spec_of(address) for address in shown} != {
            addr_spec_of(a) for a in sent.to
        }:
            sent.spoofed_to = shown

        sender = content.get("from") or override.get("from")
        sent.from_email = [transmission_address(sender)] if sender else []
        sent.reply_to = address_list(content.get("reply_to") or override.get("reply_to"))
        sent.subject = content.get("subject")
        sent.text = content.get("text")
        sent.html = content.get("html")
        sent.headers = headers
        sent.attachments = [
            transmission_attachment(part) for part in content.get("attachments") or []
        ]
        sent.inline_images = [
            transmission_attachment(part, inline=True)
            for part in content.get("inline_images") or []
        ]
        sent.template_id = content.get("template_id")
        sent.envelope_sender = body.get("return_path")
        sent.metadata = dict(body.get("metadata") or {})
        sent.merge_global_data = body.get("substitution_data")
        sent.tags = [body["campaign_id"]] if body.get("campaign_id") else []
        sent.track_clicks = options.get("click_tracking")
        sent.track_opens = options.get("open_tracking")
        if options.get("start_time"):
            sent.send_at = datetime.fromisoformat(options["start_time"])
        return sent


def transmission_address(address: Any) -> str:
    """A transmissions API address (a string, or {email, name}) as "Name <email>"."""
    if isinstance(address, str):
        return address
    return formatted_address(address["email"], address.get("name"))


def transmission_attachment(part: dict[str, Any], inline: bool = False) -> SentAttachment:
    return SentAttachment(
        filename=None if inline else part["name"],
        content=base64.b64decode(part["data"]),
        # (without the charset parameter Anymail adds to non-ASCII text)
        mimetype=part["type"].split(";")[0].strip(),
        content_id=part["name"] if inline else None,
    )


PROFILE = SparkPostProfile()
