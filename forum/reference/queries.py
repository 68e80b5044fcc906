"""SQL for reference data: regions and States."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


async def upsert_states(conn: asyncpg.Connection,
                        rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    """Insert missing States and refresh their names; never touches ATT status or region."""
    await conn.executemany(
        """
        INSERT INTO states (iso3, iso2, name_en, name_fr, name_es) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (iso3) DO UPDATE
           SET name_en = EXCLUDED.name_en, name_fr = EXCLUDED.name_fr, name_es = EXCLUDED.name_es
         WHERE (states.name_en, states.name_fr, states.name_es)
               IS DISTINCT FROM (EXCLUDED.name_en, EXCLUDED.name_fr, EXCLUDED.name_es)
        """,
        rows,
    )


async def list_states(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT iso3, iso2, name_en, name_fr, name_es, att_status, region_code FROM states "
        "ORDER BY name_en")


async def get_state(conn: asyncpg.Connection, iso3: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT iso3, iso2, name_en, name_fr, name_es, att_status, region_code FROM states "
        "WHERE iso3 = $1", iso3)


async def update_state(conn: asyncpg.Connection, iso3: str, att_status: str,
                       region_code: str | None) -> bool:
    result = await conn.execute(
        "UPDATE states SET att_status = $2, region_code = $3, updated_at = now() WHERE iso3 = $1",
        iso3, att_status, region_code)
    return bool(result == "UPDATE 1")


async def list_regions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, name_en, name_fr, name_es FROM regions ORDER BY position, code")


async def get_region(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT code, name_en, name_fr, name_es FROM regions WHERE code = $1", code)
