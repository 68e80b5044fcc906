"""JSON API of workshops, takeaways, lessons, DIEF sessions, briefings, indicators, and the
general review queue (flags, takeaways, lessons)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from forum import keys
from forum.audit import service as audit
from forum.cases import vocabulary
from forum.db import transaction
from forum.errors import ForbiddenError, ValidationError
from forum.i18n import gettext
from forum.web import actor_of, json_ok, parse_uuid, read_json, render
from moderation.curation import briefing as briefing_md
from moderation.curation import service
from moderation.queue import service as queue


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def workshop_json(row: Any) -> dict[str, Any]:
    return {"id": str(row.id if hasattr(row, "id") else row["id"]),
            **{k: _iso(getattr(row, k) if hasattr(row, k) else row[k])
               for k in ("title", "region_code", "place", "starts_on", "ends_on",
                         "officials_trained")},
            "room_id": str(row.room_id if hasattr(row, "room_id") else row["room_id"]),
            "room_slug": row.room_slug if hasattr(row, "room_slug") else row["room_slug"]}


def takeaway_json(t: service.Takeaway) -> dict[str, Any]:
    return {"id": str(t.id), "workshop_id": str(t.workshop_id), "kind": t.kind, "body": t.body,
            "shareable": t.shareable, "author": t.author_name,
            "created_at": t.created_at.isoformat()}


def lesson_json(lesson: service.Lesson) -> dict[str, Any]:
    return {"id": str(lesson.id), "title": lesson.title, "summary": lesson.summary,
            "risk": lesson.risk, "indicators": lesson.indicators,
            "mitigation": lesson.mitigation, "challenge": lesson.challenge,
            "region_code": lesson.region_code, "tags": lesson.tags, "status": lesson.status,
            "takeaways": [str(t) for t in lesson.takeaway_ids],
            "cases": [str(c) for c in lesson.case_ids]}


def lesson_row_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "title": row["title"], "status": row["status"],
            "region_code": row["region_code"], "tags": list(row["tags"]),
            "updated_at": row["updated_at"].isoformat()}


def warnings_json(warnings: list[service.LeakWarning]) -> list[dict[str, str]]:
    return [{"case_id": str(w.case_id), "field": w.field, "value": w.value} for w in warnings]


# --- workshops -------------------------------------------------------------------------------

async def workshops_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await service.list_workshops(conn, actor)
    return json_ok({"workshops": [workshop_json(r) for r in rows]})


async def workshops_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        workshop = await service.create_workshop(
            conn, request.app[keys.KEYRING], actor, slug=body.get("slug"),
            title=body.get("title"), region=body.get("region"), place=body.get("place", ""),
            starts_on=body.get("starts_on"), ends_on=body.get("ends_on"),
            officials_trained=body.get("officials_trained", 0))
    return json_ok(workshop_json(workshop), status=201)


async def workshop_officials(request: web.Request) -> web.Response:
    actor = actor_of(request)
    workshop_id = parse_uuid(request.match_info["workshop"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        await service.set_officials_trained(conn, request.app[keys.KEYRING], actor,
                                            workshop_id, body.get("officials_trained"))
    return json_ok({"officials_trained": body.get("officials_trained")})


async def takeaways_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    workshop_id = parse_uuid(request.match_info["workshop"])
    async with transaction(request.app[keys.POOL]) as conn:
        workshop, takeaways = await service.list_takeaways(conn, request.app[keys.KEYRING],
                                                           actor, workshop_id)
    return json_ok({"workshop": workshop_json(workshop),
                    "takeaways": [takeaway_json(t) for t in takeaways]})


async def takeaways_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    workshop_id = parse_uuid(request.match_info["workshop"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        takeaway_id = await service.add_takeaway(
            conn, request.app[keys.KEYRING], actor, workshop_id, kind=body.get("kind"),
            body=body.get("body"), shareable=body.get("shareable", False))
    return json_ok({"id": str(takeaway_id)}, status=201)


# --- lessons ---------------------------------------------------------------------------------

async def lessons_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await service.list_lessons(conn, actor, request.query.get("status") or None)
    return json_ok({"lessons": [lesson_row_json(r) for r in rows]})


async def lessons_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        lesson_id = await service.create_lesson(conn, request.app[keys.KEYRING], actor, body)
        lesson = await service.get_lesson(conn, actor, lesson_id)
        warnings = await service.leak_warnings(conn, request.app[keys.KEYRING], lesson)
    return json_ok({**lesson_json(lesson), "warnings": warnings_json(warnings)}, status=201)


async def lesson_show(request: web.Request) -> web.Response:
    actor = actor_of(request)
    lesson_id = parse_uuid(request.match_info["lesson"])
    async with transaction(request.app[keys.POOL]) as conn:
        lesson = await service.get_lesson(conn, actor, lesson_id)
        warnings = await service.leak_warnings(conn, request.app[keys.KEYRING], lesson)
    return json_ok({**lesson_json(lesson), "warnings": warnings_json(warnings)})


async def lesson_update(request: web.Request) -> web.Response:
    actor = actor_of(request)
    lesson_id = parse_uuid(request.match_info["lesson"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        await service.update_lesson(conn, request.app[keys.KEYRING], actor, lesson_id, body)
        lesson = await service.get_lesson(conn, actor, lesson_id)
        warnings = await service.leak_warnings(conn, request.app[keys.KEYRING], lesson)
    return json_ok({**lesson_json(lesson), "warnings": warnings_json(warnings)})


async def lesson_approve(request: web.Request) -> web.Response:
    actor = actor_of(request)
    lesson_id = parse_uuid(request.match_info["lesson"])
    body = await read_json(request) if request.body_exists else {}
    acknowledge = body.get("acknowledge_warnings", False)
    if not isinstance(acknowledge, bool):
        raise ValidationError("acknowledge_warnings is true or false",
                              field="acknowledge_warnings")
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        warnings = await service.approve_lesson(conn, app[keys.KEYRING], app[keys.SETTINGS],
                                                actor, lesson_id,
                                                acknowledge_warnings=acknowledge)
        lesson = await service.get_lesson(conn, actor, lesson_id)
    return json_ok({**lesson_json(lesson), "warnings": warnings_json(warnings)})


# --- DIEF sessions ---------------------------------------------------------------------------

async def sessions_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await service.list_sessions(conn, actor)
    return json_ok({"sessions": [{"id": str(r["id"]), "title": r["title"],
                                  "held_on": r["held_on"].isoformat(), "place": r["place"],
                                  "status": r["status"], "items": int(r["item_count"])}
                                 for r in rows]})


async def sessions_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        session_id = await service.create_session(
            conn, request.app[keys.KEYRING], actor, title=body.get("title"),
            held_on=body.get("held_on"), place=body.get("place", "Geneva"))
    return json_ok({"id": str(session_id)}, status=201)


async def _briefing(request: web.Request, session_id: uuid.UUID) -> service.Briefing:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        return await service.briefing(conn, request.app[keys.KEYRING],
                                      request.app[keys.SETTINGS], actor, session_id)


def briefing_json(pack: service.Briefing) -> dict[str, Any]:
    return {"id": str(pack.id), "title": pack.title, "held_on": pack.held_on.isoformat(),
            "place": pack.place, "status": pack.status,
            "agenda": [{"position": i.position, "kind": i.kind, "title": i.title,
                        "region": i.region, "fields": i.fields,
                        "presenter_notes": i.presenter_notes} for i in pack.items]}


async def session_show(request: web.Request) -> web.Response:
    pack = await _briefing(request, parse_uuid(request.match_info["session"]))
    return json_ok(briefing_json(pack))


async def region_names(request: web.Request, lang: str) -> dict[str, str]:
    from forum.reference import service as reference

    async with transaction(request.app[keys.POOL]) as conn:
        rows = await reference.list_regions(conn)
    return {r["code"]: r[f"name_{lang}"] for r in rows}


async def session_briefing(request: web.Request) -> web.Response:
    """``?format=md`` (default) or ``html``: the printable briefing pack."""
    session_id = parse_uuid(request.match_info["session"])
    fmt = request.query.get("format", "md")
    if fmt not in ("md", "html"):
        raise ValidationError("format is md or html", field="format", code="format_invalid")
    pack = await _briefing(request, session_id)
    lang = request[keys.LANGUAGE]
    names = await region_names(request, lang)
    if fmt == "html":
        return render(request, "moderation/briefing.html",
                      {"pack": pack, "region_names": names, "vocab": vocabulary})
    text = briefing_md.to_markdown(pack, names, gettext)
    return web.Response(text=text, content_type="text/markdown", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="briefing-{pack.held_on}.md"'})


async def agenda_add(request: web.Request) -> web.Response:
    actor = actor_of(request)
    session_id = parse_uuid(request.match_info["session"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        item_id = await service.add_to_agenda(conn, request.app[keys.KEYRING], actor,
                                              session_id, lesson=body.get("lesson"),
                                              case=body.get("case"), notes=body.get("notes", ""))
    return json_ok({"id": str(item_id)}, status=201)


async def agenda_reorder(request: web.Request) -> web.Response:
    actor = actor_of(request)
    session_id = parse_uuid(request.match_info["session"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        order = await service.reorder_agenda(conn, request.app[keys.KEYRING], actor,
                                             session_id, body.get("order"))
    return json_ok({"order": [str(item_id) for item_id in order]})


async def agenda_item_update(request: web.Request) -> web.Response:
    actor = actor_of(request)
    session_id = parse_uuid(request.match_info["session"])
    item_id = parse_uuid(request.match_info["item"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        notes = await service.set_presenter_notes(conn, request.app[keys.KEYRING], actor,
                                                  session_id, item_id, body.get("notes"))
    return json_ok({"id": str(item_id), "notes": notes})


async def agenda_item_delete(request: web.Request) -> web.Response:
    actor = actor_of(request)
    session_id = parse_uuid(request.match_info["session"])
    item_id = parse_uuid(request.match_info["item"])
    async with transaction(request.app[keys.POOL]) as conn:
        await service.remove_from_agenda(conn, request.app[keys.KEYRING], actor, session_id,
                                         item_id)
    return web.Response(status=204)


async def session_held(request: web.Request) -> web.Response:
    actor = actor_of(request)
    session_id = parse_uuid(request.match_info["session"])
    async with transaction(request.app[keys.POOL]) as conn:
        await service.mark_held(conn, request.app[keys.KEYRING], actor, session_id)
    return json_ok({"id": str(session_id), "status": "held"})


# --- indicators and audit --------------------------------------------------------------------

async def indicators(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        data = await service.indicators(conn, actor)
    return json_ok({"workshops": data.workshops, "workshops_target": service.WORKSHOP_TARGET,
                    "officials_trained": data.officials_trained,
                    "officials_target": service.OFFICIALS_TARGET,
                    "cases_shared": data.cases_shared, "cases_published": data.cases_published,
                    "lessons_presented": data.lessons_presented,
                    "lessons_total": data.lessons_total,
                    "monthly": [{"month": m.isoformat()[:7], "posts": p, "active_members": a}
                                for m, p, a in data.monthly]})


async def audit_log(request: web.Request) -> web.Response:
    actor = actor_of(request)
    if actor.role not in ("moderator", "admin"):
        raise ForbiddenError("Only the Secretariat reads the audit log")
    filters = audit.parse_filters(request.query)
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await audit.search(conn, filters)
        result = await audit.verify(conn, request.app[keys.KEYRING].audit_keys())
    return json_ok({"verify": {"ok": result.ok, "checked": result.checked,
                               "problem": result.problem, "head": f"{result.head_seq}:"
                               f"{result.head_mac}"},
                    "entries": [audit.entry_json(r) for r in rows]})


# --- the general review queue ----------------------------------------------------------------

def queue_item_json(row: asyncpg.Record) -> dict[str, Any]:
    target = row["case_id"] or row["post_id"] or row["takeaway_id"] or row["lesson_id"]
    return {"id": str(row["id"]), "kind": row["kind"], "target_id": str(target),
            "state": row["state"], "region_code": row["region_code"],
            "assignee": row["assignee_name"], "released_at": row["released_at"].isoformat()}


async def items_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    assignee = request.query.get("assignee") or None
    try:
        assignee_id = uuid.UUID(assignee) if assignee else None
    except ValueError:
        raise ValidationError("assignee is a user id", field="assignee",
                              code="assignee_invalid") from None
    async with transaction(request.app[keys.POOL]) as conn:
        rows, counts = await queue.list_items(
            conn, actor, state=request.query.get("state") or None,
            kind=request.query.get("kind") or None,
            region=request.query.get("region") or None, assignee=assignee_id)
    return json_ok({"items": [queue_item_json(r) for r in rows], "counts": counts})


async def item_claim(request: web.Request) -> web.Response:
    actor = actor_of(request)
    item_id = parse_uuid(request.match_info["item"])
    async with transaction(request.app[keys.POOL]) as conn:
        row = await queue.claim_item(conn, request.app[keys.KEYRING], actor, item_id)
        return json_ok({"id": str(row["id"]), "state": row["state"],
                        "assignee_id": str(row["assignee_id"])})


async def item_history(request: web.Request) -> web.Response:
    actor = actor_of(request)
    item_id = parse_uuid(request.match_info["item"])
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await queue.item_history(conn, actor, item_id)
    return json_ok({"history": [{"action": r["action"], "actor": r["actor_name"],
                                 "note": r["note"], "at": r["occurred_at"].isoformat()}
                                for r in rows]})


async def flag_show(request: web.Request) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["flagged"])
    async with transaction(request.app[keys.POOL]) as conn:
        flagged = await queue.flagged_post(conn, request.app[keys.KEYRING], actor, post_id)
    post = flagged.post
    return json_ok({"post": None if post is None else {
        "id": str(post.id), "thread_id": str(post.thread_id), "author": post.author_name,
        "body": post.body, "html": post.html, "hidden": post.hidden,
        "hidden_reason": post.hidden_reason},
        "flags": [{**f, "at": f["at"].isoformat()} for f in flagged.flags]})


async def flag_act(request: web.Request) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["flagged"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        await queue.moderate_flag(conn, request.app[keys.KEYRING], actor, post_id,
                                  str(body.get("action")), body.get("reason"))
    return json_ok({"post_id": str(post_id), "action": body.get("action")})


async def takeaway_dismiss(request: web.Request) -> web.Response:
    actor = actor_of(request)
    takeaway_id = parse_uuid(request.match_info["takeaway"])
    async with transaction(request.app[keys.POOL]) as conn:
        await queue.dismiss_takeaway(conn, request.app[keys.KEYRING], actor, takeaway_id)
    return json_ok({"takeaway_id": str(takeaway_id), "state": "done"})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/workshops", workshops_list, name="api.workshops_list")
    r.add_post("/api/v1/workshops", workshops_create, name="api.workshops_create")
    r.add_put("/api/v1/workshops/{workshop}/officials-trained", workshop_officials,
              name="api.workshop_officials")
    r.add_get("/api/v1/workshops/{workshop}/takeaways", takeaways_list,
              name="api.takeaways_list")
    r.add_post("/api/v1/workshops/{workshop}/takeaways", takeaways_create,
               name="api.takeaways_create")
    r.add_get("/api/v1/lessons", lessons_list, name="api.lessons_list")
    r.add_post("/api/v1/lessons", lessons_create, name="api.lessons_create")
    r.add_get("/api/v1/lessons/{lesson}", lesson_show, name="api.lesson_show")
    r.add_put("/api/v1/lessons/{lesson}", lesson_update, name="api.lesson_update")
    r.add_post("/api/v1/lessons/{lesson}/approve", lesson_approve, name="api.lesson_approve")
    r.add_get("/api/v1/dief-sessions", sessions_list, name="api.dief_sessions_list")
    r.add_post("/api/v1/dief-sessions", sessions_create, name="api.dief_sessions_create")
    r.add_get("/api/v1/dief-sessions/{session}", session_show, name="api.dief_session_show")
    r.add_get("/api/v1/dief-sessions/{session}/briefing", session_briefing,
              name="api.dief_session_briefing")
    r.add_post("/api/v1/dief-sessions/{session}/agenda", agenda_add, name="api.agenda_add")
    r.add_put("/api/v1/dief-sessions/{session}/agenda", agenda_reorder,
              name="api.agenda_reorder")
    r.add_patch("/api/v1/dief-sessions/{session}/agenda/{item}", agenda_item_update,
                name="api.agenda_item_update")
    r.add_delete("/api/v1/dief-sessions/{session}/agenda/{item}", agenda_item_delete,
                 name="api.agenda_item_delete")
    r.add_post("/api/v1/dief-sessions/{session}/held", session_held,
               name="api.dief_session_held")
    r.add_get("/api/v1/indicators", indicators, name="api.indicators")
    r.add_get("/api/v1/audit", audit_log, name="api.audit")
    r.add_get("/api/v1/moderation/items", items_list, name="api.moderation_items")
    r.add_post("/api/v1/moderation/items/{item}/claim", item_claim,
               name="api.moderation_item_claim")
    r.add_get("/api/v1/moderation/items/{item}/history", item_history,
              name="api.moderation_item_history")
    r.add_get("/api/v1/moderation/flags/{flagged}", flag_show, name="api.moderation_flag")
    r.add_post("/api/v1/moderation/flags/{flagged}", flag_act, name="api.moderation_flag_act")
    r.add_post("/api/v1/moderation/takeaways/{takeaway}/dismiss", takeaway_dismiss,
               name="api.moderation_takeaway_dismiss")
