"""/api/sends: make a send of an issue to lists, watch its counts, start, pause, resume and
cancel it; refusals say why, as JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt

from service.subscribers.models import Subscriber, Subscription
from tests.api.conftest import POSTGRES_ONLY, bearer
from tests.conftest import running_app

ISSUE = "2026-09-14"


def _readers(app, list_id: int, count: int) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        for n in range(count):
            reader = Subscriber(email=f"s{n}@example.org", email_key=f"s{n}@example.org",
                                status="confirmed")
            session.add(reader)
            session.flush()
            session.add(Subscription(subscriber_id=reader.id, list_id=list_id, status="confirmed"))


@POSTGRES_ONLY
def test_a_send_made_and_controlled_through_the_api(app, client, tokens, lists) -> None:  # type: ignore[no-untyped-def]
    _readers(app, lists["news"], 3)
    admin = bearer(tokens["admin"])
    made = client.post("/api/sends", headers=admin,
                       json={"issue": ISSUE, "lists": ["news"], "send_at": None})
    assert made.status_code == 201, made.json
    send = made.json
    assert (send["status"], send["lists"], send["total"]) == ("sending", ["news"], 3)
    assert send["counts"]["queued"] == 3 and send["counts"]["sent"] == 0
    path = f"/api/sends/{send['id']}"
    answer = client.get(path, headers=bearer(tokens["editor"]))
    assert set(answer.json) >= {"id", "status", "status_reason", "counts"}
    assert answer.headers["Cache-Control"] == "no-store"

    paused = client.post(path + "/pause", headers=admin)
    assert paused.status_code == 200 and paused.json["status"] == "paused"
    assert paused.json["status_reason"] == "paused by an operator"
    again = client.post(path + "/pause", headers=admin)
    assert again.status_code == 409 and "only a running" in again.json["message"]
    assert client.post(path + "/start", headers=admin).status_code == 409
    assert client.post(path + "/resume", headers=admin).json["status"] == "sending"
    assert client.post(path + "/cancel", headers=admin).json["status"] == "cancelled"
    assert client.post(path + "/cancel", headers=admin).status_code == 409
    assert client.post(path + "/resume", headers=admin).status_code == 409
    assert client.post("/api/sends/424242/pause", headers=admin).status_code == 404
    assert client.get("/api/sends/424242", headers=admin).status_code == 404

    twice = client.post("/api/sends", headers=admin, json={"issue": ISSUE, "lists": ["news"]})
    assert twice.status_code == 201  # the first was cancelled: it no longer counts as sent
    duplicate = client.post("/api/sends", headers=admin, json={"issue": ISSUE, "lists": ["news"]})
    assert duplicate.status_code == 409 and "already went" in duplicate.json["message"]
    for body, status in (({"issue": "no-such-issue", "lists": ["news"]}, 404),
                         ({"issue": ISSUE, "lists": ["nope"]}, 404),
                         ({"issue": ISSUE}, 422),
                         ({"issue": ISSUE, "lists": ["notes"], "send_at": "soon"}, 422),
                         # Year 1 in a zone east of UTC: before datetime's range in UTC.
                         ({"issue": ISSUE, "lists": ["notes"],
                           "send_at": "0001-01-01T00:00:00+05:00"}, 422)):
        refused = client.post("/api/sends", headers=admin, json=body)
        assert refused.status_code == status and refused.json["message"], body

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    scheduled = client.post("/api/sends", headers=admin,
                            json={"issue": ISSUE, "lists": ["notes"], "send_at": later})
    assert scheduled.status_code == 201 and scheduled.json["status"] == "scheduled"
    started = client.post(f"/api/sends/{scheduled.json['id']}/start", headers=admin)
    assert started.status_code == 200 and started.json["status"] == "sending"

    page = client.get("/api/sends", headers=admin, query_string={"limit": 2}).json
    assert [item["id"] for item in page["items"]] == [scheduled.json["id"], twice.json["id"]]
    rest = client.get("/api/sends", headers=admin,
                      query_string={"limit": 2, "cursor": page["next_cursor"]}).json
    assert [item["id"] for item in rest["items"]] == [send["id"]] and rest["next_cursor"] is None


@POSTGRES_ONLY
def test_errors_under_api_are_json_and_the_public_signup_still_works(config, tokens) -> None:  # type: ignore[no-untyped-def]
    limited = dataclasses.replace(config, api_rate_limit="3/minute")
    with running_app(limited) as app:
        app.add_url_rule("/api/boom", view_func=lambda: 1 / 0)  # a bug in a view
        client = app.test_client()
        broken = client.get("/api/boom")
        assert broken.status_code == 500 and broken.json["message"] == "internal error"
        assert "ZeroDivision" not in broken.get_data(as_text=True)
        for path, status in (("/api/nothing", 404), ("/api", 404), ("/api/lists/", 404)):
            response = client.get(path)
            assert response.status_code == status and response.is_json, path
        wrong_method = client.put("/api/lists", headers=bearer(tokens["editor"]))
        assert wrong_method.status_code == 405 and wrong_method.is_json
        assert "GET" in wrong_method.headers["Allow"]
        spec = client.get("/api/openapi.json")
        assert spec.status_code == 200 and spec.json["openapi"] == "3.0.3"
        assert "/api/sends/{send_id}/pause" in spec.json["paths"]
        # The public signup endpoint needs no token and keeps its own answers.
        signup = client.post("/api/subscribe", json={"email": "fan@example.org"})
        assert signup.status_code == 404 and signup.json == {"error": "no such list"}
        answers = [client.get("/api/lists", headers=bearer(tokens["editor"])) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert answers[-1].is_json and answers[-1].json["message"]
        assert "<html" not in answers[-1].get_data(as_text=True).lower()
