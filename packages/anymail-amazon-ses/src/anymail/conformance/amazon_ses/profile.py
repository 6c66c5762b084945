"""Amazon SES conformance profile: moto's server mode behind a recording proxy.

The backend talks real HTTP to a FakeESPServer on 127.0.0.1 (which counts TCP
connections and records each request); the proxy forwards every request to moto's
ThreadedMotoServer, except in the error scenarios moto can't play (5xx, a malformed
body). SNS webhook fixtures are re-signed with a locally generated key whose
certificate is served over https from 127.0.0.1.

Both SES APIs are served: v1 (the query API: SendRawEmail, SendBulkTemplatedEmail)
and v2 (REST JSON under /v2/email/). moto implements v2's SendEmail with raw content
but not its template sends (SendEmail with Content.Template raises
NotImplementedError in moto 5.2; SendBulkEmail has no route): the proxy plays those
two through moto's v1 equivalents (SendTemplatedEmail, SendBulkTemplatedEmail), so
moto's own checks (a verified sender, an existing template, the recipient limits)
still decide the answer, given back in v2's shape.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import http.client
import json
import re
import ssl
import tempfile
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from anymail_conformance import (
    FakeESPServer,
    FakeResponse,
    Profile,
    RecordedRequest,
    SentAttachment,
    SentMessage,
    WebhookRequest,
)
from anymail_conformance.cases import use_template
from anymail_conformance.profile import SLOW_SECONDS, address_list

__all__ = ["PROFILE", "AmazonSESProfile", "MotoSES", "SNSSigner", "signer"]

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
#: Domains verified in moto, so any sender at them is accepted
VERIFIED_DOMAINS = ("example.com", "example.org", "example.net")
SEND_ACTIONS = ("SendRawEmail", "SendBulkTemplatedEmail", "SendEmail", "SendBulkEmail")
#: SES API v2's send operations, by request path (POST)
V2_SEND_PATHS = {
    "/v2/email/outbound-emails": "SendEmail",
    "/v2/email/outbound-bulk-emails": "SendBulkEmail",
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


class MotoSES:
    """moto's server on 127.0.0.1, fronted by a counting, recording FakeESPServer."""

    def __init__(self, respond: Any) -> None:
        from moto.server import ThreadedMotoServer

        self.moto = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
        self.proxy = FakeESPServer(respond)

    def start(self) -> MotoSES:
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.proxy.start()
        self.verify_identities()
        # the stored template the conformance cases send with (moto's state is
        # per process, so it may exist from an earlier server)
        client = self.client()
        with contextlib.suppress(client.exceptions.AlreadyExistsException):
            client.create_template(
                Template={
                    "TemplateName": "conformance-template",
                    "SubjectPart": "Hello {{name}}",
                    "TextPart": "Hello {{name}} from {{site}}",
                    "HtmlPart": "<p>Hello {{name}} from {{site}}</p>",
                }
            )
        return self

    def stop(self) -> None:
        self.proxy.stop()
        self.moto.stop()

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def connection_count(self) -> int:
        return self.proxy.connection_count

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.proxy.requests

    def client(self, service: str = "ses", region: str = REGION) -> Any:
        """A boto3 client talking to moto directly (for test setup, not recorded)."""
        import boto3

        return boto3.client(service, endpoint_url=self.moto_url, region_name=region, **CREDENTIALS)

    def verify_identities(self) -> None:
        client = self.client()
        for domain in VERIFIED_DOMAINS:
            client.verify_domain_identity(Domain=domain)

    def unverify_identities(self) -> None:
        client = self.client()
        for domain in VERIFIED_DOMAINS:
            client.delete_identity(Identity=domain)

    def answer(self, request: RecordedRequest) -> FakeResponse:
        """moto's answer to a request, with SES v2's template sends (which moto
        doesn't implement) played through moto's v1 template calls."""
        action = v2_action(request)
        if action == "SendBulkEmail" or (
            action == "SendEmail" and "Template" in (request.json().get("Content") or {})
        ):
            return self.v2_template_send(action, request.json())
        return self.forward(request)

    def v2_template_send(self, action: str, params: dict[str, Any]) -> FakeResponse:
        """SES v2 SendEmail (Content.Template) or SendBulkEmail, sent with moto's
        SendTemplatedEmail or SendBulkTemplatedEmail; the answer in v2's shape."""
        from botocore.exceptions import ClientError, ParamValidationError

        common: dict[str, Any] = {"Source": params.get("FromEmailAddress")}
        for v2_name, v1_name in (
            ("ReplyToAddresses", "ReplyToAddresses"),
            ("FeedbackForwardingEmailAddress", "ReturnPath"),
            ("ConfigurationSetName", "ConfigurationSetName"),
        ):
            if v2_name in params:
                common[v1_name] = params[v2_name]
        client = self.client()
        try:
            if action == "SendEmail":
                template = params["Content"]["Template"]
                response = client.send_templated_email(
                    **common,
                    Destination=params.get("Destination") or {},
                    Template=template.get("TemplateName"),
                    TemplateData=template.get("TemplateData") or "{}",
                    **({"Tags": params["EmailTags"]} if params.get("EmailTags") else {}),
                )
                return FakeResponse.json({"MessageId": response["MessageId"]})
            template = (params.get("DefaultContent") or {}).get("Template") or {}
            destinations = []
            for entry in params.get("BulkEmailEntries") or []:
                destination: dict[str, Any] = {"Destination": entry.get("Destination") or {}}
                replacement = (entry.get("ReplacementEmailContent") or {}).get(
                    "ReplacementTemplate"
                ) or {}
                if "ReplacementTemplateData" in replacement:
                    destination["ReplacementTemplateData"] = replacement["ReplacementTemplateData"]
                if entry.get("ReplacementTags"):
                    destination["ReplacementTags"] = entry["ReplacementTags"]
                destinations.append(destination)
            response = client.send_bulk_templated_email(
                **common,
                Template=template.get("TemplateName"),
                DefaultTemplateData=template.get("TemplateData") or "{}",
                Destinations=destinations,
                **(
                    {"DefaultTags": params["DefaultEmailTags"]}
                    if "DefaultEmailTags" in params
                    else {}
                ),
            )
            results = [
                {"Status": _V2_BULK_STATUS.get(status.get("Status", "Success"), "FAILED"),
                 "MessageId": status.get("MessageId")}
                for status in response["Status"]
            ]  # fmt: skip
            return FakeResponse.json({"BulkEmailEntryResults": results})
        except ClientError as err:
            error = err.response.get("Error", {})
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400
            return _ses_v2_error(
                status, error.get("Code", "BadRequestException"), error.get("Message", "")
            )
        except ParamValidationError as err:  # what SES v2 would refuse as a bad request
            return _ses_v2_error(400, "BadRequestException", str(err))

    def forward(self, request: RecordedRequest) -> FakeResponse:
        """Relay a recorded request to moto and its answer back."""
        connection = http.client.HTTPConnection(*self.moto.get_host_and_port(), timeout=30)
        try:
            path = request.path
            if request.query:
                path += "?" + urllib.parse.urlencode(request.query, doseq=True)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(request.method, path, body=request.body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            headers = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return FakeResponse(status=response.status, body=body, headers=headers)
        finally:
            connection.close()


#: moto's v1 SendBulkTemplatedEmail statuses (it leaves Status out when it accepted)
#: as SES v2 BulkEmailEntryResult statuses
_V2_BULK_STATUS = {
    "Success": "SUCCESS",
    "MessageRejected": "MESSAGE_REJECTED",
    "MailFromDomainNotVerified": "MAIL_FROM_DOMAIN_NOT_VERIFIED",
    "TemplateDoesNotExist": "TEMPLATE_NOT_FOUND",
}


def v2_action(request: RecordedRequest) -> str | None:
    """The SES v2 operation ("SendEmail", "SendBulkEmail") a request calls, else None."""
    if request.method != "POST":
        return None
    return V2_SEND_PATHS.get(request.path)


def _ses_v2_error(status: int, code: str, message: str) -> FakeResponse:
    """An SES v2 (REST JSON) error answer: botocore reads the code from
    x-amzn-ErrorType."""
    return FakeResponse.json(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": code}
    )


def _ses_error(status: int, code: str, message: str) -> FakeResponse:
    body = (
        '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
        f"<Error><Type>{'Sender' if status < 500 else 'Receiver'}</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>conformance</RequestId></ErrorResponse>"
    )
    return FakeResponse(status=status, body=body, headers={"Content-Type": "text/xml"})


def query_params(body: bytes) -> dict[str, Any]:
    """An AWS query-protocol form body as nested params ("Tags.member.1.Name" -> lists)."""
    root: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if set(node) == {"member"} and isinstance(node["member"], dict):
            members = node["member"]
            return [listify(members[index]) for index in sorted(members, key=int)]
        return {key: listify(value) for key, value in node.items()}

    return listify(root)


# --------------------------------------------------------------------- SNS signing


class SNSSigner:
    """A local stand-in for SNS's signing: an RSA key, its self-signed certificate
    served over https from 127.0.0.1, and SNS's string-to-sign."""

    cert_path = "/SimpleNotificationService-conformance.pem"

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        import ipaddress

        public_key = self.key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self.directory = tempfile.TemporaryDirectory(prefix="anymail-sns-")
        self.ca_file = str(Path(self.directory.name) / "cert.pem")
        key_file = str(Path(self.directory.name) / "key.pem")
        Path(self.ca_file).write_bytes(self.cert_pem)
        Path(key_file).write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.fetches = 0
        signer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == signer.cert_path:
                    signer.fetches += 1
                    status, body = 200, signer.cert_pem
                else:
                    status, body = 404, b"not found"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    @property
    def cert_url(self) -> str:
        return f"https://127.0.0.1:{self.port}{self.cert_path}"

    def settings(self) -> dict[str, Any]:
        """ANYMAIL settings that trust this signer (and only this host) for SNS."""
        return {
            "AMAZON_SES_SNS_CERT_HOST_PATTERN": r"127\.0\.0\.1:\d+",
            "AMAZON_SES_SNS_CERT_VERIFY": self.ca_file,
        }

    @staticmethod
    def string_to_sign(message: dict[str, Any]) -> bytes:
        # Written out independently of the webhook's SNSMessageVerifier on purpose:
        # reusing it would let a wrong field list sign and verify consistently.
        # SNS signs these fields (those the message has) in the byte order of their names.
        names = {"Message", "MessageId", "Timestamp", "TopicArn", "Type"}
        names |= {"Subject"} if message["Type"] == "Notification" else {"SubscribeURL", "Token"}
        text = "".join(f"{name}\n{message[name]}\n" for name in sorted(names) if name in message)
        return text.encode("utf-8")

    def sign(self, message: dict[str, Any], cert_url: str | None = None) -> dict[str, Any]:
        """A copy of the SNS message, signed (with its SignatureVersion, default 1)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signed = dict(message)
        signed.setdefault("SignatureVersion", "1")
        signed["SigningCertURL"] = cert_url or self.cert_url
        algorithm = hashes.SHA256() if signed["SignatureVersion"] == "2" else hashes.SHA1()  # noqa: S303 (SNS v1)
        signature = self.key.sign(self.string_to_sign(signed), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode("ascii")
        return signed


_signer: SNSSigner | None = None
_signer_lock = threading.Lock()


def signer() -> SNSSigner:
    """The process's one test signer (its https certificate server starts on first use)."""
    global _signer
    with _signer_lock:
        if _signer is None:
            _signer = SNSSigner()
        return _signer


def sns_request(message: dict[str, Any], subscription_arn: str | None = None) -> WebhookRequest:
    """An SNS HTTPS POST as SNS makes it: text/plain JSON and x-amz-sns-* headers
    (x-amz-sns-subscription-arn on notifications and unsubscribe confirmations)."""
    headers = {"x-amz-sns-message-type": str(message.get("Type", ""))}
    if "MessageId" in message:
        headers["x-amz-sns-message-id"] = str(message["MessageId"])
    if "TopicArn" in message:
        headers["x-amz-sns-topic-arn"] = str(message["TopicArn"])
    if subscription_arn:
        headers["x-amz-sns-subscription-arn"] = subscription_arn
    body = json.dumps(message).encode("utf-8")
    return WebhookRequest(body, "text/plain; charset=UTF-8", headers)


def sns_timestamp(when: dt.datetime | None = None) -> str:
    """An SNS Timestamp ("2012-04-26T20:45:04.751Z"), by default now."""
    when = when or dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def fresh(message: dict[str, Any]) -> dict[str, Any]:
    """A copy of an SNS message as SNS would publish it now: a new MessageId (a
    UUID) and the current Timestamp. (The webhook refuses a MessageId it has seen
    and a Timestamp older than AMAZON_SES_SNS_MAX_AGE.)"""
    return {**message, "MessageId": str(uuid.uuid4()), "Timestamp": sns_timestamp()}


# --------------------------------------------------------------------- AWS for webhooks

_webhook_aws: MotoSES | None = None
_webhook_aws_lock = threading.Lock()


def webhook_aws() -> MotoSES:
    """The process's moto server for what the webhooks call (SNS ConfirmSubscription,
    S3 GetObject for the receipt rule S3 action), started on first use."""
    global _webhook_aws
    with _webhook_aws_lock:
        if _webhook_aws is None:
            _webhook_aws = MotoSES(lambda request: _webhook_aws.forward(request)).start()  # type: ignore[union-attr]
        return _webhook_aws


def prepare_aws(request: dict[str, Any]) -> None:
    """Put in moto what a fixture's webhook will look for: the S3 object of an S3
    action (``request["s3_object"]``), the topic of a subscription confirmation."""
    aws = webhook_aws()
    s3_object = request.get("s3_object")
    if s3_object:
        s3 = aws.client("s3")
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=s3_object["bucket"])
        s3.put_object(
            Bucket=s3_object["bucket"], Key=s3_object["key"], Body=s3_object["content"].encode()
        )
    message = request.get("json") or {}
    if message.get("Type") == "SubscriptionConfirmation":
        _, _, _, region, _, name = str(message["TopicArn"]).split(":")
        aws.client("sns", region=region).create_topic(Name=name)


# --------------------------------------------------------------------- the profile


class AmazonSESProfile(Profile):
    esp_id = "amazon_ses"
    accepted_status = "queued"
    reports_rejections = False
    from_email = "Sender <sender@example.com>"
    per_recipient_message_ids = False
    esp_extra_example: ClassVar[dict[str, Any]] = {
        "ConfigurationSetName": "ConformanceConfigSet",
        "EmailTags": [{"Name": "Conformance", "Value": "esp-extra"}],
    }

    def check_esp_extra(self, sent: SentMessage) -> None:
        assert sent.raw["ConfigurationSetName"] == "ConformanceConfigSet", sent.raw
        # the v2 backend's name (v1's SendRawEmail calls them Tags)
        tags = sent.raw.get("EmailTags", sent.raw.get("Tags", []))
        assert {"Name": "Conformance", "Value": "esp-extra"} in tags, sent.raw

    def adapt_message(self, message: Any, feature: str) -> None:
        # SES sends merge data only through a stored template (SendBulkTemplatedEmail).
        if feature in ("merge_data", "merge_global_data"):
            use_template(message)

    @contextmanager
    def server(self) -> Iterator[MotoSES]:
        self.scenario = "success"
        moto = MotoSES(lambda request: self.respond(request, self.scenario))
        self.moto = moto.start()
        try:
            yield moto
        finally:
            moto.stop()

    def set_scenario(self, server: Any, scenario: str) -> None:
        if scenario == "client_error" and self.scenario != "client_error":
            server.unverify_identities()  # moto itself answers 400 MessageRejected
        elif scenario != "client_error" and self.scenario == "client_error":
            server.verify_identities()
        self.scenario = scenario

    def respond(self, request: RecordedRequest, scenario: str) -> FakeResponse:
        v2 = v2_action(request) is not None
        if scenario == "server_error":
            if v2:
                return _ses_v2_error(500, "InternalFailure", "The request processing has failed.")
            return _ses_error(500, "InternalFailure", "The request processing has failed.")
        if scenario == "slow":
            response = self.moto.answer(request)
            response.delay = SLOW_SECONDS
            return response
        if scenario == "malformed":
            if v2_action(request) == "SendBulkEmail":
                # well-formed JSON, but a result for none of the entries
                return FakeResponse.json({"BulkEmailEntryResults": []})
            if v2:
                return FakeResponse(
                    200, b'{"MessageId": "unclosed', {"Content-Type": "application/json"}
                )
            if query_params(request.body).get("Action") == "SendBulkTemplatedEmail":
                # well-formed XML, but a status for none of the destinations
                return FakeResponse(200, _v1_bulk_response(""), {"Content-Type": "text/xml"})
            return FakeResponse(
                200, b"<SendRawEmailResponse><unclosed", {"Content-Type": "text/xml"}
            )
        response = self.moto.answer(request)
        if scenario in ("partial_rejection", "all_rejected") and response.status == 200:
            # SES reports no rejection for a single message at send time; a batch
            # send (merge_data) has a status per destination: here SES's "message
            # rejected" for every destination but the first (or for all of them).
            return reject_destinations(
                request, response, keep_first=scenario == "partial_rejection"
            )
        # success, client_error (identities unverified): whatever moto says
        return response

    def client_params(self, endpoint_url: str) -> dict[str, Any]:
        return {
            "endpoint_url": endpoint_url,
            "region_name": REGION,
            **CREDENTIALS,
            # One attempt, so error scenarios aren't retried with backoff
            "config": {"retries": {"mode": "standard", "max_attempts": 1}, "connect_timeout": 5},
        }

    def timeout_settings(self) -> dict[str, Any]:
        params = dict(self.client_params(self.moto.url))
        params["config"] = {**params["config"], "read_timeout": 0.5}
        return {"AMAZON_SES_CLIENT_PARAMS": params}

    def backend_settings(self, server: Any) -> dict[str, Any]:
        return {"AMAZON_SES_CLIENT_PARAMS": self.client_params(server.url)}

    def send_requests(self, server: Any) -> list[dict[str, Any]]:
        """The send calls' parameters, in order: v1's form params, or v2's JSON
        body with the operation added as "Action" (v1's own key)."""
        requests = []
        for request in server.requests:
            action = v2_action(request)
            if action is not None:
                requests.append({"Action": action, **request.json()})
                continue
            params = query_params(request.body) if request.body else {}
            if params.get("Action") in SEND_ACTIONS:
                requests.append(params)
        return requests

    def request_count(self, server: Any) -> int:
        return len(self.send_requests(server))

    def sent_messages(self, server: Any) -> list[SentMessage]:
        messages = []
        for params in self.send_requests(server):
            if params["Action"] == "SendRawEmail":
                messages.append(raw_sent_message(params))
            elif params["Action"] == "SendBulkTemplatedEmail":
                messages.append(templated_sent_message(params))
            elif "Raw" in (params.get("Content") or {}):
                messages.append(v2_raw_sent_message(params))
            else:
                messages.append(v2_templated_sent_message(params))
        return messages

    # --- webhooks ---

    def webhook_settings(self) -> dict[str, Any]:
        return {
            **signer().settings(),
            "AMAZON_SES_CLIENT_PARAMS": self.client_params(webhook_aws().url),
        }

    def prepare_webhook(self, request: dict[str, Any]) -> WebhookRequest:
        """Publish the fixture's SNS message afresh (new MessageId, current Timestamp)
        and sign it with the local signer; put what it refers to in moto."""
        request = copy.deepcopy(request)
        prepare_aws(request)
        subscription_arn = (request.get("headers") or {}).get("x-amz-sns-subscription-arn")
        return sns_request(signer().sign(fresh(request["json"])), subscription_arn)

    def tamper(self, request: WebhookRequest) -> WebhookRequest:
        message = json.loads(request.body)
        message["Message"] = message["Message"].replace("a", "e", 1) + " "
        return WebhookRequest(json.dumps(message).encode(), request.content_type, request.headers)


# --------------------------------------------------------------------- reading back


_STANDARD_HEADERS = {
    "from", "to", "cc", "reply-to", "subject", "date", "message-id", "mime-version",
    "content-type", "content-transfer-encoding", "x-metadata", "x-tag",
}  # fmt: skip


def _body(content: str) -> str:
    """A body part's text as the message had it: Django 6.0+ (email.policy.default)
    ends every text part with a line break, which the body itself didn't have."""
    return content[:-2] if content.endswith("\r\n") else content.removesuffix("\n")


def raw_sent_message(params: dict[str, Any]) -> SentMessage:
    """A v1 SendRawEmail call as a SentMessage."""
    return _raw_sent_message(
        params,
        raw=base64.b64decode(params["RawMessage"]["Data"]),
        destinations=list(params.get("Destinations") or []),
        envelope_sender=params.get("Source"),
    )


def v2_raw_sent_message(params: dict[str, Any]) -> SentMessage:
    """A v2 SendEmail call with Content.Raw as a SentMessage."""
    destination = params.get("Destination") or {}
    return _raw_sent_message(
        params,
        raw=base64.b64decode(params["Content"]["Raw"]["Data"]),
        destinations=[
            *(destination.get("ToAddresses") or []),
            *(destination.get("CcAddresses") or []),
            *(destination.get("BccAddresses") or []),
        ],
        envelope_sender=params.get("FeedbackForwardingEmailAddress"),
    )


def _raw_sent_message(
    params: dict[str, Any], raw: bytes, destinations: list[str], envelope_sender: str | None
) -> SentMessage:
    from anymail.addresses import addr_spec_of

    message = BytesParser(policy=policy.default).parsebytes(raw)
    to = address_list(message["To"])
    cc = address_list(message["Cc"])
    header_specs = {addr_spec_of(address) for address in [*to, *cc]}
    sent = SentMessage(
        from_email=address_list(message["From"]),
        cc=cc,
        reply_to=address_list(message["Reply-To"]),
        subject=str(message["Subject"]) if message["Subject"] is not None else None,
        envelope_sender=envelope_sender,
        raw=params,
    )
    if all(addr_spec_of(address) in destinations for address in to):
        sent.to = to
        sent.bcc = [d for d in destinations if d not in header_specs]
    else:  # the To header was spoofed
        sent.spoofed_to = to
        cc_specs = {addr_spec_of(address) for address in cc}
        sent.to = [d for d in destinations if d not in cc_specs]
    sent.headers = {
        name: str(value) for name, value in message.items() if name.lower() not in _STANDARD_HEADERS
    }
    if message["X-Metadata"] is not None:
        sent.metadata = json.loads(str(message["X-Metadata"]))
    sent.tags = [str(value) for value in message.get_all("X-Tag") or ()]
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        if disposition == "attachment" or (
            disposition == "inline" and part["Content-ID"] is None and part.get_filename()
        ):
            sent.attachments.append(
                SentAttachment(part.get_filename(), part.get_payload(decode=True), content_type)
            )
        elif disposition == "inline" or part["Content-ID"] is not None:
            cid = str(part["Content-ID"] or "").strip().removeprefix("<").removesuffix(">")
            sent.inline_images.append(
                SentAttachment(
                    part.get_filename(), part.get_payload(decode=True), content_type, cid or None
                )
            )
        elif content_type == "text/plain" and sent.text is None:
            sent.text = _body(part.get_content())
        elif content_type == "text/html" and sent.html is None:
            sent.html = _body(part.get_content())
        else:
            content = part.get_content()
            sent.alternatives.append(
                (content if isinstance(content, str) else content.decode(), content_type)
            )
    return sent


def templated_sent_message(params: dict[str, Any]) -> SentMessage:
    from anymail.addresses import addr_spec_of

    destinations = params.get("Destinations") or []
    batch = any("ReplacementTemplateData" in d for d in destinations)
    sent = SentMessage(
        from_email=[params["Source"]],
        reply_to=list(params.get("ReplyToAddresses") or []),
        envelope_sender=params.get("ReturnPath"),
        template_id=params.get("Template"),
        raw=params,
    )
    for destination in destinations:
        addresses = destination.get("Destination") or {}
        sent.to += list(addresses.get("ToAddresses") or [])
        sent.cc += list(addresses.get("CcAddresses") or [])
        sent.bcc += list(addresses.get("BccAddresses") or [])
    default_data = json.loads(params.get("DefaultTemplateData") or "{}")
    sent.merge_global_data = default_data or None
    if batch:
        sent.merge_data = {
            addr_spec_of(d["Destination"]["ToAddresses"][0]): json.loads(
                d.get("ReplacementTemplateData") or "{}"
            )
            for d in destinations
        }
    # SendBulkTemplatedEmail's Message Tags are DefaultTags (it has no "Tags")
    sent.tags = [tag["Value"] for tag in params.get("DefaultTags") or ()]
    return sent


def v2_templated_sent_message(params: dict[str, Any]) -> SentMessage:
    """A v2 SendEmail (Content.Template) or SendBulkEmail call as a SentMessage."""
    from anymail.addresses import addr_spec_of

    bulk = params["Action"] == "SendBulkEmail"
    content = params.get("DefaultContent" if bulk else "Content") or {}
    template = content.get("Template") or {}
    sent = SentMessage(
        from_email=[params["FromEmailAddress"]],
        reply_to=list(params.get("ReplyToAddresses") or []),
        envelope_sender=params.get("FeedbackForwardingEmailAddress"),
        template_id=template.get("TemplateName"),
        raw=params,
    )
    sent.merge_global_data = json.loads(template.get("TemplateData") or "{}") or None
    entries = params.get("BulkEmailEntries") or [] if bulk else [params]
    for entry in entries:
        addresses = entry.get("Destination") or {}
        sent.to += list(addresses.get("ToAddresses") or [])
        sent.cc += list(addresses.get("CcAddresses") or [])
        sent.bcc += list(addresses.get("BccAddresses") or [])
    if bulk:
        sent.merge_data = {
            addr_spec_of(entry["Destination"]["ToAddresses"][0]): json.loads(
                (entry.get("ReplacementEmailContent") or {})
                .get("ReplacementTemplate", {})
                .get("ReplacementTemplateData")
                or "{}"
            )
            for entry in entries
        }
        # the message's Message Tags are each entry's ReplacementTags
        tags = entries[0].get("ReplacementTags") if entries else None
    else:
        tags = params.get("EmailTags")
    sent.tags = [tag["Value"] for tag in tags or ()]
    return sent


def reject_destinations(
    request: RecordedRequest, response: FakeResponse, keep_first: bool
) -> FakeResponse:
    """A batch send's answer with SES's "message rejected" status for each of its
    destinations (but the first, with ``keep_first``); any other answer as it is."""
    if v2_action(request) == "SendBulkEmail":
        results = json.loads(response.body)["BulkEmailEntryResults"]
        for result in results[1 if keep_first else 0 :]:
            result.clear()
            result.update({"Status": "MESSAGE_REJECTED", "Error": "Message rejected (conformance)"})
        return FakeResponse.json({"BulkEmailEntryResults": results})
    params = query_params(request.body) if request.body else {}
    if params.get("Action") != "SendBulkTemplatedEmail":
        return response
    ids = re.findall(rb"<MessageId>([^<]*)</MessageId>", bytes(response.body))  # type: ignore[arg-type]
    members = "".join(
        f"<member><Status>Success</Status><MessageId>{message_id.decode()}</MessageId></member>"
        if keep_first and index == 0
        else "<member><Status>MessageRejected</Status><Error>Message rejected</Error></member>"
        for index, message_id in enumerate(ids)
    )
    return FakeResponse(200, _v1_bulk_response(members), {"Content-Type": "text/xml"})


def _v1_bulk_response(members: str) -> str:
    """A v1 SendBulkTemplatedEmail answer with these Status members."""
    return (
        '<SendBulkTemplatedEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
        f"<SendBulkTemplatedEmailResult><Status>{members}</Status></SendBulkTemplatedEmailResult>"
        "<ResponseMetadata><RequestId>conformance</RequestId></ResponseMetadata>"
        "</SendBulkTemplatedEmailResponse>"
    )


PROFILE = AmazonSESProfile()
