"""One round-trip case per feature: how to use it on a message, and how to tell
from the ESP's normalized :class:`SentMessage` that it arrived intact (or, under
IGNORE_UNSUPPORTED_FEATURES, that it was left out or cut to its first item)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr

from anymail.features import Feature, FeatureSupport, Support
from anymail.message import AnymailMessage, attach_inline_image
from anymail_conformance.profile import Profile, SentMessage

# The smallest valid PNG (1x1 transparent pixel).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
SEND_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
TO1 = "to1@example.com"
TO2 = "to2@example.com"


def addr_specs(addresses: list[str] | None) -> list[str]:
    return [parseaddr(address)[1] for address in addresses or ()]


def base_message(profile: Profile) -> AnymailMessage:
    return AnymailMessage(
        subject="Conformance check",
        body="Plain text body",
        from_email=profile.from_email,
        to=[f"To One <{TO1}>"],
    )


def sender_domain(profile: Profile) -> str:
    return parseaddr(profile.from_email)[1].rpartition("@")[2]


@dataclass(frozen=True)
class FeatureCase:
    """``use`` puts the feature on a message; ``arrived`` checks it reached the ESP
    intact (given the declared support); ``absent`` checks it was left out."""

    use: Callable[[AnymailMessage, Profile, FeatureSupport], None]
    arrived: Callable[[SentMessage, Support], None]
    absent: Callable[[SentMessage], None]
    #: for MAX_ONE: what is left after IGNORE_UNSUPPORTED_FEATURES keeps the first item
    first_only: Callable[[SentMessage], None] | None = None


def _use_envelope_sender(message, profile, features):
    message.envelope_sender = f"bounces@{sender_domain(profile)}"


def _envelope_sender_arrived(sent, support):
    assert sent.envelope_sender is not None
    if support is Support.DOMAIN_ONLY:
        # the ESP takes only the domain (the use() above puts it on the sender's domain)
        expected_domain = addr_specs(sent.from_email)[0].rpartition("@")[2]
        assert sent.envelope_sender.rpartition("@")[2] == expected_domain, sent.envelope_sender
    else:
        assert sent.envelope_sender.startswith("bounces@")


def _use_metadata(message, profile, features):
    message.metadata = {"user_id": "12345", "campaign": "Sommer-Aktion Ü"}


def _use_merge_metadata(message, profile, features):
    message.to = [f"To One <{TO1}>", TO2]
    message.merge_metadata = {TO1: {"order": "1001"}, TO2: {"order": "1002"}}


def _use_tags(message, profile, features):
    message.tags = ["Tag One", "tag-two"]


def _use_template(message, profile, features):
    use_template(message)


def use_template(message: AnymailMessage) -> None:
    """A stored template, as the docs advise: no subject or body of our own."""
    message.template_id = "conformance-template"
    message.subject = None
    message.body = ""


def _use_merge_data(message, profile, features):
    message.to = [f"To One <{TO1}>", TO2]
    message.merge_data = {TO1: {"name": "One"}, TO2: {"name": "Two"}}


def _use_merge_global_data(message, profile, features):
    if features[Feature.MERGE_DATA].sends:
        message.to = [f"To One <{TO1}>", TO2]
        message.merge_data = {TO1: {"name": "One"}, TO2: {"name": "Two"}}
    message.merge_global_data = {"site": "Example Site"}


def _use_from_email(message, profile, features):
    domain = sender_domain(profile)
    message.from_email = f'"First From" <first@{domain}>, second@{domain}'


def _use_reply_to(message, profile, features):
    message.reply_to = ["Reply One <reply1@example.com>", "reply2@example.com"]


def _use_alternatives(message, profile, features):
    message.attach_alternative("<p>HTML body</p>", "text/html")
    message.attach_alternative(CALENDAR, "text/calendar")


def _use_attachments(message, profile, features):
    message.attach("résumé.txt", "Ünïcode text content", "text/plain")
    message.attach("data.bin", bytes(range(256)), "application/octet-stream")


def _use_inline_images(message, profile, features):
    cid = attach_inline_image(message, PNG, "logo.png", subtype="png")
    message.attach_alternative(f'<p>Logo: <img src="cid:{cid}"></p>', "text/html")
    message.conformance_cid = cid  # type: ignore[attr-defined]


def _use_headers(message, profile, features):
    message.extra_headers["X-Conformance"] = "header value"


def _use_spoofed_to(message, profile, features):
    message.extra_headers["To"] = "Spoofed Name <spoofed@example.com>"


def _headers_lower(sent):
    return {name.lower(): value for name, value in sent.headers.items()}


CASES: dict[Feature, FeatureCase] = {
    Feature.ENVELOPE_SENDER: FeatureCase(
        use=_use_envelope_sender,
        arrived=_envelope_sender_arrived,
        absent=lambda sent: _assert(
            not sent.envelope_sender or not sent.envelope_sender.startswith("bounces@")
        ),
    ),
    Feature.METADATA: FeatureCase(
        use=_use_metadata,
        arrived=lambda sent, support: _assert(
            sent.metadata == {"user_id": "12345", "campaign": "Sommer-Aktion Ü"}, sent.metadata
        ),
        absent=lambda sent: _assert(not sent.metadata, sent.metadata),
    ),
    Feature.MERGE_METADATA: FeatureCase(
        use=_use_merge_metadata,
        arrived=lambda sent, support: _assert(
            sent.merge_metadata == {TO1: {"order": "1001"}, TO2: {"order": "1002"}},
            sent.merge_metadata,
        ),
        absent=lambda sent: _assert(not sent.merge_metadata, sent.merge_metadata),
    ),
    Feature.SEND_AT: FeatureCase(
        use=lambda message, profile, features: setattr(message, "send_at", SEND_AT),
        arrived=lambda sent, support: _assert(sent.send_at == SEND_AT, sent.send_at),
        absent=lambda sent: _assert(sent.send_at is None, sent.send_at),
    ),
    Feature.TAGS: FeatureCase(
        use=_use_tags,
        arrived=lambda sent, support: _assert(sent.tags == ["Tag One", "tag-two"], sent.tags),
        absent=lambda sent: _assert(sent.tags == [], sent.tags),
        first_only=lambda sent: _assert(sent.tags == ["Tag One"], sent.tags),
    ),
    Feature.TRACK_CLICKS: FeatureCase(
        use=lambda message, profile, features: setattr(message, "track_clicks", True),
        arrived=lambda sent, support: _assert(sent.track_clicks is True, sent.track_clicks),
        absent=lambda sent: _assert(sent.track_clicks is None, sent.track_clicks),
    ),
    Feature.TRACK_OPENS: FeatureCase(
        use=lambda message, profile, features: setattr(message, "track_opens", False),
        arrived=lambda sent, support: _assert(sent.track_opens is False, sent.track_opens),
        absent=lambda sent: _assert(sent.track_opens is None, sent.track_opens),
    ),
    Feature.TEMPLATE_ID: FeatureCase(
        use=_use_template,
        arrived=lambda sent, support: _assert(
            sent.template_id == "conformance-template", sent.template_id
        ),
        absent=lambda sent: _assert(sent.template_id is None, sent.template_id),
    ),
    Feature.MERGE_DATA: FeatureCase(
        use=_use_merge_data,
        arrived=lambda sent, support: _assert(
            sent.effective_merge_data(TO1).get("name") == "One"
            and sent.effective_merge_data(TO2).get("name") == "Two",
            sent.merge_data,
        ),
        absent=lambda sent: _assert(not sent.merge_data, sent.merge_data),
    ),
    Feature.MERGE_GLOBAL_DATA: FeatureCase(
        use=_use_merge_global_data,
        arrived=lambda sent, support: _assert(
            sent.effective_merge_data(TO1).get("site") == "Example Site",
            (sent.merge_global_data, sent.merge_data),
        ),
        absent=lambda sent: _assert("site" not in sent.effective_merge_data(TO1)),
    ),
    Feature.FROM_EMAIL: FeatureCase(
        use=_use_from_email,
        arrived=lambda sent, support: _assert(
            [spec.partition("@")[0] for spec in addr_specs(sent.from_email)] == ["first", "second"],
            sent.from_email,
        ),
        absent=lambda sent: _assert(len(sent.from_email) <= 1, sent.from_email),
        first_only=lambda sent: _assert(
            [spec.partition("@")[0] for spec in addr_specs(sent.from_email)] == ["first"],
            sent.from_email,
        ),
    ),
    Feature.REPLY_TO: FeatureCase(
        use=_use_reply_to,
        arrived=lambda sent, support: _assert(
            addr_specs(sent.reply_to) == ["reply1@example.com", "reply2@example.com"], sent.reply_to
        ),
        absent=lambda sent: _assert(sent.reply_to == [], sent.reply_to),
        first_only=lambda sent: _assert(
            addr_specs(sent.reply_to) == ["reply1@example.com"], sent.reply_to
        ),
    ),
    Feature.ALTERNATIVES: FeatureCase(
        use=_use_alternatives,
        arrived=lambda sent, support: _assert(
            any(
                mimetype == "text/calendar"
                and content.replace("\r\n", "\n") == CALENDAR.replace("\r\n", "\n")
                for content, mimetype in sent.alternatives
            )
            and sent.html == "<p>HTML body</p>",
            (sent.alternatives, sent.html),
        ),
        absent=lambda sent: _assert(
            not any(mimetype == "text/calendar" for _, mimetype in sent.alternatives)
            and sent.html == "<p>HTML body</p>",
            sent.alternatives,
        ),
    ),
    Feature.ATTACHMENTS: FeatureCase(
        use=_use_attachments,
        arrived=lambda sent, support: _assert(
            [(a.filename, a.content, a.mimetype) for a in sent.attachments]
            == [
                ("résumé.txt", "Ünïcode text content".encode(), "text/plain"),
                ("data.bin", bytes(range(256)), "application/octet-stream"),
            ],
            sent.attachments,
        ),
        absent=lambda sent: _assert(sent.attachments == [], sent.attachments),
    ),
    Feature.INLINE_IMAGES: FeatureCase(
        use=_use_inline_images,
        arrived=lambda sent, support: _assert(
            len(sent.inline_images) == 1
            and sent.inline_images[0].content == PNG
            and sent.inline_images[0].mimetype == "image/png"
            and bool(sent.inline_images[0].content_id),
            sent.inline_images,
        ),
        absent=lambda sent: _assert(sent.inline_images == [], sent.inline_images),
    ),
    Feature.HEADERS: FeatureCase(
        use=_use_headers,
        arrived=lambda sent, support: _assert(
            _headers_lower(sent).get("x-conformance") == "header value", sent.headers
        ),
        absent=lambda sent: _assert("x-conformance" not in _headers_lower(sent), sent.headers),
    ),
    Feature.SPOOFED_TO: FeatureCase(
        use=_use_spoofed_to,
        arrived=lambda sent, support: _assert(
            addr_specs(sent.spoofed_to) == ["spoofed@example.com"], sent.spoofed_to
        ),
        absent=lambda sent: _assert(not sent.spoofed_to, sent.spoofed_to),
    ),
}


def _assert(condition: bool, detail: object = None) -> None:
    if not condition:
        raise AssertionError(f"feature did not arrive as expected: {detail!r}")
