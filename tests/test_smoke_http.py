"""First checks: the app starts, health answers, sign-in works end to end over HTTP."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.factories import make_user, sign_in


async def test_healthz_and_readyz(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status == 200, await response.text()


async def test_api_sign_in_and_me(client: TestClient) -> None:
    user = await make_user(client)
    await sign_in(client, user)
    response = await client.get("/api/v1/me")
    assert response.status == 200
    body = await response.json()
    assert body["email"] == user.email
    assert body["second_factor_passed"] is True
