"""crypto.keys: data keys, the local KEK provider, rotation helpers and the DEK cache."""

from __future__ import annotations

import ast
import base64
import os
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.envelope import DecryptError, aad_for, open_, seal
from crypto.keys import (
    WRAP_LABEL,
    WRAPPED_BYTES,
    DataKey,
    DataKeyCache,
    KekProvider,
    LocalKekProvider,
    UnknownKekError,
    UnwrapError,
    generate_data_key,
    master_key_from_base64,
    rewrap_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from crypto.masterkey import MasterKey

CRYPTO_DIR = Path(__file__).resolve().parent.parent / "crypto"
OWN_MODULES = ["envelope.py", "keys.py", "blind_index.py", "receipts.py"]


def secret_spellings(secret: bytes) -> list[str]:
    """Every way key bytes could leak into text."""
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode(),
        repr(secret),
        str(list(secret)),
    ]


def assert_no_secret(text: str, *secrets: bytes) -> None:
    for secret in secrets:
        for spelling in secret_spellings(secret):
            assert spelling not in text


def flip(blob: bytes, bit: int) -> bytes:
    out = bytearray(blob)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.fixture
def master() -> MasterKey:
    return MasterKey(os.urandom(32))


@pytest.fixture
def provider(master: MasterKey) -> LocalKekProvider:
    return LocalKekProvider(master)


# --- DataKey -------------------------------------------------------------------------------


def test_generate_data_key() -> None:
    dek = generate_data_key()
    assert len(dek.key) == 32
    assert dek.id.version == 4
    assert generate_data_key().key != dek.key
    assert generate_data_key().id != dek.id


def test_data_key_repr_is_redacted() -> None:
    dek = generate_data_key()
    for text in (repr(dek), str(dek), f"{dek}", f"{dek!r}", repr([dek]), repr({"k": dek})):
        assert_no_secret(text, dek.key)
        assert str(dek.id) in text
        assert "redacted" in text


def test_data_key_is_immutable() -> None:
    dek = generate_data_key()
    with pytest.raises(AttributeError):
        dek.key = bytes(32)  # type: ignore[misc]


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(31), bytes(33), bytearray(32)])
def test_data_key_rejects_wrong_material(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DataKey(uuid.uuid4(), key)


def test_data_key_requires_uuid() -> None:
    with pytest.raises(TypeError):
        DataKey(str(uuid.uuid4()), bytes(32))  # type: ignore[arg-type]


# --- LocalKekProvider ----------------------------------------------------------------------


def test_local_provider_is_a_kek_provider(provider: LocalKekProvider, master: MasterKey) -> None:
    assert isinstance(provider, KekProvider)
    assert provider.current_kek_id() == master.key_id
    assert provider.kek_ids() == (master.key_id,)


def test_wrap_unwrap_round_trip(provider: LocalKekProvider) -> None:
    dek = generate_data_key()
    kek_id = provider.current_kek_id()
    wrapped = provider.wrap(kek_id, dek)
    assert len(wrapped) == WRAPPED_BYTES == 61
    assert dek.key not in wrapped
    assert provider.unwrap(kek_id, dek.id, wrapped) == dek.key


def test_wrap_uses_a_fresh_nonce(provider: LocalKekProvider) -> None:
    dek = generate_data_key()
    kek_id = provider.current_kek_id()
    assert len({provider.wrap(kek_id, dek) for _ in range(50)}) == 50


def test_wrapped_format_matches_docstring(provider: LocalKekProvider, master: MasterKey) -> None:
    dek = generate_data_key()
    kek_id = provider.current_kek_id()
    wrapped = provider.wrap(kek_id, dek)
    aead = AESGCM(master.derive("dief/kek-wrap/v1"))
    aad = b"\x01" + b"dief/dek|" + dek.id.bytes + b"|" + kek_id.encode()
    assert WRAP_LABEL == "dief/kek-wrap/v1"
    assert wrapped[0] == 0x01
    assert aead.decrypt(wrapped[1:13], wrapped[13:], aad) == dek.key


def test_unwrap_with_retired_kek(master: MasterKey) -> None:
    dek = generate_data_key()
    old_kek_id, wrapped = wrap_data_key(LocalKekProvider(master), dek)
    new_master = MasterKey(os.urandom(32))
    rotated = LocalKekProvider(new_master, retired=[master])
    assert rotated.current_kek_id() == new_master.key_id
    assert rotated.kek_ids() == (new_master.key_id, master.key_id)
    assert rotated.unwrap(old_kek_id, dek.id, wrapped) == dek.key


def test_retired_kek_cannot_wrap(master: MasterKey) -> None:
    rotated = LocalKekProvider(MasterKey(os.urandom(32)), retired=[master])
    with pytest.raises(ValueError, match="retired"):
        rotated.wrap(master.key_id, generate_data_key())


def test_unknown_kek_id_is_refused(provider: LocalKekProvider) -> None:
    dek = generate_data_key()
    wrapped = provider.wrap(provider.current_kek_id(), dek)
    with pytest.raises(UnknownKekError):
        provider.unwrap("0123456789abcdef", dek.id, wrapped)
    with pytest.raises(UnknownKekError):
        provider.wrap("0123456789abcdef", dek)
    assert issubclass(UnknownKekError, LookupError)
    assert not issubclass(UnknownKekError, KeyError)


def test_wrong_kek_is_refused(master: MasterKey) -> None:
    other = MasterKey(os.urandom(32))
    both = LocalKekProvider(master, retired=[other])
    dek = generate_data_key()
    wrapped = both.wrap(master.key_id, dek)
    with pytest.raises(UnwrapError, match="failed authentication"):
        both.unwrap(other.key_id, dek.id, wrapped)


def test_wrapped_key_moved_to_another_dek_row_is_refused(provider: LocalKekProvider) -> None:
    dek = generate_data_key()
    kek_id = provider.current_kek_id()
    wrapped = provider.wrap(kek_id, dek)
    with pytest.raises(UnwrapError):
        provider.unwrap(kek_id, uuid.uuid4(), wrapped)


def test_every_bit_flip_in_a_wrapped_key_is_refused(provider: LocalKekProvider) -> None:
    dek = generate_data_key()
    kek_id = provider.current_kek_id()
    wrapped = provider.wrap(kek_id, dek)
    for bit in range(len(wrapped) * 8):
        with pytest.raises(UnwrapError):
            provider.unwrap(kek_id, dek.id, flip(wrapped, bit))


def test_truncated_or_extended_wrapped_key_is_refused(provider: LocalKekProvider) -> None:
    dek = generate_data_key()
    kek_id = provider.current_kek_id()
    wrapped = provider.wrap(kek_id, dek)
    for cut in range(len(wrapped)):
        with pytest.raises(UnwrapError):
            provider.unwrap(kek_id, dek.id, wrapped[:cut])
    with pytest.raises(UnwrapError):
        provider.unwrap(kek_id, dek.id, wrapped + b"\x00")


def test_unwrap_error_is_a_decrypt_error() -> None:
    assert issubclass(UnwrapError, DecryptError)


def test_duplicate_kek_ids_are_refused(master: MasterKey) -> None:
    with pytest.raises(ValueError, match="unique"):
        LocalKekProvider(master, retired=[master])


def test_provider_repr_is_redacted(master: MasterKey) -> None:
    retired = MasterKey(os.urandom(32))
    provider = LocalKekProvider(master, retired=[retired])
    text = repr(provider) + str(provider)
    assert master.key_id in text
    assert retired.key_id in text
    for key in (master, retired):
        assert_no_secret(text, key.raw, key.derive(WRAP_LABEL))


# --- Helpers: wrap, unwrap, KEK rotation ---------------------------------------------------


def test_kek_rotation_rewraps_and_is_resumable(master: MasterKey) -> None:
    dek = generate_data_key()
    old_kek_id, wrapped = wrap_data_key(LocalKekProvider(master), dek)
    new_master = MasterKey(os.urandom(32))
    rotated = LocalKekProvider(new_master, retired=[master])

    kek_id, rewrapped = rewrap_data_key(rotated, old_kek_id, dek.id, wrapped)
    assert kek_id == new_master.key_id
    assert unwrap_data_key(rotated, kek_id, dek.id, rewrapped) == dek
    # After rotation the old KEK can be dropped entirely.
    assert unwrap_data_key(LocalKekProvider(new_master), kek_id, dek.id, rewrapped) == dek
    # Running the rotation again leaves the row alone.
    assert rewrap_data_key(rotated, kek_id, dek.id, rewrapped) == (kek_id, rewrapped)


def test_envelope_open_through_provider(provider: LocalKekProvider) -> None:
    dek = generate_data_key()
    kek_id, wrapped = wrap_data_key(provider, dek)
    stored = {dek.id: (kek_id, wrapped)}
    aad = aad_for("cases", "body", uuid.uuid4())
    blob = seal(dek, b"hello", aad=aad)

    def lookup(dek_id: uuid.UUID) -> DataKey:
        kek_id, wrapped = stored[dek_id]
        return unwrap_data_key(provider, kek_id, dek_id, wrapped)

    assert open_(lookup, blob, aad=aad) == b"hello"
    # A tampered wrapped key surfaces from open_ as a DecryptError.
    stored[dek.id] = (kek_id, flip(wrapped, 200))
    with pytest.raises(DecryptError):
        open_(lookup, blob, aad=aad)


# --- master_key_from_base64 ----------------------------------------------------------------


def test_master_key_from_base64() -> None:
    raw = os.urandom(32)
    key = master_key_from_base64(" " + base64.b64encode(raw).decode() + "\n")
    assert key.raw == raw
    assert key.key_id == MasterKey(raw).key_id


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_master_key_from_base64_wrong_length(size: int) -> None:
    text = base64.b64encode(os.urandom(size)).decode()
    with pytest.raises(ValueError, match="exactly 32 bytes") as info:
        master_key_from_base64(text)
    if text:
        assert text not in str(info.value)


@pytest.mark.parametrize("text", ["not base64!", "AAAA*AAA", "ZZZ"])
def test_master_key_from_base64_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="base64") as info:
        master_key_from_base64(text)
    assert text not in str(info.value)


# --- DataKeyCache --------------------------------------------------------------------------


def test_cache_get_put_evict_clear() -> None:
    cache = DataKeyCache(4)
    a, b = generate_data_key(), generate_data_key()
    assert cache.get(a.id) is None
    cache.put(a)
    cache.put(b)
    assert cache.get(a.id) is a
    assert len(cache) == 2
    cache.evict(a.id)
    cache.evict(a.id)  # unknown ids are ignored
    assert cache.get(a.id) is None
    assert cache.get(b.id) is b
    cache.clear()
    assert len(cache) == 0
    assert cache.get(b.id) is None


def test_cache_evicts_least_recently_used() -> None:
    cache = DataKeyCache(3)
    a, b, c, d = (generate_data_key() for _ in range(4))
    for dek in (a, b, c):
        cache.put(dek)
    assert cache.get(a.id) is a  # a is now the most recent; b is the oldest
    cache.put(d)
    assert len(cache) == 3
    assert cache.get(b.id) is None
    assert [cache.get(k.id) for k in (a, c, d)] == [a, c, d]


def test_cache_put_refreshes_existing_entry() -> None:
    cache = DataKeyCache(2)
    a, b, c = (generate_data_key() for _ in range(3))
    cache.put(a)
    cache.put(b)
    cache.put(a)
    cache.put(c)
    assert cache.get(b.id) is None
    assert cache.get(a.id) is a


def test_cache_max_age() -> None:
    now = [100.0]
    cache = DataKeyCache(8, max_age=30.0, clock=lambda: now[0])
    dek = generate_data_key()
    cache.put(dek)
    now[0] = 129.9
    assert cache.get(dek.id) is dek
    now[0] = 130.0
    assert cache.get(dek.id) is None
    assert len(cache) == 0


@pytest.mark.parametrize(("entries", "age"), [(0, None), (-1, None), (1, 0.0), (1, -5.0)])
def test_cache_rejects_bad_bounds(entries: int, age: float | None) -> None:
    with pytest.raises(ValueError):
        DataKeyCache(entries, max_age=age)


def test_cache_repr_is_redacted() -> None:
    cache = DataKeyCache(2)
    dek = generate_data_key()
    cache.put(dek)
    assert_no_secret(repr(cache), dek.key)


# --- Purity of crypto/ ---------------------------------------------------------------------


@pytest.mark.parametrize("module", OWN_MODULES)
def test_crypto_modules_import_only_stdlib_cryptography_and_crypto(module: str) -> None:
    tree = ast.parse((CRYPTO_DIR / module).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None
            imported.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"cryptography", "crypto"}
    assert imported <= allowed, imported - allowed
    assert not imported & {"socket", "subprocess", "logging", "asyncio", "sqlite3", "pickle"}
