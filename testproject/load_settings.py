"""Settings for the webhook load test (scripts/webhook_load.py): the test project,
served by gunicorn, with a file database every worker shares (for the replay store),
the ANYMAIL settings the load script passes, and a receiver that records each event."""

import json
import os

from testproject.settings import *  # noqa: F403

DEBUG = False
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["ANYMAIL_LOAD_DB"],
        # Workers write tokens at the same time: wait for the lock rather than fail.
        "OPTIONS": {"timeout": 60, "init_command": "PRAGMA journal_mode=WAL;"},
    }
}
ANYMAIL = json.loads(os.environ.get("ANYMAIL_LOAD_SETTINGS", "{}"))
INSTALLED_APPS = [*INSTALLED_APPS, "testproject.load"]  # noqa: F405
