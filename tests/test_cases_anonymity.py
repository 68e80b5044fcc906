"""The moderator-as-adversary test (issue 5, "Done when"; DESIGN §5; MISSION promise 2).

Delegate D of State S (a distinctive email, display name, State and client address) signs in,
submits a case, follows it up with the receipt, and batches are released; moderators review
and publish it. Then nothing may link the case to D:

* every table is snapshot as text (all columns, every row, ``SELECT t::text``) before and after
  each step; no row that D's requests, the batch releases or the moderators' work added or
  changed holds D's user id, email, display name, session id or token hash, API token id or
  hash, client address or State (code or names) — as text or hex-encoded in a ``bytea``;
* D's own ``sessions`` and ``api_tokens`` rows are byte-identical before and after (the
  ``last_seen_at``/``last_used_at`` columns are backdated first, so a touch *would* show);
* D's requests add no ``audit_log`` row and touch only the case tables; every ``timestamptz``
  they write is a date's midnight UTC; a batch release writes only its own release time (and
  one ``cases.release`` audit entry with counts);
* no log record emitted meanwhile (caplog at DEBUG) names D;
* no API response or page a moderator, an administrator or a room member gets about the case
  names D — except, when D chose "attributed", the State and only the State.

A second test plants D's identifiers in a row and checks that the scanner finds them, so the
first test cannot pass by looking at nothing.

The app runs with ``access_log=None`` as ``forum/server.py`` does in production (aiohttp's
access log is off there: it would record every client address with the exact time).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from forum import db, keys
from forum.app import create_app
from forum.cases.service import new_form_token
from forum.settings import Settings
from moderation.queue import service as queue
from tests import conftest
from tests.factories import TestUser, make_user, sign_in

STATE = "NOR"
EMAIL = "ingrid.zephyrsdottir@mfa-oslo.example"
NAME = "Ingrid Zephyrsdottir"
ADDRESS = "203.0.113.77"  # TEST-NET-3, via X-Forwarded-For on a DIEF_TRUST_PROXY app
CASE_TABLES = {"cases", "case_index", "data_keys", "case_messages", "review_items",
               "review_history"}


# --- snapshots of the whole database ---------------------------------------------------------

@dataclass
class Snapshot:
    text: dict[str, dict[Any, str]]  # table -> row key -> the row as text
    rows: dict[str, dict[Any, asyncpg.Record]]


@dataclass
class Change:
    table: str
    before: asyncpg.Record | None  # None: the row was added
    after: asyncpg.Record | None  # None: the row was deleted
    text: str

    def written_times(self) -> list[tuple[str, dt.datetime]]:
        """The timestamptz values this change wrote (new rows: all; changed rows: those that
        differ from before)."""
        if self.after is None:
            return []
        return [(f"{self.table}.{name}", value) for name, value in self.after.items()
                if isinstance(value, dt.datetime) and name != "__row__"
                and (self.before is None or self.before[name] != value)]


async def snapshot(conn: asyncpg.Connection) -> Snapshot:
    tables = [r["table_name"] for r in await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' ORDER BY table_name")]
    pks = {r["table"]: list(r["cols"]) for r in await conn.fetch(
        "SELECT c.relname AS table, array_agg(a.attname::text ORDER BY a.attnum) AS cols "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indisprimary AND n.nspname = 'public' GROUP BY c.relname")}
    snap = Snapshot({}, {})
    for table in tables:
        texts: dict[Any, str] = {}
        rows: dict[Any, asyncpg.Record] = {}
        seen: dict[str, int] = {}
        for row in await conn.fetch(f'SELECT t::text AS "__row__", t.* FROM public."{table}" t'):
            text = row["__row__"]
            if table in pks:
                key: Any = tuple(str(row[c]) for c in pks[table])
            else:  # no primary key: the row itself (and how many times it occurs)
                seen[text] = seen.get(text, 0) + 1
                key = (text, seen[text])
            texts[key] = text
            rows[key] = row
        snap.text[table] = texts
        snap.rows[table] = rows
    return snap


def diff(before: Snapshot, after: Snapshot) -> list[Change]:
    changes = []
    for table in sorted(set(before.text) | set(after.text)):
        old = before.text.get(table, {})
        new = after.text.get(table, {})
        for key, text in new.items():
            if old.get(key) != text:
                changes.append(Change(table, before.rows.get(table, {}).get(key),
                                      after.rows[table][key], text))
        for key, text in old.items():
            if key not in new:
                changes.append(Change(table, before.rows[table][key], None, text))
    return changes


# --- what would name D -------------------------------------------------------------------------

@dataclass
class Needle:
    label: str
    value: str
    case_sensitive: bool = False

    def found_in(self, text: str) -> bool:
        return self.value in text if self.case_sensitive else self.value.lower() in text.lower()


def needles_for(identities: dict[str, str], *, hexed: Iterable[str] = (),
                case_sensitive: Iterable[str] = ()) -> list[Needle]:
    """Each identity as text; those in ``hexed`` also as the hex of their bytes (how a
    ``bytea`` holding them would read as text)."""
    result = []
    for label, value in identities.items():
        result.append(Needle(label, value, label in set(case_sensitive)))
        if label in set(hexed):
            result.append(Needle(label + " (hex)", value.encode().hex()))
    return result


def leaks(text: str, needles: Iterable[Needle]) -> list[str]:
    return [n.label for n in needles if n.found_in(text)]


def changes_leaking(changes: Iterable[Change], needles: list[Needle]) -> list[str]:
    return [f"{c.table}: {leaks(c.text, needles)} in {c.text[:300]}"
            for c in changes if leaks(c.text, needles)]


def is_midnight(value: dt.datetime) -> bool:
    return value.astimezone(dt.UTC).time() == dt.time(0)


def times_of_day(changes: Iterable[Change], *, allowed: Iterable[dt.datetime] = ()) -> list[str]:
    allowed_set = set(allowed)
    return [f"{name} = {value.isoformat()}" for c in changes
            for name, value in c.written_times()
            if not is_midnight(value) and value not in allowed_set]


# --- the actors --------------------------------------------------------------------------------

@dataclass
class Source:
    """D: the delegate who submits the case, and everything that identifies them."""

    user: TestUser
    csrf: str
    token: str
    identities: dict[str, str] = field(default_factory=dict)
    state_identities: dict[str, str] = field(default_factory=dict)

    def needles(self, *, with_state: bool = True) -> list[Needle]:
        ids = dict(self.identities)
        if with_state:
            ids.update(self.state_identities)
        return needles_for(ids, hexed=("user id", "email", "display name", "session id",
                                       "api token id", "client address"),
                           case_sensitive=("State code",))

    def cookie(self, **extra: str) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf, "X-Forwarded-For": ADDRESS, **extra}

    def bearer(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Forwarded-For": ADDRESS, **extra}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def start_app(aiohttp_client: Any, database_url: str, tmp_path: Path,
                    **environ: str) -> TestClient:
    settings = Settings.from_env(conftest.test_environ(tmp_path, **environ))
    # As in forum/server.py: no aiohttp access log (client address and exact time per request).
    server = TestServer(create_app(settings, database_url=database_url))
    await server.start_server(access_log=None)
    client: TestClient = await aiohttp_client(server)
    return client


async def token_for(client: TestClient, user: TestUser) -> str:
    """Sign in, create a personal access token, sign out of the cookie jar."""
    csrf = await sign_in(client, user)
    r = await client.post("/api/v1/tokens", json={"name": "tests"},
                          headers={"X-CSRF-Token": csrf})
    assert r.status == 201, await r.text()
    client.session.cookie_jar.clear()
    return str((await r.json())["token"])


async def make_source(client: TestClient) -> Source:
    pool = client.app[keys.POOL]
    user = await make_user(client, role="delegate", state=STATE, email=EMAIL, name=NAME)
    r = await client.post("/api/v1/session", headers={"X-Forwarded-For": ADDRESS}, json={
        "email": user.email, "password": user.password, "totp": user.next_code()})
    assert r.status == 201, await r.text()
    csrf = str((await r.json())["csrf_token"])
    r = await client.post("/api/v1/tokens", json={"name": "my laptop"},
                          headers={"X-CSRF-Token": csrf, "X-Forwarded-For": ADDRESS})
    assert r.status == 201, await r.text()
    token = str((await r.json())["token"])
    async with pool.acquire() as conn:
        session = await conn.fetchrow("SELECT id, token_hash FROM sessions WHERE user_id = $1",
                                      user.id)
        api_token = await conn.fetchrow(
            "SELECT id, token_hash FROM api_tokens WHERE user_id = $1", user.id)
        state = await conn.fetchrow("SELECT name_en, name_fr, name_es FROM states "
                                    "WHERE iso3 = $1", STATE)
        # Backdate D's last activity beyond the touch interval: a request that touched the
        # session or the token would now change the row.
        await conn.execute("UPDATE sessions SET last_seen_at = now() - interval '10 minutes' "
                           "WHERE user_id = $1", user.id)
        await conn.execute("UPDATE api_tokens SET last_used_at = now() - interval '10 minutes' "
                           "WHERE user_id = $1", user.id)
    assert session is not None and api_token is not None and state is not None
    return Source(user, csrf, token, identities={
        "user id": str(user.id), "user id (no dashes)": user.id.hex,
        "email": EMAIL, "display name": NAME,
        "session id": str(session["id"]), "session id (no dashes)": session["id"].hex,
        "session token hash": bytes(session["token_hash"]).hex(),
        "api token id": str(api_token["id"]),
        "api token hash": bytes(api_token["token_hash"]).hex(),
        "client address": ADDRESS,
    }, state_identities={"State code": STATE, "State name (en)": state["name_en"],
                         "State name (fr)": state["name_fr"],
                         "State name (es)": state["name_es"]})


async def release(client: TestClient) -> queue.ReleaseResult:
    async with db.transaction(client.app[keys.POOL]) as conn:
        return await queue.release_batch(conn, client.app[keys.KEYRING])


CASE = {
    "narrative": "Rifles declared for a police unit were found with an armed group.",
    "transfer_stage": "post_delivery_storage", "detection_status": "detected",
    "item_categories": ["small_arms_light_weapons", "ammunition"],
    "diversion_methods": ["unauthorised_retransfer", "false_documentation"],
    "actor_types": ["broker"], "red_flags": ["abnormal_route"],
    "detection_channel": "tracing", "response_measures": ["alert_states"],
    "sharing_scope": "dief_plenary", "language": "en", "region": "western_european_others",
    "period": "2024-Q4", "quantity_band": "101_1000", "transport_mode": "sea",
    "states_involved": "Exporter: X; importer: Y", "named_entities": "Acme Brokers Ltd; MV Example",
    "document_refs": "EUC 2023/14-B", "dates_places": "12 March, port of Z",
    "investigation_status": "Open", "item_model": "AK-pattern, 7.62x39",
    "submitter_lessons": "Check re-export clauses.",
}


# --- the test ----------------------------------------------------------------------------------

class Recorder:
    """Snapshots around each step, with the rules for who may write what."""

    def __init__(self, client: TestClient, source: Source, caplog: pytest.LogCaptureFixture,
                 *, attributed: bool) -> None:
        self.client = client
        self.pool = client.app[keys.POOL]
        self.source = source
        self.caplog = caplog
        self.needles = source.needles(with_state=not attributed)
        self.changes: list[Change] = []
        self.first: Snapshot | None = None
        self.last: Snapshot | None = None

    async def snap(self) -> Snapshot:
        async with self.pool.acquire() as conn:
            snap = await snapshot(conn)
        if self.first is None:
            self.first = snap
        self.last = snap
        return snap

    async def source_step(self, requests: Any, *, tables: set[str] = CASE_TABLES) -> Any:
        """D's requests: only case tables change, only midnights are written, no audit entry,
        no log record names D."""
        before = self.last or await self.snap()
        records = len(self.caplog.records)
        result = await requests()
        after = await self.snap()
        changes = diff(before, after)
        self.changes += changes
        assert {c.table for c in changes} <= tables, [c.text[:200] for c in changes]
        assert all(c.after is not None for c in changes), "a source's request deleted a row"
        assert not times_of_day(changes), times_of_day(changes)
        self.check_logs(records)
        return result

    def check_logs(self, since: int) -> None:
        for record in self.caplog.records[since:]:
            assert record.name != "aiohttp.access"
            shown = logging.Formatter().format(record) + " " + repr(vars(record))
            assert not leaks(shown, self.needles), shown

    async def mistyped_receipt_step(self, requests: Any, case_id: str) -> None:
        """A wrong receipt adds one throttle row: an HMAC of the client address (never the
        address) and nothing that points at a case. Its failed_at keeps the time of day:
        the hour-long throttle window needs it (a residual risk, see the report)."""
        before = self.last or await self.snap()
        records = len(self.caplog.records)
        await requests()
        changes = diff(before, await self.snap())
        self.changes += changes
        assert [c.table for c in changes] == ["receipt_failures"]
        assert changes[0].before is None and case_id not in changes[0].text
        assert not changes_leaking(changes, self.needles)
        self.check_logs(records)

    async def release_step(self) -> queue.ReleaseResult:
        before = self.last or await self.snap()
        result = await release(self.client)
        after = await self.snap()
        changes = diff(before, after)
        self.changes += changes
        audits = [c for c in changes if c.table == "audit_log"]
        assert len(audits) <= 1
        for entry in audits:
            assert entry.before is None and entry.after is not None
            assert entry.after["action"] == "cases.release"
            assert entry.after["actor_id"] is None and entry.after["target_id"] == ""
            details = entry.after["details"]
            details = json.loads(details) if isinstance(details, str) else details
            assert set(details) <= {"cases", "answers"}
        others = [c for c in changes if c.table != "audit_log"]
        assert {c.table for c in others} <= CASE_TABLES
        assert not times_of_day(others, allowed=[result.released_at]), times_of_day(
            others, allowed=[result.released_at])
        return result

    async def other_step(self, requests: Any) -> Any:
        before = self.last or await self.snap()
        result = await requests()
        self.changes += diff(before, await self.snap())
        return result


async def _get_all(client: TestClient, paths: list[str], headers: dict[str, str]) -> list[str]:
    bodies = []
    for path in paths:
        r = await client.get(path, headers=headers)
        bodies.append(f"{path} → {r.status}: {await r.text()}")
    return bodies


@pytest.mark.parametrize("mode", ["anonymous", "attributed", "withdrawn"])
async def test_nothing_ties_the_case_to_its_source(aiohttp_client: Any, database_url: str,
                                                   tmp_path: Path, mode: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = await start_app(aiohttp_client, database_url, tmp_path, DIEF_TRUST_PROXY="true")
    pool = client.app[keys.POOL]
    attributed = mode == "attributed"

    # Setup (before the first snapshot): the Secretariat, a reader, the plenary room.
    mod1 = await make_user(client, role="moderator", name="Moderator One")
    mod2 = await make_user(client, role="moderator", name="Moderator Two")
    admin = await make_user(client, role="admin", name="Administrator")
    reader = await make_user(client, role="delegate", state="FRA", name="Reader")
    h = {"X-CSRF-Token": await sign_in(client, mod1)}
    r = await client.post("/api/v1/rooms", json={"slug": "dief-plenary", "kind": "plenary",
                                                 "name": "DIEF plenary"}, headers=h)
    assert r.status == 201, await r.text()
    for user in (mod1, mod2, admin, reader):
        r = await client.put(f"/api/v1/rooms/dief-plenary/members/{user.id}", headers=h)
        assert r.status == 201, await r.text()
    client.session.cookie_jar.clear()
    m1, m2, adm, rdr = [bearer(await token_for(client, u)) for u in (mod1, mod2, admin, reader)]
    d = await make_source(client)  # D signs in last: the cookie jar holds D's session
    rec = Recorder(client, d, caplog, attributed=attributed)
    first = await rec.snap()
    first_record = len(caplog.records)

    # D submits (cookie), looks the case up (token, receipt in a header), adds information.
    async def submit() -> tuple[str, str]:
        attribution = "attributed" if attributed else "anonymous"
        r = await client.post("/api/v1/cases", headers=d.cookie(),
                              json={**CASE, "attribution": attribution,
                                    "form_token": new_form_token()})
        assert r.status == 201, await r.text()
        body = await r.json()
        r = await client.post("/api/v1/cases/lookup",
                              headers=d.bearer(**{"X-Case-Receipt": body["receipt"]}))
        assert r.status == 200, await r.text()
        assert (await r.json())["status"] == "pending"
        r = await client.post("/api/v1/cases/messages", headers=d.cookie(), json={
            "receipt": body["receipt"], "body": "The rifles had their serials ground off."})
        assert r.status == 201, await r.text()
        # The HTML pages of a source: the form, the follow-up form, a look-up through it.
        for page in ("/cases/new", "/cases/follow-up"):
            r = await client.get(page, headers=d.cookie())
            assert r.status == 200, page
        r = await client.post("/cases/follow-up", headers=d.cookie(),
                              data={"receipt": body["receipt"], "action": "lookup"})
        assert r.status == 200, await r.text()
        return str(body["id"]), str(body["receipt"])

    written = {"cases", "case_index", "data_keys", "case_messages", "case_submissions"}
    case_id, receipt = await rec.source_step(submit, tables=written)
    added = {c.table for c in rec.changes}
    assert added == written

    # D mistypes the receipt once.
    async def mistype() -> None:
        r = await client.post("/api/v1/cases/lookup", headers=d.cookie(),
                              json={"receipt": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"})
        assert r.status == 404 and (await r.json())["code"] == "receipt_unknown"

    await rec.mistyped_receipt_step(mistype, case_id)

    result = await rec.release_step()
    assert result.cases == 1 and result.answers == 1

    # A moderator claims the case and asks a question; D answers with the receipt.
    async def claim_and_ask() -> None:
        r = await client.post("/api/v1/moderation/claim", json={}, headers=m1)
        assert (await r.json())["case_id"] == case_id
        r = await client.post(f"/api/v1/moderation/cases/{case_id}/questions",
                              json={"question": "Which port?"}, headers=m1)
        assert r.status == 200, await r.text()

    await rec.other_step(claim_and_ask)

    async def follow_up() -> None:
        r = await client.post("/api/v1/cases/lookup", headers=d.cookie(),
                              json={"receipt": receipt})
        assert r.status == 200, await r.text()
        assert [m["from"] for m in (await r.json())["messages"]] == ["source", "moderator"]
        if mode == "withdrawn":
            r = await client.post("/api/v1/cases/withdraw", headers=d.bearer(),
                                  json={"receipt": receipt})
            assert r.status == 200, await r.text()
        else:
            r = await client.post("/api/v1/cases/messages", headers=d.bearer(), json={
                "receipt": receipt, "body": "Port of Z, in March."})
            assert r.status == 201, await r.text()

    await rec.source_step(follow_up)
    result = await rec.release_step()
    assert (result.cases, result.answers) == (0, 0 if mode == "withdrawn" else 1)

    thread_id = None
    if mode != "withdrawn":
        async def review_and_publish() -> str:
            r = await client.post("/api/v1/moderation/claim", json={"case_id": case_id},
                                  headers=m1)
            assert r.status == 200, await r.text()
            r = await client.put(f"/api/v1/moderation/cases/{case_id}/redaction", headers=m1,
                                 json={"fields": {"title": "Re-transfer of rifles",
                                                  "narrative": "Rifles were re-transferred.",
                                                  "named_entities": "a broker"}})
            assert r.status == 200, await r.text()
            r = await client.post(f"/api/v1/moderation/cases/{case_id}/approve", headers=m1)
            assert r.status == 200, await r.text()
            r = await client.post(f"/api/v1/moderation/cases/{case_id}/publish", headers=m2,
                                  json={"room": "dief-plenary"})
            assert r.status == 200, await r.text()
            publication = (await r.json())["publication"]
            return str(publication["thread_id"])

        thread_id = await rec.other_step(review_and_publish)

    # 1. No row that any of this wrote or changed names D (the State only if attributed).
    leaked = changes_leaking(rec.changes, rec.needles)
    assert not leaked, leaked
    if attributed:  # the State, and only in the case row's attributed_state
        with_state = d.needles(with_state=True)
        flagged = [c for c in rec.changes if leaks(c.text, with_state)]
        assert flagged and all(c.table == "cases" and c.after is not None
                               and (c.after["attributed_state"] or "").strip() == STATE
                               and leaks(c.text, with_state) == ["State code"]
                               for c in flagged), [c.text for c in flagged]
    # 2. D's session and token rows are byte-identical: never touched by case routes.
    last = rec.last
    assert last is not None
    for table in ("sessions", "api_tokens", "users"):
        mine = {k: v for k, v in first.text[table].items() if str(d.user.id) in v}
        assert mine and all(last.text[table].get(k) == v for k, v in mine.items()), table
    # 3. No audit entry for D's actions: only moderators' actions and the releases.
    audit_rows = [c.after for c in rec.changes if c.table == "audit_log" and c.after]
    assert all(row["actor_id"] != d.user.id for row in audit_rows)
    actions = sorted(row["action"] for row in audit_rows)
    if mode == "withdrawn":  # the second release had nothing to release: no entry
        assert actions == ["case.ask", "case.claim", "cases.release"]
    else:
        assert actions == ["case.approve", "case.ask", "case.claim", "case.claim",
                           "case.publish", "case.redact", "cases.release", "cases.release"]
    # 4. The case row: no State unless attributed, and then exactly S.
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM cases WHERE id = $1", uuid.UUID(case_id))
        assert row is not None
        assert (row["attributed_state"] or "").strip() == (STATE if attributed else "")
        today = dt.datetime.now(dt.UTC).date()
        assert row["submitted_on"] in (today, today - dt.timedelta(days=1))

    # 5. What the Secretariat and readers see about the case.
    paths = ["/api/v1/moderation/queue", "/api/v1/moderation/queue?state=done",
             f"/api/v1/moderation/cases/{case_id}", f"/api/v1/cases/{case_id}",
             "/moderation", f"/moderation/cases/{case_id}", f"/cases/{case_id}"]
    if thread_id:
        paths += [f"/api/v1/threads/{thread_id}", f"/api/v1/threads/{thread_id}/posts",
                  f"/threads/{thread_id}", "/api/v1/rooms/dief-plenary/threads",
                  "/rooms/dief-plenary"]
    seen = {}
    for who, headers in (("moderator", m1), ("second moderator", m2), ("admin", adm),
                         ("reader", rdr)):
        seen[who] = await _get_all(client, paths, headers)
        for body in seen[who]:
            assert not leaks(body, rec.needles), (who, leaks(body, rec.needles), body[:500])
    moderator_view = seen["moderator"][2]
    assert all("→ 200" in seen["moderator"][i] for i in (0, 1, 2, 4, 5)), seen["moderator"]
    if thread_id:
        assert all(" → 200" in body for body in seen["reader"][3:4] + seen["reader"][6:])
    if attributed:
        assert f'"attributed_state": "{STATE}"' in moderator_view
        published = seen["reader"][3]
        assert "→ 200" in published and f'"attributed_state": "{STATE}"' in published
    else:
        assert '"attributed_state": null' in moderator_view
        assert STATE not in "".join(b for bodies in seen.values() for b in bodies)
    # The admin cannot open the moderation view at all.
    assert "→ 403" in seen["admin"][2]

    # 6. No log record since the first snapshot names D (moderators' requests included).
    rec.check_logs(first_record)

    # 7. Sanity: an ordinary request of D *does* touch the session, so (2) could fail.
    r = await client.get("/api/v1/me")
    assert r.status == 200
    async with pool.acquire() as conn:
        after_me = await snapshot(conn)
    assert after_me.text["sessions"] != first.text["sessions"]


async def test_the_scanner_finds_a_planted_identity(client: TestClient) -> None:
    """The checks above are not vacuous: D's email, id and State planted in rows, and a time of
    day written next to them, are all found."""
    pool = client.app[keys.POOL]
    user = await make_user(client, role="delegate", state=STATE, email=EMAIL, name=NAME)
    source = Source(user, "", "", identities={"user id": str(user.id), "email": EMAIL,
                                               "display name": NAME,
                                               "client address": ADDRESS},
                    state_identities={"State code": STATE, "State name (en)": "Norway"})
    async with pool.acquire() as conn:
        before = await snapshot(conn)
        await conn.execute("UPDATE regions SET name_fr = $1 WHERE code = 'african'",
                           "Groupe " + EMAIL.upper())
        await conn.execute("INSERT INTO receipt_failures (key_hash, failed_at) "
                           "VALUES ($1, '2025-03-01 13:37:00+00')", str(user.id).encode())
        await conn.execute("INSERT INTO data_keys (id, scope, wrapped, kek_id, created_at) "
                           "VALUES ($1, $2, $3, 'k', '2025-03-01 00:00:00+00')", uuid.uuid4(),
                           f"case:{uuid.uuid4()}", ("x" + ADDRESS + "x").encode())
        await conn.execute("UPDATE states SET region_code = 'african' WHERE iso3 = 'GHA'")
        await conn.execute("INSERT INTO audit_log (seq, occurred_at, action, details, key_id, "
                           "prev_mac, mac) VALUES (999, now(), 'x', $1, 'k', '', '')",
                           '{"state": "NOR"}')
        after = await snapshot(conn)
    changes = diff(before, after)
    found = changes_leaking(changes, source.needles())
    assert len(found) == 4, found
    for label in ("'email'", "'user id (hex)'", "'client address (hex)'", "'State code'"):
        assert any(label in f for f in found), (label, found)
    assert len(changes_leaking(changes, source.needles(with_state=False))) == 3
    times = times_of_day(changes)
    assert len(times) == 2, times
    assert any(t.startswith("receipt_failures.failed_at") for t in times)
    assert any(t.startswith("audit_log.occurred_at") for t in times)
