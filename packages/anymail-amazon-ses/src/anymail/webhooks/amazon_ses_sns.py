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

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure

__all__ = ["DEFAULT_CERT_HOST_PATTERN", "SNSMessageVerifier"]

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
        fields = cls.SIGNED_FIELDS.get(message.get("Type", ""))
        if fields is None:
            raise AnymailWebhookValidationFailure(
                f"Unknown SNS message Type {message.get('Type')!r}"
            )
        lines = []
        for name in fields:
            if name in message and message[name] is not None:
                lines += [name, str(message[name])]
            elif name != "Subject":
                raise AnymailWebhookValidationFailure(f"SNS message is missing {name}")
        return ("\n".join(lines) + "\n").encode("utf-8")

    def verify(self, message: dict[str, Any]) -> None:
        """Raise AnymailWebhookValidationFailure unless ``message`` is signed by SNS."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        version = str(message.get("SignatureVersion", ""))
        algorithm = {"1": hashes.SHA1, "2": hashes.SHA256}.get(version)
        if algorithm is None:
            raise AnymailWebhookValidationFailure(
                f"Unsupported SNS SignatureVersion {version!r} (expected 1 or 2)"
            )
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError):
            raise AnymailWebhookValidationFailure("SNS Signature is not valid base64") from None
        public_key = self.public_key(str(message.get("SigningCertURL", "")))
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise AnymailWebhookValidationFailure("SNS signing certificate is not an RSA key")
        try:
            public_key.verify(
                signature, self.string_to_sign(message), padding.PKCS1v15(), algorithm()
            )
        except InvalidSignature:
            raise AnymailWebhookValidationFailure(
                "Amazon SNS message signature is invalid"
            ) from None

    def check_cert_url(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        if (
            parts.scheme != "https"
            or parts.username is not None
            or parts.password is not None
            or not self.cert_host.fullmatch(netloc)
        ):
            raise AnymailWebhookValidationFailure(
                f"SNS SigningCertURL {url!r} is not an https URL on an Amazon SNS host"
            )

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
            response.raise_for_status()
            cert = x509.load_pem_x509_certificate(response.content)
        except (requests.RequestException, ValueError) as err:
            raise AnymailWebhookValidationFailure(
                f"Can't load the SNS signing certificate from {url}: {err}"
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
