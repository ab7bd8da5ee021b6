"""Admin login: sessions, CSRF, rate limits, roles, no user enumeration, safe redirects."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from service.admin import users as admin_users
from service.admin.auth import LOGIN_TIME_KEY
from service.admin.models import AdminUser
from tests.admin.conftest import ADMIN, CSRF, EDITOR, csrf_token, log_in
from tests.conftest import running_app


def _user(app, email: str) -> AdminUser:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalars(select(AdminUser).where(AdminUser.email == email)).one()


def test_login_opens_the_dashboard_and_records_the_time(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    assert _user(app, ADMIN[0]).last_login_at is None
    response = log_in(client, ADMIN[0].upper(), ADMIN[1])
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200 and ADMIN[0] in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert _user(app, ADMIN[0]).last_login_at is not None


def test_session_cookie_is_secure_httponly_and_lax(client, admins) -> None:  # type: ignore[no-untyped-def]
    response = log_in(client, *ADMIN)
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly"} <= attributes and "SameSite=Lax" in cookie


def test_wrong_password_and_unknown_email_get_the_same_answer_and_work(
    app, admins, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    verified: list[str] = []
    real_verify = admin_users.verify_password
    monkeypatch.setattr(admin_users, "verify_password",
                        lambda hashed, password: verified.append(hashed) or real_verify(hashed, password))
    answers = []
    for email, password in [(ADMIN[0], "wrong password 123"), ("nobody@example.org", ADMIN[1])]:
        client = app.test_client()
        response = log_in(client, email, password)
        body = CSRF.sub("TOKEN", response.get_data(as_text=True))
        answers.append((response.status_code, body, response.headers.get("Set-Cookie")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200 and "The email or the password is wrong" in answers[0][1]
    assert answers[0][2] is None  # no session was started or changed
    # One argon2 verification each: the unknown email checked a dummy hash of the same kind.
    assert len(verified) == 2 and all(h.startswith("$argon2id$") for h in verified)


def test_an_inactive_user_cannot_log_in(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        session.scalars(select(AdminUser).where(AdminUser.email == ADMIN[0])).one().active = False
    assert log_in(client, *ADMIN).status_code == 200
    assert client.get("/admin/").status_code == 302


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/admin/login", data={"email": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 400
    assert _user(app, ADMIN[0]).last_login_at is None
    assert client.get("/admin/").status_code == 302
    # Logged in, a logout without the token leaves the session as it was.
    log_in(client, *ADMIN)
    token_before = _user(app, ADMIN[0]).session_token
    assert client.post("/admin/logout").status_code == 400
    assert _user(app, ADMIN[0]).session_token == token_before
    assert client.get("/admin/").status_code == 200


def test_logout_is_a_post_and_ends_the_session(client, admins) -> None:  # type: ignore[no-untyped-def]
    log_in(client, *ADMIN)
    assert client.get("/admin/logout").status_code == 405
    response = client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    assert client.get("/admin/").status_code == 302


def test_session_rotates_at_login_and_dies_at_logout(client, admins) -> None:  # type: ignore[no-untyped-def]
    csrf_token(client)
    with client.session_transaction() as before:
        before["planted"] = "by whoever set the cookie"  # what a fixation attack relies on
        raw_token_before = before["csrf_token"]
    anonymous = client.get_cookie("session").value
    log_in(client, *ADMIN)
    logged_in = client.get_cookie("session").value
    assert logged_in != anonymous
    # Nothing from before survived the login, not even the form token.
    with client.session_transaction() as after:
        assert "planted" not in after and after.get("csrf_token") != raw_token_before
        assert ":" in after["_user_id"]  # the id and the user's session token
    # The cookie from before the login does not authenticate...
    client.set_cookie("session", anonymous)
    assert client.get("/admin/").status_code == 302
    # ...and a copy of the logged-in cookie is worthless once its user logged out.
    client.set_cookie("session", logged_in)
    assert client.get("/admin/").status_code == 200
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    client.set_cookie("session", logged_in)
    assert client.get("/admin/").status_code == 302


def test_a_login_lasts_the_configured_hours(config) -> None:  # type: ignore[no-untyped-def]
    with running_app(replace(config, admin_session_hours=2)) as app:
        with app.extensions["db"].session() as session:
            admin_users.create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
        client = app.test_client()
        log_in(client, *ADMIN)
        with client.session_transaction() as stored:
            stored[LOGIN_TIME_KEY] -= 2 * 3600 - 60  # a minute short of the limit
        assert client.get("/admin/").status_code == 200
        with client.session_transaction() as stored:
            stored[LOGIN_TIME_KEY] -= 120
        assert client.get("/admin/").status_code == 302
        with client.session_transaction() as stored:
            assert "_user_id" not in stored  # ended, not only refused
        assert client.get("/admin/login").status_code == 200  # the form, not a redirect loop
    from service.config import ConfigError

    with pytest.raises(ConfigError, match="NEWSLETTER_ADMIN_SESSION_HOURS"):
        with running_app(replace(config, admin_session_hours=0)):
            pass


def test_no_session_redirects_to_login_with_next(client, admins) -> None:  # type: ignore[no-untyped-def]
    for path in ("/admin/", "/admin/users?x=1"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/login?next=")
    response = log_in(client, *ADMIN, next="/admin/users?x=1")
    assert response.headers["Location"] == "/admin/users?x=1"


@pytest.mark.parametrize("target", [
    "https://evil.example/admin", "//evil.example/admin", "/\\evil.example", "/admin\\@evil",
    "/archive", "/admin\n//evil.example", "javascript:alert(1)",
])
def test_next_never_leaves_the_admin_pages(client, admins, target: str) -> None:  # type: ignore[no-untyped-def]
    response = log_in(client, *ADMIN, next=target)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_an_editor_gets_403_on_an_admin_only_page(client, admins) -> None:  # type: ignore[no-untyped-def]
    log_in(client, *EDITOR)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/users").status_code == 403


def test_an_admin_sees_the_users(client, admins) -> None:  # type: ignore[no-untyped-def]
    log_in(client, *ADMIN)
    page = client.get("/admin/users")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ADMIN[0] in text and EDITOR[0] in text and "argon2" not in text


def _attempts(app, ip: str, email: str, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    client = app.test_client()
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/admin/login", environ_base=environ).get_data(as_text=True)
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    return [
        client.post("/admin/login", environ_base=environ,
                    data={"csrf_token": token, "email": email, "password": "wrong password!"}
                    ).status_code
        for _ in range(count)
    ]


def test_login_is_rate_limited_per_ip(config) -> None:  # type: ignore[no-untyped-def]
    limited = replace(config, admin_login_rate_limit="3/minute",
                      admin_login_account_rate_limit="100/minute")
    with running_app(limited) as app:
        statuses = [s for n in range(4) for s in _attempts(app, "198.51.100.7", f"a{n}@x.org", 1)]
        assert statuses == [200, 200, 200, 429]
        assert _attempts(app, "198.51.100.8", "a9@x.org", 1) == [200]


def test_login_is_rate_limited_per_account_known_or_not(config) -> None:  # type: ignore[no-untyped-def]
    limited = replace(config, admin_login_rate_limit="100/minute",
                      admin_login_account_rate_limit="2/minute")
    with running_app(limited) as app:
        with app.extensions["db"].session() as session:
            admin_users.create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
        for email in (ADMIN[0], "Nobody@Example.org"):
            statuses = [s for n in range(3) for s in _attempts(app, f"203.0.113.{n}", email, 1)]
            assert statuses == [200, 200, 429]
        # Even the right password waits out the limit; another account does not.
        client = app.test_client()
        assert log_in(client, *ADMIN).status_code == 429
        assert _attempts(app, "203.0.113.50", "other@example.org", 1) == [200]


def test_a_bad_limit_setting_is_named(config) -> None:  # type: ignore[no-untyped-def]
    from service.config import ConfigError

    with pytest.raises(ConfigError, match="NEWSLETTER_ADMIN_LOGIN_RATE_LIMIT"):
        with running_app(replace(config, admin_login_rate_limit="often")):
            pass


def test_public_pages_do_not_read_the_session(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/archive")
    assert response.status_code == 200 and "Cookie" not in response.headers.get("Vary", "")
    assert re.search(r"session=", response.headers.get("Set-Cookie", "")) is None


def test_vendored_scripts_are_served_and_admin_pages_allow_only_own_scripts(client, admins) -> None:  # type: ignore[no-untyped-def]
    script = client.get("/admin/static/vendor/htmx-2.0.11.min.js")
    assert script.status_code == 200 and b"htmx" in script.data
    assert "max-age" in script.headers["Cache-Control"]
    log_in(client, *ADMIN)
    policy = client.get("/admin/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy


def test_a_user_ended_elsewhere_is_refused_here_within_a_second(app, client, admins, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Another process (a CLI, another web worker) ends the sessions: this process trusts what
    it read of the user for at most IDENTITY_SECONDS, then reads again and refuses."""
    from service.admin import auth

    clock = [1000.0]
    monkeypatch.setattr(auth, "_clock", lambda: clock[0])
    auth.forget_identities()
    log_in(client, *ADMIN)
    assert client.get("/admin/").status_code == 200
    with app.extensions["db"].session() as session:
        admin_users.end_sessions(session, _user(app, ADMIN[0]).id)  # not through this process
    clock[0] += auth.IDENTITY_SECONDS / 2
    assert client.get("/admin/").status_code == 200  # what it read a moment ago
    clock[0] += auth.IDENTITY_SECONDS
    assert client.get("/admin/").status_code == 302
