"""Rooms, threads and posts over HTTP — the JSON API and the HTML forms — against the rules of
issue 3: who may join what, read-only archives, locked threads, explicit limits with clear 4xx
answers, keyset and thread pagination, unread counts, mentions, soft delete, authorship,
quote-reply, flags, workshop facilitators, and pages that render (and stay light).

Fixtures are built through the services (fast, and the rules apply); what is under test goes
over real HTTP, each user in their own signed-in user agent.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from forum import db, keys
from forum.app import create_app
from forum.auth import service as auth
from forum.rooms import service
from forum.settings import Settings
from tests import conftest
from tests.factories import TestUser, make_user


@dataclass
class Reply:
    status: int
    text: str
    headers: Any
    content_type: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Agent:
    """A signed-in user agent with its own cookie jar."""

    user: TestUser
    http: aiohttp.ClientSession
    csrf: str

    async def _send(self, method: str, path: str, **kwargs: Any) -> Reply:
        headers = {"Accept-Language": "en", **kwargs.pop("headers", {})}
        if method not in {"GET", "HEAD"}:
            headers.setdefault("X-CSRF-Token", self.csrf)
        async with self.http.request(method, path, headers=headers, allow_redirects=False,
                                     **kwargs) as response:
            return Reply(response.status, await response.text(), response.headers,
                         response.content_type)

    async def get(self, path: str) -> Reply:
        return await self._send("GET", path)

    async def api(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        if body is not None:
            kwargs["json"] = body
        return await self._send(method, path, **kwargs)

    async def form(self, path: str, data: dict[str, str]) -> Reply:
        return await self._send("POST", path, data={**data, "csrf_token": self.csrf})


@dataclass
class Room:
    id: uuid.UUID
    slug: str


class Forum:
    """Builds users, rooms, threads and posts through the services; signs users in."""

    def __init__(self, client: TestClient, stack: AsyncExitStack) -> None:
        self.client = client
        self.app = client.app
        self.stack = stack
        # Bulk fixtures are not under the posts-per-minute limit (that has its own test).
        self.bulk_settings = dataclasses.replace(self.app[keys.SETTINGS],
                                                 posts_per_minute=1000)

    async def user(self, role: str = "delegate", name: str | None = None) -> TestUser:
        return await make_user(self.client, role=role, name=name)

    async def agent(self, user: TestUser) -> Agent:
        http = await self.stack.enter_async_context(aiohttp.ClientSession(
            base_url=str(self.client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)))
        async with http.post("/api/v1/session", json={
                "email": user.email, "password": user.password,
                "totp": user.next_code()}) as r:
            assert r.status == 201, await r.text()
            csrf = (await r.json())["csrf_token"]
        return Agent(user, http, csrf)

    async def room(self, kind: str = "working_group", members: tuple[TestUser, ...] = (),
                   facilitators: tuple[TestUser, ...] = ()) -> Room:
        app = self.app
        async with db.transaction(app[keys.POOL]) as conn:
            room = await service.create_room(conn, app[keys.KEYRING], None,
                                             slug=f"r-{uuid.uuid4().hex[:10]}", kind=kind,
                                             name=f"A {kind} room")
            for user in members:
                await service.add_member(conn, app[keys.KEYRING], None, room.id, user.id)
            for user in facilitators:
                await service.add_member(conn, app[keys.KEYRING], None, room.id, user.id,
                                         "facilitator")
        return Room(room.id, room.slug)

    async def thread(self, author: TestUser, room: Room, *, replies: int = 0,
                     title: str = "A thread", body: str = "The first post.",
                     reply_body: str = "Reply number {n}.") -> tuple[uuid.UUID, list[uuid.UUID]]:
        app = self.app
        async with db.transaction(app[keys.POOL]) as conn:
            actor = await auth.unsafe_actor_for(conn, author.id)
            thread_id, first = await service.create_thread(
                conn, app[keys.KEYSTORE], self.bulk_settings, actor, room.id, title=title,
                body=body)
            posts = [first]
            for n in range(replies):
                posts.append(await service.create_post(
                    conn, app[keys.KEYSTORE], self.bulk_settings, actor, thread_id,
                    body=reply_body.format(n=n + 2)))
        return thread_id, posts

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with self.app[keys.POOL].acquire() as conn:
            return list(await conn.fetch(query, *args))


@pytest.fixture
async def forum(client: TestClient) -> AsyncIterator[Forum]:
    async with AsyncExitStack() as stack:
        yield Forum(client, stack)


def problem(reply: Reply, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a problem+json answer with a human message; return it."""
    assert reply.status == status, (reply.status, reply.text[:500])
    assert reply.content_type == "application/problem+json", reply.content_type
    body: dict[str, Any] = reply.json()
    assert body["status"] == status and body["title"]
    if code is not None:
        assert body["code"] == code, body
    return body


# --- membership rules ------------------------------------------------------------------------

async def test_observers_never_join_plenary_or_regional_rooms(forum: Forum) -> None:
    moderator = await forum.agent(await forum.user("moderator"))
    observer = await forum.user("observer")
    for kind in ("plenary", "regional"):
        room = await forum.room(kind)
        reply = await moderator.api("PUT", f"/api/v1/rooms/{room.slug}/members/{observer.id}")
        body = problem(reply, 409, "observer_not_allowed")
        assert "Observers" in body["title"]
        # The HTML form of a manager who is not a member of the room: the members page again,
        # with the message, and status 409.
        reply = await moderator.form(f"/rooms/{room.slug}/members", {"email": observer.email})
        assert reply.status == 409, reply.text[:300]
        assert "Observers cannot join" in reply.text
    assert await forum.fetch("SELECT 1 FROM room_members WHERE user_id = $1",
                             observer.id) == []

    room = await forum.room("working_group")
    reply = await moderator.api("PUT", f"/api/v1/rooms/{room.slug}/members/{observer.id}")
    assert reply.status == 201, reply.text
    other_observer = await forum.user("observer")
    reply = await moderator.form(f"/rooms/{room.slug}/members", {"email": other_observer.email})
    assert reply.status == 303 and reply.headers["Location"] == f"/rooms/{room.slug}/members"
    reply = await moderator.get(f"/api/v1/rooms/{room.slug}/members")
    assert reply.status == 200
    assert {m["user_id"] for m in reply.json()["members"]} == {str(observer.id),
                                                               str(other_observer.id)}


async def test_workshop_facilitator_adds_participants_but_not_facilitators(
        forum: Forum) -> None:
    facilitator_user = await forum.user("facilitator")
    participant = await forum.user("delegate")
    workshop = await forum.room("workshop", members=(participant,),
                                facilitators=(facilitator_user,))
    facilitator = await forum.agent(facilitator_user)
    newcomer = await forum.user("delegate")
    reply = await facilitator.api("PUT", f"/api/v1/rooms/{workshop.slug}/members/{newcomer.id}",
                                  {"room_role": "member"})
    assert reply.status == 201, reply.text
    reply = await facilitator.api("PUT", f"/api/v1/rooms/{workshop.slug}/members/{newcomer.id}",
                                  {"room_role": "facilitator"})
    problem(reply, 403)
    third = await forum.user("observer")
    reply = await facilitator.form(f"/rooms/{workshop.slug}/members",
                                   {"email": third.email, "room_role": "member"})
    assert reply.status == 303, reply.text[:300]
    reply = await facilitator.api("DELETE",
                                  f"/api/v1/rooms/{workshop.slug}/members/{newcomer.id}")
    assert reply.status == 204
    roles = {row["user_id"]: row["room_role"] for row in await forum.fetch(
        "SELECT user_id, room_role FROM room_members WHERE room_id = $1", workshop.id)}
    assert roles == {facilitator_user.id: "facilitator", participant.id: "member",
                     third.id: "member"}

    # A plain participant manages nobody; a facilitator of a non-workshop room neither.
    participant_agent = await forum.agent(participant)
    reply = await participant_agent.api(
        "PUT", f"/api/v1/rooms/{workshop.slug}/members/{newcomer.id}")
    problem(reply, 403)
    group = await forum.room("working_group", members=(facilitator_user,))
    reply = await facilitator.api("PUT", f"/api/v1/rooms/{group.slug}/members/{newcomer.id}")
    problem(reply, 403)


# --- archived rooms, locked threads ----------------------------------------------------------

async def test_archived_room_is_read_only(forum: Forum) -> None:
    moderator_user = await forum.user("moderator")
    author_user = await forum.user("delegate")
    room = await forum.room("regional", members=(author_user,))
    thread_id, [post_id] = await forum.thread(author_user, room)
    moderator = await forum.agent(moderator_user)
    reply = await moderator.form(f"/admin/rooms/{room.slug}/archive", {"archived": "1"})
    assert reply.status == 303 and reply.headers["Location"] == "/admin/rooms"

    author = await forum.agent(author_user)
    problem(await author.api("POST", f"/api/v1/rooms/{room.slug}/threads",
                             {"title": "New", "body": "text"}), 409, "room_archived")
    problem(await author.api("POST", f"/api/v1/threads/{thread_id}/posts", {"body": "text"}),
            409, "room_archived")
    problem(await author.api("PATCH", f"/api/v1/posts/{post_id}", {"body": "changed"}),
            409, "room_archived")
    problem(await author.api("DELETE", f"/api/v1/posts/{post_id}"), 409, "room_archived")
    reply = await author.form(f"/threads/{thread_id}/posts", {"body": "text"})
    assert reply.status == 409 and "archived" in reply.text
    reply = await author.form(f"/rooms/{room.slug}/threads", {"title": "t", "body": "b"})
    assert reply.status == 409

    reply = await author.get(f"/api/v1/rooms/{room.slug}")
    assert reply.status == 200 and reply.json()["archived"] is True
    assert (await author.get(f"/api/v1/threads/{thread_id}/posts")).status == 200
    page = await author.get(f"/threads/{thread_id}")
    assert page.status == 200
    assert "This room is archived" in page.text and 'action="/threads/' not in page.text
    listing = await author.get(f"/rooms/{room.slug}")
    assert listing.status == 200
    assert re.search(r"<time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>",
                     listing.text), "the thread list's times say that they are UTC"
    rows = await forum.fetch("SELECT count(*) AS n FROM posts WHERE thread_id = $1", thread_id)
    assert rows[0]["n"] == 1

    reply = await moderator.form(f"/admin/rooms/{room.id}/archive", {"archived": "0"})
    assert reply.status == 303
    reply = await author.api("POST", f"/api/v1/threads/{thread_id}/posts", {"body": "again"})
    assert reply.status == 201


async def test_locked_thread_refuses_members_but_not_a_moderator_member(forum: Forum) -> None:
    moderator_user = await forum.user("moderator")
    member_user = await forum.user("delegate")
    room = await forum.room("regional", members=(moderator_user, member_user))
    thread_id, _posts = await forum.thread(member_user, room)
    moderator = await forum.agent(moderator_user)
    member = await forum.agent(member_user)
    reply = await member.form(f"/threads/{thread_id}/state", {"pinned": "0", "locked": "1"})
    assert reply.status == 403  # a member, not a manager nor facilitator
    reply = await moderator.form(f"/threads/{thread_id}/state", {"pinned": "0", "locked": "1"})
    assert reply.status == 303
    assert (await member.get(f"/api/v1/threads/{thread_id}")).json()["locked"] is True

    problem(await member.api("POST", f"/api/v1/threads/{thread_id}/posts", {"body": "hi"}),
            409, "thread_locked")
    reply = await member.form(f"/threads/{thread_id}/posts", {"body": "hi"})
    assert reply.status == 409
    page = await member.get(f"/threads/{thread_id}")
    assert "This thread is locked." in page.text
    reply = await moderator.api("POST", f"/api/v1/threads/{thread_id}/posts",
                                {"body": "Locking this; one last word."})
    assert reply.status == 201, reply.text
    reply = await moderator.form(f"/threads/{thread_id}/posts", {"body": "And by form."})
    assert reply.status == 303


# --- limits ----------------------------------------------------------------------------------

async def test_limits_answer_422_with_a_message(forum: Forum) -> None:
    moderator_user = await forum.user("moderator")
    room = await forum.room("working_group", members=(moderator_user,))
    thread_id, [post_id] = await forum.thread(moderator_user, room)
    agent = await forum.agent(moderator_user)
    threads = f"/api/v1/rooms/{room.slug}/threads"

    body = problem(await agent.api("POST", threads, {"title": "t" * 201, "body": "b"}), 422,
                   "title_too_long")
    assert body["field"] == "title" and "200" in body["detail"]
    assert (await agent.api("POST", threads, {"title": "t" * 200, "body": "b"})).status == 201
    body = problem(await agent.api("POST", threads, {"title": "t", "body": "b" * 20_001}), 422,
                   "body_too_long")
    assert "20000" in body["detail"]
    problem(await agent.api("POST", f"/api/v1/threads/{thread_id}/posts",
                            {"body": "b" * 20_001}), 422, "body_too_long")
    for empty in ("", "   \n\t ", None):
        problem(await agent.api("POST", f"/api/v1/threads/{thread_id}/posts", {"body": empty}),
                422, "body_missing" if empty is not None else None)
    problem(await agent.api("POST", threads, {"title": "  ", "body": "b"}), 422, "title_missing")
    problem(await agent.api("PATCH", f"/api/v1/posts/{post_id}", {"body": ""}), 422,
            "body_missing")
    flags = f"/api/v1/posts/{post_id}/flags"
    body = problem(await agent.api("POST", flags, {"reason": "spam", "note": "n" * 1001}), 422,
                   "note_too_long")
    assert "1000" in body["detail"]
    body = problem(await agent.api("POST", flags, {"reason": "boredom"}), 422, "reason_invalid")
    assert "spam" in body["detail"]
    problem(await agent.api("POST", "/api/v1/rooms", {"slug": "Bad Slug!", "kind": "regional",
                                                      "name": "x"}), 422, "slug_invalid")
    problem(await agent.api("POST", "/api/v1/rooms", {"slug": "-x", "kind": "regional",
                                                      "name": "x"}), 422, "slug_invalid")
    body = problem(await agent.api("POST", "/api/v1/rooms", {"slug": "fine", "kind": "party",
                                                             "name": "x"}), 422, "kind_invalid")
    assert "working_group" in body["detail"]

    # The HTML forms say the same on the page, with the same status, keeping the draft.
    page = await agent.form(f"/rooms/{room.slug}/threads", {"title": "t" * 201,
                                                            "body": "my draft"})
    assert page.status == 422 and "Title is too long" in page.text and "my draft" in page.text
    page = await agent.form(f"/threads/{thread_id}/posts", {"body": " "})
    assert page.status == 422 and "Post is required" in page.text
    page = await agent.form(f"/posts/{post_id}/flag", {"reason": "boredom"})
    assert page.status == 422 and "Choose a reason" in page.text
    page = await agent.form(f"/posts/{post_id}/flag", {"reason": "spam", "note": "n" * 1001})
    assert page.status == 422 and "Note is too long" in page.text
    # … in the reader's language, the field's name included.
    page = await agent._send("POST", f"/rooms/{room.slug}/threads", headers={
        "Accept-Language": "fr"}, data={"title": "t" * 201, "body": "mon brouillon",
                                        "csrf_token": agent.csrf})
    assert page.status == 422 and "Le champ « Titre » est trop long" in page.text
    assert "mon brouillon" in page.text
    page = await agent.form("/admin/rooms", {"slug": "Bad Slug", "kind": "regional",
                                             "name": "x"})
    assert page.status == 422 and "Invalid slug" in page.text
    page = await agent.form("/admin/rooms", {"slug": "fine-slug", "kind": "party",
                                             "name": "x"})
    assert page.status == 422 and "Unknown room kind" in page.text
    rows = await forum.fetch("SELECT count(*) AS n FROM post_flags")
    assert rows[0]["n"] == 0


async def test_posts_per_minute_limit_answers_429_with_retry_after(
        aiohttp_client: Any, database_url: str, tmp_path: Path) -> None:
    settings = Settings.from_env(conftest.test_environ(tmp_path, DIEF_POSTS_PER_MINUTE="3"))
    client: TestClient = await aiohttp_client(create_app(settings, database_url=database_url))
    async with AsyncExitStack() as stack:
        forum = Forum(client, stack)
        user = await forum.user("delegate")
        room = await forum.room("regional", members=(user,))
        agent = await forum.agent(user)
        reply = await agent.api("POST", f"/api/v1/rooms/{room.slug}/threads",
                                {"title": "One", "body": "first"})
        assert reply.status == 201
        thread_id = reply.json()["id"]
        for n in range(2):
            reply = await agent.api("POST", f"/api/v1/threads/{thread_id}/posts",
                                    {"body": f"post {n}"})
            assert reply.status == 201, reply.text
        reply = await agent.api("POST", f"/api/v1/threads/{thread_id}/posts", {"body": "more"})
        problem(reply, 429, "rate_limited")
        assert 0 < int(reply.headers["Retry-After"]) <= 60
        reply = await agent.api("POST", f"/api/v1/rooms/{room.slug}/threads",
                                {"title": "Two", "body": "second"})
        problem(reply, 429, "rate_limited")
        page = await agent.form(f"/threads/{thread_id}/posts", {"body": "by form"})
        assert page.status == 429 and "Retry-After" in page.headers
        rows = await forum.fetch("SELECT count(*) AS n FROM posts WHERE author_id = $1",
                                 user.id)
        assert rows[0]["n"] == 3
        # Another account is not affected.
        other = await forum.user("delegate")
        async with db.transaction(client.app[keys.POOL]) as conn:
            await service.add_member(conn, client.app[keys.KEYRING], None, room.id, other.id)
        other_agent = await forum.agent(other)
        reply = await other_agent.api("POST", f"/api/v1/threads/{thread_id}/posts",
                                      {"body": "mine"})
        assert reply.status == 201


# --- pagination, unread counts ---------------------------------------------------------------

async def test_thread_list_keyset_pagination(forum: Forum) -> None:
    author = await forum.user("moderator")
    room = await forum.room("working_group", members=(author,))
    app = forum.app
    made = []
    for n in range(60):
        thread_id, _ = await forum.thread(author, room, title=f"Thread {n:02d}")
        made.append(thread_id)
    async with db.transaction(app[keys.POOL]) as conn:
        actor = await auth.unsafe_actor_for(conn, author.id)
        for thread_id in (made[5], made[40]):
            await service.set_thread_state(conn, app[keys.KEYRING], actor, thread_id,
                                           pinned=True)
        # Activity moves an old thread up.
        await service.create_post(conn, app[keys.KEYSTORE], forum.bulk_settings, actor,
                                  made[10], body="bump")
    rows = await forum.fetch("SELECT id, pinned, last_post_at FROM threads WHERE room_id = $1",
                             room.id)
    expected = [row["id"] for row in sorted(
        rows, key=lambda r: (r["pinned"], r["last_post_at"], r["id"]), reverse=True)]
    assert expected[:2] == [made[40], made[5]] and expected[2] == made[10]

    agent = await forum.agent(author)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        url = f"/api/v1/rooms/{room.slug}/threads" + (f"?after={cursor}" if cursor else "")
        reply = await agent.get(url)
        assert reply.status == 200, reply.text
        body = reply.json()
        assert len(body["threads"]) <= service.THREADS_PER_PAGE
        seen += [t["id"] for t in body["threads"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [str(i) for i in expected]
    assert len(set(seen)) == 60

    # Smaller pages through ?limit, and the HTML "Older threads" links, give the same order.
    seen = []
    cursor = None
    while True:
        url = f"/api/v1/rooms/{room.id}/threads?limit=7" + (f"&after={cursor}" if cursor else "")
        body = (await agent.get(url)).json()
        seen += [t["id"] for t in body["threads"]]
        if (cursor := body["next"]) is None:
            break
    assert seen == [str(i) for i in expected]
    html_seen: list[str] = []
    link: str | None = f"/rooms/{room.slug}"
    while link:
        page = await agent.get(link)
        assert page.status == 200
        html_seen += re.findall(r'<a href="/threads/([0-9a-f-]{36})">', page.text)
        match = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        link = match.group(1).replace("&amp;", "&") if match else None
    assert html_seen == [str(i) for i in expected]

    for garbage in ("garbage", "1-2", "2-1-" + str(made[0]), "0-x-" + str(made[0]),
                    "0-1-not-a-uuid", "0-" + "9" * 40 + "-" + str(made[0]), "0" * 200,
                    "1--5-" + str(made[0])):
        problem(await agent.get(f"/api/v1/rooms/{room.slug}/threads?after={garbage}"), 422,
                "cursor_invalid")
        page = await agent.get(f"/rooms/{room.slug}?after={garbage}")
        assert page.status == 422, garbage


async def test_thread_page_pagination_and_unread_counts(forum: Forum) -> None:
    author = await forum.user("delegate", name="Writer One")
    reader_user = await forum.user("delegate", name="Reader Two")
    room = await forum.room("regional", members=(author, reader_user))
    thread_id, posts = await forum.thread(author, room, replies=44)
    assert len(posts) == 45
    reader = await forum.agent(reader_user)

    async def unread() -> tuple[int, int]:
        listing = (await reader.get(f"/api/v1/rooms/{room.slug}/threads")).json()
        mine = next(r for r in (await reader.get("/api/v1/rooms")).json()["rooms"]
                    if r["slug"] == room.slug)
        return listing["threads"][0]["unread"], mine["unread"]

    assert await unread() == (45, 45)
    # The thread's own resource does not mark anything read.
    assert (await reader.get(f"/api/v1/threads/{thread_id}")).json()["post_count"] == 45
    assert await unread() == (45, 45)

    page = await reader.get(f"/threads/{thread_id}")
    assert page.status == 200
    assert page.text.count('class="post"') == 20 and "Reply number 20." in page.text
    assert "Reply number 21." not in page.text
    assert f'href="/threads/{thread_id}?after=20" rel="next"' in page.text
    assert await unread() == (25, 25)
    index = await reader.get("/rooms")
    assert "25 unread posts" in index.text

    reply = await reader.get(f"/api/v1/threads/{thread_id}/posts?after=20")
    body = reply.json()
    assert [p["seq"] for p in body["posts"]] == list(range(21, 41)) and body["next"] == 40
    assert await unread() == (5, 5)
    body = (await reader.get(f"/api/v1/threads/{thread_id}/posts?after=40")).json()
    assert [p["seq"] for p in body["posts"]] == list(range(41, 46)) and body["next"] is None
    assert await unread() == (0, 0)
    page = await reader.get(f"/threads/{thread_id}?after=40")
    assert page.text.count('class="post"') == 5 and 'rel="next"' not in page.text
    assert f'href="/threads/{thread_id}?after=20" rel="prev"' in page.text
    # Reading an earlier page again never raises the count back.
    await reader.get(f"/threads/{thread_id}")
    assert await unread() == (0, 0)

    # A walk by ?after over the whole thread yields every post once, in order.
    seqs: list[int] = []
    after: int | None = 0
    while after is not None:
        body = (await reader.get(f"/api/v1/threads/{thread_id}/posts?after={after}"
                                 "&limit=13")).json()
        seqs += [p["seq"] for p in body["posts"]]
        after = body["next"]
    assert seqs == list(range(1, 46))
    for bad in ("abc", "-1", "²", "1e3", "9" * 30):
        problem(await reader.get(f"/api/v1/threads/{thread_id}/posts?after={bad}"), 422)
        assert (await reader.get(f"/threads/{thread_id}?after={bad}")).status == 422


# --- mentions, delete, edit, quote, flags ----------------------------------------------------

async def test_mentions_are_stored(forum: Forum) -> None:
    alice = await forum.user("delegate", name="Alice Ama")
    bob_user = await forum.user("delegate", name="Bob Bello")
    outsider = await forum.user("delegate", name="Carol Outside")
    room = await forum.room("regional", members=(alice, bob_user))
    thread_id, _posts = await forum.thread(alice, room)
    bob = await forum.agent(bob_user)
    reply = await bob.api("POST", f"/api/v1/threads/{thread_id}/posts",
                          {"body": "Thanks @AliceAma, and @CarolOutside. `@BobBello` in code."})
    assert reply.status == 201
    post_id = uuid.UUID(reply.json()["id"])
    mentions = await forum.fetch("SELECT user_id FROM post_mentions WHERE post_id = $1",
                                 post_id)
    assert [row["user_id"] for row in mentions] == [alice.id]  # members only; not in code
    assert outsider.id not in [row["user_id"] for row in mentions]
    reply = await bob.api("PATCH", f"/api/v1/posts/{post_id}", {"body": "Now @bobbello only"})
    assert reply.status == 200
    mentions = await forum.fetch("SELECT user_id FROM post_mentions WHERE post_id = $1",
                                 post_id)
    assert [row["user_id"] for row in mentions] == [bob_user.id]
    reply = await bob.form(f"/threads/{thread_id}/posts", {"body": "By form, @AliceAma."})
    assert reply.status == 303
    rows = await forum.fetch("SELECT m.user_id FROM post_mentions m JOIN posts p "
                             "ON p.id = m.post_id WHERE p.thread_id = $1 AND p.seq = 3",
                             thread_id)
    assert [row["user_id"] for row in rows] == [alice.id]


async def test_soft_delete_leaves_a_placeholder_and_erases_text(forum: Forum) -> None:
    author_user = await forum.user("delegate")
    room = await forum.room("regional", members=(author_user,))
    thread_id, [first, second, third] = await forum.thread(author_user, room, replies=2)
    author = await forum.agent(author_user)
    assert (await author.api("PATCH", f"/api/v1/posts/{second}",
                             {"body": "second, edited"})).status == 200
    assert (await forum.fetch("SELECT body FROM post_revisions WHERE post_id = $1",
                              second))[0]["body"] is not None

    assert (await author.api("DELETE", f"/api/v1/posts/{second}")).status == 204
    reply = await author.form(f"/posts/{third}/delete", {})
    assert reply.status == 303 and f"#post-{third}" in reply.headers["Location"]

    body = (await author.get(f"/api/v1/threads/{thread_id}/posts")).json()
    by_id = {p["id"]: p for p in body["posts"]}
    for deleted in (second, third):
        post = by_id[str(deleted)]
        assert post["deleted"] is True and post["body"] is None and post["html"] is None
    assert by_id[str(first)]["deleted"] is False and by_id[str(first)]["body"]
    page = await author.get(f"/threads/{thread_id}")
    assert page.text.count("This post was deleted.") == 2
    assert "second, edited" not in page.text and "Reply number 3." not in page.text
    rows = await forum.fetch("SELECT id, body, html, deleted_at FROM posts WHERE thread_id = $1",
                             thread_id)
    for row in rows:
        if row["id"] in (second, third):
            assert row["body"] is None and row["html"] is None and row["deleted_at"]
        else:
            assert row["body"] is not None
    revisions = await forum.fetch("SELECT body FROM post_revisions WHERE post_id = $1", second)
    assert len(revisions) == 1 and revisions[0]["body"] is None
    revisions = (await author.get(f"/api/v1/posts/{second}/revisions")).json()["revisions"]
    assert [r["body"] for r in revisions] == [None]
    # Deleting again is harmless; editing or flagging a deleted post is a conflict.
    assert (await author.api("DELETE", f"/api/v1/posts/{second}")).status == 204
    problem(await author.api("PATCH", f"/api/v1/posts/{second}", {"body": "back"}), 409,
            "post_deleted")
    problem(await author.api("POST", f"/api/v1/posts/{second}/flags", {"reason": "spam"}), 409,
            "post_deleted")


async def test_only_the_author_edits(forum: Forum) -> None:
    author_user = await forum.user("delegate")
    other_user = await forum.user("delegate")
    moderator_user = await forum.user("moderator")
    room = await forum.room("regional", members=(author_user, other_user, moderator_user))
    _thread_id, [post_id] = await forum.thread(author_user, room, body="original text")
    for user in (other_user, moderator_user):
        agent = await forum.agent(user)
        problem(await agent.api("PATCH", f"/api/v1/posts/{post_id}", {"body": "hijack"}), 403)
        assert (await agent.get(f"/posts/{post_id}/edit")).status == 403
        assert (await agent.form(f"/posts/{post_id}/edit", {"body": "hijack"})).status == 403
    other = await forum.agent(other_user)
    problem(await other.api("DELETE", f"/api/v1/posts/{post_id}"), 403)

    author = await forum.agent(author_user)
    form = await author.get(f"/posts/{post_id}/edit")
    assert form.status == 200 and "original text" in form.text
    reply = await author.form(f"/posts/{post_id}/edit", {"body": "better text"})
    assert reply.status == 303
    reply = await author.api("PATCH", f"/api/v1/posts/{post_id}", {"body": "best text"})
    assert reply.status == 200 and reply.json()["revision_count"] == 2
    revisions = (await other.get(f"/api/v1/posts/{post_id}/revisions")).json()["revisions"]
    assert [r["body"] for r in revisions] == ["original text", "better text"]
    history = await other.get(f"/posts/{post_id}/history")
    assert history.status == 200 and "original text" in history.text
    assert "better text" in history.text and "best text" in history.text
    rows = await forum.fetch("SELECT count(*) AS n FROM post_revisions WHERE post_id = $1",
                             post_id)
    assert rows[0]["n"] == 2


async def test_quote_reply_prefills_a_markdown_quote(forum: Forum) -> None:
    alice = await forum.user("delegate", name="Alice Ama")
    bob_user = await forum.user("delegate")
    room = await forum.room("regional", members=(alice, bob_user))
    thread_id, [post_id] = await forum.thread(alice, room,
                                              body="Seized at the border.\n\nTwo crates.")
    bob = await forum.agent(bob_user)
    page = await bob.get(f"/threads/{thread_id}?quote={post_id}")
    assert page.status == 200
    textarea = re.search(r'<textarea id="body"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert textarea is not None
    assert textarea.group(1) == ("&gt; **Alice Ama** wrote:\n&gt;\n&gt; Seized at the border."
                                 "\n&gt;\n&gt; Two crates.\n\n")
    assert f'name="quote_of" value="{post_id}"' in page.text
    reply = await bob.form(f"/threads/{thread_id}/posts",
                           {"body": "> **Alice Ama** wrote:\n> Two crates.\n\nWhich border?",
                            "quote_of": str(post_id)})
    assert reply.status == 303
    body = (await bob.get(f"/api/v1/threads/{thread_id}/posts")).json()
    assert body["posts"][1]["quote_of"] == str(post_id)
    assert "<blockquote>" in body["posts"][1]["html"]
    assert (await bob.get(f"/threads/{thread_id}?quote={uuid.uuid4()}")).status == 404


async def test_flags_are_stored_once_per_user(forum: Forum) -> None:
    author = await forum.user("delegate")
    first_user = await forum.user("delegate")
    second_user = await forum.user("delegate")
    room = await forum.room("regional", members=(author, first_user, second_user))
    _thread_id, [post_id] = await forum.thread(author, room)
    first = await forum.agent(first_user)
    reply = await first.api("POST", f"/api/v1/posts/{post_id}/flags",
                            {"reason": "sensitive_detail", "note": "names a port"})
    assert reply.status == 201 and reply.json() == {"flagged": True, "new": True}
    reply = await first.api("POST", f"/api/v1/posts/{post_id}/flags", {"reason": "spam"})
    assert reply.status == 200 and reply.json() == {"flagged": True, "new": False}
    second = await forum.agent(second_user)
    page = await second.get(f"/posts/{post_id}/flag")
    assert page.status == 200 and 'value="identifying_information"' in page.text
    page = await second.form(f"/posts/{post_id}/flag", {"reason": "other", "note": "see"})
    assert page.status == 200 and "The moderators will review this post" in page.text
    rows = await forum.fetch("SELECT flagger_id, reason, note FROM post_flags "
                             "WHERE post_id = $1 ORDER BY created_at", post_id)
    assert [(r["flagger_id"], r["reason"]) for r in rows] == [
        (first_user.id, "sensitive_detail"), (second_user.id, "other")]
    assert b"names a port" not in bytes(rows[0]["note"])  # the note is encrypted


# --- pages -----------------------------------------------------------------------------------

async def test_pages_render_for_the_right_users(forum: Forum) -> None:
    admin_user = await forum.user("admin")
    author_user = await forum.user("delegate", name="Ama Author")
    room = await forum.room("regional", members=(author_user,))
    body = ("A **realistic** post about a diversion case: the end-user certificate named a "
            "ministry, but the consignment was re-exported through a free zone. "
            "[Guidance](https://example.org/guide) and a list:\n\n- first point\n- second "
            "point\n\n> a short quote\n\n") * 2
    thread_id, posts = await forum.thread(author_user, room, replies=19, body=body,
                                          reply_body=body + "Reply {n}.")
    author = await forum.agent(author_user)
    async with db.transaction(forum.app[keys.POOL]) as conn:
        actor = await auth.unsafe_actor_for(conn, author_user.id)
        await service.edit_post(conn, forum.app[keys.KEYSTORE], actor, posts[0],
                                body=body + " (edited)")
    for url in ("/rooms", f"/rooms/{room.slug}", f"/rooms/{room.id}", f"/threads/{thread_id}",
                f"/posts/{posts[0]}/edit", f"/posts/{posts[0]}/history",
                f"/posts/{posts[0]}/flag", f"/rooms/{room.slug}/members"):
        page = await author.get(url)
        assert page.status == 200, (url, page.text[:300])
        assert page.content_type == "text/html"
    page = await author.get(f"/threads/{thread_id}")
    assert page.text.count('class="post"') == 20
    assert len(page.text.encode()) < 100_000, len(page.text.encode())
    assert 'rel="nofollow noopener noreferrer"' in page.text
    assert (await author.get("/admin/rooms")).status == 403

    admin = await forum.agent(admin_user)
    page = await admin.get("/admin/rooms")
    assert page.status == 200 and room.slug in page.text
    page = await admin.get(f"/rooms/{room.slug}/members")  # managing, without being a member
    assert page.status == 200 and "Ama Author" in page.text
    assert (await admin.get(f"/rooms/{room.slug}")).status == 404  # but not reading
    page = await admin.get("/rooms")
    assert page.status == 200 and room.slug not in page.text
    reply = await admin.form("/admin/rooms", {"slug": "new-room", "kind": "workshop",
                                              "name": "New workshop", "region": ""})
    assert reply.status == 303 and reply.headers["Location"] == "/rooms/new-room/members"
    assert (await admin.get("/rooms/new-room/members")).status == 200
    problem(await admin.api("POST", "/api/v1/rooms", {"slug": "new-room", "kind": "regional",
                                                      "name": "Again"}), 409, "slug_taken")


# --- bad input -------------------------------------------------------------------------------

async def test_bad_input_gets_4xx_never_500(forum: Forum) -> None:
    moderator_user = await forum.user("moderator")
    room = await forum.room("working_group", members=(moderator_user,))
    thread_id, [post_id] = await forum.thread(moderator_user, room)
    agent = await forum.agent(moderator_user)
    threads = f"/api/v1/rooms/{room.slug}/threads"
    posts = f"/api/v1/threads/{thread_id}/posts"
    raw = {"headers": {"Content-Type": "application/json"}}
    cases: list[tuple[str, str, Any, dict[str, Any]]] = [
        ("POST", threads, None, {**raw, "data": b"{not json"}),
        ("POST", threads, None, {**raw, "data": b"\xff\xfe"}),
        ("POST", threads, None, {"data": "title=x", "headers": {"Content-Type": "text/plain"}}),
        ("POST", threads, [1, 2], {}),
        ("POST", threads, {"title": 5, "body": "b"}, {}),
        ("POST", threads, {"title": "t", "body": {"x": 1}}, {}),
        ("POST", threads, {"title": ["t"], "body": ["b"]}, {}),
        ("POST", threads, {"title": "t\u0000nul", "body": "b\u0000nul"}, {}),
        ("POST", threads, {"title": "lone \ud800 surrogate", "body": "b"}, {}),
        ("POST", threads, {"title": "t", "body": "lone \udfff surrogate"}, {}),
        ("POST", posts, {"body": "x", "quote_of": "nope"}, {}),
        ("POST", posts, {"body": "x", "quote_of": 5}, {}),
        ("POST", posts, {"body": "x", "quote_of": [str(post_id)]}, {}),
        ("POST", posts, {"body": "x", "quote_of": str(uuid.uuid4())}, {}),
        ("PATCH", f"/api/v1/posts/{post_id}", {"body": 7}, {}),
        ("PATCH", f"/api/v1/posts/{post_id}", {"body": "x" * 2_000_000}, {}),
        ("POST", f"/api/v1/posts/{post_id}/flags", {"reason": ["spam"]}, {}),
        ("POST", f"/api/v1/posts/{post_id}/flags", {"reason": {"a": 1}}, {}),
        ("POST", f"/api/v1/posts/{post_id}/flags", {"reason": "spam", "note": 5}, {}),
        ("POST", f"/api/v1/posts/{post_id}/flags", {"reason": "spam", "note": "\u0000"}, {}),
        ("PUT", f"/api/v1/rooms/{room.slug}/members/not-a-uuid", None, {}),
        ("PUT", f"/api/v1/rooms/{room.slug}/members/{uuid.uuid4()}", None, {}),
        ("PUT", f"/api/v1/rooms/{room.slug}/members/{moderator_user.id}",
         {"room_role": 5}, {}),
        ("PUT", f"/api/v1/rooms/{room.slug}/members/{moderator_user.id}",
         {"room_role": "owner"}, {}),
        ("PUT", f"/api/v1/rooms/{room.slug}/members/{moderator_user.id}",
         {"room_role": "facilitator"}, {}),
        ("PUT", f"/api/v1/rooms/{room.slug}/members/{moderator_user.id}", None,
         {**raw, "data": b"null"}),
        ("DELETE", f"/api/v1/rooms/{room.slug}/members/{uuid.uuid4()}", None, {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "regional", "name": ""}, {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "regional", "name": "n" * 121},
         {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "regional", "name": "x\u0000y"},
         {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "regional", "name": "x",
                                   "description": "\ud800"}, {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "regional", "name": "x",
                                   "region": "atlantis"}, {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "regional", "name": "x",
                                   "region": 5}, {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "regional", "name": "x",
                                   "parent": room.slug}, {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "working_group", "name": "x",
                                   "parent": {"a": 1}}, {}),
        ("POST", "/api/v1/rooms", {"slug": "ok-slug", "kind": "working_group", "name": "x",
                                   "parent": str(uuid.uuid4())}, {}),
        ("POST", "/api/v1/rooms", {"slug": 5, "kind": None, "name": None}, {}),
        ("POST", "/api/v1/rooms", {"slug": "s" * 64, "kind": "regional", "name": "x"}, {}),
        ("GET", f"{threads}?limit=abc", None, {}),
        ("GET", f"{threads}?limit=101", None, {}),
        ("GET", f"{threads}?limit=-1", None, {}),
        ("GET", f"{threads}?limit=%C2%B2", None, {}),
        ("GET", f"{posts}?limit=1e2", None, {}),
        ("GET", f"{posts}?after=%00", None, {}),
        ("GET", "/api/v1/rooms/%00", None, {}),
        ("GET", "/api/v1/rooms/" + "x" * 5000, None, {}),
        ("GET", "/api/v1/threads/not-a-uuid", None, {}),
        ("GET", "/api/v1/posts/%20/revisions", None, {}),
    ]
    failures = []
    for method, path, body, extra in cases:
        reply = await agent.api(method, path, body, **extra)
        if not 400 <= reply.status < 500:
            failures.append(f"{method} {path} {str(body)[:80]}: {reply.status} {reply.text[:200]}")
        elif reply.content_type != "application/problem+json":
            failures.append(f"{method} {path}: {reply.content_type}")
    forms: list[tuple[str, dict[str, str]]] = [
        (f"/rooms/{room.slug}/threads", {"title": "t\u0000", "body": "b"}),
        (f"/rooms/{room.slug}/threads", {"title": "t"}),
        (f"/threads/{thread_id}/posts", {"body": "x", "quote_of": "nope"}),
        (f"/threads/{thread_id}/posts", {"body": "x", "quote_of": str(uuid.uuid4())}),
        (f"/posts/{post_id}/edit", {}),
        (f"/posts/{post_id}/flag", {}),
        (f"/rooms/{room.slug}/members", {"email": "nobody@example.org"}),
        (f"/rooms/{room.slug}/members", {}),
        (f"/rooms/{room.slug}/members/{uuid.uuid4()}/remove", {}),
        (f"/rooms/{room.slug}/members/garbage/remove", {}),
        ("/admin/rooms", {"slug": "x y", "kind": "regional", "name": "n"}),
        ("/admin/rooms", {"slug": "good-slug", "kind": "regional", "name": "n\u0000"}),
        ("/admin/rooms", {"slug": "good-slug", "kind": "regional", "name": "n",
                          "region": "atlantis"}),
        ("/admin/rooms", {}),
    ]
    for path, data in forms:
        reply = await agent.form(path, data)
        if not 400 <= reply.status < 500:
            failures.append(f"POST {path} {data}: {reply.status} {reply.text[:200]}")
    reply = await agent._send("POST", f"/rooms/{room.slug}/threads",
                              data=b"title=%FF%FE&body=%C0%80",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    if not 300 <= reply.status < 500:
        failures.append(f"undecodable form: {reply.status}")
    for path in (f"/threads/{thread_id}?quote=garbage", f"/threads/{thread_id}?after=x",
                 f"/rooms/{room.slug}?after=%00", f"/posts/{uuid.uuid4()}/history"):
        reply = await agent.get(path)
        if not 400 <= reply.status < 500:
            failures.append(f"GET {path}: {reply.status}")
    reply = await agent._send("POST", f"/threads/{thread_id}/posts", data={"body": "x"},
                              headers={"X-CSRF-Token": ""})
    if reply.status != 403:  # no CSRF token
        failures.append(f"missing CSRF: {reply.status}")
    assert not failures, "\n".join(failures)
    rows = await forum.fetch("SELECT count(*) AS n FROM rooms")
    assert rows[0]["n"] == 1  # nothing half-written


async def test_forms_answered_with_an_error_keep_what_was_typed(forum: Forum) -> None:
    admin_user = await forum.user("admin")
    member_user = await forum.user("delegate")
    room = await forum.room("workshop", members=(member_user,))
    _thread_id, [post_id] = await forum.thread(member_user, room)
    member = await forum.agent(member_user)
    page = await member.form(f"/posts/{post_id}/flag", {"reason": "spam", "note": "n" * 1001})
    assert page.status == 422 and "n" * 1001 + "</textarea>" in page.text
    assert 'value="spam" required checked' in page.text
    page = await member.form(f"/posts/{post_id}/flag", {"note": "a note worth keeping"})
    assert page.status == 422 and "a note worth keeping</textarea>" in page.text

    admin = await forum.agent(admin_user)
    page = await admin.form("/admin/rooms", {"slug": "Bad Slug", "kind": "workshop",
                                             "name": "Kept name", "description": "Kept text"})
    assert page.status == 422 and 'value="Bad Slug"' in page.text
    assert 'value="Kept name"' in page.text and "Kept text</textarea>" in page.text
    assert '<option value="workshop" selected>' in page.text
    page = await admin.form(f"/rooms/{room.slug}/members", {"email": "nobody@example.org",
                                                            "room_role": "facilitator"})
    assert page.status == 422 and 'value="nobody@example.org"' in page.text
    assert '<option value="facilitator" selected>' in page.text
