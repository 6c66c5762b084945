"""The send path's fast paths give exactly what the general code gives (issue 28):
the simple-address reader against the email package's parser, and JSON bodies with
attachments spliced in against ``json.dumps``."""

import base64
import json
import random

import pytest

from anymail import addresses
from anymail.addresses import EmailAddress, parse_address_list
from anymail.attachments import Attachment
from anymail.json_body import Base64Text, dumps

SIMPLE = [
    "user@example.com",
    "first.last@mail.example.co.uk",
    "a+tag@example.com",
    "o'brien@example.ie",
    "x_y-z@sub-domain.example.com",
    "Customer 12 <customer12@example.com>",
    "Zoë Müller <zoe@example.de>",
    "山田 太郎 <taro@example.jp>",
    "O'Brien <ob@example.com>",
    "Shop #1 <shop@example.com>",
    "user_name <u@example.com>",
]
#: forms the simple reader leaves to the general parser (it must not match them)
GENERAL = [
    '"Widgets, Inc." <widgets@example.com>',
    "John Q. Public <jqp@example.com>",
    "<bare@example.com>",
    " user@example.com",
    "user@example.com ",
    "Two  Spaces <t@example.com>",
    "=?utf-8?q?Zo=C3=AB?= <zoe@example.com>",
    "user@localhost",
    "user@müller.example",
    "one@example.com, two@example.com",
    "Name <user@example.com",
    "user@example.com>",
    "user(comment)@example.com",
    "a..b@example.com",
    ".a@example.com",
    "user@-example.com",
    "user@example",
    "Tab\tName <t@example.com>",
]


def general_parse(text):
    """The general path alone: the simple reader switched off."""
    saved = addresses._parse_simple
    addresses._parse_simple = lambda text: None
    try:
        return parse_address_list([text])
    except Exception as err:  # (compared as an outcome)
        return type(err)
    finally:
        addresses._parse_simple = saved


@pytest.mark.parametrize("text", SIMPLE)
def test_simple_addresses_read_as_the_general_parser_reads_them(text):
    simple = addresses._parse_simple(text)
    assert simple is not None, "expected the fast path to take it"
    assert [simple] == general_parse(text)
    assert parse_address_list([text]) == general_parse(text)


@pytest.mark.parametrize("text", GENERAL)
def test_other_forms_take_the_general_parser(text):
    assert addresses._parse_simple(text) is None
    try:
        result = parse_address_list([text])
    except Exception as err:
        result = type(err)
    assert result == general_parse(text)


def test_random_address_like_text_reads_the_same_either_way():
    """Any text the simple reader accepts, the general parser reads the same."""
    rng = random.Random(28)  # noqa: S311 (a repeatable corpus, not a secret)

    def chunk(alphabet, low=1, high=6):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))

    accepted = 0
    for _ in range(3000):
        local = chunk("ab.-_+'=?#1", 1, 8)
        domain = chunk("ab-.1", 1, 6) + rng.choice([".com", ".org", "", "-.x"])
        name = rng.choice(["", "", chunk("Ab é'#_=?.", 1, 5), f"{chunk('ab')} {chunk('AZ1-')}"])
        text = f"{name} <{local}@{domain}>" if name else f"{local}@{domain}"
        if rng.random() < 0.1:
            text = text.replace(" ", rng.choice(["  ", "\t", ""]), 1)
        simple = addresses._parse_simple(text)
        if simple is not None:
            accepted += 1
            assert [simple] == general_parse(text), text
    assert accepted > 300  # the corpus does exercise the fast path


def body(*contents):
    return {
        "From": "Shop <shop@example.com>",
        "HtmlBody": '<p class="x">Grüße\n\t"quoted" \\ </p>',
        "Attachments": [{"Name": f"f{i}.bin", "Content": c} for i, c in enumerate(contents)],
        "Metadata": {"k": ["v", 1, None, True, 2.5]},
        "Nested": ({"deep": [Base64Text("QUJD")]},),
    }


def test_json_with_spliced_base64_is_what_json_dumps_gives():
    contents = [
        Attachment((f"f{size}", bytes(range(256)) * size, None)).b64content for size in (1, 40, 300)
    ]
    assert all(type(content) is Base64Text for content in contents)
    value = body(*contents)
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert dumps(value) == expected
    assert dumps(value, has_base64=False) == expected
    assert json.loads(dumps(value))["Attachments"][2]["Content"] == contents[2]
    # the caller's value is not changed
    assert value["Attachments"][1]["Content"] is contents[1]


def test_a_placeholder_spelled_in_message_text_is_just_text():
    content = Base64Text(base64.b64encode(b"x" * 3000).decode())
    lookalike = addresses.__name__ + "anymail-base64-0123-0."
    value = {"Subject": lookalike, "Content": content}
    assert json.loads(dumps(value)) == {"Subject": lookalike, "Content": content}


def test_what_json_cannot_hold_still_raises():
    with pytest.raises(TypeError):
        dumps({"when": object(), "Content": Base64Text("QUJD" * 100)})


def test_email_address_equality_survives_the_fast_path():
    assert parse_address_list("Ann <ann@example.com>") == [EmailAddress("Ann", "ann@example.com")]
