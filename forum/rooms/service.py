"""Rooms, memberships, threads and posts: the rules.

Access (MISSION's first promise) lives in three choke points — ``access_room``,
``access_thread``, ``access_post`` — that answer ``NotFoundError`` both for what does not exist
and for what the actor may not see, so a non-member cannot even learn that an id exists. Every
room-scoped service goes through one of them; handlers never decide access.

Who may do what:

* Members of a room read it, post, edit and delete their own posts, flag posts, see members.
* Administrators and moderators (Secretariat) *manage* every room — create, archive, add and
  remove members — which shows them room names and member lists, but they read a room's
  threads only if they are members of it (adding oneself is an audited act).
* A workshop room's facilitators (room role ``facilitator``) may add and remove participants.
* Observers (civil society, industry) are never members of ``plenary`` or ``regional`` rooms.
* Archived rooms are read-only. Locked threads take posts only from managers and facilitators.

Thread titles, post bodies (Markdown and the rendered HTML), revisions and flag notes are
encrypted under the room's data key (forum/keystore); only what a page shows is decrypted.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import asyncpg

from forum.audit import service as audit
from forum.auth.service import Actor
from forum.errors import (
    ConflictError,
    ForbiddenError,
    Label,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from forum.i18n import lazy_gettext
from forum.keyring import KeyRing
from forum.keystore import service as keystore
from forum.keystore.service import KeyStore, Sealed
from forum.reference import queries as reference_queries
from forum.rooms import markup, queries
from forum.settings import Settings

KINDS = ("regional", "subregional", "working_group", "workshop", "plenary")
NO_OBSERVERS = frozenset({"plenary", "regional"})
MANAGER_ROLES = frozenset({"admin", "moderator"})
FLAG_REASON_LABELS = {
    "identifying_information": lazy_gettext("It could identify a source, a person or a State"),
    "sensitive_detail": lazy_gettext("It contains a sensitive operational detail"),
    "harassment": lazy_gettext("It is abusive or harassing"),
    "spam": lazy_gettext("It is spam"),
    "off_topic": lazy_gettext("It is off topic for this room"),
    "other": lazy_gettext("Something else (explain in the note)"),
}
FLAG_REASONS = tuple(FLAG_REASON_LABELS)
MAX_SLUG = 63
MAX_ROOM_NAME = 120
MAX_DESCRIPTION = 2000
MAX_TITLE = 200
MAX_BODY = 20_000
MAX_FLAG_NOTE = 1000
THREADS_PER_PAGE = 25
POSTS_PER_PAGE = 20
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Room:
    id: uuid.UUID
    slug: str
    kind: str
    name: str
    description: str
    region_code: str | None
    parent_id: uuid.UUID | None
    confidential: bool
    archived: bool
    room_role: str | None  # the actor's role in the room; None when not a member

    @property
    def is_member(self) -> bool:
        return self.room_role is not None


@dataclass(frozen=True)
class ThreadSummary:
    id: uuid.UUID
    room_id: uuid.UUID
    title: str | None  # None: the room's key was destroyed
    author_name: str | None
    pinned: bool
    locked: bool
    post_count: int
    unread: int
    created_at: dt.datetime
    last_post_at: dt.datetime


@dataclass(frozen=True)
class PostView:
    id: uuid.UUID
    thread_id: uuid.UUID
    room_id: uuid.UUID
    seq: int
    author_id: uuid.UUID | None
    author_name: str | None
    body: str | None
    html: str | None
    quote_of: uuid.UUID | None
    created_at: dt.datetime
    edited_at: dt.datetime | None
    deleted: bool
    hidden: bool
    hidden_reason: str | None
    revision_count: int

    @property
    def destroyed(self) -> bool:
        """Text unreadable because the room's data key was destroyed (a hidden post's text is
        not opened at all: it is hidden, not destroyed)."""
        return not self.deleted and not self.hidden and self.html is None


@dataclass(frozen=True)
class ThreadPage:
    room: Room
    thread: ThreadSummary
    posts: list[PostView]
    next_after: int | None


@dataclass(frozen=True)
class Revision:
    revision: int
    body: str | None
    editor_name: str | None
    created_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _room(row: asyncpg.Record, room_role: str | None) -> Room:
    return Room(row["id"], row["slug"], row["kind"], row["name"], row["description"],
                row["region_code"], row["parent_id"], row["confidential"],
                row["archived_at"] is not None, room_role)


def is_manager(actor: Actor) -> bool:
    return actor.role in MANAGER_ROLES


# --- validation ------------------------------------------------------------------------------

def _text(value: object, field: str, label: str, maximum: int, *, required: bool = True,
          single_line: bool = True) -> str:
    """``label``: the field's name as the form shows it, marked with ``lazy_gettext``."""
    params = {"label": Label(label), "maximum": maximum}
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationError("%(label)s must be text", params=params, field=field,
                              code=f"{field}_invalid")
    text = " ".join(value.split()) if single_line else value.replace("\r\n", "\n").strip()
    if required and not text:
        raise ValidationError("%(label)s is required", params=params, field=field,
                              code=f"{field}_missing")
    if len(text) > maximum:
        raise ValidationError("%(label)s is too long", detail="at most %(maximum)s characters",
                              params=params, field=field, code=f"{field}_too_long",
                              max_length=maximum)
    return text


def check_title(value: object) -> str:
    return _text(value, "title", lazy_gettext("Title"), MAX_TITLE)


def check_body(value: object) -> str:
    return _text(value, "body", lazy_gettext("Post"), MAX_BODY, single_line=False)


def check_slug(value: object) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise ValidationError("Invalid slug", detail="2 to 63 lowercase letters, digits and "
                              "dashes, starting with a letter or digit", field="slug",
                              code="slug_invalid")
    return value


def check_kind(value: object) -> str:
    if value not in KINDS:
        raise ValidationError("Unknown room kind", detail="expected one of %(choices)s",
                              params={"choices": ", ".join(KINDS)}, field="kind",
                              code="kind_invalid")
    assert isinstance(value, str)
    return value


# --- access choke points ---------------------------------------------------------------------

async def _find_room(conn: asyncpg.Connection, ref: str | uuid.UUID) -> asyncpg.Record | None:
    if isinstance(ref, uuid.UUID):
        return await queries.get_room(conn, ref)
    try:
        return await queries.get_room(conn, uuid.UUID(ref))
    except ValueError:
        pass
    if not _SLUG.match(ref):
        return None
    return await queries.get_room_by_slug(conn, ref)


async def access_room(conn: asyncpg.Connection, actor: Actor, ref: str | uuid.UUID) -> Room:
    """The room if ``actor`` is a member; NotFoundError otherwise (missing or not yours).

    One query (room and membership together); ``ref`` is resolved as in ``_find_room``: text
    that parses as a UUID is an id, never a slug."""
    room_id: uuid.UUID | None = ref if isinstance(ref, uuid.UUID) else None
    if room_id is None:
        try:
            room_id = uuid.UUID(str(ref))
        except ValueError:
            room_id = None
    if room_id is not None:
        row = await queries.get_member_room(conn, room_id, actor.user_id)
    elif _SLUG.match(str(ref)):
        row = await queries.get_member_room_by_slug(conn, str(ref), actor.user_id)
    else:
        row = None
    if row is None:
        raise NotFoundError()
    return _room(row, row["room_role"])


async def access_room_management(conn: asyncpg.Connection, actor: Actor | None,
                                 ref: str | uuid.UUID) -> Room:
    """The room for membership management: managers (any room), the operator CLI
    (``actor`` None) and a workshop room's facilitators. Others get NotFoundError if they are
    not members, ForbiddenError if they are."""
    row = await _find_room(conn, ref)
    if row is None:
        raise NotFoundError()
    if actor is None:
        return _room(row, None)
    member = await queries.get_membership(conn, row["id"], actor.user_id)
    room = _room(row, member["room_role"] if member else None)
    if is_manager(actor):
        return room
    if member is None:
        raise NotFoundError()
    if room.kind == "workshop" and room.room_role == "facilitator":
        return room
    raise ForbiddenError("Only the Secretariat (or a workshop's facilitators) manage members")


def _room_of(row: asyncpg.Record) -> Room:
    """The room of a ``get_*_for_member`` row (its ``room_*`` columns)."""
    return Room(row["room_id"], row["room_slug"], row["room_kind"], row["room_name"],
                row["room_description"], row["room_region_code"], row["room_parent_id"],
                row["room_confidential"], row["room_archived_at"] is not None, row["room_role"])


async def access_thread(conn: asyncpg.Connection, actor: Actor, thread_id: uuid.UUID, *,
                        for_update: bool = False) -> tuple[Room, asyncpg.Record]:
    """The thread's room and the thread row (with ``last_read_seq`` of the actor) if the actor
    is a member of its room; NotFoundError otherwise. One query: the hot path of every page.
    ``for_update`` locks the thread row (FOR NO KEY UPDATE) in the same query."""
    row = await queries.get_thread_for_member(conn, thread_id, actor.user_id,
                                              for_update=for_update)
    if row is None or row["room_role"] is None:
        raise NotFoundError()
    return _room_of(row), row


async def access_post(conn: asyncpg.Connection, actor: Actor,
                      post_id: uuid.UUID) -> tuple[Room, asyncpg.Record]:
    row = await queries.get_post_for_member(conn, post_id, actor.user_id)
    if row is None or row["room_role"] is None:
        raise NotFoundError()
    return _room_of(row), row


# --- rooms -----------------------------------------------------------------------------------

async def create_room(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor | None, *,
                      slug: object, kind: object, name: object, description: object = "",
                      region: object = None, parent: object = None) -> Room:
    if actor is not None and not is_manager(actor):
        raise ForbiddenError("Only the Secretariat creates rooms")
    slug_ok = check_slug(slug)
    kind_ok = check_kind(kind)
    name_ok = _text(name, "name", lazy_gettext("Name"), MAX_ROOM_NAME)
    description_ok = _text(description, "description", lazy_gettext("Description"), MAX_DESCRIPTION,
                           required=False, single_line=False)
    region_ok: str | None = None
    if region not in (None, ""):
        if not isinstance(region, str) or await reference_queries.get_region(conn,
                                                                            region) is None:
            raise ValidationError("Unknown region", field="region", code="region_invalid")
        region_ok = region
    parent_id: uuid.UUID | None = None
    if parent not in (None, ""):
        if kind_ok != "working_group":
            raise ValidationError("Only working groups have a parent", field="parent",
                                  code="parent_invalid")
        parent_row = await _find_room(conn, str(parent))
        if parent_row is None or parent_row["kind"] != "working_group":
            raise ValidationError("The parent must be a working-group room", field="parent",
                                  code="parent_invalid")
        parent_id = parent_row["id"]
    room_id = uuid.uuid4()
    await queries.insert_room(conn, room_id, slug_ok, kind_ok, name_ok, description_ok,
                              region_ok, parent_id, actor.user_id if actor else None)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id if actor else None,
                       action="room.create", target_type="room", target_id=str(room_id),
                       details={"slug": slug_ok, "kind": kind_ok})
    row = await queries.get_room(conn, room_id)
    assert row is not None
    return _room(row, None)


async def set_archived(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor | None,
                       ref: str | uuid.UUID, archived: bool) -> None:
    """Archive (read-only) or reopen a room. Rooms are never deleted."""
    if actor is not None and not is_manager(actor):
        await access_room(conn, actor, ref)  # a non-member learns nothing: 404 before 403
        raise ForbiddenError("Only the Secretariat archives rooms")
    room = await access_room_management(conn, actor, ref)
    await queries.lock_room(conn, room.id)
    await queries.update_room_archived(conn, room.id, archived)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id if actor else None,
                       action="room.archive" if archived else "room.reopen",
                       target_type="room", target_id=str(room.id))


async def list_my_rooms(conn: asyncpg.Connection, actor: Actor) -> list[tuple[Room, int, int]]:
    """The actor's rooms with (thread count, unread posts)."""
    rows = await queries.list_member_rooms(conn, actor.user_id)
    return [(_room(row, row["room_role"]), int(row["thread_count"]), int(row["unread"]))
            for row in rows]


async def list_all_rooms(conn: asyncpg.Connection,
                         actor: Actor | None) -> list[asyncpg.Record]:
    """Every room with its member count: managers, and the operator CLI (``actor`` None)."""
    if actor is not None and not is_manager(actor):
        raise ForbiddenError("Only the Secretariat sees every room")
    return await queries.list_all_rooms(conn)


async def get_room(conn: asyncpg.Connection, actor: Actor, ref: str | uuid.UUID) -> Room:
    return await access_room(conn, actor, ref)


# --- members ---------------------------------------------------------------------------------

async def list_members(conn: asyncpg.Connection, actor: Actor,
                       ref: str | uuid.UUID) -> tuple[Room, list[asyncpg.Record]]:
    """Members see their room's member list; managers see every room's (they manage it)."""
    if is_manager(actor):
        room = await access_room_management(conn, actor, ref)
    else:
        room = await access_room(conn, actor, ref)
    return room, await queries.list_members(conn, room.id)


async def add_member(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor | None,
                     ref: str | uuid.UUID, user_id: uuid.UUID,
                     room_role: str = "member") -> bool:
    """Add a member (or change their room role); True if anything changed."""
    from forum.auth import queries as auth_queries  # another area's reads, via its queries

    room = await access_room_management(conn, actor, ref)
    if room_role not in ("member", "facilitator"):
        raise ValidationError("Unknown room role", field="room_role", code="room_role_invalid")
    if (actor is not None and not is_manager(actor)) and room_role != "member":
        raise ForbiddenError("Facilitators add participants only")
    user = await auth_queries.get_user(conn, user_id)
    if user is None or user["disabled_at"] is not None:
        raise ValidationError("No such active account", field="user", code="user_invalid")
    if user["role"] == "observer" and room.kind in NO_OBSERVERS:
        raise ConflictError("Observers cannot join DIEF plenary or regional rooms",
                            code="observer_not_allowed")
    if room_role == "facilitator" and room.kind != "workshop":
        raise ValidationError("Only workshop rooms have facilitators", field="room_role",
                              code="room_role_invalid")
    await queries.lock_room(conn, room.id)
    changed = await queries.upsert_member(conn, room.id, user_id, room_role,
                                          actor.user_id if actor else None)
    if changed:
        await audit.record(conn, keyring.audit_key, actor_id=actor.user_id if actor else None,
                           action="room.member.add", target_type="room",
                           target_id=str(room.id),
                           details={"user": str(user_id), "room_role": room_role})
    return changed


async def remove_member(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor | None,
                        ref: str | uuid.UUID, user_id: uuid.UUID) -> None:
    room = await access_room_management(conn, actor, ref)
    membership = await queries.get_membership(conn, room.id, user_id)
    if membership is None:
        raise NotFoundError("Not a member of this room", code="not_a_member")
    if (actor is not None and not is_manager(actor)) and membership["room_role"] != "member":
        raise ForbiddenError("Facilitators remove participants only")
    await queries.lock_room(conn, room.id)
    await queries.delete_member(conn, room.id, user_id)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id if actor else None,
                       action="room.member.remove", target_type="room", target_id=str(room.id),
                       details={"user": str(user_id)})


# --- threads and posts -----------------------------------------------------------------------

def _may_moderate(actor: Actor, room: Room) -> bool:
    return is_manager(actor) or room.room_role == "facilitator"


def _check_writable(room: Room) -> None:
    if room.archived:
        raise ConflictError("This room is archived and read-only", code="room_archived")


async def _check_rate(conn: asyncpg.Connection, settings: Settings, actor: Actor) -> None:
    since = _now() - dt.timedelta(minutes=1)
    if await queries.count_recent_posts(conn, actor.user_id, since) >= settings.posts_per_minute:
        raise RateLimitedError(60, detail="at most %(maximum)s posts a minute",
                               params={"maximum": settings.posts_per_minute})


async def _mentioned_members(conn: asyncpg.Connection, room: Room, body: str) -> list[uuid.UUID]:
    handles = markup.mention_handles(body)
    if not handles:
        return []
    members = await queries.list_member_handles(conn, room.id)
    return [m["id"] for m in members if markup.handle_for(m["display_name"]) in handles]


async def _write_post(conn: asyncpg.Connection, store: KeyStore, room: Room,
                      thread_id: uuid.UUID, actor: Actor, body: str,
                      quote_of: uuid.UUID | None, now: dt.datetime) -> uuid.UUID:
    dek = await keystore.current_key(conn, store, keystore.room_scope(room.id))
    post_id = uuid.uuid4()
    seq = await queries.update_thread_activity(conn, thread_id, now)
    html = markup.render_markdown(body)
    await queries.insert_post(
        conn, post_id, thread_id, room.id, actor.user_id, seq,
        keystore.seal_text(dek, body, "posts", "body", post_id),
        keystore.seal_text(dek, html, "posts", "html", post_id), quote_of, now)
    mentioned = await _mentioned_members(conn, room, body)
    if mentioned:
        await queries.insert_mentions(conn, post_id, mentioned)
    await queries.upsert_read_position(conn, actor.user_id, thread_id, seq)
    return post_id


async def create_thread(conn: asyncpg.Connection, store: KeyStore, settings: Settings,
                        actor: Actor, ref: str | uuid.UUID, *, title: object,
                        body: object) -> tuple[uuid.UUID, uuid.UUID]:
    """A new thread with its first post; returns (thread id, post id)."""
    title_ok = check_title(title)
    body_ok = check_body(body)
    room = await access_room(conn, actor, ref)
    _check_writable(room)
    await _check_rate(conn, settings, actor)
    dek = await keystore.current_key(conn, store, keystore.room_scope(room.id))
    thread_id = uuid.uuid4()
    now = _now()
    await queries.insert_thread(conn, thread_id, room.id, actor.user_id,
                                keystore.seal_text(dek, title_ok, "threads", "title", thread_id),
                                now)
    post_id = await _write_post(conn, store, room, thread_id, actor, body_ok, None, now)
    return thread_id, post_id


async def unsafe_room(conn: asyncpg.Connection, room_id: uuid.UUID) -> Room:
    """A room without the membership check: for Secretariat tooling that names the room of
    something it already may see (a publication on a DIEF agenda)."""
    row = await queries.get_room(conn, room_id)
    if row is None:
        raise NotFoundError()
    return _room(row, None)


async def unsafe_get_post_for_review(conn: asyncpg.Connection, store: KeyStore,
                                     post_id: uuid.UUID) -> PostView | None:
    """A flagged post's text for the moderator reviewing the flag, without the membership
    check and including hidden text: moderation reads what members flagged. ``None`` if gone."""
    row = await queries.get_post(conn, post_id)
    if row is None:
        return None
    html, body = await keystore.open_texts(conn, store, [
        Sealed(bytes(row["html"]) if row["html"] else None, keystore.aad("posts", "html",
                                                                         post_id)),
        Sealed(bytes(row["body"]) if row["body"] else None, keystore.aad("posts", "body",
                                                                         post_id))])
    return _post_view(row, body, html)


async def unsafe_create_secretariat_thread(conn: asyncpg.Connection, store: KeyStore,
                                          room_id: uuid.UUID, title: str,
                                          body: str) -> uuid.UUID:
    """A thread whose first post has no author ("the Secretariat"), written without the
    membership check: only for publishing an approved case (moderation/queue ``publish``),
    which checks the moderator's rights and the room itself. Returns the thread id."""
    row = await queries.get_room(conn, room_id)
    if row is None:
        raise NotFoundError()
    room = _room(row, None)
    dek = await keystore.current_key(conn, store, keystore.room_scope(room.id))
    thread_id = uuid.uuid4()
    now = _now()
    await queries.insert_thread(conn, thread_id, room.id, None,
                                keystore.seal_text(dek, check_title(title), "threads", "title",
                                                   thread_id), now)
    post_id = uuid.uuid4()
    seq = await queries.update_thread_activity(conn, thread_id, now)
    html = markup.render_markdown(body)
    await queries.insert_post(conn, post_id, thread_id, room.id, None, seq,
                              keystore.seal_text(dek, body, "posts", "body", post_id),
                              keystore.seal_text(dek, html, "posts", "html", post_id), None,
                              now)
    return thread_id


def _summary(row: asyncpg.Record, title: str | None, last_read: int) -> ThreadSummary:
    return ThreadSummary(row["id"], row["room_id"], title, row["author_name"], row["pinned"],
                         row["locked"], row["post_count"], max(0, row["post_count"] - last_read),
                         row["created_at"], row["last_post_at"])


def encode_cursor(thread: ThreadSummary) -> str:
    """An opaque, URL-safe keyset cursor: pinned flag, activity time in µs, thread id."""
    micros = (thread.last_post_at - _EPOCH) // dt.timedelta(microseconds=1)  # exact, no float
    return f"{int(thread.pinned)}-{micros}-{thread.id}"


def decode_cursor(text: str | None) -> tuple[bool, dt.datetime, uuid.UUID] | None:
    if not text:
        return None
    try:
        pinned, micros, id_text = text.split("-", 2)
        if pinned not in ("0", "1") or len(text) > 80:
            raise ValueError
        when = _EPOCH + dt.timedelta(microseconds=int(micros))
        return pinned == "1", when, uuid.UUID(id_text)
    except (ValueError, OverflowError, OSError):
        raise ValidationError("Invalid page cursor", field="after",
                              code="cursor_invalid") from None


async def list_threads(conn: asyncpg.Connection, store: KeyStore, actor: Actor,
                       ref: str | uuid.UUID, *, after: str | None = None,
                       limit: int = THREADS_PER_PAGE
                       ) -> tuple[Room, list[ThreadSummary], str | None]:
    """A page of the room's threads, most recent activity first (pinned on top)."""
    cursor = decode_cursor(after)
    room = await access_room(conn, actor, ref)
    limit = max(1, min(limit, 100))
    rows = await queries.list_threads(conn, room.id, actor.user_id, limit + 1, cursor)
    page = rows[:limit]
    titles = await keystore.open_texts(conn, store, [
        Sealed(bytes(row["title"]), keystore.aad("threads", "title", row["id"]))
        for row in page])
    threads = [_summary(row, title, row["last_read_seq"]) for row, title in zip(page, titles,
                                                                                 strict=True)]
    next_cursor = encode_cursor(threads[-1]) if len(rows) > limit and threads else None
    return room, threads, next_cursor


def _post_view(row: asyncpg.Record, body: str | None, html: str | None) -> PostView:
    return PostView(row["id"], row["thread_id"], row["room_id"], row["seq"], row["author_id"],
                    row["author_name"], body, html, row["quote_of"], row["created_at"],
                    row["edited_at"], row["deleted_at"] is not None, row["hidden_at"] is not None,
                    row["hidden_reason"], int(row.get("revision_count", 0) or 0))


async def _open_posts(conn: asyncpg.Connection, store: KeyStore, rows: list[asyncpg.Record],
                      *, with_body: bool) -> list[PostView]:
    items: list[Sealed] = []
    for row in rows:
        visible = row["deleted_at"] is None and row["hidden_at"] is None
        items.append(Sealed(bytes(row["html"]) if visible and row["html"] else None,
                            keystore.aad("posts", "html", row["id"])))
        if with_body:
            items.append(Sealed(bytes(row["body"]) if visible and row["body"] else None,
                                keystore.aad("posts", "body", row["id"])))
    texts = await keystore.open_texts(conn, store, items)
    step = 2 if with_body else 1
    views = []
    for index, row in enumerate(rows):
        html = texts[index * step]
        body = texts[index * step + 1] if with_body else None
        views.append(_post_view(row, body, html))
    return views


async def get_thread_page(conn: asyncpg.Connection, store: KeyStore, actor: Actor,
                          thread_id: uuid.UUID, *, after_seq: int = 0,
                          limit: int = POSTS_PER_PAGE, with_body: bool = False,
                          mark_read: bool = True) -> ThreadPage:
    """A page of posts. Safe on a connection without a transaction (``db.connection``): it
    reads, then at most upserts the read position, one statement that stands alone."""
    room, row = await access_thread(conn, actor, thread_id)
    limit = max(1, min(limit, 100))
    after_seq = max(0, after_seq)
    rows = await queries.list_posts(conn, thread_id, after_seq, limit + 1)
    page = rows[:limit]
    [title] = await keystore.open_texts(conn, store, [
        Sealed(bytes(row["title"]), keystore.aad("threads", "title", thread_id))])
    posts = await _open_posts(conn, store, page, with_body=with_body)
    last_read = int(row["last_read_seq"])
    if mark_read and posts and posts[-1].seq > last_read:
        await queries.upsert_read_position(conn, actor.user_id, thread_id, posts[-1].seq)
    next_after = posts[-1].seq if len(rows) > limit and posts else None
    return ThreadPage(room, _summary(row, title, last_read), posts, next_after)


async def create_post(conn: asyncpg.Connection, store: KeyStore, settings: Settings,
                      actor: Actor, thread_id: uuid.UUID, *, body: object,
                      quote_of: object = None) -> uuid.UUID:
    body_ok = check_body(body)
    quote_id: uuid.UUID | None = None
    if quote_of not in (None, ""):
        try:
            quote_id = uuid.UUID(str(quote_of))
        except ValueError:
            raise ValidationError("Invalid quoted post", field="quote_of",
                                  code="quote_invalid") from None
    room, thread = await access_thread(conn, actor, thread_id, for_update=True)
    _check_writable(room)
    if thread["locked"] and not _may_moderate(actor, room):
        raise ConflictError("This thread is locked", code="thread_locked")
    if quote_id is not None:
        quoted = await queries.get_post(conn, quote_id)
        if quoted is None or quoted["thread_id"] != thread_id:
            raise ValidationError("The quoted post is not in this thread", field="quote_of",
                                  code="quote_invalid")
    await _check_rate(conn, settings, actor)
    return await _write_post(conn, store, room, thread_id, actor, body_ok, quote_id, _now())


async def get_post(conn: asyncpg.Connection, store: KeyStore, actor: Actor,
                   post_id: uuid.UUID) -> PostView:
    _, row = await access_post(conn, actor, post_id)
    [view] = await _open_posts(conn, store, [row], with_body=True)
    return view


async def quote_text(conn: asyncpg.Connection, store: KeyStore, actor: Actor,
                     post_id: uuid.UUID) -> str:
    """Markdown to prefill a quote-reply with."""
    view = await get_post(conn, store, actor, post_id)
    if view.body is None:
        return ""
    return markup.quote(view.author_name or "—", view.body)


async def edit_post(conn: asyncpg.Connection, store: KeyStore, actor: Actor,
                    post_id: uuid.UUID, *, body: object) -> PostView:
    """Replace a post's text (author only), keeping the previous text as a revision."""
    body_ok = check_body(body)
    room, _ = await access_post(conn, actor, post_id)
    _check_writable(room)
    row = await queries.lock_post(conn, post_id)
    assert row is not None
    if row["author_id"] != actor.user_id:
        raise ForbiddenError("Only the author can edit a post")
    if row["deleted_at"] is not None:
        raise ConflictError("This post was deleted", code="post_deleted")
    [old_body] = await keystore.open_texts(conn, store, [
        Sealed(bytes(row["body"]), keystore.aad("posts", "body", post_id))])
    if old_body is None:
        raise ConflictError("This post's text was destroyed", code="post_destroyed")
    dek = await keystore.current_key(conn, store, keystore.room_scope(room.id))
    now = _now()
    if old_body != body_ok:
        revision_id = uuid.uuid4()
        number = await queries.next_revision_number(conn, post_id)
        await queries.insert_revision(
            conn, revision_id, post_id, number,
            keystore.seal_text(dek, old_body, "post_revisions", "body", revision_id),
            actor.user_id, row["edited_at"] or row["created_at"])
        html = markup.render_markdown(body_ok)
        await queries.update_post_body(
            conn, post_id, keystore.seal_text(dek, body_ok, "posts", "body", post_id),
            keystore.seal_text(dek, html, "posts", "html", post_id), now)
        await queries.delete_mentions(conn, post_id)
        mentioned = await _mentioned_members(conn, room, body_ok)
        if mentioned:
            await queries.insert_mentions(conn, post_id, mentioned)
    return await get_post(conn, store, actor, post_id)


async def delete_post(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                      post_id: uuid.UUID) -> None:
    """Soft delete by the author (or a manager/facilitator member): a placeholder remains and
    the text — including earlier revisions — is erased."""
    room, _ = await access_post(conn, actor, post_id)
    _check_writable(room)
    row = await queries.lock_post(conn, post_id)
    assert row is not None
    own = row["author_id"] == actor.user_id
    if not own and not _may_moderate(actor, room):
        raise ForbiddenError("Only the author can delete a post")
    if row["deleted_at"] is not None:
        return
    await queries.update_post_deleted(conn, post_id, _now())
    await queries.clear_revisions(conn, post_id)
    await queries.delete_mentions(conn, post_id)
    if not own:
        await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                           action="post.delete", target_type="post", target_id=str(post_id))


async def list_revisions(conn: asyncpg.Connection, store: KeyStore, actor: Actor,
                         post_id: uuid.UUID) -> list[Revision]:
    await access_post(conn, actor, post_id)
    rows = await queries.list_revisions(conn, post_id)
    bodies = await keystore.open_texts(conn, store, [
        Sealed(bytes(row["body"]) if row["body"] is not None else None,
               keystore.aad("post_revisions", "body", row["id"])) for row in rows])
    return [Revision(row["revision"], body, row["editor_name"], row["created_at"])
            for row, body in zip(rows, bodies, strict=True)]


async def flag_post(conn: asyncpg.Connection, store: KeyStore, settings: Settings,
                    actor: Actor, post_id: uuid.UUID, *, reason: object,
                    note: object = None) -> bool:
    """Flag a post for the moderators; False if the actor had already flagged it."""
    if reason not in FLAG_REASONS:
        raise ValidationError("Choose a reason", detail="one of %(choices)s",
                              params={"choices": ", ".join(FLAG_REASONS)}, field="reason",
                              code="reason_invalid")
    assert isinstance(reason, str)
    note_ok = _text(note, "note", lazy_gettext("Note"), MAX_FLAG_NOTE, required=False,
                    single_line=False)
    room, row = await access_post(conn, actor, post_id)
    if row["deleted_at"] is not None:
        raise ConflictError("This post was deleted", code="post_deleted")
    flag_id = uuid.uuid4()
    sealed_note = None
    if note_ok:
        dek = await keystore.current_key(conn, store, keystore.room_scope(room.id))
        sealed_note = keystore.seal_text(dek, note_ok, "post_flags", "note", flag_id)
    created = await queries.insert_flag(conn, flag_id, post_id, room.id, actor.user_id,
                                        reason, sealed_note)
    if created:
        from moderation.queue import service as queue  # late: moderation builds on rooms

        await queue.flag_filed(conn, settings, post_id, room.region_code)
    return created


async def set_thread_state(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                           thread_id: uuid.UUID, *, pinned: bool | None = None,
                           locked: bool | None = None) -> None:
    room, _ = await access_thread(conn, actor, thread_id)
    if not _may_moderate(actor, room):
        raise ForbiddenError("Only the Secretariat or a facilitator pins and locks threads")
    row = await queries.lock_thread(conn, thread_id)
    assert row is not None
    new_pinned = row["pinned"] if pinned is None else pinned
    new_locked = row["locked"] if locked is None else locked
    await queries.update_thread_flags(conn, thread_id, new_pinned, new_locked)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="thread.state",
                       target_type="thread", target_id=str(thread_id),
                       details={"pinned": new_pinned, "locked": new_locked})
