"""The cases API at its edges: bad input, receipts, closed cases, crypto-shredding, race-free
claiming, four-eyes, sharing scopes, region disclosure and cross-case correlation.

Everyone talks to the API with a personal access token (``Authorization: Bearer``), so several
users act in one test without sharing a cookie jar; test_cases_anonymity.py covers cookies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from forum import db, keys
from forum.auth import service as auth
from forum.cases import service as cases
from forum.cases import vocabulary
from forum.rooms import service as rooms
from moderation.queue import queries as queue_queries
from moderation.queue import service as queue
from tests.factories import make_user
from tests.test_cases_anonymity import bearer, release, snapshot, start_app, token_for

NARRATIVE = "Rifles declared for a police unit were found with an armed group."
CASE_TABLES = ("cases", "case_index", "data_keys", "case_messages", "receipt_failures",
               "review_items", "review_history", "audit_log", "case_submissions")


async def headers_for(client: TestClient, role: str = "delegate", state: str | None = None,
                      **kwargs: Any) -> dict[str, str]:
    user = await make_user(client, role=role, state=state, **kwargs)
    return bearer(await token_for(client, user))


async def submit(client: TestClient, h: dict[str, str], **fields: Any) -> ClientResponse:
    body = {"narrative": NARRATIVE, "transfer_stage": "in_transit", **fields}
    return await client.post("/api/v1/cases", json=body, headers=h)


async def submitted(client: TestClient, h: dict[str, str], **fields: Any) -> tuple[str, str]:
    r = await submit(client, h, **fields)
    assert r.status == 201, await r.text()
    body = await r.json()
    return str(body["id"]), str(body["receipt"])


async def problem(r: ClientResponse, status: int, code: str | None = None,
                  field: str | None = None) -> dict[str, Any]:
    text = await r.text()
    assert r.status == status, text
    assert r.content_type == "application/problem+json", text
    body: dict[str, Any] = await r.json(content_type=None)
    if code is not None:
        assert body["code"] == code, text
    if field is not None:
        assert body.get("field") == field, text
    return body


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in CASE_TABLES}


async def make_room(client: TestClient, slug: str, kind: str, region: str | None = None,
                    members: tuple[uuid.UUID, ...] = ()) -> None:
    app = client.app
    async with db.transaction(app[keys.POOL]) as conn:
        await rooms.create_room(conn, app[keys.KEYRING], None, slug=slug, kind=kind,
                                name=slug.title(), region=region)
        for user_id in members:
            await rooms.add_member(conn, app[keys.KEYRING], None, slug, user_id)


async def approve(client: TestClient, mod: dict[str, str], case_id: str) -> None:
    """Claim, redact and approve a released case."""
    r = await client.post("/api/v1/moderation/claim", json={"case_id": case_id}, headers=mod)
    assert r.status == 200, await r.text()
    r = await client.put(f"/api/v1/moderation/cases/{case_id}/redaction", headers=mod,
                         json={"fields": {"title": "A diversion case", "narrative": NARRATIVE}})
    assert r.status == 200, await r.text()
    r = await client.post(f"/api/v1/moderation/cases/{case_id}/approve", headers=mod)
    assert r.status == 200, await r.text()


async def publish(client: TestClient, mod: dict[str, str], case_id: str,
                  room: str) -> ClientResponse:
    return await client.post(f"/api/v1/moderation/cases/{case_id}/publish", headers=mod,
                             json={"room": room})


# --- bad input -----------------------------------------------------------------------------------

async def test_every_vocabulary_field_refuses_unknown_codes_and_wrong_types(
        client: TestClient, pool: asyncpg.Pool) -> None:
    h = await headers_for(client)
    for name, choices in vocabulary.SINGLE.items():
        code = next(iter(choices))
        for bad in ("no_such_code", 1, True, ["in_transit"], {"code": code}, [code],
                    code + " ", code.replace("_", "-") + "X"):
            fields = {name: bad}
            await problem(await submit(client, h, **fields), 422, f"{name}_invalid", name)
    for name, choices in vocabulary.MULTI.items():
        good = next(iter(choices))
        for bad in ("no_such_code", ["no_such_code"], [good, "no_such_code"], 1, [1], [[good]],
                    {"code": good}, [None], [good.upper()]):
            await problem(await submit(client, h, **{name: bad}), 422, f"{name}_invalid", name)
    await problem(await submit(client, h, transfer_stage=""), 422, "transfer_stage_missing",
                  "transfer_stage")
    await problem(await submit(client, h, region="atlantis"), 422, "region_invalid", "region")
    await problem(await submit(client, h, region=7), 422, "region_invalid", "region")
    assert (await counts(pool))["cases"] == 0
    # Every code of every list is accepted: a list field takes them all, or a single string.
    everything = {name: list(choices) for name, choices in vocabulary.MULTI.items()}
    await submitted(client, h, **everything)
    await submitted(client, h, item_categories="ammunition")
    for name, choices in vocabulary.SINGLE.items():
        for code in choices:
            if name == "sharing_scope" and code == "own_region":
                await submitted(client, h, sharing_scope=code, region="african")
            else:
                await submitted(client, h, **{name: code})


async def test_every_text_field_enforces_its_limit(aiohttp_client: Any, database_url: str,
                                                  tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path)
    h = await headers_for(client)
    mod = await headers_for(client, role="moderator")
    await problem(await submit(client, h, narrative="x" * 20_001), 422, "narrative_too_long",
                  "narrative")
    await problem(await submit(client, h, narrative=" \n\t "), 422, "narrative_missing")
    await problem(await submit(client, h, narrative=None), 422, "narrative_missing")
    await problem(await submit(client, h, narrative=["text"]), 422, "narrative_invalid")
    others = [n for n in vocabulary.SENSITIVE_FIELDS if n != "narrative"]
    for name in others:
        await problem(await submit(client, h, **{name: "x" * 5_001}), 422, f"{name}_too_long",
                      name)
        await problem(await submit(client, h, **{name: 5}), 422, f"{name}_invalid", name)
    # At the limit (surrounding blanks do not count) every field is accepted.
    case_id, receipt = await submitted(client, h, narrative="  " + "n" * 20_000 + "\n",
                                       **{name: "x" * 5_000 for name in others})
    r = await client.post("/api/v1/cases/messages", headers=h,
                          json={"receipt": receipt, "body": "m" * 10_001})
    await problem(r, 422, "body_too_long", "body")
    r = await client.post("/api/v1/cases/messages", headers=h,
                          json={"receipt": receipt, "body": "   "})
    await problem(r, 422, "body_missing", "body")
    r = await client.post("/api/v1/cases/messages", headers=h,
                          json={"receipt": receipt, "body": "m" * 10_000})
    assert r.status == 201, await r.text()

    second, _ = await submitted(client, h)
    await release(client)
    url = f"/api/v1/moderation/cases/{case_id}"
    for claimed in (case_id, second):
        r = await client.post("/api/v1/moderation/claim", json={"case_id": claimed},
                              headers=mod)
        assert r.status == 200, await r.text()
    await problem(await client.post(url + "/questions", json={"question": "q" * 5_001},
                                    headers=mod), 422, "question_too_long", "question")
    redaction = {"title": "A title", "narrative": "A narrative"}
    for name, limit in (("title", 200), ("narrative", 20_000),
                        *((n, 5_000) for n in others)):
        r = await client.put(url + "/redaction", headers=mod,
                             json={"fields": {**redaction, name: "r" * (limit + 1)}})
        await problem(r, 422, f"{name}_too_long", name)
    await problem(await client.put(url + "/redaction", headers=mod,
                                   json={"fields": {**redaction, "author": "x"}}), 422,
                  "fields_invalid", "fields")
    await problem(await client.put(url + "/redaction", headers=mod,
                                   json={"fields": {"narrative": "no title"}}), 422,
                  "title_missing", "title")
    r = await client.put(url + "/redaction", headers=mod, json={"fields": {
        "title": "t" * 200, "narrative": "r" * 20_000, **{n: "r" * 5_000 for n in others}}})
    assert r.status == 200, await r.text()
    await problem(await client.post(url + "/reject", json={"reason": "z" * 2_001},
                                    headers=mod), 422, "reason_too_long", "reason")
    r = await client.post(url + "/questions", json={"question": "q" * 5_000}, headers=mod)
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == "needs_information"
    r = await client.post(f"/api/v1/moderation/cases/{second}/reject",
                          json={"reason": "z" * 2_000}, headers=mod)
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == "rejected"


@pytest.mark.parametrize("period", ["2025", "2025-Q1", "2025-Q3", "1990", None, ""])
async def test_periods_that_are_accepted(client: TestClient, period: str | None) -> None:
    h = await headers_for(client)
    r = await submit(client, h, period=period)
    assert r.status == 201, await r.text()


async def test_periods_that_are_refused(client: TestClient, pool: asyncpg.Pool) -> None:
    h = await headers_for(client)
    next_year = str(dt.datetime.now(dt.UTC).year + 1)
    for period in ("2025-03-01", "2025-03", "2025-Q5", "2025-q3", "25", "1989", next_year,
                   f"{next_year}-Q1", "2025 ", "２０２５", 2025, ["2025"]):
        await problem(await submit(client, h, period=period), 422, "period_invalid", "period")
    assert (await counts(pool))["cases"] == 0


async def test_own_region_scope_needs_a_region(client: TestClient) -> None:
    h = await headers_for(client)
    await problem(await submit(client, h, sharing_scope="own_region"), 422, "region_required",
                  "region")
    await submitted(client, h, sharing_scope="own_region", region="asia_pacific")


@pytest.mark.parametrize("role", ["moderator", "admin", "facilitator", "observer"])
async def test_only_delegates_submit(client: TestClient, pool: asyncpg.Pool, role: str) -> None:
    h = await headers_for(client, role=role)
    await problem(await submit(client, h), 403, "forbidden")
    assert (await counts(pool))["cases"] == 0


async def test_signed_out_clients_cannot_submit(client: TestClient) -> None:
    await problem(await submit(client, {}), 401, "auth_required")
    r = await client.post("/api/v1/cases/lookup", json={"receipt": "A" * 25})
    await problem(r, 401)


async def test_a_failed_submission_leaves_no_partial_case(client: TestClient,
                                                          pool: asyncpg.Pool) -> None:
    """Invalid input is refused before anything is written; a failure after the case and its
    data key were inserted (here: the blind-index insert, the last write, fails in the database)
    rolls the whole submission back — one transaction."""
    h = await headers_for(client)
    empty = await counts(pool)
    await problem(await submit(client, h, named_entities="Acme", response_measures=["x"]), 422)
    assert await counts(pool) == empty
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE FUNCTION fail_late() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'forced late failure'; END $$; "
            "CREATE TRIGGER fail_late BEFORE INSERT ON case_index "
            "FOR EACH ROW EXECUTE FUNCTION fail_late()")
    token = cases.new_form_token()
    r = await submit(client, h, named_entities="Acme Brokers Ltd", document_refs="EUC 1",
                     form_token=token)
    body = await problem(r, 500)
    assert "forced" not in str(body) and "receipt" not in body
    assert await counts(pool) == empty  # the form token too: the form can be sent again
    async with pool.acquire() as conn:
        await conn.execute("DROP TRIGGER fail_late ON case_index")
    await submitted(client, h, named_entities="Acme Brokers Ltd", document_refs="EUC 1",
                    form_token=token)
    after = await counts(pool)
    assert (after["cases"], after["data_keys"] - empty["data_keys"], after["case_index"],
            after["case_submissions"]) == (1, 1, 2, 1)


async def test_the_same_form_token_shares_a_case_once(client: TestClient,
                                                      pool: asyncpg.Pool) -> None:
    """A client's retry (or a reloaded receipt page) with the form token of a case already
    received is refused; a refused or invalid submission does not use the token up; sent
    twice at once, exactly one succeeds. Without a token, nothing is deduplicated."""
    h = await headers_for(client)
    token = cases.new_form_token()
    assert cases.FORM_TOKEN.fullmatch(token) and token != cases.new_form_token()
    for bad in ("short", "x" * 101, "has spaces in it here", "ünïcödé-tökén-0123456", 42, ["a"]):
        await problem(await submit(client, h, form_token=bad), 422, "form_token_invalid",
                      "form_token")
    await problem(await submit(client, h, form_token=token, transfer_stage="nowhere"), 422)
    await submitted(client, h, form_token=token)
    await problem(await submit(client, h, form_token=token), 409, "case_already_submitted")
    # The same token from another delegate is the same form: refused too.
    await problem(await submit(client, await headers_for(client), form_token=token), 409)

    racing = cases.new_form_token()
    answers = await asyncio.gather(*(submit(client, h, form_token=racing) for _ in range(4)))
    assert sorted(r.status for r in answers) == [201, 409, 409, 409]
    await submitted(client, h)
    await submitted(client, h)
    after = await counts(pool)
    assert (after["cases"], after["case_submissions"]) == (4, 2)
    async with pool.acquire() as conn:
        stored = await conn.fetch("SELECT token_hash, submitted_on FROM case_submissions")
    assert {row["submitted_on"] for row in stored} == {cases.today()}
    assert all(token.encode() not in bytes(row["token_hash"]) for row in stored)


# --- receipts -----------------------------------------------------------------------------------

async def test_receipts_travel_in_the_body_or_a_header_never_in_the_url(
        client: TestClient) -> None:
    h = await headers_for(client)
    case_id, receipt = await submitted(client, h)
    lookup = "/api/v1/cases/lookup"
    r = await client.post(lookup, headers=h, json={"receipt": receipt})
    assert r.status == 200 and (await r.json())["id"] == case_id
    # Read back leniently: lower case, no dashes, spaces.
    r = await client.post(lookup, headers=h, json={"receipt": receipt.lower().replace("-", " ")})
    assert r.status == 200, await r.text()
    r = await client.post(lookup, headers={**h, "X-Case-Receipt": receipt})
    assert r.status == 200 and (await r.json())["id"] == case_id
    r = await client.post("/api/v1/cases/messages", headers={**h, "X-Case-Receipt": receipt},
                          json={"body": "More details."})
    assert r.status == 201, await r.text()
    # In the query string it is not even looked at.
    await problem(await client.post(f"{lookup}?receipt={receipt}", headers=h), 422,
                  "receipt_missing", "receipt")
    await problem(await client.post(f"{lookup}?receipt={receipt}", headers=h, json={}), 422,
                  "receipt_missing")
    # (GET is not a lookup: the path reads as a published case's id, which it is not.)
    await problem(await client.get(f"{lookup}?receipt={receipt}", headers=h), 404)
    await problem(await client.post(lookup, headers=h, json={"receipt": "A" * 25}), 404,
                  "receipt_unknown")
    await problem(await client.post(lookup, headers=h,
                                    json={"receipt": "AAAAA-BBBBB-CCCCC-DDDDD-EEEE0"}), 422,
                  "receipt_invalid", "receipt")
    await problem(await client.post(lookup, headers=h, json={"receipt": "short"}), 422,
                  "receipt_invalid")
    await problem(await client.post(lookup, headers=h, json={"receipt": 12345}), 422,
                  "receipt_missing")
    await problem(await client.post(lookup, headers=h, json={"receipt": "A" * 500}), 422)
    for path in ("/api/v1/cases/messages", "/api/v1/cases/withdraw",
                 "/api/v1/cases/destroy-original"):
        await problem(await client.post(path, headers=h,
                                        json={"receipt": "B" * 25, "body": "x"}), 404,
                      "receipt_unknown")


async def test_wrong_receipts_are_throttled_per_client(aiohttp_client: Any, database_url: str,
                                                       tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path, DIEF_TRUST_PROXY="true")
    h = await headers_for(client)
    _, receipt = await submitted(client, h)
    guesser = {**h, "X-Forwarded-For": "198.51.100.1"}
    for _ in range(cases.RECEIPT_FAILURES_PER_HOUR):
        r = await client.post("/api/v1/cases/lookup", headers=guesser,
                              json={"receipt": "C" * 25})
        await problem(r, 404, "receipt_unknown")
    r = await client.post("/api/v1/cases/lookup", headers=guesser, json={"receipt": "C" * 25})
    await problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    # Even the right receipt waits, from that client; another client is not affected.
    r = await client.post("/api/v1/cases/lookup", headers=guesser, json={"receipt": receipt})
    await problem(r, 429)
    r = await client.post("/api/v1/cases/lookup", headers={**h, "X-Forwarded-For": "198.51.100.2"},
                          json={"receipt": receipt})
    assert r.status == 200, await r.text()
    async with client.app[keys.POOL].acquire() as conn:
        rows = await conn.fetch("SELECT t::text AS row FROM receipt_failures t")
    assert len(rows) == cases.RECEIPT_FAILURES_PER_HOUR
    assert not any("198.51.100" in row["row"] or b"198.51.100".hex() in row["row"]
                   for row in rows)


# --- closed cases and crypto-shredding ------------------------------------------------------------

async def test_a_withdrawn_case_takes_nothing_more(client: TestClient) -> None:
    h = await headers_for(client)
    mod = await headers_for(client, role="moderator")
    case_id, receipt = await submitted(client, h)
    r = await client.post("/api/v1/cases/withdraw", headers=h, json={"receipt": receipt})
    assert r.status == 200 and (await r.json())["status"] == "withdrawn"
    await problem(await client.post("/api/v1/cases/messages", headers=h,
                                    json={"receipt": receipt, "body": "Another thing"}), 409,
                  "case_closed")
    await problem(await client.post("/api/v1/cases/withdraw", headers=h,
                                    json={"receipt": receipt}), 409, "case_withdrawn")
    await problem(await client.post("/api/v1/cases/destroy-original", headers=h,
                                    json={"receipt": receipt}), 409, "case_not_published")
    r = await client.post("/api/v1/cases/lookup", headers=h, json={"receipt": receipt})
    assert r.status == 200 and (await r.json())["status"] == "withdrawn"
    # It never reaches the moderators, not even by its id.
    assert (await release(client)).cases == 0
    await problem(await client.get(f"/api/v1/moderation/cases/{case_id}", headers=mod), 404)
    r = await client.get("/api/v1/moderation/queue", headers=mod)
    assert (await r.json())["items"] == []


async def test_destroying_the_original_wording(client: TestClient) -> None:
    member = await make_user(client, role="delegate", state="GHA")
    outsider = await headers_for(client, state="KEN")
    h = await headers_for(client, state="CHL")
    mod, mod2 = (await headers_for(client, role="moderator"),
                 await headers_for(client, role="moderator"))
    await make_room(client, "dief-plenary", "plenary", members=(member.id,))
    reader = bearer(await token_for(client, member))
    case_id, receipt = await submitted(client, h, sharing_scope="dief_plenary",
                                       named_entities="Acme Brokers Ltd")
    r = await client.post("/api/v1/cases/messages", headers=h,
                          json={"receipt": receipt, "body": "Detail"})
    assert r.status == 201
    destroy = "/api/v1/cases/destroy-original"
    await problem(await client.post(destroy, headers=h, json={"receipt": receipt}), 409,
                  "case_not_published")
    await release(client)
    await problem(await client.post(destroy, headers=h, json={"receipt": receipt}), 409,
                  "case_not_published")
    await approve(client, mod, case_id)
    await problem(await client.post(destroy, headers=h, json={"receipt": receipt}), 409,
                  "case_not_published")
    r = await publish(client, mod2, case_id, "dief-plenary")
    assert r.status == 200, await r.text()

    r = await client.post(destroy, headers=h, json={"receipt": receipt})
    assert r.status == 200, await r.text()
    source_view = await r.json()
    assert source_view["original_destroyed"] is True
    assert set(source_view["fields"].values()) == {None}
    assert [m["body"] for m in source_view["messages"]] == [None]
    r = await client.post("/api/v1/cases/lookup", headers=h, json={"receipt": receipt})
    assert (await r.json())["fields"]["narrative"] is None
    r = await client.post(destroy, headers=h, json={"receipt": receipt})  # again: no harm
    assert r.status == 200

    r = await client.get(f"/api/v1/moderation/cases/{case_id}", headers=mod)
    assert r.status == 200, await r.text()
    moderator_view = await r.json()
    assert moderator_view["original_destroyed"] is True
    assert set(moderator_view["fields"].values()) == {None}
    assert moderator_view["redaction"] is None and moderator_view["redaction_diff"] is None
    assert moderator_view["status"] == "published"

    r = await client.get(f"/api/v1/cases/{case_id}", headers=reader)
    assert r.status == 200, await r.text()
    published = await r.json()
    assert published["destroyed"] is False
    assert published["content"]["title"] == "A diversion case"
    assert published["content"]["narrative"] == NARRATIVE
    r = await client.get(f"/api/v1/threads/{published['thread_id']}/posts", headers=reader)
    assert r.status == 200 and NARRATIVE in await r.text()
    await problem(await client.get(f"/api/v1/cases/{case_id}", headers=outsider), 404)


# --- moderation -----------------------------------------------------------------------------------

async def test_claiming_is_race_free(client: TestClient, pool: asyncpg.Pool) -> None:
    h = await headers_for(client)
    tokens = []
    for _ in range(2):
        user = await make_user(client, role="moderator")
        tokens.append(await token_for(client, user))
    first, _ = await submitted(client, h)
    await release(client)

    # Over HTTP, at the same time: one item, two moderators → one gets it, the other nothing.
    answers = await asyncio.gather(*(client.post("/api/v1/moderation/claim", json={},
                                                 headers=bearer(t)) for t in tokens))
    assert [r.status for r in answers] == [200, 200]
    got = [(await r.json())["case_id"] for r in answers]
    assert sorted(got, key=str) == sorted([first, None], key=str), got

    # Two items, two moderators at the same time: each gets a different one.
    second, _ = await submitted(client, h)
    third, _ = await submitted(client, h)
    await release(client)
    answers = await asyncio.gather(*(client.post("/api/v1/moderation/claim", json={},
                                                 headers=bearer(t)) for t in tokens))
    got = [(await r.json())["case_id"] for r in answers]
    assert None in got or sorted(got) == sorted([second, third]), got

    # The primitive, in two transactions held open at once: the second skips the first's item
    # (SKIP LOCKED) instead of waiting for it or taking it too.
    for _ in range(2):
        await submitted(client, h)
    await release(client)
    async with pool.acquire() as a, pool.acquire() as b:
        async with a.transaction(), b.transaction():
            item_a = await queue_queries.claim_next_open(a)
            item_b = await queue_queries.claim_next_open(b)
            assert item_a is not None and item_b is not None
            assert item_a["id"] != item_b["id"]
            again = await queue_queries.claim_next_open(b)  # b's own lock does not stop b
            assert again is None or again["id"] != item_a["id"]
    claimed_a = item_a["case_id"]
    async with pool.acquire() as conn:
        actor = await auth.load_token(conn, tokens[0], touch=False)
    assert actor is not None
    async with db.transaction(pool) as conn:
        assert await queue.claim(conn, client.app[keys.KEYRING], actor, claimed_a) == claimed_a
    # Claiming a given item someone else holds is refused, never waited for.
    r = await client.post("/api/v1/moderation/claim", json={"case_id": str(claimed_a)},
                          headers=bearer(tokens[1]))
    await problem(r, 409, "item_not_open")
    r = await client.post("/api/v1/moderation/claim", json={"case_id": str(uuid.uuid4())},
                          headers=bearer(tokens[1]))
    await problem(r, 404)


@pytest.mark.parametrize("four_eyes", [True, False])
async def test_four_eyes(aiohttp_client: Any, database_url: str, tmp_path: Path,
                         four_eyes: bool) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path,
                             DIEF_FOUR_EYES=str(four_eyes).lower())
    h = await headers_for(client)
    mod, mod2 = (await headers_for(client, role="moderator"),
                 await headers_for(client, role="moderator"))
    await make_room(client, "dief-plenary", "plenary")
    case_id, _ = await submitted(client, h, sharing_scope="dief_plenary")
    await release(client)
    await approve(client, mod, case_id)
    r = await publish(client, mod, case_id, "dief-plenary")
    if four_eyes:
        await problem(r, 409, "four_eyes")
        r = await publish(client, mod2, case_id, "dief-plenary")
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == "published"
    await problem(await publish(client, mod2, case_id, "dief-plenary"), 409,
                  "case_not_approved")


async def test_publication_must_fit_the_sharing_scope(client: TestClient) -> None:
    h = await headers_for(client)
    mod, mod2 = (await headers_for(client, role="moderator"),
                 await headers_for(client, role="moderator"))
    await make_room(client, "dief-plenary", "plenary")
    await make_room(client, "africa", "regional", region="african")
    await make_room(client, "asia", "regional", region="asia_pacific")
    await make_room(client, "wg-transparency", "working_group")
    plenary, _ = await submitted(client, h, sharing_scope="dief_plenary")
    regional, _ = await submitted(client, h, sharing_scope="own_region", region="african")
    group, _ = await submitted(client, h, sharing_scope="working_group")
    secretariat, _ = await submitted(client, h, sharing_scope="secretariat")
    await release(client)
    for case_id in (plenary, regional, group, secretariat):
        await approve(client, mod, case_id)

    for case_id, wrong in ((plenary, "africa"), (plenary, "wg-transparency"),
                           (regional, "asia"), (regional, "dief-plenary"),
                           (group, "dief-plenary"), (group, "africa")):
        await problem(await publish(client, mod2, case_id, wrong), 422, "room_mismatch", "room")
    await problem(await publish(client, mod2, plenary, "no-such-room"), 404)
    await problem(await publish(client, mod2, plenary, ""), 422, "room_missing")
    await problem(await publish(client, mod2, secretariat, "dief-plenary"), 409,
                  "secretariat_only")
    for case_id, room in ((plenary, "dief-plenary"), (regional, "africa"),
                          (group, "wg-transparency")):
        r = await publish(client, mod2, case_id, room)
        assert r.status == 200, await r.text()


async def test_region_is_disclosed_only_with_k_states(aiohttp_client: Any, database_url: str,
                                                     tmp_path: Path) -> None:
    client = await start_app(aiohttp_client, database_url, tmp_path, DIEF_REGION_K="3")
    pool = client.app[keys.POOL]
    async with pool.acquire() as conn:
        await conn.execute("UPDATE states SET region_code = 'african' "
                           "WHERE iso3 IN ('GHA', 'NGA', 'KEN', 'SEN')")
    source = await make_user(client, state="GHA")
    h = bearer(await token_for(client, source))
    same_state = await make_user(client, state="GHA")  # a second delegate: still one State
    mod, mod2 = (await headers_for(client, role="moderator"),
                 await headers_for(client, role="moderator"))
    await make_room(client, "africa", "regional", region="african",
                    members=(source.id, same_state.id))
    reader = bearer(await token_for(client, same_state))
    case_id, _ = await submitted(client, h, sharing_scope="own_region", region="african")
    await release(client)
    await approve(client, mod, case_id)
    assert (await publish(client, mod2, case_id, "africa")).status == 200

    async def shown() -> tuple[Any, Any]:
        r = await client.get(f"/api/v1/cases/{case_id}", headers=reader)
        assert r.status == 200, await r.text()
        published = await r.json()
        assert "region_code" not in published["content"]
        r = await client.get(f"/api/v1/moderation/cases/{case_id}", headers=mod)
        return published["region"], (await r.json())["region_disclosed"]

    assert await shown() == (None, None)
    nga = await make_user(client, state="NGA")
    assert await shown() == (None, None)
    await make_user(client, role="observer", state="SEN")  # not a delegate: does not count
    await make_user(client, state="FRA")  # another region: does not count
    assert await shown() == (None, None)
    await make_user(client, state="KEN")
    assert await shown() == ("african", "african")
    async with pool.acquire() as conn:  # a disabled account does not count
        await conn.execute("UPDATE users SET disabled_at = now() WHERE id = $1", nga.id)
    assert await shown() == (None, None)


async def test_cases_naming_the_same_broker_are_linked_without_storing_the_name(
        client: TestClient, pool: asyncpg.Pool) -> None:
    h = await headers_for(client)
    mod = await headers_for(client, role="moderator")
    first, _ = await submitted(client, h, named_entities="ACME  Brokers ltd\nMV Northern Star",
                               document_refs="EUC 2023/14-B")
    other, _ = await submitted(client, h, named_entities="Zenith Arms")
    await release(client)
    # A case still waiting for the batch must not show up: that would tell its arrival time.
    second, _ = await submitted(client, h, named_entities="Someone; acme brokers LTD ",
                                document_refs="euc2023 14b")

    async def correlations(case_id: str) -> list[dict[str, Any]]:
        r = await client.get(f"/api/v1/moderation/cases/{case_id}", headers=mod)
        assert r.status == 200, await r.text()
        return list((await r.json())["correlations"])

    assert await correlations(first) == []
    await problem(await client.get(f"/api/v1/moderation/cases/{second}", headers=mod), 404)
    await release(client)
    assert sorted((c["case_id"], c["field"], c["shared"]) for c in await correlations(first)) \
        == sorted([(second, "named_entities", 1), (second, "document_refs", 1)])
    assert {c["case_id"] for c in await correlations(second)} == {first}
    assert await correlations(other) == []

    async with pool.acquire() as conn:
        snap = await snapshot(conn)
    everything = "\n".join(t for rows in snap.text.values() for t in rows.values()).lower()
    for name in ("acme", "brokers", "northern star", "zenith", "euc 2023", "14-b"):
        assert name not in everything, name
        for variant in {name, name.upper(), name.title()}:
            assert variant.encode().hex() not in everything, variant
