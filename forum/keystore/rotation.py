"""Key management an operator runs: status, data-key rotation, KEK re-wrap, crypto-shredding.

* ``rotate`` retires a scope's current data key (new writes immediately get a fresh one) and
  re-encrypts every value still sealed under a retired key, in batches of ``BATCH`` rows, each
  batch its own short transaction with ``SKIP LOCKED``. Interrupting it loses nothing: values
  are either still under the old key (which stays readable) or under the new one, and running
  it again finishes the job. The service keeps serving throughout.
* ``rewrap`` re-wraps every data key under the current master key (after a master-key
  rotation, with the old key in ``DIEF_RETIRED_MASTER_KEY_FILES``); no row is touched.
* ``destroy_scope`` deletes a scope's wrapped keys: its values can never be decrypted again
  (crypto-shredding). Every running instance drops the keys from its cache on the
  ``dief_keys`` notification; the cache's age limit covers a missed notification.

Each step writes an audit entry in the same transaction as the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from crypto import envelope
from crypto.keys import DataKey, rewrap_data_key
from forum.audit import service as audit
from forum.db import transaction
from forum.keyring import KeyRing
from forum.keystore import queries
from forum.keystore.service import current_key, load_keys

BATCH = 500


class UnknownScopeError(Exception):
    """``rotate --scope`` named a scope that has no live data key (a typo, or destroyed)."""
Progress = Callable[[int], None]


@dataclass(frozen=True)
class KeyStatus:
    id: uuid.UUID
    scope: str
    kek_id: str
    state: str  # current | retired | destroyed
    rows: int


async def status(conn: asyncpg.Connection) -> list[KeyStatus]:
    counts: dict[bytes, int] = {}
    for table, column in queries.ENCRYPTED_COLUMNS:
        for row in await queries.count_rows_by_key(conn, table, column):
            key = bytes(row["key_id"])
            counts[key] = counts.get(key, 0) + int(row["rows"])
    result = []
    for row in await queries.list_all_keys(conn):
        state = ("destroyed" if row["destroyed_at"] else
                 "retired" if row["retired_at"] else "current")
        result.append(KeyStatus(row["id"], row["scope"], row["kek_id"], state,
                                counts.get(row["id"].bytes, 0)))
    return result


async def rotate(pool: asyncpg.Pool, keyring: KeyRing, scope: str | None, *,
                 progress: Progress | None = None, retire: bool = True) -> int:
    """Rotate ``scope`` (or every scope when None); returns the number of values re-encrypted.

    With ``retire=False`` only the re-encryption runs: that is how an interrupted rotation is
    resumed without retiring the fresh key again.
    """
    store = keyring.store
    if retire:
        async with transaction(pool) as conn:
            scopes = await queries.list_scopes_with_current_key(conn)
        if scope is not None:
            if scope not in scopes:
                raise UnknownScopeError(f"no live data key has scope {scope!r} "
                                        "(see `dief keys status`)")
            scopes = [scope]
        # One short transaction per scope: its lock, then the audit lock — the same order as
        # writers — and never thousands of locks held at once.
        for one in scopes:
            async with transaction(pool) as conn:
                await queries.lock_scope(conn, one)
                old = await queries.update_retire_current(conn, one)
                await current_key(conn, store, one)  # the new key takes new writes now
                await audit.record(conn, keyring.audit_key, actor_id=None, action="keys.rotate",
                                   target_type="scope", target_id=one,
                                   details={"retired": str(old) if old else None})
    moved = 0
    async with transaction(pool) as conn:
        retired = await queries.list_retired_live_keys(conn, scope)
    for key_row in retired:
        for table, column in queries.ENCRYPTED_COLUMNS:
            while True:
                async with transaction(pool) as conn:
                    rows = await queries.claim_rows_under_key(conn, table, column,
                                                              key_row["id"], BATCH)
                    if not rows:  # none free; wait for rows locked by in-flight writers
                        rows = await queries.claim_rows_under_key(
                            conn, table, column, key_row["id"], BATCH, wait=True)
                    if not rows:
                        break
                    await _reseal(conn, keyring, key_row["scope"], table, column, rows)
                moved += len(rows)
                if progress:
                    progress(len(rows))
    return moved


async def _reseal(conn: asyncpg.Connection, keyring: KeyRing, scope: str, table: str,
                  column: str, rows: list[asyncpg.Record]) -> None:
    store = keyring.store
    new_key = await current_key(conn, store, scope)
    ids = {envelope.peek_key_id(bytes(row["value"])) for row in rows}
    keys = await load_keys(conn, store, ids)

    def lookup(key_id: uuid.UUID) -> DataKey:
        dek = keys[key_id]
        if dek is None:
            raise envelope.KeyDestroyedError("data key destroyed")
        return dek

    resealed = []
    for row in rows:
        aad = envelope.aad_for(table, column, row["id"])
        plaintext = envelope.open_(lookup, bytes(row["value"]), aad=aad)
        resealed.append((row["id"], envelope.seal(new_key, plaintext, aad=aad)))
    await queries.update_values(conn, table, column, resealed)


async def rewrap(pool: asyncpg.Pool, keyring: KeyRing, *,
                 progress: Progress | None = None) -> int:
    """Re-wrap every live data key under the current master key; returns how many."""
    provider = keyring.store.provider
    target = provider.current_kek_id()
    done = 0
    while True:
        async with transaction(pool) as conn:
            rows = await queries.list_keys_to_rewrap(conn, target, BATCH)
            if not rows:
                break
            for row in rows:
                kek_id, wrapped = rewrap_data_key(provider, row["kek_id"], row["id"],
                                                  bytes(row["wrapped"]))
                await queries.update_wrapped(conn, row["id"], kek_id, wrapped)
            await audit.record(conn, keyring.audit_key, actor_id=None, action="keys.rewrap",
                               target_type="kek", target_id=target,
                               details={"keys": len(rows)})
        done += len(rows)
        if progress:
            progress(len(rows))
    return done


async def destroy_scope(pool: asyncpg.Pool, keyring: KeyRing, scope: str) -> int:
    """Crypto-shred ``scope``: its data keys are deleted for good. Returns how many."""
    async with transaction(pool) as conn:
        await queries.lock_scope(conn, scope)
        destroyed = await queries.update_destroy_scope(conn, scope)
        await queries.notify_destroyed(conn, destroyed)
        await audit.record(conn, keyring.audit_key, actor_id=None, action="keys.destroy",
                           target_type="scope", target_id=scope,
                           details={"keys": [str(k) for k in destroyed]})
    for key_id in destroyed:
        keyring.store.cache.evict(key_id)
    return len(destroyed)
