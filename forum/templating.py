"""The Jinja2 environment and what every page gets.

Autoescaping is on for every template; the only markup inserted unescaped is what our own code
produced (``Markup``), e.g. sanitised post HTML and the QR code SVG. Templates are compiled
once and cached by Jinja (``auto_reload`` off outside development).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from forum import i18n, keys
from forum.errors import localize

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def create_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Plain functions as filters: a filter is a direct call, where a method call in a template
    # (``p.created_at.isoformat()``) goes through Jinja's slower ``Context.call``.
    env.filters["isoformat"] = lambda value: value.isoformat()
    # Every time shown is UTC, and says so: readers sit in every time zone of the treaty.
    env.filters["utc_minute"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC")
    # Trim whitespace in {% trans %} blocks at runtime exactly as extraction does (babel.cfg).
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def base_context(request: web.Request) -> dict[str, Any]:
    actor = request.get(keys.ACTOR)
    catalogs = request.app[keys.CATALOGS]
    settings = request.app[keys.SETTINGS]
    return {
        "actor": actor if actor is not None and actor.mfa_passed else None,
        "partial_actor": actor,
        "lang": request.get(keys.LANGUAGE, catalogs.default),
        "languages": [(code, i18n.LANGUAGE_NAMES[code]) for code in catalogs.languages],
        "csrf_token": request.get(keys.CSRF_TOKEN, ""),
        "request_path": request.path_qs,
        "demo": settings.demo,
    }


def render_error_page(request: web.Request, status: int, code: str, title: str,
                      detail: str | None, params: Mapping[str, Any]) -> web.StreamResponse:
    env = request.app[keys.TEMPLATES]
    names = [f"errors/{status}.html", "errors/error.html"]
    template = env.select_template(names)

    context = {**base_context(request), "status": status, "code": code,
               "title": localize(title, params, i18n.gettext),
               "detail": localize(detail, params, i18n.gettext) if detail else None}
    return web.Response(text=template.render(context), status=status, content_type="text/html",
                        charset="utf-8")
