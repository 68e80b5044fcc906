"""The migration runner against a real PostgreSQL: idempotence, checksums, unknown versions,
atomic failure, concurrent runs, file names, and the schema drift test (STYLE §6).

Tests that need their own migration files use a temporary directory holding a copy of
``0001_create_accounts.sql`` (``migrate`` seeds the ``states`` table it creates) plus small
test-only files.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib.util
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest

from forum.migrate import MIGRATIONS_DIR, MigrationError, load_migrations, migrate

ROOT = Path(__file__).resolve().parent.parent
FIRST = "0001_create_accounts.sql"
WIDGETS = "0002_create_widgets.sql"
WIDGETS_SQL = "CREATE TABLE widgets (id integer PRIMARY KEY, name text NOT NULL);\n"


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_or_empty(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


async def schema_snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    """Tables, columns, constraints and indexes of ``public``: enough to see any change."""
    columns = await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' "
        "ORDER BY table_name, ordinal_position")
    constraints = await conn.fetch(
        "SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def "
        "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = 'public' ORDER BY 1, 2")
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
    return {"columns": [tuple(r) for r in columns],
            "constraints": [tuple(r) for r in constraints],
            "indexes": [tuple(r) for r in indexes]}


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def recorded(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT filename FROM schema_migrations ORDER BY version")
    return [row["filename"] for row in rows]


@pytest.fixture
async def conn(empty_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(empty_database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    shutil.copy(MIGRATIONS_DIR / FIRST, directory / FIRST)
    return directory


async def test_second_run_applies_nothing_and_changes_nothing(conn: asyncpg.Connection) -> None:
    files = [m.filename for m in load_migrations()]
    assert await migrate(conn) == files
    before = await schema_snapshot(conn)
    assert await migrate(conn) == []
    assert await schema_snapshot(conn) == before
    assert await recorded(conn) == files


async def test_edited_applied_file_is_refused(conn: asyncpg.Connection,
                                              migrations_dir: Path) -> None:
    (migrations_dir / WIDGETS).write_text(WIDGETS_SQL)
    assert await migrate(conn, load_migrations(migrations_dir)) == [FIRST, WIDGETS]

    (migrations_dir / WIDGETS).write_text(WIDGETS_SQL + "-- a harmless-looking edit\n")
    with pytest.raises(MigrationError, match=re.escape(WIDGETS)) as caught:
        await migrate(conn, load_migrations(migrations_dir))
    assert "changed after it was applied" in str(caught.value)
    assert await recorded(conn) == [FIRST, WIDGETS]


async def test_applied_version_without_file_is_refused(conn: asyncpg.Connection,
                                                       migrations_dir: Path) -> None:
    (migrations_dir / WIDGETS).write_text(WIDGETS_SQL)
    await migrate(conn, load_migrations(migrations_dir))

    (migrations_dir / WIDGETS).unlink()
    with pytest.raises(MigrationError, match=re.escape(WIDGETS)) as caught:
        await migrate(conn, load_migrations(migrations_dir))
    assert "no such file exists" in str(caught.value)


async def test_failing_migration_leaves_schema_untouched(conn: asyncpg.Connection,
                                                         migrations_dir: Path) -> None:
    await migrate(conn, load_migrations(migrations_dir))
    before = await schema_snapshot(conn)
    # Valid DDL first, then an error: the whole file must roll back.
    (migrations_dir / "0002_create_broken.sql").write_text(
        "CREATE TABLE half_done (id integer PRIMARY KEY);\n"
        "ALTER TABLE users ADD COLUMN nickname text;\n"
        "CREATE TABLE broken (id integer PRIMARY KEY,, oops);\n")

    with pytest.raises(MigrationError, match=r"0002_create_broken\.sql"):
        await migrate(conn, load_migrations(migrations_dir))

    assert "half_done" not in await tables(conn)
    assert await schema_snapshot(conn) == before
    assert await recorded(conn) == [FIRST]
    # The advisory lock was released: a fixed file applies on the next run.
    (migrations_dir / "0002_create_broken.sql").write_text(WIDGETS_SQL)
    assert await migrate(conn, load_migrations(migrations_dir)) == ["0002_create_broken.sql"]


@pytest.mark.multiconn
async def test_concurrent_runs_apply_each_file_once(empty_database_url: str) -> None:
    first, second = (await asyncpg.connect(empty_database_url),
                     await asyncpg.connect(empty_database_url))
    try:
        results = await asyncio.gather(migrate(first), migrate(second))
        files = [m.filename for m in load_migrations()]
        assert sorted(results, key=len) == [[], files]
        assert await recorded(first) == files
        assert await migrate(first) == []
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("name", [
    "1_create_things.sql",          # version not four digits
    "0002-create-things.sql",       # dashes
    "0002_Create_Things.sql",       # upper case
    "0002_create things.sql",       # space
    "create_things.sql",            # no version
])
def test_badly_named_file_is_refused(migrations_dir: Path, name: str) -> None:
    (migrations_dir / name).write_text(WIDGETS_SQL)
    with pytest.raises(MigrationError, match=re.escape(name)):
        load_migrations(migrations_dir)


def test_duplicate_version_is_refused(migrations_dir: Path) -> None:
    (migrations_dir / "0001_create_widgets.sql").write_text(WIDGETS_SQL)
    with pytest.raises(MigrationError, match="share version 0001"):
        load_migrations(migrations_dir)


def test_schema_snapshot_is_not_a_migration() -> None:
    assert "schema.sql" not in [m.filename for m in load_migrations()]


async def test_schema_snapshot_matches_migrations(conn: asyncpg.Connection,
                                                  empty_database_url: str) -> None:
    """Drift test (Procrastinate): migrating from nothing gives exactly migrations/schema.sql."""
    dump_schema = _load_script("dump_schema")
    await migrate(conn)
    actual: str = await asyncio.to_thread(dump_schema.dump_schema, empty_database_url)
    expected = await asyncio.to_thread(_read_or_empty, dump_schema.SCHEMA_FILE)
    if actual != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile="migrations/schema.sql", tofile="schema after migrating from nothing"))
        pytest.fail("migrations/schema.sql is out of date with the migrations.\n"
                    "Regenerate it with `.venv/bin/python scripts/dump_schema.py`, review the "
                    "diff and commit it with the migration.\n\n" + diff, pytrace=False)
