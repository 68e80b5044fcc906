"""Password hashing with argon2id (RFC 9106).

Default parameters are RFC 9106's second recommended option: 64 MiB of memory, 3 passes,
4 lanes, 16-byte salt, 32-byte tag. The functions here are synchronous and CPU-bound; the
service runs them in an executor behind a semaphore so the event loop never blocks and a
sign-in flood cannot exhaust memory. ``needs_rehash`` lets sign-in upgrade old hashes when the
parameters change.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


class PasswordHashing:
    def __init__(self, params: Argon2Params) -> None:
        self.params = params
        self._hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                                      parallelism=params.parallelism, hash_len=32, salt_len=16,
                                      type=Type.ID)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """True when ``password`` matches; False on mismatch or an unreadable stored hash."""
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
