"""The periodic batch release, run inside every app instance.

Every ``DIEF_CASE_BATCH_HOURS`` hours (aligned to the clock: 00:00, 06:00, … UTC by default) one
instance releases the pending cases and answers; a transaction-level advisory lock makes the
others skip, so several instances release each batch once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from forum.db import transaction
from forum.keyring import KeyRing
from moderation.queue import queries, service

log = logging.getLogger(__name__)


def seconds_to_next_batch(now: dt.datetime, hours: int) -> float:
    period = hours * 3600
    elapsed = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    return period - (elapsed % period)


async def release_once(pool: asyncpg.Pool, keyring: KeyRing) -> service.ReleaseResult | None:
    async with transaction(pool) as conn:
        if not await queries.try_lock_release(conn):
            return None  # another instance is releasing this batch
        return await service.release_batch(conn, keyring)


@asynccontextmanager
async def batch_releases(pool: asyncpg.Pool, keyring: KeyRing,
                         hours: int) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds_to_next_batch(dt.datetime.now(dt.UTC), hours))
            try:
                result = await release_once(pool, keyring)
                if result and (result.cases or result.answers):
                    log.info("released a batch: %d case(s), %d answer(s)", result.cases,
                             result.answers)
            except Exception:  # a failed release must not stop later ones
                log.exception("batch release failed; the next one will retry")

    task = asyncio.create_task(loop(), name="dief-batch-release")
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
