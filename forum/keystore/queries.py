"""SQL of the wrapped data keys."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg


async def get_current_key(conn: asyncpg.Connection, scope: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, wrapped, kek_id FROM data_keys "
        "WHERE scope = $1 AND retired_at IS NULL AND destroyed_at IS NULL", scope)


async def insert_key(conn: asyncpg.Connection, key_id: uuid.UUID, scope: str, wrapped: bytes,
                     kek_id: str, created_at: dt.datetime | None = None) -> bool:
    """Insert a current key; False if another transaction made one for the scope first."""
    result = await conn.execute(
        "INSERT INTO data_keys (id, scope, wrapped, kek_id, created_at) "
        "VALUES ($1, $2, $3, $4, coalesce($5, now())) "
        "ON CONFLICT (scope) WHERE retired_at IS NULL AND destroyed_at IS NULL DO NOTHING",
        key_id, scope, wrapped, kek_id, created_at)
    return bool(result == "INSERT 0 1")


async def list_keys(conn: asyncpg.Connection,
                    key_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, scope, wrapped, kek_id, destroyed_at FROM data_keys WHERE id = ANY($1)",
        list(key_ids))


# Every encrypted column: (table, column). Each table's primary key is ``id`` and the
# associated data of a value is ``table.column|id`` (crypto/envelope.py). Rotation, status and
# the database-thief test walk this list; a new encrypted column must be added here.
ENCRYPTED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("threads", "title"),
    ("posts", "body"),
    ("posts", "html"),
    ("post_revisions", "body"),
    ("post_flags", "note"),
    ("users", "totp_secret"),
    ("users", "totp_pending"),
    ("cases", "narrative"),
    ("cases", "states_involved"),
    ("cases", "named_entities"),
    ("cases", "document_refs"),
    ("cases", "dates_places"),
    ("cases", "investigation_status"),
    ("cases", "item_model"),
    ("cases", "submitter_lessons"),
    ("case_messages", "body"),
    ("case_redactions", "content"),
    ("case_redactions", "diff"),
    ("case_publications", "content"),
    ("takeaways", "body"),
)
# Bytes 2..17 of a sealed value (1-based in SQL) are the id of the data key that sealed it.
_KEY_ID_SQL = "substring({column} from 2 for 16)"


def _checked(table: str, column: str) -> tuple[str, str]:
    if (table, column) not in ENCRYPTED_COLUMNS:  # identifiers come only from the list above
        raise ValueError(f"{table}.{column} is not an encrypted column")
    return table, column


async def list_all_keys(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, scope, kek_id, created_at, retired_at, destroyed_at FROM data_keys "
        "ORDER BY scope, created_at")


async def count_rows_by_key(conn: asyncpg.Connection, table: str,
                            column: str) -> list[asyncpg.Record]:
    table, column = _checked(table, column)
    key_id = _KEY_ID_SQL.format(column=column)
    return await conn.fetch(
        f"SELECT {key_id} AS key_id, count(*) AS rows FROM {table} "
        f"WHERE {column} IS NOT NULL GROUP BY 1")


async def list_scopes_with_current_key(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT scope FROM data_keys WHERE retired_at IS NULL AND destroyed_at IS NULL "
        "ORDER BY scope")
    return [row["scope"] for row in rows]


async def lock_scope(conn: asyncpg.Connection, scope: str) -> None:
    """Serialise key changes of one scope (rotation, destruction) across processes."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('dief-key-scope:' || $1))", scope)


async def lock_scope_shared(conn: asyncpg.Connection, scope: str) -> None:
    """Writers hold this until commit, so a rotation (which takes the exclusive lock) waits for
    every in-flight write under the old key to commit before retiring it."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('dief-key-scope:' || $1))",
                       scope)


async def update_retire_current(conn: asyncpg.Connection, scope: str) -> uuid.UUID | None:
    value: uuid.UUID | None = await conn.fetchval(
        "UPDATE data_keys SET retired_at = now() WHERE scope = $1 AND retired_at IS NULL "
        "AND destroyed_at IS NULL RETURNING id", scope)
    return value


async def list_retired_live_keys(conn: asyncpg.Connection,
                                 scope: str | None) -> list[asyncpg.Record]:
    """Retired (not destroyed) keys, whose rows a rotation must move to the current key."""
    return await conn.fetch(
        "SELECT id, scope FROM data_keys WHERE retired_at IS NOT NULL AND destroyed_at IS NULL "
        "AND ($1::text IS NULL OR scope = $1) ORDER BY created_at", scope)


async def claim_rows_under_key(conn: asyncpg.Connection, table: str, column: str,
                               key_id: uuid.UUID, limit: int, *,
                               wait: bool = False) -> list[asyncpg.Record]:
    """A batch of rows still sealed under ``key_id``, locked. Rows busy elsewhere (a writer
    holding a thread or post row) are skipped, unless ``wait``: then we queue for them, in id
    order, and a row the writer moved to another key meanwhile drops out of the result."""
    table, column = _checked(table, column)
    key_expr = _KEY_ID_SQL.format(column=column)
    lock = "ORDER BY id LIMIT $2 FOR NO KEY UPDATE" if wait else \
        "LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED"
    return await conn.fetch(
        f"SELECT id, {column} AS value FROM {table} WHERE {column} IS NOT NULL "
        f"AND {key_expr} = $1 {lock}", key_id.bytes, limit)


async def update_values(conn: asyncpg.Connection, table: str, column: str,
                        values: Sequence[tuple[uuid.UUID, bytes | None]]) -> None:
    """Set ``column`` of many rows, ``(row id, value)`` pairs, in one pipelined round trip."""
    table, column = _checked(table, column)
    await conn.executemany(f"UPDATE {table} SET {column} = $2 WHERE id = $1", values)


async def list_keys_to_rewrap(conn: asyncpg.Connection, kek_id: str,
                              limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, kek_id, wrapped FROM data_keys WHERE destroyed_at IS NULL AND kek_id <> $1 "
        "ORDER BY id LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED", kek_id, limit)


async def update_wrapped(conn: asyncpg.Connection, key_id: uuid.UUID, kek_id: str,
                         wrapped: bytes) -> None:
    await conn.execute("UPDATE data_keys SET kek_id = $2, wrapped = $3 WHERE id = $1",
                       key_id, kek_id, wrapped)


async def update_destroy_scope(conn: asyncpg.Connection, scope: str) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "UPDATE data_keys SET wrapped = NULL, destroyed_at = now(), "
        "retired_at = coalesce(retired_at, now()) "
        "WHERE scope = $1 AND destroyed_at IS NULL RETURNING id", scope)
    return [row["id"] for row in rows]


async def notify_destroyed(conn: asyncpg.Connection, key_ids: list[uuid.UUID]) -> None:
    """Tell every instance (LISTEN dief_keys) to drop these keys from its cache at commit."""
    for key_id in key_ids:
        await conn.execute("SELECT pg_notify('dief_keys', $1)", str(key_id))


async def update_destroy_scope_at(conn: asyncpg.Connection, scope: str,
                                  at: dt.datetime) -> list[uuid.UUID]:
    """Destroy a scope's keys recording ``at`` (a date's midnight, for anonymous scopes)."""
    rows = await conn.fetch(
        "UPDATE data_keys SET wrapped = NULL, destroyed_at = $2, "
        "retired_at = coalesce(retired_at, $2) "
        "WHERE scope = $1 AND destroyed_at IS NULL RETURNING id", scope, at)
    return [row["id"] for row in rows]
