"""``manage.py anymail_webhook_urls``: the webhook URLs to paste into each ESP's dashboard.

Each URL is built from this project's own URL configuration (wherever it includes
``anymail.urls``), so it is the URL the site really serves. The basic-auth part is
the placeholder ``WEBHOOK_SECRET``, never the secret itself: replace it with your
``ANYMAIL["WEBHOOK_SECRET"]`` ("user:password") when you paste the URL.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from anymail.registry import installed_esps

#: what stands for the basic-auth credentials in the printed URLs
PLACEHOLDER = "WEBHOOK_SECRET"
#: the host printed when none is given and ALLOWED_HOSTS names none
EXAMPLE_HOST = "yoursite.example.com"


#: names that are never a site's public host: Django's test client's, loopback's
_NOT_PUBLIC = {"testserver", "localhost", "localhost.localdomain", "ip6-localhost", "[::1]", "::1"}


def _is_real_host_name(host: str) -> bool:
    """Not empty, not a wildcard or a subdomain pattern, not a loopback name or address."""
    import ipaddress

    host = host.strip().lower()
    if not host or host.startswith((".", "*")) or "*" in host or host in _NOT_PUBLIC:
        return False
    if host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True


def default_host() -> str:
    """The first host ALLOWED_HOSTS names outright (not a wildcard, not local)."""
    for host in getattr(settings, "ALLOWED_HOSTS", []):
        if _is_real_host_name(str(host)):
            return str(host)
    return EXAMPLE_HOST


class Command(BaseCommand):
    help = (
        "Print the full webhook URLs of every installed Anymail ESP, with the "
        f"{PLACEHOLDER} placeholder for your ANYMAIL WEBHOOK_SECRET."
    )
    # A set-up step: it runs before the ESP's keys are in settings (which the
    # system checks would otherwise insist on).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            help="Your site's host name (default: the first host in ALLOWED_HOSTS that "
            f"isn't a wildcard or local, else {EXAMPLE_HOST}).",
        )
        parser.add_argument(
            "--scheme",
            default="https",
            choices=["https", "http"],
            help="https (the default, and what ESPs should use) or http.",
        )
        parser.add_argument(
            "--esp",
            action="append",
            dest="esps",
            metavar="ESP_ID",
            help="Only this ESP (its id, e.g. mailgun); may be repeated.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        esps = installed_esps()
        if not esps:
            self.stdout.write("No Anymail ESP package is installed (pip install anymail-<esp>).")
            return
        wanted = options["esps"] or list(esps)
        unknown = [esp_id for esp_id in wanted if esp_id not in esps]
        if unknown:
            raise CommandError(
                f"No installed ESP {', '.join(map(repr, unknown))} (installed: {', '.join(esps)})."
            )
        host = options["host"] or default_host()
        base = f"{options['scheme']}://{PLACEHOLDER}@{host}"
        for esp_id in wanted:
            esp = esps[esp_id]
            self.stdout.write(f"{esp.name} ({esp.distribution}):")
            for route in esp.webhooks:
                try:
                    path = reverse(f"anymail:{esp.id}_{route.name}")
                except NoReverseMatch:
                    raise CommandError(
                        "Anymail's webhooks aren't routed: add "
                        'path("anymail/", include("anymail.urls")) to your urls.py.'
                    ) from None
                label = route.name.removesuffix("_webhook")  # tracking, inbound, ...
                self.stdout.write(f"  {label:<13} {base}{path}")
        self.stdout.write(
            f"\nReplace {PLACEHOLDER} with your ANYMAIL WEBHOOK_SECRET (user:password)."
        )
