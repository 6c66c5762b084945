"""The default backend (anymail.backends.amazon_ses), on the SES API v2: SendEmail
(raw and template content) and SendBulkEmail, through moto's SES server over real
HTTP. (moto has no v2 template sends: the profile's proxy plays them through moto's
v1 template calls, so moto still checks the sender and the template. What both
backends must do alike is in test_amazon_ses_both_backends.py.)"""

import base64
import json

import pytest
from django.core import mail

from anymail.exceptions import (
    AnymailAPIError,
    AnymailDeprecationWarning,
    AnymailRecipientsRefused,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage
from anymail.testing import MAILERS_SUPPORTED, get_connection, use_backend

from .conftest import V2_BACKEND


def sent(profile, server):
    return profile.sent_messages(server)


def raw_mime(profile, server):
    """The raw MIME bytes of the (one) SendEmail call the server received."""
    [params] = profile.send_requests(server)
    return base64.b64decode(params["Content"]["Raw"]["Data"])


def template_message(**kwargs):
    return AnymailMessage(
        from_email=kwargs.pop("from_email", "s@example.com"),
        template_id=kwargs.pop("template_id", "conformance-template"),
        **kwargs,
    )


# --- raw sends: SendEmail with Content.Raw ---


def test_send_email_raw(ses_settings, profile, moto_ses):
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
    message_id = message.anymail_status.message_id
    assert message_id
    assert set(message.anymail_status.recipients) == {
        "to@example.org",
        "bob@example.org",
        "cc@example.org",
        "hidden@example.org",
    }
    [request] = moto_ses.requests
    assert (request.method, request.path) == ("POST", "/v2/email/outbound-emails")
    assert "anymail-amazon-ses/" in request.headers["User-Agent"]
    [params] = profile.send_requests(moto_ses)
    assert params["Action"] == "SendEmail"
    assert set(params) == {"Action", "Destination", "Content"}
    assert params["Destination"] == {
        "ToAddresses": ["to@example.org", "bob@example.org"],
        "CcAddresses": ["cc@example.org"],
        "BccAddresses": ["hidden@example.org"],
    }
    (out,) = sent(profile, moto_ses)
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


def test_envelope_sender_configuration_set_and_message_tag(
    ses_settings, profile, moto_ses, settings
):
    """envelope_sender is where SES v2 forwards bounces and complaints
    (FeedbackForwardingEmailAddress); AMAZON_SES_CONFIGURATION_SET_NAME is
    ConfigurationSetName; the AMAZON_SES_MESSAGE_TAG_NAME tag is in EmailTags."""
    settings.ANYMAIL = {
        **ses_settings,
        "AMAZON_SES_CONFIGURATION_SET_NAME": "TrackingConfigSet",
        "AMAZON_SES_MESSAGE_TAG_NAME": "Type",
    }
    message = AnymailMessage("S", "B", "sender@example.com", ["to@example.org"], tags=["Marketing"])
    message.envelope_sender = "bounces@example.com"
    message.esp_extra = {
        "FromEmailAddressIdentityArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com"
    }
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    assert params["FeedbackForwardingEmailAddress"] == "bounces@example.com"
    assert "FromEmailAddress" not in params  # SES reads the (single) From header
    assert params["ConfigurationSetName"] == "TrackingConfigSet"
    assert params["EmailTags"] == [{"Name": "Type", "Value": "Marketing"}]
    assert params["FromEmailAddressIdentityArn"].endswith("identity/example.com")
    assert not {"Source", "Tags", "SourceArn", "ReturnPath"} & set(params)
    (out,) = sent(profile, moto_ses)
    assert out.envelope_sender == "bounces@example.com"
    assert out.tags == ["Marketing"]  # the X-Tag header


def test_esp_extra_configuration_set_overrides_the_setting(
    ses_settings, settings, profile, moto_ses
):
    settings.ANYMAIL = {**ses_settings, "AMAZON_SES_CONFIGURATION_SET_NAME": "TrackingConfigSet"}
    AnymailMessage("S", "B", "s@example.com", ["t@example.org"]).send()
    template_message(
        to=["t@example.org"], esp_extra={"ConfigurationSetName": "NoTrackingConfigSet"}
    ).send()
    first, second = profile.send_requests(moto_ses)
    assert first["ConfigurationSetName"] == "TrackingConfigSet"
    assert second["ConfigurationSetName"] == "NoTrackingConfigSet"


def test_esp_extra_message_tags_follow_the_anymail_tag(ses_settings, settings, profile, moto_ses):
    settings.ANYMAIL = {**ses_settings, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    message = AnymailMessage("S", "B", "s@example.com", ["t@example.org"], tags=["Marketing"])
    message.esp_extra = {"EmailTags": [{"Name": "UserID", "Value": "42"}]}
    message.send()
    [params] = profile.send_requests(moto_ses)
    assert params["EmailTags"] == [
        {"Name": "Type", "Value": "Marketing"},
        {"Name": "UserID", "Value": "42"},
    ]


def test_message_tag_allows_one_valid_tag(ses_settings, settings, profile, moto_ses):
    settings.ANYMAIL = {**ses_settings, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    with pytest.raises(AnymailUnsupportedFeature) as info:
        AnymailMessage("S", "B", "s@example.com", ["t@example.org"], tags=["a", "b"]).send()
    assert info.value.feature == "tags"
    with pytest.raises(AnymailUnsupportedFeature):
        AnymailMessage("S", "B", "s@example.com", ["t@example.org"], tags=["has space"]).send()
    assert profile.request_count(moto_ses) == 0


def test_list_management_options(ses_settings, profile, moto_ses):
    """ListManagementOptions (SES list management: unsubscribe links and headers) is
    passed on from esp_extra, on raw and template sends alike."""
    options = {"ContactListName": "Newsletter", "TopicName": "Weekly"}
    AnymailMessage(
        "S", "B", "s@example.com", ["t@example.org"], esp_extra={"ListManagementOptions": options}
    ).send()
    template_message(to=["t@example.org"], esp_extra={"ListManagementOptions": options}).send()
    raw, template = profile.send_requests(moto_ses)
    assert raw["ListManagementOptions"] == options
    assert template["ListManagementOptions"] == options
    assert "Template" in template["Content"]


def test_list_management_options_refused_in_a_batch_send(ses_settings, profile, moto_ses, settings):
    """SendBulkEmail has no ListManagementOptions: a template send with merge_data
    and list management is refused, by name, and nothing is sent (even with
    IGNORE_UNSUPPORTED_FEATURES, which would send without the unsubscribe link)."""
    settings.ANYMAIL = {**ses_settings, "IGNORE_UNSUPPORTED_FEATURES": True}
    message = template_message(
        to=["a@example.org", "b@example.org"],
        merge_data={"a@example.org": {"name": "A"}},
        esp_extra={"ListManagementOptions": {"ContactListName": "Newsletter"}},
    )
    with pytest.raises(AnymailUnsupportedFeature, match="ListManagementOptions") as info:
        message.send()
    assert info.value.feature == "esp_extra"
    assert profile.request_count(moto_ses) == 0


@pytest.mark.parametrize("envelope_sender", [None, "bounces@example.com"])
def test_several_from_addresses_name_the_sender(ses_settings, profile, moto_ses, envelope_sender):
    """With several From addresses, FromEmailAddress is the first of them (Python
    3.13's email.utils.parseaddr no longer reads one out of a list); envelope_sender
    is the feedback address."""
    message = AnymailMessage(
        "Subject", "Body", '"First" <first@example.com>, second@example.com', ["to@example.org"]
    )
    if envelope_sender:
        message.envelope_sender = envelope_sender
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    assert params["FromEmailAddress"] == "first@example.com"
    assert params.get("FeedbackForwardingEmailAddress") == envelope_sender


# --- template sends: SendEmail with Content.Template, SendBulkEmail ---


def test_template_send_without_merge_data_is_send_email(ses_settings, settings, profile, moto_ses):
    """One message to every recipient: SendEmail with Content.Template."""
    settings.ANYMAIL = {**ses_settings, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    message = template_message(
        from_email="Shipping <shipping@example.com>",
        to=["alice@example.org"],
        cc=["cc@example.org"],
        bcc=["bcc@example.org"],
        reply_to=["reply@example.com"],
        merge_global_data={"ship_date": "May 15"},
        tags=["Orders"],
    )
    message.envelope_sender = "bounces@example.com"
    assert message.send() == 1
    status = message.anymail_status
    assert status.status == {"queued"}
    assert isinstance(status.message_id, str)
    assert set(status.recipients) == {"alice@example.org", "cc@example.org", "bcc@example.org"}
    [request] = [r for r in moto_ses.requests if r.path.startswith("/v2/")]
    assert request.path == "/v2/email/outbound-emails"
    [params] = profile.send_requests(moto_ses)
    assert params["Action"] == "SendEmail"
    assert params["Content"] == {
        "Template": {
            "TemplateName": "conformance-template",
            "TemplateData": '{"ship_date":"May 15"}',
        }
    }
    assert params["Destination"] == {
        "ToAddresses": ["alice@example.org"],
        "CcAddresses": ["cc@example.org"],
        "BccAddresses": ["bcc@example.org"],
    }
    assert params["FromEmailAddress"] == "Shipping <shipping@example.com>"
    assert params["ReplyToAddresses"] == ["reply@example.com"]
    assert params["FeedbackForwardingEmailAddress"] == "bounces@example.com"
    assert params["EmailTags"] == [{"Name": "Type", "Value": "Orders"}]
    (out,) = sent(profile, moto_ses)
    assert out.template_id == "conformance-template"
    assert out.merge_global_data == {"ship_date": "May 15"}
    assert out.tags == ["Orders"]


def test_bulk_email(ses_settings, profile, moto_ses):
    """merge_data: SendBulkEmail, one entry per "to" with its complete data (the
    global data with the recipient's own on top), each its own message id."""
    message = template_message(
        from_email="Shipping <shipping@example.com>",
        to=["alice@example.org", "Bob <bob@example.org>"],
        merge_data={
            "alice@example.org": {"name": "Alice"},
            "bob@example.org": {"name": "Bob", "ship_date": "May 16"},
        },
        merge_global_data={"ship_date": "May 15"},
    )
    assert message.send() == 1
    status = message.anymail_status
    assert status.status == {"queued"}
    alice, bob = status.recipients["alice@example.org"], status.recipients["bob@example.org"]
    assert alice.message_id
    assert bob.message_id
    assert alice.message_id != bob.message_id
    assert status.message_id == {alice.message_id, bob.message_id}
    [request] = [r for r in moto_ses.requests if r.path.startswith("/v2/")]
    assert request.path == "/v2/email/outbound-bulk-emails"
    [params] = profile.send_requests(moto_ses)
    assert params["Action"] == "SendBulkEmail"
    assert params["DefaultContent"] == {
        "Template": {
            "TemplateName": "conformance-template",
            "TemplateData": '{"ship_date":"May 15"}',
        }
    }
    assert params["BulkEmailEntries"] == [
        {
            "Destination": {"ToAddresses": ["alice@example.org"]},
            "ReplacementEmailContent": {
                "ReplacementTemplate": {
                    "ReplacementTemplateData": '{"ship_date":"May 15","name":"Alice"}'
                }
            },
        },
        {
            "Destination": {"ToAddresses": ["Bob <bob@example.org>"]},
            "ReplacementEmailContent": {
                "ReplacementTemplate": {
                    "ReplacementTemplateData": '{"ship_date":"May 16","name":"Bob"}'
                }
            },
        },
    ]
    (out,) = sent(profile, moto_ses)
    assert out.template_id == "conformance-template"
    assert out.effective_merge_data("alice@example.org") == {"name": "Alice", "ship_date": "May 15"}
    assert out.effective_merge_data("bob@example.org") == {"name": "Bob", "ship_date": "May 16"}


def test_bulk_email_tags_are_each_entrys_replacement_tags(
    ses_settings, settings, profile, moto_ses
):
    """Each message of a batch carries the message's Message Tags as its own
    ReplacementTags: the AMAZON_SES_MESSAGE_TAG_NAME tag, then esp_extra's (v2's
    EmailTags or DefaultEmailTags, as one SEND_DEFAULTS esp_extra serves every kind
    of send)."""
    settings.ANYMAIL = {**ses_settings, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    message = template_message(
        to=["alice@example.org", "bob@example.org"],
        merge_data={"alice@example.org": {"name": "Alice"}, "bob@example.org": {"name": "Bob"}},
        tags=["Marketing"],
        esp_extra={
            "EmailTags": [{"Name": "UserID", "Value": "42"}],
            "DefaultEmailTags": [{"Name": "Variant", "Value": "A"}],
        },
    )
    assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    expected = [
        {"Name": "Type", "Value": "Marketing"},
        {"Name": "UserID", "Value": "42"},
        {"Name": "Variant", "Value": "A"},
    ]
    assert [entry["ReplacementTags"] for entry in params["BulkEmailEntries"]] == [expected] * 2
    assert not {"EmailTags", "DefaultEmailTags", "Tags", "DefaultTags"} & set(params)
    (out,) = sent(profile, moto_ses)
    assert out.tags == ["Marketing", "42", "A"]


def test_bulk_email_per_recipient_status(ses_settings, profile, moto_ses, settings):
    """anymail_status comes from each BulkEmailEntryResult: SUCCESS is queued,
    MESSAGE_REJECTED rejected; every recipient refused raises AnymailRecipientsRefused
    (unless IGNORE_RECIPIENT_STATUS)."""

    def batch():
        return template_message(
            to=["alice@example.org", "bob@example.org"],
            merge_data={"alice@example.org": {"name": "A"}, "bob@example.org": {"name": "B"}},
        )

    profile.set_scenario(moto_ses, "partial_rejection")
    message = batch()
    assert message.send() == 1
    recipients = message.anymail_status.recipients
    assert recipients["alice@example.org"].status == "queued"
    assert recipients["alice@example.org"].message_id
    assert recipients["bob@example.org"].status == "rejected"
    assert recipients["bob@example.org"].message_id is None
    assert message.anymail_status.status == {"queued", "rejected"}

    profile.set_scenario(moto_ses, "all_rejected")
    with pytest.raises(AnymailRecipientsRefused):
        batch().send()
    settings.ANYMAIL = {**ses_settings, "IGNORE_RECIPIENT_STATUS": True}
    message = batch()
    message.send()
    assert message.anymail_status.status == {"rejected"}


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ({"Status": "SUCCESS", "MessageId": "m1"}, "queued"),
        ({"Status": "MESSAGE_REJECTED", "Error": "virus"}, "rejected"),
        ({"Status": "MAIL_FROM_DOMAIN_NOT_VERIFIED", "Error": "..."}, "failed"),
        ({"Status": "ACCOUNT_DAILY_QUOTA_EXCEEDED", "Error": "..."}, "failed"),
        ({"Status": "TRANSIENT_FAILURE"}, "failed"),
        ({"MessageId": "m2"}, "unknown"),
    ],
)
def test_bulk_entry_result_statuses(result, status):
    """Each documented BulkEmailEntryResult Status, as an Anymail send status."""
    from anymail.backends.amazon_ses import _bulk_entry_status

    recipient_status = _bulk_entry_status(result)
    assert recipient_status.status == status
    assert recipient_status.message_id == result.get("MessageId")


def test_bulk_email_unexpected_response(ses_settings, profile, moto_ses):
    """A SendBulkEmail answer without a result for each entry is an AnymailAPIError."""
    profile.set_scenario(moto_ses, "malformed")
    message = template_message(
        to=["alice@example.org", "bob@example.org"],
        merge_data={"alice@example.org": {"name": "A"}, "bob@example.org": {"name": "B"}},
    )
    with pytest.raises(AnymailAPIError, match="Unexpected Amazon SES API v2 SendBulkEmail"):
        message.send()


@pytest.mark.parametrize(
    ("extra", "feature"),
    [
        ({"headers": {"X-Custom": "1"}}, "headers"),
        ({"metadata": {"a": "b"}}, "metadata"),
        ({"tags": ["t"]}, "tags"),
        ({"subject": "Not allowed"}, "subject"),
    ],
)
def test_template_limits(ses_settings, moto_ses, profile, extra, feature):
    message = AnymailMessage(
        from_email="s@example.com", to=["t@example.org"], template_id="T", **extra
    )
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert info.value.feature == feature
    assert "Amazon SES templates don't allow" in str(info.value)
    assert profile.request_count(moto_ses) == 0


def test_template_attachments_and_spoofed_to_unsupported(ses_settings, profile, moto_ses):
    message = template_message(to=["t@example.org"])
    message.attach("a.txt", "x", "text/plain")
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert info.value.feature == "attachments"
    message = template_message(to=["t@example.org"])
    message.extra_headers["To"] = "Shown <shown@example.org>"
    with pytest.raises(AnymailUnsupportedFeature, match="a To header different"):
        message.send()
    assert profile.request_count(moto_ses) == 0


def test_template_cc_in_a_batch_send_unsupported(ses_settings, profile, moto_ses):
    message = template_message(
        to=["a@example.org"], cc=["c@example.org"], merge_data={"a@example.org": {}}
    )
    with pytest.raises(AnymailUnsupportedFeature, match="cc or bcc in a batch send"):
        message.send()
    assert profile.request_count(moto_ses) == 0


def test_template_tag_without_tag_name_sends_nothing(ses_settings, profile, moto_ses):
    with pytest.raises(AnymailUnsupportedFeature, match="AMAZON_SES_MESSAGE_TAG_NAME"):
        template_message(to=["t@example.org"], tags=["Marketing"]).send()
    assert profile.request_count(moto_ses) == 0


@pytest.mark.parametrize("batch", [False, True])
def test_esp_extra_tags_of_the_wrong_type_are_refused(ses_settings, profile, moto_ses, batch):
    """botocore refuses them by name; nothing is sent."""
    message = template_message(to=["t@example.org"], esp_extra={"EmailTags": "UserID=42"})
    if batch:
        message.merge_data = {"t@example.org": {}}
    with pytest.raises(AnymailAPIError, match="ReplacementTags" if batch else "EmailTags"):
        message.send()
    assert profile.request_count(moto_ses) == 0


def test_template_errors_come_from_the_api(ses_settings, profile, moto_ses):
    """A template SES doesn't have, a sender it hasn't verified: SES's own errors."""
    with pytest.raises(AnymailAPIError) as info:
        template_message(to=["t@example.org"], template_id="NoSuchTemplate").send()
    assert info.value.status_code == 400
    assert "API v2 SendEmail failed" in str(info.value)
    assert "does not exist" in str(info.value)
    with pytest.raises(AnymailAPIError) as info:
        template_message(
            from_email="s@unverified.example",
            to=["a@example.org"],
            merge_data={"a@example.org": {}},
        ).send()
    assert info.value.status_code == 400
    assert "API v2 SendBulkEmail failed: MessageRejected" in str(info.value)


# --- esp_extra written for the SES API v1 backend ---


@pytest.mark.parametrize("batch", [False, True])
def test_v1_esp_extra_names_are_sent_under_their_v2_names(
    ses_settings, profile, moto_ses, settings, batch
):
    """esp_extra with v1's names for what v2 has too (the Anymail 6.0 docs' example:
    SourceArn, Tags) keeps working, with an AnymailDeprecationWarning naming the v2
    name."""
    settings.ANYMAIL = {**ses_settings, "AMAZON_SES_MESSAGE_TAG_NAME": "Type"}
    extra = {
        "SourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
        "ReturnPathArn": "arn:aws:ses:us-east-1:123456789012:identity/example.net",
        "Tags": [{"Name": "UserID", "Value": "42"}],
        "DefaultTags": [{"Name": "Variant", "Value": "A"}],
    }
    message = template_message(to=["t@example.org"], tags=["Marketing"], esp_extra=extra)
    if batch:
        message.merge_data = {"t@example.org": {"name": "T"}}
    with pytest.warns(
        AnymailDeprecationWarning, match="'SourceArn'.*'FromEmailAddressIdentityArn'"
    ):
        assert message.send() == 1
    [params] = profile.send_requests(moto_ses)
    assert params["FromEmailAddressIdentityArn"] == extra["SourceArn"]
    assert params["FeedbackForwardingEmailAddressIdentityArn"] == extra["ReturnPathArn"]
    expected_tags = [
        {"Name": "Type", "Value": "Marketing"},
        {"Name": "UserID", "Value": "42"},
        {"Name": "Variant", "Value": "A"},
    ]
    if batch:
        assert params["BulkEmailEntries"][0]["ReplacementTags"] == expected_tags
    else:
        assert params["EmailTags"] == expected_tags
    assert not {"SourceArn", "ReturnPathArn", "Tags", "DefaultTags"} & set(params)


@pytest.mark.parametrize(
    ("key", "instead"),
    [
        ("ReturnPath", "envelope_sender"),
        ("Source", "from_email"),
        ("Destinations", "to, cc and bcc"),
        ("DefaultTemplateData", "merge_global_data"),
    ],
)
def test_v1_only_esp_extra_is_refused(ses_settings, profile, moto_ses, settings, key, instead):
    """A v1 parameter the v2 call has no equivalent of is refused by name, saying
    what to use instead, and nothing is sent (IGNORE_UNSUPPORTED_FEATURES too)."""
    settings.ANYMAIL = {**ses_settings, "IGNORE_UNSUPPORTED_FEATURES": True}
    message = AnymailMessage("S", "B", "s@example.com", ["t@example.org"], esp_extra={key: "x"})
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert info.value.feature == "esp_extra"
    assert repr(key) in str(info.value)
    assert instead in str(info.value)
    assert "amazon_sesv1" in str(info.value)
    assert profile.request_count(moto_ses) == 0


def test_v1_and_v2_esp_extra_names_that_disagree_are_refused(ses_settings, profile, moto_ses):
    message = AnymailMessage(
        "S",
        "B",
        "s@example.com",
        ["t@example.org"],
        esp_extra={"SourceArn": "arn:one", "FromEmailAddressIdentityArn": "arn:two"},
    )
    with (
        pytest.warns(AnymailDeprecationWarning),
        pytest.raises(AnymailUnsupportedFeature, match="'FromEmailAddressIdentityArn'"),
    ):
        message.send()
    assert profile.request_count(moto_ses) == 0


# --- errors, connections, configuration ---


def test_api_error(ses_settings, moto_ses):
    with pytest.raises(AnymailAPIError) as info:
        mail.send_mail("S", "B", "someone@unverified.example", ["t@example.org"])
    assert info.value.status_code == 400
    assert "Amazon SES API v2 SendEmail failed: MessageRejected" in str(info.value)


def test_server_error_and_malformed(ses_settings, profile, moto_ses):
    profile.set_scenario(moto_ses, "server_error")
    with pytest.raises(AnymailAPIError) as info:
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])
    assert info.value.status_code == 500
    assert "InternalFailure" in str(info.value)
    profile.set_scenario(moto_ses, "malformed")
    with pytest.raises(AnymailAPIError):
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])


def test_one_connection_per_send_messages(ses_settings, moto_ses):
    messages = [
        mail.EmailMessage("S", "B", "s@example.com", [f"t{n}@example.org"]) for n in range(3)
    ]
    assert get_connection().send_messages(messages) == 3
    assert moto_ses.connection_count == 1


def test_unreachable(settings, profile):
    use_backend(settings, V2_BACKEND)
    settings.ANYMAIL = profile.unreachable_settings()
    with pytest.raises(AnymailAPIError):
        mail.send_mail("S", "B", "s@example.com", ["t@example.org"])


def test_importing_urls_does_not_import_boto3():
    import subprocess
    import sys

    code = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE']='testproject.settings';"
        "django.setup(); import anymail.urls; from anymail import registry;"
        "registry.installed_esps(); import anymail.backends.amazon_ses;"
        "import anymail.backends.amazon_sesv1; print('boto3' in sys.modules)"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    assert result.stdout.strip() == "False"


def test_configured_only_through_mailers(settings, profile, moto_ses):
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

        settings.MAILERS = {"default": {"BACKEND": V2_BACKEND, "OPTIONS": options}}
        assert message.send() == 1
        settings.MAILERS = {
            "default": {"BACKEND": V2_BACKEND, "OPTIONS": {**options, "region": "x"}}
        }
        with pytest.raises(InvalidMailer, match="'region'"):
            mail.mailers["default"]
    else:
        assert get_connection(V2_BACKEND, **options).send_messages([message]) == 1
    assert message.anymail_status.status == {"queued"}
    [params] = profile.send_requests(moto_ses)
    assert params["Action"] == "SendEmail"
    assert params["ConfigurationSetName"] == "MailersSet"


# --- the MIME message ---


def test_non_ascii_text_parts_are_quoted_printable(ses_settings, profile, moto_ses):
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
    assert attachment.get_payload(decode=True) == "Ärger".encode()


def test_metadata_and_tags_round_trip_through_the_tracking_webhook(
    ses_settings, profile, moto_ses, sns_signer, webhook_secret, client
):
    """Send through the backend (moto), build the SES event SES would publish from
    the headers that went out, post it to the tracking webhook: the event carries
    the metadata and tags the message was sent with (non-ASCII included)."""
    import re
    import uuid
    from email import message_from_bytes

    from anymail.conformance.amazon_ses.profile import sns_request, sns_timestamp
    from anymail.testing import SignalCapture

    metadata = {"order": "ü12", "customer": "Jürgen Groß", "note": "x " * 60, "emoji": "✉"}
    tags = ["welcome", "größe", "two words"]
    message = AnymailMessage(
        "Subject", "Body", "s@example.com", ["t@example.org"], metadata=metadata, tags=tags
    )
    message.send()
    raw = raw_mime(profile, moto_ses)
    # SES reports each header's value unfolded (RFC 5322 2.2.3), undecoded
    headers = [
        {"name": name, "value": re.sub(r"\r?\n(?=[ \t])", "", value)}
        for name, value in message_from_bytes(raw)._headers  # compat32: raw values in order
    ]
    [x_metadata] = [h["value"] for h in headers if h["name"] == "X-Metadata"]
    assert x_metadata.isascii()
    assert json.loads(x_metadata) == metadata
    ses_event = {
        "notificationType": "Delivery",
        "mail": {
            "timestamp": "2026-01-27T14:59:38.237Z",
            "messageId": message.anymail_status.message_id,
            "source": "s@example.com",
            "destination": ["t@example.org"],
            "headersTruncated": False,
            "headers": headers,
        },
        "delivery": {"timestamp": "2026-01-27T14:59:39.000Z", "recipients": ["t@example.org"]},
    }
    sns_message = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:SES_Events",
        "Message": json.dumps(ses_event),
        "Timestamp": sns_timestamp(),
    }
    request = sns_request(sns_signer.sign(sns_message))
    with SignalCapture() as capture:
        response = client.post(
            "/anymail/amazon_ses/tracking/",
            request.body,
            content_type=request.content_type,
            headers={"Authorization": "Basic dXNlcjpwYXNz", **request.headers},
        )
    assert response.status_code == 200
    (event,) = capture.events
    assert event.message_id == message.anymail_status.message_id
    assert event.metadata == metadata
    assert event.tags == tags


# --- internationalized domains: every address SES sees is in IDNA form ---

IDNA_DOMAIN = "bücher.example"
PUNYCODE_DOMAIN = "xn--bcher-kva.example"


@pytest.fixture
def idna_verified(moto_ses):
    """moto (like SES) refuses an unverified sender: verify the punycode domain."""
    moto_ses.client().verify_domain_identity(Domain=PUNYCODE_DOMAIN)


@pytest.mark.parametrize("several_from", [False, True])
def test_idna_addresses_raw(ses_settings, profile, moto_ses, idna_verified, several_from):
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
    message.envelope_sender = f"bounces@{IDNA_DOMAIN}"
    assert message.send() == 1
    assert set(message.anymail_status.recipients) == {
        f"to@{IDNA_DOMAIN}",
        f"cc@{IDNA_DOMAIN}",
        f"bcc@{IDNA_DOMAIN}",
    }
    [params] = profile.send_requests(moto_ses)
    assert params["Destination"] == {
        "ToAddresses": [f"to@{PUNYCODE_DOMAIN}"],
        "CcAddresses": [f"cc@{PUNYCODE_DOMAIN}"],
        "BccAddresses": [f"bcc@{PUNYCODE_DOMAIN}"],
    }
    assert params["FeedbackForwardingEmailAddress"] == f"bounces@{PUNYCODE_DOMAIN}"
    if several_from:
        assert params["FromEmailAddress"] == f"from@{PUNYCODE_DOMAIN}"
    raw = raw_mime(profile, moto_ses)
    assert raw.isascii()
    parsed = message_from_bytes(raw)
    for name in ("From", "To", "Cc", "Reply-To"):
        assert IDNA_DOMAIN not in parsed[name], (name, parsed[name])
        assert PUNYCODE_DOMAIN in parsed[name], (name, parsed[name])


@pytest.mark.parametrize("batch", [False, True])
def test_idna_addresses_template(ses_settings, profile, moto_ses, idna_verified, batch):
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
    assert params["FromEmailAddress"] == f"=?utf-8?q?J=C3=BCrgen?= <from@{PUNYCODE_DOMAIN}>"
    assert params["FeedbackForwardingEmailAddress"] == f"bounces@{PUNYCODE_DOMAIN}"
    assert params["ReplyToAddresses"] == [f"reply@{PUNYCODE_DOMAIN}"]
    if batch:
        entries = params["BulkEmailEntries"]
        assert [entry["Destination"] for entry in entries] == [
            {"ToAddresses": [f"=?utf-8?b?VMO2?= <to@{PUNYCODE_DOMAIN}>"]},
            {"ToAddresses": [f"two@{PUNYCODE_DOMAIN}"]},
        ]
        assert [
            entry["ReplacementEmailContent"]["ReplacementTemplate"]["ReplacementTemplateData"]
            for entry in entries
        ] == ['{"name":"Tö"}', '{"name":"Two"}']
    else:
        assert params["Destination"] == {
            "ToAddresses": [f"=?utf-8?b?VMO2?= <to@{PUNYCODE_DOMAIN}>", f"two@{PUNYCODE_DOMAIN}"],
            "CcAddresses": [f"cc@{PUNYCODE_DOMAIN}"],
            "BccAddresses": [f"bcc@{PUNYCODE_DOMAIN}"],
        }


def test_invalid_idna_domain_sends_nothing(ses_settings, profile, moto_ses):
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
