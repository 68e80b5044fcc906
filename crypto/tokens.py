"""Random tokens and their stored digests.

Session ids, invitation tokens, personal access tokens and recovery codes are high-entropy
random values (256 bits for bearer secrets), so a fast hash is enough to store them: the
database keeps ``SHA-256(token)`` only, and a stolen dump cannot be replayed. Comparisons of
secrets go through ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits


def new_token(nbytes: int = TOKEN_BYTES) -> str:
    """URL-safe random token of ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> bytes:
    """SHA-256 of the token's UTF-8 bytes: what the database stores."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def keyed_digest(key: bytes, value: str) -> bytes:
    """HMAC-SHA256(key, value): for low-entropy values such as client addresses."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()


def equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def csrf_token(key: bytes, session_token_hash: bytes) -> str:
    """The CSRF token of a session: hex HMAC-SHA256(key, ``b"csrf|"`` ‖ session token hash).

    Derived from the session, so nothing extra is stored; ``key`` is the keyring's CSRF key.
    """
    return hmac.new(key, b"csrf|" + session_token_hash, hashlib.sha256).hexdigest()


def csrf_token_matches(sent: str, expected: str) -> bool:
    """Constant-time comparison of a submitted CSRF token with the session's.

    Compares UTF-8 bytes: ``hmac.compare_digest`` raises ``TypeError`` on non-ASCII *strings*,
    and a submitted token is attacker-chosen text.
    """
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_recovery_code() -> str:
    """A recovery code of 4+4+4 characters from a 31-letter alphabet (about 59 bits).

    Recovery codes are single-use and tried behind the sign-in throttle, so 59 bits is ample;
    they are stored as SHA-256 digests like every other token.
    """
    chars = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(12))
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def normalise_recovery_code(text: str) -> str:
    cleaned = "".join(ch for ch in text.lower() if ch.isalnum())
    return f"{cleaned[:4]}-{cleaned[4:8]}-{cleaned[8:]}" if len(cleaned) == 12 else cleaned
