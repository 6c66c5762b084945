"""Fixtures shared by the tests of every package (and the conformance suite)."""

import pytest


@pytest.fixture(autouse=True)
def _anymail_test_email_backend(settings):
    # Django's test runner swaps EMAIL_BACKEND for locmem; tests here send through
    # Anymail's own test backend unless they choose another.
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
