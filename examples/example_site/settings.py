"""Settings of the example project.

Like a real site, it keeps its secrets out of this file: the webhook secret and the
ESPs' keys come from the environment. ``examples/demo.py`` sets them to point every
installed ESP's backend at a local stand-in for the ESP's API; on your own machine,
``ANYMAIL_WEBHOOK_SECRET`` and your real keys would go there instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import django

from anymail.registry import installed_esps

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "www.example.com"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "anymail",
    # connects the tracking and inbound receivers (example_site/receivers.py)
    "example_site.apps.ExampleSiteConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "example_site.urls"
WSGI_APPLICATION = "example_site.wsgi.application"
# Anymail keeps its webhook replay-protection tokens in the database (`manage.py
# migrate` creates the table); the demo points this at a temporary file.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DATABASE", str(BASE_DIR / "db.sqlite3")),
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_FROM_EMAIL = "Example Site <orders@example.com>"

# One mailer per installed ESP, so the demo can send through each (a site normally
# has one). OPTIONS are the backend's settings in lowercase without the ESP prefix:
# {"api_key": ..., "api_url": ...}; EXAMPLE_MAILER_OPTIONS gives them per ESP id.
_options = json.loads(os.environ.get("EXAMPLE_MAILER_OPTIONS", "{}"))
ESP_MAILERS = {
    esp.id: {"BACKEND": esp.backend, "OPTIONS": _options.get(esp.id, {})}
    for esp in installed_esps().values()
}
CONSOLE_BACKEND = "anymail.backends.console.EmailBackend"
if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND (deprecated in 6.1)
    MAILERS = {"default": {"BACKEND": CONSOLE_BACKEND}, **ESP_MAILERS}
else:  # Django 5.2 and 6.0: get_connection(BACKEND, **OPTIONS) (see demo.py's send())
    EMAIL_BACKEND = CONSOLE_BACKEND

ANYMAIL = {
    # "user:password" that every ESP puts in the webhook URL (basic auth)
    "WEBHOOK_SECRET": os.environ.get("ANYMAIL_WEBHOOK_SECRET", ""),
    # the webhooks' keys (signing keys, ...), as a JSON object of ANYMAIL settings
    **json.loads(os.environ.get("EXAMPLE_ANYMAIL_SETTINGS", "{}")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"example_site": {"handlers": ["console"], "level": "WARNING"}},
}
