"""Test fixtures: a real PostgreSQL, a database per test, the real app over real HTTP.

The server is ``DIEF_TEST_DATABASE_URL`` if set, else an embedded PostgreSQL started for the
run in a temporary directory. A template database is migrated once by the real runner; each
test gets ``CREATE DATABASE … TEMPLATE`` — about 90 ms on the CI machine, against ~1 ms for an
outer-transaction rollback, but every test then runs the production code paths unchanged
(several connections, advisory locks, LISTEN/NOTIFY, real commits).
"""

from __future__ import annotations

import base64
import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from forum import db
from forum.app import create_app
from forum.migrate import migrate
from forum.settings import Settings

TEMPLATE_DB = "dief_test_template"
_counter = itertools.count()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    external = os.environ.get("DIEF_TEST_DATABASE_URL")
    if external:
        yield external
        return
    tmp = Path(tempfile.mkdtemp(prefix="dief-test-pg-"))
    server = db.start_embedded_server(tmp)
    # Durability is not under test here; speed is worth having.
    server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off; "
                "ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_db(server_url: str) -> str:
    admin = await asyncpg.connect(db.with_database(server_url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(db.with_database(server_url, TEMPLATE_DB))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE_DB


async def create_test_database(server_url: str, template: str | None) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(db.with_database(server_url, "postgres"))
    try:
        source = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{source}')
    finally:
        await admin.close()
    return name


async def drop_test_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(db.with_database(server_url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(server_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test."""
    name = await create_test_database(server_url, template_db)
    yield db.with_database(server_url, name)
    await drop_test_database(server_url, name)


@pytest.fixture
async def empty_database_url(server_url: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all (migration tests)."""
    name = await create_test_database(server_url, None)
    yield db.with_database(server_url, name)
    await drop_test_database(server_url, name)


def test_environ(tmp_path: Path, **overrides: str) -> dict[str, str]:
    key_file = tmp_path / "master.key"
    if not key_file.exists():
        key_file.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
        key_file.chmod(0o600)
    environ = {
        "DIEF_DATA_DIR": str(tmp_path / "var"),
        "DIEF_MASTER_KEY_FILE": str(key_file),
        # Cheap argon2 for tests (lowered through Settings, not by monkeypatching).
        "DIEF_ARGON2_TIME_COST": "1",
        "DIEF_ARGON2_MEMORY_KIB": "1024",
        "DIEF_ARGON2_PARALLELISM": "1",
        "DIEF_POOL_MIN": "1",
        "DIEF_POOL_MAX": "4",
    }
    environ.update(overrides)
    return environ


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(test_environ(tmp_path))


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, database_url: str) -> TestClient:
    app = create_app(settings, database_url=database_url)
    return await aiohttp_client(app)


@pytest.fixture
async def pool(client: TestClient) -> asyncpg.Pool:
    from forum import keys

    return client.app[keys.POOL]
