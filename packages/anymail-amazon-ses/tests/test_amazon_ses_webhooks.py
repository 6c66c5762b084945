"""SNS signature verification, subscription confirmation and inbound S3, for real:
a locally generated signing key whose certificate is served over https."""

import json
import uuid
from pathlib import Path

import pytest

from anymail.conformance.amazon_ses import profile as profile_module_
from anymail.testing import SignalCapture

FIXTURES = Path(profile_module_.__file__).parent / "fixtures"
TRACKING = "/anymail/amazon_ses/tracking/"
INBOUND = "/anymail/amazon_ses/inbound/"
AUTH = {"Authorization": "Basic dXNlcjpwYXNz"}  # user:pass


def fixture_message(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())["request"]["json"]


def fresh(name):
    """A fixture's SNS message, published now (new MessageId, current Timestamp)."""
    return profile_module_.fresh(fixture_message(name))


def post(client, profile_module, message, url=TRACKING, body=None):
    request = profile_module.sns_request(message)
    with SignalCapture() as capture:
        response = client.post(
            url,
            request.body if body is None else body,
            content_type=request.content_type,
            headers={**AUTH, **request.headers},
        )
    return response, capture.events


@pytest.mark.parametrize("version", ["1", "2"])
def test_valid_signature(client, profile_module, sns_signer, webhook_secret, version):
    message = {**fresh("notification_delivery"), "SignatureVersion": version}
    response, events = post(client, profile_module, sns_signer.sign(message))
    assert response.status_code == 200
    assert [event.event_type for event in events] == ["delivered"]


def test_certificate_is_cached(client, profile_module, sns_signer, webhook_secret):
    before = sns_signer.fetches
    for _ in range(3):
        post(client, profile_module, sns_signer.sign(fresh("event_send")))
    assert sns_signer.fetches == before + 1


def test_tampered_body(client, profile_module, sns_signer, webhook_secret):
    signed = sns_signer.sign(fresh("event_send"))
    signed["Message"] = signed["Message"].replace("recipient@example.com", "evil@example.com")
    response, events = post(client, profile_module, signed)
    assert response.status_code == 400
    assert events == []


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.amazonaws.com/cert.pem",
        "https://user@127.0.0.1:{port}/SimpleNotificationService-conformance.pem",
        "http://127.0.0.1:{port}/SimpleNotificationService-conformance.pem",
    ],
)
def test_cert_url_refused(client, profile_module, sns_signer, webhook_secret, cert_url):
    signed = sns_signer.sign(fresh("event_send"), cert_url=cert_url.format(port=sns_signer.port))
    before = sns_signer.fetches
    response, events = post(client, profile_module, signed)
    assert response.status_code == 400
    assert events == []
    assert sns_signer.fetches == before


def test_default_hosts_are_sns_only():
    from anymail.webhooks.amazon_ses import SNSMessageVerifier

    verifier = SNSMessageVerifier()
    verifier.check_cert_url("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem")
    verifier.check_cert_url(
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem"
    )
    from anymail.exceptions import AnymailWebhookValidationFailure

    for bad in [
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://s3.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com.attacker.net/x.pem",
        "http://sns.us-east-1.amazonaws.com/x.pem",
    ]:
        with pytest.raises(AnymailWebhookValidationFailure):
            verifier.check_cert_url(bad)


def test_topic_allow_list(client, profile_module, sns_signer, webhook_secret, settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "AMAZON_SES_SNS_TOPIC_ARNS": ["arn:aws:sns:us-east-1:1:Other"],
    }
    response, events = post(client, profile_module, sns_signer.sign(fresh("event_send")))
    assert response.status_code == 400
    assert events == []
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "AMAZON_SES_SNS_TOPIC_ARNS": ["arn:aws:sns:us-west-2:123456789012:MyTopic"],
    }
    response, events = post(client, profile_module, sns_signer.sign(fresh("event_send")))
    assert response.status_code == 200


def test_topic_allow_list_of_one_topic(
    client, profile_module, sns_signer, webhook_secret, settings
):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "AMAZON_SES_SNS_TOPIC_ARNS": "arn:aws:sns:us-east-1:1:Other",
    }
    response, events = post(client, profile_module, sns_signer.sign(fresh("event_send")))
    assert response.status_code == 400
    assert events == []
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "AMAZON_SES_SNS_TOPIC_ARNS": "arn:aws:sns:us-west-2:123456789012:MyTopic",
    }
    response, events = post(client, profile_module, sns_signer.sign(fresh("event_send")))
    assert response.status_code == 200
    assert len(events) == 1


@pytest.mark.parametrize("value", [42, {"arn:aws:sns:us-west-2:123456789012:MyTopic"}, [1]])
def test_topic_allow_list_of_the_wrong_type(settings, value):
    """Neither a TopicArn nor a list of them: a configuration error naming the setting."""
    from anymail.exceptions import AnymailConfigurationError
    from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView

    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_TOPIC_ARNS": value}
    view = AmazonSESTrackingWebhookView()
    assert isinstance(view.configuration_error, AnymailConfigurationError)
    assert "AMAZON_SES_SNS_TOPIC_ARNS must be a TopicArn or a list" in str(view.configuration_error)


def test_verification_can_be_turned_off(client, profile_module, settings, webhook_secret):
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_SNS_VERIFY_SIGNATURES": False}
    response, events = post(client, profile_module, fresh("event_send"))
    assert response.status_code == 200
    assert len(events) == 1


def subscription(topic_arn):
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37-EXAMPLE-TOKEN",
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.",
        "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=x",
        "Timestamp": profile_module_.sns_timestamp(),
        "SignatureVersion": "1",
    }


def test_subscription_confirmed_in_topic_region(
    client, profile_module, sns_signer, webhook_secret, settings, profile, moto_ses
):
    topic_arn = moto_ses.client("sns", region="us-west-2").create_topic(Name="SES_Events")[
        "TopicArn"
    ]
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        **profile.backend_settings(moto_ses),
    }  # region us-east-1
    response, events = post(client, profile_module, sns_signer.sign(subscription(topic_arn)))
    assert response.status_code == 200
    assert events == []
    confirms = [r for r in moto_ses.requests if b"Action=ConfirmSubscription" in r.body]
    assert len(confirms) == 1
    assert "us-west-2" in confirms[0].headers["Authorization"]


def test_subscription_refused_without_auto_confirm(
    client, profile_module, sns_signer, webhook_secret, settings, caplog
):
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": False}
    message = sns_signer.sign(subscription("arn:aws:sns:us-west-2:123456789012:SES_Events"))
    response, _ = post(client, profile_module, message)
    assert response.status_code == 400
    assert "2336412f37-EXAMPLE-TOKEN" in caplog.text


def test_inbound_s3_action(
    client, profile_module, sns_signer, webhook_secret, settings, profile, moto_ses
):
    s3 = moto_ses.client("s3")
    s3.create_bucket(Bucket="inbound-bucket")
    raw = b"From: a@example.com\r\nTo: in@example.com\r\nSubject: Via S3\r\n\r\nHello from S3\r\n"
    s3.put_object(Bucket="inbound-bucket", Key="prefix/msgid123", Body=raw)
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(moto_ses)}
    message = fresh("inbound_sns_action")
    ses_event = json.loads(message["Message"])
    del ses_event["content"]
    ses_event["receipt"]["action"] = {
        "type": "S3", "topicArn": message["TopicArn"], "bucketName": "inbound-bucket",
        "objectKeyPrefix": "prefix", "objectKey": "prefix/msgid123",
    }  # fmt: skip
    ses_event["receipt"]["spamVerdict"] = {"status": "FAIL"}
    message["Message"] = json.dumps(ses_event)
    response, events = post(client, profile_module, sns_signer.sign(message), url=INBOUND)
    assert response.status_code == 200
    (event,) = events
    assert event.message.subject == "Via S3"
    assert event.message.spam_detected is True
    assert event.event_id == "d6iitobk75ur44p8kdnnp7g2n800"


def test_inbound_encrypted_s3_is_a_clear_error(
    client, profile_module, sns_signer, webhook_secret, caplog
):
    message = fresh("inbound_sns_action")
    ses_event = json.loads(message["Message"])
    ses_event["receipt"]["action"] = {
        "type": "S3", "bucketName": "b", "objectKey": "k",
        "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:alias/aws/ses",
    }  # fmt: skip
    message["Message"] = json.dumps(ses_event)
    response, events = post(client, profile_module, sns_signer.sign(message), url=INBOUND)
    # a limit of ours, not a wrong request: logged, and answered so SNS retries
    # (the message stays in the bucket either way)
    assert response.status_code == 503
    assert response["Retry-After"]
    assert events == []
    assert "Encrypt message" in caplog.text


# --- issue #24: which failures SNS should retry (5xx) and which are final (4xx) ---


def s3_message(bucket, key):
    message = fresh("inbound_sns_action")
    ses_event = json.loads(message["Message"])
    del ses_event["content"]
    ses_event["receipt"]["action"] = {"type": "S3", "bucketName": bucket, "objectKey": key}
    message["Message"] = json.dumps(ses_event)
    return message


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("inbound-bucket", "no-such-key"),  # S3: NoSuchKey (404)
        ("no-such-bucket", "key"),  # S3: NoSuchBucket (404)
        ("not a bucket name!", "key"),  # botocore refuses it before sending
        ("inbound-bucket", "\ud800"),  # a key that can't be encoded
    ],
)
def test_inbound_s3_object_that_cannot_exist_is_400(
    client, profile_module, sns_signer, webhook_secret, settings, profile, moto_ses, bucket, key
):
    """A (signed) notification naming an S3 object that isn't there: SNS's
    redelivery would name the same object, so the answer is final."""
    moto_ses.client("s3").create_bucket(Bucket="inbound-bucket")
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(moto_ses)}
    message = sns_signer.sign(s3_message(bucket, key))
    response, events = post(client, profile_module, message, url=INBOUND)
    assert response.status_code == 400, response.content
    assert events == []


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "AccessDenied"), (500, "InternalError"), (503, "SlowDown")],
)
def test_inbound_s3_fetch_failure_is_retried(
    client, profile_module, sns_signer, webhook_secret, settings, profile, status, code
):
    """S3 refusing us (an IAM policy without s3:GetObject), throttling or failing:
    a fault on our side or AWS's, so SNS gets the answer it retries."""
    from anymail_conformance import FakeResponse

    error = f"<Error><Code>{code}</Code><Message>{code}</Message><RequestId>1</RequestId></Error>"
    s3 = profile_module.MotoSES(
        lambda request: FakeResponse(status, error.encode(), {"Content-Type": "application/xml"})
    ).start()
    try:
        params = {**profile.client_params(s3.url), "config": {"retries": {"max_attempts": 1}}}
        settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_CLIENT_PARAMS": params}
        message = sns_signer.sign(s3_message("inbound-bucket", "key"))
        response, events = post(client, profile_module, message, url=INBOUND)
    finally:
        s3.stop()
    assert response.status_code == 503
    assert events == []
    assert any(r.method == "GET" and r.path.endswith("/key") for r in s3.requests)


@pytest.mark.parametrize(
    "change",
    [
        {"notificationType": "Frobnicated"},
        {"notificationType": None},
        {"notificationType": 42},
    ],
)
def test_inbound_notification_of_no_known_type_is_400(
    client, profile_module, sns_signer, webhook_secret, change
):
    message = fresh("inbound_sns_action")
    ses_event = {**json.loads(message["Message"]), **change}
    message["Message"] = json.dumps(ses_event)
    response, events = post(client, profile_module, sns_signer.sign(message), url=INBOUND)
    assert response.status_code == 400
    assert events == []


@pytest.mark.parametrize("action_type", ["Frobnicate", 42, None])
def test_inbound_action_of_no_known_type_is_400(
    client, profile_module, sns_signer, webhook_secret, action_type
):
    message = fresh("inbound_sns_action")
    ses_event = json.loads(message["Message"])
    ses_event["receipt"]["action"]["type"] = action_type
    message["Message"] = json.dumps(ses_event)
    response, events = post(client, profile_module, sns_signer.sign(message), url=INBOUND)
    assert response.status_code == 400
    assert events == []


@pytest.mark.parametrize(
    ("url", "fixture", "hint"),
    [
        (INBOUND, "event_send", "subscribe the tracking webhook"),
        (INBOUND, "notification_bounce", "subscribe the tracking webhook"),
        (TRACKING, "inbound_sns_action", "subscribe the inbound webhook"),
    ],
)
def test_notification_for_the_other_webhook_is_a_setup_error(
    client, profile_module, sns_signer, webhook_secret, caplog, url, fixture, hint
):
    """A genuine SES notification on the wrong webhook (the topic is subscribed to
    the wrong URL): logged with what to change, and answered so SNS retries."""
    response, events = post(client, profile_module, sns_signer.sign(fresh(fixture)), url=url)
    assert response.status_code == 503
    assert events == []
    assert hint in caplog.text


@pytest.mark.parametrize("action_type", ["Lambda", "Bounce", "WorkMail", "Stop"])
def test_inbound_action_without_the_message_is_a_setup_error(
    client, profile_module, sns_signer, webhook_secret, caplog, action_type
):
    """SES's other receipt actions publish notifications without the message."""
    message = fresh("inbound_sns_action")
    ses_event = json.loads(message["Message"])
    ses_event["receipt"]["action"] = {"type": action_type}
    del ses_event["content"]
    message["Message"] = json.dumps(ses_event)
    response, events = post(client, profile_module, sns_signer.sign(message), url=INBOUND)
    assert response.status_code == 503
    assert events == []
    assert "SNS and S3 actions" in caplog.text


@pytest.mark.parametrize(
    ("topic", "status"),
    [
        ("arn:aws:sns:us-west-2:123456789012:NoSuchTopic", 400),  # SNS: NotFound
        ("arn:aws:sns:not a region:123456789012:SES_Events", 400),
    ],
)
def test_subscription_that_cannot_be_confirmed_is_400(
    client, profile_module, sns_signer, webhook_secret, settings, profile, moto_ses, topic, status
):
    settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(moto_ses)}
    response, _ = post(client, profile_module, sns_signer.sign(subscription(topic)))
    assert response.status_code == status


def test_subscription_confirmation_failing_on_our_side_is_retried(
    client, profile_module, sns_signer, webhook_secret, settings, profile
):
    """SNS refusing our ConfirmSubscription (no sns:ConfirmSubscription permission) or
    failing: SNS redelivers the SubscriptionConfirmation when we answer 5xx."""
    from anymail_conformance import FakeResponse

    error = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code>"
        "<Message>not authorized</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
    sns = profile_module.MotoSES(
        lambda request: FakeResponse(403, error.encode(), {"Content-Type": "text/xml"})
    ).start()
    try:
        settings.ANYMAIL = {**settings.ANYMAIL, **profile.backend_settings(sns)}
        topic = "arn:aws:sns:us-west-2:123456789012:SES_Events"
        response, _ = post(client, profile_module, sns_signer.sign(subscription(topic)))
    finally:
        sns.stop()
    assert response.status_code == 503
    assert any(b"Action=ConfirmSubscription" in r.body for r in sns.requests)
