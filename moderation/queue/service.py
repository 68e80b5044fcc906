"""The moderators' review queue for cases: batch release, claiming, questions, redaction,
approval, publication (four-eyes) and rejection.

* **Batches.** New cases and sources' answers are invisible to moderators until
  ``release_batch`` runs (every ``DIEF_CASE_BATCH_HOURS``, or ``dief cases release``). It puts
  them in the queue with a random sort key and the batch's time — never the submission time.
* **Claiming** is race-free: ``SELECT … FOR UPDATE SKIP LOCKED``; two moderators never get the
  same item. Questions, redaction, approval and rejection are done by the item's assignee.
* **Four-eyes** (``DIEF_FOUR_EYES``): publication needs a moderator other than the approver.
* **Audit.** Every moderator action is in the audit chain with the moderator as actor and the
  case as target — and nothing about the source, whose actions are never audited.
* **Encryption.** The redacted version and its diff against the original are sealed under the
  case's key; at publication the redacted version is re-sealed under the target room's key, so
  that destroying the original wording (the case key) leaves the publication readable.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import secrets
import uuid
from dataclasses import dataclass
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
from forum.rooms import service as rooms
from forum.settings import Settings
from forum.validation import check_text as _text
from moderation.queue import queries

MAX_TITLE = 200
MAX_QUESTION = 5_000
MAX_REASON = 2_000
REDACTED_FIELDS = ("title", *vocabulary.SENSITIVE_FIELDS)
SCOPE_ROOM_KINDS = {"dief_plenary": ("plenary",), "own_region": ("regional", "subregional"),
                    "working_group": ("working_group",)}
_random = secrets.SystemRandom()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def require_moderator(actor: Actor) -> None:
    if actor.role != "moderator":
        raise ForbiddenError("Only Secretariat moderators review cases")


@dataclass(frozen=True)
class ReleaseResult:
    cases: int
    answers: int
    released_at: dt.datetime


async def release_batch(conn: asyncpg.Connection, keyring: KeyRing) -> ReleaseResult:
    """Queue every pending case and deliver every pending answer, in random order."""
    now = _now()
    pending = await case_queries.list_pending_cases(conn)
    _random.shuffle(pending)
    if pending:
        await case_queries.update_released(conn, pending, now)
    for case_id in pending:
        item_id = uuid.uuid4()
        await queries.insert_item(conn, item_id, "case", case_id, _random.random(), now)
        await queries.insert_history(conn, item_id, None, "released", None, now)
    answers = await case_queries.list_unreleased_answers(conn)
    if answers:
        await case_queries.update_messages_released(conn, [a["id"] for a in answers], now)
    for case_id in sorted({a["case_id"] for a in answers}, key=lambda _: _random.random()):
        item = await queries.lock_item_for_case(conn, case_id)
        case = await case_queries.lock_case(conn, case_id)
        if item is None or case is None:
            continue
        if case["status"] == "needs_information":
            await case_queries.update_status(conn, case_id, "in_review")
        if item["state"] in ("waiting", "done") and case["status"] not in (
                "withdrawn", "published", "rejected"):
            await queries.update_item(conn, item["id"], "open", None, now)
        await queries.insert_history(conn, item["id"], None, "source_answered", None, now)
    if pending or answers:
        await audit.record(conn, keyring.audit_key, actor_id=None, action="cases.release",
                           details={"cases": len(pending), "answers": len(answers)})
    return ReleaseResult(len(pending), len(answers), now)


async def close_case_item(conn: asyncpg.Connection, case_id: uuid.UUID, action: str,
                          at: dt.datetime) -> None:
    """Close a case's queue item (e.g. withdrawn by the source; ``at`` is then a date)."""
    item = await queries.lock_item_for_case(conn, case_id)
    if item is not None:
        await queries.update_item(conn, item["id"], "done", None, at)
        await queries.insert_history(conn, item["id"], None, action, None, at)


# --- reading the queue -----------------------------------------------------------------------

async def list_queue(conn: asyncpg.Connection, actor: Actor, *, state: str | None = None,
                     kind: str | None = None,
                     limit: int = 200) -> tuple[list[asyncpg.Record], dict[str, int]]:
    """The cases' items only (``/api/v1/moderation/queue``, whose items are case-shaped);
    ``list_items`` has every kind."""
    require_moderator(actor)
    if state is not None and state not in ("open", "claimed", "waiting", "done"):
        raise ValidationError("Unknown state", field="state", code="state_invalid")
    if kind is not None and kind != "case":
        raise ValidationError("Unknown item type", field="kind", code="kind_invalid")
    return (await queries.list_items(conn, state, "case", max(1, min(limit, 500))),
            await queries.count_by_state(conn, "case"))


@dataclass(frozen=True)
class Correlation:
    case_id: uuid.UUID
    field: str
    shared: int


@dataclass(frozen=True)
class ModeratorCase:
    case: cases.CaseView
    item: asyncpg.Record | None
    history: list[asyncpg.Record]
    redaction: dict[str, str] | None
    redaction_diff: str | None
    editor_name: str | None
    approver_id: uuid.UUID | None
    approver_name: str | None
    correlations: list[Correlation]
    disclosed_region: str | None
    publication: asyncpg.Record | None


async def _released_case(conn: asyncpg.Connection, case_id: uuid.UUID, *,
                         lock: bool = False) -> asyncpg.Record:
    row = await (case_queries.lock_case(conn, case_id) if lock
                 else case_queries.get_case(conn, case_id))
    # Not released yet (pending, or withdrawn before its batch): moderators can't see it.
    if row is None or row["released_at"] is None:
        raise NotFoundError()
    return row


async def case_for_moderator(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                             actor: Actor, case_id: uuid.UUID) -> ModeratorCase:
    require_moderator(actor)
    row = await _released_case(conn, case_id)
    view = await cases.case_view(conn, keyring, row, released_only=True)
    item = await queries.get_item_for_case(conn, case_id)
    history = await queries.list_history(conn, item["id"]) if item else []
    redaction_row = await queries.get_redaction(conn, case_id)
    redaction = diff = None
    if redaction_row is not None:
        content, diff = await keystore.open_texts(conn, keyring.store, [
            Sealed(bytes(redaction_row["content"]),
                   keystore.aad("case_redactions", "content", case_id)),
            Sealed(bytes(redaction_row["diff"]) if redaction_row["diff"] else None,
                   keystore.aad("case_redactions", "diff", case_id))])
        redaction = json.loads(content) if content else None
    correlations = [Correlation(r["case_id"], r["field"], int(r["shared"]))
                    for r in await case_queries.list_correlations(conn, case_id)]
    return ModeratorCase(
        view, item, history, redaction, diff,
        redaction_row["editor_name"] if redaction_row else None,
        redaction_row["approved_by"] if redaction_row else None,
        redaction_row["approver_name"] if redaction_row else None,
        correlations, await cases.disclosed_region(conn, settings, row["region_code"]),
        await queries.get_publication(conn, case_id))


# --- acting on an item -----------------------------------------------------------------------

async def claim(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                case_id: uuid.UUID | None = None) -> uuid.UUID | None:
    """Claim the given case's item, or the next open one; returns the case id (None: queue
    empty). Someone else's claim in progress is skipped, never waited for."""
    require_moderator(actor)
    if case_id is None:
        item = await queries.claim_next_open(conn)
        if item is None:
            return None
    else:
        current = await queries.get_item_for_case(conn, case_id)
        if current is None:
            raise NotFoundError()
        item = await queries.claim_item(conn, current["id"])
        if item is None:
            raise ConflictError("Another moderator has this item, or it is not open",
                                code="item_not_open")
    now = _now()
    await queries.update_item(conn, item["id"], "claimed", actor.user_id, now)
    await queries.insert_history(conn, item["id"], actor.user_id, "claimed", None, now)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="case.claim",
                       target_type="case", target_id=str(item["case_id"]))
    return uuid.UUID(str(item["case_id"]))


async def _assigned(conn: asyncpg.Connection, actor: Actor,
                    case_id: uuid.UUID) -> tuple[asyncpg.Record, asyncpg.Record]:
    require_moderator(actor)
    row = await _released_case(conn, case_id, lock=True)
    item = await queries.lock_item_for_case(conn, case_id)
    if item is None:
        raise NotFoundError()
    if item["state"] != "claimed" or item["assignee_id"] != actor.user_id:
        raise ConflictError("Claim this case first", code="not_claimed")
    return row, item


async def ask(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor, case_id: uuid.UUID,
              question: object) -> None:
    """Ask the source a question; the case waits as 'needs information' until the answer is
    released in a batch."""
    require_moderator(actor)  # the role first: nothing about the input or the case before it
    text = _text(question, "question", MAX_QUESTION)
    row, item = await _assigned(conn, actor, case_id)
    if row["status"] not in ("in_review", "needs_information"):
        raise ConflictError("This case is not in review", code="case_not_in_review")
    now = _now()
    message_id = uuid.uuid4()
    dek = await keystore.current_key(conn, keyring.store, cases.case_scope(case_id),
                                     created_at=cases.day_start(now.date()))
    await case_queries.insert_message(conn, message_id, case_id, "moderator", actor.user_id,
                                      keystore.seal_text(dek, text, "case_messages", "body",
                                                         message_id), now.date(), now)
    await case_queries.update_status(conn, case_id, "needs_information")
    await queries.update_item(conn, item["id"], "waiting", None, now)
    await queries.insert_history(conn, item["id"], actor.user_id, "asked", None, now)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="case.ask",
                       target_type="case", target_id=str(case_id))


def check_redaction(fields: object) -> dict[str, str]:
    if not isinstance(fields, dict):
        raise ValidationError("The redacted version is an object of fields", field="fields",
                              code="fields_invalid")
    unknown = set(fields) - set(REDACTED_FIELDS)
    if unknown:
        raise ValidationError("Unknown field", detail="unknown: %(names)s",
                              params={"names": ", ".join(sorted(unknown))}, field="fields",
                              code="fields_invalid")
    result = {"title": _text(fields.get("title"), "title", MAX_TITLE),
              "narrative": _text(fields.get("narrative"), "narrative", cases.MAX_NARRATIVE)}
    for name in vocabulary.SENSITIVE_FIELDS:
        if name != "narrative":
            result[name] = _text(fields.get(name), name, cases.MAX_FIELD, required=False)
    return result


def _diff(original: dict[str, str | None], redacted: dict[str, str]) -> str:
    lines: list[str] = []
    for name in vocabulary.SENSITIVE_FIELDS:
        before = (original.get(name) or "").splitlines()
        after = (redacted.get(name) or "").splitlines()
        lines += difflib.unified_diff(before, after, f"original/{name}", f"redacted/{name}",
                                      lineterm="")
    return "\n".join(lines)


async def redact(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor, case_id: uuid.UUID,
                 fields: object) -> None:
    """Save the redacted version (every field editable); a diff against the original is kept.
    Saving again withdraws an earlier approval."""
    require_moderator(actor)
    redacted = check_redaction(fields)
    row, item = await _assigned(conn, actor, case_id)
    if row["status"] not in ("in_review", "needs_information", "approved"):
        raise ConflictError("This case is not in review", code="case_not_in_review")
    view = await cases.case_view(conn, keyring, row, released_only=True)
    now = _now()
    dek = await keystore.current_key(conn, keyring.store, cases.case_scope(case_id),
                                     created_at=cases.day_start(now.date()))
    await queries.upsert_redaction(
        conn, case_id,
        keystore.seal_text(dek, json.dumps(redacted, ensure_ascii=False), "case_redactions",
                           "content", case_id),
        keystore.seal_text(dek, _diff(view.sensitive, redacted), "case_redactions", "diff",
                           case_id),
        actor.user_id, now)
    if row["status"] == "approved":
        await case_queries.update_status(conn, case_id, "in_review")
    await queries.insert_history(conn, item["id"], actor.user_id, "redacted", None, now)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="case.redact",
                       target_type="case", target_id=str(case_id))


async def approve(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                  case_id: uuid.UUID) -> None:
    row, item = await _assigned(conn, actor, case_id)
    if row["status"] != "in_review":
        raise ConflictError("Only a case in review can be approved", code="case_not_in_review")
    if await queries.get_redaction(conn, case_id) is None:
        raise ConflictError("Write the redacted version first", code="redaction_missing")
    now = _now()
    await queries.update_redaction_approved(conn, case_id, actor.user_id)
    await case_queries.update_status(conn, case_id, "approved")
    # Open again for a second moderator to publish — unless the source shared it with the
    # Secretariat only: then approval is the end of the road and the item is done.
    done = row["sharing_scope"] == "secretariat"
    await queries.update_item(conn, item["id"], "done" if done else "open",
                              actor.user_id if done else None, now)
    await queries.insert_history(conn, item["id"], actor.user_id, "approved", None, now)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="case.approve",
                       target_type="case", target_id=str(case_id))


async def reject(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor, case_id: uuid.UUID,
                 reason: object) -> None:
    require_moderator(actor)
    text = _text(reason, "reason", MAX_REASON)
    row, item = await _assigned(conn, actor, case_id)
    if row["status"] not in ("in_review", "needs_information", "approved"):
        raise ConflictError("This case cannot be rejected now", code="case_not_in_review")
    now = _now()
    await case_queries.update_rejected(conn, case_id, text)
    await queries.update_item(conn, item["id"], "done", actor.user_id, now)
    await queries.insert_history(conn, item["id"], actor.user_id, "rejected", text, now)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="case.reject",
                       target_type="case", target_id=str(case_id))


def _publication_markdown(case_id: uuid.UUID, content: dict[str, Any]) -> str:
    """The first post of a published case's discussion thread (with a link to the case's
    structured page, which members of the room can open)."""
    lines = [content["narrative"], ""]
    labels = vocabulary.SENSITIVE_FIELDS
    for name in vocabulary.SENSITIVE_FIELDS:
        if name != "narrative" and content.get(name):
            lines += [f"**{labels[name]}**", "", content[name], ""]
    lines.append("_Published by the ATT Secretariat from an anonymous submission._ "
                 f"[The structured case](/cases/{case_id})")
    return "\n".join(lines)


async def publish(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings, actor: Actor,
                  case_id: uuid.UUID, room_ref: object) -> uuid.UUID:
    """Publish the approved, redacted case into a room that fits its sharing scope; returns
    the discussion thread's id."""
    require_moderator(actor)
    if not isinstance(room_ref, str) or not room_ref:
        raise ValidationError("Choose the room", field="room", code="room_missing")
    row = await _released_case(conn, case_id, lock=True)
    if row["status"] != "approved":
        raise ConflictError("Only an approved case can be published", code="case_not_approved")
    redaction_row = await queries.get_redaction(conn, case_id)
    assert redaction_row is not None
    if settings.four_eyes and redaction_row["approved_by"] == actor.user_id:
        raise ConflictError("Another moderator must publish what you approved",
                            code="four_eyes")
    kinds = SCOPE_ROOM_KINDS.get(row["sharing_scope"])
    if kinds is None:
        raise ConflictError("The source shared this case with the Secretariat only",
                            code="secretariat_only")
    room = await rooms.access_room_management(conn, actor, room_ref)
    if room.kind not in kinds or room.archived or (
            row["sharing_scope"] == "own_region" and room.region_code != row["region_code"]):
        raise ValidationError("This room does not match the case's sharing scope",
                              field="room", code="room_mismatch")
    [content_text] = await keystore.open_texts(conn, keyring.store, [
        Sealed(bytes(redaction_row["content"]),
               keystore.aad("case_redactions", "content", case_id))])
    if content_text is None:
        raise ConflictError("The redacted version is no longer readable",
                            code="redaction_destroyed")
    redacted = json.loads(content_text)
    content = {**redacted,
               **{name: row[name] for name in ("detection_status", "item_categories",
                                               "transfer_stage", "diversion_methods",
                                               "actor_types", "red_flags", "detection_channel",
                                               "response_measures", "region_code", "period",
                                               "quantity_band", "transport_mode")},
               "attributed_state": (row["attributed_state"] or "").strip() or None}
    markdown = _publication_markdown(case_id, redacted)
    if len(markdown) > rooms.MAX_BODY:
        raise ValidationError("The redacted version is too long for its discussion thread",
                              detail="at most %(maximum)s characters in all; shorten it",
                              params={"maximum": rooms.MAX_BODY}, field="fields",
                              code="publication_too_long")
    thread_id = await rooms.unsafe_create_secretariat_thread(
        conn, keyring.store, room.id, redacted["title"], markdown)
    room_key = await keystore.current_key(conn, keyring.store, keystore.room_scope(room.id))
    now = _now()
    await queries.insert_publication(
        conn, case_id, room.id, thread_id,
        keystore.seal_text(room_key, json.dumps(content, ensure_ascii=False),
                           "case_publications", "content", case_id),
        actor.user_id, now.date())
    await case_queries.update_status(conn, case_id, "published")
    item = await queries.lock_item_for_case(conn, case_id)
    if item is not None:
        await queries.update_item(conn, item["id"], "done", actor.user_id, now)
        await queries.insert_history(conn, item["id"], actor.user_id, "published", None, now)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="case.publish",
                       target_type="case", target_id=str(case_id),
                       details={"room": str(room.id)})
    return thread_id


# --- the published case, for the members of its room -----------------------------------------

@dataclass(frozen=True)
class PublishedCase:
    case_id: uuid.UUID
    room: rooms.Room
    thread_id: uuid.UUID
    published_on: dt.date
    content: dict[str, Any] | None  # None: the room's key was destroyed
    region: str | None  # disclosed region, or None for "undisclosed"


async def published_case(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                         actor: Actor, case_id: uuid.UUID) -> PublishedCase:
    row = await queries.get_publication(conn, case_id)
    if row is None:
        raise NotFoundError()
    room = await rooms.access_room(conn, actor, row["room_id"])
    [text] = await keystore.open_texts(conn, keyring.store, [
        Sealed(bytes(row["content"]), keystore.aad("case_publications", "content", case_id))])
    content = json.loads(text) if text else None
    # The raw region never leaves the service: readers get it only when disclosed (k States).
    region_code = content.pop("region_code", None) if content else None
    region = await cases.disclosed_region(conn, settings, region_code)
    return PublishedCase(case_id, room, row["thread_id"], row["published_on"], content, region)


# --- items of every kind: flagged posts, takeaways, lessons -----------------------------------

ITEM_KINDS = ("case", "flag", "takeaway", "lesson")
AUTO_HIDE_REASON = "Hidden pending review."


async def enqueue(conn: asyncpg.Connection, kind: str, target_id: uuid.UUID, *,
                  region_code: str | None = None) -> uuid.UUID:
    """Put a flagged post, a shareable takeaway or a lesson awaiting approval in the queue
    (open), in arrival order — these come from identified people, so no batching is needed."""
    if kind not in ("flag", "takeaway", "lesson"):
        raise ValueError(f"{kind} items are not enqueued directly")
    now = _now()
    item_id = await queries.upsert_open_item(conn, kind, target_id, region_code,
                                             now.timestamp(), now)
    await queries.insert_history(conn, item_id, None, "queued", None, now)
    return item_id


async def close_item(conn: asyncpg.Connection, kind: str, target_id: uuid.UUID,
                     actor: Actor | None, action: str) -> None:
    item = await queries.lock_item(conn, kind, target_id)
    if item is not None and item["state"] != "done":
        now = _now()
        await queries.update_item(conn, item["id"], "done",
                                  actor.user_id if actor else None, now)
        await queries.insert_history(conn, item["id"], actor.user_id if actor else None,
                                     action, None, now)


async def list_items(conn: asyncpg.Connection, actor: Actor, *, state: str | None = None,
                     kind: str | None = None, region: str | None = None,
                     assignee: uuid.UUID | None = None,
                     limit: int = 200) -> tuple[list[asyncpg.Record], dict[str, dict[str, int]]]:
    """The queue with filters, and counts per type and state."""
    require_moderator(actor)
    if state is not None and state not in ("open", "claimed", "waiting", "done"):
        raise ValidationError("Unknown state", field="state", code="state_invalid")
    if kind is not None and kind not in ITEM_KINDS:
        raise ValidationError("Unknown item type", field="kind", code="kind_invalid")
    if region is not None and "\x00" in region:  # PostgreSQL text cannot hold it
        raise ValidationError("Unknown region", field="region", code="region_invalid")
    counts: dict[str, dict[str, int]] = {}
    for row in await queries.count_by_kind_and_state(conn):
        counts.setdefault(row["kind"], {})[row["state"]] = int(row["n"])
    return (await queries.list_items_filtered(conn, state, kind, region, assignee,
                                              max(1, min(limit, 500))), counts)


async def claim_item(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                     item_id: uuid.UUID) -> asyncpg.Record:
    """Claim any open item; exactly one of two concurrent claims succeeds (SKIP LOCKED)."""
    require_moderator(actor)
    if await queries.get_item(conn, item_id) is None:
        raise NotFoundError()
    item = await queries.claim_item(conn, item_id)
    if item is None:
        raise ConflictError("Another moderator has this item, or it is not open",
                            code="item_not_open")
    now = _now()
    await queries.update_item(conn, item_id, "claimed", actor.user_id, now)
    await queries.insert_history(conn, item_id, actor.user_id, "claimed", None, now)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="review.claim",
                       target_type=item["kind"], target_id=str(item_id))
    fresh = await queries.get_item(conn, item_id)
    assert fresh is not None
    return fresh


async def item_history(conn: asyncpg.Connection, actor: Actor,
                       item_id: uuid.UUID) -> list[asyncpg.Record]:
    require_moderator(actor)
    if await queries.get_item(conn, item_id) is None:
        raise NotFoundError()
    return await queries.list_history(conn, item_id)


async def flag_filed(conn: asyncpg.Connection, settings: Settings, post_id: uuid.UUID,
                     region_code: str | None) -> bool:
    """A member flagged a post: queue it, and hide it pending review once it has
    ``DIEF_FLAG_HIDE_THRESHOLD`` open flags (0: never). Returns True if it was hidden now."""
    await enqueue(conn, "flag", post_id, region_code=region_code)
    threshold = settings.flag_hide_threshold
    if threshold and await queries.count_open_flags(conn, post_id) >= threshold:
        await queries.update_post_hidden(conn, post_id, AUTO_HIDE_REASON)
        return True
    return False


@dataclass(frozen=True)
class FlaggedPost:
    post: rooms.PostView | None
    flags: list[dict[str, Any]]


async def flagged_post(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                       post_id: uuid.UUID) -> FlaggedPost:
    """A flagged post with its open flags, for moderators — whether or not they are members
    of its room: reviewing what members flagged is the Secretariat's job."""
    require_moderator(actor)
    if await queries.lock_item(conn, "flag", post_id) is None:
        raise NotFoundError()
    post = await rooms.unsafe_get_post_for_review(conn, keyring.store, post_id)
    flags = []
    rows = await queries.list_open_flags(conn, post_id)
    notes = await keystore.open_texts(conn, keyring.store, [
        Sealed(bytes(r["note"]) if r["note"] else None, keystore.aad("post_flags", "note",
                                                                   r["id"])) for r in rows])
    for row, note in zip(rows, notes, strict=True):
        flags.append({"reason": row["reason"], "note": note, "by": row["flagger_name"],
                      "at": row["created_at"]})
    return FlaggedPost(post, flags)


async def moderate_flag(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                        post_id: uuid.UUID, action: str, reason: object = None) -> None:
    """``hide`` (with a reason shown to members), ``restore`` or ``dismiss`` a flagged post."""
    require_moderator(actor)
    if action not in ("hide", "restore", "dismiss"):
        raise ValidationError("Unknown action", field="action", code="action_invalid")
    reason_ok = _text(reason, "reason", 500) if action == "hide" else None
    item = await queries.lock_item(conn, "flag", post_id)
    if item is None:
        raise NotFoundError()
    post = await rooms.unsafe_get_post_for_review(conn, keyring.store, post_id)
    now = _now()
    if action == "hide":
        await queries.update_post_hidden(conn, post_id, reason_ok)
    elif action == "restore" or (action == "dismiss" and post is not None
                                 and post.hidden_reason == AUTO_HIDE_REASON):
        # Dismissing the flags of a post the threshold hid also shows it again.
        await queries.update_post_hidden(conn, post_id, None)
    await queries.resolve_flags(conn, post_id)
    await queries.update_item(conn, item["id"], "done", actor.user_id, now)
    await queries.insert_history(conn, item["id"], actor.user_id, action, reason_ok, now)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                       action=f"post.{action}", target_type="post", target_id=str(post_id))


async def dismiss_takeaway(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                           takeaway_id: uuid.UUID) -> None:
    require_moderator(actor)
    if await queries.lock_item(conn, "takeaway", takeaway_id) is None:
        raise NotFoundError()
    await close_item(conn, "takeaway", takeaway_id, actor, "dismissed")
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                       action="takeaway.dismiss", target_type="takeaway",
                       target_id=str(takeaway_id))


async def publication_content(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                              case_id: uuid.UUID) -> PublishedCase:
    """A published case's public content for the briefing — without the room membership
    check of ``published_case``: callers are moderators building a DIEF agenda."""
    row = await queries.get_publication(conn, case_id)
    if row is None:
        raise NotFoundError()
    [text] = await keystore.open_texts(conn, keyring.store, [
        Sealed(bytes(row["content"]), keystore.aad("case_publications", "content", case_id))])
    content = json.loads(text) if text else None
    region_code = content.pop("region_code", None) if content else None
    region = await cases.disclosed_region(conn, settings, region_code)
    return PublishedCase(case_id, await rooms.unsafe_room(conn, row["room_id"]), row["thread_id"],
                         row["published_on"], content, region)
