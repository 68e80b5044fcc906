"""Data keys for scopes (a room, a case): create, find, unwrap, cache; decrypt in batches.

Services encrypt with ``current_key(conn, store, scope)`` before inserting, and decrypt a
page's worth of ciphertexts with ``open_texts`` after reading: the data-key ids of all values
are collected first and fetched in one query (no N+1), unwrapped once, and kept in an in-memory
cache (``crypto.keys.DataKeyCache``; bounded in size and age so that a key destroyed through
another instance stops being used within ``CACHE_SECONDS`` even if no notification arrives).

A value whose key was destroyed (crypto-shredding) opens as ``None``: pages show "destroyed",
never an error.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from crypto import envelope
from crypto.keys import (
    DataKey,
    DataKeyCache,
    KekProvider,
    generate_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from forum.keystore import queries

CACHE_ENTRIES = 4096
CACHE_SECONDS = 60.0


class KeyStore:
    """The KEK provider and the cache of unwrapped data keys of one process."""

    def __init__(self, provider: KekProvider, cache: DataKeyCache | None = None) -> None:
        self.provider = provider
        self.cache = cache or DataKeyCache(CACHE_ENTRIES, max_age=CACHE_SECONDS)

    def __repr__(self) -> str:
        return f"KeyStore(provider={self.provider!r}, cached={len(self.cache)})"


@dataclass(frozen=True)
class Sealed:
    """A ciphertext and the place it belongs to (its associated data)."""

    blob: bytes | None
    aad: bytes


def room_scope(room_id: uuid.UUID) -> str:
    return f"room:{room_id}"


async def current_key(conn: asyncpg.Connection, store: KeyStore, scope: str, *,
                      created_at: dt.datetime | None = None) -> DataKey:
    """The scope's current data key, created on first use (``created_at``: the timestamp to
    record for a new key — anonymous cases pass a date's midnight, never the time of day).

    Takes the scope's shared advisory lock for the rest of the transaction: see rotation.py.
    """
    await queries.lock_scope_shared(conn, scope)
    row = await queries.get_current_key(conn, scope)
    if row is None:
        dek = generate_data_key()
        kek_id, wrapped = wrap_data_key(store.provider, dek)
        if await queries.insert_key(conn, dek.id, scope, wrapped, kek_id, created_at):
            store.cache.put(dek)
            return dek
        row = await queries.get_current_key(conn, scope)
        assert row is not None
    cached = store.cache.get(row["id"])
    if cached is not None:
        return cached
    dek = unwrap_data_key(store.provider, row["kek_id"], row["id"], bytes(row["wrapped"]))
    store.cache.put(dek)
    return dek


async def load_keys(conn: asyncpg.Connection, store: KeyStore,
                    key_ids: set[uuid.UUID]) -> dict[uuid.UUID, DataKey | None]:
    """Unwrapped keys by id; ``None`` for destroyed ones. Unknown ids are left out."""
    found: dict[uuid.UUID, DataKey | None] = {}
    missing = []
    for key_id in key_ids:
        cached = store.cache.get(key_id)
        if cached is not None:
            found[key_id] = cached
        else:
            missing.append(key_id)
    if missing:
        for row in await queries.list_keys(conn, missing):
            if row["destroyed_at"] is not None or row["wrapped"] is None:
                found[row["id"]] = None
                continue
            dek = unwrap_data_key(store.provider, row["kek_id"], row["id"],
                                  bytes(row["wrapped"]))
            store.cache.put(dek)
            found[row["id"]] = dek
    return found


def seal_text(dek: DataKey, text: str, table: str, column: str, row_id: uuid.UUID) -> bytes:
    return envelope.seal_text(dek, text, aad=envelope.aad_for(table, column, row_id))


def aad(table: str, column: str, row_id: uuid.UUID) -> bytes:
    return envelope.aad_for(table, column, row_id)


async def open_texts(conn: asyncpg.Connection, store: KeyStore,
                     items: Sequence[Sealed]) -> list[str | None]:
    """Decrypt many values with one key lookup; ``None`` where absent or key destroyed.

    Tampered values raise ``crypto.envelope.DecryptError``: that is an integrity failure of
    the database, not something to paper over.
    """
    ids = {envelope.peek_key_id(item.blob) for item in items if item.blob is not None}
    keys = await load_keys(conn, store, ids) if ids else {}

    def lookup(key_id: uuid.UUID) -> DataKey:
        dek = keys[key_id]  # KeyError → DecryptError in envelope.open_
        if dek is None:
            raise envelope.KeyDestroyedError("data key destroyed")
        return dek

    texts: list[str | None] = []
    for item in items:
        if item.blob is None:
            texts.append(None)
            continue
        try:
            texts.append(envelope.open_text(lookup, item.blob, aad=item.aad))
        except envelope.KeyDestroyedError:
            texts.append(None)
    return texts


def user_scope(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


async def seal_bytes(conn: asyncpg.Connection, store: KeyStore, scope: str, data: bytes,
                     table: str, column: str, row_id: uuid.UUID) -> bytes:
    dek = await current_key(conn, store, scope)
    return envelope.seal(dek, data, aad=envelope.aad_for(table, column, row_id))


async def open_bytes(conn: asyncpg.Connection, store: KeyStore, blob: bytes | None, table: str,
                     column: str, row_id: uuid.UUID) -> bytes | None:
    """One value; ``None`` when absent or its key was destroyed."""
    if blob is None:
        return None
    keys = await load_keys(conn, store, {envelope.peek_key_id(blob)})

    def lookup(key_id: uuid.UUID) -> DataKey:
        dek = keys[key_id]
        if dek is None:
            raise envelope.KeyDestroyedError("data key destroyed")
        return dek

    try:
        return envelope.open_(lookup, blob, aad=envelope.aad_for(table, column, row_id))
    except envelope.KeyDestroyedError:
        return None


async def destroy_scope_quietly(conn: asyncpg.Connection, store: KeyStore, scope: str,
                                at: dt.datetime) -> list[uuid.UUID]:
    """Crypto-shred ``scope`` inside the caller's transaction, with no audit entry and the
    given timestamp: for an anonymous source destroying their own case's original wording
    (their actions never enter the identified audit chain, and carry no time of day). Running
    instances evict the keys on the ``dief_keys`` notification at commit."""
    await queries.lock_scope(conn, scope)
    destroyed = await queries.update_destroy_scope_at(conn, scope, at)
    await queries.notify_destroyed(conn, destroyed)
    for key_id in destroyed:
        store.cache.evict(key_id)
    return destroyed
