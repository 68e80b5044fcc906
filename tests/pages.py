"""A form-posting client for the HTML page tests (tests/test_*_pages.py): real HTTP, the CSRF
token in a hidden field as a browser sends it, no JavaScript, and every page checked for its
weight."""

from __future__ import annotations

import html
from typing import Any

from aiohttp.test_utils import TestClient

from tests.factories import TestUser, sign_in

MAX_PAGE = 100_000  # bytes: what a page may weigh


class Page:
    def __init__(self, status: int, text: str, headers: Any) -> None:
        self.status, self.text, self.headers = status, text, headers
        assert len(text.encode()) < MAX_PAGE, f"page of {len(text.encode())} bytes"

    @property
    def location(self) -> str:
        return str(self.headers.get("Location", ""))

    def has(self, text: str) -> bool:
        """``text`` is on the page, as written or HTML-escaped."""
        return html.escape(text, quote=False) in self.text or text in self.text


class Browser:
    """One signed-in user at a time in the client's cookie jar, posting forms as a browser
    does (the CSRF token in a hidden field, no JavaScript)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    async def sign_in(self, user: TestUser) -> Browser:
        self.client.session.cookie_jar.clear()
        self.csrf = await sign_in(self.client, user)
        return self

    async def get(self, path: str, **headers: str) -> Page:
        async with self.client.get(path, allow_redirects=False,
                                   headers={"Accept-Language": "en", **headers}) as r:
            return Page(r.status, await r.text(), r.headers)

    async def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]] | None = None,
                   **headers: str) -> Page:
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        async with self.client.post(path, data=[*fields, ("csrf_token", self.csrf)],
                                    allow_redirects=False,
                                    headers={"Accept-Language": "en", **headers}) as r:
            return Page(r.status, await r.text(), r.headers)
