"""The keyed audit chain: ``mac_n = HMAC-SHA256(k, mac_{n-1} ‖ entry_n)``.

``k`` is derived from the master key (HKDF label ``dief/audit-chain/v1``) and never stored in
the database, so whoever can write to the database but does not hold the master key cannot
edit, delete or reorder entries and recompute a valid chain. The first entry chains from 32
zero bytes. ``entry`` is a canonical byte encoding chosen by the caller (sorted-key JSON).
"""

from __future__ import annotations

import hashlib
import hmac

GENESIS = bytes(32)
LABEL = "dief/audit-chain/v1"


def chain_mac(key: bytes, previous_mac: bytes, entry: bytes) -> bytes:
    return hmac.new(key, previous_mac + entry, hashlib.sha256).digest()


def macs_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
