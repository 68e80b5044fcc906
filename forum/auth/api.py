"""JSON API of accounts: session, me, second factor, invitations, personal access tokens."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from forum import keys
from forum.auth import service
from forum.db import transaction
from forum.middlewares import csrf_token_for
from forum.web import (
    actor_of,
    clear_session_cookie,
    client_address,
    client_label,
    json_ok,
    parse_uuid,
    read_json,
    set_session_cookie,
)


def me_json(actor: service.Actor) -> dict[str, Any]:
    return {"id": str(actor.user_id), "email": actor.email, "display_name": actor.display_name,
            "role": actor.role, "state": actor.state_iso3, "language": actor.language,
            "second_factor_passed": actor.mfa_passed, "totp_enrolled": actor.totp_enrolled}


def token_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "created_at": row["created_at"].isoformat(),
            "last_used_at": row["last_used_at"].isoformat() if row["last_used_at"] else None}


def _session_answer(request: web.Request, result: service.SignInResult,
                    status: int = 201) -> web.Response:
    assert result.actor.session_token_hash is not None
    csrf = csrf_token_for(request.app[keys.KEYRING].csrf_key, result.actor.session_token_hash)
    response = json_ok({"user": me_json(result.actor), "csrf_token": csrf}, status=status)
    set_session_cookie(request, response, result.token)
    return response


async def session_create(request: web.Request) -> web.Response:
    body = await read_json(request)
    app = request.app
    result = await service.sign_in(
        app[keys.POOL], app[keys.HASHER], app[keys.KEYRING], app[keys.SETTINGS],
        app[keys.DUMMY_HASH], email=body.get("email"), password=body.get("password"),
        totp_code=body.get("totp"), client_address=client_address(request),
        client_label=client_label(request))
    return _session_answer(request, result)


async def session_delete(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        await service.sign_out(conn, request.app[keys.KEYRING], actor)
    response = web.Response(status=204)
    clear_session_cookie(request, response)
    return response


async def me(request: web.Request) -> web.Response:
    return json_ok(me_json(actor_of(request)))


async def totp_start(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request) if request.body_exists else {}
    async with transaction(request.app[keys.POOL]) as conn:
        enrolment = await service.start_totp_enrolment(
            conn, request.app[keys.HASHER], request.app[keys.KEYRING], actor,
            password=body.get("password"),
            current_code=body.get("current_code"))
    return json_ok({"secret": enrolment.secret_b32, "otpauth_uri": enrolment.uri}, status=201)


async def totp_confirm(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        codes, session = await service.confirm_totp(conn, app[keys.KEYRING],
                                                     app[keys.SETTINGS], actor,
                                                     body.get("code"))
    answer: dict[str, Any] = {"recovery_codes": codes}
    if session is not None:
        assert session.actor.session_token_hash is not None
        answer["csrf_token"] = csrf_token_for(app[keys.KEYRING].csrf_key,
                                              session.actor.session_token_hash)
    response = json_ok(answer)
    if session is not None:
        set_session_cookie(request, response, session.token)
    return response


async def invitation_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        invitation, token = await service.invite(conn, app[keys.KEYRING], app[keys.SETTINGS],
                                                 actor, email=body.get("email"),
                                                 role=body.get("role"), state=body.get("state"))
    return json_ok({"id": str(invitation.id), "email": invitation.email, "role": invitation.role,
                    "state": invitation.state_iso3, "token": token,
                    "expires_at": invitation.expires_at.isoformat(),
                    "url": f"{app[keys.SETTINGS].base_url}/invitations/{token}"}, status=201)


async def invitation_accept(request: web.Request) -> web.Response:
    body = await read_json(request)
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        user_id: uuid.UUID = await service.accept_invitation(
            conn, app[keys.HASHER], app[keys.KEYRING], token=request.match_info["token"],
            display_name=body.get("display_name"), password=body.get("password"))
    return json_ok({"user_id": str(user_id)}, status=201)


async def tokens_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        rows = await service.list_api_tokens(conn, actor)
    return json_ok({"tokens": [token_json(row) for row in rows]})


async def tokens_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        row, token = await service.create_api_token(conn, request.app[keys.KEYRING], actor,
                                                    body.get("name"))
    return json_ok({**token_json(row), "token": token}, status=201)


async def tokens_delete(request: web.Request) -> web.Response:
    actor = actor_of(request)
    token_id = parse_uuid(request.match_info["token_id"])
    async with transaction(request.app[keys.POOL]) as conn:
        await service.revoke_api_token(conn, request.app[keys.KEYRING], actor, token_id)
    return web.Response(status=204)


async def openapi(request: web.Request) -> web.Response:
    from forum.openapi import document

    return json_ok(document(request.app[keys.SETTINGS].base_url))


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/session", session_create, name="api.session_create")
    r.add_delete("/api/v1/session", session_delete, name="api.session_delete")
    r.add_get("/api/v1/me", me, name="api.me")
    r.add_post("/api/v1/me/totp", totp_start, name="api.totp_start")
    r.add_post("/api/v1/me/totp/confirm", totp_confirm, name="api.totp_confirm")
    r.add_post("/api/v1/invitations", invitation_create, name="api.invitation_create")
    r.add_post("/api/v1/invitations/{token}/accept", invitation_accept,
               name="api.invitation_accept")
    r.add_get("/api/v1/tokens", tokens_list, name="api.tokens_list")
    r.add_post("/api/v1/tokens", tokens_create, name="api.tokens_create")
    r.add_delete("/api/v1/tokens/{token_id}", tokens_delete, name="api.tokens_delete")
    r.add_get("/api/v1/openapi.json", openapi, name="api.openapi")
