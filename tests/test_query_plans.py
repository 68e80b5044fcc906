"""Thread lists and thread pages stay on indexes as data grows.

100,000 posts in 2,000 threads in 20 rooms are inserted with plain SQL (``generate_series``;
the ciphertext columns hold random-looking bytes: this test is about plans, not crypto), the
tables are analysed, and then the real functions of forum/rooms/queries.py run against a
recording stand-in for ``asyncpg.Connection`` that also EXPLAINs each statement it is given —
so the plans checked are those of the exact query text the app sends. Each statement is
explained twice: with the bound values (the custom plan PostgreSQL uses first) and as a generic
plan (what a long-lived prepared statement may switch to). No plan may scan ``posts`` or
``threads`` sequentially.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from forum.rooms import queries

ROOMS, THREADS_PER_ROOM, POSTS_PER_THREAD, USERS = 20, 100, 50, 50
WATCHED = frozenset({"posts", "threads", "thread_reads"})
PAGE_ROWS = {"list_threads": 26, "list_posts": 21}  # the LIMIT each is called with below

FILL = f"""
INSERT INTO users (id, email, display_name, role, password_hash, created_at)
SELECT gen_random_uuid(), 'plan' || i || '@example.org', 'Plan user ' || i, 'moderator', 'x',
       now() - interval '2 years'
FROM generate_series(1, {USERS}) i;

INSERT INTO rooms (id, slug, kind, name)
SELECT gen_random_uuid(), 'plan-room-' || i, 'working_group', 'Plan room ' || i
FROM generate_series(1, {ROOMS}) i;

INSERT INTO room_members (room_id, user_id)
SELECT r.id, u.id FROM rooms r CROSS JOIN users u;

CREATE TEMP TABLE plan_ids AS
SELECT (SELECT array_agg(id ORDER BY slug) FROM rooms) AS rooms,
       (SELECT array_agg(id ORDER BY email) FROM users) AS users;

INSERT INTO threads (id, room_id, author_id, title, pinned, post_count, created_at,
                     last_post_at)
SELECT gen_random_uuid(), ids.rooms[1 + i % {ROOMS}], ids.users[1 + i % {USERS}],
       decode(md5(i::text) || md5((-i)::text), 'hex'), i % 41 = 0, {POSTS_PER_THREAD},
       now() - i * interval '1 hour',
       now() - i * interval '1 hour' + {POSTS_PER_THREAD} * interval '1 minute'
FROM generate_series(1, {ROOMS * THREADS_PER_ROOM}) i, plan_ids ids;

CREATE TEMP TABLE plan_texts AS
SELECT s, decode(repeat(md5(s::text), 6), 'hex') AS body,
       decode(repeat(md5((-s)::text), 8), 'hex') AS html
FROM generate_series(1, {POSTS_PER_THREAD}) s;

INSERT INTO posts (id, thread_id, room_id, author_id, seq, body, html, created_at)
SELECT gen_random_uuid(), t.id, t.room_id, ids.users[1 + (t.n * 7 + x.s) % {USERS}], x.s,
       x.body, x.html, t.created_at + x.s * interval '1 minute'
FROM (SELECT id, room_id, created_at, row_number() OVER (ORDER BY created_at) AS n
        FROM threads) t
     CROSS JOIN plan_texts x
     CROSS JOIN plan_ids ids;

INSERT INTO post_revisions (id, post_id, revision, body, editor_id, created_at)
SELECT gen_random_uuid(), p.id, 1, p.body, p.author_id, p.created_at
FROM posts p WHERE p.seq % 25 = 0;

INSERT INTO thread_reads (user_id, thread_id, last_read_seq)
SELECT u.id, t.id, 1 + abs(hashtext(u.email || t.id::text)) % t.post_count
FROM threads t CROSS JOIN users u WHERE t.created_at::time < '12:00';
"""


@dataclass
class Explained:
    function: str
    sql: str
    mode: str
    plan: dict[str, Any]


class ExplainingConnection:
    """Stands in for ``asyncpg.Connection`` in a queries.py function: each ``fetch*`` runs for
    real (so the function gets the rows it expects) and is EXPLAINed, custom and generic."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.function = ""
        self.explained: list[Explained] = []

    async def _explain(self, sql: str, args: tuple[Any, ...]) -> None:
        for mode in ("auto", "force_generic_plan"):
            async with self._conn.transaction():
                await self._conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
                raw = await self._conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
            self.explained.append(Explained(self.function, sql, mode, json.loads(raw)[0]["Plan"]))

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        await self._explain(sql, args)
        return await self._conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        await self._explain(sql, args)
        return await self._conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self._conn.fetchval(sql, *args)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _outline(plan: dict[str, Any], depth: int = 0) -> str:
    line = "  " * depth + plan["Node Type"]
    if "Relation Name" in plan:
        line += f" on {plan['Relation Name']}"
    if "Index Name" in plan:
        line += f" using {plan['Index Name']}"
    line += f" (rows={plan['Actual Rows']} loops={plan['Actual Loops']})"
    return "\n".join([line, *(_outline(child, depth + 1) for child in plan.get("Plans", []))])


async def test_room_and_thread_queries_use_indexes_at_100k_posts(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        try:  # The fill is consistent by construction: skip its 400,000 foreign-key checks.
            await conn.execute("SET session_replication_role = replica")
        except asyncpg.InsufficientPrivilegeError:  # not a superuser (DIEF_TEST_DATABASE_URL)
            pass
        await conn.execute(FILL)
        await conn.execute("RESET session_replication_role; ANALYZE")
        assert await conn.fetchval("SELECT count(*) FROM posts") == (
            ROOMS * THREADS_PER_ROOM * POSTS_PER_THREAD)
        explained = await _explain_the_hot_queries(conn)
    finally:
        await conn.close()

    for item in explained:
        print(f"--- {item.function} [{item.mode}]\n{_outline(item.plan)}")
    offending = [item for item in explained
                 if any(node["Node Type"] == "Seq Scan" and node.get("Relation Name") in WATCHED
                        for node in _nodes(item.plan))]
    assert not offending, "\n\n".join(
        f"{item.function} [{item.mode}] scans sequentially:\n{item.sql}\n"
        f"{json.dumps(item.plan, indent=1)}" for item in offending)
    # Keyset pages read one page of threads or posts, however far down the list they are.
    overreading = [item for item in explained if item.function.split()[0] in PAGE_ROWS
                   if any(node.get("Relation Name") in {"posts", "threads"} and
                          node["Actual Rows"] * node["Actual Loops"]
                          > PAGE_ROWS[item.function.split()[0]] for node in _nodes(item.plan))]
    assert not overreading, "\n\n".join(
        f"{item.function} [{item.mode}] reads more than a page:\n{item.sql}\n"
        f"{_outline(item.plan)}" for item in overreading)
    functions = {item.function for item in explained}
    assert len(functions) == 13, functions


async def _explain_the_hot_queries(raw: asyncpg.Connection) -> list[Explained]:
    room_id, user_id = await raw.fetchrow(
        "SELECT m.room_id, m.user_id FROM room_members m JOIN rooms r ON r.id = m.room_id "
        "JOIN users u ON u.id = m.user_id ORDER BY r.slug, u.email LIMIT 1")
    thread_id = await raw.fetchval(
        "SELECT id FROM threads WHERE room_id = $1 ORDER BY last_post_at DESC OFFSET 40 LIMIT 1",
        room_id)
    post_id = await raw.fetchval(
        "SELECT id FROM posts WHERE thread_id = $1 AND seq = 25", thread_id)
    conn = ExplainingConnection(raw)
    c: Any = conn  # the queries are typed for asyncpg.Connection; this stands in for one

    async def run(name: str, *args: Any) -> Any:
        conn.function = name
        return await getattr(queries, name)(c, *args)

    page = await run("list_threads", room_id, user_id, 26, None)
    assert len(page) == 26
    last = page[-1]
    conn.function = "list_threads (after a cursor)"
    after = (last["pinned"], last["last_post_at"], last["id"])
    second = await queries.list_threads(c, room_id, user_id, 26, after)
    expected = await raw.fetch(
        "SELECT id FROM threads WHERE room_id = $1 "
        "ORDER BY pinned DESC, last_post_at DESC, id DESC LIMIT 52", room_id)
    assert [row["id"] for row in [*page, *second]] == [row["id"] for row in expected]
    assert len(await run("list_posts", thread_id, 0, 21)) == 21
    conn.function = "list_posts (after seq 20)"
    assert len(await queries.list_posts(c, thread_id, 20, 21)) == 21
    assert await run("get_thread", thread_id) is not None
    assert await run("lock_thread", thread_id) is not None
    assert await run("get_post", post_id) is not None
    assert await run("get_member_room", room_id, user_id) is not None
    assert await run("get_membership", room_id, user_id) is not None
    await run("count_recent_posts", user_id, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    assert len(await run("list_member_rooms", user_id)) == ROOMS
    await run("get_read_position", user_id, thread_id)
    await run("list_revisions", post_id)
    return conn.explained
