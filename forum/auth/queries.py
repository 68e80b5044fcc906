"""SQL of accounts, invitations, sessions, tokens, second factor and sign-in throttling."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg

from forum.errors import ConflictError

_USER_COLUMNS = ("u.id, u.email, u.display_name, u.role, u.state_iso3, u.password_hash, "
                 "u.language, u.totp_secret, u.totp_pending, u.totp_last_counter, "
                 "u.totp_enrolled_at, u.is_demo, u.disabled_at, u.created_at")


async def get_user_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.email = $1", email)


async def get_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)


async def lock_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1 FOR NO KEY UPDATE", user_id)


async def list_users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_USER_COLUMNS} FROM users u ORDER BY u.email")


async def insert_user(conn: asyncpg.Connection, user_id: uuid.UUID, email: str,
                      display_name: str, role: str, state_iso3: str | None, password_hash: str,
                      is_demo: bool = False) -> None:
    try:
        await conn.execute(
            "INSERT INTO users (id, email, display_name, role, state_iso3, password_hash, "
            "is_demo) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            user_id, email, display_name, role, state_iso3, password_hash, is_demo)
    except asyncpg.UniqueViolationError:
        raise ConflictError("An account with this email already exists",
                            code="email_taken") from None


async def update_password_hash(conn: asyncpg.Connection, user_id: uuid.UUID,
                               password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id,
                       password_hash)


async def update_language(conn: asyncpg.Connection, user_id: uuid.UUID,
                          language: str | None) -> None:
    await conn.execute("UPDATE users SET language = $2 WHERE id = $1", user_id, language)


async def update_role(conn: asyncpg.Connection, user_id: uuid.UUID, role: str,
                      state_iso3: str | None) -> None:
    await conn.execute("UPDATE users SET role = $2, state_iso3 = $3 WHERE id = $1",
                       user_id, role, state_iso3)


async def update_disabled(conn: asyncpg.Connection, user_id: uuid.UUID, disabled: bool) -> None:
    await conn.execute(
        "UPDATE users SET disabled_at = CASE WHEN $2 THEN now() ELSE NULL END WHERE id = $1",
        user_id, disabled)


async def update_totp(conn: asyncpg.Connection, user_id: uuid.UUID, secret: bytes | None,
                      last_counter: int | None, enrolled: bool) -> None:
    await conn.execute(
        "UPDATE users SET totp_secret = $2, totp_last_counter = $3, "
        "totp_enrolled_at = CASE WHEN $4 THEN now() ELSE NULL END WHERE id = $1",
        user_id, secret, last_counter, enrolled)


async def update_totp_counter(conn: asyncpg.Connection, user_id: uuid.UUID,
                              counter: int) -> bool:
    """Advance the last accepted TOTP step; False if ``counter`` was already used (replay)."""
    result = await conn.execute(
        "UPDATE users SET totp_last_counter = $2 WHERE id = $1 "
        "AND (totp_last_counter IS NULL OR totp_last_counter < $2)", user_id, counter)
    return bool(result == "UPDATE 1")


async def delete_recovery_codes(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)


async def insert_recovery_codes(conn: asyncpg.Connection, user_id: uuid.UUID,
                                hashes: Sequence[bytes]) -> None:
    await conn.executemany(
        "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
        [(user_id, code_hash) for code_hash in hashes])


async def use_recovery_code(conn: asyncpg.Connection, user_id: uuid.UUID,
                            code_hash: bytes) -> bool:
    result = await conn.execute(
        "UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 "
        "AND used_at IS NULL", user_id, code_hash)
    return bool(result == "UPDATE 1")


async def count_unused_recovery_codes(conn: asyncpg.Connection, user_id: uuid.UUID) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL", user_id)
    return int(value)


# --- invitations -----------------------------------------------------------------------------

async def insert_invitation(conn: asyncpg.Connection, invitation_id: uuid.UUID,
                            token_hash: bytes, email: str, role: str, state_iso3: str | None,
                            invited_by: uuid.UUID | None, expires_at: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO invitations (id, token_hash, email, role, state_iso3, invited_by, "
        "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        invitation_id, token_hash, email, role, state_iso3, invited_by, expires_at)


async def expire_pending_invitations(conn: asyncpg.Connection, email: str) -> int:
    """End the pending invitations of an address (a new one replaces them); how many."""
    result = await conn.execute(
        "UPDATE invitations SET expires_at = now() "
        "WHERE email = $1 AND accepted_at IS NULL AND expires_at > now()", email)
    return int(result.split()[-1])


async def lock_invitation_by_token(conn: asyncpg.Connection,
                                   token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, email, role, state_iso3, invited_by, expires_at, accepted_at "
        "FROM invitations WHERE token_hash = $1 FOR NO KEY UPDATE", token_hash)


async def get_invitation_by_token(conn: asyncpg.Connection,
                                  token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, email, role, state_iso3, invited_by, expires_at, accepted_at "
        "FROM invitations WHERE token_hash = $1", token_hash)


async def update_invitation_accepted(conn: asyncpg.Connection, invitation_id: uuid.UUID,
                                     user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE invitations SET accepted_at = now(), accepted_user_id = $2 WHERE id = $1",
        invitation_id, user_id)


async def list_pending_invitations(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, email, role, state_iso3, created_at, expires_at FROM invitations "
        "WHERE accepted_at IS NULL AND expires_at > now() ORDER BY created_at DESC")


# --- sessions --------------------------------------------------------------------------------

async def insert_session(conn: asyncpg.Connection, session_id: uuid.UUID, token_hash: bytes,
                         user_id: uuid.UUID, mfa_passed: bool, expires_at: dt.datetime,
                         client_label: str) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, token_hash, user_id, mfa_passed, expires_at, client_label) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        session_id, token_hash, user_id, mfa_passed, expires_at, client_label)


async def get_session_actor(conn: asyncpg.Connection, token_hash: bytes,
                            idle_cutoff: dt.datetime) -> asyncpg.Record | None:
    """The live session for this token with its user; None if expired, idle or disabled."""
    return await conn.fetchrow(
        "SELECT s.id AS session_id, s.mfa_passed, s.created_at AS session_created_at, "
        "s.last_seen_at, " + _USER_COLUMNS + " FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = $1 AND s.expires_at > now() AND s.last_seen_at > $2 "
        "AND u.disabled_at IS NULL", token_hash, idle_cutoff)


async def touch_session(conn: asyncpg.Connection, session_id: uuid.UUID) -> None:
    await conn.execute("UPDATE sessions SET last_seen_at = now() WHERE id = $1", session_id)


async def update_session_mfa(conn: asyncpg.Connection, session_id: uuid.UUID) -> None:
    await conn.execute("UPDATE sessions SET mfa_passed = true WHERE id = $1", session_id)


async def delete_session(conn: asyncpg.Connection, session_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM sessions WHERE id = $1", session_id)


async def delete_user_session(conn: asyncpg.Connection, user_id: uuid.UUID,
                              session_id: uuid.UUID) -> bool:
    result = await conn.execute("DELETE FROM sessions WHERE id = $1 AND user_id = $2",
                                session_id, user_id)
    return bool(result == "DELETE 1")


async def delete_user_sessions(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)


async def list_user_sessions(conn: asyncpg.Connection,
                             user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, mfa_passed, created_at, last_seen_at, expires_at, client_label "
        "FROM sessions WHERE user_id = $1 AND expires_at > now() ORDER BY last_seen_at DESC",
        user_id)


# --- personal access tokens -----------------------------------------------------------------

async def insert_api_token(conn: asyncpg.Connection, token_id: uuid.UUID, user_id: uuid.UUID,
                           name: str, token_hash: bytes) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO api_tokens (id, user_id, name, token_hash) VALUES ($1, $2, $3, $4) "
        "RETURNING id, name, created_at, last_used_at", token_id, user_id, name, token_hash)
    assert row is not None
    return row


async def get_token_actor(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT t.id AS token_id, t.last_used_at AS token_last_used_at, " + _USER_COLUMNS +
        " FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL", token_hash)


async def touch_api_token(conn: asyncpg.Connection, token_id: uuid.UUID) -> None:
    await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", token_id)


async def revoke_user_api_tokens(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id)


async def list_api_tokens(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, name, created_at, last_used_at FROM api_tokens "
        "WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC", user_id)


async def count_api_tokens(conn: asyncpg.Connection, user_id: uuid.UUID) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL", user_id)
    return int(value)


async def revoke_api_token(conn: asyncpg.Connection, user_id: uuid.UUID,
                           token_id: uuid.UUID) -> bool:
    result = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 "
        "AND revoked_at IS NULL", token_id, user_id)
    return bool(result == "UPDATE 1")


# --- throttling ------------------------------------------------------------------------------

async def count_failures(conn: asyncpg.Connection, kind: str, key_hash: bytes,
                         since: dt.datetime) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM login_failures WHERE kind = $1 AND key_hash = $2 "
        "AND failed_at > $3", kind, key_hash, since)
    return int(value)


async def insert_failure(conn: asyncpg.Connection, kind: str, key_hash: bytes) -> None:
    await conn.execute("INSERT INTO login_failures (kind, key_hash) VALUES ($1, $2)",
                       kind, key_hash)


async def delete_failures(conn: asyncpg.Connection, kind: str, key_hash: bytes) -> None:
    await conn.execute("DELETE FROM login_failures WHERE kind = $1 AND key_hash = $2",
                       kind, key_hash)


async def delete_old_failures(conn: asyncpg.Connection, before: dt.datetime) -> None:
    await conn.execute("DELETE FROM login_failures WHERE failed_at < $1", before)


async def update_totp_pending(conn: asyncpg.Connection, user_id: uuid.UUID,
                              secret: bytes | None) -> None:
    await conn.execute("UPDATE users SET totp_pending = $2 WHERE id = $1", user_id, secret)
