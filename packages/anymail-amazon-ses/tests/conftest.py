"""Fixtures for the Amazon SES tests: moto's server (through the conformance
profile's recording proxy) and the local SNS signer."""

import pytest

from anymail.conformance.amazon_ses import profile as profile_module_
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


@pytest.fixture(params=[V2_BACKEND, V1_BACKEND], ids=["v2", "v1"])
def any_ses_settings(request, settings, profile, moto_ses):
    """Each backend in turn (SES API v2, then v1), pointed at moto."""
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(moto_ses)}
    use_backend(settings, request.param)
    return request.param


@pytest.fixture
def sns_signer(profile_module, settings):
    from anymail.webhooks.amazon_ses import SNSMessageVerifier

    signer = profile_module.signer()
    settings.ANYMAIL = {**settings.ANYMAIL, **signer.settings()}
    SNSMessageVerifier.clear_cache()
    yield signer
    SNSMessageVerifier.clear_cache()
