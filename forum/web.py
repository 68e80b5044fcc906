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
from yarl import URL

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


def _storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor lone surrogates (which JSON allows: a string
    such as ``"\\ud800"``)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_text_storable(document: Any) -> bool:
    """Every string (keys included) in a parsed JSON document; iterative, nesting is untrusted."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not _storable(value):
                return False
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


_UNSTORABLE = "The request contains a NUL character or text that is not valid Unicode"


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="expected application/json")
    try:
        body = await request.json()
    except (ValueError, RecursionError, LookupError):
        # ValueError covers JSONDecodeError, UnicodeDecodeError and integers beyond
        # sys.get_int_max_str_digits(); RecursionError is nesting deeper than the parser allows;
        # LookupError is an unknown charset in the Content-Type.
        raise ValidationError("The body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object", code="invalid_json")
    if not _all_text_storable(body):
        raise ValidationError(_UNSTORABLE, code="invalid_text")
    return body


async def parse_form(request: web.Request) -> MultiDictProxy[Any]:
    """``request.post()`` with undecodable bytes and NUL characters answered as a 422."""
    try:
        form = await request.post()
    except (ValueError, LookupError):  # undecodable, malformed multipart, unknown charset
        raise ValidationError("The form could not be read", code="invalid_form") from None
    if not all(_storable(value) for value in form.values() if isinstance(value, str)):
        raise ValidationError(_UNSTORABLE, code="invalid_text")
    return form


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    if request.content_type not in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        raise web.HTTPUnsupportedMediaType(text="expected a form")
    return await parse_form(request)


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
        if forwarded and forwarded.isascii():  # undecodable bytes arrive as lone surrogates
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


def see_other(location: str) -> web.Response:
    """A 303 to return (e.g. to set a cookie on); aiohttp deprecates *returning* HTTPSeeOther.

    The location is normalised by yarl exactly as ``HTTPSeeOther`` does.
    """
    return web.Response(status=303, headers={"Location": str(URL(location))})


def safe_next(value: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect).

    Control characters are refused too: browsers (and yarl) drop tabs and newlines from URLs,
    so ``/<TAB>/evil.example`` would become ``//evil.example``.
    """
    if (value and value.startswith("/") and not value.startswith("//") and "\\" not in value
            and value.isprintable()):
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
