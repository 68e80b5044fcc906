"""Evict destroyed data keys from this process's cache as soon as any instance destroys them.

``dief keys destroy`` (or any instance) sends ``NOTIFY dief_keys, '<key id>'`` in the
destroying transaction; PostgreSQL delivers it to every listening connection at commit. Each
app instance keeps one connection listening for the life of the process.

If that connection drops (a database restart, a failover, an idle-connection killer), the
notifications sent meanwhile are lost for good: PostgreSQL does not queue them for a listener
that is gone. So the moment the connection is lost the whole cache is emptied — every key is
then unwrapped again from the database, where a destroyed key no longer is — and the listener
reconnects in the background, retrying with a growing delay. Without this a dropped listener
left destroyed keys readable until the cache's maximum age (``service.CACHE_SECONDS``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from forum.keystore.service import KeyStore

log = logging.getLogger(__name__)
CHANNEL = "dief_keys"
APPLICATION_NAME = "dief-keys"  # how the listening connection shows in pg_stat_activity
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0


class _Listener:
    """One listening connection, replaced whenever it is lost, until ``close``."""

    def __init__(self, url: str, store: KeyStore) -> None:
        self._url = url
        self._store = store
        self._conn: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False

    async def connect(self) -> None:
        conn = await asyncpg.connect(self._url,
                                     server_settings={"application_name": APPLICATION_NAME})
        await conn.add_listener(CHANNEL, self._on_notify)
        conn.add_termination_listener(self._on_terminated)
        self._conn = conn

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            key_id = uuid.UUID(str(payload))
        except ValueError:
            log.warning("ignoring malformed %s notification", CHANNEL)
            return
        self._store.cache.evict(key_id)
        log.info("evicted destroyed data key %s", key_id)

    def _on_terminated(self, _conn: object) -> None:
        if self._closing:
            return
        # Keys destroyed from now until we listen again would go unnoticed: forget them all.
        self._store.cache.clear()
        self._conn = None
        log.warning("lost the %s listening connection; emptied the key cache, reconnecting",
                    CHANNEL)
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while not self._closing:
            try:
                await self.connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("could not listen on %s again (%s); retrying in %.1f s", CHANNEL,
                            type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            # A key may have been destroyed between the loss and the new LISTEN.
            self._store.cache.clear()
            log.info("listening on %s again", CHANNEL)
            return

    async def close(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            try:
                await self._reconnecting
            except asyncio.CancelledError:
                pass
        if self._conn is not None:
            await self._conn.close()


@asynccontextmanager
async def listen_for_destroyed_keys(url: str, store: KeyStore) -> AsyncIterator[None]:
    """Listen for the life of the block; the first connection failing fails start-up."""
    listener = _Listener(url, store)
    await listener.connect()
    try:
        yield
    finally:
        await listener.close()
