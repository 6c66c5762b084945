"""How a webhook view answers: the events delivered (200), a duplicate acknowledged
(200), a background request stored (200), a malformed payload (400), a fault on our
side (the ESP's retry answer, logged with its traceback); and the stable id of an
event the ESP gave none. A mixin of :class:`~anymail.webhooks.base.AnymailBaseWebhookView`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.request import RawPostDataException

from anymail.events import AnymailEvent, event_digest
from anymail.exceptions import AnymailWebhookUnavailable
from anymail.webhooks.delivery import Outcome, deliver_events

__all__ = ["RETRY_AFTER_SECONDS", "WebhookResponses"]

logger = logging.getLogger("anymail.webhooks")


def _file_digest(upload: Any) -> str:
    """An uploaded file's name and content, as a digest (for derived event ids)."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return f"{upload.name}:{digest.hexdigest()}"


#: The Retry-After (seconds) sent with a retry answer.
RETRY_AFTER_SECONDS = 60


class WebhookResponses:
    """The answers of a webhook view (``self`` is the view)."""

    esp_name: str
    retry_status: int
    pending_tokens: list[str]

    def accept_for_background(self, request: HttpRequest, body: bytes) -> HttpResponse:
        """Background processing: store the verified request and enqueue its task (one
        write, which is also the duplicate claim), then answer 200 at once."""
        from anymail.webhooks import intake

        try:
            stored = intake.accept(self, request, body)
        except AnymailWebhookUnavailable as err:
            return self.retry_later("the webhook can't be stored for processing now", err)
        if not stored:
            logger.info("Duplicate %s webhook acknowledged, already stored", self.esp_name)
            return HttpResponse("Already received", content_type="text/plain")
        return HttpResponse("Accepted", content_type="text/plain")

    def deliver(self, events: Sequence[AnymailEvent]) -> HttpResponse:
        """Signal the events not handled before (:func:`deliver_events`), and answer
        the ESP by the outcome."""
        outcome = deliver_events(
            self, events, self.pending_tokens, getattr(self, "token_lifetime", 0.0)
        )
        if outcome.kind == Outcome.DUPLICATE:
            logger.info("Duplicate %s webhook acknowledged, not re-signalled", self.esp_name)
            return HttpResponse("Already received", content_type="text/plain")
        if outcome.kind != Outcome.DELIVERED:
            return self.retry_later(outcome.reason, outcome.error)
        return HttpResponse()

    def derive_event_id(self, request: HttpRequest, event: AnymailEvent, index: int) -> str:
        """A stable id for an event the ESP gave none: the digest of its raw event
        (:func:`anymail.events.event_digest`), or, for a raw event with no canonical
        form, of the request body and the event's position in it."""
        try:
            return event_digest(event.esp_event)
        except (TypeError, RecursionError):  # no canonical form; nested too deeply
            pass
        try:
            body: Any = request.body
        except RawPostDataException:  # a multipart post, already read into POST/FILES
            body = {
                "fields": request.POST,
                "files": {
                    name: [_file_digest(upload) for upload in request.FILES.getlist(name)]
                    for name in request.FILES
                },
            }
        return event_digest([body, index])

    def retry_later(self, reason: str, err: BaseException | None = None) -> HttpResponse:
        """A fault on our side: the answer that makes this ESP retry (its declared
        ``webhook_retry_status``), logged with the traceback."""
        logger.error(
            "Anymail %s webhook: %s; answering %s so %s retries",
            self.esp_name,
            reason,
            self.retry_status,
            self.esp_name,
            exc_info=(type(err), err, err.__traceback__) if err is not None else None,
        )
        response = HttpResponse(
            f"Temporarily unable to process the {self.esp_name} webhook; please retry",
            content_type="text/plain",
            status=self.retry_status,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    def unavailable(self) -> HttpResponse:
        """Kept for ESP views that answered a fault themselves: the retry answer."""
        return self.retry_later("the webhook can't be processed now")

    def malformed(self, err: Exception) -> HttpResponse:
        logger.warning(
            "Malformed %s webhook payload: %s: %s",
            self.esp_name,
            type(err).__name__,
            err,
            exc_info=True,
        )
        return HttpResponseBadRequest(
            f"Malformed {self.esp_name} webhook payload", content_type="text/plain"
        )
