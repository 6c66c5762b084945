"""The batching seam: ``send_messages`` for an ESP whose API takes several messages in
one call (Postmark's batch endpoint, Mailjet's Send API v3.1 ``Messages``).

The backend still builds one payload per Django message, with the ordinary payload
hooks. A payload holds one or more serialized *entries* (the ESP's own messages: a
batch send with merge data is one entry per ``to``), and says which entries may share
a call (``batch_key``). :class:`BatchingBackend` packs entries into as few calls as
the ESP's limits allow, posts them through the ESP's :meth:`~BatchingBackend.post_call`,
and then finishes each Django message on its own: its ``anymail_status`` from the
results of its own entries, its ``post_send`` signal, its own errors.

When one message fails (the ESP refused it, or its call failed) the others are still
sent and get their statuses; then the first error is raised (unless
``fail_silently``). A message Anymail can't build stops the run there, as with one
call per message: those before it are sent, those after it are not.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, Protocol

from django.core.mail import EmailMessage

from anymail.backends.base_requests import AnymailRequestsBackend
from anymail.exceptions import AnymailError
from anymail.message import AnymailRecipientStatus, AnymailStatus
from anymail.settings import get_anymail_setting

__all__ = ["BatchCall", "BatchPayload", "BatchingBackend"]


class BatchPayload(Protocol):
    """What a payload of a :class:`BatchingBackend` provides (after ``finish()``)."""

    message: EmailMessage
    #: the ESP's messages this Django message became, serialized (JSON bytes)
    batch_entries: Sequence[bytes]

    @property
    def batch_key(self) -> Hashable:
        """Entries of payloads with equal keys may share a call (same endpoint, same
        credentials, same call-level properties)."""

    def entry_weight(self, index: int) -> int:
        """What entry ``index`` counts against ``batch_max_weight`` (recipients, say)."""


class BatchCall:
    """One API call: entries of one or more payloads, in order."""

    __slots__ = ("key", "parts", "size", "weight")

    def __init__(self, key: Hashable, overhead: int = 0) -> None:
        self.key = key
        #: (payload, entry index), in the order they go in the call
        self.parts: list[tuple[Any, int]] = []
        #: the body's size so far: the call's own overhead and each entry with a comma
        self.size = overhead
        self.weight = 0

    def add(self, payload: Any, index: int, size: int, weight: int) -> None:
        self.parts.append((payload, index))
        self.size += size + 1
        self.weight += weight

    @property
    def entries(self) -> list[bytes]:
        return [payload.batch_entries[index] for payload, index in self.parts]

    @property
    def payloads(self) -> list[Any]:
        """The payloads in the call, each once, in order."""
        return list({id(payload): payload for payload, _ in self.parts}.values())


class BatchingBackend(AnymailRequestsBackend):
    """Base for a requests backend whose ESP takes several messages a call.

    Subclasses set the limits, implement :meth:`post_call`, :meth:`recipient_status`
    and (optionally) :meth:`raise_for_results` and :meth:`call_overhead`. Batching
    across Django messages is on when ``<ID>_BATCH_SEND_MESSAGES`` (default
    ``batch_send_default``) is true; the entries of one message always share calls.
    """

    #: the most entries, bytes of body, and weight (recipients) one call may carry
    batch_max_messages: ClassVar[int] = 500
    batch_max_bytes: ClassVar[int] = 50 * 1024 * 1024
    batch_max_weight: ClassVar[int | None] = None
    #: ``<ID>_BATCH_SEND_MESSAGES`` when not set
    batch_send_default: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: put several Django messages in one call (send_messages)
        self.batch_send_messages = bool(
            get_anymail_setting(
                "batch_send_messages",
                esp_name=self.esp_id,
                kwargs=kwargs,
                default=self.batch_send_default,
            )
        )
        super().__init__(*args, **kwargs)

    def uses_batch_calls(self) -> bool:
        """Whether this backend sends through :meth:`post_call` at all (False sends
        one request per message, as the base backend does: Mailjet's v3 API)."""
        return True

    # --- sending ---

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not self.uses_batch_calls():
            return super().send_messages(email_messages)
        if not email_messages:
            return 0
        with self._lock:
            created_session = self.open()
            try:
                return self._send_all(email_messages)
            finally:
                if created_session:
                    self.close()

    def _send(self, message: EmailMessage) -> bool:
        """One message (``send_messages`` of the base class, or a retry of one): through
        the same calls."""
        if not self.uses_batch_calls():
            return super()._send(message)
        created_session = self.open()
        try:
            return self._send_all([message]) == 1
        finally:
            if created_session:
                self.close()

    def _send_all(self, email_messages: Sequence[EmailMessage]) -> int:
        num_sent = 0
        pending: list[Any] = []
        for message in email_messages:
            message.anymail_status = AnymailStatus()  # type: ignore[attr-defined]
            if not self.run_pre_send(message) or not message.recipients():
                continue
            try:
                payload = self.build_message_payload(message, self.send_defaults)
            except AnymailError:
                if self.fail_silently:
                    continue
                num_sent += self.deliver(pending)
                raise
            pending.append(payload)
            if not self.batch_send_messages:
                num_sent += self.deliver(pending)
                pending = []
        return num_sent + self.deliver(pending)

    def plan_calls(self, payloads: Sequence[Any]) -> list[BatchCall]:
        """Group the payloads' entries into as few calls as the limits allow, in order
        (an entry too big for any call gets one to itself, and the ESP's answer)."""
        calls: list[BatchCall] = []
        filling: dict[Hashable, BatchCall] = {}
        for payload in payloads:
            key = payload.batch_key
            for index, entry in enumerate(payload.batch_entries):
                size, weight = len(entry), payload.entry_weight(index)
                call = filling.get(key)
                if call is None or not self._has_room(call, size, weight):
                    call = filling[key] = BatchCall(key, self.call_overhead(payload))
                    calls.append(call)
                call.add(payload, index, size, weight)
        return calls

    def _has_room(self, call: BatchCall, size: int, weight: int) -> bool:
        if not call.parts:
            return True
        return (
            len(call.parts) < self.batch_max_messages
            and call.size + size + 1 <= self.batch_max_bytes
            and (self.batch_max_weight is None or call.weight + weight <= self.batch_max_weight)
        )

    def deliver(self, payloads: Sequence[Any]) -> int:
        """Post the payloads' calls, then finish each message; how many were sent."""
        if not payloads:
            return 0
        results: dict[int, list[Any]] = {id(p): [None] * len(p.batch_entries) for p in payloads}
        responses: dict[int, list[Any]] = {id(payload): [] for payload in payloads}
        call_errors: dict[int, AnymailError] = {}
        for call in self.plan_calls(payloads):
            try:
                response, call_results = self.post_call(call)
            except AnymailError as error:
                for payload in call.payloads:
                    call_errors.setdefault(id(payload), error)
                continue
            for (payload, index), result in zip(call.parts, call_results, strict=True):
                results[id(payload)][index] = result
            for payload in call.payloads:
                responses[id(payload)].append(response)

        num_sent = 0
        first_error: BaseException | None = None
        for payload in payloads:
            try:
                self.finish_message(
                    payload,
                    results[id(payload)],
                    responses[id(payload)],
                    call_errors.get(id(payload)),
                )
            except AnymailError as error:
                if not self.fail_silently:
                    first_error = first_error or error
                continue
            except Exception as error:  # a post_send receiver's: never silenced
                first_error = first_error or error
                continue
            num_sent += 1
        if first_error is not None:
            raise first_error
        return num_sent

    def finish_message(
        self,
        payload: Any,
        results: list[Any],
        responses: list[Any],
        call_error: AnymailError | None,
    ) -> None:
        """One message's status, post_send signal and errors, from its entries'
        results (None for an entry whose call failed)."""
        message = payload.message
        if call_error is not None and not responses:
            raise call_error  # nothing of this message reached the ESP
        status: AnymailStatus = message.anymail_status
        status.esp_response = responses[0] if len(responses) == 1 else responses
        status.set_recipient_status(self.recipient_status(payload, results))
        self.run_post_send(message)
        if call_error is not None:
            raise call_error  # another call of a message too big for one call failed
        self.raise_for_results(payload, results, responses[-1])
        self.raise_for_recipient_status(status, status.esp_response, payload, message)

    # --- for subclasses ---

    def call_overhead(self, payload: Any) -> int:
        """The bytes a call with ``payload``'s key has besides its entries (default 2:
        a JSON array's brackets)."""
        return 2

    def post_call(self, call: BatchCall) -> tuple[Any, list[Any]]:
        """Post one call; return the response and a result for each of its parts.
        Raise an AnymailError (an AnymailRequestsAPIError) when the call failed."""
        raise TypeError(f"{type(self).__name__} must implement post_call()")

    def recipient_status(
        self, payload: Any, results: Sequence[Any]
    ) -> dict[str, AnymailRecipientStatus]:
        """Each recipient's status, from the results of the payload's entries."""
        raise TypeError(f"{type(self).__name__} must implement recipient_status()")

    def raise_for_results(self, payload: Any, results: Sequence[Any], response: Any) -> None:
        """Raise for a message the ESP refused outright (default: nothing)."""
