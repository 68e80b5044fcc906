"""The keyed audit chain: verify names the first bad entry, whatever was tampered with.

Tampering uses raw SQL on purpose: it stands for a database superuser who does not hold the
master key. The CLI tests use the master key file of ``test_environ(tmp_path)`` — the same
key the rows were written with, as in production.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from forum import db
from forum.audit import service as audit
from forum.keyring import load_keyring
from forum.settings import Settings
from tests import conftest

DIEF = str(Path(sys.executable).with_name("dief"))
ENTRIES = 5


@pytest.fixture
def audit_key(tmp_path: Path) -> bytes:
    return load_keyring(Settings.from_env(conftest.test_environ(tmp_path))).audit_key


@pytest.fixture(scope="module")
async def database_url(server_url: str, template_db: str) -> AsyncIterator[str]:
    """One migrated database for the module (overrides conftest's per-test one: only
    ``audit_log`` is touched, and ``conn`` empties it before each test)."""
    name = await conftest.create_test_database(server_url, template_db)
    yield db.with_database(server_url, name)
    await conftest.drop_test_database(server_url, name)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await connection.execute("TRUNCATE audit_log")
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def chain(conn: asyncpg.Connection, audit_key: bytes) -> list[int]:
    """Five entries recorded through the service, in one transaction."""
    async with conn.transaction():
        return [await audit.record(conn, audit_key, actor_id=None, action=f"test.action{i}",
                                   target_type="thing", target_id=str(i),
                                   details={"n": i, "note": "é ✓", "ratio": 0.1 * i,
                                            "nested": {"b": [1, None, True]}})
                for i in range(1, ENTRIES + 1)]


async def test_intact_chain_verifies(conn: asyncpg.Connection, audit_key: bytes,
                                     chain: list[int]) -> None:
    assert chain == [1, 2, 3, 4, 5]
    result = await audit.verify(conn, audit_key)
    assert result.ok, result.problem
    assert (result.checked, result.head_seq, result.bad_seq) == (ENTRIES, ENTRIES, None)
    assert await audit.head(conn) == f"{ENTRIES}:{result.head_mac}"


async def test_empty_chain_verifies(conn: asyncpg.Connection, audit_key: bytes) -> None:
    result = await audit.verify(conn, audit_key, expected_head=await audit.head(conn))
    assert result.ok and result.checked == 0


async def test_edited_details_are_named(conn: asyncpg.Connection, audit_key: bytes,
                                        chain: list[int]) -> None:
    await conn.execute("""UPDATE audit_log SET details = '{"n": 30}' WHERE seq = 3""")
    result = await audit.verify(conn, audit_key)
    assert not result.ok
    assert result.bad_seq == 3
    assert "entry 3" in (result.problem or "") and "altered" in (result.problem or "")
    assert result.checked == 2


@pytest.mark.parametrize("column, value", [
    ("action", "'test.innocent'"), ("target_id", "'99'"),
    ("occurred_at", "occurred_at - interval '1 day'"),
    ("actor_id", "'00000000-0000-4000-8000-000000000000'"), ("key_id", "'0123456789abcdef'"),
])
async def test_any_edited_column_is_named(conn: asyncpg.Connection, audit_key: bytes,
                                          chain: list[int], column: str, value: str) -> None:
    await conn.execute(f"UPDATE audit_log SET {column} = {value} WHERE seq = 4")
    result = await audit.verify(conn, audit_key)
    assert (result.ok, result.bad_seq) == (False, 4)


async def test_deleted_middle_entry_is_named(conn: asyncpg.Connection, audit_key: bytes,
                                             chain: list[int]) -> None:
    await conn.execute("DELETE FROM audit_log WHERE seq = 3")
    result = await audit.verify(conn, audit_key)
    assert (result.ok, result.bad_seq) == (False, 3)
    assert "missing" in (result.problem or "")


async def test_deletion_hidden_by_renumbering_is_named(conn: asyncpg.Connection,
                                                       audit_key: bytes,
                                                       chain: list[int]) -> None:
    await conn.execute("DELETE FROM audit_log WHERE seq = 3")
    await conn.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 3")
    result = await audit.verify(conn, audit_key)
    assert (result.ok, result.bad_seq) == (False, 3)


async def test_swapped_contents_are_detected(conn: asyncpg.Connection, audit_key: bytes,
                                             chain: list[int]) -> None:
    # Everything but seq moves: rows 2 and 3 trade places in the order.
    await conn.execute("""
        UPDATE audit_log a SET occurred_at = b.occurred_at, actor_id = b.actor_id,
               action = b.action, target_type = b.target_type, target_id = b.target_id,
               details = b.details, prev_mac = b.prev_mac, mac = b.mac
        FROM (SELECT * FROM audit_log WHERE seq IN (2, 3)) b
        WHERE a.seq IN (2, 3) AND b.seq = 5 - a.seq""")
    assert await conn.fetchval("SELECT action FROM audit_log WHERE seq = 2") == "test.action3"
    result = await audit.verify(conn, audit_key)
    assert (result.ok, result.bad_seq) == (False, 2)


async def test_swapped_payloads_keeping_macs_are_detected(conn: asyncpg.Connection,
                                                          audit_key: bytes,
                                                          chain: list[int]) -> None:
    await conn.execute("""
        UPDATE audit_log a SET action = b.action, target_id = b.target_id, details = b.details
        FROM (SELECT * FROM audit_log WHERE seq IN (2, 3)) b
        WHERE a.seq IN (2, 3) AND b.seq = 5 - a.seq""")
    result = await audit.verify(conn, audit_key)
    assert (result.ok, result.bad_seq) == (False, 2)


async def test_wrong_key_fails_at_the_first_entry(conn: asyncpg.Connection,
                                                  chain: list[int]) -> None:
    result = await audit.verify(conn, bytes(32))
    assert (result.ok, result.bad_seq, result.checked) == (False, 1, 0)


async def test_recorded_head_detects_deleting_the_newest_entry(conn: asyncpg.Connection,
                                                                audit_key: bytes,
                                                                chain: list[int]) -> None:
    recorded_head = await audit.head(conn)
    assert (await audit.verify(conn, audit_key, expected_head=recorded_head)).ok

    await conn.execute(f"DELETE FROM audit_log WHERE seq = {ENTRIES}")
    # Without the head, truncation is invisible: what is left is a valid chain.
    assert (await audit.verify(conn, audit_key)).ok
    result = await audit.verify(conn, audit_key, expected_head=recorded_head)
    assert (result.ok, result.bad_seq) == (False, ENTRIES)
    assert "recorded head" in (result.problem or "")


async def test_recorded_head_allows_later_entries(conn: asyncpg.Connection, audit_key: bytes,
                                                  chain: list[int]) -> None:
    recorded_head = await audit.head(conn)
    async with conn.transaction():
        await audit.record(conn, audit_key, actor_id=None, action="test.later")
    assert (await audit.verify(conn, audit_key, expected_head=recorded_head)).ok


async def test_recorded_head_mac_is_checked_when_chain_grew(conn: asyncpg.Connection,
                                                            audit_key: bytes,
                                                            chain: list[int]) -> None:
    """An older head whose MAC differs is a rewritten chain, even with entries after it."""
    wrong = f"3:{'ab' * 32}"
    result = await audit.verify(conn, audit_key, expected_head=wrong)
    assert (result.ok, result.bad_seq) == (False, 3)


@pytest.mark.parametrize("head", ["3", "3:", "x:00", "3:zz", "3:abcd"])
async def test_malformed_recorded_head_never_passes(conn: asyncpg.Connection, audit_key: bytes,
                                                    chain: list[int], head: str) -> None:
    result = await audit.verify(conn, audit_key, expected_head=head)
    assert not result.ok


# --- `dief audit` ----------------------------------------------------------------------------

@dataclass
class Run:
    code: int
    out: str
    err: str


def cli_environ(tmp_path: Path, database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DIEF_")}
    return {**base, **conftest.test_environ(tmp_path), "DIEF_DATABASE_URL": database_url}


async def dief(env: dict[str, str], *args: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        DIEF, *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def test_cli_verify_and_head(conn: asyncpg.Connection, chain: list[int], tmp_path: Path,
                                   database_url: str) -> None:
    env = cli_environ(tmp_path, database_url)
    expected_head = await audit.head(conn)
    head, good, malformed = await asyncio.gather(
        dief(env, "audit", "head"), dief(env, "audit", "verify", "--head", expected_head),
        dief(env, "audit", "verify", "--head", "3"))
    assert malformed.code == 2 and "SEQ:MAC" in malformed.err
    assert head.code == 0, head.err
    assert head.out.strip() == expected_head
    assert good.code == 0, good.err
    assert f"audit chain OK: {ENTRIES} entries" in good.out

    await conn.execute("""UPDATE audit_log SET details = '{"n": 0}' WHERE seq = 2""")
    bad = await dief(env, "audit", "verify")
    assert bad.code == 1
    assert "AUDIT CHAIN BROKEN at entry 2" in bad.err
    assert bad.out == ""
