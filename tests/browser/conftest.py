"""Fixtures for browser tests: a live server per test, one Chromium per run, a page per call.

* ``live_app`` / ``live_server`` — the real app (``create_app``) served by ``web.AppRunner`` on
  127.0.0.1 and a free port, inside the test loop, on this test's fresh database. The port is
  reserved by binding the socket first and handed to ``web.SockSite`` (a ``TCPSite`` would need
  the port chosen before it binds, and the app needs its ``base_url`` before it starts), so
  there is no window in which another process can take it. ``base_url`` (``DIEF_BASE_URL``) is
  that URL, so invitation links and the CSRF origin check see the address the browser uses.
* ``browser`` — Chromium from Debian (``/usr/bin/chromium``), launched once per session through
  Playwright's async API on pytest-asyncio's session loop. ``playwright install`` is never used:
  no browser is downloaded. Without ``/usr/bin/chromium`` every browser test is skipped.
* ``page`` — a factory: ``await page(locale="fr-FR", java_script_enabled=False)`` opens a page
  in a new, isolated context (its own cookies) whose relative URLs resolve against the live
  server. Everything the browser complains about is recorded; at teardown the test fails on a
  Content-Security-Policy violation, an uncaught page error, any other console error, or a
  sub-resource (stylesheet, image…) that failed or answered 4xx/5xx.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest
from aiohttp import web
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Response,
    async_playwright,
)

from forum import keys
from forum.app import create_app
from forum.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium tries to reach Google's update, sync and metrics hosts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 10_000  # Playwright's default is 30 s; a local page answers in milliseconds


# --- live server ------------------------------------------------------------------------------

@pytest.fixture
async def live_app(settings: Settings, database_url: str) -> AsyncIterator[web.Application]:
    """The real app, started and listening; its settings' ``base_url`` is where."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings.replace(base_url=f"http://127.0.0.1:{port}"),
                     database_url=database_url)
    try:
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()  # runs the cleanup contexts: pool, password hasher
        try:
            await web.SockSite(runner, sock).start()
            yield app
        finally:
            await runner.cleanup()
    finally:
        sock.close()


@pytest.fixture
def live_server(live_app: web.Application) -> str:
    """Base URL of the live server, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
    return live_app[keys.SETTINGS].base_url


# --- browser ----------------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def chromium_executable() -> Path:
    """Skips every browser test, before any database is made, when Chromium is missing — on
    a developer's machine only: ``.ci/run`` sets ``DIEF_REQUIRE_BROWSER=1``, so CI fails
    instead of passing without having driven a browser."""
    if not CHROMIUM.exists():
        message = (f"browser tests need Debian's Chromium at {CHROMIUM} "
                   "(apt-get install chromium); Playwright's own download is not used")
        if os.environ.get("DIEF_REQUIRE_BROWSER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium_executable: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_executable,
                                                    args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class BrowserLog:
    """What the browser reported while a test ran; ``problems()`` is what fails the test."""

    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_resources: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = f"{message.text} (at {message.location.get('url') or '?'})"
        if "Content Security Policy" in message.text:
            self.csp_violations.append(text)
        elif not message.text.startswith("Failed to load resource"):
            # "Failed to load resource" duplicates _on_response/_on_request_failed, which tell a
            # sub-resource from a page answering 4xx on purpose (a rejected form).
            self.console_errors.append(text)

    def _on_page_error(self, error: Error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}")

    def _on_request_failed(self, request: Request) -> None:
        # ERR_ABORTED: the browser cancelled it, the page having moved on (a favicon still
        # loading when a form is sent); a resource that answers 4xx/5xx is _on_response's.
        if not request.is_navigation_request() and request.failure != "net::ERR_ABORTED":
            self.failed_resources.append(f"{request.method} {request.url}: {request.failure}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and not response.request.is_navigation_request():
            self.failed_resources.append(
                f"{response.request.method} {response.url}: HTTP {response.status}")

    def problems(self) -> list[str]:
        return ([f"CSP violation: {t}" for t in self.csp_violations]
                + [f"page error: {t}" for t in self.page_errors]
                + [f"console error: {t}" for t in self.console_errors]
                + [f"failed sub-resource: {t}" for t in self.failed_resources])


class PageFactory(Protocol):
    def __call__(self, *, locale: str = "en-GB",
                 java_script_enabled: bool = True) -> Awaitable[Page]: ...


@pytest.fixture
async def page(browser: Browser, live_server: str) -> AsyncIterator[PageFactory]:
    """``await page(locale=..., java_script_enabled=...)``: a page in a new browser context.

    ``locale`` sets ``navigator.language`` and the ``Accept-Language`` header Chromium sends.
    """
    contexts: list[BrowserContext] = []
    log = BrowserLog()

    async def open_page(*, locale: str = "en-GB", java_script_enabled: bool = True) -> Page:
        context = await browser.new_context(base_url=live_server, locale=locale,
                                            java_script_enabled=java_script_enabled)
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        new = await context.new_page()
        log.watch(new)
        return new

    yield open_page
    for context in contexts:
        await context.close()
    problems = log.problems()
    if problems:
        pytest.fail("the browser reported problems:\n  " + "\n  ".join(problems),
                    pytrace=False)

