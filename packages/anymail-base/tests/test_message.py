"""AnymailMessage, AnymailMessageMixin, the inline-image helpers and AnymailStatus
(docs 1.3.2)."""

import pytest
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives

from anymail.message import (
    AnymailMessage,
    AnymailMessageMixin,
    AnymailRecipientStatus,
    AnymailStatus,
    attach_inline_image,
    attach_inline_image_file,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


# --- AnymailMessage ---------------------------------------------------------


def test_anymail_message_is_an_email_multi_alternatives():
    assert issubclass(AnymailMessage, EmailMultiAlternatives)


def test_constructor_accepts_anymail_attributes():
    message = AnymailMessage(
        subject="Welcome",
        body="Welcome to our site",
        to=["New User <user1@example.com>"],
        tags=["Onboarding"],
        metadata={"onboarding_experiment": "variation 1"},
        track_clicks=True,
        esp_extra={"x": 1},
    )
    assert message.subject == "Welcome"
    assert message.to == ["New User <user1@example.com>"]
    assert message.tags == ["Onboarding"]
    assert message.metadata == {"onboarding_experiment": "variation 1"}
    assert message.track_clicks is True
    assert message.esp_extra == {"x": 1}


def test_attributes_not_given_are_left_unset_so_send_defaults_apply(settings):
    message = AnymailMessage(subject="s", body="b", to=["to@example.com"])
    assert not hasattr(message, "tags")
    assert not hasattr(message, "track_opens")
    settings.ANYMAIL = {"SEND_DEFAULTS": {"track_opens": True}}
    message.send()
    assert mail.outbox[0].anymail_send_params["track_opens"] is True


def test_anymail_status_exists_before_sending():
    status = AnymailMessage(to=["to@example.com"]).anymail_status
    assert status.message_id is None
    assert status.status is None
    assert status.recipients == {}


def test_anymail_attributes_work_on_any_email_message():
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.tags = ["plain-django"]
    message.send()
    assert message.anymail_send_params["tags"] == ["plain-django"]
    assert message.anymail_status.status == {"sent"}


def test_mixin_adds_anymail_attributes_to_another_email_message_class():
    class TemplatedEmailMessage(EmailMessage):
        def __init__(self, template_name=None, **kwargs):
            self.template_name = template_name
            super().__init__(**kwargs)

    class TemplatedAnymailMessage(AnymailMessageMixin, TemplatedEmailMessage):
        pass

    message = TemplatedAnymailMessage(
        template_name="order_confirmation.tpl",
        track_opens=True,
        subject="s",
        body="b",
        to=["to@example.com"],
    )
    message.tags = ["templated"]
    assert message.template_name == "order_confirmation.tpl"
    assert message.track_opens is True
    cid = message.attach_inline_image(PNG)
    message.send()
    params = message.anymail_send_params
    assert params["tags"] == ["templated"]
    assert params["track_opens"] is True
    assert [att.content_id for att in params["inline_attachments"]] == [cid]


# --- inline images ------------------------------------------------------------


def _only_attachment(message):
    assert len(message.attachments) == 1
    return message.attachments[0]


def test_attach_inline_image_returns_content_id_in_the_inline_domain():
    message = EmailMultiAlternatives()
    cid = attach_inline_image(message, PNG, filename="logo.png")
    assert not cid.startswith("<")
    assert not cid.endswith(">")
    assert cid.endswith(".img@inline")
    image = _only_attachment(message)
    assert image["Content-ID"] == f"<{cid}>"
    assert image.get_content_disposition() == "inline"
    assert image.get_filename() == "logo.png"
    assert image.get_content_type() == "image/png"
    assert image.get_payload(decode=True) == PNG


def test_attach_inline_image_options():
    message = EmailMultiAlternatives()
    cid = attach_inline_image(
        message, PNG, subtype="x-custom", idstring="logo", domain="example.com"
    )
    assert cid.endswith(".logo@example.com")
    image = _only_attachment(message)
    assert image.get_content_type() == "image/x-custom"
    assert image.get_content_disposition() == "inline"
    assert image.get_filename() is None


def test_each_inline_image_gets_a_unique_content_id():
    message = EmailMultiAlternatives()
    assert attach_inline_image(message, PNG) != attach_inline_image(message, PNG)


def test_attach_inline_image_file_uses_the_basename_as_filename(tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(PNG)
    message = EmailMultiAlternatives()
    cid = attach_inline_image_file(message, str(path))
    image = _only_attachment(message)
    assert image["Content-ID"] == f"<{cid}>"
    assert image.get_filename() == "picture.png"
    assert image.get_payload(decode=True) == PNG


def test_inline_image_methods_on_anymail_message(tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(PNG)
    message = AnymailMessage(to=["to@example.com"])
    cid1 = message.attach_inline_image_file(path, domain="example.org")
    cid2 = message.attach_inline_image(PNG, filename="second.png")
    message.attach_alternative(f'<img src="cid:{cid1}"><img src="cid:{cid2}">', "text/html")
    message.send()
    inline = message.anymail_send_params["inline_attachments"]
    assert [(att.content_id, att.name) for att in inline] == [
        (cid1, "picture.png"),
        (cid2, "second.png"),
    ]
    assert cid1.endswith("@example.org")
    assert "attachments" not in message.anymail_send_params


# --- AnymailStatus ------------------------------------------------------------


def test_status_with_one_message_id_for_all_recipients():
    status = AnymailStatus()
    status.set_recipient_status(
        {
            "you@example.com": AnymailRecipientStatus("<12345@example.com>", "sent"),
            "me@example.com": AnymailRecipientStatus("<12345@example.com>", "queued"),
        }
    )
    assert status.message_id == "<12345@example.com>"
    assert status.status == {"sent", "queued"}
    assert status.recipients["me@example.com"].status == "queued"
    assert status.recipients["me@example.com"].message_id == "<12345@example.com>"


def test_status_with_a_message_id_per_recipient_is_a_set_of_ids():
    status = AnymailStatus()
    status.set_recipient_status(
        {
            "you@example.com": AnymailRecipientStatus("16fd2706", "sent"),
            "me@example.com": AnymailRecipientStatus("886313e1", "rejected"),
        }
    )
    assert status.message_id == {"16fd2706", "886313e1"}
    assert status.status == {"sent", "rejected"}
    assert not status.status.issubset({"queued", "sent"})


def test_status_repr_is_readable():
    status = AnymailStatus()
    status.set_recipient_status({"a@example.com": AnymailRecipientStatus("id1", "sent")})
    assert repr(status) == "AnymailStatus<status={'sent'}, message_id='id1'>"


def test_recipient_status_must_be_a_normalized_status():
    for status in ("sent", "queued", "invalid", "rejected", "failed", "unknown"):
        assert AnymailRecipientStatus("id", status).status == status
    with pytest.raises(ValueError, match="delivered"):
        AnymailRecipientStatus("id", "delivered")
