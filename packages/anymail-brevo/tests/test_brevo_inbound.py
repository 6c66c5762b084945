"""Brevo's inbound parsing webhook: the published sample through the real URL, the
pure converter, and attachments, downloaded from a fake Brevo API (a real HTTP
server on 127.0.0.1) when a receiver reads them."""

from datetime import datetime

import pytest

from anymail.backends.brevo import _warned as warned
from anymail.conformance.brevo.profile import API_KEY, PROFILE, inbound_attachment
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailDeprecationWarning,
)
from anymail.inbound import AnymailInboundMessage
from anymail.signals import inbound
from anymail.webhooks.brevo import BrevoInboundAttachment, inbound_events
from anymail.webhooks.readers import MalformedPayload
from anymail_conformance.fake_server import FakeESPServer
from anymail_conformance.package_checks import PNG, emptied, fixtures_by_name

FIXTURES = fixtures_by_name(PROFILE)
URL = "anymail:brevo_inbound_webhook"

#: The contents the fake Brevo API serves for the sample's download tokens.
CONTENTS = {"abc": PNG, "def": b"%PDF-1.4 summer", "xyz": b"%PDF-1.4 winter"}


def sample():
    """The published sample post (a copy, so tests can change it)."""
    return FIXTURES.json("inbound_published_sample")


def sample_item(**changes):
    item = sample()["items"][0]
    item.update(changes)
    return item


@pytest.fixture(autouse=True)
def _fresh_deprecation_warnings():
    with emptied(warned):
        yield


@pytest.fixture
def brevo_api(settings):
    """A fake Brevo API serving the sample's attachments; BREVO_* settings point at it."""
    with FakeESPServer(lambda request: inbound_attachment(request, CONTENTS)) as server:
        settings.ANYMAIL = {
            **settings.ANYMAIL,
            "BREVO_API_KEY": API_KEY,
            "BREVO_API_URL": f"{server.url}/v3/",
        }
        yield server


class Receiver:
    """An inbound receiver that reads every attachment, as a site's would."""

    def __init__(self):
        self.attachments = []

    def __call__(self, sender, event, esp_name, **kwargs):
        self.attachments.append(
            [
                (part.get_filename(), part.get_content_type(), part.get_content_bytes())
                for part in [*event.message.attachments, *event.message.inline_attachments.values()]
            ]
        )

    def __enter__(self):
        inbound.connect(self, weak=False)
        return self

    def __exit__(self, *exc):
        inbound.disconnect(self)


# --- the published sample, through the webhook


def test_the_published_sample_is_one_inbound_event(webhook_client, webhook_secret):
    response, [signal] = webhook_client.post(URL, sample())
    assert response.status_code == 200
    assert signal.esp_name == "Brevo"
    event = signal.event
    assert event.event_type == "inbound"
    assert event.event_id == "1a825d56-029b-4a41-b8e4-61670463431b"
    assert event.timestamp is None
    assert event.esp_event == sample()["items"][0]
    message = event.message
    assert isinstance(message, AnymailInboundMessage)
    assert str(message.from_email) == "Antoine Lefeuvre <antoine@mailclark.ai>"
    assert message.subject == "Re: Summer brochure 2021"
    assert message.date == datetime.fromisoformat("2020-09-01T09:53:21+02:00")
    assert message["In-Reply-To"] == "<e6df8cf2-cfb2-2cb6-320f-d9cba05a3001@clubble.me>"
    assert message.get_all("Received")[3].startswith("by mail-ot1-f42.google.com")
    assert message.envelope_recipient == "test-2023-08-02@sib-inbound.esperat.fr"
    assert message.envelope_sender == "antoine@mailclark.ai"
    assert message.stripped_text.startswith("Hi Terry,  \nNice to hear from you")
    assert message.spam_score == 3.3


def test_attachments_are_downloaded_when_a_receiver_reads_them(
    webhook_client, webhook_secret, brevo_api
):
    with Receiver() as receiver:
        response, _signals = webhook_client.post(URL, sample())
    assert response.status_code == 200
    [attachments] = receiver.attachments
    assert attachments == [
        ("summer2021.pdf", "application/pdf", CONTENTS["def"]),
        ("winter2020-2021.pdf", "application/pdf", CONTENTS["xyz"]),
        ("duck1.png", "image/png", PNG),  # inline: the HTML shows cid:ii_kejngtlh0
    ]
    paths = sorted(request.path for request in brevo_api.requests)
    assert paths == [f"/v3/inbound/attachments/{token}" for token in ("abc", "def", "xyz")]
    assert {request.headers["api-key"] for request in brevo_api.requests} == {API_KEY}


# --- attachments


def test_listing_attachments_downloads_nothing():
    """No Brevo API (and no API key) is needed to see what is attached."""
    [event] = inbound_events(sample())
    message = event.message
    assert [(a.get_filename(), a.get_content_type()) for a in message.attachments] == [
        ("summer2021.pdf", "application/pdf"),
        ("winter2020-2021.pdf", "application/pdf"),
    ]
    [(cid, image)] = message.inline_attachments.items()
    assert (cid, image.get_filename(), image.get_content_type()) == (
        "ii_kejngtlh0",
        "duck1.png",
        "image/png",
    )
    parts = [*message.attachments, image]
    assert all(isinstance(part, BrevoInboundAttachment) for part in parts)
    assert [part.download_token for part in parts] == ["def", "xyz", "abc"]
    assert [part.content_length for part in parts] == [168910, 113007, 330518]
    assert not any(part.downloaded for part in parts)
    # The PDFs have ContentIDs too, but the HTML doesn't show them: not inline.
    assert [part["Content-ID"] for part in message.attachments] == [
        "<f_kejnjyug1>",
        "<f_kejnjyv02>",
    ]
    assert message.text.startswith("Hi Terry,\nNice to hear from you")
    assert message.html.startswith('<div dir="ltr">Hi Terry,')


def test_an_attachment_is_downloaded_once(brevo_api):
    [event] = inbound_events(sample())
    [pdf, _winter] = event.message.attachments
    assert pdf.get_content_bytes() == CONTENTS["def"]
    assert pdf.downloaded
    upload = pdf.as_uploaded_file()
    assert (upload.name, upload.content_type, upload.read()) == (
        "summer2021.pdf",
        "application/pdf",
        CONTENTS["def"],
    )
    assert len(brevo_api.requests) == 1


def test_serializing_the_message_downloads_its_attachments(brevo_api):
    [event] = inbound_events(sample())
    raw = event.message.as_bytes()
    parsed = AnymailInboundMessage.parse_raw_mime_bytes(raw)
    assert [a.get_content_bytes() for a in parsed.attachments] == [
        CONTENTS["def"],
        CONTENTS["xyz"],
    ]
    assert parsed.inline_attachments["ii_kejngtlh0"].get_content_bytes() == PNG
    assert len(brevo_api.requests) == 3


def test_a_download_token_is_quoted_in_the_url(brevo_api):
    CONTENTS["a/b c"] = b"quoted"
    try:
        item = sample_item(
            Attachments=[{"Name": "q.txt", "ContentType": "text/plain", "DownloadToken": "a/b c"}]
        )
        [event] = inbound_events({"items": [item]})
        [part] = event.message.attachments
        assert part.get_content_bytes() == b"quoted"
    finally:
        del CONTENTS["a/b c"]
    assert brevo_api.requests[0].path == "/v3/inbound/attachments/a%2Fb%20c"


def test_a_failed_download_in_a_receiver_gets_429_so_brevo_posts_again(
    webhook_client, webhook_secret, brevo_api
):
    """Brevo's API refusing (or down) is a fault on our side: the webhook answers 429
    and Brevo retries the post; the retry is then handled."""
    del CONTENTS["xyz"]
    try:
        with Receiver() as receiver:
            response, _signals = webhook_client.post(URL, sample())
        assert response.status_code == 429
        assert receiver.attachments == []
    finally:
        CONTENTS["xyz"] = b"%PDF-1.4 winter"
    with Receiver() as receiver:
        response, _signals = webhook_client.post(URL, sample())
    assert response.status_code == 200
    assert len(receiver.attachments) == 1


def test_a_refused_download_says_which_attachment_without_the_api_key(brevo_api, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "BREVO_API_KEY": "xkeysib-wrong-key-0123"}
    [event] = inbound_events(sample())
    with pytest.raises(AnymailAPIError) as raised:
        event.message.attachments[0].get_content_bytes()
    text = str(raised.value)
    assert "'summer2021.pdf'" in text
    assert "HTTP 401" in text
    assert "Key not found" in text
    assert "xkeysib-wrong-key-0123" not in text
    assert raised.value.status_code == 401


def test_an_unreachable_api_is_an_api_error(settings):
    settings.ANYMAIL = {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": "http://127.0.0.1:9/v3/"}
    [event] = inbound_events(sample())
    with pytest.raises(AnymailAPIError, match="Couldn't download Brevo inbound attachment"):
        event.message.attachments[0].get_content_bytes()


def test_an_attachment_without_a_download_token_says_so():
    item = sample_item(Attachments=[{"Name": "lost.pdf", "ContentType": "application/pdf"}])
    [event] = inbound_events({"items": [item]})
    with pytest.raises(AnymailAPIError, match=r"'lost\.pdf' no DownloadToken"):
        event.message.attachments[0].get_content_bytes()


def test_downloading_without_an_api_key_names_the_setting(settings):
    settings.ANYMAIL = {}
    [event] = inbound_events(sample())
    with pytest.raises(AnymailConfigurationError, match="BREVO_API_KEY"):
        event.message.attachments[0].get_content_bytes()


def test_the_api_key_of_a_mailers_alias_is_used(brevo_api, settings):
    """Django 6.1's MAILERS: the api_key option of an alias using Brevo's backend."""
    settings.ANYMAIL = {}
    settings.MAILERS = {
        "default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
        "brevo": {
            "BACKEND": "anymail.backends.brevo.EmailBackend",
            "OPTIONS": {"api_key": API_KEY, "api_url": f"{brevo_api.url}/v3"},
        },
    }
    [event] = inbound_events(sample())
    assert event.message.attachments[0].get_content_bytes() == CONTENTS["def"]


def test_the_former_sendinblue_api_key_works_with_a_warning(brevo_api, settings):
    settings.ANYMAIL = {"SENDINBLUE_API_KEY": API_KEY, "BREVO_API_URL": f"{brevo_api.url}/v3/"}
    [event] = inbound_events(sample())
    with pytest.warns(AnymailDeprecationWarning, match="Rename it ANYMAIL"):
        assert event.message.attachments[1].get_content_bytes() == CONTENTS["xyz"]


# --- the converter


def test_a_post_with_several_emails_gives_one_event_each_in_order(webhook_client, webhook_secret):
    second = sample_item(Uuid=["2b936e67-13ac-4b52-c9f5-72781574542c"], Subject="Second")
    second["Headers"]["Subject"] = "Second"
    post = {"items": [sample()["items"][0], second]}
    response, signals = webhook_client.post(URL, post)
    assert response.status_code == 200
    assert [s.event.message.subject for s in signals] == ["Re: Summer brochure 2021", "Second"]
    assert [s.event.event_id for s in signals] == [
        "1a825d56-029b-4a41-b8e4-61670463431b",
        "2b936e67-13ac-4b52-c9f5-72781574542c",
    ]


@pytest.mark.parametrize(
    ("uuid", "event_id"),
    [
        (["u1", "u2"], "u1,u2"),  # one UUID per recipient on the receiving domain
        ("u1", "u1"),
        ([], None),  # none: the view derives a digest of the item
        (None, None),
    ],
)
def test_event_id_is_the_uuids(uuid, event_id):
    [event] = inbound_events({"items": [sample_item(Uuid=uuid)]})
    assert event.event_id == event_id


def test_without_a_uuid_the_event_id_is_a_stable_digest(webhook_client, webhook_secret):
    post = {"items": [sample_item(Uuid=[])]}
    _response, [first] = webhook_client.post(URL, post)
    assert first.event.event_id.startswith("sha256:")
    response, signals = webhook_client.post(URL, post)  # Brevo's redelivery
    assert (response.status_code, signals) == (200, [])


@pytest.mark.parametrize(
    ("fields", "score"),
    [
        ({"SpamScore": 3.3}, 3.3),
        ({"SpamScore": None, "Spam": {"Score": -1.5}}, -1.5),  # as Brevo's table documents
        ({"SpamScore": "2"}, 2.0),
        ({"SpamScore": None}, None),
    ],
)
def test_spam_score(fields, score):
    [event] = inbound_events({"items": [sample_item(**fields)]})
    assert event.message.spam_score == score
    assert event.message.spam_detected is None  # Brevo gives no verdict


def test_the_fields_fill_in_headers_the_item_lacks():
    item = sample_item(
        Headers={"X-Only": "this"},
        ReplyTo={"Name": "Replies, Inc.", "Address": "replies@mailclark.ai"},
        Cc=[{"Name": None, "Address": "cc1@example.com"}, {"Address": "cc2@example.com"}],
        To=[{"Name": "Terry", "Address": "test@clubble.me"}, "plain@example.com"],
    )
    [event] = inbound_events({"items": [item]})
    message = event.message
    assert str(message.from_email) == "Antoine Lefeuvre <antoine@mailclark.ai>"
    assert [str(a) for a in message.to] == ["Terry <test@clubble.me>", "plain@example.com"]
    assert [str(a) for a in message.cc] == ["cc1@example.com", "cc2@example.com"]
    assert message["Reply-To"] == '"Replies, Inc." <replies@mailclark.ai>'
    assert message.subject == "Re: Summer brochure 2021"
    assert message.date == datetime.fromisoformat("2020-09-01T09:53:21+02:00")
    assert message["Message-ID"] == item["MessageId"]
    assert message["In-Reply-To"] == item["InReplyTo"]
    assert message["X-Only"] == "this"
    assert message.envelope_sender is None  # no Return-Path header


def test_header_names_that_cant_be_headers_are_left_out():
    """Refusing them would make Brevo discard the email: they stay in esp_event."""
    headers = {"X-Good": ["one", "two"], "Bad Name": "x", "Bad:Name": "y", "": "z"}
    [event] = inbound_events({"items": [sample_item(Headers=headers)]})
    assert event.message.get_all("X-Good") == ["one", "two"]
    assert not any(name.startswith("Bad") for name in event.message)
    assert event.esp_event["Headers"] == headers


def test_recipients_as_mailboxes_and_no_bodies():
    item = sample_item(
        Recipients=[{"Address": "rcpt@reply.example.com", "Name": None}],
        RawHtmlBody=None,
        RawTextBody=None,
        ExtractedMarkdownMessage="",
        Attachments=[],
    )
    [event] = inbound_events({"items": [item]})
    assert event.message.envelope_recipient == "rcpt@reply.example.com"
    assert (event.message.text, event.message.html) == (None, None)
    assert event.message.stripped_text == ""


@pytest.mark.parametrize(
    "payload",
    [
        {"items": []},
        {"items": "not a list"},
        {"items": ["not an item"]},
        {"unexpected": [1]},
        [],
        None,
        {"items": [{**sample_item(), "Headers": ["Subject: x"]}]},
        {"items": [{**sample_item(), "Headers": {"Subject": 7}}]},
        {"items": [{**sample_item(), "From": ["not", "a", "mailbox"]}]},
        {"items": [{**sample_item(), "To": {"Address": "not a list"}}]},
        {"items": [{**sample_item(), "Attachments": [["not", "an", "attachment"]]}]},
        {"items": [{**sample_item(), "Attachments": [{"Name": 7}]}]},
        {"items": [{**sample_item(), "SpamScore": "high"}]},
        {"items": [{**sample_item(), "SpamScore": True}]},
        {"items": [{**sample_item(), "SpamScore": None, "Spam": "high"}]},
        {"items": [{**sample_item(), "Uuid": [7]}]},
        {"items": [{**sample_item(), "RawTextBody": {"not": "text"}}]},
        {"items": [{**sample_item(), "ExtractedMarkdownMessage": 7}]},
    ],
)
def test_every_malformed_payload_is_a_value_error(payload):
    """The view answers 400 (Brevo drops the post) only for a ValueError; any other
    exception would be taken for a fault on our side and answered 429."""
    with pytest.raises(MalformedPayload):  # a ValueError
        inbound_events(payload)


def test_malformed_posts_give_400_and_no_signal(webhook_client, webhook_secret):
    for body in ({"items": []}, {"items": [{**sample_item(), "Headers": ["x"]}]}):
        response, signals = webhook_client.post(URL, body)
        assert (response.status_code, signals) == (400, [])


def test_a_tracking_event_at_the_inbound_url_gets_a_400_naming_the_tracking_url(
    webhook_client, webhook_secret
):
    event = FIXTURES["delivered"].data["request"]["json"]
    for body in (event, [event, event]):
        response, signals = webhook_client.post(URL, body)
        assert response.status_code == 400
        assert b"transactional webhook event" in response.content
        assert b"/anymail/brevo/tracking/" in response.content
        assert signals == []
