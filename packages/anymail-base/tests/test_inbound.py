"""AnymailInboundMessage: parsing raw MIME and constructing from an ESP's fields."""

import base64
import random
import tracemalloc
from base64 import b64encode
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anymail.inbound import AnymailInboundMessage
from anymail.inbound_scan import LAZY_BODY, scan

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


# ---------------------------------------------------------------------------------------
# The lazy MIME reader (anymail.inbound_scan, issue 28) gives the message the email
# package's BytesParser gives: same parts, headers, payloads, preamble and epilogue, same
# bytes out; and it leaves to BytesParser what it doesn't take.

H = b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
PART = b"Content-Type: text/plain\r\n\r\n"


def stdlib(raw):
    return BytesParser(_class=AnymailInboundMessage, policy=policy.default).parsebytes(raw)


def described(message):
    """Everything the two parsers must agree on, part by part."""
    parts = []
    for part in message.walk():
        leaf = not part.is_multipart()
        parts.append(
            (
                part.raw_items() and list(part.raw_items()),
                part.get_content_type(),
                part.preamble,
                part.epilogue,
                [type(defect).__name__ for defect in part.defects],
                part.get_content_bytes() if leaf else None,
                part.get_payload() if leaf and part.get_content_maintype() != "message" else None,
            )
        )
    return parts


def generated(seed):
    """A message like a mail client's: text, html, attachments of random sizes and
    random line-break styles in the bodies."""
    rng = random.Random(seed)  # noqa: S311 (a repeatable corpus)
    message = EmailMessage()
    message["From"] = "Sender <sender@example.com>"
    message["To"] = "inbound@example.com"
    message["Subject"] = f"Report {seed}"
    message.set_content("Line one.\nLine two.\n" * rng.randint(0, 5) + "end")
    message.add_alternative("<p>Hi</p>" * rng.randint(1, 5), subtype="html")
    for index in range(rng.randint(0, 3)):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
        message.add_attachment(
            data, maintype="application", subtype="octet-stream", filename=f"f{index}.bin"
        )
    if rng.random() < 0.5:
        message.add_attachment("plain attached\n", filename="note.txt")
    return message.as_bytes(policy=policy.SMTP if seed % 2 else policy.default)


CASES = {
    "rich": RICH_MESSAGE,
    "lf line breaks": RICH_MESSAGE.replace(b"\r\n", b"\n"),
    "no preamble": H + b"--XX\r\n" + PART + b"hello\r\n--XX--\r\n",
    "preamble": H + b"pre\r\n--XX\r\n" + PART + b"hello\r\n\r\n--XX--",
    "empty preamble, epilogue": H + b"\r\n--XX\r\n\r\nhello\r\n--XX--\r\nepi\r\n",
    "blank epilogue": H + b"--XX\r\n\r\nhello\r\n--XX--\r\n\r\n",
    "empty body": H + b"--XX\r\n" + PART + b"\r\n--XX--\r\n",
    "no body separator": H + b"--XX\r\nContent-Type: text/plain\r\n--XX--\r\n",
    "whitespace after delimiter": H + b"--XX  \r\n" + PART + b"hi\r\n--XX--\t\r\n",
    "lookalike delimiter": H + b"--XX\r\n" + PART + b"--XXY\r\n-- XX\r\n x--XX\r\n--XX--\r\n",
    "forwarded multipart": H
    + b"--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: fw\r\n"
    + b'Content-Type: multipart/alternative; boundary="in"\r\n\r\n--in\r\n\r\na\r\n--in--\r\n'
    + b"--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: fw2\r\n\r\nplain\r\n\r\n--XX--\r\n",
    "nested epilogues": H
    + b'--XX\r\nContent-Type: multipart/related; boundary="a"\r\n\r\n--a\r\n\r\n1\r\n--a--\r\n'
    + b'\r\n--XX\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n--b\r\n\r\n2\r\n--b--\r\n'
    + b"epi\r\n--XX\r\n\r\n--XX\r\n\r\nlast\r\n--XX--",
    "not multipart": b"Subject: x\n\nbody\n",
    "headers only": b"Subject: x\n",
    "nothing after headers": b"Subject: x\n\n",
    "base64 leaf": b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(bytes(range(256)) * 20).replace(b"\n", b"\r\n"),
    "base64 missing padding": b"Content-Transfer-Encoding: base64\r\n\r\nQUJDRA\r\n",
    "base64 with junk": b"Content-Transfer-Encoding: base64\r\n\r\nQU*JD\r\nRA==\r\n",
    "8bit body": b"Content-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9fe \xff\r\n",
    "unix from": b"From someone@example.com Mon Jan  1 00:00:00 2024\nSubject: x\n\nbody\n",
    **{f"generated {seed}": generated(seed) for seed in range(12)},
}
#: shapes left to BytesParser (scan() answers None), which must still parse as before
FALLBACK = {
    "no closing delimiter": H + b"--XX\r\n" + PART + b"hello\r\n",
    "no delimiter at all": H + b"just text\r\n",
    "bad header line": b"Subject: x\r\nnot a header\r\n\r\nbody\r\n",
    "bare CR": b"Content-Type: multipart/mixed; boundary=XX\r\r--XX\r\r\rhi\r--XX--\r",
    "delivery status": b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n",
    "digest": b"Content-Type: multipart/digest; boundary=XX\r\n\r\n--XX\r\n\r\nSubject: a\r\n\r\nb\r\n"
    b"--XX--\r\n",
    "multipart without boundary": b"Content-Type: multipart/mixed\r\n\r\nbody\r\n",
}


@pytest.mark.parametrize("name", CASES)
def test_the_scan_gives_what_bytesparser_gives(name):
    raw = CASES[name]
    scanned = scan(AnymailInboundMessage, policy.default, raw)
    assert scanned is not None, "expected the lazy reader to take it"
    assert described(scanned) == described(stdlib(raw))
    # and the message round-trips to the same bytes (everything materialized)
    assert scanned.as_bytes() == stdlib(raw).as_bytes()


def test_mangled_messages_read_the_same_either_way():
    """Random damage (line breaks, dashes, spaces, stray delimiters, cut short): where
    the lazy reader takes the result, it reads what BytesParser reads."""
    rng = random.Random(2028)  # noqa: S311 (a repeatable corpus)
    pieces = [b"\r\n", b"\n", b"--", b" ", b"--mixed", b"--alt--", b"\r\n\r\n", b"x", b"\r"]
    taken = 0
    for _ in range(400):
        raw = bytearray(rng.choice([RICH_MESSAGE, CASES["nested epilogues"], CASES["generated 3"]]))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(raw))
            if rng.random() < 0.2:
                del raw[at : at + rng.randint(1, 8)]
            else:
                raw[at:at] = rng.choice(pieces)
        raw = bytes(raw)
        scanned = scan(AnymailInboundMessage, policy.default, raw)
        if scanned is not None:
            taken += 1
            assert described(scanned) == described(stdlib(raw)), raw
    assert taken > 100


@pytest.mark.parametrize("name", FALLBACK)
def test_other_shapes_are_left_to_bytesparser(name):
    raw = FALLBACK[name]
    assert scan(AnymailInboundMessage, policy.default, raw) is None
    parsed = AnymailInboundMessage.parse_raw_mime_bytes(raw)
    assert described(parsed) == described(stdlib(raw))


def test_bodies_stay_raw_until_read():
    message = AnymailInboundMessage.parse_raw_mime_bytes(RICH_MESSAGE)
    logo = message.inline_attachments["logo@inline"]
    assert LAZY_BODY in logo.__dict__
    assert logo.get_content_bytes().startswith(b"\x89PNG")
    assert LAZY_BODY in logo.__dict__  # decoded from the raw bytes, text never made
    assert logo.get_payload().startswith("iVBOR")  # the email package's view, on demand
    assert LAZY_BODY not in logo.__dict__
    logo.set_payload("replaced")
    assert logo.get_payload() == "replaced"


def test_a_file_parses_the_same_as_its_bytes(tmp_path):
    path = tmp_path / "message.eml"
    path.write_bytes(RICH_MESSAGE)
    with path.open("rb") as file:
        from_file = AnymailInboundMessage.parse_raw_mime_file(file, chunk_size=100)
    assert described(from_file) == described(stdlib(RICH_MESSAGE))


def test_a_20_mb_message_peaks_under_three_times_its_size():
    """Issue 28's target: parse and read every attachment within 3x the message."""
    message = EmailMessage()
    message["Subject"] = "big"
    message.set_content("see attached")
    for index in range(2):
        message.add_attachment(
            bytes(range(256)) * 28_000, maintype="application", subtype="zip", filename=f"{index}"
        )
    raw = message.as_bytes()
    assert len(raw) > 19_000_000
    tracemalloc.start()
    try:
        parsed = AnymailInboundMessage.parse_raw_mime_bytes(raw)
        sizes = [len(part.get_content_bytes()) for part in parsed.attachments]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sizes == [256 * 28_000] * 2
    assert peak < 3 * len(raw), f"peak {peak / len(raw):.2f}x the message size"
