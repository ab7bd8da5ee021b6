"""Amazon SNS verification and SES parsing, against a certificate made here and messages
signed here with an independent implementation of AWS's string to sign."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from service.bounces.webhooks import (
    CertCache,
    FetchFailed,
    SnsMessage,
    WebhookRejected,
    confirm_subscription,
    parse_ses,
    verify_sns,
)
from service.bounces.webhooks.sns import check_sns_url, fetch_url
from tests.bounces.webhook_fixtures import JSON, load, maybe

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425c464de12884"
)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(key: rsa.RSAPrivateKey, not_before: datetime, not_after: datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


GOOD_CERT = make_cert(KEY, NOW - timedelta(days=1), NOW + timedelta(days=30))
EXPIRED_CERT = make_cert(KEY, NOW - timedelta(days=30), NOW - timedelta(minutes=1))
OTHER_CERT = make_cert(OTHER_KEY, NOW - timedelta(days=1), NOW + timedelta(days=30))


def string_to_sign(message: dict[str, Any]) -> bytes:
    """AWS's "Verifying the signatures of Amazon SNS messages", written out separately from
    the code under test so that a mistake in one does not hide in the other."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        if message.get("Subject") is None:
            names.remove("Subject")
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{name}\n{message[name]}\n" for name in names).encode()


def sign(message: dict[str, Any], key: rsa.RSAPrivateKey = KEY) -> dict[str, Any]:
    digest = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()
    signature = key.sign(string_to_sign(message), padding.PKCS1v15(), digest)
    return {**message, "Signature": base64.b64encode(signature).decode()}


def envelope(inner: dict[str, Any] | str, **fields: Any) -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": "6f1b4c2e-0b7e-5c1d-9d3a-2f0c1e7a9b11",
        "TopicArn": TOPIC,
        "Message": inner if isinstance(inner, str) else json.dumps(inner),
        "Timestamp": (NOW - timedelta(minutes=1))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "SignatureVersion": "1",
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": f"{SUBSCRIBE_URL.split('?')[0]}?Action=Unsubscribe&SubscriptionArn=x",
    }
    message.update(fields)
    return message


class Fetcher:
    """Serves certificates by URL and remembers what was asked for."""

    def __init__(self, pages: dict[str, bytes] | None = None) -> None:
        self.pages = {CERT_URL: GOOD_CERT} if pages is None else pages
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if url not in self.pages:
            raise OSError(f"404 for {url}")
        return self.pages[url]


def verify(
    message: dict[str, Any] | bytes, fetcher: Fetcher | None = None, **kwargs: Any
) -> SnsMessage:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    options: dict[str, Any] = {"topic_allowlist": [TOPIC], "now": NOW, "cert_cache": CertCache()}
    options.update(kwargs)
    return verify_sns(body, fetch_cert=fetcher or Fetcher(), **options)


@pytest.mark.parametrize("version", ["1", "2"])
def test_good_notification_is_accepted_and_parsed(version: str) -> None:
    message = verify(sign(envelope(load("ses_bounce.json"), SignatureVersion=version)))
    assert (message.type, message.topic_arn, message.subject) == ("Notification", TOPIC, None)
    assert message.timestamp == NOW - timedelta(minutes=1)
    events = parse_ses(message)
    assert [(e.recipient, e.kind, e.reason, e.status) for e in events] == [
        ("gone.reader@example.org", "hard", "userunknown", "5.1.1"),
        ("policy@example.net", "soft", "policyviolation", "5.7.1"),
    ]
    first = events[0]
    assert first.provider == "ses"
    assert first.event_id == "6f1b4c2e-0b7e-5c1d-9d3a-2f0c1e7a9b11:gone.reader@example.org"
    assert first.message_id == "20260301.issue7.42@news.example.com"
    assert first.occurred_at == datetime(2026, 3, 1, 11, 58, 30, 512000, tzinfo=UTC)
    assert first.diagnostic.startswith("smtp; 550 5.1.1")
    assert first.raw["bounce"]["feedbackId"] == "0100018e-bounce-feedback-000000"


def test_subject_is_signed_when_present() -> None:
    signed = sign(envelope(load("ses_bounce.json"), Subject="Amazon SES Email Event Notification"))
    assert verify(signed).subject == "Amazon SES Email Event Notification"
    with pytest.raises(WebhookRejected) as caught:
        verify({**signed, "Subject": "Something else"})
    assert caught.value.status == 401


def mutate(**fields: Any) -> Callable[[], tuple[dict[str, Any], Fetcher]]:
    return lambda: (sign(envelope(load("ses_bounce.json"), **fields)), Fetcher())


def tampered() -> tuple[dict[str, Any], Fetcher]:
    signed = sign(envelope(load("ses_bounce.json")))
    inner = json.loads(signed["Message"])
    inner["bounce"]["bouncedRecipients"][0]["emailAddress"] = "victim@example.org"
    return {**signed, "Message": json.dumps(inner)}, Fetcher()


def with_cert(pem: bytes) -> Callable[[], tuple[dict[str, Any], Fetcher]]:
    return lambda: (sign(envelope(load("ses_bounce.json"))), Fetcher({CERT_URL: pem}))


def unsigned_change(**fields: Any) -> Callable[[], tuple[dict[str, Any], Fetcher]]:
    return lambda: ({**sign(envelope(load("ses_bounce.json"))), **fields}, Fetcher())


STALE = (NOW - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
FUTURE = (NOW + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
EVIL = "https://sns.us-east-1.amazonaws.com.evil.tld/SimpleNotificationService-1.pem"
REJECTIONS = {
    # case: (request maker, status, words in the message, whether a certificate was fetched)
    "tampered body": (tampered, 401, "signature does not match", True),
    "http certificate URL": (
        mutate(SigningCertURL=CERT_URL.replace("https", "http")),
        400,
        "URL",
        False,
    ),
    "evil.tld host": (
        mutate(SigningCertURL="https://sns.x.amazonaws.com.evil.tld/a.pem"),
        400,
        "URL",
        False,
    ),
    "amazon suffix on evil host": (mutate(SigningCertURL=EVIL), 400, "URL", False),
    "amazon path on evil host": (
        mutate(SigningCertURL="https://evil.com/sns.us-east-1.amazonaws.com/a.pem"),
        400,
        "URL",
        False,
    ),
    "user info": (
        mutate(SigningCertURL="https://sns.us-east-1.amazonaws.com@evil.com/a.pem"),
        400,
        "URL",
        False,
    ),
    "backslash": (
        mutate(SigningCertURL="https://evil.com\\@sns.us-east-1.amazonaws.com/a.pem"),
        400,
        "URL",
        False,
    ),
    "other port": (
        mutate(SigningCertURL=CERT_URL.replace(".com/", ".com:8443/")),
        400,
        "URL",
        False,
    ),
    "not a pem": (mutate(SigningCertURL=CERT_URL.replace(".pem", ".txt")), 400, "URL", False),
    "stale timestamp": (mutate(Timestamp=STALE), 401, "too old", False),
    "future timestamp": (mutate(Timestamp=FUTURE), 401, "future", False),
    "foreign topic": (
        mutate(TopicArn="arn:aws:sns:us-east-1:999999999999:other"),
        401,
        "not allowed",
        False,
    ),
    "signature version 3": (mutate(SignatureVersion="3"), 400, "SignatureVersion", False),
    "signature not base64": (unsigned_change(Signature="!!!"), 400, "base64", False),
    "expired certificate": (with_cert(EXPIRED_CERT), 401, "expired", True),
    "certificate of another key": (with_cert(OTHER_CERT), 401, "signature does not match", True),
    "not a certificate": (with_cert(b"hello"), 400, "PEM", True),
    "unknown type": (unsigned_change(Type="Publish"), 400, "Type", False),
    "missing message id": (unsigned_change(MessageId=None), 400, "MessageId", False),
}


@pytest.mark.parametrize("case", REJECTIONS)
def test_rejections(case: str) -> None:
    make, status, words, fetched = REJECTIONS[case]
    message, fetcher = make()
    cache = CertCache()
    with pytest.raises(WebhookRejected) as caught:
        verify(message, fetcher, cert_cache=cache)
    assert caught.value.status == status
    assert words in caught.value.message
    # Cheap checks come first: nothing is fetched for a request they already refuse.
    assert fetcher.calls == ([CERT_URL] if fetched else [])


def test_an_empty_allow_list_rejects_everything_and_says_why() -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify(sign(envelope(load("ses_bounce.json"))), topic_allowlist=[])
    assert caught.value.status == 401
    assert "configure" in caught.value.message


def test_an_allow_list_given_as_one_string_is_a_programming_error() -> None:
    # "arn" in "arn:aws:..." would be a substring test: refuse rather than half-match.
    with pytest.raises(TypeError):
        verify(sign(envelope(load("ses_bounce.json"))), topic_allowlist=TOPIC)


def test_certificates_are_cached_by_url_and_refetched_once_expired() -> None:
    cache, fetcher = CertCache(), Fetcher()
    message = sign(envelope(load("ses_bounce.json")))
    verify(message, fetcher, cert_cache=cache)
    verify(message, fetcher, cert_cache=cache)
    assert fetcher.calls == [CERT_URL]
    # Days later the cached certificate has expired; AWS has put a new one at the URL.
    later = NOW + timedelta(days=40)
    fetcher.pages[CERT_URL] = make_cert(KEY, later - timedelta(days=1), later + timedelta(days=1))
    verify(
        sign(envelope(load("ses_bounce.json"), Timestamp=later.isoformat())),
        fetcher,
        cert_cache=cache,
        now=later,
    )
    assert fetcher.calls == [CERT_URL, CERT_URL]


def test_an_unreachable_certificate_is_a_fetch_failure_not_a_rejection() -> None:
    with pytest.raises(FetchFailed):
        verify(sign(envelope(load("ses_bounce.json"))), Fetcher({}))


def test_duplicate_message_ids_give_the_same_event_ids_so_storage_skips_them() -> None:
    """SNS retries with the same MessageId and signature; the caller stores events unique on
    (provider, event_id), so a second delivery adds nothing."""
    body = sign(envelope(load("ses_bounce.json")))
    stored: dict[tuple[str, str], Any] = {}
    added = []
    for _ in range(2):
        new = [e for e in parse_ses(verify(body)) if (e.provider, e.event_id) not in stored]
        stored.update({(e.provider, e.event_id): e for e in new})
        added.append(len(new))
    assert added == [2, 0]
    other = sign(envelope(load("ses_bounce.json"), MessageId="another-message"))
    assert {e.event_id for e in parse_ses(verify(other))}.isdisjoint(e for _, e in stored)


def confirmation(**fields: Any) -> dict[str, Any]:
    message = envelope(
        "You have chosen to subscribe to the topic.", Type="SubscriptionConfirmation"
    )
    message.update(SubscribeURL=SUBSCRIBE_URL, Token="2336412f37fb687f5d51e6e2425c464de12884")
    message.update(fields)
    return sign(message)


def test_subscription_confirmation_is_verified_then_confirmed() -> None:
    message = verify(confirmation())
    assert (message.type, message.subscribe_url) == ("SubscriptionConfirmation", SUBSCRIBE_URL)
    assert parse_ses(message) == []
    fetched: list[str] = []
    body = confirm_subscription(
        message, lambda url: fetched.append(url) or b"<ok/>", topic_allowlist=[TOPIC]
    )
    assert (body, fetched) == (b"<ok/>", [SUBSCRIBE_URL])
    with pytest.raises(WebhookRejected):  # the signature covers the token
        verify({**confirmation(), "Token": "other"})


@pytest.mark.parametrize(
    ("fields", "allowlist"),
    [
        ({"SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}, [TOPIC]),
        ({"SubscribeURL": SUBSCRIBE_URL.replace("https:", "http:")}, [TOPIC]),
        ({}, ["arn:aws:sns:us-east-1:123456789012:something-else"]),
    ],
)
def test_confirmation_fetches_only_sns_urls_for_allowed_topics(
    fields: dict, allowlist: list[str]
) -> None:
    message = verify(confirmation(**fields), topic_allowlist=[TOPIC])
    fetched: list[str] = []
    with pytest.raises(WebhookRejected):
        confirm_subscription(
            message, lambda url: fetched.append(url) or b"", topic_allowlist=allowlist
        )
    assert fetched == []


def test_notifications_are_not_confirmed() -> None:
    message = verify(sign(envelope(load("ses_bounce.json"))))
    with pytest.raises(WebhookRejected):
        confirm_subscription(message, lambda url: b"", topic_allowlist=[TOPIC])


def test_unsubscribe_confirmation_is_verified_and_has_no_events() -> None:
    message = verify(confirmation(Type="UnsubscribeConfirmation"))
    assert message.type == "UnsubscribeConfirmation"
    assert parse_ses(message) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-gov-west-1.amazonaws.com/x.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
        "https://SNS.EU-WEST-1.AMAZONAWS.COM:443/x.pem",
    ],
)
def test_certificate_urls_on_sns_hosts_pass(url: str) -> None:
    assert check_sns_url(url, pem=True) == url


def test_the_default_fetcher_refuses_anything_but_https() -> None:
    with pytest.raises(ValueError):
        fetch_url("http://sns.us-east-1.amazonaws.com/x.pem")


def ses(inner: dict[str, Any], message_id: str = "m-1") -> list[tuple[str, str]]:
    message = SnsMessage("Notification", message_id, TOPIC, NOW, json.dumps(inner), None, "", {})
    return [(e.kind, e.reason) for e in parse_ses(message)]


def bounce(
    bounce_type: str, subtype: str, status: str = "", diagnostic: str = ""
) -> dict[str, Any]:
    inner = load("ses_bounce.json")
    inner["bounce"].update(bounceType=bounce_type, bounceSubType=subtype)
    item = {"emailAddress": "reader@example.org", "status": status, "diagnosticCode": diagnostic}
    inner["bounce"]["bouncedRecipients"] = [{k: v for k, v in item.items() if v}]
    return inner


@pytest.mark.parametrize(
    ("bounce_type", "subtype", "status", "diagnostic", "expected"),
    [
        ("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown", ("hard", "userunknown")),
        # A permanent bounce is not hard by itself: the diagnostic decides.
        ("Permanent", "General", "", "smtp; 550 mailbox unavailable", ("soft", "undefined")),
        ("Permanent", "General", "5.7.1", "smtp; 554 5.7.1 blocked by policy", ("soft", "blocked")),
        ("Permanent", "NoEmail", "", "", ("hard", "userunknown")),
        (
            "Permanent",
            "Suppressed",
            "5.1.1",
            "Amazon SES has suppressed sending",
            ("soft", "suspend"),
        ),
        ("Permanent", "OnAccountSuppressionList", "", "", ("ignore", "suspend")),
        ("Transient", "General", "", "smtp; 451 4.4.1 timeout", ("soft", "networkerror")),
        ("Transient", "General", "5.1.1", "smtp; 550 5.1.1 user unknown", ("soft", "userunknown")),
        ("Transient", "MailboxFull", "5.2.2", "", ("soft", "mailboxfull")),
        ("Transient", "MessageTooLarge", "", "", ("soft", "mesgtoobig")),
        ("Transient", "ContentRejected", "", "", ("soft", "filtered")),
        ("Transient", "AttachmentRejected", "", "", ("soft", "filtered")),
        ("Undetermined", "Undetermined", "", "", ("soft", "undefined")),
        ("Undetermined", "Undetermined", "5.1.1", "", ("soft", "userunknown")),
    ],
)
def test_ses_bounce_mapping(
    bounce_type: str, subtype: str, status: str, diagnostic: str, expected: tuple
) -> None:
    assert ses(bounce(bounce_type, subtype, status, diagnostic)) == [expected]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, ("complaint", "feedback")),
        ({"complaintFeedbackType": "not-spam"}, ("ignore", "feedback")),
        ({"complaintSubType": "OnAccountSuppressionList"}, ("ignore", "feedback")),
        ({"complaintFeedbackType": None}, ("complaint", "feedback")),
    ],
)
def test_ses_complaints(changes: dict[str, Any], expected: tuple[str, str]) -> None:
    inner = load("ses_complaint.json")
    inner["complaint"].update(changes)
    assert ses(inner) == [expected]


def test_ses_delivery_is_ignored_and_keeps_the_message_id() -> None:
    message = SnsMessage(
        "Notification", "m-9", TOPIC, NOW, json.dumps(load("ses_delivery.json")), None, "", {}
    )
    [event] = parse_ses(message)
    assert (event.kind, event.reason, event.recipient) == (
        "ignore",
        "delivered",
        "happy@example.org",
    )
    assert event.message_id == "20260301.issue7.43@news.example.com"


def test_events_without_recipients_give_nothing() -> None:
    assert ses({"eventType": "Open", "mail": {}, "open": {}}) == []
    assert ses({"notificationType": "AmazonSnsSubscriptionSucceeded"}) == []


def test_a_recipient_listed_twice_gives_one_event() -> None:
    inner = bounce("Permanent", "General", "5.1.1")
    inner["bounce"]["bouncedRecipients"] *= 2
    assert len(ses(inner)) == 1


@pytest.mark.parametrize(
    "inner",
    [
        "not json",
        "[]",
        json.dumps({"notificationType": "Bounce"}),
        json.dumps({"notificationType": "Bounce", "bounce": {"bouncedRecipients": "x"}}),
        json.dumps(
            {"notificationType": "Bounce", "bounce": {"bouncedRecipients": [{"emailAddress": 5}]}}
        ),
        json.dumps({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{}]}}),
        json.dumps({"notificationType": "Delivery", "delivery": {"recipients": ["x"]}}),
        json.dumps({**load("ses_complaint.json"), "mail": {"headers": 5, "messageId": []}}),
    ],
)
def test_malformed_ses_messages_are_400(inner: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse_ses(SnsMessage("Notification", "m", TOPIC, NOW, inner, None, "", {}))
    assert caught.value.status == 400


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bodies_are_rejected_cleanly(body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        verify(body)


@settings(max_examples=200, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            name: maybe(st.just(value))
            for name, value in sign(envelope(load("ses_bounce.json"))).items()
        },
    )
)
def test_damaged_envelopes_are_rejected_cleanly(fields: dict[str, Any]) -> None:
    try:
        verify(fields)
    except WebhookRejected:
        return
    # Only an envelope whose signed fields and signature are untouched may pass.
    full = sign(envelope(load("ses_bounce.json")))
    names = ["Signature", "SignatureVersion", "SigningCertURL", "Message", "MessageId"]
    names += ["Timestamp", "TopicArn", "Type"]
    assert all(fields.get(name) == full[name] for name in names)


@settings(max_examples=100, deadline=None)
@given(
    message=st.text(min_size=1),
    subject=st.none() | st.text(),
    message_id=st.text(min_size=1, max_size=40),
    version=st.sampled_from(["1", "2"]),
)
def test_any_correctly_signed_text_verifies(
    message: str, subject: str | None, message_id: str, version: str
) -> None:
    try:
        message.encode(), (subject or "").encode(), message_id.encode()
    except UnicodeEncodeError:
        return  # lone surrogates are refused before any signature is checked
    signed = sign(
        envelope(message, Subject=subject, MessageId=message_id, SignatureVersion=version)
    )
    verified = verify(signed)
    assert (verified.message, verified.subject, verified.message_id) == (
        message,
        subject,
        message_id,
    )


RECIPIENT = st.fixed_dictionaries(
    {},
    optional={
        "emailAddress": maybe(st.sampled_from(["a@example.org", "B@Example.org", "bad", ""])),
        "status": maybe(st.sampled_from(["5.1.1", "4.2.2", "5.7.1", "", "x"])),
        "diagnosticCode": maybe(st.sampled_from(["smtp; 550 5.1.1 user unknown", "quota", ""])),
    },
)
DETAIL = st.fixed_dictionaries(
    {},
    optional={
        "bounceType": maybe(st.sampled_from(["Permanent", "Transient", "Undetermined"])),
        "bounceSubType": maybe(
            st.sampled_from(["General", "NoEmail", "Suppressed", "MailboxFull"])
        ),
        "complaintFeedbackType": maybe(st.sampled_from(["abuse", "not-spam"])),
        "timestamp": maybe(st.sampled_from(["2026-03-01T11:58:30.512Z", "yesterday"])),
        "bouncedRecipients": maybe(st.lists(maybe(RECIPIENT), max_size=3)),
        "complainedRecipients": maybe(st.lists(maybe(RECIPIENT), max_size=3)),
        "delayedRecipients": maybe(st.lists(maybe(RECIPIENT), max_size=3)),
        "recipients": maybe(st.lists(maybe(st.just("a@example.org")), max_size=3)),
    },
)
SES = st.fixed_dictionaries(
    {},
    optional={
        "notificationType": maybe(
            st.sampled_from(["Bounce", "Complaint", "Delivery", "DeliveryDelay"])
        ),
        "eventType": maybe(st.sampled_from(["Bounce", "Complaint", "Open"])),
        "bounce": maybe(DETAIL),
        "complaint": maybe(DETAIL),
        "delivery": maybe(DETAIL),
        "deliveryDelay": maybe(DETAIL),
        "mail": maybe(
            st.fixed_dictionaries({}, optional={"messageId": maybe(st.just("m")), "headers": JSON})
        ),
    },
)


@settings(max_examples=200, deadline=None)
@given(inner=SES)
def test_arbitrary_ses_messages_give_events_or_400(inner: dict[str, Any]) -> None:
    message = SnsMessage("Notification", "m-1", TOPIC, NOW, json.dumps(inner), None, "", {})
    try:
        events = parse_ses(message)
    except WebhookRejected as rejected:
        assert rejected.status == 400
        return
    assert all(e.provider == "ses" and e.event_id.startswith("m-1:") for e in events)
