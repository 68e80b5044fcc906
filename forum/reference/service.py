"""Reference data: the ISO 3166-1 States and the configurable regions.

State names come from maintained sources rather than being typed by hand: the list of
countries from pycountry (ISO 3166-1), and their English, French and Spanish names from the
Unicode CLDR through Babel (pycountry's English name where CLDR has none). ``seed`` runs after
every migration and is idempotent.

ATT status is *not* seeded: no list we can verify ships with the code, so every State starts as
``unknown`` and an administrator records party/signatory status from the Secretariat's records.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import pycountry
from babel import Locale

from forum.errors import NotFoundError, ValidationError
from forum.reference import queries

ATT_STATUSES = ("party", "signatory", "other", "unknown")


@dataclass(frozen=True)
class State:
    iso3: str
    iso2: str
    names: dict[str, str]
    att_status: str
    region_code: str | None

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["en"]


def state_rows() -> list[tuple[str, str, str, str, str]]:
    locales = {lang: Locale.parse(lang) for lang in ("en", "fr", "es")}
    rows = []
    for country in pycountry.countries:
        alpha2, alpha3 = country.alpha_2, country.alpha_3
        fallback = getattr(country, "common_name", None) or country.name
        names = [locales[lang].territories.get(alpha2) or fallback for lang in ("en", "fr", "es")]
        rows.append((alpha3, alpha2, names[0], names[1], names[2]))
    return rows


async def seed(conn: asyncpg.Connection) -> None:
    await queries.upsert_states(conn, state_rows())


def _state(row: asyncpg.Record) -> State:
    return State(row["iso3"].strip(), row["iso2"].strip(),
                 {"en": row["name_en"], "fr": row["name_fr"], "es": row["name_es"]},
                 row["att_status"], row["region_code"])


async def list_states(conn: asyncpg.Connection) -> list[State]:
    return [_state(row) for row in await queries.list_states(conn)]


async def get_state(conn: asyncpg.Connection, iso3: str) -> State:
    """The State with this ISO alpha-3 code, or a ValidationError naming the field."""
    code = iso3.strip().upper()
    row = await queries.get_state(conn, code) if len(code) == 3 and code.isalpha() else None
    if row is None:
        raise ValidationError("Unknown State",
                              detail="'%(code)s' is not an ISO 3166-1 alpha-3 code",
                              params={"code": iso3}, field="state")
    return _state(row)


async def set_state_status(conn: asyncpg.Connection, iso3: str, att_status: str,
                           region_code: str | None) -> State:
    if att_status not in ATT_STATUSES:
        raise ValidationError("Unknown ATT status", detail="expected one of %(choices)s",
                              params={"choices": ", ".join(ATT_STATUSES)}, field="att_status")
    if region_code is not None and await queries.get_region(conn, region_code) is None:
        raise ValidationError("Unknown region", field="region")
    state = await get_state(conn, iso3)
    if not await queries.update_state(conn, state.iso3, att_status, region_code):
        raise NotFoundError()
    return await get_state(conn, iso3)


async def list_regions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await queries.list_regions(conn)
