"""The lessons pipeline end to end in Chromium: workshop → takeaways → lesson → four-eyes
approval → DIEF session agenda → briefing pack, with nothing sensitive reaching Geneva.

Through the pages, with real clicks on the real forms:

1. Moderator M1 creates a workshop (and so its room) on ``/workshops``, then adds a facilitator
   to the room on its member page, with the room role "facilitator".
2. The facilitator, in a browser without JavaScript, records three takeaways on the workshop
   page — two shareable, one that stays in the workshop.
3. M1 distils the two shareable takeaways and a published case into a lesson on
   ``/lessons/new`` (the third takeaway is not offered). The first draft names the case's broker:
   the lesson page shows the leak warning with the acknowledge box. M1 edits the name out and
   the warning is gone; M1's own approval is refused (four eyes).
4. Moderator M2, without JavaScript, approves the lesson — no warning, no acknowledgement — then
   plans a DIEF session on ``/dief-sessions``, puts the lesson and the case on its agenda (the
   lesson is now "Scheduled") and writes presenter notes of two paragraphs for the lesson.
5. M2 opens the printable briefing pack from the session page and downloads the Markdown one
   (an attachment): both carry the lesson and the case's published (redacted) title and
   narrative, and none of the case's sensitive fields (original narrative, named entity,
   document references, States involved, item model, dates and places), nor the takeaway that
   stays in the workshop, nor the source's name, e-mail, id or State. In the Markdown the
   presenter notes stay inside their quote: a line of them never becomes a heading of the pack.

The published case is made through the services (its own flow has its own browser test), by
``tests.factories.published_case``. At the end the audit chain verifies (as
``dief audit verify`` does) and holds the moderators' and the facilitator's actions.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Locator, Page, expect

from forum import db, keys
from forum.audit import service as audit
from forum.rooms import service as rooms
from tests.factories import TestUser, make_user, published_case

from .test_invitation_flow import AppHandle, click_through, expect_page, goto
from .test_rooms_browser import sign_in

if TYPE_CHECKING:
    from .conftest import PageFactory

pytestmark = pytest.mark.browser

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# The case, as its source wrote it: every sensitive field holds something Geneva must not read.
SOURCE_NAME = "Sabine Sourcewell"
SOURCE_STATE = "KEN"
ORIGINAL_NARRATIVE = ("On the night of 3 March the Zephyr Arms Brokerage loaded forty Vektor "
                      "rifles from the Port Kestrel depot onto an unmarked lorry.")
SENSITIVE = {
    "named_entities": "Zephyr Arms Brokerage",
    "document_refs": "EUC-2025-0419; Licence KX-77312",
    "states_involved": "Ruritania; Elbonia",
    "item_model": "Vektor R4 5.56mm",
    "dates_places": "3 March, Port Kestrel depot",
}
BROKER = SENSITIVE["named_entities"]
# … and as the Secretariat published it.
CASE_TITLE = "Rifles re-transferred after delivery"
CASE_NARRATIVE = "Rifles held in storage after delivery were re-transferred by a broker."

WORKSHOP = {"title": "Workshop West Africa", "slug": "ws-west-africa", "place": "Accra",
            "starts_on": "2026-05-04", "ends_on": "2026-05-06", "officials_trained": "12"}
TAKEAWAYS = [  # kind, body, shareable
    ("risk", "Stockpiles are rarely audited once the rifles are delivered.", True),
    ("mitigation", "Joint post-shipment checks with the importing ministry.", True),
    ("question", "Who pays for the post-shipment checks?", False),
]
LESSON_TITLE = "Audit stockpiles after delivery"
LEAKY_SUMMARY = f"Post-delivery checks would have caught {BROKER}'s re-transfer."
LESSON_SUMMARY = "Post-delivery checks would have caught the broker's re-transfer."
LESSON_MITIGATION = "Agree joint post-shipment checks in the export licence."
SESSION = {"title": "DIEF, autumn session", "held_on": "2026-09-15", "place": "Geneva"}
# Presenter notes of two paragraphs, one line of which reads as a Markdown heading.
NOTES = ("Five minutes, then questions from the floor.\n\n"
         "# Ask the room\nWho audits stockpiles after delivery?")


async def submit_to(page: Page, selector: str, pattern: str) -> re.Match[str]:
    """Click a submit button; the next page's path must match ``pattern`` (fully)."""
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    response = await navigation.value
    path = urlsplit(page.url).path
    match = re.fullmatch(pattern, path)
    await expect_page(page, response, path if match else pattern)
    assert match is not None
    return match


async def submit_refused(page: Page, selector: str, status: int) -> None:
    """Click a submit button; the form's page comes back with ``status`` and its error."""
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    response = await navigation.value
    assert response is not None and response.status == status, (
        response and f"{response.request.method} {response.url}: {response.status}")


async def plenary_case(app: web.Application, mod1: TestUser, mod2: TestUser,
                       source: TestUser) -> uuid.UUID:
    """The plenary room, and in it a case of ``source``'s redacted and approved by M1 and
    published by M2."""
    async with db.transaction(app[keys.POOL]) as conn:
        await rooms.create_room(conn, app[keys.KEYRING], None, slug="plenary", kind="plenary",
                                name="Plenary")
    return await published_case(
        app, source, mod1, mod2,
        {"narrative": ORIGINAL_NARRATIVE, "transfer_stage": "post_delivery_storage",
         "sharing_scope": "dief_plenary", "item_categories": ["small_arms_light_weapons"],
         **SENSITIVE},
        {"title": CASE_TITLE, "narrative": CASE_NARRATIVE}, "plenary")


def choice(page: Page, name: str, text: str) -> Locator:
    """The checkbox ``name`` of the lesson form whose label shows ``text``."""
    return page.locator("label.choice", has_text=text).locator(f"input[name={name}]")


async def test_workshop_takeaways_lesson_agenda_briefing(live_app: web.Application,
                                                         page: PageFactory) -> None:
    started = time.monotonic()
    handle = AppHandle(live_app)
    mod1 = await make_user(handle, role="moderator", name="Mona Moderator")  # type: ignore[arg-type]
    mod2 = await make_user(handle, role="moderator", name="Max Moderator")  # type: ignore[arg-type]
    facilitator = await make_user(handle, role="facilitator", name="Fatou Facilitator")  # type: ignore[arg-type]
    source = await make_user(handle, role="delegate", state=SOURCE_STATE, name=SOURCE_NAME)  # type: ignore[arg-type]
    case_id = await plenary_case(live_app, mod1, mod2, source)
    async with db.transaction(live_app[keys.POOL]) as conn:
        state_name = await conn.fetchval("SELECT name_en FROM states WHERE iso3 = $1",
                                         SOURCE_STATE)
    assert state_name

    # 1. M1 creates the workshop and its room, then makes Fatou its facilitator.
    m1 = await page(locale="en-GB", java_script_enabled=True)
    await sign_in(m1, mod1)
    await goto(m1, "/workshops")
    for name in ("title", "slug", "place", "starts_on", "ends_on", "officials_trained"):
        await m1.fill(f"form[action='/workshops'] #{name}", WORKSHOP[name])
    await m1.select_option("form[action='/workshops'] #region", "african")
    match = await submit_to(m1, "form[action='/workshops'] button[type=submit]",
                            f"/workshops/({UUID})")
    workshop_path = f"/workshops/{match.group(1)}"
    await expect(m1.locator("h1")).to_have_text(WORKSHOP["title"])
    await expect(m1.locator("p.flash.success")).to_contain_text("The workshop and its room")
    facts = m1.locator("dl.facts")
    for text in ("African Group", "Accra", "2026-05-04", "2026-05-06", "12"):
        await expect(facts).to_contain_text(text)
    members_path = f"/rooms/{WORKSHOP['slug']}/members"
    await click_through(m1, f"dl.facts a[href='{members_path}']", members_path)
    await m1.fill("#member-email", facilitator.email)
    await m1.select_option("#member-role", "facilitator")
    await click_through(m1, f"form[action='{members_path}'] button[type=submit]", members_path)
    row = m1.locator("tr", has_text="Fatou Facilitator")
    await expect(row.locator("span.tag")).to_have_text("facilitator")

    # 2. Fatou, without JavaScript, records three takeaways; two may leave the workshop.
    fac = await page(locale="en-GB", java_script_enabled=False)
    await sign_in(fac, facilitator)
    await goto(fac, "/workshops")
    await click_through(fac, f"table.workshops a[href='{workshop_path}']", workshop_path)
    await expect(fac.locator("#record-heading")).to_have_text("Record a takeaway")
    takeaway_form = f"form[action='{workshop_path}/takeaways']"
    for kind, body, shareable in TAKEAWAYS:
        await fac.check(f"{takeaway_form} input[name=kind][value={kind}]")
        await fac.fill(f"{takeaway_form} #body", body)
        if shareable:
            await fac.check(f"{takeaway_form} input[name=shareable]")
        await click_through(fac, f"{takeaway_form} button[type=submit]", workshop_path)
        await expect(fac.locator("p.flash.success")).to_have_text("The takeaway is recorded.")
        assert urlsplit(fac.url).query == "done=takeaway"
    items = fac.locator("ol.takeaways > li.takeaway")
    await expect(items).to_have_count(3)
    for _kind, body, shareable in TAKEAWAYS:
        item = items.filter(has_text=body)
        await expect(item.locator("span.tag").nth(1)).to_have_text(
            "shareable beyond the workshop" if shareable else "stays in the workshop")
        await expect(item).to_contain_text("Fatou Facilitator")

    # 3. M1 writes the lesson from the two shareable takeaways and the published case; the
    # first draft names the broker, and the lesson page says so.
    await goto(m1, "/lessons/new")
    lesson_form = m1.locator("form[action='/lessons']")
    await expect(lesson_form).not_to_contain_text(TAKEAWAYS[2][1])  # stays in the workshop
    await m1.fill("#f-title", LESSON_TITLE)
    await m1.fill("#f-summary", LEAKY_SUMMARY)
    await m1.fill("#f-mitigation", LESSON_MITIGATION)
    await m1.select_option("#f-region", "african")
    await m1.check("input[name=tags][value=stockpile_theft_loss]")
    await m1.check("input[name=tags][value=unauthorised_retransfer]")
    for _kind, body, _shareable in TAKEAWAYS[:2]:
        await choice(m1, "takeaways", body).check()
    await choice(m1, "cases", CASE_TITLE).check()
    match = await submit_to(m1, "form[action='/lessons'] button[type=submit]",
                            f"/lessons/({UUID})")
    lesson_id = match.group(1)
    lesson_path = f"/lessons/{lesson_id}"
    await expect(m1.locator("h1")).to_have_text(LESSON_TITLE)
    await expect(m1.locator("p.flash.success")).to_contain_text("The draft is saved.")
    warnings = m1.locator("section.leak-warnings")
    await expect(warnings.locator("h2")).to_contain_text("repeats 1 sensitive detail")
    await expect(warnings.locator("tbody tr")).to_have_count(1)
    await expect(warnings.locator("tbody tr td").first).to_have_text("Named entities")
    await expect(warnings.locator("mark")).to_have_text(BROKER)
    await expect(m1.locator("input[name=acknowledge_warnings]")).to_have_count(1)

    # M1 takes the name out: the sources and tags come back ticked in the edit form.
    await click_through(m1, f"a[href='{lesson_path}/edit']", f"{lesson_path}/edit")
    for _kind, body, _shareable in TAKEAWAYS[:2]:
        await expect(choice(m1, "takeaways", body)).to_be_checked()
    await expect(choice(m1, "cases", CASE_TITLE)).to_be_checked()
    await expect(m1.locator("input[name=tags][value=stockpile_theft_loss]")).to_be_checked()
    await expect(m1.locator("#f-summary")).to_have_value(LEAKY_SUMMARY)
    await m1.fill("#f-summary", LESSON_SUMMARY)
    await click_through(m1, f"form[action='{lesson_path}/edit'] button[type=submit]",
                        lesson_path)
    await expect(m1.locator("p.flash.success")).to_have_text(
        "The lesson is saved; it is a draft again.")
    await expect(m1.locator("section.leak-warnings")).to_have_count(0)
    await expect(m1.locator("input[name=acknowledge_warnings]")).to_have_count(0)
    # Four eyes: its author and last editor does not approve it.
    await submit_refused(m1, f"form[action='{lesson_path}/approve'] button[type=submit]", 409)
    await expect(m1.locator("div.flash.error")).to_contain_text(
        "Another moderator must approve this lesson")

    # 4. M2, without JavaScript, reads the lesson and approves it.
    m2 = await page(locale="en-GB", java_script_enabled=False)
    await sign_in(m2, mod2)
    await goto(m2, lesson_path)
    await expect(m2.locator("span.lesson-status")).to_have_text("Draft")
    await expect(m2.locator("section.leak-warnings")).to_have_count(0)
    sources = m2.locator("section[aria-labelledby=sources-heading] ul.cards > li")
    await expect(sources).to_have_count(3)
    await expect(sources.filter(has_text=CASE_TITLE)).to_contain_text("Published case")
    await expect(m2.locator("input[name=acknowledge_warnings]")).to_have_count(0)
    await click_through(m2, f"form[action='{lesson_path}/approve'] button[type=submit]",
                        lesson_path)
    assert urlsplit(m2.url).query == "done=approved"
    await expect(m2.locator("p.flash.success")).to_contain_text("The lesson is approved")
    await expect(m2.locator("span.lesson-status")).to_have_text("Approved")

    # … plans a DIEF session and puts the lesson, then the case, on its agenda.
    await goto(m2, "/dief-sessions")
    for name, value in SESSION.items():
        await m2.fill(f"form[action='/dief-sessions'] #{name}", value)
    match = await submit_to(m2, "form[action='/dief-sessions'] button[type=submit]",
                            f"/dief-sessions/({UUID})")
    session_path = f"/dief-sessions/{match.group(1)}"
    await expect(m2.locator("h1")).to_have_text(SESSION["title"])
    await expect(m2.locator("section#agenda")).to_contain_text("The agenda is empty.")
    agenda_form = f"form[action='{session_path}/agenda']"
    await m2.select_option("#add-lesson", label=LESSON_TITLE)
    await click_through(m2, f"{agenda_form}:has(#add-lesson) button[type=submit]",
                        session_path)
    await expect(m2.locator("p.flash.success")).to_have_text("Added to the agenda.")
    await m2.select_option("#add-case", value=str(case_id))
    await click_through(m2, f"{agenda_form}:has(#add-case) button[type=submit]", session_path)
    entries = m2.locator("ol.agenda > li.agenda-entry p.agenda-title a")
    await expect(entries).to_have_text([LESSON_TITLE, CASE_TITLE])
    await expect(m2.locator("#add-lesson")).to_have_count(0)  # no other approved lesson
    lesson_entry = m2.locator("li.agenda-entry", has_text=LESSON_TITLE)
    await lesson_entry.locator("textarea[name=notes]").fill(NOTES)
    await click_through(
        m2, f"li.agenda-entry:has(a[href='{lesson_path}']) form.notes-form button[type=submit]",
        session_path)
    await expect(m2.locator("p.flash.success")).to_have_text("The presenter notes are saved.")
    await expect(lesson_entry.locator("textarea[name=notes]")).to_have_value(NOTES)
    await click_through(m2, f"li.agenda-entry a[href='{lesson_path}']", lesson_path)
    await expect(m2.locator("span.lesson-status")).to_have_text("Scheduled")
    await expect(m2.locator(f"a[href='{lesson_path}/edit']")).to_have_count(0)

    # 5. The briefing pack: the printable page, then the Markdown download.
    await goto(m2, session_path)
    await click_through(m2, f"a[href='{session_path}/briefing?format=html']",
                        f"{session_path}/briefing")
    await expect(m2.locator("h1")).to_have_text(f"Briefing pack: {SESSION['title']}")
    sections = m2.locator("section.agenda-item")
    await expect(sections.locator("h2")).to_have_text(
        [f"1. Lesson: {LESSON_TITLE}", f"2. Case: {CASE_TITLE}"])
    await expect(sections.nth(0)).to_contain_text(LESSON_SUMMARY)
    await expect(sections.nth(0)).to_contain_text(LESSON_MITIGATION)
    await expect(sections.nth(0)).to_contain_text("Theft or loss from a stockpile")
    await expect(sections.nth(0).locator("aside.notes")).to_contain_text("# Ask the room")
    await expect(sections.nth(1)).to_contain_text(CASE_NARRATIVE)
    await expect(sections.nth(1)).to_contain_text("Small arms and light weapons")
    briefing_html = await m2.content()
    await click_through(m2, f"article.briefing a[href='{session_path}']", session_path)
    markdown_link = m2.locator(f"a[href='{session_path}/briefing?format=md']")
    await expect(markdown_link).to_have_attribute("download", "")
    async with m2.expect_download() as download_info:
        await markdown_link.click()
    download = await download_info.value
    assert download.suggested_filename == f"briefing-{SESSION['held_on']}.md"
    assert await download.failure() is None
    briefing_md = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8")
    response = await m2.request.get(f"{session_path}/briefing?format=md")
    assert response.ok
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert await response.text() == briefing_md
    assert f"## 1. Lesson: {LESSON_TITLE}" in briefing_md
    assert f"## 2. Case: {CASE_TITLE}" in briefing_md
    for text in (LESSON_SUMMARY, LESSON_MITIGATION, CASE_NARRATIVE):
        assert text in briefing_md, text
    # The notes stay in their quote, whole: they add no heading to the pack.
    lines = briefing_md.splitlines()
    assert [line for line in lines if line.startswith("#")] == [
        f"# Briefing pack: {SESSION['title']}", f"## 1. Lesson: {LESSON_TITLE}", "### Summary",
        "### Mitigation", f"## 2. Case: {CASE_TITLE}", "### What happened"], briefing_md
    start = lines.index("> **Presenter notes:** Five minutes, then questions from the floor.")
    assert all(line.startswith(">") for line in lines[start:start + 4]), briefing_md
    assert "Who audits stockpiles after delivery?" in lines[start + 3], briefing_md

    # Nothing sensitive, in either: not the case's original text, not its source.
    secrets = [ORIGINAL_NARRATIVE, "Port Kestrel", "EUC-2025-0419", "KX-77312", "Ruritania",
               "Elbonia", "Vektor", BROKER, "Zephyr", SOURCE_NAME, source.email, str(source.id),
               state_name, TAKEAWAYS[2][1]]
    for name, text in (("html", briefing_html), ("md", briefing_md)):
        leaked = [s for s in secrets if s.lower() in text.lower()]
        assert not leaked, f"the {name} briefing pack shows {leaked}"
        assert not re.search(rf"\b{SOURCE_STATE}\b", text), f"the {name} pack names the State"

    # The audit chain verifies, and holds what each person did through the pages.
    async with db.transaction(live_app[keys.POOL]) as conn:
        result = await audit.verify(conn, live_app[keys.KEYRING].audit_keys())
        rows = await conn.fetch(
            "SELECT actor_id, action, target_id, details->>'user' AS member,"
            " details->>'room_role' AS room_role FROM audit_log ORDER BY seq")
    assert result.ok, result.problem

    def actions(user: TestUser) -> list[str]:
        return [r["action"] for r in rows
                if r["actor_id"] == user.id and not r["action"].startswith("signin.")]

    assert [a for a in actions(mod1) if not a.startswith("case.")] == [
        "room.create", "room.member.add", "workshop.create",  # the room, M1 its first member
        "room.member.add", "lesson.create", "lesson.update"]
    assert [(r["actor_id"], r["room_role"]) for r in rows if r["action"] == "room.member.add"
            and r["member"] == str(facilitator.id)] == [(mod1.id, "facilitator")]
    assert actions(facilitator) == ["takeaway.create"] * 3
    assert [a for a in actions(mod2) if not a.startswith("case.")] == [
        "lesson.approve", "dief_session.create", "agenda.add", "agenda.add", "agenda.notes"]
    assert [r["actor_id"] for r in rows if r["action"] == "lesson.approve"
            and r["target_id"] == lesson_id] == [mod2.id]
    print(f"\nlessons pipeline in Chromium: {time.monotonic() - started:.1f} s")
