"""Checking captured Mail Send requests against SendGrid's own OpenAPI description.

``tsg_mail_v3.json`` beside this module is SendGrid's published description of the
v3 Mail Send API (see NOTICE.md). The fake API of the conformance profile refuses
any request that violates it, the way SendGrid answers 400, and reports each
violation, so a test can't pass with a request SendGrid would refuse. It also
refuses what the description forbids only in prose (reply_to with reply_to_list, a
repeated reply_to_list address).

Needs ``jsonschema`` (in anymail-sendgrid's ``test`` extra).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["SPEC_PATH", "is_email", "mail_send_violations", "prose_rule_violations"]

SPEC_PATH = Path(__file__).with_name("tsg_mail_v3.json")
_SPEC_URI = "urn:sendgrid:tsg_mail_v3"
#: The request body schema of POST /v3/mail/send, as a JSON pointer into the spec.
_BODY_SCHEMA = "#/components/requestBodies/PostMailSend/content/application~1json/schema"


# JSON Schema's "email" format is RFC 5321's Mailbox, which is ASCII: an
# internationalized address is "idn-email" (RFC 6531), a format SendGrid's spec doesn't
# use. jsonschema's own "email" check only looks for an "@", so the fake API checks
# the format itself: a dot-atom or quoted-string local part, and a domain of
# letter-digit-hyphen labels (an internationalized one in its IDNA "xn--" form) or an
# address literal.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = rf'(?:{_ATEXT}(?:\.{_ATEXT})*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*")'
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[\x21-\x5a\x5e-\x7e]+\])"
_MAILBOX = re.compile(rf"{_LOCAL_PART}@{_DOMAIN}")


def is_email(value: object) -> bool:
    """Whether ``value`` has JSON Schema's "email" format (RFC 5321 Mailbox). Anything
    not a str passes, as JSON Schema formats do (the schema's "type" checks it)."""
    if not isinstance(value, str):
        return True
    return value.isascii() and _MAILBOX.fullmatch(value) is not None


@functools.cache
def _validator() -> Any:
    try:
        from jsonschema import Draft202012Validator, FormatChecker
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
    except ImportError as err:  # pragma: no cover - in the test extra
        raise ImportError(
            "Checking SendGrid requests against its OpenAPI description needs jsonschema: "
            'pip install "anymail-sendgrid[test]"'
        ) from err
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; the spec's own "#/components/..."
    # references resolve inside the registered document.
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource(_SPEC_URI, resource)
    format_checker = FormatChecker()
    format_checker.checks("email")(is_email)
    return Draft202012Validator(
        {"$ref": _SPEC_URI + _BODY_SCHEMA}, registry=registry, format_checker=format_checker
    )


def mail_send_violations(body: Any) -> list[str]:
    """Each way ``body`` (a parsed Mail Send JSON body) breaks SendGrid's schema, or
    a rule the schema states only in prose (:func:`prose_rule_violations`), as
    "path: message" (empty if it is valid)."""
    return [
        f"{'.'.join(str(part) for part in error.absolute_path) or '(body)'}: {error.message}"
        for error in sorted(_validator().iter_errors(body), key=lambda e: list(e.absolute_path))
    ] + prose_rule_violations(body)


def prose_rule_violations(body: Any) -> list[str]:
    """Mail Send rules that SendGrid's OpenAPI description states only in the text of
    a ``description``, not as schema, and its Mail Send overview lists
    (https://www.twilio.com/docs/sendgrid/api-reference/mail-send, "Multiple Reply-To
    Emails"): ``reply_to`` and ``reply_to_list`` are mutually exclusive ("the API call
    will be rejected"), and each ``reply_to_list`` address is unique. (The schema's
    ``uniqueItems`` compares whole objects, names too; this check compares the
    addresses, ignoring case: the strictest reading.)"""
    if not isinstance(body, dict):
        return []
    problems = []
    reply_to_list = body.get("reply_to_list")
    if "reply_to" in body and "reply_to_list" in body:
        problems.append("reply_to_list: reply_to and reply_to_list are mutually exclusive")
    if isinstance(reply_to_list, list):
        seen: set[str] = set()
        for index, item in enumerate(reply_to_list):
            email = item.get("email") if isinstance(item, dict) else None
            if not isinstance(email, str):
                continue  # the schema reports it
            if email.lower() in seen:
                problems.append(f"reply_to_list.{index}.email: {email!r} is repeated")
            seen.add(email.lower())
    return problems
