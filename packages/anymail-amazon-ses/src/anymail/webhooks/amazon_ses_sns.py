"""Amazon SNS message signatures: which fields are signed, the signing certificate
(fetched only over https from an SNS host, and cached), and the RSA check.

See https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.parse
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, ClassVar

from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailWebhookUnavailable,
    AnymailWebhookValidationFailure,
)

__all__ = ["DEFAULT_CERT_HOST_PATTERN", "SNSCertificateFetchError", "SNSMessageVerifier"]

#: The hosts SNS serves signing certificates from: sns.<region>.amazonaws.com
#: (and .amazonaws.com.cn in China), matched against the whole host.
DEFAULT_CERT_HOST_PATTERN = r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"


#: the fields an SNS subscription (or unsubscribe) confirmation signs, in order
_SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


class SNSCertificateFetchError(AnymailWebhookUnavailable):
    """The SNS signing certificate couldn't be fetched (a network failure, a timeout,
    a 5xx from the certificate host, TLS verification failing).

    This is a fault on our side, not the poster's: it is deliberately *not* an
    AnymailWebhookValidationFailure (a 400), so the webhook answers 5xx and SNS
    retries the delivery later, when the certificate host is reachable again.
    """


def _signed_text(message: dict[str, Any], name: str) -> str | None:
    """A signed field's value: a str (or absent). SNS signs text; any other JSON type
    (or a lone surrogate, which UTF-8 can't encode) is a message SNS didn't send."""
    value = message.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AnymailWebhookValidationFailure(
            f"SNS message {name} must be a string, not {type(value).__name__}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AnymailWebhookValidationFailure(
            f"SNS message {name} is not valid Unicode text"
        ) from None
    return value


class SNSMessageVerifier:
    """Verifies SNS message signatures (SignatureVersion 1: SHA1, 2: SHA256).

    Certificates are fetched with requests and kept in a small LRU cache (SNS signs
    with a handful of certificates); a fetch that fails is not cached, so the next
    message retries it.
    """

    SIGNED_FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
        "SubscriptionConfirmation": _SUBSCRIPTION_FIELDS,
        "UnsubscribeConfirmation": _SUBSCRIPTION_FIELDS,
    }
    cache_size: ClassVar[int] = 16
    _cache: ClassVar[OrderedDict[str, Any]] = OrderedDict()
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, cert_host_pattern: str = DEFAULT_CERT_HOST_PATTERN, verify_tls: Any = True):
        try:
            self.cert_host = re.compile(cert_host_pattern)
        except re.error as err:
            raise AnymailConfigurationError(
                f"AMAZON_SES_SNS_CERT_HOST_PATTERN {cert_host_pattern!r} is not a valid "
                f"regular expression: {err}"
            ) from err
        self.verify_tls = verify_tls

    @classmethod
    def string_to_sign(cls, message: dict[str, Any]) -> bytes:
        message_type = _signed_text(message, "Type")
        fields = cls.SIGNED_FIELDS.get(message_type or "")
        if fields is None:
            raise AnymailWebhookValidationFailure(f"Unknown SNS message Type {message_type!r}")
        lines = []
        for name in fields:
            value = _signed_text(message, name)
            if value is not None:
                lines += [name, value]
            elif name != "Subject":
                raise AnymailWebhookValidationFailure(f"SNS message is missing {name}")
        return ("\n".join(lines) + "\n").encode("utf-8")

    def verify(self, message: dict[str, Any]) -> None:
        """Raise AnymailWebhookValidationFailure unless ``message`` is signed by SNS."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        version = _signed_text(message, "SignatureVersion")
        algorithm = {"1": hashes.SHA1, "2": hashes.SHA256}.get(version or "")
        if algorithm is None:
            raise AnymailWebhookValidationFailure(
                f"Unsupported SNS SignatureVersion {version!r} (expected 1 or 2)"
            )
        to_sign = self.string_to_sign(message)  # refuses wrong types before any fetch
        try:
            signature = base64.b64decode(_signed_text(message, "Signature") or "", validate=True)
        except (binascii.Error, ValueError):
            raise AnymailWebhookValidationFailure("SNS Signature is not valid base64") from None
        public_key = self.public_key(_signed_text(message, "SigningCertURL") or "")
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise AnymailWebhookValidationFailure("SNS signing certificate is not an RSA key")
        try:
            public_key.verify(signature, to_sign, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise AnymailWebhookValidationFailure(
                "Amazon SNS message signature is invalid"
            ) from None

    def check_cert_url(self, url: str) -> None:
        refused = AnymailWebhookValidationFailure(
            f"SNS SigningCertURL {url!r} is not an https URL on an Amazon SNS host"
        )
        try:
            parts = urllib.parse.urlsplit(url)
            host = parts.hostname or ""
            port = parts.port  # raises ValueError for a port that isn't a number
        except ValueError:  # also an unclosed "[" (IPv6 literal)
            raise refused from None
        netloc = host if port is None else f"{host}:{port}"
        if (
            parts.scheme != "https"
            or parts.username is not None
            or parts.password is not None
            or not self.cert_host.fullmatch(netloc)
        ):
            raise refused

    def public_key(self, url: str) -> Any:
        self.check_cert_url(url)
        with self._cache_lock:
            if url in self._cache:
                self._cache.move_to_end(url)
                return self._cache[url]
        key = self.fetch_public_key(url)
        with self._cache_lock:
            self._cache[url] = key
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return key

    def fetch_public_key(self, url: str) -> Any:
        import requests
        from cryptography import x509

        try:
            response = requests.get(url, timeout=10, verify=self.verify_tls, allow_redirects=False)
        except requests.RequestException as err:
            # Unreachable, timed out, TLS failed: ours to fix (or wait out), not the poster's.
            raise SNSCertificateFetchError(
                f"Can't fetch the SNS signing certificate from {url}: {err} (Anymail needs "
                "outbound HTTPS to the SNS certificate host; SNS will retry this message)"
            ) from err
        if response.status_code >= 500:
            raise SNSCertificateFetchError(
                f"Can't fetch the SNS signing certificate from {url}: the host answered "
                f"{response.status_code} (SNS will retry this message)"
            )
        if response.status_code != 200:
            # 3xx/4xx: the URL names no certificate (anyone can post such a URL on an
            # SNS host), so the message isn't verifiably from SNS.
            raise AnymailWebhookValidationFailure(
                f"SNS SigningCertURL {url} answered {response.status_code}, not a certificate"
            )
        try:
            cert = x509.load_pem_x509_certificate(response.content)
        except ValueError as err:
            raise AnymailWebhookValidationFailure(
                f"SNS SigningCertURL {url} is not a PEM certificate: {err}"
            ) from err
        now = datetime.now(UTC)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise AnymailWebhookValidationFailure(
                f"The SNS signing certificate from {url} is expired or not yet valid"
            )
        return cert.public_key()

    @classmethod
    def clear_cache(cls) -> None:
        with cls._cache_lock:
            cls._cache.clear()
