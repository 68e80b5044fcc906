"""SQL of the review queue, its history, case redactions and publications."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

_ITEM = ("i.id, i.kind, i.case_id, i.state, i.assignee_id, i.sort_key, i.released_at, "
         "i.updated_at")


async def insert_item(conn: asyncpg.Connection, item_id: uuid.UUID, kind: str,
                      case_id: uuid.UUID, sort_key: float, released_at: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO review_items (id, kind, case_id, sort_key, released_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (kind, case_id) DO NOTHING",
        item_id, kind, case_id, sort_key, released_at)


async def get_item_for_case(conn: asyncpg.Connection,
                            case_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ITEM} FROM review_items i WHERE i.kind = 'case' AND i.case_id = $1", case_id)


async def lock_item_for_case(conn: asyncpg.Connection,
                             case_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ITEM} FROM review_items i WHERE i.kind = 'case' AND i.case_id = $1 "
        "FOR NO KEY UPDATE", case_id)


async def claim_next_open(conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The next open case item in queue order, locked; items another moderator is claiming
    right now are skipped (race-free claiming). Other kinds are claimed by id."""
    return await conn.fetchrow(
        f"SELECT {_ITEM} FROM review_items i WHERE i.kind = 'case' AND i.state = 'open' "
        "ORDER BY i.sort_key LIMIT 1 FOR UPDATE SKIP LOCKED")


async def claim_item(conn: asyncpg.Connection, item_id: uuid.UUID) -> asyncpg.Record | None:
    """This item, locked, if it is open and nobody else is claiming it right now."""
    return await conn.fetchrow(
        f"SELECT {_ITEM} FROM review_items i WHERE i.id = $1 AND i.state = 'open' "
        "FOR UPDATE SKIP LOCKED", item_id)


async def update_item(conn: asyncpg.Connection, item_id: uuid.UUID, state: str,
                      assignee_id: uuid.UUID | None, at: dt.datetime) -> None:
    await conn.execute(
        "UPDATE review_items SET state = $2, assignee_id = $3, updated_at = $4 WHERE id = $1",
        item_id, state, assignee_id, at)


async def list_items(conn: asyncpg.Connection, state: str | None, kind: str | None,
                     limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_ITEM}, u.display_name AS assignee_name, c.status AS case_status, "
        "c.transfer_stage, c.region_code, c.submitted_on FROM review_items i "
        "LEFT JOIN users u ON u.id = i.assignee_id LEFT JOIN cases c ON c.id = i.case_id "
        "WHERE ($1::text IS NULL OR i.state = $1) AND ($2::text IS NULL OR i.kind = $2) "
        "ORDER BY i.state = 'done', i.sort_key LIMIT $3", state, kind, limit)


async def count_by_state(conn: asyncpg.Connection, kind: str) -> dict[str, int]:
    rows = await conn.fetch("SELECT state, count(*) AS n FROM review_items WHERE kind = $1 "
                            "GROUP BY state", kind)
    return {row["state"]: int(row["n"]) for row in rows}


async def insert_history(conn: asyncpg.Connection, item_id: uuid.UUID,
                         actor_id: uuid.UUID | None, action: str, note: str | None,
                         at: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO review_history (id, item_id, actor_id, action, note, occurred_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)", uuid.uuid4(), item_id, actor_id, action, note, at)


async def list_history(conn: asyncpg.Connection, item_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT h.action, h.note, h.occurred_at, u.display_name AS actor_name "
        "FROM review_history h LEFT JOIN users u ON u.id = h.actor_id "
        "WHERE h.item_id = $1 ORDER BY h.occurred_at, h.id", item_id)


# --- redactions and publications -------------------------------------------------------------

async def upsert_redaction(conn: asyncpg.Connection, case_id: uuid.UUID, content: bytes,
                           diff: bytes, editor_id: uuid.UUID, at: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO case_redactions (id, content, diff, editor_id, updated_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content, "
        "diff = EXCLUDED.diff, editor_id = EXCLUDED.editor_id, approved_by = NULL, "
        "updated_at = EXCLUDED.updated_at", case_id, content, diff, editor_id, at)


async def get_redaction(conn: asyncpg.Connection, case_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT r.id, r.content, r.diff, r.editor_id, r.approved_by, r.updated_at, "
        "e.display_name AS editor_name, a.display_name AS approver_name "
        "FROM case_redactions r LEFT JOIN users e ON e.id = r.editor_id "
        "LEFT JOIN users a ON a.id = r.approved_by WHERE r.id = $1", case_id)


async def update_redaction_approved(conn: asyncpg.Connection, case_id: uuid.UUID,
                                    approver_id: uuid.UUID) -> None:
    await conn.execute("UPDATE case_redactions SET approved_by = $2 WHERE id = $1",
                       case_id, approver_id)


async def insert_publication(conn: asyncpg.Connection, case_id: uuid.UUID, room_id: uuid.UUID,
                             thread_id: uuid.UUID, content: bytes, published_by: uuid.UUID,
                             published_on: dt.date) -> None:
    await conn.execute(
        "INSERT INTO case_publications (id, room_id, thread_id, content, published_by, "
        "published_on) VALUES ($1, $2, $3, $4, $5, $6)",
        case_id, room_id, thread_id, content, published_by, published_on)


async def get_publication(conn: asyncpg.Connection,
                          case_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, room_id, thread_id, content, published_on FROM case_publications "
        "WHERE id = $1", case_id)


async def try_lock_release(conn: asyncpg.Connection) -> bool:
    """Only one instance releases a batch: a transaction-level advisory lock, not waited for."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", 0x0D1EF_BA7C))


# --- items of every kind ---------------------------------------------------------------------

_TARGET = {"case": "case_id", "flag": "post_id", "takeaway": "takeaway_id",
           "lesson": "lesson_id"}


def target_column(kind: str) -> str:
    return _TARGET[kind]  # KeyError for an unknown kind: identifiers only from this table


async def upsert_open_item(conn: asyncpg.Connection, kind: str, target_id: uuid.UUID,
                           region_code: str | None, sort_key: float,
                           at: dt.datetime) -> uuid.UUID:
    """Put the target in the queue as open (re-opening a done item); returns the item id."""
    column = target_column(kind)
    item_id = await conn.fetchval(
        f"INSERT INTO review_items (id, kind, {column}, region_code, sort_key, released_at, "
        f"updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) "
        f"ON CONFLICT ({column}) WHERE kind = '{kind}' DO UPDATE SET state = 'open', "
        "assignee_id = NULL, updated_at = EXCLUDED.updated_at RETURNING id",
        uuid.uuid4(), kind, target_id, region_code, sort_key, at)
    return uuid.UUID(str(item_id))


async def lock_item(conn: asyncpg.Connection, kind: str,
                    target_id: uuid.UUID) -> asyncpg.Record | None:
    column = target_column(kind)
    return await conn.fetchrow(
        f"SELECT {_ITEM} FROM review_items i WHERE i.kind = $1 AND i.{column} = $2 "
        "FOR NO KEY UPDATE", kind, target_id)


async def get_item(conn: asyncpg.Connection, item_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ITEM}, i.post_id, i.takeaway_id, i.lesson_id, i.region_code "
        "FROM review_items i WHERE i.id = $1", item_id)


async def list_items_filtered(conn: asyncpg.Connection, state: str | None, kind: str | None,
                              region: str | None, assignee: uuid.UUID | None,
                              limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_ITEM}, i.post_id, i.takeaway_id, i.lesson_id, "
        "coalesce(i.region_code, c.region_code) AS region_code, "
        "u.display_name AS assignee_name, c.status AS case_status, c.transfer_stage "
        "FROM review_items i LEFT JOIN users u ON u.id = i.assignee_id "
        "LEFT JOIN cases c ON c.id = i.case_id "
        "WHERE ($1::text IS NULL OR i.state = $1) AND ($2::text IS NULL OR i.kind = $2) "
        "AND ($3::text IS NULL OR coalesce(i.region_code, c.region_code) = $3) "
        "AND ($4::uuid IS NULL OR i.assignee_id = $4) "
        "ORDER BY i.state = 'done', i.sort_key LIMIT $5", state, kind, region, assignee, limit)


async def count_by_kind_and_state(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT kind, state, count(*) AS n FROM review_items GROUP BY kind, state")


# --- flagged posts ---------------------------------------------------------------------------

async def count_open_flags(conn: asyncpg.Connection, post_id: uuid.UUID) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM post_flags WHERE post_id = $1 AND resolved_at IS NULL", post_id))


async def list_open_flags(conn: asyncpg.Connection, post_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT f.id, f.reason, f.note, f.created_at, u.display_name AS flagger_name "
        "FROM post_flags f LEFT JOIN users u ON u.id = f.flagger_id "
        "WHERE f.post_id = $1 AND f.resolved_at IS NULL ORDER BY f.created_at", post_id)


async def resolve_flags(conn: asyncpg.Connection, post_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE post_flags SET resolved_at = now() WHERE post_id = $1 AND resolved_at IS NULL",
        post_id)


async def update_post_hidden(conn: asyncpg.Connection, post_id: uuid.UUID,
                             reason: str | None) -> None:
    await conn.execute(
        "UPDATE posts SET hidden_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, "
        "hidden_reason = $2 WHERE id = $1", post_id, reason)
