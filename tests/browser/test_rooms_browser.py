"""Rooms in Chromium: the XSS corpus stays inert in a real browser, and two members talk.

1. Every payload of ``tests/xss_payloads.py`` is written into a thread (created, then edited)
   and as a thread title, through the services on the live app's pool. A member opens every
   page of the thread and of the room with JavaScript on, twice: once as served (with our
   Content-Security-Policy, whose violations fail the test in ``conftest.page``'s teardown) and
   once with the CSP bypassed, so that only the sanitiser stands between a payload and the page.
   An init script (which Playwright runs before any page script, CSP or not) defines
   ``window.__xss`` and replaces ``alert``/``confirm``/``prompt`` with recorders and watches for
   inserted script-capable elements; nothing may fire, no dialog may open, no console marker may
   appear, the page has no script element at all, and every post is there.
2. Issue 3's browser test: A starts a thread in their room, B replies with a quote, A edits
   the post, B reads the earlier version in its history; a member of another room gets the
   404 page on the thread's URL.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Browser, Dialog, Page, expect

from forum import db, keys
from forum.auth import service as auth
from forum.rooms import service
from tests.factories import TestUser, make_user
from tests.test_xss import api_text
from tests.xss_payloads import PAYLOADS

from .conftest import TIMEOUT_MS, BrowserLog
from .test_invitation_flow import AppHandle, click_through, goto, sign_in_with_password

if TYPE_CHECKING:
    from .conftest import PageFactory

pytestmark = pytest.mark.browser

# Runs in every frame before the page's own scripts; records whatever a payload would do.
WATCH_SCRIPT = """
(() => {
  const fired = window.__fired = [];
  window.__xss = n => { fired.push(String(n)); };
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = n => { fired.push(name + ":" + n); };
  }
  const added = window.__added = [];
  new MutationObserver(records => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType === 1 && /^(script|iframe|frame|object|embed|base|meta|style)$/i
            .test(node.localName) && !node.closest("head")) {
          added.push(node.localName);
        }
      }
    }
  }).observe(document, {childList: true, subtree: true});
})();
"""

# Pokes every element of the posts with the events inline handlers listen to (a click would
# navigate; links are checked by their resolved protocol instead), then reports.
INSPECT_SCRIPT = """
async () => {
  const posts = document.querySelectorAll("ol.posts *");
  for (const el of posts) {
    for (const type of ["mouseover", "mouseenter", "pointerover", "focus", "focusin", "blur",
                        "animationstart", "toggle", "load", "error"]) {
      el.dispatchEvent(new Event(type, {bubbles: false}));
    }
  }
  await new Promise(resolve => setTimeout(resolve, 50));
  const allowed = new Set(["a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "table",
    "tbody", "td", "th", "thead", "tr", "ul"]);
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    for (const attr of el.attributes) {
      if (/^on/i.test(attr.name) || ["style", "srcdoc", "formaction"].includes(attr.name)) {
        bad.push(`<${el.localName} ${attr.name}=${attr.value}>`);
      }
    }
  }
  for (const el of document.querySelectorAll("div.body *")) {
    if (!allowed.has(el.localName)) bad.push(`<${el.localName}> in a post`);
  }
  for (const a of document.querySelectorAll("a[href]")) {
    const protocol = new URL(a.href, location.href).protocol;
    if (!["http:", "https:", "mailto:"].includes(protocol)) {
      bad.push(`link to ${a.getAttribute("href")}`);
    }
  }
  for (const a of document.querySelectorAll("div.body a")) {
    const rel = new Set((a.getAttribute("rel") || "").split(/\\s+/));
    if (!["nofollow", "noopener", "noreferrer"].every(r => rel.has(r))) {
      bad.push(`link without rel: ${a.outerHTML}`);
    }
  }
  const dangerous = document.querySelectorAll(
    "script, iframe, frame, object, embed, applet, portal, svg, math, img, video, audio, " +
    "style, base, template, meta[http-equiv], body form:not([action^='/'])");
  return {
    fired: window.__fired, added: window.__added, bad,
    dangerous: [...dangerous].map(el => el.outerHTML.slice(0, 120)),
    scripts: document.scripts.length, frames: window.frames.length,
    posts: document.querySelectorAll("ol.posts > li.post").length,
    bodies: document.querySelectorAll("ol.posts > li.post div.body").length,
    threads: [...document.querySelectorAll("table.threads a[href^='/threads/']")]
      .map(a => a.textContent),
    location: location.href,
  };
}
"""


@dataclasses.dataclass
class Watched:
    """A page with the XSS watch installed, and what it saw outside the page's own script."""

    page: Page
    dialogs: list[str] = dataclasses.field(default_factory=list)
    markers: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    async def install(cls, page: Page) -> Watched:
        watched = cls(page)

        async def on_dialog(dialog: Dialog) -> None:
            watched.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", lambda message: watched.markers.append(message.text)
                if "__xss" in message.text else None)
        await page.add_init_script(WATCH_SCRIPT)
        return watched

    async def inspect(self, path: str) -> dict[str, Any]:
        """Open ``path``, let deferred handlers run, and assert nothing fired."""
        await goto(self.page, path)  # returns once the page has loaded
        report: dict[str, Any] = await self.page.evaluate(INSPECT_SCRIPT)
        assert report["fired"] == [], f"{path}: payloads fired: {report['fired']}"
        assert report["added"] == [], f"{path}: elements added: {report['added']}"
        assert report["bad"] == [], f"{path}: " + "\n".join(report["bad"])
        assert report["dangerous"] == [], f"{path}: " + "\n".join(report["dangerous"])
        assert report["scripts"] == 0 and report["frames"] == 0, report
        assert self.dialogs == [], f"{path}: dialogs opened: {self.dialogs}"
        assert self.markers == [], f"{path}: console markers: {self.markers}"
        return report


async def sign_in(page: Page, user: TestUser) -> None:
    await sign_in_with_password(page, user.email, user.password, "/signin/2fa")
    await page.fill("#code", user.next_code())
    await click_through(page, "main form button[type=submit]", "/")


async def new_room(app: web.Application, *members: TestUser) -> service.Room:
    async with db.transaction(app[keys.POOL]) as conn:
        room = await service.create_room(conn, app[keys.KEYRING], None,
                                         slug=f"room-{uuid.uuid4().hex[:8]}",
                                         kind="working_group", name="Working group room")
        for member in members:
            await service.add_member(conn, app[keys.KEYRING], None, room.id, member.id)
    return room


# --- 1. the XSS corpus in Chromium -----------------------------------------------------------

async def write_corpus(app: web.Application, author: TestUser,
                       room: service.Room) -> tuple[uuid.UUID, list[str]]:
    """A thread with one post per payload (each created with one payload, then edited to the
    next: every payload goes through both), and one thread titled with each payload."""
    settings = dataclasses.replace(app[keys.SETTINGS], posts_per_minute=1000)
    store = app[keys.KEYSTORE]
    titles: list[str] = []
    async with db.transaction(app[keys.POOL]) as conn:
        actor = await auth.unsafe_actor_for(conn, author.id)
        for payload in PAYLOADS:
            text = api_text(payload)
            title = " ".join(text[:service.MAX_TITLE].split())
            await service.create_thread(conn, store, settings, actor, room.id, title=title,
                                        body=f"Titled with payload {payload.n}.")
            titles.append(title)
        thread_id, _first = await service.create_thread(
            conn, store, settings, actor, room.id, title="The XSS corpus",
            body="Every payload follows, one per post.")
        for index, payload in enumerate(PAYLOADS):
            post_id = await service.create_post(conn, store, settings, actor, thread_id,
                                                body=api_text(payload))
            following = PAYLOADS[(index + 1) % len(PAYLOADS)]
            await service.edit_post(conn, store, actor, post_id, body=api_text(following))
    return thread_id, titles


async def csp_free_page(browser: Browser, live_server: str) -> tuple[Page, BrowserLog]:
    """A page on which our Content-Security-Policy is ignored: only the sanitiser protects it.

    ``conftest.page`` cannot make one (it opens contexts as served); this reuses its
    ``BrowserLog`` and the session's browser, and the caller closes the context."""
    context = await browser.new_context(base_url=live_server, locale="en-GB",
                                        java_script_enabled=True, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    log = BrowserLog()
    log.watch(page)
    return page, log


async def test_no_payload_fires_in_chromium(live_app: web.Application, live_server: str,
                                           page: PageFactory, browser: Browser) -> None:
    started = time.monotonic()
    reader = await make_user(AppHandle(live_app), role="delegate", name="Rita Reader")  # type: ignore[arg-type]
    author = await make_user(AppHandle(live_app), role="delegate", name="Xavier Author")  # type: ignore[arg-type]
    room = await new_room(live_app, reader, author)
    thread_id, titles = await write_corpus(live_app, author, room)
    posts = len(PAYLOADS) + 1
    thread_pages = [f"/threads/{thread_id}?after={after}"
                    for after in range(0, posts, service.POSTS_PER_PAGE)]
    written = time.monotonic()

    async def read_thread(watched: Watched) -> None:
        shown = 0
        for path in thread_pages:
            report = await watched.inspect(path)
            assert report["posts"] == report["bodies"] > 0, report
            shown += report["posts"]
        assert shown == posts

    async def read_room(watched: Watched) -> None:
        listed: list[str] = []
        path: str | None = f"/rooms/{room.slug}"
        while path is not None:
            report = await watched.inspect(path)
            listed += report["threads"]
            older = watched.page.locator("a[rel=next]")
            path = await older.get_attribute("href") if await older.count() else None
        # Every title is listed, as the text that was written (whitespace aside).
        assert sorted(" ".join(t.split()) for t in listed) == sorted([*titles, "The XSS corpus"])

    # As served, under our CSP: a payload that got through would also show up as a CSP
    # violation, which fails the test when ``page`` tears down.
    served = await Watched.install(await page(locale="en-GB", java_script_enabled=True))
    await sign_in(served.page, reader)
    await read_thread(served)

    # With the CSP bypassed: inline script and handlers that got through would now run. The
    # room's pages (the titles) are read here only: titles are escaped text, not sanitised HTML,
    # and this is the stricter of the two readings.
    unprotected_page, log = await csp_free_page(browser, live_server)
    try:
        unprotected = await Watched.install(unprotected_page)
        await sign_in(unprotected.page, reader)
        await read_thread(unprotected)
        await read_room(unprotected)
    finally:
        await unprotected_page.context.close()
    assert log.problems() == []
    print(f"\n{len(PAYLOADS)} payloads, {len(thread_pages)} thread pages: written in "
          f"{written - started:.1f} s, read in {time.monotonic() - written:.1f} s")


# --- 2. two members talk; a stranger gets 404 ------------------------------------------------

def post_item(page: Page, post_id: str) -> Any:
    return page.locator(f"li#post-{post_id}")


async def test_two_members_exchange_posts_and_a_stranger_gets_404(
        live_app: web.Application, page: PageFactory) -> None:
    handle = AppHandle(live_app)
    amina = await make_user(handle, role="delegate", name="Amina Diallo")  # type: ignore[arg-type]
    bjorn = await make_user(handle, role="delegate", name="Björn Larsen")  # type: ignore[arg-type]
    carla = await make_user(handle, role="delegate", name="Carla Ruiz")  # type: ignore[arg-type]
    room = await new_room(live_app, amina, bjorn)
    await new_room(live_app, carla)  # Carla belongs to another room
    first_text = "Rifles declared for *re-export* were **diverted** at the border."
    edited_text = "Rifles declared for *re-export* were **diverted** at a land border."

    # A starts a thread in the room.
    a = await page(locale="en-GB")
    await sign_in(a, amina)
    await goto(a, f"/rooms/{room.slug}")
    await a.fill("#title", "Diverted rifles")
    await a.fill("#body", first_text)
    async with a.expect_navigation() as navigation:
        await a.click(f"form[action='/rooms/{room.slug}/threads'] button[type=submit]")
    response = await navigation.value
    assert response is not None and response.ok
    match = re.fullmatch(r"/threads/([0-9a-f-]{36})", urlsplit(a.url).path)
    assert match, a.url
    thread_path = f"/threads/{match.group(1)}"
    await expect(a.locator("h1")).to_have_text("Diverted rifles")
    first = a.locator("ol.posts > li.post").first
    first_id = (await first.get_attribute("id") or "").removeprefix("post-")
    await expect(first.locator("div.body strong")).to_have_text("diverted")

    # B, in a browser without JavaScript, opens it and replies with a quote.
    b = await page(locale="en-GB", java_script_enabled=False)
    await sign_in(b, bjorn)
    await goto(b, thread_path)
    await click_through(b, f"li#post-{first_id} footer a:text-is('Quote')", thread_path)
    draft = await b.input_value("#body")
    assert draft.startswith("> **Amina Diallo** wrote:\n>\n"), draft
    assert f"> {first_text}" in draft, draft
    await b.fill("#body", draft + "We saw the same route last spring.")
    await click_through(b, "#reply form button[type=submit]", thread_path)
    reply = b.locator("ol.posts > li.post").nth(1)
    await expect(reply.locator("header strong")).to_have_text("Björn Larsen")
    await expect(reply.locator("blockquote")).to_contain_text("Amina Diallo wrote:")
    await expect(reply.locator("blockquote")).to_contain_text("diverted at the border")
    await expect(reply.locator("div.body > p")).to_have_text(
        "We saw the same route last spring.")

    # A edits the first post.
    await goto(a, thread_path)
    await click_through(a, f"li#post-{first_id} footer a:text-is('Edit')",
                        f"/posts/{first_id}/edit")
    assert await a.input_value("#body") == first_text
    await a.fill("#body", edited_text)
    await click_through(a, f"form[action='/posts/{first_id}/edit'] button[type=submit]",
                        thread_path)
    await expect(post_item(a, first_id).locator("div.body")).to_contain_text("at a land border")
    await expect(post_item(a, first_id).locator("header a")).to_have_text("edited")

    # B opens the history and reads the earlier version.
    await goto(b, thread_path)
    await expect(post_item(b, first_id).locator("div.body")).to_contain_text("at a land border")
    await click_through(b, f"li#post-{first_id} footer a:text-is('History')",
                        f"/posts/{first_id}/history")
    await expect(b.locator("h1")).to_have_text("Post history")
    await expect(b.locator("section.revision pre.source")).to_have_text(first_text)
    await expect(b.locator("section").first.locator("pre.source")).to_have_text(edited_text)

    # C, a member of another room, gets the 404 page — as for a thread that does not exist.
    c = await page(locale="en-GB")
    await sign_in(c, carla)
    for path in (thread_path, f"/threads/{uuid.uuid4()}"):
        refused = await c.goto(path)
        assert refused is not None and refused.status == 404, (path, refused)
        await expect(c.locator("h1")).to_have_text("Not found")
    assert "Diverted rifles" not in await c.content()
