"""Field encryption: AES-256-GCM under per-scope data keys, bound to the field's place.

Algorithm
    AES-256-GCM (NIST SP 800-38D) through ``cryptography``'s ``AESGCM``: 256-bit data key
    (DEK), 96-bit nonce from ``os.urandom`` for every seal, full 128-bit tag. AES-256 rather
    than AES-128 for margin, not speed; GCM because it is the standard AEAD with hardware
    support everywhere and a single well-audited implementation (OpenSSL) behind it.

Format (stored as ``bytea``)::

    version (1 byte, 0x01) ‖ dek_id (16 bytes, UUID) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16)

    A sealed value is ``len(plaintext) + 45`` bytes. ``dek_id`` names the DEK so that rows
    written before a rotation still open; ``peek_key_id`` reads it without any key, which is
    what the rotation job uses to find rows still under an old DEK.

Associated data
    The caller passes ``aad_for(table, column, row_id)`` = ``b"dief/v1|" + table + "." + column
    + "|" + row_id``, so a ciphertext copied to another row or column fails to open. The GCM
    associated data is ``version ‖ dek_id ‖ aad``: the header is authenticated as well, so a
    changed version byte or key id can never be "interpreted differently" by a future parser;
    it simply fails. Table and column must be lower-case SQL identifiers (no ``.`` or ``|``), so
    the encoding is unambiguous; a ``row_id`` string that is a UUID is canonicalised first, so
    ``UUID`` objects and their text forms give the same AAD.

Nonce budget
    Random 96-bit nonces are safe for up to 2**32 seals per key (SP 800-38D §8.3, collision
    probability below 2**-32). One DEK per scope (a room, a case) and rotation keep every key
    many orders of magnitude below that.

Failure model
    Opening raises ``DecryptError`` for exactly four reasons: truncated input, unknown version,
    unknown key (the lookup raised ``KeyError`` or returned a key with another id) and a failed
    tag check (``InvalidTag``, the only library exception caught). Subclasses raised by the
    lookup pass through: ``KeyDestroyedError`` (the DEK was crypto-shredded) and
    ``crypto.keys.UnwrapError`` (the wrapped DEK failed to authenticate). Anything else the
    lookup raises (a database error) is not masked. Messages name the key id at most, never key
    bytes or plaintext. There is no fallback key and no "try every key" loop.

Not provided
    GCM is not key-committing: someone who can *choose* two keys can craft one ciphertext that
    opens under both. Our DEKs are random and never chosen by users, so this is out of scope.
    Python cannot reliably wipe key bytes from memory; keys live as long as their objects.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from crypto.keys import DataKey

VERSION: Final = 0x01
KEY_ID_BYTES: Final = 16
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
HEADER_BYTES: Final = 1 + KEY_ID_BYTES + NONCE_BYTES
MIN_SEALED_BYTES: Final = HEADER_BYTES + TAG_BYTES
AAD_PREFIX: Final = b"dief/v1|"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")

KeyLookup = Callable[[uuid.UUID], "DataKey"]
"""Returns the DEK with that id; raises ``KeyError`` if unknown, ``KeyDestroyedError`` if
shredded."""


class DecryptError(Exception):
    """A sealed value could not be opened: malformed, unknown key, or failed authentication."""


class KeyDestroyedError(DecryptError):
    """The value's data key was destroyed (crypto-shredded); the value is gone for good."""


def aad_for(table: str, column: str, row_id: str | uuid.UUID) -> bytes:
    """The associated data binding a sealed value to ``table.column`` of one row."""
    for what, name in (("table", table), ("column", column)):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{what} must be a lower-case SQL identifier, got {name!r}")
    if isinstance(row_id, uuid.UUID):
        row = str(row_id)
    else:
        if not row_id:
            raise ValueError("row_id must not be empty")
        try:
            row = str(uuid.UUID(row_id))
        except ValueError:
            row = row_id
    return AAD_PREFIX + f"{table}.{column}|{row}".encode()


def seal(dek: DataKey, plaintext: bytes, *, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``dek`` with a fresh random nonce, bound to ``aad``."""
    if not aad:
        raise ValueError("aad must bind the value to its place; use aad_for()")
    header = bytes([VERSION]) + dek.id.bytes
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(dek.key).encrypt(nonce, plaintext, header + aad)
    return header + nonce + body


def peek_key_id(blob: bytes) -> uuid.UUID:
    """The data key id in a sealed value's header (no key needed, nothing authenticated)."""
    return _parse(blob)[0]


def open_(lookup: KeyLookup, blob: bytes, *, aad: bytes) -> bytes:
    """Decrypt a value made by ``seal``; ``aad`` must equal the one it was sealed with."""
    dek_id, nonce, body = _parse(blob)
    try:
        dek = lookup(dek_id)
    except KeyError:
        raise DecryptError(f"unknown data key {dek_id}") from None
    if dek.id != dek_id:
        raise DecryptError(f"key lookup for {dek_id} returned data key {dek.id}")
    header = blob[: 1 + KEY_ID_BYTES]
    try:
        return AESGCM(dek.key).decrypt(nonce, body, header + aad)
    except InvalidTag:
        raise DecryptError(
            f"value under data key {dek_id} failed authentication "
            "(tampered, wrong key, or moved to another row/column)"
        ) from None


def seal_text(dek: DataKey, text: str, *, aad: bytes) -> bytes:
    """``seal`` for a ``str``, encoded as UTF-8."""
    return seal(dek, text.encode("utf-8"), aad=aad)


def open_text(lookup: KeyLookup, blob: bytes, *, aad: bytes) -> str:
    """``open_`` for a value sealed by ``seal_text``."""
    return open_(lookup, blob, aad=aad).decode("utf-8")


def _parse(blob: bytes) -> tuple[uuid.UUID, bytes, bytes]:
    if len(blob) < MIN_SEALED_BYTES:
        raise DecryptError(
            f"sealed value truncated: {len(blob)} bytes, at least {MIN_SEALED_BYTES} expected"
        )
    if blob[0] != VERSION:
        raise DecryptError(f"unsupported sealed-value version 0x{blob[0]:02x}")
    dek_id = uuid.UUID(bytes=bytes(blob[1 : 1 + KEY_ID_BYTES]))
    nonce = blob[1 + KEY_ID_BYTES : HEADER_BYTES]
    return dek_id, nonce, blob[HEADER_BYTES:]
