"""THE access test of issue 3: walk the router, every room-scoped route, every role.

MISSION's first promise: a member of one room learns nothing about another room — not its
threads, not that an id exists. So for every route whose path holds ``{room}``, ``{thread}`` or
``{post}`` (HTML and ``/api/v1``, every method aiohttp registered, HEAD included) and every user
role, a NON-member of room A gets exactly what a random id (or an unknown slug) gets: a 404,
the same problem+json document for the API, the same error page for HTML (compared after the
request-specific bits — the ids in the page's own URL, the CSRF token — are blanked).

The walk is generic: routes are read from ``app.router``; a route added later is exercised
automatically with a superset body (JSON for the API, a form with the CSRF token for pages), and
the test fails if a room-scoped route was not exercised or uses a placeholder it cannot fill.
Unsafe requests carry *valid* bodies on purpose: a non-member must get the 404 before any
validation (422), permission (403) or state (409) answer could tell a real id from a random one.

One documented exception, ``MANAGER_ROUTES``: administrators and moderators ("managers",
forum/rooms/service.py) manage the membership of every room without being members of it —
they see every room's name on /admin/rooms anyway — so on the member-list and membership /
archive routes they get an authorized answer; everybody else gets the 404 there too.

Then as a MEMBER, each role that can be a member of the room's kind (observers never join
regional or plenary rooms, so they are checked in a working-group room) gets 2xx on every GET.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from forum import db, keys
from forum.auth import service as auth
from forum.rooms import service
from tests.factories import TestUser, make_user

ROLES = ("admin", "moderator", "facilitator", "delegate", "observer")
MANAGERS = frozenset({"admin", "moderator"})
SCOPED = frozenset({"room", "thread", "post"})
KNOWN_PLACEHOLDERS = SCOPED | {"user_id"}
# Placeholders of routes that are about accounts, not rooms (invitations, sessions, tokens,
# users). Any other placeholder fails the walk's guard test: name a room, thread or post
# {room}, {thread} or {post} so that this walk covers it, or add the new name here knowingly.
ACCOUNT_PLACEHOLDERS = frozenset({"token", "session_id", "token_id", "user_id"})
# {case}: a published case is read through its publication room, moderation routes are for
# moderators only; tests/test_cases_access.py walks those routes the same way.
# {workshop}, {lesson}, {session}, {item}, {flagged}, {takeaway}: the lessons pipeline and the
# general review queue — a workshop's takeaways are read through its room (404 for
# non-members), the rest is for moderators only; tests/test_lessons_access.py walks them.
# {workshop_id}, {lesson_id}, {dief_session_id}, {agenda_item_id}, {item_id}, {flagged_id},
# {takeaway_id}: the HTML pages of the same, walked (forms, error pages) by
# tests/test_curation_pages.py.
OTHER_WALKED_PLACEHOLDERS = frozenset({"case", "workshop", "lesson", "session", "item",
                                       "flagged", "takeaway", "workshop_id", "lesson_id",
                                       "dief_session_id", "agenda_item_id", "item_id",
                                       "flagged_id", "takeaway_id"})
ROOM_PREFIXES = ("/rooms/", "/threads/", "/posts/", "/admin/rooms/", "/api/v1/rooms/",
                 "/api/v1/threads/", "/api/v1/posts/")
_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")

# Membership management: managers act on any room, member or not (see module docstring).
# Value: the statuses that count as the authorized answer for a non-member manager.
MANAGER_ROUTES: dict[tuple[str, str], frozenset[int]] = {
    ("GET", "/api/v1/rooms/{room}/members"): frozenset({200}),
    ("HEAD", "/api/v1/rooms/{room}/members"): frozenset({200}),
    ("GET", "/rooms/{room}/members"): frozenset({200}),
    ("HEAD", "/rooms/{room}/members"): frozenset({200}),
    ("PUT", "/api/v1/rooms/{room}/members/{user_id}"): frozenset({200, 201}),
    ("DELETE", "/api/v1/rooms/{room}/members/{user_id}"): frozenset({204}),
    ("POST", "/rooms/{room}/members"): frozenset({303}),
    ("POST", "/rooms/{room}/members/{user_id}/remove"): frozenset({303}),
    ("POST", "/admin/rooms/{room}/archive"): frozenset({303}),
}

# A superset body valid for every unsafe room-scoped route (each handler picks its fields);
# "archived": "0" keeps an authorized archive request from closing room A for later checks.
JSON_BODY = {"title": "A plausible title", "body": "A plausible *post*.", "reason": "spam",
             "note": "a note", "room_role": "member"}
FORM_BODY = {**JSON_BODY, "archived": "0", "pinned": "0", "locked": "0"}

_CSRF_INPUT = re.compile(r'(name="csrf_token" value=")[^"]*(")')


@dataclass
class Agent:
    """A signed-in user agent with its own cookie jar."""

    user: TestUser
    http: aiohttp.ClientSession
    csrf: str
    form_extra: dict[str, str]  # e.g. the "email" of the member-add form

    async def call(self, method: str, path: str, *, body: bool = True
                   ) -> tuple[int, str, str]:
        headers = {"X-CSRF-Token": self.csrf, "Accept-Language": "en"}
        kwargs: dict[str, Any] = {}
        if body and method in {"POST", "PUT", "PATCH"}:
            if path.startswith("/api/"):
                kwargs["json"] = JSON_BODY
            else:
                kwargs["data"] = {**FORM_BODY, **self.form_extra, "csrf_token": self.csrf}
        async with self.http.request(method, path, headers=headers, allow_redirects=False,
                                     **kwargs) as response:
            text = await response.text()
            return response.status, response.content_type, text


async def open_agent(stack: AsyncExitStack, client: TestClient, user: TestUser,
                     form_extra: dict[str, str]) -> Agent:
    http = await stack.enter_async_context(aiohttp.ClientSession(
        base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)))
    async with http.post("/api/v1/session", json={
            "email": user.email, "password": user.password, "totp": user.next_code()}) as r:
        assert r.status == 201, await r.text()
        csrf = (await r.json())["csrf_token"]
    return Agent(user, http, csrf, form_extra)


@dataclass
class RoomFixture:
    id: uuid.UUID
    slug: str
    thread_id: uuid.UUID
    post_id: uuid.UUID


@dataclass
class World:
    client: TestClient
    stack: AsyncExitStack
    a: RoomFixture
    b: RoomFixture
    victims: dict[str, TestUser]  # per outsider role: a member of A whom managers add/remove
    outsider_users: dict[str, TestUser]  # one per role: members of B, not of A
    member_users: dict[str, TestUser]  # one per role allowed in a regional room: members of A
    own_posts: dict[uuid.UUID, uuid.UUID]  # user id → a post of theirs in A or B
    _agents: dict[uuid.UUID, Agent] = dataclasses.field(default_factory=dict)

    async def agent(self, user: TestUser) -> Agent:
        """The user's signed-in agent (signed in on first use)."""
        if user.id not in self._agents:
            victim = self.victims.get(user.role)
            self._agents[user.id] = await open_agent(
                self.stack, self.client, user, {"email": victim.email} if victim else {})
        return self._agents[user.id]

    async def outsiders(self) -> dict[str, Agent]:
        return {role: await self.agent(user) for role, user in self.outsider_users.items()}

    async def a_members(self) -> dict[str, Agent]:
        return {role: await self.agent(user) for role, user in self.member_users.items()}


def scoped_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route whose path names a room, thread or post."""
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        path = resource.canonical
        names = set(_PLACEHOLDER.findall(path))
        if names & SCOPED:
            unknown = names - KNOWN_PLACEHOLDERS
            assert not unknown, f"{route.method} {path}: the access test cannot fill {unknown}"
            found.add((route.method, path))
    return sorted(found)


def fill(path: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], path)


def normalise(text: str, content_type: str, values: dict[str, str]) -> Any:
    """The body without what is specific to this request: ids of the URL, CSRF token."""
    if content_type.endswith("json"):
        return json.loads(text) if text else None
    for name, value in values.items():
        text = text.replace(value, "{" + name + "}")
    return _CSRF_INPUT.sub(r"\1…\2", text)


async def _room(conn: Any, app: web.Application, slug: str, kind: str,
                author: TestUser, members: list[TestUser]) -> RoomFixture:
    keyring, store = app[keys.KEYRING], app[keys.KEYSTORE]
    settings = dataclasses.replace(app[keys.SETTINGS], posts_per_minute=1000)
    room = await service.create_room(conn, keyring, None, slug=slug, kind=kind,
                                     name=f"Room {slug}")
    for user in [author, *members]:
        await service.add_member(conn, keyring, None, room.id, user.id)
    actor = await auth.unsafe_actor_for(conn, author.id)
    thread_id, _first = await service.create_thread(
        conn, store, settings, actor, room.id, title=f"Secret thread of {slug}",
        body="The first post.")
    post_id = await service.create_post(conn, store, settings, actor, thread_id,
                                        body="A second post.")
    return RoomFixture(room.id, room.slug, thread_id, post_id)


async def _own_post(conn: Any, app: web.Application, room: RoomFixture,
                    user: TestUser) -> uuid.UUID:
    actor = await auth.unsafe_actor_for(conn, user.id)
    settings = dataclasses.replace(app[keys.SETTINGS], posts_per_minute=1000)
    return await service.create_post(conn, app[keys.KEYSTORE], settings, actor, room.thread_id,
                                     body=f"Written by {user.role}.")


@pytest.fixture
async def world(client: TestClient) -> AsyncIterator[World]:
    app = client.app
    author = await make_user(client, role="delegate", state="GHA")
    victims = {role: await make_user(client, role="delegate", state="KEN") for role in ROLES}
    outsider_users = {role: await make_user(client, role=role) for role in ROLES}
    member_users = {role: await make_user(client, role=role) for role in ROLES
                    if role != "observer"}
    own_posts: dict[uuid.UUID, uuid.UUID] = {}
    async with db.transaction(app[keys.POOL]) as conn:
        a = await _room(conn, app, "room-a", "regional", author,
                        [*victims.values(), *member_users.values()])
        b = await _room(conn, app, "room-b", "working_group", author,
                        list(outsider_users.values()))
        for user in member_users.values():
            own_posts[user.id] = await _own_post(conn, app, a, user)
        for user in outsider_users.values():
            own_posts[user.id] = await _own_post(conn, app, b, user)
    async with AsyncExitStack() as stack:
        yield World(client, stack, a, b, victims, outsider_users, member_users, own_posts)


def _values(room: str, thread: uuid.UUID | str, post: uuid.UUID | str,
            user_id: uuid.UUID) -> dict[str, str]:
    return {"room": room, "thread": str(thread), "post": str(post), "user_id": str(user_id)}


async def _ensure_member(client: TestClient, room: RoomFixture, user: TestUser) -> None:
    app = client.app
    async with db.transaction(app[keys.POOL]) as conn:
        await service.add_member(conn, app[keys.KEYRING], None, room.id, user.id)


async def test_router_walk_finds_the_room_scoped_routes(client: TestClient) -> None:
    """Guards the walk itself: it must find the known routes, and no parameterised route may
    escape it under another placeholder name (``{room_id}``, ``{slug}``, ``{case}``…)."""
    routes = scoped_routes(client.app)
    assert len(routes) >= 40, routes
    for expected in [("GET", "/rooms/{room}"), ("GET", "/api/v1/threads/{thread}"),
                     ("PATCH", "/api/v1/posts/{post}"), ("POST", "/posts/{post}/flag"),
                     ("HEAD", "/threads/{thread}"), *MANAGER_ROUTES]:
        assert expected in routes, expected
    walked = set(routes)
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        names = set(_PLACEHOLDER.findall(path))
        if not names or (route.method, path) in walked:
            continue
        assert names <= ACCOUNT_PLACEHOLDERS | OTHER_WALKED_PLACEHOLDERS, (
            f"{route.method} {path}: placeholder(s) {names - ACCOUNT_PLACEHOLDERS} are not "
            "covered by the access walk")
        assert not path.startswith(ROOM_PREFIXES), f"{route.method} {path} escapes the walk"


async def _walk_as_outsider(client: TestClient, world: World, role: str, agent: Agent,
                            routes: list[tuple[str, str]],
                            exercised: set[tuple[str, str]]) -> list[str]:
    failures: list[str] = []
    manager = role in MANAGERS
    victim = world.victims[role]
    for method, template in routes:
        # The room by id and by slug (for routes naming one), against a random uuid and an
        # unknown slug; thread and post are always ids; user_id is a real member of A.
        pairs = [(_values(str(world.a.id), world.a.thread_id, world.a.post_id, victim.id),
                  _values(str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4(), victim.id))]
        if "{room}" in template:
            pairs.append((_values(world.a.slug, world.a.thread_id, world.a.post_id, victim.id),
                          _values(f"no-such-room-{uuid.uuid4().hex[:8]}", uuid.uuid4(),
                                  uuid.uuid4(), victim.id)))
        for real, fake in pairs:
            where = f"{role}: {method} {fill(template, real)}"
            if manager and (method, template) in MANAGER_ROUTES:
                await _ensure_member(client, world.a, victim)  # something to remove
                status, _ctype, text = await agent.call(method, fill(template, real))
                if status not in MANAGER_ROUTES[(method, template)]:
                    failures.append(f"{where}: manager expected "
                                    f"{sorted(MANAGER_ROUTES[(method, template)])}, got "
                                    f"{status} {text[:200]}")
                status, _ctype, text = await agent.call(method, fill(template, fake))
                if status != 404:
                    failures.append(f"{where} (random id): expected 404, got {status}")
                continue
            got = await agent.call(method, fill(template, real))
            ref = await agent.call(method, fill(template, fake))
            if got[0] != 404 or ref[0] != 404:
                failures.append(f"{where}: expected 404/404, got {got[0]} (real) / "
                                f"{ref[0]} (random) {got[2][:200]}")
                continue
            if got[1] != ref[1]:
                failures.append(f"{where}: content types differ {got[1]} / {ref[1]}")
                continue
            if normalise(got[2], got[1], real) != normalise(ref[2], ref[1], fake):
                failures.append(f"{where}: the 404 differs from a random id's")
            if template.startswith("/api/") and method != "HEAD":
                if got[1] != "application/problem+json" or (
                        json.loads(got[2]).get("code") != "not_found"):
                    failures.append(f"{where}: not a not_found problem: {got[2][:200]}")
        exercised.add((method, template))
    return failures


async def test_non_members_get_the_same_404_as_for_a_random_id(client: TestClient,
                                                               world: World) -> None:
    routes = scoped_routes(client.app)
    outsiders = await world.outsiders()
    assert set(outsiders) == set(ROLES)
    # Roles walk concurrently (each manager has its own victim to add and remove).
    exercised = {role: set[tuple[str, str]]() for role in outsiders}
    results = await asyncio.gather(*(
        _walk_as_outsider(client, world, role, agent, routes, exercised[role])
        for role, agent in outsiders.items()))
    failures = [failure for result in results for failure in result]
    assert not failures, "\n".join(failures)
    for role, done in exercised.items():
        assert done == set(routes), (role, set(routes) - done)


async def test_members_get_2xx_on_every_get_route(client: TestClient, world: World) -> None:
    """Each role as a member: the four that may join the regional room A there, and all five
    (observers included) in the working-group room B. ``{post}`` is the member's own post, as
    only an author may open the edit form (others get 403 — they are members, nothing leaks).
    """
    routes = [(m, t) for m, t in scoped_routes(client.app) if m in {"GET", "HEAD"}]
    assert routes
    failures: list[str] = []
    visits = [(agent, world.a) for agent in (await world.a_members()).values()] + [
        (agent, world.b) for agent in (await world.outsiders()).values()]
    roles_seen = {(agent.user.role, room.slug) for agent, room in visits}
    assert ("observer", "room-b") in roles_seen and ("observer", "room-a") not in roles_seen
    for agent, room in visits:
        post = world.own_posts[agent.user.id]
        for method, template in routes:
            refs = [str(room.id), room.slug] if "{room}" in template else [str(room.id)]
            for ref in refs:
                path = fill(template, _values(ref, room.thread_id, post, agent.user.id))
                status, _ctype, text = await agent.call(method, path)
                if not 200 <= status < 300:
                    failures.append(f"{agent.user.role} in {room.slug}: {method} {path}: "
                                    f"{status} {text[:200]}")
    assert not failures, "\n".join(failures)


async def test_ids_in_queries_and_bodies_do_not_leak_other_rooms(client: TestClient,
                                                                  world: World) -> None:
    """A member of B quoting A's post (``?quote=`` on a page, ``quote_of`` in the API) gets the
    same answer as with a random id."""
    agent = await world.agent(world.outsider_users["delegate"])
    for post in (world.a.post_id, uuid.uuid4()):
        status, _ctype, _text = await agent.call("GET",
                                                 f"/threads/{world.b.thread_id}?quote={post}")
        assert status == 404, post
    answers = []
    for post in (world.a.post_id, uuid.uuid4()):
        async with agent.http.post(f"/api/v1/threads/{world.b.thread_id}/posts",
                                   json={"body": "quoting", "quote_of": str(post)},
                                   headers={"X-CSRF-Token": agent.csrf}) as r:
            answers.append((r.status, await r.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 422 and answers[0][1]["code"] == "quote_invalid"


async def test_archive_by_a_non_manager_member_is_forbidden_not_hidden(
        client: TestClient, world: World) -> None:
    """A member who is not a manager knows the room: archive answers 403 there (404 only to
    non-members, checked by the walk), and the room stays open."""
    agent = await world.agent(world.member_users["delegate"])
    status, _ctype, _text = await agent.call("POST", f"/admin/rooms/{world.a.slug}/archive")
    assert status == 403
    status, _ctype, _text = await agent.call("GET", f"/api/v1/rooms/{world.a.slug}")
    assert status == 200
