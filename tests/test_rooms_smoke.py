"""Rooms end to end over the API: create, join, post, read, edit, history, flag, 404s."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.factories import make_user, sign_in


async def test_room_flow(client: TestClient) -> None:
    moderator = await make_user(client, role="moderator")
    alice = await make_user(client, role="delegate", state="GHA", name="Alice Ama")
    outsider = await make_user(client, role="delegate", state="FRA")
    csrf = await sign_in(client, moderator)
    h = {"X-CSRF-Token": csrf}
    r = await client.post("/api/v1/rooms", json={"slug": "african", "kind": "regional",
                                                 "name": "African Group", "region": "african"},
                          headers=h)
    assert r.status == 201, await r.text()
    for user in (moderator, alice):
        r = await client.put(f"/api/v1/rooms/african/members/{user.id}", headers=h)
        assert r.status == 201, await r.text()
    r = await client.post("/api/v1/rooms/african/threads",
                          json={"title": "Hello", "body": "First **post** @AliceAma"},
                          headers=h)
    assert r.status == 201, await r.text()
    thread = await r.json()
    assert thread["posts"][0]["html"].startswith("<p>First <strong>post</strong>")

    client.session.cookie_jar.clear()
    csrf = await sign_in(client, alice)
    h = {"X-CSRF-Token": csrf}
    r = await client.get("/api/v1/rooms/african/threads")
    assert r.status == 200
    listing = await r.json()
    assert listing["threads"][0]["title"] == "Hello"
    r = await client.post(f"/api/v1/threads/{thread['id']}/posts",
                          json={"body": "reply", "quote_of": thread["posts"][0]["id"]},
                          headers=h)
    assert r.status == 201, await r.text()
    post = await r.json()
    r = await client.patch(f"/api/v1/posts/{post['id']}", json={"body": "reply v2"}, headers=h)
    assert r.status == 200, await r.text()
    r = await client.get(f"/api/v1/posts/{post['id']}/revisions")
    assert (await r.json())["revisions"][0]["body"] == "reply"
    r = await client.post(f"/api/v1/posts/{post['id']}/flags", json={"reason": "spam"},
                          headers=h)
    assert r.status == 201
    r = await client.get(f"/threads/{thread['id']}")
    assert r.status == 200
    text = await r.text()
    assert "reply v2" in text and "Hello" in text
    r = await client.get("/rooms/african")
    assert r.status == 200

    client.session.cookie_jar.clear()
    await sign_in(client, outsider)
    for url in (f"/api/v1/threads/{thread['id']}", "/api/v1/rooms/african",
                f"/threads/{thread['id']}", "/rooms/african"):
        r = await client.get(url)
        assert r.status == 404, url
