"""The webhook endpoints: a verified request is recorded (once), a request that fails
verification gets 400 or 401 and changes nothing, an unconfigured provider is not there."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import func, select

from service.bounces.models import BounceEvent
from service.bounces.webhooks import sign_generic
from service.db import utcnow
from service.subscribers.models import Subscriber
from tests.bounces.conftest import bounce_settings
from tests.bounces.ledger import deliveries, message_id, readers, sent_send
from tests.bounces.test_webhooks_sns import make_cert, string_to_sign
from tests.conftest import running_app

SECRET = "generic-webhook-secret"
MAILGUN_KEY = "key-mailgun-signing"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:newsletter-bounces"
# A URL of these tests' own: the view's certificate cache outlives a test.
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-views0123.pem"
SNS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


@pytest.fixture
def hooks(config):  # type: ignore[no-untyped-def]
    settings = replace(
        bounce_settings(config), webhook_secret=SECRET, mailgun_signing_key=MAILGUN_KEY,
        sendgrid_public_key=SENDGRID_PUBLIC, postmark_webhook_user="postmark",
        postmark_webhook_password="pm-password", ses_topic_arns=f" {TOPIC} ,")
    with running_app(settings) as app:
        now = utcnow()
        cert = make_cert(SNS_KEY, now - timedelta(days=1), now + timedelta(days=1))
        fetched: list[str] = []

        def fetch(url: str) -> bytes:
            fetched.append(url)
            if "unreachable" in url:
                raise OSError("connection timed out")
            return cert if url == CERT_URL else b"confirmed"

        app.extensions["bounces.fetch"] = fetch
        readers(app, 6)
        send_id = sent_send(app)
        yield app, app.test_client(), send_id, fetched


def _statuses(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return dict(session.execute(select(Subscriber.email, Subscriber.status)).all())


def _events(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalar(select(func.count()).select_from(BounceEvent)) or 0


def _generic(client, events: Any, *, secret: str = SECRET, at: int | None = None):  # type: ignore[no-untyped-def]
    body = json.dumps(events).encode()
    header = sign_generic(body, secret, at or int(time.time()))
    return client.post("/webhooks/generic", data=body, content_type="application/json",
                       headers={"X-Newsletter-Signature": header})


def test_generic_good_is_recorded_once_and_bad_changes_nothing(hooks) -> None:  # type: ignore[no-untyped-def]
    app, client, _send_id, _ = hooks
    event = {"id": "relay-1", "type": "bounce", "email": "r0@example.com", "status": "5.1.1",
             "diagnostic": "550 5.1.1 user unknown"}
    answer = _generic(client, event)
    assert answer.status_code == 200 and answer.json["recorded"] == 1
    assert _statuses(app)["r0@example.com"] == "bounced"
    # A retry, signed afresh, is taken and changes nothing.
    time.sleep(1.1)
    again = _generic(client, event)
    assert again.status_code == 200 and again.json == {"received": 1, "recorded": 0,
                                                       "duplicates": 1}
    before = _statuses(app)
    complaint = {"id": "relay-2", "type": "complaint", "email": "r1@example.com"}
    assert _generic(client, complaint, secret="wrong").status_code == 401
    assert _generic(client, complaint, at=int(time.time()) - 3600).status_code == 401
    body = json.dumps(complaint).encode()
    header = sign_generic(body, SECRET, int(time.time()))
    tampered = client.post("/webhooks/generic", data=body.replace(b"r1@", b"r2@"),
                           headers={"X-Newsletter-Signature": header})
    assert tampered.status_code == 401
    assert client.post("/webhooks/generic", data=body).status_code == 401
    assert _statuses(app) == before and _events(app) == 1


def _mailgun(event: dict, key: str = MAILGUN_KEY, token: str = "a" * 50) -> bytes:
    import hashlib
    import hmac

    stamp = str(int(time.time()))
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": stamp, "token": token, "signature": signature},
                       "event-data": event}).encode()


def test_mailgun_complaint_and_rejections(hooks) -> None:  # type: ignore[no-untyped-def]
    app, client, _send_id, _ = hooks
    event = {"event": "complained", "id": "mg-1", "recipient": "r1@example.com",
             "timestamp": time.time()}
    bad = _mailgun(event, key="not-the-key", token="b" * 50)
    assert client.post("/webhooks/mailgun", data=bad).status_code == 401
    assert _statuses(app)["r1@example.com"] == "confirmed"
    good = _mailgun(event)
    assert client.post("/webhooks/mailgun", data=good).status_code == 200
    assert _statuses(app)["r1@example.com"] == "complained"
    assert client.post("/webhooks/mailgun", data=good).status_code == 401  # a replay
    assert _events(app) == 1


def _sendgrid(client, events: list, key: Any = SENDGRID_KEY):  # type: ignore[no-untyped-def]
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return client.post("/webhooks/sendgrid", data=body, headers={
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp})


def test_sendgrid_bounce_and_a_foreign_signature(hooks) -> None:  # type: ignore[no-untyped-def]
    app, client, send_id, _ = hooks
    delivery_id = deliveries(app, send_id)["r2@example.com"]
    events = [{"event": "bounce", "sg_event_id": "sg-1", "email": "r2@example.com",
               "timestamp": int(time.time()), "type": "bounce", "status": "5.1.1",
               "reason": "550 5.1.1 The email account does not exist",
               "smtp-id": f"<{message_id(app, send_id, delivery_id)}>"}]
    other = ec.generate_private_key(ec.SECP256R1())
    assert _sendgrid(client, events, key=other).status_code == 401
    assert _events(app) == 0
    assert _sendgrid(client, events).status_code == 200
    with app.extensions["db"].session() as session:
        event = session.scalars(select(BounceEvent)).one()
        assert (event.source, event.matched_by, event.delivery_id) == (
            "sendgrid", "message-id", delivery_id)
    assert _statuses(app)["r2@example.com"] == "bounced"


def test_postmark_basic_auth(hooks) -> None:  # type: ignore[no-untyped-def]
    app, client, _send_id, _ = hooks
    record = {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": "HardBounce",
              "Email": "r3@example.com", "BouncedAt": "2026-03-01T12:00:00Z",
              "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist"}

    def post(password: str):  # type: ignore[no-untyped-def]
        auth = base64.b64encode(f"postmark:{password}".encode()).decode()
        return client.post("/webhooks/postmark", json=record,
                           headers={"Authorization": f"Basic {auth}"})

    assert post("guess").status_code == 401
    assert _statuses(app)["r3@example.com"] == "confirmed"
    assert post("pm-password").status_code == 200
    assert post("pm-password").json["duplicates"] == 1
    assert _statuses(app)["r3@example.com"] == "bounced" and _events(app) == 1


def _sns(message: dict[str, Any]) -> bytes:
    signature = SNS_KEY.sign(string_to_sign(message), padding.PKCS1v15(), hashes.SHA256())
    return json.dumps({**message, "Signature": base64.b64encode(signature).decode()}).encode()


def _notification(inner: dict, **fields: Any) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "sns-views-1", "TopicArn": TOPIC,
            "Message": json.dumps(inner), "SignatureVersion": "2", "SigningCertURL": CERT_URL,
            "Timestamp": utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **fields}


def test_ses_bounce_confirmation_and_tampering(hooks) -> None:  # type: ignore[no-untyped-def]
    app, client, send_id, fetched = hooks
    delivery_id = deliveries(app, send_id)["r4@example.com"]
    ses = {"notificationType": "Bounce",
           "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                      "bouncedRecipients": [{"emailAddress": "r4@example.com", "status": "5.1.1",
                                             "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
           "mail": {"messageId": "ses-1", "headers": [
               {"name": "Message-ID", "value": f"<{message_id(app, send_id, delivery_id)}>"}]}}
    body = _sns(_notification(ses))
    tampered = body.replace(b"r4@example.com", b"r5@example.com")
    assert client.post("/webhooks/ses", data=tampered).status_code == 401
    foreign = _sns(_notification(ses, TopicArn=TOPIC.replace("newsletter", "other")))
    assert client.post("/webhooks/ses", data=foreign).status_code == 401
    assert _events(app) == 0 and _statuses(app)["r5@example.com"] == "confirmed"
    # AWS could not be reached for the certificate: 503, so that SNS tries again.
    away = _sns(_notification(ses, SigningCertURL=CERT_URL.replace("views", "unreachable")))
    assert client.post("/webhooks/ses", data=away).status_code == 503
    answer = client.post("/webhooks/ses", data=body)
    assert answer.status_code == 200 and answer.json["recorded"] == 1
    assert _statuses(app)["r4@example.com"] == "bounced"
    assert client.post("/webhooks/ses", data=body).json["duplicates"] == 1
    subscribe_url = f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t0k"
    confirmation = _sns({"Type": "SubscriptionConfirmation", "MessageId": "sns-views-2",
                         "Token": "t0k", "TopicArn": TOPIC, "Message": "confirm",
                         "SubscribeURL": subscribe_url, "SignatureVersion": "2",
                         "SigningCertURL": CERT_URL,
                         "Timestamp": utcnow().isoformat().replace("+00:00", "Z")})
    assert client.post("/webhooks/ses", data=confirmation).status_code == 200
    assert fetched[-1] == subscribe_url


def test_unconfigured_providers_are_not_there_and_big_bodies_are_refused(config, hooks) -> None:  # type: ignore[no-untyped-def]
    with running_app(bounce_settings(config)) as bare:
        client = bare.test_client()
        for provider in ("ses", "mailgun", "sendgrid", "postmark", "generic"):
            assert client.post(f"/webhooks/{provider}", data=b"{}").status_code == 404
    _app, client, _send_id, _ = hooks
    assert client.get("/webhooks/generic").status_code == 405
    huge = b"[" + b"0," * 600_000 + b"0]"
    assert client.post("/webhooks/generic", data=huge).status_code == 413
