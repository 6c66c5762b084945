"""Fixtures for the Amazon SES tests: moto's server (through the conformance
profile's recording proxy) and the local SNS signer."""

import importlib.util
import sys
from pathlib import Path

import pytest

PROFILE_PATH = Path(__file__).parent.parent / "conformance" / "profile.py"


def load_profile_module():
    name = "anymail_amazon_ses_conformance_profile"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PROFILE_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def profile_module():
    return load_profile_module()


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
