"""Data keys, key-encryption-key (KEK) providers, and a cache of unwrapped data keys.

Envelope encryption
    Field values are sealed under a data key (DEK: 32 bytes from ``os.urandom``, id a random
    UUID), one per scope (a room, a case). DEKs are stored only *wrapped* by a KEK, next to the
    KEK's id. Destroying a scope's wrapped DEK makes its values unreadable (crypto-shredding);
    re-wrapping DEKs under a new KEK rotates the KEK without touching field values.

Providers (``KekProvider``)
    ``kek_ids()`` lists every KEK the provider can unwrap with, current first;
    ``current_kek_id()`` is the one new DEKs are wrapped under; ``wrap`` / ``unwrap`` do the
    work. ``wrap`` only accepts the current KEK: retired KEKs are decrypt-only.

``LocalKekProvider`` (the built-in one)
    KEKs are ``MasterKey`` objects (a file or an env var, see ``crypto.masterkey``); their
    ``key_id`` is the KEK id. The wrapping key is ``HKDF-SHA256(master, info="dief/kek-wrap/v1")``
    so the master key itself never keys AES directly and every purpose has its own key.
    Wrapped format: ``version (0x01) ‖ nonce (12 random bytes) ‖ AES-256-GCM(dek) ‖ tag (16)``,
    61 bytes. GCM associated data: ``version ‖ b"dief/dek|" + dek_id.bytes + b"|" + kek_id``,
    so a wrapped DEK copied to another DEK row, or presented under another KEK id, fails.

A KMS / HSM provider
    implements the same four methods. ``kek_ids`` / ``current_kek_id`` return the key ARNs or
    labels from configuration; ``wrap`` calls the service's Encrypt (AWS KMS ``Encrypt``, GCP
    ``encrypt``, Vault transit ``encrypt``, PKCS#11 ``C_WrapKey``) with the DEK bytes and an
    encryption context / AAD of at least ``dek_id`` (the DEK row id) so the HSM enforces the
    same binding; ``unwrap`` calls Decrypt with the same context and returns the 32 bytes, or
    raises ``UnwrapError`` on an authentication failure and ``UnknownKekError`` for a key id it
    does not hold. The KEK never leaves the HSM; DEKs are cached unwrapped (``DataKeyCache``) to
    bound the number of calls.

Errors: ``UnknownKekError`` (a ``LookupError``: configuration, e.g. a retired KEK was removed
too early) and ``UnwrapError`` (a ``crypto.envelope.DecryptError``: tampering or a wrong key).
No ``repr`` here ever shows key bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.envelope import DecryptError
from crypto.masterkey import MasterKey

DEK_BYTES: Final = 32
WRAP_LABEL: Final = "dief/kek-wrap/v1"
WRAP_VERSION: Final = 0x01
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_BODY_AT: Final = 1 + _NONCE_BYTES
WRAPPED_BYTES: Final = _BODY_AT + DEK_BYTES + _TAG_BYTES  # 61


class UnknownKekError(LookupError):
    """The provider holds no KEK with that id."""


class UnwrapError(DecryptError):
    """A wrapped data key is malformed or failed authentication under the named KEK."""


@dataclass(frozen=True, slots=True, repr=False)
class DataKey:
    """A data-encryption key: a UUID and 32 secret bytes. ``repr`` shows the id only."""

    id: uuid.UUID
    key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.id, uuid.UUID):
            raise TypeError("DataKey.id must be a uuid.UUID")
        if not isinstance(self.key, bytes) or len(self.key) != DEK_BYTES:
            raise ValueError(f"DataKey.key must be exactly {DEK_BYTES} bytes")

    def __repr__(self) -> str:
        return f"DataKey(id={self.id}, key=<redacted>)"


def generate_data_key() -> DataKey:
    """A fresh DEK: ``uuid4`` id, 32 bytes from ``os.urandom``."""
    return DataKey(id=uuid.uuid4(), key=os.urandom(DEK_BYTES))


@runtime_checkable
class KekProvider(Protocol):
    """Holds KEKs and wraps/unwraps DEKs with them (see the module docstring)."""

    def kek_ids(self) -> tuple[str, ...]:
        """Every KEK id this provider can unwrap with, the current one first."""
        ...

    def current_kek_id(self) -> str:
        """The KEK id new DEKs are wrapped under."""
        ...

    def wrap(self, kek_id: str, dek: DataKey) -> bytes:
        """Wrap ``dek`` under ``kek_id`` (which must be the current KEK)."""
        ...

    def unwrap(self, kek_id: str, dek_id: uuid.UUID, wrapped: bytes) -> bytes:
        """The 32 DEK bytes; ``UnwrapError`` if ``wrapped`` does not authenticate."""
        ...


class LocalKekProvider:
    """KEKs are master keys held in process memory (see the module docstring)."""

    __slots__ = ("_current_id", "_ids", "_wrappers")

    def __init__(self, current: MasterKey, retired: Sequence[MasterKey] = ()) -> None:
        keks = [current, *retired]
        ids = tuple(k.key_id for k in keks)
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"KEK ids must be unique; given more than once: {duplicated}")
        self._current_id = current.key_id
        self._ids = ids
        self._wrappers = {k.key_id: AESGCM(k.derive(WRAP_LABEL, 32)) for k in keks}

    def kek_ids(self) -> tuple[str, ...]:
        return self._ids

    def current_kek_id(self) -> str:
        return self._current_id

    def wrap(self, kek_id: str, dek: DataKey) -> bytes:
        aead = self._wrapper(kek_id)
        if kek_id != self._current_id:
            raise ValueError(f"KEK {kek_id} is retired (unwrap only); wrap under the current KEK")
        header = bytes([WRAP_VERSION])
        nonce = os.urandom(_NONCE_BYTES)
        return header + nonce + aead.encrypt(nonce, dek.key, header + _wrap_aad(dek.id, kek_id))

    def unwrap(self, kek_id: str, dek_id: uuid.UUID, wrapped: bytes) -> bytes:
        aead = self._wrapper(kek_id)
        if len(wrapped) != WRAPPED_BYTES or wrapped[0] != WRAP_VERSION:
            raise UnwrapError(f"wrapped data key {dek_id} is malformed")
        header, nonce, body = wrapped[:1], wrapped[1:_BODY_AT], wrapped[_BODY_AT:]
        try:
            return aead.decrypt(nonce, body, header + _wrap_aad(dek_id, kek_id))
        except InvalidTag:
            raise UnwrapError(
                f"wrapped data key {dek_id} failed authentication under KEK {kek_id}"
            ) from None

    def _wrapper(self, kek_id: str) -> AESGCM:
        try:
            return self._wrappers[kek_id]
        except KeyError:
            raise UnknownKekError(f"no KEK with id {kek_id!r} is configured") from None

    def __repr__(self) -> str:
        return f"LocalKekProvider(current={self._current_id!r}, retired={self._ids[1:]!r})"


def _wrap_aad(dek_id: uuid.UUID, kek_id: str) -> bytes:
    return b"dief/dek|" + dek_id.bytes + b"|" + kek_id.encode("utf-8")


def wrap_data_key(provider: KekProvider, dek: DataKey) -> tuple[str, bytes]:
    """Wrap ``dek`` under the provider's current KEK; returns ``(kek_id, wrapped)`` to store."""
    kek_id = provider.current_kek_id()
    return kek_id, provider.wrap(kek_id, dek)


def unwrap_data_key(
    provider: KekProvider, kek_id: str, dek_id: uuid.UUID, wrapped: bytes
) -> DataKey:
    """The ``DataKey`` stored as ``(dek_id, kek_id, wrapped)``."""
    return DataKey(id=dek_id, key=provider.unwrap(kek_id, dek_id, wrapped))


def rewrap_data_key(
    provider: KekProvider, kek_id: str, dek_id: uuid.UUID, wrapped: bytes
) -> tuple[str, bytes]:
    """KEK rotation for one DEK row: unwrap under ``kek_id``, wrap under the current KEK.

    A row already under the current KEK is returned unchanged, so an interrupted rotation can
    simply be run again.
    """
    if kek_id == provider.current_kek_id():
        return kek_id, wrapped
    return wrap_data_key(provider, unwrap_data_key(provider, kek_id, dek_id, wrapped))


def master_key_from_base64(text: str) -> MasterKey:
    """A ``MasterKey`` from its base64 text (e.g. an env var); the text is never echoed."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("master key is not valid base64") from None
    if len(raw) != 32:
        raise ValueError(
            f"master key must decode to exactly 32 bytes, got {len(raw)}; "
            "generate one with: head -c 32 /dev/urandom | base64"
        )
    return MasterKey(raw)


class DataKeyCache:
    """A bounded LRU of unwrapped DEKs, so a page does not unwrap the same key twice.

    ``max_age`` (seconds, optional) bounds how long an entry is served: with several app
    instances, a DEK destroyed on one instance stays readable from another instance's cache
    until it is evicted there (by a broadcast calling ``evict``) or expires. Not thread-safe:
    one cache per event loop. Entries are plain references; dropping one cannot wipe memory.
    """

    __slots__ = ("_clock", "_entries", "_max_age", "_max_entries")

    def __init__(
        self,
        max_entries: int,
        *,
        max_age: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_age is not None and max_age <= 0:
            raise ValueError("max_age must be positive")
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[uuid.UUID, tuple[float, DataKey]] = OrderedDict()

    def get(self, dek_id: uuid.UUID) -> DataKey | None:
        """The cached DEK (now most recently used), or ``None``."""
        entry = self._entries.get(dek_id)
        if entry is None:
            return None
        stored_at, dek = entry
        if self._max_age is not None and self._clock() - stored_at >= self._max_age:
            del self._entries[dek_id]
            return None
        self._entries.move_to_end(dek_id)
        return dek

    def put(self, dek: DataKey) -> None:
        """Cache ``dek``, dropping the least recently used entry if full."""
        self._entries[dek.id] = (self._clock(), dek)
        self._entries.move_to_end(dek.id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def evict(self, dek_id: uuid.UUID) -> None:
        """Forget one DEK (e.g. it was destroyed or rotated); unknown ids are ignored."""
        self._entries.pop(dek_id, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"DataKeyCache(entries={len(self._entries)}, max_entries={self._max_entries})"
