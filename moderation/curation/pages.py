"""What each HTML page of the lessons pipeline shows (moderation/curation/views.py).

One function per page composes the services that page needs, so that its handler parses, calls
one function and renders (STYLE §1). The rules stay in the services called here: every function
starts with the call that checks the actor (``list_items``, ``get_lesson``, ``briefing``…), and
nothing here decides access on its own except ``audit_log``, which holds the rule the JSON API
applies in its handler. No aiohttp, no templates, no strings for people.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from forum.audit import service as audit
from forum.auth.service import Actor
from forum.errors import ForbiddenError
from forum.keyring import KeyRing
from forum.reference import service as reference
from forum.rooms import service as rooms
from forum.settings import Settings
from moderation.curation import queries, service
from moderation.queue import service as queue

CHOICES_LIMIT = 500


# --- sources a lesson or an agenda can use ---------------------------------------------------

@dataclass(frozen=True)
class TakeawayChoice:
    takeaway: service.Takeaway
    workshop_title: str
    used: bool  # its queue item is done (used in a lesson, or dismissed)


@dataclass(frozen=True)
class CaseChoice:
    case_id: uuid.UUID
    title: str | None  # None: the publication can no longer be read (room key destroyed)
    region: str | None  # disclosed region, None for "undisclosed"
    published_on: dt.date


async def takeaway_choices(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor, *,
                           keep: Iterable[uuid.UUID] = ()) -> list[TakeawayChoice]:
    """Shareable takeaways still waiting in the queue, and those in ``keep`` (a lesson's own,
    whose items were closed when the lesson used them)."""
    rows, _counts = await queue.list_items(conn, actor, kind="takeaway", limit=CHOICES_LIMIT)
    kept = set(keep)
    state = {row["takeaway_id"]: row["state"] for row in rows}
    wanted = list(dict.fromkeys([row["takeaway_id"] for row in rows
                                 if row["state"] != "done" or row["takeaway_id"] in kept]
                                + sorted(kept)))
    return await _takeaways(conn, keyring, actor, wanted, state)


async def _takeaways(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                     ids: Sequence[uuid.UUID], state: dict[uuid.UUID, str]
                     ) -> list[TakeawayChoice]:
    if not ids:
        return []
    opened = {t.id: t for t in await service.shareable_takeaways(conn, keyring, ids)}
    titles = {row["id"]: row["title"] for row in await service.list_workshops(conn, actor)}
    return [TakeawayChoice(opened[i], titles.get(opened[i].workshop_id, ""),
                           state.get(i) == "done") for i in ids if i in opened]


async def case_choices(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                       actor: Actor, *, keep: Iterable[uuid.UUID] = ()) -> list[CaseChoice]:
    """Published cases (their published title and region only), and those in ``keep``."""
    rows, _counts = await queue.list_items(conn, actor, kind="case", state="done",
                                           limit=CHOICES_LIMIT)
    ids = dict.fromkeys([row["case_id"] for row in rows if row["case_status"] == "published"]
                        + list(keep))
    return [await _case(conn, keyring, settings, case_id) for case_id in ids]


async def _case(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                case_id: uuid.UUID) -> CaseChoice:
    published = await queue.publication_content(conn, keyring, settings, case_id)
    title = str(published.content.get("title") or "") or None if published.content else None
    return CaseChoice(case_id, title, published.region, published.published_on)


# --- workshops --------------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkshopsPage:
    workshops: list[asyncpg.Record]
    member_of: frozenset[uuid.UUID]  # room ids the actor belongs to
    regions: list[asyncpg.Record]


async def workshops(conn: asyncpg.Connection, actor: Actor) -> WorkshopsPage:
    rows = await service.list_workshops(conn, actor)
    mine = frozenset(room.id for room, _, _ in await rooms.list_my_rooms(conn, actor))
    return WorkshopsPage(rows, mine, await reference.list_regions(conn))


@dataclass(frozen=True)
class WorkshopPage:
    workshop: service.Workshop
    room: rooms.Room
    takeaways: list[service.Takeaway]
    may_record: bool  # facilitators of the room and moderators record takeaways
    regions: list[asyncpg.Record]


async def workshop(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                   workshop_id: uuid.UUID) -> WorkshopPage:
    found, room = await service.access_workshop(conn, actor, workshop_id)
    _same, takeaways = await service.list_takeaways(conn, keyring, actor, workshop_id)
    return WorkshopPage(found, room, takeaways,
                        actor.role == "moderator" or room.room_role == "facilitator",
                        await reference.list_regions(conn))


# --- the review queue -------------------------------------------------------------------------

@dataclass(frozen=True)
class QueuePage:
    items: list[asyncpg.Record]
    counts: dict[str, dict[str, int]]
    takeaways: dict[uuid.UUID, TakeawayChoice]
    lesson_titles: dict[uuid.UUID, str]
    regions: list[asyncpg.Record]


async def review_queue(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor, *,
                       state: str | None, kind: str | None, region: str | None,
                       assignee: uuid.UUID | None) -> QueuePage:
    items, counts = await queue.list_items(conn, actor, state=state, kind=kind, region=region,
                                           assignee=assignee)
    takeaway_ids = [row["takeaway_id"] for row in items if row["kind"] == "takeaway"]
    states = {row["takeaway_id"]: row["state"] for row in items if row["kind"] == "takeaway"}
    takeaways = {c.takeaway.id: c for c in await _takeaways(conn, keyring, actor, takeaway_ids,
                                                            states)}
    titles = ({row["id"]: row["title"] for row in await service.list_lessons(conn, actor)}
              if any(row["kind"] == "lesson" for row in items) else {})
    return QueuePage(items, counts, takeaways, titles, await reference.list_regions(conn))


# --- lessons ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LessonPage:
    lesson: service.Lesson
    warnings: list[service.LeakWarning]
    takeaways: list[TakeawayChoice]
    cases: list[CaseChoice]
    regions: list[asyncpg.Record]


async def lesson(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings, actor: Actor,
                 lesson_id: uuid.UUID) -> LessonPage:
    found = await service.get_lesson(conn, actor, lesson_id)
    warnings = await service.leak_warnings(conn, keyring, found)
    takeaways = await _takeaways(conn, keyring, actor, found.takeaway_ids, {})
    cases = [await _case(conn, keyring, settings, case_id) for case_id in found.case_ids]
    return LessonPage(found, warnings, takeaways, cases, await reference.list_regions(conn))


@dataclass(frozen=True)
class LessonForm:
    lesson: service.Lesson | None  # None: a new lesson
    takeaways: list[TakeawayChoice]
    cases: list[CaseChoice]
    regions: list[asyncpg.Record]


async def lesson_form(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                      actor: Actor, lesson_id: uuid.UUID | None = None) -> LessonForm:
    found = await service.get_lesson(conn, actor, lesson_id) if lesson_id else None
    takeaways = await takeaway_choices(conn, keyring, actor,
                                       keep=found.takeaway_ids if found else ())
    cases = await case_choices(conn, keyring, settings, actor,
                               keep=found.case_ids if found else ())
    return LessonForm(found, takeaways, cases, await reference.list_regions(conn))


# --- DIEF sessions ----------------------------------------------------------------------------

@dataclass(frozen=True)
class AgendaEntry:
    id: uuid.UUID
    item: service.BriefingItem
    target_id: uuid.UUID  # the lesson or the case


@dataclass(frozen=True)
class SessionPage:
    pack: service.Briefing
    agenda: list[AgendaEntry]
    lessons: list[asyncpg.Record]  # approved lessons not on this agenda yet
    cases: list[CaseChoice]  # published cases not on this agenda yet
    regions: list[asyncpg.Record]


async def session(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings, actor: Actor,
                  session_id: uuid.UUID) -> SessionPage:
    pack = await service.briefing(conn, keyring, settings, actor, session_id)
    rows = {row["position"]: row for row in await queries.list_agenda(conn, session_id)}
    agenda = [AgendaEntry(rows[item.position]["id"], item,
                          rows[item.position]["lesson_id"] or rows[item.position]["case_id"])
              for item in pack.items]
    on_agenda = {entry.target_id for entry in agenda}
    lessons = [row for row in await service.list_lessons(conn, actor, "approved")
               if row["id"] not in on_agenda]
    cases = [c for c in await case_choices(conn, keyring, settings, actor)
             if c.case_id not in on_agenda]
    return SessionPage(pack, agenda, lessons, cases, await reference.list_regions(conn))


# --- audit ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditPage:
    entries: list[asyncpg.Record]
    verify: audit.VerifyResult


async def audit_log(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                    filters: audit.AuditFilters | None) -> AuditPage:
    """The Secretariat (moderators and administrators) reads the audit log; ``filters`` None
    (they did not parse) shows no entries but still the chain's status."""
    if actor.role not in ("moderator", "admin"):
        raise ForbiddenError("Only the Secretariat reads the audit log")
    entries = await audit.search(conn, filters) if filters is not None else []
    return AuditPage(entries, await audit.verify(conn, keyring.audit_keys()))
