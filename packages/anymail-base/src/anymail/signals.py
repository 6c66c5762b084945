"""Anymail's Django signals.

Sending: ``pre_send`` (receivers may change the message, or raise
``AnymailCancelSend`` to cancel it) and ``post_send`` (every receiver runs, even
if one raises). Receiving: ``tracking`` and ``inbound``, one signal per event.
"""

from __future__ import annotations

from django.dispatch import Signal

from anymail.events import AnymailEvent, AnymailInboundEvent, AnymailTrackingEvent

__all__ = [
    "AnymailEvent",
    "AnymailInboundEvent",
    "AnymailTrackingEvent",
    "inbound",
    "post_send",
    "pre_send",
    "tracking",
]

#: Sent before each message is sent: ``sender`` (backend class), ``message``, ``esp_name``.
pre_send = Signal()

#: Sent after each message is sent: ``sender``, ``message``, ``status``, ``esp_name``.
post_send = Signal()

#: Sent for each tracking event: ``sender`` (webhook view class), ``event``, ``esp_name``.
tracking = Signal()

#: Sent for each inbound message: ``sender`` (webhook view class), ``event``, ``esp_name``.
inbound = Signal()
