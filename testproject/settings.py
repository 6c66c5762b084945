"""Django settings shared by the tests of every package and by the conformance suite.

Only what Anymail needs is here; individual tests override the rest with
``django.test.override_settings``.
"""

import django

SECRET_KEY = "test-only-secret-key-not-for-production"
DEBUG = False
USE_TZ = True
TIME_ZONE = "America/Los_Angeles"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "anymail",
]

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

ROOT_URLCONF = "testproject.urls"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND (deprecated in 6.1)
    MAILERS = {"default": {"BACKEND": "anymail.backends.test.EmailBackend"}}
else:
    EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
DEFAULT_FROM_EMAIL = "from@example.com"

ANYMAIL: dict = {}
