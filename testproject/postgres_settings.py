"""The test project on PostgreSQL (tests/test_postgres.py): the server CI's machine
runs on 127.0.0.1:5432 (trust auth), or ANYMAIL_TEST_POSTGRES_* overrides."""

import os

from testproject.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("ANYMAIL_TEST_POSTGRES_DB", "test"),
        "HOST": os.environ.get("ANYMAIL_TEST_POSTGRES_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ANYMAIL_TEST_POSTGRES_PORT", "5432"),
        "USER": os.environ.get("ANYMAIL_TEST_POSTGRES_USER", "postgres"),
    }
}
