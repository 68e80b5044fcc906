"""SQL of the wrapped data keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg


async def get_current_key(conn: asyncpg.Connection, scope: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, wrapped, kek_id FROM data_keys "
        "WHERE scope = $1 AND retired_at IS NULL AND destroyed_at IS NULL", scope)


async def insert_key(conn: asyncpg.Connection, key_id: uuid.UUID, scope: str, wrapped: bytes,
                     kek_id: str) -> bool:
    """Insert a current key; False if another transaction made one for the scope first."""
    result = await conn.execute(
        "INSERT INTO data_keys (id, scope, wrapped, kek_id) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (scope) WHERE retired_at IS NULL AND destroyed_at IS NULL DO NOTHING",
        key_id, scope, wrapped, kek_id)
    return bool(result == "INSERT 0 1")


async def list_keys(conn: asyncpg.Connection,
                    key_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, scope, wrapped, kek_id, destroyed_at FROM data_keys WHERE id = ANY($1)",
        list(key_ids))
