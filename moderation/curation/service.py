"""The lessons pipeline: workshops → takeaways → lessons → DIEF sessions → briefing pack.

* **Workshops** are regional or sub-regional events, each with its own ``workshop`` room.
  Facilitators (room role ``facilitator``) and moderators record **takeaways** — a risk, a
  mitigation practice, a region's challenge, a question for the DIEF — sealed under the room's
  key. Shareable takeaways enter the review queue.
* Moderators distil takeaways and published cases into a **lesson**. Before approval the service
  decrypts the linked cases' sensitive fields and warns when the lesson repeats any of them
  (``leak_warnings``); approving over a warning needs an explicit acknowledgement. With
  four-eyes on, a lesson is approved by a moderator other than its author.
* A **DIEF session** (Geneva by default) has an ordered agenda of approved lessons and published
  cases with presenter notes; its **briefing** lists each item with its region or "undisclosed",
  never a source, a linked case's sensitive field or who submitted anything.
* **Indicators** are computed from the data (never typed in).

Every action is in the audit chain with the moderator (or facilitator) as actor.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from forum.audit import service as audit
from forum.auth.service import Actor
from forum.cases import queries as case_queries
from forum.cases import service as cases
from forum.cases import vocabulary
from forum.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from forum.keyring import KeyRing
from forum.keystore import service as keystore
from forum.keystore.service import Sealed
from forum.reference import queries as reference_queries
from forum.rooms import service as rooms
from forum.settings import Settings
from forum.validation import check_text as _text
from moderation.curation import queries
from moderation.queue import service as queue

TAKEAWAY_KINDS = ("risk", "mitigation", "challenge", "question")
LESSON_TEXT_FIELDS = {"summary": 5000, "risk": 5000, "indicators": 5000, "mitigation": 5000,
                      "challenge": 5000}
MAX_TITLE = 200
MAX_TAKEAWAY = 5000
MAX_NOTES = 5000
MAX_PLACE = 200
MAX_SOURCES = 50
TAG_VOCABULARIES = ("item_categories", "diversion_methods", "actor_types", "red_flags")
# Sensitive case fields compared against a lesson before approval (the narrative is left out:
# the redacted, published version of it is what a lesson is expected to repeat).
LEAK_FIELDS = ("states_involved", "named_entities", "document_refs", "dates_places",
               "investigation_status", "item_model")
MIN_LEAK_LENGTH = 4


def _require_moderator(actor: Actor) -> None:
    if actor.role != "moderator":
        raise ForbiddenError("Only Secretariat moderators do this")


def _date(value: object, name: str) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationError("Give a date as YYYY-MM-DD", field=name, code=f"{name}_invalid")


async def _region(conn: asyncpg.Connection, value: object) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or await reference_queries.get_region(conn, value) is None:
        raise ValidationError("Unknown region", field="region", code="region_invalid")
    return value


def _ids(value: object, name: str) -> list[uuid.UUID]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_SOURCES:
        raise ValidationError("Too many items", field=name, code=f"{name}_invalid")
    try:
        return list(dict.fromkeys(uuid.UUID(str(item)) for item in items))
    except ValueError:
        raise ValidationError("Not an id", field=name, code=f"{name}_invalid") from None


# --- workshops and takeaways -----------------------------------------------------------------

@dataclass(frozen=True)
class Workshop:
    id: uuid.UUID
    title: str
    region_code: str | None
    place: str
    starts_on: dt.date
    ends_on: dt.date
    room_id: uuid.UUID
    room_slug: str
    officials_trained: int


def _workshop(row: asyncpg.Record) -> Workshop:
    return Workshop(row["id"], row["title"], row["region_code"], row["place"], row["starts_on"],
                    row["ends_on"], row["room_id"], row["room_slug"], row["officials_trained"])


async def create_workshop(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor, *,
                          slug: object, title: object, region: object, place: object,
                          starts_on: object, ends_on: object,
                          officials_trained: object = 0) -> Workshop:
    """A workshop and its ``workshop`` room; the creating moderator joins the room."""
    _require_moderator(actor)
    # The title is also the room's name: the rooms' limit, so the error names the title.
    title_ok = _text(title, "title", min(MAX_TITLE, rooms.MAX_ROOM_NAME))
    place_ok = _text(place, "place", MAX_PLACE, required=False)
    start, end = _date(starts_on, "starts_on"), _date(ends_on, "ends_on")
    if end < start:
        raise ValidationError("The workshop ends before it starts", field="ends_on",
                              code="ends_on_invalid")
    if not isinstance(officials_trained, int) or isinstance(officials_trained, bool) \
            or not 0 <= officials_trained <= 100_000:
        raise ValidationError("Officials trained is a whole number", field="officials_trained",
                              code="officials_trained_invalid")
    region_ok = await _region(conn, region)
    room = await rooms.create_room(conn, keyring, actor, slug=slug, kind="workshop",
                                   name=title_ok, description=place_ok, region=region_ok)
    await rooms.add_member(conn, keyring, actor, room.id, actor.user_id)
    workshop_id = uuid.uuid4()
    await queries.insert_workshop(conn, workshop_id, title_ok, region_ok, place_ok, start, end,
                                  room.id, officials_trained, actor.user_id)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                       action="workshop.create", target_type="workshop",
                       target_id=str(workshop_id), details={"room": str(room.id)})
    row = await queries.get_workshop(conn, workshop_id)
    assert row is not None
    return _workshop(row)


async def list_workshops(conn: asyncpg.Connection, actor: Actor) -> list[asyncpg.Record]:
    """Moderators see every workshop; others only those whose room they belong to."""
    rows = await queries.list_workshops(conn)
    if actor.role == "moderator":
        return rows
    mine = {room.id for room, _, _ in await rooms.list_my_rooms(conn, actor)}
    return [row for row in rows if row["room_id"] in mine]


async def access_workshop(conn: asyncpg.Connection, actor: Actor,
                          workshop_id: uuid.UUID) -> tuple[Workshop, rooms.Room]:
    """The workshop if the actor is a member of its room (moderators always are not: they
    manage, but read takeaways only as members, like any room) — 404 otherwise."""
    row = await queries.get_workshop(conn, workshop_id)
    if row is None:
        raise NotFoundError()
    room = await rooms.access_room(conn, actor, row["room_id"])
    return _workshop(row), room


async def set_officials_trained(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                                workshop_id: uuid.UUID, count: object) -> None:
    _require_moderator(actor)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 100_000:
        raise ValidationError("Officials trained is a whole number", field="officials_trained",
                              code="officials_trained_invalid")
    if await queries.get_workshop(conn, workshop_id) is None:
        raise NotFoundError()
    await queries.update_officials_trained(conn, workshop_id, count)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                       action="workshop.officials_trained", target_type="workshop",
                       target_id=str(workshop_id), details={"count": count})


@dataclass(frozen=True)
class Takeaway:
    id: uuid.UUID
    workshop_id: uuid.UUID
    kind: str
    body: str | None
    shareable: bool
    author_name: str | None
    created_at: dt.datetime


async def add_takeaway(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                       workshop_id: uuid.UUID, *, kind: object, body: object,
                       shareable: object = False) -> uuid.UUID:
    # Membership first (404 for outsiders, as every room-scoped rule), then the input.
    workshop, room = await access_workshop(conn, actor, workshop_id)
    if actor.role != "moderator" and room.room_role != "facilitator":
        raise ForbiddenError("Only the workshop's facilitators and moderators record takeaways")
    if kind not in TAKEAWAY_KINDS:
        raise ValidationError("Unknown kind of takeaway", detail="one of %(choices)s",
                              params={"choices": ", ".join(TAKEAWAY_KINDS)}, field="kind",
                              code="kind_invalid")
    assert isinstance(kind, str)
    text = _text(body, "body", MAX_TAKEAWAY)
    if not isinstance(shareable, bool):
        raise ValidationError("shareable is true or false", field="shareable",
                              code="shareable_invalid")
    dek = await keystore.current_key(conn, keyring.store, keystore.room_scope(room.id))
    takeaway_id = uuid.uuid4()
    await queries.insert_takeaway(conn, takeaway_id, workshop_id, kind,
                                  keystore.seal_text(dek, text, "takeaways", "body",
                                                     takeaway_id), shareable, actor.user_id)
    if shareable:
        await queue.enqueue(conn, "takeaway", takeaway_id, region_code=workshop.region_code)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                       action="takeaway.create", target_type="takeaway",
                       target_id=str(takeaway_id),
                       details={"workshop": str(workshop_id), "shareable": shareable})
    return takeaway_id


async def _open_takeaways(conn: asyncpg.Connection, keyring: KeyRing,
                          rows: Sequence[asyncpg.Record]) -> list[Takeaway]:
    texts = await keystore.open_texts(conn, keyring.store, [
        Sealed(bytes(r["body"]) if r["body"] else None, keystore.aad("takeaways", "body", r["id"]))
        for r in rows])
    return [Takeaway(r["id"], r["workshop_id"], r["kind"], text, r["shareable"],
                     r.get("author_name"), r.get("created_at") or dt.datetime.now(dt.UTC))
            for r, text in zip(rows, texts, strict=True)]


async def list_takeaways(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                         workshop_id: uuid.UUID) -> tuple[Workshop, list[Takeaway]]:
    workshop, _room = await access_workshop(conn, actor, workshop_id)
    return workshop, await _open_takeaways(conn, keyring,
                                           await queries.list_takeaways(conn, workshop_id))


async def shareable_takeaways(conn: asyncpg.Connection, keyring: KeyRing,
                              takeaway_ids: Sequence[uuid.UUID]) -> list[Takeaway]:
    """Takeaways a moderator may use in a lesson: shareable ones only (any workshop)."""
    rows = await queries.get_takeaways(conn, takeaway_ids)
    found = {row["id"] for row in rows if row["shareable"]}
    missing = [t for t in takeaway_ids if t not in found]
    if missing:
        raise ValidationError("Only shareable takeaways can be used in a lesson",
                              field="takeaways", code="takeaway_invalid")
    return await _open_takeaways(conn, keyring, rows)


# --- lessons ---------------------------------------------------------------------------------

async def _check_lesson(conn: asyncpg.Connection, data: dict[str, Any]) -> dict[str, object]:
    fields: dict[str, object] = {"title": _text(data.get("title"), "title", MAX_TITLE),
                                 "region_code": await _region(conn, data.get("region"))}
    for name, maximum in LESSON_TEXT_FIELDS.items():
        fields[name] = _text(data.get(name), name, maximum, required=name == "summary")
    tags = data.get("tags") or []
    allowed = {code for vocab in TAG_VOCABULARIES for code in vocabulary.MULTI[vocab]}
    if not isinstance(tags, list) or len(tags) > 30 or any(
            not isinstance(t, str) or t not in allowed for t in tags):
        raise ValidationError("Unknown tag", detail="tags come from the case vocabularies",
                              field="tags", code="tags_invalid")
    fields["tags"] = sorted(set(tags))
    return fields


async def _check_sources(conn: asyncpg.Connection, keyring: KeyRing, data: dict[str, Any]
                         ) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    takeaway_ids = _ids(data.get("takeaways"), "takeaways")
    case_ids = _ids(data.get("cases"), "cases")
    if takeaway_ids:
        await shareable_takeaways(conn, keyring, takeaway_ids)
    if case_ids and len(await queries.list_published_cases(conn, case_ids)) != len(case_ids):
        raise ValidationError("Only published cases can be used in a lesson", field="cases",
                              code="case_invalid")
    return takeaway_ids, case_ids


async def create_lesson(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                        data: dict[str, Any]) -> uuid.UUID:
    _require_moderator(actor)
    fields = await _check_lesson(conn, data)
    takeaway_ids, case_ids = await _check_sources(conn, keyring, data)
    lesson_id = uuid.uuid4()
    await queries.insert_lesson(conn, lesson_id, fields, actor.user_id)
    await queries.insert_sources(conn, lesson_id, takeaway_ids, case_ids)
    for takeaway_id in takeaway_ids:
        await queue.close_item(conn, "takeaway", takeaway_id, actor, "used_in_lesson")
    await queue.enqueue(conn, "lesson", lesson_id, region_code=fields["region_code"])  # type: ignore[arg-type]
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="lesson.create",
                       target_type="lesson", target_id=str(lesson_id),
                       details={"takeaways": len(takeaway_ids), "cases": len(case_ids)})
    return lesson_id


async def update_lesson(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                        lesson_id: uuid.UUID, data: dict[str, Any]) -> None:
    """Edit a lesson; it goes back to draft and needs approving again."""
    _require_moderator(actor)
    fields = await _check_lesson(conn, data)
    takeaway_ids, case_ids = await _check_sources(conn, keyring, data)
    row = await queries.lock_lesson(conn, lesson_id)
    if row is None:
        raise NotFoundError()
    if row["status"] == "presented":
        raise ConflictError("A presented lesson is part of the record; it cannot change",
                            code="lesson_presented")
    if row["status"] == "scheduled":
        # Editing sends a lesson back to draft: it would stay on an agenda unapproved.
        raise ConflictError("Take the lesson off the agenda before editing it",
                            code="lesson_scheduled")
    await queries.update_lesson(conn, lesson_id, fields, actor.user_id)
    await queries.delete_sources(conn, lesson_id)
    await queries.insert_sources(conn, lesson_id, takeaway_ids, case_ids)
    await queue.enqueue(conn, "lesson", lesson_id, region_code=fields["region_code"])  # type: ignore[arg-type]
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="lesson.update",
                       target_type="lesson", target_id=str(lesson_id))


@dataclass(frozen=True)
class Lesson:
    id: uuid.UUID
    title: str
    summary: str
    risk: str
    indicators: str
    mitigation: str
    challenge: str
    region_code: str | None
    tags: list[str]
    status: str
    created_by: uuid.UUID | None
    approved_by: uuid.UUID | None
    takeaway_ids: list[uuid.UUID] = field(default_factory=list)
    case_ids: list[uuid.UUID] = field(default_factory=list)


async def get_lesson(conn: asyncpg.Connection, actor: Actor, lesson_id: uuid.UUID) -> Lesson:
    _require_moderator(actor)
    row = await queries.get_lesson(conn, lesson_id)
    if row is None:
        raise NotFoundError()
    sources = await queries.list_sources(conn, lesson_id)
    return Lesson(row["id"], row["title"], row["summary"], row["risk"], row["indicators"],
                  row["mitigation"], row["challenge"], row["region_code"], list(row["tags"]),
                  row["status"], row["created_by"], row["approved_by"],
                  [s["takeaway_id"] for s in sources if s["takeaway_id"]],
                  [s["case_id"] for s in sources if s["case_id"]])


async def list_lessons(conn: asyncpg.Connection, actor: Actor,
                       status: str | None = None) -> list[asyncpg.Record]:
    _require_moderator(actor)
    if status is not None and status not in ("draft", "approved", "scheduled", "presented"):
        raise ValidationError("Unknown status", field="status", code="status_invalid")
    return await queries.list_lessons(conn, status)


def _normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


@dataclass(frozen=True)
class LeakWarning:
    case_id: uuid.UUID
    field: str
    value: str


async def leak_warnings(conn: asyncpg.Connection, keyring: KeyRing,
                        lesson: Lesson) -> list[LeakWarning]:
    """Sensitive values of the linked cases that the lesson's text repeats.

    Decrypt-and-compare inside the service: each line (or ';'-separated part) of the cases'
    sensitive fields, normalised (case, accents' compatibility forms, punctuation, spacing), is
    looked for in the normalised text of the lesson. Values whose case key was destroyed cannot
    be compared and are skipped.
    """
    haystack = " " + _normalise(" ".join([lesson.title, lesson.summary, lesson.risk,
                                          lesson.indicators, lesson.mitigation,
                                          lesson.challenge])) + " "
    warnings: list[LeakWarning] = []
    for case_id in lesson.case_ids:
        row = await case_queries.get_case(conn, case_id)
        if row is None:
            continue
        view = await cases.case_view(conn, keyring, row, released_only=True)
        for name in LEAK_FIELDS:
            text = view.sensitive.get(name) or ""
            for part in [p for line in text.splitlines() for p in line.split(";")]:
                needle = _normalise(part)
                if len(needle) >= MIN_LEAK_LENGTH and f" {needle} " in haystack:
                    warnings.append(LeakWarning(case_id, name, part.strip()))
    return warnings


async def approve_lesson(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                         actor: Actor, lesson_id: uuid.UUID, *,
                         acknowledge_warnings: bool = False) -> list[LeakWarning]:
    """Approve a draft. Refused (409, with the warnings) while the lesson repeats a linked
    case's sensitive value, unless the moderator acknowledges them."""
    _require_moderator(actor)
    row = await queries.lock_lesson(conn, lesson_id)
    if row is None:
        raise NotFoundError()
    if row["status"] != "draft":
        raise ConflictError("Only a draft can be approved", code="lesson_not_draft")
    # Four eyes: neither its author nor whoever last edited it approves a lesson.
    if settings.four_eyes and actor.user_id in (row["created_by"], row["edited_by"]):
        raise ConflictError("Another moderator must approve your lesson", code="four_eyes")
    lesson = await get_lesson(conn, actor, lesson_id)
    warnings = await leak_warnings(conn, keyring, lesson)
    if warnings and not acknowledge_warnings:
        raise ConflictError("The lesson repeats sensitive details of a linked case",
                            code="leak_warning",
                            warnings=[{"case_id": str(w.case_id), "field": w.field}
                                      for w in warnings])
    await queries.update_lesson_status(conn, lesson_id, "approved", actor.user_id)
    await queue.close_item(conn, "lesson", lesson_id, actor, "approved")
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="lesson.approve",
                       target_type="lesson", target_id=str(lesson_id),
                       details={"warnings_acknowledged": len(warnings)})
    return warnings


# --- DIEF sessions ---------------------------------------------------------------------------

async def create_session(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor, *,
                         title: object, held_on: object, place: object = "Geneva") -> uuid.UUID:
    _require_moderator(actor)
    title_ok = _text(title, "title", MAX_TITLE)
    day = _date(held_on, "held_on")
    place_ok = _text(place, "place", MAX_PLACE, required=False) or "Geneva"
    session_id = uuid.uuid4()
    await queries.insert_session(conn, session_id, title_ok, day, place_ok, actor.user_id)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                       action="dief_session.create", target_type="dief_session",
                       target_id=str(session_id))
    return session_id


async def _session(conn: asyncpg.Connection, session_id: uuid.UUID, *,
                   lock: bool = False) -> asyncpg.Record:
    row = await (queries.lock_session(conn, session_id) if lock
                 else queries.get_session(conn, session_id))
    if row is None:
        raise NotFoundError()
    return row


def _planned(session: asyncpg.Record) -> None:
    """A held session's agenda is part of the record: closed to every change."""
    if session["status"] != "planned":
        raise ConflictError("This session has been held; its agenda is closed",
                            code="session_held")


async def list_sessions(conn: asyncpg.Connection, actor: Actor) -> list[asyncpg.Record]:
    _require_moderator(actor)
    return await queries.list_sessions(conn)


async def add_to_agenda(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                        session_id: uuid.UUID, *, lesson: object = None, case: object = None,
                        notes: object = "") -> uuid.UUID:
    _require_moderator(actor)
    notes_ok = _text(notes, "notes", MAX_NOTES, required=False)
    lesson_ids, case_ids = _ids(lesson, "lesson"), _ids(case, "case")
    if len(lesson_ids) + len(case_ids) != 1:
        raise ValidationError("Add one lesson or one published case", field="lesson",
                              code="agenda_item_invalid")
    _planned(await _session(conn, session_id, lock=True))
    lesson_id = lesson_ids[0] if lesson_ids else None
    case_id = case_ids[0] if case_ids else None
    if lesson_id is not None:
        row = await queries.lock_lesson(conn, lesson_id)
        if row is None or row["status"] not in ("approved", "scheduled"):
            raise ValidationError("Only approved lessons go on an agenda", field="lesson",
                                  code="lesson_not_approved")
    elif case_id is not None and not await queries.list_published_cases(conn, [case_id]):
        raise ValidationError("Only published cases go on an agenda", field="case",
                              code="case_invalid")
    item_id = uuid.uuid4()
    await queries.insert_agenda_item(conn, item_id, session_id, lesson_id, case_id, notes_ok)
    if lesson_id is not None:
        await queries.update_lesson_status(conn, lesson_id, "scheduled")
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="agenda.add",
                       target_type="dief_session", target_id=str(session_id),
                       details={"lesson": str(lesson_id) if lesson_id else None,
                                "case": str(case_id) if case_id else None})
    return item_id


async def _agenda_item(conn: asyncpg.Connection, session_id: uuid.UUID,
                       item_id: uuid.UUID) -> asyncpg.Record:
    item = await queries.get_agenda_item(conn, item_id)
    if item is None or item["session_id"] != session_id:
        raise NotFoundError()
    return item


async def remove_from_agenda(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                             session_id: uuid.UUID, item_id: uuid.UUID) -> None:
    _require_moderator(actor)
    _planned(await _session(conn, session_id, lock=True))
    item = await _agenda_item(conn, session_id, item_id)
    await queries.delete_agenda_item(conn, item_id)
    remaining = await queries.list_agenda(conn, session_id)
    await queries.update_agenda_positions(conn, [(r["id"], i + 1)
                                                 for i, r in enumerate(remaining)])
    if item["lesson_id"] and not await queries.count_lesson_on_agendas(conn, item["lesson_id"]):
        await queries.update_lesson_status(conn, item["lesson_id"], "approved")
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="agenda.remove",
                       target_type="dief_session", target_id=str(session_id))


async def reorder_agenda(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                         session_id: uuid.UUID, order: object) -> list[uuid.UUID]:
    """Set the agenda order: ``order`` lists every item id of the session exactly once.
    Returns the new order."""
    _require_moderator(actor)
    ids = _ids(order, "order")
    _planned(await _session(conn, session_id, lock=True))
    current = await queries.list_agenda(conn, session_id)
    if sorted(ids) != sorted(r["id"] for r in current):
        raise ValidationError("List every agenda item exactly once", field="order",
                              code="order_invalid")
    await queries.update_agenda_positions(conn, [(item_id, i + 1)
                                                 for i, item_id in enumerate(ids)])
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                       action="agenda.reorder", target_type="dief_session",
                       target_id=str(session_id))
    return ids


async def move_agenda_item(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                           session_id: uuid.UUID, item_id: uuid.UUID, direction: str) -> None:
    """Move an item one place up or down (the no-JavaScript way to reorder)."""
    _require_moderator(actor)
    await _session(conn, session_id, lock=True)
    ids = [r["id"] for r in await queries.list_agenda(conn, session_id)]
    if item_id not in ids or direction not in ("up", "down"):
        raise NotFoundError()
    index = ids.index(item_id)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
        await reorder_agenda(conn, keyring, actor, session_id, [str(i) for i in ids])


async def set_presenter_notes(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                              session_id: uuid.UUID, item_id: uuid.UUID, notes: object) -> str:
    """Set an agenda item's presenter notes; returns them as stored."""
    _require_moderator(actor)
    notes_ok = _text(notes, "notes", MAX_NOTES, required=False)
    _planned(await _session(conn, session_id, lock=True))
    await _agenda_item(conn, session_id, item_id)
    await queries.update_agenda_notes(conn, item_id, notes_ok)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="agenda.notes",
                       target_type="dief_session", target_id=str(session_id))
    return notes_ok


async def mark_held(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                    session_id: uuid.UUID) -> None:
    """The session took place: its lessons count as presented."""
    _require_moderator(actor)
    session = await _session(conn, session_id, lock=True)
    if session["status"] == "held":
        return
    await queries.update_session_status(conn, session_id, "held")
    for item in await queries.list_agenda(conn, session_id):
        if item["lesson_id"]:
            await queries.update_lesson_status(conn, item["lesson_id"], "presented")
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                       action="dief_session.held", target_type="dief_session",
                       target_id=str(session_id))


# --- the briefing pack -----------------------------------------------------------------------

@dataclass(frozen=True)
class BriefingItem:
    position: int
    kind: str  # lesson | case
    title: str
    region: str | None  # disclosed region code, or None: "undisclosed" / cross-regional
    fields: dict[str, Any]
    presenter_notes: str


@dataclass(frozen=True)
class Briefing:
    id: uuid.UUID
    title: str
    held_on: dt.date
    place: str
    status: str
    items: list[BriefingItem]


async def briefing(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                   actor: Actor, session_id: uuid.UUID) -> Briefing:
    """What Geneva reads: lessons (their own fields) and published cases (their *published*,
    redacted fields only, read from the publication — never the case's original fields or
    anything about its source)."""
    _require_moderator(actor)
    session = await _session(conn, session_id)
    items: list[BriefingItem] = []
    for row in await queries.list_agenda(conn, session_id):
        if row["lesson_id"]:
            lesson = await queries.get_lesson(conn, row["lesson_id"])
            assert lesson is not None
            fields = {name: lesson[name] for name in ("summary", "risk", "indicators",
                                                      "mitigation", "challenge")}
            fields["tags"] = list(lesson["tags"])
            items.append(BriefingItem(row["position"], "lesson", lesson["title"],
                                      lesson["region_code"], fields, row["presenter_notes"]))
        else:
            published = await queue.publication_content(conn, keyring, settings, row["case_id"])
            content = dict(published.content or {})
            title = str(content.pop("title", "")) or "—"
            content.pop("attributed_state", None) if not content.get("attributed_state") \
                else None
            items.append(BriefingItem(row["position"], "case", title, published.region, content,
                                      row["presenter_notes"]))
    return Briefing(session["id"], session["title"], session["held_on"], session["place"],
                    session["status"], items)


# --- indicators ------------------------------------------------------------------------------

WORKSHOP_TARGET = 5
OFFICIALS_TARGET = 50


@dataclass(frozen=True)
class Indicators:
    workshops: int
    officials_trained: int
    cases_shared: int
    cases_published: int
    lessons_presented: int
    lessons_total: int
    monthly: list[tuple[dt.date, int, int]]  # (month, posts, active members)


async def indicators(conn: asyncpg.Connection, actor: Actor, *,
                     months: int = 12) -> Indicators:
    """Aggregates only — the Secretariat and the ``donor`` role may read them."""
    if actor.role not in ("moderator", "admin", "donor"):
        raise ForbiddenError("Only the Secretariat and donors see the indicators")
    counts = await queries.indicator_counts(conn)
    today = dt.datetime.now(dt.UTC).date().replace(day=1)
    start_month = (today.month - months) % 12 + 1
    start_year = today.year - (1 if start_month > today.month else 0) - (months - 1) // 12
    since = dt.date(start_year, start_month, 1)
    by_month = {row["month"]: (int(row["posts"]), int(row["members"]))
                for row in await queries.monthly_participation(conn, since)}
    series = []
    month = since
    while month <= today:
        posts, members = by_month.get(month, (0, 0))
        series.append((month, posts, members))
        month = (month.replace(year=month.year + 1, month=1) if month.month == 12
                 else month.replace(month=month.month + 1))
    return Indicators(int(counts["workshops"]), int(counts["officials_trained"]),
                      int(counts["cases_shared"]), int(counts["cases_published"]),
                      int(counts["lessons_presented"]), int(counts["lessons_total"]), series)
