"""The accounts service against the real database: rules that are awkward to see over HTTP.

Password policy and input checks are pure functions (no database, cheap to parametrize).
The rest calls ``forum.auth.service`` with the app's real pool, keyring and password service —
no mocks — and looks at what was stored: hashes, not tokens; audit rows for every sign-in,
invitation and enrolment; sessions that end when they should.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from crypto import totp
from crypto.passwords import Argon2Params
from forum import db, keys
from forum.audit import service as audit
from forum.auth import service as auth
from forum.auth.passwords import MAX_LENGTH, MIN_LENGTH, PasswordService, check_password
from forum.errors import (
    AuthRequiredError,
    ConflictError,
    DomainError,
    ForbiddenError,
    RateLimitedError,
    ValidationError,
)
from tests.factories import PASSWORD, TestUser, make_user

NEW_PASSWORD = "violet harbour tractor evening"


# --- pure checks -------------------------------------------------------------------------------

@pytest.mark.parametrize(("password", "code"), [
    (None, "password_missing"), ("", "password_missing"), (12345678901234567, "password_missing"),
    (["a"], "password_missing"),
    ("x" * (MIN_LENGTH - 1), "password_too_short"),
    ("q w e r t y u i " * 64 + "o", "password_too_long"),
    ("passwordpassword", "password_common"),
    ("PasswordPassword", "password_common"),
    ("123456789987654321", "password_common"),
    ("aaaaaaaaaaaaaaaaaaaa", "password_common"),
    ("abcabcabcabcabcabc", "password_common"),
    ("ababababababababababababc", "password_common"),  # fewer than 5 distinct characters
    ("my DIEF forum passphrase", "password_service_name"),
    ("my dief forum passphrase", "password_service_name"),
    ("d i e f is where we meet", "password_service_name"),
    ("the ArmsTradeTreaty rocks hard", "password_service_name"),
    ("greetings from amina to all", "password_contains_email"),
])
def test_password_policy_refuses(password: object, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_password(password, email="amina@example.org")
    assert caught.value.code == code
    assert caught.value.status == 422 and caught.value.title


def test_password_policy_accepts_and_normalises() -> None:
    boundary_low = "river lamp tide"
    assert len(boundary_low) == MIN_LENGTH and check_password(boundary_low) == boundary_low
    boundary_high = ("quiet amber field " * 60)[:MAX_LENGTH - 3] + "xyz"
    assert len(boundary_high) == MAX_LENGTH
    assert check_password(boundary_high) == boundary_high
    # NFKC: full-width letters become ASCII, and length is counted after normalising.
    assert check_password("ｒｉｖｅｒ ｌａｍｐ ｔｉｄｅ") == boundary_low
    with pytest.raises(ValidationError):
        check_password("ｄｉｅｆ river lamp tide")  # the service name, in disguise


@pytest.mark.parametrize(("check", "value", "code"), [
    (auth.check_email, "", "email_missing"), (auth.check_email, 3, "email_missing"),
    (auth.check_email, "a" * 64 + "@" + "b" * 186 + ".org", "email_too_long"),
    (auth.check_email, "no-at-sign", "email_invalid"),
    (auth.check_email, "two@@example.org", "email_invalid"),
    (auth.check_email, "a@nodot", "email_invalid"),
    (auth.check_display_name, "  ", "display_name_missing"),
    (auth.check_display_name, None, "display_name_missing"),
    (auth.check_display_name, "n" * 81, "display_name_too_long"),
    (auth.check_role, "superuser", "role_invalid"), (auth.check_role, None, "role_invalid"),
    (auth.check_role, "Admin", "role_invalid"),
])
def test_input_checks_refuse(check: Any, value: object, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check(value)
    assert caught.value.code == code


def test_input_checks_normalise() -> None:
    assert auth.check_email("  Some.One@Example.ORG ") == "some.one@example.org"
    assert auth.check_display_name("  Amina \t Otieno ") == "Amina Otieno"
    assert auth.check_display_name("n" * 80) == "n" * 80
    assert [auth.check_role(role) for role in auth.ROLES] == list(auth.ROLES)


# --- with the database ---------------------------------------------------------------------

def _secret(uri: str) -> bytes:
    secret_b32 = parse_qs(urlsplit(uri).query)["secret"][0]
    return base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))


async def _sign_in(client: TestClient, email: str, password: str, code: str | None = None,
                   *, address: str = "192.0.2.1",
                   passwords: PasswordService | None = None) -> auth.SignInResult:
    app = client.app
    return await auth.sign_in(app[keys.POOL], passwords or app[keys.HASHER], app[keys.KEYRING],
                              app[keys.SETTINGS], app[keys.DUMMY_HASH], email=email,
                              password=password, totp_code=code, client_address=address)


async def _actor(client: TestClient, user: TestUser) -> auth.Actor:
    result = await _sign_in(client, user.email, user.password, user.next_code())
    return result.actor


async def test_invitation_sign_in_and_enrolment_write_audit_rows(client: TestClient) -> None:
    app = client.app
    pool, keyring, settings, hasher = (app[keys.POOL], app[keys.KEYRING], app[keys.SETTINGS],
                                       app[keys.HASHER])
    admin = await _actor(client, await make_user(client, role="admin"))
    async with db.transaction(pool) as conn:
        invitation, token = await auth.invite(conn, keyring, settings, admin,
                                              email="Facil@Example.org", role="facilitator",
                                              state=None)
        user_id = await auth.accept_invitation(conn, hasher, keyring, token=token,
                                               display_name="Facil", password=NEW_PASSWORD)
    with pytest.raises(AuthRequiredError):
        await _sign_in(client, "facil@example.org", "not the password at all")
    partial = await _sign_in(client, "facil@example.org", NEW_PASSWORD)
    assert partial.actor.mfa_passed is False and partial.actor.totp_enrolled is False
    async with db.transaction(pool) as conn:
        enrolment = await auth.start_totp_enrolment(conn, hasher, keyring, partial.actor)
        codes, session = await auth.confirm_totp(
            conn, keyring, settings, partial.actor,
            totp.code_at(_secret(enrolment.uri), totp.counter_for(time.time())))
    assert len(codes) == 10 and session is not None and session.actor.mfa_passed

    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM audit_log ORDER BY seq")
        result = await audit.verify(conn, keyring.audit_keys())
    assert result.ok, result.problem
    by_action: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        by_action.setdefault(row["action"], []).append(row)
    assert {"invitation.create", "invitation.accept", "signin.failure", "signin.success",
            "totp.enrol"} <= set(by_action)
    created = by_action["invitation.create"][0]
    assert (created["actor_id"], created["target_id"]) == (admin.user_id, str(invitation.id))
    assert by_action["invitation.accept"][0]["actor_id"] == user_id
    failure = by_action["signin.failure"][-1]
    assert failure["actor_id"] == user_id
    # The failure row names the account by a keyed digest, never the typed email or password.
    flat = " ".join(str(value) for value in failure.values())
    assert "facil@example.org" not in flat and "not the password" not in flat
    successes = [r for r in by_action["signin.success"] if r["actor_id"] == user_id]
    assert successes and successes[-1]["target_id"] == str(partial.actor.session_id)
    assert [r["actor_id"] for r in by_action["totp.enrol"]][-1] == user_id


async def test_only_hashes_of_secrets_are_stored(client: TestClient) -> None:
    """Raw-row check: no invitation, session, access or recovery token appears in clear."""
    app = client.app
    pool, keyring, settings = app[keys.POOL], app[keys.KEYRING], app[keys.SETTINGS]
    user = await make_user(client, role="admin")
    result = await _sign_in(client, user.email, user.password, user.next_code())
    async with db.transaction(pool) as conn:
        _invitation, invitation_token = await auth.invite(
            conn, keyring, settings, result.actor, email="someone@example.org",
            role="observer", state=None)
        _row, api_token = await auth.create_api_token(conn, keyring, result.actor, "script")
    secrets = [result.token, invitation_token, api_token, *user.recovery_codes]
    async with pool.acquire() as conn:
        for table in ("sessions", "invitations", "api_tokens", "recovery_codes", "users",
                      "audit_log"):
            for row in await conn.fetch(f"SELECT * FROM {table}"):  # fixed table names
                for value in row.values():
                    blob = bytes(value) if isinstance(value, bytes) else str(value).encode()
                    for secret in secrets:
                        assert secret.encode() not in blob, (table, secret[:6])
        password_hash = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1",
                                            user.id)
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash


async def test_unknown_emails_cost_the_same_argon2_work(client: TestClient) -> None:
    """The dummy hash checked for unknown emails uses the very parameters of real hashes."""
    user = await make_user(client)
    async with client.app[keys.POOL].acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id)
    dummy = client.app[keys.DUMMY_HASH]
    assert dummy.rsplit("$", 2)[0] == stored.rsplit("$", 2)[0]  # $argon2id$v=19$m=..,t=..,p=..


async def test_password_is_rehashed_when_the_parameters_change(client: TestClient) -> None:
    user = await make_user(client, with_totp=False)
    settings = client.app[keys.SETTINGS]
    stronger = PasswordService(
        Argon2Params(settings.argon2_time_cost + 1, settings.argon2_memory_kib,
                     settings.argon2_parallelism), None, 1)
    await _sign_in(client, user.email, user.password, passwords=stronger)
    async with client.app[keys.POOL].acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id)
    assert f"t={settings.argon2_time_cost + 1}" in stored
    assert not stronger.needs_rehash(stored)
    # ...and the new hash still verifies with the password.
    await _sign_in(client, user.email, user.password, passwords=stronger)


async def test_sign_in_refuses_the_same_way_for_every_failure(client: TestClient) -> None:
    user = await make_user(client)
    disabled = await make_user(client)
    async with db.transaction(client.app[keys.POOL]) as conn:
        await auth.set_disabled(conn, client.app[keys.KEYRING], None, disabled.id, True)
    assert user.totp_secret is not None
    valid = {totp.code_at(user.totp_secret, totp.counter_for(time.time()) + step)
             for step in (-1, 0, 1)}
    wrong_code = next(c for c in ("000000", "111111", "222222") if c not in valid)
    attempts = [("nobody@example.org", PASSWORD, None), (user.email, "wrong password here", None),
                (user.email, PASSWORD, wrong_code), (disabled.email, PASSWORD, None)]
    seen = set()
    for email, password, code in attempts:
        with pytest.raises(DomainError) as caught:
            await _sign_in(client, email, password, code)
        error = caught.value
        seen.add((type(error), error.status, error.code, error.title, error.detail,
                  tuple(sorted(error.public_fields.items()))))
    assert len(seen) == 1 and next(iter(seen))[1] == 401


async def test_throttle_counts_per_account_and_per_client(client: TestClient) -> None:
    settings = client.app[keys.SETTINGS]
    user = await make_user(client, with_totp=False)
    for n in range(settings.login_max_per_account):
        with pytest.raises(AuthRequiredError):
            await _sign_in(client, user.email.upper(), "wrong password here",
                           address=f"198.51.100.{n}")
    # The email is matched case-insensitively, from any address.
    with pytest.raises(RateLimitedError) as caught:
        await _sign_in(client, user.email, user.password, address="203.0.113.9")
    assert caught.value.headers["Retry-After"] == str(settings.login_window_minutes * 60)
    # Failures are stored as keyed digests, not addresses or emails.
    async with client.app[keys.POOL].acquire() as conn:
        rows = await conn.fetch("SELECT kind, key_hash FROM login_failures")
    assert rows and all(len(bytes(r["key_hash"])) == 32 for r in rows)
    # Past the window, failures no longer count and can be pruned.
    async with db.transaction(client.app[keys.POOL]) as conn:
        await conn.execute("UPDATE login_failures SET failed_at = now() - $1::interval",
                           dt.timedelta(minutes=settings.login_window_minutes + 1))
        await auth.prune_failures(conn, settings)
        assert await conn.fetchval("SELECT count(*) FROM login_failures") == 0
    assert (await _sign_in(client, user.email, user.password)).actor.user_id == user.id


async def test_a_totp_step_is_accepted_once_and_never_an_older_one(client: TestClient) -> None:
    user = await make_user(client)
    assert user.totp_secret is not None
    now = totp.counter_for(time.time())
    code_now = totp.code_at(user.totp_secret, now)
    assert (await _sign_in(client, user.email, user.password, code_now)).actor.mfa_passed
    for code in (code_now, totp.code_at(user.totp_secret, now - 1)):
        with pytest.raises(AuthRequiredError):
            await _sign_in(client, user.email, user.password, code)
    later = totp.code_at(user.totp_secret, now + 1)
    assert (await _sign_in(client, user.email, user.password, later)).actor.mfa_passed


async def test_second_factor_on_a_partial_session(client: TestClient) -> None:
    app = client.app
    user = await make_user(client)
    partial = await _sign_in(client, user.email, user.password)
    pool, keyring, settings = app[keys.POOL], app[keys.KEYRING], app[keys.SETTINGS]
    with pytest.raises(ValidationError):
        await auth.pass_second_factor(pool, keyring, settings, partial.actor, "",
                                      client_address="192.0.2.1")
    with pytest.raises(ValidationError):
        await auth.pass_second_factor(pool, keyring, settings, partial.actor, "not-a-code",
                                      client_address="192.0.2.1")
    full = await auth.pass_second_factor(pool, keyring, settings, partial.actor,
                                         user.next_code(), client_address="192.0.2.1")
    assert full.actor.mfa_passed and full.token != partial.token
    async with pool.acquire() as conn:
        assert await auth.load_session(conn, settings, partial.token) is None
        loaded = await auth.load_session(conn, settings, full.token)
        assert loaded is not None and loaded.mfa_passed
        # The wrong code counted as a failed sign-in (the account count is reset by the
        # success, the client's is not); the empty one was merely invalid input.
        assert await conn.fetchval("SELECT count(*) FROM login_failures "
                                   "WHERE kind = 'account'") == 0
        assert await conn.fetchval("SELECT count(*) FROM login_failures "
                                   "WHERE kind = 'client'") == 1


async def test_sessions_end_when_idle_expired_or_disabled(client: TestClient) -> None:
    app = client.app
    pool, settings = app[keys.POOL], app[keys.SETTINGS]
    user = await make_user(client)
    tokens = [(await _sign_in(client, user.email, user.password, user.next_code())).token
              for _ in range(3)]
    async with pool.acquire() as conn:
        for token in tokens:
            assert await auth.load_session(conn, settings, token) is not None
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM sessions WHERE user_id = $1 ORDER BY created_at", user.id)]
        await conn.execute("UPDATE sessions SET last_seen_at = now() - $2::interval "
                           "WHERE id = $1", ids[0],
                           dt.timedelta(minutes=settings.session_idle_minutes + 1))
        await conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second' "
                           "WHERE id = $1", ids[1])
        alive = [await auth.load_session(conn, settings, token) is not None for token in tokens]
    assert alive.count(True) == 1
    # The absolute lifetime is set at sign-in.
    async with pool.acquire() as conn:
        lifetime = await conn.fetchval(
            "SELECT expires_at - created_at FROM sessions WHERE id = $1", ids[2])
    assert abs(lifetime - dt.timedelta(hours=settings.session_absolute_hours)) < \
        dt.timedelta(seconds=5)

    async with db.transaction(pool) as conn:
        token_row, api_token = await auth.create_api_token(
            conn, app[keys.KEYRING], await _actor(client, user), "ci")
        await auth.set_disabled(conn, app[keys.KEYRING], None, user.id, True)
    async with pool.acquire() as conn:
        assert all([await auth.load_session(conn, settings, t) is None for t in tokens])
        assert await auth.load_token(conn, api_token) is None
        assert await conn.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1",
                                   user.id) == 0
        actions = await conn.fetch("SELECT action FROM audit_log WHERE target_id = $1",
                                   str(user.id))
    assert "user.disable" in [r["action"] for r in actions]
    assert token_row["id"] is not None


async def test_load_session_and_token_ignore_garbage(client: TestClient) -> None:
    settings = client.app[keys.SETTINGS]
    async with client.app[keys.POOL].acquire() as conn:
        for garbage in ("", "x" * 101, "\udcff\udcfe", "é" * 43, "\x00" * 43,
                        "dief_" + "a" * 43):
            assert await auth.load_session(conn, settings, garbage) is None
            assert await auth.load_token(conn, garbage) is None


async def test_an_invitation_is_accepted_once_even_concurrently(client: TestClient) -> None:
    app = client.app
    pool, keyring, settings, hasher = (app[keys.POOL], app[keys.KEYRING], app[keys.SETTINGS],
                                       app[keys.HASHER])
    async with db.transaction(pool) as conn:
        _invitation, token = await auth.invite(conn, keyring, settings, None,
                                               email="race@example.org", role="observer",
                                               state=None)

    async def accept(name: str) -> uuid.UUID:
        async with db.transaction(pool) as conn:
            return await auth.accept_invitation(conn, hasher, keyring, token=token,
                                                display_name=name, password=NEW_PASSWORD)

    results = await asyncio.gather(accept("First"), accept("Second"), return_exceptions=True)
    winners = [r for r in results if isinstance(r, uuid.UUID)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], ConflictError) and losers[0].code == "invitation_used"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE email = $1",
                                   "race@example.org") == 1


async def test_only_admins_invite_or_disable(client: TestClient) -> None:
    app = client.app
    moderator = await _actor(client, await make_user(client, role="moderator"))
    admin = await _actor(client, await make_user(client, role="admin"))
    async with db.transaction(app[keys.POOL]) as conn:
        with pytest.raises(ForbiddenError):
            await auth.invite(conn, app[keys.KEYRING], app[keys.SETTINGS], moderator,
                              email="x@example.org", role="observer", state=None)
        with pytest.raises(ForbiddenError):
            await auth.set_disabled(conn, app[keys.KEYRING], moderator, admin.user_id, True)
        with pytest.raises(ConflictError):
            await auth.set_disabled(conn, app[keys.KEYRING], admin, admin.user_id, True)
