"""Webhook signatures as reusable pieces: an HMAC scheme (which digest, hex or base64),
reading a signature header, keys given as one string or a list (so a key can be
rotated with no lost webhooks: list the new one beside the old, then drop the old).

An ESP's ``validate_esp`` says *what* its ESP signs and where the signature is; these
say how it is checked, in constant time, against every key, with no early exit::

    MAILGUN_SIGNATURE = HmacScheme("sha256", "hex")

    def validate_esp(self, request, payload):
        signed = signed_text(f"{timestamp}{token}", "Mailgun signature fields")
        if not MAILGUN_SIGNATURE.verify(self.signing_keys, signed, [signature]):
            raise AnymailWebhookValidationFailure("... invalid signature ...")

Amazon SNS's certificate-based verifier and SendGrid's ECDSA stay with their ESPs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.http import HttpRequest

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.settings import get_anymail_setting, string_list

__all__ = [
    "HmacScheme",
    "basic_auth_credentials",
    "read_signing_keys",
    "signature_header",
    "signed_text",
]


@dataclass(frozen=True)
class HmacScheme:
    """An HMAC signature: ``digest`` ("sha256", "sha1", ...) encoded as "hex" or
    "base64"."""

    digest: str = "sha256"
    encoding: Literal["hex", "base64"] = "hex"

    def __post_init__(self) -> None:
        hashlib.new(self.digest)  # ValueError for an unknown digest, at import time
        if self.encoding not in ("hex", "base64"):
            raise ValueError(
                f"HmacScheme encoding must be 'hex' or 'base64', not {self.encoding!r}"
            )

    def sign(self, key: bytes | str, message: bytes) -> str:
        """The signature of ``message`` with ``key`` (a str key is UTF-8 encoded)."""
        raw_key = key.encode("utf-8") if isinstance(key, str) else key
        digest = hmac.new(raw_key, message, self.digest).digest()
        if self.encoding == "hex":
            return digest.hex()
        return base64.b64encode(digest).decode("ascii")

    def verify(
        self,
        keys: Iterable[bytes | str],
        messages: bytes | Iterable[bytes],
        signatures: Iterable[str],
    ) -> bool:
        """Whether any of ``signatures`` is any key's signature of (any of) the
        message(s). Every combination is compared, in constant time: how long it
        takes says nothing about which key or how much of a signature matched."""
        candidates = [messages] if isinstance(messages, bytes) else list(messages)
        given = [_ascii(signature) for signature in signatures]
        matched = False
        for key in keys:
            for message in candidates:
                expected = self.sign(key, message).encode("ascii")
                for signature in given:
                    matched |= hmac.compare_digest(expected, signature)
        return matched


def _ascii(signature: str) -> bytes:
    # A signature is ASCII; anything else (a lone surrogate from a JSON escape) can't
    # match, but must not raise either.
    return signature.strip().encode("ascii", errors="replace")


def signed_text(text: str, what: str) -> bytes:
    """The UTF-8 bytes an ESP signed, from text read out of its payload.
    AnymailWebhookValidationFailure (not a crash) for text that can't be encoded (a
    lone surrogate from a JSON ``\\ud800`` escape): no ESP signed that."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise AnymailWebhookValidationFailure(f"{what} are not valid text") from None


def signature_header(request: HttpRequest, *names: str) -> str:
    """The first of the named headers the request has (an ESP that renamed its
    signature header sends either); "" when none is there."""
    for name in names:
        value = request.headers.get(name)
        if value:
            return str(value)
    return ""


def read_signing_keys(
    name: str, esp_id: str, kwargs: dict[str, Any], *, required: bool = False
) -> Sequence[str]:
    """An ESP's signing key setting (``<ESP>_<NAME>``, or the ``as_view`` keyword
    ``name``): one key or a list of them. With ``required``, a missing setting raises
    AnymailConfigurationError naming it (the view then answers so the ESP retries)."""
    setting = f"{esp_id}_{name}".upper()
    if required:
        value = get_anymail_setting(name, esp_name=esp_id, kwargs=kwargs)  # names where
    else:
        value = get_anymail_setting(name, esp_name=esp_id, kwargs=kwargs, default=None)
    keys = string_list(value, setting, "a key string")
    if required and not keys:
        raise AnymailConfigurationError(f"{setting} is empty: set it to your signing key.")
    return keys


def basic_auth_credentials(request: HttpRequest) -> str:
    """The "user:password" of the request's HTTP basic auth ("" without any, or with
    one that can't be decoded)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return ""
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
