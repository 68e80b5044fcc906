"""Rules of forum/rooms/service.py that are awkward to reach over HTTP: concurrency, what the
database really holds (ciphertext, bound to its row; one data key per room), and the access
choke points called directly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from crypto import envelope
from forum import db, keys
from forum.auth import service as auth
from forum.auth.service import Actor
from forum.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from forum.keystore import service as keystore
from forum.rooms import service
from tests.factories import TestUser, make_user


class World:
    """The app's pool, key store and settings (posts-per-minute raised for bulk fixtures)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app = client.app
        self.pool: asyncpg.Pool = client.app[keys.POOL]
        self.store = client.app[keys.KEYSTORE]
        self.keyring = client.app[keys.KEYRING]
        self.settings = dataclasses.replace(client.app[keys.SETTINGS], posts_per_minute=1000)

    async def user(self, role: str = "delegate") -> TestUser:
        return await make_user(self.client, role=role, with_totp=False)

    async def actor(self, user: TestUser) -> Actor:
        async with db.transaction(self.pool) as conn:
            return await auth.unsafe_actor_for(conn, user.id)

    async def room(self, kind: str = "regional", *members: TestUser) -> service.Room:
        async with db.transaction(self.pool) as conn:
            room = await service.create_room(conn, self.keyring, None,
                                             slug=f"r-{uuid.uuid4().hex[:10]}", kind=kind,
                                             name=f"A {kind} room")
            for user in members:
                await service.add_member(conn, self.keyring, None, room.id, user.id)
        return room

    async def thread(self, actor: Actor, room: service.Room, title: str = "Title",
                     body: str = "Body") -> tuple[uuid.UUID, uuid.UUID]:
        async with db.transaction(self.pool) as conn:
            return await service.create_thread(conn, self.store, self.settings, actor, room.id,
                                               title=title, body=body)

    async def post(self, actor: Actor, thread_id: uuid.UUID, body: str) -> uuid.UUID:
        async with db.transaction(self.pool) as conn:
            return await service.create_post(conn, self.store, self.settings, actor, thread_id,
                                              body=body)


@pytest.fixture
def world(client: TestClient) -> World:
    return World(client)


@pytest.mark.multiconn
async def test_concurrent_posts_on_one_thread_get_distinct_seq(world: World) -> None:
    users = [await world.user() for _ in range(3)]
    room = await world.room("regional", *users)
    actors = [await world.actor(user) for user in users]
    thread_id, _first = await world.thread(actors[0], room)

    async def write(actor: Actor, n: int) -> uuid.UUID:
        return await world.post(actor, thread_id, f"concurrent post {n}")

    # Hold the thread's row lock so that all writers queue up on it, then let them go at once.
    async with world.pool.acquire() as gate:
        tx = gate.transaction()
        await tx.start()
        await gate.execute("SELECT 1 FROM threads WHERE id = $1 FOR NO KEY UPDATE", thread_id)
        tasks = [asyncio.ensure_future(write(actor, n)) for n, actor in enumerate(actors)]
        for _ in range(500):  # up to ~10 s on a loaded machine; usually a few ms
            # The first writer waits on the gate's transaction, the others on the row.
            # (pg_stat_activity is a per-transaction snapshot unless cleared.)
            await gate.execute("SELECT pg_stat_clear_snapshot()")
            waiting = await gate.fetchval(
                "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database() "
                "AND l.locktype IN ('transactionid', 'tuple')")
            if waiting >= len(actors):
                break
            await asyncio.sleep(0.02)
        assert waiting == len(actors), "the writers did not race"
        await tx.commit()
    post_ids = await asyncio.gather(*tasks)
    assert len(set(post_ids)) == len(actors)
    async with world.pool.acquire() as conn:
        seqs = [row["seq"] for row in await conn.fetch(
            "SELECT seq FROM posts WHERE thread_id = $1 ORDER BY seq", thread_id)]
        post_count = await conn.fetchval("SELECT post_count FROM threads WHERE id = $1",
                                         thread_id)
    assert seqs == [1, 2, 3, 4] and post_count == 4

    # And without a gate, many at once (the pool bounds real parallelism).
    more = await asyncio.gather(*(write(actors[n % 3], n) for n in range(8)))
    assert len(set(more)) == 8
    async with world.pool.acquire() as conn:
        seqs = [row["seq"] for row in await conn.fetch(
            "SELECT seq FROM posts WHERE thread_id = $1 ORDER BY seq", thread_id)]
    assert seqs == list(range(1, 13))


async def _dump(conn: Any) -> str:
    """Every row of every table of the schema as JSON text (bytea shows as hex), like a dump."""
    tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    parts = []
    for row in tables:
        rows = await conn.fetch(f'SELECT row_to_json(t)::text AS j FROM "{row["tablename"]}" t')
        parts += [r["j"] for r in rows]
    return "\n".join(parts)


async def test_titles_bodies_html_revisions_and_notes_are_not_stored_in_clear(
        world: World) -> None:
    marker = f"PLAINTEXT{uuid.uuid4().hex[:12].upper()}"
    author_user, flagger_user = await world.user(), await world.user()
    room = await world.room("regional", author_user, flagger_user)
    author, flagger = await world.actor(author_user), await world.actor(flagger_user)
    thread_id, post_id = await world.thread(author, room, title=f"Title {marker}",
                                            body=f"Body **{marker}** and [link](https://x.org)")
    async with db.transaction(world.pool) as conn:
        await service.edit_post(conn, world.store, author, post_id, body=f"Edited {marker}")
        await service.flag_post(conn, world.store, world.settings, flagger, post_id,
                                reason="other",
                                note=f"Note {marker}")
        page = await service.get_thread_page(conn, world.store, author, thread_id,
                                             with_body=True)
    assert page.thread.title == f"Title {marker}"  # the service reads it back
    assert page.posts[0].body == f"Edited {marker}"

    async with world.pool.acquire() as conn:
        title = await conn.fetchval("SELECT title FROM threads WHERE id = $1", thread_id)
        row = await conn.fetchrow("SELECT body, html FROM posts WHERE id = $1", post_id)
        assert row is not None
        body, html = row["body"], row["html"]
        revision = await conn.fetchval("SELECT body FROM post_revisions WHERE post_id = $1",
                                       post_id)
        note = await conn.fetchval("SELECT note FROM post_flags WHERE post_id = $1", post_id)
        dump = await _dump(conn)
    needle = marker.encode()
    for name, blob in (("threads.title", title), ("posts.body", body), ("posts.html", html),
                       ("post_revisions.body", revision), ("post_flags.note", note)):
        assert isinstance(blob, bytes) and len(blob) > len(needle), name
        assert needle not in blob, name
        assert needle.lower() not in blob.lower(), name
        assert blob[0] == envelope.VERSION, name
    assert marker not in dump and needle.hex() not in dump
    assert marker.lower() not in dump.lower()


async def test_a_ciphertext_moved_to_another_row_does_not_open(world: World) -> None:
    user = await world.user()
    room = await world.room("regional", user)
    actor = await world.actor(user)
    thread_a, post_a = await world.thread(actor, room, title="Thread A", body="Post A")
    thread_b, post_b = await world.thread(actor, room, title="Thread B", body="Post B")
    async with db.transaction(world.pool) as conn:  # both open before the move
        assert (await service.get_post(conn, world.store, actor, post_b)).body == "Post B"

    for column in ("body", "html"):
        async with world.pool.acquire() as conn:
            original = await conn.fetchval(f"SELECT {column} FROM posts WHERE id = $1", post_b)
            await conn.execute(f"UPDATE posts SET {column} = (SELECT {column} FROM posts "
                               "WHERE id = $1) WHERE id = $2", post_a, post_b)
        with pytest.raises(envelope.DecryptError):
            async with db.transaction(world.pool) as conn:
                await service.get_post(conn, world.store, actor, post_b)
        async with world.pool.acquire() as conn:
            await conn.execute(f"UPDATE posts SET {column} = $1 WHERE id = $2", original, post_b)

    # Same column, other table: a post body pasted into a revision, a title across threads.
    async with world.pool.acquire() as conn:
        await conn.execute("UPDATE threads SET title = (SELECT title FROM threads WHERE id = $1)"
                           " WHERE id = $2", thread_a, thread_b)
    with pytest.raises(envelope.DecryptError):
        async with db.transaction(world.pool) as conn:
            await service.list_threads(conn, world.store, actor, room.id)
    async with db.transaction(world.pool) as conn:  # the untouched row still opens
        page = await service.get_thread_page(conn, world.store, actor, thread_a, with_body=True)
    assert page.thread.title == "Thread A" and page.posts[0].body == "Post A"


async def test_each_room_has_its_own_data_key(world: World) -> None:
    user = await world.user()
    first, second = await world.room("regional", user), await world.room("plenary", user)
    actor = await world.actor(user)
    _t1, post_1 = await world.thread(actor, first, body="in the first room")
    _t2, post_2 = await world.thread(actor, second, body="in the second room")
    async with world.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, scope, wrapped FROM data_keys WHERE scope = ANY($1)",
                                [keystore.room_scope(first.id), keystore.room_scope(second.id)])
        blobs = {pid: bytes(await conn.fetchval("SELECT body FROM posts WHERE id = $1", pid))
                 for pid in (post_1, post_2)}
    by_scope = {row["scope"]: row for row in rows}
    assert len(rows) == 2 and len(by_scope) == 2
    key_1 = by_scope[keystore.room_scope(first.id)]
    key_2 = by_scope[keystore.room_scope(second.id)]
    assert key_1["id"] != key_2["id"] and bytes(key_1["wrapped"]) != bytes(key_2["wrapped"])
    assert envelope.peek_key_id(blobs[post_1]) == key_1["id"]
    assert envelope.peek_key_id(blobs[post_2]) == key_2["id"]


# --- the access choke points -----------------------------------------------------------------

def _shape(exc: DomainError) -> tuple[Any, ...]:
    return type(exc), exc.status, exc.code, exc.title, exc.detail, exc.public_fields


async def test_not_a_member_and_missing_raise_the_same_error(world: World) -> None:
    member_user, outsider_user, admin_user = (await world.user(), await world.user(),
                                              await world.user("admin"))
    room = await world.room("regional", member_user)
    member = await world.actor(member_user)
    thread_id, post_id = await world.thread(member, room)
    for user in (outsider_user, admin_user):  # managers do not read rooms they are not in
        actor = await world.actor(user)
        async with db.transaction(world.pool) as conn:
            calls = [
                (service.access_room(conn, actor, room.id),
                 service.access_room(conn, actor, uuid.uuid4())),
                (service.access_room(conn, actor, room.slug),
                 service.access_room(conn, actor, "no-such-room")),
                (service.access_thread(conn, actor, thread_id),
                 service.access_thread(conn, actor, uuid.uuid4())),
                (service.access_post(conn, actor, post_id),
                 service.access_post(conn, actor, uuid.uuid4())),
            ]
            for real, missing in calls:
                shapes = []
                for call in (real, missing):
                    with pytest.raises(NotFoundError) as info:
                        await call
                    shapes.append(_shape(info.value))
                assert shapes[0] == shapes[1]
    async with db.transaction(world.pool) as conn:
        assert (await service.access_room(conn, member, room.slug)).room_role == "member"


async def test_management_rules(world: World) -> None:
    member_user, outsider_user, moderator_user = (await world.user(), await world.user(),
                                                  await world.user("moderator"))
    observer = await world.user("observer")
    room = await world.room("regional", member_user)
    member, outsider, moderator = (await world.actor(member_user),
                                   await world.actor(outsider_user),
                                   await world.actor(moderator_user))
    async with db.transaction(world.pool) as conn:
        # Archive: a non-member learns nothing (404), a member who is no manager is refused.
        with pytest.raises(NotFoundError):
            await service.set_archived(conn, world.keyring, outsider, room.id, True)
        with pytest.raises(ForbiddenError):
            await service.set_archived(conn, world.keyring, member, room.id, True)
        # Managers see the member list of rooms they manage without being members.
        managed, members = await service.list_members(conn, moderator, room.slug)
        assert managed.room_role is None and [m["id"] for m in members] == [member_user.id]
        with pytest.raises(NotFoundError):
            await service.list_members(conn, outsider, room.slug)
        # Observers never join a regional or plenary room — not even through the CLI.
        for kind_room in (room, await service.create_room(conn, world.keyring, None,
                                                          slug="plenary-x", kind="plenary",
                                                          name="Plenary")):
            for actor in (moderator, None):
                with pytest.raises(ConflictError) as info:
                    await service.add_member(conn, world.keyring, actor, kind_room.id,
                                             observer.id)
                assert info.value.code == "observer_not_allowed"
    async with db.transaction(world.pool) as conn:
        count = await conn.fetchval("SELECT count(*) FROM room_members WHERE user_id = $1",
                                    observer.id)
    assert count == 0


async def test_thread_cursor_round_trips_to_the_microsecond(world: World) -> None:
    user = await world.user()
    room = await world.room("regional", user)
    actor = await world.actor(user)
    for n in range(3):
        await world.thread(actor, room, title=f"T{n}")
    async with db.transaction(world.pool) as conn:
        _room, threads, _next = await service.list_threads(conn, world.store, actor, room.id)
    for thread in threads:
        decoded = service.decode_cursor(service.encode_cursor(thread))
        assert decoded == (thread.pinned, thread.last_post_at, thread.id)
    async with db.transaction(world.pool) as conn:
        _room, page_1, cursor = await service.list_threads(conn, world.store, actor, room.id,
                                                           limit=1)
        _room, page_2, _next = await service.list_threads(conn, world.store, actor, room.id,
                                                          after=cursor, limit=5)
    assert [t.id for t in page_1 + page_2] == [t.id for t in threads]
