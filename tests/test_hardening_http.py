"""Hardening over real HTTP: CSRF and Origin checks, cookie flags, security headers on every
response (errors included), the deny-by-default route policy, and hostile input that must
never produce a 500.

The route walks are generic: they enumerate ``app.router`` so that every route added later is
covered without touching this file. Helpers defined here: ``start_app`` (the app with other
settings, optionally extra routes), ``raw_request`` (bytes a normal client cannot send).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from forum import keys, middlewares
from forum.app import create_app
from forum.settings import Settings
from tests import conftest
from tests.factories import PASSWORD, make_user, sign_in

AppHook = Callable[[web.Application], None]
EVIL = "https://evil.example"


async def start_app(aiohttp_client: Any, database_url: str, tmp_path: Path,
                    extra_routes: AppHook | None = None, **environ: str) -> TestClient:
    settings = Settings.from_env(conftest.test_environ(tmp_path, **environ))
    app = create_app(settings, database_url=database_url)
    if extra_routes is not None:
        extra_routes(app)
    client: TestClient = await aiohttp_client(app)
    return client


async def raw_request(client: TestClient, data: bytes) -> int:
    """Send raw bytes (e.g. invalid UTF-8 in a header) and return the status code."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(data)
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    return int(status_line.split()[1])


def anonymous(client: TestClient) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=str(client.make_url("/")),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))


async def problem(response: aiohttp.ClientResponse, status: int,
                  code: str | None = None) -> dict[str, Any]:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/problem+json", text
    body: dict[str, Any] = json.loads(text)
    assert body["status"] == status and body["title"].strip()
    if code is not None:
        assert body["code"] == code, body
    return body


def post_forms(html: str) -> list[str]:
    return re.findall(r'<form[^>]*method="post"[^>]*>.*?</form>', html, flags=re.S)


# --- CSRF and same-origin checks ---------------------------------------------------------------

async def test_cookie_sessions_need_the_csrf_token(client: TestClient) -> None:
    user = await make_user(client)
    csrf = await sign_in(client, user)
    body = {"name": "script"}
    await problem(await client.post("/api/v1/tokens", json=body), 403, "csrf_failed")
    for forged in ("0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1"), csrf + "0",
                   "é" * 64, ""):
        await problem(await client.post("/api/v1/tokens", json=body,
                                        headers={"X-CSRF-Token": forged}), 403, "csrf_failed")
    # Another session's token is no good either.
    async with anonymous(client) as other_browser:
        other_csrf = await sign_in(other_browser, await make_user(client))
    await problem(await client.post("/api/v1/tokens", json=body,
                                    headers={"X-CSRF-Token": other_csrf}), 403, "csrf_failed")
    # DELETE is unsafe too: the session survives a forged sign-out.
    await problem(await client.delete("/api/v1/session"), 403, "csrf_failed")
    assert (await client.get("/api/v1/me")).status == 200

    own_origin = str(client.make_url("/")).rstrip("/")
    for extra in ({}, {"Origin": own_origin}, {"Sec-Fetch-Site": "same-origin"},
                  {"Sec-Fetch-Site": "none"}):
        response = await client.post("/api/v1/tokens", json=body,
                                     headers={"X-CSRF-Token": csrf, **extra})
        assert response.status == 201, (extra, await response.text())
    async with client.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM api_tokens") == 4


async def test_cross_site_requests_are_refused_even_with_the_token(client: TestClient) -> None:
    user = await make_user(client)
    csrf = await sign_in(client, user)
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Origin": own_lookalike(client)},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": str(client.make_url("/")).rstrip("/"),
                     "Sec-Fetch-Site": "cross-site"}):
        response = await client.post("/api/v1/tokens", json={"name": "x"},
                                     headers={"X-CSRF-Token": csrf, **headers})
        await problem(response, 403, "cross_site")
    # HTML forms get an HTML page saying why.
    page = await (await client.get("/account")).text()
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert form_token is not None
    response = await client.post("/account/tokens", headers={"Origin": EVIL},
                                 data={"csrf_token": form_token.group(1), "name": "x"})
    assert response.status == 403 and response.content_type == "text/html"
    # Signing in from another site (login CSRF) is refused too, without any session.
    async with anonymous(client) as fresh:
        await problem(await fresh.post("/api/v1/session", headers={"Origin": EVIL}, json={
            "email": user.email, "password": PASSWORD}), 403, "cross_site")
        response = await fresh.post("/signin", headers={"Sec-Fetch-Site": "cross-site"},
                                    data={"email": user.email, "password": PASSWORD})
        assert response.status == 403
        assert not [c for c in fresh.cookie_jar if c.key == "dief_session"]
    async with client.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM api_tokens") == 0


def own_lookalike(client: TestClient) -> str:
    """Same host, other port: a different origin."""
    return f"http://{client.host}:{client.port + 1}"


async def test_html_forms_need_the_csrf_token(client: TestClient) -> None:
    await sign_in(client, await make_user(client))
    for data in ({"name": "x"}, {"name": "x", "csrf_token": "forged"}):
        response = await client.post("/account/tokens", data=data)
        assert response.status == 403
        assert response.content_type == "text/html"
        assert "security token" in await response.text()
    page = await (await client.get("/account")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = await client.post("/account/tokens", data={"name": "x",
                                                           "csrf_token": token.group(1)})
    assert response.status == 200


async def test_bearer_requests_need_no_csrf_token(client: TestClient) -> None:
    csrf = await sign_in(client, await make_user(client))
    created = await (await client.post("/api/v1/tokens", json={"name": "ci"},
                                       headers={"X-CSRF-Token": csrf})).json()
    async with anonymous(client) as script:
        response = await script.post("/api/v1/tokens", json={"name": "from script"},
                                     headers={"Authorization": f"Bearer {created['token']}"})
        assert response.status == 201, await response.text()
        response = await script.delete(f"/api/v1/tokens/{created['id']}",
                                       headers={"Authorization": f"Bearer {created['token']}"})
        assert response.status == 204


async def test_html_forms_carry_the_csrf_token(client: TestClient) -> None:
    admin = await make_user(client, role="admin")
    csrf = await sign_in(client, admin)
    checked = 0
    for path in ("/", "/account", "/admin/users"):
        response = await client.get(path)
        assert response.status == 200, path
        for form in post_forms(await response.text()):
            assert f'name="csrf_token" value="{csrf}"' in form, (path, form[:200])
            checked += 1
    newcomer = await make_user(client, with_totp=False)
    enrolled = await make_user(client)
    for user, path in ((newcomer, "/account/2fa/enrol"), (enrolled, "/signin/2fa")):
        async with anonymous(client) as agent:
            response = await agent.post("/api/v1/session", json={"email": user.email,
                                                                 "password": user.password})
            partial_csrf = (await response.json())["csrf_token"]
            page = await (await agent.get(path)).text()
            forms = post_forms(page)
            assert len(forms) >= 2, path  # the page's own form and sign-out
            for form in forms:
                assert f'name="csrf_token" value="{partial_csrf}"' in form, (path, form[:200])
                checked += 1
    assert checked >= 8


async def test_sign_in_form_carries_the_csrf_token_when_a_session_exists(
        client: TestClient) -> None:
    user = await make_user(client)
    await sign_in(client, user)
    page = await (await client.get("/signin")).text()
    for form in post_forms(page):
        assert 'name="csrf_token" value=""' not in form
        assert 'name="csrf_token"' in form


# --- cookies and headers -----------------------------------------------------------------------

async def test_session_cookie_flags(client: TestClient) -> None:
    user = await make_user(client)
    response = await client.post("/api/v1/session", json={
        "email": user.email, "password": user.password, "totp": user.next_code()})
    html = await client.post("/signin", allow_redirects=False,
                             data={"email": user.email, "password": user.password},
                             headers={"X-CSRF-Token": (await response.json())["csrf_token"]})
    for answer in (response, html):
        cookie = answer.cookies["dief_session"]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert cookie["path"] == "/"
        assert not cookie["secure"]  # plain http in this test; see the https test
        assert not cookie["domain"] and not cookie["max-age"] and not cookie["expires"]
        assert "Strict-Transport-Security" not in answer.headers


async def test_https_cookie_is_host_prefixed_and_secure_with_hsts(
        aiohttp_client: Any, database_url: str, tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path,
                             DIEF_BASE_URL="https://forum.example")
    user = await make_user(client)
    response = await client.post("/api/v1/session", json={
        "email": user.email, "password": user.password, "totp": user.next_code()})
    assert response.status == 201, await response.text()
    assert "dief_session" not in response.cookies
    cookie = response.cookies["__Host-dief_session"]
    assert cookie["secure"] is True and cookie["httponly"] is True
    assert (cookie["path"], cookie["samesite"], cookie["domain"]) == ("/", "Lax", "")
    hsts = response.headers["Strict-Transport-Security"]
    max_age = re.search(r"max-age=(\d+)", hsts)
    assert max_age is not None and int(max_age.group(1)) >= 31536000
    for path in ("/nope", "/api/v1/me", "/signin"):
        assert "Strict-Transport-Security" in (await client.get(path)).headers, path

    value = cookie.value
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as raw:
        async with raw.get(client.make_url("/api/v1/me"),
                           headers={"Cookie": f"__Host-dief_session={value}"}) as answer:
            assert answer.status == 200
        # Under https the unprefixed name is not read at all.
        async with raw.get(client.make_url("/api/v1/me"),
                           headers={"Cookie": f"dief_session={value}"}) as answer:
            assert answer.status == 401


def assert_security_headers(response: aiohttp.ClientResponse, label: str) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert csp, label
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, label
    assert "frame-ancestors 'none'" in csp, label
    assert "script-src 'self'" in csp or "default-src 'none'" in csp, label
    assert headers.get("Referrer-Policy") == "no-referrer", label
    assert headers.get("X-Content-Type-Options") == "nosniff", label
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", headers.get("X-Request-ID", "")), label
    if not response.url.path.startswith("/static/"):
        assert headers.get("Cache-Control") == "no-store", label


def boom_routes(app: web.Application) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret-detail: password=hunter2 at /srv/dief/forum/x.py")

    app.router.add_get("/test/boom", boom, name="test.boom")
    app.router.add_get("/api/v1/test/boom", boom, name="test.api_boom")


async def test_security_headers_on_every_response(aiohttp_client: Any, database_url: str,
                                                  tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path, boom_routes,
                             DIEF_LOGIN_MAX_PER_ACCOUNT="1", DIEF_MAX_BODY_BYTES="2048")
    user = await make_user(client)
    csrf = await sign_in(client, user)
    big = json.dumps({"name": "x" * 4096})
    Call = Callable[[aiohttp.ClientSession | TestClient], Awaitable[aiohttp.ClientResponse]]
    signed_in: list[tuple[int, str, Call]] = [
        (200, "api", lambda c: c.get("/api/v1/me")),
        (200, "html", lambda c: c.get("/account")),
        (201, "api", lambda c: c.post("/api/v1/tokens", json={"name": "x"},
                                      headers={"X-CSRF-Token": csrf})),
        (403, "api", lambda c: c.post("/api/v1/tokens", json={"name": "x"})),
        (403, "html", lambda c: c.post("/account/tokens", data={"name": "x"})),
        (404, "api", lambda c: c.delete(f"/api/v1/tokens/{uuid.uuid4()}",
                                        headers={"X-CSRF-Token": csrf})),
        (413, "api", lambda c: c.post("/api/v1/tokens", data=big, headers={
            "X-CSRF-Token": csrf, "Content-Type": "application/json"})),
        (415, "api", lambda c: c.post("/api/v1/tokens", data="name=x", headers={
            "X-CSRF-Token": csrf, "Content-Type": "text/plain"})),
        (422, "api", lambda c: c.post("/api/v1/tokens", json={},
                                      headers={"X-CSRF-Token": csrf})),
        (500, "api", lambda c: c.get("/api/v1/test/boom")),
        (500, "html", lambda c: c.get("/test/boom")),
    ]
    anonymous_calls: list[tuple[int, str, Call]] = [
        (200, "api", lambda c: c.get("/healthz")),
        (200, "html", lambda c: c.get("/signin")),
        (200, "static", lambda c: c.get("/static/app.css")),
        (303, "html", lambda c: c.get("/account", allow_redirects=False)),
        (401, "api", lambda c: c.get("/api/v1/me")),
        (401, "html", lambda c: c.post("/signin", data={"email": "a@b.org",
                                                        "password": "wrong password here"})),
        (404, "html", lambda c: c.get("/no/such/page")),
        (404, "api", lambda c: c.get("/api/v1/no/such/thing")),
        (404, "static", lambda c: c.get("/static/missing.css")),  # aiohttp's empty 404
        (405, "api", lambda c: c.put("/api/v1/session", json={})),
        (405, "html", lambda c: c.delete("/signin")),
        (413, "api", lambda c: c.post("/api/v1/session", data=big,
                                      headers={"Content-Type": "application/json"})),
        (413, "html", lambda c: c.post("/signin", data={"email": "a" * 4096})),
        (415, "api", lambda c: c.post("/api/v1/session", data="x",
                                      headers={"Content-Type": "text/plain"})),
        (422, "api", lambda c: c.post("/api/v1/session", json={})),
        (422, "html", lambda c: c.post("/signin", data={})),
        (429, "api", lambda c: c.post("/api/v1/session", json={
            "email": "a@b.org", "password": "wrong password here"})),
        (429, "html", lambda c: c.post("/signin", data={"email": "a@b.org",
                                                        "password": "wrong password here"})),
    ]
    seen = set()
    async with anonymous(client) as stranger:
        for agent, calls in ((client, signed_in), (stranger, anonymous_calls)):
            for status, kind, call in calls:
                response = await call(agent)
                label = f"{status} {kind} {response.method} {response.url.path}"
                assert response.status == status, (label, await response.text())
                assert_security_headers(response, label)
                if kind == "api" and status >= 400:
                    await problem(response, status)
                elif kind == "html" and status >= 400:
                    assert response.content_type == "text/html", label
                if status == 429:
                    assert int(response.headers["Retry-After"]) > 0
                if status == 405:
                    assert "Allow" in response.headers
                seen.add(status)
    assert seen >= {200, 201, 303, 401, 403, 404, 405, 413, 415, 422, 429, 500}


async def test_an_unexpected_error_reveals_nothing(aiohttp_client: Any, database_url: str,
                                                   tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path, boom_routes)
    await sign_in(client, await make_user(client))
    with caplog.at_level(logging.ERROR):
        for path, content_type in (("/api/v1/test/boom", "application/problem+json"),
                                   ("/test/boom", "text/html")):
            response = await client.get(path)
            text = await response.text()
            assert response.status == 500
            assert response.content_type == content_type
            for leak in ("secret-detail", "hunter2", "RuntimeError", "Traceback", "/srv/dief",
                         ".py"):
                assert leak not in text, (path, leak)
            if content_type == "application/problem+json":
                assert json.loads(text)["code"] == "internal_error"
    # ...but the operator's log has the traceback, tied to the request id.
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert len(logged) == 2


async def test_request_id_is_echoed_only_when_well_formed(client: TestClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "trace-1234abcd"})
    assert response.headers["X-Request-ID"] == "trace-1234abcd"
    for bad in ("short", "has space in it", "x" * 65, "<script>alert(1)</script>"):
        response = await client.get("/healthz", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), bad


# --- deny-by-default route policy ------------------------------------------------------------

def concrete_path(resource: web.AbstractResource) -> str:
    """A request path for a resource, path parameters replaced by random values."""
    info = resource.get_info()
    if "path" in info:
        return str(info["path"])
    assert "formatter" in info, f"unknown resource kind {resource!r}: teach the walk about it"
    for filler in ("uuid", "1", "abc"):
        path = re.sub(r"\{[^}]+\}",
                      lambda _match, f=filler: str(uuid.uuid4()) if f == "uuid" else f,
                      info["formatter"])
        if info["pattern"].fullmatch(path):
            return path
    raise AssertionError(f"cannot build a path for {info['formatter']}")


def protected_routes(app: web.Application) -> Iterator[tuple[str, str, str]]:
    """(name, method, path) of every route that needs a full sign-in."""
    open_names = middlewares.PUBLIC_ROUTES | middlewares.PARTIAL_ROUTES
    for resource in app.router.resources():
        if (resource.name or "") in open_names:
            continue
        for route in resource:
            if route.method == "HEAD":  # the GET twin is walked
                continue
            method = "GET" if route.method == "*" else route.method
            yield resource.name or "(unnamed)", method, concrete_path(resource)


async def test_policy_names_real_routes(client: TestClient) -> None:
    names = {resource.name for resource in client.app.router.resources()}
    missing = (middlewares.PUBLIC_ROUTES | middlewares.PARTIAL_ROUTES) - names
    assert not missing, f"policy lists routes that do not exist: {missing}"
    assert not middlewares.PUBLIC_ROUTES & middlewares.PARTIAL_ROUTES


async def test_a_password_only_session_reaches_no_forum_page(client: TestClient) -> None:
    routes = list(protected_routes(client.app))
    assert len(routes) >= 10
    newcomer = await make_user(client, with_totp=False)
    enrolled = await make_user(client)
    for user, html_target in ((newcomer, "/account/2fa/enrol"), (enrolled, "/signin/2fa")):
        async with anonymous(client) as agent:
            response = await agent.post("/api/v1/session", json={"email": user.email,
                                                                 "password": user.password})
            body = await response.json()
            assert body["user"]["second_factor_passed"] is False
            headers = {"X-CSRF-Token": body["csrf_token"]}
            for name, method, path in routes:
                response = await agent.request(method, path, headers=headers,
                                               allow_redirects=False)
                label = f"{name} {method} {path}"
                if path.startswith("/api/"):
                    await problem(response, 401, "second_factor_required")
                else:
                    assert response.status == 303, (label, response.status)
                    assert response.headers["Location"] == html_target, label
            # The partial pages themselves are reachable.
            assert (await agent.get(html_target)).status == 200
            assert (await agent.get("/api/v1/me")).status == 200


async def test_anonymous_visitors_reach_only_public_routes(client: TestClient) -> None:
    async with anonymous(client) as agent:
        for name, method, path in protected_routes(client.app):
            response = await agent.request(method, path, allow_redirects=False)
            label = f"{name} {method} {path}"
            if path.startswith("/api/"):
                await problem(response, 401, "auth_required")
            elif method == "GET":
                assert response.status == 303, label
                assert response.headers["Location"].startswith("/signin?next="), label
            else:
                assert response.status == 401, label
        for name in sorted(middlewares.PARTIAL_ROUTES):
            resource = client.app.router[name]
            for route in resource:
                if route.method in {"GET", "POST", "DELETE"}:
                    response = await agent.request(route.method, concrete_path(resource),
                                                   allow_redirects=False)
                    assert response.status in {303, 401}, (name, route.method)


async def test_unnamed_routes_are_denied_by_default(aiohttp_client: Any, database_url: str,
                                                    tmp_path: Path) -> None:
    async def secret(request: web.Request) -> web.Response:
        return web.json_response({"secret": True})

    def add(app: web.Application) -> None:
        app.router.add_get("/forgot-to-name", secret)
        app.router.add_get("/api/v1/forgot-to-name", secret)

    client = await start_app(aiohttp_client, database_url, tmp_path, add)
    response = await client.get("/forgot-to-name", allow_redirects=False)
    assert response.status == 303
    await problem(await client.get("/api/v1/forgot-to-name"), 401)
    user = await make_user(client)
    async with anonymous(client) as agent:
        await agent.post("/api/v1/session", json={"email": user.email,
                                                  "password": user.password})
        await problem(await agent.get("/api/v1/forgot-to-name"), 401, "second_factor_required")
    await sign_in(client, user)
    assert (await client.get("/api/v1/forgot-to-name")).status == 200


# --- hostile input: a 4xx, never a 500 ---------------------------------------------------------

async def test_unstorable_text_is_refused_not_crashed_on(client: TestClient) -> None:
    """NUL and lone surrogates cannot be stored in PostgreSQL text; they must not become 500s."""
    bad_strings = ["x\u0000y@example.org", "x\ud800y@example.org"]
    async with anonymous(client) as stranger:
        for bad in bad_strings:
            await problem(await stranger.post("/api/v1/session", data=json.dumps(
                {"email": bad, "password": PASSWORD}), headers={
                "Content-Type": "application/json"}), 422)
        response = await stranger.post("/signin", data={"email": "a\x00@b.org",
                                                        "password": PASSWORD})
        assert response.status == 422
    admin = await make_user(client, role="admin")
    csrf = await sign_in(client, admin)
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    for bad in bad_strings:
        for path, payload in (
                ("/api/v1/invitations", {"email": bad, "role": "observer"}),
                ("/api/v1/tokens", {"name": bad}),
                ("/api/v1/tokens", {bad: "key"}),
                ("/api/v1/tokens", {"name": "ok", "nested": [[{"x": bad}]]})):
            await problem(await client.post(path, data=json.dumps(payload), headers=headers),
                          422)
    page = await (await client.get("/account")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = await client.post("/account/tokens", data={"csrf_token": token.group(1),
                                                          "name": "a\x00b"})
    assert response.status == 422
    form = aiohttp.FormData()
    form.add_field("csrf_token", token.group(1))
    form.add_field("name", "a\x00b")
    assert (await client.post("/account/tokens", data=form)).status == 422
    async with client.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM api_tokens") == 0


async def test_malformed_bodies_are_refused_not_crashed_on(client: TestClient) -> None:
    json_bodies = ["[" * 100_000, "[" * 990 + "]" * 990, '{"email": ' + "1" * 5000 + "}",
                   '{"email": 1e999999}', '{"a": NaN}']
    for body in json_bodies:
        response = await client.post("/api/v1/session", data=body,
                                     headers={"Content-Type": "application/json"})
        assert 400 <= response.status < 500, (body[:20], response.status)
    form_bodies = [
        ("application/x-www-form-urlencoded", b"email=\xff\xfe&password=x"),
        ("multipart/form-data; boundary=XX",
         b'--XX\r\nContent-Disposition: form-data; name="email"\r\n\r\n\xff\xfe\r\n--XX--\r\n'),
        ("multipart/form-data; boundary=XX", b"not multipart at all"),
        ("multipart/form-data", b"--XX--\r\n"),
    ]
    for content_type, data in form_bodies:
        response = await client.post("/signin", data=data, headers={"Content-Type": content_type})
        assert 400 <= response.status < 500, (content_type, data[:20], response.status)
    # The same through the CSRF middleware, which reads forms of signed-in users first.
    await sign_in(client, await make_user(client))
    for content_type, data in form_bodies:
        response = await client.post("/account/tokens", data=data,
                                     headers={"Content-Type": content_type})
        assert 400 <= response.status < 500, (content_type, data[:20], response.status)


async def test_undecodable_header_bytes_are_refused_not_crashed_on(
        aiohttp_client: Any, database_url: str, tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path, DIEF_TRUST_PROXY="true")
    body = b'{"email": "a@b.org", "password": "wrong password here"}'
    requests = [
        b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nCookie: dief_session=\xff\xfe\r\n",
        b"GET /account HTTP/1.1\r\nHost: x\r\nCookie: dief_session=abc\xc3\r\n",
        b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer dief_\xff\xfe\r\n",
        b"GET /signin HTTP/1.1\r\nHost: x\r\nAccept-Language: \xff\xfe, fr;q=0.5\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: \xff\xfe\xff\xfe\xff\xfe\xff\xfe\r\n",
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nOrigin: http://\xff\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \xff\xfe\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
    ]
    for head in requests:
        payload = body if head.startswith(b"POST") else b""
        status = await raw_request(client, head + b"Connection: close\r\n\r\n" + payload)
        assert status < 500, (head, status)
