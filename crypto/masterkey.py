"""The master key (key-encryption key) and what is derived from it.

The master key is 32 random bytes kept outside the database: a file holding one line of
base64 (``DIEF_MASTER_KEY_FILE``, mode 0600). Every other secret the service needs — the
audit-chain MAC key, the key that wraps data keys, blind-index keys, the receipt-hash key — is
derived from it with HKDF-SHA256 (RFC 5869, no salt, ``info`` = a purpose label such as
``"dief/audit-chain/v1"``), so one label gives one independent key per purpose and none of them
is ever stored in the database.

``load_master_key`` refuses a file that is group- or world-accessible or that does not decode
to exactly 32 bytes; ``create_master_key_file`` creates one atomically (``O_EXCL``, 0600).
``repr()`` of a ``MasterKey`` never shows key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32


class KeyFileError(Exception):
    """The master key file is missing, unsafe or malformed; the message says which."""


class MasterKey:
    """32 bytes of key material with HKDF derivation; its repr is redacted."""

    __slots__ = ("_raw", "key_id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError(f"a master key is exactly {KEY_BYTES} bytes")
        self._raw = raw
        # A public, stable name for the key: lets data rows say which KEK wrapped them
        # without revealing anything about the key (SHA-256 of an HKDF output).
        self.key_id: str = hashlib.sha256(self.derive("dief/key-id/v1")).hexdigest()[:16]

    @property
    def raw(self) -> bytes:
        return self._raw

    def derive(self, label: str, length: int = 32) -> bytes:
        """HKDF-SHA256(master, salt=None, info=label) → ``length`` bytes."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                    info=label.encode("utf-8"))
        return hkdf.derive(self._raw)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r}, raw=<redacted>)"


def parse_master_key(text: str) -> MasterKey:
    """Decode one line of base64 into a ``MasterKey``; ValueError says what is wrong."""
    stripped = text.strip()
    if not stripped or "\n" in stripped:
        raise ValueError("expected exactly one line of base64")
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"decodes to {len(raw)} bytes, expected {KEY_BYTES}")
    return MasterKey(raw)


def load_master_key(path: Path) -> MasterKey:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"master key file {path} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"master key file {path} is not a regular file")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"master key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}")
    try:
        return parse_master_key(path.read_text(encoding="ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"master key file {path} is malformed: {exc}") from None


def create_master_key_file(path: Path) -> MasterKey:
    """Write a new random key to ``path`` (which must not exist) with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = os.urandom(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(raw).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return MasterKey(raw)
