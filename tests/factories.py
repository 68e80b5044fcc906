"""Build test data through the services (rules apply) and sign in over real HTTP."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from aiohttp.test_utils import TestClient

from crypto import totp
from forum import db, keys
from forum.auth import service as auth
from forum.cases import service as cases
from moderation.queue import service as queue

PASSWORD = "sturdy meadow lantern quartz"
_seq = itertools.count(1)


@dataclass
class TestUser:
    __test__ = False

    id: uuid.UUID
    email: str
    role: str
    password: str
    totp_secret: bytes | None
    recovery_codes: list[str] = field(default_factory=list)
    _last_counter: int = -1

    def next_code(self) -> str:
        """A TOTP code that has not been used yet (a later step each time, then recovery)."""
        assert self.totp_secret is not None
        now = totp.counter_for(time.time())
        # Start at the current step (not the previous one, which a step boundary could expire
        # before the server checks it); the server accepts one step ahead too.
        counter = max(now, self._last_counter + 1)
        if counter > now + 1:
            return self.recovery_codes.pop()
        self._last_counter = counter
        return totp.code_at(self.totp_secret, counter)


async def make_user(client: TestClient, *, role: str = "delegate", state: str | None = None,
                    email: str | None = None, with_totp: bool = True,
                    password: str = PASSWORD, name: str | None = None) -> TestUser:
    app = client.app
    if role == "delegate" and state is None:
        state = "FRA"
    email = email or f"user{next(_seq)}-{uuid.uuid4().hex[:6]}@example.org"
    async with db.transaction(app[keys.POOL]) as conn:
        user_id = await auth.create_user(conn, app[keys.HASHER], app[keys.KEYRING], email=email,
                                         display_name=name or email.split("@")[0], role=role,
                                         state=state, password=password, created_by=None)
        secret = None
        codes: list[str] = []
        if with_totp:
            uri, codes = await auth.enrol_totp_directly(conn, app[keys.KEYRING], user_id)
            secret_b32 = parse_qs(urlsplit(uri).query)["secret"][0]
            import base64

            secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return TestUser(user_id, email, role, password, secret, codes)


async def sign_in(client: TestClient, user: TestUser) -> str:
    """Full API sign-in (password + TOTP); returns the CSRF token. Cookie stays in the jar."""
    response = await client.post("/api/v1/session", json={
        "email": user.email, "password": user.password, "totp": user.next_code()})
    assert response.status == 201, await response.text()
    body = await response.json()
    return str(body["csrf_token"])


async def signed_in_client(client: TestClient, user: TestUser) -> dict[str, str]:
    """Headers for unsafe requests of a signed-in browser-like client."""
    csrf = await sign_in(client, user)
    return {"X-CSRF-Token": csrf}


async def published_case(app: web.Application, source: TestUser, first: TestUser,
                         second: TestUser, fields: Mapping[str, Any],
                         redaction: Mapping[str, Any], room: str) -> uuid.UUID:
    """A case ``source`` submits, released in a batch, claimed, redacted and approved by the
    moderator ``first`` and published into ``room`` by ``second`` (four eyes): the moderation
    flow through its services, for tests that need a published case to start from."""
    keyring, pool = app[keys.KEYRING], app[keys.POOL]
    async with db.transaction(pool) as conn:
        submission = await cases.submit_case(conn, keyring,
                                             await auth.unsafe_actor_for(conn, source.id),
                                             fields)
    async with db.transaction(pool) as conn:
        await queue.release_batch(conn, keyring)
    case_id = submission.case_id
    async with db.transaction(pool) as conn:
        moderator = await auth.unsafe_actor_for(conn, first.id)
        await queue.claim(conn, keyring, moderator, case_id)
        await queue.redact(conn, keyring, moderator, case_id, dict(redaction))
        await queue.approve(conn, keyring, moderator, case_id)
    async with db.transaction(pool) as conn:
        await queue.publish(conn, keyring, app[keys.SETTINGS],
                            await auth.unsafe_actor_for(conn, second.id), case_id, room)
    return case_id
