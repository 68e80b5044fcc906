"""The access walk for ``{case}`` routes (companion of test_rooms_access.py).

* A published case is read through its publication room: every route naming ``{case}``
  outside ``/moderation`` answers a non-member of that room exactly as for a random id (404),
  and a member with 2xx.
* Moderation routes are for moderators: everyone else gets the same 403 for a real case and a
  random id (nothing about the case leaks), and a moderator gets 404 for a random id.
"""

from __future__ import annotations

import re
import uuid

from aiohttp.test_utils import TestClient

from forum import db, keys
from moderation.queue import service as queue
from tests.factories import TestUser, make_user, sign_in

_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def case_routes(client: TestClient) -> list[tuple[str, str]]:
    found = set()
    for route in client.app.router.routes():
        if route.resource is None or route.method == "HEAD":
            continue
        path = route.resource.canonical
        if "case" in _PLACEHOLDER.findall(path):
            found.add((route.method, path))
    return sorted(found)


async def _as(client: TestClient, user: TestUser) -> dict[str, str]:
    client.session.cookie_jar.clear()
    return {"X-CSRF-Token": await sign_in(client, user)}


async def _published_case(client: TestClient) -> tuple[str, TestUser, TestUser]:
    """A case published in room 'plenary'; returns (case id, a member, a moderator)."""
    delegate = await make_user(client, role="delegate", state="GHA")
    mod1 = await make_user(client, role="moderator")
    mod2 = await make_user(client, role="moderator")
    member = await make_user(client, role="delegate", state="FRA")
    h = await _as(client, mod1)
    await client.post("/api/v1/rooms", json={"slug": "plenary", "kind": "plenary",
                                             "name": "Plenary"}, headers=h)
    await client.put(f"/api/v1/rooms/plenary/members/{member.id}", headers=h)
    h = await _as(client, delegate)
    r = await client.post("/api/v1/cases", json={"narrative": "n", "transfer_stage":
                                                 "in_transit", "sharing_scope": "dief_plenary"},
                          headers=h)
    assert r.status == 201
    async with db.transaction(client.app[keys.POOL]) as conn:
        await queue.release_batch(conn, client.app[keys.KEYRING])
    h = await _as(client, mod1)
    case_id = (await (await client.post("/api/v1/moderation/claim", json={},
                                        headers=h)).json())["case_id"]
    await client.put(f"/api/v1/moderation/cases/{case_id}/redaction",
                     json={"fields": {"title": "T", "narrative": "N"}}, headers=h)
    await client.post(f"/api/v1/moderation/cases/{case_id}/approve", headers=h)
    h = await _as(client, mod2)
    r = await client.post(f"/api/v1/moderation/cases/{case_id}/publish",
                          json={"room": "plenary"}, headers=h)
    assert r.status == 200, await r.text()
    return case_id, member, mod2


async def test_case_routes_answer_strangers_as_for_a_random_id(client: TestClient) -> None:
    case_id, member, moderator = await _published_case(client)
    routes = case_routes(client)
    assert ("GET", "/api/v1/cases/{case}") in routes
    assert any(path.startswith("/api/v1/moderation/") for _, path in routes)
    random_id = str(uuid.uuid4())
    outsiders = {role: await make_user(client, role=role, state="BRA" if role == "delegate"
                                       else None)
                 for role in ("admin", "facilitator", "delegate", "observer")}
    for role, user in outsiders.items():
        h = await _as(client, user)
        for method, path in routes:
            body = {} if method == "GET" else (
                {"json": {}} if path.startswith("/api/") else {"data": {"x": ""}})
            real = await client.request(method, path.replace("{case}", case_id), headers=h,
                                        **body)
            fake = await client.request(method, path.replace("{case}", random_id), headers=h,
                                        **body)
            expected = 403 if "/moderation/" in path else 404
            assert real.status == fake.status == expected, (role, method, path, real.status,
                                                            fake.status)
            real_body, fake_body = await real.text(), await fake.text()
            assert real_body.replace(case_id, "X") == fake_body.replace(random_id, "X"), path
    h = await _as(client, member)
    for method, path in routes:
        if method == "GET" and "/moderation/" not in path:
            r = await client.get(path.replace("{case}", case_id))
            assert r.status == 200, path
    h = await _as(client, moderator)
    r = await client.get(f"/api/v1/moderation/cases/{random_id}")
    assert r.status == 404
    r = await client.get(f"/api/v1/moderation/cases/{case_id}")
    assert r.status == 200
