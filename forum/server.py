"""``dief serve``: migrate (or check), optionally load the demo, then serve until signalled.

With ``--workers N`` (N > 1) this process only prepares (migrations, the embedded PostgreSQL,
the demo, the master key) and then starts N ``dief serve --no-migrate`` children pointed at the
same database; each binds the port with ``SO_REUSEPORT`` and the kernel spreads connections
among them. A Python process runs Python on one core at a time, so this is how one machine's
cores are used. The parent forwards SIGINT/SIGTERM to the children; if one child dies, it stops
the others and exits 1 (restarting is the process supervisor's job, e.g. systemd).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import asyncpg
from aiohttp import web

from forum import db
from forum.app import create_app
from forum.keyring import load_keyring
from forum.migrate import MigrationError, migrate, pending_migrations
from forum.settings import Settings

log = logging.getLogger(__name__)


async def prepare_database(settings: Settings, *, migrate_first: bool) -> str:
    url = await db.resolve_database_url(settings)
    conn = await asyncpg.connect(url)
    try:
        if migrate_first:
            applied = await migrate(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        else:
            pending = await pending_migrations(conn)
            if pending:
                raise MigrationError("refusing to start with --no-migrate while migrations are "
                                     "pending: " + ", ".join(m.filename for m in pending))
    finally:
        await conn.close()
    return url


async def serve(settings: Settings, *, migrate_first: bool, load_demo: bool,
                workers: int = 1, loop: str = "auto") -> int:
    url = await prepare_database(settings, migrate_first=migrate_first)
    if load_demo:
        from forum import demo
        from forum.cli import operator_context

        async with operator_context(settings, apply_migrations=False) as op:
            created = await demo.load(op, only_if_empty=True)
        print(demo.instructions(settings, created), flush=True)
    if workers > 1:
        load_keyring(settings)  # a bad key stops us here; a dev key is generated only once
        return await supervise(settings, url, workers, loop)

    app = create_app(settings, database_url=url)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=True)
    await site.start()
    print(f"DIEF Forum is serving on http://{settings.host}:{settings.port} "
          "(Ctrl+C to stop)", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    return 0


async def supervise(settings: Settings, database_url: str, workers: int, loop: str) -> int:
    """Run ``workers`` single-process servers on the same port until signalled (``loop``: the
    children's ``--loop``)."""
    # The children read the same DIEF_* settings, plus the resolved database URL (so that they
    # join the PostgreSQL this process started instead of each starting one).
    env = {**os.environ, "DIEF_DATABASE_URL": database_url, "DIEF_HOST": settings.host,
           "DIEF_PORT": str(settings.port), "DIEF_DEMO": "true" if settings.demo else "false"}
    argv = [sys.executable, "-m", "forum.cli", "serve", "--no-migrate", "--loop", loop]
    children = [await asyncio.create_subprocess_exec(*argv, env=env) for _ in range(workers)]
    log.info("started %d workers: %s", workers, ", ".join(str(c.pid) for c in children))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    exits = [asyncio.ensure_future(child.wait()) for child in children]
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
    failed = not stop.is_set()
    if failed:
        log.error("a worker exited; stopping the others")
    for child in children:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
    await asyncio.gather(*exits)
    stopping.cancel()
    return 1 if failed else 0
