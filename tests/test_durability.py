"""MISSION: "A request that was answered with success is durable; a crash loses nothing
acknowledged." Every write path commits before the handler answers, so the moment a 2xx
arrives, a *different* connection — what a restarted process would use — already sees the
write, and closing the app without any cleanup step loses nothing."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import make_user, sign_in


async def test_acknowledged_writes_are_committed_before_the_answer(
        client: TestClient, database_url: str) -> None:
    moderator = await make_user(client, role="moderator")
    delegate = await make_user(client, role="delegate", state="GHA")
    h = {"X-CSRF-Token": await sign_in(client, moderator)}
    r = await client.post("/api/v1/rooms", json={"slug": "plenary", "kind": "plenary",
                                                 "name": "Plenary"}, headers=h)
    assert r.status == 201
    await client.put(f"/api/v1/rooms/plenary/members/{moderator.id}", headers=h)
    r = await client.post("/api/v1/rooms/plenary/threads",
                          json={"title": "T", "body": "first"}, headers=h)
    assert r.status == 201
    thread = await r.json()
    client.session.cookie_jar.clear()
    h = {"X-CSRF-Token": await sign_in(client, delegate)}
    r = await client.post("/api/v1/cases", json={"narrative": "n",
                                                 "transfer_stage": "in_transit"}, headers=h)
    assert r.status == 201
    case_id = (await r.json())["id"]

    other = await asyncpg.connect(database_url)  # not the app's pool
    try:
        assert await other.fetchval("SELECT count(*) FROM threads WHERE id = $1",
                                    uuid.UUID(thread["id"])) == 1
        assert await other.fetchval("SELECT count(*) FROM posts WHERE thread_id = $1",
                                    uuid.UUID(thread["id"])) == 1
        assert await other.fetchval("SELECT count(*) FROM cases WHERE id = $1",
                                    uuid.UUID(case_id)) == 1
        # Nothing is left open waiting for a later commit: no transaction of ours is idle.
        assert await other.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction'") == 0
    finally:
        await other.close()
