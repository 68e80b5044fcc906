"""Markdown → safe HTML, behind one function: ``render_markdown``.

Two layers, so one mistake is not enough to run script in a reader's browser:

1. markdown-it-py with the ``js-default`` preset: raw HTML in the source is escaped, and its
   link validator refuses ``javascript:``, ``vbscript:``, ``file:`` and most ``data:`` URLs.
2. bleach sanitises the produced HTML against a strict allow-list (``ALLOWED_TAGS``,
   ``ALLOWED_ATTRIBUTES``, ``ALLOWED_PROTOCOLS``): no ``style``, no event attributes, no
   ``img``/``svg``/``iframe``/``form``; every link gets ``rel="nofollow noopener noreferrer"``.
   Bare URLs in the text are turned into links *after* that sanitising pass (bleach runs its
   filters last), so the linkifier is given a URL pattern built from ``ALLOWED_PROTOCOLS``: with
   bleach's default pattern it also made links of ``data:``, ``ftp:``, ``feed:``, ``ssh:``… URLs
   (``data://example.com/text/html;base64,…`` became ``<a href="data://…">``), past the
   allow-list. Found by the XSS corpus (tests/xss_payloads.py).

The rendered HTML is computed once at write time and stored (encrypted) next to the Markdown,
so reads never re-render. ``sanitise_html`` is the one sanitiser: swap or compare it here.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import bleach
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
})
ALLOWED_ATTRIBUTES: dict[str, list[str]] = {"a": ["href", "title", "rel"], "abbr": ["title"],
                                            "ol": ["start"], "th": ["align"], "td": ["align"]}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})")


@functools.cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("js-default").enable("table").enable("strikethrough")


def _set_rel(attrs: dict[Any, str], new: bool = False) -> dict[Any, str]:
    attrs[(None, "rel")] = LINK_REL
    return attrs


@functools.cache
def _cleaner() -> bleach.Cleaner:
    from bleach.linkifier import LinkifyFilter, build_url_re

    return bleach.Cleaner(
        tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=ALLOWED_PROTOCOLS,
        strip=True, strip_comments=True,
        # The linkifier runs after the sanitiser: it may only make links the allow-list allows.
        filters=[functools.partial(LinkifyFilter, callbacks=[_set_rel],
                                   skip_tags=["pre", "code"], parse_email=False,
                                   url_re=build_url_re(protocols=ALLOWED_PROTOCOLS))],
    )


def sanitise_html(html: str) -> str:
    """The allow-list sanitiser every rendered post goes through."""
    return str(_cleaner().clean(html))


def render_markdown(text: str) -> str:
    """Markdown source → sanitised HTML fragment."""
    return sanitise_html(_markdown().render(text))


def mention_handles(text: str) -> set[str]:
    """``@handle`` tokens outside code; handles are matched to members by the service."""
    without_code = re.sub(r"```.*?```|`[^`]*`", " ", text, flags=re.DOTALL)
    return {match.group(1).rstrip(".").casefold() for match in MENTION.finditer(without_code)}


def handle_for(display_name: str) -> str:
    """The handle a member is mentioned by: their display name without spaces."""
    return re.sub(r"[^A-Za-z0-9._-]", "", display_name.replace(" ", "")).casefold()


def quote(author: str, text: str, limit: int = 2000) -> str:
    """A Markdown block quote of ``text`` attributed to ``author``, for quote-replies."""
    snippet = text if len(text) <= limit else text[:limit].rstrip() + " …"
    lines = [f"> **{author}** wrote:", ">"] + [f"> {line}" if line else ">"
                                              for line in snippet.splitlines()]
    return "\n".join(lines) + "\n\n"
