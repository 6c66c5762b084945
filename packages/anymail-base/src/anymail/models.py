"""Anymail's models: the webhook tokens and events already accepted (replay and
duplicate protection)."""

from __future__ import annotations

from django.db import models

__all__ = ["OutboxMessage", "WebhookDelivery", "WebhookReplayToken"]


class WebhookReplayToken(models.Model):
    """A webhook request's one-time token (or signature), or an event already handled,
    kept until it could no longer be replayed or redelivered. The unique ``key``
    makes "accept it once" atomic across every process and server that shares the
    database."""

    #: sha256 of the ESP id and the token (the token itself is never stored)
    key = models.CharField(max_length=64, unique=True)
    esp_id = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    #: which claim holds the key (a random id per request): lets one bulk insert that
    #: ignores conflicts be followed by one read saying which keys this request holds
    owner = models.CharField(max_length=32, default="", editable=False)

    class Meta:
        app_label = "anymail"
        verbose_name = "webhook replay token"

    def __str__(self) -> str:
        return f"{self.esp_id} token {self.key[:12]}… (until {self.expires_at:%Y-%m-%d %H:%M})"


class WebhookDelivery(models.Model):
    """A verified webhook request kept for background processing
    (``ANYMAIL["WEBHOOK_PROCESSING"] = "background"``).

    The view stores the raw request here in one write whose unique ``key`` is also
    the duplicate claim (the signed token, or a digest of the body), enqueues a task
    and answers 200; the task converts it and sends the signals, retrying with
    backoff. A row is deleted only once delivered (after the retention period), or by
    hand; a failed one stays, with its error, until it is retried or pruned.
    """

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    #: sha256 of the ESP id and the request's token, or of its route and body
    key = models.CharField(max_length=64, unique=True)
    esp_id = models.CharField(max_length=64, db_index=True)
    #: the webhook view class (dotted path) that verified the request
    view = models.CharField(max_length=255)
    #: the request: path, query string, content type and the headers the ESP's parser
    #: reads (never Authorization or Cookie)
    request_meta = models.JSONField(default=dict)
    body = models.BinaryField()
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    #: the last attempt's error (a traceback summary; no request data)
    last_error = models.TextField(blank=True, default="")
    #: how many events the last attempt signalled
    events = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(db_index=True)
    #: when the next attempt is due
    next_attempt_at = models.DateTimeField(db_index=True)
    #: while a worker runs an attempt: until when it holds it (a worker killed
    #: mid-attempt leaves a lease that expires, and the delivery is run again)
    lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        app_label = "anymail"
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.esp_id} webhook delivery {self.pk} ({self.state}, {self.attempts} attempts)"


class OutboxMessage(models.Model):
    """A message sent in the background (the backend option ``background``): stored
    by ``send_messages`` (which returns at once), sent by a task through the same
    configured backend, retried on transient errors. No secret is stored: the
    backend's credentials are read from settings when the task runs."""

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        SENDING = "sending", "sending"  #: the API call is under way
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        #: may have reached the ESP (a worker died mid-call, a read timeout): not
        #: retried, so never sent twice; look at the ESP's log, then retry or not
        REVIEW = "review", "review"
        CANCELLED = "cancelled", "cancelled"  #: a pre_send receiver cancelled it

    #: the id ``anymail_status.outbox_id`` gave the caller
    anymail_id = models.UUIDField(unique=True)
    esp_id = models.CharField(max_length=64, db_index=True)
    #: the backend class (dotted path), and the MAILERS alias it was configured as
    backend = models.CharField(max_length=255)
    mailer = models.CharField(max_length=255, blank=True, default="")
    #: the backend's non-secret keyword options (credentials come from settings)
    options = models.JSONField(default=dict)
    #: the EmailMessage, pickled (its connection removed)
    message = models.BinaryField()
    subject = models.CharField(max_length=255, blank=True, default="")
    recipients = models.JSONField(default=list)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    #: what the ESP answered: its message id, and each recipient's status
    esp_message_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    recipient_status = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_index=True)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        app_label = "anymail"
        verbose_name = "outbox message"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.esp_id} message {self.anymail_id} ({self.state})"
