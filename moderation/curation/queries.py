"""SQL of workshops, takeaways, lessons, DIEF sessions, agendas and indicators."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg

# --- workshops and takeaways -----------------------------------------------------------------

_WORKSHOP = ("w.id, w.title, w.region_code, w.place, w.starts_on, w.ends_on, w.room_id, "
             "w.officials_trained, r.slug AS room_slug")


async def insert_workshop(conn: asyncpg.Connection, workshop_id: uuid.UUID, title: str,
                          region_code: str | None, place: str, starts_on: dt.date,
                          ends_on: dt.date, room_id: uuid.UUID, officials_trained: int,
                          created_by: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO workshops (id, title, region_code, place, starts_on, ends_on, room_id, "
        "officials_trained, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        workshop_id, title, region_code, place, starts_on, ends_on, room_id,
        officials_trained, created_by)


async def get_workshop(conn: asyncpg.Connection,
                       workshop_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_WORKSHOP} FROM workshops w JOIN rooms r ON r.id = w.room_id WHERE w.id = $1",
        workshop_id)


async def list_workshops(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_WORKSHOP}, (SELECT count(*) FROM takeaways t WHERE t.workshop_id = w.id) "
        "AS takeaway_count FROM workshops w JOIN rooms r ON r.id = w.room_id "
        "ORDER BY w.starts_on DESC")


async def update_officials_trained(conn: asyncpg.Connection, workshop_id: uuid.UUID,
                                   count: int) -> None:
    await conn.execute("UPDATE workshops SET officials_trained = $2 WHERE id = $1",
                       workshop_id, count)


async def insert_takeaway(conn: asyncpg.Connection, takeaway_id: uuid.UUID,
                          workshop_id: uuid.UUID, kind: str, body: bytes, shareable: bool,
                          author_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO takeaways (id, workshop_id, kind, body, shareable, author_id) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        takeaway_id, workshop_id, kind, body, shareable, author_id)


async def list_takeaways(conn: asyncpg.Connection, workshop_id: uuid.UUID
                         ) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT t.id, t.workshop_id, t.kind, t.body, t.shareable, t.created_at, "
        "u.display_name AS author_name FROM takeaways t LEFT JOIN users u ON u.id = t.author_id "
        "WHERE t.workshop_id = $1 ORDER BY t.created_at, t.id", workshop_id)


async def get_takeaways(conn: asyncpg.Connection,
                        takeaway_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT t.id, t.workshop_id, t.kind, t.body, t.shareable, w.room_id, w.title AS "
        "workshop_title, w.region_code FROM takeaways t JOIN workshops w ON w.id = t.workshop_id "
        "WHERE t.id = ANY($1)", list(takeaway_ids))


# --- lessons ---------------------------------------------------------------------------------

_LESSON = ("l.id, l.title, l.summary, l.risk, l.indicators, l.mitigation, l.challenge, "
           "l.region_code, l.tags, l.status, l.created_by, l.edited_by, l.approved_by, "
           "l.created_at, "
           "l.updated_at")


async def insert_lesson(conn: asyncpg.Connection, lesson_id: uuid.UUID, fields: dict[str, object],
                        created_by: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO lessons (id, title, summary, risk, indicators, mitigation, challenge, "
        "region_code, tags, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        lesson_id, fields["title"], fields["summary"], fields["risk"], fields["indicators"],
        fields["mitigation"], fields["challenge"], fields["region_code"], fields["tags"],
        created_by)


async def update_lesson(conn: asyncpg.Connection, lesson_id: uuid.UUID,
                        fields: dict[str, object], editor_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE lessons SET title = $2, summary = $3, risk = $4, indicators = $5, "
        "mitigation = $6, challenge = $7, region_code = $8, tags = $9, status = 'draft', "
        "approved_by = NULL, edited_by = $10, updated_at = now() WHERE id = $1",
        lesson_id, fields["title"], fields["summary"], fields["risk"], fields["indicators"],
        fields["mitigation"], fields["challenge"], fields["region_code"], fields["tags"],
        editor_id)


async def get_lesson(conn: asyncpg.Connection, lesson_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_LESSON} FROM lessons l WHERE l.id = $1", lesson_id)


async def lock_lesson(conn: asyncpg.Connection, lesson_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_LESSON} FROM lessons l WHERE l.id = $1 "
                               "FOR NO KEY UPDATE", lesson_id)


async def list_lessons(conn: asyncpg.Connection, status: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_LESSON} FROM lessons l WHERE ($1::text IS NULL OR l.status = $1) "
        "ORDER BY l.updated_at DESC", status)


async def update_lesson_status(conn: asyncpg.Connection, lesson_id: uuid.UUID, status: str,
                               approved_by: uuid.UUID | None = None) -> None:
    await conn.execute(
        "UPDATE lessons SET status = $2, approved_by = coalesce($3, approved_by), "
        "updated_at = now() WHERE id = $1", lesson_id, status, approved_by)


async def insert_sources(conn: asyncpg.Connection, lesson_id: uuid.UUID,
                         takeaway_ids: Sequence[uuid.UUID],
                         case_ids: Sequence[uuid.UUID]) -> None:
    await conn.executemany(
        "INSERT INTO lesson_sources (lesson_id, takeaway_id, case_id) VALUES ($1, $2, $3)",
        [(lesson_id, t, None) for t in takeaway_ids] + [(lesson_id, None, c) for c in case_ids])


async def delete_sources(conn: asyncpg.Connection, lesson_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM lesson_sources WHERE lesson_id = $1", lesson_id)


async def list_sources(conn: asyncpg.Connection, lesson_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT takeaway_id, case_id FROM lesson_sources WHERE lesson_id = $1", lesson_id)


async def list_published_cases(conn: asyncpg.Connection,
                               case_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT c.id FROM cases c JOIN case_publications p ON p.id = c.id "
        "WHERE c.id = ANY($1) AND c.status = 'published'", list(case_ids))
    return [row["id"] for row in rows]


# --- DIEF sessions and agendas ---------------------------------------------------------------

async def insert_session(conn: asyncpg.Connection, session_id: uuid.UUID, title: str,
                         held_on: dt.date, place: str, created_by: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO dief_sessions (id, title, held_on, place, created_by) "
        "VALUES ($1, $2, $3, $4, $5)", session_id, title, held_on, place, created_by)


async def get_session(conn: asyncpg.Connection, session_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, title, held_on, place, status FROM dief_sessions WHERE id = $1", session_id)


async def lock_session(conn: asyncpg.Connection,
                       session_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, title, held_on, place, status FROM dief_sessions WHERE id = $1 "
        "FOR NO KEY UPDATE", session_id)


async def list_sessions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT s.id, s.title, s.held_on, s.place, s.status, "
        "(SELECT count(*) FROM agenda_items a WHERE a.session_id = s.id) AS item_count "
        "FROM dief_sessions s ORDER BY s.held_on DESC")


async def update_session_status(conn: asyncpg.Connection, session_id: uuid.UUID,
                                status: str) -> None:
    await conn.execute("UPDATE dief_sessions SET status = $2 WHERE id = $1", session_id, status)


async def list_agenda(conn: asyncpg.Connection, session_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, position, lesson_id, case_id, presenter_notes FROM agenda_items "
        "WHERE session_id = $1 ORDER BY position", session_id)


async def insert_agenda_item(conn: asyncpg.Connection, item_id: uuid.UUID,
                             session_id: uuid.UUID, lesson_id: uuid.UUID | None,
                             case_id: uuid.UUID | None, notes: str) -> None:
    try:
        await conn.execute(
            "INSERT INTO agenda_items (id, session_id, position, lesson_id, case_id, "
            "presenter_notes) VALUES ($1, $2, (SELECT coalesce(max(position), 0) + 1 FROM "
            "agenda_items WHERE session_id = $2), $3, $4, $5)",
            item_id, session_id, lesson_id, case_id, notes)
    except asyncpg.UniqueViolationError:
        from forum.errors import ConflictError

        raise ConflictError("This item is already on the agenda", code="already_on_agenda") \
            from None


async def get_agenda_item(conn: asyncpg.Connection, item_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, session_id, position, lesson_id, case_id, presenter_notes "
        "FROM agenda_items WHERE id = $1", item_id)


async def delete_agenda_item(conn: asyncpg.Connection, item_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM agenda_items WHERE id = $1", item_id)


async def update_agenda_positions(conn: asyncpg.Connection,
                                  positions: Sequence[tuple[uuid.UUID, int]]) -> None:
    await conn.executemany("UPDATE agenda_items SET position = $2 WHERE id = $1", positions)


async def update_agenda_notes(conn: asyncpg.Connection, item_id: uuid.UUID, notes: str) -> None:
    await conn.execute("UPDATE agenda_items SET presenter_notes = $2 WHERE id = $1",
                       item_id, notes)


async def count_lesson_on_agendas(conn: asyncpg.Connection, lesson_id: uuid.UUID) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM agenda_items WHERE lesson_id = $1", lesson_id))


# --- indicators ------------------------------------------------------------------------------

async def indicator_counts(conn: asyncpg.Connection) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM workshops) AS workshops, "
        "(SELECT coalesce(sum(officials_trained), 0) FROM workshops) AS officials_trained, "
        "(SELECT count(*) FROM cases WHERE released_at IS NOT NULL) AS cases_shared, "
        "(SELECT count(*) FROM cases WHERE status = 'published') AS cases_published, "
        "(SELECT count(*) FROM lessons WHERE status = 'presented') AS lessons_presented, "
        "(SELECT count(*) FROM lessons) AS lessons_total")
    assert row is not None
    return row


async def monthly_participation(conn: asyncpg.Connection,
                                since: dt.date) -> list[asyncpg.Record]:
    """Posts and distinct active members per month (UTC), from ``since``."""
    return await conn.fetch(
        "SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month, "
        "count(*) AS posts, count(DISTINCT author_id) AS members FROM posts "
        "WHERE created_at >= $1 GROUP BY 1 ORDER BY 1", since)
