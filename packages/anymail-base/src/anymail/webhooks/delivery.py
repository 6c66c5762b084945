"""Handing a webhook's events to the signal receivers, each event once.

Used by the webhook view (inline processing) and by the background task alike: the
events are claimed in the replay store in one write (with a signed request's tokens),
the ones not handled before are signalled in order, and those signalled are marked
handled in a second write. A receiver that raises ends the delivery: the events
before it stay handled, the rest are released, so a retry signals only those.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from anymail.events import AnymailEvent
from anymail.exceptions import AnymailWebhookUnavailable
from anymail.webhooks.replay import Claims, ReplayProtection

if TYPE_CHECKING:
    from anymail.webhooks.base import AnymailBaseWebhookView

__all__ = ["Outcome", "deliver_events"]

logger = logging.getLogger("anymail.webhooks")


@dataclass
class Outcome:
    """How a delivery of events ended."""

    DELIVERED: ClassVar[str] = "delivered"  #: every new event signalled
    DUPLICATE: ClassVar[str] = "duplicate"  #: everything was handled before
    BUSY: ClassVar[str] = "busy"  #: another request is handling some of the events
    FAILED: ClassVar[str] = "failed"  #: a receiver raised, or the store failed

    kind: str
    signalled: int = 0
    reason: str = ""
    error: BaseException | None = None


def deliver_events(
    view: AnymailBaseWebhookView,
    events: Sequence[AnymailEvent],
    tokens: Sequence[str] = (),
    token_lifetime: float = 0.0,
    finish_each: bool = False,
) -> Outcome:
    """Signal the events (which all have an ``event_id``) not handled before.

    With ``finish_each`` (the background task, where nobody waits on the writes),
    each event is marked handled as soon as its receivers return: a worker killed
    part way then repeats at most the event it was signalling. Otherwise (in the
    ESP's request) the handled events are marked in one write at the end.
    """
    protection = view.replay_protection(None)
    store = protection.store
    keys = {
        event.event_id: protection.event_key(event.event_id) for event in events if event.event_id
    }
    try:
        claims = claim(view, protection, [*tokens, *keys.values()])
    except AnymailWebhookUnavailable as err:
        return Outcome(Outcome.FAILED, reason="the replay store failed", error=err)
    if claims.done & set(tokens):
        store.release_many(claims.mine)
        return Outcome(Outcome.DUPLICATE)
    if claims.busy:
        # Being handled by another request right now (a concurrent redelivery), or
        # held by one that died, whose lease hasn't expired: not handled yet, so not
        # acknowledged.
        store.release_many(claims.mine)
        return Outcome(
            Outcome.BUSY, reason=f"{len(claims.busy)} event(s) are being handled elsewhere"
        )
    pending = [event for event in events if keys.get(event.event_id) in claims.mine]
    lifetime = max(view.retry_window, token_lifetime)
    finished: set[str] = set()
    for position, event in enumerate(pending):
        try:
            view.signal_for(event).send(sender=type(view), event=event, esp_name=view.esp_name)
            if finish_each:
                store.finish_many([keys[event.event_id]], claims.owner, lifetime)
                finished.add(keys[event.event_id])
        except Exception as err:
            handled = {keys[e.event_id] for e in pending[:position]} - finished
            try:
                store.finish_many(handled, claims.owner, lifetime)
                store.release_many(claims.mine - handled - finished)  # this event on
            except AnymailWebhookUnavailable:
                logger.exception(
                    "Anymail %s webhook: couldn't record which events were handled "
                    "(their claims expire with their lease)",
                    view.esp_name,
                )
            return Outcome(
                Outcome.FAILED,
                signalled=position,
                reason=f"a {view.signal_name} signal receiver raised (event {event.event_id})",
                error=err,
            )
    try:
        store.finish_many(claims.mine - finished, claims.owner, lifetime)
    except AnymailWebhookUnavailable:
        # Signalled, but not recorded as handled: the claims expire with their lease,
        # and a redelivery after that would be signalled again (at least once).
        logger.exception(
            "Anymail %s webhook: events signalled but not recorded as handled", view.esp_name
        )
    if events and not pending:
        return Outcome(Outcome.DUPLICATE)
    return Outcome(Outcome.DELIVERED, signalled=len(pending))


def claim(view: AnymailBaseWebhookView, protection: ReplayProtection, keys: list[str]) -> Claims:
    """Claim ``keys``. While some are held by another request in progress (a concurrent
    copy of this post), wait a little for it to finish: they are then duplicates or,
    if it failed and released them, ours. Keys still busy after the view's
    ``claim_wait`` seconds stay busy."""
    store = protection.store
    claims: Claims = store.claim_many(keys, view.esp_id, view.claim_lease)
    waited, delay = 0.0, 0.02
    while claims.busy and waited < view.claim_wait:
        time.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.5)
        again = store.claim_many(
            sorted(claims.busy), view.esp_id, view.claim_lease, owner=claims.owner
        )
        claims.mine |= again.mine
        claims.done |= again.done
        claims.busy = again.busy
    return claims
