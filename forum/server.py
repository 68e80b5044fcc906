"""``dief serve``: migrate (or check), optionally load the demo, then serve until signalled."""

from __future__ import annotations

import asyncio
import logging
import signal

import asyncpg
from aiohttp import web

from forum import db
from forum.app import create_app
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


async def serve(settings: Settings, *, migrate_first: bool, load_demo: bool) -> int:
    url = await prepare_database(settings, migrate_first=migrate_first)
    if load_demo:
        from forum import demo
        from forum.cli import operator_context

        async with operator_context(settings, apply_migrations=False) as op:
            created = await demo.load(op, only_if_empty=True)
        print(demo.instructions(settings, created), flush=True)

    app = create_app(settings, database_url=url)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=True)
    await site.start()
    print(f"DIEF Forum is serving on http://{settings.host}:{settings.port} "
          "(Ctrl+C to stop)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    return 0
