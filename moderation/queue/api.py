"""JSON API of the moderators' review queue (``/api/v1/moderation/...``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from forum import keys
from forum.cases import service as cases
from forum.db import transaction
from forum.errors import ValidationError
from forum.web import actor_of, json_ok, parse_uuid, read_json
from moderation.queue import service


def item_json(row: Any) -> dict[str, Any]:
    return {"id": str(row["id"]), "kind": row["kind"], "case_id": str(row["case_id"]),
            "state": row["state"], "assignee": row["assignee_name"],
            "case_status": row["case_status"], "transfer_stage": row["transfer_stage"],
            "released_at": row["released_at"].isoformat()}


def moderator_case_json(mc: service.ModeratorCase) -> dict[str, Any]:
    data = cases.to_json(mc.case)
    data["region_code"] = mc.case.analytic.get("region_code")
    data["region_disclosed"] = mc.disclosed_region
    data["item"] = ({"id": str(mc.item["id"]), "state": mc.item["state"],
                     "assignee_id": str(mc.item["assignee_id"]) if mc.item["assignee_id"]
                     else None} if mc.item else None)
    data["history"] = [{"action": h["action"], "actor": h["actor_name"], "note": h["note"],
                        "at": h["occurred_at"].isoformat()} for h in mc.history]
    data["redaction"] = mc.redaction
    data["redaction_diff"] = mc.redaction_diff
    data["approved_by"] = mc.approver_name
    data["correlations"] = [{"case_id": str(c.case_id), "field": c.field, "shared": c.shared}
                            for c in mc.correlations]
    data["publication"] = ({"room_id": str(mc.publication["room_id"]),
                            "thread_id": str(mc.publication["thread_id"])}
                           if mc.publication else None)
    return data


async def queue_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        items, counts = await service.list_queue(conn, actor,
                                                 state=request.query.get("state") or None,
                                                 kind=request.query.get("kind") or None)
    return json_ok({"items": [item_json(row) for row in items], "counts": counts})


async def claim(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request) if request.body_exists else {}
    case_ref = body.get("case_id")
    if case_ref is not None and not isinstance(case_ref, str):
        raise ValidationError("case_id is a string", field="case_id")
    async with transaction(request.app[keys.POOL]) as conn:
        case_id = await service.claim(conn, request.app[keys.KEYRING], actor,
                                      parse_uuid(case_ref) if case_ref else None)
    return json_ok({"case_id": str(case_id) if case_id else None})


async def case_show(request: web.Request) -> web.Response:
    actor = actor_of(request)
    case_id = parse_uuid(request.match_info["case"])
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        mc = await service.case_for_moderator(conn, app[keys.KEYRING], app[keys.SETTINGS],
                                              actor, case_id)
    return json_ok(moderator_case_json(mc))


async def _act(request: web.Request, action: str) -> web.Response:
    actor = actor_of(request)
    case_id = parse_uuid(request.match_info["case"])
    body = await read_json(request) if request.body_exists else {}
    app = request.app
    keyring = app[keys.KEYRING]
    async with transaction(app[keys.POOL]) as conn:
        if action == "ask":
            await service.ask(conn, keyring, actor, case_id, body.get("question"))
        elif action == "redact":
            await service.redact(conn, keyring, actor, case_id, body.get("fields"))
        elif action == "approve":
            await service.approve(conn, keyring, actor, case_id)
        elif action == "reject":
            await service.reject(conn, keyring, actor, case_id, body.get("reason"))
        else:
            await service.publish(conn, keyring, app[keys.SETTINGS], actor, case_id,
                                  body.get("room"))
        mc = await service.case_for_moderator(conn, keyring, app[keys.SETTINGS], actor,
                                              case_id)
    return json_ok(moderator_case_json(mc))


async def ask(request: web.Request) -> web.Response:
    return await _act(request, "ask")


async def redact(request: web.Request) -> web.Response:
    return await _act(request, "redact")


async def approve(request: web.Request) -> web.Response:
    return await _act(request, "approve")


async def reject(request: web.Request) -> web.Response:
    return await _act(request, "reject")


async def publish(request: web.Request) -> web.Response:
    return await _act(request, "publish")


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/moderation/queue", queue_list, name="api.moderation_queue")
    r.add_post("/api/v1/moderation/claim", claim, name="api.moderation_claim")
    r.add_get("/api/v1/moderation/cases/{case}", case_show, name="api.moderation_case")
    r.add_post("/api/v1/moderation/cases/{case}/questions", ask,
               name="api.moderation_ask")
    r.add_put("/api/v1/moderation/cases/{case}/redaction", redact,
              name="api.moderation_redact")
    r.add_post("/api/v1/moderation/cases/{case}/approve", approve,
               name="api.moderation_approve")
    r.add_post("/api/v1/moderation/cases/{case}/publish", publish,
               name="api.moderation_publish")
    r.add_post("/api/v1/moderation/cases/{case}/reject", reject, name="api.moderation_reject")
