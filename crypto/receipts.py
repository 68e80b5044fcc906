"""Receipt codes: the only thing linking an anonymous submitter to their case.

Code
    25 characters drawn uniformly (``secrets.choice``) from a 32-character alphabet, shown as
    five groups of five: ``ABCDE-FGHJK-...``. Entropy: 25 × log2(32) = 125 bits (≥ 100 bits
    required by DESIGN §5), so guessing is infeasible whatever the rate limit.

Alphabet ``ABCDEFGHJKLMNPQRSTUVWXYZ23456789``
    Upper-case letters without ``I`` and ``O``, and digits 2–9: no ``0/O`` or ``1/I`` pairs
    to confuse. (Crockford base32 also drops ``L`` and ``U``, but it keeps ``0`` and ``1``;
    without those digits we need ``L`` and ``U`` to reach 32 symbols. Since ``1`` and ``I``
    are absent, an upper-case ``L`` is unambiguous.)

Reading a code back (``normalise_receipt``)
    NFKC (full-width forms), upper-case, spaces and dashes removed, ``I`` and ``1`` read as
    ``L``. ``O`` and ``0`` are refused rather than guessed. The result is the 25-character
    canonical form. Error messages give the length or the offending characters, never the code.

Stored form
    Only ``receipt_hash(key, code) = HMAC-SHA256(key, canonical code)`` (32 bytes) is stored,
    with ``key = HKDF-SHA256(master, info="dief/receipt/v1")`` (``receipt_key_for``). A keyed
    hash rather than a password hash (Argon2): at 125 bits a fast hash is already beyond brute
    force, lookups must be deterministic (find the case by its hash), and the key means a
    database dump alone cannot even test a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import unicodedata
from typing import Final

from crypto.masterkey import MasterKey

ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LENGTH: Final = 25
GROUP: Final = 5
ENTROPY_BITS: Final = LENGTH * math.log2(len(ALPHABET))
RECEIPT_KEY_LABEL: Final = "dief/receipt/v1"
MIN_KEY_BYTES: Final = 32

_SEPARATORS: Final = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2212")
_READ_AS: Final = str.maketrans({"I": "L", "1": "L"})
_ALLOWED: Final = frozenset(ALPHABET)


def new_receipt() -> str:
    """A fresh receipt code in display form (``XXXXX-XXXXX-XXXXX-XXXXX-XXXXX``)."""
    return _group("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))


def normalise_receipt(text: str) -> str:
    """The 25-character canonical form of a typed code; ``ValueError`` says what is wrong."""
    compact = "".join(
        ch
        for ch in unicodedata.normalize("NFKC", text).upper()
        if not ch.isspace() and ch not in _SEPARATORS
    ).translate(_READ_AS)
    bad = sorted(set(compact) - _ALLOWED)
    if bad:
        raise ValueError(
            "a receipt code uses only the letters A-Z except I and O, and the digits 2-9; "
            f"found {', '.join(repr(ch) for ch in bad)}"
        )
    if len(compact) != LENGTH:
        raise ValueError(
            f"a receipt code has {LENGTH} letters and digits (five groups of five); "
            f"this one has {len(compact)}"
        )
    return compact


def format_receipt(text: str) -> str:
    """The display form (five dash-separated groups) of a code typed in any accepted way."""
    return _group(normalise_receipt(text))


def receipt_hash(key: bytes, receipt: str) -> bytes:
    """``HMAC-SHA256(key, normalise_receipt(receipt))``: the only form stored."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"receipt key must be at least {MIN_KEY_BYTES} bytes")
    return hmac.new(key, normalise_receipt(receipt).encode("ascii"), hashlib.sha256).digest()


def receipt_key_for(master: MasterKey) -> bytes:
    """The receipt-hash key: HKDF label ``dief/receipt/v1``, 32 bytes."""
    return master.derive(RECEIPT_KEY_LABEL, 32)


def _group(code: str) -> str:
    return "-".join(code[i : i + GROUP] for i in range(0, LENGTH, GROUP))
