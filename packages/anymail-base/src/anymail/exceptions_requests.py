"""AnymailRequestsAPIError, apart from :mod:`anymail.exceptions` because it derives
from ``requests.RequestException``: importing it imports requests. Import it from
``anymail.exceptions`` as always (that module loads this one on first use)."""

from __future__ import annotations

from typing import Any

from requests import RequestException

from anymail.exceptions import AnymailAPIError

__all__ = ["AnymailRequestsAPIError"]


class AnymailRequestsAPIError(AnymailAPIError, RequestException):
    """An AnymailAPIError from a requests-based backend (also a requests.RequestException)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # RequestException.__init__ pops ``response`` and ``request``; let AnymailError
        # keep response and give requests the same object.
        response = kwargs.get("response")
        super().__init__(*args, **kwargs)
        self.response = response
        self.request = getattr(response, "request", None)


AnymailRequestsAPIError.__module__ = "anymail.exceptions"
