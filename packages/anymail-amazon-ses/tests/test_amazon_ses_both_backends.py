"""What both backends must do alike, each test run through the default one (SES
API v2) and the SES API v1 one (anymail.backends.amazon_sesv1), through moto's SES
server over real HTTP. Where their calls name things differently, the ``ses_api``
fixture (conftest.SesApi) says what each calls them.

First the conformance suite's sends, which the suite itself runs only through the
registered ESP description (v2): each feature case is the suite's own
(anymail_conformance.cases), read back by the profile from what moto received."""

from importlib.metadata import version

import pytest
from django.core import mail

from anymail.esps.amazon_ses import ESP
from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress, AnymailUnsupportedFeature
from anymail.features import Feature, Support
from anymail.message import AnymailMessage
from anymail.testing import MAILERS_SUPPORTED, get_connection, use_backend
from anymail_conformance.cases import CASES, TO1, TO2, base_message

from .conftest import SES_APIS, template_message

FEATURES = [Feature(name) for name in CASES]

#: the send calls of each backend
V2_ACTIONS = {"SendEmail", "SendBulkEmail"}
V1_ACTIONS = {"SendRawEmail", "SendBulkTemplatedEmail"}


def actions(profile, server):
    return {params["Action"] for params in profile.send_requests(server)}


@pytest.mark.parametrize("feature", FEATURES, ids=[f.value for f in FEATURES])
def test_declared_feature_support(ses_api, profile, moto_ses, settings, feature):
    """Supported: arrives intact. Not supported: raises naming the feature and sends
    nothing; with IGNORE_UNSUPPORTED_FEATURES, sent without it."""
    support = ESP.features[feature]
    case = CASES[feature]
    message = base_message(profile)
    case.use(message, profile, ESP.features)
    profile.adapt_message(message, feature.value)
    if support is not Support.NO:
        assert message.send() == 1
        case.arrived(profile.sent_messages(moto_ses)[-1], support)
    else:
        with pytest.raises(AnymailUnsupportedFeature) as raised:
            message.send()
        assert raised.value.feature == feature.value
        assert profile.request_count(moto_ses) == 0
        settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
        message = base_message(profile)
        case.use(message, profile, ESP.features)
        profile.adapt_message(message, feature.value)
        assert message.send() == 1
        case.absent(profile.sent_messages(moto_ses)[-1])
    expected = V1_ACTIONS if ses_api.version == 1 else V2_ACTIONS
    assert actions(profile, moto_ses) <= expected


def test_status_is_normalized(ses_api, profile, moto_ses):
    message = base_message(profile)
    message.to = [f"To One <{TO1}>", TO2]
    message.cc = ["cc@example.com"]
    assert message.send() == 1
    status = message.anymail_status
    assert status.status == {"queued"}
    assert set(status.recipients) == {TO1, TO2, "cc@example.com"}
    assert isinstance(status.message_id, str)
    assert all(r.message_id == status.message_id for r in status.recipients.values())
    assert status.esp_response is not None


@pytest.mark.parametrize(
    ("scenario", "status_range"),
    [("client_error", (400, 499)), ("server_error", (500, 599)), ("malformed", None)],
)
@pytest.mark.parametrize("template", [False, True], ids=["raw", "template"])
def test_api_errors_raise_anymail_api_error(
    ses_api, profile, moto_ses, scenario, status_range, template
):
    profile.set_scenario(moto_ses, scenario)
    message = base_message(profile)
    if template:
        profile.adapt_message(message, "merge_data")  # a stored template
        message.merge_data = {TO1: {"name": "One"}}
    with pytest.raises(AnymailAPIError) as raised:
        message.send()
    if status_range:
        assert status_range[0] <= raised.value.status_code <= status_range[1]
    assert str(raised.value)
    assert get_connection(fail_silently=True).send_messages([base_message(profile)]) == 0


def test_connection_refused_and_timeout(ses_api, profile, moto_ses, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.timeout_settings()}
    profile.set_scenario(moto_ses, "slow")
    with pytest.raises(AnymailAPIError):
        base_message(profile).send()
    settings.ANYMAIL = profile.unreachable_settings()
    use_backend(settings, ses_api.backend)
    with pytest.raises(AnymailAPIError) as raised:
        base_message(profile).send()
    assert raised.value.status_code is None


def test_send_messages_reuses_one_connection(ses_api, profile, moto_ses):
    messages = [base_message(profile) for _ in range(3)]
    assert get_connection().send_messages(messages) == 3
    assert profile.request_count(moto_ses) == 3
    assert moto_ses.connection_count == 1


def test_send_defaults_and_esp_send_defaults(ses_api, profile, moto_ses, settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "SEND_DEFAULTS": {"metadata": {"source": "defaults", "district": "North"}},
        "AMAZON_SES_SEND_DEFAULTS": {"metadata": {"source": "esp-defaults"}},
    }
    message = base_message(profile)
    message.metadata = {"user": "7"}
    message.send()
    assert profile.sent_messages(moto_ses)[-1].metadata == {"source": "esp-defaults", "user": "7"}


def test_esp_extra_reaches_the_api(ses_api, profile, moto_ses):
    """Each backend's own parameter names (v1's SendRawEmail "Tags", v2's
    SendEmail "EmailTags")."""
    tags_param = ses_api.tags_param
    message = base_message(profile)
    message.esp_extra = {
        "ConfigurationSetName": "ConformanceConfigSet",
        tags_param: [{"Name": "Conformance", "Value": "esp-extra"}],
    }
    message.send()
    sent = profile.sent_messages(moto_ses)[-1]
    assert sent.raw["ConfigurationSetName"] == "ConformanceConfigSet"
    assert sent.raw[tags_param] == [{"Name": "Conformance", "Value": "esp-extra"}]


def test_batch_send_per_recipient_status(ses_api, profile, moto_ses):
    """A template send with merge_data reports each recipient's own status: the
    API's per-destination result (v2 BulkEmailEntryResults, v1 Status)."""
    profile.set_scenario(moto_ses, "partial_rejection")
    message = base_message(profile)
    profile.adapt_message(message, "merge_data")
    message.to = [TO1, TO2]
    message.merge_data = {TO1: {"name": "One"}, TO2: {"name": "Two"}}
    assert message.send() == 1
    recipients = message.anymail_status.recipients
    assert recipients[TO1].status == "queued"
    assert recipients[TO1].message_id
    assert recipients[TO2].status == "rejected"


# --- raw sends: Django's MIME message (v2 SendEmail with Content.Raw, v1 SendRawEmail) ---


def test_raw_send(ses_api, profile, moto_ses):
    message = AnymailMessage(
        "Subject",
        "Text",
        "Sender <sender@example.com>",
        ["to@example.org", "Bob <bob@example.org>"],
        cc=["cc@example.org"],
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
    assert set(message.anymail_status.recipients) == {
        "to@example.org",
        "bob@example.org",
        "cc@example.org",
        "hidden@example.org",
    }
    [request] = moto_ses.requests
    assert (request.method, request.path) == ("POST", ses_api.raw_path)
    # boto3's own user agent (it names botocore), then this package: no HTTP client
    user_agent = request.headers["User-Agent"]
    assert user_agent.startswith("Boto3/")
    assert user_agent.endswith(f" anymail-amazon-ses/{version('anymail-amazon-ses')}")
    assert "python-requests" not in user_agent
    [params] = profile.send_requests(moto_ses)
    assert params["Action"] == ses_api.raw_action
    assert set(params) == ses_api.raw_params
    expected = ses_api.raw_destination(
        ["to@example.org", "bob@example.org"], ["cc@example.org"], ["hidden@example.org"]
    )
    assert {name: params[name] for name in expected} == expected
    (out,) = profile.sent_messages(moto_ses)
    assert out.from_email == ["Sender <sender@example.com>"]
    assert out.to == ["to@example.org", "Bob <bob@example.org>"]
    assert out.cc == ["cc@example.org"]
    assert out.bcc == ["hidden@example.org"]
    assert out.reply_to == ["reply@example.com"]
    assert out.text.rstrip() == "Text"
    assert out.html.rstrip() == "<p>HTML</p>"
    assert out.headers["X-Custom"] == "yes"
    assert out.metadata == {"order": "ü12"}
    assert out.tags == ["one", "two"]
    assert out.attachments[0].content == b"content"


def test_envelope_sender_configuration_set_and_message_tag(ses_api, profile, moto_ses, settings):
    """envelope_sender is where SES forwards bounces and complaints (v2's
    FeedbackForwardingEmailAddress, v1's Source); AMAZON_SES_CONFIGURATION_SET_NAME is
    ConfigurationSetName; the AMAZON_SES_MESSAGE_TAG_NAME tag is a Message Tag (v2's
    EmailTags, v1's Tags)."""
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "AMAZON_SES_CONFIGURATION_SET_NAME": "TrackingConfigSet",
        "AMAZON_SES_MESSAGE_TAG_NAME": "Type",
    }
    message = AnymailMessage("S", "B", "sender@example.com", ["to@example.org"], tags=["Marketing"])
    message.envelope_sender = "bounces@example.com"
    message.esp_extra = {
        ses_api.identity_arn_param: "arn:aws:ses:us-east-1:123456789012:identity/example.com"
    }
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    assert params[ses_api.envelope_param] == "bounces@example.com"
    if ses_api.from_param != ses_api.envelope_param:
        assert ses_api.from_param not in params  # SES reads the (single) From header
    assert params["ConfigurationSetName"] == "TrackingConfigSet"
    assert params[ses_api.tags_param] == [{"Name": "Type", "Value": "Marketing"}]
    assert params[ses_api.identity_arn_param].endswith("identity/example.com")
    assert not ses_api.other_api_params & set(params)
    (out,) = profile.sent_messages(moto_ses)
    assert out.envelope_sender == "bounces@example.com"
    assert out.tags == ["Marketing"]  # the X-Tag header


def test_message_tag_allows_one_valid_tag(ses_api, settings, profile, moto_ses):
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    with pytest.raises(AnymailUnsupportedFeature) as info:
        AnymailMessage("S", "B", "s@example.com", ["t@example.org"], tags=["a", "b"]).send()
    assert info.value.feature == "tags"
    with pytest.raises(AnymailUnsupportedFeature):
        AnymailMessage("S", "B", "s@example.com", ["t@example.org"], tags=["has space"]).send()
    assert profile.request_count(moto_ses) == 0


@pytest.mark.parametrize("envelope_sender", [None, "bounces@example.com"])
def test_several_from_addresses_name_the_sender(ses_api, profile, moto_ses, envelope_sender):
    """With several From addresses, the sending identity is the first of them (Python
    3.13's email.utils.parseaddr no longer reads one out of a list), unless v1's
    Source is the envelope_sender; on v2, envelope_sender is the feedback address."""
    message = AnymailMessage(
        "Subject", "Body", '"First" <first@example.com>, second@example.com', ["to@example.org"]
    )
    if envelope_sender:
        message.envelope_sender = envelope_sender
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    if ses_api.from_param == ses_api.envelope_param:  # v1's Source
        assert params["Source"] == (envelope_sender or "first@example.com")
    else:
        assert params[ses_api.from_param] == "first@example.com"
        assert params.get(ses_api.envelope_param) == envelope_sender


# --- the limits of stored templates ---


@pytest.mark.parametrize(
    ("extra", "feature"),
    [
        ({"headers": {"X-Custom": "1"}}, "headers"),
        ({"metadata": {"a": "b"}}, "metadata"),
        ({"tags": ["t"]}, "tags"),
        ({"subject": "Not allowed"}, "subject"),
    ],
)
def test_template_limits(ses_api, moto_ses, profile, extra, feature):
    message = AnymailMessage(
        from_email="s@example.com", to=["t@example.org"], template_id="T", **extra
    )
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert info.value.feature == feature
    assert "Amazon SES templates don't allow" in str(info.value)
    assert "built-in method" not in str(info.value)
    assert profile.request_count(moto_ses) == 0


def test_template_attachments_and_spoofed_to_unsupported(ses_api, profile, moto_ses):
    message = template_message(to=["t@example.org"])
    message.attach("a.txt", "x", "text/plain")
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert info.value.feature == "attachments"
    message = template_message(to=["t@example.org"])
    message.extra_headers["To"] = "Shown <shown@example.org>"
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    # the feature named by its title
    assert "templates don't allow a To header different from the recipients" in str(info.value)
    assert profile.request_count(moto_ses) == 0


def test_template_cc_in_a_batch_send_unsupported(ses_api, profile, moto_ses):
    message = template_message(
        to=["a@example.org"], cc=["c@example.org"], merge_data={"a@example.org": {}}
    )
    with pytest.raises(AnymailUnsupportedFeature, match="cc or bcc in a batch send"):
        message.send()
    assert profile.request_count(moto_ses) == 0


def test_template_tag_without_tag_name_sends_nothing(ses_api, profile, moto_ses):
    with pytest.raises(AnymailUnsupportedFeature, match="AMAZON_SES_MESSAGE_TAG_NAME"):
        template_message(to=["t@example.org"], tags=["Marketing"]).send()
    assert profile.request_count(moto_ses) == 0


@pytest.mark.parametrize("batch", [False, True])
def test_template_esp_extra_tags_of_the_wrong_type_are_refused(ses_api, profile, moto_ses, batch):
    """botocore refuses them by the name the template send gives them (v1's esp_extra
    Tags become its DefaultTags); nothing is sent."""
    message = template_message(to=["t@example.org"], esp_extra={ses_api.tags_param: "UserID=42"})
    if batch:
        message.merge_data = {"t@example.org": {}}
    with pytest.raises(AnymailAPIError, match=ses_api.template_tags_param(batch)):
        message.send()
    assert profile.request_count(moto_ses) == 0


# --- errors, connections, configuration ---


def test_api_error(ses_api, moto_ses):
    with pytest.raises(AnymailAPIError) as info:
        mail.send_mail("S", "B", "someone@unverified.example", ["t@example.org"])
    assert info.value.status_code == 400
    assert f"{ses_api.raw_operation} failed: MessageRejected" in str(info.value)


def test_server_error_and_malformed(ses_api, profile, moto_ses):
    profile.set_scenario(moto_ses, "server_error")
    with pytest.raises(AnymailAPIError) as info:
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])
    assert info.value.status_code == 500
    assert "InternalFailure" in str(info.value)
    profile.set_scenario(moto_ses, "malformed")
    with pytest.raises(AnymailAPIError):
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])


def test_one_connection_per_send_messages(ses_api, moto_ses):
    messages = [
        mail.EmailMessage("S", "B", "s@example.com", [f"t{n}@example.org"]) for n in range(3)
    ]
    assert get_connection().send_messages(messages) == 3
    assert moto_ses.connection_count == 1


@pytest.mark.parametrize("api", SES_APIS, ids=[api.id for api in SES_APIS])
def test_unreachable(settings, profile, api):
    use_backend(settings, api.backend)
    settings.ANYMAIL = profile.unreachable_settings()
    with pytest.raises(AnymailAPIError):
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])


@pytest.mark.parametrize("api", SES_APIS, ids=[api.id for api in SES_APIS])
def test_configured_only_through_mailers(settings, profile, moto_ses, api):
    """A Django 6.1 site with only MAILERS (no ANYMAIL dict, no EMAIL_BACKEND); on
    earlier Django, the same options as get_connection() keywords."""
    del settings.ANYMAIL
    options = {
        "client_params": profile.client_params(moto_ses.url),
        "configuration_set_name": "MailersSet",
    }
    message = AnymailMessage("Subject", "Body", "sender@example.com", ["to@example.org"])
    if MAILERS_SUPPORTED:
        from django.core.mail import InvalidMailer

        settings.MAILERS = {"default": {"BACKEND": api.backend, "OPTIONS": options}}
        assert message.send() == 1
        settings.MAILERS = {
            "default": {"BACKEND": api.backend, "OPTIONS": {**options, "region": "x"}}
        }
        with pytest.raises(InvalidMailer, match="'region'"):
            mail.mailers["default"]
    else:
        assert get_connection(api.backend, **options).send_messages([message]) == 1
    assert message.anymail_status.status == {"queued"}
    [params] = profile.send_requests(moto_ses)
    assert params["Action"] == api.raw_action
    assert params["ConfigurationSetName"] == "MailersSet"


# --- the MIME message ---


def test_non_ascii_text_parts_are_quoted_printable(ses_api, profile, moto_ses):
    """SES passes 8bit bodies on as they are (some clients then show "?"): every
    non-ASCII text part goes out quoted-printable, and the message is 7-bit clean."""
    from email import message_from_bytes, policy

    message = AnymailMessage(
        "Grüße", "Grüße, Jürgen: " + "é" * 200, "s@example.com", ["t@example.org"]
    )
    message.attach_alternative("<p>Grüße, Jürgen</p>", "text/html")
    message.attach("notes.txt", "Ärger", "text/plain")
    message.send()
    [params] = profile.send_requests(moto_ses)
    raw = ses_api.raw_mime(params)
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


def test_ascii_text_parts_stay_7bit(ses_api, profile, moto_ses):
    AnymailMessage("Hi", "Plain ASCII", "s@example.com", ["t@example.org"]).send()
    [params] = profile.send_requests(moto_ses)
    assert b"quoted-printable" not in ses_api.raw_mime(params)


# --- internationalized domains: every address SES sees is in IDNA form ---

IDNA_DOMAIN = "bücher.example"
PUNYCODE_DOMAIN = "xn--bcher-kva.example"


@pytest.fixture
def idna_verified(moto_ses):
    """moto (like SES) refuses an unverified sender: verify the punycode domain."""
    moto_ses.client().verify_domain_identity(Domain=PUNYCODE_DOMAIN)


@pytest.mark.parametrize("spoofed_to", [False, True])
@pytest.mark.parametrize("several_from", [False, True])
def test_idna_addresses_raw(ses_api, profile, moto_ses, idna_verified, spoofed_to, several_from):
    from email import message_from_bytes

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
    expected = ses_api.raw_destination(
        [f"to@{PUNYCODE_DOMAIN}"], [f"cc@{PUNYCODE_DOMAIN}"], [f"bcc@{PUNYCODE_DOMAIN}"]
    )
    assert {name: params[name] for name in expected} == expected
    if several_from:
        assert params[ses_api.from_param] == f"from@{PUNYCODE_DOMAIN}"
    raw = ses_api.raw_mime(params)
    assert raw.isascii()
    parsed = message_from_bytes(raw)
    headers = {
        name: parsed[name] for name in ("From", "To", "Cc", "Reply-To") if parsed[name] is not None
    }
    assert set(headers) == {"From", "To", "Cc", "Reply-To"}
    for name, value in headers.items():
        assert IDNA_DOMAIN not in value, (name, value)
        assert PUNYCODE_DOMAIN in value, (name, value)
    expected_to = "shown@" if spoofed_to else "to@"
    assert expected_to + PUNYCODE_DOMAIN in headers["To"]


def test_idna_envelope_sender_raw(ses_api, profile, moto_ses, idna_verified):
    message = AnymailMessage("Subject", "Body", f"from@{IDNA_DOMAIN}", [f"to@{IDNA_DOMAIN}"])
    message.envelope_sender = f"bounces@{IDNA_DOMAIN}"
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    assert params[ses_api.envelope_param] == f"bounces@{PUNYCODE_DOMAIN}"


@pytest.mark.parametrize("batch", [False, True])
def test_idna_addresses_template(ses_api, profile, moto_ses, idna_verified, batch):
    message = template_message(
        from_email=f"Jürgen <from@{IDNA_DOMAIN}>",
        to=[f"Tö <to@{IDNA_DOMAIN}>", f"two@{IDNA_DOMAIN}"],
        reply_to=[f"reply@{IDNA_DOMAIN}"],
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
    assert params[ses_api.from_param] == f"=?utf-8?q?J=C3=BCrgen?= <from@{PUNYCODE_DOMAIN}>"
    assert params[ses_api.template_envelope_param] == f"bounces@{PUNYCODE_DOMAIN}"
    assert params["ReplyToAddresses"] == [f"reply@{PUNYCODE_DOMAIN}"]
    destinations = ses_api.template_destinations(params)
    if batch:
        assert destinations == [
            ({"ToAddresses": [f"=?utf-8?b?VMO2?= <to@{PUNYCODE_DOMAIN}>"]}, '{"name":"Tö"}'),
            ({"ToAddresses": [f"two@{PUNYCODE_DOMAIN}"]}, '{"name":"Two"}'),
        ]
    else:
        assert destinations == [
            (
                {
                    "ToAddresses": [
                        f"=?utf-8?b?VMO2?= <to@{PUNYCODE_DOMAIN}>",
                        f"two@{PUNYCODE_DOMAIN}",
                    ],
                    "CcAddresses": [f"cc@{PUNYCODE_DOMAIN}"],
                    "BccAddresses": [f"bcc@{PUNYCODE_DOMAIN}"],
                },
                None,
            )
        ]


def test_invalid_idna_domain_sends_nothing(ses_api, profile, moto_ses):
    """A domain with no IDNA form is refused by name before anything is sent."""
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
