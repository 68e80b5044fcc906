"""Typed domain errors and the one middleware that turns them into responses.

Services raise ``DomainError`` subclasses; they never build responses. ``error_middleware``
maps them — and aiohttp's own ``HTTPException`` errors — to ``application/problem+json``
(RFC 9457) for API requests, or to an HTML error page otherwise. Anything unexpected is logged
with its traceback and answered with a generic 500 that carries no exception text, SQL or
stack trace. ``public_fields`` is an allow-list of extra members rendered in the problem
document; ``log_context`` is only ever logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


Translate = Callable[[str], str]


class Label(str):
    """A word of the interface given as a param (a field's name: "Title"): looked up in the
    catalogs with the message. Mark the literal for extraction with ``lazy_gettext``."""


def _fill(text: str, params: Mapping[str, Any]) -> str:
    # Only with params: a title without any may hold a literal "%".
    return text % params if params else text


def localize(text: str, params: Mapping[str, Any], gettext: Translate) -> str:
    """A message template translated, then filled with ``params`` (``Label`` params too
    translated)."""
    return _fill(gettext(text), {k: gettext(v) if isinstance(v, Label) else v
                                 for k, v in params.items()})


class DomainError(Exception):
    """``title`` and ``detail`` are English, ready for the API and the logs. A message with
    numbers or names in it is written as a template with ``%(name)s`` placeholders and
    ``params`` (never an f-string), so that ``localized_title``/``localized_detail`` can look
    the template up in the catalogs (scripts/i18n.py extracts it) and fill it in afterwards.
    """

    status = 500
    code = "error"
    title = "Something went wrong"

    def __init__(self, title: str | None = None, *, detail: str | None = None,
                 code: str | None = None, params: Mapping[str, Any] | None = None,
                 log_context: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, **public_fields: Any) -> None:
        self.params = dict(params or {})
        self.title_template = title if title is not None else type(self).title
        self.detail_template = detail
        self.title = _fill(self.title_template, self.params)
        if code is not None:
            self.code = code
        self.detail = _fill(detail, self.params) if detail is not None else None
        self.public_fields = public_fields
        self.log_context = log_context or {}
        self.headers = headers or {}
        super().__init__(self.title)

    def localized_title(self, gettext: Translate) -> str:
        return localize(self.title_template, self.params, gettext)

    def localized_detail(self, gettext: Translate) -> str | None:
        if self.detail_template is None:
            return None
        return localize(self.detail_template, self.params, gettext)


class ValidationError(DomainError):
    status = 422
    code = "invalid_input"
    title = "The request is not valid"


class AuthRequiredError(DomainError):
    status = 401
    code = "auth_required"
    title = "Please sign in"


class ForbiddenError(DomainError):
    status = 403
    code = "forbidden"
    title = "You may not do this"


class NotFoundError(DomainError):
    """Missing *and* not-yours: the same answer, so nothing leaks across rooms."""

    status = 404
    code = "not_found"
    title = "Not found"


class ConflictError(DomainError):
    status = 409
    code = "conflict"
    title = "This conflicts with the current state"


class PayloadTooLargeError(DomainError):
    status = 413
    code = "payload_too_large"
    title = "The request is too large"


class RateLimitedError(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many attempts; please wait and try again"

    def __init__(self, retry_after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after = retry_after
        self.headers["Retry-After"] = str(retry_after)


_HTTP_CODES = {400: "bad_request", 401: "auth_required", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 422: "invalid_input", 429: "rate_limited"}
_HTTP_TITLES = {400: "Bad request", 401: "Please sign in", 403: "You may not do this",
                404: "Not found", 405: "Method not allowed", 409: "Conflict",
                413: "The request is too large", 415: "Unsupported media type",
                422: "The request is not valid", 429: "Too many attempts; please wait and try "
                "again", 500: "Something went wrong"}


def wants_json(request: web.Request) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def problem_response(status: int, code: str, title: str, detail: str | None = None,
                     extra: dict[str, Any] | None = None,
                     headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"type": f"https://dief.invalid/problems/{code}", "title": title,
                            "status": status, "code": code}
    if detail:
        body["detail"] = detail
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return web.Response(status=status, text=json.dumps(body), headers=headers,
                        content_type="application/problem+json")


ErrorPageRenderer = Callable[[web.Request, int, str, str, str | None, Mapping[str, Any]],
                             web.StreamResponse]
"""(request, status, code, title, detail, params): title and detail are English templates for
the page to translate, then fill with ``params`` (see ``DomainError``)."""
ERROR_PAGE_RENDERER: web.AppKey[ErrorPageRenderer] = web.AppKey("error_page_renderer")


def _render(request: web.Request, status: int, code: str, title: str, detail: str | None,
            extra: dict[str, Any] | None, headers: dict[str, str] | None,
            params: Mapping[str, Any] | None = None) -> web.StreamResponse:
    params = params or {}
    renderer = request.app.get(ERROR_PAGE_RENDERER)
    if wants_json(request) or renderer is None:
        return problem_response(status, code, _fill(title, params),
                                _fill(detail, params) if detail else detail, extra, headers)
    response = renderer(request, status, code, title, detail, params)
    response.set_status(status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        log.info("domain error %s %s on %s %s %s", exc.status, exc.code, request.method,
                 request.path, exc.log_context or "")
        return _render(request, exc.status, exc.code, exc.title_template, exc.detail_template,
                       exc.public_fields, exc.headers, exc.params)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        log.info("http error %s on %s %s", exc.status, request.method, request.path)
        headers = {k: v for k, v in exc.headers.items() if k in {"Allow", "Retry-After"}}
        return _render(request, exc.status, _HTTP_CODES.get(exc.status, "error"),
                       _HTTP_TITLES.get(exc.status, exc.reason), None, None, headers)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _render(request, 500, "internal_error", _HTTP_TITLES[500], None, None, None)
