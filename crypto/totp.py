"""TOTP second factor (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits).

Parameters are the ones every authenticator app supports. ``verify`` accepts the current step
and one step either side (clock drift) and returns the *step counter* that matched, so the
caller can store it and refuse any code at or before that counter: a code is accepted once.
The shared secret is 160 random bits (RFC 4226 recommendation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def secret_b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def code_at(secret: bytes, counter: int) -> str:
    """HOTP value (RFC 4226 §5.3) for ``counter``."""
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def counter_for(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def verify(secret: bytes, code: str, unix_time: float, *, window: int = 1) -> int | None:
    """Return the matching step counter, or None. Compares in constant time per candidate."""
    cleaned = code.replace(" ", "").strip()
    # ASCII digits only: str.isdigit() also accepts '²' or '٣', which compare_digest refuses.
    if len(cleaned) != DIGITS or not (cleaned.isascii() and cleaned.isdigit()):
        return None
    now = counter_for(unix_time)
    matched: int | None = None
    for counter in range(now - window, now + window + 1):
        if hmac.compare_digest(code_at(secret, counter), cleaned):
            matched = counter
    return matched


def provisioning_uri(secret: bytes, account: str, issuer: str) -> str:
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": secret_b32(secret), "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"
