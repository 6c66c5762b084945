"""``manage.py anymail_webhook_urls``: every installed ESP's webhook URLs, as this
project routes them, with a placeholder (never the secret) for the basic auth."""

from __future__ import annotations

import io
import types

import pytest
from django.core.management import CommandError, call_command
from django.urls import include, path

from anymail.registry import installed_esps

# At least the test-only "fake" ESP (testproject/fake_esp.py), so these tests pass with
# anymail-base alone installed; any real ESP installed is listed too.
pytestmark = pytest.mark.usefixtures("fake_esp_installed")


def urlconf(urlpatterns: list) -> types.ModuleType:
    """A URLconf module (ROOT_URLCONF may be a module object) with these patterns."""
    module = types.ModuleType("webhook_urls_test_urlconf")
    module.urlpatterns = urlpatterns  # type: ignore[attr-defined]
    return module


def run(*args: str) -> str:
    stdout = io.StringIO()
    call_command("anymail_webhook_urls", *args, stdout=stdout)
    return stdout.getvalue()


def test_every_route_of_every_installed_esp(settings):
    settings.ALLOWED_HOSTS = [".example.net", "localhost", "www.example.com"]
    output = run()
    esps = installed_esps()
    assert esps, "the test environment installs ESP packages"
    for esp in esps.values():
        assert f"{esp.name} ({esp.distribution}):" in output
        for route in esp.webhooks:
            url = f"https://WEBHOOK_SECRET@www.example.com/anymail/{esp.id}/{route.path}"
            assert any(line.split()[-1] == url for line in output.splitlines()), url


def test_urls_follow_the_projects_own_prefix(settings):
    settings.ROOT_URLCONF = urlconf([path("hooks/email/", include("anymail.urls"))])
    esp = next(iter(installed_esps().values()))
    output = run("--esp", esp.id, "--host", "mail.example.org", "--scheme", "http")
    route = esp.webhooks[0]
    assert f"http://WEBHOOK_SECRET@mail.example.org/hooks/email/{esp.id}/{route.path}" in output
    others = [other.name for other in installed_esps().values() if other.id != esp.id]
    assert not any(f"{name} (" in output for name in others)


def test_the_secret_itself_is_never_printed(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "s3cr3t-user:s3cr3t-password"}
    output = run()
    assert "s3cr3t" not in output
    assert "WEBHOOK_SECRET@" in output


def test_without_allowed_hosts_an_example_host(settings):
    settings.ALLOWED_HOSTS = ["*", "127.0.0.1"]
    assert "https://WEBHOOK_SECRET@yoursite.example.com/anymail/" in run()


def test_the_first_real_host_name_skipping_test_and_loopback_names(settings):
    settings.ALLOWED_HOSTS = [
        "127.0.0.1", "localhost", "testserver", "[::1]", "*.example.org", ".example.net",
        "app.localhost", "www.example.com", "later.example.com",
    ]  # fmt: skip
    output = run()
    assert "https://WEBHOOK_SECRET@www.example.com/anymail/" in output
    assert "testserver" not in output


def test_runs_before_the_esp_keys_are_set(settings):
    # Listing the URLs is a set-up step: the system checks that want the keys
    # (anymail.W006) must not stop it.
    settings.ANYMAIL = {}
    assert "WEBHOOK_SECRET@" in run()


def test_unknown_esp_is_an_error():
    with pytest.raises(CommandError, match="No installed ESP 'nosuchesp'"):
        run("--esp", "nosuchesp")


def test_unrouted_webhooks_are_an_error(settings):
    settings.ROOT_URLCONF = urlconf([])
    with pytest.raises(CommandError, match=r"include\(\"anymail.urls\"\)"):
        run()
