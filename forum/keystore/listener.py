"""Evict destroyed data keys from this process's cache as soon as any instance destroys them.

``dief keys destroy`` (or any instance) sends ``NOTIFY dief_keys, '<key id>'`` in the
destroying transaction; PostgreSQL delivers it to every listening connection at commit. Each
app instance keeps one connection listening for the life of the process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from forum.keystore.service import KeyStore

log = logging.getLogger(__name__)
CHANNEL = "dief_keys"


@asynccontextmanager
async def listen_for_destroyed_keys(url: str, store: KeyStore) -> AsyncIterator[None]:
    conn = await asyncpg.connect(url, server_settings={"application_name": "dief-keys"})

    def on_notify(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            key_id = uuid.UUID(str(payload))
        except ValueError:
            log.warning("ignoring malformed %s notification", CHANNEL)
            return
        store.cache.evict(key_id)
        log.info("evicted destroyed data key %s", key_id)

    await conn.add_listener(CHANNEL, on_notify)
    try:
        yield
    finally:
        await conn.close()
