#!/usr/bin/env python3
"""The admin's reader list and search against 1,000,000 readers in PostgreSQL.

    .venv/bin/python bench/admin.py [--readers 1000000] [--repeat 15] [--url URL]

Fills a fresh schema (dropped afterwards) with readers by ``generate_series`` (one list with
every reader, a second with every tenth, a third with every 10,000th), then times ``GET /admin/readers...`` through the
real Flask app (test client, logged in as an admin) at several depths: the first page,
page 100 reached by following the "next" links, page 10,000 from the cursor the page before
it would give, and the last page; for the plain list, a search by address prefix, a search
by name prefix and two filters. As the same-run reference it times a trivial primary-key
lookup (``SELECT ... WHERE id = ?``) on the same connection pool, and the reader's own page.
Prints the median seconds per page and the ratio to the reference. Goal: < 0.1 s a page.
"""

from __future__ import annotations

import argparse
import html
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from service import create_app, migrate
from service.admin.readers_query import ReaderFilter, _conditions, _sort_columns, encode_cursor
from service.admin.users import create_admin_user
from service.config import load_config
from service.subscribers.models import Subscriber

DEFAULT_URL = "postgresql+psycopg://127.0.0.1:5432/test"
PAGE = 50
NEXT = re.compile(r'rel="next" href="([^"]+)"')
ADMIN = ("bench@example.org", "bench password 1234567")

FILL = """
INSERT INTO subscriber (email, email_key, name, attributes, status, status_changed_at,
    status_source, created_at, source, signup_at, confirmed_at)
SELECT e, lower(e), CASE WHEN n % 3 = 0 THEN 'Reader ' || n ELSE '读者' || n END, '{}',
    CASE WHEN n % 100 = 0 THEN 'bounced' WHEN n % 20 = 0 THEN 'unsubscribed'
         WHEN n % 33 = 0 THEN 'pending' ELSE 'confirmed' END,
    now(), 'import', now() - (:count - n) * interval '1 second', 'import', now(), now()
FROM (SELECT n, 'user' || n || '@mail' || (n % 2000) || '.example.com' AS e
      FROM generate_series(1, :count) AS n) AS g
"""
SUBSCRIBE = """
INSERT INTO subscription (subscriber_id, list_id, status, source, created_at, updated_at)
SELECT id, :list_id, 'confirmed', 'import', now(), now() FROM subscriber WHERE id % :every = 0
"""


def fill(url: str, readers: int) -> None:
    engine = create_engine(url)
    migrate.upgrade(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO mailing_list (slug, name, description, language,"
                                " double_opt_in, created_at) VALUES ('news', 'News', '', 'en',"
                                " true, now()), ('digest', 'Digest', '', 'en', true, now()),"
                                " ('rare', 'Rare', '', 'en', true, now())"))
        connection.execute(text(FILL), {"count": readers})
        connection.execute(text(SUBSCRIBE), {"list_id": 1, "every": 1})
        connection.execute(text(SUBSCRIBE), {"list_id": 2, "every": 10})
        connection.execute(text(SUBSCRIBE), {"list_id": 3, "every": 10_000})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE subscriber"))
        connection.execute(text("VACUUM ANALYZE subscription"))
    engine.dispose()
    print(f"filled {readers:,} readers in {time.perf_counter() - started:.1f} s")


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    action()  # warm: plans and pages cached as on a server that is in use
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cursor_at(db, query: str, page: int) -> str | None:  # type: ignore[no-untyped-def]
    """The cursor that page ``page - 1`` of ``query`` would put in its "next" link (found
    here by OFFSET, which the app never uses, to save walking 10,000 pages)."""
    params = dict(p.split("=", 1) for p in query.split("&") if p)
    chosen = ReaderFilter(query=params.get("q", ""), field=params.get("field", "email"),
                          sort=params.get("sort", "newest"))
    sort = chosen.effective_sort
    with db.session() as session:
        dialect = session.bind.dialect.name
        columns, downwards = _sort_columns(sort, dialect)
        order = [c.desc() if downwards else c.asc() for c in columns]
        conditions = _conditions(chosen, dialect)
        row = session.execute(select(Subscriber.id, Subscriber.email_key, Subscriber.name)
                              .where(*conditions).order_by(*order)
                              .offset((page - 1) * PAGE - 1).limit(1)).one_or_none()
    if row is None:  # fewer pages than that
        return None
    if sort == "newest":
        return encode_cursor([row.id])
    if sort == "email":
        return encode_cursor([row.email_key])
    return encode_cursor([row.name, row.id])


def run(url: str, readers: int, repeat: int) -> None:
    instance = Path(tempfile.mkdtemp(prefix="bench-admin-"))
    fill(url, readers)
    config = load_config(environ={}, env="development", instance_dir=instance, database_url=url,
                         secret_key="bench-secret-key-" + "x" * 32)
    app = create_app(config)
    db = app.extensions["db"]
    with db.session() as session:
        create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/admin/login").get_data(as_text=True)).group(1)
    client.post("/admin/login", data={"csrf_token": token, "email": ADMIN[0], "password": ADMIN[1]})

    def get(path: str) -> str:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)

    middle_id = readers // 2

    def pk_lookup() -> None:
        with db.session() as session:
            session.execute(select(Subscriber).where(Subscriber.id == middle_id)).one()

    reference = median_seconds(pk_lookup, repeat * 10)
    detail = median_seconds(lambda: get(f"/admin/readers/{middle_id}"), repeat)
    print(f"\nreference: primary-key lookup {reference * 1000:.2f} ms;"
          f" the reader's own page {detail * 1000:.1f} ms\n")
    print(f"{'query':36} {'page 1':>9} {'page 100':>9} {'page 10k':>9} {'last':>9}   (seconds a page)")
    cases = [
        ("newest first", "sort=newest", True),
        ("by address", "sort=email", True),
        ("by name (ties broken by id)", "sort=name", True),
        ("address starts with 'user' (all)", "q=user", True),
        ("address starts with 'user12345'", "q=user12345", False),
        ("name starts with '读者' (2 in 3)", "q=读者&field=name", True),
        ("status bounced (1%)", "status=bounced", False),
        ("list digest (every 10th)", "list=digest", False),
        ("list rare (every 10,000th)", "list=rare", False),
    ]
    worst = 0.0
    for label, query, deep in cases:
        base = f"/admin/readers?{query}"
        first = median_seconds(lambda b=base: get(b), repeat)
        page, url_now = 1, base
        while page < 100:  # follow the links, as a browser would
            found = NEXT.search(get(url_now))
            if not found:
                break
            url_now, page = html.unescape(found.group(1)), page + 1
        hundredth = median_seconds(lambda u=url_now: get(u), repeat) if page == 100 else None
        deep_seconds = None
        cursor = cursor_at(db, query, 10_000) if deep else None
        if cursor is not None:
            deep_url = f"{base}&after={cursor}"
            deep_seconds = median_seconds(lambda u=deep_url: get(u), repeat)
        last = median_seconds(lambda b=base: get(f"{b}&last=1"), repeat)
        measured = [s for s in (first, hundredth, deep_seconds, last) if s is not None]
        worst = max(worst, *measured)
        cells = [f"{s:9.4f}" if s is not None else f"{'—':>9}"
                 for s in (first, hundredth, deep_seconds, last)]
        print(f"{label:36} {' '.join(cells)}")
    print(f"\nslowest page {worst:.4f} s = {worst / reference:.0f}x the primary-key lookup;"
          f" goal < 0.1 s a page: {'met' if worst < 0.1 else 'NOT met'}")
    app.extensions["signups"].stop()
    app.extensions["outbox"].stop()
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--readers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    schema = f"bench_admin_{secrets.token_hex(4)}"
    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(args.url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        run(url.render_as_string(hide_password=False), args.readers, args.repeat)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
