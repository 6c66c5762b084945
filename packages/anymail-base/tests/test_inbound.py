"""AnymailInboundMessage: parsing raw MIME and constructing from an ESP's fields."""

import tracemalloc
from base64 import b64encode
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anymail.inbound import AnymailInboundMessage

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16

RICH_MESSAGE = (
    b"From: =?utf-8?q?J=C3=B6rg_Sch=C3=B6n?= <jorg@example.com>\r\n"
    b'To: "Customer, CPA" <customer@example.com>, other@example.org\r\n'
    b"Cc: Copy <copy@example.net>\r\n"
    b"Subject: =?iso-8859-1?q?Caf=E9_au_lait?=\r\n"
    b"Date: Mon, 15 Jan 2024 10:00:00 +0100\r\n"
    b"Message-ID: <abc@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="mixed"\r\n'
    b"\r\n"
    b"--mixed\r\n"
    b'Content-Type: multipart/related; boundary="related"\r\n'
    b"\r\n"
    b"--related\r\n"
    b'Content-Type: multipart/alternative; boundary="alt"\r\n'
    b"\r\n"
    b"--alt\r\n"
    b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Caf=E9 text body\r\n"
    b"--alt\r\n"
    b'Content-Type: text/html; charset="utf-8"\r\n'
    b"\r\n"
    b'<p>Caf\xc3\xa9 <img src="cid:logo@inline"></p>\r\n'
    b"--alt--\r\n"
    b"--related\r\n"
    b"Content-Type: image/png\r\n"
    b'Content-Disposition: inline; filename="logo.png"\r\n'
    b"Content-ID: <logo@inline>\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + b64encode(PNG) + b"\r\n"
    b"--related--\r\n"
    b"--mixed\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt\r\n"
    b"\r\n"
    b"attached text\r\n"
    b"--mixed\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"Content-Disposition: attachment\r\n"
    b"\r\n"
    b"From: forwarder@example.com\r\n"
    b"Subject: the original\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"forwarded body\r\n"
    b"--mixed--\r\n"
)


class TestParseRawMime:
    @pytest.fixture
    def message(self):
        return AnymailInboundMessage.parse_raw_mime(RICH_MESSAGE)

    def test_addresses(self, message):
        assert message.from_email.addr_spec == "jorg@example.com"
        assert message.from_email.display_name == "Jörg Schön"
        assert message.from_email.domain == "example.com"
        assert message.from_email.username == "jorg"
        assert str(message.from_email) == "Jörg Schön <jorg@example.com>"
        assert [a.addr_spec for a in message.to] == ["customer@example.com", "other@example.org"]
        assert message.to[0].display_name == "Customer, CPA"
        assert str(message.to[0]) == '"Customer, CPA" <customer@example.com>'
        assert [a.addr_spec for a in message.cc] == ["copy@example.net"]

    def test_rfc2047_subject_and_date(self, message):
        assert message.subject == "Café au lait"
        assert message.date == datetime(2024, 1, 15, 10, 0, tzinfo=timezone(timedelta(hours=1)))

    def test_bodies_in_their_charsets(self, message):
        assert message.text == "Café text body"
        assert message.html.startswith("<p>Café <img")

    def test_attachments_and_inline(self, message):
        attachments = message.attachments
        assert [a.get_content_type() for a in attachments] == ["text/plain", "message/rfc822"]
        text_attachment = attachments[0]
        assert text_attachment.get_filename() == "naïve résumé.txt"  # RFC 2231
        assert text_attachment.is_attachment()
        assert not text_attachment.is_inline_attachment()
        assert text_attachment.get_content_disposition() == "attachment"
        assert text_attachment.get_content_text().strip() == "attached text"
        assert list(message.inline_attachments) == ["logo@inline"]
        logo = message.inline_attachments["logo@inline"]
        assert logo.get_content_bytes() == PNG
        assert logo.is_inline_attachment()
        assert not logo.is_attachment()
        assert logo.get_filename() == "logo.png"

    def test_forwarded_message_attachment(self, message):
        forwarded = message.attachments[1]
        inner = forwarded.get_payload()[0]
        assert isinstance(inner, AnymailInboundMessage)
        assert inner.subject == "the original"
        assert inner.from_email.addr_spec == "forwarder@example.com"
        assert inner.text.strip() == "forwarded body"
        assert b"Subject: the original" in forwarded.get_content_bytes()
        # the forwarded message's parts are not the outer message's
        assert message.text.startswith("Café")

    def test_as_uploaded_file(self, message):
        uploaded = message.attachments[0].as_uploaded_file()
        assert uploaded.name == "naïve résumé.txt"
        assert uploaded.content_type == "text/plain"
        assert uploaded.read().strip() == b"attached text"

    def test_header_access_is_standard_library(self, message):
        assert message["Message-ID"] == "<abc@example.com>"
        assert message.get_all("To")

    def test_str_with_8bit_utf8_body(self):
        raw = "From: a@example.com\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nnaïve café"
        assert AnymailInboundMessage.parse_raw_mime(raw).text == "naïve café"

    def test_str_input_same_as_bytes(self):
        message = AnymailInboundMessage.parse_raw_mime(RICH_MESSAGE.decode("latin-1"))
        assert message.from_email.addr_spec == "jorg@example.com"


class TestMalformedInput:
    @pytest.mark.parametrize(
        "from_header", ["", "From: not an address\n", "From: <>\n", "From: =?bogus?q?x?= <@>\n"]
    )
    def test_missing_or_invalid_from_is_none(self, from_header):
        message = AnymailInboundMessage.parse_raw_mime(f"{from_header}Subject: hi\n\nbody")
        assert message.from_email is None
        assert message.text == "body"

    @pytest.mark.parametrize(
        "date_header", ["", "Date: yesterday\n", "Date: Mon, 99 Foo 2024 99:99:99 +9999\n"]
    )
    def test_missing_or_invalid_date_is_none(self, date_header):
        message = AnymailInboundMessage.parse_raw_mime(f"{date_header}Subject: hi\n\nbody")
        assert message.date is None

    def test_missing_subject_is_none(self):
        assert AnymailInboundMessage.parse_raw_mime("From: a@example.com\n\nbody").subject is None

    def test_wrong_and_unknown_charsets_never_raise(self):
        raw = (
            b"Subject: =?x-unknown?q?abc?=\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\nna\xefve\r\n"
            b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>\xff\xfe bad utf-8</p>\r\n"
            b"--b--\r\n"
        )
        message = AnymailInboundMessage.parse_raw_mime(raw)
        assert "na" in message.text
        assert "ve" in message.text
        assert "bad utf-8" in message.html
        assert "\ufffd" in message.html
        assert message.subject is not None

    def test_charset_override(self):
        raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nCaf\xe9"
        message = AnymailInboundMessage.parse_raw_mime(raw)
        assert message.get_content_text(charset="iso-8859-1") == "Café"
        assert message.get_content_text() == "Caf\ufffd"
        with pytest.raises(UnicodeDecodeError):
            message.get_content_text(errors="strict")


class TestConstruct:
    def test_from_parsed_fields(self):
        image = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
        document = SimpleUploadedFile("résumé.pdf", b"%PDF-1.4", content_type="application/pdf")
        message = AnymailInboundMessage.construct(
            headers=[
                ("From", "Sender <sender@example.com>"),
                ("To", "inbox@example.com"),
                ("Subject", "=?utf-8?b?w6lsw6h2ZQ==?="),
                ("Date", "Tue, 16 Jan 2024 08:30:00 -0000"),
                ("X-Custom", "custom value"),
            ],
            text="plain body",
            html="<p>html body</p>",
            attachments=[
                AnymailInboundMessage.construct_attachment_from_uploaded_file(
                    image, content_id="logo123"
                ),
                AnymailInboundMessage.construct_attachment_from_uploaded_file(document),
            ],
        )
        assert message.from_email.addr_spec == "sender@example.com"
        assert message.subject == "élève"
        assert message.date.year == 2024
        assert message["X-Custom"] == "custom value"
        assert message.text == "plain body"
        assert message.html == "<p>html body</p>"
        assert list(message.inline_attachments) == ["logo123"]
        assert message.inline_attachments["logo123"].get_content_bytes() == PNG
        assert [a.get_filename() for a in message.attachments] == ["résumé.pdf"]
        assert message.attachments[0].get_content_bytes() == b"%PDF-1.4"
        # and it round-trips through its own MIME serialization
        reparsed = AnymailInboundMessage.parse_raw_mime(message.as_bytes())
        assert reparsed.text == "plain body"
        assert reparsed.attachments[0].get_filename() == "résumé.pdf"

    def test_from_raw_header_block(self):
        raw_headers = "From: a@example.com\nTo: b@example.com\nSubject: raw\nReceived: from x\nReceived: from y\n"
        message = AnymailInboundMessage.construct(
            raw_headers=raw_headers, text="t", text_charset="iso-8859-1"
        )
        assert message.subject == "raw"
        assert message.get_all("Received") == ["from x", "from y"]
        assert message.text == "t"

    def test_fields_fill_in_missing_headers(self):
        message = AnymailInboundMessage.construct(
            from_email="f@example.com", subject="s", to="t@example.com"
        )
        assert message.from_email.addr_spec == "f@example.com"
        assert message.text is None
        assert message.html is None

    def test_header_with_newline_is_kept_on_one_line(self):
        message = AnymailInboundMessage.construct(
            headers=[("Subject", "a\r\nBcc: injected@example.com")], text="t"
        )
        assert message["Bcc"] is None
        assert "injected" in message.subject

    def test_unknown_text_charset_falls_back(self):
        message = AnymailInboundMessage.construct(text="héllo", text_charset="x-unknown")
        assert message.text == "héllo"

    def test_esp_fields_default_to_none(self):
        message = AnymailInboundMessage.construct(text="t")
        assert message.envelope_sender is None
        assert message.envelope_recipient is None
        assert message.spam_score is None
        assert message.spam_detected is None
        assert message.stripped_text is None
        assert message.stripped_html is None


def _big_message(size):
    payload = bytes(range(256)) * (size // 256)
    encoded = b64encode(payload)
    lines = b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    raw = (
        b"From: big@example.com\r\nSubject: big\r\nDate: "
        + format_datetime(datetime.now(UTC)).encode()
        + b'\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b'--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="big.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + lines + b"\r\n--b--\r\n"
    )
    return raw, payload


def _peak_parse_memory(raw):
    tracemalloc.start()
    try:
        message = AnymailInboundMessage.parse_raw_mime(raw)
        content = message.attachments[0].get_content_bytes()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, content


def test_large_attachment_memory_grows_no_faster_than_message_size():
    small_raw, small_payload = _big_message(5 * 1024 * 1024)
    small_peak, small_content = _peak_parse_memory(small_raw)
    assert small_content == small_payload
    del small_raw, small_payload, small_content

    raw, payload = _big_message(20 * 1024 * 1024)
    peak, content = _peak_parse_memory(raw)
    assert content == payload
    # Linear: four times the message costs at most ~four times the memory...
    assert peak / len(raw) <= 1.15 * small_peak / len(_big_message(5 * 1024 * 1024)[0])
    # ...and a bounded multiple of it (the stdlib parser holds the encoded text as
    # lines, then joined, then the decoded bytes: about 8x a base64 message).
    assert peak < 10 * len(raw), f"peak {peak / len(raw):.1f}x the message size"
