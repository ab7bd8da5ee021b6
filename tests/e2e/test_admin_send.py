"""An admin's send in a real browser: log in, preview an issue at both widths, test-send it,
send it to a list of 300 readers, watch the progress page reach 100% without a reload, and
open the report. Real PostgreSQL, Redis, Celery worker processes and an SMTP sink; Debian's
Chromium driven by Playwright. Screenshots of each step go to NEWSLETTER_TEST_ARTIFACTS
(default artifacts/screenshots), kept by CI."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from service.admin.users import create_admin_user
from tests.conftest import running_app
from tests.sending.conftest import Workers, fill_list
from tests.smtp_sink import free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]
ROOT = Path(__file__).resolve().parents[2]
ADMIN = ("admin@example.org", "correct horse battery staple")
SLUG = "2026-09-14"
TITLE = "嵌入式AI简报 (2026-09-14)"
READERS = 300


@pytest.fixture
def shots(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    base = Path(os.environ.get("NEWSLETTER_TEST_ARTIFACTS") or ROOT / "artifacts" / "screenshots")
    folder = base / request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    def take(page, name: str) -> None:  # type: ignore[no-untyped-def]
        page.screenshot(path=str(folder / f"{next(counter):02d}-{name}.png"), full_page=True)

    return take


@pytest.fixture
def live_send_app(config, redis_url):  # type: ignore[no-untyped-def]
    """The app over real HTTP, configured exactly as the worker processes are. The send rate
    is capped so that the progress page has something to watch."""
    port = free_port()
    live = replace(config, base_url=f"http://127.0.0.1:{port}", redis_url=redis_url,
                   send_rate=120.0, sweep_seconds=1, send_batch_size=100,
                   bounce_domain="bounces.example.org")
    with running_app(live) as app:
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield app
        finally:
            server.shutdown()


def test_an_admin_previews_tests_sends_and_watches(live_send_app, smtp_sink, browser, shots) -> None:  # type: ignore[no-untyped-def]
    app = live_send_app
    config = app.config["NEWSLETTER"]
    base = config.base_url
    with app.extensions["db"].session() as session:
        create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
    news = fill_list(app, READERS)
    workers = Workers(config)
    _, chromium = browser
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    # Script errors and refusals by the pages' policies (the email's pictures from other
    # hosts may fail to load here: that is the network, not the console).
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and ("Refused" in m.text or "htmx" in m.text) else None)
    try:
        # 1. Log in; the issues page lists the issue.
        page.goto(f"{base}/admin/issues")
        page.fill("#email", ADMIN[0])
        page.fill("#password", ADMIN[1])
        page.click("button[type=submit]")
        page.wait_for_selector(f"#issue-{SLUG}")
        shots(page, "issues")

        # 2. The preview: the same email in both frames, at two widths.
        page.click(f"#issue-{SLUG} a:text('Preview')")
        page.wait_for_selector("#frame-desktop")
        for frame_id in ("#frame-desktop", "#frame-mobile"):
            frame = page.frame_locator(frame_id)
            frame.get_by_text(TITLE).first.wait_for()
        widths = [page.locator(f).bounding_box()["width"] for f in ("#frame-desktop", "#frame-mobile")]  # type: ignore[index]
        assert widths[0] > 600 and 360 < widths[1] < 400
        assert "List-Unsubscribe" in page.inner_text("#headers")
        assert TITLE in page.inner_text("#text-part")
        shots(page, "preview")

        # 3. A test copy, its subject marked.
        page.fill("#addresses", "editor@example.org")
        page.click("#test-send-button")
        page.wait_for_selector("#test-results")
        [test_copy] = smtp_sink.wait_for(1)
        assert test_copy.message()["Subject"] == f"[TEST] {TITLE}"
        shots(page, "test-sent")

        # 4. Send to the list: the count, updated by htmx, then the confirm step.
        page.click("#send-link")
        page.wait_for_selector("#list-choices")
        assert page.get_attribute("#reader-count", "data-count") == "0"
        page.check(f"input[name=lists][value='{news}']")
        page.wait_for_selector(f"#reader-count[data-count='{READERS}']")
        shots(page, "send-form")
        page.click("#review")
        page.wait_for_selector("#confirm")
        assert page.get_attribute("#confirm-count", "data-count") == str(READERS)
        shots(page, "confirm")
        page.click("#confirm")
        page.wait_for_selector("#progress[data-status='sending']")
        assert page.get_attribute("#progress", "data-done") == "0"
        shots(page, "progress-start")

        # 5. Pause and resume (htmx posts with the page's form token), then the workers start:
        # the page follows them to 100%, all without a reload.
        page.evaluate("window.__stillHere = 'yes'")
        navigations: list[str] = []
        page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None)
        page.click("#pause")
        page.wait_for_selector("#progress[data-status='paused'] #status-reason")
        assert "paused by an operator" in page.inner_text("#status-reason")
        shots(page, "paused")
        page.click("#resume")
        page.wait_for_selector("#progress[data-status='sending']")
        started = time.monotonic()
        workers.start_worker(concurrency=2)
        page.wait_for_selector("#progress[data-status='sending'] #count-sent:not(:text-is('0'))",
                               timeout=30_000)
        partway = int(page.get_attribute("#progress", "data-done") or 0)
        shots(page, "progress-partway")
        page.wait_for_selector("#progress[data-status='finished']", timeout=45_000)
        assert page.evaluate("window.__stillHere") == "yes" and navigations == []
        assert page.get_attribute("#progress", "data-percent") == "100.0"
        assert page.inner_text("#count-sent") == str(READERS) and 0 <= partway < READERS
        shots(page, "progress-finished")

        # 6. The sink holds the test copy and one message for each of the 300 readers.
        received = smtp_sink.wait_for(READERS + 1, timeout=10)
        issue_copies = [r for r in received if not r.message()["Subject"].startswith("[TEST]")]
        assert len(received) == READERS + 1 and len(issue_copies) == READERS
        assert len(Counter(r.rcpt_tos[0] for r in issue_copies)) == READERS

        # 7. The report.
        page.click("#report-link")
        page.wait_for_selector("#log-rows")
        assert page.inner_text("#state-sent") == str(READERS)
        assert page.locator("#log-rows tbody tr").count() == 50 and page.locator("#next-page").count()
        shots(page, "report")
        assert not errors, errors
        assert time.monotonic() - started < 45
    finally:
        context.close()
        workers.stop_all()
