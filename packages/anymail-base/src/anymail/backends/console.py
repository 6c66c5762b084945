"""Anymail's console backend: like the test backend, but writes each message
(its MIME form and the Anymail params that would be sent) to a stream, stdout by
default, instead of collecting it. Useful in development."""

from __future__ import annotations

import sys
import threading
from pprint import pformat
from typing import IO, Any

from django.core.mail import EmailMessage

from anymail.backends.test import EmailBackend as TestEmailBackend
from anymail.mime import mime_bytes

__all__ = ["EmailBackend"]


class EmailBackend(TestEmailBackend):
    esp_name = "Console"
    esp_id = "console"

    def __init__(self, *args: Any, stream: IO[str] | None = None, **kwargs: Any) -> None:
        self.stream = stream or sys.stdout
        self._stream_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def deliver(self, message: EmailMessage) -> None:
        mime = message.message()
        text = mime_bytes(mime, linesep="\n").decode(
            mime.get_content_charset() or "utf-8", errors="replace"
        )
        params = dict(message.anymail_send_params)  # type: ignore[attr-defined]
        with self._stream_lock:
            self.stream.write(f"{text}\n")
            self.stream.write(f"Anymail send params: {pformat(params)}\n")
            self.stream.write("-" * 79 + "\n")
            self.stream.flush()
