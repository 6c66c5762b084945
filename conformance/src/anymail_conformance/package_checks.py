"""Helpers for ESP packages' own tests (anymail-conformance is every ESP package's
``test`` extra), and for the suite's README test (``test_readme.py``).

- sending through a fake API: :func:`use_fake_api`, :func:`make_message`,
  :func:`send_message`, :func:`sent_json`, :func:`debug_output`,
  :func:`refused_unless_ignored`, a 1x1 ``PNG`` to attach; :func:`set_esp_settings` in each of the :data:`SETTING_PLACES` a site may
  give them; :class:`JsonPayload` for a made-up ESP;
- webhooks: :func:`fixtures_by_name` (with each fixture's JSON body, a fresh copy) and
  :class:`BrokenReceiver` (a site's receiver that raises);
- :func:`run_python` (a fresh interpreter, for what importing a module pulls in),
  :func:`emptied` and :func:`warns_once`;
- :class:`Readme`: a package's README (its PyPI page), found through its
  distribution, and its snippets: code blocks, the settings snippets, the curl of a
  webhook trial, the retry answer it states.

Nothing here imports an ESP package: a package's tests use it with only anymail-base,
the package and the suite installed.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator, MutableMapping, MutableSet
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import pytest

from anymail.backends.base_requests import RequestsPayload
from anymail.exceptions import AnymailUnsupportedFeature
from anymail.message import AnymailMessage
from anymail.signals import inbound, tracking
from anymail.testing import MAILERS_SUPPORTED, get_connection, use_backend
from anymail_conformance.cases import PNG  # a 1x1 PNG image (the suite's own)
from anymail_conformance.fixtures import Fixture, load_fixtures
from anymail_conformance.profile import Profile

__all__ = [
    "CONSOLE_BACKEND",
    "PNG",
    "SETTINGS_LABELS",
    "SETTING_PLACES",
    "BrokenReceiver",
    "Curl",
    "CurlTrial",
    "Fixtures",
    "JsonPayload",
    "Readme",
    "RetryClaim",
    "Snippet",
    "debug_output",
    "emptied",
    "fixtures_by_name",
    "make_message",
    "refused_unless_ignored",
    "run_python",
    "send_message",
    "sent_json",
    "set_esp_settings",
    "use_fake_api",
    "warns_once",
]


# --- sending through a fake API


class JsonPayload(RequestsPayload):
    """The smallest payload of an HTTP API that takes JSON, for tests of a backend's
    machinery with a made-up ESP: From, the recipients, the subject and the text body
    go into ``self.body`` (a dict), posted as JSON. Subclasses add the endpoint, the
    credentials and any other hook."""

    def init_payload(self) -> None:
        self.body: dict[str, Any] = {}

    def serialize_data(self) -> str:
        return self.serialize_json(self.body)

    def set_from_email(self, email: Any) -> None:
        self.body["from"] = email.address

    def set_recipients(self, recipient_type: str, emails: list[Any]) -> None:
        self.body[recipient_type] = [email.address for email in emails]

    def set_subject(self, subject: str) -> None:
        self.body["subject"] = subject

    def set_text_body(self, body: str) -> None:
        self.body["text"] = body


def use_fake_api(settings: Any, profile: Profile, server: Any, **anymail: Any) -> Any:
    """Make the ESP's backend the default mailer, pointed at the fake API ``server`` as
    the conformance suite points it (``profile.backend_settings``), with the ANYMAIL
    settings ``anymail`` besides; returns the server."""
    settings.ANYMAIL = {**profile.backend_settings(server), **anymail}
    use_backend(settings, profile.esp.backend)
    return server


#: Where a site may give an ESP's setting: the ANYMAIL dict, an ``ANYMAIL_``-prefixed
#: setting, the bare setting, or the backend's option (MAILERS OPTIONS or a
#: get_connection() argument).
SETTING_PLACES: Final = ("ANYMAIL dict", "ANYMAIL_ prefix", "bare setting", "backend option")


def set_esp_settings(
    settings: Any, place: str, esp_id: str, options: dict[str, Any], **anymail: Any
) -> dict[str, Any]:
    """Give the ESP's settings ``options`` (by option name: ``{"api_key": ...}`` is
    ``<ESP_ID>_API_KEY``) in ``place`` (one of :data:`SETTING_PLACES`), with the ANYMAIL
    settings ``anymail`` besides. Returns the backend options to create the connection
    with: ``options`` for "backend option", else none."""
    assert place in SETTING_PLACES, place
    names = {f"{esp_id.upper()}_{option.upper()}": value for option, value in options.items()}
    settings.ANYMAIL = {**anymail, **(names if place == "ANYMAIL dict" else {})}
    for name, value in names.items():
        if place == "ANYMAIL_ prefix":
            setattr(settings, f"ANYMAIL_{name}", value)
        elif place == "bare setting":
            setattr(settings, name, value)
    return dict(options) if place == "backend option" else {}


def make_message(**kwargs: Any) -> AnymailMessage:
    """An AnymailMessage for a backend test: what the test doesn't give is a plain
    message from ``Sender <from@example.com>`` to ``to@example.com``, with subject
    ``Subject`` and body ``Body``."""
    kwargs.setdefault("from_email", "Sender <from@example.com>")
    kwargs.setdefault("to", ["to@example.com"])
    kwargs.setdefault("subject", "Subject")
    kwargs.setdefault("body", "Body")
    return AnymailMessage(**kwargs)


def send_message(**kwargs: Any) -> AnymailMessage:
    """:func:`make_message`, sent; returns the message (for its ``anymail_status``)."""
    message = make_message(**kwargs)
    message.send()
    return message


def sent_json(server: Any, index: int = -1) -> Any:
    """The JSON body of a request the fake API got (the last one by default)."""
    return server.requests[index].json()


def debug_output(settings: Any, capsys: Any, action: Callable[[], Any]) -> str:
    """What ``action`` (a send) prints with DEBUG_API_REQUESTS on (the ANYMAIL setting,
    added): the API calls, as the backend shows them. ``capsys`` is pytest's."""
    settings.ANYMAIL = {**settings.ANYMAIL, "DEBUG_API_REQUESTS": True}
    capsys.readouterr()
    action()
    return capsys.readouterr().out


def refused_unless_ignored(
    settings: Any, server: Any, send: Callable[[], Any], match: str | None = None
) -> tuple[AnymailUnsupportedFeature, Any]:
    """``send`` (a function that sends a message) is refused as unsupported (its
    message matching ``match``), with nothing posted to the fake API ``server``; with
    IGNORE_UNSUPPORTED_FEATURES (the ANYMAIL setting, added) it sends: what is sent is
    the test's to check. Returns the refusal and what the second ``send`` returned."""
    with pytest.raises(AnymailUnsupportedFeature, match=match) as raised:
        send()
    assert server.requests == []
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    return raised.value, send()


# --- webhooks


class Fixtures(dict[str, Fixture]):
    """A profile's webhook fixtures, by name (the file's stem)."""

    def json(self, name: str) -> Any:
        """The named fixture's JSON request body: a fresh copy, which a test may change."""
        return copy.deepcopy(self[name].data["request"]["json"])


def fixtures_by_name(profile: Profile) -> Fixtures:
    """The profile's webhook fixtures, by name."""
    return Fixtures((fixture.name, fixture) for fixture in load_fixtures(profile))


class BrokenReceiver:
    """A site's signal receiver that fails (its database is down, say), for tests of
    what a webhook answers then.

    Connected to the tracking and inbound signals inside a ``with`` block, it records
    every event it gets (``events``) and raises for those that ``fails(event)`` selects
    (by default every one), at most ``times`` times (by default without end). ``error``
    is the exception to raise (by default RuntimeError("database down")): an instance
    (raised afresh each time) or a function of the event."""

    def __init__(
        self,
        fails: Callable[[Any], bool] | None = None,
        *,
        times: int | None = None,
        error: BaseException | Callable[[Any], BaseException] | None = None,
    ) -> None:
        self.fails = fails or (lambda event: True)
        self.times = times
        self.error = error if error is not None else RuntimeError("database down")
        self.events: list[Any] = []

    def __call__(self, sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
        self.events.append(event)
        if self.times != 0 and self.fails(event):
            if self.times is not None:
                self.times -= 1
            if isinstance(self.error, BaseException):
                raise type(self.error)(*self.error.args)
            raise self.error(event)

    @classmethod
    def failing_for(cls, recipients: MutableSet[str]) -> BrokenReceiver:
        """One that raises, naming the recipient, for each event whose recipient is in
        ``recipients`` (a set the test may change as it goes)."""
        return cls(
            lambda event: event.recipient in recipients,
            error=lambda event: RuntimeError(f"receiver failed on {event.recipient}"),
        )

    @property
    def event_ids(self) -> list[str | None]:
        return [event.event_id for event in self.events]

    @property
    def recipients(self) -> list[str | None]:
        return [event.recipient for event in self.events]

    def __enter__(self) -> BrokenReceiver:
        tracking.connect(self, weak=False)
        inbound.connect(self, weak=False)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        tracking.disconnect(self)
        inbound.disconnect(self)


# --- processes and warnings


def run_python(code: str, *, pythonpath: tuple[str, ...] = (), stdin: bytes = b"") -> bytes:
    """Run ``code`` (dedented) in a fresh interpreter, with this test run's Django
    settings module (importable as it is here; ``pythonpath`` goes before it), for
    what importing a module pulls in. Fails the test, showing the interpreter's
    stderr, unless the code succeeds; returns what it printed."""
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    spec = importlib.util.find_spec(settings_module.partition(".")[0]) if settings_module else None
    root = Path(spec.origin).parent.parent if spec and spec.origin else Path.cwd()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [*pythonpath, str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    result = subprocess.run(  # noqa: S603 (this interpreter, the test's own code)
        [sys.executable, "-c", textwrap.dedent(code)],
        input=stdin,
        capture_output=True,
        cwd=root,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@contextlib.contextmanager
def emptied(collection: MutableSet[Any] | MutableMapping[Any, Any]) -> Iterator[None]:
    """Empty a process-wide registry (of warnings already given, say) before and
    after the block: each test starts, and leaves, with nothing remembered."""
    collection.clear()
    try:
        yield
    finally:
        collection.clear()


def warns_once(action: Callable[[], Any], category: type[Warning]) -> None:
    """``action`` warns (``category``) the first time, and warns nothing the next."""
    with pytest.warns(category):
        action()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        action()


# --- READMEs

#: The backend a README's local trial configures: it prints each message.
CONSOLE_BACKEND: Final = "anymail.backends.console.EmailBackend"
#: How a README labels its settings snippet for each way of configuring the mailer.
SETTINGS_LABELS: Final = {
    "MAILERS": "# settings.py (Django 6.1+)",
    "EMAIL_BACKEND": "# settings.py (Django 5.2, 6.0)",
}
#: Where a README's trials post webhooks: runserver's address.
LOCAL_SITE: Final = "http://127.0.0.1:8000"

_BLOCK = r"^(?P<indent>[ \t]*)```{language}[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$"
_SETS = r"(?m)^{name}\s*="


@dataclass(frozen=True)
class Snippet:
    """A code block of a README (dedented, as a user copies it) and where it starts."""

    code: str
    start: int

    @property
    def first_line(self) -> str:
        return self.code.lstrip("\n").partition("\n")[0]

    def sets(self, name: str) -> bool:
        """Whether the snippet assigns ``name`` at its top level."""
        return re.search(_SETS.format(name=re.escape(name)), self.code) is not None

    def run(self, **names: Any) -> dict[str, Any]:
        """Execute the snippet (with ``names`` defined); returns its namespace."""
        namespace = dict(names)
        exec(self.code, namespace)  # noqa: S102 (a README's own code)
        return namespace

    def mailer_settings(self) -> dict[str, Any] | None:
        """The settings this snippet gives this Django's default mailer: its MAILERS on
        Django 6.1+ (with its ANYMAIL, unless the snippet also sets EMAIL_BACKEND, which
        the ANYMAIL then goes with), or its EMAIL_BACKEND and ANYMAIL before; None if it
        has nothing for this Django."""
        namespace = self.run()
        if MAILERS_SUPPORTED:
            if "MAILERS" not in namespace:
                return None
            anymail = {} if "EMAIL_BACKEND" in namespace else namespace.get("ANYMAIL", {})
            return {"MAILERS": namespace["MAILERS"], "ANYMAIL": anymail}
        if "EMAIL_BACKEND" not in namespace:
            return None
        return {
            "EMAIL_BACKEND": namespace["EMAIL_BACKEND"],
            "ANYMAIL": namespace.get("ANYMAIL", {}),
        }

    def connection(self) -> Any:
        """A connection to the default mailer as this snippet configures it on this
        Django (None if it has nothing for this Django)."""
        from django.test import override_settings

        mailer = self.mailer_settings()
        if mailer is None:
            return None
        with override_settings(**mailer):
            return get_connection()


@dataclass(frozen=True)
class Curl:
    """A ``$ curl ...`` command of a README, parsed."""

    args: tuple[str, ...]

    @classmethod
    def parse(cls, block: str) -> Curl:
        """The block's ``$ curl`` command (up to the next prompt)."""
        command = block[block.index("$ curl ") + 2 :].split("\n$ ")[0]
        return cls(tuple(shlex.split(command.replace("\\\n", " "))))

    def option(self, *names: str) -> str:
        """The value of the (one) option given under any of ``names``."""
        [value] = self.options(*names)
        return value

    def options(self, *names: str) -> list[str]:
        return [self.args[i + 1] for i, arg in enumerate(self.args[:-1]) if arg in names]

    @property
    def headers(self) -> dict[str, str]:
        pairs = (header.partition(":") for header in self.options("-H", "--header"))
        return {name.strip(): value.strip() for name, _, value in pairs}

    @property
    def url(self) -> str:
        [url] = [arg for arg in self.args if arg.startswith(("http://", "https://"))]
        return url


@dataclass(frozen=True)
class CurlTrial:
    """A README's local webhook trial: the curl that posts an event to runserver with
    the README's WEBHOOK_SECRET, and what the README says comes of it (the text after
    the command, up to the next heading)."""

    curl: Curl
    start: int
    prose: str

    @property
    def credentials(self) -> str:
        return self.curl.option("-u", "--user")

    @property
    def path(self) -> str:
        return self.curl.url.removeprefix(LOCAL_SITE)

    @property
    def body(self) -> str:
        return self.curl.option("-d", "--data")

    @property
    def content_type(self) -> str:
        return self.curl.headers.get("Content-Type", "application/x-www-form-urlencoded")

    @property
    def shown_output(self) -> str | None:
        """What the README says the server prints (its receiver), if it says."""
        shown = re.search(r"The server prints `(.*?)`", self.prose)
        return shown.group(1) if shown else None

    @property
    def repeat_answer(self) -> str | None:
        """What the README says the same post again is answered, if it says."""
        answer = re.search(r"answers 200 `(.*?)`", self.prose)
        return answer.group(1) if answer else None


@dataclass(frozen=True)
class RetryClaim:
    """The README's statement of the answer that makes the ESP retry:
    ``**503**, with `Retry-After: 60` ``."""

    status: int
    retry_after: str


class Readme:
    """A package's README, its PyPI page. ``text`` as written; ``prose`` with each run
    of white space (line breaks, indents) as one space, for checking what it says."""

    def __init__(self, text: str, name: str = "README.md") -> None:
        self.text = text
        self.name = name
        self.prose = " ".join(text.split())

    def __repr__(self) -> str:
        return f"<Readme {self.name}>"

    @classmethod
    @functools.cache
    def of(cls, distribution: str) -> Readme:
        """The installed distribution's README: the file, for a package installed
        from a folder (editable, as in this repository), else its metadata's
        description (the README the wheel was built with)."""
        dist = metadata.distribution(distribution)
        direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
        url = urllib.parse.urlparse(direct_url.get("url", ""))
        if url.scheme == "file" and "dir_info" in direct_url:
            readme = Path(urllib.request.url2pathname(url.path)) / "README.md"
            if readme.is_file():
                return cls(readme.read_text(encoding="utf-8"), str(readme))
        description = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        return cls(str(description), f"{distribution}'s description")

    # --- its parts

    def blocks(self, language: str) -> list[Snippet]:
        """The code blocks in ``language`` (fenced, at any indent), dedented."""
        pattern = re.compile(_BLOCK.format(language=re.escape(language)), re.M | re.S)
        return [
            Snippet(textwrap.dedent(match.group("code")), match.start())
            for match in pattern.finditer(self.text)
        ]

    def block_with(self, language: str, text: str) -> Snippet:
        """The one block in ``language`` that contains ``text``."""
        found = [block for block in self.blocks(language) if text in block.code]
        assert len(found) == 1, f"{self.name}: {len(found)} {language} blocks with {text!r}"
        return found[0]

    def section(self, heading: str) -> str:
        """The text of the section under ``## heading`` (up to the next ``## ``)."""
        return self.text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]

    def without_section(self, heading: str) -> str:
        """The text without the section under ``## heading`` (if it has one)."""
        if f"\n## {heading}\n" not in self.text:
            return self.text
        return self.text.replace(f"\n## {heading}\n{self.section(heading)}", "\n")

    # --- its snippets

    def mailer_snippets(self, backend: str) -> list[Snippet]:
        """The Python snippets that set MAILERS or EMAIL_BACKEND and name ``backend``
        (a dotted path), in order."""
        return [
            block
            for block in self.blocks("python")
            if f'"{backend}"' in block.code
            and (block.sets("MAILERS") or block.sets("EMAIL_BACKEND"))
        ]

    def labelled_settings_snippets(self, backend: str) -> tuple[Snippet, Snippet]:
        """The settings snippets labelled by Django version (``SETTINGS_LABELS``): the
        MAILERS one (6.1+) and the EMAIL_BACKEND one (5.2, 6.0), which configure
        ``backend``. Fails unless the README has exactly one of each."""
        labelled = []
        for setting, label in SETTINGS_LABELS.items():
            found = [s for s in self.mailer_snippets(backend) if s.first_line == label]
            assert len(found) == 1, f"{self.name}: {len(found)} settings snippets {label!r}"
            assert found[0].sets(setting), f"{self.name}: {label!r} doesn't set {setting}"
            labelled.append(found[0])
        return labelled[0], labelled[1]

    def configured_connection(self, backend: str) -> Any:
        """A connection to the default mailer as the labelled settings snippet for this
        Django configures it."""
        mailers, email_backend = self.labelled_settings_snippets(backend)
        return (mailers if MAILERS_SUPPORTED else email_backend).connection()

    def curl_trials(self) -> list[CurlTrial]:
        """The local webhook trials: a shell block's ``$ curl -u`` that posts
        (``-d``) to runserver's ``/anymail/`` URLs."""
        trials = []
        for language in ("console", "shell"):
            for block in self.blocks(language):
                if "$ curl -u" not in block.code or f"{LOCAL_SITE}/anymail/" not in block.code:
                    continue
                curl = Curl.parse(block.code)
                if not curl.options("-d", "--data"):
                    continue
                after = self.text[block.start :].split("```", 2)[2]
                prose = " ".join(re.split(r"\n#", after, maxsplit=1)[0].split())
                trials.append(CurlTrial(curl, block.start, prose))
        return sorted(trials, key=lambda trial: trial.start)

    def receiver_snippet(self, before: int) -> Snippet | None:
        """The last Python snippet before offset ``before`` that connects a receiver to
        the tracking signal (the one a trial's server prints with)."""
        receivers = [
            block
            for block in self.blocks("python")
            if block.start < before and "@receiver(tracking)" in block.code
        ]
        return receivers[-1] if receivers else None

    def retry_claims(self) -> list[RetryClaim]:
        """Each ``**<status>**, with `Retry-After: <seconds>` `` the README states."""
        return [
            RetryClaim(int(status), seconds)
            for status, seconds in re.findall(
                r"\*\*(\d{3})\*\*, with `Retry-After: (\d+)`", self.text
            )
        ]
