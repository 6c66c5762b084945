"""Mailgun's backend against a real HTTP server on 127.0.0.1 (conformance.fake_server):
what is particular to Mailgun. The shared conformance suite proves the rest."""

import json
from base64 import b64encode
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

import pytest

from anymail.conformance.mailgun.profile import API_KEY, PROFILE
from anymail.exceptions import AnymailAPIError, AnymailConfigurationError
from anymail.message import AnymailMessage, attach_inline_image
from anymail.testing import MAILERS_SUPPORTED, get_connection
from anymail_conformance.fake_server import FakeESPServer, FakeResponse
from anymail_conformance.package_checks import refused_unless_ignored, run_python, use_fake_api
from anymail_conformance.package_checks import send_message as send

#: What Mailgun's messages endpoint answers a message with no content.
NO_CONTENT = "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified"


@pytest.fixture
def server():
    def answer(request):
        if "unknown.example" in request.path:
            return FakeResponse.json({"message": "Domain not found: unknown.example"}, 404)
        if request.path.endswith("/messages"):
            # Like Mailgun, refuse a message without (non-empty) content.
            form = request.form()
            if not any(
                any(form.get(name, [])) for name in ("text", "html", "amp-html", "template")
            ):
                return FakeResponse.json({"message": NO_CONTENT}, 400)
        return FakeResponse.json(
            {"id": "<20260101.1@example.com>", "message": "Queued. Thank you."}
        )

    with FakeESPServer(answer) as fake:
        yield fake


@pytest.fixture
def mailgun(settings, server):
    return use_fake_api(settings, PROFILE, server)


def test_send_posts_the_messages_api_with_basic_auth(mailgun):
    message = send(
        cc=["Cc Person <cc@example.com>"], tags=["one", "two"], reply_to=["r@example.com"]
    )
    [request] = mailgun.requests
    assert request.path == "/v3/example.com/messages"
    assert (
        request.headers["Authorization"] == "Basic " + b64encode(f"api:{API_KEY}".encode()).decode()
    )
    form = request.form()
    assert form["from"] == ["Sender <from@example.com>"]
    assert form["to"] == ["to@example.com"]
    assert form["cc"] == ["Cc Person <cc@example.com>"]
    assert form["o:tag"] == ["one", "two"]
    assert form["h:Reply-To"] == ["r@example.com"]
    assert message.anymail_status.status == {"queued"}
    assert message.anymail_status.message_id == "<20260101.1@example.com>"


def test_non_ascii_attachment_filenames_arrive_intact(mailgun):
    message = AnymailMessage(
        subject="s", body="b", from_email="from@example.com", to=["to@example.com"]
    )
    message.attach("Ünïcode résumé.pdf", b"%PDF", "application/pdf")
    message.send()
    [upload] = mailgun.requests[0].files()
    raw = upload.headers["Content-Disposition"].encode("utf-8", "surrogateescape")
    assert "Ünïcode résumé.pdf".encode() in raw


def test_form_data_body_is_the_one_requests_would_build(mailgun):
    """The multipart/form-data body is built by the backend (issue #28), not by requests:
    it must be what requests and urllib3 build from the same fields and files (the
    body Mailgun got before), but for the boundary, and parse to the same fields."""
    import re

    import requests

    message = AnymailMessage(
        subject="Sübject",
        body="Text\r\nbody",
        from_email="Sénder <from@example.com>",
        to=["to@example.com", "Two <two@example.com>"],
        tags=["tag"],
        metadata={"order": "12", "user": {"id": 3}},
    )
    message.attach_alternative('<p>HTML "body"</p>', "text/html")
    message.attach("Ünïcode résumé.pdf", b"%PDF\x00\xff" * 1000, "application/pdf")
    message.attach('a "quoted"\r\nname.txt', "text ü", "text/plain")
    cid = attach_inline_image(message, b"GIF89a", "logo.gif")
    message.send()
    [request] = mailgun.requests

    fields = [
        ("to", "to@example.com"),
        ("to", "Two <two@example.com>"),
        ("subject", "Sübject"),
        ("text", "Text\r\nbody"),
        ("html", '<p>HTML "body"</p>'),
        ("o:tag", "tag"),
        ("from", "Sénder <from@example.com>"),
        ("v:order", "12"),
        ("v:user", '{"id":3}'),
    ]
    files = [
        ("attachment", ("Ünïcode résumé.pdf", b"%PDF\x00\xff" * 1000, "application/pdf")),
        ("attachment", ('a "quoted"\r\nname.txt', "text ü".encode(), "text/plain")),
        ("inline", (cid, b"GIF89a", "image/gif")),
    ]
    expected = requests.Request("POST", "http://example/", data=fields, files=files).prepare()
    sent_boundary = re.fullmatch(
        r"multipart/form-data; boundary=([0-9a-f]{32})", request.headers["Content-Type"]
    )
    assert sent_boundary
    boundary = re.search(r"boundary=(\w+)", expected.headers["Content-Type"]).group(1)
    assert request.body.replace(sent_boundary.group(1).encode(), boundary.encode()) == (
        expected.body
    )

    # And as the fake server (like Mailgun) parses it:
    assert [(f.name, f.text) for f in request.form_fields() if f.filename is None] == fields
    assert [(f.name, (f.filename, f.value, f.content_type)) for f in request.files()] == [
        ("attachment", ("Ünïcode résumé.pdf", b"%PDF\x00\xff" * 1000, "application/pdf")),
        # (the quote and line break percent-encoded, as urllib3 and browsers do)
        ("attachment", ("a %22quoted%22%0D%0Aname.txt", "text ü".encode(), "text/plain")),
        ("inline", (cid, b"GIF89a", "image/gif")),
    ]


def test_form_data_boundary_is_new_for_every_message(mailgun):
    for _ in range(2):
        message = AnymailMessage(body="b", from_email="from@example.com", to=["to@example.com"])
        message.attach("a.txt", b"a", "text/plain")
        message.send()
    first, second = (request.headers["Content-Type"] for request in mailgun.requests)
    assert first.startswith("multipart/form-data; boundary=")
    assert first != second


def test_a_message_without_files_is_still_a_urlencoded_form(mailgun):
    send()
    [request] = mailgun.requests
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.files() == []


def test_attachment_without_filename_is_unsupported(mailgun):
    from email.mime.application import MIMEApplication

    from anymail.exceptions import AnymailUnsupportedFeature

    message = AnymailMessage(
        subject="s", body="b", from_email="from@example.com", to=["to@example.com"]
    )
    message.attach(MIMEApplication(b"data"))
    with pytest.raises(AnymailUnsupportedFeature, match="filename"):
        message.send()
    assert mailgun.requests == []


def _inline_part_without_content_id():
    from email.mime.image import MIMEImage

    part = MIMEImage(b"GIF89a", "gif")
    part["Content-Disposition"] = "inline"
    return part


def _attachment_without_filename():
    from email.mime.application import MIMEApplication

    return MIMEApplication(b"data")


@pytest.mark.parametrize(
    ("unnamed_part", "refusal"),
    [(_inline_part_without_content_id, "Content-ID"), (_attachment_without_filename, "filename")],
)
def test_unnamed_parts_are_refused_or_left_out_with_ignore_unsupported(
    mailgun, settings, unnamed_part, refusal
):
    """Mailgun would drop a file without a name (and an inline part's Content-ID is its
    name): refused, or with IGNORE_UNSUPPORTED_FEATURES left out of a message that is
    sent with its other files."""

    def message_with_unnamed_part():
        message = AnymailMessage(
            subject="s", body="b", from_email="from@example.com", to=["to@example.com"]
        )
        message.attach(unnamed_part())
        message.attach("named.txt", b"kept", "text/plain")
        return message

    def send_it():
        return message_with_unnamed_part().send()

    _refusal, sent = refused_unless_ignored(settings, mailgun, send_it, match=refusal)
    assert sent == 1
    [request] = mailgun.requests
    uploads = [(upload.name, upload.filename, upload.value) for upload in request.files()]
    assert uploads == [("attachment", "named.txt", b"kept")]


@pytest.mark.parametrize(
    ("extra", "envelope_sender", "setting", "expected"),
    [
        (None, None, None, "example.com"),
        (None, None, "mg.example.com", "mg.example.com"),
        (None, "bounces@mail2.example.com", "mg.example.com", "mail2.example.com"),
        (
            {"sender_domain": "legacy.example.com"},
            "x@mail2.example.com",
            None,
            "legacy.example.com",
        ),
    ],
)
def test_sender_domain(mailgun, settings, extra, envelope_sender, setting, expected):
    if setting:
        settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_SENDER_DOMAIN": setting}
    send(esp_extra=extra, envelope_sender=envelope_sender)
    assert mailgun.requests[0].path == f"/v3/{expected}/messages"
    assert "sender_domain" not in mailgun.requests[0].form()


def test_invalid_sender_domain_says_how_to_fix_it(mailgun, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_SENDER_DOMAIN": "me@mg.example.com"}
    with pytest.raises(AnymailConfigurationError) as info:
        send()
    assert "only the domain" in str(info.value)
    assert "MAILGUN_SENDER_DOMAIN" in str(info.value)
    assert mailgun.requests == []


def test_unknown_sender_domain_error_explains(mailgun):
    with pytest.raises(AnymailAPIError) as info:
        send(from_email="from@unknown.example")
    assert info.value.status_code == 404
    assert "MAILGUN_SENDER_DOMAIN" in str(info.value)
    assert "api.eu.mailgun.net" in str(info.value)


def test_eu_region_api_url(settings):
    from anymail.backends.mailgun import EmailBackend

    settings.ANYMAIL = {
        "MAILGUN_API_KEY": API_KEY,
        "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3",
    }
    assert EmailBackend().api_url == "https://api.eu.mailgun.net/v3/"


def test_missing_api_key_names_the_setting(settings):
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    with pytest.raises(AnymailConfigurationError, match="MAILGUN_API_KEY"):
        get_connection()


def test_esp_extra_passes_through(mailgun):
    send(esp_extra={"o:testmode": "yes", "o:tag": ["replaced"]}, tags=["original"])
    form = mailgun.requests[0].form()
    assert form["o:testmode"] == ["yes"]
    assert form["o:tag"] == ["replaced"]


def test_merge_metadata_uses_v_prefixed_recipient_variables(mailgun):
    send(
        to=["a@example.com", "b@example.com"],
        metadata={"campaign": "spring", "order": "default"},
        merge_metadata={"a@example.com": {"order": "1"}, "b@example.com": {"tier": "gold"}},
        merge_data={"a@example.com": {"name": "A"}},
        merge_global_data={"site": "Example"},
    )
    form = mailgun.requests[0].form()
    assert form["v:campaign"] == ["spring"]
    assert form["v:order"] == ["%recipient.v:order%"]
    assert form["v:tier"] == ["%recipient.v:tier%"]
    assert json.loads(form["recipient-variables"][0]) == {
        "a@example.com": {"site": "Example", "name": "A", "v:order": "1", "v:tier": ""},
        "b@example.com": {"site": "Example", "v:order": "default", "v:tier": "gold"},
    }


def test_send_at_and_tracking(mailgun):
    from datetime import UTC, datetime

    send(send_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), track_clicks=False, track_opens=True)
    form = mailgun.requests[0].form()
    assert form["o:deliverytime"] == ["Wed, 02 Jan 2030 03:04:05 +0000"]
    assert form["o:tracking-clicks"] == ["no"]
    assert form["o:tracking-opens"] == ["yes"]


def test_importing_the_backend_imports_no_other_esp_client():
    code = (
        "import django; django.setup(); "
        "import sys, anymail.backends.mailgun, anymail.webhooks.mailgun; "
        "bad = {'boto3', 'sparkpost'} & set(sys.modules); assert not bad, bad"
    )
    run_python(code)


def test_configured_only_through_mailers(settings, server):
    """A Django 6.1 site with only MAILERS (no ANYMAIL dict, no EMAIL_BACKEND); on
    earlier Django, the same options as get_connection() keywords."""
    del settings.ANYMAIL
    backend = "anymail.backends.mailgun.EmailBackend"
    options = {"api_key": API_KEY, "api_url": f"{server.url}/v3", "sender_domain": "mg.example.com"}
    message = AnymailMessage("Subject", "Body", "from@example.com", ["to@example.com"])
    if MAILERS_SUPPORTED:
        from django.core import mail
        from django.core.mail import InvalidMailer

        settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": options}}
        assert message.send() == 1
        settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": {**options, "api_kee": "x"}}}
        with pytest.raises(InvalidMailer, match="'api_kee'"):
            mail.mailers["default"]
    else:
        assert get_connection(backend, **options).send_messages([message]) == 1
    [request] = server.requests
    assert request.path == "/v3/mg.example.com/messages"
    assert (
        request.headers["Authorization"] == "Basic " + b64encode(f"api:{API_KEY}".encode()).decode()
    )
    assert message.anymail_status.status == {"queued"}


def test_internationalized_domains_are_sent_as_idna(mailgun):
    """Mailgun's API and SMTP need the IDNA form; display names stay as they are."""
    send(
        from_email="Zoë Sender <from@example.com>",
        to=["Jürgen Müller <user@bücher.example>", "plain@bücher.example", "ascii@example.com"],
        cc=['"Last, First" <cc@bücher.example>'],
        reply_to=["Ré Ply <reply@bücher.example>"],
        merge_data={"user@bücher.example": {"name": "Jürgen"}},
    )
    form = mailgun.requests[0].form()
    assert form["from"] == ["Zoë Sender <from@example.com>"]
    assert form["to"] == [
        "Jürgen Müller <user@xn--bcher-kva.example>",
        "plain@xn--bcher-kva.example",
        "ascii@example.com",
    ]
    assert form["cc"] == ['"Last, First" <cc@xn--bcher-kva.example>']
    assert form["h:Reply-To"] == ["Ré Ply <reply@xn--bcher-kva.example>"]
    # Mailgun matches recipient-variables keys against the addresses sent.
    variables = json.loads(form["recipient-variables"][0])
    assert variables["user@xn--bcher-kva.example"] == {"name": "Jürgen"}
    assert set(variables) == {
        "user@xn--bcher-kva.example",
        "plain@xn--bcher-kva.example",
        "ascii@example.com",
    }


def test_internationalized_from_bcc_and_sending_domain_are_sent_as_idna(mailgun):
    """The From address, Bcc, and the sending domain (in the URL) in IDNA form too."""
    send(
        from_email="Zoë <from@bücher.example>",
        to=["to@example.com"],
        bcc=["Blind <bcc@bücher.example>"],
    )
    [request] = mailgun.requests
    assert request.path == "/v3/xn--bcher-kva.example/messages"
    form = request.form()
    assert form["from"] == ["Zoë <from@xn--bcher-kva.example>"]
    assert form["bcc"] == ["Blind <bcc@xn--bcher-kva.example>"]


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"envelope_sender": "bounces@mail.bücher.example"}, None),
        ({}, "mail.bücher.example"),
    ],
)
def test_internationalized_sending_domain_is_sent_as_idna(mailgun, settings, kwargs, setting):
    if setting:
        settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_SENDER_DOMAIN": setting}
    send(**kwargs)
    assert mailgun.requests[0].path == "/v3/mail.xn--bcher-kva.example/messages"


def test_uses_the_base_idna_helpers():
    """One IDNA implementation: EmailAddress.idna_address / idna_addr_spec (anymail-base)."""
    import anymail.backends.mailgun as module

    assert not hasattr(module, "_idna_addr_spec")
    assert not hasattr(module, "_ascii_domain")


def parse_mime(request):
    [upload] = [upload for upload in request.files() if upload.name == "message"]
    assert upload.filename == "message.mime"
    return BytesParser(policy=policy.default).parsebytes(upload.value)


def test_empty_body_is_sent_with_an_empty_text_part(mailgun):
    """Mailgun's messages endpoint refuses a message with no (non-empty) text, html or
    template. Django sends an empty body as an empty text/plain part: so does Anymail,
    through messages.mime, with every recipient, option and attachment."""
    message = AnymailMessage(
        subject="Sübject",
        body="",
        from_email="Zoë <from@example.com>",
        to=["to@example.com", "Jürgen <user@bücher.example>"],
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
        reply_to=["reply@example.com"],
        headers={"X-Custom": "value"},
        tags=["empty"],
        metadata={"order": "1"},
        track_opens=True,
    )
    message.attach("report.pdf", b"%PDF", "application/pdf")
    cid = attach_inline_image(message, b"\x89PNG", "logo.png", subtype="png")
    message.send()
    assert message.anymail_status.status == {"queued"}

    [request] = mailgun.requests
    assert request.path == "/v3/example.com/messages.mime"
    form = request.form()
    assert form["to"] == [
        "to@example.com",
        "Jürgen <user@xn--bcher-kva.example>",
        "cc@example.com",
        "bcc@example.com",
    ]
    assert form["o:tag"] == ["empty"]
    assert form["v:order"] == ["1"]
    assert form["o:tracking-opens"] == ["yes"]
    assert not {"from", "cc", "bcc", "subject", "text", "html", "h:X-Custom"} & set(form)

    mime = parse_mime(request)
    assert mime["From"] == "Zoë <from@example.com>"
    assert mime["To"] == "to@example.com, Jürgen <user@xn--bcher-kva.example>"
    assert mime["Cc"] == "cc@example.com"
    assert "Bcc" not in mime
    assert mime["Reply-To"] == "reply@example.com"
    assert mime["Subject"] == "Sübject"
    assert mime["X-Custom"] == "value"
    assert mime["Date"]
    parts = [part for part in mime.walk() if not part.is_multipart()]
    body, *attachments = parts
    assert body.get_content_type() == "text/plain"
    assert body.get_payload(decode=True) == b""
    assert {
        (
            part.get_content_disposition(),
            part.get_filename(),
            part["Content-ID"],
            part.get_content(),
        )
        for part in attachments
    } == {
        ("attachment", "report.pdf", None, b"%PDF"),
        ("inline", "logo.png", f"<{cid}>", b"\x89PNG"),
    }
    # The conformance profile reads it back as the message that was sent.
    sent = PROFILE.read_message(request)
    assert (sent.text, sent.html, sent.subject) == ("", None, "Sübject")
    assert [addr for _name, addr in getaddresses(sent.to)] == [
        "to@example.com",
        "user@xn--bcher-kva.example",
    ]
    assert (sent.cc, sent.bcc) == (["cc@example.com"], ["bcc@example.com"])
    assert sent.headers == {"X-Custom": "value"}
    assert (sent.tags, sent.metadata, sent.track_opens) == (["empty"], {"order": "1"}, True)
    assert [a.filename for a in sent.attachments] == ["report.pdf"]
    assert [i.content_id for i in sent.inline_images] == [cid]


def test_empty_html_body_is_an_empty_html_part(mailgun):
    message = AnymailMessage(subject="s", body="", from_email="f@example.com", to=["t@example.com"])
    message.content_subtype = "html"
    message.send()
    [request] = mailgun.requests
    assert request.path.endswith("/messages.mime")
    mime = parse_mime(request)
    assert mime.get_content_type() == "text/html"
    assert mime.get_payload(decode=True) == b""


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"body": "Body"}, "text", "Body"),
        ({"body": "", "esp_extra": {"template": "welcome"}}, "template", "welcome"),
    ],
)
def test_a_message_with_content_goes_to_the_messages_endpoint(mailgun, kwargs, field, value):
    """Only an empty body is sent as MIME: a body, or a Mailgun template, is content."""
    message = AnymailMessage(
        subject="s", from_email="f@example.com", to=["t@example.com"], **kwargs
    )
    message.send()
    [request] = mailgun.requests
    assert request.path == "/v3/example.com/messages"
    assert request.form()[field] == [value]
    assert "text" not in request.form() or field == "text"


def test_empty_body_mime_keeps_a_non_ascii_local_part_as_utf8(mailgun):
    """An address whose local part isn't ASCII can't be RFC 2047 encoded: the MIME
    message is then written as UTF-8 (SMTPUTF8), as the messages endpoint gets it."""
    send(body="", to=["Jörg <jörg@example.com>"])
    [request] = mailgun.requests
    assert request.form()["to"] == ["Jörg <jörg@example.com>"]
    [upload] = [upload for upload in request.files() if upload.name == "message"]
    assert "To: Jörg <jörg@example.com>".encode() in upload.value
    assert parse_mime(request)["To"] == "Jörg <jörg@example.com>"


# --- stored templates (template_id) ---


def template_message(**kwargs):
    """A message that uses a Mailgun template for its subject and content."""
    kwargs.setdefault("from_email", "Sender <from@example.com>")
    kwargs.setdefault("to", ["to@example.com"])
    message = AnymailMessage(body="", **kwargs)
    message.subject = None  # the template's subject
    message.template_id = "order-shipped"
    return message


def test_template_id_is_mailguns_template_with_global_data_as_t_variables(mailgun):
    """The template is the content: an empty body goes to the messages endpoint (not
    messages.mime), with no subject of our own and merge_global_data as t:variables."""
    message = template_message(
        to=["a@example.com", "b@example.com"],
        merge_global_data={"site": "Example", "items": [{"sku": "X1", "qty": 2}]},
        metadata={"order": "1001"},
        esp_extra={"t:version": "v2", "t:text": "yes"},
    )
    message.send()
    assert message.anymail_status.status == {"queued"}
    [request] = mailgun.requests
    assert request.path == "/v3/example.com/messages"
    assert request.files() == []
    form = request.form()
    assert form["template"] == ["order-shipped"]
    assert json.loads(form["t:variables"][0]) == {
        "site": "Example",
        "items": [{"sku": "X1", "qty": 2}],
    }
    assert form["v:order"] == ["1001"]
    assert (form["t:version"], form["t:text"]) == (["v2"], ["yes"])
    # Not a batch send (no merge_data): one message to both, no recipient-variables.
    assert form["to"] == ["a@example.com", "b@example.com"]
    assert not {"subject", "text", "html", "recipient-variables"} & set(form)

    sent = PROFILE.read_message(request)
    assert sent.template_id == "order-shipped"
    assert sent.subject is None
    assert sent.merge_global_data == {"site": "Example", "items": [{"sku": "X1", "qty": 2}]}
    assert sent.merge_data is None
    assert sent.metadata == {"order": "1001"}


def test_template_batch_send_gives_each_recipient_their_merge_data(mailgun):
    """Per-recipient merge_data: recipient-variables, and each key as v:<key> =
    %recipient.<key>%, which Mailgun's templates read as {{key}}. A key that is also
    global data is every recipient's own (the global value as their default)."""
    template_message(
        to=["A <a@example.com>", "b@example.com", "c@bücher.example"],
        merge_data={
            "a@example.com": {"name": "Alice", "order": "1001"},
            "b@example.com": {"name": "Bob"},
        },
        merge_global_data={"site": "Example", "name": "friend"},
        metadata={"campaign": "spring"},
        merge_metadata={"a@example.com": {"tier": "gold"}},
    ).send()
    [request] = mailgun.requests
    assert request.path == "/v3/example.com/messages"
    form = request.form()
    assert form["template"] == ["order-shipped"]
    assert form["v:name"] == ["%recipient.name%"]
    assert form["v:order"] == ["%recipient.order%"]
    assert form["v:campaign"] == ["spring"]
    assert form["v:tier"] == ["%recipient.v:tier%"]
    assert json.loads(form["t:variables"][0]) == {"site": "Example"}
    assert json.loads(form["recipient-variables"][0]) == {
        "a@example.com": {"name": "Alice", "order": "1001", "v:tier": "gold"},
        "b@example.com": {"name": "Bob", "order": "", "v:tier": ""},
        "c@xn--bcher-kva.example": {"name": "friend", "order": "", "v:tier": ""},
    }

    sent = PROFILE.read_message(request)
    assert sent.effective_merge_data("a@example.com") == {
        "site": "Example",
        "name": "Alice",
        "order": "1001",
    }
    assert sent.effective_merge_data("b@example.com") == {
        "site": "Example",
        "name": "Bob",
        "order": "",
    }
    assert sent.metadata == {"campaign": "spring"}
    assert sent.merge_metadata["a@example.com"] == {"tier": "gold"}


def test_template_batch_send_without_global_data_sends_no_t_variables(mailgun):
    template_message(merge_data={"to@example.com": {"name": "Tō"}}).send()
    form = mailgun.requests[0].form()
    assert "t:variables" not in form
    assert form["v:name"] == ["%recipient.name%"]
    assert json.loads(form["recipient-variables"][0]) == {"to@example.com": {"name": "Tō"}}


def test_without_a_template_global_data_is_still_copied_into_recipient_variables(mailgun):
    """No template: the message's own body uses %recipient.<key>% only, so there are
    no v: placeholders for merge data and no t:variables."""
    send(
        body="Hi %recipient.name% from %recipient.site%",
        merge_data={"to@example.com": {"name": "Tō"}},
        merge_global_data={"site": "Example"},
    )
    form = mailgun.requests[0].form()
    assert not {"template", "t:variables", "v:name"} & set(form)
    assert json.loads(form["recipient-variables"][0]) == {
        "to@example.com": {"site": "Example", "name": "Tō"}
    }


@pytest.mark.parametrize(
    ("kwargs", "other"),
    [
        ({"metadata": {"order": "1001"}}, "metadata"),
        ({"merge_metadata": {"to@example.com": {"order": "1001"}}}, "merge_metadata"),
    ],
)
def test_template_merge_field_named_like_metadata_is_refused(mailgun, kwargs, other):
    """Both would be the v:order variable: refused, naming the field, nothing sent."""
    from anymail.exceptions import AnymailSerializationError

    message = template_message(merge_data={"to@example.com": {"order": "A-1"}}, **kwargs)
    with pytest.raises(AnymailSerializationError) as info:
        message.send()
    assert info.value.field == "merge_data['to@example.com']['order']"
    assert f"{other} key 'order'" in str(info.value)
    assert "v:order" in str(info.value)
    assert mailgun.requests == []


@pytest.mark.parametrize("template_id", ["", "  "])
def test_empty_template_id_is_refused(mailgun, template_id):
    from anymail.exceptions import AnymailSerializationError

    message = template_message()
    message.template_id = template_id
    with pytest.raises(AnymailSerializationError, match="template_id") as info:
        message.send()
    assert info.value.field == "template_id"
    assert mailgun.requests == []


def test_template_from_email_none_uses_the_templates_from(mailgun, settings):
    """from_email=None leaves From to the template (the sending domain then comes
    from MAILGUN_SENDER_DOMAIN)."""
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_SENDER_DOMAIN": "mg.example.com"}
    message = template_message()
    message.from_email = None
    message.send()
    [request] = mailgun.requests
    assert request.path == "/v3/mg.example.com/messages"
    assert "from" not in request.form()
    assert request.form()["template"] == ["order-shipped"]


def test_template_with_a_subject_of_our_own_sends_it(mailgun):
    """A subject you set overrides the template's (Mailgun's messages reference)."""
    message = template_message()
    message.subject = "Your order"
    message.send()
    form = mailgun.requests[0].form()
    assert form["subject"] == ["Your order"]
    assert form["template"] == ["order-shipped"]


def test_template_metadata_named_like_global_data_is_sent_as_both(mailgun):
    """t:variables win over v: variables in the template (Mailgun's sending options),
    so metadata may share a name with global merge data: webhooks still get it."""
    template_message(metadata={"site": "spring-campaign"}, merge_global_data={"site": "Ex"}).send()
    form = mailgun.requests[0].form()
    assert form["v:site"] == ["spring-campaign"]
    assert json.loads(form["t:variables"][0]) == {"site": "Ex"}


def test_readme_feature_table_is_the_generated_one():
    """The README's table is render_matrix's output for the declaration, never typed."""
    from anymail.esps.mailgun import ESP
    from anymail.matrix import render_matrix

    generated = render_matrix([ESP]).split("| **Tracking webhook event types**")[0]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert generated.strip() in readme
