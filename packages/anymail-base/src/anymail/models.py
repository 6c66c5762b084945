"""Anymail's models: the webhook tokens and events already accepted (replay and
duplicate protection)."""

from __future__ import annotations

from django.db import models

__all__ = ["WebhookReplayToken"]


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
