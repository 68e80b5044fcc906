"""Password policy and the hashing service that keeps argon2 off the event loop.

Policy (NIST SP 800-63B-4 §3.1.1.2): NFKC-normalised, 15 to 1024 characters, refused when it
is a common or breached password (bundled list, ``forum/data/common-passwords.txt``), a short
pattern repeated, or contains the service's name. No composition rules, no expiry.

``PasswordService`` runs argon2id in an executor behind a semaphore: at most
``DIEF_MAX_CONCURRENT_HASHES`` hashes run at once (each needs 64 MiB), the rest wait without
blocking the loop — a sign-in flood slows sign-ins, not the forum.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import threading
import unicodedata
from concurrent.futures import Executor
from pathlib import Path

from crypto.passwords import Argon2Params, PasswordHashing
from forum.errors import ValidationError

MIN_LENGTH = 15
MAX_LENGTH = 1024
SERVICE_NAMES = ("dief", "armstradetreaty", "arms trade treaty")
_LIST_PATH = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = _LIST_PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines
                     if line.strip() and not line.startswith("#"))


def _is_repetition(folded: str) -> bool:
    """True for a short unit repeated: 'aaaaaaaaaaaaaaa', 'abcabcabcabcabc', 'passwordpassword'."""
    for size in range(1, len(folded) // 2 + 1):
        if len(folded) % size == 0 and folded[:size] * (len(folded) // size) == folded:
            return True
    return False


def check_password(password: object, *, email: str | None = None) -> str:
    """Return the NFKC-normalised password or raise ValidationError saying why not."""
    if not isinstance(password, str) or not password:
        raise ValidationError("Choose a password", field="password", code="password_missing")
    normalised = unicodedata.normalize("NFKC", password)
    if len(normalised) < MIN_LENGTH:
        raise ValidationError("Password too short",
                              detail="use at least %(minimum)s characters; a few unrelated "
                              "words make a strong, memorable password",
                              params={"minimum": MIN_LENGTH}, field="password",
                              code="password_too_short")
    if len(normalised) > MAX_LENGTH:
        raise ValidationError("Password too long", detail="at most %(maximum)s characters",
                              params={"maximum": MAX_LENGTH}, field="password",
                              code="password_too_long")
    folded = normalised.casefold()
    if folded in common_passwords() or _is_repetition(folded) or len(set(folded)) < 5:
        raise ValidationError("Password too common",
                              detail="this password appears in lists of common or breached "
                                     "passwords; choose another",
                              field="password", code="password_common")
    compact = folded.replace(" ", "")
    if any(name.replace(" ", "") in compact for name in SERVICE_NAMES):
        raise ValidationError("Password contains the service name", field="password",
                              code="password_service_name")
    if email and len(email) >= 6 and email.casefold().split("@")[0] in folded:
        raise ValidationError("Password contains your email address", field="password",
                              code="password_contains_email")
    return normalised


def lower_thread_priority() -> None:
    """Executor initializer: this thread, and the lane threads argon2 starts from it, run at
    nice 19. Linux keeps nice per thread and new threads inherit it, so hashing gets only the
    CPU that the event loop and PostgreSQL leave: with p=4 lanes, two concurrent hashes are
    eight busy threads, and at normal priority they delayed every other request's wake-up
    (bench/login_storm.py: p99 of /healthz 8-15x during a sign-in storm before, 1-2x after).
    Lowering one's own priority needs no privilege."""
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class PasswordService:
    """argon2id hashing in an executor, at most ``max_concurrent`` at a time."""

    def __init__(self, params: Argon2Params, executor: Executor | None,
                 max_concurrent: int) -> None:
        self.hashing = PasswordHashing(params)
        self._executor = executor
        self._slots = asyncio.Semaphore(max_concurrent)

    async def hash(self, password: str) -> str:
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.hashing.hash, password)

    async def verify(self, stored: str, password: str) -> bool:
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.hashing.verify, stored,
                                              password)

    def needs_rehash(self, stored: str) -> bool:
        return self.hashing.needs_rehash(stored)
