"""An anonymous case followed end to end in Chromium, from the source's form to the room.

Issue 5's browser test, through the real pages and forms only (the batch releases, which an
operator or the timer does, are the one step run through the service on the live app's pool):

1. A delegate of Ghana opens "Share a case" from the home page, fills the form and submits; the
   receipt is shown once, with its warning, and the page names neither the delegate nor Ghana.
   Reloading that page (the browser sends the form again) does not share the case twice.
2. After a batch release, a moderator (in a browser without JavaScript) claims the case from
   the queue and asks the source a question.
3. The source types the receipt (in lower case, with spaces, as a person would) on the follow-up
   page, reads the question and answers it.
4. After the next batch, the moderator reads the answer, claims the case again, writes the
   redacted version (the diff against the original is shown) and approves it; four-eyes is on,
   so the page tells them that another moderator must publish.
5. A second moderator publishes it into the DIEF plenary room.
6. A member of that room finds the discussion thread in the room, opens the structured case from
   its first post, reads the redacted fields (region "undisclosed", the period, the categories),
   and comments in its thread.
7. A member of another room gets the 404 page for the case and its thread, as for a case that
   does not exist.

No page that a moderator or a reader got names the source, their email or their State, and
the published pages hold none of the original's sensitive strings. ``conftest.page`` fails the
test on any console error or Content-Security-Policy violation along the way.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from forum import db, keys
from forum.rooms import service as rooms
from moderation.queue import service as queue
from tests.factories import TestUser, make_user

from .test_invitation_flow import AppHandle, click_through, goto
from .test_rooms_browser import sign_in

if TYPE_CHECKING:
    from .conftest import PageFactory

pytestmark = pytest.mark.browser

SOURCE_NAME = "Kwabena Sourcefield"
NARRATIVE = ("Rifles declared for a police unit of the importing State were found with an "
             "armed group in the north, eight months after delivery.")
BROKER = "Kestrel Maritime Brokers Ltd"
DOCUMENT = "EUC-2024-0042"
STATES = "Exporter: Atlantis; transit: Utopia"
ITEM_MODEL = "KR-7 assault rifles, 7.62 mm"
QUESTION = "Was the stockpile audited after delivery?"
ANSWER = "No audit took place before the rifles went missing."
TITLE = "Re-transfer of rifles from a police stockpile"
REDACTED = "Rifles delivered to a police unit reached an armed group within a year."
COMMENT = "Our customs saw the same pattern with a police consignment."
SENSITIVE = (NARRATIVE, BROKER, DOCUMENT, STATES, ITEM_MODEL, "Atlantis", "KR-7")
CASE_PATH = re.compile(r"/moderation/cases/([0-9a-f-]{36})")


async def release_batch(app: web.Application) -> None:
    """What the batch timer (or ``dief cases release``) does at a batch boundary."""
    async with db.transaction(app[keys.POOL]) as conn:
        await queue.release_batch(conn, app[keys.KEYRING])


async def new_room(app: web.Application, slug: str, kind: str, *members: TestUser) -> None:
    async with db.transaction(app[keys.POOL]) as conn:
        room = await rooms.create_room(conn, app[keys.KEYRING], None, slug=slug, kind=kind,
                                       name=f"Room {slug}")
        for member in members:
            await rooms.add_member(conn, app[keys.KEYRING], None, room.id, member.id)


async def look_up(page: Page, receipt: str) -> None:
    """The follow-up page, with the receipt typed in its form (never in an address)."""
    await goto(page, "/cases/follow-up")
    await page.fill("#f-receipt", receipt)
    await click_through(page, "form[action='/cases/follow-up'] button[type=submit]",
                        "/cases/follow-up")
    await expect(page.locator("h1")).to_have_text("Your case")


class Seen:
    """Every page a moderator or a reader was shown, to check afterwards what none of them
    held: the source's identity."""

    def __init__(self) -> None:
        self.pages: list[tuple[str, str]] = []

    async def keep(self, page: Page) -> str:
        content = await page.content()
        self.pages.append((page.url, content))
        return content

    def holding(self, *needles: str) -> list[str]:
        return [f"{url} holds {needle!r}" for url, content in self.pages
                for needle in needles if needle in content]


async def test_case_from_the_form_to_its_room(live_app: web.Application,
                                             page: PageFactory) -> None:
    handle = AppHandle(live_app)
    source = await make_user(handle, role="delegate", state="GHA",  # type: ignore[arg-type]
                             name=SOURCE_NAME)
    mod1 = await make_user(handle, role="moderator", name="Mona Moderator")  # type: ignore[arg-type]
    mod2 = await make_user(handle, role="moderator", name="Marco Moderator")  # type: ignore[arg-type]
    reader = await make_user(handle, role="delegate", state="FRA",  # type: ignore[arg-type]
                             name="Rosa Reader")
    outsider = await make_user(handle, role="delegate", state="BRA",  # type: ignore[arg-type]
                               name="Olaf Outsider")
    await new_room(live_app, "dief-plenary", "plenary", mod1, mod2, reader)
    await new_room(live_app, "wg-other", "working_group", outsider)
    seen = Seen()

    # 1. The source shares a case from the home page's link, and notes the receipt.
    s = await page(locale="en-GB")
    await sign_in(s, source)
    await click_through(s, "main a[href='/cases/new']", "/cases/new")
    await s.fill("#f-narrative", NARRATIVE)
    await s.check("input[name=transfer_stage][value=post_delivery_storage]")
    await s.check("input[name=detection_status][value=detected]")
    await s.check("input[name=item_categories][value=small_arms_light_weapons]")
    await s.check("input[name=diversion_methods][value=unauthorised_retransfer]")
    await s.check("input[name=actor_types][value=broker]")
    await s.check("input[name=response_measures][value=alert_states]")
    await s.fill("#f-item_model", ITEM_MODEL)
    await s.select_option("#f-quantity_band", "101_1000")
    await s.select_option("#f-period_year", "2024")
    await s.select_option("#f-period_quarter", "3")
    await s.fill("#f-states_involved", STATES)
    await s.fill("#f-named_entities", BROKER)
    await s.fill("#f-document_refs", DOCUMENT)
    await s.check("input[name=sharing_scope][value=dief_plenary]")
    await expect(s.locator("input[name=attribution][value=anonymous]")).to_be_checked()
    await click_through(s, "form[action='/cases'] button[type=submit]", "/cases")
    await expect(s.locator("h1")).to_have_text("Your case was received")
    await expect(s.locator("[role=alert]")).to_contain_text("cannot be recovered")
    receipt = (await s.locator("code.secret").inner_text()).strip()
    assert re.fullmatch(r"[A-Z2-9]{5}(-[A-Z2-9]{5}){4}", receipt), receipt
    groups = await s.locator(".receipt-code .group").all_inner_texts()
    assert "-".join(groups) == receipt
    receipt_page = await s.content()
    for identity in (SOURCE_NAME, source.email, "Ghana"):
        assert identity not in receipt_page, identity
    # Reloading the receipt page sends the form again: the case is not shared twice.
    reloaded = await s.reload()
    assert reloaded is not None and reloaded.request.method == "POST", reloaded
    assert reloaded.status == 409
    await expect(s.locator("h1")).to_have_text("This case was already shared")
    await expect(s.locator("code.secret")).to_have_count(0)

    # 2. A batch is released; a moderator, without JavaScript, claims the case and asks.
    await release_batch(live_app)
    m1 = await page(locale="en-GB", java_script_enabled=False)
    await sign_in(m1, mod1)
    await click_through(m1, "header nav a[href='/moderation']", "/moderation")
    claim = m1.locator("table.queue form[action='/moderation/claim'] button[type=submit]")
    await expect(claim).to_have_count(1)
    async with m1.expect_navigation():
        await claim.click()
    match = CASE_PATH.fullmatch(urlsplit(m1.url).path)
    assert match, m1.url
    case_id = match.group(1)
    case_path = f"/moderation/cases/{case_id}"
    await expect(m1.locator("[role=status]")).to_contain_text("You have claimed this case")
    await expect(m1.locator("section[aria-labelledby=original-heading]")).to_contain_text(
        NARRATIVE)
    await expect(m1.locator("section[aria-labelledby=facts-heading]")).to_contain_text(
        "Anonymous")
    await seen.keep(m1)
    await m1.fill("#f-question", QUESTION)
    await click_through(m1, f"form[action='{case_path}/ask'] button[type=submit]", case_path)
    await expect(m1.locator("[role=status]")).to_contain_text("Your question is sent")
    await seen.keep(m1)

    # 3. The source reads the question with the receipt, typed loosely, and answers it.
    await look_up(s, receipt.lower().replace("-", " "))
    await expect(s.locator("ol.messages")).to_contain_text(QUESTION)
    await expect(s.locator("label[for=f-body]")).to_have_text("Your answer")
    await s.fill("#f-body", ANSWER)
    await click_through(s, "form#answer button[type=submit]", "/cases/follow-up")
    await expect(s.locator("[role=status]")).to_contain_text("Your message is saved")
    await expect(s.locator("ol.messages li.from-source")).to_contain_text(
        "waiting for the next batch")
    assert "receipt" not in urlsplit(s.url).query

    # 4. The answer arrives with the next batch; the moderator redacts and approves.
    await release_batch(live_app)
    await goto(m1, case_path)
    await expect(m1.locator("ol.messages li.from-source")).to_contain_text(ANSWER)
    await click_through(m1, "main form[action='/moderation/claim'] button[type=submit]",
                        case_path)
    await expect(m1.locator("#f-narrative")).to_have_value(NARRATIVE)  # pre-filled
    await m1.fill("#f-title", TITLE)
    await m1.fill("#f-narrative", REDACTED)
    for name in ("states_involved", "named_entities", "document_refs", "item_model"):
        await m1.fill(f"#f-{name}", "")
    await click_through(m1, f"form[action='{case_path}/redact'] button[type=submit]",
                        case_path)
    await expect(m1.locator("[role=status]")).to_have_text("The redacted version is saved.")
    await expect(m1.locator("pre.diff")).to_contain_text(f"-{DOCUMENT}")
    await click_through(m1, f"form[action='{case_path}/approve'] button[type=submit]",
                        case_path)
    await expect(m1.locator("[role=status]")).to_contain_text("Approved")
    await expect(m1.locator("section[aria-labelledby=publication-heading]")).to_contain_text(
        "another moderator must publish it")
    await expect(m1.locator(f"form[action='{case_path}/publish']")).to_have_count(0)
    await seen.keep(m1)

    # 5. A second moderator publishes it into the plenary room.
    m2 = await page(locale="en-GB")
    await sign_in(m2, mod2)
    await goto(m2, case_path)
    await seen.keep(m2)
    await m2.select_option("#f-room", "dief-plenary")
    await click_through(m2, f"form[action='{case_path}/publish'] button[type=submit]",
                        case_path)
    await expect(m2.locator("[role=status]")).to_have_text("The case is published.")
    await expect(m2.locator("section[aria-labelledby=history-heading]")).to_contain_text(
        "Marco Moderator")
    await seen.keep(m2)

    # 6. A member of the room finds its thread, opens the structured case, and comments.
    r = await page(locale="en-GB")
    await sign_in(r, reader)
    await goto(r, "/rooms/dief-plenary")
    async with r.expect_navigation():
        await r.click(f"table.threads a:text-is('{TITLE}')")
    thread_path = urlsplit(r.url).path
    assert re.fullmatch(r"/threads/[0-9a-f-]{36}", thread_path), r.url
    first = r.locator("ol.posts > li.post").first
    await expect(first.locator("div.body")).to_contain_text(REDACTED)
    await click_through(r, f"ol.posts a[href='/cases/{case_id}']", f"/cases/{case_id}")
    await expect(r.locator("h1")).to_have_text(TITLE)
    facts = r.locator("section[aria-labelledby=facts-heading]")
    for fact in ("undisclosed", "Quarter 3 of 2024", "Small arms and light weapons",
                 "After delivery, in storage", "Unauthorised re-transfer",
                 "Alerted affected States"):
        await expect(facts).to_contain_text(fact)
    await expect(r.locator("section[aria-labelledby=narrative-heading]")).to_contain_text(
        REDACTED)
    await expect(r.locator("dt.shared-by")).to_have_count(0)  # anonymous: no State shown
    published = await seen.keep(r)
    assert [s_ for s_ in SENSITIVE if s_ in published] == []
    await click_through(r, f"main a.button[href='{thread_path}']", thread_path)
    await r.fill("#body", COMMENT)
    await click_through(r, "#reply form button[type=submit]", thread_path)
    reply = r.locator("ol.posts > li.post").last
    await expect(reply.locator("header strong")).to_have_text("Rosa Reader")
    await expect(reply.locator("div.body")).to_have_text(COMMENT)
    thread = await seen.keep(r)
    assert [s_ for s_ in SENSITIVE if s_ in thread] == []

    # The source sees it published, and may now destroy the original wording.
    await look_up(s, receipt)
    await expect(s.locator("h2#status-heading")).to_contain_text("Published")
    await expect(s.locator("section[aria-labelledby=destroy-heading]")).to_be_visible()

    # 7. A member of another room gets the 404 page, as for a case that does not exist.
    o = await page(locale="en-GB")
    await sign_in(o, outsider)
    for path in (f"/cases/{case_id}", thread_path, f"/cases/{uuid.uuid4()}"):
        refused = await o.goto(path)
        assert refused is not None and refused.status == 404, (path, refused)
        await expect(o.locator("h1")).to_have_text("Not found")
        content = await o.content()
        assert TITLE not in content and REDACTED not in content

    # Nothing a moderator or a reader was shown names the source.
    assert seen.holding(SOURCE_NAME, source.email, "Ghana") == []
