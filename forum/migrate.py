"""Forward-only SQL migrations, applied in order under an advisory lock.

Files are ``migrations/NNNN_verb_object.sql``. ``schema_migrations`` records each applied file's
version, name and SHA-256. A run:

1. takes ``pg_advisory_lock`` (so concurrent runs from several instances queue up, and the
   second finds nothing left to do);
2. refuses to go on if an applied file's checksum changed, or if the database knows a version
   that no file provides (a newer release ran here): editing a merged migration is an error,
   never a silent skip;
3. applies each pending file in its own transaction with ``lock_timeout`` and
   ``statement_timeout`` set, recording it in the same transaction — a failing file leaves the
   schema exactly as it was;
4. seeds reference data (idempotent).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
ADVISORY_LOCK_KEY = 0x0D1EF_0001  # arbitrary, constant: "DIEF migrations"
LOCK_TIMEOUT = "4s"
# STYLE §6 defaults. A file that legitimately needs longer (a large backfill) says so itself
# with its own `SET LOCAL statement_timeout = ...` as its first statement.
STATEMENT_TIMEOUT = "5s"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    """The database and the migration files disagree; the message says how."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            if path.name == "schema.sql":
                continue
            raise MigrationError(f"{path.name}: migration files are named NNNN_verb_object.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    seen: dict[int, str] = {}
    for migration in found:
        if migration.version in seen:
            raise MigrationError(f"{seen[migration.version]} and {migration.filename} share "
                                 f"version {migration.version:04d}")
        seen[migration.version] = migration.filename
    return found


async def _ensure_table(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            filename   text NOT NULL,
            sha256     text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


async def _applied(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, filename, sha256 FROM schema_migrations")
    return {row["version"]: (row["filename"], row["sha256"]) for row in rows}


def _check(applied: dict[int, tuple[str, str]], migrations: list[Migration]) -> list[Migration]:
    """Raise on drift; return the pending migrations in order."""
    by_version = {m.version: m for m in migrations}
    for version, (filename, digest) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {filename} applied but no such file exists "
                "(is this an older release than the database?)")
        if migration.sha256 != digest:
            raise MigrationError(
                f"{migration.filename} was changed after it was applied "
                f"(recorded sha256 {digest[:12]}…, file {migration.sha256[:12]}…); "
                "never edit an applied migration: add a new one")
    return [m for m in migrations if m.version not in applied]


async def pending_migrations(conn: asyncpg.Connection,
                             migrations: list[Migration] | None = None) -> list[Migration]:
    """Pending files; raises MigrationError if applied files changed or are unknown."""
    return _check(await _applied(conn), migrations if migrations is not None
                  else load_migrations())


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply pending migrations; returns the filenames applied. ``conn`` must be outside a
    transaction (each file gets its own)."""
    from forum.reference import service as refdata  # late import: keeps this module light

    todo = migrations if migrations is not None else load_migrations()
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await _ensure_table(conn)
        pending = _check(await _applied(conn), todo)
        applied: list[str] = []
        for migration in pending:
            log.info("applying migration %s", migration.filename)
            try:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    await conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, filename, sha256) "
                        "VALUES ($1, $2, $3)",
                        migration.version, migration.filename, migration.sha256)
            except asyncpg.PostgresError as exc:
                # Rolled back: the schema is as it was before this file.
                raise MigrationError(
                    f"{migration.filename} failed and was rolled back "
                    f"({type(exc).__name__}: {exc}); applied before it: "
                    f"{', '.join(applied) or 'nothing'}") from exc
            applied.append(migration.filename)
        async with conn.transaction():
            await refdata.seed(conn)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
