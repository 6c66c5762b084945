"""Fixtures for the Amazon SES tests: moto's server (through the conformance
profile's recording proxy) and the local SNS signer."""

import pytest

from anymail.conformance.amazon_ses import profile as profile_module_


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


@pytest.fixture
def ses_settings(settings, profile, moto_ses):
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(moto_ses)}
    settings.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    return settings.ANYMAIL


@pytest.fixture
def sns_signer(profile_module, settings):
    from anymail.webhooks.amazon_ses import SNSMessageVerifier

    signer = profile_module.signer()
    settings.ANYMAIL = {**settings.ANYMAIL, **signer.settings()}
    SNSMessageVerifier.clear_cache()
    yield signer
    SNSMessageVerifier.clear_cache()
