"""A case from submission to publication over the API, and the source's follow-up."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from forum import db, keys
from moderation.queue import service as queue
from tests.factories import make_user, sign_in


async def _release(client: TestClient) -> None:
    async with db.transaction(client.app[keys.POOL]) as conn:
        await queue.release_batch(conn, client.app[keys.KEYRING])


async def test_case_from_submission_to_publication(client: TestClient) -> None:
    delegate = await make_user(client, role="delegate", state="GHA")
    mod1 = await make_user(client, role="moderator")
    mod2 = await make_user(client, role="moderator")
    reader = await make_user(client, role="delegate", state="FRA")

    h = {"X-CSRF-Token": await sign_in(client, mod1)}
    r = await client.post("/api/v1/rooms", json={"slug": "dief-plenary", "kind": "plenary",
                                                 "name": "DIEF plenary"}, headers=h)
    assert r.status == 201
    for user in (mod1, mod2, reader):
        r = await client.put(f"/api/v1/rooms/dief-plenary/members/{user.id}", headers=h)
        assert r.status == 201

    client.session.cookie_jar.clear()
    h = {"X-CSRF-Token": await sign_in(client, delegate)}
    r = await client.post("/api/v1/cases", json={
        "narrative": "Rifles declared for a police unit were found with an armed group.",
        "transfer_stage": "post_delivery_storage", "item_categories": ["small_arms_light_weapons"],
        "diversion_methods": ["unauthorised_retransfer"], "sharing_scope": "dief_plenary",
        "named_entities": "Acme Brokers Ltd; MV Example", "period": "2025-Q2"}, headers=h)
    assert r.status == 201, await r.text()
    receipt = (await r.json())["receipt"]
    r = await client.post("/api/v1/cases/lookup", json={"receipt": receipt.lower()}, headers=h)
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == "pending"
    r = await client.post("/api/v1/cases/lookup", json={"receipt": "A" * 25}, headers=h)
    assert r.status == 404

    client.session.cookie_jar.clear()
    h = {"X-CSRF-Token": await sign_in(client, mod1)}
    r = await client.get("/api/v1/moderation/queue")
    assert (await r.json())["items"] == []  # not released yet
    await _release(client)
    r = await client.post("/api/v1/moderation/claim", json={}, headers=h)
    case_id = (await r.json())["case_id"]
    assert case_id
    r = await client.post(f"/api/v1/moderation/cases/{case_id}/questions",
                          json={"question": "Which year?"}, headers=h)
    assert r.status == 200, await r.text()

    client.session.cookie_jar.clear()
    h = {"X-CSRF-Token": await sign_in(client, delegate)}
    r = await client.post("/api/v1/cases/messages", json={"receipt": receipt,
                                                          "body": "Early 2025."}, headers=h)
    assert r.status == 201, await r.text()

    client.session.cookie_jar.clear()
    h = {"X-CSRF-Token": await sign_in(client, mod1)}
    r = await client.get(f"/api/v1/moderation/cases/{case_id}")
    assert [m["from"] for m in (await r.json())["messages"]] == ["moderator"]
    await _release(client)
    r = await client.get(f"/api/v1/moderation/cases/{case_id}")
    body = await r.json()
    assert [m["from"] for m in body["messages"]] == ["moderator", "source"]
    r = await client.post("/api/v1/moderation/claim", json={"case_id": case_id}, headers=h)
    assert r.status == 200, await r.text()
    r = await client.put(f"/api/v1/moderation/cases/{case_id}/redaction", json={"fields": {
        "title": "Re-transfer of small arms from a police stockpile",
        "narrative": "Rifles declared for a police unit were found with an armed group."}},
        headers=h)
    assert r.status == 200, await r.text()
    r = await client.post(f"/api/v1/moderation/cases/{case_id}/approve", headers=h)
    assert r.status == 200, await r.text()
    r = await client.post(f"/api/v1/moderation/cases/{case_id}/publish",
                          json={"room": "dief-plenary"}, headers=h)
    assert r.status == 409  # four eyes

    client.session.cookie_jar.clear()
    h = {"X-CSRF-Token": await sign_in(client, mod2)}
    r = await client.post(f"/api/v1/moderation/cases/{case_id}/publish",
                          json={"room": "dief-plenary"}, headers=h)
    assert r.status == 200, await r.text()

    client.session.cookie_jar.clear()
    await sign_in(client, reader)
    r = await client.get(f"/api/v1/cases/{case_id}")
    assert r.status == 200, await r.text()
    published = await r.json()
    assert published["content"]["title"].startswith("Re-transfer")
    assert published["region"] is None
    r = await client.get(f"/api/v1/threads/{published['thread_id']}/posts")
    assert r.status == 200
