"""Real browser (Debian's chromium via Playwright) against the real server: each role signs
in; a developer mints a key on /me/, calls the gateway with it and sees the usage change;
the tenant admin's live feed shows the request without a reload; an inline HTMX edit saves.
Screenshots of every page, desktop and phone-sized, go to test-artifacts/screenshots/.

Needs the `chromium` system package (Debian/Ubuntu: `apt-get install -y chromium`); the
Playwright Python package drives it and downloads no browser.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from django.db import connections

from governance.models import ApiKey, Budget
from governance.services.users import create_user
from tests.gateway_harness import ROOT, auth, chat_body, running_gateways, wait_for_records

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "browser-pass-2024"
WAIT_MS = 10_000
T = TypeVar("T")


@contextlib.contextmanager
def chromium() -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need the `chromium` system package "
            "(Debian/Ubuntu: apt-get install -y chromium). Never `playwright install`.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Visitor:
    """One signed-in person in their own browser context (cookies), with a page."""

    def __init__(self, browser, base_url: str, name: str) -> None:
        self.base_url, self.name = base_url, name
        self.context = browser.new_context(viewport=DESKTOP, base_url=base_url)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm prompts

    def sign_in(self, username: str) -> None:
        self.page.goto("/accounts/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(lambda url: "/accounts/login/" not in url)

    def shoot(self, label: str) -> None:
        """Screenshot the current page on the desktop and at phone size; the phone view
        must not scroll sideways (wide tables scroll inside their own box)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{self.name}-{label}-desktop.png", full_page=True)
        self.page.set_viewport_size(PHONE)
        overflow = self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        self.page.screenshot(path=SCREENSHOTS / f"{self.name}-{label}-phone.png", full_page=True)
        self.page.set_viewport_size(DESKTOP)
        assert overflow <= 1, f"{self.name} {label}: page is {overflow}px wider than a phone"


def _people(operator, tenant):
    operator.set_password(PASSWORD)
    operator.save()
    admin = create_user(
        actor=operator, email="boss@acme.test", tenant=tenant, role="admin", password=PASSWORD
    )
    dev = create_user(
        actor=operator,
        email="coder@acme.test",
        tenant=tenant,
        daily_budget_usd=Decimal("1"),
        password=PASSWORD,
    )
    return admin, dev


def _db(query: Callable[[], T]) -> T:
    """Run an ORM read while Playwright drives the browser: its sync API keeps an event loop
    in this thread, where Django refuses (and would leak) connections. The thread closes
    its own connection; the database is committed (gw_db), so it sees every row."""

    def run() -> T:
        try:
            return query()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text().strip()


def test_roles_key_minting_gateway_call_and_live_feed(tmp_path, setup, operator, tenant_a):
    from playwright.sync_api import expect

    admin, dev = _people(operator, tenant_a)
    with chromium() as browser, running_gateways(tmp_path) as gateways:
        base = gateways.url
        login = Visitor(browser, base, "anonymous")
        login.page.goto("/me/")
        expect(login.page).to_have_url(f"{base}/accounts/login/?next=/me/")
        login.shoot("login")

        # The tenant admin watches the overview; its feed connects over the websocket.
        boss = Visitor(browser, base, "admin")
        boss.sign_in(admin.username)
        boss.page.goto("/dashboard/")
        expect(boss.page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
        assert _text(boss.page, "[data-testid=requests-today]") == "0"

        # The developer mints a key on /me/: shown once, in the response fragment.
        coder = Visitor(browser, base, "developer")
        coder.sign_in(dev.username)
        expect(coder.page).to_have_url(f"{base}/me/")
        assert _text(coder.page, "[data-testid=spent-today]") == "$0.00"
        coder.page.goto("/dashboard/")
        assert "Not allowed" in coder.page.content()
        coder.page.goto("/me/")
        coder.page.fill("input[name=name]", "laptop")
        coder.page.click("#mint button[type=submit]")
        raw = _text(coder.page, "[data-testid=raw-key]")
        assert raw.startswith("ck-")
        key = _db(lambda: ApiKey.objects.get(owner=dev))
        expect(coder.page.locator(f"#key-{key.pk}")).to_contain_text("laptop")
        coder.shoot("me-new-key")

        # A chat completion through the gateway with the new key.
        gateways.sync()
        reply = httpx.post(
            f"{base}/v1/chat/completions", json=chat_body("hi there"), headers=auth(raw), timeout=10
        )
        assert reply.status_code == 200, reply.text
        request_id = reply.headers["x-candela-request-id"]
        [record] = _db(lambda: wait_for_records([request_id]))
        assert record.user_id == dev.pk and record.cost_usd > 0

        # The admin's feed shows it without a reload, and the summary follows.
        row = boss.page.locator(f'#feed-rows tr[data-request-id="{request_id}"]')
        expect(row).to_be_visible(timeout=WAIT_MS)
        expect(row).to_contain_text("gpt-4o-mini")
        expect(row).to_contain_text("coder@acme.test")
        expect(boss.page.locator("[data-testid=requests-today]")).to_have_text("1", timeout=WAIT_MS)
        boss.shoot("dashboard")

        # The developer's page refreshes its usage by itself.
        expect(coder.page.locator("[data-testid=requests-today]")).to_have_text(
            "1", timeout=WAIT_MS
        )
        assert _text(coder.page, "[data-testid=spent-today]") != "$0.00"
        coder.page.reload()
        assert raw not in coder.page.content()  # never shown again
        coder.shoot("me")

        # An inline HTMX edit from the admin's users page, CSRF header and all.
        boss.page.goto("/dashboard/users/")
        user_row = boss.page.locator(f"#user-{dev.pk}")
        user_row.locator("input[name=daily_budget_usd]").fill("5")
        user_row.locator("button[type=submit]").click()
        expect(boss.page.locator(f"#user-{dev.pk} .saved")).to_have_text("Saved")
        assert _db(lambda: Budget.objects.get(user=dev).daily_budget_usd) == Decimal("5")
        boss.shoot("users")
        for page in ("keys", "grants", "settings"):
            boss.page.goto(f"/dashboard/{page}/")
            boss.shoot(page)

        # The developer revokes the key; the gateway refuses it from then on.
        coder.page.locator(f"#key-{key.pk} button.danger").click()
        expect(coder.page.locator(f"#key-{key.pk}")).to_contain_text("revoked")
        gateways.sync()
        refused = httpx.post(
            f"{base}/v1/chat/completions", json=chat_body(), headers=auth(raw), timeout=10
        )
        assert refused.status_code == 401

        # The operator sees every tenant, picks one, and has the back office.
        op = Visitor(browser, base, "operator")
        op.sign_in(operator.username)
        op.page.goto("/dashboard/")
        expect(op.page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
        op.page.select_option("#tenant-picker", "acme")
        op.page.wait_for_url("**/dashboard/?tenant=acme")
        expect(op.page.locator("h1")).to_contain_text("Acme")
        op.shoot("dashboard-acme")
        op.page.goto("/admin/")
        expect(op.page.locator("body")).to_contain_text("API keys")
        op.shoot("admin")

        for visitor in (login, boss, coder, op):
            assert visitor.errors == [], f"{visitor.name}: {visitor.errors}"
