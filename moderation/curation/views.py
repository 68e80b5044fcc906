"""HTML pages of the lessons pipeline: workshops and takeaways, the review queue of every item
type (flagged posts, takeaways, lessons, cases), lessons, DIEF sessions with their agenda and
briefing pack, the indicators and the audit log. Every page works without JavaScript.

Each form POSTs to its own route and redirects back (with a ``done`` note), or re-renders the
page with the error and what was typed. Handlers parse, call one function of
``moderation/curation/pages.py`` (reads) or of the services (actions), and render; they mirror
the JSON handlers of ``moderation/curation/api.py``.

Interface strings are in the templates (``forum/templates/curation``), which word the services'
errors by their stable codes (``curation/_labels.html``). Path parameters are named
``{workshop_id}``, ``{lesson_id}``, ``{dief_session_id}``… rather than the API's ``{workshop}``,
``{lesson}``…: the API's access walk (tests/test_lessons_access.py) sends JSON and expects
problem documents, so these pages have their own walk, with forms and HTML error pages, in
tests/test_curation_pages.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from babel.dates import format_date
from multidict import MultiDictProxy

from forum import keys
from forum.audit import service as audit
from forum.cases import vocabulary
from forum.db import transaction
from forum.errors import ConflictError, DomainError, ValidationError
from forum.i18n import gettext
from forum.reference import service as reference
from forum.web import actor_of, form_text, parse_uuid, read_form, redirect, render
from moderation.curation import briefing as briefing_md
from moderation.curation import chart, pages, service
from moderation.queue import service as queue

WORKSHOP_DONE = frozenset({"created", "officials", "takeaway"})
LESSON_DONE = frozenset({"created", "updated", "approved"})
SESSION_DONE = frozenset({"created", "added", "moved", "removed", "notes", "held"})
FLAG_DONE = frozenset({"hide", "restore", "dismiss"})
QUEUE_DONE = frozenset({"claimed", "dismissed"})
ITEM_STATES = ("open", "claimed", "waiting", "done")
LESSON_STATUSES = ("draft", "approved", "scheduled", "presented")


def _error(exc: DomainError) -> dict[str, Any]:
    """What a page needs to word a service's error (by its stable code, in the template)."""
    return {"title": exc.localized_title(gettext), "code": exc.code,
            "field": exc.public_fields.get("field"),
            "max_length": exc.public_fields.get("max_length")}


def _done(request: web.Request, allowed: frozenset[str]) -> str | None:
    value = request.query.get("done")
    return value if value in allowed else None


def _whole_number(text: str | None, *, default: int | None = None) -> object:
    """A form's whole number as int; anything else goes to the service as is (it says why)."""
    if not text:
        return default if default is not None else text
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else text


def _query_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    text = request.query.get(name) or None
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValidationError("Not an id", field=name, code=f"{name}_invalid") from None


# --- workshops and takeaways -----------------------------------------------------------------

async def _workshops_page(request: web.Request, *, error: dict[str, Any] | None = None,
                          form: Mapping[str, Any] | None = None,
                          status: int = 200) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        page = await pages.workshops(conn, actor)
    return render(request, "curation/workshops.html", {
        "page": page, "error": error, "form": form or {}, "max_title": service.MAX_TITLE,
        "max_place": service.MAX_PLACE}, status=status)


async def workshops_list(request: web.Request) -> web.Response:
    return await _workshops_page(request)


async def workshop_create(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    form = await read_form(request)
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            workshop = await service.create_workshop(
                conn, request.app[keys.KEYRING], actor, slug=form_text(form, "slug"),
                title=form_text(form, "title"), region=form_text(form, "region") or None,
                place=form_text(form, "place") or "", starts_on=form_text(form, "starts_on"),
                ends_on=form_text(form, "ends_on"),
                officials_trained=_whole_number(form_text(form, "officials_trained"),
                                                default=0))
    except (ValidationError, ConflictError) as exc:
        return await _workshops_page(request, error=_error(exc), form=form, status=exc.status)
    redirect(f"/workshops/{workshop.id}?done=created")


async def _workshop_page(request: web.Request, *, error: dict[str, Any] | None = None,
                         form: Mapping[str, Any] | None = None,
                         status: int = 200) -> web.Response:
    actor = actor_of(request)
    workshop_id = parse_uuid(request.match_info["workshop_id"])
    async with transaction(request.app[keys.POOL]) as conn:
        page = await pages.workshop(conn, request.app[keys.KEYRING], actor, workshop_id)
    return render(request, "curation/workshop.html", {
        "page": page, "w": page.workshop, "kinds": service.TAKEAWAY_KINDS, "error": error,
        "form": form or {}, "done": _done(request, WORKSHOP_DONE),
        "max_takeaway": service.MAX_TAKEAWAY}, status=status)


async def workshop_show(request: web.Request) -> web.Response:
    return await _workshop_page(request)


async def workshop_officials(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    workshop_id = parse_uuid(request.match_info["workshop_id"])
    form = await read_form(request)
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            await service.set_officials_trained(
                conn, request.app[keys.KEYRING], actor, workshop_id,
                _whole_number(form_text(form, "officials_trained")))
    except ValidationError as exc:
        return await _workshop_page(request, error=_error(exc), form=form, status=exc.status)
    redirect(f"/workshops/{workshop_id}?done=officials")


async def takeaway_create(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    workshop_id = parse_uuid(request.match_info["workshop_id"])
    form = await read_form(request)
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            await service.add_takeaway(conn, request.app[keys.KEYRING], actor, workshop_id,
                                       kind=form_text(form, "kind"),
                                       body=form_text(form, "body"),
                                       shareable=form_text(form, "shareable") == "1")
    except ValidationError as exc:
        return await _workshop_page(request, error=_error(exc), form=form, status=exc.status)
    redirect(f"/workshops/{workshop_id}?done=takeaway#takeaways")


# --- the review queue of every item type -----------------------------------------------------

async def _queue_page(request: web.Request, *, error: dict[str, Any] | None = None,
                      status: int = 200) -> web.Response:
    actor = actor_of(request)
    query = request.query
    filters = {name: query.get(name) or None for name in ("kind", "state", "region")}
    assignee = _query_uuid(request, "assignee")
    async with transaction(request.app[keys.POOL]) as conn:
        page = await pages.review_queue(conn, request.app[keys.KEYRING], actor,
                                        assignee=assignee, **filters)
    return render(request, "curation/items.html", {
        "page": page, "filters": filters, "assignee": str(assignee) if assignee else "",
        "kinds": queue.ITEM_KINDS, "states": ITEM_STATES, "error": error,
        "done": _done(request, QUEUE_DONE)}, status=status)


async def items_list(request: web.Request) -> web.Response:
    return await _queue_page(request)


def _act_url(item: Any) -> str:
    """Where a claimed queue item (a row of ``review_items``) is acted on."""
    kind = item["kind"]
    if kind == "case":
        return f"/moderation/cases/{item['case_id']}"
    if kind == "flag":
        return f"/moderation/flags/{item['post_id']}"
    if kind == "lesson":
        return f"/lessons/{item['lesson_id']}"
    return f"/moderation/items?kind=takeaway&done=claimed#item-{item['id']}"


async def item_claim(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    item_id = parse_uuid(request.match_info["item_id"])
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            item = await queue.claim_item(conn, request.app[keys.KEYRING], actor, item_id)
    except ConflictError as exc:
        return await _queue_page(request, error=_error(exc), status=exc.status)
    redirect(_act_url(item))


async def item_history(request: web.Request) -> web.Response:
    actor = actor_of(request)
    item_id = parse_uuid(request.match_info["item_id"])
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await queue.item_history(conn, actor, item_id)
    return render(request, "curation/item_history.html", {"history": rows, "item_id": item_id})


async def _flag_page(request: web.Request, *, error: dict[str, Any] | None = None,
                     form: Mapping[str, Any] | None = None, status: int = 200) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["flagged_id"])
    async with transaction(request.app[keys.POOL]) as conn:
        flagged = await queue.flagged_post(conn, request.app[keys.KEYRING], actor, post_id)
    return render(request, "curation/flag.html", {
        "post_id": post_id, "post": flagged.post, "flags": flagged.flags, "error": error,
        "form": form or {}, "done": _done(request, FLAG_DONE)}, status=status)


async def flag_show(request: web.Request) -> web.Response:
    return await _flag_page(request)


async def flag_act(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["flagged_id"])
    form = await read_form(request)
    action = form_text(form, "action") or ""
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            await queue.moderate_flag(conn, request.app[keys.KEYRING], actor, post_id, action,
                                      form_text(form, "reason"))
    except ValidationError as exc:
        return await _flag_page(request, error=_error(exc), form=form, status=exc.status)
    redirect(f"/moderation/flags/{post_id}?done={action}")


async def takeaway_dismiss(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    takeaway_id = parse_uuid(request.match_info["takeaway_id"])
    async with transaction(request.app[keys.POOL]) as conn:
        await queue.dismiss_takeaway(conn, request.app[keys.KEYRING], actor, takeaway_id)
    redirect("/moderation/items?kind=takeaway&done=dismissed")


# --- lessons ---------------------------------------------------------------------------------

async def lessons_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    status = request.query.get("status") or None
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await service.list_lessons(conn, actor, status)
    return render(request, "curation/lessons.html", {
        "lessons": rows, "status": status or "", "statuses": LESSON_STATUSES})


def _lesson_data(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The lesson form as the service's JSON-shaped input (lists for the checkboxes)."""
    def many(name: str) -> list[str]:
        return [v for v in form.getall(name, []) if isinstance(v, str)]

    data: dict[str, Any] = {name: form_text(form, name) or "" for name in (
        "title", *service.LESSON_TEXT_FIELDS)}
    data["region"] = form_text(form, "region") or None
    data.update(tags=many("tags"), takeaways=many("takeaways"), cases=many("cases"))
    return data


async def _lesson_form_page(request: web.Request, *, lesson_id: uuid.UUID | None = None,
                            error: dict[str, Any] | None = None,
                            data: dict[str, Any] | None = None,
                            status: int = 200) -> web.Response:
    actor = actor_of(request)
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        page = await pages.lesson_form(conn, app[keys.KEYRING], app[keys.SETTINGS], actor,
                                       lesson_id)
    if data is None and page.lesson is not None:
        lesson = page.lesson
        data = {"title": lesson.title, "summary": lesson.summary, "risk": lesson.risk,
                "indicators": lesson.indicators, "mitigation": lesson.mitigation,
                "challenge": lesson.challenge, "region": lesson.region_code,
                "tags": lesson.tags, "takeaways": [str(t) for t in lesson.takeaway_ids],
                "cases": [str(c) for c in lesson.case_ids]}
    elif data is None:  # a new lesson, perhaps from a takeaway of the queue
        data = {"takeaways": request.query.getall("takeaway", []),
                "cases": request.query.getall("case", []), "tags": []}
    return render(request, "curation/lesson_form.html", {
        "page": page, "data": data, "error": error, "vocab": vocabulary,
        "tag_vocabularies": service.TAG_VOCABULARIES, "max_title": service.MAX_TITLE,
        "text_fields": service.LESSON_TEXT_FIELDS}, status=status)


async def lesson_new(request: web.Request) -> web.Response:
    return await _lesson_form_page(request)


async def lesson_create(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    form = await read_form(request)
    data = _lesson_data(form)
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            lesson_id = await service.create_lesson(conn, request.app[keys.KEYRING], actor,
                                                    data)
    except ValidationError as exc:
        return await _lesson_form_page(request, error=_error(exc), data=data,
                                       status=exc.status)
    redirect(f"/lessons/{lesson_id}?done=created")


async def lesson_edit_form(request: web.Request) -> web.Response:
    return await _lesson_form_page(request,
                                   lesson_id=parse_uuid(request.match_info["lesson_id"]))


async def lesson_update(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    lesson_id = parse_uuid(request.match_info["lesson_id"])
    form = await read_form(request)
    data = _lesson_data(form)
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            await service.update_lesson(conn, request.app[keys.KEYRING], actor, lesson_id, data)
    except (ValidationError, ConflictError) as exc:
        return await _lesson_form_page(request, lesson_id=lesson_id, error=_error(exc),
                                       data=data, status=exc.status)
    redirect(f"/lessons/{lesson_id}?done=updated")


async def _lesson_page(request: web.Request, *, error: dict[str, Any] | None = None,
                       status: int = 200) -> web.Response:
    actor = actor_of(request)
    lesson_id = parse_uuid(request.match_info["lesson_id"])
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        page = await pages.lesson(conn, app[keys.KEYRING], app[keys.SETTINGS], actor, lesson_id)
    return render(request, "curation/lesson.html", {
        "page": page, "lesson": page.lesson, "vocab": vocabulary,
        "tag_vocabularies": service.TAG_VOCABULARIES, "error": error,
        "four_eyes": app[keys.SETTINGS].four_eyes, "done": _done(request, LESSON_DONE)},
        status=status)


async def lesson_show(request: web.Request) -> web.Response:
    return await _lesson_page(request)


async def lesson_approve(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    lesson_id = parse_uuid(request.match_info["lesson_id"])
    form = await read_form(request)
    app = request.app
    try:
        async with transaction(app[keys.POOL]) as conn:
            await service.approve_lesson(
                conn, app[keys.KEYRING], app[keys.SETTINGS], actor, lesson_id,
                acknowledge_warnings=form_text(form, "acknowledge_warnings") == "1")
    except ConflictError as exc:
        return await _lesson_page(request, error=_error(exc), status=exc.status)
    redirect(f"/lessons/{lesson_id}?done=approved")


# --- DIEF sessions ---------------------------------------------------------------------------

async def _sessions_page(request: web.Request, *, error: dict[str, Any] | None = None,
                         form: Mapping[str, Any] | None = None,
                         status: int = 200) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await service.list_sessions(conn, actor)
    return render(request, "curation/sessions.html", {
        "sessions": rows, "error": error, "form": form or {}, "max_title": service.MAX_TITLE,
        "max_place": service.MAX_PLACE}, status=status)


async def sessions_list(request: web.Request) -> web.Response:
    return await _sessions_page(request)


async def session_create(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    form = await read_form(request)
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            session_id = await service.create_session(
                conn, request.app[keys.KEYRING], actor, title=form_text(form, "title"),
                held_on=form_text(form, "held_on"), place=form_text(form, "place") or "Geneva")
    except ValidationError as exc:
        return await _sessions_page(request, error=_error(exc), form=form, status=exc.status)
    redirect(f"/dief-sessions/{session_id}?done=created")


async def _session_page(request: web.Request, *, error: dict[str, Any] | None = None,
                        status: int = 200) -> web.Response:
    actor = actor_of(request)
    session_id = parse_uuid(request.match_info["dief_session_id"])
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        page = await pages.session(conn, app[keys.KEYRING], app[keys.SETTINGS], actor,
                                   session_id)
    return render(request, "curation/session.html", {
        "page": page, "pack": page.pack, "error": error, "max_notes": service.MAX_NOTES,
        "done": _done(request, SESSION_DONE)}, status=status)


async def session_show(request: web.Request) -> web.Response:
    return await _session_page(request)


async def _session_action(request: web.Request, done: str) -> web.StreamResponse:
    """Every agenda form: one service call, back to the session page (or its error)."""
    actor = actor_of(request)
    session_id = parse_uuid(request.match_info["dief_session_id"])
    agenda_item = request.match_info.get("agenda_item_id")
    item_id = parse_uuid(agenda_item) if agenda_item is not None else None
    form = await read_form(request)
    keyring = request.app[keys.KEYRING]
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            if done == "added":
                await service.add_to_agenda(conn, keyring, actor, session_id,
                                            lesson=form_text(form, "lesson") or None,
                                            case=form_text(form, "case") or None,
                                            notes=form_text(form, "notes") or "")
            elif done == "held":
                await service.mark_held(conn, keyring, actor, session_id)
            else:
                assert item_id is not None
                if done == "moved":
                    await service.move_agenda_item(conn, keyring, actor, session_id, item_id,
                                                   form_text(form, "direction") or "")
                elif done == "notes":
                    await service.set_presenter_notes(conn, keyring, actor, session_id,
                                                      item_id, form_text(form, "notes") or "")
                else:
                    await service.remove_from_agenda(conn, keyring, actor, session_id, item_id)
    except (ValidationError, ConflictError) as exc:
        return await _session_page(request, error=_error(exc), status=exc.status)
    anchor = f"#agenda-{item_id}" if item_id is not None and done != "removed" else "#agenda"
    redirect(f"/dief-sessions/{session_id}?done={done}{anchor}")


async def agenda_add(request: web.Request) -> web.StreamResponse:
    return await _session_action(request, "added")


async def agenda_move(request: web.Request) -> web.StreamResponse:
    return await _session_action(request, "moved")


async def agenda_notes(request: web.Request) -> web.StreamResponse:
    return await _session_action(request, "notes")


async def agenda_remove(request: web.Request) -> web.StreamResponse:
    return await _session_action(request, "removed")


async def session_held(request: web.Request) -> web.StreamResponse:
    return await _session_action(request, "held")


async def session_briefing(request: web.Request) -> web.StreamResponse:
    """``?format=html`` (the printable page, default) or ``md`` (a download): the same
    rendering as ``GET /api/v1/dief-sessions/{session}/briefing``."""
    actor = actor_of(request)
    session_id = parse_uuid(request.match_info["dief_session_id"])
    fmt = request.query.get("format", "html")
    if fmt not in ("md", "html"):
        raise ValidationError("format is md or html", field="format", code="format_invalid")
    app = request.app
    lang = request[keys.LANGUAGE]
    async with transaction(app[keys.POOL]) as conn:
        pack = await service.briefing(conn, app[keys.KEYRING], app[keys.SETTINGS], actor,
                                      session_id)
        names = {r["code"]: r[f"name_{lang}"] for r in await reference.list_regions(conn)}
    if fmt == "html":
        return render(request, "moderation/briefing.html", {
            "pack": pack, "region_names": names, "vocab": vocabulary})
    text = briefing_md.to_markdown(pack, names, gettext)
    return web.Response(text=text, content_type="text/markdown", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="briefing-{pack.held_on}.md"'})


# --- indicators and audit --------------------------------------------------------------------

async def indicators(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        data = await service.indicators(conn, actor)
    lang = request[keys.LANGUAGE]
    points = [chart.Point(format_date(month, "MMM", locale=lang), str(month.year), posts,
                          members) for month, posts, members in data.monthly]
    return render(request, "curation/indicators.html", {
        "data": data, "points": points, "chart": chart.participation_chart,
        "workshop_target": service.WORKSHOP_TARGET,
        "officials_target": service.OFFICIALS_TARGET,
        "first_month": points[0] if points else None,
        "last_month": points[-1] if points else None})


async def audit_page(request: web.Request) -> web.Response:
    actor = actor_of(request)
    error = None
    try:
        filters: audit.AuditFilters | None = audit.parse_filters(request.query)
    except ValidationError as exc:
        filters, error = None, _error(exc)
    async with transaction(request.app[keys.POOL]) as conn:
        page = await pages.audit_log(conn, request.app[keys.KEYRING], actor, filters)
    entries = [audit.entry_json(row) for row in page.entries]
    return render(request, "curation/audit.html", {
        "entries": entries, "verify": page.verify, "error": error,
        "query": {name: request.query.get(name, "") for name in ("actor", "action", "since",
                                                                  "until")}},
        status=422 if error else 200)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/workshops", workshops_list, name="curation.workshops")
    r.add_post("/workshops", workshop_create, name="curation.workshop_create")
    r.add_get("/workshops/{workshop_id}", workshop_show, name="curation.workshop")
    r.add_post("/workshops/{workshop_id}/officials-trained", workshop_officials,
               name="curation.workshop_officials")
    r.add_post("/workshops/{workshop_id}/takeaways", takeaway_create,
               name="curation.takeaway_create")
    r.add_get("/moderation/items", items_list, name="curation.items")
    r.add_post("/moderation/items/{item_id}/claim", item_claim, name="curation.item_claim")
    r.add_get("/moderation/items/{item_id}/history", item_history,
              name="curation.item_history")
    r.add_get("/moderation/flags/{flagged_id}", flag_show, name="curation.flag")
    r.add_post("/moderation/flags/{flagged_id}", flag_act, name="curation.flag_act")
    r.add_post("/moderation/takeaways/{takeaway_id}/dismiss", takeaway_dismiss,
               name="curation.takeaway_dismiss")
    r.add_get("/moderation/audit", audit_page, name="curation.audit")
    r.add_get("/lessons", lessons_list, name="curation.lessons")
    r.add_post("/lessons", lesson_create, name="curation.lesson_create")
    r.add_get("/lessons/new", lesson_new, name="curation.lesson_new")
    r.add_get("/lessons/{lesson_id}", lesson_show, name="curation.lesson")
    r.add_get("/lessons/{lesson_id}/edit", lesson_edit_form, name="curation.lesson_edit_form")
    r.add_post("/lessons/{lesson_id}/edit", lesson_update, name="curation.lesson_update")
    r.add_post("/lessons/{lesson_id}/approve", lesson_approve, name="curation.lesson_approve")
    r.add_get("/dief-sessions", sessions_list, name="curation.sessions")
    r.add_post("/dief-sessions", session_create, name="curation.session_create")
    session = "/dief-sessions/{dief_session_id}"
    r.add_get(session, session_show, name="curation.session")
    r.add_get(f"{session}/briefing", session_briefing, name="curation.briefing")
    r.add_post(f"{session}/agenda", agenda_add, name="curation.agenda_add")
    r.add_post(f"{session}/agenda/{{agenda_item_id}}/move", agenda_move,
               name="curation.agenda_move")
    r.add_post(f"{session}/agenda/{{agenda_item_id}}/notes", agenda_notes,
               name="curation.agenda_notes")
    r.add_post(f"{session}/agenda/{{agenda_item_id}}/remove", agenda_remove,
               name="curation.agenda_remove")
    r.add_post(f"{session}/held", session_held, name="curation.session_held")
    r.add_get("/indicators", indicators, name="curation.indicators")
