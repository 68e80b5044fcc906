"""The HTML pages of the lessons pipeline, over real HTTP with form posts (no JavaScript):
workshops and takeaways, the review queue of every item type with flagged posts, lessons with
the leak warning, DIEF sessions with their agenda and briefing pack, the indicators (with the
SVG chart) and the audit log.

Each page is checked for its status for the right and the wrong roles (as the services decide),
its content and its weight (< 100 KB); a walk over every page route naming an id checks that
strangers get the same answer for a real id and a random one; the templates of these pages have
no inline script or style.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from forum import db, keys
from forum.auth import service as auth
from forum.rooms import service as rooms
from moderation.curation import chart
from moderation.curation import service as curation
from tests.factories import TestUser, make_user, published_case
from tests.pages import Browser

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "forum" / "templates"
BROKER = "Zephyr Arms Brokerage"
_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_CSRF = re.compile(r'(name="csrf_token" value=")[^"]*(")')


@dataclass
class World:
    mod1: TestUser  # created the workshop: a member of its room
    mod2: TestUser  # published the case; not a member of the workshop room
    facilitator: TestUser
    participant: TestUser  # a delegate, plain member of the workshop room
    stranger: TestUser  # a delegate outside every room here
    workshop: curation.Workshop
    takeaways: list[uuid.UUID]  # two shareable ones, then one that stays in the workshop
    case_id: uuid.UUID  # published in "plenary"; its named_entities hold BROKER
    thread_id: uuid.UUID
    post_id: uuid.UUID  # flagged once
    flag_item: uuid.UUID
    lesson_id: uuid.UUID  # approved and on the agenda of session_id
    session_id: uuid.UUID
    agenda_item: uuid.UUID


@pytest.fixture
async def world(client: TestClient) -> World:
    app = client.app
    keyring, store = app[keys.KEYRING], app[keys.KEYSTORE]
    settings = dataclasses.replace(app[keys.SETTINGS], posts_per_minute=1000)
    mod1 = await make_user(client, role="moderator", name="Mona Moderator")
    mod2 = await make_user(client, role="moderator", name="Max Moderator")
    facilitator = await make_user(client, role="facilitator", name="Fatou Facilitator")
    participant = await make_user(client, role="delegate", state="GHA", name="Paul Participant")
    stranger = await make_user(client, role="delegate", state="BRA")
    source = await make_user(client, role="delegate", state="KEN", name="Secret Source")
    pool = app[keys.POOL]
    async with db.transaction(pool) as conn:
        m1 = await auth.unsafe_actor_for(conn, mod1.id)
        await rooms.create_room(conn, keyring, None, slug="plenary", kind="plenary",
                                name="Plenary")
        workshop = await curation.create_workshop(
            conn, keyring, m1, slug="ws-pages", title="Workshop West Africa", region="african",
            place="Accra", starts_on="2026-05-04", ends_on="2026-05-06", officials_trained=12)
        await rooms.add_member(conn, keyring, m1, workshop.room_id, facilitator.id,
                               room_role="facilitator")
        await rooms.add_member(conn, keyring, m1, workshop.room_id, participant.id)
        fac = await auth.unsafe_actor_for(conn, facilitator.id)
        takeaways = [await curation.add_takeaway(conn, keyring, fac, workshop.id, kind=kind,
                                                 body=body, shareable=shareable)
                     for kind, body, shareable in (
                         ("risk", "Stockpiles are rarely audited after delivery.", True),
                         ("mitigation", "Joint post-shipment checks with the importer.", True),
                         ("question", "Who pays for the checks?", False))]
        wg = await rooms.create_room(conn, keyring, None, slug="wg-pages",
                                     kind="working_group", name="WG")
        for user in (stranger, participant):
            await rooms.add_member(conn, keyring, None, wg.id, user.id)
        writer = await auth.unsafe_actor_for(conn, stranger.id)
        thread_id, post_id = await rooms.create_thread(conn, store, settings, writer, wg.id,
                                                     title="A thread", body="Broker X did it.")
        flagger = await auth.unsafe_actor_for(conn, participant.id)
        await rooms.flag_post(conn, store, settings, flagger, post_id,
                              reason="identifying_information", note="It names the broker.")
        flag_item = await conn.fetchval(
            "SELECT id FROM review_items WHERE kind = 'flag' AND post_id = $1", post_id)
    case_id = await published_case(
        app, source, mod1, mod2,
        {"narrative": "Rifles moved at night.", "transfer_stage": "post_delivery_storage",
         "sharing_scope": "dief_plenary", "item_categories": ["small_arms_light_weapons"],
         "named_entities": BROKER},
        {"title": "Rifles re-transferred after delivery",
         "narrative": "Rifles were re-transferred by a broker."}, "plenary")
    async with db.transaction(pool) as conn:
        m1 = await auth.unsafe_actor_for(conn, mod1.id)
        m2 = await auth.unsafe_actor_for(conn, mod2.id)
        lesson_id = await curation.create_lesson(conn, keyring, m1, {
            "title": "Check end users", "summary": "Check them twice."})
        await curation.approve_lesson(conn, keyring, settings, m2, lesson_id)
        session_id = await curation.create_session(conn, keyring, m1, title="Walk session",
                                                   held_on="2026-09-01")
        agenda_item = await curation.add_to_agenda(conn, keyring, m1, session_id,
                                                   lesson=str(lesson_id))
    return World(mod1, mod2, facilitator, participant, stranger, workshop, takeaways, case_id,
                 thread_id, post_id, flag_item, lesson_id, session_id, agenda_item)


def _csrf_free(text: str) -> str:
    return _CSRF.sub(r"\1…\2", text)


# --- workshops and takeaways -------------------------------------------------------------------

async def test_workshop_pages_and_forms(client: TestClient, world: World) -> None:
    b = Browser(client)
    await b.sign_in(world.mod1)
    page = await b.get("/workshops")
    assert page.status == 200 and page.has("Workshop West Africa") and page.has("Create a workshop")
    # Create: a validation error keeps what was typed; then it works and opens its page.
    form = {"title": "Workshop Andes", "slug": "ws-andes", "region": "latin_american_caribbean",
            "place": "Lima", "starts_on": "2026-07-10", "ends_on": "2026-07-08",
            "officials_trained": "9"}
    page = await b.post("/workshops", form)
    assert page.status == 422 and page.has("Check the dates") and 'value="Lima"' in page.text
    page = await b.post("/workshops", {**form, "slug": "ws-pages", "ends_on": "2026-07-12"})
    assert page.status == 409 and page.has("A room with this short name already exists.")
    page = await b.post("/workshops", {**form, "ends_on": "2026-07-12"})
    assert page.status == 303 and page.location.startswith("/workshops/")
    new_page = await b.get(page.location)
    assert new_page.status == 200 and new_page.has("Workshop Andes") and new_page.has("Lima")
    assert 'href="/rooms/ws-andes"' in new_page.text

    path = f"/workshops/{world.workshop.id}"
    page = await b.get(path)
    assert page.status == 200
    assert 'href="/rooms/ws-pages"' in page.text  # the workshop room
    assert page.has("Stockpiles are rarely audited after delivery.")
    assert page.has("Fatou Facilitator") and page.has("shareable beyond the workshop")
    page = await b.post(f"{path}/officials-trained", {"officials_trained": "-3"})
    assert page.status == 422 and page.has("The number of officials trained is a whole number.")
    page = await b.post(f"{path}/officials-trained", {"officials_trained": "15"})
    assert page.status == 303 and page.location == f"{path}?done=officials"
    assert (await b.get(page.location)).has("<dd>15</dd>")

    # The facilitator lists their workshop and records a takeaway; the form round-trips.
    await b.sign_in(world.facilitator)
    page = await b.get("/workshops")
    assert page.status == 200 and page.has("Workshop West Africa")
    assert not page.has("Workshop Andes") and not page.has("Create a workshop")
    page = await b.get(path)
    assert page.status == 200 and page.has("Record a takeaway")
    assert 'action="/workshops/' + str(world.workshop.id) + '/officials-trained"' not in page.text
    page = await b.post(f"{path}/takeaways", {"kind": "challenge", "body": " "})
    assert page.status == 422 and page.has("This field is required.")
    page = await b.post(f"{path}/takeaways", {"kind": "challenge", "shareable": "1",
                                              "body": "Porous borders along the coast."})
    assert page.status == 303 and page.location == f"{path}?done=takeaway#takeaways"
    page = await b.get(f"{path}?done=takeaway")
    assert page.has("Porous borders along the coast.") and page.has("The takeaway is recorded.")
    page = await b.post(f"{path}/officials-trained", {"officials_trained": "99"})
    assert page.status == 403

    # A plain member reads, but neither records nor manages.
    await b.sign_in(world.participant)
    page = await b.get(path)
    assert page.status == 200 and not page.has("Record a takeaway")
    assert (await b.post(f"{path}/takeaways", {"kind": "risk", "body": "x"})).status == 403
    assert (await b.post("/workshops", form)).status == 403

    # Outside the room — a moderator who is not a member included — it is not found.
    random = f"/workshops/{uuid.uuid4()}"
    for user in (world.stranger, world.mod2):
        await b.sign_in(user)
        real, fake = await b.get(path), await b.get(random)
        assert real.status == fake.status == 404, user.role
        assert (await b.get("/workshops")).status == 200
    page = await b.get("/workshops")  # mod2 sees it listed, with the way to its room
    assert page.has("You are not a member of its room.") and f'href="{path}"' not in page.text


# --- the review queue: every item type, flags, takeaways ---------------------------------------

async def test_review_queue_filters_claim_history(client: TestClient, world: World) -> None:
    b = await Browser(client).sign_in(world.mod1)
    page = await b.get("/moderation/items")
    assert page.status == 200
    for words in ("Flagged posts", "Takeaways", "Lessons", "Cases", "Items per type and state"):
        assert page.has(words), words
    # The counts table: two shareable takeaways open; the third stays in its workshop.
    assert 'aria-label="Takeaways, Open: 2"' in page.text
    assert page.has("Stockpiles are rarely audited after delivery.")
    assert not page.has("Who pays for the checks?")
    assert f'/lessons/new?takeaway={world.takeaways[0]}' in page.text
    assert f'href="/moderation/cases/{world.case_id}"' in page.text

    page = await b.get("/moderation/items?kind=flag&state=open")
    assert page.status == 200 and f'href="/moderation/flags/{world.post_id}"' in page.text
    assert not page.has("Stockpiles are rarely")
    page = await b.get("/moderation/items?kind=takeaway&region=african")
    assert page.has("Stockpiles are rarely")
    page = await b.get("/moderation/items?kind=takeaway&region=asia_pacific")
    assert page.has("No item matches these filters.")
    assert (await b.get("/moderation/items?state=bogus")).status == 422
    assert (await b.get("/moderation/items?assignee=nobody")).status == 422

    # Claim: off to the flag page; a second claim of the same item is refused on the queue page.
    page = await b.post(f"/moderation/items/{world.flag_item}/claim")
    assert page.status == 303 and page.location == f"/moderation/flags/{world.post_id}"
    page = await b.get(f"/moderation/items?assignee={world.mod1.id}")
    assert f'id="item-{world.flag_item}"' in page.text and page.has("Mona Moderator")
    await b.sign_in(world.mod2)
    page = await b.post(f"/moderation/items/{world.flag_item}/claim")
    assert page.status == 409 and page.has("Another moderator has this item, or it is not open.")
    page = await b.get(f"/moderation/items/{world.flag_item}/history")
    assert page.status == 200 and page.has("Entered the queue") and page.has("Claimed")
    assert page.has("Mona Moderator")

    # Dismiss a takeaway from the queue; it leaves the list of open items.
    page = await b.post(f"/moderation/takeaways/{world.takeaways[1]}/dismiss")
    assert page.status == 303 and "done=dismissed" in page.location
    page = await b.get("/moderation/items?kind=takeaway&state=open")
    assert page.has("Stockpiles are rarely") and not page.has("Joint post-shipment checks")

    for role in ("admin", "facilitator", "delegate", "observer", "donor"):
        await b.sign_in(await make_user(client, role=role))
        assert (await b.get("/moderation/items")).status == 403, role


async def test_flagged_post_hide_restore_dismiss(client: TestClient, world: World) -> None:
    b = await Browser(client).sign_in(world.mod2)  # not a member of the post's room
    path = f"/moderation/flags/{world.post_id}"
    page = await b.get(path)
    assert page.status == 200
    assert page.has("Broker X did it.") and page.has("It names the broker.")
    assert page.has("It could identify a source, a person or a State")
    assert page.has("Paul Participant")  # who flagged
    page = await b.post(path, {"action": "hide", "reason": "  "})
    assert page.status == 422 and page.has("This field is required.")
    page = await b.post(path, {"action": "explode"})
    assert page.status == 422 and page.has("Choose an action.")
    page = await b.post(path, {"action": "hide", "reason": "It named a person."})
    assert page.status == 303 and page.location == f"{path}?done=hide"
    page = await b.get(page.location)
    assert page.has("The post is hidden.") and page.has("It named a person.")
    assert page.has("No open flag")
    # Members of the room now see the reason instead of the post.
    await b.sign_in(world.participant)
    thread = await b.get(f"/threads/{world.thread_id}")
    assert thread.status == 200 and thread.has("It named a person.")
    assert not thread.has("Broker X did it.")
    await b.sign_in(world.mod2)
    page = await b.post(path, {"action": "restore"})
    assert page.status == 303 and page.location == f"{path}?done=restore"
    page = await b.get(page.location)
    assert page.has("The post is shown again") and not page.has("It named a person.")
    page = await b.post(path, {"action": "dismiss"})
    assert page.status == 303 and page.location == f"{path}?done=dismiss"
    page = await b.get(f"/moderation/items/{world.flag_item}/history")
    for words in ("Post hidden", "It named a person.", "Post restored", "Flags dismissed"):
        assert page.has(words), words
    await b.sign_in(world.participant)
    assert (await b.get(path)).status == 403
    assert (await b.post(path, {"action": "dismiss"})).status == 403


# --- lessons -----------------------------------------------------------------------------------

async def test_lesson_form_warning_and_approval(client: TestClient, world: World) -> None:
    b = await Browser(client).sign_in(world.mod1)
    page = await b.get(f"/lessons/new?takeaway={world.takeaways[0]}")
    assert page.status == 200
    assert f'value="{world.takeaways[0]}" checked' in page.text  # from the queue's link
    assert page.has("Rifles re-transferred after delivery")  # the published case's title
    assert 'name="tags" value="stockpile_theft_loss"' in page.text
    assert page.has("Theft or loss from a stockpile")
    assert not page.has("Who pays for the checks?")  # not shareable

    form: list[tuple[str, str]] = [
        ("title", "Audit stockpiles after delivery"),
        ("summary", f"Post-delivery checks would have caught {BROKER}."),
        ("mitigation", "Joint post-shipment checks."), ("region", "african"),
        ("tags", "stockpile_theft_loss"), ("tags", "broker"),
        ("takeaways", str(world.takeaways[0])), ("cases", str(world.case_id))]
    page = await b.post("/lessons", [f for f in form if f[0] != "title"])
    assert page.status == 422 and page.has("This field is required.")
    assert page.has("Post-delivery checks would have caught")  # kept
    assert 'value="broker" checked' in page.text
    page = await b.post("/lessons", [*form, ("tags", "not-a-tag")])
    assert page.status == 422 and page.has("Choose tags from the lists only.")
    page = await b.post("/lessons", form)
    assert page.status == 303 and page.location.endswith("?done=created")
    lesson_path = page.location.split("?")[0]
    page = await b.get(lesson_path)
    assert page.status == 200 and page.has("Draft")
    # The warning: the field, the value repeated, the linked case.
    assert page.has("Warning: this lesson repeats 1 sensitive detail of a linked case")
    assert page.has("Named entities") and f"<mark>{BROKER}</mark>" in page.text
    assert f'href="/moderation/cases/{world.case_id}"' in page.text
    assert page.has("I have checked these warnings")
    # Sources (moderators only): the takeaway's text and the case.
    assert page.has("Stockpiles are rarely audited after delivery.")
    assert page.has("Theft or loss from a stockpile") and page.has("Broker")

    page = await b.post(f"{lesson_path}/approve")
    assert page.status == 409 and page.has("Another moderator must approve this lesson")
    await b.sign_in(world.mod2)
    page = await b.post(f"{lesson_path}/approve")
    assert page.status == 409 and page.has("The lesson repeats sensitive details")
    page = await b.post(f"{lesson_path}/approve", {"acknowledge_warnings": "1"})
    assert page.status == 303 and page.location == f"{lesson_path}?done=approved"
    page = await b.get(page.location)
    assert page.has("The lesson is approved") and not page.has("I have checked these warnings")
    page = await b.get("/lessons?status=approved")
    assert page.has("Audit stockpiles after delivery") and not page.has("Check end users")
    assert (await b.get("/lessons?status=scheduled")).has("Check end users")
    page = await b.get("/lessons?status=draft")
    assert not page.has("Audit stockpiles after delivery")

    # Editing sends it back to draft; the form is filled with the lesson, sources kept.
    page = await b.get(f"{lesson_path}/edit")
    assert page.status == 200 and page.has(f"Post-delivery checks would have caught {BROKER}.")
    assert f'value="{world.case_id}" checked' in page.text
    assert f'value="{world.takeaways[0]}" checked' in page.text  # used, still offered
    edited = [(k, v.replace(BROKER, "a broker")) for k, v in form]
    page = await b.post(f"{lesson_path}/edit", edited)
    assert page.status == 303 and page.location == f"{lesson_path}?done=updated"
    page = await b.get(lesson_path)
    assert page.has("Draft") and not page.has("Warning: this lesson repeats")
    assert not page.has("I have checked these warnings")  # no warning: no box

    for role in ("admin", "facilitator", "delegate", "donor"):
        await b.sign_in(await make_user(client, role=role))
        for path in ("/lessons", "/lessons/new", lesson_path, f"{lesson_path}/edit"):
            assert (await b.get(path)).status == 403, (role, path)


# --- DIEF sessions -----------------------------------------------------------------------------

async def test_session_agenda_briefing_and_held(client: TestClient, world: World) -> None:
    b = await Browser(client).sign_in(world.mod1)
    page = await b.get("/dief-sessions")
    assert page.status == 200 and page.has("Walk session") and 'value="Geneva"' in page.text
    page = await b.post("/dief-sessions", {"title": "Spring session", "held_on": "2026-03"})
    assert page.status == 422 and page.has("Give a date as YYYY-MM-DD.")
    page = await b.post("/dief-sessions", {"title": "Spring session", "held_on": "2026-03-18",
                                           "place": ""})
    assert page.status == 303
    path = page.location.split("?")[0]
    page = await b.get(path)
    assert page.status == 200 and page.has("Geneva") and page.has("The agenda is empty.")
    assert page.has("Check end users") is False  # already on the walk session's agenda
    assert f'<option value="{world.case_id}">' in page.text

    async with db.transaction(client.app[keys.POOL]) as conn:
        actor = await auth.unsafe_actor_for(conn, world.mod2.id)
        second = await curation.create_lesson(conn, client.app[keys.KEYRING],
                                               await auth.unsafe_actor_for(conn, world.mod1.id),
                                               {"title": "Trace early", "summary": "Trace."})
        await curation.approve_lesson(conn, client.app[keys.KEYRING],
                                      client.app[keys.SETTINGS], actor, second)
    assert (await b.post(f"{path}/agenda", {})).status == 422
    page = await b.post(f"{path}/agenda", {"lesson": str(second)})
    assert page.status == 303 and "done=added" in page.location
    page = await b.post(f"{path}/agenda", {"case": str(world.case_id)})
    assert page.status == 303
    page = await b.get(path)
    titles = re.findall(r'<p class="agenda-title">.*?<a href="[^"]+">([^<]+)</a>', page.text,
                        re.S)
    assert titles == ["Trace early", "Rifles re-transferred after delivery"]
    items = re.findall(r'<li class="agenda-entry" id="agenda-([0-9a-f-]{36})">', page.text)
    assert len(items) == 2
    assert "No approved lesson is waiting for an agenda." in page.text

    page = await b.post(f"{path}/agenda/{items[1]}/move", {"direction": "up"})
    assert page.status == 303 and page.location.endswith(f"#agenda-{items[1]}")
    page = await b.get(path)
    titles = re.findall(r'<p class="agenda-title">.*?<a href="[^"]+">([^<]+)</a>', page.text,
                        re.S)
    assert titles == ["Rifles re-transferred after delivery", "Trace early"]
    assert (await b.post(f"{path}/agenda/{items[1]}/move", {"direction": "sideways"})
            ).status == 404
    page = await b.post(f"{path}/agenda/{items[1]}/notes", {"notes": "Five minutes, then Q&A."})
    assert page.status == 303
    page = await b.get(path)
    assert page.has("Five minutes, then Q&amp;A.")
    page = await b.post(f"{path}/agenda/{items[1]}/notes", {"notes": "x" * 5001})
    assert page.status == 422 and page.has("at most 5000 characters")

    # The briefing pack: the same rendering as the API, printable HTML and Markdown.
    session_id = path.rsplit("/", 1)[1]
    page = await b.get(f"{path}/briefing?format=html")
    api = await b.get(f"/api/v1/dief-sessions/{session_id}/briefing?format=html")
    assert page.status == api.status == 200
    assert page.has("Briefing pack") and page.has("Rifles were re-transferred by a broker.")
    assert page.has("Five minutes, then Q&amp;A.") and page.has("Small arms and light weapons")
    assert BROKER not in page.text and "Secret Source" not in page.text
    assert 'class="agenda-item"' in page.text
    md = await b.get(f"{path}/briefing?format=md")
    api_md = await b.get(f"/api/v1/dief-sessions/{session_id}/briefing?format=md")
    assert md.status == 200 and md.headers["Content-Type"].startswith("text/markdown")
    assert "attachment" in md.headers["Content-Disposition"]
    assert md.text == api_md.text and "## 1. Case: Rifles re-transferred" in md.text
    assert BROKER not in md.text
    fr = await b.get(f"{path}/briefing?format=md", **{"Accept-Language": "fr"})
    assert fr.text.startswith("# Dossier d'information")  # labels in the interface language
    assert (await b.get(f"{path}/briefing?format=pdf")).status == 422

    page = await b.post(f"{path}/agenda/{items[0]}/remove")
    assert page.status == 303
    page = await b.get(path)
    assert not page.has("Trace early</a>") and page.has("Trace early")  # back among the choices

    page = await b.post(f"{path}/held")
    assert page.status == 303 and "done=held" in page.location
    page = await b.get(path)
    assert page.has("Held") and not page.has("Add to the agenda") and page.has("Five minutes")
    page = await b.post(f"{path}/agenda", {"lesson": str(second)})
    assert page.status == 409 and page.has("This session has been held: its agenda is closed.")

    for role in ("admin", "facilitator", "delegate", "donor"):
        await b.sign_in(await make_user(client, role=role))
        for p in ("/dief-sessions", path, f"{path}/briefing?format=html"):
            assert (await b.get(p)).status == 403, (role, p)


# --- indicators --------------------------------------------------------------------------------

async def test_indicators_page_matches_the_api_and_has_an_accessible_chart(
        client: TestClient, world: World) -> None:
    b = await Browser(client).sign_in(world.mod1)
    async with db.transaction(client.app[keys.POOL]) as conn:
        actor = await auth.unsafe_actor_for(conn, world.mod1.id)
        await curation.mark_held(conn, client.app[keys.KEYRING], actor, world.session_id)
    for role in ("moderator", "admin", "donor"):
        if role != "moderator":
            await b.sign_in(await make_user(client, role=role))
        page = await b.get("/indicators")
        assert page.status == 200, role
        api = json.loads((await b.get("/api/v1/indicators")).text)
        found = {name: int(re.search(rf'id="{name}-value">(\d+)<', page.text).group(1))  # type: ignore[union-attr]
                 for name in ("workshops", "officials", "cases-shared", "cases-published",
                              "lessons-presented", "lessons-total")}
        assert found == {"workshops": api["workshops"], "officials": api["officials_trained"],
                         "cases-shared": api["cases_shared"],
                         "cases-published": api["cases_published"],
                         "lessons-presented": api["lessons_presented"],
                         "lessons-total": api["lessons_total"]}
        assert found["workshops"] == 1 and found["officials"] == 12
        assert found["lessons-presented"] == 1 and found["cases-published"] == 1
        assert page.has("of 5 targeted") and page.has("of 50 targeted")
        svg = re.search(r"<svg[^>]*>.*?</svg>", page.text, re.S)
        assert svg is not None
        tag = svg.group(0)
        assert 'role="img"' in tag and 'aria-labelledby="participation-title participation-desc"'\
            in tag
        assert '<title id="participation-title">Posts and active members per month</title>' \
            in tag
        assert '<desc id="participation-desc">' in tag and "style" not in tag
        # The same data as the table.
        rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td></tr>',
                          page.text)
        assert len(rows) == len(api["monthly"]) == 12
        assert [(int(p), int(m)) for _, p, m in rows] == [
            (m["posts"], m["active_members"]) for m in api["monthly"]]
        # Aggregates only.
        assert "Workshop West Africa" not in page.text and "Check end users" not in page.text
    for role in ("facilitator", "delegate", "observer"):
        await b.sign_in(await make_user(client, role=role))
        assert (await b.get("/indicators")).status == 403, role
    await b.sign_in(world.mod1)
    page = await b.get("/indicators", **{"Accept-Language": "fr"})
    assert page.status == 200 and page.has("Indicateurs")


def test_chart_is_pure_svg_with_numbers_on_both_axes() -> None:
    points = [chart.Point("Jan", "2026", 0, 0), chart.Point("Feb", "2026", 7, 3),
              chart.Point("<b>", "x&y", 23, 11)]
    svg = str(chart.participation_chart(points, title="T <t>", desc="D", bars_label="Posts",
                                        line_label="Members", id_prefix="c"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title id=\"c-title\">T &lt;t&gt;</title>" in svg and "&lt;b&gt;" in svg
    assert "x&amp;y" in svg and "<b>" not in svg
    for tick in (0, 5, 10, 15, 20, 25):  # the count axis, in steps of 5 up to 25
        assert f'text-anchor="end" fill="#57606a">{tick}</text>' in svg, tick
    assert ">Jan<tspan" in svg and 'paint-order="stroke">23</text>' in svg  # month, value
    assert "style" not in svg and "script" not in svg
    assert chart.nice_step(0) == 1 and chart.nice_step(7) == 2 and chart.nice_step(230) == 50
    empty = str(chart.participation_chart([], title="T", desc="D", bars_label="P",
                                          line_label="M"))
    assert "<polyline" not in empty and 'role="img"' in empty


# --- audit -------------------------------------------------------------------------------------

async def test_audit_page_filters_and_verify(client: TestClient, world: World) -> None:
    b = await Browser(client).sign_in(world.mod1)
    page = await b.get("/moderation/audit")
    assert page.status == 200 and page.has("Chain verified: OK.") and page.has("entries checked")
    assert page.has("workshop.create") and page.has("lesson.approve")
    page = await b.get(f"/moderation/audit?action=lesson&actor={world.mod2.email}")
    assert page.has("lesson.approve") and not page.has("lesson.create")
    assert not page.has("workshop.create")
    page = await b.get("/moderation/audit?since=2999-01-01")
    assert page.has("No entry matches these filters.") and page.has("Chain verified: OK.")
    page = await b.get("/moderation/audit?since=yesterday")
    assert page.status == 422 and page.has("Give a date as YYYY-MM-DD.")
    async with db.transaction(client.app[keys.POOL]) as conn:
        await conn.execute("""UPDATE audit_log SET details = '{"n": 1}' WHERE seq = 2""")
    await b.sign_in(await make_user(client, role="admin"))
    page = await b.get("/moderation/audit")
    assert page.status == 200 and page.has("Chain verification FAILED.")
    assert page.has("First bad entry: 2.") and '<tr class="bad-entry">' in page.text
    for role in ("facilitator", "delegate", "observer", "donor"):
        await b.sign_in(await make_user(client, role=role))
        assert (await b.get("/moderation/audit")).status == 403, role


# --- every page route naming an id: strangers learn nothing ------------------------------------

FORM = {"title": "A title", "summary": "A summary.", "kind": "risk", "body": "A takeaway.",
        "direction": "up", "notes": "A note.", "action": "dismiss", "reason": "A reason.",
        "officials_trained": "3", "lesson": str(uuid.uuid4())}
# Read through the workshop's room: non-members get the 404 of a random id.
MEMBER_ROUTES = {"curation.workshop", "curation.takeaway_create"}


def page_routes(client: TestClient) -> list[tuple[str, str, str]]:
    found = set()
    for route in client.app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or not (resource.name or "").startswith(
                "curation."):
            continue
        if _PLACEHOLDER.search(resource.canonical):
            found.add((resource.name or "", route.method, resource.canonical))
    return sorted(found)


def _fill(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


async def test_strangers_get_the_answer_of_a_random_id(client: TestClient,
                                                       world: World) -> None:
    routes = page_routes(client)
    assert len(routes) >= 19, routes
    real = {"workshop_id": str(world.workshop.id), "item_id": str(world.flag_item),
            "flagged_id": str(world.post_id), "takeaway_id": str(world.takeaways[0]),
            "lesson_id": str(world.lesson_id), "dief_session_id": str(world.session_id),
            "agenda_item_id": str(world.agenda_item)}
    names = {name for _n, _m, path in routes for name in _PLACEHOLDER.findall(path)}
    assert names == set(real), names
    b = Browser(client)
    failures = []
    outsiders = [await make_user(client, role=role) for role in (
        "admin", "facilitator", "delegate", "observer", "donor")]
    for user in outsiders:
        await b.sign_in(user)
        for name, method, template in routes:
            fake = {key: str(uuid.uuid4()) for key in real}
            answers = []
            for values in (real, fake):
                path = _fill(template, values)
                page = await (b.get(path) if method == "GET" else b.post(path, FORM))
                text = _csrf_free(page.text)
                for value in values.values():
                    text = text.replace(value, "ID")
                answers.append((page.status, text))
            expected = 404 if name in MEMBER_ROUTES else 403
            if answers[0][0] != expected or answers[1][0] != expected:
                failures.append(f"{user.role} {method} {template}: {answers[0][0]}/"
                                f"{answers[1][0]}, expected {expected}")
            elif answers[0][1] != answers[1][1]:
                failures.append(f"{user.role} {method} {template}: the pages differ")
    # A moderator gets 404 for random ids, and for what is not an id at all.
    await b.sign_in(world.mod1)
    for _name, method, template in routes:
        for values in ({key: str(uuid.uuid4()) for key in real},
                       {key: "not-an-id" for key in real}):
            path = _fill(template, values)
            page = await (b.get(path) if method == "GET" else b.post(path, FORM))
            if page.status != 404:
                failures.append(f"moderator {method} {path}: {page.status}")
    # ... and every GET page with real ids.
    for _name, method, template in routes:
        if method == "GET":
            page = await b.get(_fill(template, real))
            if page.status != 200:
                failures.append(f"moderator GET {template}: {page.status}")
    assert not failures, "\n".join(failures)


# --- the templates -----------------------------------------------------------------------------

def test_templates_have_no_inline_script_or_style() -> None:
    files = [*sorted((TEMPLATES / "curation").glob("*.html")),
             TEMPLATES / "moderation" / "briefing.html"]
    assert len(files) >= 12
    inline = re.compile(r"<script|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.I)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not inline.search(text), f"{path.name}: {inline.search(text)}"


async def test_pages_say_who_may_see_them_in_the_navigation(client: TestClient,
                                                            world: World) -> None:
    b = await Browser(client).sign_in(world.mod1)
    nav = (await b.get("/rooms")).text
    for link in ("/workshops", "/lessons", "/dief-sessions", "/indicators"):
        assert f'href="{link}"' in nav, link
    for role, links, hidden in (("facilitator", ["/workshops"], ["/lessons", "/indicators"]),
                                ("donor", ["/indicators"], ["/workshops", "/lessons"]),
                                ("admin", ["/indicators"], ["/workshops", "/dief-sessions"]),
                                ("delegate", [], ["/workshops", "/indicators"])):
        await b.sign_in(await make_user(client, role=role))
        nav = (await b.get("/rooms")).text
        for link in links:
            assert f'href="{link}"' in nav, (role, link)
        for link in hidden:
            assert f'href="{link}"' not in nav, (role, link)
