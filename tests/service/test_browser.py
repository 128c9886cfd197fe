"""The portal in a real browser: Debian's Chromium driven by Playwright, against the service
served by uvicorn on a free local port. Screenshots of the main pages are kept under
``test-artifacts/screenshots/``.

The flow: the public finds an organisation; a subject signs in with a one-time link and objects
to a record; the objection appears in the operator's queue; the operator upholds it; the listing
disappears from the subject's page and from the public list.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from socialcredit.registry.access import create_key, create_login_link
from socialcredit.service.app import create_app
from socialcredit.service.logs import log_config
from socialcredit.settings import Settings
from tests.registry.conftest import open_store

from .conftest import ACME, ACME_NAME, ALICE, fill

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LIST = "dishonest-judgment-defaulters"


@dataclass(frozen=True)
class Live:
    base: str
    operator: str
    link: str
    access_log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("live")
    port = _free_port()
    settings = Settings(
        database_url=f"sqlite:///{folder / 'registry.db'}", public_url=f"http://127.0.0.1:{port}"
    )
    store = open_store(settings)
    fill(store, settings, folder)
    operator = create_key(store, settings, role="operator", by="t", label="clerk wang").token
    link = create_login_link(store, settings, subject=ALICE, by="t").token
    store.engine.dispose()
    access = folder / "access.log"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="info",
            log_config=log_config(settings, access_file=str(access)),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield Live(f"http://127.0.0.1:{port}", operator, link, access)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        "the browser tests drive Debian's Chromium at /usr/bin/chromium: "
        "`make test` installs it (scripts/system-packages.sh test)"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert (SHOTS / f"{name}.png").stat().st_size > 1000


def test_the_public_finds_an_organisation(live: Live, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(live.base + "/")
    shot(page, "home")
    page.get_by_label("Search organisations by name or Unified Social Credit Code").fill("远洋渔业")
    page.get_by_role("button", name="Search").click()
    result = page.get_by_role("link", name=ACME_NAME)
    expect(result).to_be_visible()
    shot(page, "public-search")
    result.click()
    expect(page.get_by_role("heading", name=ACME_NAME)).to_be_visible()
    expect(page.get_by_text("court/j2")).to_be_visible()
    shot(page, "public-organisation")
    page.close()


def test_the_core_paths_work_without_javascript(live: Live, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live.base + "/search")
    page.get_by_label("Name or Unified Social Credit Code").fill(ACME)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=ACME_NAME)).to_be_visible()
    assert "q=" in page.url  # a plain GET form: works anywhere
    context.close()


def test_objection_upheld_end_to_end(live: Live, browser: Browser) -> None:
    subject = browser.new_context()
    me = subject.new_page()
    me.goto(f"{live.base}/login/link#token={live.link}")
    me.get_by_role("button", name="Continue to my standing").click()
    expect(me.get_by_role("heading", name="My standing", exact=True)).to_be_visible()
    defaulters = me.locator("li.listing", has_text="List of dishonest judgment defaulters")
    expect(defaulters).to_have_count(1)
    shot(me, "subject-standing")
    row = me.locator("tr", has=me.get_by_text("court/j1"))
    row.get_by_text("Object", exact=True).click()
    row.get_by_label("Why is it wrong?").fill("The judgment was paid in full in March.")
    row.get_by_role("button", name="File objection").click()
    expect(me.get_by_role("status")).to_contain_text("objection 1 filed")
    expect(me.get_by_text("under objection (1)")).to_be_visible()

    staff = browser.new_context()
    desk = staff.new_page()
    desk.goto(live.base + "/login")
    desk.get_by_label("API key").fill(live.operator)
    desk.get_by_role("button", name="Sign in").click()
    expect(desk.get_by_role("heading", name="Dashboard")).to_be_visible()
    shot(desk, "operator-dashboard")
    desk.get_by_role("link", name="Queues").click()
    case = desk.locator("#objections-1")
    expect(case).to_contain_text("The judgment was paid in full")
    shot(desk, "operator-queues")
    case.get_by_label("Uphold: retract the record").check()
    case.get_by_label("Reason (the subject reads it)").fill("The court confirms payment.")
    case.get_by_role("button", name="Decide").click()
    expect(desk.get_by_role("status")).to_contain_text("objection 1 upheld")
    expect(desk.locator("#objections-1")).to_have_count(0)

    me.reload()
    expect(defaulters).to_have_count(0)
    expect(me.get_by_text("retracted").first).to_be_visible()
    shot(me, "subject-after-upheld")

    public = browser.new_page()
    public.goto(f"{live.base}/public/lists/spc-defaulters/{LIST}")
    expect(
        public.get_by_role("heading", name="List of dishonest judgment defaulters")
    ).to_be_visible()
    expect(public.get_by_text(ALICE[:6])).to_have_count(0)
    expect(public.get_by_text(ACME)).to_be_visible()
    shot(public, "public-list")
    subject.close()
    staff.close()
    public.close()


def test_readable_on_a_phone(live: Live, browser: Browser) -> None:
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    for path, name in (("/", "phone-home"), ("/schemes", "phone-schemes")):
        page.goto(live.base + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(page, name)
    phone.close()


def test_the_access_log_holds_no_token_and_no_identifier(live: Live, browser: Browser) -> None:
    """Runs after the flows above (a sign-in with a link, objections, public views)."""
    page = browser.new_page()
    page.goto(f"{live.base}/v1/public/subjects/{ALICE}?purpose=curious")
    page.goto(f"{live.base}/public/subjects/{ACME}")
    page.close()
    logged = live.access_log.read_text(encoding="utf-8")
    assert "GET /login/link HTTP" in logged  # the sign-in page was opened, without its token
    assert f"/v1/public/subjects/{ALICE[:6]}**********{ALICE[-2:]} HTTP" in logged
    assert live.link not in logged and "scl_" not in logged and "token" not in logged
    assert ALICE not in logged and ACME not in logged and "purpose" not in logged
