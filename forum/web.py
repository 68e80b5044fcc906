"""Small helpers every handler shares: parsing input, rendering, cookies, redirects.

Handlers stay thin: parse with ``read_json``/``read_form``, get the actor with ``actor_of``,
call one service function inside ``transaction``, answer with ``render``/``json_ok``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, NoReturn

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from forum import keys
from forum.auth.service import Actor
from forum.errors import AuthRequiredError, NotFoundError, ValidationError

SESSION_COOKIE = "dief_session"
SESSION_COOKIE_SECURE = "__Host-dief_session"
LANG_COOKIE = "dief_lang"


def actor_of(request: web.Request) -> Actor:
    """The signed-in actor (the middleware has already enforced the route's policy)."""
    actor: Actor | None = request.get(keys.ACTOR)
    if actor is None:
        raise AuthRequiredError()
    return actor


def maybe_actor(request: web.Request) -> Actor | None:
    return request.get(keys.ACTOR)


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="expected application/json")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError("The body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object", code="invalid_json")
    return body


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    if request.content_type not in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        raise web.HTTPUnsupportedMediaType(text="expected a form")
    return await request.post()


def form_text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def parse_uuid(text: str) -> uuid.UUID:
    """A UUID from a URL segment; anything else is simply not found."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFoundError() from None


def client_address(request: web.Request) -> str:
    settings = request.app[keys.SETTINGS]
    if settings.trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


def client_label(request: web.Request) -> str:
    """A coarse description of the browser for the session list (no version numbers)."""
    agent = request.headers.get("User-Agent", "")
    browser = next((name for name in ("Firefox", "Edg", "Chrome", "Safari") if name in agent),
                   "Other client")
    system = next((name for name in ("Windows", "Mac OS", "Android", "iPhone", "Linux")
                   if name in agent), "")
    return f"{'Edge' if browser == 'Edg' else browser} {system}".strip()


def session_cookie_name(request: web.Request) -> str:
    return SESSION_COOKIE_SECURE if request.app[keys.SETTINGS].https else SESSION_COOKIE


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    https = request.app[keys.SETTINGS].https
    response.set_cookie(session_cookie_name(request), token, path="/", httponly=True,
                        secure=https, samesite="Lax")


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    https = request.app[keys.SETTINGS].https
    response.del_cookie(session_cookie_name(request), path="/", secure=https, httponly=True,
                        samesite="Lax")


def redirect(location: str) -> NoReturn:
    raise web.HTTPSeeOther(location)


def safe_next(value: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def render(request: web.Request, template: str, context: dict[str, Any] | None = None,
           *, status: int = 200) -> web.Response:
    env: jinja2.Environment = request.app[keys.TEMPLATES]
    from forum.templating import base_context  # late: templating imports this module

    html = env.get_template(template).render({**base_context(request), **(context or {})})
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def json_ok(data: Any, *, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, default=str))
