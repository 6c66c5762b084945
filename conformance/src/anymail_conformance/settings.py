"""Minimal Django settings for running the suite outside a project
(``python -m anymail_conformance`` uses them unless DJANGO_SETTINGS_MODULE is set)."""

import os
import tempfile

import django

SECRET_KEY = "anymail-conformance-only"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "anymail"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "anymail_conformance.urls"
# A file, not ":memory:": the webhooks' replay store writes to it (its test database
# is made by pytest-django next to it and removed after the run).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), f"anymail-conformance-{os.getpid()}.sqlite3"),
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Webhooks in background mode: the in-process task backends (immediate: the task runs
# within the post; dummy: it runs when a test says).
_TASKS = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
TASKS = {
    "default": {"BACKEND": f"{_TASKS}.backends.immediate.ImmediateBackend"},
    "dummy": {"BACKEND": f"{_TASKS}.backends.dummy.DummyBackend"},
}
if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND (deprecated in 6.1)
    MAILERS = {"default": {"BACKEND": "anymail.backends.test.EmailBackend"}}
else:
    EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
DEFAULT_FROM_EMAIL = "from@example.com"
ANYMAIL: dict = {}
