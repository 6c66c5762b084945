"""Fixtures for the Amazon SES tests: moto's server (through the conformance
profile's recording proxy) and the local SNS signer."""

import base64
from dataclasses import dataclass
from typing import Any

import pytest

from anymail.conformance.amazon_ses import profile as profile_module_
from anymail.message import AnymailMessage
from anymail.testing import use_backend


@pytest.fixture(scope="session")
def profile_module():
    return profile_module_


@pytest.fixture
def profile(profile_module):
    return profile_module.AmazonSESProfile()


@pytest.fixture
def moto_ses(profile):
    with profile.server() as server:
        yield server


#: the default backend (SES API v2) and the SES API v1 one
V2_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
V1_BACKEND = "anymail.backends.amazon_sesv1.EmailBackend"


@dataclass(frozen=True)
class SesApi:
    """What the two backends' SES calls name differently, for the tests they share
    (each expected value is written out here, not read from the backends)."""

    backend: str
    version: int
    #: the raw send's operation, its request path and its parameters
    raw_action: str
    raw_path: str
    raw_params: frozenset[str]
    #: the parameter naming the sending identity (several From addresses)
    from_param: str
    #: the parameter envelope_sender sets on a raw send, and on a template send
    envelope_param: str
    template_envelope_param: str
    #: the raw send's Message Tags (esp_extra's name for them too)
    tags_param: str
    #: esp_extra's sending identity ARN
    identity_arn_param: str
    #: how errors name the raw send's operation
    raw_operation: str
    #: names only the other API has: never in this API's calls
    other_api_params: frozenset[str]

    @property
    def id(self) -> str:
        return f"v{self.version}"

    def raw_mime(self, params: dict[str, Any]) -> bytes:
        """The MIME message of a raw send's parameters."""
        raw = params["RawMessage"] if self.version == 1 else params["Content"]["Raw"]
        return base64.b64decode(raw["Data"])

    def raw_destination(self, to: list[str], cc: list[str], bcc: list[str]) -> dict[str, Any]:
        """The parameters a raw send names its recipients (addr-specs) in."""
        if self.version == 1:
            return {"Destinations": [*to, *cc, *bcc]}
        kinds = (("ToAddresses", to), ("CcAddresses", cc), ("BccAddresses", bcc))
        return {"Destination": {key: emails for key, emails in kinds if emails}}

    def template_tags_param(self, batch: bool) -> str:
        """Where a template send puts the message's Message Tags."""
        if self.version == 1:
            return "DefaultTags"  # SendBulkTemplatedEmail, batch or not
        return "ReplacementTags" if batch else "EmailTags"

    def template_destinations(self, params: dict[str, Any]) -> list[tuple[Any, Any]]:
        """A template send's (Destination, ReplacementTemplateData) pairs."""
        if self.version == 1:
            return [
                (entry["Destination"], entry.get("ReplacementTemplateData"))
                for entry in params["Destinations"]
            ]
        if "BulkEmailEntries" not in params:
            return [(params["Destination"], None)]
        return [
            (
                entry["Destination"],
                entry["ReplacementEmailContent"]["ReplacementTemplate"]["ReplacementTemplateData"],
            )
            for entry in params["BulkEmailEntries"]
        ]


SES_V2 = SesApi(
    backend=V2_BACKEND,
    version=2,
    raw_action="SendEmail",
    raw_path="/v2/email/outbound-emails",
    raw_params=frozenset({"Action", "Destination", "Content"}),
    from_param="FromEmailAddress",
    envelope_param="FeedbackForwardingEmailAddress",
    template_envelope_param="FeedbackForwardingEmailAddress",
    tags_param="EmailTags",
    identity_arn_param="FromEmailAddressIdentityArn",
    raw_operation="Amazon SES API v2 SendEmail",
    other_api_params=frozenset({"Source", "Tags", "SourceArn", "ReturnPath", "Destinations"}),
)
SES_V1 = SesApi(
    backend=V1_BACKEND,
    version=1,
    raw_action="SendRawEmail",
    raw_path="/",
    raw_params=frozenset({"Action", "Version", "Destinations", "RawMessage"}),
    from_param="Source",
    envelope_param="Source",
    template_envelope_param="ReturnPath",
    tags_param="Tags",
    identity_arn_param="SourceArn",
    raw_operation="Amazon SES SendRawEmail",
    other_api_params=frozenset(
        {"FromEmailAddress", "FeedbackForwardingEmailAddress", "EmailTags", "Destination"}
    ),
)
#: both backends, for parametrize (the default one first)
SES_APIS = [SES_V2, SES_V1]


def template_message(**kwargs: Any) -> AnymailMessage:
    """A message sent with the stored template moto has (the conformance profile's)."""
    return AnymailMessage(
        from_email=kwargs.pop("from_email", "s@example.com"),
        template_id=kwargs.pop("template_id", "conformance-template"),
        **kwargs,
    )


@pytest.fixture
def ses_settings(settings, profile, moto_ses):
    """The default (SES API v2) backend, pointed at moto."""
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(moto_ses)}
    use_backend(settings, V2_BACKEND)
    return settings.ANYMAIL


@pytest.fixture
def sesv1_settings(settings, profile, moto_ses):
    """The SES API v1 backend, pointed at moto."""
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(moto_ses)}
    use_backend(settings, V1_BACKEND)
    return settings.ANYMAIL


@pytest.fixture(params=SES_APIS, ids=[api.id for api in SES_APIS])
def ses_api(request, settings, profile, moto_ses):
    """Each backend in turn (SES API v2, then v1), pointed at moto: what its calls
    name differently."""
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(moto_ses)}
    use_backend(settings, request.param.backend)
    return request.param


@pytest.fixture
def sns_signer(profile_module, settings):
    from anymail.webhooks.amazon_ses import SNSMessageVerifier

    signer = profile_module.signer()
    settings.ANYMAIL = {**settings.ANYMAIL, **signer.settings()}
    SNSMessageVerifier.clear_cache()
    yield signer
    SNSMessageVerifier.clear_cache()
