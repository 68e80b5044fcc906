"""Accounts over real HTTP: invitations, sign-in, second factor, sessions and access tokens.

Everything here goes through the real app and a real, freshly migrated PostgreSQL; the only
direct SQL is test setup (ageing an invitation or a session) and checks of what is stored.
Helpers defined here (not in factories.py, which this file does not own):

* ``browser(client)`` — a second, independent cookie jar against the same server;
* ``start_app(...)`` — the app built with other settings (throttle limits);
* ``problem(response, status, code)`` — asserts an RFC 9457 answer and returns it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp.test_utils import TestClient

from crypto import totp
from forum import db, keys
from forum.app import create_app
from forum.auth import queries as auth_queries
from forum.auth import service as auth
from forum.demo import DEMO_PASSWORD, DEMO_USERS
from forum.settings import Settings
from tests import conftest
from tests.factories import PASSWORD, TestUser, make_user, sign_in

NEW_PASSWORD = "violet harbour tractor evening"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')
SessionLike = TestClient | aiohttp.ClientSession


# --- helpers ---------------------------------------------------------------------------------

@asynccontextmanager
async def browser(client: TestClient) -> AsyncIterator[aiohttp.ClientSession]:
    """Another user agent (own cookie jar) talking to the same test server."""
    async with aiohttp.ClientSession(base_url=str(client.make_url("/")),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def start_app(aiohttp_client: Any, database_url: str, tmp_path: Path,
                    **environ: str) -> TestClient:
    settings = Settings.from_env(conftest.test_environ(tmp_path, **environ))
    client: TestClient = await aiohttp_client(create_app(settings, database_url=database_url))
    return client


def session_cookie(agent: SessionLike) -> str | None:
    jar = agent.session.cookie_jar if isinstance(agent, TestClient) else agent.cookie_jar
    return next((cookie.value for cookie in jar if cookie.key == "dief_session"), None)


async def status_with_cookie(client: TestClient, value: str, path: str = "/api/v1/me") -> int:
    """The status of a GET made with exactly this session cookie and nothing else."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        async with session.get(client.make_url(path), allow_redirects=False,
                               headers={"Cookie": f"dief_session={value}"}) as response:
            return response.status


async def problem(response: aiohttp.ClientResponse, status: int,
                  code: str | None = None) -> dict[str, Any]:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/problem+json", text
    body: dict[str, Any] = json.loads(text)
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"].strip(), body
    assert body["type"].endswith("/" + body["code"])
    if code is not None:
        assert body["code"] == code, body
    return body


def secret_bytes(secret_b32: str) -> bytes:
    return base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))


def code_now(secret: bytes, offset: int = 0) -> str:
    return totp.code_at(secret, totp.counter_for(time.time()) + offset)


def wrong_code(secret: bytes) -> str:
    valid = {code_now(secret, step) for step in (-1, 0, 1)}
    return next(code for code in (f"{n:06d}" for n in range(1, 100)) if code not in valid)


def form_csrf(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match is not None, "page has no csrf_token field"
    return match.group(1)


async def invite(client: TestClient, csrf: str, email: str, role: str = "delegate",
                 state: str | None = "KEN") -> str:
    response = await client.post("/api/v1/invitations", headers={"X-CSRF-Token": csrf},
                                 json={"email": email, "role": role, "state": state})
    assert response.status == 201, await response.text()
    return str((await response.json())["token"])


async def admin_client(client: TestClient) -> str:
    """Sign an administrator in on ``client``; returns the CSRF token."""
    return await sign_in(client, await make_user(client, role="admin"))


async def form_sign_in(agent: SessionLike, user: TestUser, **extra: str) -> aiohttp.ClientResponse:
    response = await agent.post("/signin", allow_redirects=False,
                                data={"email": user.email, "password": user.password, **extra})
    return response


async def partial_csrf(agent: SessionLike) -> str:
    response = await agent.get("/signin/2fa")
    assert response.status == 200, await response.text()
    return form_csrf(await response.text())


async def disable(client: TestClient, user: TestUser) -> None:
    async with db.transaction(client.app[keys.POOL]) as conn:
        await auth.set_disabled(conn, client.app[keys.KEYRING], None, user.id, True)


# --- invitations -----------------------------------------------------------------------------

async def test_invitation_flow_over_the_api(client: TestClient) -> None:
    csrf = await admin_client(client)
    response = await client.post("/api/v1/invitations", headers={"X-CSRF-Token": csrf}, json={
        "email": "  Amina.Otieno@Example.ORG ", "role": "delegate", "state": "ken"})
    assert response.status == 201, await response.text()
    invitation = await response.json()
    token = invitation["token"]
    assert invitation["email"] == "amina.otieno@example.org"
    assert invitation["state"] == "KEN"
    assert invitation["url"].endswith("/invitations/" + token)
    lifetime = dt.datetime.fromisoformat(invitation["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < lifetime <= dt.timedelta(days=7)
    async with client.app[keys.POOL].acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM invitations WHERE id = $1",
                                  uuid.UUID(invitation["id"]))
    assert row["token_hash"] == hashlib.sha256(token.encode()).digest()
    assert all(token not in str(value) for value in row.values()), "token stored in clear"

    async with browser(client) as invitee:
        response = await invitee.post(f"/api/v1/invitations/{token}/accept", json={
            "display_name": "  Amina   Otieno ", "password": NEW_PASSWORD})
        assert response.status == 201, await response.text()
        await problem(await invitee.post(f"/api/v1/invitations/{token}/accept", json={
            "display_name": "Someone", "password": NEW_PASSWORD}), 409, "invitation_used")

        # Password only: a partial session that reaches nothing but enrolment.
        response = await invitee.post("/api/v1/session", json={
            "email": "amina.otieno@example.org", "password": NEW_PASSWORD})
        assert response.status == 201, await response.text()
        body = await response.json()
        assert body["user"]["second_factor_passed"] is False
        assert body["user"]["totp_enrolled"] is False
        partial_cookie = session_cookie(invitee)
        headers = {"X-CSRF-Token": body["csrf_token"]}
        await problem(await invitee.get("/api/v1/tokens"), 401, "second_factor_required")
        me = await (await invitee.get("/api/v1/me")).json()
        assert (me["display_name"], me["role"], me["state"]) == ("Amina Otieno", "delegate", "KEN")

        response = await invitee.post("/api/v1/me/totp", headers=headers)
        assert response.status == 201, await response.text()
        enrolment = await response.json()
        assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
        assert f"secret={enrolment['secret']}" in enrolment["otpauth_uri"]
        secret = secret_bytes(enrolment["secret"])

        await problem(await invitee.post("/api/v1/me/totp/confirm", headers=headers,
                                         json={"code": wrong_code(secret)}), 422, "code_invalid")
        response = await invitee.post("/api/v1/me/totp/confirm", headers=headers,
                                      json={"code": code_now(secret)})
        assert response.status == 200, await response.text()
        confirmed = await response.json()
        codes = confirmed["recovery_codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        full_cookie = session_cookie(invitee)
        assert full_cookie and full_cookie != partial_cookie
        assert partial_cookie is not None
        assert await status_with_cookie(client, partial_cookie) == 401

        assert (await invitee.get("/api/v1/tokens")).status == 200
        me = await (await invitee.get("/api/v1/me")).json()
        assert me["second_factor_passed"] is True and me["totp_enrolled"] is True

        response = await invitee.delete("/api/v1/session",
                                        headers={"X-CSRF-Token": confirmed["csrf_token"]})
        assert response.status == 204
        response = await invitee.post("/api/v1/session", json={
            "email": "amina.otieno@example.org", "password": NEW_PASSWORD,
            "totp": code_now(secret, 1)})
        assert response.status == 201, await response.text()
        assert (await response.json())["user"]["second_factor_passed"] is True

    async with client.app[keys.POOL].acquire() as conn:
        actions = {r["action"] for r in await conn.fetch("SELECT action FROM audit_log")}
    assert {"invitation.create", "invitation.accept", "signin.success", "totp.enrol",
            "signout"} <= actions


async def test_invitation_flow_over_html_forms(client: TestClient) -> None:
    await admin_client(client)
    page = await (await client.get("/admin/users")).text()
    response = await client.post("/admin/invitations", data={
        "csrf_token": form_csrf(page), "email": "observer@example.org", "role": "observer",
        "state": ""})
    assert response.status == 200, await response.text()
    match = re.search(r'id="invitation-link">([^<]+)<', await response.text())
    assert match is not None
    link = match.group(1)
    assert link.startswith(client.app[keys.SETTINGS].base_url + "/invitations/")
    path = urlsplit(link).path

    async with browser(client) as invitee:
        response = await invitee.get(path)
        assert response.status == 200
        page = await response.text()
        assert "observer@example.org" in page and 'name="csrf_token"' in page

        response = await invitee.post(path, data={"display_name": "Obs", "password": "too short"})
        assert response.status == 422
        page = await response.text()
        assert 'role="alert"' in page and "Password too short" in page

        response = await invitee.post(path, data={"display_name": "Observer One",
                                                  "password": NEW_PASSWORD})
        assert response.status == 200, await response.text()
        response = await invitee.post(path, data={"display_name": "Again",
                                                  "password": NEW_PASSWORD})
        assert response.status == 409
        assert "already been used" in await response.text()

        response = await invitee.post("/signin", allow_redirects=False, data={
            "email": "observer@example.org", "password": NEW_PASSWORD})
        assert response.status == 303
        assert response.headers["Location"] == "/account/2fa/enrol"
        partial_cookie = session_cookie(invitee)

        response = await invitee.get("/account/2fa/enrol")
        page = await response.text()
        assert response.status == 200
        assert "<svg" in page and "<script" not in page
        secret_match = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
        assert secret_match is not None
        secret = secret_bytes(secret_match.group(1))
        response = await invitee.post("/account/2fa/confirm", data={
            "csrf_token": form_csrf(page), "code": code_now(secret)})
        assert response.status == 200, await response.text()
        codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", await response.text())
        assert len(set(codes)) == 10
        assert session_cookie(invitee) not in {None, partial_cookie}

        response = await invitee.get("/account", allow_redirects=False)
        assert response.status == 200
        assert "Observer One" in await response.text()


async def test_expired_and_unknown_invitations_are_refused(client: TestClient) -> None:
    csrf = await admin_client(client)
    token = await invite(client, csrf, "late@example.org")
    async with client.app[keys.POOL].acquire() as conn:
        await conn.execute("UPDATE invitations SET expires_at = now() - interval '1 minute'")
    body = {"display_name": "Late", "password": NEW_PASSWORD}
    async with browser(client) as invitee:
        await problem(await invitee.post(f"/api/v1/invitations/{token}/accept", json=body), 409,
                      "invitation_expired")
        for response in (await invitee.get(f"/invitations/{token}"),
                         await invitee.post(f"/invitations/{token}", data=body)):
            assert response.status == 409
            assert "expired" in await response.text()

        unknown = "x" * 43
        await problem(await invitee.post(f"/api/v1/invitations/{unknown}/accept", json=body),
                      404, "invitation_invalid")
        await problem(await invitee.post("/api/v1/invitations/short/accept", json=body), 404)
        assert (await invitee.get(f"/invitations/{unknown}")).status == 404
        assert (await invitee.post(f"/invitations/{unknown}", data=body)).status == 404
    async with client.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE email = $1",
                                   "late@example.org") == 0


async def test_inviting_again_replaces_the_pending_invitation(client: TestClient) -> None:
    """An admin who lost a link invites the address again: the new link works, the old one
    answers "expired", and the address is listed once among the pending invitations."""
    csrf = await admin_client(client)
    old = await invite(client, csrf, "twice@example.org")
    new = await invite(client, csrf, "twice@example.org", role="observer", state=None)
    async with client.app[keys.POOL].acquire() as conn:
        pending = await auth_queries.list_pending_invitations(conn)
    assert [i["role"] for i in pending if i["email"] == "twice@example.org"] == ["observer"]
    body = {"display_name": "Twice Invited", "password": NEW_PASSWORD}
    async with browser(client) as invitee:
        await problem(await invitee.post(f"/api/v1/invitations/{old}/accept", json=body), 409,
                      "invitation_expired")
        response = await invitee.post(f"/api/v1/invitations/{new}/accept", json=body)
        assert response.status == 201, await response.text()
    async with client.app[keys.POOL].acquire() as conn:
        replaced = await conn.fetchval(
            "SELECT details->>'replaced' FROM audit_log WHERE action = 'invitation.create' "
            "ORDER BY seq DESC LIMIT 1")
    assert replaced == "1"


# --- bad input: always a 4xx with a message, never a 500 --------------------------------------

BAD_BODIES: list[tuple[str, Any, int]] = [
    ("text/plain", "hello", 415),
    ("application/x-www-form-urlencoded", "email=a%40b.org", 415),
    ("application/json", "{not json", 422),
    ("application/json", "[]", 422),
    ("application/json", '"a string"', 422),
    ("application/json", "42", 422),
    ("application/json", "null", 422),
    ("application/json", b"\xff\xfe{}", 422),
]


async def check_bad_bodies(agent: SessionLike, path: str, headers: dict[str, str]) -> None:
    for content_type, data, status in BAD_BODIES:
        response = await agent.post(path, data=data,
                                    headers={**headers, "Content-Type": content_type})
        body = await problem(response, status)
        assert body["title"], (path, content_type, data)


async def check_cases(agent: SessionLike, path: str, headers: dict[str, str],
                      cases: list[tuple[dict[str, Any], int, str | None]]) -> None:
    for payload, status, code in cases:
        response = await agent.post(path, json=payload, headers=headers)
        text = await response.text()
        assert response.status == status, (payload, text)
        assert response.content_type == "application/problem+json", (payload, text)
        body = json.loads(text)
        assert body["title"].strip(), payload
        if code is not None:
            assert body["code"] == code, (payload, body)


async def test_invitation_create_rejects_bad_input(client: TestClient) -> None:
    csrf = await admin_client(client)
    headers = {"X-CSRF-Token": csrf}
    await make_user(client, email="taken@example.org")
    good = {"email": "new@example.org", "role": "delegate", "state": "FRA"}
    long_email = "a" * 64 + "@" + "b" * 186 + ".org"  # 255 characters
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({}, 422, "email_missing"),
        ({**good, "email": ""}, 422, "email_missing"),
        ({**good, "email": "   "}, 422, "email_missing"),
        ({**good, "email": long_email}, 422, "email_too_long"),
        ({**good, "email": "not-an-email"}, 422, "email_invalid"),
        ({**good, "email": 42}, 422, None),
        ({**good, "email": ["new@example.org"]}, 422, None),
        ({**good, "email": None}, 422, None),
        ({**good, "email": {"a": 1}}, 422, None),
        ({**good, "email": "taken@example.org"}, 409, "email_taken"),
        ({**good, "role": "king"}, 422, "role_invalid"),
        ({**good, "role": ""}, 422, "role_invalid"),
        ({**good, "role": 1}, 422, "role_invalid"),
        ({**good, "role": ["admin"]}, 422, "role_invalid"),
        ({**good, "role": None}, 422, "role_invalid"),
        ({"email": "x@example.org", "role": "delegate"}, 422, "state_required"),
        ({**good, "state": None}, 422, "state_required"),
        ({**good, "state": ""}, 422, "state_required"),
        ({**good, "state": "QQQ"}, 422, None),
        ({**good, "state": "FRANCE"}, 422, None),
        ({**good, "state": 250}, 422, None),
        ({**good, "state": ["FRA"]}, 422, None),
    ]
    await check_cases(client, "/api/v1/invitations", headers, cases)
    await check_bad_bodies(client, "/api/v1/invitations", headers)
    # The boundary is accepted: 254 characters.
    response = await client.post("/api/v1/invitations", headers=headers,
                                 json={**good, "email": long_email[1:]})
    assert response.status == 201, await response.text()
    async with client.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM invitations") == 1

    # A non-admin may not invite.
    async with browser(client) as other:
        user = await make_user(client, role="moderator")
        csrf_other = await sign_in(other, user)
        await problem(await other.post("/api/v1/invitations", json=good,
                                       headers={"X-CSRF-Token": csrf_other}), 403)


async def test_admin_invitation_form_rejects_bad_input(client: TestClient) -> None:
    await admin_client(client)
    csrf = form_csrf(await (await client.get("/admin/users")).text())
    cases = [({"email": "", "role": "observer"}, "Enter an email address"),
             ({"email": "x@example.org", "role": "king"}, "Unknown role"),
             ({"email": "x@example.org", "role": "delegate"}, "A delegate needs a State"),
             ({"email": "x@example.org", "role": "delegate", "state": "ZZZ"}, "Unknown State"),
             ({"email": "x" * 300 + "@example.org", "role": "observer"}, "too long")]
    for data, message in cases:
        response = await client.post("/admin/invitations", data={"csrf_token": csrf, **data})
        assert response.status == 422, data
        page = await response.text()
        assert 'role="alert"' in page and message in page, (data, page[:200])
    # The form comes back with what was typed (a typo is corrected, not retyped) …
    response = await client.post("/admin/invitations", data={
        "csrf_token": csrf, "email": "kept@example.org", "role": "observer", "state": "ZZZ"})
    page = await response.text()
    assert response.status == 422 and 'value="kept@example.org"' in page
    assert '<option value="observer" selected>' in page
    # … and a blank form never preselects a privileged role.
    page = await (await client.get("/admin/users")).text()
    assert '<option value="delegate" selected>' in page
    assert '<option value="admin" selected>' not in page


async def test_invitation_accept_rejects_bad_input(client: TestClient) -> None:
    csrf = await admin_client(client)
    token = await invite(client, csrf, "invitee@example.org")
    path = f"/api/v1/invitations/{token}/accept"
    good = {"display_name": "Invitee", "password": NEW_PASSWORD}
    common = next(line.strip() for line in
                  (Path(__file__).parent.parent / "forum/data/common-passwords.txt")
                  .read_text().splitlines()
                  if not line.startswith("#") and len(line.strip()) >= 15)
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({}, 422, "display_name_missing"),
        ({**good, "display_name": ""}, 422, "display_name_missing"),
        ({**good, "display_name": " \t "}, 422, "display_name_missing"),
        ({**good, "display_name": "n" * 81}, 422, "display_name_too_long"),
        ({**good, "display_name": 7}, 422, "display_name_missing"),
        ({**good, "display_name": None}, 422, None),
        ({**good, "display_name": ["Invitee"]}, 422, None),
        ({**good, "password": ""}, 422, "password_missing"),
        ({**good, "password": None}, 422, "password_missing"),
        ({**good, "password": 123456789012345678}, 422, "password_missing"),
        ({**good, "password": ["a", "b"]}, 422, "password_missing"),
        ({**good, "password": "fourteen chars"}, 422, "password_too_short"),
        ({**good, "password": "p" * 1000 + "q w e r t y u i o p" * 2}, 422, "password_too_long"),
        ({**good, "password": "passwordpassword"}, 422, "password_common"),
        ({**good, "password": common}, 422, "password_common"),
        ({**good, "password": "my long DIEF forum passphrase"}, 422, "password_service_name"),
        ({**good, "password": "d i e f is where we meet"}, 422, "password_service_name"),
        ({**good, "password": "greetings from invitee to all"}, 422, "password_contains_email"),
    ]
    async with browser(client) as invitee:
        await check_cases(invitee, path, {}, cases)
        await check_bad_bodies(invitee, path, {})
        # Nothing was half-written: no account, and the invitation still works.
        async with client.app[keys.POOL].acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM users WHERE email = $1",
                                       "invitee@example.org") == 0
        response = await invitee.post(path, json={**good, "display_name": "n" * 80})
        assert response.status == 201, await response.text()


async def test_demo_sign_in_page_shows_the_demo_password(aiohttp_client: Any,
                                                         database_url: str,
                                                         tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path, DIEF_DEMO="true")
    page = await (await client.get("/signin")).text()
    assert f"<code>{DEMO_PASSWORD}</code>" in page
    for email, *_ in DEMO_USERS:  # every demo account is named
        assert f"<code>{email}</code>" in page, email
    assert '<link rel="icon" href="/static/favicon.svg"' in page
    response = await client.get("/static/favicon.svg")
    assert response.status == 200 and response.content_type == "image/svg+xml"


async def test_demo_code_page_shows_a_code_that_works(aiohttp_client: Any, database_url: str,
                                                     tmp_path: Path) -> None:
    """In demo mode the code page of a demo account shows a code to type — still after a
    wrong code, and one that is accepted right after the same step's code was used."""
    client = await start_app(aiohttp_client, database_url, tmp_path, DIEF_DEMO="true")
    user = await make_user(client, role="delegate")
    async with client.app[keys.POOL].acquire() as conn:
        await conn.execute("UPDATE users SET is_demo = true WHERE id = $1", user.id)
    shown = re.compile(r'<code id="demo-code">(\d{6})</code>')
    for attempt in range(2):  # the second sign-in comes within the same 30 s step
        async with browser(client) as agent:
            assert (await form_sign_in(agent, user)).status == 303
            page = await (await agent.get("/signin/2fa")).text()
            csrf = form_csrf(page)
            match = shown.search(page)
            assert match, page
            response = await agent.post("/signin/2fa", allow_redirects=False, data={
                "csrf_token": csrf, "code": "000000" if match.group(1) != "000000" else "111111"})
            assert response.status == 422, attempt
            match = shown.search(await response.text())
            assert match, "the demo code is gone after a wrong code"
            response = await agent.post("/signin/2fa", allow_redirects=False,
                                        data={"csrf_token": csrf, "code": match.group(1)})
            assert response.status == 303, (attempt, await response.text())


async def test_sign_in_rejects_bad_input(client: TestClient) -> None:
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({}, 422, "email_missing"),
        ({"email": "", "password": PASSWORD}, 422, "email_missing"),
        ({"email": 5, "password": PASSWORD}, 422, "email_missing"),
        ({"email": ["a@b.org"], "password": PASSWORD}, 422, "email_missing"),
        ({"email": "a" * 250 + "@b.org", "password": PASSWORD}, 422, None),
        ({"email": "a@b.org"}, 422, "password_missing"),
        ({"email": "a@b.org", "password": ""}, 422, "password_missing"),
        ({"email": "a@b.org", "password": 12345}, 422, "password_missing"),
        ({"email": "a@b.org", "password": None}, 422, "password_missing"),
        ({"email": "a@b.org", "password": "x" * 5000}, 422, "password_too_long"),
        ({"email": "a@b.org", "password": PASSWORD, "totp": 123456}, 422, "totp_invalid"),
        ({"email": "a@b.org", "password": PASSWORD, "totp": ["1"]}, 422, "totp_invalid"),
    ]
    await check_cases(client, "/api/v1/session", {}, cases)
    await check_bad_bodies(client, "/api/v1/session", {})
    for data in ({"email": "", "password": PASSWORD}, {"email": "a@b.org", "password": ""}, {}):
        response = await client.post("/signin", data=data)
        assert response.status == 422, data
        assert 'role="alert"' in await response.text()
    response = await client.post("/signin", data="email=a", headers={"Content-Type": "text/plain"})
    assert response.status == 415


async def test_token_and_totp_endpoints_reject_bad_input(client: TestClient) -> None:
    user = await make_user(client)
    headers = {"X-CSRF-Token": await sign_in(client, user)}
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({}, 422, "name_missing"),
        ({"name": ""}, 422, "name_missing"),
        ({"name": "   "}, 422, "name_missing"),
        ({"name": "n" * 81}, 422, "name_too_long"),
        ({"name": 3}, 422, "name_missing"),
        ({"name": None}, 422, "name_missing"),
        ({"name": ["a"]}, 422, "name_missing"),
    ]
    await check_cases(client, "/api/v1/tokens", headers, cases)
    await check_bad_bodies(client, "/api/v1/tokens", headers)
    assert (await client.post("/api/v1/tokens", json={"name": "n" * 80},
                              headers=headers)).status == 201

    fresh = await make_user(client, with_totp=False)
    async with browser(client) as agent:
        response = await agent.post("/api/v1/session", json={"email": fresh.email,
                                                             "password": fresh.password})
        partial = {"X-CSRF-Token": (await response.json())["csrf_token"]}
        await problem(await agent.post("/api/v1/me/totp/confirm", json={"code": "123456"},
                                       headers=partial), 409, "totp_not_started")
        assert (await agent.post("/api/v1/me/totp", headers=partial)).status == 201
        await check_cases(agent, "/api/v1/me/totp/confirm", partial, [
            ({}, 422, "code_missing"), ({"code": ""}, 422, "code_missing"),
            ({"code": 123456}, 422, "code_missing"), ({"code": None}, 422, "code_missing"),
            ({"code": "abcdef"}, 422, "code_invalid"), ({"code": "1" * 500}, 422, "code_invalid"),
        ])
        await check_bad_bodies(agent, "/api/v1/me/totp/confirm", partial)
        await check_bad_bodies(agent, "/api/v1/me/totp", partial)


# --- sign-in ---------------------------------------------------------------------------------

async def test_wrong_password_is_401(client: TestClient) -> None:
    user = await make_user(client)
    await problem(await client.post("/api/v1/session", json={
        "email": user.email, "password": "wrong horse battery staple"}), 401, "bad_credentials")
    response = await client.post("/signin", data={"email": user.email,
                                                  "password": "wrong horse battery staple"})
    assert response.status == 401
    assert "not right" in await response.text()
    assert session_cookie(client) is None


async def test_failures_look_the_same_whatever_the_reason(client: TestClient) -> None:
    """Unknown email, wrong password, wrong code and disabled account: the same bytes."""
    user = await make_user(client)
    disabled = await make_user(client)
    await disable(client, disabled)
    secret = user.totp_secret
    assert secret is not None
    attempts = {
        "unknown": {"email": "nobody-" + user.email, "password": user.password},
        "wrong password": {"email": user.email, "password": "wrong horse battery staple"},
        "wrong code": {"email": user.email, "password": user.password,
                       "totp": wrong_code(secret)},
        "disabled": {"email": disabled.email, "password": disabled.password},
    }
    answers = {}
    for reason, payload in attempts.items():
        response = await client.post("/api/v1/session", json=payload)
        answers[reason] = (response.status, response.content_type, await response.read(),
                           sorted(k for k in response.headers if k not in {"Date", "X-Request-ID"}))
    assert len(set(map(repr, answers.values()))) == 1, answers
    assert answers["unknown"][0] == 401

    pages = {}
    for reason, payload in attempts.items():
        if "totp" in payload:
            continue
        response = await client.post("/signin", data=payload)
        pages[reason] = (response.status,
                         (await response.text()).replace(payload["email"], "EMAIL"))
    assert len(set(pages.values())) == 1, pages
    assert pages["unknown"][0] == 401


async def test_throttling_per_account(aiohttp_client: Any, database_url: str,
                                      tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path,
                             DIEF_LOGIN_MAX_PER_ACCOUNT="3", DIEF_LOGIN_WINDOW_MINUTES="10")
    user = await make_user(client)
    wrong = {"email": user.email, "password": "wrong horse battery staple"}
    for _ in range(3):
        await problem(await client.post("/api/v1/session", json=wrong), 401, "bad_credentials")
    # Now even the right password is refused until the window has passed.
    response = await client.post("/api/v1/session", json={
        "email": user.email, "password": user.password, "totp": user.next_code()})
    await problem(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "600"
    response = await client.post("/signin", data={"email": user.email,
                                                  "password": user.password})
    assert response.status == 429
    assert response.headers["Retry-After"] == "600"
    assert response.content_type == "text/html"

    # An unknown email is throttled the same way (throttling does not reveal existence).
    ghost = {"email": "ghost@example.org", "password": "wrong horse battery staple"}
    for _ in range(3):
        await problem(await client.post("/api/v1/session", json=ghost), 401, "bad_credentials")
    await problem(await client.post("/api/v1/session", json=ghost), 429, "rate_limited")

    # Another account from the same client is unaffected.
    other = await make_user(client)
    assert (await client.post("/api/v1/session", json={
        "email": other.email, "password": other.password})).status == 201


async def test_only_a_complete_sign_in_resets_the_account_throttle(
        aiohttp_client: Any, database_url: str, tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path,
                             DIEF_LOGIN_MAX_PER_ACCOUNT="3")
    user = await make_user(client)
    wrong = {"email": user.email, "password": "wrong horse battery staple"}
    for _ in range(2):
        await problem(await client.post("/api/v1/session", json=wrong), 401)
    assert (await client.post("/api/v1/session", json={
        "email": user.email, "password": user.password, "totp": user.next_code()})).status == 201
    client.session.cookie_jar.clear()
    for _ in range(2):
        await problem(await client.post("/api/v1/session", json=wrong), 401)
    # The password alone opens a partial session but does not wipe the count...
    assert (await client.post("/api/v1/session", json={
        "email": user.email, "password": user.password})).status == 201
    client.session.cookie_jar.clear()
    await problem(await client.post("/api/v1/session", json=wrong), 401)
    await problem(await client.post("/api/v1/session", json=wrong), 429)


async def test_throttling_per_client(aiohttp_client: Any, database_url: str,
                                     tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path,
                             DIEF_LOGIN_MAX_PER_ACCOUNT="100", DIEF_LOGIN_MAX_PER_CLIENT="3")
    user = await make_user(client)
    for n in range(3):
        await problem(await client.post("/api/v1/session", json={
            "email": f"guess{n}@example.org", "password": "wrong horse battery staple"}), 401)
    response = await client.post("/api/v1/session", json={
        "email": user.email, "password": user.password})
    await problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


async def test_second_factor_guesses_are_throttled(aiohttp_client: Any, database_url: str,
                                                   tmp_path: Path) -> None:
    """A stolen password must not allow unlimited guessing of the 6-digit code."""
    client = await start_app(aiohttp_client, database_url, tmp_path,
                             DIEF_LOGIN_MAX_PER_ACCOUNT="3")
    user = await make_user(client)
    assert user.totp_secret is not None
    assert (await form_sign_in(client, user)).status == 303
    csrf = await partial_csrf(client)
    for _ in range(3):
        response = await client.post("/signin/2fa", data={
            "csrf_token": csrf, "code": wrong_code(user.totp_secret)})
        assert response.status == 422
    response = await client.post("/signin/2fa", allow_redirects=False,
                                 data={"csrf_token": csrf, "code": user.next_code()})
    assert response.status == 429
    assert "Retry-After" in response.headers
    # Signing in again with the password does not buy more guesses.
    client.session.cookie_jar.clear()
    response = await client.post("/api/v1/session", json={"email": user.email,
                                                          "password": user.password})
    await problem(response, 429, "rate_limited")


async def test_html_sign_in_goes_to_enrolment_or_challenge(client: TestClient) -> None:
    newcomer = await make_user(client, with_totp=False)
    response = await form_sign_in(client, newcomer)
    assert response.status == 303
    assert response.headers["Location"] == "/account/2fa/enrol"
    page = await (await client.get("/account/2fa/enrol")).text()
    assert "<svg" in page and "otpauth QR code" in page
    # The partial session is sent back to enrolment from any forum page.
    response = await client.get("/account", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/account/2fa/enrol")

    client.session.cookie_jar.clear()
    user = await make_user(client)
    response = await form_sign_in(client, user)
    assert (response.status, response.headers["Location"]) == (303, "/signin/2fa")
    response = await client.get("/account", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/signin/2fa")
    csrf = await partial_csrf(client)
    response = await client.post("/signin/2fa", allow_redirects=False,
                                 data={"csrf_token": csrf, "code": user.next_code()})
    assert (response.status, response.headers["Location"]) == (303, "/")
    assert (await client.get("/account", allow_redirects=False)).status == 200


async def test_next_parameter_never_leaves_the_site(client: TestClient) -> None:
    user = await make_user(client)
    response = await form_sign_in(client, user, next="/account?tab=tokens&x=1")
    location = urlsplit(response.headers["Location"])
    assert location.path == "/signin/2fa"
    assert parse_qs(location.query)["next"] == ["/account?tab=tokens&x=1"]
    response = await client.post("/signin/2fa", allow_redirects=False, data={
        "csrf_token": await partial_csrf(client), "code": user.next_code(),
        "next": "/account?tab=tokens&x=1"})
    assert response.headers["Location"] == "/account?tab=tokens&x=1"

    for bad in ("https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example",
                "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)"):
        client.session.cookie_jar.clear()
        page = await (await client.get("/signin", params={"next": bad})).text()
        assert 'name="next" value="/"' in page, bad
        response = await form_sign_in(client, user, next=bad)
        assert response.headers["Location"] == "/signin/2fa", bad
        response = await client.post("/signin/2fa", allow_redirects=False, data={
            "csrf_token": await partial_csrf(client), "code": user.next_code(), "next": bad})
        assert response.status == 303, bad
        assert response.headers["Location"] == "/", (bad, response.headers["Location"])


async def test_session_id_changes_at_sign_in_and_after_second_factor(client: TestClient) -> None:
    user = await make_user(client)
    planted = "attacker-chosen-session-value-0123456789abcdef"
    client.session.cookie_jar.update_cookies({"dief_session": planted},
                                             response_url=client.make_url("/"))
    response = await form_sign_in(client, user)
    assert response.status == 303
    partial = session_cookie(client)
    assert partial is not None and partial != planted
    assert len(partial) >= 43  # 256 bits, URL-safe base64

    response = await client.post("/signin/2fa", allow_redirects=False, data={
        "csrf_token": await partial_csrf(client), "code": user.next_code()})
    assert response.status == 303
    full = session_cookie(client)
    assert full is not None and full not in {partial, planted}
    assert await status_with_cookie(client, partial) == 401
    assert await status_with_cookie(client, full) == 200

    # Signing in again over the API, already signed in: yet another id.
    csrf = form_csrf(await (await client.get("/account")).text())
    response = await client.post("/api/v1/session", headers={"X-CSRF-Token": csrf}, json={
        "email": user.email, "password": user.password, "totp": user.next_code()})
    assert response.status == 201, await response.text()
    assert session_cookie(client) not in {None, full, partial}


async def test_sign_out_ends_the_session_on_the_server(client: TestClient) -> None:
    user = await make_user(client)
    csrf = await sign_in(client, user)
    cookie = session_cookie(client)
    assert cookie is not None
    response = await client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert response.status == 204
    assert response.cookies["dief_session"].value == ""
    assert await status_with_cookie(client, cookie) == 401

    await sign_in(client, user)
    cookie = session_cookie(client)
    assert cookie is not None
    page = await (await client.get("/account")).text()
    response = await client.post("/signout", data={"csrf_token": form_csrf(page)},
                                 allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/signin")
    assert await status_with_cookie(client, cookie) == 401
    async with client.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1",
                                   user.id) == 0


# --- second factor ---------------------------------------------------------------------------

async def test_a_totp_code_is_accepted_once(client: TestClient) -> None:
    user = await make_user(client)
    assert user.totp_secret is not None
    now = totp.counter_for(time.time())
    code = totp.code_at(user.totp_secret, now)
    payload = {"email": user.email, "password": user.password, "totp": code}
    assert (await client.post("/api/v1/session", json=payload)).status == 201
    client.session.cookie_jar.clear()
    await problem(await client.post("/api/v1/session", json=payload), 401, "bad_credentials")
    # An earlier step, still inside the clock-drift window, is refused as well.
    await problem(await client.post("/api/v1/session", json={
        **payload, "totp": totp.code_at(user.totp_secret, now - 1)}), 401)

    # The HTML challenge: the same rule.
    later = totp.code_at(user.totp_secret, now + 1)
    await form_sign_in(client, user)
    response = await client.post("/signin/2fa", allow_redirects=False,
                                 data={"csrf_token": await partial_csrf(client), "code": later})
    assert response.status == 303
    client.session.cookie_jar.clear()
    await form_sign_in(client, user)
    response = await client.post("/signin/2fa", allow_redirects=False,
                                 data={"csrf_token": await partial_csrf(client), "code": later})
    assert response.status == 422
    assert "already used" in await response.text()


async def test_recovery_codes_are_single_use(client: TestClient) -> None:
    user = await make_user(client)
    first, second = user.recovery_codes[0], user.recovery_codes[1]
    payload = {"email": user.email, "password": user.password, "totp": first}
    assert (await client.post("/api/v1/session", json=payload)).status == 201
    client.session.cookie_jar.clear()
    await problem(await client.post("/api/v1/session", json=payload), 401)
    await problem(await client.post("/api/v1/session", json={
        **payload, "totp": first.upper().replace("-", " ")}), 401)

    await form_sign_in(client, user)
    csrf = await partial_csrf(client)
    response = await client.post("/signin/2fa", data={"csrf_token": csrf, "code": first})
    assert response.status == 422
    # Typed loosely (upper case, spaces): still recognised, once.
    loose = second.upper().replace("-", " ")
    response = await client.post("/signin/2fa", allow_redirects=False,
                                 data={"csrf_token": csrf, "code": loose})
    assert response.status == 303
    async with client.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            user.id) == 8
        stored = [bytes(r["code_hash"]) for r in await conn.fetch(
            "SELECT code_hash FROM recovery_codes WHERE user_id = $1", user.id)]
    assert hashlib.sha256(second.encode()).digest() in stored
    assert all(second.encode() not in value for value in stored)


async def test_replacing_the_second_factor_needs_reauthentication(client: TestClient) -> None:
    user = await make_user(client)
    headers = {"X-CSRF-Token": await sign_in(client, user)}
    await problem(await client.post("/api/v1/me/totp", headers=headers), 422, "reauth_required")
    await problem(await client.post("/api/v1/me/totp", headers=headers, json={}), 422,
                  "reauth_required")
    await problem(await client.post("/api/v1/me/totp", headers=headers, json={
        "password": "wrong horse battery staple", "current_code": user.next_code()}), 422,
        "reauth_failed")
    body = await problem(await client.post("/api/v1/me/totp", headers=headers, json={
        "password": user.password}), 422, "reauth_failed")
    assert body["field"] == "current_code"
    response = await client.post("/api/v1/me/totp", headers=headers, json={
        "password": user.password, "current_code": user.next_code()})
    assert response.status == 201, await response.text()

    # The HTML page asks for both too (a fresh page, no pending secret shown for free).
    other = await make_user(client)
    async with browser(client) as agent:
        await sign_in(agent, other)
        page = await (await agent.get("/account/2fa/enrol")).text()
        assert 'name="password"' in page and 'name="current_code"' in page
        assert "<svg" not in page
        response = await agent.post("/account/2fa/enrol", data={
            "csrf_token": form_csrf(page), "password": other.password})
        assert response.status == 422
        assert "<svg" not in await response.text()


async def test_first_enrolment_needs_the_password_once_the_session_is_old(
        client: TestClient) -> None:
    user = await make_user(client, with_totp=False)
    response = await client.post("/api/v1/session", json={"email": user.email,
                                                          "password": user.password})
    headers = {"X-CSRF-Token": (await response.json())["csrf_token"]}
    async with client.app[keys.POOL].acquire() as conn:
        await conn.execute("UPDATE sessions SET created_at = now() - interval '1 hour' "
                           "WHERE user_id = $1", user.id)
    await problem(await client.post("/api/v1/me/totp", headers=headers), 422, "reauth_required")
    await problem(await client.post("/api/v1/me/totp", headers=headers,
                                    json={"password": "wrong horse battery staple"}), 422,
                  "reauth_failed")
    response = await client.post("/api/v1/me/totp", headers=headers,
                                 json={"password": user.password})
    assert response.status == 201, await response.text()


# --- personal access tokens ------------------------------------------------------------------

async def test_personal_access_tokens(client: TestClient) -> None:
    user = await make_user(client)
    headers = {"X-CSRF-Token": await sign_in(client, user)}
    response = await client.post("/api/v1/tokens", json={"name": "  nightly   export "},
                                 headers=headers)
    assert response.status == 201, await response.text()
    created = await response.json()
    token = created["token"]
    assert token.startswith("dief_") and created["name"] == "nightly export"

    response = await client.get("/api/v1/tokens")
    listing = await response.text()
    assert token not in listing
    tokens = json.loads(listing)["tokens"]
    assert [t["id"] for t in tokens] == [created["id"]]
    assert "token" not in tokens[0]
    page = await (await client.get("/account")).text()
    assert "nightly export" in page and token not in page

    async with client.app[keys.POOL].acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM api_tokens WHERE id = $1",
                                  uuid.UUID(created["id"]))
    assert row["token_hash"] == hashlib.sha256(token.encode()).digest()
    assert all(token not in str(value) for value in row.values())
    assert all(token.encode() not in bytes(value) for value in row.values()
               if isinstance(value, bytes))

    bearer = {"Authorization": f"Bearer {token}"}
    async with browser(client) as script:
        me = await script.get("/api/v1/me", headers=bearer)
        assert (await me.json())["email"] == user.email
        # Bearer requests carry no ambient credential: no CSRF token needed.
        response = await script.post("/api/v1/tokens", json={"name": "second"}, headers=bearer)
        assert response.status == 201, await response.text()
        await problem(await script.get("/api/v1/me",
                                       headers={"Authorization": "Bearer dief_nope"}),
                      401, "invalid_token")

        response = await client.delete(f"/api/v1/tokens/{created['id']}", headers=headers)
        assert response.status == 204
        await problem(await script.get("/api/v1/me", headers=bearer), 401, "invalid_token")
    await problem(await client.delete(f"/api/v1/tokens/{created['id']}", headers=headers), 404)
    await problem(await client.delete("/api/v1/tokens/not-a-uuid", headers=headers), 404)
    listing = await (await client.get("/api/v1/tokens")).json()
    assert [t["name"] for t in listing["tokens"]] == ["second"]

    # Someone else's token: not found, and it keeps working.
    other = await make_user(client)
    async with browser(client) as agent:
        other_headers = {"X-CSRF-Token": await sign_in(agent, other)}
        theirs = await (await agent.post("/api/v1/tokens", json={"name": "theirs"},
                                         headers=other_headers)).json()
    await problem(await client.delete(f"/api/v1/tokens/{theirs['id']}", headers=headers), 404)
    async with browser(client) as script:
        response = await script.get("/api/v1/me",
                                    headers={"Authorization": f"Bearer {theirs['token']}"})
        assert response.status == 200


# --- sessions and disabling ------------------------------------------------------------------

async def test_list_and_revoke_sessions_from_the_account_page(client: TestClient) -> None:
    user = await make_user(client)
    stranger = await make_user(client)
    async with browser(client) as laptop, browser(client) as elsewhere:
        await sign_in(laptop, user)
        await sign_in(elsewhere, stranger)
        await sign_in(client, user)
        page = await (await client.get("/account")).text()
        listed = re.findall(r"/account/sessions/([0-9a-f-]{36})/revoke", page)
        assert len(listed) == 2 and page.count("(this session)") == 1
        async with client.app[keys.POOL].acquire() as conn:
            own = cookie_session_id = await conn.fetchval(
                "SELECT id FROM sessions WHERE token_hash = $1",
                hashlib.sha256((session_cookie(client) or "").encode()).digest())
            theirs = await conn.fetchval("SELECT id FROM sessions WHERE user_id = $1",
                                         stranger.id)
        laptop_id = next(s for s in listed if s != str(own))
        csrf = form_csrf(page)

        # Somebody else's session is not found, and keeps working.
        response = await client.post(f"/account/sessions/{theirs}/revoke",
                                     data={"csrf_token": csrf})
        assert response.status == 404
        assert (await elsewhere.get("/api/v1/me")).status == 200

        response = await client.post(f"/account/sessions/{laptop_id}/revoke",
                                     data={"csrf_token": csrf}, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (303, "/account")
        assert (await laptop.get("/api/v1/me")).status == 401
        assert (await client.get("/api/v1/me")).status == 200

        response = await client.post(f"/account/sessions/{cookie_session_id}/revoke",
                                     data={"csrf_token": csrf}, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (303, "/signin")
        assert (await client.get("/api/v1/me")).status == 401


async def test_disabling_a_user_ends_their_sessions_at_once(client: TestClient) -> None:
    user = await make_user(client)
    async with browser(client) as victim:
        csrf = await sign_in(victim, user)
        token = (await (await victim.post("/api/v1/tokens", json={"name": "t"},
                                          headers={"X-CSRF-Token": csrf})).json())["token"]
        await admin_client(client)
        page = await (await client.get("/admin/users")).text()
        response = await client.post(f"/admin/users/{user.id}/disabled", allow_redirects=False,
                                     data={"csrf_token": form_csrf(page), "disabled": "1"})
        assert (response.status, response.headers["Location"]) == (303, "/admin/users")
        await problem(await victim.get("/api/v1/me"), 401)
        await problem(await victim.get("/api/v1/me",
                                       headers={"Authorization": f"Bearer {token}"}), 401)
    async with client.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1",
                                   user.id) == 0
    async with browser(client) as victim:
        await problem(await victim.post("/api/v1/session", json={
            "email": user.email, "password": user.password, "totp": user.next_code()}),
            401, "bad_credentials")

    # An administrator cannot lock themselves out.
    me = await (await client.get("/api/v1/me")).json()
    response = await client.post(f"/admin/users/{me['id']}/disabled",
                                 data={"csrf_token": form_csrf(page), "disabled": "1"})
    assert response.status == 409
