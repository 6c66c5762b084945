"""The example project's signal receivers: what a site writes to act on webhooks.

A real site would update its own records here (mark an address as bouncing, file an
inbound reply under its ticket); this one keeps what it got in :data:`received`, so
the demo can show it. Receivers run inside the webhook's request: keep them quick,
and hand slow work to a task queue.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from django.dispatch import receiver

from anymail.signals import inbound, tracking

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """One signal a receiver got: which ESP, and the normalized event."""

    kind: str  #: "tracking" or "inbound"
    esp_name: str
    event: Any


#: every event received since the process started, in order
received: list[Received] = []
_lock = threading.Lock()


@receiver(tracking)
def handle_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    if event.event_type in ("bounced", "complained", "rejected"):
        logger.info("%s: stop mailing %s (%s)", esp_name, event.recipient, event.event_type)
    with _lock:
        received.append(Received("tracking", esp_name, event))


@receiver(inbound)
def handle_inbound(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    message = event.message
    logger.info("%s: mail from %s: %s", esp_name, message.from_email, message.subject)
    with _lock:
        received.append(Received("inbound", esp_name, event))


def take() -> list[Received]:
    """The events received since the last call (and forget them)."""
    with _lock:
        events = list(received)
        received.clear()
    return events
