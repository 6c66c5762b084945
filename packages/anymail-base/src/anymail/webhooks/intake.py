"""The view's half of background webhook processing: the verified request is read\n(within a size limit) and stored in one write, a :class:`~anymail.models.WebhookDelivery`\nwhose unique key is also the duplicate claim, and its task enqueued."""

from __future__ import annotations

import hashlib
import io
import logging
from contextlib import nullcontext
from typing import TYPE_CHECKING

from anymail.exceptions import (
    AnymailWebhookUnavailable,
)
from anymail.webhooks.background import enqueue

if TYPE_CHECKING:
    from django.http import HttpRequest

    from anymail.webhooks.base import AnymailBaseWebhookView


# --- the view's half -----------------------------------------------------------


logger = logging.getLogger("anymail.webhooks")

#: Request headers never stored (credentials): the view has checked them already.
_NOT_STORED = {"HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_PROXY_AUTHORIZATION"}


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, read once before anything parses it (a multipart form is then
    parsed from this copy). Larger than ``limit``: a ValueError (the view's 400)."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > limit:
        raise ValueError(f"webhook body of {length} bytes is over the {limit}-byte limit")
    if not hasattr(request, "_body"):
        # Django's request.body would refuse a body over DATA_UPLOAD_MAX_MEMORY_SIZE
        # (2.5 MB), too small for inbound mail: read it here, within our own limit,
        # and leave it where Django's parsers look for it.
        body = request.read(limit + 1)
        if len(body) > limit:
            raise ValueError(f"webhook body is over the {limit}-byte limit")
        request._body = body  # type: ignore[attr-defined]
        request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
    return request.body


def delivery_key(view: AnymailBaseWebhookView, request: HttpRequest, body: bytes) -> str:
    """The duplicate claim: the signed request's token (as the replay store keys it),
    or a digest of the route and the body (an unsigned ESP redelivers the same body)."""
    if view.pending_tokens:
        return view.pending_tokens[0]
    digest = hashlib.sha256()
    for part in (view.esp_id.encode(), b"\nbody\n", request.path.encode(), b"\n", body):
        digest.update(part)
    return digest.hexdigest()


def accept(view: AnymailBaseWebhookView, request: HttpRequest, body: bytes) -> bool:
    """Store a verified request and enqueue its task. True if stored; False for a
    duplicate of one already stored. Raises AnymailWebhookUnavailable (nothing kept)
    when the database or the task backend fails."""
    from django.db import IntegrityError, connections, router, transaction
    from django.utils import timezone

    from anymail.models import WebhookDelivery

    meta = {
        "path": request.path,
        "query": request.META.get("QUERY_STRING", ""),
        "content_type": request.META.get("CONTENT_TYPE", ""),
        "headers": {
            name: str(value)
            for name, value in request.META.items()
            if name.startswith("HTTP_") and name not in _NOT_STORED
        },
    }
    now = timezone.now()
    try:
        database = router.db_for_write(WebhookDelivery)
        # Inside a transaction (ATOMIC_REQUESTS), a duplicate's IntegrityError must
        # not break it: a savepoint. In autocommit (the usual case), none is needed.
        in_transaction = not connections[database].get_autocommit()
        with transaction.atomic(using=database) if in_transaction else nullcontext():
            delivery = WebhookDelivery.objects.using(database).create(
                key=delivery_key(view, request, body),
                esp_id=view.esp_id,
                view=f"{type(view).__module__}.{type(view).__qualname__}",
                request_meta=meta,
                body=body,
                received_at=now,
                next_attempt_at=now,
            )
    except IntegrityError:
        return False
    except Exception as err:  # the database is down, the table is missing, ...
        raise AnymailWebhookUnavailable(
            f"Anymail couldn't store the {view.esp_name} webhook for background processing: "
            f"{type(err).__name__}: {err}. (Has `manage.py migrate` created the anymail tables?)"
        ) from err
    try:
        enqueue(delivery)
    except Exception as err:
        # Nothing half-stored: without its task, the delivery goes, and the ESP retries.
        try:
            delivery.delete()
        except Exception:
            logger.exception(
                "Anymail couldn't remove delivery %s after a failed enqueue", delivery.pk
            )
        raise AnymailWebhookUnavailable(
            f"Anymail couldn't enqueue the {view.esp_name} webhook task: {type(err).__name__}: {err}"
        ) from err
    return True
