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
    # (the admin: Anymail's read-only admin for background webhook deliveries)
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "anymail",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

ROOT_URLCONF = "testproject.urls"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# Background processing in tests: the in-process immediate backend by default; the
# real-worker tests use django-tasks-db and django-tasks-redis (their own settings).
_TASKS = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"  # (the 5.2 backport)
TASKS = {
    "default": {"BACKEND": f"{_TASKS}.backends.immediate.ImmediateBackend"},
    "dummy": {"BACKEND": f"{_TASKS}.backends.dummy.DummyBackend"},
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND (deprecated in 6.1)
    MAILERS = {"default": {"BACKEND": "anymail.backends.test.EmailBackend"}}
else:
    EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
DEFAULT_FROM_EMAIL = "from@example.com"

ANYMAIL: dict = {}
