"""JSON API of anonymous cases: submission, follow-up with the receipt, published cases.

The receipt travels in the JSON body (``receipt``) or the ``X-Case-Receipt`` header — never in
a URL, where it would end up in browser history and proxy logs.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from forum import keys
from forum.cases import service, vocabulary
from forum.db import transaction
from forum.i18n import gettext as _
from forum.web import actor_of, client_address, json_ok, parse_uuid, read_json
from moderation.queue import service as queue


def _receipt(request: web.Request, body: dict[str, Any]) -> object:
    return body.get("receipt") or request.headers.get("X-Case-Receipt")


async def submit(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        submission = await service.submit_case(conn, request.app[keys.KEYRING], actor, body)
    return json_ok({"id": str(submission.case_id), "receipt": submission.receipt,
                    "status": "pending",
                    "warning": "Keep this receipt: it is the only way to follow this case, and "
                               "it cannot be recovered."}, status=201)


async def lookup(request: web.Request) -> web.Response:
    body = await read_json(request) if request.body_exists else {}
    view = await service.lookup(request.app[keys.POOL], request.app[keys.KEYRING],
                                _receipt(request, body), client_address(request))
    return json_ok(service.to_json(view))


async def messages(request: web.Request) -> web.Response:
    body = await read_json(request)
    view = await service.add_message(request.app[keys.POOL], request.app[keys.KEYRING],
                                     _receipt(request, body), body.get("body"),
                                     client_address(request))
    return json_ok(service.to_json(view), status=201)


async def withdraw(request: web.Request) -> web.Response:
    body = await read_json(request) if request.body_exists else {}
    view = await service.withdraw(request.app[keys.POOL], request.app[keys.KEYRING],
                                  _receipt(request, body), client_address(request))
    return json_ok(service.to_json(view))


async def destroy_original(request: web.Request) -> web.Response:
    body = await read_json(request) if request.body_exists else {}
    view = await service.destroy_original(request.app[keys.POOL], request.app[keys.KEYRING],
                                          _receipt(request, body), client_address(request))
    return json_ok(service.to_json(view))


async def vocabularies(request: web.Request) -> web.Response:
    actor_of(request)
    lists = {**vocabulary.SINGLE, **vocabulary.MULTI}
    return json_ok({name: [{"code": code, "label": _(label)} for code, label in items.items()]
                    for name, items in lists.items()})


def published_json(case: queue.PublishedCase) -> dict[str, Any]:
    return {"id": str(case.case_id), "room_id": str(case.room.id),
            "thread_id": str(case.thread_id), "published_on": case.published_on.isoformat(),
            "region": case.region, "destroyed": case.content is None,
            "content": case.content}


async def published(request: web.Request) -> web.Response:
    actor = actor_of(request)
    case_id = parse_uuid(request.match_info["case"])
    async with transaction(request.app[keys.POOL]) as conn:
        case = await queue.published_case(conn, request.app[keys.KEYRING],
                                          request.app[keys.SETTINGS], actor, case_id)
    return json_ok(published_json(case))


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/cases", submit, name="api.cases_submit")
    r.add_post("/api/v1/cases/lookup", lookup, name="api.cases_lookup")
    r.add_post("/api/v1/cases/messages", messages, name="api.cases_messages")
    r.add_post("/api/v1/cases/withdraw", withdraw, name="api.cases_withdraw")
    r.add_post("/api/v1/cases/destroy-original", destroy_original,
               name="api.cases_destroy_original")
    r.add_get("/api/v1/cases/vocabulary", vocabularies, name="api.cases_vocabulary")
    r.add_get("/api/v1/cases/{case}", published, name="api.case_published")
