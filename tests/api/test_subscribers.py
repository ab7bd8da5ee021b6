"""/api/subscribers and /api/lists: create (pending or confirmed), read, page through with a
cursor, update, erase; every refusal is JSON with a message."""

from __future__ import annotations

from sqlalchemy import func, select

from service.mail.models import OutboxMessage
from service.subscribers.models import Subscriber, SubscriberEvent, Subscription
from tests.api.conftest import POSTGRES_ONLY, bearer


def _count(app, model, *where) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@POSTGRES_ONLY
def test_a_reader_from_create_to_erasure(app, client, tokens, lists) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(tokens["admin"])
    made = client.post("/api/subscribers", headers=admin, json={
        "email": "Reader@Example.org", "name": "Ada", "lists": ["news", "notes"],
        "attributes": {"plan": "pro"}})
    assert made.status_code == 201, made.json
    reader = made.json
    # news is double opt-in: it waits for the one confirmation email; notes is joined at once.
    assert {s["list"]: s["status"] for s in reader["lists"]} == {"news": "pending",
                                                                 "notes": "confirmed"}
    assert reader["email"] == "Reader@example.org" and reader["source"] == "api:admin test"
    assert _count(app, OutboxMessage, OutboxMessage.kind == "confirm") == 1

    twice = client.post("/api/subscribers", headers=admin,
                        json={"email": "reader@EXAMPLE.org", "lists": ["news"]})
    assert twice.status_code == 409 and "exists" in twice.json["message"]

    for body, field in (
        ({"email": "not an address", "lists": ["news"]}, "email"),
        ({"email": "b@example.org", "lists": ["nope"]}, "lists"),
        ({"email": "b@example.org", "lists": []}, "lists"),
        ({"email": "b@example.org", "lists": ["news"], "colour": "red"}, "colour"),
        ({"email": "b@example.org", "lists": ["news"], "status": "bounced"}, "status"),
    ):
        refused = client.post("/api/subscribers", headers=admin, json=body)
        assert refused.status_code == 422, (body, refused.json)
        assert refused.json["message"] and field in str(refused.json["errors"])
    assert client.post("/api/subscribers", headers=admin, data="{").status_code in (400, 422)
    assert _count(app, Subscriber) == 1  # nothing half-made by a refusal

    confirmed = client.post("/api/subscribers", headers=admin, json={
        "email": "known@example.org", "lists": ["news"], "status": "confirmed"})
    assert confirmed.status_code == 201 and confirmed.json["status"] == "confirmed"
    assert confirmed.json["lists"] == [{"list": "news", "status": "confirmed"}]
    assert _count(app, OutboxMessage) == 1  # no confirmation email for a confirmed reader
    assert _count(app, SubscriberEvent, SubscriberEvent.kind == "confirm",
                  SubscriberEvent.source == "api:admin test") == 2

    path = f"/api/subscribers/{reader['id']}"
    assert client.get(path, headers=admin).json["name"] == "Ada"
    assert client.get(path, headers=bearer(tokens["editor"])).status_code == 403
    changed = client.patch(path, headers=admin, json={"name": "Ada L.", "status": "unsubscribed"})
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "Ada L." and changed.json["status"] == "unsubscribed"
    assert {s["status"] for s in changed.json["lists"]} == {"unsubscribed"}
    assert client.patch(path, headers=admin, json={"status": "gone"}).status_code == 422

    assert client.delete(path, headers=admin).status_code == 204
    for method in ("get", "delete", "patch"):
        missing = getattr(client, method)(path, headers=admin, json={})
        assert missing.status_code == 404 and missing.json["message"] == f"no subscriber {reader['id']}"
    assert _count(app, Subscription, Subscription.subscriber_id == reader["id"]) == 0
    assert _count(app, OutboxMessage) == 0  # the erasure took the queued email with it
    huge = client.get("/api/subscribers/99999999999999", headers=admin)
    assert huge.status_code == 404


@POSTGRES_ONLY
def test_cursor_paging_visits_everyone_once(app, client, tokens, lists) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        for n in range(7):
            reader = Subscriber(email=f"r{n}@example.org", email_key=f"r{n}@example.org",
                                status="confirmed" if n % 2 else "pending")
            session.add(reader)
            session.flush()
            if n < 4:
                session.add(Subscription(subscriber_id=reader.id, list_id=lists["news"],
                                         status="confirmed"))
    admin, editor = bearer(tokens["admin"]), bearer(tokens["editor"])
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/subscribers", headers=admin, query_string=query)
        assert page.status_code == 200, page.json
        seen += [item["email"] for item in page.json["items"]]
        cursor, pages = page.json["next_cursor"], pages + 1
        if cursor is None:
            break
    assert pages == 3 and seen == [f"r{n}@example.org" for n in range(7)]

    def emails(**query) -> list[str]:  # type: ignore[no-untyped-def]
        response = client.get("/api/subscribers", headers=admin, query_string=query)
        return [item["email"] for item in response.json["items"]]

    assert emails(list="news") == [f"r{n}@example.org" for n in range(4)]
    assert emails(status="confirmed", list="news") == ["r1@example.org", "r3@example.org"]
    assert emails(email="R5@example.org") == ["r5@example.org"]
    for query, status in (({"cursor": "bm9wZQ"}, 422), ({"cursor": "v1.%%%"}, 422),
                          ({"limit": 1000}, 422), ({"limit": 0}, 422), ({"status": "x"}, 422),
                          ({"list": "nope"}, 404), ({"list": "a\x00b"}, 422),
                          ({"email": "a\x00@example.org"}, 422)):
        refused = client.get("/api/subscribers", headers=admin, query_string=query)
        assert refused.status_code == status and refused.json["message"], query

    listed = client.get("/api/lists", headers=editor).json
    assert [(item["key"], item["double_opt_in"]) for item in listed] == [("news", True),
                                                                         ("notes", False)]
    assert client.get("/api/lists/notes", headers=editor).json["name"] == "Notes"
    assert client.get("/api/lists/nope", headers=editor).status_code == 404
    assert client.get("/api/lists/a%00b", headers=editor).status_code == 404  # not a 500
    refused = client.post("/api/subscribers", headers=bearer(tokens["admin"]),
                          json={"email": "c@example.org", "lists": ["ne\x00ws"]})
    assert refused.status_code == 422 and "lists" in refused.json["errors"]["json"]
