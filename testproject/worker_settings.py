"""Settings for the real-worker tests (tests/test_background_workers.py) and the
background demo: the test project served by gunicorn and drained by task worker
processes, sharing a file database (SQLite, or PostgreSQL when
ANYMAIL_WORKER_POSTGRES is set), with background webhook processing on the task
backend ANYMAIL_WORKER_TASKS names: "db" (django-tasks-db) or "redis"
(django-tasks-redis at ANYMAIL_WORKER_REDIS_URL)."""

import json
import os

import django

from testproject.settings import *  # noqa: F403

DEBUG = False
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["ANYMAIL_WORKER_DB"],
        # Web and worker processes write at once: wait for the lock rather than fail.
        "OPTIONS": {"timeout": 60, "init_command": "PRAGMA journal_mode=WAL;"},
    }
}
INSTALLED_APPS = [*INSTALLED_APPS, "testproject.worker"]  # noqa: F405

_backend = os.environ.get("ANYMAIL_WORKER_TASKS", "db")
if _backend == "redis":
    INSTALLED_APPS.append("django_tasks_redis")
    TASKS = {
        "default": {
            "BACKEND": "django_tasks_redis.RedisTaskBackend",
            "QUEUES": [],
            "OPTIONS": {
                "REDIS_URL": os.environ["ANYMAIL_WORKER_REDIS_URL"],
                "REDIS_KEY_PREFIX": os.environ.get("ANYMAIL_WORKER_REDIS_PREFIX", "anymail-test"),
                "REDIS_BLOCK_TIMEOUT": 200,
                "REDIS_CLAIM_TIMEOUT": 5,
            },
        }
    }
else:
    if django.VERSION < (6, 0):
        INSTALLED_APPS.append("django_tasks")
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

ANYMAIL = {
    "WEBHOOK_SECRET": "worker:secret",
    "WEBHOOK_PROCESSING": "background",
    **json.loads(os.environ.get("ANYMAIL_WORKER_SETTINGS", "{}")),
}

# Background sending tests: MAILERS aliases (Django 6.1+), as JSON.
if os.environ.get("ANYMAIL_WORKER_MAILERS") and django.VERSION >= (6, 1):
    MAILERS = {**MAILERS, **json.loads(os.environ["ANYMAIL_WORKER_MAILERS"])}  # noqa: F405
