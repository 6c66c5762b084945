"""The feature vocabulary and its generic enforcement from an ESP's declaration
(DESIGN section 4; docs "Unsupported features" and IGNORE_UNSUPPORTED_FEATURES).

The test backend enforces the declaration given as TEST_FEATURES, exactly as the
base payload does for a real ESP."""

import pytest
from django.core import mail

from anymail.exceptions import AnymailUnsupportedFeature
from anymail.features import EventType, Feature, FeatureSupport, RejectReason, Support
from anymail.message import AnymailMessage
from anymail.testing import get_connection

ALL = FeatureSupport.all_supported()


def declare(settings, ignore_unsupported=False, **levels):
    settings.ANYMAIL = {
        "TEST_FEATURES": ALL.replace(**levels),
        "IGNORE_UNSUPPORTED_FEATURES": ignore_unsupported,
    }


def message(**kwargs):
    return AnymailMessage(
        subject="s", body="b", from_email="from@example.com", to=["to@example.com"], **kwargs
    )


# --- vocabulary ---------------------------------------------------------------


def test_vocabulary_names_the_documented_features():
    assert {feature.value for feature in Feature} == {
        "envelope_sender",
        "metadata",
        "merge_metadata",
        "send_at",
        "tags",
        "track_clicks",
        "track_opens",
        "template_id",
        "merge_data",
        "merge_global_data",
        "from_email",
        "reply_to",
        "alternatives",
        "attachments",
        "inline_images",
        "headers",
        "spoofed_to",
    }
    assert {level.value for level in Support} == {"yes", "no", "domain_only", "max_one", "emulated"}
    assert Support.MAX_ONE.label == "Max 1"
    assert Support.DOMAIN_ONLY.sends
    assert not Support.NO.sends


def test_vocabulary_names_the_normalized_events_and_reject_reasons():
    assert {event.value for event in EventType} == {
        "queued",
        "sent",
        "rejected",
        "failed",
        "bounced",
        "deferred",
        "delivered",
        "autoresponded",
        "opened",
        "clicked",
        "complained",
        "unsubscribed",
        "subscribed",
        "inbound",
        "inbound_failed",
        "unknown",
    }
    assert {reason.value for reason in RejectReason} == {
        "invalid",
        "bounced",
        "timed_out",
        "blocked",
        "spam",
        "unsubscribed",
        "other",
    }


def test_an_undeclared_feature_is_not_supported():
    """A feature added to anymail-base after an ESP package was released: the ESP
    gets "not supported" (one it must have, like From, "one"), not an error."""
    levels = {feature.value: "yes" for feature in Feature}
    del levels["tags"]
    del levels["reply_to"]
    declaration = FeatureSupport(**levels)
    assert declaration["tags"] is Support.NO
    assert declaration["reply_to"] is Support.MAX_ONE
    assert declaration.undeclared() == ["tags", "reply_to"]
    assert len(declaration) == len(Feature)


def test_from_email_and_reply_to_are_one_or_several():
    # Every ESP sends one From and one Reply-To: "no" would refuse a single address.
    for feature in ("from_email", "reply_to"):
        with pytest.raises(ValueError, match=r"can't be declared NO.*MAX_ONE, YES"):
            ALL.replace(**{feature: "no"})
        assert ALL.replace(**{feature: "max_one"})[feature] is Support.MAX_ONE


def test_a_declaration_rejects_unknown_features_and_misplaced_levels():
    with pytest.raises(ValueError, match="Unknown feature 'taggs'"):
        ALL.replace(taggs="yes")
    with pytest.raises(ValueError, match="MAX_ONE"):
        ALL.replace(metadata=Support.MAX_ONE)
    with pytest.raises(ValueError, match="DOMAIN_ONLY"):
        ALL.replace(tags=Support.DOMAIN_ONLY)
    assert ALL.replace(tags="max_one")["tags"] is Support.MAX_ONE
    assert (
        ALL.replace(envelope_sender="domain_only")[Feature.ENVELOPE_SENDER] is Support.DOMAIN_ONLY
    )


# --- enforcement ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("feature", "use_it"),
    [
        ("envelope_sender", lambda m: setattr(m, "envelope_sender", "bounces@example.com")),
        ("metadata", lambda m: setattr(m, "metadata", {"k": "v"})),
        ("merge_metadata", lambda m: setattr(m, "merge_metadata", {"to@example.com": {"k": "v"}})),
        ("send_at", lambda m: setattr(m, "send_at", 1700000000)),
        ("tags", lambda m: setattr(m, "tags", ["one"])),
        ("track_clicks", lambda m: setattr(m, "track_clicks", False)),
        ("track_opens", lambda m: setattr(m, "track_opens", True)),
        ("template_id", lambda m: setattr(m, "template_id", "welcome")),
        ("merge_data", lambda m: setattr(m, "merge_data", {})),
        ("merge_global_data", lambda m: setattr(m, "merge_global_data", {"NAME": "x"})),
        ("alternatives", lambda m: m.attach_alternative("# md", "text/markdown")),
        ("attachments", lambda m: m.attach("file.txt", "content", "text/plain")),
        ("inline_images", lambda m: m.attach_inline_image(b"GIF89a")),
        ("headers", lambda m: m.extra_headers.update({"X-Custom": "1"})),
        ("spoofed_to", lambda m: m.extra_headers.update({"To": "shown@example.com"})),
    ],
)
def test_unsupported_feature_raises_naming_it_and_sends_nothing(settings, feature, use_it):
    declare(settings, **{feature: "no"})
    msg = message()
    use_it(msg)
    with pytest.raises(AnymailUnsupportedFeature) as excinfo:
        msg.send()
    assert excinfo.value.feature == feature
    assert Feature(feature).human_name in str(excinfo.value)
    assert "IGNORE_UNSUPPORTED_FEATURES" in str(excinfo.value)
    assert mail.outbox == []

    # The same message is fine for an ESP that supports the feature.
    declare(settings)
    get_connection().send_messages([msg])  # a new connection, with the new declaration
    assert mail.outbox == [msg]


def test_html_alternative_is_not_an_extra_alternative(settings):
    declare(settings, alternatives="no")
    msg = message()
    msg.attach_alternative("<p>html</p>", "text/html")
    msg.send()
    assert msg.anymail_send_params["html_body"] == "<p>html</p>"


def test_from_header_makes_envelope_sender_unsupported_where_it_is(settings):
    # docs: the original from_email becomes the envelope sender, "only if your ESP
    # supports altering envelope sender, otherwise you'll get an unsupported feature error".
    declare(settings, envelope_sender="no")
    msg = message(headers={"From": "Shown <shown@example.com>"})
    with pytest.raises(AnymailUnsupportedFeature) as excinfo:
        msg.send()
    assert excinfo.value.feature == "envelope_sender"


def test_ignore_unsupported_features_sends_without_them(settings):
    declare(
        settings,
        ignore_unsupported=True,
        tags="no",
        metadata="no",
        attachments="no",
        spoofed_to="no",
    )
    msg = message(tags=["one"], metadata={"k": "v"}, headers={"To": "shown@example.com"})
    msg.attach("file.txt", "content", "text/plain")
    assert msg.send() == 1
    params = msg.anymail_send_params
    for dropped in ("tags", "metadata", "attachments", "spoofed_to"):
        assert dropped not in params
    assert params["to"] == ["to@example.com"]


@pytest.mark.parametrize(
    ("feature", "attribute", "value", "first"),
    [
        ("tags", "tags", ["first", "second"], ["first"]),
        ("reply_to", "reply_to", ["r1@example.com", "r2@example.com"], ["r1@example.com"]),
    ],
)
def test_at_most_one(settings, feature, attribute, value, first):
    declare(settings, **{feature: "max_one"})
    one = message(**{attribute: value[:1]})
    one.send()
    assert one.anymail_send_params[attribute] == first

    several = message(**{attribute: value})
    with pytest.raises(AnymailUnsupportedFeature, match="allows only one") as excinfo:
        several.send()
    assert excinfo.value.feature == feature
    assert "(2 given)" in str(excinfo.value)

    # "at most one tag" sends the first under IGNORE_UNSUPPORTED_FEATURES.
    declare(settings, ignore_unsupported=True, **{feature: "max_one"})
    get_connection().send_messages([several])
    assert several.anymail_send_params[attribute] == first


def test_one_from_address_is_always_fine(settings):
    """from_email=MAX_ONE: a single From can't be refused, several can."""
    declare(settings, from_email="max_one")
    one = AnymailMessage(
        subject="s", body="b", from_email="Only <only@example.com>", to=["t@example.com"]
    )
    one.send()
    assert one.anymail_send_params["from_email"] == "Only <only@example.com>"

    several = AnymailMessage(
        subject="s", body="b", from_email="a@example.com, b@example.com", to=["t@example.com"]
    )
    with pytest.raises(AnymailUnsupportedFeature) as excinfo:
        several.send()
    assert excinfo.value.feature == "from_email"
    assert "does not support several From addresses" in str(excinfo.value)
    assert "allows only one From address (2 given)" in str(excinfo.value)
