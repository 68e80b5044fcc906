"""Accounts, invitations, sign-in, sessions, second factor and personal access tokens.

Rules that matter (docs/security.md has the full design):

* Invitation-only. An admin invites an email with a role; the single-use link carries a
  256-bit token of which only the SHA-256 is stored; it expires after ``DIEF_INVITATION_DAYS``.
* Sign-in answers the same bytes, after the same work (an argon2 verify against a dummy hash),
  whether the email exists, the password is wrong or the account is disabled. Failures are
  throttled per account and per client address (both keyed with an HMAC, never stored raw).
* A password alone opens a *partial* session that reaches only the second-factor pages. Every
  account enrols TOTP at first sign-in; a TOTP step is accepted once (the last used counter is
  stored and must increase); recovery codes are single-use and stored hashed.
* Session tokens are 256-bit random values; the database holds their SHA-256. A new token is
  issued at sign-in and again when the second factor is passed. Sessions end after
  ``DIEF_SESSION_IDLE_MINUTES`` idle or ``DIEF_SESSION_ABSOLUTE_HOURS`` in all, and at once
  when the account is disabled.

``sign_in`` takes the pool rather than a connection: the argon2 verification (tens of
milliseconds of CPU, 64 MiB) must run outside any transaction so that a queue of sign-ins never
holds database connections that readers need.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass

import asyncpg

from crypto import tokens, totp
from forum.audit import service as audit
from forum.auth import queries
from forum.auth.passwords import PasswordService, check_password
from forum.db import transaction
from forum.errors import (
    AuthRequiredError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from forum.keyring import KeyRing
from forum.keystore import service as keystore
from forum.reference import service as reference
from forum.settings import Settings

ROLES = ("admin", "moderator", "facilitator", "delegate", "observer", "donor")
LANGUAGES = ("en", "fr", "es")
MAX_EMAIL = 254
MAX_DISPLAY_NAME = 80
MAX_TOKEN_NAME = 80
MAX_TOKENS_PER_USER = 20
RECOVERY_CODE_COUNT = 10
FRESH_AUTH_SECONDS = 600  # enrolment without re-typing the password only this soon after it
TOUCH_INTERVAL = dt.timedelta(seconds=60)  # write last_seen_at at most once a minute
ISSUER = "DIEF Forum"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Actor:
    """Who is making a request, as far as the rules care."""

    user_id: uuid.UUID
    email: str
    display_name: str
    role: str
    state_iso3: str | None
    language: str | None
    mfa_passed: bool
    totp_enrolled: bool
    is_demo: bool
    session_id: uuid.UUID | None = None
    session_created_at: dt.datetime | None = None
    token_id: uuid.UUID | None = None
    session_token_hash: bytes | None = None

    @property
    def via_token(self) -> bool:
        return self.token_id is not None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class SignInResult:
    token: str
    actor: Actor


@dataclass(frozen=True)
class Invitation:
    id: uuid.UUID
    email: str
    role: str
    state_iso3: str | None
    expires_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _actor(row: asyncpg.Record, *, mfa_passed: bool, session_id: uuid.UUID | None = None,
           session_created_at: dt.datetime | None = None, token_id: uuid.UUID | None = None,
           session_token_hash: bytes | None = None) -> Actor:
    return Actor(user_id=row["id"], email=row["email"], display_name=row["display_name"],
                 role=row["role"], state_iso3=(row["state_iso3"] or "").strip() or None,
                 language=row["language"], mfa_passed=mfa_passed,
                 totp_enrolled=row["totp_enrolled_at"] is not None, is_demo=row["is_demo"],
                 session_id=session_id, session_created_at=session_created_at,
                 token_id=token_id, session_token_hash=session_token_hash)


# --- validation ------------------------------------------------------------------------------

def check_email(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Enter an email address", field="email", code="email_missing")
    email = value.strip().lower()
    if len(email) > MAX_EMAIL:
        raise ValidationError("Email address too long", detail="at most %(maximum)s characters",
                              params={"maximum": MAX_EMAIL}, field="email", code="email_too_long")
    if not _EMAIL.match(email):
        raise ValidationError("Not an email address", field="email", code="email_invalid")
    return email


def check_display_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Enter a display name", field="display_name",
                              code="display_name_missing")
    name = " ".join(value.split())
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationError("Display name too long",
                              detail="at most %(maximum)s characters",
                              params={"maximum": MAX_DISPLAY_NAME}, field="display_name",
                              code="display_name_too_long")
    return name


def check_role(value: object) -> str:
    if not isinstance(value, str) or value not in ROLES:
        raise ValidationError("Unknown role", detail="expected one of %(choices)s",
                              params={"choices": ", ".join(ROLES)}, field="role",
                              code="role_invalid")
    return value


async def _check_role_state(conn: asyncpg.Connection, role: str,
                            state: object) -> str | None:
    if state is None or state == "":
        if role == "delegate":
            raise ValidationError("A delegate needs a State", field="state",
                                  code="state_required")
        return None
    if not isinstance(state, str):
        raise ValidationError("Unknown State", field="state", code="state_invalid")
    return (await reference.get_state(conn, state)).iso3


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise ForbiddenError("Only administrators may do this")


# --- users -----------------------------------------------------------------------------------

async def create_user(conn: asyncpg.Connection, passwords: PasswordService, keyring: KeyRing, *,
                      email: object, display_name: object, role: object, state: object,
                      password: object, created_by: uuid.UUID | None,
                      is_demo: bool = False) -> uuid.UUID:
    """Create an account directly (CLI and demo); invitations go through accept_invitation."""
    email_ok = check_email(email)
    name_ok = check_display_name(display_name)
    role_ok = check_role(role)
    state_ok = await _check_role_state(conn, role_ok, state)
    password_ok = check_password(password, email=email_ok)
    if await queries.get_user_by_email(conn, email_ok) is not None:
        raise ConflictError("An account with this email already exists", code="email_taken")
    user_id = uuid.uuid4()
    await queries.insert_user(conn, user_id, email_ok, name_ok, role_ok, state_ok,
                              await passwords.hash(password_ok), is_demo)
    await audit.record(conn, keyring.audit_key, actor_id=created_by, action="user.create",
                       target_type="user", target_id=str(user_id),
                       details={"role": role_ok, "state": state_ok})
    return user_id


async def get_user_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record:
    row = await queries.get_user_by_email(conn, email.strip().lower())
    if row is None:
        raise ValidationError("No account with this email", field="email",
                              code="user_unknown")
    return row


async def unsafe_actor_for(conn: asyncpg.Connection, user_id: uuid.UUID) -> Actor:
    """An actor for ``user_id`` without any sign-in: only for operator tools that act on a
    user's behalf by design (the demo loader, benchmarks). Never reachable from a request."""
    row = await queries.get_user(conn, user_id)
    if row is None:
        raise NotFoundError()
    return _actor(row, mfa_passed=True)


async def list_users(conn: asyncpg.Connection, actor: Actor) -> list[asyncpg.Record]:
    _require_admin(actor)
    return await queries.list_users(conn)


async def set_role(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor, user_id: uuid.UUID,
                   role: object, state: object) -> None:
    _require_admin(actor)
    role_ok = check_role(role)
    state_ok = await _check_role_state(conn, role_ok, state)
    row = await queries.lock_user(conn, user_id)
    if row is None:
        raise NotFoundError()
    await queries.update_role(conn, user_id, role_ok, state_ok)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="user.role",
                       target_type="user", target_id=str(user_id),
                       details={"from": row["role"], "to": role_ok, "state": state_ok})


async def set_disabled(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor | None,
                       user_id: uuid.UUID, disabled: bool) -> None:
    """Disable (ending every session and token use at once) or re-enable an account."""
    if actor is not None:
        _require_admin(actor)
        if actor.user_id == user_id and disabled:
            raise ConflictError("You cannot disable your own account", code="self_disable")
    if await queries.lock_user(conn, user_id) is None:
        raise NotFoundError()
    await queries.update_disabled(conn, user_id, disabled)
    if disabled:  # end every way in: sessions and personal access tokens
        await queries.delete_user_sessions(conn, user_id)
        await queries.revoke_user_api_tokens(conn, user_id)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id if actor else None,
                       action="user.disable" if disabled else "user.enable",
                       target_type="user", target_id=str(user_id))


async def set_language(conn: asyncpg.Connection, actor: Actor, language: object) -> None:
    if language not in LANGUAGES:
        raise ValidationError("Unknown language", field="language", code="language_invalid")
    assert isinstance(language, str)
    await queries.update_language(conn, actor.user_id, language)


# --- invitations -----------------------------------------------------------------------------

async def invite(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                 actor: Actor | None, *, email: object, role: object,
                 state: object) -> tuple[Invitation, str]:
    """Create an invitation; returns it and the one-time token for the link.

    A pending invitation to the same address stops working: inviting again is how an admin
    who lost a link (it is shown once) gets a new one, and only the newest link is valid.
    ``actor`` is None only for the operator CLI (which runs with the operator's authority).
    """
    if actor is not None:
        _require_admin(actor)
    email_ok = check_email(email)
    role_ok = check_role(role)
    state_ok = await _check_role_state(conn, role_ok, state)
    if await queries.get_user_by_email(conn, email_ok) is not None:
        raise ConflictError("An account with this email already exists", code="email_taken")
    replaced = await queries.expire_pending_invitations(conn, email_ok)
    token = tokens.new_token()
    invitation = Invitation(uuid.uuid4(), email_ok, role_ok, state_ok,
                            _now() + dt.timedelta(days=settings.invitation_days))
    await queries.insert_invitation(conn, invitation.id, tokens.token_digest(token), email_ok,
                                    role_ok, state_ok, actor.user_id if actor else None,
                                    invitation.expires_at)
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id if actor else None,
                       action="invitation.create", target_type="invitation",
                       target_id=str(invitation.id),
                       details={"email": email_ok, "role": role_ok, "state": state_ok,
                                "replaced": replaced})
    return invitation, token


def _usable_invitation(row: asyncpg.Record | None) -> Invitation:
    if row is None:
        raise NotFoundError("This invitation link is not valid", code="invitation_invalid")
    if row["accepted_at"] is not None:
        raise ConflictError("This invitation has already been used", code="invitation_used")
    if row["expires_at"] <= _now():
        raise ConflictError("This invitation has expired; ask for a new one",
                            code="invitation_expired")
    return Invitation(row["id"], row["email"], row["role"],
                      (row["state_iso3"] or "").strip() or None, row["expires_at"])


def _check_token_text(token: object) -> str:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise NotFoundError("This invitation link is not valid", code="invitation_invalid")
    return token


async def get_invitation(conn: asyncpg.Connection, token: object) -> Invitation:
    token_ok = _check_token_text(token)
    return _usable_invitation(
        await queries.get_invitation_by_token(conn, tokens.token_digest(token_ok)))


async def accept_invitation(conn: asyncpg.Connection, passwords: PasswordService,
                            keyring: KeyRing, *, token: object, display_name: object,
                            password: object) -> uuid.UUID:
    token_ok = _check_token_text(token)
    name_ok = check_display_name(display_name)
    invitation = _usable_invitation(
        await queries.lock_invitation_by_token(conn, tokens.token_digest(token_ok)))
    password_ok = check_password(password, email=invitation.email)
    if await queries.get_user_by_email(conn, invitation.email) is not None:
        raise ConflictError("An account with this email already exists", code="email_taken")
    user_id = uuid.uuid4()
    await queries.insert_user(conn, user_id, invitation.email, name_ok, invitation.role,
                              invitation.state_iso3, await passwords.hash(password_ok))
    await queries.update_invitation_accepted(conn, invitation.id, user_id)
    await audit.record(conn, keyring.audit_key, actor_id=user_id, action="invitation.accept",
                       target_type="invitation", target_id=str(invitation.id),
                       details={"role": invitation.role, "state": invitation.state_iso3})
    return user_id


async def list_pending_invitations(conn: asyncpg.Connection,
                                   actor: Actor) -> list[asyncpg.Record]:
    _require_admin(actor)
    return await queries.list_pending_invitations(conn)


# --- sign-in ---------------------------------------------------------------------------------

_BAD_CREDENTIALS = "The email, password or code is not right"


def _throttle_keys(keyring: KeyRing, email: str, client_address: str) -> tuple[bytes, bytes]:
    """Keyed digests naming the account and the client in ``login_failures`` (never raw)."""
    return (tokens.keyed_digest(keyring.throttle_key, "account:" + email),
            tokens.keyed_digest(keyring.throttle_key, "client:" + client_address))


async def _check_throttle(conn: asyncpg.Connection, settings: Settings, account_key: bytes,
                          client_key: bytes) -> None:
    since = _now() - dt.timedelta(minutes=settings.login_window_minutes)
    retry = settings.login_window_minutes * 60
    if (await queries.count_failures(conn, "account", account_key, since)
            >= settings.login_max_per_account or
            await queries.count_failures(conn, "client", client_key, since)
            >= settings.login_max_per_client):
        raise RateLimitedError(retry, detail="too many failed sign-ins; try again later")


async def _new_session(conn: asyncpg.Connection, settings: Settings, row: asyncpg.Record,
                       mfa_passed: bool, client_label: str) -> SignInResult:
    token = tokens.new_token()
    session_id = uuid.uuid4()
    token_hash = tokens.token_digest(token)
    created = _now()
    await queries.insert_session(conn, session_id, token_hash, row["id"], mfa_passed,
                                 created + dt.timedelta(hours=settings.session_absolute_hours),
                                 client_label[:120])
    return SignInResult(token, _actor(row, mfa_passed=mfa_passed, session_id=session_id,
                                      session_created_at=created, session_token_hash=token_hash))


async def sign_in(pool: asyncpg.Pool, passwords: PasswordService, keyring: KeyRing,
                  settings: Settings, dummy_hash: str, *, email: object, password: object,
                  totp_code: object = None, client_address: str,
                  client_label: str = "") -> SignInResult:
    """Check email and password (and a TOTP code if given); open a session.

    Without a valid code the session is partial (``mfa_passed`` false). Every failure — unknown
    email, wrong password, disabled account, wrong code — raises the same AuthRequiredError.
    """
    if not isinstance(email, str) or not email.strip() or len(email) > MAX_EMAIL:
        raise ValidationError("Enter your email address", field="email", code="email_missing")
    if not isinstance(password, str) or not password:
        raise ValidationError("Enter your password", field="password", code="password_missing")
    if len(password) > 4 * 1024:
        raise ValidationError("Password too long", field="password", code="password_too_long")
    if totp_code is not None and not isinstance(totp_code, str):
        raise ValidationError("The code is a string of 6 digits", field="totp",
                              code="totp_invalid")
    email_ok = email.strip().lower()
    account_key, client_key = _throttle_keys(keyring, email_ok, client_address)

    async with transaction(pool) as conn:
        await _check_throttle(conn, settings, account_key, client_key)
        row = await queries.get_user_by_email(conn, email_ok)
    usable = row is not None and row["disabled_at"] is None
    stored = row["password_hash"] if usable and row is not None else dummy_hash
    matched = await passwords.verify(stored, unicodedata.normalize("NFKC", password))
    ok = usable and matched
    new_hash = None
    if ok and row is not None and passwords.needs_rehash(row["password_hash"]):
        new_hash = await passwords.hash(unicodedata.normalize("NFKC", password))

    async with transaction(pool) as conn:
        mfa_passed = False
        if ok and row is not None and totp_code:
            mfa_passed = await _accept_second_factor(conn, keyring, row, totp_code)
            ok = mfa_passed
        if not ok or row is None:
            await queries.insert_failure(conn, "account", account_key)
            await queries.insert_failure(conn, "client", client_key)
            await audit.record(conn, keyring.audit_key,
                               actor_id=row["id"] if row is not None else None,
                               action="signin.failure", target_type="account",
                               target_id=account_key.hex()[:16])
        else:
            if new_hash is not None:
                await queries.update_password_hash(conn, row["id"], new_hash)
            if mfa_passed:  # a password alone must not wipe the count of wrong codes
                await queries.delete_failures(conn, "account", account_key)
            result = await _new_session(conn, settings, row, mfa_passed, client_label)
            await audit.record(conn, keyring.audit_key, actor_id=row["id"],
                               action="signin.success", target_type="session",
                               target_id=str(result.actor.session_id),
                               details={"second_factor": mfa_passed})
            return result
    raise AuthRequiredError(_BAD_CREDENTIALS, code="bad_credentials")


async def _totp_secret(conn: asyncpg.Connection, keyring: KeyRing, row: asyncpg.Record,
                       column: str = "totp_secret") -> bytes | None:
    """The user's TOTP secret (or pending one), decrypted; stored sealed under ``user:<id>``."""
    blob = row[column]
    return await keystore.open_bytes(conn, keyring.store, bytes(blob) if blob else None,
                                     "users", column, row["id"])


async def _store_totp_secret(conn: asyncpg.Connection, keyring: KeyRing, user_id: uuid.UUID,
                             column: str, secret: bytes) -> bytes:
    return await keystore.seal_bytes(conn, keyring.store, keystore.user_scope(user_id), secret,
                                     "users", column, user_id)


async def _accept_second_factor(conn: asyncpg.Connection, keyring: KeyRing,
                                row: asyncpg.Record, code: str) -> bool:
    """A fresh TOTP step or an unused recovery code; consumes it."""
    cleaned = code.strip()
    secret = await _totp_secret(conn, keyring, row)
    if secret is None:
        return False
    if cleaned.replace(" ", "").isascii() and cleaned.replace(" ", "").isdigit():
        counter = totp.verify(secret, cleaned, time.time())
        return counter is not None and await queries.update_totp_counter(conn, row["id"],
                                                                           counter)
    if len(cleaned) > 40:
        return False
    code_hash = tokens.token_digest(tokens.normalise_recovery_code(cleaned))
    return await queries.use_recovery_code(conn, row["id"], code_hash)


async def pass_second_factor(pool: asyncpg.Pool, keyring: KeyRing, settings: Settings,
                             actor: Actor, code: object, *,
                             client_address: str) -> SignInResult:
    """Upgrade a partial session with a TOTP or recovery code; issues a new session token.

    Wrong codes count as failed sign-ins (same throttle as ``sign_in``), so whoever holds the
    password cannot try all 10^6 codes. Takes the pool, like ``sign_in``: a refused code must
    still commit its failure row.
    """
    if not isinstance(code, str) or not code.strip():
        raise ValidationError("Enter the code from your authenticator app", field="code",
                              code="code_missing")
    if actor.session_id is None:
        raise AuthRequiredError()
    account_key, client_key = _throttle_keys(keyring, actor.email, client_address)
    async with transaction(pool) as conn:
        await _check_throttle(conn, settings, account_key, client_key)
        row = await queries.lock_user(conn, actor.user_id)
        if row is not None and await _accept_second_factor(conn, keyring, row, code):
            await queries.delete_failures(conn, "account", account_key)
            await queries.delete_session(conn, actor.session_id)
            result = await _new_session(conn, settings, row, True, "")
            await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                               action="signin.second_factor", target_type="session",
                               target_id=str(result.actor.session_id))
            return result
        await queries.insert_failure(conn, "account", account_key)
        await queries.insert_failure(conn, "client", client_key)
        await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                           action="signin.failure", target_type="account",
                           target_id=account_key.hex()[:16], details={"second_factor": True})
    raise ValidationError("That code is not right, or was already used", field="code",
                          code="code_invalid")


# --- TOTP enrolment --------------------------------------------------------------------------

@dataclass(frozen=True)
class TotpEnrolment:
    secret_b32: str
    uri: str


def is_fresh(actor: Actor) -> bool:
    created = actor.session_created_at
    return created is not None and (_now() - created).total_seconds() < FRESH_AUTH_SECONDS


async def start_totp_enrolment(conn: asyncpg.Connection, passwords: PasswordService,
                               keyring: KeyRing, actor: Actor, *, password: object = None,
                               current_code: object = None) -> TotpEnrolment:
    """Begin (re-)enrolment: a new pending secret, confirmed by ``confirm_totp``.

    Re-authentication: a first enrolment within ten minutes of typing the password needs
    nothing more; otherwise the password is required, and replacing an existing factor also
    needs a current code from it.
    """
    row = await queries.lock_user(conn, actor.user_id)
    if row is None:
        raise AuthRequiredError()
    enrolled = row["totp_enrolled_at"] is not None
    if enrolled or not is_fresh(actor):
        if not isinstance(password, str) or not password:
            raise ValidationError("Confirm your password to change your second factor",
                                  field="password", code="reauth_required")
        if not await passwords.verify(row["password_hash"],
                                      unicodedata.normalize("NFKC", password)):
            raise ValidationError("That password is not right", field="password",
                                  code="reauth_failed")
    if enrolled:
        if not isinstance(current_code, str) or not await _accept_second_factor(
                conn, keyring, row, current_code):
            raise ValidationError("Enter a current code from your authenticator app",
                                  field="current_code", code="reauth_failed")
    secret = totp.new_secret()
    await queries.update_totp_pending(conn, actor.user_id, await _store_totp_secret(
        conn, keyring, actor.user_id, "totp_pending", secret))
    return TotpEnrolment(totp.secret_b32(secret),
                         totp.provisioning_uri(secret, actor.email, ISSUER))


async def pending_totp(conn: asyncpg.Connection, keyring: KeyRing,
                       actor: Actor) -> TotpEnrolment | None:
    row = await queries.get_user(conn, actor.user_id)
    if row is None:
        return None
    secret = await _totp_secret(conn, keyring, row, "totp_pending")
    if secret is None:
        return None
    return TotpEnrolment(totp.secret_b32(secret),
                         totp.provisioning_uri(secret, actor.email, ISSUER))


async def confirm_totp(conn: asyncpg.Connection, keyring: KeyRing, settings: Settings,
                       actor: Actor, code: object) -> tuple[list[str], SignInResult | None]:
    """Check a code against the pending secret; enrol it; return fresh recovery codes.

    For a cookie session the session is replaced by a new, fully signed-in one (returned).
    """
    if not isinstance(code, str) or not code.strip():
        raise ValidationError("Enter the 6-digit code from your authenticator app",
                              field="code", code="code_missing")
    row = await queries.lock_user(conn, actor.user_id)
    if row is None:
        raise AuthRequiredError()
    secret = await _totp_secret(conn, keyring, row, "totp_pending")
    if secret is None:
        raise ConflictError("Start the enrolment first", code="totp_not_started")
    counter = totp.verify(secret, code, time.time())
    if counter is None:
        raise ValidationError("That code is not right; check your device's clock and try "
                              "again", field="code", code="code_invalid")
    await queries.update_totp(conn, actor.user_id, await _store_totp_secret(
        conn, keyring, actor.user_id, "totp_secret", secret), counter, True)
    await queries.update_totp_pending(conn, actor.user_id, None)
    codes = [tokens.new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    await queries.delete_recovery_codes(conn, actor.user_id)
    await queries.insert_recovery_codes(conn, actor.user_id,
                                        [tokens.token_digest(c) for c in codes])
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="totp.enrol",
                       target_type="user", target_id=str(actor.user_id))
    session = None
    if actor.session_id is not None:
        await queries.delete_session(conn, actor.session_id)
        fresh_row = await queries.get_user(conn, actor.user_id)
        assert fresh_row is not None
        session = await _new_session(conn, settings, fresh_row, True, "")
    return codes, session


async def demo_current_code(conn: asyncpg.Connection, keyring: KeyRing,
                            actor: Actor) -> str | None:
    """The TOTP code a *demo* account can use now, for the demo's sign-in page only: the
    current step's, or — when that one was just used (replay protection refuses it again) —
    the next step's, which ``totp.verify``'s window accepts."""
    if not actor.is_demo:
        return None
    row = await queries.get_user(conn, actor.user_id)
    if row is None or not row["is_demo"]:
        return None
    secret = await _totp_secret(conn, keyring, row)
    if secret is None:
        return None
    counter = totp.counter_for(time.time())
    last_used = row["totp_last_counter"]
    if last_used is not None and last_used >= counter:
        counter = last_used + 1
    return totp.code_at(secret, counter)


async def enrol_totp_directly(conn: asyncpg.Connection, keyring: KeyRing,
                              user_id: uuid.UUID) -> tuple[str, list[str]]:
    """Operator path (``dief user add --with-totp``, demo): enrol and return URI and codes."""
    row = await queries.lock_user(conn, user_id)
    if row is None:
        raise NotFoundError()
    secret = totp.new_secret()
    await queries.update_totp(conn, user_id, await _store_totp_secret(
        conn, keyring, user_id, "totp_secret", secret), None, True)
    codes = [tokens.new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    await queries.delete_recovery_codes(conn, user_id)
    await queries.insert_recovery_codes(conn, user_id, [tokens.token_digest(c) for c in codes])
    await audit.record(conn, keyring.audit_key, actor_id=None, action="totp.enrol",
                       target_type="user", target_id=str(user_id), details={"by": "operator"})
    return totp.provisioning_uri(secret, row["email"], ISSUER), codes


# --- sessions --------------------------------------------------------------------------------

async def load_session(conn: asyncpg.Connection, settings: Settings, token: str, *,
                       touch: bool = True) -> Actor | None:
    """The session's actor. ``touch=False`` leaves ``last_seen_at`` alone: anonymous case
    submissions and follow-ups must not leave a per-user trace of when they happened."""
    # Our tokens are URL-safe base64; anything else (e.g. undecodable cookie bytes, which
    # arrive as lone surrogates) is simply not a session.
    if not token or len(token) > 100 or not token.isascii():
        return None
    token_hash = tokens.token_digest(token)
    idle_cutoff = _now() - dt.timedelta(minutes=settings.session_idle_minutes)
    row = await queries.get_session_actor(conn, token_hash, idle_cutoff)
    if row is None:
        return None
    if touch and _now() - row["last_seen_at"] > TOUCH_INTERVAL:
        await queries.touch_session(conn, row["session_id"])
    return _actor(row, mfa_passed=row["mfa_passed"], session_id=row["session_id"],
                  session_created_at=row["session_created_at"], session_token_hash=token_hash)


async def load_token(conn: asyncpg.Connection, token: str, *,
                     touch: bool = True) -> Actor | None:
    if not token or len(token) > 100 or not token.isascii():
        return None
    row = await queries.get_token_actor(conn, tokens.token_digest(token))
    if row is None:
        return None
    last_used = row["token_last_used_at"]
    if touch and (last_used is None or _now() - last_used > TOUCH_INTERVAL):
        await queries.touch_api_token(conn, row["token_id"])
    return _actor(row, mfa_passed=True, token_id=row["token_id"])


async def sign_out(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor) -> None:
    if actor.session_id is not None:
        await queries.delete_session(conn, actor.session_id)
        await audit.record(conn, keyring.audit_key, actor_id=actor.user_id,
                           action="signout", target_type="session",
                           target_id=str(actor.session_id))


async def list_sessions(conn: asyncpg.Connection, actor: Actor) -> list[asyncpg.Record]:
    return await queries.list_user_sessions(conn, actor.user_id)


async def revoke_session(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                         session_id: uuid.UUID) -> None:
    if not await queries.delete_user_session(conn, actor.user_id, session_id):
        raise NotFoundError()
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="session.revoke",
                       target_type="session", target_id=str(session_id))


# --- personal access tokens ------------------------------------------------------------------

async def create_api_token(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                           name: object) -> tuple[asyncpg.Record, str]:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("Give the token a name", field="name", code="name_missing")
    name_ok = " ".join(name.split())
    if len(name_ok) > MAX_TOKEN_NAME:
        raise ValidationError("Name too long", detail="at most %(maximum)s characters",
                              params={"maximum": MAX_TOKEN_NAME}, field="name",
                              code="name_too_long")
    if await queries.count_api_tokens(conn, actor.user_id) >= MAX_TOKENS_PER_USER:
        raise ConflictError("At most %(maximum)s tokens; revoke one first",
                            params={"maximum": MAX_TOKENS_PER_USER}, code="too_many_tokens")
    token = "dief_" + tokens.new_token()
    row = await queries.insert_api_token(conn, uuid.uuid4(), actor.user_id, name_ok,
                                         tokens.token_digest(token))
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="token.create",
                       target_type="api_token", target_id=str(row["id"]))
    return row, token


async def list_api_tokens(conn: asyncpg.Connection, actor: Actor) -> list[asyncpg.Record]:
    return await queries.list_api_tokens(conn, actor.user_id)


async def revoke_api_token(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                           token_id: uuid.UUID) -> None:
    if not await queries.revoke_api_token(conn, actor.user_id, token_id):
        raise NotFoundError()
    await audit.record(conn, keyring.audit_key, actor_id=actor.user_id, action="token.revoke",
                       target_type="api_token", target_id=str(token_id))


async def prune_failures(conn: asyncpg.Connection, settings: Settings) -> None:
    await queries.delete_old_failures(
        conn, _now() - dt.timedelta(minutes=settings.login_window_minutes))
