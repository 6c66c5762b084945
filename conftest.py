"""Fixtures shared by the tests of every package (and the conformance suite)."""

import pytest

from anymail.testing import MAILERS_SUPPORTED, use_backend


class _MailersSettings:
    """pytest-django's ``settings``, where Django has MAILERS (6.1+): a test's
    ``settings.EMAIL_BACKEND = path`` sets ``MAILERS["default"]`` instead, so the
    same tests run on every supported Django without its EMAIL_BACKEND deprecation."""

    def __init__(self, wrapped):
        object.__setattr__(self, "_wrapped", wrapped)

    def __setattr__(self, name, value):
        if name == "EMAIL_BACKEND":
            use_backend(self._wrapped, value)
        else:
            setattr(self._wrapped, name, value)

    def __getattr__(self, name):
        if name == "EMAIL_BACKEND":
            return self._wrapped.MAILERS["default"]["BACKEND"]
        return getattr(self._wrapped, name)

    def __delattr__(self, name):
        delattr(self._wrapped, name)


@pytest.fixture
def settings(settings):
    return _MailersSettings(settings) if MAILERS_SUPPORTED else settings


@pytest.fixture(autouse=True)
def _database(db):
    """Every test may post a signed webhook, whose token the default replay store
    (WEBHOOK_REPLAY_STORE = "database") records in the test database."""


@pytest.fixture(autouse=True)
def _anymail_test_email_backend(settings):
    # Django's test runner swaps EMAIL_BACKEND for locmem; tests here send through
    # Anymail's own test backend unless they choose another.
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}


@pytest.fixture
def webhook_client(client):
    """A WebhookClient that posts with basic auth "user:pass" (set as WEBHOOK_SECRET)."""
    from anymail.testing import WebhookClient

    return WebhookClient(client, basic_auth="user:pass")


@pytest.fixture
def webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "user:pass"}
    return "user:pass"


@pytest.fixture
def fake_esp_installed(monkeypatch):
    """Register the test-only "fake" ESP (testproject/fake_esp.py) through a real
    entry point, and rebuild anymail.urls so its webhook routes exist."""
    import importlib
    from pathlib import Path

    from django.urls import clear_url_caches

    import anymail.urls
    import testproject.urls
    from anymail import registry

    def rebuild_urls():
        # The included resolver caches its patterns, so rebuild the root URLconf too.
        registry.clear_cache()
        importlib.reload(anymail.urls)
        importlib.reload(testproject.urls)
        clear_url_caches()

    dist_dir = Path(__file__).parent / "testproject" / "fake_esp_dist"
    monkeypatch.syspath_prepend(str(dist_dir))
    rebuild_urls()
    yield registry.get_esp("fake")
    monkeypatch.undo()
    rebuild_urls()


@pytest.fixture
def no_esp_installed():
    """Behave as if only anymail-base were installed (the registry lists no ESP)."""
    from anymail import registry

    with registry.override_installed_esps([]):
        _rebuild_urls()
        yield
    _rebuild_urls()


def _rebuild_urls():
    import importlib

    from django.urls import clear_url_caches

    import anymail.urls
    import testproject.urls

    importlib.reload(anymail.urls)
    importlib.reload(testproject.urls)
    clear_url_caches()
