"""An invitation followed end to end in Chromium: admin invites, delegate joins, enrols, lands.

The whole flow runs twice, with JavaScript and without: every page must work without it (our
pages carry no script, and the CSP would refuse inline script anyway).

Set ``DIEF_BROWSER_SCREENSHOTS=/some/dir`` to keep screenshots of the enrolment and home pages.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Page, Response, expect

from crypto import totp
from tests.factories import make_user

if TYPE_CHECKING:
    from .conftest import PageFactory

pytestmark = pytest.mark.browser

ADMIN_NAME = "Ada Admin"
INVITEE_NAME = "Hélène Dupré"
INVITEE_PASSWORD = "copper violin harbour wicker"
SUBMIT = "main form button[type=submit]"


@dataclass
class AppHandle:
    """``tests.factories`` reaches the app through ``.app`` (a ``TestClient`` elsewhere)."""

    app: web.Application


async def expect_page(page: Page, response: Response | None, path: str) -> None:
    """The navigation ended on ``path`` with a 2xx answer; otherwise say what came instead."""
    assert response is not None, f"no response while loading {path}"
    if response.ok and urlsplit(page.url).path == path:
        return
    heading = page.locator("h1")
    title = await heading.first.inner_text() if await heading.count() else ""
    pytest.fail(f"expected a page at {path}; {response.request.method} {response.url} "
                f"answered {response.status} {title!r}", pytrace=False)


async def goto(page: Page, url: str, path: str | None = None) -> None:
    await expect_page(page, await page.goto(url), path or urlsplit(url).path)


async def click_through(page: Page, selector: str, path: str) -> None:
    """Click a link or a submit button, wait for the next page and check where it landed."""
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    await expect_page(page, await navigation.value, path)


async def sign_in_with_password(page: Page, email: str, password: str, next_path: str) -> None:
    await goto(page, "/signin")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await click_through(page, SUBMIT, next_path)


def screenshot_path(name: str) -> Path | None:
    directory = os.environ.get("DIEF_BROWSER_SCREENSHOTS")
    if not directory:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    return Path(directory) / f"{name}.png"


async def screenshot(page: Page, name: str) -> None:
    path = screenshot_path(name)
    if path is not None:
        await page.screenshot(path=path, full_page=True)


def current_code(secret_b32: str) -> str:
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return totp.code_at(secret, totp.counter_for(time.time()))


async def expect_whole_qr_code(page: Page) -> None:
    """The QR code is drawn whole: an <svg> without a viewBox is clipped, not scaled, when CSS
    gives it another size than its width/height attributes — and a cut QR code cannot be read.
    """
    svg = page.locator(".qr svg")
    await expect(svg).to_be_visible()
    box = await svg.bounding_box()
    assert box is not None
    view_box, width = await svg.get_attribute("viewBox"), await svg.get_attribute("width")
    assert view_box is not None or (width is not None and abs(box["width"] - float(width)) < 1), (
        f"the QR code is clipped: <svg width={width!r}> without a viewBox shown "
        f"{box['width']:.0f}px wide")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
async def test_invited_delegate_joins_enrols_and_lands_in_french(
        live_app: web.Application, live_server: str, page: PageFactory,
        javascript: bool) -> None:
    admin = await make_user(AppHandle(live_app), role="admin", name=ADMIN_NAME)  # type: ignore[arg-type]
    invitee_email = f"delegate-{uuid.uuid4().hex[:8]}@example.org"
    variant = "js" if javascript else "no-js"

    # The admin signs in: password, then a code from their authenticator.
    admin_page = await page(locale="en-GB", java_script_enabled=javascript)
    await sign_in_with_password(admin_page, admin.email, admin.password, "/signin/2fa")
    await admin_page.fill("#code", admin.next_code())
    await click_through(admin_page, SUBMIT, "/")
    await expect(admin_page.locator("html")).to_have_attribute("lang", "en")
    await expect(admin_page.locator("h1")).to_have_text(f"Welcome, {ADMIN_NAME}")

    # … and invites a delegate of France.
    await click_through(admin_page, "header nav a[href='/admin/users']", "/admin/users")
    await admin_page.fill("#invite-email", invitee_email)
    await admin_page.select_option("#invite-role", "delegate")
    await admin_page.select_option("#invite-state", "FRA")
    await click_through(admin_page, "form[action='/admin/invitations'] button[type=submit]",
                        "/admin/invitations")
    link = (await admin_page.locator("code#invitation-link").inner_text()).strip()
    assert link.startswith(f"{live_server}/invitations/"), link
    await expect(admin_page.locator("table").filter(has_text=invitee_email)).to_be_visible()

    # The invitee, whose browser asks for French, opens the link in a browser of their own.
    invitee = await page(locale="fr-FR", java_script_enabled=javascript)
    await goto(invitee, link)
    await expect(invitee.locator("html")).to_have_attribute("lang", "fr")
    await expect(invitee.locator("main")).to_contain_text(invitee_email)
    await invitee.fill("#display_name", INVITEE_NAME)
    await invitee.fill("#password", INVITEE_PASSWORD)
    await click_through(invitee, SUBMIT, urlsplit(link).path)  # "Account created"
    await click_through(invitee, "main a.button[href='/signin']", "/signin")

    # First sign-in: the password leads straight to setting up the second factor.
    await sign_in_with_password(invitee, invitee_email, INVITEE_PASSWORD, "/account/2fa/enrol")
    await expect_whole_qr_code(invitee)
    secret_b32 = (await invitee.locator("code.secret").inner_text()).strip()
    await screenshot(invitee, f"enrol-{variant}")
    await invitee.fill("#code", current_code(secret_b32))
    await click_through(invitee, SUBMIT, "/account/2fa/confirm")

    # Recovery codes are shown once; then on to the forum, in French.
    await expect(invitee.locator("ul.codes li code")).to_have_count(10)
    await click_through(invitee, "main a.button[href='/']", "/")
    await expect(invitee.locator("html")).to_have_attribute("lang", "fr")
    await expect(invitee.locator("h1")).to_have_text(f"Bienvenue, {INVITEE_NAME}")
    await screenshot(invitee, f"home-{variant}")

    # The admin now sees the account, with the role and State of the invitation.
    await goto(admin_page, "/admin/users")
    row = admin_page.locator("tr").filter(has_text=invitee_email)
    await expect(row).to_contain_text(INVITEE_NAME)
    await expect(row).to_contain_text("delegate")
    await expect(row).to_contain_text("FRA")
