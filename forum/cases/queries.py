"""SQL of anonymous cases, their messages, blind indexes and receipt throttling.

Nothing here takes a user id for the source: the tables have no column for one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

ANALYTIC_COLUMNS = ("detection_status", "item_categories", "transfer_stage",
                    "diversion_methods", "actor_types", "red_flags", "detection_channel",
                    "response_measures", "sharing_scope", "attribution", "attributed_state",
                    "language", "region_code", "period", "quantity_band", "transport_mode")
SENSITIVE_COLUMNS = ("narrative", "states_involved", "named_entities", "document_refs",
                     "dates_places", "investigation_status", "item_model", "submitter_lessons")
_CASE = ("id, submitted_on, status, released_at, original_destroyed_on, reject_reason, "
         + ", ".join(ANALYTIC_COLUMNS) + ", " + ", ".join(SENSITIVE_COLUMNS))


async def insert_case(conn: asyncpg.Connection, case_id: uuid.UUID, submitted_on: dt.date,
                      receipt_hash: bytes, values: dict[str, Any]) -> None:
    columns = [c for c in ANALYTIC_COLUMNS + SENSITIVE_COLUMNS if c in values]
    placeholders = ", ".join(f"${i}" for i in range(4, 4 + len(columns)))
    await conn.execute(
        f"INSERT INTO cases (id, submitted_on, receipt_hash, {', '.join(columns)}) "
        f"VALUES ($1, $2, $3, {placeholders})",
        case_id, submitted_on, receipt_hash, *[values[c] for c in columns])


async def insert_form_token(conn: asyncpg.Connection, token_hash: bytes,
                            submitted_on: dt.date) -> bool:
    """Remember a sent case form; ``False`` if it was sent before (a concurrent second send
    waits for the first one's transaction, then gets ``False``)."""
    inserted = await conn.fetchval(
        "INSERT INTO case_submissions (token_hash, submitted_on) VALUES ($1, $2) "
        "ON CONFLICT (token_hash) DO NOTHING RETURNING true", token_hash, submitted_on)
    return bool(inserted)


async def get_case(conn: asyncpg.Connection, case_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_CASE} FROM cases WHERE id = $1", case_id)


async def lock_case(conn: asyncpg.Connection, case_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_CASE} FROM cases WHERE id = $1 FOR NO KEY UPDATE",
                               case_id)


async def get_case_id_by_receipt(conn: asyncpg.Connection,
                                 hashes: Sequence[bytes]) -> uuid.UUID | None:
    value: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM cases WHERE receipt_hash = ANY($1)", list(hashes))
    return value


async def lock_case_by_receipt(conn: asyncpg.Connection,
                               hashes: Sequence[bytes]) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_CASE} FROM cases WHERE receipt_hash = ANY($1) FOR NO KEY UPDATE",
        list(hashes))


async def update_status(conn: asyncpg.Connection, case_id: uuid.UUID, status: str) -> None:
    await conn.execute("UPDATE cases SET status = $2 WHERE id = $1", case_id, status)


async def update_rejected(conn: asyncpg.Connection, case_id: uuid.UUID, reason: str) -> None:
    await conn.execute(
        "UPDATE cases SET status = 'rejected', reject_reason = $2 WHERE id = $1",
        case_id, reason)


async def update_original_destroyed(conn: asyncpg.Connection, case_id: uuid.UUID,
                                    on: dt.date) -> None:
    await conn.execute("UPDATE cases SET original_destroyed_on = $2 WHERE id = $1", case_id, on)


async def list_pending_cases(conn: asyncpg.Connection) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM cases WHERE status = 'pending' FOR NO KEY UPDATE SKIP LOCKED")
    return [row["id"] for row in rows]


async def update_released(conn: asyncpg.Connection, case_ids: Sequence[uuid.UUID],
                          released_at: dt.datetime) -> None:
    await conn.execute(
        "UPDATE cases SET status = 'in_review', released_at = $2 WHERE id = ANY($1)",
        list(case_ids), released_at)


# --- messages --------------------------------------------------------------------------------

async def insert_message(conn: asyncpg.Connection, message_id: uuid.UUID, case_id: uuid.UUID,
                         sender: str, moderator_id: uuid.UUID | None, body: bytes,
                         sent_on: dt.date, released_at: dt.datetime | None) -> int:
    seq = await conn.fetchval(
        "INSERT INTO case_messages (id, case_id, seq, sender, moderator_id, body, sent_on, "
        "released_at) VALUES ($1, $2, (SELECT coalesce(max(seq), 0) + 1 FROM case_messages "
        "WHERE case_id = $2), $3, $4, $5, $6, $7) RETURNING seq",
        message_id, case_id, sender, moderator_id, body, sent_on, released_at)
    return int(seq)


async def list_messages(conn: asyncpg.Connection, case_id: uuid.UUID, *,
                        released_only: bool) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT m.id, m.seq, m.sender, m.body, m.sent_on, m.released_at, "
        "u.display_name AS moderator_name FROM case_messages m "
        "LEFT JOIN users u ON u.id = m.moderator_id WHERE m.case_id = $1 "
        "AND (NOT $2 OR m.sender = 'moderator' OR m.released_at IS NOT NULL) ORDER BY m.seq",
        case_id, released_only)


async def list_unreleased_answers(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, case_id FROM case_messages WHERE sender = 'source' AND released_at IS NULL "
        "FOR NO KEY UPDATE SKIP LOCKED")


async def update_messages_released(conn: asyncpg.Connection, message_ids: Sequence[uuid.UUID],
                                   released_at: dt.datetime) -> None:
    await conn.execute("UPDATE case_messages SET released_at = $2 WHERE id = ANY($1)",
                       list(message_ids), released_at)


# --- blind indexes ---------------------------------------------------------------------------

async def insert_index_entries(conn: asyncpg.Connection, case_id: uuid.UUID,
                               entries: Sequence[tuple[str, bytes]]) -> None:
    await conn.executemany(
        "INSERT INTO case_index (case_id, field, digest) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING", [(case_id, field, digest) for field, digest in entries])


async def list_correlations(conn: asyncpg.Connection,
                            case_id: uuid.UUID) -> list[asyncpg.Record]:
    """Other cases sharing an indexed value with this one, with how many values they share.

    Only cases already released to the moderators: a case still waiting for its batch must
    not show up here, or its arrival time could be read off (DESIGN §5)."""
    return await conn.fetch(
        "SELECT o.case_id, o.field, count(*) AS shared FROM case_index mine "
        "JOIN case_index o ON o.field = mine.field AND o.digest = mine.digest "
        "AND o.case_id <> mine.case_id JOIN cases c ON c.id = o.case_id "
        "AND c.released_at IS NOT NULL WHERE mine.case_id = $1 "
        "GROUP BY o.case_id, o.field ORDER BY o.case_id", case_id)


# --- receipt throttling ----------------------------------------------------------------------

async def count_receipt_failures(conn: asyncpg.Connection, key_hash: bytes,
                                 since: dt.datetime) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM receipt_failures WHERE key_hash = $1 AND failed_at > $2",
        key_hash, since)
    return int(value)


async def insert_receipt_failure(conn: asyncpg.Connection, key_hash: bytes) -> None:
    await conn.execute("INSERT INTO receipt_failures (key_hash) VALUES ($1)", key_hash)


# --- region disclosure -----------------------------------------------------------------------

async def count_states_with_delegates(conn: asyncpg.Connection, region_code: str) -> int:
    """States of the region that have at least one enabled delegate account (k-anonymity)."""
    value = await conn.fetchval(
        "SELECT count(DISTINCT u.state_iso3) FROM users u JOIN states s ON s.iso3 = u.state_iso3 "
        "WHERE u.role = 'delegate' AND u.disabled_at IS NULL AND s.region_code = $1",
        region_code)
    return int(value)
