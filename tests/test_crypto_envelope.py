"""crypto.envelope: known answers, round trips, and refusal of every tampered, moved or
truncated value."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from unittest import mock

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crypto.envelope import (
    AAD_PREFIX,
    HEADER_BYTES,
    MIN_SEALED_BYTES,
    VERSION,
    DecryptError,
    KeyDestroyedError,
    aad_for,
    open_,
    open_text,
    peek_key_id,
    seal,
    seal_text,
)
from crypto.keys import DataKey, generate_data_key

MIB = 1 << 20
ROW = uuid.UUID("6f1c1b2e-8f3a-4d5e-9a7b-0c1d2e3f4a5b")
AAD = aad_for("cases", "body", ROW)

# Offsets of each region in a sealed value.
VERSION_AT = slice(0, 1)
KEY_ID_AT = slice(1, 17)
NONCE_AT = slice(17, HEADER_BYTES)


def lookup_for(*keys: DataKey) -> Callable[[uuid.UUID], DataKey]:
    table = {k.id: k for k in keys}
    return table.__getitem__


def flip(blob: bytes, bit: int) -> bytes:
    out = bytearray(blob)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.fixture
def dek() -> DataKey:
    return generate_data_key()


# --- Known answers -------------------------------------------------------------------------

# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, AES-256 cases.
GCM_SPEC_VECTORS = [
    pytest.param(  # Test Case 13: zero key, empty plaintext, no AAD
        "00" * 32,
        "00" * 12,
        "",
        "",
        "",
        "530f8afbc74536b9a963b4f1c4cb738b",
        id="test-case-13",
    ),
    pytest.param(  # Test Case 14: zero key, one zero block, no AAD
        "00" * 32,
        "00" * 12,
        "00" * 16,
        "",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
        id="test-case-14",
    ),
    pytest.param(  # Test Case 16: 60-byte plaintext with 20 bytes of AAD
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
        id="test-case-16",
    ),
]


@pytest.mark.parametrize(("key", "iv", "plaintext", "aad", "ciphertext", "tag"), GCM_SPEC_VECTORS)
def test_aes_gcm_primitive_matches_published_vectors(
    key: str, iv: str, plaintext: str, aad: str, ciphertext: str, tag: str
) -> None:
    aead = AESGCM(bytes.fromhex(key))
    nonce, pt, ad = bytes.fromhex(iv), bytes.fromhex(plaintext), bytes.fromhex(aad) or None
    expected = bytes.fromhex(ciphertext + tag)
    assert aead.encrypt(nonce, pt, ad) == expected
    assert aead.decrypt(nonce, expected, ad) == pt


# A sealed value frozen at format version 1. If this test breaks, stored data no longer opens:
# never "fix" it by changing the constant; add a new version instead.
GOLDEN_DEK = DataKey(uuid.UUID("00112233-4455-6677-8899-aabbccddeeff"), bytes(range(32)))
GOLDEN_AAD = aad_for("cases", "body", uuid.UUID("12345678-1234-5678-1234-567812345678"))
GOLDEN_NONCE = bytes.fromhex("000102030405060708090a0b")
GOLDEN_PLAINTEXT = b"DIEF golden vector"
GOLDEN_BLOB = bytes.fromhex(
    "01"
    "00112233445566778899aabbccddeeff"
    "000102030405060708090a0b"
    "034b935de582ad77e924f9abc78c1b19eca4"
    "e0ebb55e02c4b2836f049e7b68ae6e96"
)


def test_golden_value_opens_and_matches_documented_format() -> None:
    assert GOLDEN_AAD == b"dief/v1|cases.body|12345678-1234-5678-1234-567812345678"
    assert open_(lookup_for(GOLDEN_DEK), GOLDEN_BLOB, aad=GOLDEN_AAD) == GOLDEN_PLAINTEXT
    # The format, spelled out: GCM associated data is version ‖ dek_id ‖ aad.
    header = bytes([VERSION]) + GOLDEN_DEK.id.bytes
    body = AESGCM(GOLDEN_DEK.key).encrypt(GOLDEN_NONCE, GOLDEN_PLAINTEXT, header + GOLDEN_AAD)
    assert GOLDEN_BLOB == header + GOLDEN_NONCE + body


def test_seal_is_deterministic_given_the_nonce() -> None:
    with mock.patch("crypto.envelope.os.urandom", return_value=GOLDEN_NONCE):
        assert seal(GOLDEN_DEK, GOLDEN_PLAINTEXT, aad=GOLDEN_AAD) == GOLDEN_BLOB


# --- Round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096, MIB])
def test_round_trip_sizes(dek: DataKey, size: int) -> None:
    plaintext = random.Random(size).randbytes(size)
    blob = seal(dek, plaintext, aad=AAD)
    assert len(blob) == size + MIN_SEALED_BYTES
    assert open_(lookup_for(dek), blob, aad=AAD) == plaintext


@settings(max_examples=40, deadline=None, database=None)
@given(plaintext=st.binary(max_size=2048))
@example(plaintext=b"")
def test_round_trip_property_small(plaintext: bytes) -> None:
    dek = generate_data_key()
    assert open_(lookup_for(dek), seal(dek, plaintext, aad=AAD), aad=AAD) == plaintext


# The bytes come from a seeded random.Random, not from Hypothesis: a megabyte drawn through
# Hypothesis's own engine (st.randoms or st.binary) can take minutes to generate or replay.
@settings(max_examples=10, deadline=None, database=None)
@given(size=st.integers(min_value=0, max_value=MIB), seed=st.integers(0, 2**32 - 1))
@example(size=MIB, seed=1)
def test_round_trip_property_up_to_one_mib(size: int, seed: int) -> None:
    dek = generate_data_key()
    plaintext = random.Random(seed).randbytes(size)
    assert open_(lookup_for(dek), seal(dek, plaintext, aad=AAD), aad=AAD) == plaintext


@settings(max_examples=40, deadline=None, database=None)
@given(text=st.text())
def test_round_trip_text(text: str) -> None:
    dek = generate_data_key()
    assert open_text(lookup_for(dek), seal_text(dek, text, aad=AAD), aad=AAD) == text


def test_header_carries_version_and_key_id(dek: DataKey) -> None:
    blob = seal(dek, b"x", aad=AAD)
    assert blob[0] == VERSION == 0x01
    assert peek_key_id(blob) == dek.id


def test_every_seal_uses_a_fresh_nonce(dek: DataKey) -> None:
    blobs = {seal(dek, b"same words", aad=AAD) for _ in range(200)}
    assert len(blobs) == 200
    assert len({b[NONCE_AT] for b in blobs}) == 200


def test_ciphertext_does_not_contain_plaintext(dek: DataKey) -> None:
    plaintext = b"end-user certificate EUC-2023-0042 " * 4
    blob = seal(dek, plaintext, aad=AAD)
    assert b"EUC-2023" not in blob
    assert plaintext not in blob


# --- Tampering -----------------------------------------------------------------------------


def test_every_bit_flip_in_a_short_value_is_refused(dek: DataKey) -> None:
    blob = seal(dek, b"hello", aad=AAD)
    lookup = lookup_for(dek)
    regions = {
        "version": range(0, 8),
        "key id": range(8, 17 * 8),
        "nonce": range(17 * 8, HEADER_BYTES * 8),
        "ciphertext": range(HEADER_BYTES * 8, (HEADER_BYTES + 5) * 8),
        "tag": range((HEADER_BYTES + 5) * 8, len(blob) * 8),
    }
    assert sum(len(r) for r in regions.values()) == len(blob) * 8
    assert len(regions["tag"]) == 128
    for region, bits in regions.items():
        for bit in bits:
            with pytest.raises(DecryptError):
                open_(lookup, flip(blob, bit), aad=AAD)
                pytest.fail(f"flipped bit {bit} in {region} was accepted")


def test_sampled_bit_flips_in_a_long_value_are_refused(dek: DataKey) -> None:
    blob = seal(dek, random.Random(7).randbytes(MIB), aad=AAD)
    lookup = lookup_for(dek)
    total = len(blob) * 8
    rng = random.Random(11)
    bits = {0, 7, 8, 135, 136, HEADER_BYTES * 8, total - 129, total - 128, total - 1}
    bits |= {rng.randrange(HEADER_BYTES * 8, total) for _ in range(48)}
    for bit in sorted(bits):
        with pytest.raises(DecryptError):
            open_(lookup, flip(blob, bit), aad=AAD)


def test_appended_bytes_are_refused(dek: DataKey) -> None:
    blob = seal(dek, b"hello", aad=AAD)
    with pytest.raises(DecryptError):
        open_(lookup_for(dek), blob + b"\x00", aad=AAD)


@pytest.mark.parametrize(
    "moved_to",
    [
        aad_for("cases", "body", uuid.UUID("6f1c1b2e-8f3a-4d5e-9a7b-0c1d2e3f4a5c")),  # other row
        aad_for("cases", "title", ROW),  # other column
        aad_for("case_messages", "body", ROW),  # other table
        b"dief/v1|cases.body|",
        b"\x00",
    ],
)
def test_value_moved_to_another_place_is_refused(dek: DataKey, moved_to: bytes) -> None:
    blob = seal(dek, b"original wording", aad=AAD)
    with pytest.raises(DecryptError):
        open_(lookup_for(dek), blob, aad=moved_to)


def test_seal_requires_associated_data(dek: DataKey) -> None:
    with pytest.raises(ValueError, match="aad"):
        seal(dek, b"x", aad=b"")


# --- Keys ----------------------------------------------------------------------------------


def test_wrong_key_bytes_are_refused(dek: DataKey) -> None:
    blob = seal(dek, b"secret", aad=AAD)
    impostor = DataKey(dek.id, bytes(32))
    with pytest.raises(DecryptError, match="failed authentication"):
        open_(lookup_for(impostor), blob, aad=AAD)


def test_unknown_key_id_is_a_decrypt_error(dek: DataKey) -> None:
    blob = seal(dek, b"secret", aad=AAD)
    with pytest.raises(DecryptError, match="unknown data key") as info:
        open_(lookup_for(generate_data_key()), blob, aad=AAD)
    assert not isinstance(info.value, KeyError)
    assert str(dek.id) in str(info.value)


def test_value_under_another_data_key_id_is_refused(dek: DataKey) -> None:
    other = generate_data_key()
    blob = seal(other, b"secret", aad=AAD)
    # Re-label the value as if it were under `dek` (both keys known to the lookup).
    relabelled = blob[:1] + dek.id.bytes + blob[17:]
    with pytest.raises(DecryptError, match="failed authentication"):
        open_(lookup_for(dek, other), relabelled, aad=AAD)


def test_lookup_returning_another_key_is_refused(dek: DataKey) -> None:
    blob = seal(dek, b"secret", aad=AAD)
    other = generate_data_key()
    with pytest.raises(DecryptError):
        open_(lambda _id: other, blob, aad=AAD)


def test_destroyed_key_raises_key_destroyed(dek: DataKey) -> None:
    blob = seal(dek, b"shredded", aad=AAD)

    def lookup(dek_id: uuid.UUID) -> DataKey:
        raise KeyDestroyedError(f"data key {dek_id} was destroyed")

    with pytest.raises(KeyDestroyedError):
        open_(lookup, blob, aad=AAD)
    assert issubclass(KeyDestroyedError, DecryptError)


def test_unrelated_lookup_failures_are_not_masked(dek: DataKey) -> None:
    blob = seal(dek, b"x", aad=AAD)

    def lookup(dek_id: uuid.UUID) -> DataKey:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        open_(lookup, blob, aad=AAD)


def test_errors_never_show_key_or_plaintext(dek: DataKey) -> None:
    plaintext = b"name of the broker"
    blob = seal(dek, plaintext, aad=AAD)
    with pytest.raises(DecryptError) as info:
        open_(lookup_for(dek), flip(blob, len(blob) * 8 - 1), aad=AAD)
    message = str(info.value) + repr(info.value)
    for secret in (dek.key.hex(), plaintext.decode(), plaintext.hex(), repr(dek.key)):
        assert secret not in message


# --- Malformed input -----------------------------------------------------------------------


def test_every_truncation_is_refused_before_any_key_lookup(dek: DataKey) -> None:
    blob = seal(dek, b"hello", aad=AAD)
    looked_up: list[uuid.UUID] = []

    def lookup(dek_id: uuid.UUID) -> DataKey:
        looked_up.append(dek_id)
        return dek

    for cut in range(MIN_SEALED_BYTES):
        with pytest.raises(DecryptError, match="truncated"):
            open_(lookup, blob[:cut], aad=AAD)
        with pytest.raises(DecryptError, match="truncated"):
            peek_key_id(blob[:cut])
    assert looked_up == []
    for cut in range(MIN_SEALED_BYTES, len(blob)):  # long enough to parse, but cut short
        with pytest.raises(DecryptError, match="failed authentication"):
            open_(lookup, blob[:cut], aad=AAD)


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_is_refused(dek: DataKey, version: int) -> None:
    blob = bytes([version]) + seal(dek, b"hello", aad=AAD)[1:]
    with pytest.raises(DecryptError, match="version"):
        peek_key_id(blob)
    with pytest.raises(DecryptError, match="version"):
        open_(lookup_for(dek), blob, aad=AAD)


# --- Associated data -----------------------------------------------------------------------


def test_aad_layout() -> None:
    assert aad_for("posts", "body", ROW) == AAD_PREFIX + b"posts.body|" + str(ROW).encode()


def test_aad_canonicalises_uuid_text() -> None:
    expected = aad_for("cases", "body", ROW)
    assert aad_for("cases", "body", str(ROW)) == expected
    assert aad_for("cases", "body", str(ROW).upper()) == expected
    assert aad_for("cases", "body", ROW.hex) == expected


def test_aad_accepts_non_uuid_row_ids() -> None:
    assert aad_for("sessions", "note", "42").endswith(b"|42")


@pytest.mark.parametrize(
    ("table", "column", "row_id"),
    [
        ("cases.x", "body", ROW),
        ("cases", "body|x", ROW),
        ("Cases", "body", ROW),
        ("", "body", ROW),
        ("cases", "", ROW),
        ("cases", "body", ""),
    ],
)
def test_aad_rejects_ambiguous_parts(table: str, column: str, row_id: str | uuid.UUID) -> None:
    with pytest.raises(ValueError):
        aad_for(table, column, row_id)
