"""The request pipeline: request id → error mapping → size limit → session → policy → CSRF.

Security headers and the request id are added in ``on_response_prepare`` so that *every*
response carries them — errors, redirects and aiohttp's own answers included.

Access is deny-by-default: a route is reachable only by a fully signed-in actor (password and
second factor) unless its name is in ``PUBLIC_ROUTES`` or, for the second-factor pages,
``PARTIAL_ROUTES``.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from urllib.parse import quote, urlsplit

from aiohttp import web

from crypto import tokens
from forum import db, i18n, keys
from forum.auth import service as auth
from forum.errors import AuthRequiredError, ForbiddenError, Handler
from forum.web import LANG_COOKIE, parse_form, session_cookie_name

log = logging.getLogger(__name__)

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

PUBLIC_ROUTES = frozenset({
    "health.live", "health.ready", "static", "auth.signin_form", "auth.signin",
    "auth.invitation_form", "auth.invitation_accept", "api.session_create",
    "api.invitation_accept", "api.openapi", "prefs.language",
})
PARTIAL_ROUTES = frozenset({
    "auth.second_factor_form", "auth.second_factor", "auth.enrol_form", "auth.enrol_start",
    "auth.enrol_confirm", "auth.signout", "api.session_delete", "api.me", "api.totp_start",
    "api.totp_confirm",
})
# Routes of anonymous case sources: the session is read (the forum is closed) but never
# written, so nothing records when its user submitted or followed up a case (DESIGN §5).
ANONYMOUS_ROUTES = frozenset({
    "cases.form", "cases.submit", "cases.follow_up_form", "cases.follow_up",
    "api.cases_submit", "api.cases_lookup", "api.cases_messages", "api.cases_withdraw",
    "api.cases_destroy_original",
})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[keys.REQUEST_ID] = request_id
    request_id_var.set(request_id)
    return await handler(request)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["X-Request-ID"] = request.get(keys.REQUEST_ID, "-")
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
    if request.app[keys.SETTINGS].https:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Vary", "Cookie, Accept-Language")


def csrf_token_for(key: bytes, session_token_hash: bytes) -> str:
    """The CSRF token of a session: HMAC of its token hash, so nothing extra is stored."""
    return tokens.csrf_token(key, session_token_hash)


def _route_name(request: web.Request) -> str:
    route = request.match_info.route
    name = route.name if route is not None else None
    if name is None and route is not None and route.resource is not None:
        name = route.resource.name
    return name or ""


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the actor (cookie or bearer token), pick the language, enforce the route policy."""
    app = request.app
    settings = app[keys.SETTINGS]
    catalogs = app[keys.CATALOGS]
    actor: auth.Actor | None = None
    if not request.path.startswith("/static/"):
        bearer = request.headers.get("Authorization", "")
        cookie = request.cookies.get(session_cookie_name(request), "")
        if bearer.startswith("Bearer ") or cookie:
            touch = _route_name(request) not in ANONYMOUS_ROUTES
            # No transaction: one SELECT, and at most once a minute one UPDATE of last_seen_at
            # that stands alone (saves BEGIN and COMMIT on every request).
            async with db.connection(app[keys.POOL]) as conn:
                if bearer.startswith("Bearer "):
                    actor = await auth.load_token(conn, bearer[7:].strip(), touch=touch)
                    if actor is None:
                        raise AuthRequiredError("The access token is not valid",
                                                code="invalid_token")
                else:
                    actor = await auth.load_session(conn, settings, cookie, touch=touch)
    request[keys.ACTOR] = actor
    if actor is not None and actor.session_token_hash is not None:
        request[keys.CSRF_TOKEN] = csrf_token_for(app[keys.KEYRING].csrf_key,
                                              actor.session_token_hash)

    language = (actor.language if actor and actor.language in catalogs.languages else None) \
        or (request.cookies.get(LANG_COOKIE) if request.cookies.get(LANG_COOKIE)
            in catalogs.languages else None) \
        or catalogs.negotiate(request.headers.get("Accept-Language", ""))
    request[keys.LANGUAGE] = language
    i18n.activate(catalogs.get(language))

    # Deny by default: every matched route not named in PUBLIC_ROUTES is checked, unnamed
    # ones included. Only aiohttp's own 404/405 answers (no route matched) skip the policy.
    if request.match_info.http_exception is None:
        name = _route_name(request)
        if name not in PUBLIC_ROUTES:
            _enforce_policy(request, name, actor)
    return await handler(request)


def _enforce_policy(request: web.Request, name: str, actor: auth.Actor | None) -> None:
    api = request.path.startswith("/api/")
    if actor is None:
        if api or request.method not in SAFE_METHODS:
            raise AuthRequiredError()
        target = request.path_qs
        raise web.HTTPSeeOther("/signin?next=" + quote(target, safe=""))
    if not actor.mfa_passed and name not in PARTIAL_ROUTES:
        if api:
            raise AuthRequiredError("Complete the second factor first",
                                    code="second_factor_required")
        raise web.HTTPSeeOther("/signin/2fa" if actor.totp_enrolled else "/account/2fa/enrol")


def _origin_allowed(request: web.Request) -> bool:
    settings = request.app[keys.SETTINGS]
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in {"same-origin", "none"}:
        return False
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser, or an old one; Sec-Fetch-Site was checked above
        return True
    if origin == "null":
        # With Referrer-Policy: no-referrer, Chromium sends "Origin: null" on same-origin form
        # posts; Sec-Fetch-Site (which page script cannot set) then says where it came from.
        return fetch_site == "same-origin"
    allowed = {settings.base_url, f"{request.scheme}://{request.host}"}
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" in allowed


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unsafe requests: same-origin only; with a session cookie, also the CSRF token.

    Bearer-token requests carry no ambient credential, so they need neither.
    """
    if request.method in SAFE_METHODS:
        return await handler(request)
    actor: auth.Actor | None = request.get(keys.ACTOR)
    if actor is not None and actor.via_token:
        return await handler(request)
    if not _origin_allowed(request):
        raise ForbiddenError("Cross-site request refused", code="cross_site")
    expected = request.get(keys.CSRF_TOKEN)
    if expected is not None:
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type in {"application/x-www-form-urlencoded",
                                                     "multipart/form-data"}:
            form = await parse_form(request)
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
        if not sent or not tokens.csrf_token_matches(sent, expected):
            raise ForbiddenError("The form has expired or the security token is missing; "
                                 "reload the page and try again", code="csrf_failed")
    return await handler(request)
