"""What every ESP transport shares, whatever client it uses (requests, boto3, an ESP's
SDK): the User-Agent it identifies with, and how its API credentials reach a request.

Imports nothing heavy: the Amazon SES backend (boto3) uses it as the requests-based
backends do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Any

from anymail.exceptions import AnymailConfigurationError

__all__ = ["DEFAULT_TIMEOUT", "ApiCredentials", "user_agent", "validate_timeout"]

#: seconds an API call may take (REQUESTS_TIMEOUT), when not set
DEFAULT_TIMEOUT = 30.0


@cache
def user_agent(distribution: str, client: str | None = None) -> str:
    """``"anymail-mailgun/1.2.0 python-requests/2.32.3"``: the ESP package and its
    version, then the HTTP client (``client`` given, or python-requests' version when
    requests is already imported)."""
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        version = "unknown"
    if client is None:
        import sys

        requests = sys.modules.get("requests")
        client = f"python-requests/{requests.__version__}" if requests is not None else ""
    return f"{distribution}/{version} {client}".strip()


def validate_timeout(timeout: Any) -> float | tuple[float, float] | None:
    if timeout is None or (isinstance(timeout, int | float) and not isinstance(timeout, bool)):
        return timeout
    if (
        isinstance(timeout, tuple | list)
        and len(timeout) == 2
        and all(isinstance(part, int | float) or part is None for part in timeout)
    ):
        return (timeout[0], timeout[1])
    raise AnymailConfigurationError(
        "REQUESTS_TIMEOUT must be a number of seconds, a (connect, read) tuple, or None; "
        f"got {timeout!r}."
    )


@dataclass(frozen=True, repr=False)
class ApiCredentials:
    """Where an ESP's API credentials go in each request: one of the placements ESP
    APIs use, built once per backend (``AnymailRequestsBackend.credentials``) and
    applied to every request by the backend, never by payload code.

    ``ApiCredentials.bearer(key)``, ``.header("api-key", key)``,
    ``.basic("api", key)`` or ``.body_field("key", key)`` (for APIs that want the key
    in the JSON body: the payload adds :attr:`body` to its data). Its repr shows
    where the credentials go, never their values.
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    body: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def bearer(cls, token: str) -> ApiCredentials:
        return cls(headers={"Authorization": f"Bearer {token}"})

    @classmethod
    def header(cls, name: str, value: str) -> ApiCredentials:
        return cls(headers={name: value})

    @classmethod
    def basic(cls, username: str, password: str) -> ApiCredentials:
        return cls(auth=(username, password))

    @classmethod
    def body_field(cls, name: str, value: str) -> ApiCredentials:
        return cls(body={name: value})

    def secrets(self) -> Iterator[str]:
        """The secret values (for redacting errors and debug output)."""
        for value in self.headers.values():
            yield value.split(" ", 1)[1] if value.startswith("Bearer ") else value
        if self.auth is not None:
            yield self.auth[1]
        yield from self.body.values()

    def request_params(self, headers: Mapping[str, str] | None) -> dict[str, Any]:
        """``headers`` and ``auth`` keyword arguments for ``requests``, with these
        credentials applied over the request's own headers."""
        return {"headers": {**(headers or {}), **self.headers}, "auth": self.auth}

    def __repr__(self) -> str:
        places = [f"header {name}" for name in self.headers]
        places += ["basic auth"] if self.auth is not None else []
        places += [f"body field {name}" for name in self.body]
        return f"<ApiCredentials: {', '.join(places) or 'none'}>"


def pin_environment(session: Any, api_url: str) -> None:
    """Read what ``requests`` takes from the environment for ``api_url`` once, onto the
    session: the proxy (``HTTPS_PROXY``, ``NO_PROXY`` ...), the CA bundle
    (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) and ``~/.netrc`` credentials.

    A ``requests.Session`` otherwise reads them again for every request (every
    environment variable scanned, ``~/.netrc`` looked for): per-message work that
    can be done once per connection, since every request of a backend goes to
    ``api_url``'s host. A change to the environment is seen from the next connection.
    """
    from requests.utils import get_netrc_auth

    if not session.trust_env:
        return
    found = session.merge_environment_settings(api_url, {}, None, None, None)
    netrc = get_netrc_auth(api_url)
    session.trust_env = False
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]
    if netrc and session.auth is None:
        session.auth = netrc
