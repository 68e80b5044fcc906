"""The key-destruction listener survives losing its connection (forum/keystore/listener.py).

PostgreSQL does not keep notifications for a listener that is gone, so a listener that stopped
at its first disconnection left destroyed keys readable from this instance's cache for up to
``CACHE_SECONDS``. Here the database kills the listening connection, as a restart or an
idle-connection killer would: the cache must be emptied at once, a new connection must listen
again, and a later ``NOTIFY`` must evict as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from crypto.keys import DataKey, DataKeyCache
from forum import keys
from forum.keystore.listener import APPLICATION_NAME, CHANNEL

LISTENERS = ("SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
             "AND datname = current_database()")


async def listener_pids(pool: asyncpg.Pool) -> list[int]:
    return [row["pid"] for row in await pool.fetch(LISTENERS, APPLICATION_NAME)]


async def wait_for(what: str, check: Callable[[], Awaitable[bool]],
                   seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"still waiting after {seconds} s: {what}"
        await asyncio.sleep(0.02)


def fake_key() -> DataKey:
    return DataKey(id=uuid.uuid4(), key=os.urandom(32))


async def notify_evicts_only_its_key(pool: asyncpg.Pool, cache: DataKeyCache) -> None:
    """A NOTIFY naming one cached key evicts that key, and only that key."""
    doomed, kept = fake_key(), fake_key()
    cache.put(doomed)
    cache.put(kept)
    await pool.execute("SELECT pg_notify($1, $2)", CHANNEL, str(doomed.id))
    await wait_for("the NOTIFY to evict the key", lambda: _gone(cache, doomed.id))
    assert cache.get(kept.id) is kept


async def test_listener_reconnects_and_empties_the_cache_when_its_connection_drops(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="forum.keystore.listener")
    pool: asyncpg.Pool = client.app[keys.POOL]
    cache = client.app[keys.KEYSTORE].cache
    [first] = await listener_pids(pool)

    await notify_evicts_only_its_key(pool, cache)

    # The database drops the listening connection: the whole cache goes at once.
    kept = fake_key()
    cache.put(kept)
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", first)
    await wait_for("the cache to be emptied", lambda: _gone(cache, kept.id))

    # … and another connection listens again (the log line comes once LISTEN has answered).
    async def listening_again() -> bool:
        return any(r.getMessage() == f"listening on {CHANNEL} again" for r in caplog.records)
    await wait_for("a new listening connection", listening_again)
    [second] = await listener_pids(pool)
    assert second != first

    await notify_evicts_only_its_key(pool, cache)  # on the new connection


async def _gone(cache: DataKeyCache, key_id: uuid.UUID) -> bool:
    return cache.get(key_id) is None
