"""The default backend (anymail.backends.amazon_ses), on the SES API v2: SendEmail
(raw and template content) and SendBulkEmail, through moto's SES server over real
HTTP. (moto has no v2 template sends: the profile's proxy plays them through moto's
v1 template calls, so moto still checks the sender and the template. What both
backends must do alike is in test_amazon_ses_both_backends.py.)"""

import json

import pytest

from anymail.exceptions import (
    AnymailAPIError,
    AnymailDeprecationWarning,
    AnymailRecipientsRefused,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage

from .conftest import SES_V2, template_message

# --- raw sends: esp_extra (the rest of them are both backends' tests) ---


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
    (out,) = profile.sent_messages(moto_ses)
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
    (out,) = profile.sent_messages(moto_ses)
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
    (out,) = profile.sent_messages(moto_ses)
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


# --- importing, and the metadata and tags the webhook reads back ---


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
    [params] = profile.send_requests(moto_ses)
    raw = SES_V2.raw_mime(params)
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
