"""SQL of rooms, memberships, threads, posts, revisions, mentions, flags and read positions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg

from forum.errors import ConflictError

_ROOM = ("r.id, r.slug, r.kind, r.name, r.description, r.region_code, r.parent_id, "
         "r.confidential, r.created_at, r.archived_at")


# --- rooms -----------------------------------------------------------------------------------

async def insert_room(conn: asyncpg.Connection, room_id: uuid.UUID, slug: str, kind: str,
                      name: str, description: str, region_code: str | None,
                      parent_id: uuid.UUID | None, created_by: uuid.UUID | None) -> None:
    try:
        await conn.execute(
            "INSERT INTO rooms (id, slug, kind, name, description, region_code, parent_id, "
            "created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            room_id, slug, kind, name, description, region_code, parent_id, created_by)
    except asyncpg.UniqueViolationError:
        raise ConflictError("A room with this slug already exists", code="slug_taken",
                            field="slug") from None


async def get_room_by_slug(conn: asyncpg.Connection, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_ROOM} FROM rooms r WHERE r.slug = $1", slug)


async def get_room(conn: asyncpg.Connection, room_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_ROOM} FROM rooms r WHERE r.id = $1", room_id)


async def get_member_room(conn: asyncpg.Connection, room_id: uuid.UUID,
                          user_id: uuid.UUID) -> asyncpg.Record | None:
    """The room with the user's room role, only if the user is a member."""
    return await conn.fetchrow(
        f"SELECT {_ROOM}, m.room_role FROM rooms r "
        "JOIN room_members m ON m.room_id = r.id AND m.user_id = $2 WHERE r.id = $1",
        room_id, user_id)


async def get_member_room_by_slug(conn: asyncpg.Connection, slug: str,
                                  user_id: uuid.UUID) -> asyncpg.Record | None:
    """``get_member_room`` by slug."""
    return await conn.fetchrow(
        f"SELECT {_ROOM}, m.room_role FROM rooms r "
        "JOIN room_members m ON m.room_id = r.id AND m.user_id = $2 WHERE r.slug = $1",
        slug, user_id)


async def lock_room(conn: asyncpg.Connection, room_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_ROOM} FROM rooms r WHERE r.id = $1 FOR NO KEY UPDATE",
                               room_id)


async def list_member_rooms(conn: asyncpg.Connection,
                            user_id: uuid.UUID) -> list[asyncpg.Record]:
    """The user's rooms with thread counts and their unread posts."""
    return await conn.fetch(
        f"SELECT {_ROOM}, m.room_role, "
        "  (SELECT count(*) FROM threads t WHERE t.room_id = r.id) AS thread_count, "
        "  (SELECT coalesce(sum(t.post_count - coalesce(tr.last_read_seq, 0)), 0) "
        "     FROM threads t LEFT JOIN thread_reads tr "
        "       ON tr.thread_id = t.id AND tr.user_id = $1 "
        "    WHERE t.room_id = r.id) AS unread "
        "FROM rooms r JOIN room_members m ON m.room_id = r.id AND m.user_id = $1 "
        "ORDER BY r.archived_at IS NOT NULL, r.kind, r.name", user_id)


async def list_all_rooms(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_ROOM}, (SELECT count(*) FROM room_members m WHERE m.room_id = r.id) "
        "AS member_count FROM rooms r ORDER BY r.kind, r.name")


async def update_room_archived(conn: asyncpg.Connection, room_id: uuid.UUID,
                               archived: bool) -> None:
    await conn.execute(
        "UPDATE rooms SET archived_at = CASE WHEN $2 THEN now() ELSE NULL END WHERE id = $1",
        room_id, archived)


# --- members ---------------------------------------------------------------------------------

async def list_members(conn: asyncpg.Connection, room_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT u.id, u.display_name, u.role, u.state_iso3, m.room_role, m.added_at "
        "FROM room_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.room_id = $1 AND u.disabled_at IS NULL ORDER BY u.display_name", room_id)


async def get_membership(conn: asyncpg.Connection, room_id: uuid.UUID,
                         user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT room_role FROM room_members WHERE room_id = $1 AND user_id = $2",
        room_id, user_id)


async def upsert_member(conn: asyncpg.Connection, room_id: uuid.UUID, user_id: uuid.UUID,
                        room_role: str, added_by: uuid.UUID | None) -> bool:
    """Add or update a membership; True if it changed anything."""
    result = await conn.execute(
        "INSERT INTO room_members (room_id, user_id, room_role, added_by) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (room_id, user_id) DO UPDATE "
        "SET room_role = EXCLUDED.room_role WHERE room_members.room_role <> EXCLUDED.room_role",
        room_id, user_id, room_role, added_by)
    return bool(result == "INSERT 0 1")


async def delete_member(conn: asyncpg.Connection, room_id: uuid.UUID,
                        user_id: uuid.UUID) -> bool:
    result = await conn.execute("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2",
                                room_id, user_id)
    return bool(result == "DELETE 1")


async def list_member_handles(conn: asyncpg.Connection,
                              room_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT u.id, u.display_name FROM room_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.room_id = $1 AND u.disabled_at IS NULL", room_id)


# --- threads ---------------------------------------------------------------------------------

_THREAD = ("t.id, t.room_id, t.author_id, t.title, t.pinned, t.locked, t.post_count, "
           "t.created_at, t.last_post_at")


async def insert_thread(conn: asyncpg.Connection, thread_id: uuid.UUID, room_id: uuid.UUID,
                        author_id: uuid.UUID | None, title: bytes, now: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO threads (id, room_id, author_id, title, created_at, last_post_at) "
        "VALUES ($1, $2, $3, $4, $5, $5)", thread_id, room_id, author_id, title, now)


async def get_thread(conn: asyncpg.Connection, thread_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_THREAD}, u.display_name AS author_name FROM threads t "
        "LEFT JOIN users u ON u.id = t.author_id WHERE t.id = $1", thread_id)


# The room of a thread or post and the user's role in it (NULL: not a member), for the access
# choke points: one round trip instead of three (docs/performance.md).
_ROOM_OF = ("r.slug AS room_slug, r.kind AS room_kind, r.name AS room_name, "
            "r.description AS room_description, r.region_code AS room_region_code, "
            "r.parent_id AS room_parent_id, r.confidential AS room_confidential, "
            "r.archived_at AS room_archived_at, m.room_role")


async def get_thread_for_member(conn: asyncpg.Connection, thread_id: uuid.UUID,
                                user_id: uuid.UUID, *,
                                for_update: bool = False) -> asyncpg.Record | None:
    """The thread with its author's name, its room (``room_*`` columns), the user's room role
    and the user's read position (``last_read_seq``, 0 if never read); ``for_update`` also
    locks the thread row (``FOR NO KEY UPDATE``, as ``lock_thread``)."""
    return await conn.fetchrow(
        f"SELECT {_THREAD}, u.display_name AS author_name, {_ROOM_OF}, "
        "coalesce(tr.last_read_seq, 0) AS last_read_seq "
        "FROM threads t JOIN rooms r ON r.id = t.room_id "
        "LEFT JOIN room_members m ON m.room_id = t.room_id AND m.user_id = $2 "
        "LEFT JOIN users u ON u.id = t.author_id "
        "LEFT JOIN thread_reads tr ON tr.thread_id = t.id AND tr.user_id = $2 "
        "WHERE t.id = $1" + (" FOR NO KEY UPDATE OF t" if for_update else ""),
        thread_id, user_id)


async def lock_thread(conn: asyncpg.Connection, thread_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_THREAD} FROM threads t WHERE t.id = $1 FOR NO KEY UPDATE", thread_id)


async def list_threads(conn: asyncpg.Connection, room_id: uuid.UUID, user_id: uuid.UUID,
                       limit: int, after: tuple[bool, dt.datetime, uuid.UUID] | None
                       ) -> list[asyncpg.Record]:
    """A page of threads by (pinned, last activity, id) descending — keyset, no OFFSET.

    The page is cut from ``threads`` alone (an ordered walk of threads_room_activity_idx that
    stops after ``limit`` rows) and only then joined. With the joins around the LIMIT, the
    planner — which estimates a row comparison from its first column only — may read and sort
    every thread after the cursor (tests/test_query_plans.py).
    """
    order = "ORDER BY t.pinned DESC, t.last_post_at DESC, t.id DESC"
    # Row comparison with every column DESC: the rows after the cursor are those below it.
    keyset = "" if after is None else "AND (t.pinned, t.last_post_at, t.id) < ($4, $5, $6) "
    sql = (f"SELECT {_THREAD}, u.display_name AS author_name, "
           "coalesce(tr.last_read_seq, 0) AS last_read_seq "
           f"FROM (SELECT {_THREAD} FROM threads t WHERE t.room_id = $1 {keyset}{order} "
           "LIMIT $3) t "
           "LEFT JOIN users u ON u.id = t.author_id "
           "LEFT JOIN thread_reads tr ON tr.thread_id = t.id AND tr.user_id = $2 " + order)
    if after is None:
        return await conn.fetch(sql, room_id, user_id, limit)
    pinned, last_post_at, thread_id = after
    return await conn.fetch(sql, room_id, user_id, limit, pinned, last_post_at, thread_id)


async def update_thread_flags(conn: asyncpg.Connection, thread_id: uuid.UUID, pinned: bool,
                              locked: bool) -> None:
    await conn.execute("UPDATE threads SET pinned = $2, locked = $3 WHERE id = $1",
                       thread_id, pinned, locked)


async def update_thread_title(conn: asyncpg.Connection, thread_id: uuid.UUID,
                              title: bytes) -> None:
    await conn.execute("UPDATE threads SET title = $2 WHERE id = $1", thread_id, title)


async def update_thread_activity(conn: asyncpg.Connection, thread_id: uuid.UUID,
                                 now: dt.datetime) -> int:
    """Count one more post and bump activity; returns the new post's sequence number."""
    value = await conn.fetchval(
        "UPDATE threads SET post_count = post_count + 1, last_post_at = $2 WHERE id = $1 "
        "RETURNING post_count", thread_id, now)
    return int(value)


# --- posts -----------------------------------------------------------------------------------

_POST = ("p.id, p.thread_id, p.room_id, p.author_id, p.seq, p.body, p.html, p.quote_of, "
         "p.created_at, p.edited_at, p.deleted_at, p.hidden_at, p.hidden_reason")


async def insert_post(conn: asyncpg.Connection, post_id: uuid.UUID, thread_id: uuid.UUID,
                      room_id: uuid.UUID, author_id: uuid.UUID | None, seq: int, body: bytes,
                      html: bytes, quote_of: uuid.UUID | None, now: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO posts (id, thread_id, room_id, author_id, seq, body, html, quote_of, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        post_id, thread_id, room_id, author_id, seq, body, html, quote_of, now)


async def get_post(conn: asyncpg.Connection, post_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_POST}, u.display_name AS author_name, "
        "(SELECT count(*) FROM post_revisions r WHERE r.post_id = p.id) AS revision_count "
        "FROM posts p LEFT JOIN users u ON u.id = p.author_id WHERE p.id = $1", post_id)


async def get_post_for_member(conn: asyncpg.Connection, post_id: uuid.UUID,
                              user_id: uuid.UUID) -> asyncpg.Record | None:
    """``get_post`` plus the post's room (``room_*`` columns) and the user's room role."""
    return await conn.fetchrow(
        f"SELECT {_POST}, u.display_name AS author_name, "
        "(SELECT count(*) FROM post_revisions rv WHERE rv.post_id = p.id) AS revision_count, "
        f"{_ROOM_OF} FROM posts p JOIN rooms r ON r.id = p.room_id "
        "LEFT JOIN room_members m ON m.room_id = p.room_id AND m.user_id = $2 "
        "LEFT JOIN users u ON u.id = p.author_id WHERE p.id = $1", post_id, user_id)


async def lock_post(conn: asyncpg.Connection, post_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_POST} FROM posts p WHERE p.id = $1 FOR NO KEY UPDATE",
                               post_id)


async def list_posts(conn: asyncpg.Connection, thread_id: uuid.UUID, after_seq: int,
                     limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_POST}, u.display_name AS author_name, "
        "(SELECT count(*) FROM post_revisions r WHERE r.post_id = p.id) AS revision_count "
        "FROM posts p LEFT JOIN users u ON u.id = p.author_id "
        "WHERE p.thread_id = $1 AND p.seq > $2 ORDER BY p.seq LIMIT $3",
        thread_id, after_seq, limit)


async def count_recent_posts(conn: asyncpg.Connection, author_id: uuid.UUID,
                             since: dt.datetime) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM posts WHERE author_id = $1 AND created_at > $2", author_id, since)
    return int(value)


async def update_post_body(conn: asyncpg.Connection, post_id: uuid.UUID, body: bytes,
                           html: bytes, now: dt.datetime) -> None:
    await conn.execute("UPDATE posts SET body = $2, html = $3, edited_at = $4 WHERE id = $1",
                       post_id, body, html, now)


async def update_post_deleted(conn: asyncpg.Connection, post_id: uuid.UUID,
                              now: dt.datetime) -> None:
    """Soft delete: the row stays as a placeholder, its text is gone."""
    await conn.execute(
        "UPDATE posts SET body = NULL, html = NULL, deleted_at = $2 WHERE id = $1",
        post_id, now)


async def next_revision_number(conn: asyncpg.Connection, post_id: uuid.UUID) -> int:
    value = await conn.fetchval(
        "SELECT coalesce(max(revision), 0) + 1 FROM post_revisions WHERE post_id = $1", post_id)
    return int(value)


async def insert_revision(conn: asyncpg.Connection, revision_id: uuid.UUID,
                          post_id: uuid.UUID, revision: int, body: bytes,
                          editor_id: uuid.UUID | None, created_at: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO post_revisions (id, post_id, revision, body, editor_id, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        revision_id, post_id, revision, body, editor_id, created_at)


async def list_revisions(conn: asyncpg.Connection, post_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT r.id, r.revision, r.body, r.created_at, u.display_name AS editor_name "
        "FROM post_revisions r LEFT JOIN users u ON u.id = r.editor_id "
        "WHERE r.post_id = $1 ORDER BY r.revision", post_id)


async def clear_revisions(conn: asyncpg.Connection, post_id: uuid.UUID) -> None:
    await conn.execute("UPDATE post_revisions SET body = NULL WHERE post_id = $1", post_id)


async def insert_mentions(conn: asyncpg.Connection, post_id: uuid.UUID,
                          user_ids: Sequence[uuid.UUID]) -> None:
    await conn.executemany(
        "INSERT INTO post_mentions (post_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(post_id, user_id) for user_id in user_ids])


async def delete_mentions(conn: asyncpg.Connection, post_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM post_mentions WHERE post_id = $1", post_id)


async def list_mentions(conn: asyncpg.Connection, post_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.fetch("SELECT user_id FROM post_mentions WHERE post_id = $1", post_id)
    return [row["user_id"] for row in rows]


async def insert_flag(conn: asyncpg.Connection, flag_id: uuid.UUID, post_id: uuid.UUID,
                      room_id: uuid.UUID, flagger_id: uuid.UUID, reason: str,
                      note: bytes | None) -> bool:
    result = await conn.execute(
        "INSERT INTO post_flags (id, post_id, room_id, flagger_id, reason, note) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (post_id, flagger_id) DO NOTHING",
        flag_id, post_id, room_id, flagger_id, reason, note)
    return bool(result == "INSERT 0 1")


async def upsert_read_position(conn: asyncpg.Connection, user_id: uuid.UUID,
                               thread_id: uuid.UUID, seq: int) -> None:
    await conn.execute(
        "INSERT INTO thread_reads (user_id, thread_id, last_read_seq) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_id, thread_id) DO UPDATE SET last_read_seq = EXCLUDED.last_read_seq "
        "WHERE thread_reads.last_read_seq < EXCLUDED.last_read_seq", user_id, thread_id, seq)


async def get_read_position(conn: asyncpg.Connection, user_id: uuid.UUID,
                            thread_id: uuid.UUID) -> int:
    value = await conn.fetchval(
        "SELECT last_read_seq FROM thread_reads WHERE user_id = $1 AND thread_id = $2",
        user_id, thread_id)
    return int(value or 0)
