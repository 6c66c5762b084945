"""The SES API v1 backend (anymail.backends.amazon_sesv1): SendBulkTemplatedEmail,
through moto's SES server over real HTTP. (What both backends must do alike, raw
sends included, is in test_amazon_ses_both_backends.py.)"""

from anymail.message import AnymailMessage


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
    (out,) = profile.sent_messages(moto_ses)
    assert out.template_id == "Welcome"
    assert out.merge_data == {
        "alice@example.org": {"name": "Alice"},
        "bob@example.org": {"name": "Bob"},
    }
    assert out.merge_global_data == {"ship_date": "May 15"}


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
