"""Key management end to end: rotation under load, interrupted rotation, crypto-shredding,
master-key re-wrap and ``dief keys status`` (DESIGN §4, STYLE §9).

Operator commands run as the real ``dief`` in a subprocess against the test database with the
same master key file, as an operator would run them next to a serving instance. The app under
test is the real one (``create_app``) over real HTTP; nothing of ours is mocked (test (a) only
lowers ``rotation.BATCH`` so that the rotation spans the load).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from crypto import envelope
from crypto.masterkey import load_master_key
from forum import keys
from forum.app import create_app
from forum.audit import service as audit
from forum.auth import service as auth
from forum.auth.service import Actor
from forum.db import transaction
from forum.keyring import KeyRing
from forum.keystore import queries as key_queries
from forum.keystore import rotation
from forum.keystore import service as keystore
from forum.keystore.service import Sealed
from forum.rooms import service as rooms
from forum.settings import Settings
from tests.conftest import test_environ as environ_for
from tests.factories import TestUser, make_user, sign_in

REPO_ROOT = Path(__file__).resolve().parent.parent
DESTROYED = "[content destroyed]"
AppClientFactory = Callable[[web.Application], Awaitable[TestClient]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(environ_for(tmp_path, DIEF_POSTS_PER_MINUTE="1000",
                                         DIEF_POOL_MAX="12"))


# --- helpers ---------------------------------------------------------------------------------

async def dief(tmp_path: Path, database_url: str, *args: str,
               **environ: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``dief`` CLI against the test database with the test's master key."""
    process = await start_dief(tmp_path, database_url, *args, **environ)
    try:
        out, err = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


async def start_dief(tmp_path: Path, database_url: str, *args: str,
                     **environ: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "forum.cli", *args, cwd=REPO_ROOT,
        env=dief_env(tmp_path, database_url, **environ), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)


def dief_env(tmp_path: Path, database_url: str, **environ: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIEF_")}
    env.update(environ_for(tmp_path, DIEF_DATABASE_URL=database_url, DIEF_LOG_FORMAT="text"))
    env.update(environ)
    return env


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Forum:
    """Rooms, a thread per room, members; content created through the services."""

    keyring: KeyRing
    members: list[TestUser]
    room_ids: list[uuid.UUID] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)
    thread_ids: list[uuid.UUID] = field(default_factory=list)
    bodies: dict[uuid.UUID, str] = field(default_factory=dict)  # post id -> expected body


async def build_forum(client: TestClient, *, rooms_count: int = 2, members: int = 1,
                      posts_per_thread: int = 3) -> Forum:
    app = client.app
    pool, keyring, store = app[keys.POOL], app[keys.KEYRING], app[keys.KEYSTORE]
    users = [await make_user(client, role="delegate", state="GHA") for _ in range(members)]
    forum = Forum(keyring, users)
    author = await actor_for(pool, users[0])
    for index in range(rooms_count):
        slug = f"keys-{index}-{uuid.uuid4().hex[:6]}"
        async with transaction(pool) as conn:
            room = await rooms.create_room(conn, keyring, None, slug=slug, kind="workshop",
                                           name=f"Key room {index}")
            for user in users:
                await rooms.add_member(conn, keyring, None, room.id, user.id)
        async with transaction(pool) as conn:
            body = f"Opening post {index} {secrets.token_hex(6)}"
            thread_id, post_id = await rooms.create_thread(
                conn, store, app[keys.SETTINGS], author, room.id,
                title=f"Thread {index} {secrets.token_hex(4)}", body=body)
            forum.bodies[post_id] = body
            for n in range(posts_per_thread - 1):
                body = f"Seeded reply {n} in room {index}: {secrets.token_hex(8)}"
                post_id = await rooms.create_post(conn, store, app[keys.SETTINGS], author,
                                                  thread_id, body=body)
                forum.bodies[post_id] = body
        forum.room_ids.append(room.id)
        forum.slugs.append(slug)
        forum.thread_ids.append(thread_id)
    return forum


async def actor_for(pool: asyncpg.Pool, user: TestUser) -> Actor:
    async with transaction(pool) as conn:
        return await auth.unsafe_actor_for(conn, user.id)


async def read_all_posts(pool: asyncpg.Pool, store: keystore.KeyStore,
                         room_ids: list[uuid.UUID] | None = None
                         ) -> dict[uuid.UUID, str | None]:
    """Every post's body, decrypted by the keystore the app uses (None = destroyed)."""
    async with transaction(pool) as conn:
        rows = await conn.fetch("SELECT id, body FROM posts WHERE deleted_at IS NULL "
                                "AND ($1::uuid[] IS NULL OR room_id = ANY($1))", room_ids)
        texts = await keystore.open_texts(conn, store, [
            Sealed(bytes(r["body"]), keystore.aad("posts", "body", r["id"])) for r in rows])
    return {r["id"]: text for r, text in zip(rows, texts, strict=True)}


async def key_status(pool: asyncpg.Pool) -> list[rotation.KeyStatus]:
    async with transaction(pool) as conn:
        return await rotation.status(conn)


async def assert_all_rows_under_current_keys(pool: asyncpg.Pool) -> list[rotation.KeyStatus]:
    status = await key_status(pool)
    retired = [k.id.bytes for k in status if k.state == "retired"]
    where: dict[str, int] = {}
    async with transaction(pool) as conn:
        for table, column in key_queries.ENCRYPTED_COLUMNS:
            count = await conn.fetchval(
                f"SELECT count(*) FROM {table} "
                f"WHERE substring({column} from 2 for 16) = ANY($1)", retired)
            if count:
                where[f"{table}.{column}"] = count
    assert not where, f"rows left under retired keys: {where}"
    assert not [k for k in status if k.state == "retired" and k.rows]
    return status


class Browser:
    """A signed-in user with their own cookie jar against the app under test."""

    def __init__(self, client: TestClient, user: TestUser) -> None:
        self.client = client
        self.user = user
        self.session = aiohttp.ClientSession(
            base_url=str(client.make_url("")).rstrip("/"),
            cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.headers: dict[str, str] = {}

    async def sign_in(self) -> None:
        response = await self.session.post("/api/v1/session", json={
            "email": self.user.email, "password": self.user.password,
            "totp": self.user.next_code()})
        assert response.status == 201, await response.text()
        self.headers = {"X-CSRF-Token": (await response.json())["csrf_token"]}

    async def close(self) -> None:
        await self.session.close()


# --- (a) rotation under load -----------------------------------------------------------------

async def test_rotation_under_load_loses_nothing(client: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    app = client.app
    pool, keyring, store = app[keys.POOL], app[keys.KEYRING], app[keys.KEYSTORE]
    forum = await build_forum(client, rooms_count=2, members=3, posts_per_thread=80)
    monkeypatch.setattr(rotation, "BATCH", 10)  # many short batches: rotation takes a while
    before = await key_status(pool)
    # Every wording a post has had (a read may race an edit), and the last acknowledged one.
    history: dict[uuid.UUID, set[str]] = {k: {v} for k, v in forum.bodies.items()}
    latest = dict(forum.bodies)
    errors: list[str] = []
    writes: list[float] = []
    reads = 0
    stop = asyncio.Event()

    async def work(browser: Browser, seed: int) -> None:
        nonlocal reads
        rng = random.Random(seed)
        mine: list[uuid.UUID] = []
        while not stop.is_set():
            thread_id = rng.choice(forum.thread_ids)
            action = rng.random()
            if action < 0.4:
                body = f"load post {seed} {secrets.token_hex(8)}"
                r = await browser.session.post(f"/api/v1/threads/{thread_id}/posts",
                                               json={"body": body}, headers=browser.headers)
                if r.status != 201:
                    errors.append(f"post: {r.status} {await r.text()}")
                    continue
                post = await r.json()
                history[uuid.UUID(post["id"])] = {body}
                latest[uuid.UUID(post["id"])] = body
                mine.append(uuid.UUID(post["id"]))
                writes.append(time.monotonic())
                if post["body"] != body:
                    errors.append(f"post {post['id']} answered {post['body']!r}")
            elif action < 0.5 and mine:
                post_id = rng.choice(mine)
                body = f"edited {seed} {secrets.token_hex(8)}"
                history[post_id].add(body)
                r = await browser.session.patch(f"/api/v1/posts/{post_id}",
                                                json={"body": body}, headers=browser.headers)
                if r.status != 200:
                    errors.append(f"edit: {r.status} {await r.text()}")
                    continue
                latest[post_id] = body
                writes.append(time.monotonic())
            elif action < 0.6:
                r = await browser.session.get(f"/threads/{thread_id}")
                text = await r.text()
                if r.status != 200 or DESTROYED in text:
                    errors.append(f"page: {r.status}")
                reads += 1
            else:
                after = rng.randrange(0, 80)
                r = await browser.session.get(f"/api/v1/threads/{thread_id}/posts",
                                              params={"after": str(after), "limit": "50"})
                if r.status != 200:
                    errors.append(f"read: {r.status} {await r.text()}")
                    continue
                for post in (await r.json())["posts"]:
                    post_id = uuid.UUID(post["id"])
                    if post["destroyed"] or post["body"] is None:
                        errors.append(f"post {post_id} unreadable")
                    elif post_id in history and post["body"] not in history[post_id]:
                        errors.append(f"post {post_id} reads {post['body']!r}")
                reads += 1

    browsers = [Browser(client, user) for user in forum.members]
    try:
        for browser in browsers:
            await browser.sign_in()
        workers = [asyncio.create_task(work(b, n)) for n, b in enumerate(browsers)]
        await asyncio.sleep(0.3)
        rotation_started = time.monotonic()
        moved = await rotation.rotate(pool, keyring, None)
        rotation_ended = time.monotonic()
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*workers)
    finally:
        for browser in browsers:
            await browser.close()

    assert not errors, errors[:10]
    during = [t for t in writes if rotation_started <= t <= rotation_ended]
    assert during, "no write overlapped the rotation; the test proves nothing"
    assert reads > 10
    assert moved >= 2 * 160 + 2  # every seeded body and html, and the titles

    # Nothing lost: every acknowledged write is there, and every post reads as last written.
    bodies = await read_all_posts(pool, store)
    assert len(bodies) == len(latest)
    wrong = {k: v for k, v in bodies.items() if v != latest[k]}
    assert not wrong, list(wrong.items())[:5]

    after = await assert_all_rows_under_current_keys(pool)
    retired_ids = {k.id for k in before if k.state == "current"}
    assert {k.id for k in after if k.state == "retired"} >= retired_ids


# --- (b) an interrupted rotation resumes -----------------------------------------------------

async def seed_posts(pool: asyncpg.Pool, store: keystore.KeyStore, room_id: uuid.UUID,
                     thread_id: uuid.UUID, author_id: uuid.UUID,
                     count: int) -> dict[uuid.UUID, str]:
    """Many posts, sealed under the room's key exactly as the service seals them, in one COPY
    (the service would take minutes for a dataset big enough to interrupt)."""
    now = dt.datetime.now(dt.UTC)
    bodies: dict[uuid.UUID, str] = {}
    records = []
    async with transaction(pool) as conn:
        dek = await keystore.current_key(conn, store, keystore.room_scope(room_id))
        first = int(await conn.fetchval("SELECT post_count FROM threads WHERE id = $1",
                                        thread_id)) + 1
        for seq in range(first, first + count):
            post_id = uuid.uuid4()
            body = f"bulk {seq} {secrets.token_hex(6)}"
            bodies[post_id] = body
            records.append((post_id, thread_id, room_id, author_id, seq,
                            keystore.seal_text(dek, body, "posts", "body", post_id),
                            keystore.seal_text(dek, f"<p>{body}</p>", "posts", "html", post_id),
                            now))
        await conn.copy_records_to_table(
            "posts", records=records, columns=["id", "thread_id", "room_id", "author_id", "seq",
                                               "body", "html", "created_at"])
        await conn.execute("UPDATE threads SET post_count = $2 WHERE id = $1", thread_id,
                           first + count - 1)
    return bodies


async def test_killed_rotation_resumes_and_completes(client: TestClient, database_url: str,
                                                     tmp_path: Path) -> None:
    app = client.app
    pool, store = app[keys.POOL], app[keys.KEYSTORE]
    forum = await build_forum(client, rooms_count=1)
    forum.bodies.update(await seed_posts(pool, store, forum.room_ids[0], forum.thread_ids[0],
                                         forum.members[0].id, 2000))
    scope = keystore.room_scope(forum.room_ids[0])
    [old] = [k for k in await key_status(pool) if k.scope == scope]
    total = old.rows

    process = await start_dief(tmp_path, database_url, "keys", "rotate", "--all")
    moved = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.returncode is None:
            async with transaction(pool) as conn:
                moved = int(await conn.fetchval(
                    "SELECT count(*) FROM posts WHERE substring(body from 2 for 16) <> $1",
                    old.id.bytes))
            if moved >= 500:  # at least one committed batch of posts.body
                break
            await asyncio.sleep(0.005)
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
    finally:
        await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == -signal.SIGKILL, "the rotation finished before the kill"

    half = {k.id: k for k in await key_status(pool) if k.scope == scope}
    assert half[old.id].state == "retired"
    assert 0 < half[old.id].rows < total, "the rotation was not interrupted half-way"
    # Half-rotated is a readable state: old rows under the retired key, the rest under the new.
    bodies = await read_all_posts(pool, store)
    assert bodies == forum.bodies

    out = ok(await dief(tmp_path, database_url, "keys", "rotate", "--all", "--resume"))
    assert re.search(r"rotated; [1-9]\d* value\(s\) re-encrypted", out), out
    final = await assert_all_rows_under_current_keys(pool)
    [current] = [k for k in final if k.scope == scope and k.state == "current"]
    assert current.rows == total
    assert await read_all_posts(pool, store) == forum.bodies
    # and through HTTP, on a page from the middle of the bulk
    await sign_in(client, forum.members[0])
    r = await client.get(f"/api/v1/threads/{forum.thread_ids[0]}/posts",
                         params={"after": "1000", "limit": "100"})
    assert r.status == 200
    for post in (await r.json())["posts"]:
        assert post["body"] == forum.bodies[uuid.UUID(post["id"])]


# --- (c) crypto-shredding --------------------------------------------------------------------

async def test_destroyed_room_reads_as_destroyed_everywhere(
        client: TestClient, aiohttp_client: AppClientFactory, database_url: str,
        settings: Settings, tmp_path: Path) -> None:
    app = client.app
    pool = app[keys.POOL]
    forum = await build_forum(client, rooms_count=2, members=1, posts_per_thread=3)
    user = forum.members[0]
    doomed_room, doomed_slug, thread = forum.room_ids[0], forum.slugs[0], forum.thread_ids[0]
    scope = keystore.room_scope(doomed_room)
    h = {"X-CSRF-Token": await sign_in(client, user)}
    posts = (await (await client.get(f"/api/v1/threads/{thread}/posts")).json())["posts"]
    post = posts[-1]["id"]
    r = await client.patch(f"/api/v1/posts/{post}", json={"body": "second wording"}, headers=h)
    assert r.status == 200
    r = await client.post(f"/api/v1/posts/{posts[0]['id']}/flags",
                          json={"reason": "other", "note": "a confidential note"}, headers=h)
    assert r.status == 201

    # Warm this instance's key cache, then destroy from another process.
    r = await client.get(f"/threads/{thread}")
    assert r.status == 200 and DESTROYED not in await r.text()
    out = ok(await dief(tmp_path, database_url, "keys", "destroy", "--scope", scope, "--yes"))
    assert f"destroyed 1 data key(s) of {scope}" in out
    destroyed_at = time.monotonic()
    while True:  # the running instance must drop the key on the NOTIFY, not after 60 s
        r = await client.get(f"/api/v1/threads/{thread}/posts")
        if all(p["destroyed"] for p in (await r.json())["posts"]):
            break
        assert time.monotonic() - destroyed_at < 1.0, "the cached key was still used after 1 s"
        await asyncio.sleep(0.02)

    await assert_reads_destroyed(client, doomed_slug, thread, post, h)
    # The other room is untouched.
    r = await client.get(f"/api/v1/threads/{forum.thread_ids[1]}/posts")
    assert not any(p["destroyed"] for p in (await r.json())["posts"])

    # In the database: ciphertext remains, its key does not.
    async with transaction(pool) as conn:
        key_rows = await conn.fetch("SELECT wrapped, destroyed_at FROM data_keys "
                                    "WHERE scope = $1", scope)
        assert key_rows and all(k["wrapped"] is None and k["destroyed_at"] for k in key_rows)
        rows = await conn.fetch(
            "SELECT p.body, p.html, t.title FROM posts p JOIN threads t ON t.id = p.thread_id "
            "WHERE p.room_id = $1", doomed_room)
        assert len(rows) == 3
        for row in rows:
            for value in row.values():
                assert bytes(value)[0] == envelope.VERSION
                assert b"second wording" not in bytes(value)
        revision = await conn.fetchval(
            "SELECT r.body FROM post_revisions r JOIN posts p ON p.id = r.post_id "
            "WHERE p.room_id = $1", doomed_room)
        assert revision is not None and bytes(revision)[0] == envelope.VERSION
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = "
                                   "'keys.destroy' AND target_id = $1", scope) == 1

    # A restart (a new instance over the same database) does not bring anything back.
    restarted = await aiohttp_client(create_app(settings, database_url=database_url))
    h2 = {"X-CSRF-Token": await sign_in(restarted, user)}
    await assert_reads_destroyed(restarted, doomed_slug, thread, post, h2)

    # The room lives on with a new key: new posts work and read back.
    r = await client.post(f"/api/v1/threads/{thread}/posts", json={"body": "after the shred"},
                          headers=h)
    assert r.status == 201, await r.text()
    r = await restarted.get(f"/api/v1/threads/{thread}/posts")
    posts = (await r.json())["posts"]
    assert [p["body"] for p in posts if not p["destroyed"]] == ["after the shred"]
    states = {k.state for k in await key_status(pool) if k.scope == scope}
    assert states == {"destroyed", "current"}


async def assert_reads_destroyed(client: TestClient, slug: str, thread: uuid.UUID,
                                 post: str, h: dict[str, str]) -> None:
    """Every route shows the destroyed content as destroyed, none fails."""
    pages = [f"/threads/{thread}", f"/rooms/{slug}", f"/posts/{post}/history",
             f"/threads/{thread}?quote={post}", f"/posts/{post}/flag", f"/posts/{post}/edit",
             "/rooms", f"/api/v1/rooms/{slug}/threads", f"/api/v1/threads/{thread}",
             f"/api/v1/threads/{thread}/posts", f"/api/v1/posts/{post}/revisions",
             "/api/v1/rooms"]
    answers: dict[str, tuple[int, str]] = {}
    for url in pages:
        r = await client.get(url)
        answers[url] = (r.status, await r.text())
    failed = {url: status for url, (status, _) in answers.items() if status >= 500}
    assert not failed, failed
    for url in pages[:4]:
        status, text = answers[url]
        assert status == 200 and DESTROYED in text, url
        assert "second wording" not in text and "Opening post" not in text, url
    status, _ = answers[f"/posts/{post}/edit"]
    assert status in (200, 409)
    [summary] = json.loads(answers[f"/api/v1/rooms/{slug}/threads"][1])["threads"]
    assert summary["title"] is None and summary["title_destroyed"] is True
    shown = await (await client.get(f"/api/v1/threads/{thread}")).json()
    assert shown["title"] is None and shown["title_destroyed"] is True
    for item in (await (await client.get(f"/api/v1/threads/{thread}/posts")).json())["posts"]:
        assert item["destroyed"] is True and item["body"] is None and item["html"] is None
    [revision] = (await (await client.get(f"/api/v1/posts/{post}/revisions")).json())[
        "revisions"]
    assert revision["body"] is None
    # Writes touching destroyed text are refused cleanly, never a 500.
    r = await client.patch(f"/api/v1/posts/{post}", json={"body": "x"}, headers=h)
    assert r.status == 409 and (await r.json())["code"] == "post_destroyed"


# --- (d) master-key rotation: rewrap ---------------------------------------------------------

async def test_rewrap_moves_every_data_key_to_the_new_master_key(
        client: TestClient, aiohttp_client: AppClientFactory, database_url: str,
        tmp_path: Path) -> None:
    app = client.app
    pool = app[keys.POOL]
    forum = await build_forum(client, rooms_count=2, members=1)
    old_file = tmp_path / "master.key"
    old_id = load_master_key(old_file).key_id
    new_file = tmp_path / "new-master.key"
    new_file.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    new_file.chmod(0o600)
    new_id = load_master_key(new_file).key_id
    rotated = {"DIEF_MASTER_KEY_FILE": str(new_file),
               "DIEF_RETIRED_MASTER_KEY_FILES": str(old_file)}

    async with transaction(pool) as conn:
        live = await conn.fetchval("SELECT count(*) FROM data_keys WHERE destroyed_at IS NULL")
        assert live >= 3  # two rooms and the user's TOTP scope
        assert await conn.fetchval("SELECT count(DISTINCT kek_id) FROM data_keys") == 1
        rows_before = await conn.fetch("SELECT id, body, html FROM posts ORDER BY id")
    out = ok(await dief(tmp_path, database_url, "keys", "rewrap", **rotated))
    assert f"{live} data key(s) re-wrapped under master key {new_id}" in out
    async with transaction(pool) as conn:
        keks = await conn.fetch("SELECT kek_id, count(*) FROM data_keys GROUP BY 1")
        assert [tuple(r) for r in keks] == [(new_id, live)]
        assert await conn.fetch("SELECT id, body, html FROM posts ORDER BY id") == rows_before
    # The service with the new key (old one retired, then gone altogether) reads everything,
    # the TOTP secret included (sign-in needs it).
    for extra in (rotated, {"DIEF_MASTER_KEY_FILE": str(new_file)}):
        settings = Settings.from_env(environ_for(tmp_path, **extra))
        instance = await aiohttp_client(create_app(settings, database_url=database_url))
        await sign_in(instance, forum.members[0])
        for thread in forum.thread_ids:
            r = await instance.get(f"/api/v1/threads/{thread}/posts")
            assert r.status == 200
            for post in (await r.json())["posts"]:
                assert post["body"] == forum.bodies[uuid.UUID(post["id"])]

    # The audit chain: entries before the switch verify with the retired key.
    out = ok(await dief(tmp_path, database_url, "audit", "verify", **rotated))
    assert out.startswith("audit chain OK")
    # (and need it: without the retired key they cannot be checked)
    new_only = KeyRing.from_master(load_master_key(new_file))
    async with transaction(pool) as conn:
        result = await audit.verify(conn, new_only.audit_keys())
    assert not result.ok and old_id in (result.problem or "")


# --- (e) status ------------------------------------------------------------------------------

async def test_keys_status_lists_scopes_and_rows(client: TestClient, database_url: str,
                                                 tmp_path: Path) -> None:
    forum = await build_forum(client, rooms_count=2, members=1, posts_per_thread=4)
    out = ok(await dief(tmp_path, database_url, "keys", "status"))
    lines = {}
    for line in out.splitlines()[1:-1]:
        scope, key_id, state, rows, kek = line.split()
        lines[scope] = (uuid.UUID(key_id), state, int(rows), kek)
    for room_id in forum.room_ids:
        # a title and four posts (body + html) each
        assert lines[keystore.room_scope(room_id)][1:3] == ("current", 1 + 4 * 2)
    user_scope = keystore.user_scope(forum.members[0].id)
    assert lines[user_scope][1:3] == ("current", 1)  # the TOTP secret
    assert re.search(r"^\d+ data key\(s\); current master key [0-9a-f]{16}$", out, re.M)

    await rotation.rotate(client.app[keys.POOL], client.app[keys.KEYRING],
                          keystore.room_scope(forum.room_ids[0]))
    out = ok(await dief(tmp_path, database_url, "keys", "status"))
    states = sorted((line.split()[2], int(line.split()[3])) for line in out.splitlines()
                    if line.startswith(keystore.room_scope(forum.room_ids[0])))
    assert states == [("current", 9), ("retired", 0)]


async def test_every_secret_bytea_column_is_listed_as_encrypted(pool: asyncpg.Pool) -> None:
    """status, rotation and the database-thief test walk ENCRYPTED_COLUMNS: a new bytea column
    must be either listed there or known to hold no plaintext (a hash, a MAC, a wrapped key)."""
    not_plaintext = {("api_tokens", "token_hash"), ("invitations", "token_hash"),
                     ("login_failures", "key_hash"), ("recovery_codes", "code_hash"),
                     ("sessions", "token_hash"), ("audit_log", "prev_mac"),
                     ("audit_log", "mac"), ("data_keys", "wrapped"),
                     ("cases", "receipt_hash"), ("receipt_failures", "key_hash"),
                     ("case_index", "digest"),  # HMACs (receipts, throttle, blind index,
                     ("case_submissions", "token_hash")}  # case form tokens)
    async with transaction(pool) as conn:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = 'bytea'")
    columns = {(r["table_name"], r["column_name"]) for r in rows}
    assert columns - not_plaintext == set(key_queries.ENCRYPTED_COLUMNS)
