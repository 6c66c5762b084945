"""The raw message's bytes (both backends' raw sends): the backend serializes Django's
MIME message with less work per message than the email package's BytesGenerator, and
builds attachment parts without a round trip through a surrogate-escaped str. The
result must be what anymail.mime makes, byte for byte: these tests compare them."""

import copy
import email.policy
import random
import string
from email.generator import Generator

import django
import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

from anymail.backends.amazon_ses import _attachment_part, _folded_header, _raw_message_bytes
from anymail.mime import mime_attachment, mime_bytes


def reference_and_ours(message, seed=0):
    """mime_bytes(message) and _raw_message_bytes(message), each flattening its own
    copy of the same message with the same random boundaries."""
    built = message.message()
    random.seed(seed)
    reference = mime_bytes(copy.deepcopy(built), linesep="\r\n")
    random.seed(seed)
    ours = _raw_message_bytes(copy.deepcopy(built))
    return reference, ours


def everything_message():
    message = EmailMultiAlternatives(
        subject="Grüße " * 12,
        body="Line one\nline two\r\nline three\rline four: Jürgen\n" * 30,
        from_email="Shöp <shop@example.com>",
        to=["a@example.com", "Ünï Cødé <b@example.com>"],
        cc=["c@example.com"],
        reply_to=["reply@example.com"],
        headers={
            "X-Long": "word " * 60,
            "X-Tab": "a\tb",
            "X-Spaces": "  two  spaces  ",
            "X-Empty": "",
            "X-Exactly-At-The-Limit": "x" * (78 - len("X-Exactly-At-The-Limit: ")),
            "X-One-Past-The-Limit": "x" * (79 - len("X-One-Past-The-Limit: ")),
        },
    )
    message.attach_alternative("<p>" + "long html line " * 200 + "</p>", "text/html")
    message.attach("notes.txt", "text\nwith\nlines\n", "text/plain")
    message.attach("data.bin", bytes(range(256)) * 20, "application/octet-stream")
    message.attach(mime_attachment(b"\x89PNG" * 300, "image/png", content_id="logo"))
    return message


def nested_message():
    inner = EmailMessage("Inner", "inner body\n", "c@example.com", ["d@example.com"])
    message = EmailMultiAlternatives("Outer", "plain", "a@example.com", ["b@example.com"])
    message.attach("inner.eml", inner.message(), "message/rfc822")
    return message


@pytest.mark.parametrize(
    "make",
    [
        everything_message,
        nested_message,
        lambda: EmailMessage("Empty body", "", "a@example.com", ["b@example.com"]),
        lambda: EmailMessage("No newline", "no final newline", "a@example.com", ["b@e.com"]),
        lambda: EmailMessage("Dashes", "--==x==\n--\n-- \n", "a@example.com", ["b@e.com"]),
    ],
    ids=["everything", "nested", "empty", "no-newline", "dashes"],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_raw_message_bytes_are_the_email_packages(make, seed):
    reference, ours = reference_and_ours(make(), seed)
    assert ours == reference


def test_raw_message_bytes_again_with_boundaries_already_set():
    built = everything_message().message()
    first = _raw_message_bytes(built)
    assert _raw_message_bytes(built) == first == mime_bytes(built, linesep="\r\n")


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        # The boundary's own line: another boundary is chosen. (The stdlib's check is
        # a line-anchored regex, and "$" doesn't match before "\r\n": with CRLF line
        # endings only a last line, unterminated, is found.)
        ("before\n--{boundary}", ".0"),
        ("before\n--{boundary}--", ".0"),
        ("before\n--{boundary}\nafter", ""),
        ("not at the start --{boundary}", ""),  # only as a substring: it stays
    ],
)
def test_a_boundary_found_in_the_text(text, suffix):
    """The first boundary the email package would pick is in the text: ours picks the
    same one, or the same replacement."""
    random.seed(7)
    boundary = Generator._make_boundary()  # the stdlib's next boundary for this seed
    message = EmailMultiAlternatives("Subject", "plain", "a@example.com", ["b@example.com"])
    message.attach_alternative(text.format(boundary=boundary), "text/x-last-part")
    built = message.message()
    random.seed(7)
    reference = mime_bytes(copy.deepcopy(built), linesep="\r\n")
    random.seed(7)
    ours = _raw_message_bytes(copy.deepcopy(built))
    assert ours == reference
    if django.VERSION < (6, 0):  # Django 6 ends every text part with a line break
        assert f'boundary="{boundary}{suffix}"'.encode() in ours


COMPAT32_POLICIES = [
    email.policy.compat32.clone(linesep="\r\n"),
    email.policy.compat32,
    email.policy.compat32.clone(max_line_length=None),
    email.policy.compat32.clone(max_line_length=30, linesep="\r\n"),
]


def header_values():
    """Header values around every edge the shortcut has: the line length, control
    characters, tabs, line breaks, non-ASCII, runs of spaces, embedded headers."""
    fixed = [
        "",
        " ",
        "plain",
        " leading",
        "trailing ",
        "two  spaces",
        "a\tb",
        "line\nbreak",
        "line\r\nbreak",
        "embedded\nX-Header: value",
        "vertical\x0btab",
        "form\x0cfeed",
        "Jürgen",
        "x" * 54,
        "x" * 55,
        "x" * 56,
        "word " * 40,
        'multipart/mixed; boundary="===============1234567890123456789=="',
    ]
    rng = random.Random(28)  # noqa: S311 (test data, repeatable)
    alphabet = string.printable + '\x1c\x85é\u2028;,="()\\:' + "    "
    generated = [
        "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 10, 50, 60, 66, 70, 90])))
        for _ in range(1500)
    ]
    return fixed + generated


def test_folded_headers_are_the_policys():
    for value in header_values():
        for name in ("Subject", "X-Tag", "X" * 40):
            for policy in COMPAT32_POLICIES:
                try:
                    expected = policy.fold_binary(name, value)
                except Exception as error:  # an embedded header, say
                    with pytest.raises(type(error)):
                        _folded_header(policy, name, value)
                    continue
                assert _folded_header(policy, name, value) == expected, (name, value)


@pytest.mark.parametrize(
    ("content", "mimetype", "options"),
    [
        (bytes(range(256)) * 120, "application/pdf", {"filename": "receipt.pdf"}),
        (b"", "application/octet-stream", {"filename": "empty.bin"}),
        (b"text\nwith\nlines", "text/plain", {"filename": "notes.txt"}),
        (b"\x89PNG", "image/png", {"disposition": "inline", "content_id": "logo"}),
        (b"no name", "application", {}),  # no subtype: octet-stream
    ],
    ids=["binary", "empty", "text", "inline", "no-subtype"],
)
def test_attachment_parts_are_anymail_mimes(content, mimetype, options):
    options = {"filename": None, "disposition": "attachment", "content_id": None, **options}
    reference = mime_attachment(content, mimetype, **options)
    ours = _attachment_part(content, mimetype, **options)
    assert type(ours) is type(reference)
    assert mime_bytes(ours) == mime_bytes(reference)
    assert ours.get_payload(decode=True) == content
