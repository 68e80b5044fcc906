"""HTML pages of anonymous cases: the source's form, its receipt and the follow-up, and the
published case for the members of its room. Every page works without JavaScript.

The four source pages are ``ANONYMOUS_ROUTES`` (forum/middlewares.py), so the session is read
but never written. They keep nothing between requests and put nothing in a URL: the receipt is
shown once in the answer to the submission, and afterwards travels only in POST bodies (the
follow-up form, then a hidden field of every form on the follow-up page). Answers are
``no-store`` like every page. A single ``POST /cases/follow-up`` takes an ``action``
(lookup | message | withdraw | destroy), so that the route names stay the four listed there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from forum import keys
from forum.cases import service, vocabulary
from forum.db import transaction
from forum.errors import ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError
from forum.i18n import gettext as _
from forum.reference import service as reference
from forum.web import actor_of, client_address, form_text, parse_uuid, read_form, render
from moderation.queue import service as queue

FIRST_YEAR = 1990  # the service refuses earlier periods
QUARTERS = ("1", "2", "3", "4")
TEXT_FIELDS = tuple(vocabulary.SENSITIVE_FIELDS)


def _error(exc: DomainError) -> dict[str, Any]:
    """What a page shows of a domain error: its translated title and the field it is about."""
    return {"title": exc.localized_title(_), "detail": exc.localized_detail(_),
            "code": exc.code, "field": exc.public_fields.get("field"),
            "max_length": exc.public_fields.get("max_length")}


# --- the submission form ----------------------------------------------------------------------

def _case_data(form: Mapping[str, Any]) -> dict[str, Any]:
    """The form as the service reads a case (``check_case``), plus the period's two selects
    so that a re-rendered form keeps them."""
    getall = getattr(form, "getall", None)
    data: dict[str, Any] = {}
    for name in vocabulary.SINGLE:
        data[name] = form_text(form, name) or ""
    for name in vocabulary.MULTI:
        values = getall(name, []) if getall else []
        data[name] = [v for v in values if isinstance(v, str)]
    for name in TEXT_FIELDS:
        data[name] = form_text(form, name) or ""
    data["region"] = form_text(form, "region") or ""
    data["form_token"] = form_text(form, "form_token") or ""
    year = form_text(form, "period_year") or ""
    quarter = form_text(form, "period_quarter") or ""
    data["period_year"], data["period_quarter"] = year, quarter
    # A quarter without a year is passed on as is, for the service to refuse.
    data["period"] = (year + (f"-Q{quarter}" if quarter else "")) if year or quarter else ""
    return data


def _require_delegate(request: web.Request) -> None:
    # The rule is the service's (submit_case); the form page answers the same way up front.
    if actor_of(request).role != "delegate":
        raise ForbiddenError("Only delegates of States submit cases")


async def _form_page(request: web.Request, values: dict[str, Any], *,
                     error: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    async with transaction(request.app[keys.POOL]) as conn:
        regions = await reference.list_regions(conn)
    this_year = service.today().year
    return render(request, "cases/form.html", {
        "v": values, "error": error, "regions": regions, "vocab": vocabulary,
        "years": [str(y) for y in range(this_year, FIRST_YEAR - 1, -1)], "quarters": QUARTERS,
        "region_k": request.app[keys.SETTINGS].region_k,
        "max_narrative": service.MAX_NARRATIVE, "max_field": service.MAX_FIELD}, status=status)


async def case_form(request: web.Request) -> web.Response:
    _require_delegate(request)
    lang = request.get(keys.LANGUAGE, "en")
    return await _form_page(request, {"attribution": "anonymous",
                                      "language": lang if lang in vocabulary.LANGUAGES else "",
                                      "form_token": service.new_form_token()})


async def case_submit(request: web.Request) -> web.Response:
    actor = actor_of(request)
    form = await read_form(request)
    data = _case_data(form)
    app = request.app
    try:
        async with transaction(app[keys.POOL]) as conn:
            submission = await service.submit_case(conn, app[keys.KEYRING], actor, data)
    except ValidationError as exc:
        return await _form_page(request, data, error=_error(exc), status=exc.status)
    except ConflictError as exc:
        if exc.code != "case_already_submitted":
            raise
        # A reload of the receipt page, or a second click: the case was shared once.
        return render(request, "cases/already_sent.html", {}, status=exc.status)
    # Rendered, not redirected: the receipt exists only in this answer.
    return render(request, "cases/receipt.html", {
        "receipt": submission.receipt, "groups": submission.receipt.split("-"),
        "batch_hours": app[keys.SETTINGS].case_batch_hours})


# --- the follow-up with the receipt -----------------------------------------------------------

def _is_receipt_error(exc: DomainError) -> bool:
    return isinstance(exc, NotFoundError) or exc.public_fields.get("field") == "receipt"


async def follow_up_form(request: web.Request) -> web.Response:
    actor_of(request)
    return render(request, "cases/follow_up.html", {"error": None})


async def follow_up(request: web.Request) -> web.Response:
    actor_of(request)
    form = await read_form(request)
    app = request.app
    pool, keyring, address = app[keys.POOL], app[keys.KEYRING], client_address(request)
    receipt = form_text(form, "receipt") or ""
    action = form_text(form, "action") or "lookup"
    confirmed = form_text(form, "confirm") == "yes"
    body = form_text(form, "body")
    context: dict[str, Any] = {"receipt": receipt, "error": None, "notice": None, "draft": "",
                               "vocab": vocabulary, "text_fields": TEXT_FIELDS,
                               "max_message": service.MAX_MESSAGE}
    try:
        if action == "message":
            view = await service.add_message(pool, keyring, receipt, body, address)
            context["notice"] = "message_sent"
        elif action == "withdraw" and confirmed:
            view = await service.withdraw(pool, keyring, receipt, address)
            context["notice"] = "withdrawn"
        elif action == "destroy" and confirmed and form_text(form, "understood") == "1":
            view = await service.destroy_original(pool, keyring, receipt, address)
            context["notice"] = "destroyed"
        else:
            view = await service.lookup(pool, keyring, receipt, address)
            if action in ("withdraw", "destroy"):  # the confirmation step
                missing = action == "destroy" and confirmed  # confirmed without the box
                return render(request, "cases/confirm.html", {
                    **context, "case": view, "action": action, "missing_box": missing},
                    status=422 if missing else 200)
    except (ValidationError, NotFoundError, ConflictError) as exc:
        if _is_receipt_error(exc):
            return render(request, "cases/follow_up.html", {"error": _error(exc)},
                          status=exc.status)
        # About the action (an empty message, a closed case): the receipt is right, or has
        # not been checked yet; show the case again with the error and the draft.
        try:
            view = await service.lookup(pool, keyring, receipt, address)
        except (ValidationError, NotFoundError) as again:
            return render(request, "cases/follow_up.html", {"error": _error(again)},
                          status=again.status)
        context.update(error=_error(exc), draft=body or "")
        return render(request, "cases/status.html", {**context, "case": view},
                      status=exc.status)
    return render(request, "cases/status.html", {**context, "case": view})


# --- the published case -----------------------------------------------------------------------

async def published(request: web.Request) -> web.Response:
    actor = actor_of(request)
    case_id = parse_uuid(request.match_info["case"])
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        case = await queue.published_case(conn, app[keys.KEYRING], app[keys.SETTINGS], actor,
                                          case_id)
        regions = {r["code"]: r for r in await reference.list_regions(conn)}
        iso3 = (case.content or {}).get("attributed_state")
        state = await reference.get_state(conn, iso3) if iso3 else None
    return render(request, "cases/published.html", {
        "case": case, "c": case.content or {}, "region": regions.get(case.region or ""),
        "state": state, "vocab": vocabulary, "text_fields": TEXT_FIELDS})


def setup_routes(app: web.Application) -> None:
    r = app.router
    # The fixed paths first: "/cases/{case}" would otherwise be tried for "new".
    r.add_get("/cases/new", case_form, name="cases.form")
    r.add_post("/cases", case_submit, name="cases.submit")
    r.add_get("/cases/follow-up", follow_up_form, name="cases.follow_up_form")
    r.add_post("/cases/follow-up", follow_up, name="cases.follow_up")
    r.add_get("/cases/{case}", published, name="cases.published")
