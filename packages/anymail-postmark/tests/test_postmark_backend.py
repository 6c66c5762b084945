"""Postmark's backend against a real HTTP server on 127.0.0.1 (conformance.fake_server):
what is particular to Postmark. The shared conformance suite proves the rest."""

import json
from functools import partial

import pytest
from django.core import mail

from anymail.conformance.postmark.profile import (
    MESSAGE_TOKEN,
    PROFILE,
    SERVER_TOKEN,
    FakePostmarkAPI,
)
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailUnsupportedFeature,
)
from anymail.message import attach_inline_image
from anymail.signals import post_send
from anymail.testing import get_connection
from anymail_conformance import package_checks as checks
from anymail_conformance.fake_server import FakeESPServer, FakeResponse
from anymail_conformance.package_checks import make_message as message
from anymail_conformance.package_checks import send_message as send
from anymail_conformance.package_checks import sent_json


@pytest.fixture
def api():
    """The fake Postmark API; ``api.responder`` can be replaced to change its answers."""
    responder = {"answer": FakePostmarkAPI()}
    with FakeESPServer(lambda request: responder["answer"](request)) as server:
        server.responder = responder
        yield server


@pytest.fixture
def postmark(settings, api):
    return checks.use_fake_api(settings, PROFILE, api)


def answer_with(api, fake):
    api.responder["answer"] = fake


# ---------------------------------------------------------------------------
# One message


def test_send_posts_json_to_the_email_api(postmark):
    msg = message(
        to=["Alice Ü <alice@example.com>", '"Widgets, Inc." <w@example.com>'],
        cc=["cc@example.com"],
        bcc=["Bcc <bcc@example.com>"],
        reply_to=["r1@example.com", "R Two <r2@example.com>"],
        headers={"X-Custom": "value"},
        tags=["welcome"],
        metadata={"user_id": "42"},
        track_opens=True,
        track_clicks=False,
    )
    msg.subject = "Ünïcode subject"
    msg.attach_alternative("<p>Hello</p>", "text/html")
    msg.send()

    [request] = postmark.requests
    assert request.path == "/email"
    assert request.headers["X-Postmark-Server-Token"] == SERVER_TOKEN
    assert request.headers["Accept"] == "application/json"
    assert request.headers.get_content_type() == "application/json"
    assert request.json() == {
        "From": "Sender <from@example.com>",
        "To": 'Alice Ü <alice@example.com>, "Widgets, Inc." <w@example.com>',
        "Cc": "cc@example.com",
        "Bcc": "Bcc <bcc@example.com>",
        "ReplyTo": "r1@example.com, R Two <r2@example.com>",
        "Subject": "Ünïcode subject",
        "TextBody": "Body",
        "HtmlBody": "<p>Hello</p>",
        "Headers": [{"Name": "X-Custom", "Value": "value"}],
        "Tag": "welcome",
        "Metadata": {"user_id": "42"},
        "TrackOpens": True,
        "TrackLinks": "None",
    }
    # Sent as UTF-8 bytes, not Latin-1 (what http.client does with a str body).
    assert "Ünïcode".encode() in request.body
    status = msg.anymail_status
    assert status.status == {"sent"}
    assert status.message_id == "00000000-0000-0000-0000-000000000001"
    assert set(status.recipients) == {
        "alice@example.com",
        "w@example.com",
        "cc@example.com",
        "bcc@example.com",
    }


def test_track_clicks_true_is_html_and_text(postmark):
    send(track_clicks=True)
    assert sent_json(postmark)["TrackLinks"] == "HtmlAndText"


def test_esp_extra_track_links_wins(postmark):
    send(track_clicks=True, esp_extra={"TrackLinks": "HtmlOnly"})
    assert sent_json(postmark)["TrackLinks"] == "HtmlOnly"


def test_reply_to_header_becomes_reply_to(postmark):
    send(headers={"Reply-To": "Header Reply <hr@example.com>"})
    assert sent_json(postmark)["ReplyTo"] == "Header Reply <hr@example.com>"
    assert "Headers" not in sent_json(postmark)


def test_attachments_and_inline_images(postmark):
    msg = message()
    cid = attach_inline_image(msg, b"\x89PNG", "logo.png", subtype="png")
    msg.attach_alternative(f'<img src="cid:{cid}">', "text/html")
    msg.attach("résumé.txt", "Ünïcode", "text/plain")
    msg.send()
    assert sent_json(postmark)["Attachments"] == [
        {"Name": "résumé.txt", "Content": "w5xuw69jb2Rl", "ContentType": "text/plain"},
        {
            "Name": "logo.png",
            "Content": "iVBORw==",
            "ContentType": "image/png",
            "ContentID": f"cid:{cid}",
        },
    ]


def test_only_one_tag(postmark, settings):
    two_tags = partial(send, tags=["one", "two"])
    checks.refused_unless_ignored(settings, postmark, two_tags, match="only one tag")
    assert sent_json(postmark)["Tag"] == "one"


def test_cc_and_bcc_only(postmark):
    msg = send(to=[], cc=["cc@example.com"], bcc=["bcc@example.com"])
    body = sent_json(postmark)
    assert "To" not in body
    assert (body["Cc"], body["Bcc"]) == ("cc@example.com", "bcc@example.com")
    assert {email: s.status for email, s in msg.anymail_status.recipients.items()} == {
        "cc@example.com": "sent",
        "bcc@example.com": "sent",
    }


def test_recipients_keep_their_case(postmark):
    # Postmark names inactive addresses in lowercase; the status keeps the message's spelling.
    answer_with(postmark, FakePostmarkAPI(inactive=["gone@example.com"]))
    msg = send(to=["Alice@Example.COM", "Gone@Example.com"])
    assert {email: s.status for email, s in msg.anymail_status.recipients.items()} == {
        "Alice@Example.COM": "sent",
        "Gone@Example.com": "rejected",
    }


# ---------------------------------------------------------------------------
# Settings


@pytest.mark.parametrize("place", checks.SETTING_PLACES)
def test_server_token_settings(settings, api, place):
    token = {"server_token": SERVER_TOKEN}
    options = checks.set_esp_settings(settings, place, "postmark", token, POSTMARK_API_URL=api.url)
    connection = get_connection("anymail.backends.postmark.EmailBackend", **options)
    message(connection=connection).send()
    assert api.requests[0].headers["X-Postmark-Server-Token"] == SERVER_TOKEN


def test_missing_server_token_names_every_place(settings):
    with pytest.raises(AnymailConfigurationError) as info:
        get_connection("anymail.backends.postmark.EmailBackend")
    text = str(info.value)
    for place in (
        'ANYMAIL = {"POSTMARK_SERVER_TOKEN"',
        "ANYMAIL_POSTMARK_SERVER_TOKEN",
        "server_token=",
    ):
        assert place in text
    assert " or POSTMARK_SERVER_TOKEN" in text


def test_api_url_default_and_trailing_slash(settings):
    from anymail.backends.postmark import EmailBackend

    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": SERVER_TOKEN}
    assert EmailBackend().api_url == "https://api.postmarkapp.com/"
    settings.ANYMAIL["POSTMARK_API_URL"] = "http://127.0.0.1:1/postmark"
    assert EmailBackend().api_url == "http://127.0.0.1:1/postmark/"


def test_esp_extra_server_token_is_this_messages_header(postmark):
    send(esp_extra={"server_token": MESSAGE_TOKEN, "MessageStream": "broadcast"})
    request = postmark.requests[0]
    assert request.headers["X-Postmark-Server-Token"] == MESSAGE_TOKEN
    assert request.json()["MessageStream"] == "broadcast"
    assert "server_token" not in request.json()


def test_global_esp_extra_from_send_defaults(postmark, settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "POSTMARK_SEND_DEFAULTS": {"esp_extra": {"MessageStream": "outbound-2"}},
    }
    send()
    assert sent_json(postmark)["MessageStream"] == "outbound-2"


def test_server_token_never_in_errors_or_debug_output(postmark, settings, capsys):
    answer_with(postmark, FakePostmarkAPI(tokens=["another"]))
    settings.ANYMAIL = {**settings.ANYMAIL, "DEBUG_API_REQUESTS": True}
    with pytest.raises(AnymailAPIError) as info:
        send()
    assert info.value.status_code == 401
    assert "POSTMARK_SERVER_TOKEN" in str(info.value)  # how to fix it
    assert SERVER_TOKEN not in str(info.value) + repr(info.value.backend)
    output = capsys.readouterr().out
    assert "X-Postmark-Server-Token: ********" in output
    assert SERVER_TOKEN not in output


# ---------------------------------------------------------------------------
# Internationalized domains: Postmark takes addresses with an ASCII (IDNA) domain


def test_idn_domains_are_sent_in_idna_form(postmark):
    msg = send(
        from_email="Bücherei <info@bücher.example>",
        to=["Jürgen <jürgen@bücher.example>", "plain@example.com"],
        cc=["cc@münchen.example"],
        bcc=["bcc@bücher.example"],
        reply_to=["Antwort <antwort@bücher.example>"],
    )
    [request] = postmark.requests
    sent = request.json()
    assert sent["From"] == "Bücherei <info@xn--bcher-kva.example>"
    # The local part and display name stay as written; only the domain is encoded.
    assert sent["To"] == "Jürgen <jürgen@xn--bcher-kva.example>, plain@example.com"
    assert sent["Cc"] == "cc@xn--mnchen-3ya.example"
    assert sent["Bcc"] == "bcc@xn--bcher-kva.example"
    assert sent["ReplyTo"] == "Antwort <antwort@xn--bcher-kva.example>"
    assert "bücher" not in json.dumps(sent, ensure_ascii=False)
    # The send status is keyed by the addresses as the message gave them.
    assert set(msg.anymail_status.recipients) == {
        "jürgen@bücher.example",
        "plain@example.com",
        "cc@münchen.example",
        "bcc@bücher.example",
    }
    assert msg.anymail_status.status == {"sent"}


def test_idn_domains_in_a_merge_batch(postmark):
    send(
        to=["a@bücher.example", "b@example.com"],
        subject="",
        body="",
        template_id="welcome",
        merge_data={"a@bücher.example": {"name": "A"}, "b@example.com": {"name": "B"}},
        merge_metadata={"a@bücher.example": {"id": "1"}},
    )
    messages = sent_json(postmark)["Messages"]
    assert [(m["To"], m["TemplateModel"], m.get("Metadata")) for m in messages] == [
        ("a@xn--bcher-kva.example", {"name": "A"}, {"id": "1"}),
        ("b@example.com", {"name": "B"}, None),
    ]


def test_an_inactive_idn_recipient_is_matched(postmark):
    # Postmark names inactive recipients as it knows them: IDNA, lowercased.
    answer_with(postmark, FakePostmarkAPI(inactive=["gone@xn--bcher-kva.example"]))
    msg = send(to=["Gone@Bücher.example", "here@example.com"])
    recipients = msg.anymail_status.recipients
    assert recipients["Gone@Bücher.example"].status == "rejected"
    assert recipients["here@example.com"].status == "sent"


def test_an_invalid_idn_domain_is_refused_before_sending(postmark):
    with pytest.raises(AnymailInvalidAddress):
        send(to=["someone@" + "ü" * 70 + ".example"])
    assert postmark.requests == []


# ---------------------------------------------------------------------------
# Errors and recipient status


def test_all_recipients_inactive_raises_recipients_refused(postmark, settings):
    answer_with(postmark, FakePostmarkAPI(inactive=["a@example.com", "b@example.com"]))
    with pytest.raises(AnymailRecipientsRefused) as info:
        send(to=["a@example.com"], cc=["B@example.com"])
    statuses = info.value.email_message.anymail_status
    assert {email: s.status for email, s in statuses.recipients.items()} == {
        "a@example.com": "rejected",
        "B@example.com": "rejected",
    }
    assert statuses.message_id is None

    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_RECIPIENT_STATUS": True}
    msg = send(to=["a@example.com"])
    assert msg.anymail_status.status == {"rejected"}


def test_some_recipients_inactive(postmark):
    answer_with(postmark, FakePostmarkAPI(inactive=["b@example.com"]))
    msg = send(to=["a@example.com", "b@example.com"])
    recipients = msg.anymail_status.recipients
    assert (recipients["a@example.com"].status, recipients["b@example.com"].status) == (
        "sent",
        "rejected",
    )
    assert recipients["a@example.com"].message_id == recipients["b@example.com"].message_id


def test_api_error_carries_postmarks_message(postmark):
    answer_with(postmark, lambda request: FakeResponse.json(
        {"ErrorCode": 300, "Message": "Invalid 'To' address: 'nobody'."}, 422
    ))  # fmt: skip
    with pytest.raises(AnymailAPIError) as info:
        send()
    assert info.value.status_code == 422
    assert "Invalid 'To' address: 'nobody'." in str(info.value)


def test_sender_signature_error_explains(postmark):
    answer_with(postmark, lambda request: FakeResponse.json(
        {"ErrorCode": 400, "Message": "The 'From' address you supplied is not a Sender Signature."},
        422,
    ))  # fmt: skip
    with pytest.raises(AnymailAPIError, match="confirmed Sender Signature"):
        send()


def test_unexpected_response_shape_is_an_api_error(postmark):
    answer_with(postmark, lambda request: FakeResponse.json({"ErrorCode": 0}))  # no MessageID
    with pytest.raises(AnymailAPIError, match="Invalid Postmark API response"):
        send()


# ---------------------------------------------------------------------------
# Templates and batch sends


@pytest.mark.parametrize(
    ("template_id", "field", "value"),
    [(80801, "TemplateId", 80801), ("80801", "TemplateId", 80801), ("welcome", "TemplateAlias", "welcome")],
)  # fmt: skip
def test_template_id_or_alias(postmark, template_id, field, value):
    msg = message(template_id=template_id, merge_global_data={"name": "Alice"})
    msg.subject = ""  # Django's defaults: not sent
    msg.body = ""
    msg.send()
    request = postmark.requests[0]
    assert request.path == "/email/withTemplate"
    body = request.json()
    assert body[field] == value
    assert body["TemplateModel"] == {"name": "Alice"}
    assert not {"Subject", "TextBody", "HtmlBody"} & set(body)
    assert msg.anymail_status.status == {"sent"}


def test_template_without_merge_data_sends_an_empty_model(postmark):
    send(template_id="welcome", subject="", body="")
    assert sent_json(postmark)["TemplateModel"] == {}


def test_template_with_its_own_subject_is_refused(postmark, settings):
    with pytest.raises(AnymailUnsupportedFeature, match="template supplies the subject") as info:
        send(template_id="welcome", subject="Hi")
    assert info.value.feature == "template_id"
    assert postmark.requests == []
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    send(template_id="welcome", subject="Hi")
    assert "Subject" not in sent_json(postmark)


def test_merge_data_batch_with_template(postmark):
    msg = message(
        to=["alice@example.com", "Bob <bob@example.com>"],
        cc=["cc@example.com"],
        bcc=["bcc@example.com"],
        subject="",
        body="",
        template_id=80801,
        merge_data={
            "alice@example.com": {"name": "Alice", "order_no": "12345"},
            "bob@example.com": {"name": "Bob", "order_no": "54321"},
        },
        merge_global_data={"ship_date": "May 15", "name": "Customer"},
        metadata={"campaign": "spring"},
        merge_metadata={"bob@example.com": {"campaign": "bob's"}},
    )
    msg.send()
    [request] = postmark.requests
    assert request.path == "/email/batchWithTemplates"
    messages = request.json()["Messages"]
    assert [(m["To"], m["Cc"], m["Bcc"]) for m in messages] == [
        ("alice@example.com", "cc@example.com", "bcc@example.com"),
        ("Bob <bob@example.com>", "cc@example.com", "bcc@example.com"),
    ]
    assert [m["TemplateModel"] for m in messages] == [
        {"ship_date": "May 15", "name": "Alice", "order_no": "12345"},
        {"ship_date": "May 15", "name": "Bob", "order_no": "54321"},
    ]
    assert [m["Metadata"] for m in messages] == [{"campaign": "spring"}, {"campaign": "bob's"}]
    recipients = msg.anymail_status.recipients
    assert recipients["alice@example.com"].message_id != recipients["bob@example.com"].message_id
    assert msg.anymail_status.message_id == {
        "00000000-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000002",
    }
    assert set(recipients) == {
        "alice@example.com",
        "bob@example.com",
        "cc@example.com",
        "bcc@example.com",
    }


def test_empty_merge_data_forces_a_batch_without_template(postmark):
    send(to=["a@example.com", "b@example.com"], merge_data={})
    [request] = postmark.requests
    assert request.path == "/email/batch"
    assert [m["To"] for m in request.json()] == ["a@example.com", "b@example.com"]
    assert all(m["Subject"] == "Subject" and m["TextBody"] == "Body" for m in request.json())


def test_merge_data_needs_a_template(postmark, settings):
    with pytest.raises(AnymailUnsupportedFeature, match="only with a stored template") as info:
        send(to=["a@example.com", "b@example.com"], merge_data={"a@example.com": {"x": 1}})
    assert info.value.feature == "merge_data"
    assert postmark.requests == []
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
    send(to=["a@example.com", "b@example.com"], merge_data={"a@example.com": {"x": 1}})
    assert postmark.requests[0].path == "/email/batch"  # still one message per recipient
    assert all("TemplateModel" not in m for m in sent_json(postmark))


def test_merge_global_data_needs_a_template(postmark):
    with pytest.raises(AnymailUnsupportedFeature) as info:
        send(merge_global_data={"site": "Example"})
    assert info.value.feature == "merge_global_data"


def test_batch_item_errors_are_per_recipient(postmark):
    answer_with(
        postmark,
        FakePostmarkAPI(
            inactive=["gone@example.com"],
            refuse={"bad@example.com": (300, "Invalid 'To' address.")},
        ),
    )
    msg = send(
        to=["ok@example.com", "gone@example.com", "bad@example.com"],
        cc=["cc@example.com"],
        template_id="welcome",
        subject="",
        body="",
        merge_data={},
    )
    statuses = {email: s.status for email, s in msg.anymail_status.recipients.items()}
    assert statuses == {
        "ok@example.com": "sent",
        "gone@example.com": "rejected",
        "bad@example.com": "failed",
        "cc@example.com": "sent",  # in every message: one sent copy is enough
    }


def test_batch_with_every_message_in_error_is_an_api_error(postmark):
    answer_with(postmark, FakePostmarkAPI(refuse={
        "a@example.com": (300, "Invalid 'To' address."),
        "b@example.com": (300, "Invalid 'To' address."),
    }))  # fmt: skip
    with pytest.raises(AnymailAPIError, match=r"ErrorCode 300: Invalid 'To' address\.") as info:
        send(to=["a@example.com", "b@example.com"], merge_data={})
    assert info.value.email_message.anymail_status.status == {"failed"}


def test_a_merge_batch_larger_than_postmark_allows_is_split(postmark):
    recipients = [f"to{n}@example.com" for n in range(501)]
    msg = send(to=recipients, merge_data={})
    assert [len(request.json()) for request in postmark.requests] == [500, 1]
    assert set(msg.anymail_status.recipients) == set(recipients)
    assert msg.anymail_status.status == {"sent"}
    assert len(msg.anymail_status.message_id) == 501


# ---------------------------------------------------------------------------
# send_messages: several messages per call (POSTMARK_BATCH_SEND_MESSAGES = True)


@pytest.fixture
def batching(postmark, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_BATCH_SEND_MESSAGES": True}
    return postmark


def test_send_messages_batches_distinct_messages(batching):
    sent_signals = []
    post_send.connect(record := lambda sender, message, status, **kw: sent_signals.append(status))
    try:
        messages = [message(to=[f"to{n}@example.com"], subject=f"#{n}") for n in range(3)]
        assert get_connection().send_messages(messages) == 3
    finally:
        post_send.disconnect(record)
    [request] = batching.requests
    assert request.path == "/email/batch"
    assert [m["Subject"] for m in request.json()] == ["#0", "#1", "#2"]
    assert [m.anymail_status.message_id for m in messages] == [
        f"00000000-0000-0000-0000-00000000000{n}" for n in (1, 2, 3)
    ]
    assert sent_signals == [m.anymail_status for m in messages]


def test_send_messages_groups_by_endpoint_and_token(batching):
    messages = [
        message(subject="plain 1"),
        message(subject="", body="", template_id="welcome"),
        message(subject="plain 2"),
        message(subject="other server", esp_extra={"server_token": MESSAGE_TOKEN}),
        message(subject="", body="", template_id=123),
    ]
    assert get_connection().send_messages(messages) == 5
    calls = [
        (request.path, request.headers["X-Postmark-Server-Token"], request.json())
        for request in batching.requests
    ]
    assert [(path, token) for path, token, _ in calls] == [
        ("/email/batch", SERVER_TOKEN),
        ("/email/batchWithTemplates", SERVER_TOKEN),
        ("/email", MESSAGE_TOKEN),
    ]
    assert [m["Subject"] for m in calls[0][2]] == ["plain 1", "plain 2"]
    assert [m.get("TemplateAlias", m.get("TemplateId")) for m in calls[1][2]["Messages"]] == [
        "welcome",
        123,
    ]
    assert all(m.anymail_status.status == {"sent"} for m in messages)
    assert batching.connection_count == 1


def test_send_messages_respects_postmarks_batch_limits(batching):
    from anymail.backends.postmark import EmailBackend

    connection = get_connection()
    assert (connection.batch_max_messages, connection.batch_max_bytes) == (500, 50_000_000)
    assert EmailBackend.batch_max_messages == 500

    messages = [message(to=[f"to{n}@example.com"]) for n in range(502)]
    assert connection.send_messages(messages) == 502
    assert [len(request.json()) for request in batching.requests] == [500, 2]

    # Room for two of these messages (and the comma between them) a call:
    batching.reset()
    entry = {"From": "Sender <from@example.com>", "To": "to0@example.com", "Subject": "Subject",
             "TextBody": "Body"}  # fmt: skip
    connection.batch_max_bytes = 2 * (len(json.dumps(entry, separators=(",", ":"))) + 1)
    assert connection.send_messages(messages[:5]) == 5
    assert [
        (request.path, len(request.json()) if request.path == "/email/batch" else 1)
        for request in batching.requests
    ] == [("/email/batch", 2), ("/email/batch", 2), ("/email", 1)]


def test_one_messages_error_does_not_lose_the_others(batching):
    answer_with(batching, FakePostmarkAPI(
        inactive=["gone@example.com"],
        refuse={"bad@example.com": (300, "Invalid 'To' address.")},
    ))  # fmt: skip
    messages = [
        message(to=["one@example.com"]),
        message(to=["bad@example.com"]),
        message(to=["gone@example.com"]),
        message(to=["four@example.com"]),
    ]
    with pytest.raises(AnymailAPIError, match=r"Invalid 'To' address\.") as info:
        get_connection().send_messages(messages)
    assert info.value.email_message is messages[1]  # the first error is raised
    assert len(batching.requests) == 1
    assert [m.anymail_status.status for m in messages] == [
        {"sent"},
        {"failed"},
        {"rejected"},
        {"sent"},
    ]
    # fail_silently: the two that were sent are counted
    for m in messages:
        del m.anymail_status
    assert get_connection(fail_silently=True).send_messages(messages) == 2


def test_a_failed_call_fails_only_its_messages(batching):
    def answer(request):
        if request.headers["X-Postmark-Server-Token"] == MESSAGE_TOKEN:
            return FakeResponse(500, "Internal Server Error", {"Content-Type": "text/plain"})
        return FakePostmarkAPI()(request)

    answer_with(batching, answer)
    messages = [
        message(),
        message(esp_extra={"server_token": MESSAGE_TOKEN}),
        message(),
    ]
    with pytest.raises(AnymailAPIError) as info:
        get_connection().send_messages(messages)
    assert info.value.status_code == 500
    assert [m.anymail_status.status for m in messages] == [{"sent"}, None, {"sent"}]


def test_a_message_that_cant_be_built_stops_the_run_there(batching):
    messages = [message(subject="first"), message(tags=["a", "b"]), message(subject="third")]
    with pytest.raises(AnymailUnsupportedFeature):
        get_connection().send_messages(messages)
    # As with one call per message: the messages before it are sent, the rest are not.
    assert [request.json()["Subject"] for request in batching.requests] == ["first"]
    assert messages[0].anymail_status.status == {"sent"}
    assert messages[2].anymail_status.status is None


def test_recipients_refused_in_a_batch(batching):
    answer_with(batching, FakePostmarkAPI(inactive=["gone@example.com"]))
    messages = [message(to=["gone@example.com"]), message(to=["ok@example.com"])]
    with pytest.raises(AnymailRecipientsRefused):
        get_connection().send_messages(messages)
    assert messages[1].anymail_status.status == {"sent"}


def test_batching_is_off_by_default(postmark):
    """One call per message unless batching is asked for: the behaviour (errors,
    signals, esp_response) of every other Anymail backend."""
    messages = [message() for _ in range(3)]
    assert get_connection().send_messages(messages) == 3
    assert [request.path for request in postmark.requests] == ["/email"] * 3
    assert postmark.connection_count == 1


def test_batching_saves_a_round_trip_per_message(settings):
    """20 messages: one call batched, twenty one by one (the time it saves is measured
    in the README, not asserted here)."""

    def slow(request):
        response = FakePostmarkAPI()(request)
        response.delay = 0.02
        return response

    calls = {}
    for batching in (True, False):
        with FakeESPServer(slow) as server:
            settings.ANYMAIL = {
                "POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
                "POSTMARK_API_URL": server.url,
                "POSTMARK_BATCH_SEND_MESSAGES": batching,
            }
            connection = get_connection("anymail.backends.postmark.EmailBackend")
            messages = [message(to=[f"to{n}@example.com"]) for n in range(20)]
            assert connection.send_messages(messages) == 20
            assert all(m.anymail_status.status == {"sent"} for m in messages)
            calls[batching] = len(server.requests)
    assert calls == {True: 1, False: 20}


# ---------------------------------------------------------------------------
# Packaging


def test_outbox_untouched(postmark):
    send()
    assert mail.outbox == []


def test_importing_the_esp_imports_only_anymail_base():
    code = (
        "import django; django.setup(); import sys; import anymail.esps.postmark; "
        "assert 'anymail.backends.postmark' not in sys.modules; "
        "import anymail.backends.postmark, anymail.webhooks.postmark; "
        "bad = {'boto3', 'sparkpost'} & set(sys.modules); assert not bad, bad"
    )
    checks.run_python(code)
