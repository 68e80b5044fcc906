"""The lessons pipeline over the API: workshop → takeaways → lesson (with a published case)
→ four-eyes approval with the leak warning → DIEF session agenda → briefing pack."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from forum import db, keys
from moderation.queue import service as queue
from tests.factories import TestUser, make_user, sign_in

BROKER = "Zephyr Arms Brokerage"


async def _as(client: TestClient, user: TestUser) -> dict[str, str]:
    client.session.cookie_jar.clear()
    return {"X-CSRF-Token": await sign_in(client, user)}


async def test_lessons_pipeline(client: TestClient) -> None:
    mod1 = await make_user(client, role="moderator")
    mod2 = await make_user(client, role="moderator")
    mod3 = await make_user(client, role="moderator")
    facilitator = await make_user(client, role="facilitator")
    delegate = await make_user(client, role="delegate", state="GHA", name="Secret Source")

    h = await _as(client, mod1)
    r = await client.post("/api/v1/rooms", json={"slug": "plenary", "kind": "plenary",
                                                 "name": "Plenary"}, headers=h)
    assert r.status == 201
    r = await client.post("/api/v1/workshops", json={
        "slug": "ws-west-africa", "title": "Workshop West Africa", "region": "african",
        "place": "Accra", "starts_on": "2026-05-04", "ends_on": "2026-05-06",
        "officials_trained": 12}, headers=h)
    assert r.status == 201, await r.text()
    workshop = await r.json()
    r = await client.put(f"/api/v1/rooms/{workshop['room_slug']}/members/{facilitator.id}",
                         json={"room_role": "facilitator"}, headers=h)
    assert r.status == 201, await r.text()

    h = await _as(client, facilitator)
    takeaways = []
    for kind, body in (("risk", "Stockpiles are rarely audited after delivery."),
                       ("mitigation", "Joint post-shipment checks with the importer."),
                       ("challenge", "Porous borders along the coast.")):
        r = await client.post(f"/api/v1/workshops/{workshop['id']}/takeaways",
                              json={"kind": kind, "body": body, "shareable": True}, headers=h)
        assert r.status == 201, await r.text()
        takeaways.append((await r.json())["id"])

    h = await _as(client, delegate)
    r = await client.post("/api/v1/cases", json={
        "narrative": "Rifles re-transferred.", "transfer_stage": "post_delivery_storage",
        "named_entities": BROKER, "sharing_scope": "dief_plenary"}, headers=h)
    assert r.status == 201
    async with db.transaction(client.app[keys.POOL]) as conn:
        await queue.release_batch(conn, client.app[keys.KEYRING])
    h = await _as(client, mod1)
    case_id = (await (await client.post("/api/v1/moderation/claim", json={},
                                        headers=h)).json())["case_id"]
    await client.put(f"/api/v1/moderation/cases/{case_id}/redaction", json={"fields": {
        "title": "Rifles re-transferred after delivery",
        "narrative": "Rifles were re-transferred by a broker."}}, headers=h)
    await client.post(f"/api/v1/moderation/cases/{case_id}/approve", headers=h)
    h = await _as(client, mod2)
    r = await client.post(f"/api/v1/moderation/cases/{case_id}/publish",
                          json={"room": "plenary"}, headers=h)
    assert r.status == 200, await r.text()

    h = await _as(client, mod1)
    r = await client.post("/api/v1/lessons", json={
        "title": "Audit stockpiles after delivery",
        "summary": f"Post-delivery checks would have caught {BROKER.upper()}'s re-transfer.",
        "mitigation": "Joint post-shipment checks.", "region": "african",
        "tags": ["stockpile_theft_loss"], "takeaways": takeaways[:2], "cases": [case_id]},
        headers=h)
    assert r.status == 201, await r.text()
    lesson = await r.json()
    assert [w["field"] for w in lesson["warnings"]] == ["named_entities"]
    r = await client.post(f"/api/v1/lessons/{lesson['id']}/approve", headers=h)
    assert r.status == 409  # four eyes
    h = await _as(client, mod2)
    r = await client.post(f"/api/v1/lessons/{lesson['id']}/approve", headers=h)
    assert r.status == 409 and (await r.json())["code"] == "leak_warning"
    r = await client.put(f"/api/v1/lessons/{lesson['id']}", json={
        "title": "Audit stockpiles after delivery",
        "summary": "Post-delivery checks would have caught a broker's re-transfer.",
        "mitigation": "Joint post-shipment checks.", "region": "african",
        "tags": ["stockpile_theft_loss"], "takeaways": takeaways[:2], "cases": [case_id]},
        headers=h)
    assert r.status == 200 and (await r.json())["warnings"] == []
    r = await client.post(f"/api/v1/lessons/{lesson['id']}/approve", headers=h)
    assert r.status == 409  # four eyes: the last editor does not approve either
    h = await _as(client, mod3)
    r = await client.post(f"/api/v1/lessons/{lesson['id']}/approve", headers=h)
    assert r.status == 200, await r.text()

    r = await client.post("/api/v1/dief-sessions", json={"title": "DIEF, spring session",
                                                        "held_on": "2026-03-18"}, headers=h)
    session_id = (await r.json())["id"]
    for body in ({"lesson": lesson["id"], "notes": "Five minutes."}, {"case": case_id}):
        r = await client.post(f"/api/v1/dief-sessions/{session_id}/agenda", json=body,
                              headers=h)
        assert r.status == 201, await r.text()
    r = await client.get(f"/api/v1/dief-sessions/{session_id}/briefing?format=md")
    assert r.status == 200
    markdown = await r.text()
    assert "Audit stockpiles after delivery" in markdown
    assert "Rifles were re-transferred by a broker." in markdown
    for secret in (BROKER, "Secret Source", delegate.email, str(delegate.id)):
        assert secret.lower() not in markdown.lower()
    r = await client.get(f"/api/v1/dief-sessions/{session_id}/briefing?format=html")
    assert r.status == 200 and BROKER not in await r.text()
    r = await client.post(f"/api/v1/dief-sessions/{session_id}/held", headers=h)
    assert r.status == 200
    r = await client.get("/api/v1/indicators")
    data = await r.json()
    assert (data["workshops"], data["officials_trained"], data["cases_published"],
            data["lessons_presented"]) == (1, 12, 1, 1)
    r = await client.get("/api/v1/audit?action=lesson")
    body = await r.json()
    assert body["verify"]["ok"] is True
    assert {e["action"] for e in body["entries"]} >= {"lesson.create", "lesson.approve"}
