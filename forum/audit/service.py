"""The tamper-evident audit log of privileged actions.

Each entry's MAC is ``HMAC-SHA256(k, prev_mac ‖ canonical(entry))`` (crypto/chain.py), where
``k`` is derived from the master key and never stored in the database. A database superuser can
still delete the *newest* entries without breaking the chain; ``head()`` prints the latest
sequence number and MAC so an operator can keep it off the host and pass it back to
``verify(expected_head=...)``.

Actions of anonymous case sources are never recorded here (DESIGN §5).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from crypto import chain
from forum.audit import queries
from forum.keyring import AuditKey


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int
    head_mac: str
    problem: str | None = None
    bad_seq: int | None = None


def _canonical(seq: int, occurred_at: dt.datetime, actor_id: uuid.UUID | None, action: str,
               target_type: str, target_id: str, details: dict[str, Any],
               key_id: str) -> bytes:
    document = {
        "key_id": key_id,
        "seq": seq,
        "at": occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": str(actor_id) if actor_id else None,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "details": details,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


async def record(conn: asyncpg.Connection, audit_key: AuditKey, *, actor_id: uuid.UUID | None,
                 action: str, target_type: str = "", target_id: str = "",
                 details: dict[str, Any] | None = None) -> int:
    """Append an entry in the caller's transaction; returns its sequence number."""
    payload = details or {}
    await queries.lock_chain(conn)
    head = await queries.get_head(conn)
    seq = (head["seq"] + 1) if head else 1
    prev_mac = bytes(head["mac"]) if head else chain.GENESIS
    occurred_at = dt.datetime.now(dt.UTC)
    # Round-trip through JSON so the canonical form equals what jsonb will give back.
    payload = json.loads(json.dumps(payload, sort_keys=True))
    mac = chain.chain_mac(audit_key, prev_mac, _canonical(
        seq, occurred_at, actor_id, action, target_type, target_id, payload, audit_key.key_id))
    await queries.insert_entry(conn, seq, occurred_at, actor_id, action, target_type, target_id,
                               payload, audit_key.key_id, prev_mac, mac)
    return seq


async def verify(conn: asyncpg.Connection, audit_keys: Mapping[str, bytes] | bytes,
                 expected_head: str | None = None) -> VerifyResult:
    """Walk the chain from the first entry; name the first entry that does not check out.

    ``audit_keys`` maps master key ids to MAC keys (``KeyRing.audit_keys()``), so entries
    written before a master-key rotation verify with the retired key; a single key is used for
    every entry.

    ``expected_head`` is a ``SEQ:MAC`` printed earlier by ``head()``: the chain must still reach
    entry SEQ and that entry must still carry MAC (entries appended since are fine).
    """
    expected_seq = 1
    prev_mac = chain.GENESIS
    checked = 0
    head_seq_wanted, head_mac_wanted = _parse_head(expected_head)
    head_mac_found = chain.GENESIS if head_seq_wanted == 0 else None
    async for row in queries.iter_entries(conn):
        seq = row["seq"]
        if seq != expected_seq:
            return VerifyResult(False, checked, expected_seq - 1, prev_mac.hex(),
                                f"entry {expected_seq} is missing (deleted); next present is "
                                f"{seq}", expected_seq)
        if not chain.macs_equal(bytes(row["prev_mac"]), prev_mac):
            return VerifyResult(False, checked, seq - 1, prev_mac.hex(),
                                f"entry {seq} does not follow entry {seq - 1} (deleted, "
                                "reordered or rewritten)", seq)
        details = json.loads(row["details"])
        audit_key = (audit_keys if isinstance(audit_keys, bytes)
                     else audit_keys.get(row["key_id"]))
        if audit_key is None:
            return VerifyResult(False, checked, seq - 1, prev_mac.hex(),
                                f"entry {seq} was written under master key {row['key_id']}, "
                                "which is not configured (DIEF_RETIRED_MASTER_KEY_FILES)", seq)
        expected_mac = chain.chain_mac(audit_key, prev_mac, _canonical(
            seq, row["occurred_at"], row["actor_id"], row["action"], row["target_type"],
            row["target_id"], details, row["key_id"]))
        if not chain.macs_equal(bytes(row["mac"]), expected_mac):
            return VerifyResult(False, checked, seq - 1, prev_mac.hex(),
                                f"entry {seq} was altered (its MAC does not match its content "
                                "and position)", seq)
        prev_mac = bytes(row["mac"])
        if seq == head_seq_wanted:
            head_mac_found = prev_mac
        checked += 1
        expected_seq += 1
    head_seq = expected_seq - 1
    if expected_head is not None:
        if head_mac_wanted is None:
            return VerifyResult(False, checked, head_seq, prev_mac.hex(),
                                f"the recorded head {expected_head!r} is not SEQ:MAC as "
                                "printed by `dief audit head`", None)
        if head_mac_found is None or not chain.macs_equal(head_mac_found, head_mac_wanted):
            bad = head_seq + 1 if head_mac_found is None else head_seq_wanted
            return VerifyResult(False, checked, head_seq, prev_mac.hex(),
                                f"the chain does not reach the recorded head {expected_head} "
                                "(newest entries deleted or rewritten)", bad)
    return VerifyResult(True, checked, head_seq, prev_mac.hex())


def _parse_head(text: str | None) -> tuple[int | None, bytes | None]:
    """``"SEQ:MAC"`` → (SEQ, MAC bytes); (SEQ or None, None) when malformed or absent."""
    if text is None:
        return None, None
    seq_text, _, mac_text = text.strip().partition(":")
    seq = int(seq_text) if seq_text.isdigit() else None
    try:
        mac = bytes.fromhex(mac_text)
    except ValueError:
        return None, None
    if seq is None or len(mac) != len(chain.GENESIS):
        return None, None
    return seq, mac


async def head(conn: asyncpg.Connection) -> str:
    row = await queries.get_head(conn)
    return f"{row['seq']}:{bytes(row['mac']).hex()}" if row else "0:" + chain.GENESIS.hex()


async def list_recent(conn: asyncpg.Connection, limit: int = 200) -> list[asyncpg.Record]:
    return await queries.list_entries(conn, limit)


@dataclass(frozen=True)
class AuditFilters:
    actor_email: str | None = None
    action: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    limit: int = 200


def parse_filters(query: Mapping[str, str]) -> AuditFilters:
    """Filters from a query string: ``actor`` (email), ``action`` (e.g. ``case`` or
    ``case.publish``), ``since`` and ``until`` (dates, UTC, ``until`` exclusive)."""
    from forum.errors import ValidationError

    def day(name: str) -> dt.date | None:
        text = query.get(name) or None
        if text is None:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError("Give a date as YYYY-MM-DD", field=name,
                                  code=f"{name}_invalid") from None

    actor = (query.get("actor") or "").strip().lower() or None
    action = (query.get("action") or "").strip() or None
    if actor and (len(actor) > 254 or "\x00" in actor):  # PostgreSQL text cannot hold NUL
        raise ValidationError("Invalid filter", field="actor", code="filter_invalid")
    if action and (len(action) > 64 or not all(c.isalnum() or c in "._" for c in action)):
        raise ValidationError("Invalid filter", field="action", code="filter_invalid")
    return AuditFilters(actor, action, day("since"), day("until"))


async def search(conn: asyncpg.Connection, filters: AuditFilters) -> list[asyncpg.Record]:
    def start(d: dt.date | None) -> dt.datetime | None:
        return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC) if d else None

    return await queries.search_entries(conn, filters.actor_email, filters.action,
                                        start(filters.since), start(filters.until),
                                        filters.limit)


def entry_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"seq": row["seq"], "at": row["occurred_at"].isoformat(),
            "actor": row["actor_email"], "action": row["action"],
            "target_type": row["target_type"], "target_id": row["target_id"],
            "details": json.loads(row["details"])}
