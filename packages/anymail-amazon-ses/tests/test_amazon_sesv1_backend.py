"""The SES API v1 backend (anymail.backends.amazon_sesv1): SendRawEmail and
SendBulkTemplatedEmail, through moto's SES server over real HTTP. (What both
backends must do alike is in test_amazon_ses_both_backends.py.)"""

import pytest
from django.core import mail

from anymail.exceptions import AnymailAPIError, AnymailUnsupportedFeature
from anymail.message import AnymailMessage
from anymail.testing import MAILERS_SUPPORTED, get_connection, use_backend

from .conftest import V1_BACKEND


def sent(profile, server):
    return profile.sent_messages(server)


def test_send_raw_email(sesv1_settings, profile, moto_ses):
    message = AnymailMessage(
        "Subject",
        "Text",
        "Sender <sender@example.com>",
        ["to@example.org", "Bob <bob@example.org>"],
        bcc=["hidden@example.org"],
        reply_to=["reply@example.com"],
        headers={"X-Custom": "yes"},
        metadata={"order": "ü12"},
        tags=["one", "two"],
    )
    message.attach_alternative("<p>HTML</p>", "text/html")
    message.attach("file.txt", b"content", "text/plain")
    assert message.send() == 1
    assert message.anymail_status.status == {"queued"}
    assert message.anymail_status.message_id
    (out,) = sent(profile, moto_ses)
    assert out.from_email == ["Sender <sender@example.com>"]
    assert out.to == ["to@example.org", "Bob <bob@example.org>"]
    assert out.bcc == ["hidden@example.org"]
    assert out.reply_to == ["reply@example.com"]
    assert out.text == "Text\n" or out.text.rstrip() == "Text"
    assert out.html == "<p>HTML</p>" or out.html.rstrip() == "<p>HTML</p>"
    assert out.headers["X-Custom"] == "yes"
    assert out.metadata == {"order": "ü12"}
    assert out.tags == ["one", "two"]
    assert out.attachments[0].content == b"content"
    assert "anymail-amazon-ses/" in moto_ses.requests[0].headers["User-Agent"]


def test_envelope_sender_configuration_set_and_message_tag(
    sesv1_settings, profile, moto_ses, settings
):
    settings.ANYMAIL = {
        **sesv1_settings,
        "AMAZON_SES_CONFIGURATION_SET_NAME": "TrackingConfigSet",
        "AMAZON_SES_MESSAGE_TAG_NAME": "Type",
    }
    message = AnymailMessage("S", "B", "sender@example.com", ["to@example.org"], tags=["Marketing"])
    message.envelope_sender = "bounces@example.com"
    message.esp_extra = {"SourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com"}
    message.send()
    (out,) = sent(profile, moto_ses)
    assert out.envelope_sender == "bounces@example.com"
    assert out.raw["ConfigurationSetName"] == "TrackingConfigSet"
    assert out.raw["Tags"] == [{"Name": "Type", "Value": "Marketing"}]
    assert out.raw["SourceArn"].endswith("identity/example.com")


def test_message_tag_allows_one_valid_tag(sesv1_settings, settings, moto_ses):
    settings.ANYMAIL = {**sesv1_settings, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    with pytest.raises(AnymailUnsupportedFeature) as info:
        AnymailMessage("S", "B", "s@example.com", ["t@example.org"], tags=["a", "b"]).send()
    assert info.value.feature == "tags"
    with pytest.raises(AnymailUnsupportedFeature):
        AnymailMessage("S", "B", "s@example.com", ["t@example.org"], tags=["has space"]).send()


def test_bulk_templated_email(sesv1_settings, profile, moto_ses):
    moto_ses.client().create_template(
        Template={"TemplateName": "Welcome", "SubjectPart": "Hi {{name}}", "TextPart": "{{name}}"}
    )
    message = AnymailMessage(
        from_email="Shipping <shipping@example.com>",
        to=["alice@example.org", "Bob <bob@example.org>"],
        template_id="Welcome",
        merge_data={"alice@example.org": {"name": "Alice"}, "bob@example.org": {"name": "Bob"}},
        merge_global_data={"ship_date": "May 15"},
    )
    message.send()
    status = message.anymail_status
    assert status.status == {"queued"}
    assert (
        status.recipients["alice@example.org"].message_id
        != status.recipients["bob@example.org"].message_id
    )
    (out,) = sent(profile, moto_ses)
    assert out.template_id == "Welcome"
    assert out.merge_data == {
        "alice@example.org": {"name": "Alice"},
        "bob@example.org": {"name": "Bob"},
    }
    assert out.merge_global_data == {"ship_date": "May 15"}


@pytest.mark.parametrize(
    ("extra", "feature"),
    [
        ({"headers": {"X-Custom": "1"}}, "headers"),
        ({"metadata": {"a": "b"}}, "metadata"),
        ({"tags": ["t"]}, "tags"),
        ({"subject": "Not allowed"}, "subject"),
    ],
)
def test_template_limits(sesv1_settings, moto_ses, profile, extra, feature):
    message = AnymailMessage(
        from_email="s@example.com", to=["t@example.org"], template_id="T", **extra
    )
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert info.value.feature == feature
    assert "Amazon SES templates don't allow" in str(info.value)
    assert "built-in method" not in str(info.value)
    assert profile.request_count(moto_ses) == 0


def test_template_limit_names_the_feature_by_its_title(sesv1_settings, moto_ses):
    message = AnymailMessage(from_email="s@example.com", to=["t@example.org"], template_id="T")
    message.extra_headers["To"] = "Shown <shown@example.org>"
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert "templates don't allow a To header different from the recipients" in str(info.value)


def test_template_attachments_unsupported(sesv1_settings, moto_ses):
    message = AnymailMessage(from_email="s@example.com", to=["t@example.org"], template_id="T")
    message.attach("a.txt", "x", "text/plain")
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert info.value.feature == "attachments"


def test_api_error(sesv1_settings, moto_ses):
    with pytest.raises(AnymailAPIError) as info:
        mail.send_mail("S", "B", "someone@unverified.example", ["t@example.org"])
    assert info.value.status_code == 400
    assert "MessageRejected" in str(info.value)


def test_server_error_and_malformed(sesv1_settings, profile, moto_ses):
    profile.set_scenario(moto_ses, "server_error")
    with pytest.raises(AnymailAPIError) as info:
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])
    assert info.value.status_code == 500
    assert "InternalFailure" in str(info.value)
    profile.set_scenario(moto_ses, "malformed")
    with pytest.raises(AnymailAPIError):
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])


def test_one_connection_per_send_messages(sesv1_settings, moto_ses):
    messages = [
        mail.EmailMessage("S", "B", "s@example.com", [f"t{n}@example.org"]) for n in range(3)
    ]
    assert get_connection().send_messages(messages) == 3
    assert moto_ses.connection_count == 1


def test_unreachable(settings, profile):
    use_backend(settings, V1_BACKEND)
    settings.ANYMAIL = profile.unreachable_settings()
    with pytest.raises(AnymailAPIError):
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])


def test_configured_only_through_mailers(settings, profile, moto_ses):
    """A Django 6.1 site with only MAILERS (no ANYMAIL dict, no EMAIL_BACKEND); on
    earlier Django, the same options as get_connection() keywords."""
    del settings.ANYMAIL
    backend = V1_BACKEND
    options = {
        "client_params": profile.client_params(moto_ses.url),
        "configuration_set_name": "MailersSet",
    }
    message = AnymailMessage("Subject", "Body", "sender@example.com", ["to@example.org"])
    if MAILERS_SUPPORTED:
        from django.core import mail
        from django.core.mail import InvalidMailer

        settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": options}}
        assert message.send() == 1
        settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": {**options, "region": "x"}}}
        with pytest.raises(InvalidMailer, match="'region'"):
            mail.mailers["default"]
    else:
        assert get_connection(backend, **options).send_messages([message]) == 1
    assert message.anymail_status.status == {"queued"}
    [params] = profile.send_requests(moto_ses)
    assert params["ConfigurationSetName"] == "MailersSet"


@pytest.mark.parametrize("envelope_sender", [None, "bounces@example.com"])
def test_several_from_addresses_name_the_sender(sesv1_settings, profile, moto_ses, envelope_sender):
    """SES's Source is the first From address, unless envelope_sender says otherwise
    (Python 3.13's email.utils.parseaddr no longer reads one out of a list)."""
    message = AnymailMessage(
        "Subject", "Body", '"First" <first@example.com>, second@example.com', ["to@example.org"]
    )
    if envelope_sender:
        message.envelope_sender = envelope_sender
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    assert params["Source"] == (envelope_sender or "first@example.com")


def raw_mime(profile, server):
    """The raw MIME bytes of the (one) SendRawEmail call the server received."""
    import base64

    [params] = profile.send_requests(server)
    return base64.b64decode(params["RawMessage"]["Data"])


def test_non_ascii_text_parts_are_quoted_printable(sesv1_settings, profile, moto_ses):
    """SES passes 8bit bodies on as they are (some clients then show "?"): every
    non-ASCII text part goes out quoted-printable, and the message is 7-bit clean."""
    from email import message_from_bytes, policy

    message = AnymailMessage(
        "Grüße", "Grüße, Jürgen: " + "é" * 200, "s@example.com", ["t@example.org"]
    )
    message.attach_alternative("<p>Grüße, Jürgen</p>", "text/html")
    message.attach("notes.txt", "Ärger", "text/plain")
    message.send()
    raw = raw_mime(profile, moto_ses)
    assert raw.isascii()
    parsed = message_from_bytes(raw, policy=policy.default)
    text, html, attachment = (part for part in parsed.walk() if not part.is_multipart())
    for part in (text, html):
        # quoted-printable where Django would have used 8bit; Django 6's own choice of
        # base64 (for text that is mostly non-ASCII) is kept
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
        assert all(len(line) <= 76 for line in part.get_payload().splitlines())
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().rstrip("\r\n") == "Grüße, Jürgen: " + "é" * 200
    assert html.get_content().rstrip("\r\n") == "<p>Grüße, Jürgen</p>"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_payload(decode=True) == "Ärger".encode()


def test_ascii_text_parts_stay_7bit(sesv1_settings, profile, moto_ses):
    AnymailMessage("Hi", "Plain ASCII", "s@example.com", ["t@example.org"]).send()
    raw = raw_mime(profile, moto_ses)
    assert b"quoted-printable" not in raw


# --- issue #23: template sends with AMAZON_SES_MESSAGE_TAG_NAME ---


def test_template_tag_is_sent_as_default_tags(sesv1_settings, settings, profile, moto_ses):
    """SendBulkTemplatedEmail has no ``Tags`` parameter (botocore refuses it before
    anything is sent): the tag goes in ``DefaultTags``, which SES applies to every
    destination of the batch."""
    settings.ANYMAIL = {**sesv1_settings, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    message = AnymailMessage(
        from_email="s@example.com",
        to=["alice@example.org", "bob@example.org"],
        template_id="conformance-template",
        merge_data={"alice@example.org": {"name": "Alice"}, "bob@example.org": {"name": "Bob"}},
        tags=["Marketing"],
    )
    assert message.send() == 1
    assert message.anymail_status.status == {"queued"}
    [params] = profile.send_requests(moto_ses)
    assert params["Action"] == "SendBulkTemplatedEmail"
    assert "Tags" not in params
    assert params["DefaultTags"] == [{"Name": "Type", "Value": "Marketing"}]
    [out] = profile.sent_messages(moto_ses)
    assert out.tags == ["Marketing"]


def test_template_tag_merges_with_esp_extra_tags(sesv1_settings, settings, profile, moto_ses):
    """esp_extra's ``Tags`` (what the docs show for SendRawEmail, and what a
    SEND_DEFAULTS esp_extra shared by every send holds) become the template send's
    ``DefaultTags``, after the Anymail tag; esp_extra ``DefaultTags`` are kept too."""
    settings.ANYMAIL = {**sesv1_settings, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    message = AnymailMessage(
        from_email="s@example.com",
        to=["alice@example.org"],
        template_id="conformance-template",
        tags=["Marketing"],
        esp_extra={
            "Tags": [{"Name": "UserID", "Value": "42"}],
            "DefaultTags": [{"Name": "Variant", "Value": "A"}],
        },
    )
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    assert "Tags" not in params
    assert params["DefaultTags"] == [
        {"Name": "Type", "Value": "Marketing"},
        {"Name": "UserID", "Value": "42"},
        {"Name": "Variant", "Value": "A"},
    ]


def test_template_tag_without_tag_name_sends_nothing(sesv1_settings, profile, moto_ses):
    message = AnymailMessage(
        from_email="s@example.com",
        to=["t@example.org"],
        template_id="conformance-template",
        tags=["Marketing"],
    )
    with pytest.raises(AnymailUnsupportedFeature, match="AMAZON_SES_MESSAGE_TAG_NAME"):
        message.send()
    assert profile.request_count(moto_ses) == 0


def test_template_esp_extra_tags_of_the_wrong_type_are_refused(sesv1_settings, profile, moto_ses):
    message = AnymailMessage(
        from_email="s@example.com",
        to=["t@example.org"],
        template_id="conformance-template",
        esp_extra={"Tags": "UserID=42"},
    )
    with pytest.raises(AnymailAPIError, match="DefaultTags"):
        message.send()
    assert profile.request_count(moto_ses) == 0


# --- internationalized domains: every address SES sees is in IDNA form ---

IDNA_DOMAIN = "bücher.example"
PUNYCODE_DOMAIN = "xn--bcher-kva.example"


@pytest.fixture
def idna_verified(moto_ses):
    """moto (like SES) refuses an unverified sender: verify the punycode domain."""
    moto_ses.client().verify_domain_identity(Domain=PUNYCODE_DOMAIN)


def _address_headers(raw):
    from email import message_from_bytes

    parsed = message_from_bytes(raw)
    return {
        name: parsed[name] for name in ("From", "To", "Cc", "Reply-To") if parsed[name] is not None
    }


@pytest.mark.parametrize("spoofed_to", [False, True])
@pytest.mark.parametrize("several_from", [False, True])
def test_idna_addresses_raw(
    sesv1_settings, profile, moto_ses, idna_verified, spoofed_to, several_from
):
    from_email = f"Jürgen <from@{IDNA_DOMAIN}>"
    if several_from:
        from_email += f", other@{IDNA_DOMAIN}"
    message = AnymailMessage(
        "Subject",
        "Body",
        from_email,
        [f"Tö <to@{IDNA_DOMAIN}>"],
        cc=[f"cc@{IDNA_DOMAIN}"],
        bcc=[f"bcc@{IDNA_DOMAIN}"],
        reply_to=[f"Réply <reply@{IDNA_DOMAIN}>"],
    )
    if spoofed_to:
        message.extra_headers["To"] = f"Shown <shown@{IDNA_DOMAIN}>"
    assert message.send() == 1
    assert set(message.anymail_status.recipients) == {
        f"to@{IDNA_DOMAIN}",
        f"cc@{IDNA_DOMAIN}",
        f"bcc@{IDNA_DOMAIN}",
    }
    [params] = profile.send_requests(moto_ses)
    assert params["Destinations"] == [
        f"to@{PUNYCODE_DOMAIN}",
        f"cc@{PUNYCODE_DOMAIN}",
        f"bcc@{PUNYCODE_DOMAIN}",
    ]
    if several_from:
        assert params["Source"] == f"from@{PUNYCODE_DOMAIN}"
    raw = raw_mime(profile, moto_ses)
    assert raw.isascii()
    headers = _address_headers(raw)
    assert set(headers) == {"From", "To", "Cc", "Reply-To"}
    for name, value in headers.items():
        assert IDNA_DOMAIN not in value, (name, value)
        assert PUNYCODE_DOMAIN in value, (name, value)
    expected_to = "shown@" if spoofed_to else "to@"
    assert expected_to + PUNYCODE_DOMAIN in headers["To"]


def test_idna_envelope_sender_raw(sesv1_settings, profile, moto_ses, idna_verified):
    message = AnymailMessage("Subject", "Body", f"from@{IDNA_DOMAIN}", [f"to@{IDNA_DOMAIN}"])
    message.envelope_sender = f"bounces@{IDNA_DOMAIN}"
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    assert params["Source"] == f"bounces@{PUNYCODE_DOMAIN}"


@pytest.mark.parametrize("batch", [False, True])
def test_idna_addresses_template(sesv1_settings, profile, moto_ses, idna_verified, batch):
    message = AnymailMessage(
        from_email=f"Jürgen <from@{IDNA_DOMAIN}>",
        to=[f"Tö <to@{IDNA_DOMAIN}>", f"two@{IDNA_DOMAIN}"],
        reply_to=[f"reply@{IDNA_DOMAIN}"],
        template_id="conformance-template",
    )
    if batch:
        # merge_data keys are the addresses as the message has them (anymail-base's
        # rule); only what goes to SES is in IDNA form
        message.merge_data = {
            f"to@{IDNA_DOMAIN}": {"name": "Tö"},
            f"two@{IDNA_DOMAIN}": {"name": "Two"},
        }
    else:
        message.cc = [f"cc@{IDNA_DOMAIN}"]
        message.bcc = [f"bcc@{IDNA_DOMAIN}"]
    message.envelope_sender = f"bounces@{IDNA_DOMAIN}"
    assert message.send() == 1
    assert message.anymail_status.status == {"queued"}
    [params] = profile.send_requests(moto_ses)
    assert params["Source"] == f"=?utf-8?q?J=C3=BCrgen?= <from@{PUNYCODE_DOMAIN}>"
    assert params["ReturnPath"] == f"bounces@{PUNYCODE_DOMAIN}"
    assert params["ReplyToAddresses"] == [f"reply@{PUNYCODE_DOMAIN}"]
    destinations = [d["Destination"] for d in params["Destinations"]]
    if batch:
        assert destinations == [
            {"ToAddresses": [f"=?utf-8?b?VMO2?= <to@{PUNYCODE_DOMAIN}>"]},
            {"ToAddresses": [f"two@{PUNYCODE_DOMAIN}"]},
        ]
        assert [d["ReplacementTemplateData"] for d in params["Destinations"]] == [
            '{"name":"Tö"}',
            '{"name":"Two"}',
        ]
    else:
        assert destinations == [
            {
                "ToAddresses": [
                    f"=?utf-8?b?VMO2?= <to@{PUNYCODE_DOMAIN}>",
                    f"two@{PUNYCODE_DOMAIN}",
                ],
                "CcAddresses": [f"cc@{PUNYCODE_DOMAIN}"],
                "BccAddresses": [f"bcc@{PUNYCODE_DOMAIN}"],
            }
        ]


def test_invalid_idna_domain_sends_nothing(sesv1_settings, profile, moto_ses):
    """A domain with no IDNA form is refused by name before anything is sent."""
    from anymail.exceptions import AnymailInvalidAddress

    bad = "to@" + "ü" * 64 + ".example"  # a label longer than 63 characters
    for template_id in (None, "conformance-template"):
        message = AnymailMessage(from_email="s@example.com", to=[bad])
        if template_id:
            message.template_id = template_id
        else:
            message.subject, message.body = "S", "B"
        with pytest.raises(AnymailInvalidAddress, match="Invalid domain"):
            message.send()
    assert profile.request_count(moto_ses) == 0
