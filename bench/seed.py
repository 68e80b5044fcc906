"""The benchmark dataset: seeded once per scale through the service's own code, then cached.

    python bench/seed.py [--scale 10k|100k|200k|1m] [--force]     # seed (or report the cache)

Where it lives
    One embedded PostgreSQL cluster under ``var/bench/pgdata`` and one master key
    ``var/bench/master.key`` serve every scale. Scale ``S`` is the database ``seed_S``, never
    served directly: each run clones it (``CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY``, a
    file copy, named after the run's process id) so that what a run writes — posts, sessions,
    cases — is gone at the next run, and two runs at once never share a database. Seeding and
    cloning a scale take an advisory lock, so concurrent runs wait for each other's seeding.
    ``var/bench/seed-S.json`` (the manifest: bench accounts with their TOTP secrets, the threads
    and rooms to load) is written last, after the commit: no manifest means "not seeded".

What is seeded (``SCALES``), and through which code
    * 2,000 accounts through ``auth.service.create_user`` (with one argon2id hash computed once
      with the production parameters and reused: ``bench.common._PrecomputedHash``); the bench
      accounts get a real second factor through ``auth.service.enrol_totp_directly``.
    * 60 rooms through ``rooms.service.create_room``; six workshops are then marked
      non-confidential (the service has no switch for that; it only changes a banner). Every
      room's data key comes from ``keystore.current_key``, as for a first post.
    * Memberships: COPY into ``room_members`` (plain rows, nothing encrypted; the audit entries
      ``add_member`` would write are left out). Observers never join plenary/regional rooms.
    * Threads and posts, bulk but byte-for-byte what ``rooms.service`` writes: titles and
      bodies sealed with ``keystore.seal_text`` under the room's key with the row's AAD, the
      HTML produced by ``markup.render_markdown`` (each distinct body is rendered once and its
      HTML reused — the renderer is deterministic — but every row is encrypted on its own, since
      the AAD binds the row id), ``seq``/``post_count``/``last_post_at`` consistent. Rows go in
      with COPY in batches; foreign-key triggers are skipped for that COPY
      (``session_replication_role = replica``) because the rows are consistent by construction.
    * 300 anonymous cases through ``cases.service.submit_case`` and one batch release
      (``moderation.queue.service.release_batch``), for the moderation queue.
    * ``VACUUM ANALYZE`` at the end, as a long-running production database would be.

The threads are 1/20 of the posts, so the average thread has 20 posts whatever the scale; the
threads the harness reads have at least 60.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

if __package__ in (None, ""):  # run as `python bench/seed.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench.common import REPO_ROOT, HarnessError

SEED_VERSION = 3  # bump when the dataset changes: cached seeds of older versions are redone
SCALES = {"10k": 10_000, "100k": 100_000, "200k": 200_000, "1m": 1_000_000,
          "tiny": 3_000}  # tiny: the smoke test's (fewer accounts and cases, cheap argon2id)
TINY_ARGON2 = {"DIEF_ARGON2_MEMORY_KIB": "64", "DIEF_ARGON2_TIME_COST": "1",
               "DIEF_ARGON2_PARALLELISM": "1"}
DEFAULT_SCALE = "200k"
BENCH_DIR = REPO_ROOT / "var" / "bench"
ACCOUNTS = 2000
ROOMS = 60
CASES = 300
POSTS_PER_THREAD = 20
READ_THREADS = 32  # threads the read scenarios rotate through (>= MIN_READ_POSTS posts each)
WRITE_THREADS = 32  # threads the create-post scenario appends to
MIN_READ_POSTS = 60
LIST_ROOMS = 8  # rooms whose thread list is loaded
BENCH_DELEGATES = 64  # signed in over HTTP with password + TOTP
BENCH_MODERATORS = 2
STORM_ACCOUNTS = 20  # sign-in storm: password only, no second factor needed
PASSWORD = "violet tractor harbour lantern 1987"  # noqa: S105 (bench accounts only)
COPY_BATCH = 20_000
SEED = 20260501


def scale_posts(scale: str) -> int:
    try:
        return SCALES[scale.lower()]
    except KeyError:
        raise HarnessError(f"unknown scale {scale!r}; expected one of "
                           + ", ".join(SCALES)) from None


# --- the cluster -----------------------------------------------------------------------------

class BenchCluster:
    """The embedded PostgreSQL of ``var/bench`` (started on first use, stopped when the last
    process holding it exits) and the bench master key."""

    def __init__(self, directory: Path = BENCH_DIR) -> None:
        from crypto.masterkey import create_master_key_file
        from forum import db

        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.key_file = directory / "master.key"
        if not self.key_file.exists():
            create_master_key_file(self.key_file)
        self._server = db.start_embedded_server(directory)  # held for this process's life
        self.server_url: str = self._server.get_uri()

    def url(self, database: str) -> str:
        from forum import db

        return db.with_database(self.server_url, database)

    def env(self, database: str) -> dict[str, str]:
        """``DIEF_*`` settings pointing a process at ``database`` with the bench master key."""
        return {"DIEF_DATABASE_URL": self.url(database),
                "DIEF_MASTER_KEY_FILE": str(self.key_file),
                "DIEF_DATA_DIR": str(self.directory)}

    def manifest_path(self, scale: str) -> Path:
        return self.directory / f"seed-{scale}.json"

    async def admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url("postgres"))

    @contextlib.asynccontextmanager
    async def locked(self, scale: str) -> AsyncIterator[asyncpg.Connection]:
        """Serialise seeding and cloning of one scale among processes (two harness runs, or
        the smoke test in someone's suite): a session advisory lock in ``postgres``."""
        conn = await self.admin()
        try:
            await conn.execute("SELECT pg_advisory_lock(hashtext('dief-bench-seed:' || $1))",
                               scale)
            yield conn
        finally:
            await conn.close()  # releases the lock

    async def clone(self, scale: str) -> str:
        """A fresh copy of ``seed_<scale>`` for this process (``run_<scale>_<pid>``, so that
        concurrent runs never share one); returns its name."""
        name = f"run_{scale}_{os.getpid()}"
        async with self.locked(scale) as conn:
            await self._drop_stale(conn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "seed_{scale}" '
                               "STRATEGY FILE_COPY")
        return name

    @staticmethod
    async def _drop_stale(conn: asyncpg.Connection) -> None:
        """Copies left by runs that died before cleaning up (their process is gone)."""
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'run\\_%'")
        for name in (row["datname"] for row in rows):
            if not _process_alive(name.rsplit("_", 1)[-1]):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def drop(self, name: str) -> None:
        conn = await self.admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def socket_dir(self) -> str | None:
        query = parse_qs(urlsplit(self.server_url).query)
        return (query.get("host") or [None])[0]


def _process_alive(pid: str) -> bool:
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


# --- the manifest ----------------------------------------------------------------------------

@dataclass
class Account:
    email: str
    role: str
    totp_secret: str | None = None  # base32; bench accounts only


@dataclass
class Manifest:
    version: int
    scale: str
    posts: int
    threads: int
    accounts: int
    rooms: int
    cases: int
    seeded_at: str
    seconds: float
    password: str
    delegates: list[Account] = field(default_factory=list)
    moderators: list[Account] = field(default_factory=list)
    storm: list[Account] = field(default_factory=list)
    read_threads: list[str] = field(default_factory=list)
    write_threads: list[str] = field(default_factory=list)
    list_rooms: list[str] = field(default_factory=list)  # slugs

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        tmp.chmod(0o600)  # TOTP secrets of throw-away bench accounts, still
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("version") != SEED_VERSION:
            return None
        for name in ("delegates", "moderators", "storm"):
            data[name] = [Account(**a) for a in data[name]]
        return cls(**data)


# --- content ---------------------------------------------------------------------------------

_WORDS = ("transfer licence end-user certificate broker consignment ammunition rifles "
          "stockpile inspection customs transit shipment serial numbers marking tracing "
          "authorisation re-export manifest carrier freight warehouse diversion risk "
          "assessment exporting State importing State record-keeping verification "
          "cooperation information exchange national control list seizure investigation "
          "the of and to a in for on with that by from at is was were be this as an").split()
_TOPICS = ("end-user certificates", "transit controls", "stockpile security", "post-shipment "
           "verification", "brokering registers", "marking and tracing", "air cargo",
           "maritime transfers", "surplus disposal", "licence conditions", "risk indicators",
           "information exchange", "re-export clauses", "customs cooperation")


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 22))]
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words)), f"**{rng.choice(_WORDS)}**")
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words)), f"`EUC-{rng.randint(1000, 9999)}`")
    return (" ".join(words).capitalize() + ".").replace(" .", ".")


def _paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng) for _ in range(sentences))


def make_body(rng: random.Random) -> str:
    """A forum post in Markdown: short (45 %), medium (45 %) or long (10 %)."""
    kind = rng.random()
    paragraphs = 1 if kind < 0.45 else rng.randint(2, 4) if kind < 0.9 else rng.randint(6, 10)
    parts = []
    for index in range(paragraphs):
        roll = rng.random()
        if index and roll < 0.15:
            parts.append("\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(2, 5))))
        elif index and roll < 0.22:
            parts.append("> " + _paragraph(rng, 2))
        elif roll < 0.3:
            parts.append(_paragraph(rng, rng.randint(1, 3)) + f" See https://example.org/"
                         f"docs/{rng.randint(1, 500)} for the background.")
        else:
            parts.append(_paragraph(rng, rng.randint(1, 4)))
    return "\n\n".join(parts)


def make_title(rng: random.Random) -> str:
    return (f"{rng.choice(_TOPICS).capitalize()}: {rng.choice(_WORDS)} "
            f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} ({rng.randint(2019, 2026)})")


CASE_FIELDS: dict[str, Any] = {
    "transfer_stage": "in_transit", "detection_status": "suspected",
    "item_categories": ["small_arms_light_weapons", "ammunition"],
    "diversion_methods": ["false_documentation"], "actor_types": ["broker"],
    "detection_channel": "customs", "sharing_scope": "dief_plenary", "period": "2025",
    "named_entities": "Example Freight Ltd; MV Placeholder",
    "document_refs": "EUC 2025/114; AWB 176-12345675",
}


def case_fields(rng: random.Random) -> dict[str, Any]:
    return {**CASE_FIELDS, "narrative": _paragraph(rng, rng.randint(3, 8))}


# --- seeding ---------------------------------------------------------------------------------

def _settings(cluster: BenchCluster, database: str, scale: str) -> Any:
    from forum.settings import Settings

    env = cluster.env(database)
    return Settings.from_env({**env, **TINY_ARGON2} if scale == "tiny" else env)


def _secret_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["secret"][0]


def _thread_sizes(rng: random.Random, threads: int, posts: int, forced: int) -> list[int]:
    """Posts per thread: skewed (many short threads, a few long ones), summing to ``posts``;
    the first ``forced`` threads get at least MIN_READ_POSTS."""
    sizes = [max(1, min(400, int(rng.expovariate(1 / POSTS_PER_THREAD)) + 1))
             for _ in range(threads)]
    for index in range(min(forced, threads)):
        sizes[index] = max(sizes[index], MIN_READ_POSTS)
    total = sum(sizes)
    if forced * MIN_READ_POSTS + (threads - forced) > posts:
        raise HarnessError(f"{posts} posts cannot fill {threads} threads")
    index = 0
    while total != posts:  # nudge the unforced threads until the total is exact
        i = forced + index % (threads - forced)
        if total > posts and sizes[i] > 1:
            sizes[i] -= 1
            total -= 1
        elif total < posts:
            sizes[i] += 1
            total += 1
        index += 1
    return sizes


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@contextlib.asynccontextmanager
async def _seed_connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url, server_settings={"timezone": "UTC"})
    try:
        await conn.execute("SET synchronous_commit = off")
        yield conn
    finally:
        await conn.close()


def _log(message: str) -> None:
    print(f"  seed: {message}", flush=True)


async def seed_database(cluster: BenchCluster, scale: str) -> Manifest:
    """Create ``seed_<scale>`` from nothing and fill it; returns the manifest (not yet saved)."""
    from bench.common import _PrecomputedHash
    from crypto.passwords import Argon2Params, PasswordHashing
    from forum import migrate
    from forum.auth import service as auth
    from forum.cases import service as cases
    from forum.keyring import load_keyring
    from forum.keystore import service as keystore
    from forum.rooms import markup
    from forum.rooms import service as rooms
    from moderation.queue import service as queue

    posts_total = scale_posts(scale)
    threads_total = max(READ_THREADS + WRITE_THREADS, posts_total // POSTS_PER_THREAD)
    started = time.monotonic()
    rng = random.Random(SEED)
    name = f"seed_{scale}"
    admin = await cluster.admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    settings = _settings(cluster, name, scale)
    accounts, case_count = (100, 20) if scale == "tiny" else (ACCOUNTS, CASES)
    keyring = load_keyring(settings)
    store = keyring.store
    manifest = Manifest(SEED_VERSION, scale, posts_total, threads_total, accounts, ROOMS,
                        case_count, "", 0.0, PASSWORD)

    async with _seed_connection(cluster.url(name)) as conn:
        await migrate.migrate(conn)
        states = [r["iso3"] for r in await conn.fetch("SELECT iso3 FROM states ORDER BY iso3")]
        regions = [r["code"] for r in await conn.fetch("SELECT code FROM regions ORDER BY code")]

        # Accounts: one argon2id hash with the production parameters, reused.
        params = Argon2Params(settings.argon2_time_cost, settings.argon2_memory_kib,
                              settings.argon2_parallelism)
        hasher: Any = _PrecomputedHash(PasswordHashing(params).hash(PASSWORD))
        users: dict[str, list[uuid.UUID]] = {"delegate": [], "observer": [], "moderator": [],
                                              "admin": []}
        plan = ([("bench-delegate{}@example.org", "delegate", BENCH_DELEGATES),
                 ("bench-moderator{}@example.org", "moderator", BENCH_MODERATORS),
                 ("bench-storm{}@example.org", "observer", STORM_ACCOUNTS),
                 ("admin{}@example.org", "admin", 4), ("moderator{}@example.org", "moderator", 8)])
        others = accounts - sum(count for _, _, count in plan)
        plan += [("delegate{}@example.org", "delegate", others * 3 // 5),
                 ("observer{}@example.org", "observer", others - others * 3 // 5)]
        bench_ids: list[uuid.UUID] = []
        async with conn.transaction():
            for pattern, role, count in plan:
                for i in range(count):
                    email = pattern.format(i)
                    user_id = await auth.create_user(
                        conn, hasher, keyring, email=email,
                        display_name=email.split("@")[0].replace("-", " ").title(), role=role,
                        state=rng.choice(states) if role == "delegate" else None,
                        password=PASSWORD, created_by=None)
                    users[role].append(user_id)
                    account = Account(email, role)
                    if pattern.startswith("bench-delegate") or pattern.startswith(
                            "bench-moderator"):
                        uri, _codes = await auth.enrol_totp_directly(conn, keyring, user_id)
                        account.totp_secret = _secret_of(uri)
                        bench_ids.append(user_id)
                        (manifest.delegates if role == "delegate"
                         else manifest.moderators).append(account)
                    elif pattern.startswith("bench-storm"):
                        manifest.storm.append(account)
        _log(f"{accounts} accounts ({time.monotonic() - started:.0f} s)")

        # Rooms, each with its data key.
        kinds = (["plenary"] + ["regional"] * 6 + ["subregional"] * 12
                 + ["working_group"] * 20 + ["workshop"] * (ROOMS - 39))
        room_rows: list[tuple[uuid.UUID, str, str]] = []
        async with conn.transaction():
            for index, kind in enumerate(kinds):
                slug = f"{kind.replace('_', '-')}-{index:02d}"
                room = await rooms.create_room(
                    conn, keyring, None, slug=slug, kind=kind,
                    name=f"{kind.replace('_', ' ').title()} {index:02d}",
                    description="Bench room", region=regions[index % len(regions)]
                    if kind in ("regional", "subregional") else None)
                await keystore.current_key(conn, store, keystore.room_scope(room.id))
                room_rows.append((room.id, slug, kind))
            open_workshops = [r[0] for r in room_rows if r[2] == "workshop"][:6]
            await conn.execute("UPDATE rooms SET confidential = false WHERE id = ANY($1)",
                               open_workshops)
            members: dict[uuid.UUID, list[uuid.UUID]] = {r[0]: list(bench_ids)
                                                          for r in room_rows}
            bench_set = set(bench_ids)
            everyone = [(u, role) for role, ids in users.items() for u in ids
                        if u not in bench_set]
            for user_id, role in everyone:
                allowed = [r for r in room_rows
                           if not (role == "observer" and r[2] in rooms.NO_OBSERVERS)]
                for room_id, _slug, _kind in rng.sample(allowed, 6):
                    members[room_id].append(user_id)
            await conn.copy_records_to_table(
                "room_members", columns=["room_id", "user_id", "room_role"],
                records=[(room_id, user_id, "member") for room_id, ids in members.items()
                         for user_id in ids])
        _log(f"{ROOMS} rooms, {sum(len(v) for v in members.values())} memberships")

        # Bodies: rendered once each, HTML reused (render_markdown is deterministic).
        corpus = [make_body(rng) for _ in range(400)]
        rendered = [(body, markup.render_markdown(body)) for body in corpus]
        titles = [make_title(rng) for _ in range(500)]

        # Threads per room, skewed: a few big rooms, many small ones.
        weights = [1 / (i + 1) ** 0.6 for i in range(ROOMS)]
        room_of_thread = rng.choices(range(ROOMS), weights=weights, k=threads_total)
        confidential = {r[0] for r in room_rows} - set(open_workshops)
        # The first READ+WRITE threads (forced long) go to confidential rooms.
        conf_indexes = [i for i, r in enumerate(room_rows) if r[0] in confidential]
        for t in range(READ_THREADS + WRITE_THREADS):
            room_of_thread[t] = conf_indexes[t % len(conf_indexes)]
        sizes = _thread_sizes(rng, threads_total, posts_total, READ_THREADS)
        now = dt.datetime.now(dt.UTC)
        deks = {room_id: await keystore.current_key(conn, store, keystore.room_scope(room_id))
                for room_id, _s, _k in room_rows}

        thread_records: list[tuple[Any, ...]] = []
        pinned_in: dict[uuid.UUID, int] = {}
        post_records: list[tuple[Any, ...]] = []
        written = 0

        async def flush_posts() -> None:
            nonlocal post_records, written
            if post_records:
                await conn.copy_records_to_table("posts", columns=[
                    "id", "thread_id", "room_id", "author_id", "seq", "body", "html",
                    "created_at"], records=post_records)
                written += len(post_records)
                post_records = []

        await conn.execute("SET session_replication_role = replica")  # rows consistent by
        async with conn.transaction():                                # construction: no FK
            for t in range(threads_total):                            # triggers for the COPY
                room_id = room_rows[room_of_thread[t]][0]
                dek = deks[room_id]
                room_members = members[room_id]
                thread_id = uuid.uuid4()
                count = sizes[t]
                created = now - dt.timedelta(days=365 * rng.random() + 1)
                step = dt.timedelta(minutes=rng.randint(5, 600))
                authors = [rng.choice(room_members) for _ in range(count)]
                for seq in range(1, count + 1):
                    post_id = uuid.uuid4()
                    body, html = rendered[rng.randrange(len(rendered))]
                    post_records.append((
                        post_id, thread_id, room_id, authors[seq - 1], seq,
                        keystore.seal_text(dek, body, "posts", "body", post_id),
                        keystore.seal_text(dek, html, "posts", "html", post_id),
                        created + step * (seq - 1)))
                last = created + step * (count - 1)
                pinned = pinned_in.get(room_id, 0) < 2 and rng.random() < 0.02
                pinned_in[room_id] = pinned_in.get(room_id, 0) + pinned  # two a room at most
                thread_records.append((
                    thread_id, room_id, authors[0],
                    keystore.seal_text(dek, titles[rng.randrange(len(titles))], "threads",
                                       "title", thread_id),
                    pinned, False, count, created, last))
                if t < READ_THREADS:
                    manifest.read_threads.append(str(thread_id))
                elif t < READ_THREADS + WRITE_THREADS:
                    manifest.write_threads.append(str(thread_id))
                if len(post_records) >= COPY_BATCH:
                    await conn.copy_records_to_table("threads", columns=[
                        "id", "room_id", "author_id", "title", "pinned", "locked", "post_count",
                        "created_at", "last_post_at"], records=thread_records)
                    thread_records = []
                    await flush_posts()
                    if written % 100_000 < COPY_BATCH:
                        _log(f"{written:,} posts ({time.monotonic() - started:.0f} s)")
            await conn.copy_records_to_table("threads", columns=[
                "id", "room_id", "author_id", "title", "pinned", "locked", "post_count",
                "created_at", "last_post_at"], records=thread_records)
            await flush_posts()
        await conn.execute("SET session_replication_role = DEFAULT")
        _log(f"{threads_total:,} threads, {written:,} posts "
             f"({time.monotonic() - started:.0f} s)")

        # The rooms with the most threads (all confidential) are the ones listed.
        biggest = await conn.fetch(
            "SELECT r.slug FROM rooms r JOIN threads t ON t.room_id = r.id WHERE r.confidential "
            "GROUP BY r.slug ORDER BY count(*) DESC LIMIT $1", LIST_ROOMS)
        manifest.list_rooms = [r["slug"] for r in biggest]

        # Cases through the service, released into the moderators' queue.
        async with conn.transaction():
            delegates = users["delegate"][:200]
            for _ in range(case_count):
                source = await auth.unsafe_actor_for(conn, rng.choice(delegates))
                await cases.submit_case(conn, keyring, source, case_fields(rng))
            await queue.release_batch(conn, keyring)
        _log(f"{case_count} cases in the moderation queue")

    async with _seed_connection(cluster.url(name)) as conn:
        await conn.execute("VACUUM ANALYZE")
    manifest.seconds = round(time.monotonic() - started, 1)
    manifest.seeded_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return manifest


async def ensure_seeded(cluster: BenchCluster, scale: str, *, force: bool = False
                        ) -> tuple[Manifest, bool]:
    """The scale's manifest; seeds first unless cached. Returns (manifest, was_cached)."""
    scale_posts(scale)
    path = cluster.manifest_path(scale)
    async with cluster.locked(scale) as conn:
        manifest = None if force else Manifest.load(path)
        if manifest is not None and await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", f"seed_{scale}"):
            return manifest, True
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        manifest = await seed_database(cluster, scale)
        manifest.save(path)
        return manifest, False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default=DEFAULT_SCALE, choices=list(SCALES))
    parser.add_argument("--force", action="store_true", help="seed again even if cached")
    args = parser.parse_args(argv)
    os.environ.pop("DIEF_DATABASE_URL", None)
    try:
        cluster = BenchCluster()
        manifest, cached = asyncio.run(ensure_seeded(cluster, args.scale, force=args.force))
    except (HarnessError, OSError, asyncpg.PostgresError) as exc:
        print(f"seed: failed: {exc}", file=sys.stderr)
        return 1
    how = "cached, not seeded again" if cached else f"seeded in {manifest.seconds:.0f} s"
    print(f"seed {args.scale}: {manifest.posts:,} posts, {manifest.threads:,} threads, "
          f"{manifest.accounts:,} accounts, {manifest.rooms} rooms ({how}; "
          f"{cluster.manifest_path(args.scale)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
