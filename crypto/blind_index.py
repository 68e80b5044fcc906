"""Blind indexes: exact-match search over encrypted fields without plaintext in the database.

Construction
    ``blind_index(key, value, kind=...) = HMAC-SHA256(key, utf8(normalise(value, kind)))``,
    truncated to ``length`` bytes (default 16 = 128 bits, so accidental collisions never
    happen in practice). Each index has its own key, ``index_key_for(master, name) =
    HKDF-SHA256(master, info="dief/blind-index/v1/" + name)``, 32 bytes, never stored in the
    database. Separate keys mean two indexes over the same value cannot be joined to each
    other, and an index cannot be compared with any other HMAC we compute.

Normalisation (chosen so that the same real-world value written two ways matches)
    ``kind="name"`` (entity, vessel, person names): Unicode NFKC, case folding (then NFKC again,
    as Unicode's NFKC_Casefold does), control and format characters (zero-width spaces, BOM,
    soft hyphen) removed, runs of whitespace collapsed to one space, ends stripped.
    Punctuation and accents are kept: "Ltd." and "Ltd" differ, "Müller" and "Muller" differ.
    ``kind="docref"`` (licence, end-user certificate, bill-of-lading numbers): NFKC, case
    folding, then every character that is not a letter or a digit is removed, so
    "EUC 2023/14-B" equals "euc2023 14b". Look-alikes ("O" and "0") are *not* merged.
    A value that normalises to "" is refused (``ValueError``): store NULL, not an index that
    every empty value shares.

What it leaks (read before indexing a new field)
    * Equality: anyone who reads the table sees which rows share a value, and how often.
      That is the feature (cross-case correlation) and also the cost. Do not index
      low-entropy fields (country, yes/no, a short list): frequencies reveal the values.
    * With the index key (master key compromise), values can be confirmed by guessing:
      names and document numbers are low-entropy, so a dictionary attack is practical. The
      key's secrecy is the protection; it is derived, not stored.
    * Truncation to ``length`` bytes: shorter indexes create false matches on purpose
      (k-anonymity-like buckets) at the price of post-filtering after decryption. We allow
      4..32 bytes; below 8 the caller must decrypt and compare candidates.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Final, Literal

from crypto.masterkey import MasterKey

Kind = Literal["name", "docref"]

INDEX_KEY_LABEL_PREFIX: Final = "dief/blind-index/v1/"
DEFAULT_LENGTH: Final = 16
MIN_LENGTH: Final = 4
MAX_LENGTH: Final = 32
MIN_KEY_BYTES: Final = 32

_INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}\Z")


def normalise(value: str, *, kind: Kind = "name") -> str:
    """The canonical form of ``value`` for a ``kind`` index (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    # Drop invisible characters (zero-width space, BOM, soft hyphen, controls) but keep
    # whitespace, which the name rule collapses below.
    visible = "".join(
        ch for ch in folded if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    if kind == "name":
        result = " ".join(visible.split())
    elif kind == "docref":
        result = "".join(ch for ch in visible if ch.isalnum())
    else:
        raise ValueError(f"unknown blind-index kind {kind!r}")
    if not result:
        raise ValueError("value is empty after normalisation; store NULL instead of an index")
    return result


def blind_index(index_key: bytes, value: str, *, kind: Kind, length: int = DEFAULT_LENGTH) -> bytes:
    """``HMAC-SHA256(index_key, normalise(value, kind=kind))[:length]``."""
    if len(index_key) < MIN_KEY_BYTES:
        raise ValueError(f"index key must be at least {MIN_KEY_BYTES} bytes")
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"length must be between {MIN_LENGTH} and {MAX_LENGTH} bytes")
    message = normalise(value, kind=kind).encode("utf-8")
    return hmac.new(index_key, message, hashlib.sha256).digest()[:length]


def index_key_for(master: MasterKey, index_name: str) -> bytes:
    """The 32-byte key of one named index: HKDF label ``dief/blind-index/v1/<index_name>``."""
    if not _INDEX_NAME.match(index_name):
        raise ValueError(
            "index_name must be lower-case letters, digits, '_', '.', '-' "
            f"(e.g. 'cases.entity_name'), got {index_name!r}"
        )
    return master.derive(INDEX_KEY_LABEL_PREFIX + index_name, 32)
