"""The lessons pipeline and the general review queue at their edges (issue 6, "Done when"):
race-free claiming, the leak warning, takeaways, flags, bad input, and a whole scenario whose
indicators match the database, whose briefing leaks nothing and whose every moderator action is
in an audit chain that ``dief audit verify`` checks.

Everyone talks to the API with a personal access token (``Authorization: Bearer``), so that
several people act at once — concurrently too — without sharing a cookie jar.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sys
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from forum import db, keys
from moderation.queue import service as queue
from tests import conftest
from tests.factories import TestUser, make_user, sign_in

DIEF = str(Path(sys.executable).with_name("dief"))
BROKER = "Zephyr Arms Brokerage"
# The source's sensitive fields: none of these may reach a lesson unnoticed or a briefing.
SECRETS = {"named_entities": f"{BROKER}\nKapitan Orlov", "document_refs": "EUC-2291-KX",
           "dates_places": "12 March 2025, Quay 7 of Port Harcourt",
           "item_model": "Vintorez VSS suppressed rifle", "states_involved": "Ruritania",
           "investigation_status": "Prosecution pending before the Harcourt court"}
ORIGINAL_NARRATIVE = "Kapitan Orlov moved the rifles out of the Quay 7 warehouse at night."
PUBLISHED = {"title": "Rifles re-transferred after delivery",
             "narrative": "Rifles were re-transferred by a broker after delivery."}


@dataclass
class Person:
    user: TestUser
    h: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.user.id)


async def person(client: TestClient, role: str, **kwargs: Any) -> Person:
    """A user with a personal access token (the cookie jar is left empty)."""
    user = await make_user(client, role=role, **kwargs)
    csrf = await sign_in(client, user)
    r = await client.post("/api/v1/tokens", json={"name": "tests"},
                          headers={"X-CSRF-Token": csrf})
    assert r.status == 201, await r.text()
    client.session.cookie_jar.clear()
    return Person(user, {"Authorization": f"Bearer {(await r.json())['token']}"})


async def ok(r: ClientResponse, status: int = 200) -> Any:
    text = await r.text()
    assert r.status == status, text
    return await r.json(content_type=None) if text else None


async def problem(r: ClientResponse, status: int, code: str | None = None) -> dict[str, Any]:
    text = await r.text()
    assert r.status == status, text
    assert r.content_type == "application/problem+json", text
    body: dict[str, Any] = await r.json(content_type=None)
    assert body["title"], text  # a message, not just a status
    if code is not None:
        assert body["code"] == code, text
    return body


async def release(client: TestClient) -> None:
    async with db.transaction(client.app[keys.POOL]) as conn:
        await queue.release_batch(conn, client.app[keys.KEYRING])


async def make_room(client: TestClient, mod: Person, slug: str, kind: str,
                    members: list[Person], **extra: str) -> None:
    await ok(await client.post("/api/v1/rooms", json={"slug": slug, "kind": kind,
                                                      "name": slug.title(), **extra},
                               headers=mod.h), 201)
    for member in members:
        await ok(await client.put(f"/api/v1/rooms/{slug}/members/{member.id}",
                                  headers=mod.h), 201)


async def make_workshop(client: TestClient, mod: Person, slug: str, *,
                        facilitators: tuple[Person, ...] = (),
                        members: tuple[Person, ...] = (), officials: int = 12,
                        region: str | None = "african") -> dict[str, Any]:
    workshop: dict[str, Any] = await ok(await client.post("/api/v1/workshops", json={
        "slug": slug, "title": f"Workshop {slug}", "region": region, "place": "Accra",
        "starts_on": "2026-05-04", "ends_on": "2026-05-06", "officials_trained": officials},
        headers=mod.h), 201)
    for user, role in [(f, "facilitator") for f in facilitators] + [(m, "member")
                                                                   for m in members]:
        await ok(await client.put(f"/api/v1/rooms/{workshop['room_slug']}/members/{user.id}",
                                  json={"room_role": role}, headers=mod.h), 201)
    return workshop


async def add_takeaway(client: TestClient, who: Person, workshop: dict[str, Any], body: str,
                       kind: str = "risk", shareable: bool = True) -> str:
    data = await ok(await client.post(f"/api/v1/workshops/{workshop['id']}/takeaways",
                                      json={"kind": kind, "body": body,
                                            "shareable": shareable}, headers=who.h), 201)
    return str(data["id"])


async def submit_case(client: TestClient, delegate: Person, **fields: Any) -> str:
    data = await ok(await client.post("/api/v1/cases", json={
        "narrative": ORIGINAL_NARRATIVE, "transfer_stage": "post_delivery_storage",
        "sharing_scope": "dief_plenary", "item_categories": ["small_arms_light_weapons"],
        **SECRETS, **fields}, headers=delegate.h), 201)
    return str(data["id"])


async def publish_case(client: TestClient, case_id: str, editor: Person, publisher: Person,
                       room: str = "plenary") -> None:
    """Claim, redact, approve (editor) and publish (publisher: four eyes) a released case."""
    assert (await ok(await client.post("/api/v1/moderation/claim", json={"case_id": case_id},
                                       headers=editor.h)))["case_id"] == case_id
    await ok(await client.put(f"/api/v1/moderation/cases/{case_id}/redaction",
                              json={"fields": PUBLISHED}, headers=editor.h))
    await ok(await client.post(f"/api/v1/moderation/cases/{case_id}/approve",
                               headers=editor.h))
    await ok(await client.post(f"/api/v1/moderation/cases/{case_id}/publish",
                               json={"room": room}, headers=publisher.h))


def lesson_body(summary: str, **extra: Any) -> dict[str, Any]:
    return {"title": "Audit stockpiles after delivery", "summary": summary,
            "mitigation": "Joint post-shipment checks.", "region": "african",
            "tags": ["stockpile_theft_loss"], **extra}


async def items(client: TestClient, mod: Person, query: str = "") -> dict[str, Any]:
    data: dict[str, Any] = await ok(await client.get(f"/api/v1/moderation/items{query}",
                                                     headers=mod.h))
    return data


# --- claiming --------------------------------------------------------------------------------

async def test_claiming_is_race_free(client: TestClient) -> None:
    mod1, mod2 = await person(client, "moderator"), await person(client, "moderator")
    fac = await person(client, "facilitator")
    delegate = await person(client, "delegate", state="GHA")
    workshop = await make_workshop(client, mod1, "ws-race", facilitators=(fac,))
    for n in range(3):
        await add_takeaway(client, fac, workshop, f"Takeaway number {n}.")
    open_items = (await items(client, mod1, "?kind=takeaway&state=open"))["items"]
    assert len(open_items) == 3

    # Two moderators claim the same item at the same moment: exactly one succeeds.
    for item in open_items:
        url = f"/api/v1/moderation/items/{item['id']}/claim"
        answers = await asyncio.gather(client.post(url, headers=mod1.h),
                                       client.post(url, headers=mod2.h))
        assert sorted(r.status for r in answers) == [200, 409], [r.status for r in answers]
        won = next(r for r in answers if r.status == 200)
        lost = next(r for r in answers if r.status == 409)
        assert (await won.json())["assignee_id"] in {mod1.id, mod2.id}
        await problem(lost, 409, "item_not_open")
        history = await ok(await client.get(f"/api/v1/moderation/items/{item['id']}/history",
                                            headers=mod1.h))
        assert [h["action"] for h in history["history"]] == ["queued", "claimed"]
        # A claimed item is not claimed again, by anyone.
        await problem(await client.post(url, headers=mod1.h), 409, "item_not_open")
    counts = (await items(client, mod1))["counts"]
    assert counts["takeaway"] == {"claimed": 3}

    # "Claim next" for cases, twice at once with one case in the queue: one gets it.
    await add_takeaway(client, fac, workshop, "An open item of another kind.")
    first = await submit_case(client, delegate)
    await release(client)
    answers = await asyncio.gather(*(client.post("/api/v1/moderation/claim", json={},
                                                 headers=m.h) for m in (mod1, mod2)))
    got = [(await ok(r))["case_id"] for r in answers]
    assert sorted(got, key=str) == sorted([first, None], key=str), got
    # No open case left, but an open takeaway: "claim next" is for cases, it finds none.
    r = await client.post("/api/v1/moderation/claim", json={}, headers=mod1.h)
    assert (await ok(r))["case_id"] is None
    assert (await items(client, mod1, "?kind=takeaway&state=open"))["items"]

    # Two cases, two moderators at once: each gets a different one.
    second, third = await submit_case(client, delegate), await submit_case(client, delegate)
    await release(client)
    answers = await asyncio.gather(*(client.post("/api/v1/moderation/claim", json={},
                                                 headers=m.h) for m in (mod1, mod2)))
    got = [(await ok(r))["case_id"] for r in answers]
    assert sorted(got) == sorted([second, third]), got
    claimed = (await items(client, mod1, "?kind=case&state=claimed"))["items"]
    assert len(claimed) == 3 and {i["target_id"] for i in claimed} == {first, second, third}


# --- the leak warning ------------------------------------------------------------------------

async def test_leak_warning_fires_on_a_repeated_broker_name(client: TestClient) -> None:
    mod1, mod2 = await person(client, "moderator"), await person(client, "moderator")
    delegate = await person(client, "delegate", state="GHA")
    await make_room(client, mod1, "plenary", "plenary", [])
    case_id = await submit_case(client, delegate)
    await release(client)
    await publish_case(client, case_id, mod1, mod2)

    async def warnings(summary: str, **extra: Any) -> list[tuple[str, str]]:
        data = await ok(await client.post("/api/v1/lessons", json=lesson_body(
            summary, cases=[case_id], **extra), headers=mod1.h), 201)
        assert all(w["case_id"] == case_id for w in data["warnings"])
        return [(w["field"], w["value"]) for w in data["warnings"]]

    broker = [("named_entities", BROKER)]
    for text in (f"Checks would have caught {BROKER}.",
                 "Checks would have caught zephyr-ARMS   brokerage early.",
                 "The ZEPHYR ARMS BROKERAGE's re-transfer went unnoticed.",
                 "Zephyr.Arms.Brokerage\nwas involved.",
                 "Vet «Zephyr Arms», Brokerage included, before licensing."):
        assert await warnings(text) == broker, text
    assert await warnings("Nothing here.", mitigation="Vet zephyr arms brokerage first.") \
        == broker
    assert await warnings("Captain: kapitan ORLOV.") == [("named_entities", "Kapitan Orlov")]
    assert await warnings("Certificate euc 2291 kx was forged.") == [("document_refs",
                                                                      "EUC-2291-KX")]
    # Unrelated text, and the same words apart or inside other words: no warning.
    for text in ("Brokerage of arms needs oversight; zephyr winds blow.",
                 "Zephyr arms were sold through a brokerage.",
                 "Rifles were re-transferred by a broker after delivery.",
                 "Orlova and Kapitanov are common names."):
        assert await warnings(text) == [], text

    # Approving over a warning needs an explicit acknowledgement, by the second moderator.
    lesson = await ok(await client.post("/api/v1/lessons", json=lesson_body(
        f"Checks would have caught {BROKER}.", cases=[case_id]), headers=mod1.h), 201)
    url = f"/api/v1/lessons/{lesson['id']}/approve"
    shown = await ok(await client.get(f"/api/v1/lessons/{lesson['id']}", headers=mod2.h))
    assert [w["field"] for w in shown["warnings"]] == ["named_entities"]
    body = await problem(await client.post(url, json={}, headers=mod2.h), 409, "leak_warning")
    assert body["warnings"] == [{"case_id": case_id, "field": "named_entities"}]
    await problem(await client.post(url, json={"acknowledge_warnings": "yes"}, headers=mod2.h),
                  422)
    await problem(await client.post(url, json={"acknowledge_warnings": True}, headers=mod1.h),
                  409, "four_eyes")
    approved = await ok(await client.post(url, json={"acknowledge_warnings": True},
                                          headers=mod2.h))
    assert approved["status"] == "approved" and len(approved["warnings"]) == 1
    async with client.app[keys.POOL].acquire() as conn:
        details = await conn.fetchval(
            "SELECT details FROM audit_log WHERE action = 'lesson.approve' AND target_id = $1",
            lesson["id"])
    assert '"warnings_acknowledged": 1' in details
    # A clean lesson is approved without acknowledging anything.
    clean = await ok(await client.post("/api/v1/lessons", json=lesson_body(
        "Post-delivery checks catch re-transfers.", cases=[case_id]), headers=mod1.h), 201)
    assert clean["warnings"] == []
    await ok(await client.post(f"/api/v1/lessons/{clean['id']}/approve", headers=mod2.h))


# --- takeaways -------------------------------------------------------------------------------

async def test_takeaways_are_recorded_by_facilitators_and_moderators_sealed(
        client: TestClient) -> None:
    mod1, mod2 = await person(client, "moderator"), await person(client, "moderator")
    fac = await person(client, "facilitator")
    fac_as_member = await person(client, "facilitator")  # a facilitator elsewhere, here a member
    member = await person(client, "delegate", state="GHA")
    workshop = await make_workshop(client, mod1, "ws-takeaways", facilitators=(fac,),
                                   members=(fac_as_member, member))
    url = f"/api/v1/workshops/{workshop['id']}/takeaways"
    body = {"kind": "risk", "body": "Plain members do not record takeaways.", "shareable": True}
    for who in (member, fac_as_member):
        await problem(await client.post(url, json=body, headers=who.h), 403, "forbidden")
    # A moderator who is not in the workshop room reads and writes it as any non-member.
    await problem(await client.post(url, json=body, headers=mod2.h), 404, "not_found")

    secret = "The customs post at Elubo waves convoys through after dark."
    shared = await add_takeaway(client, fac, workshop, "Stockpiles are rarely audited.")
    private = await add_takeaway(client, fac, workshop, secret, kind="challenge",
                                 shareable=False)
    by_moderator = await add_takeaway(client, mod1, workshop, "Ask the DIEF about tracing.",
                                      kind="question")
    listed = await ok(await client.get(url, headers=member.h))
    assert {(t["id"], t["shareable"]) for t in listed["takeaways"]} == {
        (shared, True), (private, False), (by_moderator, True)}
    assert next(t["body"] for t in listed["takeaways"] if t["id"] == private) == secret

    # Only the shareable ones enter the queue.
    queued = (await items(client, mod2, "?kind=takeaway"))["items"]
    assert {i["target_id"] for i in queued} == {shared, by_moderator}
    assert {i["region_code"] for i in queued} == {"african"}

    # The text is sealed: no plaintext in the row.
    async with client.app[keys.POOL].acquire() as conn:
        rows = await conn.fetch("SELECT t::text AS row, body FROM takeaways t")
    assert len(rows) == 3
    for row in rows:
        assert secret.encode() not in bytes(row["body"]) and "Elubo" not in row["row"]
        assert b"Stockpiles" not in bytes(row["body"])

    # A non-shareable takeaway cannot be used in a lesson; a shareable one can, and leaves the
    # queue as used.
    await problem(await client.post("/api/v1/lessons", json=lesson_body(
        "Audit.", takeaways=[shared, private]), headers=mod2.h), 422, "takeaway_invalid")
    lesson = await ok(await client.post("/api/v1/lessons", json=lesson_body(
        "Audit.", takeaways=[shared]), headers=mod2.h), 201)
    assert lesson["takeaways"] == [shared]
    state = {i["target_id"]: i for i in (await items(client, mod2, "?kind=takeaway"))["items"]}
    assert state[shared]["state"] == "done" and state[by_moderator]["state"] == "open"
    history = await ok(await client.get(
        f"/api/v1/moderation/items/{state[shared]['id']}/history", headers=mod2.h))
    assert [h["action"] for h in history["history"]] == ["queued", "used_in_lesson"]
    # Dismissing a takeaway closes its item; unknown ones are not found.
    await ok(await client.post(f"/api/v1/moderation/takeaways/{by_moderator}/dismiss",
                               headers=mod2.h))
    state = {i["target_id"]: i for i in (await items(client, mod2, "?kind=takeaway"))["items"]}
    assert state[by_moderator]["state"] == "done"
    for ref in (private, str(uuid.uuid4())):  # a private takeaway has no queue item
        await problem(await client.post(f"/api/v1/moderation/takeaways/{ref}/dismiss",
                                        headers=mod2.h), 404)


# --- flags and the queue ---------------------------------------------------------------------

async def test_flags_hide_restore_dismiss_and_the_queue_filters(client: TestClient) -> None:
    async with AsyncExitStack() as stack:
        await _flags_scenario(client, stack)


async def _flags_scenario(client: TestClient, stack: AsyncExitStack) -> None:
    threshold = client.app[keys.SETTINGS].flag_hide_threshold
    assert threshold >= 2
    mod1, mod2 = await person(client, "moderator"), await person(client, "moderator")
    author = await person(client, "delegate", state="GHA")
    flaggers = [await person(client, "delegate", state="GHA") for _ in range(threshold)]
    await make_room(client, mod1, "west-africa", "regional", [author, *flaggers],
                    region="african")
    await make_room(client, mod1, "wg-other", "working_group", [author, flaggers[0]])
    thread = await ok(await client.post("/api/v1/rooms/west-africa/threads", json={
        "title": "Border crossings", "body": "The first post."}, headers=author.h), 201)
    tid = thread["id"]
    hot = "Officer Mensah at the Aflao crossing takes bribes."
    p1 = (await ok(await client.post(f"/api/v1/threads/{tid}/posts", json={"body": hot},
                                     headers=author.h), 201))["id"]
    p2 = (await ok(await client.post(f"/api/v1/threads/{tid}/posts", json={
        "body": "A harmless remark."}, headers=author.h), 201))["id"]
    other = await ok(await client.post("/api/v1/rooms/wg-other/threads", json={
        "title": "Elsewhere", "body": "Off topic, maybe."}, headers=author.h), 201)
    p3 = other["posts"][0]["id"]

    async def post_as_member(post_id: str) -> dict[str, Any]:
        data = await ok(await client.get(f"/api/v1/threads/{tid}/posts", headers=author.h))
        return next(p for p in data["posts"] if p["id"] == post_id)

    # A member's browser (its own cookie jar; everyone else uses tokens).
    browser = await stack.enter_async_context(aiohttp.ClientSession(
        base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)))
    member = flaggers[-1].user
    async with browser.post("/api/v1/session", json={
            "email": member.email, "password": member.password,
            "totp": member.next_code()}) as r:
        assert r.status == 201, await r.text()

    async def page_as_member() -> str:
        async with browser.get(f"/threads/{tid}") as r:
            text = await r.text()
            assert r.status == 200, text
            return text

    # Flags below the threshold: queued, still visible; at the threshold: hidden pending review.
    for n, flagger in enumerate(flaggers, start=1):
        await ok(await client.post(f"/api/v1/posts/{p1}/flags", json={"reason": "spam"},
                                   headers=flagger.h), 201)
        assert (await post_as_member(p1))["hidden"] is (n >= threshold), n
    shown = await post_as_member(p1)
    assert shown["body"] is None and shown["html"] is None
    page = await page_as_member()
    assert "This post is hidden by the moderators." in page and "Hidden pending review." in page
    assert "Aflao" not in page
    await ok(await client.post(f"/api/v1/posts/{p2}/flags", json={"reason": "off_topic"},
                               headers=flaggers[0].h), 201)
    await ok(await client.post(f"/api/v1/posts/{p3}/flags", json={"reason": "other",
                                                                  "note": "Not sure."},
                               headers=flaggers[0].h), 201)
    assert (await post_as_member(p2))["hidden"] is False

    # The moderator sees the flagged post, hidden or not, and its flags.
    flagged = await ok(await client.get(f"/api/v1/moderation/flags/{p1}", headers=mod1.h))
    assert flagged["post"]["body"] == hot and flagged["post"]["hidden"] is True
    assert len(flagged["flags"]) == threshold

    # Counts per kind and state; filters by kind, state, region and assignee.
    data = await items(client, mod1)
    assert data["counts"] == {"flag": {"open": 3}}
    by_target = {i["target_id"]: i for i in data["items"]}
    assert set(by_target) == {p1, p2, p3}
    assert by_target[p1]["region_code"] == "african" and by_target[p3]["region_code"] is None
    assert {i["target_id"] for i in (await items(client, mod1, "?region=african"))["items"]} \
        == {p1, p2}
    assert (await items(client, mod1, "?region=asia_pacific"))["items"] == []
    assert (await items(client, mod1, "?kind=case"))["items"] == []
    await ok(await client.post(f"/api/v1/moderation/items/{by_target[p2]['id']}/claim",
                               headers=mod2.h))
    mine = (await items(client, mod1, f"?assignee={mod2.id}"))["items"]
    assert [(i["target_id"], i["state"]) for i in mine] == [(p2, "claimed")]
    assert (await items(client, mod1, f"?assignee={mod1.id}"))["items"] == []
    assert {i["target_id"] for i in (await items(client, mod1, "?state=open&kind=flag")
                                     )["items"]} == {p1, p3}
    for query, code in (("?kind=bogus", "kind_invalid"), ("?state=bogus", "state_invalid")):
        await problem(await client.get(f"/api/v1/moderation/items{query}", headers=mod1.h),
                      422, code)

    # Hide with a reason (shown to members), then restore; dismiss another.
    act = f"/api/v1/moderation/flags/{p1}"
    await problem(await client.post(act, json={"action": "hide"}, headers=mod1.h), 422)
    await problem(await client.post(act, json={"action": "hide", "reason": "x" * 501},
                                    headers=mod1.h), 422)
    await problem(await client.post(act, json={"action": "burn"}, headers=mod1.h), 422,
                  "action_invalid")
    reason = "It names an official; the Secretariat asked the author to rephrase."
    await ok(await client.post(act, json={"action": "hide", "reason": reason}, headers=mod1.h))
    assert (await post_as_member(p1))["hidden"] is True
    page = await page_as_member()
    assert reason in page and "Aflao" not in page
    assert (await ok(await client.get(act, headers=mod1.h)))["flags"] == []
    await ok(await client.post(act, json={"action": "restore"}, headers=mod1.h))
    restored = await post_as_member(p1)
    assert restored["hidden"] is False and restored["body"] == hot
    assert "Aflao" in await page_as_member()
    await ok(await client.post(f"/api/v1/moderation/flags/{p2}", json={"action": "dismiss"},
                               headers=mod2.h))
    assert (await post_as_member(p2))["hidden"] is False

    data = await items(client, mod1)
    assert data["counts"] == {"flag": {"done": 2, "open": 1}}
    history = await ok(await client.get(
        f"/api/v1/moderation/items/{by_target[p1]['id']}/history", headers=mod1.h))
    assert [h["action"] for h in history["history"]] == ["queued"] * threshold + [
        "hide", "restore"]
    assert history["history"][-2]["note"] == reason
    history = await ok(await client.get(
        f"/api/v1/moderation/items/{by_target[p2]['id']}/history", headers=mod1.h))
    assert [h["action"] for h in history["history"]] == ["queued", "claimed", "dismiss"]

    async with client.app[keys.POOL].acquire() as conn:
        logged = {(r["actor_id"], r["action"], r["target_id"]) for r in await conn.fetch(
            "SELECT actor_id::text, action, target_id FROM audit_log")}
    assert {(mod1.id, "post.hide", p1), (mod1.id, "post.restore", p1),
            (mod2.id, "review.claim", by_target[p2]["id"]),
            (mod2.id, "post.dismiss", p2)} <= logged


# --- bad input -------------------------------------------------------------------------------

async def test_bad_input_is_a_4xx_with_a_message(client: TestClient) -> None:
    mod1, mod2 = await person(client, "moderator"), await person(client, "moderator")
    fac = await person(client, "facilitator")
    workshop = await make_workshop(client, mod1, "ws-bad", facilitators=(fac,))
    takeaway = await add_takeaway(client, fac, workshop, "A usable takeaway.")
    lessons = []
    for n in range(3):
        lesson = await ok(await client.post("/api/v1/lessons", json=lesson_body(
            f"Lesson {n}.", takeaways=[takeaway] if n == 0 else []), headers=mod1.h), 201)
        lessons.append(lesson["id"])
    for lesson_id in lessons[:2]:
        await ok(await client.post(f"/api/v1/lessons/{lesson_id}/approve", headers=mod2.h))
    draft = lessons[2]
    session = (await ok(await client.post("/api/v1/dief-sessions", json={
        "title": "DIEF", "held_on": "2026-09-01"}, headers=mod1.h), 201))["id"]
    agenda = [(await ok(await client.post(f"/api/v1/dief-sessions/{session}/agenda",
                                          json={"lesson": lesson_id}, headers=mod1.h),
                        201))["id"] for lesson_id in lessons[:2]]
    ws, s = workshop["id"], f"/api/v1/dief-sessions/{session}"
    good_ws = {"slug": "ws-new", "title": "T", "region": "african", "place": "Lomé",
               "starts_on": "2026-05-04", "ends_on": "2026-05-06", "officials_trained": 3}
    long = "x" * 5001
    cases: list[tuple[str, str, dict[str, Any] | None, int, str | None]] = [
        ("POST", "/api/v1/workshops", {**good_ws, "starts_on": "2026-02-30"}, 422,
         "starts_on_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "starts_on": "tomorrow"}, 422,
         "starts_on_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "ends_on": 20260506}, 422,
         "ends_on_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "ends_on": "2026-05-01"}, 422,
         "ends_on_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "region": "atlantis"}, 422,
         "region_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "region": ["african"]}, 422,
         "region_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "officials_trained": "12"}, 422,
         "officials_trained_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "officials_trained": -1}, 422,
         "officials_trained_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "officials_trained": True}, 422,
         "officials_trained_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "officials_trained": 10**30}, 422,
         "officials_trained_invalid"),
        ("POST", "/api/v1/workshops", {**good_ws, "title": "x" * 201}, 422,
         "title_too_long"),
        ("POST", "/api/v1/workshops", {**good_ws, "title": "  "}, 422, "title_missing"),
        ("POST", "/api/v1/workshops", {**good_ws, "place": "x" * 201}, 422,
         "place_too_long"),
        ("POST", "/api/v1/workshops", {**good_ws, "slug": "Not a slug!"}, 422, None),
        ("POST", "/api/v1/workshops", {**good_ws, "slug": workshop["room_slug"]}, 409, None),
        ("PUT", f"/api/v1/workshops/{ws}/officials-trained", {"officials_trained": "many"},
         422, "officials_trained_invalid"),
        ("POST", f"/api/v1/workshops/{ws}/takeaways", {"kind": "rumour", "body": "b"}, 422,
         "kind_invalid"),
        ("POST", f"/api/v1/workshops/{ws}/takeaways", {"kind": "risk", "body": long}, 422,
         "body_too_long"),
        ("POST", f"/api/v1/workshops/{ws}/takeaways", {"kind": "risk"}, 422, "body_missing"),
        ("POST", f"/api/v1/workshops/{ws}/takeaways",
         {"kind": "risk", "body": "b", "shareable": "yes"}, 422, "shareable_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", tags=["no_such_tag"]), 422,
         "tags_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", tags="stockpile_theft_loss"), 422,
         "tags_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", tags=[1]), 422, "tags_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", tags=["stockpile_theft_loss"] * 31), 422,
         "tags_invalid"),
        ("POST", "/api/v1/lessons", lesson_body(long), 422, "summary_too_long"),
        ("POST", "/api/v1/lessons", lesson_body("s", risk=long), 422, "risk_too_long"),
        ("POST", "/api/v1/lessons", lesson_body("s", risk=["a list"]), 422, "risk_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", title=None), 422, "title_missing"),
        ("POST", "/api/v1/lessons", lesson_body("s", region="atlantis"), 422,
         "region_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", takeaways=["nope"]), 422,
         "takeaways_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", takeaways=[str(uuid.uuid4())]), 422,
         "takeaway_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", cases=[str(uuid.uuid4())]), 422,
         "case_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", cases={"a": 1}), 422, "cases_invalid"),
        ("POST", "/api/v1/lessons", lesson_body("s", cases=[str(uuid.uuid4())] * 51), 422,
         "cases_invalid"),
        ("PUT", f"/api/v1/lessons/{draft}", lesson_body("s", tags=["nope"]), 422,
         "tags_invalid"),
        # Editing sends a lesson back to draft: not while it is on an agenda.
        ("PUT", f"/api/v1/lessons/{lessons[0]}", lesson_body("s"), 409, "lesson_scheduled"),
        ("GET", "/api/v1/lessons?status=bogus", None, 422, "status_invalid"),
        ("POST", f"/api/v1/lessons/{draft}/approve", {"acknowledge_warnings": 1}, 422, None),
        ("POST", f"/api/v1/lessons/{lessons[0]}/approve", {}, 409, "lesson_not_draft"),
        ("POST", "/api/v1/dief-sessions", {"title": "T", "held_on": "18/03/2026"}, 422,
         "held_on_invalid"),
        ("POST", "/api/v1/dief-sessions", {"title": "T"}, 422, "held_on_invalid"),
        ("POST", "/api/v1/dief-sessions", {"title": "x" * 201, "held_on": "2026-03-18"},
         422, "title_too_long"),
        ("POST", "/api/v1/dief-sessions", {"title": "T", "held_on": "2026-03-18",
                                           "place": "x" * 201}, 422, "place_too_long"),
        ("POST", f"{s}/agenda", {"lesson": lessons[0], "case": str(uuid.uuid4())}, 422,
         "agenda_item_invalid"),
        ("POST", f"{s}/agenda", {}, 422, "agenda_item_invalid"),
        ("POST", f"{s}/agenda", {"lesson": [lessons[0], lessons[1]]}, 422,
         "agenda_item_invalid"),
        ("POST", f"{s}/agenda", {"lesson": "not-an-id"}, 422, "lesson_invalid"),
        ("POST", f"{s}/agenda", {"lesson": draft}, 422, "lesson_not_approved"),
        ("POST", f"{s}/agenda", {"lesson": str(uuid.uuid4())}, 422, "lesson_not_approved"),
        ("POST", f"{s}/agenda", {"case": str(uuid.uuid4())}, 422, "case_invalid"),
        ("POST", f"{s}/agenda", {"lesson": lessons[0]}, 409, "already_on_agenda"),
        ("POST", f"{s}/agenda", {"lesson": lessons[0], "notes": long}, 422,
         "notes_too_long"),
        ("PUT", f"{s}/agenda", {"order": [agenda[0]]}, 422, "order_invalid"),
        ("PUT", f"{s}/agenda", {"order": [*agenda, str(uuid.uuid4())]}, 422,
         "order_invalid"),
        ("PUT", f"{s}/agenda", {"order": "not a list"}, 422, "order_invalid"),
        ("PUT", f"{s}/agenda", {}, 422, "order_invalid"),
        ("PATCH", f"{s}/agenda/{agenda[0]}", {"notes": long}, 422, "notes_too_long"),
        ("PATCH", f"{s}/agenda/{agenda[0]}", {"notes": 5}, 422, "notes_invalid"),
        ("GET", f"{s}/briefing?format=xml", None, 422, "format_invalid"),
        ("GET", "/api/v1/moderation/items?kind=bogus", None, 422, "kind_invalid"),
        ("GET", "/api/v1/moderation/items?state=bogus", None, 422, "state_invalid"),
        ("GET", "/api/v1/moderation/items?assignee=nobody", None, 422, "assignee_invalid"),
        ("GET", "/api/v1/audit?since=yesterday", None, 422, None),
        ("POST", f"/api/v1/moderation/flags/{uuid.uuid4()}", {"action": "burn"}, 422,
         "action_invalid"),
    ]
    failures = []
    for method, path, body, status, code in cases:
        r = await client.request(method, path, json=body, headers=mod1.h)
        text = await r.text()
        got = await r.json(content_type=None) if r.content_type.endswith("json") else {}
        if r.status != status or r.content_type != "application/problem+json" or (
                code is not None and got.get("code") != code) or not got.get("title"):
            failures.append(f"{method} {path} {str(body)[:80]}: expected {status} {code}, got "
                            f"{r.status} {text[:200]}")
    # Not JSON at all, or not an object.
    for data, headers in (("{not json", {"Content-Type": "application/json"}),
                          ("[1, 2]", {"Content-Type": "application/json"}),
                          ("title=T", {"Content-Type": "application/x-www-form-urlencoded"})):
        for path in ("/api/v1/lessons", f"{s}/agenda", f"/api/v1/lessons/{draft}/approve"):
            r = await client.post(path, data=data, headers={**mod1.h, **headers})
            if not 400 <= r.status < 500:
                failures.append(f"POST {path} {data!r}: {r.status} {(await r.text())[:200]}")
    assert not failures, "\n".join(failures)

    # Once the session is held its agenda is closed.
    await ok(await client.put(f"{s}/agenda", json={"order": agenda[::-1]}, headers=mod1.h))
    await ok(await client.post(f"{s}/held", headers=mod1.h))
    await ok(await client.post(f"{s}/held", headers=mod1.h))  # idempotent
    await ok(await client.post(f"/api/v1/lessons/{lessons[2]}/approve", headers=mod2.h))
    for method, path, body in (("POST", f"{s}/agenda", {"lesson": lessons[2]}),
                               ("DELETE", f"{s}/agenda/{agenda[0]}", None),
                               ("PUT", f"{s}/agenda", {"order": agenda}),
                               ("PATCH", f"{s}/agenda/{agenda[0]}", {"notes": "Later."})):
        await problem(await client.request(method, path, json=body, headers=mod1.h), 409,
                      "session_held")
    # A presented lesson is part of the record.
    await problem(await client.put(f"/api/v1/lessons/{lessons[0]}", json=lesson_body("New."),
                                   headers=mod1.h), 409, "lesson_presented")
    pack = await ok(await client.get(s, headers=mod1.h))
    assert [i["title"] for i in pack["agenda"]] == ["Audit stockpiles after delivery"] * 2
    assert [i["position"] for i in pack["agenda"]] == [1, 2]
    assert pack["agenda"][0]["fields"]["summary"] == "Lesson 1."


# --- the whole scenario: indicators, briefing, audit -----------------------------------------

async def test_scenario_indicators_briefing_and_audit_chain(client: TestClient,
                                                            tmp_path: Path,
                                                            database_url: str) -> None:
    mod1, mod2 = await person(client, "moderator"), await person(client, "moderator")
    fac = await person(client, "facilitator")
    delegate = await person(client, "delegate", state="GHA", name="Secret Source")
    members = [await person(client, "delegate", state="KEN") for _ in range(2)]
    donor = await person(client, "donor")
    done: list[tuple[Person, str, str | None]] = []  # (moderator, audit action, target id)

    await make_room(client, mod1, "plenary", "plenary", members)
    done.append((mod1, "room.create", None))
    first = await make_workshop(client, mod1, "ws-accra", facilitators=(fac,), officials=12)
    second = await make_workshop(client, mod2, "ws-nairobi", officials=9, region="african")
    done += [(mod1, "workshop.create", first["id"]), (mod1, "room.member.add", None),
             (mod2, "workshop.create", second["id"])]
    await ok(await client.put(f"/api/v1/workshops/{second['id']}/officials-trained",
                              json={"officials_trained": 15}, headers=mod2.h))
    done.append((mod2, "workshop.officials_trained", second["id"]))
    takeaways = [await add_takeaway(client, fac, first, body, kind) for kind, body in (
        ("risk", "Stockpiles are rarely audited after delivery."),
        ("mitigation", "Joint post-shipment checks with the importer."),
        ("challenge", "Porous borders along the coast."))]
    item = next(i for i in (await items(client, mod2, "?kind=takeaway"))["items"]
                if i["target_id"] == takeaways[2])
    await ok(await client.post(f"/api/v1/moderation/items/{item['id']}/claim", headers=mod2.h))
    await ok(await client.post(f"/api/v1/moderation/takeaways/{takeaways[2]}/dismiss",
                               headers=mod2.h))
    done += [(mod2, "review.claim", item["id"]), (mod2, "takeaway.dismiss", takeaways[2])]

    case_id = await submit_case(client, delegate)
    await submit_case(client, delegate)  # shared (released), never published
    await submit_case(client, delegate)  # not released yet: not shared
    await release(client)
    await submit_case(client, delegate)
    await publish_case(client, case_id, mod1, mod2)
    done += [(mod1, "case.claim", case_id), (mod1, "case.redact", case_id),
             (mod1, "case.approve", case_id), (mod2, "case.publish", case_id)]

    lesson = await ok(await client.post("/api/v1/lessons", json=lesson_body(
        "Post-delivery checks would have caught the re-transfer.", takeaways=takeaways[:2],
        cases=[case_id]), headers=mod1.h), 201)
    assert lesson["warnings"] == []
    other = await ok(await client.post("/api/v1/lessons", json={
        "title": "Trace brokers across regions", "summary": "Share broker registries.",
        "region": None}, headers=mod2.h), 201)
    await ok(await client.put(f"/api/v1/lessons/{other['id']}", json={
        "title": "Trace brokers across regions", "summary": "Share broker registries early.",
        "tags": []}, headers=mod2.h))
    done += [(mod1, "lesson.create", lesson["id"]), (mod2, "lesson.create", other["id"]),
             (mod2, "lesson.update", other["id"])]
    await ok(await client.post(f"/api/v1/lessons/{lesson['id']}/approve", headers=mod2.h))
    await ok(await client.post(f"/api/v1/lessons/{other['id']}/approve", headers=mod1.h))
    done += [(mod2, "lesson.approve", lesson["id"]), (mod1, "lesson.approve", other["id"])]

    session = (await ok(await client.post("/api/v1/dief-sessions", json={
        "title": "DIEF, spring session", "held_on": "2026-03-18"}, headers=mod1.h), 201))["id"]
    s = f"/api/v1/dief-sessions/{session}"
    agenda = {}
    for key, body in (("lesson", {"lesson": lesson["id"], "notes": "Five minutes."}),
                      ("other", {"lesson": other["id"]}), ("case", {"case": case_id})):
        agenda[key] = (await ok(await client.post(f"{s}/agenda", json=body, headers=mod1.h),
                                201))["id"]
        done.append((mod1, "agenda.add", session))
    shown = await ok(await client.get(f"/api/v1/lessons/{other['id']}", headers=mod1.h))
    assert shown["status"] == "scheduled"
    await ok(await client.patch(f"{s}/agenda/{agenda['case']}", json={
        "notes": "Ask the region's delegates."}, headers=mod1.h))
    await ok(await client.put(f"{s}/agenda", json={"order": [
        agenda["case"], agenda["other"], agenda["lesson"]]}, headers=mod1.h))
    r = await client.delete(f"{s}/agenda/{agenda['other']}", headers=mod1.h)
    assert r.status == 204, await r.text()
    done += [(mod1, "agenda.notes", session), (mod1, "agenda.reorder", session),
             (mod1, "agenda.remove", session)]
    shown = await ok(await client.get(f"/api/v1/lessons/{other['id']}", headers=mod1.h))
    assert shown["status"] == "approved"  # off every agenda: back to approved

    # The briefing: the lesson and the case's published fields, the region or "Undisclosed",
    # nothing of the case's sensitive fields or of its source.
    pack = await ok(await client.get(s, headers=mod1.h))
    assert [(i["position"], i["kind"]) for i in pack["agenda"]] == [(1, "case"), (2, "lesson")]
    r = await client.get(f"{s}/briefing?format=md", headers=mod1.h)
    assert r.status == 200 and r.content_type == "text/markdown"
    markdown = await r.text()
    r = await client.get(f"{s}/briefing?format=html", headers=mod1.h)
    assert r.status == 200 and r.content_type == "text/html"
    html = await r.text()
    r = await client.get(f"{s}/briefing", headers=mod1.h)
    assert r.content_type == "text/markdown" and await r.text() == markdown
    forbidden = [*(line for value in SECRETS.values() for line in value.splitlines()),
                 ORIGINAL_NARRATIVE, "Secret Source", delegate.user.email, delegate.id,
                 "Ghana", "Vintorez", "Orlov", "Harcourt"]
    for text in (markdown, html):
        assert "Audit stockpiles after delivery" in text
        assert "Post-delivery checks would have caught the re-transfer." in text
        assert PUBLISHED["title"] in text and PUBLISHED["narrative"] in text
        assert "African Group" in text and "Undisclosed" in text
        assert "Ask the region&#39;s delegates." in text or "Ask the region's delegates." \
            in text
        assert "Trace brokers across regions" not in text
        for secret in forbidden:
            assert secret.lower() not in text.lower(), secret
    assert not re.search(r"\bGHA\b", markdown)
    assert markdown.index(PUBLISHED["title"]) < markdown.index("Audit stockpiles")
    case_section = markdown[markdown.index(PUBLISHED["title"]):markdown.index("Audit stock")]
    assert "Undisclosed" in case_section and "African Group" not in case_section

    await ok(await client.post(f"{s}/held", headers=mod1.h))
    done.append((mod1, "dief_session.held", session))

    # Posts for the participation indicator.
    thread = await ok(await client.post("/api/v1/rooms/plenary/threads", json={
        "title": "Follow-up", "body": "A first post."}, headers=members[0].h), 201)
    for who in (members[0], members[1]):
        await ok(await client.post(f"/api/v1/threads/{thread['id']}/posts", json={
            "body": "A reply."}, headers=who.h), 201)

    # The indicators match counts made here, directly in the database.
    data = await ok(await client.get("/api/v1/indicators", headers=donor.h))
    async with client.app[keys.POOL].acquire() as conn:
        expected = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM workshops) AS workshops, "
            "(SELECT sum(officials_trained) FROM workshops) AS officials, "
            "(SELECT count(*) FROM cases WHERE released_at IS NOT NULL) AS shared, "
            "(SELECT count(*) FROM case_publications) AS published, "
            "(SELECT count(*) FROM lessons WHERE status = 'presented') AS presented, "
            "(SELECT count(*) FROM lessons) AS lessons")
        month = await conn.fetchrow(
            "SELECT count(*) AS posts, count(DISTINCT author_id) AS members FROM posts "
            "WHERE date_trunc('month', created_at AT TIME ZONE 'UTC') "
            "= date_trunc('month', now() AT TIME ZONE 'UTC')")
    assert (data["workshops"], data["officials_trained"], data["cases_shared"],
            data["cases_published"], data["lessons_presented"], data["lessons_total"]) == (
        expected["workshops"], expected["officials"], expected["shared"],
        expected["published"], expected["presented"], expected["lessons"])
    assert (expected["workshops"], expected["officials"], expected["shared"],
            expected["published"], expected["presented"], expected["lessons"]) == (
        2, 27, 3, 1, 1, 2)
    assert (data["workshops_target"], data["officials_target"]) == (5, 50)
    current = data["monthly"][-1]
    assert current["month"] == dt.datetime.now(dt.UTC).strftime("%Y-%m")
    assert (current["posts"], current["active_members"]) == (month["posts"],
                                                             month["members"])
    assert month["posts"] >= 4 and month["members"] >= 2
    assert len(data["monthly"]) == 12

    # Every moderator action is in the audit chain, with the moderator as actor.
    async with client.app[keys.POOL].acquire() as conn:
        logged = [(r["actor_id"], r["action"], r["target_id"]) for r in await conn.fetch(
            "SELECT actor_id::text, action, target_id FROM audit_log ORDER BY seq")]
    missing = []
    for who, action, target in done:
        matching = [e for e in logged if e[0] == who.id and e[1] == action
                    and (target is None or e[2] == str(target))]
        if not matching:
            missing.append((who.user.email, action, target))
    assert not missing, missing
    for action in ("agenda.add",):
        assert sum(1 for e in logged if e[1] == action) == 3
    audit_page = await ok(await client.get(f"/api/v1/audit?actor={mod1.user.email}",
                                           headers=mod1.h))
    assert audit_page["verify"]["ok"] is True
    assert {e["action"] for e in audit_page["entries"]} >= {
        "lesson.create", "agenda.reorder", "dief_session.held", "case.redact"}

    # `dief audit verify` passes after the scenario, and fails on one edited row.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIEF_")},
           **conftest.test_environ(tmp_path), "DIEF_DATABASE_URL": database_url}

    async def verify() -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            DIEF, "audit", "verify", env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    code, out, err = await verify()
    assert code == 0, err
    checked = re.search(r"audit chain OK: (\d+) entries", out)
    assert checked is not None and int(checked.group(1)) >= len(logged), out
    conn = await asyncpg.connect(database_url)
    try:
        seq = await conn.fetchval("SELECT seq FROM audit_log WHERE action = 'lesson.approve' "
                                  "AND target_id = $1", lesson["id"])
        await conn.execute("UPDATE audit_log SET details = details || '{\"warnings_acknow"
                           "ledged\": 0, \"x\": 1}' WHERE seq = $1", seq)
    finally:
        await conn.close()
    code, out, err = await verify()
    assert code == 1 and out == ""
    assert f"AUDIT CHAIN BROKEN at entry {seq}" in err
