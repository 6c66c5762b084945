"""Webhooks processed in the background (issue 26), with the in-process task
backends: the view stores and enqueues, the task converts and signals, retries with
backoff, and keeps what failed. (Real worker processes: tests/test_background_workers.py.)"""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from anymail.models import WebhookDelivery
from anymail.webhooks import background, maintenance
from anymail_conformance.package_checks import BrokenReceiver

pytestmark = pytest.mark.usefixtures("fake_esp_installed")

TRACKING = "anymail:fake_tracking_webhook"


def batch(*recipients):
    return {
        "events": [
            {
                "event": "delivered",
                "ts": 1700000000 + n,
                "id": f"m-{n}",
                "to": to,
                "token": f"t-{to}",
            }
            for n, to in enumerate(recipients)
        ]
    }


@pytest.fixture
def bg(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass", "WEBHOOK_PROCESSING": "background"}
    return settings


@pytest.fixture
def queued(bg):
    """Enqueue on the dummy backend (nothing runs until the test says)."""
    from anymail.tasks import task_backends

    bg.ANYMAIL = {**bg.ANYMAIL, "TASKS_BACKEND": "dummy"}
    backend = task_backends["dummy"]
    backend.clear()
    return backend


@pytest.fixture
def receiver():
    """A receiver that records each event, and fails for the recipients in ``failing``."""
    failing = set()
    with BrokenReceiver.failing_for(failing) as broken:
        yield broken, failing


def test_accepted_at_once_and_delivered_by_the_task(bg, webhook_client):
    response, signals = webhook_client.post(TRACKING, batch("a@example.com", "b@example.com"))
    assert (response.status_code, response.content) == (200, b"Accepted")
    assert [s.event.recipient for s in signals] == ["a@example.com", "b@example.com"]
    [delivery] = WebhookDelivery.objects.all()
    assert (delivery.state, delivery.attempts, delivery.events) == ("delivered", 1, 2)
    assert delivery.esp_id == "fake"


def test_the_view_only_stores_and_enqueues(queued, webhook_client, receiver):
    broken, _ = receiver
    response, _ = webhook_client.post(TRACKING, batch("a@example.com"))
    assert response.status_code == 200
    assert broken.recipients == []  # no receiver ran in the request
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.state == "pending"
    [result] = queued.results
    assert result.args == [delivery.pk]  # the task's payload: the row id, nothing else
    assert background.process(delivery.pk) == "delivered"
    # The attempt enqueued its watchdog, deferred past its lease: it finds nothing to do.
    [_, watchdog] = queued.results
    assert watchdog.task.run_after > timezone.now() + timedelta(seconds=300)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    assert background.process(delivery.pk) == "skipped"
    assert broken.recipients == ["a@example.com"]


def test_the_stored_request_holds_no_credentials(queued, webhook_client):
    webhook_client.post(TRACKING, batch("a@example.com"), headers={"Cookie": "sessionid=s3cr3t"})
    [delivery] = WebhookDelivery.objects.all()
    stored = json.dumps(delivery.request_meta)
    assert "HTTP_AUTHORIZATION" not in stored
    assert "dXNlcjpwYXNz" not in stored
    assert "user:pass" not in stored
    assert "s3cr3t" not in stored


def test_an_identical_post_is_a_duplicate_of_the_stored_one(queued, webhook_client):
    body = batch("a@example.com")
    webhook_client.post(TRACKING, body)
    response, _ = webhook_client.post(TRACKING, body)
    assert (response.status_code, response.content) == (200, b"Already received")
    assert WebhookDelivery.objects.count() == 1
    assert len(queued.results) == 1


def test_a_receiver_that_raises_is_retried_with_backoff_and_only_unhandled_events_resent(
    queued, webhook_client, receiver
):
    broken, failing = receiver
    webhook_client.post(TRACKING, batch("a@example.com", "b@example.com", "c@example.com"))
    [delivery] = WebhookDelivery.objects.all()
    failing.add("b@example.com")
    before = timezone.now()
    assert background.process(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert "receiver failed on b@example.com" in delivery.last_error
    assert delivery.next_attempt_at > before + timedelta(seconds=10)  # backoff: not at once
    assert background.process(delivery.pk) == "skipped"  # not due yet
    [_, _watchdog, retry] = queued.results
    assert retry.task.run_after is not None  # deferred on a backend that can defer
    failing.clear()
    broken.events.clear()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert background.process(delivery.pk) == "delivered"
    assert broken.recipients == ["b@example.com", "c@example.com"]  # a was handled the first time


def test_after_the_last_attempt_the_delivery_is_kept_as_failed(
    queued, webhook_client, receiver, settings
):
    _, failing = receiver
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_MAX_ATTEMPTS": 2}
    webhook_client.post(TRACKING, batch("a@example.com"))
    [delivery] = WebhookDelivery.objects.all()
    failing.add("a@example.com")
    for expected in ("pending", "failed"):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        assert background.process(delivery.pk) == expected
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 2)
    assert "RuntimeError: receiver failed on a@example.com" in delivery.last_error
    assert delivery.body  # kept, to retry by hand


def test_the_database_down_is_the_retry_answer_and_nothing_is_stored(bg, webhook_client):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE anymail_webhookdelivery")
    response, signals = webhook_client.post(TRACKING, batch("a@example.com"))
    assert response.status_code == 503
    assert signals == []


def test_the_task_queue_down_is_the_retry_answer_and_nothing_is_left(bg, webhook_client, settings):
    settings.TASKS = {
        **settings.TASKS,
        "broken": {"BACKEND": "testproject.failing_cache.FailingTaskBackend"},
    }
    settings.ANYMAIL = {**settings.ANYMAIL, "TASKS_BACKEND": "broken"}
    response, signals = webhook_client.post(TRACKING, batch("a@example.com"))
    assert response.status_code == 503
    assert signals == []
    assert WebhookDelivery.objects.count() == 0  # nothing half-stored: the ESP retries


def test_a_body_over_the_limit_is_refused(bg, webhook_client, monkeypatch):
    from testproject.fake_esp import FakeTrackingWebhookView

    monkeypatch.setattr(FakeTrackingWebhookView, "max_body_size", 100)
    response, _ = webhook_client.post(TRACKING, batch(*(f"r{n}@example.com" for n in range(10))))
    assert response.status_code == 400
    assert WebhookDelivery.objects.count() == 0


def test_a_killed_attempt_is_recovered_when_its_lease_expires(queued, webhook_client, receiver):
    broken, _ = receiver
    webhook_client.post(TRACKING, batch("a@example.com"))
    [delivery] = WebhookDelivery.objects.all()
    # A worker took it (lease, attempt counted) and died.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1), attempts=1
    )
    queued.clear()
    assert maintenance.recover() == 1
    [result] = queued.results
    assert result.args == [delivery.pk]
    assert result.task.run_after is None  # at once
    assert background.process(delivery.pk) == "delivered"
    assert broken.recipients == ["a@example.com"]


def test_prune_keeps_what_is_not_delivered(queued, webhook_client):
    for n in range(3):
        webhook_client.post(TRACKING, batch(f"r{n}@example.com"))
    old = timezone.now() - timedelta(days=30)
    first, second, third = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk=first.pk).update(state="delivered", finished_at=old)
    WebhookDelivery.objects.filter(pk=second.pk).update(state="failed", finished_at=old)
    assert maintenance.prune() == 1
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {second.pk, third.pk}


def test_the_management_command(queued, webhook_client, receiver, capsys):
    _, failing = receiver
    failing.add("a@example.com")
    webhook_client.post(TRACKING, batch("a@example.com"))
    [delivery] = WebhookDelivery.objects.all()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="failed", last_error="boom")
    call_command("anymail_webhooks", "--failed")
    assert f"{delivery.pk}" in capsys.readouterr().out
    call_command("anymail_webhooks", "--pending")
    assert "no deliveries" in capsys.readouterr().out.lower()
    failing.clear()
    call_command("anymail_webhooks", "--retry", "all")
    assert "1 delivery" in capsys.readouterr().out
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    assert background.process(delivery.pk) == "delivered"
    WebhookDelivery.objects.update(finished_at=timezone.now() - timedelta(days=30))
    call_command("anymail_webhooks", "--prune")
    assert WebhookDelivery.objects.count() == 0


def test_the_admin_is_read_only_with_a_retry_action(queued, webhook_client, rf):
    from django.contrib.admin.sites import AdminSite

    from anymail.admin import WebhookDeliveryAdmin

    webhook_client.post(TRACKING, batch("a@example.com"))
    WebhookDelivery.objects.update(state="failed")
    admin = WebhookDeliveryAdmin(WebhookDelivery, AdminSite())
    request = rf.get("/")
    assert not admin.has_add_permission(request)
    assert not admin.has_change_permission(request)
    queued.clear()
    admin.message_user = lambda *args, **kwargs: None
    admin.retry_deliveries(request, WebhookDelivery.objects.all())
    assert WebhookDelivery.objects.get().state == "pending"
    assert len(queued.results) == 1


def test_a_check_warns_about_an_immediate_task_backend(settings):
    from django.core.checks import run_checks

    settings.ANYMAIL = {"WEBHOOK_PROCESSING": "background"}  # on the immediate backend
    [warning] = [m for m in run_checks() if m.id == "anymail.W008"]
    assert "runs each task at once" in warning.msg
    settings.ANYMAIL = {"WEBHOOK_PROCESSING": "background", "TASKS_BACKEND": "dummy"}
    assert [m for m in run_checks() if m.id == "anymail.W008"] == []
    settings.ANYMAIL = {"SEND_IN_BACKGROUND": True, "TASKS_BACKEND": "nowhere"}
    [warning] = [m for m in run_checks() if m.id == "anymail.W008"]
    assert "which TASKS doesn't define" in warning.msg
