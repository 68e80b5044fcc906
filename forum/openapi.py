"""The OpenAPI 3.1 description of ``/api/v1/``, served at ``/api/v1/openapi.json``.

Written by hand, next to the handlers, and kept honest by tests (tests/test_openapi.py): the
document must validate, describe exactly the ``/api/v1/`` routes of the router (both ways), and
survive a property-based run against the real app in which every response must have a
documented status and match its documented body.

Reading guide: small schema helpers first, then the component schemas (the JSON shapes of
``forum/auth/api.py``, ``forum/rooms/api.py``, ``forum/cases/api.py``,
``moderation/queue/api.py`` and ``moderation/curation/api.py``), then one ``_Paths.add`` call
per route, in the order of the handlers' ``setup_routes``. Limits come from the services (the
few written inline there are named below, next to the enumerations) and the cases'
enumerations from ``forum/cases/vocabulary.py``, so the document cannot drift from the rules it
describes.
Error responses are inferred from the pipeline: every route can answer 401 (public ones to an
invalid Bearer token), every unsafe method 403 (cross-site, or a cookie session without its
CSRF token), every JSON body 413/415/422; each route adds the errors of its own service.
"""

from __future__ import annotations

import re
from typing import Any

from crypto import receipts
from forum.audit import service as audit
from forum.auth import passwords
from forum.auth import service as auth
from forum.cases import service as cases
from forum.cases import vocabulary
from forum.rooms import service as rooms
from moderation.curation import service as curation
from moderation.queue import service as queue

Schema = dict[str, Any]

# forum.rooms.service._SLUG; tests/test_openapi.py pins the two together.
SLUG_PATTERN = "^[a-z0-9][a-z0-9-]{1,62}$"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The CHECK constraints of migrations/0003_create_cases.sql (tests/test_openapi.py pins them),
# and the actions moderation/queue writes to an item's history.
CASE_STATUSES = ("pending", "in_review", "needs_information", "approved", "published",
                 "rejected", "withdrawn")
ITEM_STATES = ("open", "claimed", "waiting", "done")
HISTORY_ACTIONS = ("released", "source_answered", "claimed", "asked", "redacted", "approved",
                   "rejected", "published", "withdrawn_by_source")
PERIOD_PATTERN = "^[0-9]{4}(-Q[1-4])?$"
FORM_TOKEN_PATTERN = f"^{cases.FORM_TOKEN.pattern}$"
# The lessons pipeline: CHECK constraints of migrations/0004_create_lessons.sql (pinned by the
# tests), and what moderation/queue and moderation/curation write to a general item's history.
LESSON_STATUSES = ("draft", "approved", "scheduled", "presented")
SESSION_STATUSES = ("planned", "held")
ITEM_HISTORY_ACTIONS = (*HISTORY_ACTIONS, "queued", "used_in_lesson", "dismissed", "hide",
                        "restore", "dismiss")
FLAG_ACTIONS = ("hide", "restore", "dismiss")
# Limits written inline in the services (moderation/curation/service.py ``_check_lesson`` and
# ``create_workshop``, moderation/queue/service.py ``moderate_flag``, forum/audit/service.py
# ``parse_filters``).
MAX_TAGS = 30
MAX_OFFICIALS = 100_000
MAX_HIDE_REASON = 500
MAX_AUDIT_ACTOR = 254
MAX_AUDIT_ACTION = 64
ISO3_PATTERN = "^[A-Z]{3}$"
# A receipt as issued (display form), and as it may be typed back: any case, dashes optional,
# I and 1 read as L (crypto/receipts.py ``normalise_receipt``; it also accepts spaces, other
# dashes and full-width forms, which this pattern leaves out).
_GROUPS = receipts.LENGTH // receipts.GROUP
_ISSUED = f"[{receipts.ALPHABET}]{{{receipts.GROUP}}}"
RECEIPT_PATTERN = f"^{_ISSUED}(-{_ISSUED}){{{_GROUPS - 1}}}$"
_TYPED = "[{}]{{{}}}".format(
    "".join(sorted(set(receipts.ALPHABET + receipts.ALPHABET.lower() + "Ii1"))),
    receipts.GROUP)
TYPED_RECEIPT_PATTERN = f"^{_TYPED}(-?{_TYPED}){{{_GROUPS - 1}}}$"


# --- schema helpers --------------------------------------------------------------------------

def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def string(max_length: int | None = None, *, min_length: int | None = None,
           **keywords: Any) -> Schema:
    schema: Schema = {"type": "string", **keywords}
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def integer(minimum: int | None = None, maximum: int | None = None, **keywords: Any) -> Schema:
    schema: Schema = {"type": "integer", **keywords}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def nullable(schema: Schema) -> Schema:
    """The same schema, also allowing ``null`` (JSON Schema 2020-12 type lists)."""
    result = dict(schema)
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
    if "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def obj(properties: dict[str, Schema], required: list[str] | None = None, *,
        closed: bool = False) -> Schema:
    """An object. ``closed``: a response shape that names every member it has and requires
    them all, so that a member added or dropped in a handler fails the tests."""
    schema: Schema = {"type": "object", "properties": properties}
    if closed:
        schema["required"] = list(properties)
        schema["additionalProperties"] = False
    elif required:
        schema["required"] = required
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


BOOL: Schema = {"type": "boolean"}
UUID = string(format="uuid")
DATE = string(format="date")
DATE_TIME = string(format="date-time")
COUNT = integer(0)
TEXT = string()


# --- component schemas -----------------------------------------------------------------------

def _room_properties() -> dict[str, Schema]:
    return {
        "id": UUID, "slug": string(pattern=SLUG_PATTERN),
        "kind": {"enum": list(rooms.KINDS)}, "name": string(rooms.MAX_ROOM_NAME),
        "description": string(rooms.MAX_DESCRIPTION), "region": nullable(TEXT),
        "parent_id": nullable(UUID), "confidential": BOOL,
        "archived": {"type": "boolean", "description": "Archived rooms are read-only"},
        "my_role": {"enum": ["member", "facilitator", None],
                    "description": "Your role in the room; null when you are not a member"},
    }


def _thread_properties() -> dict[str, Schema]:
    return {
        "id": UUID, "room_id": UUID,
        "title": nullable(string(rooms.MAX_TITLE)) | {
            "description": "null when the room's key was destroyed"},
        "title_destroyed": BOOL, "author": nullable(TEXT), "pinned": BOOL, "locked": BOOL,
        "post_count": COUNT, "unread": COUNT, "created_at": DATE_TIME,
        "last_post_at": DATE_TIME,
    }


# Single-valued case attributes that are never null (NOT NULL columns, or defaulted).
_ALWAYS_SET = frozenset({"transfer_stage", "sharing_scope", "attribution"})
# The analytic attributes copied into a published case (moderation/queue ``publish``).
PUBLISHED_ANALYTIC = ("detection_status", "item_categories", "transfer_stage",
                      "diversion_methods", "actor_types", "red_flags", "detection_channel",
                      "response_measures", "period", "quantity_band", "transport_mode",
                      "attributed_state")
DISPLAY_NAME = string(auth.MAX_DISPLAY_NAME)


def choice(name: str) -> Schema:
    """One code of a single-valued case vocabulary."""
    return {"enum": list(vocabulary.SINGLE[name])}


def choices(name: str) -> Schema:
    """Codes of a multi-valued case vocabulary (repeats are accepted, and dropped)."""
    codes = list(vocabulary.MULTI[name])
    return array({"enum": codes}) | {"maxItems": len(codes)}


def _text_limit(name: str) -> int:
    return cases.MAX_NARRATIVE if name == "narrative" else cases.MAX_FIELD


def _analytic_properties() -> dict[str, Schema]:
    """A case's analytic attributes (stored in clear), as the handlers return them."""
    properties: dict[str, Schema] = {
        name: choice(name) if name in _ALWAYS_SET else nullable(choice(name))
        for name in vocabulary.SINGLE}
    properties |= {name: choices(name) | {"uniqueItems": True, "description": "Sorted"}
                   for name in vocabulary.MULTI}
    properties |= {
        "attributed_state": nullable(string(pattern=ISO3_PATTERN)) | {
            "description": "The submitting State; only when attribution is `attributed`"},
        "region_code": nullable(TEXT) | {"description": "The region the source chose"},
        "period": nullable(string(pattern=PERIOD_PATTERN)),
    }
    return properties


def _case_properties() -> dict[str, Schema]:
    """``forum.cases.service.to_json``: the case as its source (with the receipt) sees it."""
    return {
        "id": UUID, "status": {"enum": list(CASE_STATUSES)}, "submitted_on": DATE,
        **_analytic_properties(),
        "fields": ref("CaseFields"), "original_destroyed": BOOL,
        "reject_reason": nullable(string(queue.MAX_REASON)),
        "messages": array(ref("CaseMessage")),
    }


def _redacted_properties() -> dict[str, Schema]:
    """The moderators' redacted version: every field present (empty ones as "")."""
    return {name: string(queue.MAX_TITLE if name == "title" else _text_limit(name),
                         min_length=1 if name in ("title", "narrative") else None)
            for name in queue.REDACTED_FIELDS}


def _new_case() -> Schema:
    properties: dict[str, Schema] = {
        name: choice(name) if name == "transfer_stage" else nullable(choice(name))
        for name in vocabulary.SINGLE}
    properties["sharing_scope"] |= {"description": "Who may read it once published "
                                                   "(default: secretariat, never published)"}
    properties["attribution"] |= {"description": "Default: anonymous"}
    properties |= {name: nullable(choices(name)) for name in vocabulary.MULTI}
    properties |= {
        "region": nullable(string(description="A region code; required when sharing_scope "
                                              "is own_region")),
        "period": nullable(string(pattern=PERIOD_PATTERN, description=(
            "A year or a quarter (YYYY or YYYY-Qn, 1990 to this year), never a day"))),
        "form_token": nullable(string(100, pattern=FORM_TOKEN_PATTERN, description=(
            "Optional: a random token of the client's choosing (e.g. 18 random bytes in "
            "base64url), the same for every retry of one case. A second submission with a "
            "token already used is refused (409 case_already_submitted) instead of sharing "
            "the case twice; only a keyed hash of it is stored, with the date"))),
    }
    properties |= {name: string(cases.MAX_NARRATIVE, min_length=1) if name == "narrative"
                   else nullable(string(cases.MAX_FIELD))
                   for name in vocabulary.SENSITIVE_FIELDS}
    return obj(properties, ["transfer_stage", "narrative"])


def _case_schemas() -> dict[str, Schema]:
    analytic = _analytic_properties()
    vocabularies = {**vocabulary.SINGLE, **vocabulary.MULTI}
    return {
        "NewCase": _new_case(),
        "Submission": obj({
            "id": UUID,
            "receipt": string(pattern=RECEIPT_PATTERN, description=(
                "The only link to the case; shown once, never stored in clear")),
            "status": {"const": "pending"}, "warning": TEXT}, closed=True),
        "CaseFields": obj({name: nullable(string(_text_limit(name)))
                           for name in vocabulary.SENSITIVE_FIELDS}, closed=True) | {
            "description": "The sensitive free-text fields; null when empty, or once the "
                           "original wording was destroyed"},
        "CaseMessage": obj({
            "seq": integer(1), "from": {"enum": ["source", "moderator"]},
            "moderator": nullable(DISPLAY_NAME) | {
                "description": "The asking moderator's name; null for the source's messages"},
            "body": nullable(string(max(cases.MAX_MESSAGE, queue.MAX_QUESTION))) | {
                "description": "null once the original wording was destroyed"},
            "sent_on": DATE,
            "delivered": {"type": "boolean", "description": "Moderators have it (the source's "
                                                            "messages wait for a batch)"}},
            closed=True),
        "Case": obj(_case_properties(), closed=True),
        "ModeratorCase": obj({
            **_case_properties(),
            "region_disclosed": nullable(TEXT) | {
                "description": "region_code, only when enough States share it to be shown"},
            "item": nullable(obj({"id": UUID, "state": {"enum": list(ITEM_STATES)},
                                  "assignee_id": nullable(UUID)}, closed=True)),
            "history": array(obj({"action": {"enum": list(HISTORY_ACTIONS)},
                                  "actor": nullable(DISPLAY_NAME),
                                  "note": nullable(string(queue.MAX_REASON)),
                                  "at": DATE_TIME}, closed=True)),
            "redaction": nullable(obj(_redacted_properties(), closed=True)) | {
                "description": "null until written, or once the original wording was "
                               "destroyed"},
            "redaction_diff": nullable(TEXT) | {"description": "Unified diff, original → "
                                                               "redacted"},
            "approved_by": nullable(DISPLAY_NAME),
            "correlations": array(obj({
                "case_id": UUID, "field": {"enum": list(vocabulary.INDEXED_FIELDS)},
                "shared": integer(1)}, closed=True)) | {
                "description": "Other cases naming the same entities or documents"},
            "publication": nullable(obj({"room_id": UUID, "thread_id": UUID}, closed=True)),
        }, closed=True),
        "QueueItem": obj({
            "id": UUID, "kind": {"enum": ["case"]}, "case_id": UUID,
            "state": {"enum": list(ITEM_STATES)}, "assignee": nullable(DISPLAY_NAME),
            "case_status": {"enum": list(CASE_STATUSES)},
            "transfer_stage": choice("transfer_stage"),
            "released_at": string(format="date-time", description="The batch's release "
                                                                  "time, not the submission's")},
            closed=True),
        "PublishedCase": obj({
            "id": UUID, "room_id": UUID, "thread_id": UUID, "published_on": DATE,
            "region": nullable(TEXT) | {"description": "Only when enough States share it"},
            "destroyed": {"type": "boolean", "description": "The room's key was destroyed"},
            "content": nullable(obj({**_redacted_properties(),
                                     **{name: analytic[name] for name in PUBLISHED_ANALYTIC}},
                                    closed=True)) | {
                "description": "The redacted case; null once the room's key was destroyed"}},
            closed=True),
        "Vocabularies": obj({
            name: array(obj({"code": {"enum": list(codes)}, "label": TEXT}, closed=True))
            for name, codes in vocabularies.items()}, closed=True),
    }


def _schemas() -> dict[str, Schema]:
    token = {"id": UUID, "name": string(auth.MAX_TOKEN_NAME), "created_at": DATE_TIME,
             "last_used_at": nullable(DATE_TIME)}
    return {
        "Problem": {
            **obj({"type": string(format="uri"), "title": TEXT,
                   "status": integer(400, 599), "detail": TEXT,
                   "code": string(pattern="^[a-z0-9_]+$",
                                  description="Stable machine-readable error code"),
                   "field": string(description="The input the error is about"),
                   "max_length": integer(1, description="The limit a too-long input broke"),
                   "status_now": {"enum": list(CASE_STATUSES),
                                  "description": "The case's status (conflicts about cases)"},
                   "warnings": array(obj({
                       "case_id": UUID, "field": {"enum": list(curation.LEAK_FIELDS)}},
                       closed=True)) | {
                       "description": "`leak_warning`: the linked cases' sensitive fields the "
                                      "lesson repeats (the values are in the lesson's own "
                                      "`warnings`)"}},
                  ["type", "title", "status", "code"]),
            "description": "RFC 9457 problem details",
        },
        "Me": obj({"id": UUID, "email": string(auth.MAX_EMAIL),
                   "display_name": string(auth.MAX_DISPLAY_NAME),
                   "role": {"enum": list(auth.ROLES)}, "state": nullable(TEXT),
                   "language": {"enum": ["en", "fr", "es", None]},
                   "second_factor_passed": BOOL, "totp_enrolled": BOOL}, closed=True),
        "Token": obj(token, closed=True),
        "NewToken": obj({**token, "token": string(
            description="The secret; shown only in this response")}, closed=True),
        "Invitation": obj({"id": UUID, "email": string(auth.MAX_EMAIL),
                           "role": {"enum": list(auth.ROLES)}, "state": nullable(TEXT),
                           "token": TEXT, "expires_at": DATE_TIME, "url": TEXT}, closed=True),
        "Room": obj(_room_properties(), closed=True),
        "RoomSummary": obj({**_room_properties(), "thread_count": COUNT, "unread": COUNT},
                           closed=True),
        "Member": obj({"user_id": UUID, "display_name": string(auth.MAX_DISPLAY_NAME),
                       "role": {"enum": list(auth.ROLES)},
                       "state": nullable(string(pattern="^[A-Z]{3}$")),
                       "room_role": {"enum": ["member", "facilitator"]}}, closed=True),
        "Thread": obj(_thread_properties(), closed=True),
        "ThreadWithRoom": obj({**_thread_properties(), "room": ref("Room")}, closed=True),
        "ThreadWithPosts": obj({**_thread_properties(), "posts": array(ref("Post"))},
                               closed=True),
        "Post": obj({
            "id": UUID, "thread_id": UUID, "seq": integer(1), "author_id": nullable(UUID),
            "author": nullable(TEXT),
            "body": nullable(string(rooms.MAX_BODY)) | {
                "description": "Markdown; null when deleted, hidden or destroyed"},
            "html": nullable(TEXT) | {"description": "Sanitised HTML rendering of body"},
            "quote_of": nullable(UUID), "created_at": DATE_TIME,
            "edited_at": nullable(DATE_TIME), "deleted": BOOL, "hidden": BOOL,
            "hidden_reason": nullable(TEXT) | {
                "description": "Why the moderators hid the post (shown to members)"},
            "destroyed": BOOL, "revision_count": COUNT}, closed=True),
        "Revision": obj({"revision": integer(1), "body": nullable(string(rooms.MAX_BODY)),
                         "editor": nullable(TEXT), "created_at": DATE_TIME}, closed=True),
        **_case_schemas(),
        **_curation_schemas(),
    }


# The workshop's title is also its room's name (single line, the rooms' limit).
WORKSHOP_TITLE = min(curation.MAX_TITLE, rooms.MAX_ROOM_NAME)
LESSON_TAGS = sorted({code for name in curation.TAG_VOCABULARIES
                      for code in vocabulary.MULTI[name]})


def _lesson_text_properties() -> dict[str, Schema]:
    """A lesson's texts as stored: trimmed, empty optional ones as ""."""
    return {name: string(maximum, min_length=1 if name == "summary" else None)
            for name, maximum in curation.LESSON_TEXT_FIELDS.items()}


def _curation_schemas() -> dict[str, Schema]:
    tags = array({"enum": LESSON_TAGS}) | {"uniqueItems": True, "maxItems": MAX_TAGS,
                                            "description": "Sorted"}
    lesson_fields = obj({**_lesson_text_properties(), "tags": tags}, closed=True)
    published = {**{name: schema for name, schema in _redacted_properties().items()
                    if name != "title"},
                 **{name: _analytic_properties()[name] for name in PUBLISHED_ANALYTIC}}
    case_fields = obj(published) | {
        "required": [name for name in published if name != "attributed_state"],
        "additionalProperties": False,
        "description": "The published, redacted case without its title (attributed_state "
                       "only when set)"}
    agenda_common = {"position": integer(1), "region": nullable(TEXT),
                     "presenter_notes": string(curation.MAX_NOTES)}
    return {
        "Workshop": obj({
            "id": UUID, "title": string(WORKSHOP_TITLE, min_length=1),
            "region_code": nullable(TEXT), "place": string(curation.MAX_PLACE),
            "starts_on": DATE, "ends_on": DATE,
            "officials_trained": integer(0, MAX_OFFICIALS), "room_id": UUID,
            "room_slug": string(pattern=SLUG_PATTERN) | {
                "description": "The workshop's room (kind `workshop`)"}}, closed=True),
        "Takeaway": obj({
            "id": UUID, "workshop_id": UUID, "kind": {"enum": list(curation.TAKEAWAY_KINDS)},
            "body": nullable(string(curation.MAX_TAKEAWAY, min_length=1)) | {
                "description": "null when the workshop room's key was destroyed"},
            "shareable": {"type": "boolean", "description": "Moderators may use it in a "
                                                            "lesson"},
            "author": nullable(DISPLAY_NAME), "created_at": DATE_TIME}, closed=True),
        "LessonSummary": obj({
            "id": UUID, "title": string(curation.MAX_TITLE, min_length=1),
            "status": {"enum": list(LESSON_STATUSES)},
            "region_code": nullable(TEXT) | {"description": "null: cross-regional"},
            "tags": tags, "updated_at": DATE_TIME}, closed=True),
        "LeakWarning": obj({
            "case_id": UUID, "field": {"enum": list(curation.LEAK_FIELDS)},
            "value": string(min_length=1, description="The repeated sensitive value")},
            closed=True),
        "Lesson": obj({
            "id": UUID, "title": string(curation.MAX_TITLE, min_length=1),
            **_lesson_text_properties(),
            "region_code": nullable(TEXT) | {"description": "null: cross-regional"},
            "tags": tags, "status": {"enum": list(LESSON_STATUSES)},
            "takeaways": array(UUID) | {"maxItems": curation.MAX_SOURCES},
            "cases": array(UUID) | {"maxItems": curation.MAX_SOURCES},
            "warnings": array(ref("LeakWarning")) | {
                "description": "Sensitive values of the linked cases that the lesson repeats "
                               "(after approval: those acknowledged)"}}, closed=True),
        "DiefSession": obj({
            "id": UUID, "title": string(curation.MAX_TITLE, min_length=1), "held_on": DATE,
            "place": string(curation.MAX_PLACE, min_length=1),
            "status": {"enum": list(SESSION_STATUSES)},
            "items": COUNT | {"description": "Agenda items"}}, closed=True),
        "Briefing": obj({
            "id": UUID, "title": string(curation.MAX_TITLE, min_length=1), "held_on": DATE,
            "place": string(curation.MAX_PLACE, min_length=1),
            "status": {"enum": list(SESSION_STATUSES)},
            "agenda": array({"anyOf": [
                obj({**agenda_common, "kind": {"const": "lesson"},
                     "title": string(curation.MAX_TITLE, min_length=1),
                     "fields": lesson_fields}, closed=True) | {
                    "description": "A lesson; region null: cross-regional"},
                obj({**agenda_common, "kind": {"const": "case"},
                     "title": string(queue.MAX_TITLE, min_length=1) | {
                         "description": "The published title; — once unreadable"},
                     "fields": {"anyOf": [case_fields, {
                         "type": "object", "maxProperties": 0,
                         "description": "The publication's room key was destroyed"}]}},
                    closed=True) | {
                    "description": "A published case; region null: undisclosed"}]}) | {
                "description": "In order; never a source, a linked case's sensitive field "
                               "or who submitted anything"}}, closed=True),
        "Indicators": obj({
            "workshops": COUNT, "workshops_target": integer(0, const=curation.WORKSHOP_TARGET),
            "officials_trained": COUNT,
            "officials_target": integer(0, const=curation.OFFICIALS_TARGET),
            "cases_shared": COUNT | {"description": "Released to the moderators"},
            "cases_published": COUNT, "lessons_presented": COUNT, "lessons_total": COUNT,
            "monthly": array(obj({"month": string(pattern="^[0-9]{4}-(0[1-9]|1[0-2])$"),
                                  "posts": COUNT, "active_members": COUNT}, closed=True)) | {
                "minItems": 12, "maxItems": 12,
                "description": "The last 12 months (UTC), oldest first"}}, closed=True),
        "AuditLog": obj({
            "verify": obj({"ok": BOOL, "checked": COUNT | {"description": "Entries checked"},
                           "problem": nullable(TEXT) | {"description": "The first entry that "
                                                                       "does not check out"},
                           "head": string(pattern="^[0-9]+:[0-9a-f]{64}$", description=(
                               "SEQ:MAC of the last good entry, to keep off the host"))},
                          closed=True),
            "entries": array(obj({
                "seq": integer(1), "at": DATE_TIME,
                "actor": nullable(string(auth.MAX_EMAIL)) | {
                    "description": "The actor's email; null for the system"},
                "action": TEXT, "target_type": TEXT, "target_id": TEXT,
                "details": {"type": "object"}}, closed=True)) | {
                "maxItems": audit.AuditFilters.limit, "description": "Newest first"}},
            closed=True),
        "ReviewItem": obj({
            "id": UUID, "kind": {"enum": list(queue.ITEM_KINDS)},
            "target_id": UUID | {"description": "The case, flagged post, takeaway or lesson"},
            "state": {"enum": list(ITEM_STATES)},
            "region_code": nullable(TEXT), "assignee": nullable(DISPLAY_NAME),
            "released_at": DATE_TIME}, closed=True),
        "FlaggedPost": obj({
            "post": nullable(obj({
                "id": UUID, "thread_id": UUID, "author": nullable(TEXT),
                "body": nullable(string(rooms.MAX_BODY)) | {
                    "description": "Markdown, hidden text included; null when deleted or "
                                   "destroyed"},
                "html": nullable(TEXT), "hidden": BOOL,
                "hidden_reason": nullable(TEXT)}, closed=True)) | {
                "description": "null if the post is gone"},
            "flags": array(obj({
                "reason": {"enum": list(rooms.FLAG_REASONS)},
                "note": nullable(string(rooms.MAX_FLAG_NOTE)),
                "by": nullable(DISPLAY_NAME), "at": DATE_TIME}, closed=True)) | {
                "description": "The open flags"}}, closed=True),
    }


# --- responses -------------------------------------------------------------------------------

_ERRORS = {
    401: ("AuthRequired", "Not signed in, token invalid, or second factor missing"),
    403: ("Forbidden", "Not allowed (role), or a cross-site / CSRF-less unsafe request"),
    404: ("NotFound", "Not found — also for what exists but is not yours to see"),
    409: ("Conflict", "Conflicts with the current state (see code)"),
    413: ("PayloadTooLarge", "The request body is too large"),
    415: ("UnsupportedMediaType", "The body is not application/json"),
    422: ("Invalid", "Invalid input (see code and field)"),
    429: ("RateLimited", "Too many requests; retry after Retry-After seconds"),
}


def _error_components() -> dict[str, Schema]:
    components = {}
    for status, (name, description) in _ERRORS.items():
        response: Schema = {"description": description, "content": {
            "application/problem+json": {"schema": {"allOf": [
                ref("Problem"), {"properties": {"status": {"const": status}}}]}}}}
        if status == 429:
            response["headers"] = {"Retry-After": {
                "required": True, "description": "Seconds to wait",
                "schema": string(pattern="^[0-9]+$")}}
        components[name] = response
    return components


def json_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def empty(description: str) -> Schema:
    return {"description": description}


# --- parameters ------------------------------------------------------------------------------

PATH_PARAMETERS: dict[str, Schema] = {
    "room": {"description": "The room's id or slug",
             "schema": {"type": "string", "anyOf": [UUID, string(pattern=SLUG_PATTERN)]}},
    "user_id": {"description": "The member's user id", "schema": UUID},
    "thread": {"description": "The thread's id", "schema": UUID},
    "post": {"description": "The post's id", "schema": UUID},
    "token_id": {"description": "The token's id", "schema": UUID},
    "token": {"description": "The invitation token from the link",
              "schema": string(100, min_length=20)},
    "case": {"description": "The case's id", "schema": UUID},
    "workshop": {"description": "The workshop's id", "schema": UUID},
    "lesson": {"description": "The lesson's id", "schema": UUID},
    "session": {"description": "The DIEF session's id", "schema": UUID},
    "item": {"description": "The item's id: an agenda item (under a DIEF session) or a review "
                            "item (under moderation/items)", "schema": UUID},
    "flagged": {"description": "The flagged post's id", "schema": UUID},
    "takeaway": {"description": "The takeaway's id", "schema": UUID},
}


def query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def limit_parameter(default: int) -> Schema:
    return query("limit", integer(0, 100, default=default),
                 f"Page size, at most 100 (0 or absent: {default})")


# --- operations ------------------------------------------------------------------------------

class _Paths:
    """Collects operations into an OpenAPI ``paths`` object."""

    def __init__(self) -> None:
        self.paths: dict[str, dict[str, Any]] = {}
        self.tag = ""

    def add(self, method: str, path: str, name: str, summary: str,
            responses: dict[int, Schema], *, errors: tuple[int, ...] = (),
            body: Schema | None = None, body_required: bool = True,
            parameters: tuple[Schema, ...] = (), public: bool = False,
            description: str | None = None) -> None:
        """One operation. ``errors`` lists what its service can answer beyond what the
        pipeline adds on its own (see the module docstring)."""
        statuses = set(errors) | {401}  # even public routes refuse an invalid Bearer token
        if method in UNSAFE_METHODS:
            statuses.add(403)
        if body is not None:
            statuses |= {413, 415, 422}
        operation: Schema = {
            "operationId": name, "summary": summary, "tags": [self.tag],
            "responses": {
                **{str(status): response for status, response in sorted(responses.items())},
                **{str(status): {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
                   for status in sorted(statuses)}},
        }
        if description:
            operation["description"] = description
        if parameters:
            operation["parameters"] = list(parameters)
        if body is not None:
            operation["requestBody"] = {"required": body_required,
                                        "content": {"application/json": {"schema": body}}}
        if public:
            operation["security"] = []
        item = self.paths.setdefault(path, {})
        if "parameters" not in item and "{" in path:
            item["parameters"] = [{"name": param, "in": "path", "required": True,
                                   **PATH_PARAMETERS[param]}
                                  for param in re.findall(r"\{(\w+)\}", path)]
        item[method.lower()] = operation


def _auth_paths(p: _Paths) -> None:
    p.tag = "accounts"
    me = ref("Me")
    p.add("POST", "/api/v1/session", "api.session_create",
          "Sign in with a password and, for a full session, a TOTP or recovery code",
          {201: json_response("Signed in (second_factor_passed says whether fully)",
                              obj({"user": me, "csrf_token": TEXT}, closed=True))},
          body=obj({"email": string(auth.MAX_EMAIL, min_length=1),
                    "password": string(4096, min_length=1),
                    "totp": nullable(string(description="TOTP or recovery code"))},
                   ["email", "password"]),
          errors=(429,), public=True)
    p.add("DELETE", "/api/v1/session", "api.session_delete", "Sign out",
          {204: empty("Signed out")})
    p.add("GET", "/api/v1/me", "api.me", "The signed-in account",
          {200: json_response("Account", me)})
    p.add("POST", "/api/v1/me/totp", "api.totp_start",
          "Start TOTP enrolment; re-authentication may be required",
          {201: json_response("Pending secret", obj({"secret": TEXT, "otpauth_uri": TEXT},
                                                    closed=True))},
          body=obj({"password": nullable(TEXT), "current_code": nullable(TEXT)}),
          body_required=False)
    p.add("POST", "/api/v1/me/totp/confirm", "api.totp_confirm",
          "Confirm TOTP enrolment with a code; returns recovery codes",
          {200: json_response("Enrolled", obj(
              {"recovery_codes": array(TEXT),
               "csrf_token": string(description="The new session's token (cookie sessions)")},
              ["recovery_codes"]))},
          body=obj({"code": string(min_length=1)}, ["code"]), errors=(409,))
    p.add("POST", "/api/v1/invitations", "api.invitation_create",
          "Invite someone (administrators)",
          {201: json_response("Invitation", ref("Invitation"))},
          body=obj({"email": string(auth.MAX_EMAIL, min_length=1),
                    "role": {"enum": list(auth.ROLES)},
                    "state": nullable(string(description="ISO 3166-1 alpha-3; required for "
                                                         "delegates"))},
                   ["email", "role"]),
          errors=(409,))
    p.add("POST", "/api/v1/invitations/{token}/accept", "api.invitation_accept",
          "Accept an invitation: choose a display name and password",
          {201: json_response("Account created", obj({"user_id": UUID}, closed=True))},
          body=obj({"display_name": string(auth.MAX_DISPLAY_NAME, min_length=1),
                    "password": string(passwords.MAX_LENGTH,
                                       min_length=passwords.MIN_LENGTH)},
                   ["display_name", "password"]),
          errors=(404, 409), public=True)
    p.add("GET", "/api/v1/tokens", "api.tokens_list", "Your personal access tokens",
          {200: json_response("Tokens", obj({"tokens": array(ref("Token"))}, closed=True))})
    p.add("POST", "/api/v1/tokens", "api.tokens_create",
          f"Create a personal access token (at most {auth.MAX_TOKENS_PER_USER}; shown once)",
          {201: json_response("Token", ref("NewToken"))},
          body=obj({"name": string(auth.MAX_TOKEN_NAME, min_length=1)}, ["name"]),
          errors=(409,))
    p.add("DELETE", "/api/v1/tokens/{token_id}", "api.tokens_delete",
          "Revoke a personal access token", {204: empty("Revoked")}, errors=(404,))
    p.add("GET", "/api/v1/openapi.json", "api.openapi", "This document",
          {200: json_response("OpenAPI 3.1", {"type": "object"})}, public=True)


def _rooms_paths(p: _Paths) -> None:
    p.tag = "rooms"
    room_role = {"enum": ["member", "facilitator"]}
    p.add("GET", "/api/v1/rooms", "api.rooms_list",
          "Your rooms, with thread counts and unread posts",
          {200: json_response("Rooms", obj({"rooms": array(ref("RoomSummary"))},
                                           closed=True))})
    p.add("POST", "/api/v1/rooms", "api.rooms_create", "Create a room (Secretariat)",
          {201: json_response("Room (you are not a member until you add yourself)",
                              ref("Room"))},
          body=obj({"slug": string(rooms.MAX_SLUG, pattern=SLUG_PATTERN),
                    "kind": {"enum": list(rooms.KINDS)},
                    "name": string(rooms.MAX_ROOM_NAME, min_length=1),
                    "description": nullable(string(rooms.MAX_DESCRIPTION)),
                    "region": nullable(string(description="A region code")),
                    "parent": nullable(string(description="Parent working group's id or "
                                                          "slug (working groups only)"))},
                   ["slug", "kind", "name"]),
          errors=(409,))
    p.add("GET", "/api/v1/rooms/{room}", "api.room_show", "A room you are a member of",
          {200: json_response("Room", ref("Room"))}, errors=(404,))
    p.add("GET", "/api/v1/rooms/{room}/members", "api.members_list", "The room's members",
          {200: json_response("Members", obj({"members": array(ref("Member"))},
                                             closed=True))},
          errors=(404,))
    membership = obj({"user_id": UUID, "room_role": room_role}, closed=True)
    p.add("PUT", "/api/v1/rooms/{room}/members/{user_id}", "api.member_put",
          "Add a member or change their room role (Secretariat; a workshop's facilitators "
          "add participants)",
          {200: json_response("Already a member with this role", membership),
           201: json_response("Added, or role changed", membership)},
          body=obj({"room_role": room_role | {"default": "member"}}), body_required=False,
          errors=(404, 409))
    p.add("DELETE", "/api/v1/rooms/{room}/members/{user_id}", "api.member_delete",
          "Remove a member", {204: empty("Removed")}, errors=(404,))
    p.add("GET", "/api/v1/rooms/{room}/threads", "api.threads_list",
          "The room's threads: pinned first, then by last activity (keyset pages)",
          {200: json_response("A page of threads", obj(
              {"threads": array(ref("Thread")),
               "next": nullable(string(description="Cursor for `after`; null on the last "
                                                   "page"))}, closed=True))},
          parameters=(
              query("after", string(80, pattern=r"^[01]-[0-9]{1,17}-[0-9a-f-]{36}$"),
                    "The `next` cursor of the previous page"),
              limit_parameter(rooms.THREADS_PER_PAGE)),
          errors=(404, 422))
    p.add("POST", "/api/v1/rooms/{room}/threads", "api.threads_create",
          "Start a thread with its first post",
          {201: json_response("The thread with its first post", ref("ThreadWithPosts"))},
          body=obj({"title": string(rooms.MAX_TITLE, min_length=1),
                    "body": string(rooms.MAX_BODY, min_length=1,
                                   description="Markdown (raw HTML is not rendered)")},
                   ["title", "body"]),
          errors=(404, 409, 429))


def _posts_paths(p: _Paths) -> None:
    p.tag = "threads and posts"
    post = ref("Post")
    body = string(rooms.MAX_BODY, min_length=1, description="Markdown")
    p.add("GET", "/api/v1/threads/{thread}", "api.thread_show", "A thread and its room",
          {200: json_response("Thread", ref("ThreadWithRoom"))}, errors=(404,))
    p.add("GET", "/api/v1/threads/{thread}/posts", "api.posts_list",
          "The thread's posts in order (keyset pages by seq)",
          {200: json_response("A page of posts", obj(
              {"posts": array(post),
               "next": nullable(integer(1, description="Value for `after`; null on the last "
                                                       "page"))}, closed=True))},
          parameters=(query("after", integer(0, 2**31 - 1, default=0),
                            "Only posts with a greater seq"),
                      limit_parameter(rooms.POSTS_PER_PAGE)),
          errors=(404, 422))
    p.add("POST", "/api/v1/threads/{thread}/posts", "api.posts_create", "Reply in a thread",
          {201: json_response("The new post", post)},
          body=obj({"body": body, "quote_of": nullable(UUID | {
              "description": "A post of the same thread"})}, ["body"]),
          errors=(404, 409, 429))
    p.add("PATCH", "/api/v1/posts/{post}", "api.post_patch",
          "Edit your post (the previous text becomes a revision)",
          {200: json_response("The edited post", post)},
          body=obj({"body": body}, ["body"]), errors=(404, 409))
    p.add("DELETE", "/api/v1/posts/{post}", "api.post_delete",
          "Delete a post, leaving a placeholder (author, Secretariat or facilitator)",
          {204: empty("Deleted (or already deleted)")}, errors=(404, 409))
    p.add("GET", "/api/v1/posts/{post}/revisions", "api.revisions_list",
          "Earlier versions of a post",
          {200: json_response("Revisions, oldest first", obj(
              {"revisions": array(ref("Revision"))}, closed=True))},
          errors=(404,))
    flagged = obj({"flagged": {"const": True}, "new": BOOL}, closed=True)
    p.add("POST", "/api/v1/posts/{post}/flags", "api.flags_create",
          "Flag a post for the moderators",
          {200: json_response("You had already flagged it", flagged),
           201: json_response("Flagged", flagged)},
          body=obj({"reason": {"enum": list(rooms.FLAG_REASONS)},
                    "note": nullable(string(rooms.MAX_FLAG_NOTE))}, ["reason"]),
          errors=(404, 409))


_RECEIPT_RULES = (
    "The receipt goes in the body (`receipt`) or the X-Case-Receipt header, never in a URL. "
    "The session is read but not written, so nothing records when its user followed up. "
    f"Wrong receipts are counted per client address: after {cases.RECEIPT_FAILURES_PER_HOUR} "
    "in an hour, every receipt is refused (429, Retry-After) until the hour has passed.")


def _cases_paths(p: _Paths) -> None:
    p.tag = "cases"
    receipt = string(100, pattern=TYPED_RECEIPT_PATTERN, description=(
        "The receipt shown at submission; case-insensitive, dashes optional"))
    header = {"name": "X-Case-Receipt", "in": "header", "required": False,
              "description": "The receipt, when the body does not carry it",
              "schema": string(100, pattern=TYPED_RECEIPT_PATTERN)}
    receipt_only = obj({"receipt": receipt})
    view = ref("Case")
    p.add("POST", "/api/v1/cases", "api.cases_submit",
          "Submit an anonymous diversion case (delegates)",
          {201: json_response("Submitted; it reaches the moderators at the next batch release",
                              ref("Submission"))},
          body=ref("NewCase"), errors=(403, 409),
          description="Nothing names the submitter: no user, no State (unless attribution "
                      "is `attributed`), no time of day. The receipt is shown only in this "
                      "response and cannot be recovered.")
    p.add("POST", "/api/v1/cases/lookup", "api.cases_lookup",
          "The case of a receipt, with its messages",
          {200: json_response("The case", view)}, body=receipt_only, body_required=False,
          parameters=(header,), errors=(404, 429), description=_RECEIPT_RULES)
    p.add("POST", "/api/v1/cases/messages", "api.cases_messages",
          "Answer the moderators or add information (delivered at the next batch release)",
          {201: json_response("The case with the new message", view)},
          body=obj({"receipt": receipt, "body": string(cases.MAX_MESSAGE, min_length=1)},
                   ["body"]),
          parameters=(header,), errors=(404, 409, 429), description=_RECEIPT_RULES)
    p.add("POST", "/api/v1/cases/withdraw", "api.cases_withdraw",
          "Withdraw a case that is not published or rejected",
          {200: json_response("The withdrawn case", view)}, body=receipt_only,
          body_required=False, parameters=(header,), errors=(404, 409, 429),
          description=_RECEIPT_RULES)
    p.add("POST", "/api/v1/cases/destroy-original", "api.cases_destroy_original",
          "Destroy a published case's original wording, messages and drafts for ever",
          {200: json_response("The case, its texts now null", view)}, body=receipt_only,
          body_required=False, parameters=(header,), errors=(404, 409, 429),
          description="The published, redacted version stays. " + _RECEIPT_RULES)
    p.add("GET", "/api/v1/cases/vocabulary", "api.cases_vocabulary",
          "The codes and labels (in your language) of every case list",
          {200: json_response("Lists by attribute name", ref("Vocabularies"))})
    p.add("GET", "/api/v1/cases/{case}", "api.case_published",
          "A published case, for the members of the room it was published in",
          {200: json_response("The published case", ref("PublishedCase"))}, errors=(404,))


def _moderation_paths(p: _Paths) -> None:
    p.tag = "moderation"
    case = json_response("The case as moderators see it", ref("ModeratorCase"))
    p.add("GET", "/api/v1/moderation/queue", "api.moderation_queue",
          "The review queue (moderators): open items first, in random order",
          {200: json_response("Items, and how many are in each state", obj({
              "items": array(ref("QueueItem")),
              "counts": obj({state: COUNT for state in ITEM_STATES}) | {
                  "additionalProperties": False,
                  "description": "States with no item are absent"}}, closed=True))},
          parameters=(query("state", {"enum": list(ITEM_STATES)}, "Only items in this state"),
                      query("kind", {"enum": ["case"]}, "Only items of this kind")),
          errors=(403, 422))
    p.add("POST", "/api/v1/moderation/claim", "api.moderation_claim",
          "Claim a case's item, or the next open one",
          {200: json_response("The claimed case; null when the queue is empty",
                              obj({"case_id": nullable(UUID)}, closed=True))},
          body=obj({"case_id": nullable(UUID | {
              "description": "The case to claim; absent or null: the next open item"})}),
          body_required=False, errors=(404, 409))
    p.add("GET", "/api/v1/moderation/cases/{case}", "api.moderation_case",
          "A released case with its review state", {200: case}, errors=(403, 404))
    p.add("POST", "/api/v1/moderation/cases/{case}/questions", "api.moderation_ask",
          "Ask the source a question (assignee); the item waits for the answer",
          {200: case},
          body=obj({"question": string(queue.MAX_QUESTION, min_length=1)}, ["question"]),
          errors=(404, 409))
    p.add("PUT", "/api/v1/moderation/cases/{case}/redaction", "api.moderation_redact",
          "Save the redacted version (assignee); withdraws an earlier approval",
          {200: case},
          body=obj({"fields": obj({
              name: nullable(schema) if name not in ("title", "narrative") else schema
              for name, schema in _redacted_properties().items()},
              ["title", "narrative"]) | {"additionalProperties": False}}, ["fields"]),
          errors=(404, 409))
    p.add("POST", "/api/v1/moderation/cases/{case}/approve", "api.moderation_approve",
          "Approve the redacted version (assignee); the item reopens for publication",
          {200: case}, body=obj({}) | {"description": "Ignored"}, body_required=False,
          errors=(404, 409))
    p.add("POST", "/api/v1/moderation/cases/{case}/publish", "api.moderation_publish",
          "Publish an approved case in a room that fits its sharing scope (any moderator)",
          {200: case},
          body=obj({"room": string(min_length=1, description="The room's id or slug")},
                   ["room"]),
          errors=(404, 409),
          description="With four-eyes on (DIEF_FOUR_EYES), by a moderator other than the "
                      "approver. The discussion thread's first post is by the Secretariat.")
    p.add("POST", "/api/v1/moderation/cases/{case}/reject", "api.moderation_reject",
          "Reject a case in review (assignee)",
          {200: case},
          body=obj({"reason": string(queue.MAX_REASON, min_length=1,
                                     description="Shown to the source")}, ["reason"]),
          errors=(404, 409))


def _workshops_paths(p: _Paths) -> None:
    p.tag = "workshops"
    workshop = ref("Workshop")
    officials = integer(0, MAX_OFFICIALS, description="Officials trained at the workshop")
    p.add("GET", "/api/v1/workshops", "api.workshops_list",
          "Workshops: every one for moderators, otherwise those whose room you are a member of",
          {200: json_response("Workshops, newest first", obj(
              {"workshops": array(workshop)}, closed=True))})
    p.add("POST", "/api/v1/workshops", "api.workshops_create",
          "Create a workshop and its room (moderators, who join the room)",
          {201: json_response("The workshop", workshop)},
          body=obj({"slug": string(rooms.MAX_SLUG, pattern=SLUG_PATTERN,
                                   description="The room's slug"),
                    "title": string(WORKSHOP_TITLE, min_length=1,
                                    description="Also the room's name"),
                    "region": nullable(string(description="A region code")),
                    "place": nullable(string(curation.MAX_PLACE)),
                    "starts_on": DATE, "ends_on": DATE | {"description": "Not before starts_on"},
                    "officials_trained": officials | {"default": 0}},
                   ["slug", "title", "starts_on", "ends_on"]),
          errors=(409,))
    p.add("PUT", "/api/v1/workshops/{workshop}/officials-trained", "api.workshop_officials",
          "Set how many officials the workshop trained (moderators)",
          {200: json_response("The new count", obj({"officials_trained": officials},
                                                   closed=True))},
          body=obj({"officials_trained": officials}, ["officials_trained"]), errors=(404,))
    p.add("GET", "/api/v1/workshops/{workshop}/takeaways", "api.takeaways_list",
          "A workshop's takeaways, for the members of its room",
          {200: json_response("The workshop and its takeaways, oldest first", obj(
              {"workshop": workshop, "takeaways": array(ref("Takeaway"))}, closed=True))},
          errors=(404,))
    p.add("POST", "/api/v1/workshops/{workshop}/takeaways", "api.takeaways_create",
          "Record a takeaway (the workshop's facilitators, and moderators who are members)",
          {201: json_response("Recorded; a shareable one enters the review queue",
                              obj({"id": UUID}, closed=True))},
          body=obj({"kind": {"enum": list(curation.TAKEAWAY_KINDS)},
                    "body": string(curation.MAX_TAKEAWAY, min_length=1),
                    "shareable": {"type": "boolean", "default": False,
                                  "description": "May be used in a lesson"}},
                   ["kind", "body"]),
          errors=(404,))


def _lesson_body() -> Schema:
    texts = {name: schema if name == "summary" else nullable(schema)
             for name, schema in _lesson_text_properties().items()}
    ids = array(UUID) | {"maxItems": curation.MAX_SOURCES}
    return obj({
        "title": string(curation.MAX_TITLE, min_length=1), **texts,
        "region": nullable(string(description="A region code; absent or null: "
                                              "cross-regional")),
        "tags": nullable(array({"enum": LESSON_TAGS}) | {"maxItems": MAX_TAGS}) | {
            "description": "Codes of the case vocabularies " + ", ".join(
                curation.TAG_VOCABULARIES) + " (repeats are dropped)"},
        "takeaways": nullable(ids) | {"description": "Shareable takeaways it distils"},
        "cases": nullable(ids) | {"description": "Published cases it draws on"},
    }, ["title", "summary"])


def _lessons_paths(p: _Paths) -> None:
    p.tag = "lessons"
    lesson = ref("Lesson")
    p.add("GET", "/api/v1/lessons", "api.lessons_list", "Lessons (moderators)",
          {200: json_response("Lessons, last updated first", obj(
              {"lessons": array(ref("LessonSummary"))}, closed=True))},
          parameters=(query("status", {"enum": list(LESSON_STATUSES)},
                            "Only lessons with this status"),),
          errors=(403, 422))
    p.add("POST", "/api/v1/lessons", "api.lessons_create",
          "Distil takeaways and published cases into a draft lesson (moderators)",
          {201: json_response("The draft, with its leak warnings", lesson)},
          body=_lesson_body(),
          description="The lesson enters the review queue. Its warnings name the sensitive "
                      "values of the linked cases that its text repeats.")
    p.add("GET", "/api/v1/lessons/{lesson}", "api.lesson_show",
          "A lesson with its sources and leak warnings (moderators)",
          {200: json_response("The lesson", lesson)}, errors=(403, 404))
    p.add("PUT", "/api/v1/lessons/{lesson}", "api.lesson_update",
          "Rewrite a lesson (moderators); it goes back to draft",
          {200: json_response("The draft, with its leak warnings", lesson)},
          body=_lesson_body(), errors=(404, 409),
          description="Refused (409) while the lesson is on an agenda (`lesson_scheduled`) "
                      "and once presented (`lesson_presented`).")
    p.add("POST", "/api/v1/lessons/{lesson}/approve", "api.lesson_approve",
          "Approve a draft lesson (moderators)",
          {200: json_response("The approved lesson; warnings: those acknowledged", lesson)},
          body=obj({"acknowledge_warnings": {
              "type": "boolean", "default": False,
              "description": "Approve although the lesson repeats a linked case's sensitive "
                             "value"}}),
          body_required=False, errors=(404, 409),
          description="409 `lesson_not_draft`; `four_eyes` (DIEF_FOUR_EYES: not by its author "
                      "or last editor); `leak_warning` while it repeats a linked case's "
                      "sensitive value and acknowledge_warnings is not true (the problem's "
                      "`warnings` names the fields).")


def _sessions_paths(p: _Paths) -> None:
    p.tag = "DIEF sessions"
    held = ("409 `session_held` once the session was held: its agenda is part of the "
            "record.")
    notes = string(curation.MAX_NOTES, description="Presenter notes")
    p.add("GET", "/api/v1/dief-sessions", "api.dief_sessions_list",
          "DIEF sessions (moderators)",
          {200: json_response("Sessions, latest first", obj(
              {"sessions": array(ref("DiefSession"))}, closed=True))},
          errors=(403,))
    p.add("POST", "/api/v1/dief-sessions", "api.dief_sessions_create",
          "Plan a DIEF session (moderators)",
          {201: json_response("Planned", obj({"id": UUID}, closed=True))},
          body=obj({"title": string(curation.MAX_TITLE, min_length=1), "held_on": DATE,
                    "place": nullable(string(curation.MAX_PLACE, default="Geneva"))},
                   ["title", "held_on"]))
    p.add("GET", "/api/v1/dief-sessions/{session}", "api.dief_session_show",
          "A session with its agenda, as in the briefing pack (moderators)",
          {200: json_response("The session", ref("Briefing"))}, errors=(403, 404))
    p.add("GET", "/api/v1/dief-sessions/{session}/briefing", "api.dief_session_briefing",
          "The printable briefing pack (moderators)",
          {200: {"description": "The briefing pack, labels in your language",
                 "headers": {"Content-Disposition": {
                     "required": False, "description": "Markdown: an attachment named "
                                                       "briefing-YYYY-MM-DD.md",
                     "schema": TEXT}},
                 "content": {"text/markdown": {"schema": TEXT},
                             "text/html": {"schema": TEXT}}}},
          parameters=(query("format", {"enum": ["md", "html"], "default": "md"},
                            "Markdown (text/markdown) or HTML (text/html)"),),
          errors=(403, 404, 422))
    p.add("POST", "/api/v1/dief-sessions/{session}/agenda", "api.agenda_add",
          "Put an approved lesson or a published case at the end of the agenda (moderators)",
          {201: json_response("The agenda item", obj({"id": UUID}, closed=True))},
          body=obj({"lesson": nullable(UUID | {"description": "An approved lesson"}),
                    "case": nullable(UUID | {"description": "A published case"}),
                    "notes": nullable(notes)}) | {
              "description": "Exactly one of lesson and case"},
          errors=(404, 409),
          description="409 `already_on_agenda` for what this agenda already holds. " + held)
    p.add("PUT", "/api/v1/dief-sessions/{session}/agenda", "api.agenda_reorder",
          "Reorder the agenda (moderators)",
          {200: json_response("The new order", obj({"order": array(UUID)}, closed=True))},
          body=obj({"order": array(UUID) | {
              "maxItems": curation.MAX_SOURCES,
              "description": "Every agenda item's id, once each, in the new order"}},
              ["order"]),
          errors=(404, 409), description=held)
    p.add("PATCH", "/api/v1/dief-sessions/{session}/agenda/{item}", "api.agenda_item_update",
          "Set an agenda item's presenter notes (moderators)",
          {200: json_response("The notes as stored", obj({"id": UUID, "notes": notes},
                                                         closed=True))},
          body=obj({"notes": nullable(notes)}), errors=(404, 409), description=held)
    p.add("DELETE", "/api/v1/dief-sessions/{session}/agenda/{item}", "api.agenda_item_delete",
          "Take an item off the agenda (moderators); a lesson on no other agenda is approved "
          "again", {204: empty("Removed")}, errors=(404, 409), description=held)
    p.add("POST", "/api/v1/dief-sessions/{session}/held", "api.dief_session_held",
          "Record that the session took place (moderators); its lessons count as presented",
          {200: json_response("Held (also when it already was)", obj(
              {"id": UUID, "status": {"const": "held"}}, closed=True))},
          errors=(404,))


def _oversight_paths(p: _Paths) -> None:
    p.tag = "indicators and audit"
    p.add("GET", "/api/v1/indicators", "api.indicators",
          "Programme indicators, computed from the data (moderators, administrators, donors)",
          {200: json_response("Aggregates only", ref("Indicators"))}, errors=(403,))
    p.add("GET", "/api/v1/audit", "api.audit",
          "The audit log, and whether its chain verifies (moderators, administrators)",
          {200: json_response("The chain's state and the matching entries",
                              ref("AuditLog"))},
          parameters=(
              query("actor", string(MAX_AUDIT_ACTOR), "Only entries by the user with this "
                                                      "email (case-insensitive)"),
              query("action", string(MAX_AUDIT_ACTION, pattern="^[A-Za-z0-9._]*$"),
                    "An action (`case.publish`) or its prefix (`case`)"),
              query("since", DATE, "From this day (UTC)"),
              query("until", DATE, "Before this day (UTC)")),
          errors=(403, 422))


def _review_paths(p: _Paths) -> None:
    p.tag = "review queue"
    p.add("GET", "/api/v1/moderation/items", "api.moderation_items",
          "The review queue of every kind: cases, flagged posts, takeaways, lessons "
          "(moderators); done items last",
          {200: json_response("Items, and how many of each kind are in each state", obj({
              "items": array(ref("ReviewItem")) | {"maxItems": 200},
              "counts": obj({kind: obj({state: COUNT for state in ITEM_STATES}) | {
                  "additionalProperties": False} for kind in queue.ITEM_KINDS}) | {
                  "additionalProperties": False,
                  "description": "By kind, then state; absent when none"}}, closed=True))},
          parameters=(query("kind", {"enum": list(queue.ITEM_KINDS)}, "Only items of this kind"),
                      query("state", {"enum": list(ITEM_STATES)}, "Only items in this state"),
                      query("region", string(description="A region code"),
                            "Only items of this region"),
                      query("assignee", UUID, "Only items claimed by this user")),
          errors=(403, 422))
    p.add("POST", "/api/v1/moderation/items/{item}/claim", "api.moderation_item_claim",
          "Claim an open item (moderators)",
          {200: json_response("Claimed", obj({"id": UUID, "state": {"const": "claimed"},
                                              "assignee_id": UUID}, closed=True))},
          errors=(404, 409), description="409 `item_not_open` when another moderator has it, "
                                         "or it is not open.")
    p.add("GET", "/api/v1/moderation/items/{item}/history", "api.moderation_item_history",
          "What happened to an item (moderators)",
          {200: json_response("Oldest first", obj({"history": array(obj({
              "action": {"enum": list(ITEM_HISTORY_ACTIONS)}, "actor": nullable(DISPLAY_NAME),
              "note": nullable(string(queue.MAX_REASON)), "at": DATE_TIME}, closed=True))},
              closed=True))},
          errors=(403, 404))
    p.add("GET", "/api/v1/moderation/flags/{flagged}", "api.moderation_flag",
          "A flagged post and its open flags, whatever its room (moderators)",
          {200: json_response("The post and its flags", ref("FlaggedPost"))},
          errors=(403, 404))
    p.add("POST", "/api/v1/moderation/flags/{flagged}", "api.moderation_flag_act",
          "Hide, restore or dismiss a flagged post (moderators); its flags are resolved",
          {200: json_response("Done", obj({"post_id": UUID,
                                           "action": {"enum": list(FLAG_ACTIONS)}},
                                          closed=True))},
          body=obj({"action": {"enum": list(FLAG_ACTIONS)},
                    "reason": nullable(string(MAX_HIDE_REASON, description=(
                        "Required to hide; shown to members in place of the post")))},
                   ["action"]),
          errors=(404,),
          description="`dismiss` also shows again a post that enough flags hid pending "
                      "review.")
    p.add("POST", "/api/v1/moderation/takeaways/{takeaway}/dismiss",
          "api.moderation_takeaway_dismiss",
          "Take a shareable takeaway out of the review queue (moderators)",
          {200: json_response("Done", obj({"takeaway_id": UUID, "state": {"const": "done"}},
                                          closed=True))},
          errors=(404,))


def document(base_url: str) -> dict[str, Any]:
    paths = _Paths()
    _auth_paths(paths)
    _rooms_paths(paths)
    _posts_paths(paths)
    _cases_paths(paths)
    _moderation_paths(paths)
    _workshops_paths(paths)
    _lessons_paths(paths)
    _sessions_paths(paths)
    _oversight_paths(paths)
    _review_paths(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "DIEF Forum API", "version": "1",
                 "description": "JSON API of DIEF Forum. Errors are application/problem+json "
                                "(RFC 9457) with a stable `code`. Every room-scoped URL "
                                "answers 404 to a non-member, exactly as for an id that does "
                                "not exist. `{room}` is a room's id or slug. The source of an "
                                "anonymous case follows it with the receipt given at "
                                "submission; nothing links the case to an account."},
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": paths.paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A personal access token (POST /api/v1/tokens)"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "dief_session",
                           "description": "The browser session (`__Host-dief_session` over "
                                          "HTTPS); unsafe requests must also send the "
                                          "session's X-CSRF-Token header"},
            },
            "schemas": _schemas(),
            "responses": _error_components(),
        },
    }
