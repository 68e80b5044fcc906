"""HTML pages of the moderators' review queue: the queue, claiming, and one case with every
action on it (ask, redact, approve, reject, publish). Every page works without JavaScript.

Each action is a POST to ``/moderation/cases/{case}/<action>`` that redirects back to the case
page (with a ``done`` note), or re-renders it with the error and what was typed.

The interface strings are all in the templates (``forum/templates/moderation``): extraction
(scripts/i18n.py) reads ``forum/`` only, so a string written here would never be translated.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from forum import keys
from forum.cases import vocabulary
from forum.db import transaction
from forum.errors import ConflictError, DomainError, Handler, ValidationError
from forum.i18n import gettext as _
from forum.reference import service as reference
from forum.rooms import service as rooms
from forum.web import actor_of, form_text, parse_uuid, read_form, redirect, render
from moderation.queue import service

ACTIONS = ("ask", "redact", "approve", "reject", "publish")
DONE_NOTES = frozenset({"claimed", "asked", "redacted", "approved", "rejected", "published"})


def _error(exc: DomainError) -> dict[str, Any]:
    return {"title": exc.localized_title(_), "code": exc.code,
            "field": exc.public_fields.get("field"),
            "max_length": exc.public_fields.get("max_length")}


def rooms_for_scope(all_rooms: Sequence[Any], scope: str, region_code: str | None) -> list[Any]:
    """The rooms a case of this sharing scope may be published in (``publish`` re-checks)."""
    kinds = service.SCOPE_ROOM_KINDS.get(scope, ())
    return [r for r in all_rooms if r["kind"] in kinds and r["archived_at"] is None
            and (scope != "own_region" or r["region_code"] == region_code)]


# --- the queue --------------------------------------------------------------------------------

async def _queue_page(request: web.Request, *, error: dict[str, Any] | None = None,
                      notice: str | None = None, status: int = 200) -> web.Response:
    actor = actor_of(request)
    state = request.query.get("state") or None
    async with transaction(request.app[keys.POOL]) as conn:
        # Cases only: flags, takeaways and lessons share review_items but not this page.
        items, counts = await service.list_queue(conn, actor, state=state, kind="case")
        regions = {r["code"]: r for r in await reference.list_regions(conn)}
    return render(request, "moderation/queue.html", {
        "items": items, "counts": counts, "state": state or "", "regions": regions,
        "vocab": vocabulary, "error": error, "notice": notice}, status=status)


async def queue_page(request: web.Request) -> web.Response:
    return await _queue_page(request)


async def claim(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    form = await read_form(request)
    ref = form_text(form, "case_id")
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            case_id = await service.claim(conn, request.app[keys.KEYRING], actor,
                                          parse_uuid(ref) if ref else None)
    except ConflictError as exc:
        return await _queue_page(request, error=_error(exc), status=exc.status)
    if case_id is None:
        return await _queue_page(request, notice="empty")
    redirect(f"/moderation/cases/{case_id}?done=claimed")


# --- one case ---------------------------------------------------------------------------------

async def _case_page(request: web.Request, *, error: dict[str, Any] | None = None,
                     form: Mapping[str, Any] | None = None, status: int = 200) -> web.Response:
    actor = actor_of(request)
    case_id = parse_uuid(request.match_info["case"])
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        mc = await service.case_for_moderator(conn, app[keys.KEYRING], app[keys.SETTINGS],
                                              actor, case_id)
        all_rooms = await rooms.list_all_rooms(conn, actor)
        regions = {r["code"]: r for r in await reference.list_regions(conn)}
        iso3 = mc.case.analytic.get("attributed_state")
        state = await reference.get_state(conn, iso3) if iso3 else None
    analytic = mc.case.analytic
    redaction = mc.redaction or {"title": "", **{k: v or "" for k, v in mc.case.sensitive.items()}}
    if form is not None and form.get("action") == "redact":
        redaction = {name: form_text(form, name) or "" for name in service.REDACTED_FIELDS}
    room_by_id = {r["id"]: r for r in all_rooms}
    done = request.query.get("done")
    return render(request, "moderation/case.html", {
        "mc": mc, "case": mc.case, "a": analytic, "item": mc.item, "regions": regions,
        "state": state, "vocab": vocabulary, "text_fields": tuple(vocabulary.SENSITIVE_FIELDS),
        "redaction": redaction, "claimed_by_me": bool(
            mc.item and mc.item["state"] == "claimed" and mc.item["assignee_id"] == actor.user_id),
        "rooms": rooms_for_scope(all_rooms, analytic["sharing_scope"], analytic["region_code"]),
        "publication_room": room_by_id.get(mc.publication["room_id"]) if mc.publication else None,
        "correlations": _correlations(mc.correlations),
        "four_eyes": app[keys.SETTINGS].four_eyes, "max_title": service.MAX_TITLE,
        "max_question": service.MAX_QUESTION, "max_reason": service.MAX_REASON,
        "error": error, "form": form or {}, "done": done if done in DONE_NOTES else None},
        status=status)


def _correlations(found: Sequence[service.Correlation]) -> list[dict[str, Any]]:
    """Per indexed field, the other cases sharing a value with this one."""
    by_field: dict[str, list[service.Correlation]] = {}
    for c in found:
        by_field.setdefault(c.field, []).append(c)
    return [{"field": name, "cases": cases} for name, cases in sorted(by_field.items())]


async def case_page(request: web.Request) -> web.Response:
    return await _case_page(request)


async def _act(request: web.Request, action: str) -> web.StreamResponse:
    actor = actor_of(request)
    case_id: uuid.UUID = parse_uuid(request.match_info["case"])
    form = await read_form(request)
    app = request.app
    keyring = app[keys.KEYRING]
    try:
        async with transaction(app[keys.POOL]) as conn:
            if action == "ask":
                await service.ask(conn, keyring, actor, case_id, form_text(form, "question"))
            elif action == "redact":
                await service.redact(conn, keyring, actor, case_id, {
                    name: form_text(form, name) or "" for name in service.REDACTED_FIELDS})
            elif action == "approve":
                await service.approve(conn, keyring, actor, case_id)
            elif action == "reject":
                await service.reject(conn, keyring, actor, case_id, form_text(form, "reason"))
            else:
                await service.publish(conn, keyring, app[keys.SETTINGS], actor, case_id,
                                      form_text(form, "room"))
    except (ValidationError, ConflictError) as exc:
        return await _case_page(request, error=_error(exc),
                                form={**form, "action": action}, status=exc.status)
    done = {"ask": "asked", "redact": "redacted", "approve": "approved", "reject": "rejected",
            "publish": "published"}[action]
    redirect(f"/moderation/cases/{case_id}?done={done}")


def _action_handler(action: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _act(request, action)

    handler.__name__ = f"case_{action}"
    return handler


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/moderation", queue_page, name="moderation.queue")
    r.add_post("/moderation/claim", claim, name="moderation.claim")
    r.add_get("/moderation/cases/{case}", case_page, name="moderation.case")
    for action in ACTIONS:
        r.add_post(f"/moderation/cases/{{case}}/{action}", _action_handler(action),
                   name=f"moderation.{action}")
