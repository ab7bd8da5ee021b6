"""The admin console's API page: tokens made (shown once) and revoked, webhook endpoints
added (secret shown once), disabled and deleted, the delivery log; admins only, CSRF on
every POST."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from service.api.models import ApiToken
from service.webhooks.models import WebhookEndpoint
from service.webhooks.outbox import record_event
from tests.admin.conftest import csrf_token, log_in
from tests.api.conftest import POSTGRES_ONLY, bearer

HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SHOWN_ONCE = re.compile(r'<code id="secret"[^>]*>([^<]+)</code>')


def _count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@POSTGRES_ONLY
def test_an_admin_makes_and_revokes_tokens_and_webhooks(app, client, admins, lists) -> None:  # type: ignore[no-untyped-def]
    other = app.test_client()
    log_in(other, *admins["editor"])
    assert other.get("/admin/api").status_code == 403
    assert log_in(client, *admins["admin"]).status_code == 302
    page = client.get("/admin/api")
    assert page.status_code == 200 and 'href="/admin/api"' in page.get_data(as_text=True)
    csrf = HIDDEN_CSRF.search(page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]

    # Without the form token nothing is made.
    assert client.post("/admin/api/tokens", data={"name": "x", "role": "admin"}).status_code == 400
    assert client.post("/admin/api/webhooks", data={"url": "https://example.org/h",
                                                    "events": ["confirm"]}).status_code == 400
    assert _count(app, ApiToken) == 0 and _count(app, WebhookEndpoint) == 0

    made = client.post("/admin/api/tokens", data={"csrf_token": csrf, "name": "Zapier",
                                                  "role": "editor"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    token = SHOWN_ONCE.search(made.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert client.get("/api/lists", headers=bearer(token)).status_code == 200
    listing = client.get("/admin/api").get_data(as_text=True)
    assert "Zapier" in listing and token not in listing and token[:10] in listing
    refused = client.post("/admin/api/tokens", data={"csrf_token": csrf, "name": " ",
                                                     "role": "editor"})
    assert refused.status_code == 400 and "name" in refused.get_data(as_text=True)
    with app.extensions["db"].session() as session:
        token_id = session.scalars(select(ApiToken.id)).one()
    revoked = client.post(f"/admin/api/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 302
    assert client.get("/api/lists", headers=bearer(token)).status_code == 401
    editor_csrf = csrf_token(other, "/admin/issues")
    for path in (f"/admin/api/tokens/{token_id}/revoke", "/admin/api/tokens"):
        assert other.post(path, data={"csrf_token": editor_csrf, "name": "x",
                                      "role": "admin"}).status_code == 403

    for bad in ("ftp://example.org/x", "not a url"):
        refused = client.post("/admin/api/webhooks", data={"csrf_token": csrf, "url": bad,
                                                           "events": ["confirm"]})
        assert refused.status_code == 400 and 'id="error"' in refused.get_data(as_text=True)
    added = client.post("/admin/api/webhooks", data={
        "csrf_token": csrf, "url": "https://hooks.example.org/n", "events": ["confirm", "bounce"]})
    assert added.status_code == 200
    secret = SHOWN_ONCE.search(added.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert secret.startswith("whsec_") and secret not in client.get("/admin/api").get_data(as_text=True)
    with app.extensions["db"].session() as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        assert endpoint.events == ["bounce", "confirm"]
        record_event(session, "bounce", {"kind": "hard"})
    log = client.get(f"/admin/api/webhooks/deliveries?endpoint={endpoint.id}")
    assert log.status_code == 200 and "bounce" in log.get_data(as_text=True)
    assert secret not in log.get_data(as_text=True)
    client.post(f"/admin/api/webhooks/{endpoint.id}/disable", data={"csrf_token": csrf})
    with app.extensions["db"].session() as session:
        assert session.get(WebhookEndpoint, endpoint.id).active is False
    client.post(f"/admin/api/webhooks/{endpoint.id}/delete", data={"csrf_token": csrf})
    assert _count(app, WebhookEndpoint) == 0
    for path in ("/admin/api/webhooks/999/delete", "/admin/api/webhooks/99999999999/disable",
                 "/admin/api/tokens/99999999999/revoke"):
        assert client.post(path, data={"csrf_token": csrf}).status_code == 404, path
    deep = client.get("/admin/api/webhooks/deliveries?endpoint=99999999999&before=99999999999")
    assert deep.status_code == 200
