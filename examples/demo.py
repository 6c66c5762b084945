"""The README's demo: Anymail's whole job, end to end, on 127.0.0.1.

For every installed ESP package it

1. starts a local stand-in for the ESP's API (the conformance suite's fake server;
   moto's server for Amazon SES),
2. sends a realistic message (text and html, an attachment, an inline image, tags,
   metadata) and a batch send with merge data through the ESP's real backend, and
   shows what reached the API and the message's ``anymail_status``,
3. posts the ESP's signed tracking webhook and its inbound webhook (conformance
   fixtures from the ESP's published samples, re-signed with fresh timestamps) over
   HTTP to the example Django project (``examples/example_site``), served by a real
   WSGI server, and shows the normalized events that the project's receivers got,

then prints a summary table, stops everything it started, and exits non-zero if
anything failed. Run it with ``hatch run demo`` (or ``python examples/demo.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socketserver
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

EXAMPLES = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLES))
sys.path.insert(1, str(EXAMPLES.parent))  # (testproject: the background site)

# Show every Django deprecation (the demo must cause none); Python hides them by default.
from django.utils.deprecation import (  # noqa: E402
    RemovedAfterNextVersionWarning,
    RemovedInNextVersionWarning,
)

warnings.simplefilter("default", RemovedInNextVersionWarning)
warnings.simplefilter("default", RemovedAfterNextVersionWarning)

#: A 1x1 PNG, for the inline image.
LOGO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
INVOICE = b"%PDF-1.4\n% a tiny stand-in for an invoice\n"
ALICE = "Alice Example <alice@example.com>"
BOB = "bob@example.org"


@dataclass
class Outcome:
    """How each of an ESP's three checks went: "ok", "n/a" or the error."""

    sent: str = "not run"
    tracking: str = "not run"
    inbound: str = "not run"
    lines: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(value not in ("ok", "n/a") for value in (self.sent, self.tracking, self.inbound))


def out(text: str = "") -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- servers


class QuietHandler(WSGIRequestHandler):
    """wsgiref's handler without its per-request access log on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextlib.contextmanager
def serve_example_site() -> Iterator[str]:
    """The example project under wsgiref on 127.0.0.1; yields its base URL."""
    from example_site.wsgi import application

    server = make_server(
        "127.0.0.1", 0, application, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="example-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- sending


def send(message: Any, esp_id: str) -> None:
    """Send through the ESP's mailer: its MAILERS alias on Django 6.1+; before 6.1,
    a connection to its backend with the same options as keywords."""
    import django
    from django.conf import settings

    if django.VERSION >= (6, 1):
        message.send(using=esp_id)
    else:
        from django.core.mail import get_connection

        mailer = settings.ESP_MAILERS[esp_id]
        get_connection(mailer["BACKEND"], **mailer["OPTIONS"]).send_messages([message])


def realistic_message(esp: Any) -> tuple[Any, dict[str, Any]]:
    """A message using what the ESP supports of: html, an attachment, an inline
    image, tags and metadata. Returns it and what the API should receive."""
    from anymail.features import Support
    from anymail.message import AnymailMessage, attach_inline_image

    features = esp.features
    message = AnymailMessage(
        subject=f"Your order has shipped ({esp.name})",
        body="Hi Alice, your order #1001 is on its way. The invoice is attached.",
        to=[ALICE],
    )
    expected: dict[str, Any] = {"attachments": [], "inline_images": 0}
    logo = ""
    if features["inline_images"].sends:
        cid = attach_inline_image(message, LOGO, "logo.png", subtype="png")
        logo = f'<img src="cid:{cid}" alt="Example Site">'
        expected["inline_images"] = 1
    message.attach_alternative(
        f"<p>{logo}Hi Alice, your order <b>#1001</b> is on its way.</p>", "text/html"
    )
    if features["attachments"].sends:
        message.attach("invoice-1001.pdf", INVOICE, "application/pdf")
        expected["attachments"] = ["invoice-1001.pdf"]
    if features["tags"].sends:
        tags = ["shipping"] if features["tags"] is Support.MAX_ONE else ["shipping", "order"]
        message.tags = tags
        expected["tags"] = tags
    if features["metadata"].sends:
        message.metadata = {"order_id": "1001", "customer": "42"}
        expected["metadata"] = message.metadata
    return message, expected


def batch_message(esp: Any, profile: Any) -> Any | None:
    """A batch send with merge data to two recipients (None if the ESP can't)."""
    from anymail.message import AnymailMessage

    if not esp.features["merge_data"].sends:
        return None
    message = AnymailMessage(
        subject="Your monthly summary",
        body="Hello {name}, here is your summary.",
        to=[ALICE, BOB],
    )
    message.merge_data = {
        parseaddr(ALICE)[1]: {"name": "Alice"},
        BOB: {"name": "Bob"},
    }
    if esp.features["merge_global_data"].sends:
        message.merge_global_data = {"site": "Example Site"}
    # Some ESPs merge only through a stored template (Amazon SES); the profile knows.
    profile.adapt_message(message, "merge_data")
    return message


def sent_features(expected: dict[str, Any]) -> str:
    """What the message actually carried (what this ESP supports of the list)."""
    parts = ["html"]
    if expected["attachments"]:
        parts.append("an attachment")
    if expected["inline_images"]:
        parts.append("an inline image")
    if "tags" in expected:
        parts.append("tags" if len(expected["tags"]) > 1 else "a tag")
    if "metadata" in expected:
        parts.append("metadata")
    left_out = [
        name
        for name, used in (
            ("attachment", bool(expected["attachments"])),
            ("inline image", bool(expected["inline_images"])),
            ("tags", "tags" in expected),
            ("metadata", "metadata" in expected),
        )
        if not used
    ]
    text = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]
    return text + (f" (no {', '.join(left_out)}: not supported)" if left_out else "")


def check_sent(sent: Any, expected: dict[str, Any]) -> list[str]:
    """What differs between what the API received and what the message carried."""
    problems = []
    names = [attachment.filename for attachment in sent.attachments]
    if names != expected["attachments"]:
        problems.append(f"attachments {names} != {expected['attachments']}")
    if len(sent.inline_images) != expected["inline_images"]:
        problems.append(f"{len(sent.inline_images)} inline images")
    if "tags" in expected and sent.tags != expected["tags"]:
        problems.append(f"tags {sent.tags} != {expected['tags']}")
    if "metadata" in expected and sent.metadata != expected["metadata"]:
        problems.append(f"metadata {sent.metadata} != {expected['metadata']}")
    if not sent.html:
        problems.append("no html body")
    return problems


def describe_request(server: Any, sent: Any) -> list[str]:
    request = server.requests[-1]
    action = ""
    if request.content_type == "application/x-www-form-urlencoded":  # AWS's query API
        action = "".join(f" Action={a}" for a in parse_qs(request.body.decode()).get("Action", []))
    lines = [f"  API request: {request.method} {request.path}{action}"]
    recipients = ", ".join(sent.to) or "(in the template call)"
    lines.append(f"    from: {', '.join(sent.from_email) or '-'}   to: {recipients}")
    if sent.subject or sent.template_id:
        lines.append(f"    subject: {sent.subject!r}   template: {sent.template_id or '-'}")
    attachments = [f"{a.filename} ({a.mimetype})" for a in sent.attachments]
    lines.append(
        f"    attachments: {', '.join(attachments) or '-'}   inline images: "
        f"{len(sent.inline_images)}   html: {'yes' if sent.html else 'no'}"
    )
    lines.append(f"    tags: {sent.tags}   metadata: {sent.metadata}")
    if sent.merge_data:
        lines.append(f"    merge_data: {sent.merge_data}")
    if sent.merge_global_data:
        lines.append(f"    merge_global_data: {sent.merge_global_data}")
    return lines


def describe_status(message: Any) -> str:
    status = message.anymail_status
    recipients = ", ".join(
        f"{email}={recipient.status}" for email, recipient in status.recipients.items()
    )
    return f"  anymail_status: status={sorted(status.status or ())} id={status.message_id!r}; {recipients}"


def run_sending(entry: Any, server: Any, outcome: Outcome) -> None:
    esp, profile = entry.esp, entry.profile
    lines = outcome.lines
    try:
        message, expected = realistic_message(esp)
        send(message, esp.id)
        sent = profile.sent_messages(server)[-1]
        lines.append(f"Sent a message with {sent_features(expected)}:")
        lines.extend(describe_request(server, sent))
        lines.append(describe_status(message))
        problems = check_sent(sent, expected)
        if not message.anymail_status.status <= {"queued", "sent"}:
            problems.append(f"status {message.anymail_status.status}")

        batch = batch_message(esp, profile)
        if batch is None:
            lines.append("Batch send with merge data: not supported by this ESP")
        else:
            send(batch, esp.id)
            sent_batch = profile.sent_messages(server)[-1]
            lines.append("Sent a batch with merge data to two recipients:")
            lines.extend(describe_request(server, sent_batch))
            lines.append(describe_status(batch))
            recipients = set(batch.anymail_status.recipients)
            if recipients != {"alice@example.com", BOB}:
                problems.append(f"batch recipients {sorted(recipients)}")
            if not sent_batch.merge_data:
                problems.append("the batch reached the API without merge data")
        outcome.sent = "ok" if not problems else "; ".join(problems)
    except Exception as error:  # report it in the table, and go on with the next ESP
        outcome.sent = f"{type(error).__name__}: {error}"
        lines.append(f"Sending failed: {outcome.sent}")


# --------------------------------------------------------------------------- webhooks


def pick_fixtures(profile: Any) -> tuple[Any | None, Any | None]:
    """One tracking fixture (a delivery if there is one) and one inbound fixture."""
    from anymail_conformance import load_fixtures

    tracking, inbound = [], []
    for fixture in load_fixtures(profile):
        events = fixture.expected_events
        request = fixture.data["request"]
        if fixture.expected_status != 200 or not events or request.get("method") == "HEAD":
            continue
        kinds = {event.get("event_type") for event in events}
        (inbound if kinds == {"inbound"} else tracking).append(fixture)
    # a single delivery reads best; else the smallest fixture
    tracking.sort(
        key=lambda fixture: (
            fixture.expected_events[0].get("event_type") != "delivered",
            len(fixture.expected_events),
            fixture.name,
        )
    )
    return (tracking[0] if tracking else None), (inbound[0] if inbound else None)


class WebhookRefused(Exception):
    """The example project didn't answer 200 OK."""


def post_webhook(base_url: str, secret: str, entry: Any, fixture: Any) -> list[Any]:
    """Post a re-signed fixture over HTTP; return the events the receivers got."""
    import requests
    from django.urls import reverse
    from example_site import receivers

    request = entry.profile.prepare_webhook(fixture.data["request"])
    url = base_url + reverse(f"anymail:{entry.id}_{fixture.webhook}")
    user, _, password = secret.partition(":")
    receivers.take()
    response = requests.post(
        url,
        data=request.body,
        headers={**request.headers, "Content-Type": request.content_type},
        auth=(user, password),
        timeout=30,
    )
    events = [item.event for item in receivers.take()]
    if response.status_code != 200:
        raise WebhookRefused(f"HTTP {response.status_code}: {response.text[:300]}")
    return events


def describe_event(event: Any) -> str:
    if event.event_type == "inbound":
        message = event.message
        attachments = [part.get_filename() for part in message.attachments]
        return (
            f"    inbound: from={str(message.from_email)!r} subject={message.subject!r} "
            f"attachments={attachments}"
        )
    return (
        f"    {event.event_type}: recipient={event.recipient!r} message_id={event.message_id!r} "
        f"tags={event.tags} metadata={event.metadata}"
    )


def run_webhook(base_url: str, secret: str, entry: Any, fixture: Any, kind: str) -> tuple[str, str]:
    from anymail_conformance.fixtures import assert_events_match

    events = post_webhook(base_url, secret, entry, fixture)
    signed = (
        "its signature verified"
        if entry.esp.signed_webhooks
        and entry.profile.tamper(entry.profile.prepare_webhook(fixture.data["request"])) is not None
        else "not signed by the ESP: basic auth only"
    )
    lines = [f"Posted the {kind} webhook {fixture.name}.json ({signed}): HTTP 200, receivers got:"]
    lines.extend(describe_event(event) for event in events)
    result = "ok"
    try:
        assert_events_match(fixture.expected_events, events)
    except AssertionError as error:
        result = f"unexpected events: {error}"
    return "\n".join(lines) + ("" if result == "ok" else f"\n  -> {result}"), result


def run_webhooks(base_url: str, secret: str, entry: Any, outcome: Outcome) -> None:
    tracking, inbound = pick_fixtures(entry.profile)
    for kind, fixture in (("tracking", tracking), ("inbound", inbound)):
        if fixture is None:
            wanted = entry.esp.inbound if kind == "inbound" else entry.esp.tracking
            result = f"no {kind} fixture" if wanted else "n/a"
        else:
            try:
                text, result = run_webhook(base_url, secret, entry, fixture, kind)
                outcome.lines.append(text)
            except Exception as error:
                result = f"{type(error).__name__}: {error}"
                outcome.lines.append(f"The {kind} webhook failed: {result}")
        setattr(outcome, kind, result)


# --------------------------------------------------------------------------- main


def run_background(entry: Any) -> list[str]:
    """Background processing with a real worker: the test project under gunicorn, a
    django-tasks-db ``db_worker`` process, one SQLite file. Posts one tracking fixture
    and shows how soon the ESP was answered, and when the worker signalled it."""
    from django.urls import reverse

    from testproject.background_site import BackgroundSite

    fixture, _ = pick_fixtures(entry.profile)
    if fixture is None:
        return [f"  ! {entry.esp.name} has no tracking fixture to post"]
    path = reverse(f"anymail:{entry.id}_{fixture.webhook}")
    settings = entry.profile.webhook_settings()
    with BackgroundSite(tasks="db", workers=1, anymail=settings, web_workers=1) as site:
        prepared = entry.profile.prepare_webhook(fixture.data["request"])
        posted = time.time()  # (the worker records wall-clock times)
        response = site.post(
            path, prepared.body, **{**prepared.headers, "Content-Type": prepared.content_type}
        )
        answered = time.time() - posted
        if response.status_code != 200:
            return [f"  ! the post was answered {response.status_code}: {response.text[:200]}"]
        events = site.wait_for_events(len(fixture.expected_events), timeout=60)
        signalled = max(when for _, _, when in events) - posted
        worker = site.workers[0].pid
        return [
            f"  posted {fixture.name} to {path}: answered {response.status_code} "
            f"{response.text!r} in {answered * 1000:.0f} ms (stored, task enqueued)",
            f"  db_worker process {worker} signalled {len(events)} event(s) "
            f"{signalled * 1000:.0f} ms after the post: "
            + ", ".join(sorted({event_id for _, event_id, _ in events})),
            f"  deliveries: {site.deliveries()}",
        ]


def summary_table(outcomes: dict[str, Outcome], names: dict[str, str]) -> str:
    rows = [("ESP", "sent", "tracking", "inbound")]
    rows += [(names[i], o.sent, o.tracking, o.inbound) for i, o in outcomes.items()]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]  # fmt: skip
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def mailer_options_of(entry: Any, anymail_settings: dict[str, Any]) -> dict[str, Any]:
    """ANYMAIL settings ({"MAILGUN_API_KEY": ...}) as the mailer's OPTIONS ({"api_key": ...})."""
    prefix = entry.id.upper() + "_"
    options = {}
    for name, value in anymail_settings.items():
        if not name.startswith(prefix):
            raise ValueError(f"{name} isn't one of {entry.esp.name}'s backend settings")
        options[name.removeprefix(prefix).lower()] = value
    return options


def main() -> int:
    started = time.monotonic()
    # moto's server (Amazon SES's stand-in) logs every request through werkzeug
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Profiles first: they name each ESP's settings, which the project reads at start-up.
    from anymail_conformance.profiles import esps_under_test, esps_without_profile

    # (a renamed ESP's old name shares the new one's fake API settings and its
    # handled events: its compatibility is proven by the conformance suite)
    entries = [entry for entry in esps_under_test() if not entry.esp.superseded_by]
    if not entries:
        out("No Anymail ESP package with a conformance profile is installed.")
        return 1
    secret = f"{secrets.token_urlsafe(12)}:{secrets.token_urlsafe(12)}"
    with contextlib.ExitStack() as stack:
        out(f"Starting a local API for {len(entries)} ESPs on 127.0.0.1 ...")
        servers = {entry.id: stack.enter_context(entry.profile.server()) for entry in entries}
        # The backends' settings go to their mailers (as OPTIONS), the webhooks' to ANYMAIL.
        mailer_options = {
            entry.id: mailer_options_of(entry, entry.profile.backend_settings(servers[entry.id]))
            for entry in entries
        }
        webhook_settings: dict[str, Any] = {}
        for entry in entries:
            webhook_settings.update(entry.profile.webhook_settings())
        os.environ["ANYMAIL_WEBHOOK_SECRET"] = secret
        os.environ["EXAMPLE_MAILER_OPTIONS"] = json.dumps(mailer_options)
        os.environ["EXAMPLE_ANYMAIL_SETTINGS"] = json.dumps(webhook_settings)
        os.environ["DJANGO_SETTINGS_MODULE"] = "example_site.settings"
        database = stack.enter_context(tempfile.TemporaryDirectory(prefix="anymail-demo-"))
        os.environ["EXAMPLE_DATABASE"] = str(Path(database) / "db.sqlite3")

        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)  # Anymail's replay-protection table
        base_url = stack.enter_context(serve_example_site())
        out(f"Serving the example project (examples/example_site) at {base_url}/ under wsgiref")

        outcomes: dict[str, Outcome] = {}
        for entry in entries:
            outcome = outcomes[entry.id] = Outcome()
            run_sending(entry, servers[entry.id], outcome)
            run_webhooks(base_url, secret, entry, outcome)
            out()
            out(f"== {entry.esp.name} ({entry.esp.distribution}) " + "=" * 40)
            for line in outcome.lines:
                out(line)

        # Background processing, for one ESP, with a real worker process.
        chosen = next((e for e in entries if e.id == "postmark"), entries[0])
        out()
        out(f"== Background webhook processing ({chosen.esp.name}, a real db_worker) " + "=" * 12)
        try:
            lines = run_background(chosen)
        except Exception as err:  # shown, and counted as a failure below
            lines = [f"  ! {type(err).__name__}: {err}"]
        for line in lines:
            out(line)
        background_ok = not any(line.startswith("  !") for line in lines)

    names = {entry.id: entry.esp.name for entry in entries}
    out()
    out(summary_table(outcomes, names))
    out(f"background processing ({chosen.esp.name}): {'ok' if background_ok else 'FAILED'}")
    if not background_ok:
        return 1
    missing = esps_without_profile()
    if missing:
        out(f"(no conformance profile, not shown: {', '.join(missing)})")
    failed = [names[esp_id] for esp_id, outcome in outcomes.items() if outcome.failed]
    elapsed = time.monotonic() - started
    if failed:
        out(f"FAILED for {', '.join(failed)} ({elapsed:.1f} s)")
        return 1
    out(f"All {len(outcomes)} ESPs ok ({elapsed:.1f} s); every server it started is stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
