"""SparkPost's backend against a real HTTP server on 127.0.0.1 (the conformance
suite's FakeESPServer), which python-sparkpost really talks to: what is particular
to SparkPost. The shared conformance suite proves the rest."""

import time
from datetime import UTC, datetime
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage

import pytest

from anymail.conformance.sparkpost.profile import API_KEY, PROFILE
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailRecipientsRefused,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage, attach_inline_image
from anymail.testing import get_connection
from anymail_conformance import package_checks as checks
from anymail_conformance.fake_server import FakeESPServer, FakeResponse
from anymail_conformance.package_checks import PNG
from anymail_conformance.package_checks import send_message as send
from anymail_conformance.package_checks import sent_json as posted


class Answers:
    """The fake API's answers: a success counting the posted recipients, unless a
    test sets ``next`` (a FakeResponse, or a function of the request)."""

    def __init__(self):
        self.next = None
        self.rejected = 0

    def __call__(self, request):
        if self.next is not None:
            return self.next(request) if callable(self.next) else self.next
        count = len(request.json()["recipients"])
        rejected = min(self.rejected, count)
        return FakeResponse.json(
            {
                "results": {
                    "total_rejected_recipients": rejected,
                    "total_accepted_recipients": count - rejected,
                    "id": "11668787484950529",
                }
            }
        )


@pytest.fixture
def answers():
    return Answers()


@pytest.fixture
def server(answers):
    with FakeESPServer(answers) as fake:
        yield fake


@pytest.fixture
def sparkpost(settings, server):
    return checks.use_fake_api(settings, PROFILE, server)


# --- the client and the API call ---


def test_send_goes_through_python_sparkpost(sparkpost):
    message = send(
        from_email='"Widgets, Inc." <from@example.com>',
        to=["Ünïcode Name <to@example.com>"],
        alternatives=[("<p>HTML</p>", "text/html")],
    )
    [request] = sparkpost.requests
    assert request.method == "POST"
    assert request.path == "/api/v1/transmissions"
    # python-sparkpost sends the bare key; the User-Agent names both packages.
    assert request.headers["Authorization"] == API_KEY
    assert request.headers["User-Agent"].startswith("anymail-sparkpost/")
    assert "python-sparkpost/" in request.headers["User-Agent"]
    body = request.json()
    assert body["content"] == {
        # the display name arrives as it is (no address parsing left to the client)
        "from": {"email": "from@example.com", "name": "Widgets, Inc."},
        "subject": "Subject",
        "text": "Body",
        "html": "<p>HTML</p>",
    }
    assert body["recipients"] == [{"address": {"email": "to@example.com", "name": "Ünïcode Name"}}]
    status = message.anymail_status
    assert status.status == {"queued"}
    assert status.message_id == "11668787484950529"
    assert status.recipients["to@example.com"].message_id == "11668787484950529"
    # esp_response is what python-sparkpost returns: the response's "results"
    assert status.esp_response["total_accepted_recipients"] == 1


@pytest.mark.parametrize("place", [*checks.SETTING_PLACES, "environment"])
def test_api_key_settings(settings, server, monkeypatch, place):
    from anymail.testing import get_connection

    url = f"{server.url}/api/v1"
    monkeypatch.delenv("SPARKPOST_API_KEY", raising=False)
    if place == "environment":
        # python-sparkpost's own fallback, which the docs promise
        settings.ANYMAIL = {"SPARKPOST_API_URL": url}
        monkeypatch.setenv("SPARKPOST_API_KEY", "key-from-anymail")
        options = {}
    else:
        key = {"api_key": "key-from-anymail"}
        options = checks.set_esp_settings(settings, place, "sparkpost", key, SPARKPOST_API_URL=url)
    connection = get_connection("anymail.backends.sparkpost.EmailBackend", **options)
    message = AnymailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.connection = connection
    message.send()
    assert server.requests[0].headers["Authorization"] == "key-from-anymail"


def test_missing_api_key_names_every_place(settings, monkeypatch):
    monkeypatch.delenv("SPARKPOST_API_KEY", raising=False)
    settings.EMAIL_BACKEND = "anymail.backends.sparkpost.EmailBackend"
    with pytest.raises(AnymailConfigurationError) as info:
        get_connection()
    text = str(info.value)
    for place in ("ANYMAIL_SPARKPOST_API_KEY", "get_connection", "environment variable"):
        assert place in text


def test_api_url_is_the_full_versioned_endpoint(settings, server):
    from anymail.backends.sparkpost import DEFAULT_API_URL, EmailBackend

    settings.ANYMAIL = {"SPARKPOST_API_KEY": API_KEY}
    assert EmailBackend().api_url == DEFAULT_API_URL == "https://api.sparkpost.com/api/v1"
    settings.ANYMAIL["SPARKPOST_API_URL"] = "https://api.eu.sparkpost.com/api/v1/"
    assert EmailBackend().api_url == "https://api.eu.sparkpost.com/api/v1"
    # python-sparkpost's base_uri is a host name; Anymail's setting is a URL
    settings.ANYMAIL["SPARKPOST_API_URL"] = "api.eu.sparkpost.com"
    with pytest.raises(AnymailConfigurationError, match="full, versioned API endpoint"):
        EmailBackend()

    settings.EMAIL_BACKEND = "anymail.backends.sparkpost.EmailBackend"
    settings.ANYMAIL["SPARKPOST_API_URL"] = f"{server.url}/labs/api/v1"
    send()
    assert server.requests[0].path == "/labs/api/v1/transmissions"


# --- recipients: cc, bcc, several To, batch sends, a spoofed To ---


def test_one_to_recipient_shows_its_own_address(sparkpost):
    send(to=["Name <to@example.com>"])
    assert posted(sparkpost)["recipients"] == [
        {"address": {"email": "to@example.com", "name": "Name"}}
    ]
    assert "headers" not in posted(sparkpost)["content"]


def test_cc_and_bcc_see_the_to_header(sparkpost):
    message = send(
        to=["To One <to1@example.com>", "to2@example.com"],
        cc=["Cc Person <cc@example.com>"],
        bcc=["bcc@example.com"],
    )
    body = posted(sparkpost)
    to_header = "To One <to1@example.com>, to2@example.com"
    assert [r["address"] for r in body["recipients"]] == [
        {"email": "to1@example.com", "header_to": to_header},
        {"email": "to2@example.com", "header_to": to_header},
        {"email": "cc@example.com", "header_to": to_header},
        {"email": "bcc@example.com", "header_to": to_header},
    ]
    assert body["content"]["headers"] == {"CC": "Cc Person <cc@example.com>"}
    assert set(message.anymail_status.recipients) == {
        "to1@example.com",
        "to2@example.com",
        "cc@example.com",
        "bcc@example.com",
    }


def test_several_to_share_the_to_header_unless_batch(sparkpost):
    send(to=["to1@example.com", "to2@example.com"])
    assert all(
        r["address"]["header_to"] == "to1@example.com, to2@example.com"
        for r in posted(sparkpost)["recipients"]
    )
    # merge_data (even empty) is a batch send: each To sees only itself
    send(to=["One <to1@example.com>", "to2@example.com"], merge_data={})
    assert [r["address"] for r in posted(sparkpost)["recipients"]] == [
        {"email": "to1@example.com", "name": "One"},
        {"email": "to2@example.com"},
    ]


def test_spoofed_to_header(sparkpost):
    send(to=["real@example.com"], headers={"To": "Shown Name <shown@example.com>"})
    body = posted(sparkpost)
    assert body["recipients"] == [
        {"address": {"email": "real@example.com", "header_to": "Shown Name <shown@example.com>"}}
    ]
    assert "headers" not in body["content"]  # the To header is never a custom header


# --- the documented quirks ---


def test_single_tag_is_the_campaign(sparkpost, settings):
    send(tags=["spring-sale"])
    assert posted(sparkpost)["campaign_id"] == "spring-sale"

    with pytest.raises(AnymailUnsupportedFeature, match="tag"):
        send(tags=["one", "two"])
    assert len(sparkpost.requests) == 1  # nothing sent

    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    send(tags=["one", "two"])
    assert posted(sparkpost)["campaign_id"] == "one"


def test_envelope_sender_is_the_return_path(sparkpost):
    send(envelope_sender="bounces@bounce.example.com")
    assert posted(sparkpost)["return_path"] == "bounces@bounce.example.com"


def test_stored_template(sparkpost):
    message = AnymailMessage(to=["Alice <alice@example.com>", "bob@example.com"])
    message.from_email = None  # use the template's From
    message.template_id = "11806290401558530"
    message.merge_data = {
        "alice@example.com": {"name": "Alice", "order_no": "12345"},
        "bob@example.com": {"name": "Bob", "order_no": "54321"},
    }
    message.merge_global_data = {
        "ship_date": "May 15",
        "dynamic_html": {"status_html": "<a href='https://example.com/order/{{order_no}}'>S</a>"},
        "dynamic_plain": {"status_plain": "Status: https://example.com/order/{{order_no}}"},
    }
    message.esp_extra = {"use_draft_template": True}
    message.send()
    body = posted(sparkpost)
    # no subject or body with a stored template
    assert body["content"] == {"template_id": "11806290401558530", "use_draft_template": True}
    assert "override" not in body
    assert body["substitution_data"] == message.merge_global_data  # dynamic_* as they are
    assert body["recipients"] == [
        {
            "address": {"email": "alice@example.com", "name": "Alice"},
            "substitution_data": {"name": "Alice", "order_no": "12345"},
        },
        {
            "address": {"email": "bob@example.com"},
            "substitution_data": {"name": "Bob", "order_no": "54321"},
        },
    ]


def test_template_with_from_and_reply_to_overrides_the_templates(sparkpost):
    message = AnymailMessage(
        from_email="Shop <shop@example.com>", to=["to@example.com"], reply_to=["r@example.com"]
    )
    message.template_id = "welcome"
    message.send()
    body = posted(sparkpost)
    assert body["content"] == {"template_id": "welcome"}
    assert body["override"] == {
        "from": {"email": "shop@example.com", "name": "Shop"},
        "reply_to": "r@example.com",
    }


@pytest.mark.parametrize(
    ("kwargs", "feature"),
    [
        ({"subject": "Not allowed"}, "subject"),
        ({"body": "Not allowed"}, "body"),
        ({"headers": {"X-Custom": "1"}}, "headers"),
        ({"attachments": [("a.txt", "text", "text/plain")]}, "attachments"),
    ],
)
def test_template_refuses_content_of_its_own(sparkpost, kwargs, feature):
    message = AnymailMessage(from_email="from@example.com", to=["to@example.com"], **kwargs)
    message.template_id = "welcome"
    with pytest.raises(AnymailUnsupportedFeature) as info:
        message.send()
    assert info.value.feature == feature
    assert "template" in str(info.value)
    assert sparkpost.requests == []


def test_on_the_fly_template_with_merge_data_and_metadata(sparkpost):
    send(
        to=["a@example.com", "b@example.com"],
        subject="Hi {{name}}",
        body="Order {{order_no}}",
        metadata={"campaign": "spring"},
        merge_metadata={"a@example.com": {"order": "1"}},
        merge_data={"b@example.com": {"name": "B"}},
        merge_global_data={"name": "friend"},
    )
    body = posted(sparkpost)
    assert body["content"]["subject"] == "Hi {{name}}"
    assert body["metadata"] == {"campaign": "spring"}
    assert body["substitution_data"] == {"name": "friend"}
    assert body["recipients"] == [
        {"address": {"email": "a@example.com"}, "metadata": {"order": "1"}},
        {"address": {"email": "b@example.com"}, "substitution_data": {"name": "B"}},
    ]


def test_options_send_at_and_tracking(sparkpost):
    send(
        send_at=datetime(2030, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        track_clicks=False,
        track_opens=True,
        reply_to=["Reply One <r1@example.com>", "r2@example.com"],
    )
    body = posted(sparkpost)
    assert body["options"] == {
        "start_time": "2030-01-02T03:04:05+00:00",
        "click_tracking": False,
        "open_tracking": True,
    }
    assert body["content"]["reply_to"] == "Reply One <r1@example.com>, r2@example.com"


def test_esp_extra_are_transmissions_send_kwargs(sparkpost, settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "SEND_DEFAULTS": {"esp_extra": {"ip_pool": "my_pool"}},
    }
    send(
        tags=["from-tags"],
        esp_extra={
            "transactional": True,
            "description": "Marketing test-run for new templates",
            "campaign": "from-esp-extra",  # replaces Anymail's value for the keyword
        },
    )
    body = posted(sparkpost)
    assert body["options"] == {"transactional": True, "ip_pool": "my_pool"}
    assert body["description"] == "Marketing test-run for new templates"
    assert body["campaign_id"] == "from-esp-extra"


def test_esp_extra_that_json_cannot_send(sparkpost):
    with pytest.raises(AnymailSerializationError, match="esp_extra"):
        send(esp_extra={"metadata": {"when": datetime(2030, 1, 1)}})
    assert sparkpost.requests == []


def test_attachments_and_inline_images(sparkpost):
    message = AnymailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.attach("résumé.txt", "Ünïcode", "text/plain")
    message.attach("plain.txt", "ascii", "text/plain")
    message.attach("data.bin", b"\x00\x01", "application/octet-stream")
    cid = attach_inline_image(message, PNG, "logo.png", subtype="png")
    message.attach_alternative(f'<img src="cid:{cid}">', "text/html")
    message.send()
    content = posted(sparkpost)["content"]
    assert content["attachments"] == [
        {"name": "résumé.txt", "type": 'text/plain; charset="utf-8"', "data": "w5xuw69jb2Rl"},
        {"name": "plain.txt", "type": "text/plain", "data": "YXNjaWk="},
        {"name": "data.bin", "type": "application/octet-stream", "data": "AAE="},
    ]
    [image] = content["inline_images"]
    assert image["name"] == cid
    assert image["type"] == "image/png"


def test_attachment_without_filename_or_content_id(sparkpost):
    message = AnymailMessage("s", "b", "from@example.com", ["to@example.com"])
    message.attach(MIMEApplication(b"data"))
    with pytest.raises(AnymailUnsupportedFeature, match="filename"):
        message.send()
    message = AnymailMessage("s", "b", "from@example.com", ["to@example.com"])
    image = MIMEImage(PNG, "png")
    image["Content-Disposition"] = "inline"
    message.attach(image)
    with pytest.raises(AnymailUnsupportedFeature, match="Content-ID"):
        message.send()
    assert sparkpost.requests == []


# --- an empty body ---


def test_empty_body_sends_an_empty_text_part(sparkpost):
    # SparkPost's content needs text or html; Django sends an empty text/plain part
    send(body="")
    content = posted(sparkpost)["content"]
    assert content["text"] == ""
    assert "html" not in content
    # with attachments only, too
    message = AnymailMessage("s", "", "from@example.com", ["to@example.com"])
    message.attach("a.txt", "text", "text/plain")
    message.send()
    content = posted(sparkpost)["content"]
    assert content["text"] == ""
    assert len(content["attachments"]) == 1
    # SparkPost wants text or html beside AMP HTML
    send(body="", esp_extra={"amp_html": "<html amp4email></html>"})
    content = posted(sparkpost)["content"]
    assert content["text"] == ""
    assert content["amp_html"] == "<html amp4email></html>"


def test_empty_body_leaves_other_content_alone(sparkpost):
    # an HTML-only message is sent as it is
    send(body="", alternatives=[("<p>HTML</p>", "text/html")])
    content = posted(sparkpost)["content"]
    assert content["html"] == "<p>HTML</p>"
    assert "text" not in content
    # a stored template is the content: no text with it
    message = AnymailMessage(from_email="from@example.com", to=["to@example.com"])
    message.template_id = "welcome"
    message.send()
    assert posted(sparkpost)["content"] == {"template_id": "welcome"}
    # esp_extra's raw MIME replaces the content (python-sparkpost drops the rest)
    send(body="", esp_extra={"email_rfc822": "Subject: raw\r\n\r\nRaw body\r\n"})
    assert posted(sparkpost)["content"] == {"email_rfc822": "Subject: raw\r\n\r\nRaw body\r\n"}


# --- internationalized domains: IDNA (punycode) wherever the API takes an address ---


def test_idna_domains_everywhere(sparkpost):
    message = send(
        from_email="Fröm <from@bücher.example>",
        to=["Tö <to@bücher.example>", "to2@münchen.example"],
        cc=["Cc <cc@bücher.example>"],
        bcc=["bcc@bücher.example"],
        reply_to=["Reply <reply@bücher.example>"],
        envelope_sender="bounces@bücher.example",
    )
    body = posted(sparkpost)
    assert body["content"]["from"] == {"email": "from@xn--bcher-kva.example", "name": "Fröm"}
    assert body["content"]["reply_to"] == "Reply <reply@xn--bcher-kva.example>"
    assert body["return_path"] == "bounces@xn--bcher-kva.example"
    to_header = "Tö <to@xn--bcher-kva.example>, to2@xn--mnchen-3ya.example"
    assert [r["address"] for r in body["recipients"]] == [
        {"email": "to@xn--bcher-kva.example", "header_to": to_header},
        {"email": "to2@xn--mnchen-3ya.example", "header_to": to_header},
        {"email": "cc@xn--bcher-kva.example", "header_to": to_header},
        {"email": "bcc@xn--bcher-kva.example", "header_to": to_header},
    ]
    assert body["content"]["headers"] == {"CC": "Cc <cc@xn--bcher-kva.example>"}
    # anymail_status is keyed by the addresses as the message gave them
    assert set(message.anymail_status.recipients) == {
        "to@bücher.example",
        "to2@münchen.example",
        "cc@bücher.example",
        "bcc@bücher.example",
    }


def test_idna_one_recipient_spoofed_to_and_template_override(sparkpost):
    send(to=["Tö <to@bücher.example>"])
    assert posted(sparkpost)["recipients"] == [
        {"address": {"email": "to@xn--bcher-kva.example", "name": "Tö"}}
    ]
    send(to=["real@bücher.example"], headers={"To": "Shown <shown@bücher.example>"})
    assert posted(sparkpost)["recipients"] == [
        {
            "address": {
                "email": "real@xn--bcher-kva.example",
                "header_to": "Shown <shown@xn--bcher-kva.example>",
            }
        }
    ]
    message = AnymailMessage(
        from_email="Shop <shop@bücher.example>",
        to=["to@bücher.example"],
        reply_to=["r@bücher.example"],
    )
    message.template_id = "welcome"
    message.send()
    assert posted(sparkpost)["override"] == {
        "from": {"email": "shop@xn--bcher-kva.example", "name": "Shop"},
        "reply_to": "r@xn--bcher-kva.example",
    }


def test_idna_merge_data_keys_match_recipients_in_either_form(sparkpost):
    send(
        to=["a@bücher.example", "b@bücher.example"],
        merge_data={
            "a@bücher.example": {"name": "A"},
            "b@xn--bcher-kva.example": {"name": "B"},  # the ASCII form matches too
        },
        merge_metadata={"a@xn--bcher-kva.example": {"order": "1"}},
    )
    assert posted(sparkpost)["recipients"] == [
        {
            "address": {"email": "a@xn--bcher-kva.example"},
            "metadata": {"order": "1"},
            "substitution_data": {"name": "A"},
        },
        {"address": {"email": "b@xn--bcher-kva.example"}, "substitution_data": {"name": "B"}},
    ]


# --- status and errors ---


def test_recipient_status_from_the_counts(sparkpost, answers, settings):
    answers.rejected = 99
    with pytest.raises(AnymailRecipientsRefused):
        send(to=["to1@example.com", "to2@example.com"])

    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_RECIPIENT_STATUS": True}
    message = send(to=["to1@example.com", "to2@example.com"])
    assert message.anymail_status.status == {"rejected"}

    # SparkPost says how many were rejected, not which: the status is unknown
    answers.rejected = 1
    message = send(to=["to1@example.com", "to2@example.com"])
    assert message.anymail_status.status == {"unknown"}
    assert message.anymail_status.message_id == "11668787484950529"


def test_api_error_carries_sparkposts_message_and_never_the_key(sparkpost, answers):
    def refuse(request):
        # an error body that (improbably) echoes the key must not leak it
        return FakeResponse.json(
            {
                "errors": [
                    {
                        "message": "Subresource not found",
                        "description": f"template 'christmas_offer' does not exist ({API_KEY})",
                        "code": "1603",
                    }
                ]
            },
            422,
        )

    answers.next = refuse
    with pytest.raises(AnymailAPIError) as info:
        send()
    error = info.value
    assert error.status_code == 422
    text = str(error)
    assert "Subresource not found: template 'christmas_offer' does not exist" in text
    assert "(code 1603)" in text
    assert API_KEY not in text
    assert API_KEY not in repr(get_connection())


def test_malformed_response(sparkpost, answers):
    answers.next = FakeResponse(200, "<html>?</html>", {"Content-Type": "text/html"})
    with pytest.raises(AnymailAPIError, match="Invalid SparkPost API response") as info:
        send()
    assert info.value.status_code == 200
    answers.next = FakeResponse.json({"results": {"total_accepted_recipients": 1}})
    with pytest.raises(AnymailAPIError, match="no transmission id"):
        send()


def test_debug_api_requests_prints_the_call_with_the_key_redacted(
    sparkpost, answers, settings, capsys
):
    output = checks.debug_output(settings, capsys, lambda: send(metadata={"order": "12345"}))
    assert f"POST {sparkpost.url}/api/v1/transmissions" in output
    assert "Authorization: ********" in output
    assert '"metadata": {"order": "12345"}' in output
    assert "===== Response: 200" in output
    assert '"id": "11668787484950529"' in output
    assert API_KEY not in output
    # an error answer is printed too, before it is raised
    answers.next = FakeResponse.json({"errors": [{"message": "Forbidden."}]}, 403)
    with pytest.raises(AnymailAPIError):
        send()
    output = capsys.readouterr().out
    assert "===== Response: 403" in output
    assert API_KEY not in output


def test_no_debug_output_by_default(sparkpost, capsys):
    send()
    assert capsys.readouterr().out == ""


def test_the_client_is_never_given_the_key(sparkpost):
    # The key reaches the request only through the backend's ApiCredentials.
    connection = get_connection()
    with connection:
        assert connection.transmissions.api_key is None
        connection.send_messages([AnymailMessage("s", "b", "from@example.com", ["to@example.com"])])
    assert sparkpost.requests[0].headers["Authorization"] == API_KEY


def test_requests_timeout(sparkpost, answers, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.3}
    answers.next = FakeResponse.json({"results": {"id": "1"}}, delay=2)
    started = time.monotonic()
    with pytest.raises(AnymailAPIError, match="Timeout"):
        send()
    assert time.monotonic() - started < 1.5


def test_invalid_requests_timeout(settings):
    from anymail.backends.sparkpost import EmailBackend

    settings.ANYMAIL = {"SPARKPOST_API_KEY": API_KEY, "REQUESTS_TIMEOUT": "soon"}
    with pytest.raises(AnymailConfigurationError, match="REQUESTS_TIMEOUT"):
        EmailBackend()


# --- one connection ---


def test_connection_lives_from_open_to_close(sparkpost):
    connection = get_connection()
    messages = [AnymailMessage("s", "b", "from@example.com", ["to@example.com"]) for _ in range(2)]
    with connection:  # open() ... close()
        assert connection.send_messages(messages[:1]) == 1
        assert connection.send_messages(messages[1:]) == 1
    assert sparkpost.connection_count == 1
    assert connection.transmissions is None
    assert connection.session is None

    connection.send_messages(messages)  # opens and closes its own
    assert sparkpost.connection_count == 2
    assert connection.session is None


def test_client_is_imported_only_when_the_backend_opens():
    code = (
        "import django; django.setup(); import sys\n"
        "import anymail.urls, anymail.esps.sparkpost, anymail.backends.sparkpost, "
        "anymail.webhooks.sparkpost\n"
        "assert 'sparkpost' not in sys.modules, 'imported at module load'\n"
        "from anymail.backends.sparkpost import EmailBackend\n"
        "backend = EmailBackend(api_key='k')\n"
        "assert 'sparkpost' not in sys.modules, 'imported by __init__'\n"
        "backend.open(); backend.close()\n"
        "assert 'sparkpost' in sys.modules\n"
    )
    checks.run_python(code)


def test_missing_client_is_improperly_installed():
    code = (
        "import django; django.setup(); import sys\n"
        "sys.modules['sparkpost'] = None  # what Python does for a package that isn't there\n"
        "from anymail.backends.sparkpost import EmailBackend\n"
        "from anymail.exceptions import AnymailImproperlyInstalled\n"
        "try:\n"
        "    EmailBackend(api_key='k').open()\n"
        "except AnymailImproperlyInstalled as err:\n"
        "    assert 'anymail-sparkpost' in str(err), str(err)\n"
        "else:\n"
        "    raise AssertionError('no error')\n"
    )
    checks.run_python(code)
