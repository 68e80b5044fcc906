"""The access walk for the lessons pipeline and the general review queue (companion of
tests/test_rooms_access.py and tests/test_cases_access.py).

Routes naming ``{workshop}``, ``{lesson}``, ``{session}``, ``{item}``, ``{flagged}`` or
``{takeaway}`` are read from the router and walked with a real id and a random one:

* A workshop's takeaways are read through the workshop's room: a non-member of that room —
  whatever their role, a moderator included — gets exactly the 404 of a random id.
* Every other such route is for Secretariat moderators: everybody else gets the same 403 for a
  real id and a random id (nothing tells them the id exists), and a moderator gets 404 for a
  random id.
* Donors read the aggregate indicators and nothing else.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from forum import db, keys
from forum.auth import service as auth
from forum.rooms import service as rooms
from moderation.curation import service as curation
from tests.factories import TestUser, make_user

PLACEHOLDERS = frozenset({"workshop", "lesson", "session", "item", "flagged", "takeaway"})
# Routes read through the workshop's room (404 for non-members); all others: moderators only.
MEMBER_ROUTE = re.compile(r"^/api/v1/workshops/\{workshop\}/takeaways$")
OUTSIDER_ROLES = ("admin", "facilitator", "delegate", "observer", "donor")
_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")

# A superset body, valid for every unsafe route of the walk: a denied request must be denied
# before any validation could answer differently for a real and a random id.
JSON_BODY: dict[str, Any] = {
    "kind": "risk", "body": "A plausible takeaway.", "shareable": False,
    "officials_trained": 3, "title": "A plausible title", "summary": "A plausible summary.",
    "notes": "A note.", "order": [], "action": "dismiss", "reason": "spam",
    "lesson": str(uuid.uuid4()), "acknowledge_warnings": True}


def walked_routes(client: TestClient) -> list[tuple[str, str]]:
    found = set()
    for route in client.app.router.routes():
        if route.resource is None:
            continue
        path = route.resource.canonical
        names = set(_PLACEHOLDER.findall(path))
        if names & PLACEHOLDERS:
            assert names <= PLACEHOLDERS, f"{route.method} {path}: the walk cannot fill {names}"
            found.add((route.method, path))
    return sorted(found)


@dataclass
class Agent:
    user: TestUser
    http: aiohttp.ClientSession
    csrf: str

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None
                   ) -> tuple[int, str]:
        kwargs: dict[str, Any] = {}
        if method in {"POST", "PUT", "PATCH"}:
            kwargs["json"] = JSON_BODY if body is None else body
        async with self.http.request(method, path, headers={"X-CSRF-Token": self.csrf},
                                     allow_redirects=False, **kwargs) as response:
            return response.status, await response.text()


async def open_agent(stack: AsyncExitStack, client: TestClient, user: TestUser) -> Agent:
    http = await stack.enter_async_context(aiohttp.ClientSession(
        base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)))
    async with http.post("/api/v1/session", json={
            "email": user.email, "password": user.password, "totp": user.next_code()}) as r:
        assert r.status == 201, await r.text()
        return Agent(user, http, (await r.json())["csrf_token"])


@dataclass
class World:
    ids: dict[str, str]  # placeholder → a real id ("item": the queue item; see fill())
    agenda_item: str
    moderator: TestUser  # created everything: a member of the workshop room
    second_moderator: TestUser  # not a member of the workshop room
    facilitator: TestUser  # the workshop's facilitator
    participant: TestUser  # a plain member of the workshop room


def fill(template: str, ids: dict[str, str], agenda_item: str) -> str:
    """{item} is an agenda item under /dief-sessions/ and a queue item under /moderation/."""
    values = {**ids, "item": agenda_item if "{session}" in template else ids["item"]}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


@pytest.fixture
async def world(client: TestClient) -> World:
    app = client.app
    keyring, store = app[keys.KEYRING], app[keys.KEYSTORE]
    settings = replace(app[keys.SETTINGS], posts_per_minute=1000)
    mod1 = await make_user(client, role="moderator")
    mod2 = await make_user(client, role="moderator")
    facilitator = await make_user(client, role="facilitator")
    participant = await make_user(client, role="delegate", state="GHA")
    author = await make_user(client, role="delegate", state="KEN")
    async with db.transaction(app[keys.POOL]) as conn:
        m1 = await auth.unsafe_actor_for(conn, mod1.id)
        m2 = await auth.unsafe_actor_for(conn, mod2.id)
        workshop = await curation.create_workshop(
            conn, keyring, m1, slug="ws-access", title="Workshop", region="african",
            place="Accra", starts_on="2026-05-04", ends_on="2026-05-06", officials_trained=10)
        await rooms.add_member(conn, keyring, m1, workshop.room_id, facilitator.id,
                               room_role="facilitator")
        await rooms.add_member(conn, keyring, m1, workshop.room_id, participant.id)
        fac = await auth.unsafe_actor_for(conn, facilitator.id)
        takeaway = await curation.add_takeaway(conn, keyring, fac, workshop.id, kind="risk",
                                               body="Stockpiles unaudited.", shareable=True)
        spare = await curation.add_takeaway(conn, keyring, fac, workshop.id, kind="question",
                                            body="Who checks?", shareable=True)
        lesson = await curation.create_lesson(conn, keyring, m1, {
            "title": "Audit stockpiles", "summary": "Audit them.", "takeaways": [str(takeaway)]})
        await curation.approve_lesson(conn, keyring, settings, m2, lesson)
        session = await curation.create_session(conn, keyring, m1, title="DIEF",
                                                held_on="2026-09-01")
        agenda_item = await curation.add_to_agenda(conn, keyring, m1, session,
                                                   lesson=str(lesson), notes="Five minutes.")
        room = await rooms.create_room(conn, keyring, None, slug="wg-access",
                                       kind="working_group", name="WG")
        for user in (author, participant):
            await rooms.add_member(conn, keyring, None, room.id, user.id)
        writer = await auth.unsafe_actor_for(conn, author.id)
        _thread, post = await rooms.create_thread(conn, store, settings, writer, room.id,
                                                  title="A thread", body="A post.")
        flagger = await auth.unsafe_actor_for(conn, participant.id)
        assert await rooms.flag_post(conn, store, settings, flagger, post, reason="spam")
        item = await conn.fetchval(
            "SELECT id FROM review_items WHERE kind = 'flag' AND post_id = $1", post)
    ids = {"workshop": str(workshop.id), "lesson": str(lesson), "session": str(session),
           "item": str(item), "flagged": str(post), "takeaway": str(spare)}
    return World(ids, str(agenda_item), mod1, mod2, facilitator, participant)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


def _same(real: tuple[int, str], fake: tuple[int, str], real_ids: list[str],
          fake_ids: list[str]) -> bool:
    a, b = real[1], fake[1]
    for value in real_ids:
        a = a.replace(value, "X")
    for value in fake_ids:
        b = b.replace(value, "X")
    return a == b


async def test_the_walk_covers_every_route_with_these_placeholders(client: TestClient) -> None:
    routes = walked_routes(client)
    for expected in [("GET", "/api/v1/workshops/{workshop}/takeaways"),
                     ("POST", "/api/v1/workshops/{workshop}/takeaways"),
                     ("PUT", "/api/v1/workshops/{workshop}/officials-trained"),
                     ("PUT", "/api/v1/lessons/{lesson}"),
                     ("GET", "/api/v1/dief-sessions/{session}/briefing"),
                     ("DELETE", "/api/v1/dief-sessions/{session}/agenda/{item}"),
                     ("POST", "/api/v1/moderation/items/{item}/claim"),
                     ("POST", "/api/v1/moderation/flags/{flagged}"),
                     ("POST", "/api/v1/moderation/takeaways/{takeaway}/dismiss")]:
        assert expected in routes, expected
    assert len(routes) >= 20, routes


async def test_strangers_get_the_answer_of_a_random_id(client: TestClient, world: World,
                                                       stack: AsyncExitStack) -> None:
    routes = walked_routes(client)
    fake_ids = {name: str(uuid.uuid4()) for name in PLACEHOLDERS}
    fake_agenda = str(uuid.uuid4())
    real_values = [*world.ids.values(), world.agenda_item]
    fake_values = [*fake_ids.values(), fake_agenda]
    users = {role: await make_user(client, role=role, state="BRA" if role == "delegate"
                                   else None) for role in OUTSIDER_ROLES}
    users["moderator"] = world.second_moderator
    failures = []
    for role, user in users.items():
        agent = await open_agent(stack, client, user)
        for method, template in routes:
            real = await agent.call(method, fill(template, world.ids, world.agenda_item))
            fake = await agent.call(method, fill(template, fake_ids, fake_agenda))
            if MEMBER_ROUTE.match(template):
                expected = 404  # not a member of the workshop room, moderators included
            elif role == "moderator":
                continue  # moderators' answers on real ids: the API tests
            else:
                expected = 403
            where = f"{role}: {method} {template}"
            if real[0] != expected or fake[0] != expected:
                failures.append(f"{where}: expected {expected}/{expected}, got {real[0]}/"
                                f"{fake[0]} {real[1][:160]}")
            elif method != "HEAD" and not _same(real, fake, real_values, fake_values):
                failures.append(f"{where}: answers differ: {real[1][:160]} / {fake[1][:160]}")
            elif method != "HEAD":
                problem = json.loads(real[1])
                if problem.get("code") != ("not_found" if expected == 404 else "forbidden") \
                        or not problem.get("title"):
                    failures.append(f"{where}: not a problem document: {real[1][:160]}")
    assert not failures, "\n".join(failures)


async def test_moderators_get_404_for_random_ids(client: TestClient, world: World,
                                                 stack: AsyncExitStack) -> None:
    agent = await open_agent(stack, client, world.moderator)
    failures = []
    for method, template in walked_routes(client):
        fake_ids = {name: str(uuid.uuid4()) for name in PLACEHOLDERS}
        status, text = await agent.call(method, fill(template, fake_ids, str(uuid.uuid4())))
        if status != 404:
            failures.append(f"{method} {template}: {status} {text[:160]}")
    # Not-a-uuid ids are simply not found too.
    for method, template in walked_routes(client):
        status, text = await agent.call(method, _PLACEHOLDER.sub("not-an-id", template))
        if status != 404:
            failures.append(f"{method} {template} (not an id): {status} {text[:160]}")
    assert not failures, "\n".join(failures)
    # ... and their answers on real ids are authorized (GET routes).
    for method, template in walked_routes(client):
        if method == "GET":
            status, text = await agent.call(method, fill(template, world.ids,
                                                         world.agenda_item))
            assert status == 200, (template, status, text[:200])


async def test_workshop_members_read_takeaways(client: TestClient, world: World,
                                               stack: AsyncExitStack) -> None:
    path = f"/api/v1/workshops/{world.ids['workshop']}/takeaways"
    for user in (world.facilitator, world.participant):
        agent = await open_agent(stack, client, user)
        status, text = await agent.call("GET", path)
        assert status == 200, text
        assert {t["body"] for t in json.loads(text)["takeaways"]} == {
            "Stockpiles unaudited.", "Who checks?"}
        # ... but what is not theirs to manage stays forbidden (they now know the ids).
        status, _text = await agent.call(
            "PUT", f"/api/v1/workshops/{world.ids['workshop']}/officials-trained")
        assert status == 403


async def test_list_routes_donors_and_indicators(client: TestClient, world: World,
                                                 stack: AsyncExitStack) -> None:
    """Routes without an id: moderators only, except the indicators (Secretariat and donors)
    and the audit log (Secretariat: moderators and administrators)."""
    list_routes = [("GET", "/api/v1/lessons"), ("POST", "/api/v1/lessons"),
                   ("GET", "/api/v1/dief-sessions"), ("POST", "/api/v1/dief-sessions"),
                   ("GET", "/api/v1/moderation/items"), ("POST", "/api/v1/workshops"),
                   ("GET", "/api/v1/audit"), ("GET", "/api/v1/indicators")]
    allowed = {("admin", "/api/v1/indicators"), ("donor", "/api/v1/indicators"),
               ("admin", "/api/v1/audit")}
    failures = []
    for role in OUTSIDER_ROLES:
        agent = await open_agent(stack, client, await make_user(
            client, role=role, state="BRA" if role == "delegate" else None))
        for method, path in list_routes:
            status, text = await agent.call(method, path)
            expected = 200 if (role, path) in allowed else 403
            if status != expected:
                failures.append(f"{role}: {method} {path}: {status} {text[:160]}")
        # Workshops are listed per room membership: an outsider sees none of them.
        status, text = await agent.call("GET", "/api/v1/workshops")
        assert status == 200 and json.loads(text)["workshops"] == [], (role, text)
        if role == "donor":
            status, text = await agent.call("GET", "/api/v1/indicators")
            data = json.loads(text)
            assert (data["workshops"], data["officials_trained"]) == (1, 10)
            # Aggregates only: nothing names a workshop, lesson, case or person.
            assert "Workshop" not in text and "Audit stockpiles" not in text
    assert not failures, "\n".join(failures)
    moderator = await open_agent(stack, client, world.moderator)
    for method, path in list_routes:
        if method == "GET":
            status, text = await moderator.call(method, path)
            assert status == 200, (path, text[:200])
