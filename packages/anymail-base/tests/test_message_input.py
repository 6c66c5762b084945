"""Bad message input is refused with an Anymail error naming the field, before
anything is sent (issue 23): what Django's own EmailMessage.message() refuses, and
values that would otherwise be sent as their Python text."""

import warnings

import pytest
from django.core import mail

from anymail.exceptions import (
    AnymailInvalidAddress,
    AnymailSerializationError,
    AnymailWarning,
)
from anymail.message import AnymailMessage, attach_inline_image


def message(**kwargs):
    kwargs.setdefault("from_email", "from@example.com")
    kwargs.setdefault("to", ["to@example.com"])
    kwargs.setdefault("subject", "Subject")
    kwargs.setdefault("body", "Body")
    return AnymailMessage(**kwargs)


@pytest.mark.parametrize("field", ["to", "cc", "bcc", "reply_to"])
@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_an_address_with_a_line_break_is_refused(field, newline):
    """The header injection Django's message() stops with BadHeaderError: an address
    that adds a Bcc of its own."""
    msg = message(**{field: [f"to@example.com{newline}Bcc: evil@example.net"]})
    with pytest.raises(AnymailInvalidAddress, match=f"`{field}`.*line break"):
        msg.send()
    assert mail.outbox == []


def test_a_from_address_with_a_line_break_is_refused():
    with pytest.raises(AnymailInvalidAddress, match="line break"):
        message(from_email="from@example.com\nBcc: evil@example.net").send()
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"headers": {"X-Thing": None}}, "headers['X-Thing']"),
        ({"headers": {"X-Count": 5}}, "headers['X-Count']"),
        ({"subject": 5}, "subject"),
        ({"body": 5}, "body"),
    ],
)
def test_values_that_are_not_text_are_refused_naming_the_field(kwargs, field):
    """Not sent as "None" or "5"."""
    with pytest.raises(AnymailSerializationError) as excinfo:
        message(**kwargs).send()
    assert f"`{field}` must be a str" in str(excinfo.value)
    assert mail.outbox == []


def test_attachment_content_that_is_not_bytes_or_text_is_refused():
    msg = message()
    msg.attach("count.txt", 5, "text/plain")
    with pytest.raises(
        AnymailSerializationError, match=r"'count\.txt' content must be bytes or str"
    ):
        msg.send()
    assert mail.outbox == []


@pytest.mark.parametrize("content", [None, "not bytes"])
def test_attach_inline_image_without_image_bytes_is_a_clear_error(content):
    msg = message()
    with pytest.raises(AnymailSerializationError, match="attach_inline_image"):
        attach_inline_image(msg, content)
    assert msg.attachments == []


@pytest.mark.parametrize("tag", ["a\nb", "a\rb"])
def test_a_tag_with_a_line_break_is_refused(tag):
    with pytest.raises(AnymailSerializationError, match="tags"):
        message(tags=[tag]).send()
    assert mail.outbox == []


def test_merge_data_for_an_address_that_is_not_a_recipient_warns():
    msg = message(
        to=["alice@example.com", "Bob <bob@example.com>"],
        merge_data={"alice@example.com": {"n": 1}, "BOB@example.com": {}, "carol@example.com": {}},
    )
    with pytest.warns(AnymailWarning, match="'carol@example.com'") as record:
        msg.send()
    assert "BOB" not in str(record[0].message)  # addresses match case-insensitively
    ok = message(to=["alice@example.com"], merge_data={"alice@example.com": {}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok.send()


@pytest.mark.parametrize(
    ("default", "attribute", "value"),
    [
        ("encoding", "encoding", "iso-8859-1"),
        ("content_subtype", "content_subtype", "html"),
    ],
)
def test_send_defaults_accept_every_email_message_attribute(settings, default, attribute, value):
    """The docs: SEND_DEFAULTS "work for all django.core.mail.EmailMessage attributes"."""
    settings.ANYMAIL = {"SEND_DEFAULTS": {default: value}}
    msg = message()
    msg.send()
    assert getattr(msg, attribute) == value
    if default == "content_subtype":
        assert msg.anymail_send_params["html_body"] == "Body"


def test_send_defaults_refuse_only_unknown_names_naming_them(settings):
    from anymail.exceptions import AnymailConfigurationError

    settings.ANYMAIL = {"SEND_DEFAULTS": {"encoding": "utf-8", "tag": ["x"], "sender": "y"}}
    with pytest.raises(AnymailConfigurationError, match=r"\['sender', 'tag'\]"):
        message().send()
