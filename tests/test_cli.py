"""``dief`` as an operator runs it: a subprocess with ``DIEF_*`` settings, against a test database.

Exit status contract (forum/cli.py): 0 success, 1 a domain error, 2 bad usage or
configuration. The environment comes from ``test_environ(tmp_path)`` — the same master key file
as the app the tests build over the same database.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient

from forum import demo
from tests import conftest
from tests.factories import PASSWORD

DIEF = str(Path(sys.executable).with_name("dief"))


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli_environ(tmp_path: Path, database_url: str, **overrides: str) -> dict[str, str]:
    """The test settings plus PATH & co. from this process, minus any stray DIEF_* variable."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DIEF_")}
    return {**base, **conftest.test_environ(tmp_path), "DIEF_DATABASE_URL": database_url,
            **overrides}


async def dief(env: dict[str, str], *args: str, stdin: str | None = None) -> Run:
    process = await asyncio.create_subprocess_exec(
        DIEF, *args, env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else None), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def fetch(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_migrate_applies_then_reports_current(tmp_path: Path,
                                                    empty_database_url: str) -> None:
    env = cli_environ(tmp_path, empty_database_url)
    first = await dief(env, "migrate")
    assert first.code == 0, first.err
    assert "0001_create_accounts.sql" in first.out
    second = await dief(env, "migrate")
    assert second.code == 0, second.err
    assert second.out.strip() == "applied 0 migration(s); the schema is current"


async def test_user_add_with_totp_then_disable(tmp_path: Path, database_url: str) -> None:
    env = cli_environ(tmp_path, database_url)
    added = await dief(env, "user", "add", "Delegate.X@Example.org", "--role", "delegate",
                       "--state", "fra", "--password-stdin", "--with-totp",
                       stdin=PASSWORD + "\n")
    assert added.code == 0, added.err
    assert "created delegate.x@example.org (delegate) id=" in added.out
    assert re.search(r"^totp: otpauth://totp/\S+\?\S*secret=[A-Z2-7]+", added.out, re.MULTILINE)
    codes_line = next(line for line in added.out.splitlines()
                      if line.startswith("recovery codes: "))
    codes = codes_line.removeprefix("recovery codes: ").split()
    assert codes and all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", c) for c in codes)
    assert PASSWORD not in added.out + added.err

    [user] = await fetch(database_url, "SELECT id, role, state_iso3, totp_enrolled_at, "
                         "disabled_at FROM users WHERE email = 'delegate.x@example.org'")
    assert (user["role"], user["state_iso3"]) == ("delegate", "FRA")
    assert user["totp_enrolled_at"] is not None and user["disabled_at"] is None
    [count] = await fetch(database_url,
                          "SELECT count(*) FROM recovery_codes WHERE user_id = $1", user["id"])
    assert count[0] == len(codes)

    disabled = await dief(env, "user", "disable", "delegate.x@example.org")
    assert disabled.code == 0, disabled.err
    assert disabled.out.strip() == "delegate.x@example.org disabled"
    [row] = await fetch(database_url, "SELECT disabled_at FROM users WHERE id = $1", user["id"])
    assert row["disabled_at"] is not None
    actions = [r["action"] for r in await fetch(
        database_url, "SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq",
        str(user["id"]))]
    assert actions[0] == "user.create" and actions[-1] == "user.disable"


async def test_usage_errors_exit_2(tmp_path: Path, database_url: str) -> None:
    env = cli_environ(tmp_path, database_url)
    no_stdin, bad_role, bad_port = await asyncio.gather(
        dief(env, "user", "add", "a@example.org", "--role", "observer"),
        dief(env, "user", "add", "a@example.org", "--role", "emperor", "--password-stdin",
             stdin=PASSWORD + "\n"),
        dief({**env, "DIEF_PORT": "70000"}, "migrate"))
    assert no_stdin.code == 2
    assert "--password-stdin" in no_stdin.err
    assert bad_role.code == 2
    assert "invalid choice: 'emperor'" in bad_role.err  # argparse
    assert bad_port.code == 2
    assert "DIEF_PORT" in bad_port.err and "70000" in bad_port.err
    assert not await fetch(database_url, "SELECT 1 FROM users")


async def test_unknown_state_exits_1(tmp_path: Path, database_url: str) -> None:
    run = await dief(cli_environ(tmp_path, database_url), "user", "add", "d@example.org",
                     "--role", "delegate", "--state", "XXZ", "--password-stdin",
                     stdin=PASSWORD + "\n")
    assert run.code == 1
    assert run.err.strip() == "error: Unknown State: 'XXZ' is not an ISO 3166-1 alpha-3 code"
    assert run.out == ""


async def test_group_readable_master_key_exits_2(tmp_path: Path, database_url: str) -> None:
    env = cli_environ(tmp_path, database_url)
    key_file = Path(env["DIEF_MASTER_KEY_FILE"])
    os.chmod(key_file, 0o640)  # group-readable
    run = await dief(env, "audit", "head")
    assert run.code == 2
    assert "DIEF_MASTER_KEY_FILE" in run.err
    assert f"chmod 600 {key_file}" in run.err


async def test_invitation_link_works_over_the_api(tmp_path: Path, database_url: str,
                                                  client: TestClient) -> None:
    run = await dief(cli_environ(tmp_path, database_url), "invite", "New.Observer@example.org",
                     "--role", "observer")
    assert run.code == 0, run.err
    link = run.out.strip()
    prefix = "http://127.0.0.1:8080/invitations/"
    assert link.startswith(prefix)
    token = link.removeprefix(prefix)
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token)
    assert "new.observer@example.org as observer" in run.err

    accepted = await client.post(f"/api/v1/invitations/{token}/accept",
                                 json={"display_name": "New Observer", "password": PASSWORD})
    assert accepted.status == 201, await accepted.text()
    user_id = (await accepted.json())["user_id"]
    [user] = await fetch(database_url, "SELECT email, role FROM users WHERE id = $1::uuid",
                         user_id)
    assert (user["email"], user["role"]) == ("new.observer@example.org", "observer")
    again = await client.post(f"/api/v1/invitations/{token}/accept",
                              json={"display_name": "Someone Else", "password": PASSWORD})
    assert again.status == 409


async def test_demo_is_idempotent(tmp_path: Path, database_url: str) -> None:
    env = cli_environ(tmp_path, database_url)
    first = await dief(env, "demo")
    assert first.code == 0, first.err
    assert "(demo data loaded)" in first.out
    users = await fetch(database_url, "SELECT email FROM users ORDER BY email")
    assert len(users) == len(demo.DEMO_USERS)

    # The workshop exists with its room, so its facilitator finds it and its takeaways.
    [workshop] = await fetch(
        database_url, "SELECT w.id, r.slug, m.room_role FROM workshops w "
        "JOIN rooms r ON r.id = w.room_id JOIN room_members m ON m.room_id = r.id "
        "JOIN users u ON u.id = m.user_id WHERE u.email = 'facilitator@dief.example'")
    assert (workshop["slug"], workshop["room_role"]) == (demo.DEMO_WORKSHOP["slug"],
                                                         "facilitator")
    takeaways = await fetch(database_url, "SELECT shareable FROM takeaways "
                            "WHERE workshop_id = $1 ORDER BY shareable", workshop["id"])
    assert [t["shareable"] for t in takeaways] == [False, True]

    second = await dief(env, "demo")
    assert second.code == 0, second.err
    assert "(demo data loaded)" not in second.out
    assert await fetch(database_url, "SELECT email FROM users ORDER BY email") == users
    assert len(await fetch(database_url, "SELECT id FROM workshops")) == 1
