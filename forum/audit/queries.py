"""SQL of the audit chain."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

# Serialises appends: each entry's MAC covers the previous one, so two writers must not
# read the same head. Transaction-scoped, released at commit or rollback.
APPEND_LOCK_KEY = 0x0D1EF_A0D1


async def lock_chain(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK_KEY)


async def get_head(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1")


async def insert_entry(conn: asyncpg.Connection, seq: int, occurred_at: dt.datetime,
                       actor_id: uuid.UUID | None, action: str, target_type: str,
                       target_id: str, details: dict[str, Any], key_id: str, prev_mac: bytes,
                       mac: bytes) -> None:
    await conn.execute(
        "INSERT INTO audit_log (seq, occurred_at, actor_id, action, target_type, target_id, "
        "details, key_id, prev_mac, mac) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)",
        seq, occurred_at, actor_id, action, target_type, target_id,
        json.dumps(details, sort_keys=True), key_id, prev_mac, mac)


async def iter_entries(conn: asyncpg.Connection, batch: int = 1000
                       ) -> AsyncIterator[asyncpg.Record]:
    last = 0
    while True:
        rows = await conn.fetch(
            "SELECT seq, occurred_at, actor_id, action, target_type, target_id, details::text "
            "AS details, key_id, prev_mac, mac FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
            last, batch)
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1]["seq"]


async def list_entries(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT a.seq, a.occurred_at, a.actor_id, u.email AS actor_email, a.action, "
        "a.target_type, a.target_id, a.details::text AS details FROM audit_log a "
        "LEFT JOIN users u ON u.id = a.actor_id ORDER BY a.seq DESC LIMIT $1", limit)


async def search_entries(conn: asyncpg.Connection, actor_email: str | None,
                         action: str | None, since: dt.datetime | None,
                         until: dt.datetime | None, limit: int) -> list[asyncpg.Record]:
    """Newest first, filtered by the actor's email, an action prefix and a time range."""
    return await conn.fetch(
        "SELECT a.seq, a.occurred_at, a.actor_id, u.email AS actor_email, a.action, "
        "a.target_type, a.target_id, a.details::text AS details FROM audit_log a "
        "LEFT JOIN users u ON u.id = a.actor_id "
        "WHERE ($1::text IS NULL OR u.email = $1) "
        "AND ($2::text IS NULL OR a.action = $2 OR a.action LIKE $2 || '.%') "
        "AND ($3::timestamptz IS NULL OR a.occurred_at >= $3) "
        "AND ($4::timestamptz IS NULL OR a.occurred_at < $4) "
        "ORDER BY a.seq DESC LIMIT $5", actor_email, action, since, until, limit)
